"""Random coronary-like trees of any size (:func:`random_tree`): benchmark and test networks with
Murray-law radii and no lesions (narrow them with :func:`ffrflow.phantoms.narrow`).

Units: mm.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InvalidInputError
from ..network import VesselNetwork
from .lesions import MURRAY_EXPONENT, _check_seed

__all__ = ['random_tree']

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
