"""Lesion pressure-drop models (``model.lesion``), used the same way by every solver.

Each lesion from ``start_mm`` to ``end_mm`` with reference radius r0 (A0 = π r0²) and minimal radius
r_s (A_s = π r_s², D_s = 2 r_s, σ = A_s/A0) adds to the vessel law ΔP = R Q + S Q|Q|:

``"poiseuille-kt"``
    viscous: Poiseuille along the real radius, R = (8μ/π)∫ds/r⁴ (exact on the piecewise-linear
    profile); expansion: S = K_t ρ/(2A0²)(A0/A_s − 1)², K_t = 1.52 (Young & Tsai 1973).

``"young-tsai"`` (full Young & Tsai 1973)
    viscous: K_v μ/(A0 D0) with K_v = 32 (0.83 L_s + 1.64 D_s)(A0/A_s)²/D0 replacing the
    Poiseuille integral over the lesion; expansion as above.

``"ns-calibrated"`` (calibrated on the Navier–Stokes table, ``benchmarks/data/stenosis_ns``)
    The drop a pressure wire reads 20 r0 downstream of the lesion (where the Navier–Stokes table
    measures it). With the throat velocity u_s = Q/A_s, its dynamic pressure E = ρu_s²/2, the
    throat Reynolds number Re_s = ρ u_s D_s/μ and the Borda–Carnot loss B = E (1 − σ)²
    (= ρ/(2A0²)(A0/A_s − 1)² Q²):

    ΔP = Poiseuille along the real radius                                          (viscous)
       + B · K · φ,   K = k_exp + k_as (1 − σ) + k_steep · max(0, θ_in − θ_0)     (jet mixing)
       + E (1 − σ) · max(0, λ − λ_0) · (k_dev + c_dev / Re_s)                      (throat development)
       + k_rec ρ u_s² σ(1 − σ) · max(0, 1 − x_w / L_j)                              (recovery not reached)

    * **Jet mixing.** The sudden-expansion (Borda–Carnot) loss of the jet leaving the throat. Its
      coefficient grows with the severity (the jet of a tight throat separates at once; a mild one
      partly follows a gradual divergence) and with the steepness of the inlet ramp θ_in = max|dr/ds|
      upstream of the throat: a steep entrance contracts the jet below the geometric throat (vena
      contracta), which a gradual one does not.
    * **Throat development.** Along a narrowed segment the profile flattened by the contraction
      develops again: the wall shear exceeds Poiseuille's and the jet leaves with more momentum
      flux. λ = (length of the throat band upstream of the throat exit)/D_s, the band being where
      r ≤ r_s + 0.1 (r0 − r_s); the excess is proportional to the contraction (1 − σ) and smaller at
      low Reynolds numbers, where the profile is close to Poiseuille's throughout (c_dev < 0).
    * **Recovery not reached.** Past the throat the jet re-attaches after
      L_j = c_jet exp(−k_jet σ) Re_s D_s (fitted on the recirculation lengths of the table); the
      static pressure recovers the momentum ρ u_s² σ(1 − σ) of the sudden expansion over that
      length. A wire at x_w from the throat exit (the lesion end + 20 r0) inside the recirculation
      misses the fraction 1 − x_w/L_j of it (k_rec = 1: the momentum balance, not fitted).
    * **Lesions in tandem.** When the next lesion of the same vessel starts a distance x_n after the
      throat exit, inside the jet (x_n < L_j), the jet has not mixed when the flow meets the second
      narrowing: of the pair, the tighter lesion keeps its mixing loss; the milder one, when it is
      the upstream one, loses only φ = (x_n/L_j)^m_tandem of its own (its jet is re-squeezed by the
      tighter throat before it has dissipated its energy) and, when it sits inside the jet of the
      tighter upstream one, none (the jet passes through a throat wider than itself).
      Only the last lesion of a vessel gets the recovery term, from its own jet or, when it sits in
      the jet of a tighter lesion just upstream, from that jet (x_w then from that lesion's throat exit).

    The law is ΔP_extra = R_x(|Q|) Q + S(|Q|) Q|Q|, exact: R_x and S depend on the flow only through
    φ and through the recovery term switching on (L_j > x_w, at Q > Q_c, where it adds
    S_rec (Q² − Q_c Q)). Every solver evaluates the coefficients at the lesion's current flow: the steady
    solvers iterate them to a fixed point with the network (:func:`ns_calibrated_coefficients`); the
    pulsatile and lumped models and ``export --to svzerod`` take the drop at the steady hyperemic
    operating point as a secant S' Q|Q| (:func:`ffrflow.cfd.steady.operating_discretization`). Constants in :data:`NS_CALIBRATED`, with the fit's provenance.

All three give (R_lesion, R_extra, S): R_lesion replaces the Poiseuille integral over the lesion
when not None; R_extra is added at the lesion end; S is the expansion coefficient.

References
----------
Young DF, Tsai FY. Flow characteristics in models of arterial stenoses. J Biomech 6 (1973).
Borda–Carnot loss and vena contracta: Idelchik, Handbook of Hydraulic Resistance, §4.
Seeley BD, Young DF. Effect of geometry on pressure losses across models of arterial stenoses.
J Biomech 9 (1976) 439–448 (length and shape effects).
Talukder N, Karayannacos PE, Nerem RM, Vasko JS. An experimental study of the fluid dynamics of
multiple noncritical stenoses. J Biomech Eng 99 (1977) 74–82 (lesions in series lose less than the sum).
Mirramezani M et al. J Biomech Eng 141 (2019) 031005 (viscous dissipation and separation terms).
"""

