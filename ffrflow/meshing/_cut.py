"""Numba kernel of :meth:`ffrflow.meshing.radius.SurfaceCutter.cut`: plane ∩ triangle patch → contours.

One call cuts a patch of a closed triangle surface (the triangles near the centerline point, found by
the caller) by the plane through ``p`` normal to ``t`` and returns the smallest closed contour that
encloses ``p``: its area (mm²), its farthest point from ``p`` (mm), its centroid in the plane basis
``(u, w)`` and its points. It is the NumPy algorithm of ``SurfaceCutter`` compiled as scalar loops
(a cut took ~0.7 ms of interpreter overhead; meshing makes two per centerline point).

Algorithm: every triangle with vertices on both sides of the plane contributes one segment between
the crossing points on its two sign-changing edges; a crossing point is identified by its mesh edge
(vertex pair), so on a closed manifold every contour node joins exactly two segments and the
contours are walked node to node. A contour encloses ``p`` when a ray from ``p`` crosses it an odd
number of times; area and centroid by the shoelace formula.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: status codes of :func:`cut_patch`
OK, NO_CROSSING, NO_ENCLOSING = 0, 1, 2


@njit(cache=True)
def cut_patch(points, tris, p, t, u, w):
    """Smallest closed contour around ``p`` of the plane (p, t) through the triangles ``tris``.

    Parameters
    ----------
    points : (N, 3) float64
        Surface vertices, mm.
    tris : (m, 3) int64
        Triangles to cut (vertex indices).
    p, t, u, w : (3,) float64
        Point, unit normal of the plane, and an orthonormal basis of the plane.

    Returns
    -------
    status : int
        :data:`OK`, :data:`NO_CROSSING` or :data:`NO_ENCLOSING`.
    area, reach, cx, cy : float
        Contour area (mm²), farthest contour point from ``p`` (mm), centroid in the (u, w) basis (mm).
    loop : (k, 3) float64
        Contour points (world mm), closed implicitly.
    """
    m = tris.shape[0]
    npts = points.shape[0]
    keys = np.empty(2 * m, dtype=np.int64)
    xyz = np.empty((2 * m, 3))
    nseg = 0
    d = np.empty(3)
    for i in range(m):
        npos = 0
        for k in range(3):
            v = tris[i, k]
            dk = (points[v, 0] - p[0]) * t[0] + (points[v, 1] - p[1]) * t[1] + (points[v, 2] - p[2]) * t[2]
            if dk == 0.0:
                dk = 1e-12
            d[k] = dk
            if dk > 0.0:
                npos += 1
        if npos == 0 or npos == 3:
            continue
        j = 2 * nseg
        for e in range(3):
            f = (e + 1) % 3
            if (d[e] > 0.0) != (d[f] > 0.0):
                a = tris[i, e]
                b = tris[i, f]
                s = d[e] / (d[e] - d[f])
                for c in range(3):
                    xyz[j, c] = points[a, c] + s * (points[b, c] - points[a, c])
                keys[j] = min(a, b) * npts + max(a, b)
                j += 1
        nseg += 1
    if nseg == 0:
        return NO_CROSSING, np.nan, np.nan, np.nan, np.nan, np.empty((0, 3))
    n2 = 2 * nseg
    order = np.argsort(keys[:n2], kind="mergesort")
    node = np.empty(n2, dtype=np.int64)        # contour node of each segment end
    nn = 0
    node_xyz = np.empty((n2, 3))
    prev_key = -1
    for q in range(n2):
        k = order[q]
        if q == 0 or keys[k] != prev_key:
            for c in range(3):
                node_xyz[nn, c] = xyz[k, c]
            nn += 1
            prev_key = keys[k]
        node[k] = nn - 1
    # adjacency: the other end of each of (at most) two segments at every node
    nb0 = np.full(nn, -1, dtype=np.int64)
    nb1 = np.full(nn, -1, dtype=np.int64)
    fill = np.zeros(nn, dtype=np.int64)
    for sgi in range(nseg):
        a = node[2 * sgi]
        b = node[2 * sgi + 1]
        for (x, y) in ((a, b), (b, a)):
            if fill[x] == 0:
                nb0[x] = y
            elif fill[x] == 1:
                nb1[x] = y
            fill[x] += 1
    # plane coordinates of the nodes
    uu = np.empty(nn)
    ww = np.empty(nn)
    for q in range(nn):
        rx = node_xyz[q, 0] - p[0]
        ry = node_xyz[q, 1] - p[1]
        rz = node_xyz[q, 2] - p[2]
        uu[q] = rx * u[0] + ry * u[1] + rz * u[2]
        ww[q] = rx * w[0] + ry * w[1] + rz * w[2]
    seen = np.zeros(nn, dtype=np.bool_)
    loop = np.empty(nn, dtype=np.int64)
    best_area = np.inf
    best_reach = np.nan
    best_cx = np.nan
    best_cy = np.nan
    best_loop = np.empty((0, 3))
    for start in range(nn):
        if seen[start]:
            continue
        nl = 1
        loop[0] = start
        seen[start] = True
        prev = -1
        cur = start
        closed = False
        while True:
            if fill[cur] != 2:
                break
            nxt = nb0[cur] if nb0[cur] != prev else nb1[cur]
            if nxt == start:
                closed = True
                break
            if seen[nxt]:
                break
            seen[nxt] = True
            loop[nl] = nxt
            nl += 1
            prev = cur
            cur = nxt
        if not closed or nl < 3:
            continue
        signed = 0.0
        sx = 0.0
        sy = 0.0
        crossings = 0
        reach = 0.0
        for q in range(nl):
            a = loop[q]
            b = loop[(q + 1) % nl]
            x, y, xn, yn = uu[a], ww[a], uu[b], ww[b]
            cr = x * yn - xn * y
            signed += cr
            sx += (x + xn) * cr
            sy += (y + yn) * cr
            if (y > 0.0) != (yn > 0.0):
                if x + (0.0 - y) * (xn - x) / (yn - y) > 0.0:
                    crossings += 1
            rr = np.sqrt(x * x + y * y)
            if rr > reach:
                reach = rr
        signed *= 0.5
        area = abs(signed)
        if crossings % 2 == 0:
            continue
        if area < best_area:
            best_area = area
            best_reach = reach
            best_cx = sx / (6.0 * signed)
            best_cy = sy / (6.0 * signed)
            best_loop = np.empty((nl, 3))
            for q in range(nl):
                for c in range(3):
                    best_loop[q, c] = node_xyz[loop[q], c]
    if best_loop.shape[0] == 0:
        return NO_ENCLOSING, np.nan, np.nan, np.nan, np.nan, best_loop
    return OK, best_area, best_reach, best_cx, best_cy, best_loop


#: status of a point without any triangle in its search ball (set by :func:`cut_many`)
NO_SURFACE = 3


@njit(cache=True)
def plane_basis(t):
    """Two unit vectors spanning the plane normal to the unit vector ``t`` (right-handed with it)."""
    tx, ty, tz = t[0], t[1], t[2]
    u = np.empty(3)
    if abs(tx) < 0.8:                      # u = t × e_x
        u[0], u[1], u[2] = 0.0, tz, -ty
    else:                                  # u = t × e_y
        u[0], u[1], u[2] = -tz, 0.0, tx
    n = np.sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2])
    u /= n
    w = np.empty(3)
    w[0] = ty * u[2] - tz * u[1]
    w[1] = tz * u[0] - tx * u[2]
    w[2] = tx * u[1] - ty * u[0]
    return u, w


@njit(cache=True)
def grid_build(cent, lo, h, dims):
    """Bucket the points ``cent`` (n, 3) into a uniform grid (origin ``lo``, cell ``h`` mm, ``dims`` cells):
    returns ``order`` (point ids sorted by cell) and ``start`` (ncells + 1): cell ``c`` holds
    ``order[start[c]:start[c + 1]]``."""
    n = cent.shape[0]
    ncell = dims[0] * dims[1] * dims[2]
    lin = np.empty(n, dtype=np.int64)
    for i in range(n):
        ix = min(max(int((cent[i, 0] - lo[0]) / h), 0), dims[0] - 1)
        iy = min(max(int((cent[i, 1] - lo[1]) / h), 0), dims[1] - 1)
        iz = min(max(int((cent[i, 2] - lo[2]) / h), 0), dims[2] - 1)
        lin[i] = (ix * dims[1] + iy) * dims[2] + iz
    order = np.argsort(lin, kind="mergesort")
    start = np.zeros(ncell + 1, dtype=np.int64)
    for i in range(n):
        start[lin[i] + 1] += 1
    for c in range(ncell):
        start[c + 1] += start[c]
    return order, start


@njit(cache=True)
def _ball(cent, order, start, lo, h, dims, p, r, buf):
    """Ids of the points of ``cent`` within ``r`` of ``p`` (grid of :func:`grid_build`) into ``buf``; their count."""
    lo_i = np.empty(3, dtype=np.int64)
    hi_i = np.empty(3, dtype=np.int64)
    for c in range(3):
        lo_i[c] = min(max(int(np.floor((p[c] - r - lo[c]) / h)), 0), dims[c] - 1)
        hi_i[c] = min(max(int(np.floor((p[c] + r - lo[c]) / h)), 0), dims[c] - 1)
    r2 = r * r
    m = 0
    for ix in range(lo_i[0], hi_i[0] + 1):
        for iy in range(lo_i[1], hi_i[1] + 1):
            for iz in range(lo_i[2], hi_i[2] + 1):
                cell = (ix * dims[1] + iy) * dims[2] + iz
                for q in range(start[cell], start[cell + 1]):
                    j = order[q]
                    dx = cent[j, 0] - p[0]
                    dy = cent[j, 1] - p[1]
                    dz = cent[j, 2] - p[2]
                    if dx * dx + dy * dy + dz * dz <= r2:
                        buf[m] = j
                        m += 1
    return m


@njit(cache=True)
def cut_many(points, tris, cent, order, start, lo, h, dims, P, T, R):
    """:func:`cut_patch` at every point ``P[i]`` (normal ``T[i]``, unit) through the triangles whose
    centroid ``cent`` lies within ``R[i]`` of it (grid of :func:`grid_build`): one call per vessel
    instead of one per point.

    Returns
    -------
    status : (n,) int64
        :data:`OK`, :data:`NO_CROSSING`, :data:`NO_ENCLOSING` or :data:`NO_SURFACE`.
    area, reach : (n,) float64
        As :func:`cut_patch` (NaN where not OK).
    centroid : (n, 3) float64
        Contour centroid, world mm (NaN where not OK).
    loop_ptr : (n + 1,) int64, loop_xyz : (k, 3) float64
        The contour of point ``i`` is ``loop_xyz[loop_ptr[i]:loop_ptr[i + 1]]`` (empty where not OK).
    """
    n = P.shape[0]
    status = np.empty(n, dtype=np.int64)
    area = np.full(n, np.nan)
    reach = np.full(n, np.nan)
    cx = np.full(n, np.nan)
    cy = np.full(n, np.nan)
    cen = np.full((n, 3), np.nan)
    loops = []
    loop_ptr = np.zeros(n + 1, dtype=np.int64)
    buf = np.empty(tris.shape[0], dtype=np.int64)
    for i in range(n):
        m = _ball(cent, order, start, lo, h, dims, P[i], R[i], buf)
        if m == 0:
            status[i] = NO_SURFACE
            loops.append(np.empty((0, 3)))
            loop_ptr[i + 1] = loop_ptr[i]
            continue
        sub = np.empty((m, 3), dtype=np.int64)
        for q in range(m):
            for c in range(3):
                sub[q, c] = tris[buf[q], c]
        u, w = plane_basis(T[i])
        st, ar, re, x, y, loop = cut_patch(points, sub, P[i], T[i], u, w)
        status[i] = st
        if st == OK:
            area[i], reach[i], cx[i], cy[i] = ar, re, x, y
            for c in range(3):
                cen[i, c] = P[i, c] + x * u[c] + y * w[c]
            loops.append(loop)
            loop_ptr[i + 1] = loop_ptr[i] + loop.shape[0]
        else:
            loops.append(np.empty((0, 3)))
            loop_ptr[i + 1] = loop_ptr[i]
    loop_xyz = np.empty((loop_ptr[n], 3))
    for i in range(n):
        lp = loops[i]
        for q in range(lp.shape[0]):
            for c in range(3):
                loop_xyz[loop_ptr[i] + q, c] = lp[q, c]
    return status, area, reach, cen, loop_ptr, loop_xyz
