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


#: Extra NVRTC options per module. The lumped kernel is built without FMA contraction so that its
#: Newton iterations follow the Numba/C++ arithmetic operation by operation (same residuals, so the same
#: iteration counts and results to round-off; contraction would change the last bits of every residual).
MODULE_OPTIONS = {"lumped.cu": ("--fmad=false",)}


@cupy.memoize(for_each_device=True)
def _module(name: str):
    return cupy.RawModule(code=cuda_source(name), options=("--std=c++14", *MODULE_OPTIONS.get(name, ())))


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


# Argument names (tv_off, cv_off, cl_off, tl_off, co_off, dr, sev, ...): ffrflow/kernels/codes.py;
# layout and units: the NumPy reference, ffrflow.kernels.reference.ensemble_steady.
def ensemble_steady(tv_off, parent, vn_off, el_len, r_node, d_node, node_les, v_out,
                    tl_off, les_k0, les_k1, les_ref, to_off,
                    case_tree, cv_off, cl_off, co_off, mu, rho, kt, model, lesion_coef, p_in, q_in, p_v,
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
    dlc = _d(np.ascontiguousarray(lesion_coef), cupy.float64)
    f64d = [_d(x, cupy.float64) for x in (p_in, q_in, p_v, dr, sev, r_out)]
    outs = [_out(x) for x in (Q, P_up, P_down, p_les0, p_les1, r_mld, p_out)]
    dwork, dlwork = _out(work), _out(lwork)
    par_cv = cupy.empty(max(n_cv, 1), dtype=cupy.int64)
    scratch = [cupy.empty(max(n_cv, 1), dtype=cupy.float64) for _ in range(3)]
    dit = cupy.zeros(n_cases, dtype=cupy.int64)
    dres = cupy.zeros(n_cases, dtype=cupy.float64)
    _fn("steady.cu", "ff_ensemble_steady_k")(*_grid(n_cases), (
        *i64, *f64a, *i64b, lref, *i64c, *f64c, dmodel, dlc, *f64d, np.float64(tol), np.int64(max_iter),
        *outs, dwork, dlwork, np.int64(n_cv), np.int64(n_cl), par_cv, *scratch, dit, dres, np.int64(n_cases)))
    for dev, host in zip(outs + [dit, dres], [Q, P_up, P_down, p_les0, p_les1, r_mld, p_out, iterations, residual]):
        _back(dev, host)
    return Q, P_up, P_down, p_les0, p_les1, r_mld, p_out, iterations, residual



#: Integer arguments of ``ensemble_steady_pre`` (the rest are float64 arrays or scalars).
_PRE_INT = {"tv_off", "parent", "v_out", "v_st", "st_fn", "st_les", "st_ed", "ed_l0", "ed_l1", "fn_pc", "pc_cf",
            "tl_off", "les_v", "les_next", "les_prev", "les_fn", "les_cd", "cd_l", "case_tree", "tc_off", "cv_b",
            "cl_b", "co_b", "model", "iterations", "passes"}
_PRE_ARGS = ("tv_off", "parent", "v_out", "v_st", "st_fn", "st_les", "st_ed", "ed_len", "ed_r0", "ed_d0", "ed_l0",
             "ed_r1", "ed_d1", "ed_l1", "fn_pc", "pc_lo", "pc_hi", "pc_cf", "cf", "tl_off", "les_v", "les_next",
             "les_prev", "les_fn", "les_ref", "les_dmax", "les_cd", "cd_a", "cd_d", "cd_l", "les_len", "les_band",
             "les_slope", "les_gap", "les_wire", "les_efs", "law_c", "case_tree", "tc_off", "cv_b", "cl_b", "co_b",
             "mu", "rho", "kt", "model", "p_in", "q_in", "p_v", "dr", "sev", "r_out")
_PRE_OUT = ("Q", "P_up", "P_down", "p_les0", "p_les1", "r_mld", "coef", "p_out", "work", "lwork")


def ensemble_steady_pre(*args):
    """CUDA twin of :func:`ffrflow.kernels.reference.ensemble_steady_pre` (one case per thread,
    sample-minor arrays: consecutive threads read consecutive addresses). Inputs go to the device
    once; the outputs come back once."""
    n_in = len(_PRE_ARGS)
    host = dict(zip(_PRE_ARGS, args[:n_in]))
    newton_tol, max_iter, lesion_tol, max_passes = args[n_in:n_in + 4]
    outs = dict(zip(_PRE_OUT, args[n_in + 4:n_in + 4 + len(_PRE_OUT)]))
    iterations, residual, passes = args[n_in + 4 + len(_PRE_OUT):]
    n_cases = int(host["case_tree"].shape[0])
    n_cv = int(outs["Q"].shape[0])
    n_cl = int(outs["p_les0"].shape[0])
    d_in = [cupy.ascontiguousarray(_d(host[k], cupy.int64 if k in _PRE_INT else cupy.float64)) for k in _PRE_ARGS]
    d_out = {k: _out(np.ascontiguousarray(v) if isinstance(v, np.ndarray) else v) for k, v in outs.items()}
    dit = cupy.zeros(n_cases, dtype=cupy.int64)
    dres = cupy.zeros(n_cases, dtype=cupy.float64)
    dpass = cupy.zeros(n_cases, dtype=cupy.int64)
    if n_cases:
        _fn("steady.cu", "ff_ensemble_steady_pre_k")(*_grid(n_cases), (
            *d_in, np.float64(newton_tol), np.int64(max_iter), np.float64(lesion_tol), np.int64(max_passes),
            *(d_out[k] for k in _PRE_OUT), np.int64(n_cv), np.int64(n_cl), dit, dres, dpass, np.int64(n_cases)))
    for k in _PRE_OUT:
        _back(d_out[k], outs[k])
    for dev, hst in ((dit, iterations), (dres, residual), (dpass, passes)):
        _back(dev, hst)
    return (outs["Q"], outs["P_up"], outs["P_down"], outs["p_les0"], outs["p_les1"], outs["r_mld"], outs["coef"],
            outs["p_out"], iterations, residual, passes)

_PUL_ARGS = ("case_piece_off", "case_node_off", "case_lpm_off", "piece_cell_off", "piece_dx", "piece_case",
             "A", "Q", "A0", "beta", "p0", "rho", "kr", "alpha", "Af", "Qf",
             "node_port_off", "node_type", "node_val", "node_wave", "node_lpm", "node_P",
             "port_piece", "port_side", "port_R", "port_S", "port_L", "port_q", "port_W",
             "lpm_port", "lpm_type", "lpm_R2", "lpm_R3", "lpm_C1", "lpm_C2", "lpm_pv", "lpm_pim_wave",
             "lpm_pim_scale", "lpm_P1", "lpm_P2", "wave_off", "wave_t", "wave_v", "wave_period",
             "acc_cell_P", "acc_cell_Q", "acc_node_P", "acc_port_q", "acc_port_P", "wf_cell_P", "wf_cell_Q",
             "wf_node_P")


def pulsatile_advance(n_steps, t0, dt, sample_every, *arrays):
    """CUDA twin of :func:`ffrflow.kernels.reference.pulsatile_advance`.

    Every array is copied to the device once; the whole time loop then runs as kernel launches
    (predictor, nodes, corrector, outlet models, accumulation) with no host copy inside a step;
    the state, accumulators and samples come back once at the end.
    """
    host = dict(zip(_PUL_ARGS, arrays))
    d = {k: (v if isinstance(v, cupy.ndarray) else cupy.asarray(v)) for k, v in host.items()}
    n_cells = int(d["A"].size)
    n_nodes = int(d["node_type"].size)
    n_lpm = int(d["lpm_type"].size)
    counts = cupy.diff(d["piece_cell_off"])
    cell_piece = cupy.repeat(cupy.arange(counts.size, dtype=cupy.int64), counts.get().tolist()) \
        if n_cells else cupy.zeros(0, dtype=cupy.int64)
    n_rows = int(d["wf_cell_P"].shape[0])
    pred = _fn("pulsatile.cu", "ff_pul_predictor_k")
    nodes = _fn("pulsatile.cu", "ff_pul_nodes_k")
    corr = _fn("pulsatile.cu", "ff_pul_corrector_k")
    lpm = _fn("pulsatile.cu", "ff_pul_lpm_k")
    accc = _fn("pulsatile.cu", "ff_pul_accumulate_cells_k")
    accn = _fn("pulsatile.cu", "ff_pul_accumulate_nodes_k")
    gc, gn, gl = _grid(n_cells), _grid(n_nodes), _grid(max(n_lpm, 1))
    i64, f64 = np.int64, np.float64
    for step in range(int(n_steps)):
        t = float(t0) + step * float(dt)
        pred(*gc, (i64(n_cells), cell_piece, d["piece_cell_off"], d["piece_case"], f64(dt), d["piece_dx"], d["A"],
                   d["Q"], d["A0"], d["beta"], d["p0"], d["rho"], d["kr"], d["alpha"], d["Af"], d["Qf"]))
        nodes(*gn, (i64(n_nodes), f64(t + 0.5 * dt), f64(dt), d["node_port_off"], d["node_type"], d["node_val"],
                    d["node_wave"], d["node_lpm"], d["node_P"], d["port_piece"], d["port_side"], d["port_R"],
                    d["port_S"], d["port_L"], d["port_q"], d["port_W"], d["piece_cell_off"], d["piece_dx"],
                    d["piece_case"], d["A"], d["Q"], d["A0"], d["beta"], d["p0"], d["rho"], d["kr"], d["wave_off"],
                    d["wave_t"], d["wave_v"], d["wave_period"], d["lpm_P1"], d["Af"], d["Qf"]))
        corr(*gc, (i64(n_cells), cell_piece, d["piece_cell_off"], d["piece_case"], f64(dt), d["piece_dx"], d["A"],
                   d["Q"], d["A0"], d["beta"], d["p0"], d["rho"], d["kr"], d["alpha"], d["Af"], d["Qf"]))
        if n_lpm:
            lpm(*gl, (i64(n_lpm), f64(t + dt), f64(dt), d["port_q"], d["lpm_port"], d["lpm_type"], d["lpm_R2"],
                      d["lpm_R3"], d["lpm_C1"], d["lpm_C2"], d["lpm_pv"], d["lpm_pim_wave"], d["lpm_pim_scale"],
                      d["lpm_P1"], d["lpm_P2"], d["wave_off"], d["wave_t"], d["wave_v"], d["wave_period"]))
        row = -1
        if sample_every > 0 and (step + 1) % sample_every == 0 and (step + 1) // sample_every - 1 < n_rows:
            row = (step + 1) // sample_every - 1
        accc(*gc, (i64(n_cells), d["A"], d["Q"], d["A0"], d["beta"], d["p0"], d["acc_cell_P"], d["acc_cell_Q"],
                   i64(row), d["wf_cell_P"], d["wf_cell_Q"]))
        accn(*gn, (i64(n_nodes), d["node_port_off"], d["node_P"], d["port_q"], d["port_piece"], d["port_side"],
                   d["piece_cell_off"], d["Af"], d["A0"], d["beta"], d["p0"], d["acc_node_P"], d["acc_port_q"],
                   d["acc_port_P"], i64(row), d["wf_node_P"]))
    for k, v in host.items():
        if isinstance(v, np.ndarray) and k not in ("wave_off", "wave_t", "wave_v", "wave_period"):
            v[...] = cupy.asnumpy(d[k]).reshape(v.shape)


_LUMPED_INT = ("el_off", "el_parent", "ch_off", "ch_idx", "el_bc_in", "el_bc_out", "el_cap", "bc_off", "bc_type",
               "bc_el", "bc_tab", "tab_off", "sim_i", "out_off", "status", "info_i")
#: Arrays that ``lumped_integrate`` writes (copied back into NumPy arguments once, at the end).
_LUMPED_OUT = ("el_y", "el_yd", "bc_y", "bc_yd", "bc_aux", "out", "status", "info_i", "info_f", "work", "bwork")
_LUMPED_ARGS = ("el_off", "el_parent", "ch_off", "ch_idx", "el_R", "el_C", "el_L", "el_S", "el_bc_in", "el_bc_out",
                "el_cap", "bc_off", "bc_type", "bc_el", "bc_tab", "tab_off", "tab_t", "tab_v", "tab_mean",
                "tab_period", "sim_i", "sim_f", "el_y", "el_yd", "bc_y", "bc_yd", "bc_aux", "out_off", "out",
                "status", "info_i", "info_f", "work", "bwork")
#: Fixed row widths of the 2-D arrays (kernels/cuda/lumped.cuh); sim_i and sim_f pass theirs.
_LUMPED_WIDTH = {"el_y": 4, "el_yd": 4, "bc_tab": 10, "bc_aux": 2, "info_i": 4, "info_f": 3, "work": 48,
                 "bwork": 32}


def lumped_integrate(el_off, el_parent, ch_off, ch_idx, el_R, el_C, el_L, el_S, el_bc_in, el_bc_out, el_cap,
                     bc_off, bc_type, bc_el, bc_tab, tab_off, tab_t, tab_v, tab_mean, tab_period,
                     sim_i, sim_f, el_y, el_yd, bc_y, bc_yd, bc_aux, out_off, out, status, info_i, info_f,
                     work, bwork):
    """CUDA twin of :func:`ffrflow.kernels.cpu_lumped.lumped_integrate` (one case per thread).

    Every array goes to the device once (as C-contiguous int64 / float64); the whole integration of
    every case is one launch; the arrays the kernel writes (final state, ``bc_aux``, ``out``,
    ``status``, ``info_i``, ``info_f`` and the scratch) come back once into the given arrays.
    """
    host = dict(zip(_LUMPED_ARGS, (el_off, el_parent, ch_off, ch_idx, el_R, el_C, el_L, el_S, el_bc_in, el_bc_out,
                                   el_cap, bc_off, bc_type, bc_el, bc_tab, tab_off, tab_t, tab_v, tab_mean,
                                   tab_period, sim_i, sim_f, el_y, el_yd, bc_y, bc_yd, bc_aux, out_off, out, status,
                                   info_i, info_f, work, bwork)))
    n_cases = int(el_off.shape[0]) - 1
    for k, w in _LUMPED_WIDTH.items():
        x = host[k]
        if x.size and (x.ndim != 2 or x.shape[1] != w):
            raise ValueError(f"lumped_integrate: {k} must have {w} columns, got shape {x.shape}")
    d = {}
    for k, v in host.items():
        dt = cupy.int64 if k in _LUMPED_INT else cupy.float64
        if isinstance(v, cupy.ndarray) and v.dtype == dt and v.flags.c_contiguous:
            d[k] = v
        else:
            d[k] = cupy.ascontiguousarray(cupy.asarray(v, dtype=dt))
    si_w = int(host["sim_i"].shape[1]) if host["sim_i"].ndim == 2 else 0
    sf_w = int(host["sim_f"].shape[1]) if host["sim_f"].ndim == 2 else 0
    if n_cases > 0:
        _fn("lumped.cu", "ff_lumped_integrate_k")(*_grid(n_cases), (
            *(d[k] for k in _LUMPED_ARGS), np.int64(si_w), np.int64(sf_w), np.int64(n_cases)))
    for k in _LUMPED_OUT:
        _back(d[k], host[k])
    return out, status
