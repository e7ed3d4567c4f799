"""Compare a meshed network with a reference network (phantom truth, or another meshing run).

Used by the accuracy tests and benchmarks, and by users who validate meshing against centerlines they
trust. Every meshed centerline point is projected onto the nearest reference centerline segment:
the distance is the centerline error, and the meshed radius minus the reference radius interpolated
at the projection is the radius error. Branches are matched by their free ends: every reference
outlet should have a meshed outlet nearby (else it is *missing*) and every meshed outlet a reference
outlet (else it is *invented*).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Comparison:
    """Point-wise and branch-wise differences between a network and a reference (mm).

    Attributes
    ----------
    distance_mm : ndarray (M,)
        Distance of each meshed point to the reference centerlines.
    radius_error_mm : ndarray (M,)
        Meshed radius minus reference radius at the projection.
    ref_vessel : ndarray of str (M,)
        Reference vessel nearest to each meshed point.
    points_mm : ndarray (M, 3)
        The meshed points (all vessels, in network order).
    missing_outlets, invented_outlets : list[str]
        Reference outlets without a meshed outlet within the tolerance, and the reverse.
    end_distance_mm : dict[str, float]
        Per reference outlet (and root), distance to the nearest meshed outlet end (root start).
    """

    distance_mm: np.ndarray
    radius_error_mm: np.ndarray
    ref_vessel: np.ndarray
    points_mm: np.ndarray
    missing_outlets: list
    invented_outlets: list
    end_distance_mm: dict

    def summary(self, mask: np.ndarray | None = None) -> dict:
        """Medians and 90th percentiles (optionally over the points where ``mask`` is True)."""
        sel = np.ones(len(self.distance_mm), bool) if mask is None else np.asarray(mask, bool)
        d, e = self.distance_mm[sel], self.radius_error_mm[sel]
        return {"points": int(sel.sum()), "centerline_median_mm": float(np.median(d)),
                "centerline_p90_mm": float(np.percentile(d, 90)),
                "radius_median_error_mm": float(np.median(e)),
                "radius_median_abs_error_mm": float(np.median(np.abs(e))),
                "radius_p90_abs_error_mm": float(np.percentile(np.abs(e), 90)),
                "missing_outlets": list(self.missing_outlets), "invented_outlets": list(self.invented_outlets)}


def project_onto(points: np.ndarray, polylines: dict, radii: dict, step_mm: float = 0.25):
    """Project points onto the nearest segment of a set of polylines.

    Returns
    -------
    distance : ndarray (M,)
    radius : ndarray (M,)
        Radius interpolated linearly along the segment at the projection.
    vessel : ndarray of object (M,)
    """
    from scipy.spatial import cKDTree

    seg_a, seg_b, ra, rb, owner = [], [], [], [], []
    for vid, pts in polylines.items():
        pts = np.asarray(pts, float)
        r = np.asarray(radii[vid], float)
        seg_a.append(pts[:-1])
        seg_b.append(pts[1:])
        ra.append(r[:-1])
        rb.append(r[1:])
        owner += [vid] * (len(pts) - 1)
    a = np.concatenate(seg_a)
    b = np.concatenate(seg_b)
    ra = np.concatenate(ra)
    rb = np.concatenate(rb)
    owner = np.array(owner, dtype=object)
    ab = b - a
    ll = np.maximum((ab * ab).sum(axis=1), 1e-18)
    # candidate segments: those whose sample points are near the query
    mids = 0.5 * (a + b)
    half = 0.5 * np.sqrt(ll)
    tree = cKDTree(mids)
    pts = np.asarray(points, float)
    dmin, _ = tree.query(pts)
    reach = dmin + half.max() + 1e-9
    dist = np.full(len(pts), np.inf)
    rad = np.zeros(len(pts))
    ves = np.empty(len(pts), dtype=object)
    for i, (q, rr) in enumerate(zip(pts, reach)):
        cand = np.asarray(tree.query_ball_point(q, rr))
        t = np.clip(((q - a[cand]) * ab[cand]).sum(axis=1) / ll[cand], 0.0, 1.0)
        proj = a[cand] + t[:, None] * ab[cand]
        dd = np.linalg.norm(q - proj, axis=1)
        k = int(np.argmin(dd))
        dist[i] = dd[k]
        rad[i] = ra[cand[k]] + t[k] * (rb[cand[k]] - ra[cand[k]])
        ves[i] = owner[cand[k]]
    return dist, rad, ves


def compare_networks(net, ref, *, end_tol_mm: float | None = None) -> Comparison:
    """Compare ``net`` with the reference ``ref`` (both :class:`~ffrflow.network.VesselNetwork`, mm).

    Parameters
    ----------
    net, ref : VesselNetwork
    end_tol_mm : float, optional
        A reference outlet is found when a meshed outlet end lies within this distance; default
        3 mm + the reference radius at the outlet.

    Returns
    -------
    Comparison
    """
    pts = np.concatenate([v.points_mm for v in net.vessels.values()])
    dist, rref, ves = project_onto(pts, {v.id: v.points_mm for v in ref.vessels.values()},
                                   {v.id: v.radius_mm for v in ref.vessels.values()})
    rnet = np.concatenate([v.radius_mm for v in net.vessels.values()])
    net_ends = {o: net.vessels[o].points_mm[-1] for o in net.outlets}
    ref_ends = {o: ref.vessels[o].points_mm[-1] for o in ref.outlets}
    ends: dict[str, float] = {}
    missing, matched = [], set()
    for o, q in ref_ends.items():
        tol = end_tol_mm if end_tol_mm is not None else 3.0 + float(ref.vessels[o].radius_mm[-1])
        if not net_ends:
            missing.append(o)
            continue
        k, d = min(((k, float(np.linalg.norm(p - q))) for k, p in net_ends.items()), key=lambda x: x[1])
        ends[o] = d
        if d <= tol:
            matched.add(k)
        else:
            missing.append(o)
    for r in ref.roots:
        q = ref.vessels[r].points_mm[0]
        ends[r] = float(min(np.linalg.norm(net.vessels[n].points_mm[0] - q) for n in net.roots))
    invented = [k for k in net_ends if k not in matched]
    return Comparison(dist, rnet - rref, ves, pts, missing, invented, ends)


def match_results(true, meshed) -> list[dict]:
    """Pair every outlet and every lesion of a solution on a reference network with the nearest one
    of a solution on a meshed network (outlets by their end point, lesions by their MLD point).

    Parameters
    ----------
    true, meshed : Result
        Steady solutions (``outlets`` with ``xyz_mm`` and ``ffr``; ``lesions`` with ``mld_xyz_mm`` and
        ``ffr_distal``), world mm.

    Returns
    -------
    list of dict
        One per reference outlet or lesion: ``name`` (the vessel, ``"lesion <vessel>"`` for lesions),
        ``kind``, ``true`` and ``meshed`` (the two records), ``distance_mm`` between the matched points
        and ``dffr`` = meshed − true FFR (dimensionless).
    """
    out = []
    for kind, items, others, where, key in (("outlet", true.outlets, meshed.outlets, "xyz_mm", "ffr"),
                                            ("lesion", true.lesions, meshed.lesions, "mld_xyz_mm", "ffr_distal")):
        for t in items:
            d = [float(np.linalg.norm(np.subtract(t[where], m[where]))) for m in others]
            k = int(np.argmin(d))
            out.append({"name": t["vessel"] if kind == "outlet" else f"lesion {t['vessel']}", "kind": kind,
                        "true": t, "meshed": others[k], "distance_mm": d[k], "dffr": others[k][key] - t[key]})
    return out
