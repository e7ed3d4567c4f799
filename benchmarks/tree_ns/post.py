"""Cross-section-averaged pressure along the centerlines of a 3D solution (pure NumPy).

The average over the plane through the centerline point ``c(s)`` normal to the tangent ``t(s)``
uses the cells whose centres lie in the slab ``|ξ| <= w/2``, ``ξ = (x - c)·t`` (``w`` =
:data:`SLAB_PER_RADIUS` × the local radius), within :data:`REACH_PER_RADIUS` radii of the
centerline point in the plane, and nearer to this vessel's centerline than to any other's. The
pressure is fitted as ``α + β ξ`` by volume-weighted least squares over the slab; ``α`` is the
section average at the plane. For a pressure that varies linearly along the axis and arbitrarily
over the section this is the area-weighted mean over the plane whatever the distribution of the
cell centres along ξ (a plain volume-weighted mean is that only when the centres are symmetric
about the plane, which tetrahedra are not: with a plain mean the gradient along a straight tube
scattered by ±20 % from slab to slab).
"""

from __future__ import annotations

import numpy as np

SLAB_PER_RADIUS = 0.8
REACH_PER_RADIUS = 1.25


def dense_labels(network, step_mm: float = 0.1):
    """Dense centerline samples of every vessel (mm) and the index of its vessel."""
    pts, lab = [], []
    for k, v in enumerate(network.vessels.values()):
        s = v.arclength_mm
        sd = np.linspace(0.0, s[-1], max(2, int(np.ceil(s[-1] / step_mm)) + 1))
        pts.append(np.column_stack([np.interp(sd, s, v.points_mm[:, j]) for j in range(3)]))
        lab.append(np.full(len(sd), k))
    return np.concatenate(pts), np.concatenate(lab)


def cell_vessel(network, centres_mm: np.ndarray) -> np.ndarray:
    """Index (in network order) of the vessel whose centerline is nearest to each cell centre."""
    from scipy.spatial import cKDTree

    pts, lab = dense_labels(network)
    _, i = cKDTree(pts).query(centres_mm)
    return lab[i]


def section_average(field, centres_mm, volumes, center_mm, tangent, radius_mm, slab_mm, mask=None,
                    at_mm: float = 0.0):
    """Section average of ``field`` at the plane through ``center_mm`` normal to ``tangent``: the
    intercept of a volume-weighted linear fit along the normal over the slab (module docstring).

    ``at_mm``: evaluate the fit at this distance along ``tangent`` from the slab's centre (a slab
    that cannot be centred on its plane, at an inlet or outlet cap).

    Returns ``(mean, n_cells, area_mm2)``; ``area_mm2`` = slab volume / slab width, an estimate of
    the section area (a check that the slab caught the whole lumen). ``(nan, 0, 0)`` when empty.
    """
    t = np.asarray(tangent, float) / np.linalg.norm(tangent)
    d = np.asarray(centres_mm) - np.asarray(center_mm)
    ax = d @ t
    rad = np.linalg.norm(d - ax[:, None] * t[None, :], axis=1)
    sel = (np.abs(ax) <= 0.5 * slab_mm) & (rad <= REACH_PER_RADIUS * radius_mm)
    if mask is not None:
        sel &= mask
    if not sel.any():
        return float("nan"), 0, 0.0
    w = volumes[sel]
    f = field[sel]
    xi = ax[sel]
    W = np.sum(w)
    xm = np.sum(w * xi) / W
    fm = np.sum(w * f) / W
    var = np.sum(w * (xi - xm) ** 2)
    beta = np.sum(w * (xi - xm) * (f - fm)) / var if var > 0 else 0.0
    return float(fm + beta * (at_mm - xm)), int(sel.sum()), float(W / slab_mm)


def profiles(network, field, centres_mm, volumes_mm3, offsets_mm=None, step_mm: float = 0.5) -> dict:
    """Section-averaged ``field`` every ``step_mm`` along every vessel (and at its last point).

    Returns ``{vessel: {"s_mm", "value", "cells", "area_mm2", "area_network_mm2"}}`` (lists).
    """
    offsets_mm = offsets_mm or {}
    owner = cell_vessel(network, centres_mm)
    out = {}
    for k, (vid, v) in enumerate(network.vessels.items()):
        s = v.arclength_mm
        sq = np.arange(0.0, s[-1] - 0.25 * step_mm, step_mm)
        sq = np.append(sq, s[-1])
        P = v.points_mm
        off = np.asarray(offsets_mm.get(vid, np.zeros_like(P)), float)
        T = np.gradient(P, axis=0)
        mask = owner == k
        rec = {"s_mm": [], "value": [], "cells": [], "area_mm2": [], "area_network_mm2": []}
        for si in sq:
            c = np.array([np.interp(si, s, P[:, j] + off[:, j]) for j in range(3)])
            t = np.array([np.interp(si, s, T[:, j]) for j in range(3)])
            r = float(np.interp(si, s, v.radius_mm))
            # a slab at an inlet or outlet cap would be cut by it: centre it half a slab inside
            slab = SLAB_PER_RADIUS * r
            shift = 0.0
            if si >= s[-1] - 0.5 * slab:
                shift = -0.5 * slab
            elif si <= 0.5 * slab and v.parent is None:
                shift = 0.5 * slab
            ci = c + shift * t / np.linalg.norm(t)
            val, n, area = section_average(field, centres_mm, volumes_mm3, ci, t, r, slab, mask, at_mm=-shift)
            rec["s_mm"].append(round(float(si), 6))
            rec["value"].append(val)
            rec["cells"].append(n)
            rec["area_mm2"].append(area)
            rec["area_network_mm2"].append(float(np.pi * r * r))
        out[vid] = rec
    return out
