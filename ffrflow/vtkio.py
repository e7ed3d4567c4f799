"""VTK polyline I/O for ParaView (``.vtp``), imported lazily so solver-only nodes need no VTK."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ._atomic import atomic_path
from .errors import InvalidInputError
from .plausibility import UNITS_TO_MM, resolve_units


def polylines_to_polydata(lines: Sequence[np.ndarray], point_arrays: Mapping[str, Sequence[np.ndarray]] | None = None,
                          cell_arrays: Mapping[str, Sequence] | None = None):
    """Build a ``vtkPolyData`` with one polyline per entry of ``lines`` ((n_i, 3) arrays, mm).

    ``point_arrays`` maps a name to one array per line (same length as that line); ``cell_arrays``
    maps a name to one value per line (numbers or strings).
    """
    from . import _vtk as vtk
    from vtkmodules.util import numpy_support as ns

    pts = vtk.vtkPoints()
    allp = np.concatenate([np.asarray(line, dtype=np.float64) for line in lines]) if lines else np.zeros((0, 3))
    pts.SetData(ns.numpy_to_vtk(allp, deep=True))
    cells = vtk.vtkCellArray()
    start = 0
    for line in lines:
        n = len(line)
        pl = vtk.vtkPolyLine()
        pl.GetPointIds().SetNumberOfIds(n)
        for j in range(n):
            pl.GetPointIds().SetId(j, start + j)
        cells.InsertNextCell(pl)
        start += n
    pd = vtk.vtkPolyData()
    pd.SetPoints(pts)
    pd.SetLines(cells)
    for name, per_line in (point_arrays or {}).items():
        arr = np.concatenate([np.asarray(a, dtype=np.float64) for a in per_line])
        va = ns.numpy_to_vtk(arr, deep=True)
        va.SetName(name)
        pd.GetPointData().AddArray(va)
    for name, values in (cell_arrays or {}).items():
        if values and isinstance(values[0], str):
            va = vtk.vtkStringArray()
            va.SetName(name)
            for s in values:
                va.InsertNextValue(s)
        else:
            va = ns.numpy_to_vtk(np.asarray(values, dtype=np.float64), deep=True)
            va.SetName(name)
        pd.GetCellData().AddArray(va)
    return pd


def write_polydata(polydata, path: str | Path) -> Path:
    """Write a ``vtkPolyData`` as ``.vtp`` (XML, binary, zlib level 1) or ``.stl`` atomically.

    zlib level 1 rather than VTK's default: faster to write for a file barely larger (LZ4 is faster
    still but writes much larger files)."""
    from . import _vtk as vtk

    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".stl":
            w = vtk.vtkSTLWriter()
            w.SetFileTypeToBinary()
        else:
            w = vtk.vtkXMLPolyDataWriter()
            w.SetDataModeToBinary()
            w.SetCompressorTypeToZLib()
            w.SetCompressionLevel(1)
        w.SetFileName(str(tmp))
        w.SetInputData(polydata)
        if not w.Write():
            raise OSError(f"{path}: VTK could not write the file")
    return path


def write_polylines(path: str | Path, lines, point_arrays=None, cell_arrays=None) -> Path:
    """Write polylines with point and cell arrays to a ``.vtp`` file atomically."""
    return write_polydata(polylines_to_polydata(lines, point_arrays, cell_arrays), path)


def nearest_centerline_node(points_mm: np.ndarray, nodes_mm: np.ndarray, radius_mm: np.ndarray,
                            k: int = 8) -> np.ndarray:
    """For each surface point, the centerline node whose lumen it belongs to (index into ``nodes_mm``).

    Among the ``k`` nearest nodes the one with the smallest ``|x − c| − r(c)`` wins (distance to that
    node's lumen wall), so that near a junction a point on a side branch's wall is not given to the
    wider parent whose axis happens to be nearer.

    Parameters
    ----------
    points_mm : (m, 3) array
        Surface vertices, mm.
    nodes_mm : (n, 3) array
        Centerline nodes, mm.
    radius_mm : (n,) array
        Lumen radius at the nodes, mm.
    k : int
        Candidates per point.

    Returns
    -------
    (m,) int64 array
    """
    from scipy.spatial import cKDTree

    nodes_mm = np.asarray(nodes_mm, dtype=np.float64)
    k = int(min(k, len(nodes_mm)))
    d, i = cKDTree(nodes_mm).query(np.asarray(points_mm, dtype=np.float64), k=k)
    if k == 1:
        return np.asarray(i, dtype=np.int64)
    score = d - np.asarray(radius_mm, dtype=np.float64)[i]
    return i[np.arange(len(i)), np.argmin(score, axis=1)].astype(np.int64)


def with_point_arrays(polydata, arrays: Mapping[str, np.ndarray]):
    """A shallow copy of ``polydata`` with the given point arrays (one value per point) added."""
    from . import _vtk as vtk
    from vtkmodules.util import numpy_support as ns

    out = vtk.vtkPolyData()
    out.ShallowCopy(polydata)
    pd = vtk.vtkPointData()
    pd.ShallowCopy(polydata.GetPointData())
    out.GetPointData().ShallowCopy(pd)
    for name, values in arrays.items():
        a = np.asarray(values)
        va = ns.numpy_to_vtk(np.ascontiguousarray(a, dtype=np.int64 if a.dtype.kind in "iu" else np.float64),
                             deep=True)
        va.SetName(name)
        out.GetPointData().AddArray(va)
    return out


#: Point-array names read as the lumen radius of a centerline file, in order of preference (matched
#: case-insensitively; the first present wins): VMTK's, ffrflow's own (``radius_mm``), the generic ones.
RADIUS_ARRAY_NAMES = ("MaximumInscribedSphereRadius", "radius_mm", "radius", "radii", "r")


def radius_array_name(names) -> str | None:
    """The point array of ``names`` that holds the radius (see :data:`RADIUS_ARRAY_NAMES`), or None."""
    lower = {n.lower(): n for n in names if n}
    return next((lower[c.lower()] for c in RADIUS_ARRAY_NAMES if c.lower() in lower), None)


class VtkErrors:
    """Collects the error and warning events of one VTK algorithm (VTK otherwise prints them and carries on)."""

    def __init__(self, algo):
        self.messages: list[str] = []
        algo.AddObserver("ErrorEvent", self)
        algo.AddObserver("WarningEvent", self)

    def __call__(self, obj, event, data=None):  # pragma: no cover - content depends on VTK
        self.messages.append(str(event))


def read_vtk_file(path: Path, readers: dict, unknown_suffix_message: str):
    """Read ``path`` with the VTK reader its suffix selects; ``None`` when VTK reported an error.

    Raises InvalidInputError for a missing or empty file and for a suffix ``readers`` lacks.
    """
    from . import _vtk as vtk

    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file")
    suf = path.suffix.lower()
    if suf not in readers:
        raise InvalidInputError(f"{path}: {unknown_suffix_message}")
    if path.stat().st_size == 0:
        raise InvalidInputError(f"{path}: file is empty")
    reader = readers[suf]()
    reader.SetFileName(str(path))
    errors = VtkErrors(reader)
    vtk.vtkObject.GlobalWarningDisplayOff()
    try:
        reader.Update()
    finally:
        vtk.vtkObject.GlobalWarningDisplayOn()
    return None if errors.messages else reader.GetOutput()


def read_polydata(path: str | Path):
    """Read a ``.vtp`` (XML) or ``.vtk`` (legacy) polydata file: ffrflow's one VTK polydata reader.

    Raises
    ------
    InvalidInputError
        A missing or empty file, another suffix, a file VTK cannot read or that has no points, a
        legacy file that holds another kind of dataset.
    """
    from . import _vtk as vtk

    path = Path(path)
    suf = path.suffix.lower()
    readers = {".vtp": vtk.vtkXMLPolyDataReader, ".vtk": vtk.vtkGenericDataObjectReader}
    data = read_vtk_file(path, readers, f"unknown polydata format {suf!r}; expected .vtp or .vtk")
    if data is not None and not data.IsA("vtkPolyData"):
        raise InvalidInputError(f"{path}: a legacy VTK {data.GetClassName()}, not POLYDATA")
    if data is None or data.GetNumberOfPoints() == 0:
        raise InvalidInputError(f"{path}: not a readable {suf[1:].upper()} polydata file")
    out = vtk.vtkPolyData()
    out.ShallowCopy(data)
    return out


@dataclass
class CenterlineFile:
    """A centerline file as read by :func:`read_centerline_file`, before any graph is built.

    ``points_mm`` (n, 3) and ``radius_mm`` (n,) hold every point of the file, converted to mm;
    ``lines`` the line and polyline cells of at least two points as ``(cell id, point ids)``;
    ``used`` the points on them; ``radius_array`` the point array read as the radius; ``units`` the
    unit decision of :func:`ffrflow.plausibility.resolve_units`; ``polydata`` the VTK data (its cell
    arrays, e.g. VMTK's).
    """

    path: Path
    polydata: object
    points_mm: np.ndarray
    radius_mm: np.ndarray
    lines: list
    used: np.ndarray
    radius_array: str
    units: dict


def read_centerline_file(path: str | Path, radius_array: str | None = None, units: str | None = None) -> CenterlineFile:
    """Read centerline polylines with a radius array (``.vtp`` or legacy ``.vtk``): ffrflow's one VTK
    centerline file reader, shared by :func:`ffrflow.formats.vtkcenterlines.read_centerlines` (VMTK
    layouts) and :func:`ffrflow.meshing.io.load_centerlines` (polyline graphs).

    The radius is the point array ``radius_array`` or the first of :data:`RADIUS_ARRAY_NAMES`;
    coordinates and radius are in ``units`` (``"mm"``, ``"cm"``, ``"m"``) or the unit inferred from
    the radii. Raises InvalidInputError naming the file and the problem: no polyline, no radius
    array (the arrays present are listed), a radius ≤ 0 or NaN (with the point index), NaN
    coordinates, a radius that does not fit the coordinates (inconsistent units), a unit that cannot
    be told.
    """
    from vtkmodules.util import numpy_support as ns

    path = Path(path)
    if not path.exists():
        raise InvalidInputError(f"{path}: no such file")
    pd = read_polydata(path)
    if units is not None and units not in UNITS_TO_MM:
        raise InvalidInputError(f"units (--units): expected one of {list(UNITS_TO_MM)}, got {units!r}")
    n_pts = pd.GetNumberOfPoints()
    if n_pts == 0:
        raise InvalidInputError(f"{path}: no points")
    P = ns.vtk_to_numpy(pd.GetPoints().GetData()).astype(np.float64)
    pdata = pd.GetPointData()
    names = [pdata.GetArrayName(i) for i in range(pdata.GetNumberOfArrays())]
    rname = _pick_radius(path, names, radius_array, [pd.GetCellData().GetArrayName(i)
                                                     for i in range(pd.GetCellData().GetNumberOfArrays())])
    arr = ns.vtk_to_numpy(pdata.GetArray(rname)).astype(np.float64)
    if arr.ndim != 1:
        raise InvalidInputError(f"{path}: point array {rname!r} has {arr.shape[1]} components; a radius has one")
    radius = arr.copy()
    lines = []
    for c in range(pd.GetNumberOfCells()):
        cell = pd.GetCell(c)
        ct = cell.GetCellType()
        if ct not in (3, 4):  # VTK_LINE, VTK_POLY_LINE
            continue
        ids = [cell.GetPointId(j) for j in range(cell.GetNumberOfPoints())]
        if len(ids) >= 2:
            lines.append((c, np.array(ids, dtype=np.int64)))
    if not lines:
        raise InvalidInputError(f"{path}: no polyline (lines) in the file")
    used = np.unique(np.concatenate([ids for _, ids in lines]))
    bad = used[~np.isfinite(radius[used]) | (radius[used] <= 0)]
    if bad.size:
        raise InvalidInputError(f"{path}: point array {rname!r}[{int(bad[0])}] = {float(arr[bad[0]])!r}; "
                                f"a radius must be > 0 and finite")
    if not np.all(np.isfinite(P[used])):
        raise InvalidInputError(f"{path}: NaN or infinite coordinates")
    _check_consistent(path, P[used], radius[used])
    decision = resolve_units(radius[used], units, str(path))
    P, radius = P * decision["to_mm"], radius * decision["to_mm"]
    return CenterlineFile(path, pd, P, radius, lines, used, rname, decision)


def _pick_radius(path, names, radius_array, cell_names) -> str:
    if radius_array is not None:
        if radius_array in names:
            return radius_array
        raise InvalidInputError(f"{path}: no point array {radius_array!r}; point arrays: {names or 'none'}")
    found = radius_array_name(names)
    if found is not None:
        return found
    hint = f" (cell arrays: {cell_names})" if cell_names else ""
    raise InvalidInputError(f"{path}: no radius array; expected a point array named one of "
                            f"{list(RADIUS_ARRAY_NAMES)} (or pass radius_array=...); point arrays: "
                            f"{names or 'none'}{hint}")


def _check_consistent(path, P, r):
    """Coordinates and radius in one unit: the median radius is not above a quarter of the extent."""
    med = float(np.median(r))
    diag = float(np.linalg.norm(P.max(axis=0) - P.min(axis=0)))
    if diag > 0 and med > 0.25 * diag:
        raise InvalidInputError(f"{path}: the median radius ({med:.4g}) is larger than a quarter of the "
                                f"centerlines' extent ({diag:.4g}, same unit): coordinates and radius look like "
                                f"different units")
