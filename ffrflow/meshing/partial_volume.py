"""Lumen cross-section area from a partial-volume map by integration, not by contouring.

A lumen probability map that holds partial-volume fractions (each voxel the fraction of its volume
that is lumen: an exact phantom map, or a calibrated segmentation network's soft output) holds the
lumen volume exactly, ``V = Σ p_v h³``, however small the vessel is against the voxel. Its iso-surface
does not: at a throat of one or two voxels the 0.5 level of the fractions follows the grid, and its
cross-sections read the minimal lumen area 10–40 % high or low depending on where the throat falls
between voxel centres. The area of the cross-section at arclength s is the derivative of the volume
along the centerline, and is measured as a windowed volume:

.. math::

    A_w(s) = \\frac{1}{\\Delta} \\sum_v p_v\\, h^3\\, w\\!\\left(\\frac{(\\mathbf{x}_v - \\mathbf{c}(s))\\cdot \\mathbf{t}(s)}{\\Delta}\\right),

over the voxels whose centre lies within a lateral cap ``ρ ≤ R`` of the axis (``c(s)`` the centerline
point, ``t(s)`` its unit tangent, Δ the largest voxel spacing, ``w`` the quadratic B-spline
``3/4 − u²`` for ``|u| ≤ 1/2``, ``(3/2 − |u|)²/2`` for ``1/2 < |u| ≤ 3/2``). The window sums to one on
a lattice line of spacing Δ along the axis, and to within 0.3 % on any finer one (its Fourier
transform is sinc³), so a straight tube gives its area whatever its orientation; ``A_w`` is the true
area profile convolved along the axis with the window (variance Δ²/4) and the voxel box (variance
h_t²/12, ``h_t`` the spacing along the tangent), which is undone to second order:
``A = A_w − ½ σ² A_w''``. The radius is ``√(A/π)``.

A point is measured this way only when its cap holds the whole lumen and nothing else: the fractions
in the outermost voxel shell of the cap sum to less than :data:`RIM_FRACTION` of the total (a
neighbouring branch near a junction, or a lumen wider than the cap, fails it; the contoured radius is
kept there).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .mask import LumenMask
from .radius import tangents
from .stenosis import second_derivative

#: The cap's outer shell (one largest spacing thick) may hold at most this share of the windowed volume.
RIM_FRACTION = 0.01
#: Cap radius: ``CAP_FACTOR · r_guess + CAP_MARGIN_VOXELS · Δ`` (mm).
CAP_FACTOR = 1.4
CAP_MARGIN_VOXELS = 2.5


def window_sums_reference(frac, idx, sp, dmat, tg, caps, delta):
    """NumPy reference of :func:`window_sums`: per point, the windowed fraction sum inside the cap and
    the part of it in the cap's outer shell (``ρ > cap − Δ``), both in voxels (× h³ for mm³)."""
    n = len(idx)
    nz, ny, nx = frac.shape
    total = np.zeros(n)
    rim = np.zeros(n)
    for i in range(n):
        reach = np.ceil(np.sqrt(caps[i] ** 2 + (1.5 * delta) ** 2) / sp).astype(np.int64) + 1
        c = np.floor(idx[i]).astype(np.int64)
        lo = np.maximum(c - reach, 0)
        hi = np.minimum(c + reach + 1, (nx, ny, nz))
        if np.any(hi <= lo):
            continue
        block = frac[lo[2]:hi[2], lo[1]:hi[1], lo[0]:hi[0]]
        kz, ky, kx = np.nonzero(block)
        if not len(kz):
            continue
        p = block[kz, ky, kx].astype(np.float64)
        xw = ((np.column_stack([kx + lo[0], ky + lo[1], kz + lo[2]]) - idx[i]) * sp) @ dmat.T
        d = xw @ tg[i]
        u = np.abs(d) / delta
        w = np.where(u <= 0.5, 0.75 - u * u, np.where(u < 1.5, 0.5 * (1.5 - u) ** 2, 0.0))
        rho = np.linalg.norm(xw - d[:, None] * tg[i], axis=1)
        inside = (w > 0) & (rho <= caps[i])
        total[i] = float((p * w)[inside].sum())
        rim[i] = float((p * w)[inside & (rho > caps[i] - delta)].sum())
    return total, rim


