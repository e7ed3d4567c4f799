"""Read lumen masks, surfaces and centerline files with their geometry (docs/formats.md §Lumen masks
and surfaces).

Masks are read with SimpleITK, which keeps the image geometry exactly: ``origin`` (mm), ``spacing``
(mm, anisotropic allowed) and the ``direction`` matrix (oblique allowed). World coordinates are LPS
millimetres as ITK reports them:

.. math::

    \\mathbf{x}_{world} = \\mathbf{o} + D \\, \\mathrm{diag}(\\mathbf{s}) \\, \\mathbf{i}

with :math:`\\mathbf{i} = (i, j, k)` the continuous voxel index (x fastest). A NIfTI's RAS affine is
converted to LPS by SimpleITK itself. Patient identifiers in DICOM headers are never read into the
returned objects.

What the voxel values say the volume is, and the cleaning of the mask (components, specks, the
topology check), are :mod:`ffrflow.meshing.mask`; its names (:class:`LumenMask`,
:func:`volume_kind`, :func:`euler_characteristic`, :func:`mask_from_surface`, ...) are importable from
here too.
"""

from __future__ import annotations

import gzip
import logging
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InvalidInputError
from ..network import VesselNetwork
from ..vtkio import read_centerline_file, read_polydata, read_vtk_file
from .mask import (BRIDGE_LEVEL_FRACTION, PROBABILITY_ROUNDING, PROBABILITY_THRESHOLD, LumenMask, _bbox,
                   _check_threshold, bridge_sub_threshold,
                   clean_mask, euler_characteristic, euler_characteristic_reference, fraction_crop,
                   mask_from_surface, nudge_to_labels, volume_kind)

__all__ = ["IMAGE_SUFFIXES", "SURFACE_SUFFIXES", "METRE_DIAGONAL_LIMIT", "read_image", "check_nifti_complete",
           "image_geometry", "load_image", "mask_from_array", "load_surface", "polydata_kind", "load_centerlines",
           # from ffrflow.meshing.mask
           "PROBABILITY_THRESHOLD", "PROBABILITY_ROUNDING", "LumenMask", "volume_kind", "euler_characteristic",
           "euler_characteristic_reference", "clean_mask", "fraction_crop", "nudge_to_labels",
           "mask_from_surface"]

log = logging.getLogger("ffrflow.meshing")

#: File name endings read as images by :func:`load_image`.
IMAGE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm", ".dicom", ".ima")
#: File name endings read as surfaces by :func:`load_surface`.
SURFACE_SUFFIXES = (".stl", ".vtp", ".obj", ".vtk")
#: A surface whose bounding-box diagonal is below this many units is taken to be in metres.
METRE_DIAGONAL_LIMIT = 1.0


