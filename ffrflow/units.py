"""Unit conversions between the SI units used inside ffrflow and the clinical units at its edges.

Inside: m, m², m³/s, Pa, kg/m³, Pa·s, s.  Edges (files, CLI, reports): mm, mmHg, mL/s, L/min.
Only this module holds the conversion factors.
"""

from __future__ import annotations

#: 1 mmHg in Pa (conventional millimetre of mercury, 13.5951 g/cm³ × 9.80665 m/s² × 1 mm).
MMHG_TO_PA = 133.322387415
#: 1 mm in m.
MM_TO_M = 1.0e-3
#: 1 mL/s in m³/s.
ML_S_TO_M3_S = 1.0e-6
#: 1 L/min in m³/s.
L_MIN_TO_M3_S = 1.0e-3 / 60.0
#: 1 mmHg·s/mL in Pa·s/m³.
MMHG_S_ML_TO_PA_S_M3 = MMHG_TO_PA / ML_S_TO_M3_S
#: 1 dyn/cm² in Pa (CGS pressure, used by SimVascular's solvers).
DYN_CM2_TO_PA = 0.1


def mmhg_to_pa(p_mmhg):
    """Pressure in mmHg → Pa."""
    return p_mmhg * MMHG_TO_PA


def pa_to_mmhg(p_pa):
    """Pressure in Pa → mmHg."""
    return p_pa / MMHG_TO_PA


def mm_to_m(x_mm):
    """Length in mm → m."""
    return x_mm * MM_TO_M


def m_to_mm(x_m):
    """Length in m → mm."""
    return x_m / MM_TO_M


def ml_s_to_m3_s(q_ml_s):
    """Flow in mL/s → m³/s."""
    return q_ml_s * ML_S_TO_M3_S


def m3_s_to_ml_s(q_m3_s):
    """Flow in m³/s → mL/s."""
    return q_m3_s / ML_S_TO_M3_S


def resistance_to_si(r_mmhg_s_ml):
    """Hydraulic resistance in mmHg·s/mL → Pa·s/m³."""
    return r_mmhg_s_ml * MMHG_S_ML_TO_PA_S_M3


def resistance_from_si(r_pa_s_m3):
    """Hydraulic resistance in Pa·s/m³ → mmHg·s/mL."""
    return r_pa_s_m3 / MMHG_S_ML_TO_PA_S_M3


# CGS (svZeroDSolver / svOneDSolver) <-> SI
#: 1 mmHg in dyn/cm² (≈ 1333.22).
MMHG_TO_DYN_CM2 = MMHG_TO_PA / DYN_CM2_TO_PA
#: 1 dyn·s/cm⁵ (CGS hydraulic resistance) in Pa·s/m³.
R_CGS_TO_SI = DYN_CM2_TO_PA / ML_S_TO_M3_S
#: 1 cm⁵/dyn (CGS compliance) in m³/Pa.
C_CGS_TO_SI = ML_S_TO_M3_S / DYN_CM2_TO_PA
#: 1 g/cm⁴ (CGS inertance, dyn·s²/cm⁵) in Pa·s²/m³.
L_CGS_TO_SI = DYN_CM2_TO_PA / ML_S_TO_M3_S
#: 1 dyn·s²/cm⁸ (CGS stenosis coefficient) in Pa·s²/m⁶.
S_CGS_TO_SI = DYN_CM2_TO_PA / ML_S_TO_M3_S ** 2
#: 1 cm in mm.
CM_TO_MM = 10.0
