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
Errors name the file and what does not fit: no ``Paths`` folder or no ``.pth`` file, a path without
segmentations (or a contour group naming a missing path), a contour with fewer than three points or
zero area, paths that attach to each other in a loop, a radius implausible for the ``units`` given.

SimVascular files do not carry their unit: models segmented on CT images in mm are the common case
(``units="mm"``); Vascular Model Repository models are often in cm (``units="cm"``).
"""

from __future__ import annotations

import logging
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from ..errors import InvalidInputError
from .vtkcenterlines import UNITS_TO_MM, centerlines_to_network

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


def _xyz(el, path, what) -> list[float]:
    try:
        return [float(el.attrib[c]) for c in "xyz"]
    except (KeyError, ValueError):
        raise InvalidInputError(f"{path}: {what}: expected x, y, z attributes, got {el.attrib}") from None


def read_pth(path: str | Path) -> dict:
    """A SimVascular path file: ``{"name", "id", "points" (n, 3)}`` (the path points of timestep 0)."""
    path = Path(path)
    root = _xml(path)
    p = root.find("path")
    if p is None:
        raise InvalidInputError(f"{path}: no <path> element")
    ts = p.find("timestep")
    if ts is None:
        raise InvalidInputError(f"{path}: <path> has no <timestep>")
    pts = []
    for k, pp in enumerate(ts.iter("path_point")):
        pos = pp.find("pos")
        if pos is None:
            raise InvalidInputError(f"{path}: path_point {k} has no <pos>")
        pts.append(_xyz(pos, path, f"path_point {k} pos"))
    if len(pts) < 2:
        raise InvalidInputError(f"{path}: the path has {len(pts)} path points; at least 2 are needed")
    return {"name": path.stem, "id": p.attrib.get("id"), "points": np.array(pts, dtype=np.float64)}


def contour_radius(points: np.ndarray) -> float:
    """Area-equivalent radius √(A/π) of a closed planar polygon in 3D (shoelace / Newell area)."""
    p = np.asarray(points, dtype=np.float64)
    c = p.mean(axis=0)
    q = p - c
    area = 0.5 * float(np.linalg.norm(np.cross(q, np.roll(q, -1, axis=0)).sum(axis=0)))
    return math.sqrt(area / math.pi)


def read_ctgr(path: str | Path) -> dict:
    """A SimVascular contour group: ``{"path_name", "path_id", "contours": [{"pos", "path_point", "radius"}]}``."""
    path = Path(path)
    root = _xml(path)
    g = root.find("contourgroup")
    if g is None:
        raise InvalidInputError(f"{path}: no <contourgroup> element")
    name = g.attrib.get("path_name") or path.stem
    ts = g.find("timestep")
    if ts is None:
        raise InvalidInputError(f"{path}: <contourgroup> has no <timestep>")
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
    return {"path_name": name, "path_id": g.attrib.get("path_id"), "contours": contours}


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


def read_simvascular(folder: str | Path, units: str = "mm", attach_factor: float = 1.5):
    """Read a SimVascular project folder into a network (mm).

    Parameters
    ----------
    folder : path
        The project (or a folder with ``Paths/`` and ``Segmentations/``, or with the ``.pth``/``.ctgr``
        files side by side).
    units : {"mm", "cm", "m"}
        Length unit of the project.
    attach_factor : float
        A path whose first point is within this many local radii of another path hangs from it.

    Returns
    -------
    VesselNetwork
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInputError(f"{folder}: not a folder")
    if units not in UNITS_TO_MM:
        raise InvalidInputError(f"units: expected one of {sorted(UNITS_TO_MM)}, got {units!r}")
    pdir = folder / "Paths" if (folder / "Paths").is_dir() else folder
    sdir = folder / "Segmentations" if (folder / "Segmentations").is_dir() else folder
    pth = sorted(pdir.glob("*.pth"))
    if not pth:
        raise InvalidInputError(f"{folder}: no SimVascular path (.pth) in {pdir}")
    scale = UNITS_TO_MM[units]
    paths = {}
    for f in pth:
        d = read_pth(f)
        d["points"] = d["points"] * scale
        d["file"] = f
        paths[d["name"]] = d
    groups = {}
    for f in sorted(sdir.glob("*.ctgr")):
        g = read_ctgr(f)
        if g["path_name"] not in paths:
            raise InvalidInputError(f"{f}: contour group for path {g['path_name']!r}, but there is no such path in "
                                    f"{pdir} (paths: {sorted(paths)})")
        if g["path_name"] in groups:
            raise InvalidInputError(f"{f}: a second contour group for path {g['path_name']!r}")
        g["file"] = f
        groups[g["path_name"]] = g
    missing = [n for n in paths if n not in groups or not groups[n]["contours"]]
    if missing:
        raise InvalidInputError(f"{folder}: path(s) {missing} have no segmentation (no contours in a .ctgr with "
                                f"path_name {missing[0]!r} in {sdir}); every path needs at least one contour for its "
                                f"radius")
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
    allr = np.concatenate([d["radius"] for d in paths.values()])
    med = float(np.median(allr))
    if med < 0.02 or med > 30.0:
        raise InvalidInputError(f"{folder}: median contour radius {med:.4g} mm with units={units!r} is not a plausible "
                                f"vessel radius (the project may be in {'cm' if med < 0.5 else 'mm'})")
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
    net.meta.update({"source": str(folder), "format": "simvascular", "units_in_project": units,
                     "paths": {n: {"file": str(d["file"]), "contours": len(groups[n]["contours"]),
                                   "attached_to": attach.get(n, (None,))[0]} for n, d in paths.items()}})
    return net
