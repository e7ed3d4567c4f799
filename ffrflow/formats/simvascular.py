"""SimVascular projects (``Paths/*.pth`` + ``Segmentations/*.ctgr``) → :class:`~ffrflow.network.VesselNetwork`.

A SimVascular path (``.pth``, XML) is a spline through control points, sampled as ``path_points``
(position, tangent, rotation); a contour group (``.ctgr``, XML, ``path_name`` names its path) holds
the lumen contours drawn in planes normal to the path at some of those path points. ffrflow takes:

- the centerline of each vessel from the path points (timestep 0);
- the radius at each contour as the **area-equivalent radius** √(A/π) of the contour polygon (A by the
  3D shoelace formula on its plane), placed at the contour's path point, **interpolated linearly in
  arclength** between contours and held constant before the first and after the last one;
- the tree from where paths begin: a path whose first point lies within ``attach_factor`` × the local
  radius of another path hangs from the nearest point of that path (which is cut there into two
  vessels); a path that starts away from every other one is a root (left and right coronary trees are
  two roots).

Vessel ids are the path names (``LAD``, ``LAD_1`` for the part after the first branch point, ...).

Projects as people keep them:

- **Unit.** SimVascular files do not carry their unit: models segmented on CT images in mm are the
  common case, Vascular Model Repository models are in cm. The unit is ``units`` when given, else
  inferred from the contour radii (:func:`ffrflow.plausibility.resolve_units`: the unit in which
  their median is a coronary lumen radius); a project whose unit cannot be told is refused.
  ``meta["units"]`` says which unit was used and why.
- **Renamed paths.** A contour group names its path (``path_name``, ``path_id``) as it was when the
  group was made. A path renamed later keeps its id, and its ``.pth`` file takes the new name; a
  group whose ``path_name`` names no path is matched by ``path_id`` and file name, with a warning.
- **Several contour groups for one path** (``RCA.ctgr`` and a virtually repaired ``RCA_healthy.ctgr``):
  the group named like the path is used and the others are listed as skipped (a warning);
  ``contour_groups`` picks another.

Warnings are logged and kept in ``meta["warnings"]`` (``summary.json`` lists them). Errors name the
file and what does not fit: no ``Paths`` folder or no ``.pth`` file, a path without segmentations
(or a contour group that matches no path, or two paths), a contour with fewer than three points or
zero area, paths that attach to each other in a loop, several contour groups for a path and none
named like it, a unit that cannot be told or a given unit that makes the radii implausible.
"""

from __future__ import annotations

import logging
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from ..errors import InvalidInputError
from ..plausibility import UNITS_TO_MM, resolve_units
from .vtkcenterlines import centerlines_to_network

log = logging.getLogger("ffrflow")

__all__ = ["read_simvascular", "read_pth", "read_ctgr", "contour_radius"]


def _xml(path: Path):
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot read ({exc})") from None
    text = re.sub(r"<\?xml[^>]*\?>", "", text)
    try:
        return ET.fromstring("<sv_root>" + text + "</sv_root>")
    except ET.ParseError as exc:
        raise InvalidInputError(f"{path}: not valid SimVascular XML ({exc}); truncated file?") from None


def _element_and_timestep(path: Path, tag: str):
    """The file's ``<tag>`` element (``path``, ``contourgroup``) and its first ``<timestep>``."""
    el = _xml(path).find(tag)
    if el is None:
        raise InvalidInputError(f"{path}: no <{tag}> element")
    ts = el.find("timestep")
    if ts is None:
        raise InvalidInputError(f"{path}: <{tag}> has no <timestep>")
    return el, ts


def _xyz(el, path, what) -> list[float]:
    try:
        return [float(el.attrib[c]) for c in "xyz"]
    except (KeyError, ValueError):
        raise InvalidInputError(f"{path}: {what}: expected x, y, z attributes, got {el.attrib}") from None


def read_pth(path: str | Path) -> dict:
    """A SimVascular path file: ``{"name", "id", "points" (n, 3)}`` (the path points of timestep 0, in the
    project's unit; ``name`` is the file name, as SimVascular names a path, ``id`` the ``<path id>``)."""
    path = Path(path)
    p, ts = _element_and_timestep(path, "path")
    pts = []
    for k, pp in enumerate(ts.iter("path_point")):
        pos = pp.find("pos")
        if pos is None:
            raise InvalidInputError(f"{path}: path_point {k} has no <pos>")
        pts.append(_xyz(pos, path, f"path_point {k} pos"))
    if len(pts) < 2:
        raise InvalidInputError(f"{path}: the path has {len(pts)} path points; at least 2 are needed")
    pid = p.attrib.get("id")
    return {"name": path.stem, "id": pid.strip() if pid else None, "points": np.array(pts, dtype=np.float64)}


