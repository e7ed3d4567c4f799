"""The sub-trees of the 3D Navier–Stokes tree table: vessel networks (mm, LPS) with known lesions.

Every case is an ffrflow network (``ffrflow-network/1``) whose centerlines and radii define the 3D
lumen exactly (see :mod:`benchmarks.tree_ns.mesh`: circles swept along each centerline, a sphere
of the parent's end radius at every branch point), so that the 1D model and the 3D solution see
the same geometry. Lesions are put in with :func:`ffrflow.phantoms.narrow` (cosine profile,
minimal radius exactly ``(1 - DS) r_ref`` at the centre). An *eccentric* lesion keeps the same
area-equivalent radius ``r(s)`` but shifts the circle's centre by ``e(s) = (r_ref(s) - r(s))``
along a fixed direction normal to the centerline, so one side of the wall stays at the healthy
radius and the narrowing comes from the other side only (``offsets_mm``).

Geometry of the left-main cases (mm): LM of radius 2.0, 16 mm long along +x from the origin (its
first 2 mm, before the reference plane of the aortic pressure, are the inlet run where the
Poiseuille inlet profile is imposed); LAD (radius 1.6, 30 mm) at +35° and LCx (radius 1.4,
28 mm) at -40° in the x-y plane, both starting at the LM's last point. Lesions are 50 % DS,
6 mm long: LM at 10 mm (its end 3 mm before the carina), LAD and LCx at 5 mm (starting 2 mm
after the branch point). Medina 1,1,1 has all three, 1,0,0 the LM lesion only, 0,1,0 the LAD
lesion only.

Hyperemic flows come from ffrflow's own boundary model: the network is solved with
``boundary.myocardial_mass_g`` set to each of the case's two ``masses_g`` (the resting flow
scales as ``M^0.75``); everything else is the default (aortic pressure 93 mmHg, morphometric outlet
resistances, hyperemia factor 0.24).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ffrflow.network import VesselNetwork
from ffrflow.phantoms import LesionSpec, narrow

#: Spacing of the centerline points of the synthetic cases, mm.
STEP_MM = 0.5
#: Arc length on the root vessel of the plane where the aortic (reference) pressure is taken, mm.
REFERENCE_S_MM = 2.0


@dataclass
class Case:
    """One sub-tree: its network (with the true lesions), eccentric offsets and flow levels.

    Attributes
    ----------
    id : str
    network : VesselNetwork
        Centerlines and radii (mm) with the ``lesions`` block of the true lesions.
    lesions : list of dict
        Truth of every lesion (``ffrflow.phantoms`` truth records: vessel, start/end/center mm, %DS).
    masses_g : tuple of float
        Myocardial masses (g) of the two hyperemic flow levels.
    offsets_mm : dict
        Per vessel, an (n, 3) array of circle-centre offsets (mm) for eccentric lumens; absent: none.
    source : dict
        Provenance of a geometry not generated here (path and sha256 of the source file).
    store_geometry : bool
        Whether the network may be written into the table (False for geometry derived from data
        under a licence that keeps it out of the repository).
    """

    id: str
    network: VesselNetwork
    lesions: list
    masses_g: tuple = (30.0, 60.0)
    offsets_mm: dict = field(default_factory=dict)
    source: dict = field(default_factory=dict)
    store_geometry: bool = True
    note: str = ""


def _line(p0, direction, length_mm, step_mm=STEP_MM):
    d = np.asarray(direction, float)
    d = d / np.linalg.norm(d)
    n = max(2, int(round(length_mm / step_mm)) + 1)
    s = np.linspace(0.0, length_mm, n)
    return np.asarray(p0, float)[None, :] + s[:, None] * d[None, :]


def _dir(angle_deg):
    a = math.radians(angle_deg)
    return np.array([math.cos(a), math.sin(a), 0.0])


def _vessel(vid, parent, pts, r, side="left"):
    pts = np.asarray(pts, float)
    rad = np.full(len(pts), float(r)) if np.ndim(r) == 0 else np.asarray(r, float)
    return {"id": vid, "parent": parent, "side": side, "points": pts.tolist(), "radius": rad.tolist()}


def _network(vessels, name):
    return VesselNetwork.from_dict({"format": "ffrflow-network/1", "units": "mm", "name": name, "vessels": vessels})


def left_main(branches=(("LAD", 1.6, 35.0, 30.0), ("LCX", 1.4, -40.0, 28.0)), lm_radius=2.0, lm_length=16.0):
    """Healthy left main with its branches ``(id, radius mm, angle deg, length mm)`` from its end."""
    lm = _line([0, 0, 0], [1, 0, 0], lm_length)
    vs = [_vessel("LM", None, lm, lm_radius)]
    for vid, r, ang, length in branches:
        vs.append(_vessel(vid, "LM", _line(lm[-1], _dir(ang), length), r))
    return _network(vs, "left main")


def curved_vessel(radius=1.5, bend_radius=8.0, bend_deg=120.0, straight_in=8.0, straight_out=20.0):
    """One vessel: straight, an arc of ``bend_radius`` mm through ``bend_deg`` degrees, straight."""
    a = _line([0, 0, 0], [1, 0, 0], straight_in)
    th = np.linspace(0.0, math.radians(bend_deg), int(round(bend_radius * math.radians(bend_deg) / STEP_MM)) + 1)
    c = a[-1] + np.array([0.0, bend_radius, 0.0])
    arc = np.stack([c[0] + bend_radius * np.sin(th), c[1] - bend_radius * np.cos(th), np.zeros_like(th)], axis=1)
    d_end = np.array([math.cos(th[-1]), math.sin(th[-1]), 0.0])
    b = _line(arc[-1], d_end, straight_out)
    pts = np.concatenate([a, arc[1:], b[1:]])
    return _network([_vessel("LAD", None, pts, radius)], "curved vessel")


def straight_vessel(radius=1.5, length=40.0):
    return _network([_vessel("LAD", None, _line([0, 0, 0], [1, 0, 0], length), radius)], "straight vessel")


def _lesion(vid, center, length=6.0, ds=50.0):
    return LesionSpec(vid, center_mm=center, length_mm=length, ds_pct=ds, shape="cosine")


def _with_lesions(net, specs):
    # the committed 3D tables were lofted through these networks with the lesions at the 0.5 mm points
    ph = narrow(net, specs, lesion_spacing_mm=None)
    return ph.network_with_lesions(), ph.lesions


def eccentric_offsets(healthy: VesselNetwork, narrowed: VesselNetwork, vessel: str, direction=(0.0, 1.0, 0.0)):
    """Circle-centre offsets (mm) that keep one side of the wall at the healthy radius.

    The offset at each point is ``(r_ref - r) * n`` with ``n`` the unit vector of ``direction`` made
    normal to the local centerline tangent; ``r_ref`` is the healthy radius interpolated at the
    narrowed vessel's points.
    """
    h, v = healthy.vessels[vessel], narrowed.vessels[vessel]
    r_ref = np.interp(v.arclength_mm, h.arclength_mm, h.radius_mm)
    t = np.gradient(v.points_mm, axis=0)
    t /= np.linalg.norm(t, axis=1)[:, None]
    d = np.asarray(direction, float)
    n = d[None, :] - (t @ d)[:, None] * t
    n /= np.linalg.norm(n, axis=1)[:, None]
    return {vessel: (r_ref - v.radius_mm)[:, None] * n}


def crop_bifurcation(net: VesselNetwork, up_mm: float, down_mm: float) -> VesselNetwork:
    """The first branch point of a network: the last ``up_mm`` of the root and the first
    ``down_mm`` of each of its children (their own children dropped), cut at centerline points."""
    root = net.roots[0]
    r = net.vessels[root]
    s = r.arclength_mm
    keep = s >= s[-1] - up_mm
    vs = [_vessel(root, None, *smooth_resample(r.points_mm[keep], r.radius_mm[keep], keep_end=True))]
    for k in net.children(root):
        v = net.vessels[k]
        keep = v.arclength_mm <= down_mm
        vs.append(_vessel(k, root, *smooth_resample(v.points_mm[keep], v.radius_mm[keep], keep_start=True)))
    return _network(vs, "cropped bifurcation")


def smooth_resample(points, radius, step_mm: float = STEP_MM, sigma_mm: float = 1.0, keep_start: bool = False,
                    keep_end: bool = False):
    """Resample a polyline every ``step_mm`` of arc length and smooth points and radii with a
    Gaussian of ``sigma_mm`` (edges: reflected); the branch-point end is pinned to its old point
    (``keep_start``/``keep_end``) so children still start at the parent's last point."""
    from scipy.ndimage import gaussian_filter1d

    P = np.asarray(points, float)
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(P, axis=0), axis=1))])
    n = max(2, int(round(s[-1] / step_mm)) + 1)
    sq = np.linspace(0.0, s[-1], n)
    Q = np.column_stack([np.interp(sq, s, P[:, k]) for k in range(3)])
    R = np.interp(sq, s, np.asarray(radius, float))
    sig = sigma_mm / (sq[1] - sq[0])
    Qs = gaussian_filter1d(Q, sig, axis=0, mode="nearest")
    Rs = gaussian_filter1d(R, sig, mode="nearest")
    if keep_start:
        Qs += (P[0] - Qs[0]) * np.exp(-sq / (3 * sigma_mm))[:, None]
    if keep_end:
        Qs += (P[-1] - Qs[-1]) * np.exp(-(sq[-1] - sq) / (3 * sigma_mm))[:, None]
    return Qs, Rs


