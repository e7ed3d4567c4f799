"""Kernels: every backend against the NumPy reference; the tree Newton against an independent solve.

Truths: (1) Numba and NumPy agree to 1e-10 on the same inputs, batched over cases with different
trees (CSR offsets), across sizes 1, 31, 32, 33 and 1025 vessels; (2) the tree Newton equals a
general sparse Newton (scipy.sparse.linalg.spsolve on the full node/element system) to 1e-10;
(3) mass is conserved at every junction to 1e-12 relative.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ffrflow.errors import BackendUnavailableError, InvalidInputError
from ffrflow.kernels import available_backends, get_kernel, resolve_backend

from _helpers import hard_forest, random_forest, run_tree_newton


@pytest.mark.parametrize("size", [1, 31, 32, 33, 1025])
@pytest.mark.parametrize("flow_root", [False, True])
@pytest.mark.parametrize("n_cases", [1, 5])     # one case runs on the calling thread in the Numba twin
def test_tree_newton_backends_agree(parity_backend, size, flow_root, n_cases):
    offsets, parent, R, S, R_out = random_forest(n_cases, [size, max(1, size // 3)], seed=size)
    if flow_root:  # a prescribed inflow needs single-root cases
        offsets, parent, R, S, R_out = random_forest(n_cases, [size], seed=size)
        for c in range(n_cases):
            lo, hi = offsets[c], offsets[c + 1]
            blk = parent[lo:hi]
            blk[1:][blk[1:] < 0] = lo
    ref = run_tree_newton("numpy", offsets, parent, R, S, R_out, flow_root)
    got = run_tree_newton(parity_backend, offsets, parent, R, S, R_out, flow_root)
    assert np.all(ref[4] <= 1e-12) and np.all(got[4] <= 1e-12)
    for a, b in zip(ref[:3], got[:3]):
        scale = np.max(np.abs(a)) or 1.0
        assert np.max(np.abs(a - b)) / scale < 1e-10


def test_mass_conserved_at_every_junction(backend):
    offsets, parent, R, S, R_out = random_forest(3, [200], seed=7)
    Q, Pu, Pd, *_ = run_tree_newton(backend, offsets, parent, R, S, R_out)
    inflow_children = np.zeros_like(Q)
    np.add.at(inflow_children, parent[parent >= 0], Q[parent >= 0])
    internal = R_out == 0
    rel = np.abs(Q[internal] - inflow_children[internal]) / np.abs(Q[internal])
    assert rel.max() < 1e-12
    # one shared pressure at every junction: each child's inlet pressure is its parent's outlet pressure
    child = parent >= 0
    assert np.array_equal(Pu[child], Pd[parent[child]])


def _sparse_newton(parent, R, S, R_out, p_root, pv):
    """Independent oracle: Newton on the full system [element flows, junction pressures] with spsolve."""
    n = parent.size
    # unknowns: Q (n) and P_down (n); equations: element (n) + node (n)
    x = np.zeros(2 * n)
    for _ in range(100):
        Q, P = x[:n], x[n:]
        Pu = np.where(parent < 0, p_root, P[np.maximum(parent, 0)])
        F = np.empty(2 * n)
        F[:n] = Pu - P - (R * Q + S * Q * np.abs(Q))
        node = np.where(R_out > 0, P - pv - R_out * Q, 0.0)
        kids = np.zeros(n)
        np.add.at(kids, parent[parent >= 0], Q[parent >= 0])
        node = np.where(R_out > 0, node, Q - kids)
        F[n:] = node
        rows, cols, vals = [], [], []
        for i in range(n):
            rows += [i, i]
            cols += [i, n + i]
            vals += [-(R[i] + 2 * S[i] * abs(Q[i])), -1.0]
            if parent[i] >= 0:
                rows.append(i)
                cols.append(n + parent[i])
                vals.append(1.0)
            if R_out[i] > 0:
                rows += [n + i, n + i]
                cols += [n + i, i]
                vals += [1.0, -R_out[i]]
            else:
                rows.append(n + i)
                cols.append(i)
                vals.append(1.0)
            if parent[i] >= 0:
                rows.append(n + parent[i])
                cols.append(i)
                vals.append(-1.0)
        J = sp.csr_matrix((vals, (rows, cols)), shape=(2 * n, 2 * n))
        dx = spla.spsolve(J, -F)
        x += dx
        if np.max(np.abs(dx[n:])) < 1e-9 and np.max(np.abs(dx[:n])) < 1e-22:
            break
    return x[:n], x[n:]


def test_tree_newton_matches_sparse_direct_newton(backend):
    offsets, parent, R, S, R_out = random_forest(1, [60], seed=3)
    parent[parent < 0] = -1
    parent[0] = -1
    Q, Pu, Pd, it, res, pv = run_tree_newton(backend, offsets, parent, R, S, R_out)
    Qs, Ps = _sparse_newton(parent, R, S, R_out, 93.0 * 133.322387415, pv[0])
    assert np.max(np.abs(Q - Qs)) / np.max(np.abs(Qs)) < 1e-10
    assert np.max(np.abs(Pd - Ps)) / np.max(np.abs(Ps)) < 1e-10


def _frusta(seed=0, n=1025):
    rng = np.random.default_rng(seed)
    return rng.uniform(2e-4, 3e-3, n), rng.uniform(2e-4, 3e-3, n), rng.uniform(1e-5, 1e-3, n)


@pytest.mark.parametrize("n", [1025, 70_001])   # below and above the Numba twin's serial size
def test_segment_resistance_backends_agree(parity_backend, n):
    r0, r1, L = _frusta(n=n)
    a, b = np.empty(n), np.empty(n)
    get_kernel("segment_resistance", "numpy")(r0, r1, L, 0.0035, a)
    get_kernel("segment_resistance", parity_backend)(r0, r1, L, 0.0035, b)
    assert np.max(np.abs(a - b) / a) < 1e-12


def test_segment_resistance_is_the_exact_integral(backend):
    """Truth: the exact integral of 8μ/(π r(s)^4) for a linear radius (trapezoid rule, 2e5 steps)."""
    r0, r1, L = _frusta()
    a = np.empty(1025)
    get_kernel("segment_resistance", backend)(r0, r1, L, 0.0035, a)
    i = 5
    s = np.linspace(0, L[i], 200001)
    r = r0[i] + (r1[i] - r0[i]) * s / L[i]
    f = 8 * 0.0035 / (math.pi * r ** 4)
    trap = np.sum(0.5 * (f[1:] + f[:-1]) * np.diff(s))
    assert abs(a[i] - trap) / trap < 1e-8


@pytest.mark.parametrize("nn", [1000, 70_001])   # below and above the Numba twin's serial size
def test_node_pressure_backends_agree(parity_backend, nn):
    rng = np.random.default_rng(1)
    nv = 40
    node_vessel = np.sort(rng.integers(0, nv, nn))
    Rc, Sc = rng.uniform(0, 1e10, nn), rng.uniform(0, 1e15, nn)
    Pu, Q = rng.uniform(1e4, 1.3e4, nv), rng.uniform(-1e-6, 5e-6, nv)
    a, b = np.empty(nn), np.empty(nn)
    get_kernel("node_pressure", "numpy")(node_vessel, Rc, Sc, Pu, Q, a)
    get_kernel("node_pressure", parity_backend)(node_vessel, Rc, Sc, Pu, Q, b)
    assert np.max(np.abs(a - b)) / np.max(np.abs(a)) < 1e-14


def test_backend_choice_is_validated():
    assert resolve_backend("numpy") == "numpy"
    assert resolve_backend("auto") in available_backends()
    with pytest.raises(InvalidInputError, match="backend"):
        resolve_backend("gpu")
    if "cuda" not in available_backends():
        with pytest.raises(BackendUnavailableError, match="cuda"):
            resolve_backend("cuda")
    with pytest.raises(InvalidInputError, match="kernel"):
        get_kernel("no_such_kernel", "numpy")


# ------------------------------------------------------------------------------------ global convergence


def _equations_residual(offsets, parent, R, S, R_out, p_root, pv, Q, Pu, Pd):
    """Largest residual of every equation of the network, relative to the driving pressure, computed
    here from scratch: vessel laws (the monotone law), outlet laws, mass and pressure at junctions."""
    f, _ = reference.vessel_law(R, S, Q)
    case_of = np.repeat(np.arange(offsets.size - 1), np.diff(offsets))
    e = np.abs(Pu - Pd - f)
    e = np.maximum(e, np.where(R_out > 0, np.abs(Pd - pv[case_of] - R_out * Q), 0.0))
    kids = np.zeros_like(Q)
    np.add.at(kids, parent[parent >= 0], Q[parent >= 0])
    drive = p_root - pv[case_of]
    e = np.maximum(e, np.where(R_out == 0, np.abs(Q - kids) * np.abs(R + 2 * S * np.abs(Q) + 1e9), 0.0))
    e = np.maximum(e, np.where(parent >= 0, np.abs(Pu - Pd[np.maximum(parent, 0)]), np.abs(Pu - p_root)))
    return np.max(e / drive)


from ffrflow.kernels import reference  # noqa: E402


@pytest.mark.parametrize("start", ["zero", "wild"])
def test_tree_newton_converges_from_any_start_on_extreme_coefficients(backend, start):
    """Truth: every equation of the network holds to 1e-10 of the driving pressure (checked from
    scratch), no vessel carries flow against its pressure drop, and the solution is the same from
    every start (the energy is strictly convex: one solution)."""
    offsets, parent, R, S, R_out = hard_forest(40, seed=4)
    n, nc = parent.size, offsets.size - 1
    p_root = np.full(n, 93.0 * 133.322387415)
    pv = np.linspace(0.0, 600.0, nc)
    sols = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        Q = np.zeros(n) if start == "zero" else rng.choice([-1.0, 1.0], n) * 10.0 ** rng.uniform(-12, -3, n)
        Pu, Pd = np.zeros(n), np.zeros(n)
        it, res = np.zeros(nc, dtype=np.int64), np.zeros(nc)
        get_kernel("tree_newton", backend)(offsets, parent, R, S, R_out, p_root, np.full(n, np.nan), pv, 1e-12, 100,
                                           Q, Pu, Pd, np.zeros((6, n)), it, res)
        assert np.all(res <= 1e-12), (res.max(), it.max())
        assert _equations_residual(offsets, parent, R, S, R_out, 93.0 * 133.322387415, pv, Q, Pu, Pd) < 1e-10
        assert np.all(Q * (Pu - Pd) >= 0.0)
        sols.append(Q)
    case_of = np.repeat(np.arange(nc), np.diff(offsets))
    scale = np.zeros(nc)
    np.maximum.at(scale, case_of, np.abs(sols[0]))
    for Q in sols[1:]:   # flows spanning 1e-25..1e-7 m³/s: compared with the case's largest
        assert np.max(np.abs(Q - sols[0]) / scale[case_of]) < 1e-9


def test_lesion_with_negative_linear_coefficient_takes_the_forward_solution(backend):
    """A 95 % lesion of a 0.1 mm branch with the ns-calibrated coefficients frozen at a flow (R < 0,
    S = 2e23; from a sample that stopped `ffrflow uq`): with R Q + S Q|Q| as it stands the network
    has a second, reverse-flow solution (Q < 0 with the pressure falling along the flow's opposite
    direction), which the old Newton found or cycled round. Truth: the monotone law's solution,
    with flow down every pressure drop, unique from every start."""
    R = np.array([7.82341229e6, 2.03249108e9, 1.66051514e9, -1.03470487e14, 2.00042637e11, 2.31631250e12,
                  3.46097600e8, 1.21432559e10, 2.02499507e13])
    S = np.array([0.0, 1.59300065e16, 0.0, 2.03358061e23, 0.0, 4.13289712e19, 0.0, 0.0, 0.0])
    R_out = np.array([0.0, 0.0, 0.0, 4.37041041e10, 6.58707452e10, 9.12531279e9, 0.0, 2.27915702e9, 8.20776739e10])
    parent = np.array([-1, 0, 1, 2, 2, 1, 0, 6, 6])
    offsets = np.array([0, 9])
    pa = 80.57 * 133.322387415
    out = []
    for q0 in (0.0, -1e-9, 1e-6):
        Q, Pu, Pd = np.full(9, q0), np.zeros(9), np.zeros(9)
        it, res = np.zeros(1, dtype=np.int64), np.zeros(1)
        get_kernel("tree_newton", backend)(offsets, parent, R, S, R_out, np.full(9, pa), np.full(9, np.nan),
                                           np.zeros(1), 1e-12, 100, Q, Pu, Pd, np.zeros((6, 9)), it, res)
        assert res[0] <= 1e-12
        assert _equations_residual(offsets, parent, R, S, R_out, pa, np.zeros(1), Q, Pu, Pd) < 1e-10
        assert np.all(Q > 0) and np.all(Pu > Pd)
        out.append(Q)
    np.testing.assert_allclose(out[1], out[0], rtol=1e-9)
    np.testing.assert_allclose(out[2], out[0], rtol=1e-9)
    # the plain law admits the reverse-flow branch: a flow below −|R|/S·... with R Q + S Q|Q| > 0
    q = -1.41225265e-10
    assert R[3] * q + S[3] * q * abs(q) > 0 > q


def test_energy_remainder_is_the_integral_of_the_law():
    """Truth: F(q + h) − F(q) − f(q) h with F' = f, by Gauss–Legendre quadrature of the law on each
    side of its kinks (0 and ±Q_z), for laws with R > 0, R < 0 and S = 0, across sign changes."""
    rng = np.random.default_rng(2)
    x, w = np.polynomial.legendre.leggauss(20)
    for _ in range(300):
        S = 10.0 ** rng.uniform(10, 20) * (rng.random() < 0.8)
        R = 10.0 ** rng.uniform(6, 10) * rng.choice([-1.0, 1.0]) if S else 10.0 ** rng.uniform(6, 10)
        q, h = rng.normal(0, 1e-6, 2) * rng.choice([1e-4, 1.0, 1e2], 2)
        qz = -R / S if (R < 0 and S > 0) else 0.0
        knots = np.sort(np.clip([q, q + h, 0.0, qz, -qz], min(q, q + h), max(q, q + h)))
        integral = 0.0
        for a, b in zip(knots[:-1], knots[1:]):
            t = 0.5 * (b - a) * x + 0.5 * (a + b)
            integral += 0.5 * (b - a) * np.sum(w * reference.vessel_law(R, S, t)[0])
        integral *= np.sign(h)            # the knots run upwards: ∫ from q to q + h
        expect = integral - reference.vessel_law(R, S, q)[0] * h
        got = reference.vessel_energy_remainder(R, S, q, h)
        scale = abs(integral) + abs(reference.vessel_law(R, S, q)[0] * h) + 1e-300
        assert abs(got - expect) <= 1e-9 * scale, (R, S, q, h, got, expect)


def test_numba_twin_serial_size_is_inside_the_parity_sizes():
    """The parity tests above cover both of the Numba twin's paths (serial below ``SERIAL_BELOW``
    elements, parallel from it); this keeps their sizes on both sides if the threshold moves."""
    from ffrflow.kernels.cpu import SERIAL_BELOW

    assert 1025 < SERIAL_BELOW <= 70_001
