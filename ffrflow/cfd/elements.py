"""Element laws: the steady model's, SI (docs/physics.md §Steady network, §Lesion laws), and the lumped wall's, CGS.

Vessel (Poiseuille along the real radius)
    ΔP = R Q with R = (8μ/π) ∫ ds / r(s)⁴, integrated exactly for a radius linear between
    centerline points: R = 8 μ L (r0² + r0 r1 + r1²) / (3 π r0³ r1³)  (→ 8μL/(π r⁴) when r0 = r1).
    Kernel: ``segment_resistance`` in :mod:`ffrflow.kernels`.

Lesion, expansion loss (Young & Tsai 1973; svZeroDSolver ``BloodVessel.h``)
    ΔP = S Q|Q|,  S = K_t ρ / (2 A0²) · (A0/As − 1)²,  K_t = 1.52,
    A0 the reference (healthy) area, As the minimal lumen area. Acts at the lesion's end.

Lesion, full Young–Tsai viscous term (``model.lesion = "young-tsai"``)
    ΔP_v = K_v μ / (A0 D0) · Q,  K_v = 32 (0.83 L_s + 1.64 D_s) (A0/As)² / D0,
    replacing the Poiseuille integral over the lesion (L_s lesion length, D_s = 2 r_min, D0 = 2 r_ref).

Wall (Olufsen tube law) of the lumped model, CGS (docs/physics.md §Pulsatile 1D, §Lumped 0D)
    compliance C = ∫ 3π r² / (2 Eh/r0) ds with Eh/r0 = k1 exp(k2 r0) + k3 (:data:`OLUFSEN_CGS`),
    inductance L = ρ ∫ ds / (π r²) (:func:`tube_law_compliance_cgs`, :func:`inductance_cgs`).

References
----------
Young DF, Tsai FY. Flow characteristics in models of arterial stenoses — II. Unsteady flow.
J Biomech 6 (1973) 547–559.
"""

from __future__ import annotations

import math

import numpy as np


def young_tsai_expansion(ref_radius_m: float, min_radius_m: float, rho_kg_m3: float, kt: float) -> float:
    """Expansion-loss coefficient S (Pa·s²/m⁶) of a lesion: ΔP = S Q|Q|.

    Zero when the minimal lumen is not smaller than the reference.

    Examples
    --------
    >>> s = young_tsai_expansion(1.5e-3, 0.75e-3, 1060.0, 1.52)   # 75 % area stenosis
    >>> a0 = math.pi * 1.5e-3 ** 2
    >>> abs(s - 1.52 * 1060.0 / (2 * a0 ** 2) * 9.0) < 1e-6 * s
    True
    """
    a0 = math.pi * ref_radius_m ** 2
    a_s = math.pi * min_radius_m ** 2
    if a_s >= a0:
        return 0.0
    return kt * rho_kg_m3 / (2.0 * a0 * a0) * (a0 / a_s - 1.0) ** 2


def young_tsai_viscous(ref_radius_m: float, min_radius_m: float, length_m: float, mu_pa_s: float) -> float:
    """Young–Tsai viscous resistance of a lesion, Pa·s/m³: ΔP_v = K_v μ/(A0 D0) · Q."""
    a0 = math.pi * ref_radius_m ** 2
    a_s = math.pi * min_radius_m ** 2
    d0 = 2.0 * ref_radius_m
    ds = 2.0 * min_radius_m
    kv = 32.0 * (0.83 * length_m + 1.64 * ds) * (a0 / a_s) ** 2 / d0
    return kv * mu_pa_s / (a0 * d0)


#: Olufsen stiffness E h / r0 = k1 exp(k2 r0) + k3 (CGS: g/(s² cm), 1/cm, g/(s² cm));
#: docs/physics.md §Pulsatile 1D.
OLUFSEN_CGS = (2.0e7, -22.53, 8.65e5)


def tube_law_compliance_cgs(r0_cm, r1_cm, length_cm, olufsen=OLUFSEN_CGS, n_gauss: int = 4) -> np.ndarray:
    r"""Compliance of frusta (radius linear from r0 to r1), cm⁵/dyn.

    :math:`C = \int 3\pi r^2 / (2\,(k_1 e^{k_2 r} + k_3))\,ds` (the linearised Olufsen tube law
    :math:`dA/dP = 3A_0/(2\,Eh/r_0)`), by Gauss–Legendre quadrature per frustum.
    """
    k1, k2, k3 = olufsen
    x, w = np.polynomial.legendre.leggauss(n_gauss)
    r0 = np.asarray(r0_cm, float)[..., None]
    r1 = np.asarray(r1_cm, float)[..., None]
    r = r0 + (r1 - r0) * (0.5 * (x + 1.0))
    f = 3.0 * math.pi * r * r / (2.0 * (k1 * np.exp(k2 * r) + k3))
    return np.asarray(length_cm, float) * 0.5 * (f * w).sum(axis=-1)


def inductance_cgs(r0_cm, r1_cm, length_cm, rho_g_cm3: float) -> np.ndarray:
    r"""Inductance of frusta, g/cm⁴: :math:`L = \rho\int ds/(\pi r^2) = \rho\,\ell/(\pi r_0 r_1)` (exact)."""
    return rho_g_cm3 * np.asarray(length_cm, float) / (math.pi * np.asarray(r0_cm, float) * np.asarray(r1_cm, float))
