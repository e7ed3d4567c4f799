"""Voxelising a vessel network: the lumen of its swept tubes as a binary mask or partial-volume fractions.

:func:`voxelize` gives a SimpleITK image with a chosen geometry (spacing, direction, origin);
:func:`voxelize_array` and :func:`partial_volume_array` the bare arrays with their origin, spacing
and direction. Used by :func:`ffrflow.meshing.surface.tube_surface` (a lumen surface swept from
centerline radii) and by :mod:`ffrflow.phantoms` (synthetic masks with known geometry).
Coordinates are world millimetres (LPS).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..errors import InvalidInputError
from ..network import VesselNetwork

__all__ = ["voxelize", "voxelize_array", "partial_volume_array", "PARTIAL_VOLUME_SUPERSAMPLE"]


def _geometry(spacing_mm, margin_mm, direction):
    """Validated spacing (3,), margin and direction matrix (3, 3)."""
    sp = np.asarray(spacing_mm, dtype=np.float64)
    if sp.ndim == 0:
        sp = np.full(3, float(sp))
    if sp.shape != (3,) or not np.all(np.isfinite(sp)) or np.any(sp <= 0):
        raise InvalidInputError(f"spacing_mm: expected a number or 3 numbers > 0 (mm), got {spacing_mm!r}")
    if isinstance(margin_mm, bool) or not isinstance(margin_mm, (int, float, np.integer, np.floating)) \
            or not math.isfinite(margin_mm) or margin_mm < 0:
        raise InvalidInputError(f"margin_mm: expected a number >= 0 (mm), got {margin_mm!r}")
    if direction is None:
        dmat = np.eye(3)
    else:
        dmat = np.asarray(direction, dtype=np.float64)
        if dmat.size != 9 or not np.all(np.isfinite(dmat)):
            raise InvalidInputError(f"direction: expected a 3x3 matrix (or 9 numbers, row-major), got {direction!r}")
        dmat = dmat.reshape(3, 3)
        err = float(np.abs(dmat.T @ dmat - np.eye(3)).max())
        if err > 1e-6:
            raise InvalidInputError(f"direction: expected an orthonormal (rotation) matrix; |D^T D - I| = {err:.3g}")
    return sp, float(margin_mm), dmat


def _segment_grid(network: VesselNetwork, spacing_mm, margin_mm, direction, origin_mm) -> dict:
    """The swept-tube segments of a network in the grid-axis frame and the grid that holds them.

    Returns a dict: ``sp`` (3,), ``dmat`` (3, 3), ``o_loc`` (grid origin in the grid-axis frame, mm),
    ``size`` (nx, ny, nz), ``a`` (segment starts relative to the origin, mm), ``e`` (segment vectors,
    mm), ``ee`` (|e|², mm²), ``r0``, ``r1``, ``rmax`` (mm).
    """
    if not isinstance(network, VesselNetwork):
        raise InvalidInputError(f"network: expected a VesselNetwork, got {type(network).__name__}")
    sp, margin, dmat = _geometry(spacing_mm, margin_mm, direction)
    p0 = np.concatenate([v.points_mm[:-1] for v in network.vessels.values()]) @ dmat   # grid-axis frame
    p1 = np.concatenate([v.points_mm[1:] for v in network.vessels.values()]) @ dmat
    r0 = np.concatenate([v.radius_mm[:-1] for v in network.vessels.values()])
    r1 = np.concatenate([v.radius_mm[1:] for v in network.vessels.values()])
    rmax = np.maximum(r0, r1)
    lo = np.minimum(p0, p1) - rmax[:, None]
    hi = np.maximum(p0, p1) + rmax[:, None]
    tree_lo, tree_hi = lo.min(axis=0), hi.max(axis=0)
    if origin_mm is None:
        o_loc = tree_lo - margin
    else:
        o = np.asarray(origin_mm, dtype=np.float64)
        if o.shape != (3,) or not np.all(np.isfinite(o)):
            raise InvalidInputError(f"origin_mm: expected 3 finite numbers (mm), got {origin_mm!r}")
        o_loc = o @ dmat
        if np.any(tree_lo < o_loc - 1e-9):
            raise InvalidInputError(
                f"origin_mm={list(o)}: the tree extends {float(np.max(o_loc - tree_lo)):.3f} mm before the origin "
                f"along the image axes; choose an origin that puts the whole tree at indices >= 0")
    size = np.floor((tree_hi + margin - o_loc) / sp).astype(np.int64) + 1
    nvox = int(np.prod(size))
    if nvox > 2_000_000_000:
        raise InvalidInputError(f"spacing_mm={list(sp)}: the mask would have {nvox} voxels ({list(size)}); "
                                f"use a coarser spacing")
    a = p0 - o_loc
    e = p1 - p0
    ee = np.einsum("ij,ij->i", e, e)
    ahead, behind = _slab_neighbours(network, ee, rmax)
    return {"sp": sp, "dmat": dmat, "o_loc": o_loc, "size": size, "a": a, "e": e, "ee": ee, "r0": r0, "r1": r1,
            "rmax": rmax, "ahead": ahead, "behind": behind}


def _piece_voxels(g: dict, reach_mm: np.ndarray, chunk_voxels: int):
    """Yield ``(s, gi, gj, gk)`` chunk by chunk: every voxel index (i, j, k) of the bounding box of every
    piece of every segment ``s``, the box grown by ``reach_mm[s]`` (mm) beyond the segment's largest radius.

    Long segments are split into pieces so that no bounding box is much larger than needed; a voxel
    appears once per piece whose box holds it.
    """
    a, e, ee, sp, size = g["a"], g["e"], g["ee"], g["sp"], g["size"]
    rmax = g["rmax"] + reach_mm
    seg_len = np.sqrt(ee)
    piece = np.maximum(2.0, 2.0 * g["rmax"])
    npieces = np.ceil(seg_len / piece).astype(np.int64)
    npieces[npieces < 1] = 1
    seg = np.repeat(np.arange(len(a)), npieces)
    kpc = np.arange(len(seg)) - np.repeat(np.cumsum(npieces) - npieces, npieces)
    ta, tb = kpc / npieces[seg], (kpc + 1) / npieces[seg]
    qa, qb = a[seg] + ta[:, None] * e[seg], a[seg] + tb[:, None] * e[seg]
    blo = np.floor((np.minimum(qa, qb) - rmax[seg, None]) / sp).astype(np.int64)
    bhi = np.ceil((np.maximum(qa, qb) + rmax[seg, None]) / sp).astype(np.int64)
    blo = np.clip(blo, 0, size - 1)
    bhi = np.clip(bhi, 0, size - 1)
    dims = bhi - blo + 1
    counts = dims.prod(axis=1)
    csum = np.cumsum(counts)
    i0 = 0
    while i0 < len(seg):
        i1 = int(np.searchsorted(csum, (csum[i0 - 1] if i0 else 0) + chunk_voxels, side="right"))
        i1 = max(i1, i0 + 1)
        cnt = counts[i0:i1]
        item = np.repeat(np.arange(i0, i1), cnt)
        lin = np.arange(int(cnt.sum()), dtype=np.int64) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        dx, dy = dims[item, 0], dims[item, 1]
        gi = blo[item, 0] + lin % dx
        rest = lin // dx
        gj = blo[item, 1] + rest % dy
        gk = blo[item, 2] + rest // dy
        yield seg[item], gi, gj, gk
        i0 = i1


def _axis_offset(g: dict, s, px, py, pz):
    """Offset (mm) of grid points from their nearest point on the axis of segment ``s``, the tube radius
    there (mm) and the unclipped axial coordinate: ``(wx, wy, wz, rr, t_raw)``; a point is inside the
    segment's capsule when ``wx² + wy² + wz² <= rr²``, in its slab when ``0 <= t_raw <= 1``."""
    a, e, ee, r0, r1 = g["a"], g["e"], g["ee"], g["r0"], g["r1"]
    wx, wy, wz = px - a[s, 0], py - a[s, 1], pz - a[s, 2]
    ex, ey, ez = e[s, 0], e[s, 1], e[s, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        t_raw = (wx * ex + wy * ey + wz * ez) / ee[s]
    t = np.clip(t_raw, 0.0, 1.0)
    wx -= t * ex
    wy -= t * ey
    wz -= t * ez
    rr = r0[s] + t * (r1[s] - r0[s])
    return wx, wy, wz, rr, t_raw


def _lumen_inside(g: dict, s, px, py, pz) -> np.ndarray:
    """Which points (mm, grid frame) are in the lumen of segment ``s`` (flat arrays of one length): inside
    its capsule and not in a joint sphere's part that belongs to a neighbour (:func:`_in_neighbour_slab`)."""
    wx, wy, wz, rr, t_raw = _axis_offset(g, s, px, py, pz)
    inside = wx * wx + wy * wy + wz * wz <= rr * rr
    inside &= ~_in_neighbour_slab(s, t_raw, inside, px, py, pz, g["a"], g["e"], g["ee"], g["ahead"], g["behind"])
    return inside


def voxelize_array(network: VesselNetwork, spacing_mm=0.4, margin_mm=3.0, direction=None, origin_mm=None,
                    chunk_voxels: int = 1 << 18):
    """Lumen mask as a ``(nz, ny, nx)`` uint8 array plus origin, spacing, direction; see :func:`voxelize`."""
    g = _segment_grid(network, spacing_mm, margin_mm, direction, origin_mm)
    sp, size = g["sp"], g["size"]
    nx, ny, nz = (int(x) for x in size)
    mask = np.zeros(int(np.prod(size)), dtype=np.uint8)
    for s, gi, gj, gk in _piece_voxels(g, np.zeros(len(g["a"])), chunk_voxels):
        inside = _lumen_inside(g, s, gi * sp[0], gj * sp[1], gk * sp[2])
        mask[((gk[inside] * ny) + gj[inside]) * nx + gi[inside]] = 1
    origin = g["dmat"] @ g["o_loc"]
    return mask.reshape(nz, ny, nx), origin, sp, g["dmat"]


#: Default sub-samples per voxel axis of the partial-volume voxeliser (N³ = 125 per voxel).
PARTIAL_VOLUME_SUPERSAMPLE = 5


def partial_volume_array(network: VesselNetwork, spacing_mm=0.4, margin_mm=3.0, direction=None, origin_mm=None,
                          supersample: int = PARTIAL_VOLUME_SUPERSAMPLE, chunk_voxels: int = 1 << 18,
                          chunk_samples: int = 1 << 20):
    """Fraction of each voxel inside the lumen as a ``(nz, ny, nx)`` float32 array plus origin, spacing,
    direction; see :func:`voxelize`.

    Two passes over the segments' bounding boxes. The first classifies voxels by the tube depth
    ``d = r(t) - |w|`` of their centre (mm, > 0 inside the segment's tube): ``d`` changes by at most
    ``λ = sqrt(1 + (dr/ds)²)`` per mm (``dr/ds`` the segment's taper), so a voxel whose centre is deeper
    than ``λ ρ`` inside some tube (``ρ`` the voxel's half diagonal) would lie wholly inside its capsule,
    and one whose centre is farther than ``λ ρ`` outside every tube lies wholly outside. The lumen is
    the capsules less the joint spheres' parts that belong to a neighbouring segment's cone (see
    :func:`voxelize`), so a voxel counts as wholly inside only when its centre lies in its segment's
    slab (``0 <= t <= 1``) at a depth of at least ``3 λ' ρ`` (``λ'`` over the segment and its
    neighbours: a sub-sample that crosses into a neighbour's slab stays inside that neighbour's cone).
    Only the voxels in between (the boundary band) are supersampled, in the second pass, against the
    segments that come within ``λ ρ`` of their centre, with the same rule as the binary mask; their
    sub-samples are OR-ed over segments (the lumen is a union).
    Memory: the float32 image, two bytes per voxel for the classification, N³ booleans per boundary
    voxel and a work buffer of ``chunk_samples`` sub-samples.
    """
    if isinstance(supersample, bool) or not isinstance(supersample, (int, np.integer)) or supersample < 1:
        raise InvalidInputError(f"supersample: expected an integer >= 1 (sub-samples per voxel axis), "
                                f"got {supersample!r}")
    n = int(supersample)
    g = _segment_grid(network, spacing_mm, margin_mm, direction, origin_mm)
    sp, size = g["sp"], g["size"]
    nx, ny, nz = (int(x) for x in size)
    nvox = int(np.prod(size))
    half_diag = 0.5 * float(np.linalg.norm(sp))
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(g["ee"] > 0, np.abs(g["r1"] - g["r0"]) / np.sqrt(g["ee"]), 0.0)
    band = half_diag * np.sqrt(1.0 + slope * slope) * (1.0 + 1e-9) + 1e-12   # λ ρ per segment, mm
    slope_nb = slope.copy()
    for table in (g["ahead"], g["behind"]):
        for k in range(table.shape[1]):
            has = table[:, k] >= 0
            slope_nb[has] = np.maximum(slope_nb[has], slope[table[has, k]])
    deep = 3.0 * half_diag * np.sqrt(1.0 + slope_nb * slope_nb) * (1.0 + 1e-9) + 1e-12   # 3 λ' ρ, mm
    touched = np.zeros(nvox, dtype=bool)
    inner = np.zeros(nvox, dtype=bool)
    for s, gi, gj, gk in _piece_voxels(g, band, chunk_voxels):
        wx, wy, wz, rr, t_raw = _axis_offset(g, s, gi * sp[0], gj * sp[1], gk * sp[2])
        d = rr - np.sqrt(wx * wx + wy * wy + wz * wz)
        lin = (gk * ny + gj) * nx + gi
        touched[lin[d > -band[s]]] = True
        inner[lin[(d >= deep[s]) & (t_raw >= 0.0) & (t_raw <= 1.0)]] = True
    frac = np.zeros(nvox, dtype=np.float32)
    frac[inner] = 1.0
    boundary = np.flatnonzero(touched & ~inner)
    del touched
    if boundary.size:
        hits = np.zeros((boundary.size, n ** 3), dtype=bool)
        u = ((np.arange(n) + 0.5) / n - 0.5)
        ox, oy, oz = (x.ravel() for x in np.meshgrid(u * sp[0], u * sp[1], u * sp[2], indexing="ij"))
        step = max(1, chunk_samples // n ** 3)
        for s, gi, gj, gk in _piece_voxels(g, band, chunk_voxels):
            lin = (gk * ny + gj) * nx + gi
            keep = ~inner[lin]
            s, gi, gj, gk, lin = s[keep], gi[keep], gj[keep], gk[keep], lin[keep]
            wx, wy, wz, rr, _ = _axis_offset(g, s, gi * sp[0], gj * sp[1], gk * sp[2])
            near = rr - np.sqrt(wx * wx + wy * wy + wz * wz) > -band[s]
            s, gi, gj, gk = s[near], gi[near], gj[near], gk[near]
            row = np.searchsorted(boundary, lin[near])
            for j0 in range(0, len(s), step):
                sl = slice(j0, j0 + step)
                shape = (len(s[sl]), n ** 3)
                inside = _lumen_inside(g, np.broadcast_to(s[sl][:, None], shape).ravel(),
                                       (gi[sl, None] * sp[0] + ox).ravel(), (gj[sl, None] * sp[1] + oy).ravel(),
                                       (gk[sl, None] * sp[2] + oz).ravel()).reshape(shape)
                rows = row[sl]
                order = np.argsort(rows, kind="stable")
                rows, inside = rows[order], inside[order]
                first = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
                hits[rows[first]] |= np.logical_or.reduceat(inside, first, axis=0)
        frac[boundary] = hits.sum(axis=1, dtype=np.int64) / float(n ** 3)
    origin = g["dmat"] @ g["o_loc"]
    return frac.reshape(nz, ny, nx), origin, sp, g["dmat"]


def _slab_neighbours(network: VesselNetwork, ee: np.ndarray, rmax: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every segment (in the order of :func:`voxelize_array`), the following and preceding segments
    of the same vessel within reach of its end spheres: ``(ahead, behind)``, (n_segments, K) int arrays
    (-1 = none). Segment ``s + k`` is listed while the segments between lie within ``rmax[s]`` of its end."""
    n = len(ee)
    vessel = np.concatenate([np.full(len(v.points_mm) - 1, k) for k, v in enumerate(network.vessels.values())])
    seg_len = np.sqrt(ee)
    cols_a, cols_b = [], []
    reach_a = np.zeros(n)
    reach_b = np.zeros(n)
    idx = np.arange(n)
    for k in range(1, 64):
        nxt, prv = idx + k, idx - k
        ok_a = (nxt < n) & (reach_a < rmax)
        ok_a[ok_a] &= vessel[nxt[ok_a]] == vessel[ok_a]
        ok_b = (prv >= 0) & (reach_b < rmax)
        ok_b[ok_b] &= vessel[prv[ok_b]] == vessel[ok_b]
        if not ok_a.any() and not ok_b.any():
            break
        cols_a.append(np.where(ok_a, nxt, -1))
        cols_b.append(np.where(ok_b, prv, -1))
        reach_a[ok_a] += seg_len[nxt[ok_a]]
        reach_b[ok_b] += seg_len[prv[ok_b]]
    empty = np.full((n, 0), -1, dtype=np.int64)
    return (np.stack(cols_a, axis=1) if cols_a else empty), (np.stack(cols_b, axis=1) if cols_b else empty)


def _in_neighbour_slab(s, t_raw, inside, px, py, pz, a, e, ee, ahead, behind) -> np.ndarray:
    """Which grid points inside an end sphere of their segment ``s`` (``t_raw`` outside [0, 1]) lie in the
    slab (0 <= t <= 1) of a neighbouring segment of the same vessel on that side.

    Such a point's nearest axis point is on the neighbour, so the lumen there is the neighbour's cone:
    the sphere must not count, or a steep radius change (a short lesion) is filled by the spheres of the
    wider points around it and the mask's lumen is wider than the network's radius r(s).
    """
    out = np.zeros(len(s), dtype=bool)
    for side, table in ((t_raw > 1.0, ahead), (t_raw < 0.0, behind)):
        cand = np.flatnonzero(inside & side)
        for k in range(table.shape[1]):
            if not cand.size:
                break
            nb = table[s[cand], k]
            has = nb >= 0
            cand, nb = cand[has], nb[has]
            with np.errstate(divide="ignore", invalid="ignore"):
                tn = ((px[cand] - a[nb, 0]) * e[nb, 0] + (py[cand] - a[nb, 1]) * e[nb, 1]
                      + (pz[cand] - a[nb, 2]) * e[nb, 2]) / ee[nb]
            hit = (tn >= 0.0) & (tn <= 1.0)
            out[cand[hit]] = True
            cand = cand[~hit]
    return out


def voxelize(network: VesselNetwork, spacing_mm: float | Sequence[float] = 0.4, margin_mm: float = 3.0,
             direction: Sequence[float] | np.ndarray | None = None,
             origin_mm: Sequence[float] | None = None, partial_volume: bool = False,
             supersample: int = PARTIAL_VOLUME_SUPERSAMPLE):
    """Lumen mask, or lumen fraction of every voxel, of a network on a regular grid with a given geometry.

    The lumen is the union, over all consecutive centerline points of all vessels, of the swept
    tubes: a point ``x`` is inside the segment ``p0 -> p1`` (radii ``r0``, ``r1``) when, with
    ``t = clip((x - p0)·(p1 - p0) / |p1 - p0|^2, 0, 1)``, ``|x - p0 - t (p1 - p0)| <= r0 + t (r1 - r0)``
    (spheres at the joints and ends). A point in a joint's sphere that lies in the slab
    ``0 <= t <= 1`` of a neighbouring segment of the same vessel belongs to that segment's cone alone,
    so the cross-section normal to the centerline has the network's radius r(s) even where the radius
    changes fast (a short lesion; spheres of the wider points around it would otherwise fill it); the
    spheres still close the outer side of bends, the vessel ends and the junctions. A binary voxel is 1
    when its centre is inside.

    Parameters
    ----------
    network : VesselNetwork
        Centerlines and radii, mm (world LPS).
    spacing_mm : float or 3 floats
        Voxel spacing along the image axes i, j, k, mm (may be anisotropic).
    margin_mm : float
        Empty margin around the tree's bounding box (including the radii), mm.
    direction : 3x3 array or 9 floats (row-major), optional
        Orthonormal direction matrix: column ``j`` is the world direction of image axis ``j``
        (the ITK/SimpleITK convention). Default identity.
    origin_mm : 3 floats, optional
        World position of voxel (0, 0, 0), mm. Default: the corner of the tree's bounding box
        (in the image axes) minus the margin. A given origin must leave the whole tree at
        indices >= 0; the size then extends to the tree plus the margin.
    partial_volume : bool
        Return the fraction of each voxel (the box of one spacing centred on the voxel) inside the
        lumen instead of the binary mask: an exact partial-volume probability map.
    supersample : int
        With ``partial_volume``: sub-samples per voxel axis (``N``); the fraction is the share of the
        ``N³`` sub-voxel centres inside the lumen (midpoint rule), in steps of ``1/N³``. Voxels wholly
        inside or outside are found exactly without sampling. ``supersample=1`` gives the binary mask.

    Returns
    -------
    SimpleITK.Image
        uint8, 1 inside the lumen; or float32 fractions in [0, 1] with ``partial_volume``. The world
        position of index ``(i, j, k)`` is ``origin + direction @ (spacing * (i, j, k))`` (mm, LPS).

    Raises
    ------
    InvalidInputError
        For a bad spacing, margin, direction, origin or supersample, or a grid too large (> 2e9 voxels).

    Notes
    -----
    Work is done per segment in its bounding box, vectorised over chunks of segments; memory is
    the image (1 byte per voxel, 4 with ``partial_volume``) plus a fixed work buffer (and, with
    ``partial_volume``, 2 bytes per voxel and ``N³`` bytes per voxel of the boundary band).

    Accuracy of the fractions: the midpoint rule misplaces the wall inside a voxel by at most half a
    sub-sample step, ``h / (2N)`` (h the spacing), where the wall is parallel to a grid plane and
    much less where it is oblique (errors of neighbouring sub-sample rows cancel). Summed over a
    volume the errors largely cancel: an oblique tube of radius 0.5 or 1.2 mm at 0.4 mm voxels and
    N = 5 holds its volume π r² L + 4/3 π r³ to within 0.4 %. Along a tube parallel to an image axis
    every slice repeats the same sub-sample lattice, so the cross-section's counting error (1.3–1.4 %
    of the area at r = 0.5 and 1.2 mm, N = 5; 0.1–0.9 % at N = 9) does not average out.
    """
    import SimpleITK as sitk

    if partial_volume:
        arr, origin, sp, dmat = partial_volume_array(network, spacing_mm, margin_mm, direction, origin_mm,
                                                      supersample=supersample)
    else:
        arr, origin, sp, dmat = voxelize_array(network, spacing_mm, margin_mm, direction, origin_mm)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(tuple(float(x) for x in sp))
    img.SetOrigin(tuple(float(x) for x in origin))
    img.SetDirection(tuple(float(x) for x in dmat.ravel()))
    return img
