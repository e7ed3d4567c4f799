"""Steady hyperemic solver against analytic truths (docs/physics.md §Steady network)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from _helpers import network, poiseuille_r, straight
from ffrflow import units
from ffrflow.cfd.boundary import outlet_resistances
from ffrflow.cfd.steady import solve_steady
from ffrflow.errors import ConvergenceError, InvalidInputError

MU = 0.0035
RHO = 1060.0
PA = 93.0


def _outlet_bc(**r):
    return {"outlets": {k: {"resistance_mmHg_s_per_ml": v} for k, v in r.items()}}


def _double_cone(law):
    """A 60 mm vessel of radius 1.5 mm with a lesion from 20 to 30 mm narrowing linearly to 0.75 mm
    at 25 mm, outlet resistance 10 mmHg·s/mL, lesion law ``law``."""
    s = [0.0, 20.0, 25.0, 30.0, 60.0]
    r = [1.5, 1.5, 0.75, 1.5, 1.5]
    return network([{"id": "A", "parent": None, "points": [[0.0, 0.0, x] for x in s], "radius": r,
                     "lesions": [{"start_mm": 20.0, "end_mm": 30.0, "reference_radius_mm": 1.5}]}],
                   boundary={"inlet_pressure_mmHg": PA, **_outlet_bc(A=10.0)}, model={"lesion": law})


def _cone(L, a, b):
    """Exact frustum resistance (SI) of a cone of length ``L`` mm from radius ``a`` to ``b`` mm."""
    a, b, L = a * 1e-3, b * 1e-3, L * 1e-3
    return 8 * MU * L * (a * a + a * b + b * b) / (3 * math.pi * a ** 3 * b ** 3)


def test_straight_vessel_is_poiseuille_exactly(backend):
    """Truth: Q = (Pa − Pv) / (8μL/(πr⁴) + R_out) and the linear pressure profile of Poiseuille flow."""
    L, r, rout = 50.0, 1.5, 30.0
    net = network([straight("A", None, [0, 0, 0], [1, 2, 3], L, r, n=7)],
                  boundary={"inlet_pressure_mmHg": PA, "venous_pressure_mmHg": 5.0, **_outlet_bc(A=rout)})
    res = solve_steady(net, backend=backend)
    R = poiseuille_r(MU, L * 1e-3, r * 1e-3)
    Ro = units.resistance_to_si(rout)
    q_true = units.mmhg_to_pa(PA - 5.0) / (R + Ro)
    assert abs(res.flow_m3_s[0] - q_true) / q_true < 1e-9
    v = res.vessel("A")
    p_true = units.mmhg_to_pa(PA) - q_true * R * v["s_mm"] / L
    assert np.max(np.abs(units.mmhg_to_pa(v["pressure_mmHg"]) - p_true)) / units.mmhg_to_pa(PA) < 1e-9
    assert np.all(np.diff(v["s_mm"]) <= 1.0 + 1e-12), "elements must be ≤ 1 mm"


def test_tapered_vessel_matches_closed_form_cone(backend):
    """Truth: a cone r0→r1 has R = 8μL/(3π(r1−r0))·(r0⁻³ − r1⁻³), however many points describe it."""
    L, r0, r1 = 40.0, 2.0, 1.0
    net = network([straight("A", None, [0, 0, 0], [0, 0, 1], L, (r0, r1), n=13)],
                  boundary={"inlet_pressure_mmHg": PA, **_outlet_bc(A=20.0)})
    res = solve_steady(net, backend=backend)
    R = 8 * MU * L * 1e-3 / (3 * math.pi * (r1 - r0) * 1e-3) * ((r0 * 1e-3) ** -3 - (r1 * 1e-3) ** -3)
    assert abs(res.disc.R[0] - R) / R < 1e-12
    q_true = units.mmhg_to_pa(PA) / (R + units.resistance_to_si(20.0))
    assert abs(res.flow_m3_s[0] - q_true) / q_true < 1e-9


def test_series_network_closed_form(backend):
    """Truth: resistances in series add: Q = Pa / (R1 + R2 + R_out)."""
    v1 = straight("A", None, [0, 0, 0], [1, 0, 0], 20.0, 2.0)
    v2 = straight("B", "A", v1["points"][-1], [0, 1, 0], 30.0, 1.2)
    net = network([v1, v2], boundary={"inlet_pressure_mmHg": PA, **_outlet_bc(B=25.0)})
    res = solve_steady(net, backend=backend)
    R = poiseuille_r(MU, 20e-3, 2e-3) + poiseuille_r(MU, 30e-3, 1.2e-3) + units.resistance_to_si(25.0)
    q = units.mmhg_to_pa(PA) / R
    assert np.allclose(res.flow_m3_s, q, rtol=1e-9, atol=0)


def test_parallel_network_closed_form(backend):
    """Truth: R_eq = R0 + 1/(1/(R1 + Ro1) + 1/(R2 + Ro2)) and the flow split by conductance."""
    v0 = straight("A", None, [0, 0, 0], [1, 0, 0], 15.0, 2.0)
    end = v0["points"][-1]
    v1 = straight("B", "A", end, [1, 1, 0], 40.0, 1.4)
    v2 = straight("C", "A", end, [1, -1, 0], 25.0, 1.0)
    net = network([v0, v1, v2], boundary={"inlet_pressure_mmHg": PA, **_outlet_bc(B=30.0, C=50.0)})
    res = solve_steady(net, backend=backend)
    R0 = poiseuille_r(MU, 15e-3, 2e-3)
    b1 = poiseuille_r(MU, 40e-3, 1.4e-3) + units.resistance_to_si(30.0)
    b2 = poiseuille_r(MU, 25e-3, 1.0e-3) + units.resistance_to_si(50.0)
    q0 = units.mmhg_to_pa(PA) / (R0 + 1.0 / (1.0 / b1 + 1.0 / b2))
    pj = units.mmhg_to_pa(PA) - q0 * R0
    assert res.flow_m3_s[0] == pytest.approx(q0, rel=1e-9)
    assert res.flow_m3_s[1] == pytest.approx(pj / b1, rel=1e-9)
    assert res.flow_m3_s[2] == pytest.approx(pj / b2, rel=1e-9)


def test_one_lesion_matches_hand_computed_young_tsai(backend):
    """Truth: (R_v + R_out) Q + S Q² = Pa − Pv with S = Kt ρ/(2A0²)(A0/As − 1)², solved by hand."""
    res = solve_steady(_double_cone("poiseuille-kt"), backend=backend)
    Rv = _cone(20, 1.5, 1.5) + _cone(5, 1.5, 0.75) + _cone(5, 0.75, 1.5) + _cone(30, 1.5, 1.5)
    A0, As = math.pi * (1.5e-3) ** 2, math.pi * (0.75e-3) ** 2
    S = 1.52 * RHO / (2 * A0 ** 2) * (A0 / As - 1) ** 2
    Rt = Rv + units.resistance_to_si(10.0)
    dp = units.mmhg_to_pa(PA)
    q = (-Rt + math.sqrt(Rt * Rt + 4 * S * dp)) / (2 * S)
    assert res.flow_m3_s[0] == pytest.approx(q, rel=1e-9)
    les = res.lesions[0]
    # ΔP across the lesion: viscous part over [20, 30] plus the expansion loss
    dp_les = q * (_cone(5, 1.5, 0.75) + _cone(5, 0.75, 1.5)) + S * q * q
    assert units.mmhg_to_pa(les["delta_p_mmHg"]) == pytest.approx(dp_les, rel=1e-9)
    assert les["diameter_stenosis_pct"] == pytest.approx(50.0)
    assert les["area_stenosis_pct"] == pytest.approx(75.0)
    assert les["mld_mm"] == pytest.approx(1.5)


def test_full_young_tsai_option_uses_kv_term(backend):
    """Truth: with model.lesion = young-tsai the lesion's viscous drop is Kv μ/(A0 D0) Q."""
    res = solve_steady(_double_cone("young-tsai"), backend=backend)
    D0, Ds, Ls = 3e-3, 1.5e-3, 10e-3
    A0 = math.pi * (1.5e-3) ** 2
    As = math.pi * (0.75e-3) ** 2
    Kv = 32 * (0.83 * Ls + 1.64 * Ds) * (A0 / As) ** 2 / D0
    q = res.flow_m3_s[0]
    S = 1.52 * RHO / (2 * A0 ** 2) * (A0 / As - 1) ** 2
    dp = units.mmhg_to_pa(res.lesions[0]["delta_p_mmHg"])
    assert dp == pytest.approx(Kv * MU / (A0 * D0) * q + S * q * q, rel=1e-9)