# ---------------------------------------------------------------------------------------------- images
def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def read_image(path: str | Path):
    """Read an image file or a DICOM series folder with SimpleITK, geometry kept.

    Parameters
    ----------
    path : str or Path
        NIfTI, NRRD, MHA/MHD or a single DICOM file (DICOM-SEG included, read as a plain multi-frame
        image), or a folder holding one DICOM series (the series with the most files is read when
        there are several).

    Returns
    -------
    SimpleITK.Image

    Raises
    ------
    InvalidInputError
        Missing file, empty folder, unreadable or truncated file, not a 3D image.
    """
    import SimpleITK as sitk

    path = Path(path)
    if not path.exists():
        raise InvalidInputError(f"{path}: no such file or folder")
    try:
        if path.is_dir():
            reader = sitk.ImageSeriesReader()
            ids = reader.GetGDCMSeriesIDs(str(path))
            if not ids:
                raise InvalidInputError(f"{path}: folder holds no DICOM series")
            files = {sid: reader.GetGDCMSeriesFileNames(str(path), sid) for sid in ids}
            sid = max(files, key=lambda k: len(files[k]))
            if len(ids) > 1:
                log.warning("%s: %d DICOM series; reading the largest (%d files)", path, len(ids),
                            len(files[sid]))
            reader.SetFileNames(files[sid])
            reader.MetaDataDictionaryArrayUpdateOff()   # no header tags (patient identifiers) kept
            reader.LoadPrivateTagsOff()
            image = reader.Execute()
        else:
            if path.stat().st_size == 0:
                raise InvalidInputError(f"{path}: file is empty")
            if _suffix(path) in (".nii", ".nii.gz"):
                check_nifti_complete(path)
            reader = sitk.ImageFileReader()
            reader.SetFileName(str(path))
            reader.ReadImageInformation()
            if reader.HasMetaDataKey("0008|0060") and reader.GetMetaData("0008|0060").strip().upper() == "SEG":
                log.warning("%s: DICOM-SEG read as one multi-frame volume; segments are not told apart (pass "
                            "--label for a label value) and per-frame positions must be evenly spaced", path)
            image = reader.Execute()
    except InvalidInputError:
        raise
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = next((ln.strip() for ln in first if "rror" in ln or "nable" in ln), first[-1] if first else "")
        kind = "not a readable image (or truncated)"
        if "Unable to determine ImageIO reader" in str(exc):
            kind = "not an image format SimpleITK can read"
        raise InvalidInputError(f"{path}: {kind}: {detail[:300]}") from None
    if image.GetDimension() == 4 and image.GetSize()[3] == 1:
        image = image[:, :, :, 0]
    if image.GetDimension() != 3:
        raise InvalidInputError(f"{path}: expected a 3D volume, got a {image.GetDimension()}D image of size "
                                f"{image.GetSize()}")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InvalidInputError(f"{path}: expected a scalar label volume, got "
                                f"{image.GetNumberOfComponentsPerPixel()} components per voxel")
    return image


def check_nifti_complete(path: str | Path) -> None:
    """Raise :class:`InvalidInputError` when a NIfTI file holds fewer voxel bytes than its header says.

    ITK reads a truncated NIfTI without complaint (the missing voxels come back as zeros), so the
    length is checked here: the header's ``vox_offset + prod(dim) * bitpix / 8`` against the file
    size (``.nii``) or the decompressed stream length (``.nii.gz``, which also catches a cut gzip).
    """
    path = Path(path)
    opener = gzip.open if _suffix(path) == ".nii.gz" else open
    try:
        with opener(path, "rb") as f:
            head = f.read(540)
            if len(head) < 348:
                raise InvalidInputError(f"{path}: truncated NIfTI: {len(head)} bytes, shorter than the header")
            for endian in "<>":
                n = struct.unpack(endian + "i", head[:4])[0]
                if n in (348, 540):
                    break
            else:
                return                      # not a NIfTI header; let SimpleITK say what it is
            if n == 348:
                dim = struct.unpack(endian + "8h", head[40:56])
                bitpix = struct.unpack(endian + "h", head[72:74])[0]
                offset = int(struct.unpack(endian + "f", head[108:112])[0])
            else:
                if len(head) < 540:
                    raise InvalidInputError(f"{path}: truncated NIfTI-2 header")
                dim = struct.unpack(endian + "8q", head[16:80])
                bitpix = struct.unpack(endian + "h", head[14:16])[0]
                offset = int(struct.unpack(endian + "q", head[168:176])[0])
            nd = int(dim[0])
            if not 1 <= nd <= 7 or any(int(d) < 1 for d in dim[1:nd + 1]) or bitpix <= 0:
                raise InvalidInputError(f"{path}: invalid NIfTI header (dim={list(dim)}, bitpix={bitpix})")
            need = max(offset, n) + int(np.prod([int(d) for d in dim[1:nd + 1]], dtype=np.int64)) * bitpix // 8
            if opener is open:
                have = path.stat().st_size
            else:
                have = len(head)
                while True:
                    chunk = f.read(1 << 22)
                    if not chunk:
                        break
                    have += len(chunk)
    except gzip.BadGzipFile:
        raise InvalidInputError(f"{path}: not an image: the file is not gzip-compressed NIfTI") from None
    except (EOFError, OSError, zlib.error) as exc:
        raise InvalidInputError(f"{path}: truncated or corrupt compressed NIfTI ({exc})") from None
    if have < need:
        raise InvalidInputError(f"{path}: truncated NIfTI: the header describes {need} bytes of data, the file "
                                f"holds {have}")


