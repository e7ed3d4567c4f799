"""Lesion pressure-drop models (``model.lesion``), used the same way by every solver.

Each lesion from ``start_mm`` to ``end_mm`` with reference radius r0 (A0 = π r0²) and minimal radius
r_s (A_s = π r_s², D_s = 2 r_s) adds to the vessel law ΔP = R Q + S Q|Q|:

``"poiseuille-kt"`` (DESIGN §4)
    viscous: Poiseuille along the real radius, R = (8μ/π)∫ds/r⁴ (exact on the piecewise-linear
    profile); expansion: S = K_t ρ/(2A0²)(A0/A_s − 1)², K_t = 1.52 (Young & Tsai 1973).

``"young-tsai"`` (full Young & Tsai 1973)
    viscous: K_v μ/(A0 D0) with K_v = 32 (0.83 L_s + 1.64 D_s)(A0/A_s)²/D0 replacing the
    Poiseuille integral over the lesion; expansion as above.

``"ns-calibrated"`` (calibrated on the Navier–Stokes table, ``benchmarks/data/stenosis_ns``)
    viscous: Poiseuille along the real radius (as above); expansion: the Borda–Carnot
    sudden-expansion loss ρ/(2A0²)(A0/A_s − 1)² Q|Q| — the net loss once the jet has re-attached,
    pressure recovery included — times a total loss coefficient that depends on the severity and
    on the throat Reynolds number Re_s = ρ u_s D_s / μ:

        K = k_exp + k_as (1 − A_s/A0) + c_re / Re_s.

    The Reynolds term is linear in Q and proportional to μ,
    ΔP_Re = c_re (A0/A_s − 1)² μ A_s / (2 A0² D_s) · Q, so the law keeps the R Q + S Q|Q| form
    of every solver. The fit gives c_re < 0: at low Reynolds numbers the jet separates less and
    loses less than Borda–Carnot; a separate developing-flow excess of the viscous loss was not
    identifiable from the table (Poiseuille along the real radius already carries it within the
    fit's error). Constants in :data:`NS_CALIBRATED`, with the fit's provenance.

All three give (R_lesion, R_extra, S): R_lesion replaces the Poiseuille integral over the lesion
when not None; R_extra is added at the lesion end; S is the expansion coefficient.

References
----------
Young DF, Tsai FY. Flow characteristics in models of arterial stenoses. J Biomech 6 (1973).
Borda–Carnot loss: e.g. Idelchik, Handbook of Hydraulic Resistance, §4.
Mirramezani M et al. J Biomech Eng 141 (2019) 031005 (viscous dissipation and separation terms).
"""

from __future__ import annotations

import math

from .elements import young_tsai_expansion, young_tsai_viscous

#: Young & Tsai's expansion coefficient, the default ``model.kt``.
KT_YOUNG_TSAI = 1.52

#: Constants of the ``ns-calibrated`` model (fitted by ``python -m benchmarks.stenosis_ns.compare --fit``).
NS_CALIBRATED = {"k_exp": 0.3341, "k_as": 0.9301, "c_re": -25.33,
                 "fitted_on": "benchmarks/data/stenosis_ns/core.json: cosine lesions, r0 1.5 mm, 50-90 % area "
                              "stenosis, 6/9/12 mm, 0.5-3 mL/s (60 cases); max training error 4.4 %"}


def lesion_terms(model: str, ref_radius_m: float, min_radius_m: float, length_m: float, mu_pa_s: float,
                 rho_kg_m3: float, kt: float):
    """Coefficients of one lesion (SI): ``(R_lesion or None, R_extra, S)``; see the module docstring."""
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
        c = NS_CALIBRATED
        scale = kt / KT_YOUNG_TSAI   # model.kt other than 1.52 scales the whole calibrated coefficient
        f = (a0 / a_s - 1.0) ** 2
        r_extra = scale * c["c_re"] * f * mu_pa_s * a_s / (2.0 * a0 * a0 * 2.0 * min_radius_m)
        k = scale * (c["k_exp"] + c.get("k_as", 0.0) * (1.0 - a_s / a0))
        return None, r_extra, young_tsai_expansion(ref_radius_m, min_radius_m, rho_kg_m3, k)
    raise ValueError(f"unknown lesion model {model!r}")