def bluefern_case(path: Path | None = None, up_mm: float = 15.0, down_mm: float = 14.0) -> Case:
    """The LAD/diagonal bifurcation of BlueFern's ``721A_Centreline.vtk`` (GPL-2.0 data).

    Read with :func:`ffrflow.formats.vtkcenterlines.read_centerlines`, cropped to the last
    ``up_mm`` of the root and the first ``down_mm`` of each branch (:func:`crop_bifurcation`),
    resampled every 0.5 mm and smoothed (Gaussian, σ = 1 mm: a loft through the raw points'
    jitter gave gmsh a surface it could not mesh); radii as in the file otherwise (clamped at
    0.5 mm upstream). The network is regenerated from the file at
    run time; the table stores only the file's sha256 and the numbers computed on it.
    """
    from ffrflow._datapaths import bluefern_dir
    from ffrflow.formats.vtkcenterlines import read_centerlines

    path = Path(path) if path is not None else bluefern_dir() / "721A_Centreline.vtk"
    from ffrflow.meshing.stenosis import detect_lesions

    net = crop_bifurcation(read_centerlines(path, units="mm"), up_mm, down_mm)
    for v in net.vessels.values():
        v.side = "left"
    net = detect_lesions(net)          # as a user's run would: the table does not know the lesions
    lesions = [{"vessel": vid, "start_mm": float(les.start_mm), "end_mm": float(les.end_mm), "detected": True}
               for vid, v in net.vessels.items() for les in (v.lesions or [])]
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return Case("bluefern_721A", net, lesions, masses_g=(20.0, 40.0),
                source={"file": "real/bluefern-coronary-centrelines/721A_Centreline.vtk", "sha256": sha,
                        "licence": "GPL-2.0 (BlueFern DBiharMesher); geometry regenerated at run time, not stored"},
                store_geometry=False)


