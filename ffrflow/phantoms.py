"""Synthetic coronary trees with known lesions: networks, truth and voxel masks.

The phantoms are the project's ground truth: a :class:`Phantom` holds a vessel network in the
``ffrflow-network/1`` format (docs/formats.md §Network format) *without* a ``lesions`` block, so that the engine has to
find the stenoses itself, and the exact truth of every lesion (MLD, reference diameter, %DS, %AS,
length, position from the ostium, world coordinates of the MLD). :func:`voxelize`
(:mod:`ffrflow.meshing.voxelize`) turns any network into a binary lumen mask, or an exact
partial-volume lumen probability map, with a chosen image geometry (origin, anisotropic spacing, oblique direction), so that the whole pipeline, mask →
surface → centerline → network → FFR, can be checked against a known answer.

Units: lengths, coordinates and radii in mm, world coordinates LPS (as in DICOM and SimpleITK);
angles in degrees; percentages in %.

Anatomy
-------
The trees lie on an ellipsoidal "heart" (semi-axes 60 × 45 × 45 mm, long axis from base to apex
pointing left, anterior and inferior). A point on the surface is given by its polar angle
``alpha`` (degrees from the apex, 180 at the base) and its azimuth ``phi`` (degrees about the long
axis, 0 anterior, positive towards the patient's left). The LAD runs down the anterior
interventricular groove and wraps round the apex, the LCx follows the left atrioventricular groove,
the RCA the right atrioventricular groove to the crux, where it divides into the PDA (down the
posterior interventricular groove) and a posterolateral branch. Each centerline point sits at the
surface plus the healthy vessel radius along the surface normal.

Radii taper exponentially along each course (a run of segments of one artery) and step down at
every branch point by a Murray-type law with exponent :data:`MURRAY_EXPONENT` (n = 7/3, Huo &
Kassab): ``r_parent**n = sum(r_child**n)``.

Lesions
-------
A lesion of diameter stenosis ``d = ds_pct / 100``, centre ``c`` and length ``L`` narrows the healthy
radius ``r_ref(s)`` to

.. math::

    r(s) = r_{ref}(s) - g\\left(\\frac{s - c}{L}\\right)\\,\\bigl(r_{ref}(s) - (1 - d)\\,r_{ref}(c)\\bigr),

with a bump ``g`` (``g(0) = 1``, ``0 <= g < 1`` elsewhere, zero outside the support, decreasing
in ``|s - c|``). This is ``r_ref(s) (1 - d g)`` up to a second-order correction that accounts for the
taper of ``r_ref`` across the lesion, and it makes the minimal lumen radius exactly
``(1 - d) r_ref(c)`` at exactly ``s = c`` (where a centerline point is placed), whatever the taper.
Shapes:

``cosine``
    ``g(x) = (1 + cos 2 pi x) / 2`` on ``|x| <= 1/2``.
``gaussian``
    a Gaussian core (sigma = 0.2 L) truncated smoothly (C-infinity) by the bump
    ``exp(1 - 1 / (1 - 4 x^2))`` on ``|x| <= 1/2``.
``asymmetric``
    a cosine bump with a steep inlet (0.3 L before the throat) and a long outlet (0.7 L after it):
    the lesion spans ``[c - 0.3 L, c + 0.7 L]``, the MLD is still at ``c``.

Examples
--------
>>> from ffrflow.phantoms import LesionSpec, left_tree
>>> ph = left_tree([LesionSpec("LAD_p", center_mm=12.5, length_mm=10.0, ds_pct=70.0)])
>>> les = ph.lesions[0]
>>> round(les["diameter_stenosis_pct"], 6), round(les["area_stenosis_pct"], 6)
(70.0, 91.0)
>>> sorted(ph.network.roots)
['LM']
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ._atomic import atomic_write_text
from .errors import InvalidInputError
from .meshing.voxelize import PARTIAL_VOLUME_SUPERSAMPLE, voxelize
from .network import Lesion, VesselNetwork

__all__ = [
    "LesionSpec", "Phantom", "left_tree", "right_tree", "coronary_tree", "demo_case", "random_tree", "narrow",
    "voxelize", "write_mask", "MURRAY_EXPONENT", "HEART_SEMI_AXES_MM", "POINT_SPACING_MM",
]

#: Exponent of the Murray-type branching law used for the phantoms (Huo & Kassab, 7/3).
MURRAY_EXPONENT = 7.0 / 3.0
#: Semi-axes of the ellipsoidal heart surface, mm: (long axis base→apex, two short axes).
HEART_SEMI_AXES_MM = (60.0, 45.0, 45.0)
#: Centre of the heart ellipsoid in world (LPS) coordinates, mm.
HEART_CENTER_MM = (20.0, 10.0, -100.0)
#: Long axis, base → apex, in LPS (towards the patient's left, anterior and inferior).
HEART_LONG_AXIS = (0.62, -0.55, -0.56)
#: Target spacing of centerline points, mm.
POINT_SPACING_MM = 0.5
#: Least distance (mm) between a lesion and either end of its vessel.
LESION_END_CLEARANCE_MM = 2.0
#: Fraction of the lesion length before the throat for the ``asymmetric`` shape.
ASYMMETRIC_INLET_FRACTION = 0.3
#: Standard deviation of the ``gaussian`` shape's core, as a fraction of the lesion length.
GAUSSIAN_SIGMA_FRACTION = 0.2
LESION_SHAPES = ("cosine", "gaussian", "asymmetric")
TRUTH_FORMAT = "ffrflow-phantom-truth/1"
_MASK_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")


# ====================================================================== lesions
@dataclass
class LesionSpec:
    """A lesion to put into a phantom.

    Parameters
    ----------
    vessel : str
        Id of the vessel (segment) that holds the whole lesion, e.g. ``"LAD_p"``.
    center_mm : float
        Arclength of the minimal lumen diameter (MLD) from the vessel's first point, mm.
    length_mm : float
        Lesion length, mm (> 0).
    ds_pct : float
        Diameter stenosis, % (0 < ds_pct <= 99): MLD = (1 - ds_pct/100) × reference diameter.
    shape : {"cosine", "gaussian", "asymmetric"}
        Profile of the narrowing (see the module docstring).
    """

    vessel: str
    center_mm: float
    length_mm: float
    ds_pct: float
    shape: str = "cosine"

    def extent_mm(self) -> tuple[float, float]:
        """``(start_mm, end_mm)`` of the lesion along its vessel, mm."""
        if self.shape == "asymmetric":
            return (self.center_mm - ASYMMETRIC_INLET_FRACTION * self.length_mm,
                    self.center_mm + (1.0 - ASYMMETRIC_INLET_FRACTION) * self.length_mm)
        return self.center_mm - 0.5 * self.length_mm, self.center_mm + 0.5 * self.length_mm

    def validate(self) -> "LesionSpec":
        """Check the fields; return ``self``. Raises :class:`InvalidInputError`."""
        w = f"lesion on {self.vessel!r}"
        if not isinstance(self.vessel, str) or not self.vessel:
            raise InvalidInputError(f"lesion.vessel: expected a vessel id, got {self.vessel!r}")
        for name in ("center_mm", "length_mm", "ds_pct"):
            x = getattr(self, name)
            if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(float(x)):
                raise InvalidInputError(f"{w}.{name}: expected a finite number, got {x!r}")
            setattr(self, name, float(x))
        if self.length_mm <= 0:
            raise InvalidInputError(f"{w}.length_mm: expected > 0 mm, got {self.length_mm!r}")
        if not 0.0 < self.ds_pct <= 99.0:
            raise InvalidInputError(f"{w}.ds_pct: expected a diameter stenosis in (0, 99] %, got {self.ds_pct!r}")
        if self.shape not in LESION_SHAPES:
            raise InvalidInputError(f"{w}.shape: expected one of {LESION_SHAPES}, got {self.shape!r}")
        return self


def _as_spec(x: Any) -> LesionSpec:
    if isinstance(x, LesionSpec):
        return LesionSpec(**asdict(x)).validate()
    if isinstance(x, Mapping):
        try:
            return LesionSpec(**x).validate()
        except TypeError as exc:
            raise InvalidInputError(f"lesion {dict(x)!r}: {exc}") from None
    raise InvalidInputError(f"lesions: expected LesionSpec objects or dicts, got {type(x).__name__}")


def _bump(x: np.ndarray, shape: str) -> np.ndarray:
    """Lesion bump g(x), x = (s - c) / L; g(0) = 1, zero outside the support."""
    x = np.asarray(x, dtype=np.float64)
    g = np.zeros_like(x)
    if shape == "cosine":
        m = np.abs(x) < 0.5
        g[m] = 0.5 * (1.0 + np.cos(2.0 * np.pi * x[m]))
    elif shape == "gaussian":
        m = np.abs(x) < 0.5
        xm = x[m]
        g[m] = np.exp(-0.5 * (xm / GAUSSIAN_SIGMA_FRACTION) ** 2 + 1.0 - 1.0 / (1.0 - 4.0 * xm * xm))
    elif shape == "asymmetric":
        a = ASYMMETRIC_INLET_FRACTION
        y = np.where(x < 0.0, x / (2.0 * a), x / (2.0 * (1.0 - a)))
        m = np.abs(y) < 0.5
        g[m] = 0.5 * (1.0 + np.cos(2.0 * np.pi * y[m]))
    else:  # pragma: no cover - validated before
        raise InvalidInputError(f"unknown lesion shape {shape!r}")
    return g


# ====================================================================== heart surface
def _heart_frame() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Centre and orthonormal axes (u: base→apex, v: anterior, w: left) of the heart, LPS."""
    u = np.asarray(HEART_LONG_AXIS, dtype=np.float64)
    u /= np.linalg.norm(u)
    ant = np.array([0.0, -1.0, 0.0])          # LPS: anterior is -y
    v = ant - (ant @ u) * u
    v /= np.linalg.norm(v)
    w = np.cross(u, v)
    if w[0] < 0.0:                           # make +phi point to the patient's left (+x in LPS)
        w = -w
    return np.asarray(HEART_CENTER_MM, dtype=np.float64), u, v, w