from __future__ import annotations

import math

import numpy as np

from .elements import young_tsai_expansion, young_tsai_viscous

#: Young & Tsai's expansion coefficient, the default ``model.kt``.
KT_YOUNG_TSAI = 1.52

#: Constants of the ``ns-calibrated`` model. ``k_exp, k_as, k_steep, k_dev, c_dev, m_tandem`` are
#: fitted on the drops and ``c_jet, k_jet`` on the recirculation lengths of the Navier–Stokes table
#: by ``python -m benchmarks.stenosis_ns.compare --fit``; ``k_rec`` = 1 is the momentum balance;
#: ``slope_0``, ``lambda_0``, ``band`` and ``wire_r0`` are set, not fitted.
NS_CALIBRATED = {
    "k_exp": 0.8352, "k_as": 0.1464, "k_steep": 0.1882, "slope_0": 0.5,
    "k_dev": 0.1329, "c_dev": -17.73, "lambda_0": 0.5, "band": 0.1,
    "c_jet": 0.1627, "k_jet": 7.105, "k_rec": 1.0, "wire_r0": 20.0, "m_tandem": 0.3521,
    "fitted_on": "benchmarks/data/stenosis_ns: core, gaussian, asymmetric, diffuse, tandem and short families "
                 "(157 converged cases, 30-90 % area stenosis); the holdout family is not fitted",
}