def build_case(case_id: str) -> Case:
    """The named case (see :data:`CASES`)."""
    if case_id == "bifurcation_healthy":
        net = left_main()
        for v in net.vessels.values():
            v.lesions = []
        return Case(case_id, net, [])
    if case_id in ("medina_111", "medina_100", "medina_010"):
        specs = {"medina_111": [_lesion("LM", 10.0), _lesion("LAD", 5.0), _lesion("LCX", 5.0)],
                 "medina_100": [_lesion("LM", 10.0)],
                 "medina_010": [_lesion("LAD", 5.0)]}[case_id]
        net, les = _with_lesions(left_main(), specs)
        return Case(case_id, net, les)
    if case_id == "curved_lesion":
        base = curved_vessel()
        s_mid = 8.0 + 8.0 * math.radians(60.0)     # middle of the bend
        net, les = _with_lesions(base, [_lesion("LAD", s_mid, 6.0, 50.0)])
        return Case(case_id, net, les, masses_g=(20.0, 40.0))
    if case_id == "eccentric_lesion":
        base = straight_vessel()
        net, les = _with_lesions(base, [_lesion("LAD", 12.0, 8.0, 50.0)])
        return Case(case_id, net, les, masses_g=(20.0, 40.0), offsets_mm=eccentric_offsets(base, net, "LAD"))
    if case_id == "trifurcation":
        net = left_main(branches=(("LAD", 1.5, 40.0, 30.0), ("RI", 1.2, 0.0, 25.0), ("LCX", 1.4, -45.0, 28.0)))
        for v in net.vessels.values():
            v.lesions = []
        return Case(case_id, net, [])
    if case_id == "bluefern_721A":
        return bluefern_case()
    if case_id == "tube":
        net = straight_vessel(radius=2.0, length=24.0)
        for v in net.vessels.values():
            v.lesions = []
        return Case(case_id, net, [], note="validation: Poiseuille tube")
    raise ValueError(f"unknown case {case_id!r}; expected one of {CASES + VALIDATION}")


#: Validation geometry (not a sub-tree): a straight tube, whose drop is Poiseuille's.
VALIDATION = ("tube",)
#: Cases in run order (the first is the pipeline and mesh-convergence case).
CASES = ("bifurcation_healthy", "medina_111", "medina_100", "medina_010", "curved_lesion", "eccentric_lesion",
         "trifurcation", "bluefern_721A")