def test_zero_flow_gives_ffr_one(backend):
    """Truth: with Pa = Pv nothing flows and the pressure is Pa everywhere: FFR = 1."""
    v0 = straight("A", None, [0, 0, 0], [1, 0, 0], 15.0, 2.0)
    v1 = straight("B", "A", v0["points"][-1], [1, 1, 0], 40.0, 1.4)
    v2 = straight("C", "A", v0["points"][-1], [1, -1, 0], 25.0, 1.0)
    net = network([v0, v1, v2], boundary={"inlet_pressure_mmHg": 80.0, "venous_pressure_mmHg": 80.0,
                                          **_outlet_bc(B=30.0, C=50.0)})
    res = solve_steady(net, backend=backend)
    assert np.all(res.flow_m3_s == 0.0)
    assert np.all(res.ffr == 1.0)


def test_flow_driven_inlet(backend):
    """Truth: a prescribed inflow Q gives P_root = Pv + Q (R + R_out)."""
    v = straight("A", None, [0, 0, 0], [0, 0, 1], 30.0, 1.5)
    net = network([v], boundary={"inlet_flow_ml_s": 2.0, **_outlet_bc(A=20.0)})
    res = solve_steady(net, backend=backend)
    q = 2.0e-6
    p0 = q * (poiseuille_r(MU, 30e-3, 1.5e-3) + units.resistance_to_si(20.0))
    assert res.p_up_pa[0] == pytest.approx(p0, rel=1e-9)
    assert res.flow_m3_s[0] == pytest.approx(q, rel=1e-12)
    assert res.ffr[0] == pytest.approx(1.0)