def image_geometry(image) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
    """``(origin_mm, spacing_mm, direction (3, 3), size)`` of a SimpleITK image."""
    origin = np.asarray(image.GetOrigin(), dtype=np.float64)
    spacing = np.asarray(image.GetSpacing(), dtype=np.float64)
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    return origin, spacing, direction, tuple(int(s) for s in image.GetSize())


def load_image(path: str | Path, label: int | None = None, *, threshold: float | None = None,
               min_component_mm3: float = 5.0, min_component_fraction: float = 0.02, max_trees: int | None = 2,
               max_defect_fraction: float = 2e-3) -> LumenMask:
    """Read a lumen mask, label volume or lumen probability map and keep its coronary trees.

    Parameters
    ----------
    path : str or Path
        ``.nii``/``.nii.gz``/``.nrrd``/``.mha``/``.mhd``/DICOM file, or a DICOM series folder.
    label : int, optional
        Lumen label; default: every voxel > 0 is lumen. Not for a probability map.
    threshold : float, optional
        Lumen level of a probability map, in (0, 1): the lumen is ``p >= threshold`` (default
        :data:`PROBABILITY_THRESHOLD`) and the surface is the iso-surface of ``p`` at that level. A
        binary mask stored as floats (only 0 and 1) accepts it and is unchanged by it; an integer
        label volume refuses it.
    min_component_mm3 : float
        Components smaller than this volume (mm³) are specks and dropped.
    min_component_fraction : float
        Components smaller than this fraction of the largest one are dropped too.
    max_trees : int or None
        Keep at most this many components (the largest; default 2: left and right trees).
    max_defect_fraction : float
        A kept component whose topology departs from a solid tree (|χ − 1|, tunnels and cavities)
        by more than this fraction of its voxels (and more than 50) is rejected as noise.

    Returns
    -------
    LumenMask
        With :attr:`~LumenMask.probability` and :attr:`~LumenMask.threshold` for a probability map.

    Raises
    ------
    InvalidInputError
        Missing file, non-image file, truncated file, a label that is not present, an empty mask,
        a mask of noise (only specks, or a component riddled with holes), a floating-point volume
        that is neither a mask nor a probability map (:func:`volume_kind`), ``label`` or ``threshold``
        where they do not apply, or both at once.

    Examples
    --------
    >>> m = load_image("case.nii.gz")                           # doctest: +SKIP
    >>> m.n_trees, m.voxels_dropped                              # doctest: +SKIP
    (2, 17)
    >>> load_image("lumen_probability.nii.gz", threshold=0.4).threshold   # doctest: +SKIP
    0.4
    """
    import SimpleITK as sitk

    path = Path(path)
    if label is not None and threshold is not None:
        raise InvalidInputError(f"{path}: --label and --threshold exclude each other: --label picks one label of a "
                                f"label volume, --threshold the lumen level of a probability map")
    if threshold is not None:
        threshold = _check_threshold(threshold)
    image = read_image(path)
    origin, spacing, direction, size = image_geometry(image)
    if (spacing <= 0).any() or not np.isfinite(spacing).all():
        raise InvalidInputError(f"{path}: invalid voxel spacing {tuple(spacing)}")
    if abs(np.linalg.det(direction)) < 1e-6:
        raise InvalidInputError(f"{path}: singular direction matrix {direction.tolist()}")
    arr = sitk.GetArrayViewFromImage(image)
    kind = volume_kind(arr, str(path))
    if kind == "probability":
        if label is not None:
            raise InvalidInputError(f"{path}: --label {label} picks a label of a label volume, but this is a lumen "
                                    f"probability map (floating-point values in [0, 1], not only 0 and 1); leave "
                                    f"--label out (--threshold sets the lumen level, default "
                                    f"{PROBABILITY_THRESHOLD})")
        level = PROBABILITY_THRESHOLD if threshold is None else threshold
        fg = arr >= level
        box = _bbox(arr >= BRIDGE_LEVEL_FRACTION * level)
        if box is not None:
            fg_box, n_bridge = bridge_sub_threshold(arr[box], fg[box], level)
            if n_bridge:
                fg[box] = fg_box
                log.info("%s: %d voxels below the threshold %g join lumen pieces that a sub-voxel narrowing "
                         "cut apart", path, n_bridge, level)
    else:
        if threshold is not None:
            if kind == "label":
                raise InvalidInputError(f"{path}: --threshold {threshold} applies to a lumen probability map "
                                        f"(floating-point values in [0, 1]); this is a label volume "
                                        f"({arr.dtype} values {float(arr.min()):.6g} to {float(arr.max()):.6g})")
            log.info("%s: a binary mask stored as floats (only 0 and 1): threshold %g selects the same voxels",
                     path, threshold)
        fg = arr > 0 if label is None else arr == label
    box = _bbox(fg)
    if box is None:
        if kind == "probability":
            raise InvalidInputError(f"{path}: empty mask: no voxel of the probability map reaches the threshold "
                                    f"{level} (largest value {float(arr.max()):.6g})")
        if label is not None:
            present = np.unique(arr)[:20].tolist()
            raise InvalidInputError(f"{path}: label {label} is not present in the volume (values present: "
                                    f"{present})")
        raise InvalidInputError(f"{path}: empty mask: no voxel is > 0")
    fg = np.ascontiguousarray(fg[box])
    offset = np.array([box[2].start, box[1].start, box[0].start], dtype=np.int64)
    mask = clean_mask(fg, offset, origin, spacing, direction, size, str(path),
                      min_component_mm3=min_component_mm3, min_component_fraction=min_component_fraction,
                      max_trees=max_trees, max_defect_fraction=max_defect_fraction)
    if kind == "probability":
        mask.fractions = fraction_crop(arr, mask.labels, mask.offset)
        mask.probability = nudge_to_labels(mask.fractions, mask.labels, level)
        mask.threshold = level
        log.info("%s: lumen probability map, lumen at p >= %g", path, level)
    del arr, image          # the array view must not outlive the image
    return mask


