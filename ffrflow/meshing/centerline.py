"""Skeleton → branch graph → smoothed, resampled centerlines → :class:`~ffrflow.network.VesselNetwork`.

Steps (docs/architecture.md, meshing; docs/formats.md §Lumen masks and surfaces):

1. **Skeleton**: TEASAR (kimimaro, with the ``edt`` distance transform) on the cropped mask with the
   anisotropic voxel spacing, one skeleton per tree; each skeleton vertex carries its distance to the
   lumen boundary (the inscribed-sphere radius :math:`r_{dt}`, mm).
2. **Graph**: the skeleton as a networkx graph; *chains* are runs of vertices between key nodes
   (ends and junctions).
3. **Spur pruning**: a terminal chain shorter than ``spur_factor·r_j + spur_const_mm`` (``r_j`` the
   radius at its junction) is a bump of the wall, not a branch, and is removed (shortest first,
   until none is left); chains between two junctions shorter than the larger junction radius are
   contracted into one junction (a trifurcation).
4. **Ostium**: per tree the end with the largest radius (median :math:`r_{dt}` over 1–4 mm from the
   tip), or the end nearest a user-given ostium point (world mm, one per tree).
5. **Junctions**: TEASAR paths wander through a bifurcation (the first path cuts the corner); each
   junction is snapped to the least-squares intersection of the branch axes fitted just outside
   the junction, and every branch at it starts (or ends) exactly there.
6. **Ends**: the skeleton runs into the rounded cap of a vessel end; ostium and outlet ends are
   trimmed by the local radius (``trim_ends``).
7. **Smoothing and resampling**: Gaussian smoothing in arclength with both ends fixed (odd
   reflection), then uniform resampling at about ``spacing_out_mm``.
8. **Radius**: area-equivalent radius of surface cross-sections (:mod:`ffrflow.meshing.radius`).

The tree whose ostium is larger is ``side: "left"`` when there are two trees (docs/physics.md §Boundary conditions).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..errors import InvalidInputError, MeshQualityError
from ..network import VesselNetwork
from .mask import LumenMask

log = logging.getLogger("ffrflow.meshing")


@dataclass
class CenterlineOptions:
    """Knobs of the centerline extraction (lengths in mm).

    Attributes
    ----------
    spacing_out_mm : float
        Target spacing of the output centerline points.
    smooth_mm : float or None
        Gaussian smoothing width (sigma) along the centerline; default max(0.8, 2 × largest voxel size).
    teasar_scale, teasar_const_mm : float
        TEASAR invalidation ball radius = scale · r_dt + const (mm): the shortest detectable side
        branch is about this long beyond its parent's wall.
    spur_factor, spur_const_mm : float
        Terminal chains shorter than ``spur_factor · r_junction + spur_const_mm`` are pruned.
    trim_ends : bool
        Trim ostium and outlet ends by the local radius (the skeleton runs into the end cap).
    junction_snap : bool
        Snap each junction to the least-squares intersection of its branch axes.
    recentre : bool
        Move centerline points to the centroids of their surface cross-sections (sub-voxel axis).
    lesion_spacing_mm : float or None
        Point spacing inside narrowings and their shoulders (:func:`ffrflow.meshing.refine_lesion_sampling`);
        None: the output spacing everywhere.
    lesion_shoulder_mm : float
        How far beyond a narrowing the fine spacing extends.
    """

    spacing_out_mm: float = 0.5
    smooth_mm: float | None = None
    teasar_scale: float = 1.2
    teasar_const_mm: float = 1.0
    spur_factor: float = 1.0
    spur_const_mm: float = 1.5
    trim_ends: bool = True
    junction_snap: bool = True
    recentre: bool = True
    lesion_spacing_mm: float | None = 0.1
    lesion_shoulder_mm: float = 1.0


@dataclass
class Branch:
    """One vessel before radius measurement: world points (mm) and inscribed radius (mm)."""

    id: str
    parent: str | None
    points_mm: np.ndarray
    dt_radius_mm: np.ndarray
    tree: int
    side: str | None = None
    children: list = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- skeleton
def skeletonize(mask: LumenMask, opts: CenterlineOptions | None = None) -> dict:
    """TEASAR skeleton of each tree of the mask.

    Returns
    -------
    dict[int, networkx.Graph]
        Per tree label, a graph whose nodes carry ``xyz`` (world mm) and ``r`` (inscribed radius, mm)
        and whose edges carry ``length`` (mm).
    """
    import kimimaro
    import networkx as nx

    opts = opts or CenterlineOptions()
    sp = np.asarray(mask.spacing_mm, dtype=np.float64)
    pad = 1
    labels = np.pad(mask.labels, pad)
    params = {"scale": float(opts.teasar_scale), "const": float(opts.teasar_const_mm),
              "pdrf_scale": 100000, "pdrf_exponent": 4,
              "soma_detection_threshold": 1e12, "soma_acceptance_threshold": 1e12,
              "soma_invalidation_scale": 1.0, "soma_invalidation_const": 0.0}
    skels = kimimaro.skeletonize(np.asfortranarray(labels.T), teasar_params=params, anisotropy=tuple(sp),
                                 dust_threshold=0, progress=False, fix_branching=True, fix_borders=False,
                                 fix_avocados=False, fill_holes=False, parallel=1)
    out = {}
    for lab, sk in skels.items():
        v = np.asarray(sk.vertices, dtype=np.float64)                   # crop-physical (index × spacing)
        world = mask.origin_mm + (v + (mask.offset - pad) * sp) @ mask.direction.T
        g = nx.Graph()
        radii = np.asarray(sk.radii, dtype=np.float64).tolist()
        g.add_nodes_from((i, {"xyz": world[i], "r": radii[i]}) for i in range(len(v)))
        e = np.asarray(sk.edges, dtype=np.int64).reshape(-1, 2)
        e = e[e[:, 0] != e[:, 1]]
        lengths = np.linalg.norm(world[e[:, 0]] - world[e[:, 1]], axis=1).tolist()
        g.add_edges_from((a, b, {"length": ln}) for (a, b), ln in zip(e.tolist(), lengths))
        if g.number_of_nodes() and not nx.is_forest(g):
            g = nx.minimum_spanning_tree(g, weight="length")
        if g.number_of_nodes() and nx.number_connected_components(g) > 1:
            biggest = max(nx.connected_components(g), key=len)
            g = g.subgraph(biggest).copy()
        out[int(lab)] = g
    return out


def _chains(g) -> list[list[int]]:
    """Runs of nodes between key nodes (degree ≠ 2) of a forest."""
    key = {n for n in g.nodes if g.degree(n) != 2}
    chains = []
    seen_edges = set()
    for k in key:
        for nb in g.neighbors(k):
            if (k, nb) in seen_edges:
                continue
            chain = [k, nb]
            prev, cur = k, nb
            while cur not in key:
                nxt = next(x for x in g.neighbors(cur) if x != prev)
                chain.append(nxt)
                prev, cur = cur, nxt
            seen_edges.add((chain[-1], chain[-2]))
            seen_edges.add((k, nb))
            chains.append(chain)
    return chains


def _chain_length(g, chain) -> float:
    return float(sum(g.edges[a, b]["length"] for a, b in zip(chain, chain[1:])))


def prune_spurs(g, opts: CenterlineOptions) -> int:
    """Remove short terminal chains (wall bumps) in place; returns how many were removed."""
    removed = 0
    while True:
        touched = set()
        did = False
        cands = []
        for c in _chains(g):
            d0, d1 = g.degree(c[0]), g.degree(c[-1])
            if d0 == 1 and d1 >= 3:
                c = c[::-1]
            elif not (d1 == 1 and d0 >= 3):
                continue
            cands.append((_chain_length(g, c), c))          # c runs junction → leaf
        cands.sort(key=lambda x: x[0])
        for length, c in cands:
            j = c[0]
            if j in touched or g.degree(j) < 3:
                continue
            if length < opts.spur_factor * g.nodes[j]["r"] + opts.spur_const_mm:
                g.remove_nodes_from(c[1:])
                touched.add(j)
                removed += 1
                did = True
        if not did:
            return removed


def contract_short_links(g) -> int:
    """Merge junction pairs joined by a chain shorter than the larger junction radius."""
    n = 0
    while True:
        for c in _chains(g):
            a, b = c[0], c[-1]
            if g.degree(a) >= 3 and g.degree(b) >= 3 and a != b:
                length = _chain_length(g, c)
                if length < max(g.nodes[a]["r"], g.nodes[b]["r"]):
                    # keep node a at the middle of the chain; reattach b's other neighbours to a
                    mid = 0.5 * (g.nodes[a]["xyz"] + g.nodes[b]["xyz"])
                    g.nodes[a]["xyz"] = mid
                    g.nodes[a]["r"] = max(g.nodes[a]["r"], g.nodes[b]["r"])
                    inner = set(c[1:-1])
                    for nb in list(g.neighbors(b)):
                        if nb not in inner and nb != a:
                            g.add_edge(a, nb, length=float(np.linalg.norm(g.nodes[nb]["xyz"] - mid)))
                    g.remove_nodes_from(list(inner) + [b])
                    for nb in g.neighbors(a):
                        g.edges[a, nb]["length"] = float(np.linalg.norm(g.nodes[nb]["xyz"] - mid))
                    n += 1
                    break
        else:
            return n


# ---------------------------------------------------------------------------------------------- geometry
def _arclength(pts: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])


def _end_radius(pts: np.ndarray, r: np.ndarray) -> float:
    """Radius near the first point of a chain that starts at a free end (median over 1–4 mm)."""
    s = _arclength(pts)
    hi = min(4.0, 0.5 * s[-1])
    sel = (s >= min(1.0, 0.5 * hi)) & (s <= hi)
    if not sel.any():
        sel = s <= 0.5 * s[-1] + 1e-9
    return float(np.median(r[sel]))


def _slab_radius(mask: LumenMask, label: int, pts: np.ndarray, r_dt: np.ndarray, s_lo: float = 1.0,
                 s_hi: float = 6.0) -> float:
    """Area-equivalent radius (mm) of the tube around a chain that starts at a free end, from voxels.

    The lumen voxels of tree ``label`` within a slab normal to the chain's mean axis between arclength
    ``s_lo`` and ``s_hi`` (clipped to half the chain) and within twice the largest distance-transform
    radius of the axis are counted: r = √(N·v / (π·ℓ)) with v the voxel volume and ℓ the slab length.
    Averaging over hundreds of voxels, it is far less sensitive to where the tube falls on the grid
    than the distance transform at skeleton voxels (quantised to the grid), which matters when two
    trees' ostia differ by 10–15 % and the larger one is the left tree (docs/physics.md §Boundary conditions).
    """
    s = _arclength(pts)
    hi = min(s_hi, 0.5 * s[-1])
    lo = min(s_lo, 0.5 * hi)
    sel = (s >= lo) & (s <= hi)
    if sel.sum() < 2 or hi - lo < 1.0:
        return _end_radius(pts, r_dt)
    p = pts[sel]
    c = p.mean(axis=0)
    axis = np.linalg.svd(p - c)[2][0]
    t = (p - c) @ axis
    t_lo, t_hi = float(t.min()), float(t.max())
    reach = 2.0 * float(np.max(r_dt[sel])) + 2.0 * float(np.max(mask.spacing_mm))
    # voxel-index box around the slab (crop coordinates, array order z, y, x)
    corners = np.array([c + a * axis + b * e for a in (t_lo, t_hi) for b in (-reach, reach)
                        for e in np.eye(3)])
    ijk = mask.world_to_index(corners) - mask.offset
    lo_i = np.maximum(np.floor(ijk.min(axis=0)).astype(int) - 1, 0)
    hi_i = np.minimum(np.ceil(ijk.max(axis=0)).astype(int) + 2, np.array(mask.labels.shape[::-1]))
    if np.any(hi_i <= lo_i):
        return _end_radius(pts, r_dt)
    sub = mask.labels[lo_i[2]:hi_i[2], lo_i[1]:hi_i[1], lo_i[0]:hi_i[0]]
    kz, ky, kx = np.nonzero(sub == label)
    if kx.size == 0:
        return _end_radius(pts, r_dt)
    xyz = mask.index_to_world(np.stack([kx + lo_i[0], ky + lo_i[1], kz + lo_i[2]], axis=1) + mask.offset)
    d = xyz - c
    along = d @ axis
    radial = np.linalg.norm(d - along[:, None] * axis, axis=1)
    n = int(np.count_nonzero((along >= t_lo) & (along < t_hi) & (radial <= reach)))
    return float(np.sqrt(n * mask.voxel_volume_mm3 / (np.pi * (t_hi - t_lo))))


def smooth_resample(pts: np.ndarray, sigma_mm: float, spacing_mm: float, step_mm: float = 0.05) -> np.ndarray:
    """Gaussian-smooth a polyline in arclength (ends fixed) and resample it uniformly.

    Parameters
    ----------
    pts : ndarray (N, 3)
        Polyline, mm.
    sigma_mm : float
        Gaussian width along the curve, mm (0: no smoothing).
    spacing_mm : float
        Target point spacing of the output, mm; at least two points are returned.

    Notes
    -----
    The curve is extended beyond each end by odd reflection (:math:`2\\mathbf{p}_0 - \\mathbf{p}(s)`),
    which keeps straight lines straight and leaves both end points exactly where they were.
    """
    from scipy.ndimage import gaussian_filter1d

    pts = np.asarray(pts, dtype=np.float64)
    keep = np.concatenate([[True], np.linalg.norm(np.diff(pts, axis=0), axis=1) > 1e-9])
    pts = pts[keep]
    s = _arclength(pts)
    length = float(s[-1])
    if length <= 0:
        raise MeshQualityError("a centerline segment has zero length")
    n_fine = max(int(np.ceil(length / step_mm)) + 1, 3)
    sf = np.linspace(0.0, length, n_fine)
    fine = np.stack([np.interp(sf, s, pts[:, k]) for k in range(3)], axis=1)
    if sigma_mm > 0 and n_fine > 3:
        h = sf[1] - sf[0]
        sig = sigma_mm / h
        npad = min(int(np.ceil(4 * sig)), n_fine - 1)
        left = 2 * fine[0] - fine[npad:0:-1]
        right = 2 * fine[-1] - fine[-2:-npad - 2:-1]
        ext = np.concatenate([left, fine, right])
        ext = gaussian_filter1d(ext, sig, axis=0, mode="nearest")
        fine = ext[npad:npad + n_fine]
        fine[0], fine[-1] = pts[0], pts[-1]
    s2 = _arclength(fine)
    n_out = max(int(round(s2[-1] / spacing_mm)), 1) + 1
    so = np.linspace(0.0, s2[-1], n_out)
    out = np.stack([np.interp(so, s2, fine[:, k]) for k in range(3)], axis=1)
    out[0], out[-1] = pts[0], pts[-1]
    return out


def _line_fit(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = pts.mean(axis=0)
    _, _, vt = np.linalg.svd(pts - c)
    return c, vt[0]


def _snap_point(lines: list, fallback: np.ndarray, max_shift: float) -> np.ndarray:
    """Least-squares point nearest to all lines ``(c, d)``; clipped to ``max_shift`` of ``fallback``."""
    a = np.zeros((3, 3))
    b = np.zeros(3)
    for c, d in lines:
        m = np.eye(3) - np.outer(d, d)
        a += m
        b += m @ c
    if np.linalg.cond(a) > 1e6:
        return fallback
    x = np.linalg.solve(a, b)
    shift = x - fallback
    n = np.linalg.norm(shift)
    if n > max_shift:
        x = fallback + shift * (max_shift / n)
    return x


# ---------------------------------------------------------------------------------------------- tree
def _tree_branches(g, root_leaf: int) -> list[tuple[list[int], int | None]]:
    """Chains of one tree oriented away from ``root_leaf``: ``[(nodes, parent_index)]`` parents first."""
    chains = _chains(g)
    by_end: dict[int, list[int]] = {}
    for i, c in enumerate(chains):
        by_end.setdefault(c[0], []).append(i)
        by_end.setdefault(c[-1], []).append(i)
    out: list[tuple[list[int], int | None]] = []
    start = by_end[root_leaf][0]
    c0 = chains[start] if chains[start][0] == root_leaf else chains[start][::-1]
    stack = [(c0, None, start)]
    used = {start}
    while stack:
        c, parent, ci = stack.pop(0)
        out.append((c, parent))
        me = len(out) - 1
        for cj in by_end.get(c[-1], []):
            if cj in used:
                continue
            used.add(cj)
            cc = chains[cj] if chains[cj][0] == c[-1] else chains[cj][::-1]
            stack.append((cc, me, cj))
    return out


def build_branches(graphs: dict, mask: LumenMask, opts: CenterlineOptions,
                   ostia: Sequence[Sequence[float]] | None = None) -> tuple[list[Branch], dict]:
    """Pruned skeleton graphs → oriented branches (vessels) with snapped junctions.

    Returns
    -------
    branches : list[Branch]
        Parents before children; ids ``L1, L2, ...`` / ``R1, ...`` with two trees, ``T1_1, ...``
        otherwise.
    info : dict
        ``spurs_pruned``, ``links_contracted``, ``ostium_radius_mm`` per tree, ``ostia`` (how chosen).
    """
    h = float(np.max(mask.spacing_mm))
    info = {"spurs_pruned": 0, "links_contracted": 0, "trees": {}}
    trees = []
    for lab in sorted(graphs):
        g = graphs[lab]
        if g.number_of_nodes() < 2:
            continue
        info["spurs_pruned"] += prune_spurs(g, opts)
        info["links_contracted"] += contract_short_links(g)
        leaves = [n for n in g.nodes if g.degree(n) == 1]
        end_r = {}
        for c in _chains(g):
            for end, cc in ((c[0], c), (c[-1], c[::-1])):
                if g.degree(end) == 1:
                    pts = np.array([g.nodes[n]["xyz"] for n in cc])
                    rr = np.array([g.nodes[n]["r"] for n in cc])
                    end_r[end] = _end_radius(pts, rr)
        trees.append({"label": lab, "graph": g, "leaves": leaves, "end_r": end_r, "root": None, "how": None})
    if not trees:
        raise MeshQualityError(f"{mask.source}: the skeleton is empty")

    # ostia: user-given points (world mm), one per tree at most, else the largest end
    if ostia is not None:
        try:
            ostia = np.asarray(ostia, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidInputError(f"ostia: expected a list of (x, y, z) points in mm, got {ostia!r}") from None
        if ostia.ndim == 1 and ostia.shape == (3,):
            ostia = ostia[None, :]
        if ostia.ndim != 2 or ostia.shape[1] != 3 or not np.isfinite(ostia).all():
            raise InvalidInputError(f"ostia: expected a list of finite (x, y, z) points in mm, got shape "
                                    f"{ostia.shape}")
        if len(ostia) > len(trees):
            raise InvalidInputError(f"ostia: {len(ostia)} ostium points given but the mask has {len(trees)} "
                                    f"tree(s)")
        for q in ostia:
            best = None
            for t in trees:
                for leaf in t["leaves"]:
                    dist = float(np.linalg.norm(t["graph"].nodes[leaf]["xyz"] - q))
                    if best is None or dist < best[0]:
                        best = (dist, t, leaf)
            dist, t, leaf = best
            if t["root"] is not None:
                raise InvalidInputError(f"ostia: two ostium points {t['how']} and {q.tolist()} fall on the same "
                                        f"tree (label {t['label']}); give one per tree")
            if dist > 10.0:
                log.warning("ostium %s is %.1f mm from the nearest vessel end", q.tolist(), dist)
            t["root"], t["how"] = leaf, q.tolist()
    for t in trees:
        if t["root"] is None:
            t["root"] = max(t["leaves"], key=lambda n: t["end_r"][n])
            t["how"] = "largest end"
        t["ostium_r"] = t["end_r"][t["root"]]
        t["oriented"] = _tree_branches(t["graph"], t["root"])

    # sides and id prefixes
    if len(trees) == 2:
        for t in trees:   # the side rule compares ostia: measure them by voxel count, not the quantised DT
            g = t["graph"]
            chain = t["oriented"][0][0]
            t["ostium_r"] = _slab_radius(mask, t["label"], np.array([g.nodes[n]["xyz"] for n in chain]),
                                         np.array([g.nodes[n]["r"] for n in chain]))
        big, small = sorted(trees, key=lambda t: -t["ostium_r"])
        big["side"], small["side"] = "left", "right"
        big["prefix"], small["prefix"] = "LCA_", "RCA_"     # not "L1": lesions are numbered L1, L2, ...
        trees = [big, small]
    else:
        for k, t in enumerate(trees):
            t["side"] = None
            t["prefix"] = f"T{k + 1}_"

    branches: list[Branch] = []
    for k, t in enumerate(trees):
        g = t["graph"]
        oriented = t["oriented"]
        local: list[Branch] = []
        for n, (nodes, parent) in enumerate(oriented):
            pts = np.array([g.nodes[x]["xyz"] for x in nodes])
            rr = np.array([g.nodes[x]["r"] for x in nodes])
            b = Branch(f"{t['prefix']}{n + 1}", None if parent is None else local[parent].id, pts, rr, tree=k,
                       side=t["side"] if parent is None else None)
            if parent is not None:
                local[parent].children.append(n)
            local.append(b)
        if opts.junction_snap:
            _snap_junctions(local, h)
        if opts.trim_ends:
            _trim_ends(local, h)
        info["trees"][t["prefix"].rstrip("_")] = {"label": int(t["label"]), "side": t["side"],
                                                  "ostium": t["how"], "ostium_radius_mm": t["ostium_r"],
                                                  "vessels": len(local)}
        branches.extend(local)
    return branches, info


def _cut_from_start(pts: np.ndarray, r: np.ndarray, dist: float) -> tuple[np.ndarray, np.ndarray]:
    """Drop points within arclength ``dist`` of the start (the start point itself is dropped too)."""
    s = _arclength(pts)
    keep = s > dist
    if keep.sum() < 1:
        keep[-1] = True
    return pts[keep], r[keep]


def _snap_junctions(local: list[Branch], h: float) -> None:
    """Move each junction to the least-squares intersection of its branch axes (in place)."""
    for pi, parent in enumerate(local):
        if not parent.children:
            continue
        j = parent.points_mm[-1].copy()
        rj = float(parent.dt_radius_mm[-1])
        a = max(rj, 2 * h)
        b = a + max(2.0, 1.5 * rj)
        lines = []
        members = [(parent, True)] + [(local[c], False) for c in parent.children]
        for br, at_end in members:
            pts = br.points_mm[::-1] if at_end else br.points_mm
            s = _arclength(pts)
            sel = (s >= a) & (s <= b)
            if sel.sum() >= 3:
                lines.append(_line_fit(pts[sel]))
        if len(lines) < 2:
            continue
        x = _snap_point(lines, j, max_shift=rj)
        # re-route every member: drop the wandering part within `a` of the junction, start at x
        for br, at_end in members:
            pts, rr = (br.points_mm[::-1], br.dt_radius_mm[::-1]) if at_end else (br.points_mm, br.dt_radius_mm)
            s = _arclength(pts)
            cut = min(0.8 * a, 0.5 * s[-1])
            p2, r2 = _cut_from_start(pts, rr, cut)
            p2 = np.concatenate([[x], p2])
            r2 = np.concatenate([[rj], r2])
            if at_end:
                br.points_mm, br.dt_radius_mm = p2[::-1].copy(), r2[::-1].copy()
            else:
                br.points_mm, br.dt_radius_mm = p2, r2


def _trim_ends(local: list[Branch], h: float) -> None:
    """Trim the ostium end of the root and the outlet ends by the local radius (in place)."""
    def trim(pts, rr):
        r_end = _end_radius(pts, rr)
        s = _arclength(pts)
        cut = min(max(r_end - 0.5 * h, 0.0), 0.4 * s[-1])
        if cut <= 0:
            return pts, rr
        keep = s >= cut
        p_cut = np.array([np.interp(cut, s, pts[:, k]) for k in range(3)])
        r_cut = float(np.interp(cut, s, rr))
        pts2, rr2 = pts[keep], rr[keep]
        if np.linalg.norm(pts2[0] - p_cut) > 1e-9:
            pts2 = np.concatenate([[p_cut], pts2])
            rr2 = np.concatenate([[r_cut], rr2])
        return pts2, rr2

    for br in local:
        if br.parent is None:
            br.points_mm, br.dt_radius_mm = trim(br.points_mm, br.dt_radius_mm)
        if not br.children:
            p, r = trim(br.points_mm[::-1], br.dt_radius_mm[::-1])
            br.points_mm, br.dt_radius_mm = p[::-1].copy(), r[::-1].copy()


def finalize_branches(branches: list[Branch], opts: CenterlineOptions, h: float) -> None:
    """Smooth and resample every branch in place; children start exactly at their parent's end."""
    sigma = opts.smooth_mm if opts.smooth_mm is not None else max(0.8, 2.0 * h)
    by_id = {b.id: b for b in branches}
    for b in branches:
        pts0 = b.points_mm
        if b.parent is not None:
            pts0 = pts0.copy()
            pts0[0] = by_id[b.parent].points_mm[-1]
        s0 = _arclength(pts0)
        new = smooth_resample(pts0, sigma, opts.spacing_out_mm)
        s_new = _arclength(new)
        frac = s_new / s_new[-1]
        b.dt_radius_mm = np.interp(frac * s0[-1], s0, b.dt_radius_mm)
        b.points_mm = new