def _surface(alpha_deg: np.ndarray, phi_deg: np.ndarray, axes: tuple[float, float, float]):
    """World points (mm) and unit outward normals on the heart ellipsoid."""
    c, u, v, w = _heart_frame()
    a, b, cc = axes
    al, ph = np.radians(alpha_deg), np.radians(phi_deg)
    x = a * np.cos(al)
    y = b * np.sin(al) * np.cos(ph)
    z = cc * np.sin(al) * np.sin(ph)
    pts = c + np.outer(x, u) + np.outer(y, v) + np.outer(z, w)
    nrm = np.outer(x / a**2, u) + np.outer(y / b**2, v) + np.outer(z / cc**2, w)
    nrm /= np.linalg.norm(nrm, axis=1)[:, None]
    return pts, nrm


def _param_curve(ctrl: np.ndarray, n_dense: int) -> np.ndarray:
    """A smooth (natural cubic spline) curve through (alpha, phi) control points, degrees."""
    from scipy.interpolate import CubicSpline

    d = np.diff(ctrl, axis=0) * np.array([1.0, 0.8])
    t = np.concatenate([[0.0], np.cumsum(np.linalg.norm(d, axis=1))])
    if len(ctrl) == 2:
        tt = np.linspace(0.0, 1.0, n_dense)
        return ctrl[0] + np.outer(tt, ctrl[1] - ctrl[0])
    cs = CubicSpline(t, ctrl, axis=0, bc_type="natural")
    return cs(np.linspace(0.0, t[-1], n_dense))