def mask_from_array(labels_zyx: np.ndarray, *, spacing_mm: Sequence[float] = (1.0, 1.0, 1.0),
                    origin_mm: Sequence[float] = (0.0, 0.0, 0.0), direction: np.ndarray | None = None,
                    source: str = "<array>", **kwargs) -> LumenMask:
    """Build a :class:`LumenMask` from an in-memory (z, y, x) array (same cleaning as :func:`load_image`).

    The array is written to a temporary MHA file and read back, so that both paths share one code.
    """
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(np.asarray(labels_zyx).astype(np.uint8))
    img.SetSpacing([float(s) for s in spacing_mm])
    img.SetOrigin([float(o) for o in origin_mm])
    if direction is not None:
        img.SetDirection([float(v) for v in np.asarray(direction, dtype=float).ravel()])
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "mask.mha"
        sitk.WriteImage(img, str(p), True)
        m = load_image(p, **kwargs)
    m.source = source
    return m


# ---------------------------------------------------------------------------------------------- surfaces
def load_surface(path: str | Path, *, metre_limit: float = METRE_DIAGONAL_LIMIT) -> tuple:
    """Read a triangle surface (STL, VTP, OBJ, legacy VTK) in world millimetres.

    Parameters
    ----------
    path : str or Path
        Surface file.
    metre_limit : float
        A surface whose bounding-box diagonal is below this value is taken to be in metres and
        scaled by 1000 (a warning is logged): a coronary tree in mm spans tens of millimetres.

    Returns
    -------
    polydata : vtkPolyData
        Triangulated surface, mm.
    info : dict
        ``{"source", "points", "triangles", "scaled_from_m": bool, "bounds_mm"}``.

    Raises
    ------
    InvalidInputError
        Missing file, unknown suffix, unreadable or empty surface.
    """
    from .. import _vtk as vtk

    path = Path(path)
    suf = path.suffix.lower()
    readers = {".stl": vtk.vtkSTLReader, ".vtp": vtk.vtkXMLPolyDataReader, ".obj": vtk.vtkOBJReader,
               ".vtk": vtk.vtkPolyDataReader}
    poly = read_vtk_file(path, readers, f"unknown surface format {suf!r}; expected one of {sorted(readers)}")
    if poly is None or poly.GetNumberOfPoints() == 0 or poly.GetNumberOfPolys() == 0:
        raise InvalidInputError(f"{path}: not a readable {suf[1:].upper()} surface (no triangles read)")
    tri = vtk.vtkTriangleFilter()
    tri.SetInputData(poly)
    tri.PassVertsOff()
    tri.PassLinesOff()
    clean = vtk.vtkCleanPolyData()
    clean.SetInputConnection(tri.GetOutputPort())
    clean.Update()
    out = vtk.vtkPolyData()
    out.ShallowCopy(clean.GetOutput())
    from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy

    pts = vtk_to_numpy(out.GetPoints().GetData()).astype(np.float64)
    if not np.isfinite(pts).all():
        raise InvalidInputError(f"{path}: surface has NaN or infinite coordinates")
    diag = float(np.linalg.norm(pts.max(axis=0) - pts.min(axis=0)))
    scaled = False
    if diag < metre_limit:
        log.warning("%s: surface spans only %.4g units; taking it to be in metres and scaling to mm", path, diag)
        pts = pts * 1000.0
        p = vtk.vtkPoints()
        p.SetData(numpy_to_vtk(pts, deep=True))
        out.SetPoints(p)
        scaled = True
    info = {"source": str(path), "points": int(out.GetNumberOfPoints()), "triangles": int(out.GetNumberOfPolys()),
            "scaled_from_m": scaled, "bounds_mm": [float(b) for b in out.GetBounds()]}
    return out, info