def lesion_shape(s_mm, r_mm, ref_radius_mm: float, end_mm: float, next_start_mm: float | None = None,
                 c: dict = NS_CALIBRATED) -> dict:
    """Shape descriptors of one lesion for the ``ns-calibrated`` law, from its radius profile.

    Parameters
    ----------
    s_mm, r_mm : array_like
        Arclength (mm, along the vessel) and radius (mm) of the lesion's nodes, start to end; the
        radius is linear between them.
    ref_radius_mm : float
        Reference radius r0 (mm).
    end_mm : float
        Arclength of the lesion end (mm).
    next_start_mm : float or None
        Arclength (mm) where the next lesion of the same vessel starts, None when there is none.

    Returns
    -------
    dict
        ``throat_exit_mm`` (arclength of the last point at the minimal radius),
        ``exit_from_start_mm`` (the same from the first node), ``band_up_mm``
        (length of the throat band r ≤ r_s + band·(r0 − r_s) upstream of the throat exit, mm),
        ``inlet_slope`` (max |dr/ds| upstream of the throat, dimensionless), ``gap_mm`` (throat
        exit to the next lesion's start, inf when none) and ``wire_mm`` (throat exit to the wire,
        ``end_mm + wire_r0·r0``).

    Examples
    --------
    >>> s = np.linspace(0.0, 10.0, 101)
    >>> r = 1.5 - 0.5 * (1 - np.cos(2 * np.pi * s / 10)) / 2          # cosine, throat at 5 mm
    >>> d = lesion_shape(s, r, 1.5, 10.0)
    >>> round(d["throat_exit_mm"], 6), round(d["wire_mm"], 6), d["gap_mm"]
    (5.0, 35.0, inf)
    """
    s = np.asarray(s_mm, dtype=np.float64)
    r = np.asarray(r_mm, dtype=np.float64)
    rmin = float(r.min())
    at_min = np.flatnonzero(r <= rmin * (1.0 + 1e-9) + 1e-12)
    i0, i1 = int(at_min[0]), int(at_min[-1])
    level = rmin + c["band"] * max(ref_radius_mm - rmin, 0.0)
    j = i1
    while j > 0 and r[j - 1] <= level:
        j -= 1
    s_cross = s[j]
    if j > 0 and r[j - 1] > r[j]:   # the band edge between nodes j-1 and j (radius linear there)
        t = (r[j - 1] - level) / (r[j - 1] - r[j])
        s_cross = s[j - 1] + t * (s[j] - s[j - 1])
    ds = np.diff(s[:i0 + 1])
    dr = np.diff(r[:i0 + 1])
    ok = ds > 1e-12
    slope = float(np.max(np.abs(dr[ok] / ds[ok]))) if np.any(ok) else 0.0
    exit_mm = float(s[i1])
    return {"throat_exit_mm": exit_mm, "exit_from_start_mm": float(exit_mm - s[0]),
            "band_up_mm": float(exit_mm - s_cross), "inlet_slope": slope,
            "gap_mm": math.inf if next_start_mm is None else float(next_start_mm - exit_mm),
            "wire_mm": float(end_mm + c["wire_r0"] * ref_radius_mm - exit_mm)}


def shape_arrays(shapes) -> dict:
    """:func:`lesion_shape` descriptors of several lesions as SI arrays, keyed as the arguments of
    :func:`ns_calibrated_coefficients` (``band_up_m``, ``inlet_slope``, ``gap_m``, ``wire_m``,
    ``exit_from_start_m``)."""
    mm = (lambda k: 1e-3 * np.array([x[k] for x in shapes], dtype=np.float64))
    return {"band_up_m": mm("band_up_mm"), "inlet_slope": np.array([x["inlet_slope"] for x in shapes], dtype=np.float64),
            "gap_m": mm("gap_mm"), "wire_m": mm("wire_mm"), "exit_from_start_m": mm("exit_from_start_mm")}