# ====================================================================== tree description
@dataclass
class _Course:
    """One artery drawn as a single smooth curve, cut into segments at its side branches."""

    ids: list[str]                       # segment ids along the course
    lengths_mm: list[float]              # nominal segment lengths
    ctrl: list[tuple[float, float]]      # (alpha, phi) control points after the start, degrees
    relative: bool                       # ctrl relative to the start (side branches) or absolute
    r_end_mm: float                      # healthy radius at the distal end (0: trunk ending in a split)
    start: tuple[float, float] | None = None   # (alpha, phi) of a root's ostium
    r_start_mm: float | None = None      # roots only; others get theirs from the branching law
    branches: list[tuple[str, float]] = field(default_factory=list)   # (side course, r_side/r_before)
    split: tuple[str, str, float] | None = None  # end bifurcation: (major, minor, r_minor/r_major)
    side: str | None = None
    name: str | None = None


def _left_courses() -> list[_Course]:
    return [
        _Course(["LM"], [10.0], [(130.0, 33.0), (122.0, 48.0)], False, 0.0, start=(137.0, 18.0),
                r_start_mm=2.25, split=("LAD_p", "LCX_p", 0.83), side="left", name="left main coronary artery"),
        _Course(["LAD_p", "LAD_m", "LAD_d"], [25.0, 30.0, 75.0],
                [(118.0, 30.0), (95.0, 26.0), (55.0, 24.0), (15.0, 24.0), (-30.0, 24.0)], False, 0.95,
                branches=[("D1", 0.62), ("D2", 0.60)], name="left anterior descending"),
        _Course(["LCX_p", "LCX_m", "LCX_d"], [25.0, 25.0, 30.0],
                [(120.0, 75.0), (117.0, 110.0), (113.0, 150.0), (100.0, 175.0)], False, 0.90,
                branches=[("OM1", 0.68), ("OM2", 0.72)], name="left circumflex"),
        _Course(["D1"], [60.0], [(-12.0, 18.0), (-40.0, 38.0), (-90.0, 55.0)], True, 0.85, name="first diagonal"),
        _Course(["D2"], [45.0], [(-12.0, 16.0), (-40.0, 32.0), (-90.0, 45.0)], True, 0.75, name="second diagonal"),
        _Course(["OM1"], [55.0], [(-12.0, 6.0), (-45.0, 10.0), (-100.0, 12.0)], True, 0.85,
                name="first obtuse marginal"),
        _Course(["OM2"], [45.0], [(-12.0, 6.0), (-45.0, 10.0), (-100.0, 12.0)], True, 0.80,
                name="second obtuse marginal"),
    ]


def _right_courses() -> list[_Course]:
    return [
        _Course(["RCA_p", "RCA_m", "RCA_d"], [30.0, 45.0, 55.0],
                [(122.0, -40.0), (106.0, -70.0), (103.0, -110.0), (103.0, -150.0), (103.0, -185.0)], False,
                1.35, start=(137.0, -22.0), r_start_mm=1.95, branches=[("RV", 0.50), ("AM", 0.50)],
                split=("PDA", "PLV", 0.90), side="right", name="right coronary artery"),
        _Course(["RV"], [40.0], [(-15.0, 12.0), (-45.0, 22.0), (-90.0, 30.0)], True, 0.75,
                name="right ventricular branch"),
        _Course(["AM"], [55.0], [(-15.0, 4.0), (-50.0, 6.0), (-100.0, 8.0)], True, 0.80, name="acute marginal"),
        _Course(["PDA"], [65.0], [(-15.0, 3.0), (-50.0, 5.0), (-110.0, 5.0)], True, 0.85,
                name="posterior descending artery"),
        _Course(["PLV"], [45.0], [(-4.0, -15.0), (-15.0, -35.0), (-50.0, -55.0)], True, 0.85,
                name="posterolateral ventricular branch"),
    ]


def _jitter_courses(courses: list[_Course], rng: np.random.Generator | None) -> list[_Course]:
    """Small natural variation for seeds other than 0 (lengths ±4 %, radii ±3 %, angles ±2°)."""
    if rng is None:
        return courses
    out = []
    for c in courses:
        f = np.clip(1.0 + 0.04 * rng.standard_normal(len(c.lengths_mm)), 0.9, 1.1)
        ctrl = [(a + float(np.clip(2.0 * rng.standard_normal(), -4, 4)),
                 p + float(np.clip(2.0 * rng.standard_normal(), -4, 4))) for a, p in c.ctrl]
        rf = float(np.clip(1.0 + 0.03 * rng.standard_normal(), 0.92, 1.08))
        out.append(_Course(
            ids=list(c.ids), lengths_mm=[L * float(x) for L, x in zip(c.lengths_mm, f)], ctrl=ctrl,
            relative=c.relative, r_end_mm=c.r_end_mm * rf, start=c.start,
            r_start_mm=None if c.r_start_mm is None else c.r_start_mm * float(np.clip(
                1.0 + 0.03 * rng.standard_normal(), 0.92, 1.08)),
            branches=[(b, beta * float(np.clip(1.0 + 0.03 * rng.standard_normal(), 0.92, 1.08)))
                      for b, beta in c.branches],
            split=c.split, side=c.side, name=c.name))
    return out


def _sample_positions(length_mm: float, marks_mm: Sequence[float], spacing_mm: float) -> np.ndarray:
    """Arclengths in [0, length], steps <= ``spacing_mm``, uniform between marks, every mark on the grid."""
    knots = np.unique(np.concatenate([[0.0, length_mm], np.asarray(marks_mm, dtype=np.float64)]))
    parts = []
    for a, b in zip(knots[:-1], knots[1:]):
        n = max(1, int(math.ceil((b - a) / spacing_mm - 1e-9)))
        parts.append(a + (b - a) * np.arange(n) / n)
    parts.append(np.array([length_mm]))
    return np.concatenate(parts)