def contour_radius(points: np.ndarray) -> float:
    """Area-equivalent radius √(A/π) of a closed planar polygon in 3D (shoelace / Newell area)."""
    p = np.asarray(points, dtype=np.float64)
    c = p.mean(axis=0)
    q = p - c
    area = 0.5 * float(np.linalg.norm(np.cross(q, np.roll(q, -1, axis=0)).sum(axis=0)))
    return math.sqrt(area / math.pi)


def read_ctgr(path: str | Path) -> dict:
    """A SimVascular contour group: ``{"path_name", "path_id", "contours": [{"pos", "path_point", "radius"}]}``
    (positions and area-equivalent radii in the project's unit; ``path_name``/``path_id`` name the path
    as it was when the group was made)."""
    path = Path(path)
    g, ts = _element_and_timestep(path, "contourgroup")
    name = g.attrib.get("path_name") or path.stem
    contours = []
    for k, c in enumerate(ts.iter("contour")):
        pp = c.find("path_point")
        if pp is None or pp.find("pos") is None:
            raise InvalidInputError(f"{path}: contour {k} has no <path_point><pos>")
        pos = _xyz(pp.find("pos"), path, f"contour {k} path_point pos")
        cps = c.find("contour_points")
        pts = [] if cps is None else [_xyz(pt, path, f"contour {k} point") for pt in cps.iter("point")]
        if len(pts) < 3:
            raise InvalidInputError(f"{path}: contour {k} (id {c.attrib.get('id')}) has {len(pts)} contour points; at "
                                    f"least 3 are needed")
        r = contour_radius(np.array(pts))
        if not r > 0:
            raise InvalidInputError(f"{path}: contour {k} (id {c.attrib.get('id')}) has zero area")
        contours.append({"pos": np.array(pos), "path_point": int(pp.attrib.get("id", -1)), "radius": r})
    pid = g.attrib.get("path_id")
    return {"path_name": name, "path_id": pid.strip() if pid else None, "contours": contours}


def _arclength(p: np.ndarray) -> np.ndarray:
    s = np.zeros(len(p))
    s[1:] = np.cumsum(np.linalg.norm(np.diff(p, axis=0), axis=1))
    return s


