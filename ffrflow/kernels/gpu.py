"""CUDA kernels through CuPy ``RawModule``: twins of :mod:`ffrflow.kernels.reference`.

Same names and signatures as the NumPy reference. Inputs may be NumPy arrays (copied to the device
once per call, results copied back into the given output arrays once) or CuPy arrays (used in place:
nothing crosses the bus). The CUDA C sources live in ``kernels/cuda/*.cuh`` (per-thread work,
``__host__ __device__``, also compiled as plain C++ by the test suite) and ``*.cu`` (``__global__``
wrappers that map threads to work items). Modules are compiled once per device (memoized).
All arithmetic is float64.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import cupy  # noqa: F401  (ImportError here means: no cuda backend)

CUDA_DIR = Path(__file__).resolve().parent / "cuda"
#: Threads per block of every launch (one tunable, set here).
THREADS_PER_BLOCK = 128


def cuda_source(*names: str) -> str:
    """Concatenate CUDA sources in include order, dropping local ``#include "..."`` and ``#pragma once``."""
    seen, out = set(), []

    def add(name):
        if name in seen:
            return
        seen.add(name)
        for line in (CUDA_DIR / name).read_text().splitlines():
            s = line.strip()
            if s.startswith('#include "'):
                add(s.split('"')[1])
            elif s != "#pragma once":
                out.append(line)

    for n in names:
        add(n)
    return "\n".join(out) + "\n"


@cupy.memoize(for_each_device=True)
def _module(name: str):
    return cupy.RawModule(code=cuda_source(name), options=("--std=c++14",))


def _fn(module: str, kernel: str):
    return _module(module).get_function(kernel)


def _grid(n: int) -> tuple[tuple[int], tuple[int]]:
    return ((max(1, (int(n) + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK),), (THREADS_PER_BLOCK,))


def _d(x, dtype):
    return cupy.asarray(x, dtype=dtype)


def _back(dev, host):
    """Copy a device result into the caller's output array (no-op when the caller passed a device array)."""
    if isinstance(host, np.ndarray):
        host[...] = cupy.asnumpy(dev).reshape(host.shape)
    elif host is not dev:
        host[...] = dev.reshape(host.shape)


def _out(x):
    return x if isinstance(x, cupy.ndarray) else cupy.asarray(x, dtype=x.dtype)


def segment_resistance(r0_m, r1_m, length_m, mu_pa_s, out):
    """CUDA twin of :func:`ffrflow.kernels.reference.segment_resistance`."""
    r0 = _d(r0_m, cupy.float64).ravel()
    n = r0.size
    r1 = _d(r1_m, cupy.float64).ravel()
    ln = _d(length_m, cupy.float64).ravel()
    mu = cupy.broadcast_to(_d(mu_pa_s, cupy.float64), r0.shape).copy()
    d_out = cupy.empty(n, dtype=cupy.float64)
    _fn("steady.cu", "ff_segment_resistance_k")(*_grid(n), (r0, r1, ln, mu, d_out, np.int64(n)))
    _back(d_out, out)
    return out


def node_pressure(node_vessel, R_cum, S_cum, P_up, Q, out):
    """CUDA twin of :func:`ffrflow.kernels.reference.node_pressure`."""
    n = int(np.asarray(node_vessel.shape[0]))
    d_out = cupy.empty(n, dtype=cupy.float64)
    _fn("steady.cu", "ff_node_pressure_k")(*_grid(n), (
        _d(node_vessel, cupy.int64), _d(R_cum, cupy.float64), _d(S_cum, cupy.float64), _d(P_up, cupy.float64),
        _d(Q, cupy.float64), d_out, np.int64(n)))
    _back(d_out, out)
    return out


def tree_newton(offsets, parent, R, S, R_out, root_p, root_q, p_venous, tol, max_iter,
                Q, P_up, P_down, work, iterations, residual):
    """CUDA twin of :func:`ffrflow.kernels.reference.tree_newton` (one case per thread)."""
    n = int(parent.shape[0])
    n_cases = int(offsets.shape[0]) - 1
    dQ, dPu, dPd = _out(Q), _out(P_up), _out(P_down)
    dwork = _out(work)
    dit = cupy.zeros(n_cases, dtype=cupy.int64)
    dres = cupy.zeros(n_cases, dtype=cupy.float64)
    _fn("steady.cu", "ff_tree_newton_k")(*_grid(n_cases), (
        _d(offsets, cupy.int64), _d(parent, cupy.int64), _d(R, cupy.float64), _d(S, cupy.float64),
        _d(R_out, cupy.float64), _d(root_p, cupy.float64), _d(root_q, cupy.float64), _d(p_venous, cupy.float64),
        np.float64(tol), np.int64(max_iter), dQ, dPu, dPd, dwork, np.int64(n), dit, dres, np.int64(n_cases)))
    for dev, host in ((dQ, Q), (dPu, P_up), (dPd, P_down), (dit, iterations), (dres, residual)):
        _back(dev, host)
    return Q, P_up, P_down, iterations, residual


def ensemble_steady(tv_off, parent, vn_off, el_len, r_node, d_node, node_les, v_out,
                    tl_off, les_k0, les_k1, les_ref, to_off,
                    case_tree, cv_off, cl_off, co_off, mu, rho, kt, model, p_in, q_in, p_v,
                    dr, sev, r_out, tol, max_iter,
                    Q, P_up, P_down, p_les0, p_les1, r_mld, p_out, work, lwork, iterations, residual):
    """CUDA twin of :func:`ffrflow.kernels.reference.ensemble_steady` (one case per thread)."""
    n_cases = int(case_tree.shape[0])
    n_cv = int(Q.shape[0])
    n_cl = int(p_les0.shape[0])
    i64 = [_d(x, cupy.int64) for x in (tv_off, parent, vn_off)]
    f64a = [_d(x, cupy.float64) for x in (el_len, r_node, d_node)]
    i64b = [_d(x, cupy.int64) for x in (node_les, v_out, tl_off, les_k0, les_k1)]
    lref = _d(les_ref, cupy.float64)
    i64c = [_d(x, cupy.int64) for x in (case_tree, cv_off, cl_off, co_off)]
    f64c = [_d(x, cupy.float64) for x in (mu, rho, kt)]
    dmodel = _d(model, cupy.int64)
    f64d = [_d(x, cupy.float64) for x in (p_in, q_in, p_v, dr, sev, r_out)]
    outs = [_out(x) for x in (Q, P_up, P_down, p_les0, p_les1, r_mld, p_out)]
    dwork, dlwork = _out(work), _out(lwork)
    par_cv = cupy.empty(max(n_cv, 1), dtype=cupy.int64)
    scratch = [cupy.empty(max(n_cv, 1), dtype=cupy.float64) for _ in range(3)]
    dit = cupy.zeros(n_cases, dtype=cupy.int64)
    dres = cupy.zeros(n_cases, dtype=cupy.float64)
    _fn("steady.cu", "ff_ensemble_steady_k")(*_grid(n_cases), (
        *i64, *f64a, *i64b, lref, *i64c, *f64c, dmodel, *f64d, np.float64(tol), np.int64(max_iter),
        *outs, dwork, dlwork, np.int64(n_cv), np.int64(n_cl), par_cv, *scratch, dit, dres, np.int64(n_cases)))
    for dev, host in zip(outs + [dit, dres], [Q, P_up, P_down, p_les0, p_les1, r_mld, p_out, iterations, residual]):
        _back(dev, host)
    return Q, P_up, P_down, p_les0, p_les1, r_mld, p_out, iterations, residual