def _check_lesions(vid: str, specs: list[LesionSpec], length_mm: float) -> None:
    cl = LESION_END_CLEARANCE_MM
    prev_end, prev = -math.inf, None
    for sp in specs:
        start, end = sp.extent_mm()
        if start < cl or end > length_mm - cl:
            raise InvalidInputError(
                f"lesion on {vid!r} at center_mm={sp.center_mm} (length {sp.length_mm} mm, spans {start:.2f} to "
                f"{end:.2f} mm): it must lie inside the vessel at least {cl} mm from both ends; vessel {vid!r} is "
                f"{length_mm:.2f} mm long")
        if start < prev_end:
            raise InvalidInputError(
                f"lesions on {vid!r} at center_mm={prev.center_mm} and center_mm={sp.center_mm} overlap")
        prev_end, prev = end, sp


def _build_course(c: _Course, j_point: np.ndarray | None, p0: np.ndarray, r0: float,
                  les_by_vessel: dict[str, list[LesionSpec]], axes: tuple[float, float, float]) -> dict:
    """Points, radii and lesion truth of the segments of one course."""
    n = MURRAY_EXPONENT
    nseg = len(c.ids)
    length_tot = float(sum(c.lengths_mm))
    betas = [beta for _, beta in c.branches]
    if len(betas) != nseg - 1:  # pragma: no cover - description error
        raise RuntimeError(f"phantom description: course {c.ids[0]!r} needs one branch per interior node")
    step = [(1.0 - b**n) ** (1.0 / n) for b in betas]   # Murray: r_after / r_before at each side branch
    r_end = 0.99 * r0 if c.r_end_mm <= 0.0 else c.r_end_mm
    # exponential taper rate (1/mm) that, with the steps, reaches r_end at the distal end
    k = max(0.0, (math.log(r0 / r_end) + sum(math.log(x) for x in step)) / length_tot)

    ctrl = np.asarray(c.ctrl, dtype=np.float64)
    if c.relative:
        ctrl = p0 + ctrl
    par = _param_curve(np.vstack([p0, ctrl]), int(max(400, 40 * length_tot)))
    surf, nrm = _surface(par[:, 0], par[:, 1], axes)
    s_surf = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(surf, axis=0), axis=1))])
    # the centre sits one (smooth, step-free) healthy radius above the surface
    r_off = r0 * (min(r_end, r0) / r0) ** np.clip(s_surf / length_tot, 0.0, 1.5)
    cen = surf + r_off[:, None] * nrm
    if j_point is not None:      # bend the first 4 mm so that the course starts exactly at its junction
        blend = 0.5 * (1.0 + np.cos(np.pi * np.clip(s_surf / 4.0, 0.0, 1.0)))
        cen = cen + blend[:, None] * (np.asarray(j_point) - cen[0])
        cen[0] = j_point
    s_dense = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(cen, axis=0), axis=1))])
    if s_dense[-1] < length_tot + 1.0:  # pragma: no cover - description error
        raise RuntimeError(f"phantom description: course {c.ids[0]!r} is {s_dense[-1]:.1f} mm long, "
                           f"needs {length_tot:.1f} mm")

    bounds = np.concatenate([[0.0], np.cumsum(c.lengths_mm)])
    out_pts: list[np.ndarray] = []
    out_rad: list[np.ndarray] = []
    end_param, end_radius, truth = [], [], []
    r_seg_start = r0
    for kseg, sid in enumerate(c.ids):
        a, b = bounds[kseg], bounds[kseg + 1]
        specs = sorted(les_by_vessel.get(sid, []), key=lambda x: x.center_mm)
        _check_lesions(sid, specs, b - a)
        s_loc = _sample_positions(b - a, [sp.center_mm for sp in specs], POINT_SPACING_MM)
        pts = np.column_stack([np.interp(a + s_loc, s_dense, cen[:, i]) for i in range(3)])
        if kseg == 0 and j_point is not None:
            pts[0] = j_point
        elif kseg > 0:
            pts[0] = out_pts[-1][-1]                   # exactly the previous segment's last point
        s_chord = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
        r_ref = r_seg_start * np.exp(-k * s_chord)
        rad = r_ref.copy()
        for sp in specs:
            ic = int(np.argmin(np.abs(s_loc - sp.center_mm)))
            c_mm = float(s_chord[ic])                   # the centre measured along the final polyline
            r_c = float(r_ref[ic])
            r_mld = (1.0 - sp.ds_pct / 100.0) * r_c
            start, end = LesionSpec(sid, c_mm, sp.length_mm, sp.ds_pct, sp.shape).extent_mm()
            r_ref_end = r_seg_start * math.exp(-k * end)
            if r_ref_end <= r_mld * (1.0 + 1e-9):
                raise InvalidInputError(
                    f"lesion on {sid!r} at center_mm={sp.center_mm}: a {sp.ds_pct} % stenosis over {sp.length_mm} mm "
                    f"is milder than the vessel's own taper across it (reference radius {r_c:.3f} -> "
                    f"{r_ref_end:.3f} mm); use a larger ds_pct or a shorter lesion")
            g = _bump((s_chord - c_mm) / sp.length_mm, sp.shape)
            rad = rad - g * (r_ref - r_mld)
            rad[ic] = r_mld
            truth.append({
                "vessel": sid, "start_mm": start, "end_mm": end, "center_mm": c_mm, "position_mm": None,
                "mld_mm": 2.0 * r_mld, "reference_diameter_mm": 2.0 * r_c, "reference_radius_mm": r_c,
                "diameter_stenosis_pct": 100.0 * (1.0 - r_mld / r_c),
                "area_stenosis_pct": 100.0 * (1.0 - (r_mld / r_c) ** 2), "length_mm": float(sp.length_mm),
                "mld_xyz_mm": [float(x) for x in pts[ic]], "shape": sp.shape})
        out_pts.append(pts)
        out_rad.append(rad)
        end_radius.append(float(r_ref[-1]))
        end_param.append(np.array([np.interp(b, s_dense, par[:, i]) for i in range(2)]))
        if kseg < nseg - 1:
            r_seg_start = float(r_ref[-1]) * step[kseg]
    return {"points": out_pts, "radius": out_rad, "end_param": end_param, "end_radius": end_radius,
            "truth": truth}