def ns_calibrated_coefficients(q_m3_s, ref_radius_m, min_radius_m, band_up_m, inlet_slope, gap_m, wire_m,
                               mu_pa_s, rho_kg_m3, scale=1.0, c: dict = NS_CALIBRATED, next_index=None,
                               exit_from_start_m=None, poiseuille_r=None):
    """Coefficients ``(R_x, S)`` of the ``ns-calibrated`` law at the flow ``|q|`` (vectorised over lesions).

    ΔP_extra = R_x Q + S Q|Q| (Pa; R_x in Pa·s/m³, S in Pa·s²/m⁶) is what each lesion adds to the
    Poiseuille integral along its real radius; see the module docstring for the terms. Arguments are
    1-D arrays over lesions (scalars broadcast): flow (m³/s; its sign is irrelevant; lesions of one
    vessel carry the same flow), reference and minimal radius (m), throat-band length upstream of
    the throat exit (m), inlet slope (dimensionless), distance from the throat exit to the next
    lesion (m, inf when none) and to the wire (m), viscosity (Pa·s), density (kg/m³); ``scale``
    multiplies both coefficients (``model.kt``/1.52).

    ``next_index`` (int array, −1 for none) gives, for each lesion, the position in these arrays of
    the next lesion of the same vessel, and ``exit_from_start_m`` the distance from each lesion's
    start to its throat exit: with them, lesions in tandem are evaluated together (the milder of a
    pair whose upstream jet reaches the downstream lesion loses φ times its mixing loss; the last
    lesion's recovery term follows the jet of a tighter lesion it sits in). Without ``next_index``
    (or with −1) every lesion with a finite ``gap_m`` is treated as the upstream, milder one.
    :func:`shape_arrays` gives the shape arguments from :func:`lesion_shape`. Lesions with
    A_s ≥ A0 add nothing.

    ``poiseuille_r`` (Pa·s/m³, optional) is the Poiseuille resistance along each lesion's real
    radius. The development term's low-Reynolds part (c_dev < 0) is linear in Q and lowers the drop;
    with it given, that part never takes the lesion's linear resistance below zero
    (R_x,dev ≥ −poiseuille_r), so the lesion's drop stays non-negative and non-decreasing in |Q|.
    On the Navier–Stokes table the part is at most 14 % of the lesion's Poiseuille resistance (the
    bound is never reached there); it is reached only by extrapolation, a throat of a few
    micrometres behind a band hundreds of throat diameters long, whose fitted correction would
    turn the lesion into a pump at low flow.
    """
    q = np.abs(np.atleast_1d(np.asarray(q_m3_s, dtype=np.float64)))
    r0 = np.atleast_1d(np.asarray(ref_radius_m, dtype=np.float64))
    rs = np.atleast_1d(np.asarray(min_radius_m, dtype=np.float64))
    q, r0, rs = np.broadcast_arrays(q, r0, rs)
    n = q.size
    arr = (lambda x: np.broadcast_to(np.asarray(x, dtype=np.float64), (n,)))
    band, slope, gap, wire = arr(band_up_m), arr(inlet_slope), arr(gap_m), arr(wire_m)
    mu, rho = arr(mu_pa_s), arr(rho_kg_m3)
    sigma = np.minimum((rs / r0) ** 2, 1.0)
    narrowed = sigma < 1.0
    a_s = math.pi * rs * rs
    d_s = 2.0 * rs
    e = rho / (2.0 * a_s * a_s)                          # E = e Q²
    # jet length L_j = c_jet exp(−k_jet σ) Re_s D_s = lj_per_q · Q
    lj_per_q = c["c_jet"] * np.exp(-c["k_jet"] * sigma) * rho * d_s * d_s / (mu * a_s)
    lj = lj_per_q * q
    with np.errstate(divide="ignore", invalid="ignore"):
        reach = np.isfinite(gap) & (lj > gap) & narrowed
        phi_pair = np.where(reach, (gap / lj) ** c["m_tandem"], 1.0)
    idx = np.arange(n)
    nxt = np.full(n, -1, dtype=np.int64) if next_index is None else np.asarray(next_index, dtype=np.int64)
    has = nxt >= 0
    j = np.where(has, nxt, 0)
    # the upstream lesion keeps φ of its mixing loss when it is the milder (or equal) one, or when no
    # partner is given; a milder throat inside a tighter jet loses all of it (the jet passes)
    phi = np.where(reach & (~has | (a_s >= a_s[j])), phi_pair, 1.0)
    phi[j[reach & has & (a_s[j] > a_s)]] = 0.0
    k_mix = c["k_exp"] + c["k_as"] * (1.0 - sigma) + c["k_steep"] * np.maximum(slope - c["slope_0"], 0.0)
    lam = np.maximum(band / d_s - c["lambda_0"], 0.0)
    s = e * (1.0 - sigma) ** 2 * k_mix * phi + e * (1.0 - sigma) * lam * c["k_dev"]
    # E/Re_s = e Q · μ A_s/(ρ D_s): linear in Q
    r_dev = e * (1.0 - sigma) * lam * c["c_dev"] * mu * a_s / (rho * d_s)
    r_x = r_dev
    # recovery not reached at the wire (last lesion of a run): k_rec ρ σ(1−σ)/A_s² (Q² − Q_c Q) once
    # L_j > x_w, from the lesion's own jet or from the jet of a tighter lesion just upstream that reaches it
    last = ~np.isfinite(gap)
    prev = np.full(n, -1, dtype=np.int64)
    prev[nxt[has]] = idx[has]
    p = np.where(prev >= 0, prev, 0)
    inherit = last & (prev >= 0) & reach[p] & (a_s[p] < a_s)
    src = np.where(inherit, p, idx)
    efs = arr(0.0 if exit_from_start_m is None else exit_from_start_m)
    xw = np.where(inherit, gap[p] + efs + wire, wire)
    on = last & (lj[src] > xw) & narrowed[src]
    s_rec = c["k_rec"] * rho * sigma[src] * (1.0 - sigma[src]) / (a_s[src] * a_s[src])
    with np.errstate(divide="ignore", invalid="ignore"):
        q_c = np.where(lj_per_q[src] > 0, xw / lj_per_q[src], np.inf)
    s = s + np.where(on, s_rec, 0.0)
    r_x = r_x - np.where(on, s_rec * q_c, 0.0)
    scale = np.asarray(scale, dtype=np.float64)
    keep = narrowed | on
    r_x = scale * r_x
    if poiseuille_r is not None:   # the low-Re development correction cancels at most the lesion's Poiseuille
        r_x = r_x + np.maximum(-arr(poiseuille_r) - scale * r_dev, 0.0)
    return np.where(keep, r_x, 0.0), np.where(keep, scale * s, 0.0)