def recentre(branches: list[Branch], centroids: dict, opts: CenterlineOptions, h: float) -> int:
    """Move centerline points to the centroids of their cross-sections, then re-snap and re-smooth.

    The skeleton lives on voxel centres (up to half a voxel off the true axis); the centroid of the
    smoothed surface's cross-section is sub-voxel accurate. Junction points are not moved directly:
    they are re-snapped from the re-centred branch axes. Returns the number of points moved.
    """
    moved = 0
    for b in branches:
        c = centroids[b.id]
        ok = np.isfinite(c).all(axis=1)
        if b.parent is not None:
            ok[0] = False
        if b.children:
            ok[-1] = False
        shift = np.linalg.norm(np.where(ok[:, None], c - b.points_mm, 0.0), axis=1)
        ok &= shift <= 0.5 * np.maximum(b.dt_radius_mm, h)
        pts = b.points_mm.copy()
        pts[ok] = c[ok]
        moved += int(ok.sum())
        b.points_mm = pts
    if opts.junction_snap:
        for tree in sorted({b.tree for b in branches}):
            _snap_junctions([b for b in branches if b.tree == tree], h)   # children index within a tree
    finalize_branches(branches, opts, h)
    return moved


def check_tubular(graphs: dict, mask: LumenMask) -> None:
    """Raise :class:`InvalidInputError` when no tree of the mask is tube-like.

    A tube of radius r and length L has a skeleton of length about L and volume π r² L; a blob
    (sphere, cube) has a skeleton shorter than a few radii and a volume of the order of π r³.
    """
    best = 0.0
    for lab, g in graphs.items():
        if g.number_of_nodes() < 2:
            continue
        length = sum(d["length"] for _, _, d in g.edges(data=True))
        rmax = max(d["r"] for _, d in g.nodes(data=True))
        comp = next((c for c in mask.components if c["label"] == lab), None)
        vol = comp["volume_mm3"] if comp else 0.0
        elong = min(length / max(rmax, 1e-9), vol / (np.pi * rmax ** 3))
        best = max(best, elong)
    if best < 4.0:
        raise InvalidInputError(f"{mask.source}: no tubular structure: the mask's skeleton is shorter than a few "
                                f"radii of its widest part (elongation {best:.2f} < 4); is this a vessel lumen?")