def _build(courses: list[_Course], lesions: list[LesionSpec], axes: tuple[float, float, float]
           ) -> tuple[list[dict], list[dict]]:
    """Vessel dicts (network format, numpy arrays) and lesion truth of a list of courses."""
    n = MURRAY_EXPONENT
    seg_ids = [sid for c in courses for sid in c.ids]
    les_by_vessel: dict[str, list[LesionSpec]] = {}
    for les in lesions:
        if les.vessel not in seg_ids:
            raise InvalidInputError(f"lesion on {les.vessel!r}: no such vessel in this phantom; its vessels are "
                                    f"{seg_ids}")
        les_by_vessel.setdefault(les.vessel, []).append(les)

    # course id -> (junction point or None, (alpha, phi) at the start, start radius, parent vessel id)
    start: dict[str, tuple[np.ndarray | None, np.ndarray, float, str | None]] = {}
    for c in courses:
        if c.start is not None:
            start[c.ids[0]] = (None, np.asarray(c.start, dtype=np.float64), float(c.r_start_mm), None)
    vessels: list[dict] = []
    truth: list[dict] = []
    pending = list(courses)
    while pending:
        ready = [c for c in pending if c.ids[0] in start]
        if not ready:  # pragma: no cover - description error
            raise RuntimeError(f"phantom description: unreachable courses {[c.ids[0] for c in pending]}")
        for c in ready:
            pending.remove(c)
            j_point, p0, r0, parent = start[c.ids[0]]
            built = _build_course(c, j_point, p0, r0, les_by_vessel, axes)
            for k, sid in enumerate(c.ids):
                v: dict[str, Any] = {"id": sid, "parent": parent if k == 0 else c.ids[k - 1]}
                if c.name is not None:
                    v["name"] = c.name if len(c.ids) == 1 else \
                        f"{c.name}, {('proximal', 'mid', 'distal')[k] if len(c.ids) == 3 else f'part {k + 1}'}"
                if k == 0 and parent is None and c.side is not None:
                    v["side"] = c.side
                v["points"] = built["points"][k]
                v["radius"] = built["radius"][k]
                vessels.append(v)
            truth.extend(built["truth"])
            for k, (bid, beta) in enumerate(c.branches):
                start[bid] = (built["points"][k][-1], built["end_param"][k], beta * built["end_radius"][k],
                              c.ids[k])
            if c.split is not None:
                major, minor, q = c.split
                r_major = built["end_radius"][-1] * (1.0 + q**n) ** (-1.0 / n)
                for cid, rr in ((major, r_major), (minor, q * r_major)):
                    start[cid] = (built["points"][-1][-1], built["end_param"][-1], rr, c.ids[-1])
    return vessels, truth


