"""Discretisation of a network for the steady solver (docs/physics.md §Steady network).

Each vessel is cut into elements of at most ``model.max_element_mm`` whose nodes include every input
centerline point and every lesion start and end (inserted on the piecewise-linear centerline, so the
radius profile is never resampled: the throat is kept exactly). Element resistances are the exact
Poiseuille integral over a radius linear between nodes; they are accumulated along each vessel into
``R_cum``. Lesion expansion losses accumulate into ``S_cum`` from the lesion's end on. Because the
flow is uniform along a vessel (trees only, no side outflow inside a vessel), the network reduces
exactly to one (R, S) pair per vessel for the Newton solve; node pressures follow from ``R_cum``,
``S_cum`` afterwards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import units
from ..kernels import get_kernel
from ..network import VesselNetwork
from .lesion import (KT_YOUNG_TSAI, NS_CALIBRATED, lesion_terms, ns_calibrated_coefficients, shape_arrays,
                     young_tsai_expansion)

_BREAK_TOL_MM = 1e-9


@dataclass
class Discretization:
    """Flat arrays of one network, SI inside (names carry units).

    Attributes
    ----------
    vessel_ids : list of str
        Topological order (parents first).
    parent : (n_vessels,) int64
        Index of the parent vessel, −1 for roots.
    node_offsets : (n_vessels + 1,) int64
        Nodes of vessel i are ``node_offsets[i]:node_offsets[i+1]``.
    node_vessel : (n_nodes,) int64
    s_mm, xyz_mm, radius_mm : node arrays (arclength from the vessel's first point, world position, radius)
    is_input_point : (n_nodes,) bool
        True where the node is one of the network's own centerline points.
    R_cum : (n_nodes,) Pa·s/m³ ; S_cum : (n_nodes,) Pa·s²/m⁶
        Linear and quadratic pressure-drop coefficients from the vessel's first point to the node.
    R, S : (n_vessels,)
        Whole-vessel coefficients (the values at each vessel's last node).
    lesions : list of dict
        Per lesion: geometry (:func:`ffrflow.network.lesion_geometry`), ``node_start``, ``node_end``,
        ``s_coefficient`` (Pa·s²/m⁶), ``r_lesion`` (Pa·s/m³ over the lesion), ``r_extra`` (Pa·s/m³
        added at its end), ``model``, ``next_lesion`` (index of the next lesion of the same vessel or
        None) and, for ``ns-calibrated``, ``shape`` (:func:`ffrflow.cfd.lesion.lesion_shape`, mm) and
        ``r_poiseuille`` (Pa·s/m³, the Poiseuille resistance along the lesion, which bounds the law's
        development term).
    """

    vessel_ids: list[str]
    parent: np.ndarray
    node_offsets: np.ndarray
    node_vessel: np.ndarray
    s_mm: np.ndarray
    xyz_mm: np.ndarray
    radius_mm: np.ndarray
    is_input_point: np.ndarray
    R_cum: np.ndarray
    S_cum: np.ndarray
    R: np.ndarray
    S: np.ndarray
    lesions: list[dict] = field(default_factory=list)
    _ns_arrays: dict | None = field(default=None, repr=False, compare=False)

    @property
    def n_vessels(self) -> int:
        return len(self.vessel_ids)

    @property
    def n_nodes(self) -> int:
        return int(self.node_offsets[-1])

    def nodes_of(self, i: int) -> slice:
        """Node slice of vessel index ``i``."""
        return slice(int(self.node_offsets[i]), int(self.node_offsets[i + 1]))

    @property
    def flow_dependent(self) -> list[int]:
        """Indices of the lesions whose coefficients depend on their flow (``ns-calibrated``)."""
        return [j for j, x in enumerate(self.lesions) if "shape" in x]

    def update_lesion_flows(self, Q_m3_s: np.ndarray, mu_pa_s: float, rho_kg_m3: float, kt: float) -> float:
        """Re-evaluate the flow-dependent lesion coefficients at the vessel flows ``Q`` (m³/s).

        Updates ``R_cum``, ``S_cum``, ``R``, ``S`` and each lesion's ``r_extra``, ``s_coefficient``
        and ``r_lesion``; returns the largest change (Pa) of a lesion's drop at its flow.
        """
        idx = self.flow_dependent
        if not idx:
            return 0.0
        c = self._flow_dependent_arrays()
        les = [self.lesions[j] for j in idx]
        q = Q_m3_s[c["vessel"]]
        r_x, s = ns_calibrated_coefficients(q, c["ref_m"], c["min_m"], mu_pa_s=mu_pa_s, rho_kg_m3=rho_kg_m3,
                                            scale=kt / KT_YOUNG_TSAI, next_index=c["next"],
                                            poiseuille_r=c["r_pois"], **c["shape"])
        dr = r_x - np.array([x["r_extra"] for x in les])
        ds = s - np.array([x["s_coefficient"] for x in les])
        _add_from(self.R_cum, c["node_end"], dr, self.node_offsets, c["vessel"])
        _add_from(self.S_cum, c["node_end"], ds, self.node_offsets, c["vessel"])
        last = self.node_offsets[1:] - 1
        self.R[:] = self.R_cum[last]
        self.S[:] = self.S_cum[last]
        for x, rn, sn, d in zip(les, r_x.tolist(), s.tolist(), dr.tolist()):
            x["r_extra"], x["s_coefficient"] = rn, sn
            x["r_lesion"] += d
        return float(np.max(np.abs(dr * q + ds * q * np.abs(q))))

    def _flow_dependent_arrays(self) -> dict:
        """The fixed inputs of the flow-dependent lesions' law (their geometry and shape, SI), built once."""
        if self._ns_arrays is None:
            idx = self.flow_dependent
            les = [self.lesions[j] for j in idx]
            pos = {j: k for k, j in enumerate(idx)}
            self._ns_arrays = {
                "vessel": np.array([int(self.node_vessel[x["node_end"]]) for x in les], dtype=np.int64),
                "node_end": np.array([x["node_end"] for x in les], dtype=np.int64),
                "ref_m": 1e-3 * np.array([x["reference_radius_mm"] for x in les]),
                "min_m": 0.5e-3 * np.array([x["mld_mm"] for x in les]),
                "next": np.array([pos.get(x.get("next_lesion"), -1) for x in les], dtype=np.int64),
                "r_pois": np.array([x["r_poiseuille"] for x in les]),
                "shape": shape_arrays([x["shape"] for x in les])}
        return self._ns_arrays

    def secant_lesions(self, Q_m3_s: np.ndarray) -> None:
        """Rewrite each flow-dependent lesion's extra drop at the vessel flows ``Q`` as S' Q|Q| (R' = 0).

        For models that need constant coefficients with R, S ≥ 0 (pulsatile, lumped, svZeroDSolver):
        the drop at Q is unchanged; a non-positive extra drop stays linear; Q = 0 leaves the lesion as is.
        """
        for j in self.flow_dependent:
            x = self.lesions[j]
            q = abs(float(Q_m3_s[int(self.node_vessel[x["node_end"]])]))
            if q == 0.0:
                continue
            extra = x["r_extra"] * q + x["s_coefficient"] * q * q
            self._set_lesion(x, *((0.0, extra / (q * q)) if extra > 0 else (extra / q, 0.0)))

    def _set_lesion(self, x: dict, r_extra: float, s: float) -> tuple[float, float]:
        """Give lesion ``x`` the coefficients (R_extra, S) at its end; returns their changes."""
        dr, ds = r_extra - x["r_extra"], s - x["s_coefficient"]
        i = int(self.node_vessel[x["node_end"]])
        stop = int(self.node_offsets[i + 1])
        self.R_cum[x["node_end"]:stop] += dr
        self.S_cum[x["node_end"]:stop] += ds
        self.R[i] += dr
        self.S[i] += ds
        x["r_extra"], x["s_coefficient"] = r_extra, s
        x["r_lesion"] += dr
        return dr, ds


def _input_arrays(net: VesselNetwork, ids: list[str]):
    """Every vessel's own centerline points, flat in ``ids`` order: points (mm), radii (mm),
    arclengths (mm), the vessel of each point, each vessel's first point and a sort key that orders
    the points by (vessel, arclength) (the arclength shifted by the lengths before it, plus 1 mm per
    vessel)."""
    vs = [net.vessels[v] for v in ids]
    s_list = [v.arclength_mm for v in vs]
    counts = np.fromiter((x.size for x in s_list), dtype=np.int64, count=len(vs))
    s_in = np.concatenate(s_list)
    pid = np.repeat(np.arange(len(vs)), counts)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    lengths = s_in[first + counts - 1]
    shift = np.concatenate([[0.0], np.cumsum(lengths + 1.0)[:-1]])
    return (np.concatenate([v.points_mm for v in vs]), np.concatenate([v.radius_mm for v in vs]), s_in, pid, first,
            counts, s_in + shift[pid], shift)


def _locate(s_in, first, counts, key, shift, v, q):
    """For arclengths ``q`` (mm) on vessels ``v``: the flat index i of the point that starts the
    centerline segment holding q, and the fraction t along it (as :func:`ffrflow.network.interpolate_along`)."""
    lo, hi = first[v], first[v] + counts[v] - 1
    q = np.clip(q, s_in[lo], s_in[hi])
    i = np.clip(np.searchsorted(key, q + shift[v], side="right") - 1, lo, hi - 1)
    return i, q, (q - s_in[i]) / (s_in[i + 1] - s_in[i])


def _with_breakpoints(net: VesselNetwork, ids: list[str], les_v: np.ndarray, les_se: np.ndarray):
    """Points, radii and vessel of every point of every vessel, with the lesion ends ``les_se``
    ((n_lesions, 2) mm, on vessels ``les_v``) inserted on the piecewise-linear centerline where no
    point lies within :data:`_BREAK_TOL_MM`."""
    P, Rr, s_in, pid, first, counts, key, shift = _input_arrays(net, ids)
    if not les_v.size:
        return P, Rr, pid
    v = np.repeat(les_v, 2)
    b = les_se.ravel()
    i, _, _ = _locate(s_in, first, counts, key, shift, v, b)
    near = np.minimum(np.abs(s_in[i] - b), np.abs(s_in[i + 1] - b))
    new = near > _BREAK_TOL_MM
    if not new.any():
        return P, Rr, pid
    v, b = v[new], b[new]
    o = np.lexsort((b, v))
    v, b = v[o], b[o]
    keep = np.ones(v.size, dtype=bool)
    keep[1:] = (v[1:] != v[:-1]) | (b[1:] != b[:-1])
    v, b = v[keep], b[keep]
    i, q, t = _locate(s_in, first, counts, key, shift, v, b)
    xyz = P[i] + t[:, None] * (P[i + 1] - P[i])
    r = Rr[i] + t * (Rr[i + 1] - Rr[i])
    order = np.lexsort((np.concatenate([s_in, b]), np.concatenate([pid, v])))
    return (np.concatenate([P, xyz])[order], np.concatenate([Rr, r])[order], np.concatenate([pid, v])[order])


def discretize(net: VesselNetwork, backend: str = "auto") -> Discretization:
    """Cut every vessel into elements ≤ ``net.model.max_element_mm`` and integrate R and S.

    Parameters
    ----------
    net : VesselNetwork
        The network; its ``model`` block supplies μ, ρ, K_t, the lesion model and the element size.
    backend : str
        Kernel backend for the element integration (``auto``, ``numpy``, ``cpu``, ``cuda``).
    """
    model = net.model
    ids = net.ids
    index = {vid: i for i, vid in enumerate(ids)}
    parent = np.array([index[net.vessels[v].parent] if net.vessels[v].parent is not None else -1
                       for v in ids], dtype=np.int64)
    les_list = [(index[vid], les) for vid in ids for les in (net.vessels[vid].lesions or [])]
    les_v = np.array([x[0] for x in les_list], dtype=np.int64)
    les_se = np.array([(x[1].start_mm, x[1].end_mm) for x in les_list], dtype=np.float64).reshape(-1, 2)
    P, Rr, pid = _with_breakpoints(net, ids, les_v, les_se)
    counts = np.bincount(pid, minlength=len(ids)).astype(np.int64)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    last = first + counts - 1

    # --- subdivide every segment into ceil(L / max_el) elements (vectorised over all vessels)
    k = np.flatnonzero(pid[:-1] == pid[1:])
    d = P[k + 1] - P[k]
    seg_len = np.linalg.norm(d, axis=1)
    nsub = np.maximum(1, np.ceil(seg_len / model.max_element_mm - 1e-9).astype(np.int64))
    seg_rep = np.repeat(k, nsub)
    j = np.arange(seg_rep.size) - np.repeat(np.cumsum(nsub) - nsub, nsub)
    t = j / np.repeat(nsub, nsub)
    key = np.concatenate([seg_rep + t * 0.999, last.astype(np.float64)])
    src = np.concatenate([seg_rep, last])
    tt = np.concatenate([t, np.zeros(last.size)])
    order = np.argsort(key, kind="stable")
    src, tt = src[order], tt[order]
    nxt = np.minimum(src + 1, P.shape[0] - 1)
    xyz = P[src] + tt[:, None] * (P[nxt] - P[src])
    rad = Rr[src] + tt * (Rr[nxt] - Rr[src])
    is_input = tt == 0.0
    node_vessel = pid[src]
    node_counts = np.bincount(node_vessel, minlength=len(ids)).astype(np.int64)
    node_offsets = np.concatenate([[0], np.cumsum(node_counts)]).astype(np.int64)

    # --- element lengths and exact Poiseuille resistances
    same = node_vessel[:-1] == node_vessel[1:]
    el_len_mm = np.where(same, np.linalg.norm(np.diff(xyz, axis=0), axis=1), 0.0)
    el_R = np.zeros(el_len_mm.size)
    seg_resistance = get_kernel("segment_resistance", backend)
    if el_R.size:
        seg_resistance(units.mm_to_m(rad[:-1]), units.mm_to_m(rad[1:]), units.mm_to_m(el_len_mm),
                       model.blood_viscosity_pa_s, el_R)
        el_R[~same] = 0.0
    s_mm = _segmented_cumsum(el_len_mm, node_offsets)
    R_cum = _segmented_cumsum(el_R, node_offsets)
    S_cum = np.zeros_like(R_cum)

    # --- lesions (vectorised over lesions; docs/physics.md §Steady network, §Lesion laws)
    lesions = _lesions(net, ids, les_list, les_v, les_se, node_offsets, s_mm, xyz, rad, R_cum, S_cum)
    if model.convective:
        # Bernoulli term of the 1D momentum equation on every element outside the lesions:
        # ΔP = (ρα/2)(1/A_k² − 1/A_{k−1}²) Q|Q|, accumulated along the vessel
        rho = model.blood_density_kg_m3
        zeta = model.velocity_profile_zeta
        alpha = (zeta + 2.0) / (zeta + 1.0)
        inv_a2 = 1.0 / (np.pi * (rad * 1e-3) ** 2) ** 2
        el_conv = np.zeros(el_len_mm.size)
        el_conv[same] = 0.5 * rho * alpha * (inv_a2[1:] - inv_a2[:-1])[same]
        for les in lesions:
            el_conv[les["node_start"]:les["node_end"]] = 0.0
        S_cum += _segmented_cumsum(el_conv, node_offsets)
    R = R_cum[node_offsets[1:] - 1].copy()
    S = S_cum[node_offsets[1:] - 1].copy()
    return Discretization(ids, parent, node_offsets, node_vessel, s_mm, xyz, rad, is_input,
                          R_cum, S_cum, R, S, lesions)


def _segmented_cumsum(per_element: np.ndarray, node_offsets: np.ndarray) -> np.ndarray:
    """Cumulative sum along each vessel's nodes (0 at every vessel's first node).

    ``per_element[k]`` is the value of the element from node k to node k+1 (0 across vessels).
    """
    n = int(node_offsets[-1])
    out = np.zeros(n)
    if n > 1:
        out[1:] = np.cumsum(per_element)
        starts = node_offsets[:-1]
        base = np.repeat(out[starts], np.diff(node_offsets))
        out -= base
        # remove cancellation noise below the first node's value
    return out


def _segments(k0: np.ndarray, k1: np.ndarray):
    """Node indices of the ranges k0[j]..k1[j] (inclusive) laid end to end, each range's start in
    that array, and the range of each entry."""
    n = k1 - k0 + 1
    start = np.concatenate([[0], np.cumsum(n)[:-1]]).astype(np.int64)
    seg = np.repeat(np.arange(k0.size), n)
    return k0[seg] + np.arange(seg.size) - start[seg], start, seg


def _lesions(net, ids, les_list, les_v, les_se, node_offsets, s_mm, xyz, rad, R_cum, S_cum) -> list[dict]:
    """The lesion records of :class:`Discretization` (see there), their coefficients added to ``R_cum``
    and ``S_cum`` in place: each lesion's geometry (:func:`ffrflow.network.lesion_geometry` on the
    discretisation's nodes, which hold the lesion's ends and every centerline point between them),
    its ``ns-calibrated`` shape (:func:`ffrflow.cfd.lesion.lesion_shape`) and its terms
    (:func:`ffrflow.cfd.lesion.lesion_terms`), all lesions at once."""
    nl = len(les_list)
    if not nl:
        return []
    model = net.model
    rho, mu = model.blood_density_kg_m3, model.blood_viscosity_pa_s
    starts = node_offsets[les_v]
    stops = node_offsets[les_v + 1]
    # the nodes at the lesion's ends: the nearest along the vessel (first of equals)
    lengths = s_mm[node_offsets[1:] - 1]
    shift = np.concatenate([[0.0], np.cumsum(lengths + 1.0)[:-1]])
    node_v = np.repeat(np.arange(len(ids)), np.diff(node_offsets))
    key = s_mm + shift[node_v]
    k0, k1 = (_nearest_node(s_mm, key, shift[les_v], starts, stops, les_se[:, c]) for c in (0, 1))
    g, gstart, seg = _segments(k0, k1)
    rg = rad[g]
    rmin = np.minimum.reduceat(rg, gstart)
    at = rg == rmin[seg]
    kmin = g[np.flatnonzero(at)[np.unique(seg[at], return_index=True)[1]]]     # first node at the minimum
    ref_given = np.array([x[1].reference_radius_mm is not None for x in les_list])
    ref = np.where(ref_given, [x[1].reference_radius_mm if x[1].reference_radius_mm is not None else 0.0
                               for x in les_list], 0.5 * (rad[k0] + rad[k1]))
    ratio = np.minimum(rmin / ref, 1.0)
    # arclength from each tree's ostium to each vessel's first point
    parent = [net.vessels[v].parent for v in ids]
    index = {v: i for i, v in enumerate(ids)}
    offset = np.zeros(len(ids))
    for i, p in enumerate(parent):       # topological order: a parent's offset is known
        if p is not None:
            offset[i] = offset[index[p]] + lengths[index[p]]
    s_min = s_mm[kmin]
    # the next lesion of the same vessel, by start (tandem lesions of the ns-calibrated law)
    order = np.lexsort((les_se[:, 0], les_v))
    nxt = np.full(nl, -1, dtype=np.int64)
    same = les_v[order][1:] == les_v[order][:-1]
    nxt[order[:-1][same]] = order[1:][same]
    r_pois = R_cum[k1] - R_cum[k0]
    ref_m, rmin_m = ref * 1e-3, rmin * 1e-3
    length_mm = les_se[:, 1] - les_se[:, 0]
    shapes = None
    r_repl = np.full(nl, np.nan)
    if model.lesion == "ns-calibrated":
        shapes = _shapes(s_mm, rg, g, gstart, seg, rmin, ref, les_se[:, 1],
                         np.where(nxt >= 0, les_se[np.maximum(nxt, 0), 0], np.inf))
        r_extra, s_coef = ns_calibrated_coefficients(0.0, ref_m, rmin_m, mu_pa_s=mu, rho_kg_m3=rho,
                                                     scale=model.kt / KT_YOUNG_TSAI, poiseuille_r=r_pois,
                                                     **shape_arrays(shapes))
        r_extra = np.where(np.pi * rmin_m ** 2 >= np.pi * ref_m ** 2, 0.0, r_extra)
        s_coef = np.where(np.pi * rmin_m ** 2 >= np.pi * ref_m ** 2, 0.0, s_coef)
    elif model.lesion == "poiseuille-kt":
        r_extra = np.zeros(nl)
        s_coef = np.array([young_tsai_expansion(a, b, rho, model.kt) for a, b in zip(ref_m, rmin_m)])
    else:
        terms = [lesion_terms(model.lesion, a, b, 1e-3 * ln, mu, rho, model.kt, None, rp)
                 for a, b, ln, rp in zip(ref_m, rmin_m, length_mm, r_pois)]
        r_repl = np.array([np.nan if t[0] is None else t[0] for t in terms])
        r_extra = np.array([t[1] for t in terms])
        s_coef = np.array([t[2] for t in terms])
    r_les = np.where(np.isnan(r_repl), r_pois, r_repl)
    for j in np.flatnonzero(~np.isnan(r_repl)):     # young-tsai: the lesion's resistance replaces Poiseuille
        a, b, stop = int(k0[j]), int(k1[j]), int(stops[j])
        inside = R_cum[a:b + 1] - R_cum[a]
        frac = inside / r_pois[j] if r_pois[j] > 0 else np.linspace(0, 1, inside.size)
        R_cum[a:b + 1] = R_cum[a] + frac * r_les[j]
        R_cum[b + 1:stop] += r_les[j] - r_pois[j]
    r_les = r_les + r_extra
    _add_from(R_cum, k1, r_extra, node_offsets, les_v)
    _add_from(S_cum, k1, s_coef, node_offsets, les_v)
    mld_xyz = xyz[kmin]
    position = offset[les_v] + s_min
    out = []
    for j, (vi, les) in enumerate(les_list):
        rec = {"vessel": ids[vi], "start_mm": float(les.start_mm), "end_mm": float(les.end_mm),
               "position_mm": float(position[j]), "mld_s_mm": float(s_min[j]),
               "mld_xyz_mm": [float(c) for c in mld_xyz[j]], "mld_mm": 2.0 * float(rmin[j]),
               "reference_diameter_mm": 2.0 * float(ref[j]), "reference_radius_mm": float(ref[j]),
               "diameter_stenosis_pct": 100.0 * (1.0 - float(ratio[j])),
               "area_stenosis_pct": 100.0 * (1.0 - float(ratio[j]) * float(ratio[j])),
               "length_mm": float(length_mm[j]),
               "node_start": int(k0[j]), "node_end": int(k1[j]), "s_coefficient": float(s_coef[j]),
               "r_lesion": float(r_les[j]), "r_extra": float(r_extra[j]), "model": model.lesion,
               "reference_given": bool(ref_given[j]), "next_lesion": None if nxt[j] < 0 else int(nxt[j])}
        if shapes is not None:
            rec["shape"] = shapes[j]
            rec["r_poiseuille"] = float(r_pois[j])
        out.append(rec)
    return out


def _nearest_node(s_mm, key, shift, starts, stops, q) -> np.ndarray:
    """The node of each vessel (nodes ``starts:stops``) nearest to arclength ``q`` (mm; the first of
    equals), found on the (vessel, arclength) sort key ``key`` with each vessel's ``shift``."""
    i = np.clip(np.searchsorted(key, q + shift, side="left"), starts, stops - 1)
    im = np.maximum(i - 1, starts)
    return np.where(np.abs(s_mm[im] - q) <= np.abs(s_mm[i] - q), im, i)


def _add_from(cum: np.ndarray, k: np.ndarray, value: np.ndarray, node_offsets: np.ndarray, v: np.ndarray) -> None:
    """Add ``value[j]`` to ``cum`` from node ``k[j]`` to the end of vessel ``v[j]``, for every j (each
    node gets the running sum of its vessel's values, nothing carried over from other vessels)."""
    if not np.any(value):
        return
    o = np.lexsort((k, v))
    k, value, v = k[o], value[o], v[o]
    first = np.ones(k.size, dtype=bool)
    first[1:] = v[1:] != v[:-1]
    run = value.copy()
    rank = np.arange(k.size) - np.maximum.accumulate(np.where(first, np.arange(k.size), 0))
    for r in range(1, int(rank.max()) + 1):
        m = np.flatnonzero(rank == r)
        run[m] = run[m - 1] + value[m]
    nxt_same = np.append(~first[1:], False)
    end = np.where(nxt_same, np.append(k[1:], 0), node_offsets[v + 1])
    idx, _, seg = _segments(k, end - 1)
    cum[idx] += run[seg]


def _shapes(s_mm, rg, g, gstart, seg, rmin, ref_mm, end_mm, next_start_mm, c: dict = NS_CALIBRATED) -> list[dict]:
    """:func:`ffrflow.cfd.lesion.lesion_shape` of every lesion at once, from its nodes ``g`` laid end to
    end (``gstart``, ``seg`` as :func:`_segments`) with radii ``rg``."""
    sg = s_mm[g]
    pos = np.arange(rg.size)
    at_min = rg <= rmin[seg] * (1.0 + 1e-9) + 1e-12
    first_at = np.unique(seg[at_min], return_index=True)[1]
    i0 = pos[at_min][first_at]
    i1 = pos[at_min][::-1][np.unique(seg[::-1][at_min[::-1]], return_index=True)[1]]
    level = rmin + c["band"] * np.maximum(ref_mm - rmin, 0.0)
    # j: the first node of the run r <= level that ends at the throat exit i1
    above = np.where(rg > level[seg], pos, -1)
    run = np.maximum.accumulate(above)
    prev_above = np.where(i1 > gstart, run[np.maximum(i1 - 1, 0)], -1)
    j = np.where(prev_above >= gstart, prev_above + 1, gstart)
    s_cross = sg[j]
    jm = np.maximum(j - 1, 0)
    cross = (j > gstart) & (rg[jm] > rg[j])
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (rg[jm] - level) / (rg[jm] - rg[j])
    s_cross = np.where(cross, sg[jm] + t * (sg[j] - sg[jm]), s_cross)
    # inlet slope: max |dr/ds| over the elements before the first node at the minimum
    ds = np.diff(sg)
    dr = np.diff(rg)
    ok = (ds > 1e-12) & (seg[1:] == seg[:-1]) & (pos[1:] <= i0[seg[1:]])
    with np.errstate(divide="ignore", invalid="ignore"):
        sl = np.where(ok, np.abs(dr / ds), 0.0)
    slope = np.zeros(rmin.size)
    np.maximum.at(slope, seg[1:], sl)
    exit_mm = sg[i1]
    exit_from_start = exit_mm - sg[gstart]
    band_up = exit_mm - s_cross
    gap = next_start_mm - exit_mm
    wire = end_mm + c["wire_r0"] * ref_mm - exit_mm
    return [{"throat_exit_mm": float(exit_mm[k]), "exit_from_start_mm": float(exit_from_start[k]),
             "band_up_mm": float(band_up[k]), "inlet_slope": float(slope[k]),
             "gap_mm": math.inf if not np.isfinite(next_start_mm[k]) else float(gap[k]),
             "wire_mm": float(wire[k])} for k in range(rmin.size)]
