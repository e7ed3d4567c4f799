"""The standard FFR read-outs a cardiologist reads: per lesion and per named vessel.

Following the consensus on reporting CT-derived FFR (Nørgaard BL et al., Radiology:
Cardiothoracic Imaging 2021), per lesion:

``ffr_<d>mm``
    FFR at ``d`` mm distal to the lesion's lower border (its ``end_mm``), measured along the
    centerline (``model.readout.distances_mm``, default 10 and 20 mm). Where a branch point comes
    first, the read-out follows the *largest child* (the child with the largest mean lumen radius over
    its first 5 mm); FFR is interpolated linearly in arclength between the solution's nodes. None
    where the path ends (an outlet) before that distance.
``delta_ffr``
    FFR at the proximal shoulder (``start_mm``) minus FFR at the distal shoulder (``end_mm``).
``ffr_class``
    From the FFR at ``model.readout.class_at_mm`` (default 20 mm; where the path ends sooner, the
    FFR at its outlet, and ``class_at_mm`` records the distance used): ``"negative"`` when FFR > 0.80
    (``negative_above``), ``"positive"`` when FFR ≤ 0.75 (``positive_max``), else ``"grey zone"``
    (0.75 < FFR ≤ 0.80, i.e. the published 0.76–0.80).

Per named vessel (the chain of network vessels carrying one anatomical or user name, see
:mod:`ffrflow.anatomy`): ``ffr_distal``, the FFR at the most distal point where the lumen diameter is
still ≥ ``model.readout.min_diameter_mm`` (default 1.8 mm; the crossing of the diameter profile is
interpolated linearly; None when the vessel is never that wide) and ``ffr_min``, the lowest FFR
along it, with where each is (vessel id and arclength, mm).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .config import READOUT_DEFAULTS

#: Length (mm) over which a child's mean radius decides which child is the largest.
LARGEST_CHILD_WINDOW_MM = 5.0


def classify(ffr: float | None, positive_max: float = 0.75, negative_above: float = 0.80) -> str | None:
    """``"positive"`` (FFR ≤ positive_max), ``"grey zone"`` or ``"negative"`` (FFR > negative_above).

    >>> [classify(x) for x in (0.81, 0.80, 0.76, 0.755, 0.75)]
    ['negative', 'grey zone', 'grey zone', 'grey zone', 'positive']
    """
    if ffr is None or not math.isfinite(ffr):
        return None
    if ffr <= positive_max:
        return "positive"
    if ffr > negative_above:
        return "negative"
    return "grey zone"


def largest_child(net, vessel_id: str) -> str | None:
    """The child with the largest mean lumen radius over its first :data:`LARGEST_CHILD_WINDOW_MM` mm."""
    ch = net.children(vessel_id)
    if not ch:
        return None

    def size(c):
        v = net.vessels[c]
        s = v.arclength_mm
        sel = s <= min(LARGEST_CHILD_WINDOW_MM, s[-1])
        return float(np.mean(v.radius_mm[sel]))

    return max(ch, key=size)


def point_downstream(net, vessel_id: str, s_mm: float, distance_mm: float) -> tuple[str, float] | None:
    """``(vessel, s)`` lying ``distance_mm`` along the centerline downstream of arclength ``s_mm`` on
    ``vessel_id`` (mm), following the largest child at branch points; None beyond an outlet."""
    vid, s, d = vessel_id, float(s_mm), float(distance_mm)
    while True:
        L = net.length_mm(vid)
        if s + d <= L + 1e-9:
            return vid, min(s + d, L)
        nxt = largest_child(net, vid)
        if nxt is None:
            return None
        d -= L - s
        vid, s = nxt, 0.0


def _ffr_at(result, vessel_id: str, s_mm: float) -> float:
    v = result.vessel(vessel_id)
    return float(np.interp(s_mm, v["s_mm"], v["ffr"]))


def _outlet_end(net, vessel_id: str, s_mm: float) -> tuple[str, float, float]:
    """The end of the largest-child path from a point: ``(vessel, s, distance from the point)``, mm."""
    vid, dist = vessel_id, net.length_mm(vessel_id) - s_mm
    while True:
        nxt = largest_child(net, vid)
        if nxt is None:
            return vid, net.length_mm(vid), dist
        vid = nxt
        dist += net.length_mm(vid)


def lesion_readouts(result, lesion: dict, config: dict | None = None) -> dict:
    """Read-outs of one lesion record (``vessel``, ``start_mm``, ``end_mm``; see module docstring).

    Returns
    -------
    dict
        ``ffr_<d>mm`` per distance (key ``ffr_10mm`` for 10 mm, ``ffr_12.5mm`` for 12.5 mm), ``delta_ffr``,
        ``ffr_class``, ``class_ffr`` (the value classified), ``class_at_mm`` (mm distal to the lower
        border where it was read).
    """
    cfg = {**READOUT_DEFAULTS, **(config or {})}
    net = result.network
    vid = lesion["vessel"]
    out: dict[str, Any] = {}
    for d in cfg["distances_mm"]:
        at = point_downstream(net, vid, lesion["end_mm"], d)
        out[readout_key(d)] = None if at is None else _ffr_at(result, *at)
    out["delta_ffr"] = _ffr_at(result, vid, lesion["start_mm"]) - _ffr_at(result, vid, lesion["end_mm"])
    at = point_downstream(net, vid, lesion["end_mm"], cfg["class_at_mm"])
    used = float(cfg["class_at_mm"])
    if at is None:
        ov, os_, used = _outlet_end(net, vid, lesion["end_mm"])
        at = (ov, os_)
    f = _ffr_at(result, *at)
    out["ffr_class"] = classify(f, cfg["positive_max"], cfg["negative_above"])
    out["class_ffr"] = f
    out["class_at_mm"] = used
    return out


def readout_key(distance_mm: float) -> str:
    """Key of the read-out at ``distance_mm``: ``ffr_10mm``, ``ffr_12.5mm``."""
    return f"ffr_{float(distance_mm):g}mm"


def named_chains(net, names: dict[str, str]) -> list[tuple[str, list[str]]]:
    """``(name, [vessel ids])``: each maximal parent→child chain of vessels carrying one name (where
    a vessel has several children of its own name, the chain follows the largest)."""
    ch = net._children()
    covered: set[str] = set()
    out = []
    for vid in net.ids:
        if vid in covered:
            continue
        nm = names[vid]
        path, cur = [vid], vid
        covered.add(vid)
        while True:
            same = [c for c in ch.get(cur, []) if names[c] == nm and c not in covered]
            if not same:
                break
            if len(same) > 1:
                big = largest_child(net, cur)
                cur = big if big in same else same[0]
            else:
                cur = same[0]
            path.append(cur)
            covered.add(cur)
        out.append((nm, path))
    return out


def vessel_readouts(result, names: dict[str, str], config: dict | None = None) -> list[dict]:
    """Per named vessel: ``name``, ``vessels``, ``length_mm``, ``ffr_distal`` (where the diameter is
    still ≥ ``min_diameter_mm``; with ``distal_vessel``, ``distal_s_mm`` along that vessel and
    ``distal_mm`` from the named vessel's start, mm), ``ffr_min`` (with ``min_vessel``, ``min_s_mm``),
    ``min_diameter_mm``."""
    cfg = {**READOUT_DEFAULTS, **(config or {})}
    dmin = float(cfg["min_diameter_mm"])
    rows = []
    for nm, path in named_chains(result.network, names):
        s_all, d_all, f_all, vid_all, sl_all = [], [], [], [], []
        off = 0.0
        for vid in path:
            v = result.vessel(vid)
            s_all.append(off + v["s_mm"])
            d_all.append(2.0 * v["radius_mm"])
            f_all.append(v["ffr"])
            vid_all += [vid] * len(v["s_mm"])
            sl_all.append(v["s_mm"])
            off += float(v["s_mm"][-1])
        s, d, f, sl = (np.concatenate(x) for x in (s_all, d_all, f_all, sl_all))
        k_min = int(np.argmin(f))
        row = {"name": nm, "vessels": list(path), "length_mm": off, "min_diameter_mm": dmin,
               "ffr_distal": None, "distal_vessel": None, "distal_s_mm": None, "distal_mm": None,
               "ffr_min": float(f[k_min]), "min_vessel": vid_all[k_min], "min_s_mm": float(sl[k_min])}
        cross = _diameter_crossing(d, vid_all, dmin)
        if cross is not None:
            k, t = cross
            k1 = k + 1 if t else k
            s_star = s[k] + t * (s[k1] - s[k])
            f_star = f[k] + t * (f[k1] - f[k])
            sl_star = sl[k] + t * (sl[k1] - sl[k])
            row.update({"ffr_distal": float(f_star), "distal_vessel": vid_all[k], "distal_s_mm": float(sl_star),
                        "distal_mm": float(s_star)})
        rows.append(row)
    return rows


def _diameter_crossing(d: np.ndarray, vid_all: list, dmin: float) -> tuple[int, float] | None:
    """``(k, t)``: the most distal point of a chain's diameter profile ``d`` still ≥ ``dmin`` lies at
    fraction ``t`` of the way from node ``k`` to node ``k + 1`` (t = 0: at node k); None when the
    chain is never that wide."""
    wide = np.nonzero(d >= dmin)[0]
    if not wide.size:
        return None
    k = int(wide[-1])
    if k + 1 < len(d) and d[k + 1] < dmin and vid_all[k + 1] == vid_all[k]:
        return k, float((d[k] - dmin) / (d[k] - d[k + 1]))
    return k, 0.0


# ------------------------------------------------------------------ read-out points of an ensemble
# docs/physics.md §Uncertainty (read-outs): the ensemble reads FFR per sample at the points the
# deterministic read-outs use, as a probe (node a, node b, t): FFR = f_a + t (f_b − f_a).

def _probe_at(disc, vessel_id: str, s_mm: float) -> tuple[int, int, float]:
    """The probe of the point at arclength ``s_mm`` on ``vessel_id`` (global node indices of ``disc``),
    with the weights of the linear interpolation :func:`_ffr_at` does (``numpy.interp``)."""
    sl = disc.nodes_of(disc.vessel_ids.index(vessel_id))
    s = disc.s_mm[sl]
    if s_mm <= s[0]:
        return sl.start, sl.start, 0.0
    if s_mm >= s[-1]:
        return sl.stop - 1, sl.stop - 1, 0.0
    i = int(np.searchsorted(s, s_mm, side="right")) - 1
    if s[i] == s_mm or s[i + 1] == s[i]:
        return sl.start + i, sl.start + i, 0.0
    return sl.start + i, sl.start + i + 1, float((s_mm - s[i]) / (s[i + 1] - s[i]))


def lesion_readout_probes(net, disc, lesion: dict, config: dict | None = None) -> dict:
    """Where :func:`lesion_readouts` reads FFR for one lesion, as probes of ``disc`` (the network's
    discretisation): ``{readout_key(d): probe or None, "start": probe, "end": probe, "class": probe,
    "class_at_mm": mm}`` (module docstring for the points; a probe is ``(node a, node b, t)``)."""
    cfg = {**READOUT_DEFAULTS, **(config or {})}
    vid = lesion["vessel"]
    out: dict[str, Any] = {}
    for d in cfg["distances_mm"]:
        at = point_downstream(net, vid, lesion["end_mm"], d)
        out[readout_key(d)] = None if at is None else _probe_at(disc, *at)
    out["start"] = _probe_at(disc, vid, lesion["start_mm"])
    out["end"] = _probe_at(disc, vid, lesion["end_mm"])
    at = point_downstream(net, vid, lesion["end_mm"], cfg["class_at_mm"])
    used = float(cfg["class_at_mm"])
    if at is None:
        ov, os_, used = _outlet_end(net, vid, lesion["end_mm"])
        at = (ov, os_)
    out["class"] = _probe_at(disc, *at)
    out["class_at_mm"] = used
    return out


def vessel_readout_probes(net, disc, names: dict[str, str], config: dict | None = None) -> list[dict]:
    """Where :func:`vessel_readouts` reads FFR per named vessel, as probes of ``disc``: ``name``,
    ``vessels``, ``distal`` (probe or None) and ``min_nodes``, the nodes among which the lowest FFR
    lies whenever pressure falls along every element (flow ≥ 0, Poiseuille resistance > 0) and
    jumps only at lesion ends (docs/physics.md §Uncertainty): each vessel's last node and the node
    before each lesion's end."""
    cfg = {**READOUT_DEFAULTS, **(config or {})}
    dmin = float(cfg["min_diameter_mm"])
    ends: dict[int, list[int]] = {}
    for x in disc.lesions:
        ends.setdefault(int(disc.node_vessel[x["node_end"]]), []).append(int(x["node_end"]))
    rows = []
    for nm, path in named_chains(net, names):
        nodes, d, vid_all, cand = [], [], [], []
        for vid in path:
            i = disc.vessel_ids.index(vid)
            sl = disc.nodes_of(i)
            nodes.append(np.arange(sl.start, sl.stop))
            d.append(2.0 * disc.radius_mm[sl])
            vid_all += [vid] * (sl.stop - sl.start)
            cand.append(sl.stop - 1)
            cand += [k - 1 for k in ends.get(i, []) if k - 1 >= sl.start]
        nodes = np.concatenate(nodes)
        cross = _diameter_crossing(np.concatenate(d), vid_all, dmin)
        distal = None
        if cross is not None:
            k, t = cross
            distal = (int(nodes[k]), int(nodes[k + 1]) if t else int(nodes[k]), t)
        rows.append({"name": nm, "vessels": list(path), "distal": distal, "min_nodes": sorted(set(cand))})
    return rows
