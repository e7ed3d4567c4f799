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

from dataclasses import dataclass, field

import numpy as np

from .. import units
from ..kernels import get_kernel
from ..network import Lesion, Vessel, VesselNetwork, interpolate_along, lesion_geometry
from .lesion import KT_YOUNG_TSAI, lesion_shape, lesion_terms, ns_calibrated_coefficients, shape_arrays

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
        les = [self.lesions[j] for j in idx]
        pos = {j: k for k, j in enumerate(idx)}
        vi = np.array([int(self.node_vessel[x["node_end"]]) for x in les])
        q = Q_m3_s[vi]
        r_x, s = ns_calibrated_coefficients(
            q, 1e-3 * np.array([x["reference_radius_mm"] for x in les]), 0.5e-3 * np.array([x["mld_mm"] for x in les]),
            mu_pa_s=mu_pa_s, rho_kg_m3=rho_kg_m3, scale=kt / KT_YOUNG_TSAI,
            next_index=np.array([pos.get(x.get("next_lesion"), -1) for x in les], dtype=np.int64),
            poiseuille_r=np.array([x["r_poiseuille"] for x in les]), **shape_arrays([x["shape"] for x in les]))
        change = 0.0
        for x, qq, rn, sn in zip(les, q, r_x, s):
            dr, ds = self._set_lesion(x, float(rn), float(sn))
            change = max(change, abs(dr * qq + ds * qq * abs(qq)))
        return change

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


def _with_breakpoints(v: Vessel) -> tuple[np.ndarray, np.ndarray]:
    """Points and radii of a vessel with its lesion ends inserted on the piecewise-linear centerline."""
    if not v.lesions:
        return v.points_mm, v.radius_mm
    s = v.arclength_mm
    extra = []
    for les in v.lesions:
        for b in (les.start_mm, les.end_mm):
            if np.min(np.abs(s - b)) > _BREAK_TOL_MM:
                extra.append(b)
    if not extra:
        return v.points_mm, v.radius_mm
    extra = np.unique(extra)
    xyz, r = interpolate_along(v, extra)
    s_all = np.concatenate([s, extra])
    order = np.argsort(s_all, kind="stable")
    return np.concatenate([v.points_mm, xyz])[order], np.concatenate([v.radius_mm, r])[order]


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
    pts_list, rad_list = zip(*(_with_breakpoints(net.vessels[v]) for v in ids))
    counts = np.fromiter((len(p) for p in pts_list), dtype=np.int64, count=len(ids))
    P = np.concatenate(pts_list)
    Rr = np.concatenate(rad_list)
    pid = np.repeat(np.arange(len(ids)), counts)
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

    # --- lesions
    lesions: list[dict] = []
    rho, mu = model.blood_density_kg_m3, model.blood_viscosity_pa_s
    for vid in ids:
        v = net.vessels[vid]
        if not v.lesions:
            continue
        i = index[vid]
        sl = slice(node_offsets[i], node_offsets[i + 1])
        s_v = s_mm[sl]
        # the next lesion of the same vessel (tandem lesions of the ns-calibrated law), as an index into `lesions`
        order = sorted(range(len(v.lesions)), key=lambda a: v.lesions[a].start_mm)
        following = {a: b for a, b in zip(order, order[1:])}
        base = len(lesions)
        for a, les in enumerate(v.lesions):
            nxt = following.get(a)
            geo = lesion_geometry(net, vid, les)
            k0 = sl.start + int(np.argmin(np.abs(s_v - les.start_mm)))
            k1 = sl.start + int(np.argmin(np.abs(s_v - les.end_mm)))
            r_ref = units.mm_to_m(geo["reference_radius_mm"])
            r_min = units.mm_to_m(geo["mld_mm"] / 2.0)
            shape = None
            if model.lesion == "ns-calibrated":
                shape = lesion_shape(s_mm[k0:k1 + 1], rad[k0:k1 + 1], geo["reference_radius_mm"], les.end_mm,
                                     None if nxt is None else v.lesions[nxt].start_mm)
            r_pois = float(R_cum[k1] - R_cum[k0])
            r_repl, r_extra, s_coef = lesion_terms(model.lesion, r_ref, r_min, units.mm_to_m(geo["length_mm"]),
                                                   mu, rho, model.kt, shape, r_pois)
            r_les = r_pois
            if r_repl is not None:
                r_les = r_repl
                inside = R_cum[k0:k1 + 1] - R_cum[k0]
                frac = inside / r_pois if r_pois > 0 else np.linspace(0, 1, inside.size)
                R_cum[k0:k1 + 1] = R_cum[k0] + frac * r_les
                R_cum[k1 + 1:sl.stop] += r_les - r_pois
            if r_extra:
                R_cum[k1:sl.stop] += r_extra
                r_les += r_extra
            S_cum[k1:sl.stop] += s_coef
            lesions.append({**geo, "node_start": k0, "node_end": k1, "s_coefficient": s_coef,
                            "r_lesion": r_les, "r_extra": r_extra, "model": model.lesion,
                            "reference_given": les.reference_radius_mm is not None,
                            "next_lesion": None if nxt is None else base + nxt,
                            **({"shape": shape, "r_poiseuille": r_pois} if shape is not None else {})})
    if model.convective:
        # Bernoulli term of the 1D momentum equation on every element outside the lesions:
        # ΔP = (ρα/2)(1/A_k² − 1/A_{k−1}²) Q|Q|, accumulated along the vessel
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