@njit(cache=True)
def window_sums(frac, idx, sp, dmat, tg, caps, delta):
    """Numba version of :func:`window_sums_reference` (same arguments and results): ``frac`` (nz, ny, nx)
    fractions, ``idx`` (N, 3) continuous array indices (x, y, z) of the points, ``sp`` (3,) spacing mm,
    ``dmat`` (3, 3) direction, ``tg`` (N, 3) unit tangents (world), ``caps`` (N,) cap radii mm, ``delta``
    the window's Δ (mm)."""
    n = idx.shape[0]
    nz, ny, nx = frac.shape
    total = np.zeros(n)
    rim = np.zeros(n)
    dims = (nx, ny, nz)
    for i in range(n):
        lo = np.empty(3, np.int64)
        hi = np.empty(3, np.int64)
        for a in range(3):
            reach = int(np.ceil(np.sqrt(caps[i] ** 2 + (1.5 * delta) ** 2) / sp[a])) + 1
            c = int(np.floor(idx[i, a]))
            lo[a] = max(c - reach, 0)
            hi[a] = min(c + reach + 1, dims[a])
        cap2 = caps[i] * caps[i]
        inner = max(caps[i] - delta, 0.0)
        inner2 = inner * inner
        t0, t1, t2 = tg[i, 0], tg[i, 1], tg[i, 2]
        for kz in range(lo[2], hi[2]):
            for ky in range(lo[1], hi[1]):
                for kx in range(lo[0], hi[0]):
                    p = frac[kz, ky, kx]
                    if p == 0.0:
                        continue
                    rx = (kx - idx[i, 0]) * sp[0]
                    ry = (ky - idx[i, 1]) * sp[1]
                    rz = (kz - idx[i, 2]) * sp[2]
                    x0 = dmat[0, 0] * rx + dmat[0, 1] * ry + dmat[0, 2] * rz
                    x1 = dmat[1, 0] * rx + dmat[1, 1] * ry + dmat[1, 2] * rz
                    x2 = dmat[2, 0] * rx + dmat[2, 1] * ry + dmat[2, 2] * rz
                    d = x0 * t0 + x1 * t1 + x2 * t2
                    u = abs(d) / delta
                    if u >= 1.5:
                        continue
                    w = 0.75 - u * u if u <= 0.5 else 0.5 * (1.5 - u) ** 2
                    e0, e1, e2 = x0 - d * t0, x1 - d * t1, x2 - d * t2
                    rho2 = e0 * e0 + e1 * e1 + e2 * e2
                    if rho2 > cap2:
                        continue
                    total[i] += p * w
                    if rho2 > inner2:
                        rim[i] += p * w
    return total, rim


def section_areas(mask: LumenMask, points_mm: np.ndarray, tangents: np.ndarray, r_guess_mm: np.ndarray,
                  sums=None) -> tuple[np.ndarray, np.ndarray]:
    """Windowed-volume cross-section area (mm²) at every point of one vessel, and where it is valid.

    Parameters
    ----------
    mask : LumenMask
        Of a probability map: its ``fractions`` (partial-volume fractions in [0, 1]) are summed.
    points_mm, tangents : ndarray (N, 3)
        Centerline points (world mm) and unit tangents.
    r_guess_mm : ndarray (N,)
        Radius (mm) measured otherwise (the contoured surface): sets the cap.
    sums : callable, optional
        :func:`window_sums` (default) or :func:`window_sums_reference`.

    Returns
    -------
    area_mm2 : ndarray (N,)
        Windowed area ``A_w`` (not yet de-blurred), NaN where invalid.
    ok : ndarray of bool (N,)
    """
    if mask.fractions is None:
        raise ValueError(f"{mask.source}: section_areas needs a probability map's fractions (LumenMask.fractions)")
    frac = mask.fractions
    base = np.asarray(mask.offset, dtype=np.float64) - 1.0            # grown by one voxel on every side
    sp = np.asarray(mask.spacing_mm, dtype=np.float64)
    dmat = np.ascontiguousarray(mask.direction, dtype=np.float64)
    delta = float(sp.max())
    pts = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3)
    idx = np.ascontiguousarray(mask.world_to_index(pts) - base)        # continuous (x, y, z) in the array
    caps = CAP_FACTOR * np.asarray(r_guess_mm, dtype=np.float64) + CAP_MARGIN_VOXELS * delta
    total, rim = (sums or window_sums)(frac, idx, sp, dmat, np.ascontiguousarray(tangents, dtype=np.float64),
                                       np.ascontiguousarray(caps), delta)
    ok = (total > 0.0) & (rim <= RIM_FRACTION * total)
    area = np.where(ok, total * float(np.prod(sp)) / delta, np.nan)
    return area, ok


def blur_variance_mm2(mask: LumenMask, tangents: np.ndarray) -> np.ndarray:
    """Axial variance (mm²) of what :func:`section_areas` does to an area profile: the window's Δ²/4 plus
    the voxel box along the tangent, ``Σ_j (s_j t_j)² / 12`` (the fractions' own box blur)."""
    sp = np.asarray(mask.spacing_mm, dtype=np.float64)
    t_img = np.asarray(tangents, dtype=np.float64) @ np.asarray(mask.direction, dtype=np.float64)
    box = (t_img ** 2) @ (sp ** 2) / 12.0
    return float(sp.max()) ** 2 / 4.0 + box


def volume_radii(mask: LumenMask, network, min_points: int = 3) -> dict:
    """Replace, in place, the radius of every valid point of every vessel by the windowed-volume radius
    (mm): ``√(A/π)`` with ``A = A_w − ½ σ² A_w''`` (module docstring). Returns ``{"points", "replaced"}``."""
    total = replaced = 0
    for v in network.vessels.values():
        pts = np.asarray(v.points_mm, dtype=np.float64)
        total += len(pts)
        if len(pts) < min_points:
            continue
        tg = tangents(pts)
        a_w, ok = section_areas(mask, pts, tg, np.asarray(v.radius_mm, dtype=np.float64))
        if ok.sum() < min_points:
            continue
        s = v.arclength_mm
        a_fill = np.interp(s, s[ok], a_w[ok])
        a = a_fill - 0.5 * blur_variance_mm2(mask, tg) * second_derivative(s, a_fill, smooth_mm=0.15)
        r = np.asarray(v.radius_mm, dtype=np.float64).copy()
        r[ok] = np.sqrt(np.maximum(a[ok], 0.0025 * np.pi) / np.pi)
        v.radius_mm = r
        replaced += int(ok.sum())
    return {"points": int(total), "replaced": int(replaced)}
