"""Area-equivalent lumen radius from cross-sections of the surface, normal to the centerline.

At every centerline point :math:`\\mathbf{p}` with unit tangent :math:`\\mathbf{t}` the smoothed
surface is cut by the plane :math:`(\\mathbf{x}-\\mathbf{p})\\cdot\\mathbf{t} = 0`; the cut gives
closed contours, and the one that encloses :math:`\\mathbf{p}` is the lumen there. Its area
:math:`A` (shoelace formula in the plane) gives the area-equivalent radius

.. math::

    r_{eq} = \\sqrt{A / \\pi}.

A distance-transform radius is the radius of the largest inscribed sphere: it is smeared over a
sphere's width and reads a narrowing short and shallow (a 60 % diameter stenosis read as 54 %), so it
is used only where the cut fails: the contour does not close near the point, does not enclose it, or
merges with a neighbouring branch near a junction (contour reaching far from the point, enclosing
another vessel's centerline, or much larger than its neighbours along the vessel). Failed points take
the radius interpolated along the vessel from the good ones; a vessel without any good cut takes the
distance-transform radius scaled by the median ratio :math:`r_{eq}/r_{dt}` of the whole network.

The cutter (plane/triangle intersection, contour assembly through shared mesh edges) is compiled with
Numba (:mod:`ffrflow.meshing._cut`) and works on the triangles near the point, found in a bucket grid
of triangle centroids; a whole vessel is cut in one call. That is much faster than cutting the whole
surface with ``vtkCutter`` at each of thousands of points (the radius step of a phantom case: 0.08 s).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np

from . import _cut

log = logging.getLogger("ffrflow.meshing")

#: A contour whose farthest point is more than this many r_eq from the centerline point is a merge.
MAX_REACH_RATIO = 1.7
#: A cut more than this factor above the local median of its vessel is a merge with a neighbour.
MAX_NEIGHBOUR_RATIO = 1.3


@dataclass
class Section:
    """One cross-section: ``ok`` when a closed contour encloses the point."""

    ok: bool
    area_mm2: float = float("nan")
    reach_mm: float = float("nan")         # farthest contour point from the centerline point
    centroid_mm: np.ndarray | None = None  # contour centroid (world mm)
    loop_mm: np.ndarray | None = None      # contour points (world mm), closed implicitly
    why: str = ""

    @property
    def radius_mm(self) -> float:
        return float(np.sqrt(self.area_mm2 / np.pi)) if self.ok else float("nan")


class SurfaceCutter:
    """Cut a closed triangle surface by planes; keep the contour that encloses a given point.

    Parameters
    ----------
    poly : vtkPolyData
        Triangle surface, world mm.
    """

    def __init__(self, poly):
        from vtkmodules.util.numpy_support import vtk_to_numpy

        self.points = vtk_to_numpy(poly.GetPoints().GetData()).astype(np.float64)
        conn = vtk_to_numpy(poly.GetPolys().GetConnectivityArray()).astype(np.int64)
        offs = vtk_to_numpy(poly.GetPolys().GetOffsetsArray()).astype(np.int64)
        if len(offs) > 1 and not np.all(np.diff(offs) == 3):
            raise ValueError("SurfaceCutter needs a triangle surface")
        self.tris = conn.reshape(-1, 3)
        v = self.points[self.tris]
        self.centroids = v.mean(axis=1)
        self.max_tri_radius = float(np.linalg.norm(v - self.centroids[:, None, :], axis=2).max()) if len(v) else 0.0
        self._tree = None
        self._grid = None

    @property
    def tree(self):
        """k-d tree of the triangle centroids, for single-point :meth:`cut` (built on first use)."""
        if self._tree is None:
            from scipy.spatial import cKDTree

            self._tree = cKDTree(self.centroids)
        return self._tree

    def _make_grid(self):
        """Uniform bucket grid of the triangle centroids for :meth:`cut_many` (at most ~2 million cells)."""
        c = self.centroids if len(self.centroids) else np.zeros((1, 3))
        lo = c.min(axis=0) - 1e-6
        ext = np.maximum(c.max(axis=0) - lo, 1e-3)
        h = max(1.0, 2.0 * self.max_tri_radius, float(np.cbrt(np.prod(ext) / 2e6)))
        dims = np.maximum(np.ceil(ext / h).astype(np.int64), 1)
        order, start = _cut.grid_build(np.ascontiguousarray(self.centroids), lo, h, dims)
        return order, start, lo, h, dims

    def cut(self, p: np.ndarray, t: np.ndarray, search_mm: float) -> Section:
        """Cross-section at point ``p`` (mm) normal to ``t``, using triangles within ``search_mm``.

        Returns the smallest closed contour enclosing ``p``; ``ok`` is False when there is none.
        """
        p = np.asarray(p, dtype=np.float64)
        t = np.asarray(t, dtype=np.float64)
        t = t / np.sqrt(t @ t)
        ids = self.tree.query_ball_point(p, search_mm + self.max_tri_radius)
        if not ids:
            return Section(False, why="no surface near the point")
        u, w = _plane_basis(t)
        status, area, reach, cx, cy, loop = _cut.cut_patch(self.points, self.tris[np.asarray(ids)], p, t, u, w)
        if status == _cut.OK:
            return Section(True, float(area), float(reach), p + cx * u + cy * w, loop)
        return Section(False, why=_WHY[status])

    def cut_many(self, P: np.ndarray, T: np.ndarray, search_mm: np.ndarray) -> dict:
        """:meth:`cut` at every point ``P[i]`` (mm) normal to ``T[i]`` within ``search_mm[i]``, in one
        compiled call (:func:`ffrflow.meshing._cut.cut_many`; the per-point interpreter work was most
        of the radius step's time).

        Returns
        -------
        dict
            ``status`` (n,) (codes of :mod:`ffrflow.meshing._cut`), ``area_mm2``, ``reach_mm``,
            ``centroid_mm`` (n, 3) (NaN where the cut failed), ``loop_ptr`` (n+1,) and ``loop_mm`` (k, 3):
            the contour of point ``i`` is ``loop_mm[loop_ptr[i]:loop_ptr[i+1]]``.
        """
        P = np.ascontiguousarray(P, dtype=np.float64).reshape(-1, 3)
        T = np.asarray(T, dtype=np.float64).reshape(-1, 3)
        T = np.ascontiguousarray(T / np.sqrt(np.einsum("ij,ij->i", T, T))[:, None])
        R = np.ascontiguousarray(np.broadcast_to(np.asarray(search_mm, dtype=np.float64) + self.max_tri_radius,
                                                 (len(P),)))
        if self._grid is None:
            self._grid = self._make_grid()
        status, area, reach, cen, loop_ptr, loop = _cut.cut_many(self.points, self.tris, self.centroids,
                                                                 *self._grid, P, T, R)
        return {"status": status, "area_mm2": area, "reach_mm": reach, "centroid_mm": cen,
                "loop_ptr": loop_ptr, "loop_mm": loop}


_WHY = {_cut.NO_CROSSING: "plane misses the surface", _cut.NO_ENCLOSING: "no closed contour encloses the point",
        _cut.NO_SURFACE: "no surface near the point"}


def _plane_basis(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors spanning the plane normal to the unit vector ``t`` (right-handed with it)."""
    return _cut.plane_basis(np.ascontiguousarray(t, dtype=np.float64))


def tangents(points: np.ndarray) -> np.ndarray:
    """Unit tangents of a polyline (central differences, one-sided at the ends)."""
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) < 2:
        return np.tile([0.0, 0.0, 1.0], (len(pts), 1))
    tg = np.gradient(pts, axis=0)
    n = np.linalg.norm(tg, axis=1, keepdims=True)
    n[n == 0] = 1.0
    return tg / n