# ---------------------------------------------------------------------------------------------- centerlines
def polydata_kind(path: str | Path) -> str:
    """``"surface"`` or ``"centerlines"``: what a ``.vtp``/``.vtk`` file holds.

    A file with polygons (triangles) is a surface; one with polylines and no polygons is a set of
    centerlines. Raises :class:`InvalidInputError` for a file with neither.
    """
    path = Path(path)
    poly = read_polydata(path)
    if poly.GetNumberOfPolys() > 0 or poly.GetNumberOfStrips() > 0:
        return "surface"
    if poly.GetNumberOfLines() > 0:
        return "centerlines"
    raise InvalidInputError(f"{path}: holds neither triangles (a surface) nor polylines (centerlines)")


def load_centerlines(path: str | Path, *, radius_array: str | None = None, ostia=None,
                     tolerance_mm: float = 1e-3, units: str | None = None):
    """Read centerline polylines with a radius array (legacy VTK or VTP) as a :class:`VesselNetwork`.

    Polylines that meet at their end points (or end on another polyline, which is then split
    there) form the branch graph; pass-through nodes (two segments) are merged; each connected
    tree is oriented from its ostium: the end nearest a given ostium point, else the free end with
    the largest radius. Vessel ids are ``T<tree>V<n>`` in breadth-first order from the ostium
    (``V1`` is the root); the side of two trees is decided by the network (larger ostium = left).

    Parameters
    ----------
    path : str or Path
        ``.vtk`` (legacy) or ``.vtp`` file of polylines with a radius array, coordinates and radius
        in one length unit.
    radius_array : str, optional
        Name of the point array holding the radius; default: the first of
        :data:`ffrflow.vtkio.RADIUS_ARRAY_NAMES` present (case-insensitive; the file is read by
        :func:`ffrflow.vtkio.read_centerline_file`).
    ostia : sequence of (x, y, z), optional
        Ostium points, mm, at most one per tree.
    tolerance_mm : float
        Points closer than this are the same node.
    units : {"mm", "cm", "m"} or None
        Length unit of the file; None (default) infers it from the radii
        (:func:`ffrflow.plausibility.resolve_units`).

    Returns
    -------
    VesselNetwork
        With ``meta["source"]``, ``meta["produced_by"] = "ffrflow.meshing.io.load_centerlines"`` and
        ``meta["units"]`` (the unit used and why).

    Raises
    ------
    InvalidInputError
        No polylines, no radius array, a radius ≤ 0 or not finite, a closed loop (not a tree), a
        unit that cannot be told.

    Examples
    --------
    >>> net = load_centerlines("227A_Centreline.vtk")                 # doctest: +SKIP
    >>> len(net.vessels), len(net.outlets)                            # doctest: +SKIP
    (7, 4)
    """
    import networkx as nx
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    cl = read_centerline_file(path, radius_array, units)
    path, pts, rad, decision, radius_array = cl.path, cl.points_mm, cl.radius_mm, cl.units, cl.radius_array
    # merge coincident points into node ids (the smallest point index of each cluster)
    pairs = cKDTree(pts).query_pairs(tolerance_mm, output_type="ndarray")
    _, comp = connected_components(coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])),
                                              shape=(len(pts), len(pts))), directed=False)
    first = np.full(comp.max() + 1, len(pts))
    np.minimum.at(first, comp, np.arange(len(pts)))
    node = first[comp]
    lines = []
    for _, ids in cl.lines:
        seq = [int(node[i]) for i in ids]
        seq = [p for k, p in enumerate(seq) if k == 0 or p != seq[k - 1]]
        if len(seq) >= 2:
            lines.append(seq)
    if not lines:
        raise InvalidInputError(f"{path}: every polyline has fewer than two distinct points")
    ends = {ln[0] for ln in lines} | {ln[-1] for ln in lines}
    # split polylines at interior points where another polyline ends
    pieces = []
    for ln in lines:
        cut = [0] + [k for k in range(1, len(ln) - 1) if ln[k] in ends] + [len(ln) - 1]
        pieces += [ln[a:b + 1] for a, b in zip(cut[:-1], cut[1:])]
    g = nx.MultiGraph()
    for k, pc in enumerate(pieces):
        g.add_edge(pc[0], pc[-1], key=k)
    if any(pc[0] == pc[-1] for pc in pieces) or not nx.is_forest(nx.Graph(g)) or g.number_of_edges() != \
            nx.Graph(g).number_of_edges():
        raise InvalidInputError(f"{path}: the polylines form a closed loop; a coronary network must be a tree")
    seeds = [np.asarray(o, dtype=np.float64) for o in (ostia or [])]
    vessels: list[dict] = []
    comps = sorted(nx.connected_components(g), key=lambda c: -sum(len(pieces[k]) for _, _, k in g.edges(c, keys=True)))
    for t, comp in enumerate(comps, start=1):
        leaves = [n for n in comp if g.degree(n) == 1]
        near = [(float(np.linalg.norm(pts[n] - s)), n) for s in seeds for n in leaves]
        if near and min(near)[0] < 10.0 * float(rad[leaves].max()):
            root = min(near)[1]
        else:
            root = max(leaves, key=lambda n: rad[n])
        # walk from the root; merge chains through degree-2 nodes into one vessel
        count = 0
        queue = [(root, None)]
        used = set()
        while queue:
            start, parent_id = queue.pop(0)
            for _, nb, k in sorted(g.edges(start, keys=True), key=lambda e: e[2]):
                if k in used:
                    continue
                chain = []
                cur, key = start, k
                while True:
                    used.add(key)
                    pc = pieces[key]
                    seq = pc if pc[0] == cur else pc[::-1]
                    chain += seq if not chain else seq[1:]
                    cur = seq[-1]
                    nxt = [e for e in g.edges(cur, keys=True) if e[2] not in used]
                    if g.degree(cur) != 2 or len(nxt) != 1:
                        break
                    key = nxt[0][2]
                count += 1
                vid = f"T{t}V{count}"
                vessels.append({"id": vid, "parent": parent_id, "points": pts[chain].tolist(),
                                "radius": rad[chain].tolist()})
                queue.append((cur, vid))
    net = VesselNetwork.from_dict({"format": "ffrflow-network/1", "units": "mm", "vessels": vessels},
                                  source=str(path))
    net.meta.update({"source": str(path), "produced_by": "ffrflow.meshing.io.load_centerlines",
                     "radius_array": radius_array, "units": decision})
    return net