def _project(p: np.ndarray, s: np.ndarray, q: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Nearest point of polyline ``p`` (arclength ``s``) to ``q``: (distance, arclength, point)."""
    a = p[:-1]
    d = p[1:] - a
    dd = np.einsum("ij,ij->i", d, d)
    t = np.clip(np.einsum("ij,ij->i", q - a, d) / np.where(dd > 0, dd, 1.0), 0.0, 1.0)
    x = a + t[:, None] * d
    dist = np.linalg.norm(x - q, axis=1)
    k = int(np.argmin(dist))
    return float(dist[k]), float(s[k] + t[k] * (s[k + 1] - s[k])), x[k]


def _match_path(g: dict, f: Path, paths: dict, ids: dict) -> tuple[str, str, str | None]:
    """The path a contour group belongs to: ``(path name, how, warning or None)``.

    SimVascular writes the path's name (``path_name``) and id (``path_id``) into a contour group
    when it is created, and names the group's file after the path by default. A path renamed later
    keeps its id and its file takes the new name, so a group whose ``path_name`` no longer names a
    path (or names another one than its ``path_id`` and file name both point to) is matched by
    ``path_id`` and file name instead, with a warning. ``path_id`` counts only when it is unique
    among the paths.
    """
    name, stem = g["path_name"], f.stem
    by_id = ids[g["path_id"]][0] if g["path_id"] is not None and len(ids.get(g["path_id"], ())) == 1 else None
    by_file = stem if stem in paths else None
    if name in paths and not (by_id is not None and by_id == by_file and by_id != name):
        return name, "path_name", None
    if by_id is not None and by_file is not None and by_id != by_file:
        raise InvalidInputError(f"{f}: contour group for path {name!r} (path_name), which is not a path of the "
                                f"project; its path_id {g['path_id']} is path {by_id!r} but its file name is path "
                                f"{by_file!r}: cannot tell which path it belongs to")
    target = by_id or by_file
    if target is None:
        raise InvalidInputError(f"{f}: contour group for path {name!r}, but there is no such path (paths: "
                                f"{sorted(paths)}), and neither its path_id {g['path_id']} nor its file name "
                                f"identifies one")
    how = ("path_id and file name" if by_id is not None and by_file is not None
           else "path_id" if by_id is not None else "file name")
    said = f"names path {name!r}, which is not a path of the project" if name not in paths else \
        f"names path {name!r} (path_name)"
    warning = (f"{f}: the contour group {said}; matched to path {target!r} ({paths[target]['file'].name}) by its "
               f"{how} (a path renamed after segmenting)")
    return target, how, warning


def _choose_groups(cands: dict[str, list[dict]], contour_groups, sdir: Path) -> tuple[dict, list[str]]:
    """One contour group per path: the one named like the path, or the one picked by ``contour_groups``."""
    every = {g["file"].stem: g for gs in cands.values() for g in gs}
    picked: dict[str, dict] = {}
    for name in [contour_groups] if isinstance(contour_groups, (str, Path)) else contour_groups or ():
        stem = Path(str(name)).name
        stem = stem[:-5] if stem.endswith(".ctgr") else stem
        if stem not in every:
            raise InvalidInputError(f"contour group {name!r} (--contour-group): no such contour group in {sdir} "
                                    f"(groups: {sorted(every)})")
        g = every[stem]
        if g["path"] in picked and picked[g["path"]] is not g:
            raise InvalidInputError(f"--contour-group: {picked[g['path']]['file'].stem!r} and {stem!r} are both "
                                    f"contour groups of path {g['path']!r}; pick one")
        picked[g["path"]] = g
    chosen, warnings = {}, []
    for path, gs in cands.items():
        if path in picked:
            g, why = picked[path], "picked by --contour-group"
        else:
            named = [g for g in gs if g["file"].stem == path]
            if len(gs) == 1:
                g, why = gs[0], None
            elif len(named) == 1:
                g, why = named[0], "named like the path"
            else:
                raise InvalidInputError(f"path {path!r} has {len(gs)} contour groups "
                                        f"{[x['file'].name for x in gs]} in {sdir} and none is named like the path; "
                                        f"pick one with --contour-group NAME (contour_groups=[NAME])")
        g["chosen_by"] = why
        chosen[path] = g
        skipped = [x for x in gs if x is not g]
        if skipped:
            g["skipped"] = [str(x["file"]) for x in skipped]
            warnings.append(f"{sdir}: path {path!r}: contour group {g['file'].name} used ({why}); skipped "
                            f"{', '.join(x['file'].name for x in skipped)} (--contour-group "
                            f"{skipped[0]['file'].stem} uses it instead)")
    return chosen, warnings


def read_simvascular(folder: str | Path, units: str | None = None, attach_factor: float = 1.5,
                     contour_groups=None):
    """Read a SimVascular project folder into a network (mm).

    Parameters
    ----------
    folder : path
        The project (or a folder with ``Paths/`` and ``Segmentations/``, or with the ``.pth``/``.ctgr``
        files side by side).
    units : {"mm", "cm", "m"} or None
        Length unit of the project; None (default) infers it from the contour radii
        (:func:`ffrflow.plausibility.resolve_units`: the unit in which their median is a coronary lumen
        radius) and refuses a project whose unit cannot be told.
    attach_factor : float
        A path whose first point is within this many local radii of another path hangs from it.
    contour_groups : sequence of str, optional
        Contour groups (``.ctgr`` file names, with or without the extension) to use for their paths
        when a path has several (a repaired copy such as ``RCA_healthy``); by default the group
        named like the path is used and the others are skipped with a warning.

    Returns
    -------
    VesselNetwork
        ``meta["units"]`` says which unit was used and why; ``meta["warnings"]`` lists renamed paths
        and skipped contour groups (also logged); ``meta["paths"]`` the file, contour group and parent
        path of every path.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInputError(f"{folder}: not a folder")
    if units is not None and units not in UNITS_TO_MM:
        raise InvalidInputError(f"units (--units): expected one of {list(UNITS_TO_MM)}, got {units!r}")
    pdir = folder / "Paths" if (folder / "Paths").is_dir() else folder
    sdir = folder / "Segmentations" if (folder / "Segmentations").is_dir() else folder
    pth = sorted(pdir.glob("*.pth"))
    if not pth:
        raise InvalidInputError(f"{folder}: no SimVascular path (.pth) in {pdir}")
    paths = {}
    ids: dict[str, list[str]] = {}
    for f in pth:
        d = read_pth(f)
        d["file"] = f
        paths[d["name"]] = d
        if d["id"] is not None:
            ids.setdefault(d["id"], []).append(d["name"])
    warnings: list[str] = []
    cands: dict[str, list[dict]] = {}
    for f in sorted(sdir.glob("*.ctgr")):
        g = read_ctgr(f)
        g["file"] = f
        g["path"], g["matched_by"], w = _match_path(g, f, paths, ids)
        if w:
            warnings.append(w)
        cands.setdefault(g["path"], []).append(g)
    groups, w = _choose_groups(cands, contour_groups, sdir)
    warnings += w
    missing = [n for n in paths if n not in groups or not groups[n]["contours"]]
    if missing:
        raise InvalidInputError(f"{folder}: path(s) {missing} have no segmentation (no contours in a .ctgr with "
                                f"path_name {missing[0]!r} in {sdir}); every path needs at least one contour for its "
                                f"radius")
    for w in warnings:
        log.warning("%s", w)
    decision = resolve_units([c["radius"] for g in groups.values() for c in g["contours"]], units, str(folder),
                             "contour radius")
    scale = decision["to_mm"]
    for d in paths.values():
        d["points"] = d["points"] * scale
    # radius along each path
    for name, d in paths.items():
        p = d["points"]
        s = _arclength(p)
        keep = np.concatenate([[True], np.diff(s) > 1e-9])
        p, s = p[keep], s[keep]
        cs, cr = [], []
        for c in groups[name]["contours"]:
            _, sc, _ = _project(p, s, c["pos"] * scale)
            cs.append(sc)
            cr.append(c["radius"] * scale)
        order = np.argsort(cs, kind="stable")
        cs = np.asarray(cs)[order]
        cr = np.asarray(cr)[order]
        d["points"], d["s"], d["radius"] = p, s, np.interp(s, cs, cr)
        d["contours_s"], d["contours_r"] = cs, cr
    # topology
    attach: dict[str, tuple[str, float, np.ndarray]] = {}
    for name, d in paths.items():
        q = d["points"][0]
        best = None
        for other, o in paths.items():
            if other == name:
                continue
            dist, so, x = _project(o["points"], o["s"], q)
            r_local = float(np.interp(so, o["s"], o["radius"]))
            if dist <= attach_factor * r_local + 1e-9:
                score = dist / r_local
                if best is None or score < best[0]:
                    best = (score, other, so, x)
        if best is not None:
            attach[name] = (best[1], best[2], best[3])
    for name in attach:  # loops
        seen = {name}
        cur = name
        while cur in attach:
            cur = attach[cur][0]
            if cur in seen:
                raise InvalidInputError(f"{folder}: paths {sorted(seen)} start inside each other (a loop); move the "
                                        f"first point of the branch paths off their parent")
            seen.add(cur)
    vessels = []
    piece_of: dict[tuple[str, int], str] = {}
    splits: dict[str, list[float]] = {n: [] for n in paths}
    for child, (par, so, _) in attach.items():
        splits[par].append(so)
    for name, d in paths.items():
        s, p, r = d["s"], d["points"], d["radius"]
        cuts = sorted({0.0, float(s[-1]), *[min(max(x, 0.0), float(s[-1])) for x in splits[name]]})
        cuts = [c for k, c in enumerate(cuts) if k == 0 or c - cuts[k - 1] > 1e-6]
        d["cuts"] = cuts
        for k, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
            inner = (s > a + 1e-9) & (s < b - 1e-9)
            ss = np.concatenate([[a], s[inner], [b]])
            pts = np.stack([np.interp(ss, s, p[:, j]) for j in range(3)], axis=1)
            rr = np.interp(ss, s, r)
            vid = name if k == 0 else f"{name}_{k}"
            parent = f"{name}_{k - 1}" if k > 1 else (name if k == 1 else None)
            vessels.append({"id": vid, "parent": parent, "points": pts, "radius": rr, "path": name, "k": k})
            piece_of[(name, k)] = vid
    by_id = {v["id"]: v for v in vessels}
    for child, (par, so, x) in attach.items():
        cuts = paths[par]["cuts"]
        k = int(np.argmin([abs(c - so) for c in cuts]))  # the cut at the attachment
        if k == 0:
            parent_vid = by_id[piece_of[(par, 0)]]["parent"]  # hangs from the start of its parent: a sibling
            first = by_id[piece_of[(par, 0)]]["points"][0]
        else:
            parent_vid = piece_of[(par, k - 1)]
            first = by_id[parent_vid]["points"][-1]
        v0 = by_id[piece_of[(child, 0)]]
        v0["parent"] = parent_vid
        v0["points"] = np.concatenate([first[None, :], v0["points"][1:]])
        if parent_vid is None:
            log.warning("path %s starts at the inlet of %s; it becomes a separate tree", child, par)
    net = centerlines_to_network(vessels, source=str(folder))
    net.meta.update({"source": str(folder), "format": "simvascular", "units": decision, "warnings": warnings,
                     "paths": {n: {"file": str(d["file"]), "contour_group": str(groups[n]["file"]),
                                   "matched_by": groups[n]["matched_by"], "contours": len(groups[n]["contours"]),
                                   **({"skipped_contour_groups": groups[n]["skipped"]} if "skipped" in groups[n]
                                      else {}),
                                   "attached_to": attach.get(n, (None,))[0]} for n, d in paths.items()}})
    return net