def _rolling_median(x: np.ndarray, s: np.ndarray, half_mm: float) -> np.ndarray:
    """Median of the finite ``x`` within ``half_mm`` of arc length around every point (NaN if none)."""
    x = np.asarray(x, dtype=np.float64)
    fin = np.isfinite(x)
    out = np.full(len(x), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)          # all-NaN windows stay NaN
        for a in range(0, len(x), 256):                           # rows in blocks: memory O(256 n)
            sel = (np.abs(s[a:a + 256, None] - s[None, :]) <= half_mm) & fin[None, :]
            out[a:a + 256] = np.nanmedian(np.where(sel, x[None, :], np.nan), axis=1)
    return out


def section_radii(surface, polylines: dict, dt_radii: dict, *, search_factor: float = 2.0,
                  search_const_mm: float = 1.0) -> tuple[dict, dict, dict]:
    """Area-equivalent radius at every centerline point of every vessel.

    Parameters
    ----------
    surface : vtkPolyData or SurfaceCutter
        Closed lumen surface, world mm.
    polylines : dict[str, ndarray (N, 3)]
        Centerline points per vessel id, world mm.
    dt_radii : dict[str, ndarray (N,)]
        Distance-transform radius (mm) at the same points: sets the search neighbourhood and is the
        last-resort fallback.
    search_factor, search_const_mm : float
        Triangles within ``search_factor * r_dt + search_const_mm`` of a point are cut; a contour
        not closed within that ball counts as a failed cut (a merge with a neighbour).

    Returns
    -------
    radii : dict[str, ndarray (N,)]
        Radius per vessel, mm.
    stats : dict
        ``points``, ``cut_ok``, ``interpolated`` (failed cuts filled along the vessel),
        ``dt_fallback`` (points on vessels without any good cut), ``dt_scale`` (median r_eq / r_dt),
        ``failures`` (count per reason).
    centroids : dict[str, ndarray (N, 3)]
        Centroid of each good contour (world mm), NaN where the cut failed: the lumen centre in the
        plane, used to re-centre the skeleton to sub-voxel accuracy.
    """
    cutter = surface if isinstance(surface, SurfaceCutter) else SurfaceCutter(surface)
    from scipy.spatial import cKDTree

    ids = list(polylines)
    all_pts = np.concatenate([np.asarray(polylines[v], float) for v in ids])
    owner = np.concatenate([np.full(len(polylines[v]), k) for k, v in enumerate(ids)])
    all_tree = cKDTree(all_pts)
    raw: dict[str, np.ndarray] = {}
    good: dict[str, np.ndarray] = {}
    cents: dict[str, np.ndarray] = {}
    reasons: dict[str, int] = {}
    for k, vid in enumerate(ids):
        pts = np.asarray(polylines[vid], dtype=np.float64)
        rdt = np.asarray(dt_radii[vid], dtype=np.float64)
        tg = tangents(pts)
        cut = cutter.cut_many(pts, tg, search_factor * rdt + search_const_mm)
        status, reach = cut["status"], cut["reach_mm"]
        for code in np.unique(status[status != _cut.OK]):
            reasons[_WHY[code]] = reasons.get(_WHY[code], 0) + int((status == code).sum())
        ok = status == _cut.OK
        r = np.where(ok, np.sqrt(cut["area_mm2"] / np.pi), np.nan)
        far = ok & (reach > MAX_REACH_RATIO * r)
        if far.any():
            reasons["contour reaches too far (merge)"] = reasons.get("contour reaches too far (merge)", 0) + int(far.sum())
        ok &= ~far
        # another vessel's centerline inside a contour: the plane slices a neighbouring branch
        idx = np.nonzero(ok)[0]
        nears = all_tree.query_ball_point(pts[idx], reach[idx] + 1e-6) if len(idx) else []
        for i, near in zip(idx, nears):
            near = np.asarray(near, dtype=np.int64)
            near = near[owner[near] != k]
            foreign = [j for j in near if not _shares_node(all_pts[j], pts)]
            loop = cut["loop_mm"][cut["loop_ptr"][i]:cut["loop_ptr"][i + 1]]
            if foreign and _any_inside(all_pts[foreign], pts[i], tg[i], loop, tol_mm=0.5 * max(r[i], 0.2)):
                reasons["encloses another vessel"] = reasons.get("encloses another vessel", 0) + 1
                ok[i] = False
        r[~ok] = np.nan
        cen = cut["centroid_mm"]
        cen[~ok] = np.nan
        raw[vid] = r
        good[vid] = ok
        cents[vid] = cen
    # neighbour check along each vessel: a cut much larger than its neighbours merged with a branch
    for vid in ids:
        r, ok = raw[vid], good[vid]
        if ok.sum() >= 3:
            pts = np.asarray(polylines[vid], float)
            s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
            med = _rolling_median(np.where(ok, r, np.nan), s, max(2.0, 2.0 * np.nanmedian(r[ok])))
            big = ok & (r > MAX_NEIGHBOUR_RATIO * med)
            if big.any():
                reasons["much larger than neighbours"] = reasons.get("much larger than neighbours", 0) + int(big.sum())
                ok[big] = False
                r[big] = np.nan
                cents[vid][big] = np.nan
    ratios = np.concatenate([raw[v][good[v]] / np.asarray(dt_radii[v])[good[v]] for v in ids]) \
        if ids else np.array([])
    dt_scale = float(np.median(ratios)) if len(ratios) else 1.0
    out: dict[str, np.ndarray] = {}
    n_interp = 0
    n_dt = 0
    for vid in ids:
        r, ok = raw[vid], good[vid]
        pts = np.asarray(polylines[vid], float)
        s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
        if ok.any():
            res = r.copy()
            res[~ok] = np.interp(s[~ok], s[ok], r[ok])
            n_interp += int((~ok).sum())
        else:
            res = dt_scale * np.asarray(dt_radii[vid], float)
            n_dt += len(res)
        out[vid] = res
    total = int(sum(len(polylines[v]) for v in ids))
    stats = {"points": total, "cut_ok": int(sum(int(good[v].sum()) for v in ids)), "interpolated": n_interp,
             "dt_fallback": n_dt, "dt_scale": dt_scale, "failures": reasons}
    if n_interp or n_dt:
        log.info("radius: %d of %d points from cross-sections; %d interpolated along the vessel, %d from the "
                 "distance transform (x%.3f); failed cuts: %s", stats["cut_ok"], total, n_interp, n_dt, dt_scale,
                 reasons)
    return out, stats, cents


def _shares_node(q: np.ndarray, pts: np.ndarray) -> bool:
    """Whether ``q`` is one of the end points of ``pts`` (a junction shared with this vessel)."""
    return bool(np.linalg.norm(pts[0] - q) < 1e-6 or np.linalg.norm(pts[-1] - q) < 1e-6)


def _any_inside(q: np.ndarray, p: np.ndarray, t: np.ndarray, loop_mm: np.ndarray, tol_mm: float) -> bool:
    """Whether any of the points ``q`` lies near the cut plane (p, t) and inside the contour ``loop_mm``."""
    dist = (q - p) @ t
    q = q[np.abs(dist) <= tol_mm]
    if not len(q):
        return False
    u, w = _plane_basis(t)
    loop = loop_mm - p
    x, y = loop @ u, loop @ w
    xn, yn = np.roll(x, -1), np.roll(y, -1)
    for qq in q - p:
        a, b = qq @ u, qq @ w
        c = (y > b) != (yn > b)
        xi = x[c] + (b - y[c]) * (xn[c] - x[c]) / (yn[c] - y[c])
        if int(np.sum(xi > a)) % 2 == 1:
            return True
    return False
