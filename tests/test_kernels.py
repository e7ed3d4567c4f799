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


def _random_forest(n_cases, sizes, seed=0):
    """CSR-packed random trees with lesion coefficients and outlet resistances, SI magnitudes."""
    rng = np.random.default_rng(seed)
    parents, Rs, Ss, Routs, offs = [], [], [], [], [0]
    for c in range(n_cases):
        n = sizes[c % len(sizes)]
        base = offs[-1]
        par = np.full(n, -1, dtype=np.int64)
        for i in range(1, n):
            par[i] = base + rng.integers(0, i)
        if n > 3 and rng.random() < 0.5:
            par[n // 2] = -1  # a second root (left + right trees)
            par[n // 2 + 1:][par[n // 2 + 1:] < base + n // 2] = base + n // 2
        parents.append(par)
        Rs.append(rng.uniform(1e8, 5e9, n))
        Ss.append(np.where(rng.random(n) < 0.3, rng.uniform(1e12, 5e14, n), 0.0))
        has_child = np.zeros(n, bool)
        has_child[(par[par >= 0] - base)] = True
        Routs.append(np.where(has_child, 0.0, rng.uniform(1e9, 2e10, n)))
        offs.append(base + n)
    return (np.array(offs, dtype=np.int64), np.concatenate(parents), np.concatenate(Rs), np.concatenate(Ss),
            np.concatenate(Routs))


def _run(backend, offsets, parent, R, S, R_out, flow_root=False, tol=1e-12):
    n = parent.size
    n_cases = offsets.size - 1
    root_p = np.full(n, 93.0 * 133.322387415)
    root_q = np.full(n, np.nan)
    if flow_root:
        root_q[parent < 0] = 3e-6
    pv = np.linspace(0.0, 500.0, n_cases)
    Q, Pu, Pd = np.zeros(n), np.zeros(n), np.zeros(n)
    work = np.zeros((6, n))
    it = np.zeros(n_cases, dtype=np.int64)
    res = np.zeros(n_cases)
    get_kernel("tree_newton", backend)(offsets, parent, R, S, R_out, root_p, root_q, pv, tol, 60,
                                       Q, Pu, Pd, work, it, res)
    return Q, Pu, Pd, it, res, pv


@pytest.mark.parametrize("size", [1, 31, 32, 33, 1025])
@pytest.mark.parametrize("flow_root", [False, True])
def test_tree_newton_backends_agree(backend, size, flow_root):
    offsets, parent, R, S, R_out = _random_forest(5, [size, max(1, size // 3)], seed=size)
    if flow_root:  # a prescribed inflow needs single-root cases
        offsets, parent, R, S, R_out = _random_forest(5, [size], seed=size)
        for c in range(5):
            lo, hi = offsets[c], offsets[c + 1]
            blk = parent[lo:hi]
            blk[1:][blk[1:] < 0] = lo
    ref = _run("numpy", offsets, parent, R, S, R_out, flow_root)
    got = _run(backend, offsets, parent, R, S, R_out, flow_root)
    assert np.all(ref[4] <= 1e-12) and np.all(got[4] <= 1e-12)
    for a, b in zip(ref[:3], got[:3]):
        scale = np.max(np.abs(a)) or 1.0
        assert np.max(np.abs(a - b)) / scale < 1e-10


def test_mass_conserved_at_every_junction(backend):
    offsets, parent, R, S, R_out = _random_forest(3, [200], seed=7)
    Q, Pu, Pd, *_ = _run(backend, offsets, parent, R, S, R_out)
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
    offsets, parent, R, S, R_out = _random_forest(1, [60], seed=3)
    parent[parent < 0] = -1
    parent[0] = -1
    Q, Pu, Pd, it, res, pv = _run(backend, offsets, parent, R, S, R_out)
    Qs, Ps = _sparse_newton(parent, R, S, R_out, 93.0 * 133.322387415, pv[0])
    assert np.max(np.abs(Q - Qs)) / np.max(np.abs(Qs)) < 1e-10
    assert np.max(np.abs(Pd - Ps)) / np.max(np.abs(Ps)) < 1e-10


def test_segment_resistance_backends_agree(backend):
    rng = np.random.default_rng(0)
    r0 = rng.uniform(2e-4, 3e-3, 1025)
    r1 = rng.uniform(2e-4, 3e-3, 1025)
    L = rng.uniform(1e-5, 1e-3, 1025)
    a, b = np.empty(1025), np.empty(1025)
    get_kernel("segment_resistance", "numpy")(r0, r1, L, 0.0035, a)
    get_kernel("segment_resistance", backend)(r0, r1, L, 0.0035, b)
    assert np.max(np.abs(a - b) / a) < 1e-12
    # truth: the exact integral of 8μ/(π r(s)^4) for a linear radius
    i = 5
    s = np.linspace(0, L[i], 200001)
    r = r0[i] + (r1[i] - r0[i]) * s / L[i]
    f = 8 * 0.0035 / (math.pi * r ** 4)
    trap = np.sum(0.5 * (f[1:] + f[:-1]) * np.diff(s))
    assert abs(a[i] - trap) / trap < 1e-8


def test_node_pressure_backends_agree(backend):
    rng = np.random.default_rng(1)
    nv, nn = 40, 1000
    node_vessel = np.sort(rng.integers(0, nv, nn))
    Rc, Sc = rng.uniform(0, 1e10, nn), rng.uniform(0, 1e15, nn)
    Pu, Q = rng.uniform(1e4, 1.3e4, nv), rng.uniform(-1e-6, 5e-6, nv)
    a, b = np.empty(nn), np.empty(nn)
    get_kernel("node_pressure", "numpy")(node_vessel, Rc, Sc, Pu, Q, a)
    get_kernel("node_pressure", backend)(node_vessel, Rc, Sc, Pu, Q, b)
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
