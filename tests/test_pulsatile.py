"""Pulsatile 1D solver against truths: linear wave speed, mass conservation, second-order
convergence, the steady limit under a constant inlet, periodicity; backends against the reference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from _helpers import network, pulsatile_kernel_inputs, straight
from ffrflow import units
from ffrflow.cfd.pulsatile import build_model, olufsen_beta, run_cycles, solve_pulsatile
from ffrflow.cfd.steady import solve_steady
from ffrflow.config import Boundary, Model
from ffrflow.kernels import get_kernel
from ffrflow.meshing.stenosis import detect_lesions
from ffrflow.phantoms import demo_case

PA = 93.0


def _wave_tube(length_mm, dx_mm, amplitude_mmHg=0.5):
    """A straight uniform tube at rest (Pv = Pa), a Gaussian pressure pulse at the inlet and a
    reflection-free outlet (series resistance = characteristic impedance ρc/A)."""
    r_m = 1.5e-3
    m = Model.from_dict({"max_cell_mm": dx_mm, "blood_viscosity_pa_s": 1e-7, "cfl": 0.5})
    beta = float(olufsen_beta(r_m, m))
    c0 = math.sqrt(beta / (2 * 1060.0))
    z = 1060.0 * c0 / (math.pi * r_m ** 2)
    t = np.arange(0.0, 0.857, 0.0005)
    p = PA + amplitude_mmHg * np.exp(-((t - 0.015) / 0.004) ** 2)
    net = network([straight("T", None, [0, 0, 0], [1, 0, 0], length_mm, 1.5, n=3)],
                  boundary={"inlet_pressure_mmHg": PA, "venous_pressure_mmHg": PA,
                            "inlet_waveform": np.column_stack([t, p]).tolist(),
                            "outlets": {"T": {"resistance_mmHg_s_per_ml": units.resistance_from_si(z)}}},
                  model=m.to_dict())
    return net, c0


def test_linear_wave_speed_in_a_uniform_tube():
    """Truth: a small pulse travels at c = √(A/ρ ∂P/∂A) = √(β/(2ρ)) at A = A0 (within 1 %)."""
    net, c0 = _wave_tube(300.0, 1.0)
    model = build_model(net, backend="cpu")
    run = run_cycles(model, backend="cpu", max_cycles=1, min_cycles=1, samples_per_cycle=100000)
    t = run.waveforms["t_s"]
    P = run.waveforms["cell_P"]
    dx = model.arrays["piece_dx"][0]
    x = (np.arange(P.shape[1]) + 0.5) * dx

    def arrival(col):
        k = int(np.argmax(P[:, col]))
        y0, y1, y2 = P[k - 1, col], P[k, col], P[k + 1, col]
        return t[k] + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2) * (t[1] - t[0])

    i1, i2 = int(0.1 / dx), int(0.25 / dx)
    c_meas = (x[i2] - x[i1]) / (arrival(i2) - arrival(i1))
    assert abs(c_meas / c0 - 1) < 0.01, (c_meas, c0)


def test_second_order_convergence_on_a_smooth_pulse():
    """Truth: the scheme is second order: errors fall ~4× when the cells are halved (ratio > 3)."""
    sols = {}
    for dx in (4.0, 2.0, 1.0, 0.5):
        net, _ = _wave_tube(200.0, dx, amplitude_mmHg=1.0)
        model = build_model(net, backend="cpu")
        steps = int(8570 * 4.0 / dx)  # the same Courant number, and samples at the same times
        run = run_cycles(model, backend="cpu", max_cycles=1, min_cycles=1, samples_per_cycle=857,
                         steps_per_cycle=steps)
        every_t = run.waveforms["t_s"]
        k = int(np.argmin(np.abs(every_t - 0.030)))
        xs = (np.arange(model.n_cells) + 0.5) * model.arrays["piece_dx"][0]
        sols[dx] = (every_t[k], np.interp(np.linspace(0.02, 0.18, 161), xs, run.waveforms["cell_P"][k]))
    e1 = np.abs(sols[4.0][1] - sols[0.5][1]).max()
    e2 = np.abs(sols[2.0][1] - sols[0.5][1]).max()
    e3 = np.abs(sols[1.0][1] - sols[0.5][1]).max()
    # Richardson: with errors ∝ h², e(4)/e(2) → 4 and e(2)/e(1) → 4 (approached from the fine reference)
    assert e1 / e2 > 3.0 and e2 / e3 > 2.5, (e1, e2, e3)


@pytest.fixture(scope="module")
def demo_net():
    return detect_lesions(demo_case().network)


@pytest.fixture(scope="module")
def constant_run(demo_net):
    net = demo_net.replace_config(boundary=Boundary.from_dict({"inlet_waveform": "constant"}))
    return net, solve_pulsatile(net, backend="cpu")


def test_constant_inlet_settles_to_the_steady_answer(constant_run):
    """Truth: the steady solver. Lesion FFRs within 0.01; everywhere within 0.01 of the steady
    model that includes the 1D convective term (what the default steady model leaves out)."""
    net, r = constant_run
    st = solve_steady(net, backend="cpu")
    stc = solve_steady(net.replace_config(model=Model.from_dict({**net.model.to_dict(), "convective": True})),
                       backend="cpu")
    assert r.converged and r.pulsatile["periodic"]
    for a, b in zip(st.lesions, r.lesions):
        assert abs(a["ffr_distal"] - b["ffr_distal"]) < 0.01
    assert np.max(np.abs(stc.ffr - r.ffr)) < 0.01
    assert np.max(np.abs(r.flow_m3_s - stc.flow_m3_s) / stc.flow_m3_s) < 0.02


def test_mass_is_conserved_over_a_cycle(constant_run):
    """Truth: inflow − outflow − Δvolume over the last cycle = 0 (< 1e-6 relative)."""
    _, r = constant_run
    assert r.pulsatile["mass_balance"]["relative_error"] < 1e-6


def test_aortic_waveform_periodic_and_reported(demo_net):
    r = solve_pulsatile(demo_net, backend="cpu")
    p = r.pulsatile
    assert p["periodic"] and p["last_change"] < 1e-3 and p["cycles"] >= 2
    assert r.summary()["pulsatile"]["cycles"] == p["cycles"]
    w = r.waveforms["LAD_p"]
    assert w["pressure_mmHg"].shape == (len(w["t_s"]), len(w["s_mm"]))
    inlet = r.waveforms["LM"]["pressure_mmHg"][:, 0]
    assert inlet.max() - inlet.min() > 25.0          # a real pulse pressure
    assert abs(r.lesions[0]["ffr_distal"] - solve_steady(demo_net, backend="cpu").lesions[0]["ffr_distal"]) < 0.03
    assert r.pulsatile["mass_balance"]["relative_error"] < 1e-6


def test_numba_matches_numpy_reference(demo_net):
    """Truth: the NumPy reference kernel, 300 steps of the demo phantom, agree to 1e-10."""
    out = {}
    for be in ("numpy", "cpu"):
        a, args, acc, _ = pulsatile_kernel_inputs(demo_net)
        get_kernel("pulsatile_advance", be)(300, 0.0, 7e-5, 100, *args)
        out[be] = (a["A"].copy(), a["Q"].copy(), a["node_P"].copy(), a["lpm_P1"].copy(), acc[0].copy())
    for x, y in zip(out["numpy"], out["cpu"]):
        assert np.max(np.abs(x - y)) <= 1e-10 * np.max(np.abs(x))


def test_an_explicit_outlet_venous_pressure_stays_with_its_outlet(demo_net):
    """Truth: each outlet model's venous pressure is its own; an outlet without an explicit model
    keeps ``boundary.venous_pressure_mmHg``, the pressure its steady start was solved with."""
    from ffrflow.cfd.boundary import outlet_resistances

    r_out, _ = outlet_resistances(demo_net)
    first = demo_net.outlets[0]
    pv = units.mmhg_to_pa(demo_net.boundary.venous_pressure_mmHg)
    model = build_model(demo_net, outlet_models={first: {"type": "resistance", "R": r_out[first], "pv": pv + 500.0}})
    got = np.sort(model.arrays["lpm_pv"])
    assert got.size == len(demo_net.outlets)
    np.testing.assert_array_equal(got, np.sort([pv + 500.0] + [pv] * (got.size - 1)))