def test_morphometric_resistances_by_hand():
    """Truth: the morphometric outlet steps 1–5 (docs/physics.md §Boundary conditions) computed by
    hand on a three-outlet left tree."""
    v0 = straight("LM", None, [0, 0, 0], [1, 0, 0], 10.0, 2.2)
    e = v0["points"][-1]
    v1 = straight("LAD", "LM", e, [1, 1, 0], 40.0, (1.8, 1.2), n=81)
    v2 = straight("LCX", "LM", e, [1, -1, 0], 30.0, (1.6, 1.0), n=61)
    v3 = straight("D1", "LAD", v1["points"][-1], [0, 1, 1], 20.0, 0.8, n=41)
    v4 = straight("LADd", "LAD", v1["points"][-1], [1, 1, 1], 20.0, (1.2, 0.9), n=41)
    net = network([v0, v1, v2, v3, v4], boundary={"inlet_pressure_mmHg": 90.0, "venous_pressure_mmHg": 5.0})
    R, rep = outlet_resistances(net)
    q_left = 0.04 * 5.0 * 1000.0 * 0.7  # mL/min
    radii = {}
    for vid in ("LCX", "D1", "LADd"):
        v = net.vessels[vid]
        s = v.arclength_mm
        radii[vid] = np.median(v.radius_mm[s >= s[-1] - 3.0 - 1e-9])
    assert radii["LCX"] == pytest.approx(1.03, abs=1e-9)  # linear 1.6→1.0: 7 points over the last 3 mm, median 1.03
    n = 7.0 / 3.0
    wsum = sum(r ** n for r in radii.values())
    for vid, r in radii.items():
        qi = q_left * r ** n / wsum / 60.0  # mL/s
        expected = 0.24 * (90.0 - 5.0) / qi  # mmHg·s/mL
        assert units.resistance_from_si(R[vid]) == pytest.approx(expected, rel=1e-12)
    assert rep["sides"]["LM"] == {"side": "left", "decided_by": "name"}
    assert rep["q_rest_ml_min"] == pytest.approx(200.0)


def test_myocardial_mass_and_two_trees():
    """Truth: Q_rest = 200·(M/120)^0.75 mL/min; two unnamed roots: the larger ostium is left (0.7)."""
    a = straight("T1", None, [0, 0, 0], [1, 0, 0], 30.0, 2.0)
    b = straight("T2", None, [50, 0, 0], [1, 0, 0], 30.0, 1.5)
    net = network([a, b], boundary={"myocardial_mass_g": 150.0})
    R, rep = outlet_resistances(net)
    q = 200.0 * (150.0 / 120.0) ** 0.75
    assert rep["q_rest_ml_min"] == pytest.approx(q)
    assert rep["sides"]["T1"]["side"] == "left" and rep["sides"]["T2"]["side"] == "right"
    assert rep["outlets"]["T1"]["rest_flow_ml_min"] == pytest.approx(0.7 * q)
    assert rep["outlets"]["T2"]["rest_flow_ml_min"] == pytest.approx(0.3 * q)


