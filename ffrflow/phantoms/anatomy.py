"""Anatomical phantoms: left and right coronary trees drawn on an ellipsoidal heart surface, with the
demo case (:func:`left_tree`, :func:`right_tree`, :func:`coronary_tree`, :func:`demo_case`).

Units: mm, world LPS; angles in degrees.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..errors import InvalidInputError
from ..network import VesselNetwork
from .lesions import (MURRAY_EXPONENT, POINT_SPACING_MM, LesionSpec, lesion_positions, Phantom, _as_spec, _bump, _check_lesions,
                      _check_seed)

__all__ = ['left_tree', 'right_tree', 'coronary_tree', 'demo_case', 'DEMO_LESIONS', 'HEART_SEMI_AXES_MM', 'HEART_CENTER_MM', 'HEART_LONG_AXIS']

#: Semi-axes of the ellipsoidal heart surface, mm: (long axis base→apex, two short axes).
HEART_SEMI_AXES_MM = (60.0, 45.0, 45.0)
#: Centre of the heart ellipsoid in world (LPS) coordinates, mm.
HEART_CENTER_MM = (20.0, 10.0, -100.0)
#: Long axis, base → apex, in LPS (towards the patient's left, anterior and inferior).
HEART_LONG_AXIS = (0.62, -0.55, -0.56)


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


def _sample_positions(length_mm: float, marks_mm: Sequence[float], spacing_mm: float,
                      fine_mm: Sequence[float] = ()) -> np.ndarray:
    """Arclengths in [0, length], steps <= ``spacing_mm``, uniform between marks, every mark on the grid;
    ``fine_mm`` (the points across lesions, :func:`~ffrflow.phantoms.lesions.lesion_positions`) replace the
    coarse ones between their first and last."""
    knots = np.unique(np.concatenate([[0.0, length_mm], np.asarray(marks_mm, dtype=np.float64)]))
    parts = []
    for a, b in zip(knots[:-1], knots[1:]):
        n = max(1, int(math.ceil((b - a) / spacing_mm - 1e-9)))
        parts.append(a + (b - a) * np.arange(n) / n)
    parts.append(np.array([length_mm]))
    s = np.concatenate(parts)
    for f in fine_mm:
        f = np.asarray(f, dtype=np.float64)
        s = np.concatenate([s[(s < f[0]) | (s > f[-1])], f])
    s = np.unique(s)
    return s[np.concatenate([[True], np.diff(s) > 1e-6])]


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
        s_loc = _sample_positions(b - a, [sp.center_mm for sp in specs], POINT_SPACING_MM,
                                  [lesion_positions(sp) for sp in specs])
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
