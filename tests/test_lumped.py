"""Lumped (0D) solver: analytic cases, every boundary condition, backend parity, batching, networks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ffrflow.cfd.lumped import (LumpedModel, Param, SimulationParameters, network_to_lumped, pack, solve_lumped,
                                solve_lumped_batch, solve_lumped_network)
from ffrflow.cfd.steady import solve_steady
from ffrflow.errors import ConvergenceError, InvalidInputError
from ffrflow.kernels import available_backends

from _helpers import coronary_tree, network, straight, y_model


def test_single_vessel_stenosis_analytic(backend):
    # steadyFlow_stenosis_R of svZeroDSolver: P_in = 600 + 5 (100 + 100 * 5) = 3600
    m = LumpedModel.single_vessel(R=100.0, S=100.0, inflow=5.0, outlet=("RESISTANCE", {"R": 100.0, "Pd": 100.0}))
    v = solve_lumped(m, backend=backend).vessel("V0")
    assert v["pressure_in"][-1] == pytest.approx(3600.0, rel=1e-9)
    assert v["pressure_out"][-1] == pytest.approx(600.0, rel=1e-9)
    assert v["flow_out"][-1] == pytest.approx(5.0, rel=1e-9)


def test_bifurcation_with_stenosis_matches_closed_form(backend):
    m = y_model()
    r = solve_lumped(m, backend=backend)
    q1 = r.vessel("v1")["flow_in"][-1]
    q2 = r.vessel("v2")["flow_in"][-1]
    pj = r.vessel("v0")["pressure_out"][-1]
    assert q1 + q2 == pytest.approx(5.0, rel=1e-9)  # mass at the junction
    assert pj == pytest.approx(10.0 + q1 * (200.0 + 50.0 * abs(q1) + 1000.0), rel=1e-9)
    assert pj == pytest.approx(20.0 + q2 * (300.0 + 2000.0), rel=1e-9)
    assert r.vessel("v0")["pressure_in"][-1] == pytest.approx(pj + 5.0 * 100.0, rel=1e-9)


@pytest.mark.parametrize("outlet,expected_p_out", [
    (("RCR", {"Rp": 100.0, "C": 1e-4, "Rd": 900.0, "Pd": 50.0}), 5.0 * 1000.0 + 50.0),
    (("CORONARY", {"Ra1": 100.0, "Ra2": 200.0, "Rv1": 300.0, "Ca": 1e-4, "Cc": 1e-4,
                   "Pim": ([0.0, 1.0], [1000.0, 1000.0]), "P_v": 30.0}), 5.0 * 600.0 + 30.0),
    (("CORONARY_VAR_RES", {"Ra1": 100.0, "Ra2_min": 200.0, "Ra2_max": 800.0, "Rv1": 300.0, "Ca": 1e-4, "Cc": 1e-4,
                           "Pim": ([0.0, 1.0], [1000.0, 1000.0]), "P_v": 30.0, "T_vc": 0.3, "T_vr": 0.4}), None),
])
def test_outlet_boundary_conditions_steady_inflow(backend, outlet, expected_p_out):
    sim = SimulationParameters(number_of_cardiac_cycles=4, number_of_time_pts_per_cardiac_cycle=51)
    m = LumpedModel.single_vessel(R=100.0, inflow=5.0, outlet=outlet, sim=sim)
    r = solve_lumped(m, backend=backend)
    v = r.vessel("V0")
    if expected_p_out is not None:  # steady state: the capacitors carry no flow
        assert np.allclose(v["pressure_out"], expected_p_out, rtol=1e-9)
    else:  # time-varying microvascular resistance: the outlet pressure follows Ram(t), between the two bounds
        assert v["pressure_out"].min() > 5.0 * 600.0 + 30.0 - 1e-6
        assert v["pressure_out"].max() < 5.0 * 1200.0 + 30.0
        assert np.ptp(v["pressure_out"]) > 100.0
    assert np.allclose(v["flow_in"], 5.0, rtol=1e-9)


def test_pressure_inlet_periodic_series_and_rc_response(backend):
    # PRESSURE inlet, R vessel with C at its inlet, RESISTANCE outlet: mean flow = mean P / (R + Rout)
    t = np.linspace(0.0, 1.0, 21)
    p = 1000.0 + 200.0 * np.sin(2 * np.pi * t)
    sim = SimulationParameters(number_of_cardiac_cycles=6, number_of_time_pts_per_cardiac_cycle=101)
    m = LumpedModel.single_vessel(R=100.0, C=1e-5, L=1.0, inflow=(t, p), inlet_type="PRESSURE",
                                  outlet=("RESISTANCE", {"R": 900.0, "Pd": 0.0}), sim=sim)
    r = solve_lumped(m, backend=backend)
    mean = r.means()["V0"]
    assert mean["flow_out"] == pytest.approx(1000.0 / 1000.0, rel=2e-3)
    assert r.vessel("V0")["pressure_in"][0] == pytest.approx(1000.0, rel=1e-3)  # the inlet follows P(t)


def test_all_output_modes_agree():
    m = y_model(sim=SimulationParameters(number_of_cardiac_cycles=3, number_of_time_pts_per_cardiac_cycle=11))
    ra = solve_lumped(m, backend="cpu", output="all")
    rl = solve_lumped(m, backend="cpu", output="last")
    rm = solve_lumped(m, backend="cpu", output="mean")
    assert ra.y.shape == (1 + 3 * 10, 3, 4) and rl.y.shape == (11, 3, 4) and rm.y.shape == (1, 3, 4)
    assert np.allclose(ra.y[-11:], rl.y, rtol=1e-14, atol=0)
    assert np.allclose(rm.y[0], rl.y.mean(axis=0), rtol=1e-12)


@pytest.mark.skipif("cpu" not in available_backends(), reason="needs Numba")
def test_numpy_and_numba_kernels_agree_on_a_pulsatile_coronary_tree():
    m = coronary_tree()
    a = solve_lumped(m, backend="numpy", output="all")
    b = solve_lumped(m, backend="cpu", output="all")
    assert a.newton_iterations == b.newton_iterations
    scale = np.abs(b.y).max(axis=0, keepdims=True)
    assert np.max(np.abs(a.y - b.y) / scale) < 1e-10


def test_batch_equals_single_runs_and_repeats_are_packed_once(backend):
    base = y_model()
    other = y_model(Q=3.0, S=(10.0, 0.0, 40.0))
    b = solve_lumped_batch([base, other, base], backend=backend, output="last")
    for m, y in zip([base, other, base], b.y):
        assert np.allclose(y, solve_lumped(m, backend=backend, output="last").y, rtol=1e-13, atol=0)
    p = pack([base] * 5, "mean")
    assert p.n_cases == 5 and p.arrays["el_off"][-1] == 15


def test_batch_with_parameters_perturbed_in_the_packed_arrays():
    base = y_model()
    n = 8
    p = pack([base] * n, "mean")
    scale = np.linspace(0.8, 1.2, n)
    p.arrays["el_R"] *= np.repeat(scale, 3)
    res = solve_lumped_batch([base] * n, backend="cpu", packed=p)
    for k in (0, n - 1):
        m = base.copy()
        for e in m.elements:
            e.R *= scale[k]
        ref = solve_lumped(m, backend="cpu", output="mean").y
        assert np.allclose(res.y[k], ref, rtol=1e-12)


def test_newton_failure_raises_convergence_error_naming_time():
    m = LumpedModel.single_vessel(R=1.0, S=1e4, inflow=5.0, outlet=("RESISTANCE", {"R": 1.0, "Pd": 0.0}),
                                  sim=SimulationParameters(number_of_cardiac_cycles=2,
                                                           number_of_time_pts_per_cardiac_cycle=5,
                                                           maximum_nonlinear_iterations=1, steady_initial=False))
    with pytest.raises(ConvergenceError, match="Newton did not converge"):
        solve_lumped(m, backend="cpu")
    r = solve_lumped(m, backend="cpu", raise_on_failure=False)
    assert not r.converged


def test_model_validation_names_the_block():
    with pytest.raises(InvalidInputError, match=r"vessel 'V0'\.R_poiseuille: must be >= 0"):
        LumpedModel.single_vessel(R=-1.0)
    m = y_model()
    m.elements[2].outlet_bc = None
    with pytest.raises(InvalidInputError, match="'v2': its outlet is connected to nothing"):
        m.validate()
    m = y_model()
    m.bcs["O2"].params["R"] = Param.const(-5.0)
    with pytest.raises(InvalidInputError, match=r"'O2'\.bc_values\.R: must be >= 0"):
        m.validate()


def _two_tree_network():
    return network([
        straight("LM", None, [0, 0, 0], [0, 0, 1], 10.0, 2.0, n=6),
        {**straight("LAD", "LM", [0, 0, 10], [0, 1, 1], 40.0, (1.6, 1.2), n=30),
         "lesions": [{"start_mm": 10.0, "end_mm": 16.0, "reference_radius_mm": 1.5}]},
        straight("LCX", "LM", [0, 0, 10], [1, 0, 1], 30.0, (1.4, 1.1), n=20),
        straight("RCA", None, [40, 0, 0], [1, 0, 0], 50.0, (1.8, 1.3), n=25),
    ])


def test_network_lumped_equals_steady_solver(backend):
    net = _two_tree_network()
    net.vessels["LAD"].radius_mm = net.vessels["LAD"].radius_mm.copy()
    net.vessels["LAD"].radius_mm[10:14] *= 0.5
    steady = solve_steady(net, backend=backend)
    lumped = solve_lumped_network(net, backend=backend, n_cycles=2, pts_per_cycle=11)
    assert lumped.solver == "lumped"
    assert np.allclose(lumped.pressure_pa, steady.pressure_pa, rtol=1e-10)
    assert np.allclose(lumped.flow_m3_s, steady.flow_m3_s, rtol=1e-10)
    assert lumped.min_ffr == pytest.approx(steady.min_ffr, rel=1e-9)


def test_network_to_lumped_tube_law_and_inertance():
    net = network([straight("A", None, [0, 0, 0], [0, 0, 1], 50.0, 1.5, n=11)])
    m, rep = network_to_lumped(net)
    e = m.elements[0]
    r_cm, l_cm = 0.15, 5.0
    assert e.L == pytest.approx(1.06 * l_cm / (math.pi * r_cm ** 2), rel=1e-9)
    k1, k2, k3 = 2.0e7, -22.53, 8.65e5
    assert e.C == pytest.approx(3 * math.pi * r_cm ** 2 * l_cm / (2 * (k1 * math.exp(k2 * r_cm) + k3)), rel=1e-9)
    assert e.R == pytest.approx(8 * 0.035 * l_cm / (math.pi * r_cm ** 4), rel=1e-10)  # 0.0035 Pa s = 0.035 P
    assert m.bcs["INLET_A"].type == "PRESSURE" and m.bcs["OUTLET_A"].type == "RESISTANCE"
