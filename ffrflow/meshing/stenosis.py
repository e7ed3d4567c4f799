"""Lesion detection and grading on the radius profile of every vessel (docs/physics.md §Lesion detection).

Reference (healthy) radius
    A robust taper fit of ``log r(s) = a + b s`` along each vessel (a vessel runs between two
    junctions, so the healthy lumen tapers smoothly there; the radius steps down at bifurcations,
    which are vessel ends). Iteratively reweighted: points more than ``max(2.5 σ, 5 %)`` below the
    fit are treated as diseased and excluded, as are points more than ``max(3 σ, 10 %)`` above it
    (σ = 1.4826·MAD of the healthy residuals); the fit is redone until the healthy set stops
    changing. Short vessels (< 12 mm or < 8 points) get a constant reference. When fewer than 30 % of
    the points remain healthy the reference falls back to the 80th percentile of the radius. This is
    the interpolated reference of quantitative coronary angiography: the lumen the vessel would have
    without the lesion, interpolated from the healthy segments around it.

Lesions
    Contiguous runs where the diameter reduction ``1 − r/r_ref`` reaches the threshold (30 % by
    default, ``model.stenosis_threshold_pct``), extended on both sides to the shoulders where the
    reduction falls below ``shoulder_pct`` (10 %). Two runs whose shoulders overlap are split at the
    widest point between them. Each lesion is graded by :func:`ffrflow.network.lesion_geometry`
    (MLD, reference diameter, %DS, %AS, length, position from the ostium).

Given lesions (a vessel with a ``lesions`` list, even empty) replace detection on that vessel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..network import Lesion, VesselNetwork, lesion_geometry

SHOULDER_PCT = 10.0
_MIN_FIT_LENGTH_MM = 12.0
_MIN_FIT_POINTS = 8


@dataclass
class ReferenceFit:
    """Reference radius of one vessel: ``radius_mm`` at each centerline point and how it was fit."""

    radius_mm: np.ndarray
    healthy: np.ndarray
    method: str


def reference_radius(s_mm: np.ndarray, r_mm: np.ndarray, max_iter: int = 30) -> ReferenceFit:
    """Robust taper fit of the healthy lumen radius along one vessel (see module docstring).

    Parameters
    ----------
    s_mm : (n,) arclength, mm (increasing; uneven sampling is fit on an even resampling at its coarsest
        step, so that the fit weighs every millimetre of vessel the same)
    r_mm : (n,) lumen radius, mm

    Returns
    -------
    ReferenceFit
        Reference radius at each point (mm), the healthy mask and the method used.
    """
    s = np.asarray(s_mm, dtype=np.float64)
    steps = np.diff(s)
    if steps.size >= 2 and steps.min() > 0 and steps.max() > 1.5 * steps.min():
        # uneven sampling (finer inside lesions): fit on an even resampling at the coarsest step, so that
        # every millimetre of vessel counts the same, not every point
        su = np.linspace(s[0], s[-1], max(int(round((s[-1] - s[0]) / steps.max())), 1) + 1)
        fit_u = reference_radius(su, np.interp(su, s, np.asarray(r_mm, dtype=np.float64)), max_iter)
        return ReferenceFit(np.exp(np.interp(s, su, np.log(fit_u.radius_mm))),
                            np.interp(s, su, fit_u.healthy.astype(np.float64)) > 0.5, fit_u.method)
    y = np.log(np.asarray(r_mm, dtype=np.float64))
    n = y.size
    linear = (s[-1] - s[0]) >= _MIN_FIT_LENGTH_MM and n >= _MIN_FIT_POINTS
    healthy = np.ones(n, dtype=bool)
    fit = np.full(n, np.median(y))
    for _ in range(max_iter):
        if healthy.sum() < 2:
            break
        if linear and healthy.sum() >= max(4, n // 5):
            b, a = np.polyfit(s[healthy], y[healthy], 1)
            fit = a + b * s
        else:
            fit = np.full(n, np.median(y[healthy]))
        e = y - fit
        mad = np.median(np.abs(e[healthy] - np.median(e[healthy])))
        sigma = max(1.4826 * mad, 0.005)
        new = (e > -max(2.5 * sigma, 0.05)) & (e < max(3.0 * sigma, 0.10))
        if np.array_equal(new, healthy):
            break
        healthy = new
    if healthy.mean() < 0.3:
        ref = np.full(n, np.percentile(r_mm, 80))
        return ReferenceFit(ref, healthy, "80th percentile (too few healthy points for a taper fit)")
    return ReferenceFit(np.exp(fit), healthy, "log-linear taper" if linear else "constant")


def find_runs(s_mm: np.ndarray, ds: np.ndarray, threshold: float, shoulder: float) -> list[tuple[int, int]]:
    """Index ranges ``(i0, i1)`` (inclusive) of lesions on one profile of diameter reduction ``ds``.

    Cores are maximal runs with ``ds >= threshold``; each is extended to where ``ds < shoulder``.
    Cores whose extensions overlap are split at the point of least reduction between them.
    """
    core = ds >= threshold
    if not core.any():
        return []
    idx = np.flatnonzero(core)
    breaks = np.flatnonzero(np.diff(idx) > 1)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    ends = np.concatenate([idx[breaks], [idx[-1]]])
    n = ds.size
    runs = []
    for c0, c1 in zip(starts, ends):
        i0 = c0
        while i0 > 0 and ds[i0 - 1] >= shoulder:
            i0 -= 1
        i1 = c1
        while i1 < n - 1 and ds[i1 + 1] >= shoulder:
            i1 += 1
        # include the first point back below the shoulder so the lesion spans its shoulders
        runs.append([max(i0 - 1, 0), min(i1 + 1, n - 1), c0, c1])
    out: list[list[int]] = []
    for run in runs:
        if out and run[0] <= out[-1][1]:
            prev = out[-1]
            gap = slice(prev[3], run[2] + 1)
            split = prev[3] + int(np.argmin(ds[gap]))
            prev[1] = split
            run[0] = split
        out.append(run)
    return [(r[0], r[1]) for r in out if r[1] > r[0]]


def detect_vessel_lesions(s_mm: np.ndarray, r_mm: np.ndarray, threshold_pct: float = 30.0,
                          shoulder_pct: float = SHOULDER_PCT) -> tuple[list[Lesion], ReferenceFit]:
    """Lesions on one vessel's radius profile (arclength ``s_mm``, radius ``r_mm``, both mm)."""
    ref = reference_radius(s_mm, r_mm)
    ds = 1.0 - np.asarray(r_mm) / ref.radius_mm
    lesions = []
    for i0, i1 in find_runs(np.asarray(s_mm), ds, threshold_pct / 100.0, shoulder_pct / 100.0):
        k = i0 + int(np.argmin(np.asarray(r_mm)[i0:i1 + 1]))
        lesions.append(Lesion(float(s_mm[i0]), float(s_mm[i1]), float(ref.radius_mm[k])))
    return lesions, ref


