"""Centerlines from VTK files (VMTK ``.vtp``, legacy ``.vtk`` polylines) → :class:`~ffrflow.network.VesselNetwork`.

Three layouts are recognised (``mode="auto"``):

``branches``
    VMTK centerlines split by ``vmtkbranchextractor``: cell arrays ``CenterlineIds``, ``TractIds``,
    ``GroupIds`` and ``Blanking``. Every non-blanked group becomes a vessel (its geometry from the
    centerline with the lowest id through it); its parent is the previous non-blanked group along the
    centerlines; the blanked (bifurcation) tract in between is kept at the start of the child, which
    starts at its parent's last point.
``overlap``
    Raw ``vmtkcenterlines`` output (cell array ``CenterlineIds`` without ``GroupIds``): one line from
    the inlet to every outlet, overlapping along shared trunks. Lines are merged where they stay within
    the local radius of each other (VMTK's own criterion, the maximum inscribed sphere) and split where
    they leave it.
``graph``
    Any other set of polylines (e.g. one polyline per vessel segment sharing end points, like the
    BlueFern centrelines): points that coincide (within ``merge_tol_mm``) are merged, the graph must be
    a forest, each tree is rooted at the end point with the largest radius (or the one nearest
    ``root_point_mm``) and cut into vessels at branch points.

The radius comes from a point array: ``radius_array`` or the first of
:data:`ffrflow.vtkio.RADIUS_ARRAY_NAMES` (``MaximumInscribedSphereRadius``, ``radius_mm``, ``radius``,
``radii``, ``r``; case-insensitive). Coordinates and radius are in
``units`` (``"mm"``, ``"cm"`` or ``"m"``; VTK files do not say), inferred from the radii when not given
(:func:`ffrflow.plausibility.resolve_units`; ``meta["units"]`` says which and why), and converted
to mm. Errors name the file and what does not fit: no polyline, no radius array (the arrays present
are listed), radius ≤ 0 or NaN (with the point index), a radius that does not fit the coordinates
(inconsistent units), a unit that cannot be told, centerlines that form a loop.

Examples
--------
>>> import numpy as np, tempfile, os
>>> from ffrflow.vtkio import write_polylines
>>> d = tempfile.mkdtemp()
>>> a = np.array([[0, 0, 0], [0, 0, 10.0]])
>>> b, c = np.array([[0, 0, 10.0], [5, 0, 20]]), np.array([[0, 0, 10.0], [-5, 0, 20]])
>>> p = write_polylines(os.path.join(d, "t.vtp"), [a, b, c], {"Radius": [[2, 1.8], [1.5, 1.4], [1.2, 1.1]]})
>>> net = read_centerlines(p)
>>> net.roots, sorted(len(net.children(v)) for v in net.vessels)
(['V0'], [0, 0, 2])
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InvalidInputError
from ..network import VesselNetwork
from ..vtkio import RADIUS_ARRAY_NAMES, read_centerline_file, read_polydata

log = logging.getLogger("ffrflow")

__all__ = ["read_centerlines", "has_vmtk_arrays", "RADIUS_ARRAYS", "centerlines_to_network"]

#: The radius-array names, one list for every centerline reader (kept under its former name).
RADIUS_ARRAYS = RADIUS_ARRAY_NAMES
VMTK_BRANCH_ARRAYS = ("CenterlineIds", "TractIds", "GroupIds", "Blanking")


def read_centerlines(path: str | Path, radius_array: str | None = None, units: str | None = None, mode: str = "auto",
                     root_point_mm: Sequence[float] | None = None, merge_tol_mm: float | None = None):
    """Read centerlines with a radius array into a network (mm).

    Parameters
    ----------
    path : path
        ``.vtp`` (XML PolyData) or ``.vtk`` (legacy POLYDATA) with polylines.
    radius_array : str, optional
        Name of the point array holding the lumen radius (default: see :data:`RADIUS_ARRAYS`).
    units : {"mm", "cm", "m"} or None
        Length unit of the coordinates and of the radius; None (default) infers it from the radii.
    mode : {"auto", "branches", "overlap", "graph"}
        Layout of the lines (module docstring).
    root_point_mm : (3,) optional
        Inlet position (mm, after unit conversion); the nearest end point of each tree becomes its root.
    merge_tol_mm : float, optional
        Distance below which points are the same node (graph mode; default 1e-6 × the bounding box).

    Returns
    -------
    VesselNetwork
        ``meta`` records the source, the layout used, the radius array and the unit (``meta["units"]``).
    """
    from vtkmodules.util import numpy_support as ns

    cl = read_centerline_file(path, radius_array, units)
    path, pd, P, radius, lines, used = cl.path, cl.polydata, cl.points_mm, cl.radius_mm, cl.lines, cl.used
    rname, decision = cl.radius_array, cl.units
    cdata = pd.GetCellData()
    cell_arrays = {}
    for nm in VMTK_BRANCH_ARRAYS:
        a = cdata.GetArray(nm)
        if a is not None:
            cell_arrays[nm] = ns.vtk_to_numpy(a).astype(np.int64).reshape(-1)
    if mode == "auto":
        if all(k in cell_arrays for k in VMTK_BRANCH_ARRAYS):
            mode = "branches"
        elif "CenterlineIds" in cell_arrays and "GroupIds" not in cell_arrays:
            mode = "overlap"
        else:
            mode = "graph"
    if mode not in ("branches", "overlap", "graph"):
        raise InvalidInputError(f"mode: expected 'auto', 'branches', 'overlap' or 'graph', got {mode!r}")
    diag = float(np.linalg.norm(P[used].max(axis=0) - P[used].min(axis=0)))
    tol = merge_tol_mm if merge_tol_mm is not None else max(1e-6 * diag, 1e-9)
    if mode == "branches":
        missing = [k for k in VMTK_BRANCH_ARRAYS if k not in cell_arrays]
        if missing:
            raise InvalidInputError(f"{path}: mode 'branches' needs the VMTK cell arrays {missing}")
        vessels = _branches(path, P, radius, lines, cell_arrays)
    elif mode == "overlap":
        polys = [(P[ids], radius[ids]) for _, ids in lines]
        vessels = _overlap(path, polys, tol, root_point_mm)
    else:
        vessels = _graph(path, P, radius, lines, tol, root_point_mm)
    net = centerlines_to_network(vessels, source=str(path))
    net.meta.update({"source": str(path), "format": "vtk-centerlines", "layout": mode, "radius_array": rname,
                     "units": decision})
    return net


def has_vmtk_arrays(path: str | Path) -> bool:
    """Whether a ``.vtp``/``.vtk`` file carries VMTK's ``CenterlineIds`` cell array (raw or branch-split
    centerlines), which :func:`read_centerlines` merges or splits as VMTK laid them out."""
    try:
        pd = read_polydata(path)
    except InvalidInputError:
        return False
    return pd.GetCellData().GetArray("CenterlineIds") is not None


def _dedupe(pts, rad, tol=1e-9):
    keep = [0]
    for i in range(1, len(pts)):
        if np.linalg.norm(pts[i] - pts[keep[-1]]) > tol:
            keep.append(i)
    return pts[keep], rad[keep]


def centerlines_to_network(vessels: list[dict], source: str | None = None):
    """Validated network from ``[{"id", "parent", "points" (n,3) mm, "radius" (n,) mm}]`` (points deduplicated)."""
    out = []
    for v in vessels:
        pts, rad = _dedupe(np.asarray(v["points"], float), np.asarray(v["radius"], float))
        if len(pts) < 2:
            continue
        out.append({"id": v["id"], "parent": v["parent"], "points": pts.tolist(), "radius": rad.tolist(),
                    **({"name": v["name"]} if v.get("name") else {})})
    kept = {v["id"] for v in out}
    for v in out:  # a parent dropped for being a single point: attach to its parent
        while v["parent"] is not None and v["parent"] not in kept:
            par = next((w for w in vessels if w["id"] == v["parent"]), None)
            v["parent"] = par["parent"] if par else None
    return VesselNetwork.from_dict({"format": "ffrflow-network/1", "units": "mm", "vessels": out}, source=source)


def _graph(path, P, radius, lines, tol, root_point_mm):
    """Polylines sharing end points → forest of vessels."""
    from scipy.spatial import cKDTree

    ids_all = np.unique(np.concatenate([ids for _, ids in lines]))
    # merge coincident points (shared ids are the same node already)
    tree = cKDTree(P[ids_all])
    pairs = tree.query_pairs(tol, output_type="ndarray")
    parent_uf = np.arange(ids_all.size)

    def find(a):
        while parent_uf[a] != a:
            parent_uf[a] = parent_uf[parent_uf[a]]
            a = parent_uf[a]
        return a

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent_uf[max(ra, rb)] = min(ra, rb)
    node_of = {int(pid): int(find(k)) for k, pid in enumerate(ids_all)}
    rep = {}
    for k, pid in enumerate(ids_all):
        rep.setdefault(node_of[int(pid)], int(pid))
    adj: dict[int, set[int]] = {}
    for _, ids in lines:
        nd = [node_of[int(i)] for i in ids]
        for a, b in zip(nd[:-1], nd[1:]):
            if a == b:
                continue
            adj.setdefault(a, set()).add(b)
            adj.setdefault(b, set()).add(a)
    nodes = list(adj)
    n_edges = sum(len(s) for s in adj.values()) // 2
    # components
    comp = {}
    for s in nodes:
        if s in comp:
            continue
        stack = [s]
        comp[s] = s
        while stack:
            u = stack.pop()
            for w in adj[u]:
                if w not in comp:
                    comp[w] = s
                    stack.append(w)
    n_comp = len(set(comp.values()))
    if n_edges != len(nodes) - n_comp:
        raise InvalidInputError(f"{path}: the centerlines form a loop ({n_edges} edges between {len(nodes)} points in "
                                f"{n_comp} trees); a network must be a forest (overlapping VMTK centerlines? try "
                                f"mode='overlap')")
    vessels: list[dict] = []
    for c in sorted(set(comp.values())):
        members = [u for u in nodes if comp[u] == c]
        ends = [u for u in members if len(adj[u]) == 1]
        if not ends:
            continue
        if root_point_mm is not None:
            q = np.asarray(root_point_mm, float)
            root = min(ends, key=lambda u: np.linalg.norm(P[rep[u]] - q))
        else:
            root = max(ends, key=lambda u: (radius[rep[u]], -u))
        # walk: vessels between nodes of degree != 2
        stack = [(root, None, None)]  # (start node, previous node, parent vessel id)
        seen_edges = set()
        while stack:
            start, prev, parent = stack.pop()
            for nxt in sorted(adj[start]):
                if nxt == prev or (start, nxt) in seen_edges:
                    continue
                path_nodes = [start, nxt]
                seen_edges.add((start, nxt))
                seen_edges.add((nxt, start))
                while len(adj[path_nodes[-1]]) == 2:
                    a, b = path_nodes[-2], path_nodes[-1]
                    (w,) = [x for x in adj[b] if x != a]
                    path_nodes.append(w)
                    seen_edges.add((b, w))
                    seen_edges.add((w, b))
                vid = f"V{len(vessels)}"
                pts = np.array([P[rep[u]] for u in path_nodes])
                rr = np.array([radius[rep[u]] for u in path_nodes])
                vessels.append({"id": vid, "parent": parent, "points": pts, "radius": rr})
                end = path_nodes[-1]
                if len(adj[end]) > 2:
                    stack.append((end, path_nodes[-2], vid))
    return vessels


def _overlap(path, polys, tol, root_point_mm):
    """Overlapping centerlines (one per outlet, from a common inlet) → tree of vessels."""
    from scipy.spatial import cKDTree

    # orient every line from the common inlet: the end nearest the other lines' ends
    ends = np.array([[p[0], p[-1]] for p, _ in polys])  # (n, 2, 3)
    if root_point_mm is not None:
        q = np.asarray(root_point_mm, float)
    else:
        allends = ends.reshape(-1, 3)
        d = np.linalg.norm(allends[:, None, :] - allends[None, :, :], axis=2)
        q = allends[np.argmin(np.sort(d, axis=1)[:, : max(2, len(polys))].sum(axis=1))]
    oriented = []
    for (p, r) in polys:
        if np.linalg.norm(p[-1] - q) < np.linalg.norm(p[0] - q):
            p, r = p[::-1], r[::-1]
        oriented.append((p, r))
    oriented.sort(key=lambda pr: -float(np.sum(np.linalg.norm(np.diff(pr[0], axis=0), axis=1))))
    # branches: points, radius, parent index; children always hang from their parent's last point
    br: list[dict] = [{"p": oriented[0][0], "r": oriented[0][1], "parent": None}]
    for p, r in oriented[1:]:
        allp = np.concatenate([b["p"] for b in br])
        owner = np.concatenate([np.full(len(b["p"]), i) for i, b in enumerate(br)])
        local = np.concatenate([np.arange(len(b["p"])) for b in br])
        dist, nn = cKDTree(allp).query(p)
        inside = dist <= np.maximum(r, tol)
        if inside.all():
            continue  # a duplicate of existing branches
        k = int(np.argmax(~inside))
        if k == 0:
            raise InvalidInputError(f"{path}: a centerline does not start at the common inlet (first point "
                                    f"{p[0].round(3).tolist()} mm is {dist[0]:.3g} mm from the others)")
        bi, li = int(owner[nn[k - 1]]), int(local[nn[k - 1]])
        b = br[bi]
        if 0 < li < len(b["p"]) - 1:  # split branch bi at li; its children move to the tail
            tail = {"p": b["p"][li:], "r": b["r"][li:], "parent": bi}
            for c in br:
                if c["parent"] == bi:
                    c["parent"] = len(br)
            b["p"], b["r"] = b["p"][: li + 1], b["r"][: li + 1]
            br.append(tail)
            attach = bi
        elif li == 0:
            attach = b["parent"]
        else:
            attach = bi
        if attach is None:  # diverges at the inlet point itself: a separate tree from the same inlet
            br.append({"p": p, "r": r, "parent": None})
            continue
        ap = br[attach]["p"][-1]
        br.append({"p": np.concatenate([ap[None, :], p[k:]]), "r": np.concatenate([[br[attach]["r"][-1]], r[k:]]),
                   "parent": attach})
    # a branch whose parent kept only its first part: fix parents that pointed at split branches
    vessels = []
    for i, b in enumerate(br):
        vessels.append({"id": f"V{i}", "parent": None if b["parent"] is None else f"V{b['parent']}",
                        "points": b["p"], "radius": b["r"]})
    # children must start at their parent's last point
    byid = {v["id"]: v for v in vessels}
    for v in vessels:
        if v["parent"] is not None:
            v["points"] = np.concatenate([byid[v["parent"]]["points"][-1:], v["points"][1:]])
    return vessels


def _branches(path, P, radius, lines, ca):
    """VMTK branch-split centerlines (GroupIds/TractIds/Blanking) → vessels."""
    cells = {}
    for c, ids in lines:
        cells[c] = ids
    rows = []
    for c, ids in lines:
        rows.append((int(ca["CenterlineIds"][c]), int(ca["TractIds"][c]), int(ca["GroupIds"][c]),
                     int(ca["Blanking"][c]), c))
    by_cl: dict[int, list] = {}
    for r in rows:
        by_cl.setdefault(r[0], []).append(r)
    parent_of: dict[int, int | None] = {}
    rep: dict[int, tuple[int, int]] = {}  # group -> (centerline, cell)
    blank_before: dict[tuple[int, int], int] = {}  # (centerline, group) -> blanked cell before it
    for cl in sorted(by_cl):
        tracts = sorted(by_cl[cl], key=lambda r: r[1])
        prev_group = None
        prev_blank = None
        for (_, _, g, blank, c) in tracts:
            if blank:
                prev_blank = c
                continue
            if g in parent_of and parent_of[g] != prev_group:
                raise InvalidInputError(f"{path}: group {g} follows group {parent_of[g]} on one centerline and group "
                                        f"{prev_group} on centerline {cl}: inconsistent TractIds/GroupIds")
            parent_of[g] = prev_group
            rep.setdefault(g, (cl, c))
            if prev_blank is not None:
                blank_before.setdefault((cl, g), prev_blank)
            prev_group = g
            prev_blank = None
    vessels = []
    for g in sorted(parent_of, key=lambda g: (_depth(g, parent_of), g)):
        cl, c = rep[g]
        ids = cells[c]
        pts, rr = P[ids], radius[ids]
        par = parent_of[g]
        if par is not None:
            pre = blank_before.get((cl, g))
            if pre is not None:
                pids = cells[pre]
                pts = np.concatenate([P[pids], pts])
                rr = np.concatenate([radius[pids], rr])
        vessels.append({"id": f"G{g}", "parent": None if par is None else f"G{par}", "points": pts, "radius": rr})
    byid = {v["id"]: v for v in vessels}
    for v in vessels:
        if v["parent"] is not None:
            pe = byid[v["parent"]]["points"][-1]
            v["points"] = np.concatenate([pe[None, :], v["points"]])
            v["radius"] = np.concatenate([[byid[v["parent"]]["radius"][-1]], v["radius"]])
    return vessels


def _depth(g, parent_of):
    d = 0
    while parent_of.get(g) is not None:
        g = parent_of[g]
        d += 1
        if d > 10_000:
            raise InvalidInputError("centerline groups form a loop")
    return d
