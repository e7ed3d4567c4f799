"""Geometry in, network out: lumen masks and surfaces → 3D artery model → centerline network → lesions.

Runs on the CPU. Heavy libraries (SimpleITK, VTK, kimimaro) are imported lazily where they are used.

Stages (docs/architecture.md; docs/formats.md §Lumen masks and surfaces), each in its own module:

- :mod:`.io` — read a mask (NIfTI, NRRD, MHA/MHD, DICOM series) or a surface (STL, VTP, OBJ) with its
  geometry; keep the trees, drop specks; reject empty masks, noise and non-images.
- :mod:`.surface` — mask → smooth watertight triangle surface in world mm (the 3D artery model).
- :mod:`.centerline` — skeleton → branch graph → smoothed, resampled centerlines → network.
- :mod:`.radius` — area-equivalent radius from cross-sections of the surface.
- :mod:`.stenosis` — reference radius fit and lesion grading (``detect_lesions(network)``).
- :mod:`.volume` — tetrahedra filling the lumen, flat inlet/outlet faces labelled by vessel (gmsh;
  optional, ``mesh(..., volume_mesh=True)``).

>>> from ffrflow.meshing import mesh, write_mesh_outputs          # doctest: +SKIP
>>> res = mesh("case.nii.gz")                                      # doctest: +SKIP
>>> write_mesh_outputs(res, "out/")                                # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .._atomic import atomic_write_text
from ..errors import InvalidInputError
from ..network import _jsonable
from ..vtkio import nearest_centerline_node, polylines_to_polydata, write_polydata
from .centerline import CenterlineOptions, extract_centerlines
from .io import IMAGE_SUFFIXES, load_image, load_surface, polydata_kind
from .mask import mask_from_surface
from .stenosis import lesion_table
from .stenosis import second_derivative as _second_derivative
from .surface import (PROBABILITY_SMOOTH_ITERATIONS, SMOOTH_ITERATIONS, SMOOTH_PASS_BAND, lumen_model, mask_to_surface,
                      require_watertight, write_surface)

log = logging.getLogger("ffrflow.meshing")

__all__ = ["MeshResult", "mesh", "mesh_mask", "mesh_surface", "write_mesh_outputs", "is_surface_path",
           "is_geometry_path", "lesion_records"]


@dataclass
class MeshResult:
    """What meshing produced for one case.

    Attributes
    ----------
    network : VesselNetwork
        Centerlines (world mm, LPS) with the area-equivalent radius (mm); with ``lesions`` on each
        vessel when lesion detection ran.
    surface : vtkPolyData
        The closed lumen surface (3D artery model), world mm.
    image_info : dict
        ``origin_mm``, ``spacing_mm``, ``direction``, ``size``, ``voxels_dropped``, ``components``
        (no patient identifiers). For a surface input: the voxel grid used for the skeleton.
    surface_info : dict
        Watertightness, triangle count, area (mm²), enclosed volume (mm³).
    centerline_info : dict
        Spurs pruned, ostia, radius statistics (cuts that fell back, and why).
    timings_s : dict
        Seconds per stage: ``load``, ``surface``, ``skeleton``, ``graph``, ``radius``, ``lesions``, ``total``.
    lesions_detected : bool
        Whether :func:`ffrflow.meshing.stenosis.detect_lesions` ran on the network.
    volume_info : dict
        The tetrahedral mesh's summary (:func:`ffrflow.meshing.volume.tetrahedral_mesh`) when one
        was made, else empty.
    """

    network: Any
    surface: Any
    image_info: dict = field(default_factory=dict)
    surface_info: dict = field(default_factory=dict)
    centerline_info: dict = field(default_factory=dict)
    timings_s: dict = field(default_factory=dict)
    lesions_detected: bool = False
    volume_info: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """JSON-able summary of the run (no geometry)."""
        out = {"image": self.image_info, "surface": self.surface_info, "centerline": self.centerline_info,
               "vessels": len(self.network.vessels), "roots": self.network.roots,
               "outlets": len(self.network.outlets), "lesions_detected": self.lesions_detected,
               "timings_s": {k: round(float(v), 4) for k, v in self.timings_s.items()}}
        if self.volume_info:
            out["volume"] = self.volume_info
        return out


def is_surface_path(path: str | Path) -> bool:
    """Whether ``path`` names a surface file (``.stl``, ``.obj``; a ``.vtp``/``.vtk`` holding
    triangles) rather than an image or centerlines."""
    p = Path(path)
    suf = p.suffix.lower()
    if not p.is_file() or suf not in (".stl", ".obj", ".vtp", ".vtk"):
        return False
    if suf in (".stl", ".obj"):
        return True
    try:
        return polydata_kind(p) == "surface"
    except Exception:          # unreadable: let the surface reader name the problem
        return suf == ".vtp"


def is_geometry_path(path: str | Path) -> bool:
    """Whether ``path`` is an input that must be meshed: a mask image (NIfTI, NRRD, MHA/MHD, DICOM
    file or series folder) or a closed surface (see :func:`is_surface_path`)."""
    p = Path(path)
    name = p.name.lower()
    if p.is_dir():
        return True
    return name.endswith(IMAGE_SUFFIXES) or is_surface_path(p)


def _detect(network, enabled: bool, timings: dict):
    if not enabled:
        return network, False
    try:  # looked up at call time: the lesion-detection hook (tests replace ffrflow.meshing.stenosis)
        from .stenosis import detect_lesions
    except ImportError:
        log.info("lesion detection is not available (ffrflow.meshing.stenosis); network left without lesions")
        return network, False
    t0 = time.perf_counter()
    network = detect_lesions(network)
    timings["lesions"] = time.perf_counter() - t0
    return network, True


def mesh_mask(mask, *, ostia: Sequence[Sequence[float]] | None = None, spacing_out_mm: float = 0.5,
              lesions: bool = True, smooth_iterations: int | None = None, pass_band: float | None = None,
              options=None, timings: dict | None = None) -> MeshResult:
    """Mesh an already loaded :class:`~ffrflow.meshing.mask.LumenMask` (see :func:`mesh`).

    A binary mask's surface is the level 0.5 of its Gaussian-smoothed indicator on an isotropic grid
    (:func:`~ffrflow.meshing.surface.lumen_field`), and its cross-section radii are corrected for what the
    blur and the facets do to a lumen (:func:`correct_lumen_bias`). A probability map's
    surface is the iso-surface of the probability at its threshold, not smoothed by default
    (:data:`~ffrflow.meshing.surface.PROBABILITY_SMOOTH_ITERATIONS`), and its radii are corrected for
    the smaller area its flat facets cut off (:func:`correct_iso_surface_bias`). Either way the
    surface is then inflated to match the corrected radii (:func:`inflate_surface`).
    """
    timings = {} if timings is None else timings
    opts = dataclasses.replace(options or CenterlineOptions(), spacing_out_mm=float(spacing_out_mm))
    soft = mask.probability is not None
    if smooth_iterations is None:
        smooth_iterations = PROBABILITY_SMOOTH_ITERATIONS if soft else SMOOTH_ITERATIONS
    t0 = time.perf_counter()
    surf = mask_to_surface(mask, iterations=smooth_iterations,
                           pass_band=SMOOTH_PASS_BAND if pass_band is None else pass_band)
    surf_info = require_watertight(surf, f"{mask.source}: surface")
    timings["surface"] = time.perf_counter() - t0
    net, cinfo = extract_centerlines(mask, surf, ostia=ostia, opts=opts, timings=timings)
    if opts.lesion_spacing_mm:
        t0 = time.perf_counter()
        net, cinfo["lesion_refinement"] = refine_lesion_sampling(net, surf, opts.lesion_spacing_mm,
                                                                 opts.lesion_shoulder_mm)
        timings["radius"] = timings.get("radius", 0.0) + time.perf_counter() - t0
    r_measured = {vid: v.radius_mm.copy() for vid, v in net.vessels.items()}
    if soft:
        cinfo["radius"]["contour_area_correction_mm2"] = correct_iso_surface_bias(net, mask.spacing_mm,
                                                                                  mask.direction)
    else:
        cinfo["radius"]["lumen_correction"] = correct_lumen_bias(net, lumen_model(mask.spacing_mm))
    if soft:   # the map holds the lumen volume: the area from its fractions (ffrflow.meshing.partial_volume)
        from .partial_volume import volume_radii   # compiles a Numba kernel (import ffrflow loads no Numba)

        t0 = time.perf_counter()
        cinfo["radius"]["partial_volume"] = volume_radii(mask, net)
        timings["radius"] = timings.get("radius", 0.0) + time.perf_counter() - t0
    surf = inflate_surface(surf, net, r_measured)
    net, detected = _detect(net, lesions, timings)
    return MeshResult(net, surf, mask.info(), surf_info, cinfo, timings, detected)


#: Diameter reduction (%) from which a narrowing is sampled finely (below the default detection
#: threshold of 30 %, so that a lesion near it is sampled finely too).
REFINE_THRESHOLD_PCT = 20.0


def refine_lesion_sampling(network, surface, spacing_mm: float = 0.1, shoulder_mm: float = 1.0):
    """Sample the centerline every ``spacing_mm`` inside every narrowing and its shoulders.

    The throat of a lesion is a point: at the output spacing (0.5 mm) it falls between samples, and the
    piecewise-linear radius profile reads the minimal lumen diameter too large (an FFR 0.005–0.015
    too high behind a 70 % lesion). Narrowings are found on the measured profile
    (:func:`ffrflow.meshing.stenosis.detect_vessel_lesions` at :data:`REFINE_THRESHOLD_PCT`); points are
    added along the centerline polyline every ``spacing_mm`` from ``shoulder_mm`` before each narrowing
    to ``shoulder_mm`` after it, and the radius of the refined vessels is measured again on cross-sections
    of ``surface`` (:func:`ffrflow.meshing.radius.section_radii`).

    Parameters
    ----------
    network : VesselNetwork
        Centerlines (mm) with measured radii (mm).
    surface : vtkPolyData or SurfaceCutter
        The lumen surface the radii were measured on, world mm.
    spacing_mm, shoulder_mm : float
        Point spacing inside narrowings and how far beyond them it extends, mm.

    Returns
    -------
    network : VesselNetwork
        A copy with the refined vessels.
    info : dict
        ``vessels`` refined, ``points_added``, ``spacing_mm``.
    """
    from .radius import SurfaceCutter, section_radii
    from .stenosis import detect_vessel_lesions  # the lesion-detection hook, see _detect

    out = network.copy()
    new_pts, guess = {}, {}
    for vid, v in out.vessels.items():
        s = v.arclength_mm
        found, _ = detect_vessel_lesions(s, v.radius_mm, threshold_pct=REFINE_THRESHOLD_PCT)
        if not found:
            continue
        keep = np.ones(len(s), dtype=bool)
        extra = []
        for les in found:
            a, b = max(les.start_mm - shoulder_mm, 0.0), min(les.end_mm + shoulder_mm, float(s[-1]))
            n = max(int(np.ceil((b - a) / spacing_mm - 1e-9)), 1)
            extra.append(np.linspace(a, b, n + 1))
            keep &= (s < a) | (s > b)
        s_new = np.unique(np.concatenate([s[keep]] + extra))
        s_new = s_new[np.concatenate([[True], np.diff(s_new) > 0.25 * spacing_mm])]
        s_new[0], s_new[-1] = s[0], s[-1]
        new_pts[vid] = np.column_stack([np.interp(s_new, s, v.points_mm[:, k]) for k in range(3)])
        guess[vid] = np.interp(s_new, s, v.radius_mm)
    if not new_pts:
        return out, {"vessels": [], "points_added": 0, "spacing_mm": float(spacing_mm)}
    cutter = surface if isinstance(surface, SurfaceCutter) else SurfaceCutter(surface)
    radii, _, _ = section_radii(cutter, new_pts, guess)
    added = 0
    for vid, pts in new_pts.items():
        v = out.vessels[vid]
        added += len(pts) - len(v.points_mm)
        v.points_mm = pts
        v.radius_mm = np.maximum(np.asarray(radii[vid], dtype=np.float64), 0.05)
    return out, {"vessels": sorted(new_pts), "points_added": int(added), "spacing_mm": float(spacing_mm)}


def inflate_surface(surface, network, r_measured: dict):
    """Move every surface vertex outward along its normal by the radius correction of its vessel.

    The vertex's vessel point is the nearest centerline node by distance to that node's wall
    (:func:`ffrflow.vtkio.nearest_centerline_node`); the shift is the corrected minus the measured
    radius there (mm, see :func:`correct_lumen_bias`), so that cross-sections of the written surface
    give the corrected radii and a user who meshes ``surface.stl`` again gets the same network.
    """
    from .. import _vtk as vtk
    from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy

    normals = surface.GetPointData().GetNormals()
    if normals is None:
        return surface
    nodes = np.concatenate([v.points_mm for v in network.vessels.values()])
    r_new = np.concatenate([v.radius_mm for v in network.vessels.values()])
    r_old = np.concatenate([r_measured[vid] for vid in network.vessels])
    pts = vtk_to_numpy(surface.GetPoints().GetData()).astype(np.float64)
    k = nearest_centerline_node(pts, nodes, r_old)
    moved = pts + (r_new - r_old)[k, None] * vtk_to_numpy(normals).astype(np.float64)
    out = vtk.vtkPolyData()
    out.ShallowCopy(surface)
    p = vtk.vtkPoints()
    p.SetDataTypeToDouble()
    p.SetData(numpy_to_vtk(moved, deep=True))
    out.SetPoints(p)
    return out


#: Area cut off every cross-section by the triangles of the contoured surface, as ``π c h²`` (h = spacing
#: of the isotropic grid it is contoured on): c measured on straight tubes of radius 0.5–2 mm in every
#: orientation at 0.4 mm and 0.35 × 0.35 × 0.6 mm voxels.
CHORD_AREA_COEFFICIENT = 0.10


def _wall_curvature_factor(s_mm: np.ndarray, r_mm: np.ndarray) -> np.ndarray:
    """``1 − r r''``: the wall's mean curvature relative to a straight tube's, ``(1/r − r'') / (1/r)``.

    Both the facets' chords and the partial-volume offset of an iso-surface move the wall towards its
    centres of curvature by an amount proportional to ``h² (κ₁ + κ₂)``: ``κ₁ = 1/r`` round the vessel
    and ``κ₂ = −r''`` along it (a throat is concave along the axis). On a straight tube the area lost
    per cross-section is a constant ``π c h²``; at a throat with ``r r'' ≈ 1`` (a short severe lesion) the
    two curvatures cancel and nothing is lost, and the straight-tube correction alone would widen it by
    0.04 mm at a 0.56 mm throat at 0.4 mm voxels.
    """
    return 1.0 - np.asarray(r_mm, dtype=np.float64) * _second_derivative(np.asarray(s_mm, dtype=np.float64), r_mm)


def correct_lumen_bias(network, model: dict, c: float = CHORD_AREA_COEFFICIENT) -> dict:
    """Undo what contouring the smoothed mask does to the radius (in place, every vessel): returns the
    parameters used (mm).

    Parameters
    ----------
    network : VesselNetwork
        Radii (mm) measured on cross-sections of a surface contoured from a mask by
        :func:`ffrflow.meshing.surface.mask_to_surface`; changed in place.
    model : dict
        :func:`ffrflow.meshing.surface.lumen_model` of that mask: ``grid_mm`` (h) and ``sigma_mm`` (σ).
    c : float
        Chord area coefficient (:data:`CHORD_AREA_COEFFICIENT`).

    Notes
    -----
    Three steps, each the inverse of one effect (σ, h in mm; r, s in mm):

    1. chords: the triangles cut a constant area off every cross-section, r ← √(r² + c h²);
    2. along the axis: the Gaussian blurs the radius profile, r_b ≈ r + σ² r''/2 (it fills a throat
       and trims a shoulder), so r ← r − σ² r''/2 with r'' from the measured profile
       (:func:`_second_derivative`);
    3. in the plane: the level 0.5 of a disc of radius R blurred by σ is the median of a noncentral χ²
       with 2 degrees of freedom, ``ρ² = σ² · median⁻¹``: R = σ √(F⁻¹(½; 2, ρ²/σ²)) (``scipy.stats.ncx2``),
       about √(ρ² + σ²) for ρ ≫ σ.

    The grid is isotropic and σ the same in every direction, so the correction does not depend on the
    voxel shape or the vessel's orientation to the slices. It is applied to radii measured on a surface
    contoured from a mask, never to a user-given surface.
    """
    from scipy.stats import ncx2

    h = float(model["grid_mm"])
    sigma = float(model["sigma_mm"])
    chord = float(c) * h * h
    for v in network.vessels.values():
        r = np.asarray(v.radius_mm, dtype=np.float64)
        r = np.sqrt(np.maximum(r ** 2 + chord * _wall_curvature_factor(v.arclength_mm, r), 0.0025))
        if sigma > 0:
            r = np.maximum(r - 0.5 * sigma ** 2 * _second_derivative(v.arclength_mm, r), 0.0)
            r = sigma * np.sqrt(ncx2.ppf(0.5, 2, (r / sigma) ** 2))
        v.radius_mm = r
    return {"grid_mm": h, "sigma_mm": sigma, "chord_area_mm2": float(np.pi * chord), "chord_coefficient": float(c)}


#: The iso-surface of an exact partial-volume probability map at 0.5 encloses about ``π·c·h_n²`` less
#: than the lumen in every cross-section (``h_n²`` the mean squared spacing along the wall normals
#: of the cross-section): c measured on straight tubes (r = 0.5–1.5 mm) in eight directions at
#: 0.3 and 0.4 mm and at 0.35 × 0.35 × 0.6 mm voxels, at random sub-voxel shifts.
PROBABILITY_AREA_BIAS = 0.28


def correct_iso_surface_bias(network, spacing_mm, direction=None, c: float = PROBABILITY_AREA_BIAS) -> float:
    """Undo the area the iso-surface of a probability map loses: r ← √(r² + c h_n²), in place.

    Parameters
    ----------
    network : VesselNetwork
        Radii (mm) measured on cross-sections of the iso-surface of a probability map; changed in place.
    spacing_mm : (3,) array
        Voxel spacing of the map along its index axes, mm.
    direction : (3, 3) array, optional
        The map's direction matrix (column j: world direction of index axis j); default identity.
    c : float
        Bias coefficient (:data:`PROBABILITY_AREA_BIAS`).

    Returns
    -------
    float
        The mean area added per cross-section, c h_n² (mm²).

    Notes
    -----
    ``h_n² = Σ_j s_j² (1 − t_j²) / 2`` is the squared voxel spacing along the wall normal averaged
    round a circular cross-section of a vessel with unit tangent ``t`` (``t_j`` its components along
    the index axes, ``s_j`` the spacings): the spacing the cross-section sees, ``s²`` on an isotropic
    grid, between the fine and the coarse spacing on an anisotropic one. Two effects shrink the
    iso-surface: its vertices lie about ``0.06 h²/r`` inside a wall of radius r (the fraction of a
    voxel centred on a convex wall is below one half: ``h²/(24 r)`` for a box blur, plus the linear
    interpolation along voxel edges), and its flat triangles cut chords another ``0.08 h²/r`` inside
    (as for a mask). The radius reads about ``0.14 h²/r`` low without the correction: 0.045 mm at a 0.5 mm throat at 0.4 mm voxels. Measured
    at the threshold 0.5 on exact partial-volume maps (:func:`ffrflow.meshing.voxelize.voxelize` with
    ``partial_volume=True``); a segmentation network's map with a sharper edge has a smaller share
    of the second effect.
    """
    sp2 = np.asarray(spacing_mm, dtype=np.float64) ** 2
    dmat = np.eye(3) if direction is None else np.asarray(direction, dtype=np.float64).reshape(3, 3)
    added = []
    for v in network.vessels.values():
        pts = np.asarray(v.points_mm, dtype=np.float64)
        tan = np.gradient(pts, axis=0) if len(pts) > 1 else np.zeros_like(pts)
        norm = np.linalg.norm(tan, axis=1, keepdims=True)
        t_img = np.divide(tan, norm, out=np.full_like(tan, 1.0 / np.sqrt(3.0)), where=norm > 0) @ dmat
        r = np.asarray(v.radius_mm, dtype=np.float64)
        da = float(c) * 0.5 * ((1.0 - t_img ** 2) @ sp2) * _wall_curvature_factor(v.arclength_mm, r)
        v.radius_mm = np.sqrt(np.maximum(r ** 2 + da, 0.0025))
        added.append(da)
    return float(np.mean(np.concatenate(added))) if added else 0.0


def mesh_surface(path: str | Path, *, ostia=None, spacing_out_mm: float = 0.5, lesions: bool = True,
                 voxel_mm: float = 0.3, options=None) -> MeshResult:
    """Mesh a closed lumen surface (STL/VTP/OBJ, mm or metres).

    The surface is voxelised at ``voxel_mm`` for the skeleton; the radius comes from cross-sections
    of the given surface itself.

    Raises
    ------
    InvalidInputError
        Unreadable or empty surface.
    MeshQualityError
        A surface with holes (not watertight).
    """
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    t0 = time.perf_counter()
    surf, sinfo = load_surface(path)
    rep = require_watertight(surf, str(path))
    mask = mask_from_surface(surf, voxel_mm=voxel_mm, source=str(path))
    timings["load"] = time.perf_counter() - t0
    opts = dataclasses.replace(options or CenterlineOptions(), spacing_out_mm=float(spacing_out_mm))
    net, cinfo = extract_centerlines(mask, surf, ostia=ostia, opts=opts, timings=timings)
    net, detected = _detect(net, lesions, timings)
    timings["total"] = time.perf_counter() - t_all
    info = mask.info()
    info["surface_input"] = sinfo
    return MeshResult(net, surf, info, rep, cinfo, timings, detected)


def mesh(path: str | Path, *, label: int | None = None, threshold: float | None = None,
         ostia: Sequence[Sequence[float]] | None = None,
         spacing_out_mm: float = 0.5, lesions: bool = True, smooth_iterations: int | None = None,
         pass_band: float | None = None, surface_voxel_mm: float = 0.3, options=None,
         **load_options) -> MeshResult:
    """Lumen mask or surface file → 3D artery model + centerline network (+ lesions).

    Parameters
    ----------
    path : str or Path
        A mask (``.nii``, ``.nii.gz``, ``.nrrd``, ``.mha``, ``.mhd``, DICOM file or series folder), a
        lumen probability map (floating-point values in [0, 1], told apart from a mask by its values:
        :func:`ffrflow.meshing.mask.volume_kind`) or a closed surface (``.stl``, ``.vtp``, ``.obj``; in mm,
        or in metres, which is detected).
    label : int, optional
        Lumen label of a label volume (default: every voxel > 0). Not for a probability map.
    threshold : float, optional
        Lumen level of a probability map, in (0, 1) (default 0.5): the lumen is ``p >= threshold``
        and its surface the iso-surface of ``p`` there. Not with ``label``, a label volume or a surface.
    ostia : sequence of (x, y, z), optional
        Ostium points in world mm (LPS), at most one per tree; default: the widest end of each tree.
    spacing_out_mm : float
        Spacing of the output centerline points, mm.
    lesions : bool
        Run lesion detection (:func:`ffrflow.meshing.stenosis.detect_lesions`) on the network.
    smooth_iterations, pass_band : optional
        Windowed-sinc smoothing of the surface (defaults in :mod:`.surface`).
    surface_voxel_mm : float
        Voxel size used to skeletonise a surface input, mm.
    options : CenterlineOptions, optional
        Skeleton, pruning and smoothing knobs.
    **load_options
        Passed to :func:`ffrflow.meshing.io.load_image` (``min_component_mm3``, ``max_trees``, ...).

    Returns
    -------
    MeshResult

    Raises
    ------
    InvalidInputError
        Missing or unreadable file, empty mask, noise, no tubular structure (the message names the
        file and the problem).
    MeshQualityError
        A surface with holes; geometry that cannot be meshed.

    Examples
    --------
    >>> res = mesh("case.nii.gz")                                   # doctest: +SKIP
    >>> res.network.roots, res.timings_s["total"]                   # doctest: +SKIP
    (['LCA_1', 'RCA_1'], 6.1)
    """
    if is_surface_path(path):
        if threshold is not None or label is not None:
            raise InvalidInputError(f"{path}: a surface has no labels or probabilities; --label and --threshold "
                                    f"apply to mask and probability-map images")
        return mesh_surface(path, ostia=ostia, spacing_out_mm=spacing_out_mm, lesions=lesions,
                            voxel_mm=surface_voxel_mm, options=options)
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    t0 = time.perf_counter()
    mask = load_image(path, label=label, threshold=threshold, **load_options)
    timings["load"] = time.perf_counter() - t0
    res = mesh_mask(mask, ostia=ostia, spacing_out_mm=spacing_out_mm, lesions=lesions,
                    smooth_iterations=smooth_iterations, pass_band=pass_band, options=options, timings=timings)
    timings["total"] = time.perf_counter() - t_all
    log.info("meshed %s: %d vessels, %d outlets in %.2f s", path, len(res.network.vessels),
             len(res.network.outlets), timings["total"])
    return res


def centerline_polydata(network):
    """The network's centerlines as vtkPolyData: one polyline per vessel, point array ``radius_mm``,
    cell arrays ``vessel_id`` (string) and ``vessel_index`` (int)."""
    ids = list(network.vessels)
    lines = [network.vessels[v].points_mm for v in ids]
    return polylines_to_polydata(lines, {"radius_mm": [network.vessels[v].radius_mm for v in ids]},
                                 {"vessel_id": ids, "vessel_index": list(range(len(ids)))})


def write_mesh_outputs(result: MeshResult, folder: str | Path) -> dict[str, Path]:
    """Write ``network.json``, ``surface.vtp``, ``surface.stl``, ``centerlines.vtp``, ``lesions.json``
    and ``mesh.json``.

    Each file is written atomically (a reader sees the old file or the new one, never half); for a
    whole folder that appears all or nothing, write into :func:`ffrflow._atomic.output_folder`.
    ``lesions.json`` lists the lesions with the ``summary.json`` keys less the pressure ones
    (``mld_xyz_mm`` in world mm, LPS); it is an empty list when detection did not run.

    Parameters
    ----------
    result : MeshResult
    folder : str or Path
        Created when missing.

    Returns
    -------
    dict[str, Path]
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"network": result.network.to_json(folder / "network.json"),
             "surface_vtp": write_surface(result.surface, folder / "surface.vtp"),
             "surface_stl": write_surface(result.surface, folder / "surface.stl"),
             "centerlines": write_polydata(centerline_polydata(result.network), folder / "centerlines.vtp")}
    paths["lesions"] = folder / "lesions.json"
    atomic_write_text(paths["lesions"], json.dumps(_jsonable(lesion_records(result)), indent=1) + "\n")
    paths["mesh_info"] = folder / "mesh.json"
    atomic_write_text(paths["mesh_info"], json.dumps(_jsonable(result.summary()), indent=1) + "\n")
    return paths


def lesion_records(result: MeshResult) -> list[dict]:
    """The ``lesions.json`` records of a meshing result (geometry only: mm, %; no pressures)."""
    if not result.lesions_detected:
        return []
    return lesion_table(result.network)
