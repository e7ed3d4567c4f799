"""VTK polyline I/O for ParaView (``.vtp``), imported lazily so solver-only nodes need no VTK."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ._atomic import atomic_path


def polylines_to_polydata(lines: Sequence[np.ndarray], point_arrays: Mapping[str, Sequence[np.ndarray]] | None = None,
                          cell_arrays: Mapping[str, Sequence] | None = None):
    """Build a ``vtkPolyData`` with one polyline per entry of ``lines`` ((n_i, 3) arrays, mm).

    ``point_arrays`` maps a name to one array per line (same length as that line); ``cell_arrays``
    maps a name to one value per line (numbers or strings).
    """
    import vtk
    from vtk.util import numpy_support as ns

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
    """Write a ``vtkPolyData`` as ``.vtp`` (XML, binary, zlib) or ``.stl`` atomically."""
    import vtk

    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".stl":
            w = vtk.vtkSTLWriter()
            w.SetFileTypeToBinary()
        else:
            w = vtk.vtkXMLPolyDataWriter()
            w.SetDataModeToBinary()
            w.SetCompressorTypeToZLib()
        w.SetFileName(str(tmp))
        w.SetInputData(polydata)
        if not w.Write():
            raise OSError(f"{path}: VTK could not write the file")
    return path


def write_polylines(path: str | Path, lines, point_arrays=None, cell_arrays=None) -> Path:
    """Write polylines with point and cell arrays to a ``.vtp`` file atomically."""
    return write_polydata(polylines_to_polydata(lines, point_arrays, cell_arrays), path)