def ns_calibrated_drop(q_m3_s, *args, **kwargs):
    """Drop (Pa) the ``ns-calibrated`` law adds to Poiseuille at the flow q (m³/s); arguments as
    :func:`ns_calibrated_coefficients`."""
    q = np.asarray(q_m3_s, dtype=np.float64)
    r_x, s = ns_calibrated_coefficients(q, *args, **kwargs)
    return r_x * q + s * q * np.abs(q)


def lesion_terms(model: str, ref_radius_m: float, min_radius_m: float, length_m: float, mu_pa_s: float,
                 rho_kg_m3: float, kt: float, shape: dict | None = None, poiseuille_r: float | None = None):
    """Coefficients of one lesion (SI): ``(R_lesion or None, R_extra, S)``; see the module docstring.

    ``ns-calibrated`` needs ``shape`` (:func:`lesion_shape`, mm) and gives the coefficients of its
    low-flow limit, the solvers' starting point (they re-evaluate them at the lesion's flow);
    ``poiseuille_r`` (Pa·s/m³), the Poiseuille resistance along the lesion, bounds its development
    term (:func:`ns_calibrated_coefficients`).
    """
    a0 = math.pi * ref_radius_m ** 2
    a_s = math.pi * min_radius_m ** 2
    if a_s >= a0:
        return None, 0.0, 0.0
    if model == "poiseuille-kt":
        return None, 0.0, young_tsai_expansion(ref_radius_m, min_radius_m, rho_kg_m3, kt)
    if model == "young-tsai":
        return (young_tsai_viscous(ref_radius_m, min_radius_m, length_m, mu_pa_s), 0.0,
                young_tsai_expansion(ref_radius_m, min_radius_m, rho_kg_m3, kt))
    if model == "ns-calibrated":
        if shape is None:
            raise ValueError("ns-calibrated: the lesion's shape descriptors are needed (lesion_shape)")
        r_x, s = ns_calibrated_coefficients(0.0, ref_radius_m, min_radius_m, mu_pa_s=mu_pa_s, rho_kg_m3=rho_kg_m3,
                                            scale=kt / KT_YOUNG_TSAI, poiseuille_r=poiseuille_r,
                                            **shape_arrays([shape]))
        return None, float(r_x[0]), float(s[0])
    raise ValueError(f"unknown lesion model {model!r}")