def detect_lesions(net: VesselNetwork, threshold_pct: float | None = None,
                   shoulder_pct: float = SHOULDER_PCT) -> VesselNetwork:
    """A copy of ``net`` with detected lesions on every vessel that has no ``lesions`` list.

    Parameters
    ----------
    net : VesselNetwork
    threshold_pct : float, optional
        Diameter reduction (%) that makes a lesion; default ``net.model.stenosis_threshold_pct``.
    shoulder_pct : float
        Diameter reduction (%) at which a lesion's extent ends.

    Returns
    -------
    VesselNetwork
        Vessels with given lesions keep them (a missing reference radius is filled from the taper
        fit); the others get the detected ones (possibly an empty list). ``meta["lesion_detection"]``
        records the threshold and which vessels were detected versus given.
    """
    thr = net.model.stenosis_threshold_pct if threshold_pct is None else float(threshold_pct)
    out = net.copy()
    detected, given = [], []
    for vid, v in out.vessels.items():
        s = v.arclength_mm
        if v.lesions is None:
            v.lesions, _ = detect_vessel_lesions(s, v.radius_mm, thr, shoulder_pct)
            detected.append(vid)
        else:
            given.append(vid)
            if any(les.reference_radius_mm is None for les in v.lesions):
                ref = reference_radius(s, v.radius_mm).radius_mm
                for les in v.lesions:
                    if les.reference_radius_mm is None:
                        mid = 0.5 * (les.start_mm + les.end_mm)
                        les.reference_radius_mm = float(np.interp(mid, s, ref))
    out.meta["lesion_detection"] = {"threshold_pct": thr, "shoulder_pct": shoulder_pct,
                                    "detected_on": detected, "given_on": given}
    return out


def lesion_table(net: VesselNetwork) -> list[dict]:
    """Geometry of every lesion in ``net`` (the ``lesions.json`` records; no pressures)."""
    rows = []
    n = 0
    for vid, v in net.vessels.items():
        for les in v.lesions or []:
            n += 1
            geo = lesion_geometry(net, vid, les)
            geo.pop("mld_s_mm", None)
            rows.append({"id": f"L{n}", **geo})
    return rows


def second_derivative(s_mm: np.ndarray, r_mm: np.ndarray, smooth_mm: float = 0.3, step_mm: float = 0.05) -> np.ndarray:
    """d²r/ds² (1/mm) of a radius profile sampled at arclengths ``s_mm`` (possibly unevenly), from the
    profile resampled every ``step_mm`` and smoothed by a Gaussian of ``smooth_mm`` (mm)."""
    from scipy.ndimage import gaussian_filter1d

    if len(s_mm) < 3 or s_mm[-1] - s_mm[0] < 4 * step_mm:
        return np.zeros(len(s_mm))
    su = np.arange(s_mm[0], s_mm[-1] + 0.5 * step_mm, step_mm)
    ru = gaussian_filter1d(np.interp(su, s_mm, r_mm), smooth_mm / step_mm, mode="nearest")
    d2 = np.gradient(np.gradient(ru, step_mm), step_mm)
    return np.interp(s_mm, su, d2)
