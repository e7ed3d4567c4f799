"""Lumen mask → smooth watertight triangle surface in world millimetres (the 3D artery model).

Pipeline (docs/architecture.md, meshing): the binary mask, already cropped to its bounding box and padded
with background, becomes a smooth lumen indicator: a Gaussian of standard deviation ``sigma_mm`` (the
same in millimetres along every axis, so in voxels it is narrower along a coarse slice axis) removes
the voxel staircase, and the field is resampled along every axis coarser than the finest one onto an
isotropic grid of the finest spacing (Keys cubic convolution, an interpolating C¹ kernel). The
surface is the level ``0.5`` of that field (VTK's flying edges, linear along the grid edges). A lumen
probability map is contoured as it is, on its own grid, at its threshold (no blur: its sub-voxel
information is already in the values). Either surface is mapped from index to world coordinates with
the image geometry:

.. math::

    \\mathbf{x}_{world} = \\mathbf{o} + D \\, \\mathrm{diag}(\\mathbf{s}) \\, (\\mathbf{i} + \\mathbf{i}_0)

(origin :math:`\\mathbf{o}`, direction :math:`D`, spacing :math:`\\mathbf{s}`, crop offset
:math:`\\mathbf{i}_0`), so oblique and anisotropic images give the same surface in world mm.

Why isotropic: the surface's bias then has one form in every direction, whatever the voxel shape and
the vessel's orientation to the slices, and can be undone exactly where the radius is measured
(:func:`lumen_model` describes it; :func:`ffrflow.meshing.correct_lumen_bias` undoes it). Smoothing
the triangle mesh instead (a windowed-sinc filter works in mesh-edge units, which are 1.7 times
longer along 0.6 mm slices than across 0.35 mm pixels) smooths differently along the slice axis and
fills short lesions by an amount that depends on how they lie in the scan. The windowed-sinc filter
is still available (``iterations > 0``) for surfaces that are only drawn (:func:`tube_surface`).

References
----------
R. Keys, "Cubic convolution interpolation for digital image processing", IEEE Trans. ASSP 29 (1981).
G. Taubin, T. Zhang, G. Golub, "Optimal surface smoothing as filter design", ECCV 1996 (windowed sinc).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from ..errors import InvalidInputError, MeshQualityError
from .mask import LumenMask
from .voxelize import voxelize_array

log = logging.getLogger("ffrflow.meshing")

#: Default windowed-sinc smoothing of the contoured mesh: iterations (0: none; the lumen field is
#: smoothed before contouring instead) and pass band (normalised coordinates).
SMOOTH_ITERATIONS = 0
SMOOTH_PASS_BAND = 0.1
#: Default smoothing iterations of a probability map's iso-surface (no staircase to remove).
PROBABILITY_SMOOTH_ITERATIONS = 0

#: Standard deviation (mm) of the Gaussian applied to the binary mask before contouring.
SMOOTH_SIGMA_MM = 0.2


def isotropic_spacing_mm(spacing_mm) -> float:
    """Spacing (mm) of the isotropic grid the lumen field is contoured on: the finest voxel spacing."""
    return float(np.min(np.asarray(spacing_mm, dtype=np.float64)))


def lumen_model(spacing_mm, sigma_mm: float = SMOOTH_SIGMA_MM) -> dict:
    """What the contoured surface does to a lumen: ``{"grid_mm": h, "sigma_mm": σ}``.

    For a lumen of local radius r(s) along its axis, the level 0.5 of the Gaussian-smoothed indicator is
    the level 0.5 of a disc of radius r blurred in its plane by σ (the exact relation of
    :func:`blurred_disc_radius`) with the profile itself blurred along the axis by σ (which fills a throat
    by about ``σ² r''/2``); the triangles, chords of the level set with edges of about ``h``, cut off a
    constant area ``π c h²`` per cross-section (:data:`ffrflow.meshing.CHORD_AREA_COEFFICIENT`).
    """
    return {"grid_mm": isotropic_spacing_mm(spacing_mm), "sigma_mm": float(sigma_mm)}


def _keys_weights(f: np.ndarray) -> list[np.ndarray]:
    """Keys cubic convolution weights (a = −0.5) of the samples at offsets −1, 0, 1, 2 for fractions ``f``."""
    a = -0.5

    def w(t):
        t = np.abs(t)
        return np.where(t <= 1.0, (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1.0,
                        np.where(t < 2.0, a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a, 0.0))

    return [w(f - m).astype(np.float32) for m in (-1, 0, 1, 2)]


def resample_axis(field: np.ndarray, axis: int, spacing_mm: float, new_spacing_mm: float) -> np.ndarray:
    """Resample a float array along one axis from ``spacing_mm`` to ``new_spacing_mm`` (both mm), first sample
    kept, by Keys cubic convolution (samples beyond the ends repeat the end sample)."""
    n = field.shape[axis]
    m = int(np.floor((n - 1) * spacing_mm / new_spacing_mm + 1e-9)) + 1
    x = np.arange(m) * (new_spacing_mm / spacing_mm)
    i0 = np.floor(x).astype(np.int64)
    moved = np.moveaxis(field, axis, 0)
    shape = (-1,) + (1,) * (field.ndim - 1)
    out = np.zeros((m,) + moved.shape[1:], dtype=np.float32)
    for off, wt in zip((-1, 0, 1, 2), _keys_weights(x - i0)):
        out += moved[np.clip(i0 + off, 0, n - 1)] * wt.reshape(shape)
    return np.moveaxis(out, 0, axis)


def lumen_field(binary: np.ndarray, spacing_mm, sigma_mm: float = SMOOTH_SIGMA_MM) -> tuple[np.ndarray, float]:
    """Smooth lumen indicator of a binary (z, y, x) mask on an isotropic grid.

    Parameters
    ----------
    binary : ndarray (nz, ny, nx)
        Lumen mask (nonzero = lumen).
    spacing_mm : (3,) array
        Voxel spacing along x, y, z, mm.
    sigma_mm : float
        Gaussian standard deviation, mm (0: none).

    Returns
    -------
    field : ndarray of float32
        The indicator, 1 deep inside, 0 far outside, on the isotropic grid (same first sample).
    grid_mm : float
        Its spacing, mm (:func:`isotropic_spacing_mm`).
    """
    from scipy import ndimage

    sp = np.asarray(spacing_mm, dtype=np.float64)
    field = (np.asarray(binary) > 0).astype(np.float32)
    if sigma_mm > 0:
        field = ndimage.gaussian_filter(field, [sigma_mm / sp[2], sigma_mm / sp[1], sigma_mm / sp[0]],
                                        truncate=3.0, mode="constant")
    h = isotropic_spacing_mm(sp)
    for ax_arr, ax_xyz in ((0, 2), (1, 1), (2, 0)):
        if abs(sp[ax_xyz] - h) > 1e-6 * h:
            field = resample_axis(field, ax_arr, float(sp[ax_xyz]), h)
    return np.ascontiguousarray(field, dtype=np.float32), h


def mask_to_surface(mask: LumenMask, *, iterations: int = SMOOTH_ITERATIONS, pass_band: float = SMOOTH_PASS_BAND,
                    sigma_mm: float = SMOOTH_SIGMA_MM, pad: int = 3, normals: bool = True):
    """Contour a lumen mask into a closed, smooth triangle surface in world mm (see the module docstring).

    A binary mask is contoured halfway between lumen and background voxel centres (discrete flying
    edges); a probability map (``mask.probability``) at its threshold, with the crossing on each
    voxel edge placed by linear interpolation of the probability (flying edges, the marching-cubes
    iso-surface), which puts the wall between voxel centres to sub-voxel accuracy.

    Parameters
    ----------
    mask : LumenMask
        The cropped lumen mask with its image geometry (:func:`ffrflow.meshing.io.load_image`); with
        ``probability`` and ``threshold`` for a probability map.
    iterations : int
        Windowed-sinc iterations on the contoured mesh (0, the default: none).
    pass_band : float
        Windowed-sinc pass band in (0, 2); smaller is smoother.
    sigma_mm : float
        Gaussian standard deviation applied to the mask before contouring, mm (0: the level 0.5 of the
        binary mask resampled to the isotropic grid, voxel facets included). Not applied to a
        probability map.
    pad : int
        Background voxels added around the crop so that the surface closes.
    normals : bool
        Add outward point normals (for rendering and :func:`ffrflow.meshing.inflate_surface`).

    Returns
    -------
    vtkPolyData
        Triangles, world mm (LPS), one closed surface per tree.

    Raises
    ------
    MeshQualityError
        When contouring yields no triangles.
    """
    from .. import _vtk as vtk
    from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy

    h = isotropic_spacing_mm(mask.spacing_mm)
    if mask.probability is None and sigma_mm == 0 and np.allclose(mask.spacing_mm, h, rtol=1e-6, atol=0.0):
        # the binary mask as it is: contouring 0/1 bytes at 0.5 places every vertex where 0/1 floats
        # would, without a float copy of the whole box
        field = np.pad(mask.labels > 0, pad).view(np.uint8)
        grid, level = (h, h, h), 0.5
    elif mask.probability is None:
        field, h = lumen_field(np.pad(mask.labels > 0, pad), mask.spacing_mm, sigma_mm)
        grid, level = (h, h, h), 0.5
    else:                       # already grown by one voxel; the level set of p at the threshold
        if pad < 1:
            raise ValueError("pad: at least 1 voxel for a probability map")
        field = np.pad(mask.probability.astype(np.float32, copy=False), pad - 1)
        grid, level = tuple(float(x) for x in mask.spacing_mm), float(mask.threshold)
    nz, ny, nx = field.shape
    img = vtk.vtkImageData()
    img.SetDimensions(nx, ny, nz)
    img.SetSpacing(*grid)
    img.SetOrigin(0.0, 0.0, 0.0)
    img.GetPointData().SetScalars(numpy_to_vtk(field.ravel(order="C"), deep=True,
                                               array_type=vtk.VTK_UNSIGNED_CHAR if field.dtype == np.uint8
                                               else vtk.VTK_FLOAT))
    fe = vtk.vtkFlyingEdges3D()
    fe.SetInputData(img)
    fe.SetValue(0, level)
    fe.ComputeGradientsOff()
    fe.ComputeNormalsOff()
    fe.ComputeScalarsOff()
    fe.Update()
    poly = fe.GetOutput()
    if poly.GetNumberOfPolys() == 0:
        raise MeshQualityError(f"{mask.source}: contouring the mask gave no surface")
    if iterations > 0:
        sm = vtk.vtkWindowedSincPolyDataFilter()
        sm.SetInputData(poly)
        sm.SetNumberOfIterations(int(iterations))
        sm.SetPassBand(float(pass_band))
        sm.BoundarySmoothingOff()
        sm.FeatureEdgeSmoothingOff()
        sm.NonManifoldSmoothingOn()
        sm.NormalizeCoordinatesOn()
        sm.Update()
        poly = sm.GetOutput()
    # index frame (scaled) → world: x = o + D (s*(i0 - pad) + p)
    pts = vtk_to_numpy(poly.GetPoints().GetData()).astype(np.float64)
    shift = (mask.offset - pad) * mask.spacing_mm
    world = mask.origin_mm + (pts + shift) @ mask.direction.T
    out = vtk.vtkPolyData()
    newpts = vtk.vtkPoints()
    newpts.SetDataTypeToDouble()
    newpts.SetData(numpy_to_vtk(world, deep=True))
    out.SetPoints(newpts)
    out.SetPolys(poly.GetPolys())
    if np.linalg.det(mask.direction) < 0:      # a reflection flips the triangle orientation
        rev = vtk.vtkReverseSense()
        rev.SetInputData(out)
        rev.ReverseCellsOn()
        rev.Update()
        out = rev.GetOutput()
    if normals:
        nf = vtk.vtkPolyDataNormals()
        nf.SetInputData(out)
        nf.SplittingOff()
        nf.ConsistencyOn()
        nf.AutoOrientNormalsOff()
        nf.ComputePointNormalsOn()
        nf.ComputeCellNormalsOff()
        nf.Update()
        out = nf.GetOutput()
    return out


def surface_report(poly) -> dict:
    """Watertightness and size of a triangle surface.

    Returns
    -------
    dict
        ``points``, ``triangles``, ``boundary_edges`` (edges used by one triangle: holes),
        ``nonmanifold_edges`` (used by three or more), ``watertight`` (no boundary and no
        non-manifold edges), ``area_mm2``, ``volume_mm3`` (enclosed; meaningful when watertight),
        ``regions`` (connected pieces).
    """
    from .. import _vtk as vtk

    fe = vtk.vtkFeatureEdges()
    fe.SetInputData(poly)
    fe.BoundaryEdgesOn()
    fe.NonManifoldEdgesOff()
    fe.FeatureEdgesOff()
    fe.ManifoldEdgesOff()
    fe.Update()
    n_boundary = fe.GetOutput().GetNumberOfLines()
    fe.BoundaryEdgesOff()
    fe.NonManifoldEdgesOn()
    fe.Update()
    n_nonmanifold = fe.GetOutput().GetNumberOfLines()
    mp = vtk.vtkMassProperties()
    mp.SetInputData(poly)
    mp.Update()
    conn = vtk.vtkPolyDataConnectivityFilter()
    conn.SetInputData(poly)
    conn.SetExtractionModeToAllRegions()
    conn.Update()
    return {"points": int(poly.GetNumberOfPoints()), "triangles": int(poly.GetNumberOfPolys()),
            "boundary_edges": int(n_boundary), "nonmanifold_edges": int(n_nonmanifold),
            "watertight": bool(n_boundary == 0 and n_nonmanifold == 0),
            "area_mm2": float(mp.GetSurfaceArea()), "volume_mm3": float(abs(mp.GetVolume())),
            "regions": int(conn.GetNumberOfExtractedRegions())}


def require_watertight(poly, source: str = "surface") -> dict:
    """Raise :class:`MeshQualityError` unless ``poly`` is closed; return :func:`surface_report`."""
    rep = surface_report(poly)
    if not rep["watertight"]:
        raise MeshQualityError(
            f"{source}: the surface is not watertight ({rep['boundary_edges']} boundary edges = holes, "
            f"{rep['nonmanifold_edges']} non-manifold edges); a closed lumen surface is required")
    return rep


def write_surface(poly, path: str | Path) -> Path:
    """Write a surface atomically as ``.vtp`` (XML, binary, compressed) or ``.stl`` (binary).

    Parameters
    ----------
    poly : vtkPolyData
    path : str or Path
        Target file; the suffix picks the format.

    Returns
    -------
    Path
    """
    from .. import _vtk as vtk

    path = Path(path)
    suf = path.suffix.lower()
    if suf == ".vtp":
        writer = vtk.vtkXMLPolyDataWriter()
        writer.SetDataModeToAppended()
        writer.EncodeAppendedDataOff()
        writer.SetCompressorTypeToZLib()
    elif suf == ".stl":
        writer = vtk.vtkSTLWriter()
        writer.SetFileTypeToBinary()
    else:
        raise InvalidInputError(f"{path}: unknown surface format {suf!r}; expected .vtp or .stl")
    with atomic_path(path) as tmp:
        writer.SetFileName(str(tmp))
        writer.SetInputData(poly)
        if writer.Write() != 1:
            raise OSError(f"{path}: VTK could not write the surface")
    return path


def tube_surface(network, *, voxel_mm: float | None = None, margin_mm: float = 1.5,
                 iterations: int = 20, pass_band: float = SMOOTH_PASS_BAND, sigma_mm: float = 0.0,
                 max_voxels: int = 60_000_000):
    """Sweep a network's centerlines and radii into a closed, smooth lumen surface (world mm).

    The swept tube (union of cones between consecutive centerline points, spheres at the joints;
    :func:`ffrflow.meshing.voxelize.voxelize`) is voxelised and contoured like a mask
    (:func:`mask_to_surface`), so junctions are merged into one watertight surface.

    Parameters
    ----------
    network : VesselNetwork
        Centerlines and radii, mm.
    voxel_mm : float, optional
        Voxel size, mm; default ``clip(min radius / 2.5, 0.15, 0.4)``, coarsened when the grid would
        exceed ``max_voxels``.
    margin_mm : float
        Background margin, mm.
    iterations, pass_band, sigma_mm
        Windowed-sinc smoothing of the mesh and Gaussian smoothing of the mask (mm) (see
        :func:`mask_to_surface`). The default (the mask's own contour, then 20 windowed-sinc iterations)
        gives evenly shaped triangles, which gmsh's surface parametrisation needs
        (:func:`ffrflow.meshing.volume.tetrahedral_mesh`); the swept tube is drawn or filled, never
        measured, so the radius bias of mesh smoothing does not matter here.

    Returns
    -------
    vtkPolyData
        Closed triangle surface, mm.

    Examples
    --------
    >>> from ffrflow.phantoms import demo_case
    >>> surf = tube_surface(demo_case().network, voxel_mm=0.5)
    >>> surface_report(surf)["watertight"]
    True
    """
    if voxel_mm is None:
        rmin = float(min(v.radius_mm.min() for v in network.vessels.values()))
        voxel_mm = float(np.clip(rmin / 2.5, 0.15, 0.4))
        pts = np.concatenate([v.points_mm for v in network.vessels.values()])
        rmax = float(max(v.radius_mm.max() for v in network.vessels.values()))
        extent = pts.max(axis=0) - pts.min(axis=0) + 2 * (rmax + margin_mm)
        n = float(np.prod(extent / voxel_mm))
        if n > max_voxels:
            voxel_mm *= (n / max_voxels) ** (1.0 / 3.0)
    arr, origin, sp, dmat = voxelize_array(network, float(voxel_mm), margin_mm)
    mask = LumenMask(labels=arr, offset=np.zeros(3, dtype=np.int64), origin_mm=np.asarray(origin, float),
                     spacing_mm=np.asarray(sp, float), direction=np.asarray(dmat, float),
                     size=tuple(int(x) for x in arr.shape[::-1]), source="<swept tube>")
    return mask_to_surface(mask, iterations=iterations, pass_band=pass_band, sigma_mm=sigma_mm)