def test_single_unnamed_root_is_assumed_left_and_reported():
    net = network([straight("X", None, [0, 0, 0], [1, 0, 0], 30.0, 2.0)])
    _, rep = outlet_resistances(net)
    assert rep["sides"]["X"] == {"side": "left", "decided_by": "assumed left"}
    assert rep["outlets"]["X"]["rest_flow_ml_min"] == pytest.approx(140.0)


def _lesion_net(ds, length=10.0):
    s = np.linspace(0, 60, 121)
    r = 1.5 * (1 - ds * np.where(np.abs(s - 30) < length / 2, (1 + np.cos(2 * np.pi * (s - 30) / length)) / 2, 0))
    return network([{"id": "LAD", "parent": None, "points": [[0, 0, x] for x in s], "radius": r.tolist()}])


def test_more_severe_lesion_gives_lower_ffr():
    """Truth: FFR falls monotonically with stenosis severity (same vessel, same boundary)."""
    from ffrflow.api import solve

    results = [solve(_lesion_net(ds), backend="numpy") for ds in (0.0, 0.3, 0.5, 0.6, 0.7, 0.8)]
    ffrs = [r.min_ffr for r in results]
    assert all(b < a for a, b in zip(ffrs, ffrs[1:])), ffrs
    assert results[0].lesions == []
    assert all(len(r.lesions) == 1 for r in results[2:])


def test_convergence_error_names_the_residual():
    net = network([{"id": "A", "parent": None, "points": [[0, 0, 0], [0, 0, 10], [0, 0, 15], [0, 0, 40]],
                    "radius": [1.5, 1.5, 0.4, 1.5],
                    "lesions": [{"start_mm": 10.0, "end_mm": 20.0, "reference_radius_mm": 1.5}]}])
    with pytest.raises(ConvergenceError) as exc:
        solve_steady(net, backend="numpy", max_iter=1)
    assert "residual" in str(exc.value) and exc.value.residual > 1e-8 and exc.value.iterations == 1
    res = solve_steady(net, backend="numpy")
    assert res.converged and res.iterations > 2


def test_morphometric_needs_pressure_drop():
    net = network([straight("A", None, [0, 0, 0], [1, 0, 0], 30.0, 2.0)],
                  boundary={"inlet_pressure_mmHg": 5.0, "venous_pressure_mmHg": 5.0})
    with pytest.raises(InvalidInputError, match="venous_pressure_mmHg"):
        solve_steady(net)


def test_ns_calibrated_lesion_terms_by_hand(backend):
    """Truth: the ns-calibrated law of ffrflow.cfd.lesion computed by hand for a double cone
    (1.5 → 0.75 → 1.5 mm over 5 + 5 mm, σ = 1/4): the throat band (r ≤ 0.825 mm) reaches 0.5 mm
    upstream of the throat, λ = 1/3 < λ0 (no development term); the inlet slope 0.15 < θ0; the jet
    at this flow reaches past the wire 20 r0 after the lesion end, so
    ΔP = Poiseuille + (k_exp + k_as (1 − σ)) ρ/(2A0²)(A0/As − 1)² Q² + ρ (Q/As)² σ(1 − σ)(1 − x_w/L_j)."""
    from ffrflow.cfd.lesion import NS_CALIBRATED as C

    res = solve_steady(_double_cone("ns-calibrated"), backend=backend)
    A0, As, Ds, sig = math.pi * (1.5e-3) ** 2, math.pi * (0.75e-3) ** 2, 1.5e-3, 0.25
    f = (A0 / As - 1) ** 2
    q = res.flow_m3_s[0]
    lj = C["c_jet"] * math.exp(-C["k_jet"] * sig) * (RHO * q * Ds / (MU * As)) * Ds
    xw = (30.0 + 20 * 1.5 - 25.0) * 1e-3
    assert lj > xw
    dp = (_cone(5, 1.5, 0.75) + _cone(5, 0.75, 1.5)) * q \
        + (C["k_exp"] + C["k_as"] * (1 - sig)) * RHO / (2 * A0 ** 2) * f * q * q \
        + RHO * (q / As) ** 2 * sig * (1 - sig) * (1 - xw / lj)
    assert units.mmhg_to_pa(res.lesions[0]["delta_p_mmHg"]) == pytest.approx(dp, rel=1e-9)