# ====================================================================== phantoms
@dataclass
class Phantom:
    """A synthetic coronary network with the exact truth of its lesions.

    Attributes
    ----------
    network : VesselNetwork
        The network (mm, LPS), *without* a ``lesions`` block: the engine must detect the lesions.
        The lesions are in the radii.
    lesions : list of dict
        Truth per lesion, keys: ``vessel``; ``start_mm``, ``end_mm``, ``center_mm`` (arclength from
        the vessel's first point, mm; ``center_mm`` is the MLD); ``position_mm`` (arclength of the
        MLD from the tree's ostium, mm); ``mld_mm``, ``reference_diameter_mm``,
        ``reference_radius_mm``, ``length_mm`` (mm); ``diameter_stenosis_pct``,
        ``area_stenosis_pct`` (%); ``mld_xyz_mm`` (world LPS coordinates of the MLD point, mm);
        ``shape``.
    parameters : dict
        How the phantom was made (generator, seed, sides, lesion specs, heart geometry).
    """

    network: VesselNetwork
    lesions: list[dict]
    parameters: dict = field(default_factory=dict)

    def network_with_lesions(self) -> VesselNetwork:
        """A copy of the network whose vessels carry the true lesions.

        Every vessel gets a ``lesions`` list (``start_mm``, ``end_mm`` and ``reference_radius_mm``,
        mm); vessels without a lesion get an empty list, which in the network format means "no
        lesion here" (it replaces automatic detection).

        Returns
        -------
        VesselNetwork
        """
        net = self.network.copy()
        for v in net.vessels.values():
            v.lesions = []
        for les in self.lesions:
            net.vessels[les["vessel"]].lesions.append(
                Lesion(float(les["start_mm"]), float(les["end_mm"]), float(les["reference_radius_mm"])))
        for v in net.vessels.values():
            v.lesions.sort(key=lambda x: x.start_mm)
        return net

    def truth_dict(self) -> dict:
        """The truth document written to ``truth.json``: lesions and parameters (mm, %)."""
        return {"format": TRUTH_FORMAT, "units": "mm", "lesions": [dict(x) for x in self.lesions],
                "parameters": dict(self.parameters)}

    def write(self, folder: str | os.PathLike, mask: bool = True, spacing_mm: float | Sequence[float] = 0.4,
              probability: bool = False) -> dict[str, Path]:
        """Write ``network.json``, ``truth.json`` and optionally ``mask.nii.gz`` and ``probability.nii.gz``.

        Every file is written atomically; ``folder`` is created when missing.

        Parameters
        ----------
        folder : path
            Output folder.
        mask : bool
            Also voxelise the network (see :func:`voxelize`) and write ``mask.nii.gz``.
        spacing_mm : float or 3 floats
            Voxel spacing of the mask and the probability map, mm.
        probability : bool
            Also write ``probability.nii.gz``: the exact partial-volume fraction of every voxel
            (float32, 0–1; :func:`voxelize` with ``partial_volume=True``), a lumen probability map
            on the mask's grid.

        Returns
        -------
        dict
            ``{"network": Path, "truth": Path[, "mask": Path][, "probability": Path]}``.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"network": self.network.to_json(folder / "network.json")}
        doc = self.truth_dict()
        for key, wanted, name in (("mask", mask, "mask.nii.gz"), ("probability", probability, "probability.nii.gz")):
            if not wanted:
                continue
            img = voxelize(self.network, spacing_mm=spacing_mm, partial_volume=key == "probability")
            paths[key] = write_mask(img, folder / name)
            doc[key] = {"path": name, "spacing_mm": list(img.GetSpacing()), "origin_mm": list(img.GetOrigin()),
                        "size": list(img.GetSize())}
            if key == "probability":
                doc[key]["supersample"] = PARTIAL_VOLUME_SUPERSAMPLE
        paths["truth"] = folder / "truth.json"
        atomic_write_text(paths["truth"], json.dumps(doc, indent=1) + "\n")
        return paths


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInputError(f"seed: expected an integer >= 0, got {seed!r}")
    return int(seed)


def _make(sides: Sequence[str], lesions: Iterable[Any], seed: Any, generator: str) -> Phantom:
    seed = _check_seed(seed)
    if isinstance(sides, str) or not isinstance(sides, (list, tuple)) or not sides:
        raise InvalidInputError(f"sides: expected a non-empty list of 'left'/'right', got {sides!r}")
    for s in sides:
        if s not in ("left", "right"):
            raise InvalidInputError(f"sides: expected 'left' and/or 'right', got {s!r}")
    if len(set(sides)) != len(sides):
        raise InvalidInputError(f"sides: each side at most once, got {list(sides)!r}")
    if isinstance(lesions, (LesionSpec, Mapping, str)):
        raise InvalidInputError("lesions: expected a list of LesionSpec (or dicts), not a single one")
    specs = [_as_spec(x) for x in lesions]
    courses: list[_Course] = []
    for s in sides:
        courses += _left_courses() if s == "left" else _right_courses()
    courses = _jitter_courses(courses, None if seed == 0 else np.random.default_rng(seed))
    vessels, truth = _build(courses, specs, HEART_SEMI_AXES_MM)
    net = VesselNetwork.from_dict({"format": "ffrflow-network/1", "units": "mm", "vessels": vessels,
                                   "meta": {"generator": f"ffrflow.phantoms.{generator}", "seed": seed}})
    for t in truth:
        t["position_mm"] = net.offset_from_ostium_mm(t["vessel"]) + t["center_mm"]
    order = {vid: i for i, vid in enumerate(net.ids)}
    truth.sort(key=lambda t: (order[t["vessel"]], t["center_mm"]))
    params = {"generator": f"ffrflow.phantoms.{generator}", "seed": seed, "sides": list(sides),
              "lesion_specs": [asdict(x) for x in specs], "murray_exponent": MURRAY_EXPONENT,
              "point_spacing_mm": POINT_SPACING_MM, "heart_semi_axes_mm": list(HEART_SEMI_AXES_MM),
              "heart_center_mm": list(HEART_CENTER_MM), "heart_long_axis": list(HEART_LONG_AXIS),
              "lesion_profile": "r(s) = r_ref(s) - g((s-c)/L) * (r_ref(s) - (1-d) r_ref(c))"}
    return Phantom(net, truth, params)


def left_tree(lesions: Iterable[LesionSpec] = (), seed: int = 0) -> Phantom:
    """The left coronary tree: LM, LAD (``LAD_p/m/d``, ``D1``, ``D2``), LCx (``LCX_p/m/d``, ``OM1``, ``OM2``).

    Parameters
    ----------
    lesions : sequence of LesionSpec (or dicts with its fields)
        Lesions to put in; each must lie inside one vessel, at least 2 mm from its ends.
    seed : int
        0 gives the canonical tree; other seeds vary lengths (±4 %), radii (±3 %) and course
        angles (±2°) a little, deterministically.

    Returns
    -------
    Phantom
        Network in mm (LPS world coordinates) and lesion truth.

    Raises
    ------
    InvalidInputError
        For an unknown vessel id, a lesion too close to a vessel end, overlapping lesions, bad
        ``ds_pct``/``length_mm``/``shape`` or a bad seed.
    """
    return _make(("left",), lesions, seed, "left_tree")


def right_tree(lesions: Iterable[LesionSpec] = (), seed: int = 0) -> Phantom:
    """The right coronary tree: ``RCA_p/m/d`` with ``RV``, ``AM`` and, at the crux, ``PDA`` and ``PLV``.

    Parameters and errors as in :func:`left_tree`; lengths and radii in mm.

    Returns
    -------
    Phantom
    """
    return _make(("right",), lesions, seed, "right_tree")


def coronary_tree(lesions: Iterable[LesionSpec] = (), sides: Sequence[str] = ("left", "right"),
                  seed: int = 0) -> Phantom:
    """Left and/or right coronary trees on one heart (two roots, ``side`` set on each).

    Parameters
    ----------
    lesions : sequence of LesionSpec (or dicts with its fields)
        Lesions (vessel ids of either tree).
    sides : sequence of {"left", "right"}
        Which trees to build.
    seed : int
        0: canonical anatomy; others: small deterministic variation.

    Returns
    -------
    Phantom
        Network in mm (LPS) and lesion truth.

    Raises
    ------
    InvalidInputError
        As :func:`left_tree`, and for bad ``sides``.
    """
    return _make(tuple(sides) if isinstance(sides, (list, tuple)) else sides, lesions, seed, "coronary_tree")


#: The lesions of :func:`demo_case`.
DEMO_LESIONS = (
    LesionSpec("LAD_p", center_mm=12.5, length_mm=10.0, ds_pct=70.0, shape="cosine"),
    LesionSpec("LCX_p", center_mm=13.0, length_mm=8.0, ds_pct=50.0, shape="cosine"),
    LesionSpec("RCA_m", center_mm=20.0, length_mm=12.0, ds_pct=60.0, shape="gaussian"),
)


def demo_case() -> Phantom:
    """The project's demo case: both trees with three lesions.

    LAD proximal (``LAD_p``) 70 % DS cosine over 10 mm, LCx proximal (``LCX_p``) 50 % DS cosine over
    8 mm, RCA mid (``RCA_m``) 60 % DS Gaussian over 12 mm.

    Returns
    -------
    Phantom
        Network in mm (LPS) and the truth of the three lesions.
    """
    ph = coronary_tree(DEMO_LESIONS, sides=("left", "right"), seed=0)
    ph.parameters["generator"] = "ffrflow.phantoms.demo_case"
    ph.network.meta["generator"] = "ffrflow.phantoms.demo_case"
    return ph


# ====================================================================== random trees (benchmarks)
def random_tree(n_vessels: int, seed: int = 0, distal_radius_mm: float | None = None) -> VesselNetwork:
    """A random binary tree of exactly ``n_vessels`` vessels, for solver benchmarks.

    Vessel ``i`` has children ``2i+1`` and ``2i+2`` (the last parent of an even count has one
    child, a continuation). Lengths are uniform in 5–20 mm with points every 0.5–0.75 mm on gently
    bent 3D courses; the root radius is 2 mm, each vessel tapers by 3 % and radii step down at
    junctions by Murray's law (exponent 7/3, random asymmetry 0.6–1). When that would take a radius
    below 0.3 mm, all radii are mapped by ``r -> r_root (r / r_root)**p`` (p < 1), which keeps the
    taper and is again an exact Murray law, with exponent ``7/(3p)``; with ``distal_radius_mm`` the
    same map (any p > 0) makes the smallest radius exactly that value.

    Parameters
    ----------
    n_vessels : int
        Number of vessels (>= 1).
    seed : int
        Seed of the random generator; the same seed gives the same tree.
    distal_radius_mm : float, optional
        The smallest (distal) radius of the tree, mm, in (0, 2) (0.1 gives the small distal vessels
        of robustness tests). Default: Murray's law, floored at 0.3 mm.

    Returns
    -------
    VesselNetwork
        Validated network (mm, LPS), one root ``V0`` with ``side="left"``.

    Raises
    ------
    InvalidInputError
        For ``n_vessels < 1`` or a bad seed.
    """
    if isinstance(n_vessels, bool) or not isinstance(n_vessels, (int, np.integer)) or n_vessels < 1:
        raise InvalidInputError(f"n_vessels: expected an integer >= 1, got {n_vessels!r}")
    seed = _check_seed(seed)
    if distal_radius_mm is not None and (
            isinstance(distal_radius_mm, bool) or not isinstance(distal_radius_mm, (int, float, np.integer, np.floating))
            or not 0.0 < float(distal_radius_mm) < 2.0):
        raise InvalidInputError(f"distal_radius_mm: expected a radius in (0, 2) mm, got {distal_radius_mm!r}")
    nv = int(n_vessels)
    rng = np.random.default_rng(seed)
    gamma = MURRAY_EXPONENT
    r_root, r_min, taper = 2.0, 0.3, 0.97
    idx = np.arange(nv)
    parent = (idx - 1) // 2
    depth = np.floor(np.log2(idx + 1.0)).astype(np.int64)
    length = rng.uniform(5.0, 20.0, nv)
    q = rng.uniform(0.6, 1.0, nv)                     # minor/major radius ratio of i's children
    angle_major = np.radians(rng.uniform(15.0, 35.0, nv))
    angle_minor = np.radians(rng.uniform(35.0, 70.0, nv))
    roll = rng.uniform(0.0, 2.0 * np.pi, nv)
    bend = rng.uniform(-0.06, 0.06, nv) * length      # lateral bow of each course, mm

    r0 = np.empty(nv)
    direction = np.empty((nv, 3))
    p_start = np.empty((nv, 3))
    r0[0], direction[0], p_start[0] = r_root, (0.0, 0.0, 1.0), (0.0, 0.0, 0.0)
    for lev in range(1, int(depth.max()) + 1):
        ch = idx[depth == lev]
        par = parent[ch]
        is_major = (ch % 2) == 1
        single = is_major & (ch + 1 >= nv)                 # only child: continuation
        r_end_par = r0[par] * taper
        r_major = r_end_par * (1.0 + q[par] ** gamma) ** (-1.0 / gamma)
        r0[ch] = np.where(single, r_end_par, np.where(is_major, r_major, q[par] * r_major))
        # rotate the parent direction about an axis perpendicular to it
        d = direction[par]
        ref = np.where(np.abs(d[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
        e1 = np.cross(d, ref)
        e1 /= np.linalg.norm(e1, axis=1)[:, None]
        e2 = np.cross(d, e1)
        axis = np.cos(roll[par])[:, None] * e1 + np.sin(roll[par])[:, None] * e2
        ang = np.where(single, 0.0, np.where(is_major, angle_major[par], -angle_minor[par]))
        perp = np.cross(axis, d)
        nd = np.cos(ang)[:, None] * d + np.sin(ang)[:, None] * perp
        direction[ch] = nd / np.linalg.norm(nd, axis=1)[:, None]
        p_start[ch] = p_start[par] + length[par, None] * direction[par]
    r1 = r0 * taper
    rmin_now = float(r1.min())
    if distal_radius_mm is not None or rmin_now < r_min:
        if distal_radius_mm is not None:
            r_min = float(distal_radius_mm)
        p = math.log(r_min / r_root) / math.log(rmin_now / r_root)
        r0 = r_root * (r0 / r_root) ** p
        r1 = r_root * (r1 / r_root) ** p
    p_end = p_start + length[:, None] * direction

    npts = np.ceil(length / 0.75).astype(np.int64) + 1
    offs = np.concatenate([[0], np.cumsum(npts)])
    vid = np.repeat(idx, npts)
    t = (np.arange(offs[-1]) - offs[vid]) / (npts[vid] - 1.0)
    ref = np.where(np.abs(direction[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    lateral = np.cross(direction, ref)
    lateral /= np.linalg.norm(lateral, axis=1)[:, None]
    pts = (p_start[vid] + (t * length[vid])[:, None] * direction[vid]
           + (bend[vid] * np.sin(np.pi * t))[:, None] * lateral[vid])
    first, last = offs[:-1], offs[1:] - 1
    pts[first] = p_start
    pts[last] = p_end
    rad = r0[vid] + t * (r1 - r0)[vid]
    vessels = []
    for i in range(nv):
        v = {"id": f"V{i}", "parent": None if i == 0 else f"V{parent[i]}",
             "points": pts[offs[i]:offs[i + 1]], "radius": rad[offs[i]:offs[i + 1]]}
        if i == 0:
            v["side"] = "left"
        vessels.append(v)
    return VesselNetwork.from_dict({"format": "ffrflow-network/1", "units": "mm", "vessels": vessels,
                                    "meta": {"generator": "ffrflow.phantoms.random_tree", "seed": seed,
                                             "n_vessels": nv, "distal_radius_mm": distal_radius_mm}})


def narrow(network: VesselNetwork, lesions: Iterable[LesionSpec]) -> Phantom:
    """Put lesions into an existing network (e.g. :func:`random_tree`), with their exact truth.

    Each :class:`LesionSpec` narrows its vessel's radius profile (taken as the healthy reference
    r_ref(s)) with the profile of the module docstring; a centerline point is inserted at the
    centre (interpolated on the polyline) so that the MLD is exactly (1 − d)·r_ref(c). Lesions must
    lie at least 2 mm from their vessel's ends and not overlap (several on one vessel are lesions in
    tandem).

    Parameters
    ----------
    network : VesselNetwork
        The healthy network (it is not modified).
    lesions : sequence of LesionSpec (or dicts with its fields)

    Returns
    -------
    Phantom
        The narrowed network (without a ``lesions`` block: :meth:`Phantom.network_with_lesions`
        gives it with the true lesions) and the truth of every lesion.
    """
    if isinstance(lesions, (LesionSpec, Mapping, str)):
        raise InvalidInputError("lesions: expected a list of LesionSpec (or dicts), not a single one")
    specs = [_as_spec(x) for x in lesions]
    net = network.copy()
    by_vessel: dict[str, list[LesionSpec]] = {}
    for sp in specs:
        if sp.vessel not in net.vessels:
            raise InvalidInputError(f"lesion on {sp.vessel!r}: no such vessel; the network has {net.ids}")
        by_vessel.setdefault(sp.vessel, []).append(sp)
    truth = []
    for vid, vs in by_vessel.items():
        v = net.vessels[vid]
        vs.sort(key=lambda x: x.center_mm)
        s0 = v.arclength_mm
        _check_lesions(vid, vs, float(s0[-1]))
        marks = np.array([sp.center_mm for sp in vs])
        s = np.unique(np.concatenate([s0, marks]))
        pts = np.column_stack([np.interp(s, s0, v.points_mm[:, i]) for i in range(3)])
        r_ref = np.interp(s, s0, v.radius_mm)
        rad = r_ref.copy()
        for sp in vs:
            ic = int(np.argmin(np.abs(s - sp.center_mm)))
            r_c = float(r_ref[ic])
            r_mld = (1.0 - sp.ds_pct / 100.0) * r_c
            start, end = sp.extent_mm()
            if float(np.interp(end, s, r_ref)) <= r_mld * (1.0 + 1e-9):
                raise InvalidInputError(f"lesion on {vid!r} at center_mm={sp.center_mm}: a {sp.ds_pct} % stenosis is "
                                        f"milder than the vessel's own taper across it; use a larger ds_pct")
            rad = rad - _bump((s - sp.center_mm) / sp.length_mm, sp.shape) * (r_ref - r_mld)
            rad[ic] = r_mld
            truth.append({"vessel": vid, "start_mm": start, "end_mm": end, "center_mm": float(s[ic]),
                          "position_mm": net.offset_from_ostium_mm(vid) + float(s[ic]), "mld_mm": 2.0 * r_mld,
                          "reference_diameter_mm": 2.0 * r_c, "reference_radius_mm": r_c,
                          "diameter_stenosis_pct": 100.0 * (1.0 - r_mld / r_c),
                          "area_stenosis_pct": 100.0 * (1.0 - (r_mld / r_c) ** 2), "length_mm": float(sp.length_mm),
                          "mld_xyz_mm": [float(x) for x in pts[ic]], "shape": sp.shape})
        v.points_mm = pts
        v.radius_mm = rad
        v.lesions = None
    order = {vid: i for i, vid in enumerate(net.ids)}
    truth.sort(key=lambda t: (order[t["vessel"]], t["center_mm"]))
    params = {"generator": "ffrflow.phantoms.narrow", "base": dict(network.meta),
              "lesion_specs": [asdict(x) for x in specs],
              "lesion_profile": "r(s) = r_ref(s) - g((s-c)/L) * (r_ref(s) - (1-d) r_ref(c))"}
    return Phantom(net, truth, params)


def write_mask(image, path: str | os.PathLike) -> Path:
    """Write a mask or probability image atomically with SimpleITK (``.nii.gz``, ``.nii``, ``.nrrd`` or ``.mha``).

    Parameters
    ----------
    image : SimpleITK.Image
        The image (its origin, spacing in mm and direction are written with it; its voxel type kept).
    path : path
        Output file; the format follows the extension.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InvalidInputError
        For an unsupported extension.
    """
    import SimpleITK as sitk

    path = Path(path)
    name = path.name.lower()
    if not name.endswith(_MASK_SUFFIXES):
        raise InvalidInputError(f"{path}: unsupported mask format; use one of {list(_MASK_SUFFIXES)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    # SimpleITK picks the writer by extension, so write under the final name in a sibling temp folder
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        tmp = tmpdir / path.name
        sitk.WriteImage(image, str(tmp), True)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return path