def extract_centerlines(mask: LumenMask, surface=None, *, ostia=None, opts: CenterlineOptions | None = None,
                        timings: dict | None = None) -> tuple[VesselNetwork, dict]:
    """Lumen mask (+ its surface) → centerline :class:`~ffrflow.network.VesselNetwork` in world mm.

    Parameters
    ----------
    mask : LumenMask
    surface : vtkPolyData, optional
        The closed lumen surface (world mm); the radius comes from its cross-sections. Without it the
        distance-transform radius is used (not recommended: it reads lesions too mild).
    ostia : sequence of (x, y, z), optional
        Ostium points in world mm, at most one per tree.
    opts : CenterlineOptions, optional

    Returns
    -------
    network : VesselNetwork
    info : dict
        Skeleton and radius statistics.

    Raises
    ------
    InvalidInputError
        No tubular structure, or ostia that do not match the trees.
    MeshQualityError
        An empty skeleton.
    """
    from .radius import section_radii

    opts = opts or CenterlineOptions()
    timings = timings if timings is not None else {}
    h = float(np.max(mask.spacing_mm))
    t0 = time.perf_counter()
    graphs = skeletonize(mask, opts)
    timings["skeleton"] = time.perf_counter() - t0
    check_tubular(graphs, mask)
    t0 = time.perf_counter()
    branches, info = build_branches(graphs, mask, opts, ostia)
    finalize_branches(branches, opts, h)
    timings["graph"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if surface is not None:
        from .radius import SurfaceCutter

        cutter = SurfaceCutter(surface)
        if opts.recentre:
            _, _, cents = section_radii(cutter, {b.id: b.points_mm for b in branches},
                                        {b.id: b.dt_radius_mm for b in branches})
            info["recentred_points"] = recentre(branches, cents, opts, h)
        radii, rstats, _ = section_radii(cutter, {b.id: b.points_mm for b in branches},
                                         {b.id: b.dt_radius_mm for b in branches})
    else:
        dt = {b.id: b.dt_radius_mm for b in branches}
        log.warning("%s: no surface given; using the distance-transform radius (reads lesions too mild)",
                    mask.source)
        radii, rstats = dt, {"points": int(sum(len(v) for v in dt.values())), "cut_ok": 0,
                             "dt_fallback": int(sum(len(v) for v in dt.values()))}
    timings["radius"] = time.perf_counter() - t0
    info["radius"] = rstats
    vessels = []
    for b in branches:
        r = np.maximum(np.asarray(radii[b.id], dtype=np.float64), 0.05)
        d = {"id": b.id, "parent": b.parent, "points": b.points_mm.tolist(), "radius": r.tolist()}
        if b.side is not None:
            d["side"] = b.side
        vessels.append(d)
    net = VesselNetwork.from_dict({"format": "ffrflow-network/1", "units": "mm", "vessels": vessels},
                                  source=mask.source)
    net.meta.update({"produced_by": "ffrflow.meshing", "source": mask.source})
    return net, info
