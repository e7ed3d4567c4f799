"""CUDA kernels without a GPU: the .cu files compile with nvcc -ptx, and the per-thread device
functions (kernels/cuda/*.cuh) built as plain C++ agree with the NumPy reference. With a device,
the `gpu`-marked parity tests run the real kernels (CuPy RawModule) against the reference."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

import ffrflow.cfd.ensemble as ens
from cuda_host import CUDA_DIR, call, have_gxx, library
from ffrflow.kernels import get_kernel
from ffrflow.kernels.codes import (INFO_CYCLE_TO_CYCLE_ERROR, INFO_CYCLES, INFO_FAILURE_TIME, INFO_NEWTON_ITERATIONS,
                                  INFO_ROWS, INFO_STEPS, OUTPUT_ALL, SIM_VARRES_ABSOLUTE_TIME,
                                  STATUS_CYCLES_NOT_CONVERGED, STATUS_NEWTON_FAILED, STATUS_OK, STATUS_SINGULAR)
from ffrflow.meshing.stenosis import detect_lesions
from ffrflow.phantoms import demo_case

from _helpers import (coronary_tree, hard_forest, lesion_network, pulsatile_kernel_inputs, random_forest,
                      run_tree_newton, sampled_params, y_model)

CU_FILES = sorted(CUDA_DIR.glob("*.cu"))
needs_gxx = pytest.mark.skipif(not have_gxx(), reason="g++ not found")


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not found")
@pytest.mark.parametrize("cu", CU_FILES, ids=[p.name for p in CU_FILES])
def test_cu_file_compiles_to_ptx(cu, tmp_path):
    out = subprocess.run(["nvcc", "-ptx", "-arch=sm_80", "--std=c++14", "-I", str(CUDA_DIR), str(cu),
                          "-o", str(tmp_path / (cu.stem + ".ptx"))], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / (cu.stem + ".ptx")).stat().st_size > 1000


def test_gpu_module_source_is_self_contained():
    """The source handed to NVRTC has no unresolved local #include (CuPy compiles it as one string)."""
    text = (CUDA_DIR / "steady.cu").read_text()
    assert '#include "steady.cuh"' in text
    from importlib import util

    spec = util.spec_from_file_location("_gpu_src", CUDA_DIR.parent / "gpu.py")
    src = spec.loader.get_source("_gpu_src")
    assert "def cuda_source" in src


@needs_gxx
@pytest.mark.parametrize("size", [1, 31, 32, 33, 1025])
def test_host_tree_newton_matches_reference(size):
    lib = library("steady_host")
    offsets, parent, R, S, R_out = random_forest(4, [size, max(1, size // 3)], seed=size)
    Q, Pu, Pd, it, res, pv = run_tree_newton("numpy", offsets, parent, R, S, R_out)
    n, nc = parent.size, offsets.size - 1
    hQ, hPu, hPd, hw = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros((6, n))
    hit, hres = np.zeros(nc, dtype=np.int64), np.zeros(nc)
    root_p = np.full(n, 93.0 * 133.322387415)
    root_q = np.full(n, np.nan)
    call(lib, "host_tree_newton", offsets, parent, R, S, R_out, root_p, root_q, pv, 1e-12, 60,
         hQ, hPu, hPd, hw, n, hit, hres, nc)
    assert np.max(np.abs(hQ - Q)) / np.max(np.abs(Q)) < 1e-10
    assert np.max(np.abs(hPd - Pd)) / np.max(np.abs(Pd)) < 1e-10
    assert np.array_equal(hit, it)


@needs_gxx
@pytest.mark.parametrize("start", ["zero", "wild"])
def test_host_tree_newton_line_search_matches_reference(start):
    """The line-searched Newton (negative linear coefficients, S up to 1e24, wild starts) as C++:
    same flows and pressures as the reference to 1e-10, same iterations."""
    lib = library("steady_host")
    offsets, parent, R, S, R_out = hard_forest(30, seed=8)
    n, nc = parent.size, offsets.size - 1
    rng = np.random.default_rng(1)
    Q0 = np.zeros(n) if start == "zero" else rng.choice([-1.0, 1.0], n) * 10.0 ** rng.uniform(-12, -3, n)
    root_p = np.full(n, 93.0 * 133.322387415)
    root_q = np.full(n, np.nan)
    pv = np.linspace(0.0, 600.0, nc)
    out = {}
    for who in ("numpy", "host"):
        Q, Pu, Pd, w = Q0.copy(), np.zeros(n), np.zeros(n), np.zeros((6, n))
        it, res = np.zeros(nc, dtype=np.int64), np.zeros(nc)
        if who == "numpy":
            get_kernel("tree_newton", "numpy")(offsets, parent, R, S, R_out, root_p, root_q, pv, 1e-12, 100,
                                               Q, Pu, Pd, w, it, res)
        else:
            call(lib, "host_tree_newton", offsets, parent, R, S, R_out, root_p, root_q, pv, 1e-12, 100,
                 Q, Pu, Pd, w, n, it, res, nc)
        out[who] = (Q, Pu, Pd, it, res)
    a, b = out["numpy"], out["host"]
    assert np.all(a[4] <= 1e-12) and np.all(b[4] <= 1e-12)
    case_of = np.repeat(np.arange(nc), np.diff(offsets))
    for x, y in zip(a[:3], b[:3]):
        scale = np.zeros(nc)
        np.maximum.at(scale, case_of, np.abs(x))
        assert np.max(np.abs(x - y) / scale[case_of]) < 1e-10
    assert np.array_equal(a[3], b[3])


@needs_gxx
def test_host_segment_resistance_matches_reference():
    lib = library("steady_host")
    rng = np.random.default_rng(2)
    r0, r1, L = rng.uniform(2e-4, 3e-3, 1025), rng.uniform(2e-4, 3e-3, 1025), rng.uniform(1e-5, 1e-3, 1025)
    mu = np.full(1025, 0.0035)
    ref, got = np.empty(1025), np.empty(1025)
    get_kernel("segment_resistance", "numpy")(r0, r1, L, 0.0035, ref)
    call(lib, "host_segment_resistance", r0, r1, L, mu, got, 1025)
    assert np.max(np.abs(ref - got) / ref) < 1e-14


def _host_ensemble(*a):
    (tv_off, parent, vn_off, el_len, r_node, d_node, node_les, v_out, tl_off, les_k0, les_k1, les_ref, to_off,
     case_tree, cv_off, cl_off, co_off, mu, rho, kt, model, lesion_coef, p_in, q_in, p_v, dr, sev, r_out, tol,
     max_iter, Q, P_up, P_down, p_les0, p_les1, r_mld, p_out, work, lwork, iterations, residual) = a
    n_cv, n_cl = Q.size, p_les0.size
    scratch_i = np.zeros(max(n_cv, 1), dtype=np.int64)
    scratch = [np.zeros(max(n_cv, 1)) for _ in range(3)]
    call(library("steady_host"), "host_ensemble_steady", tv_off, parent, vn_off, el_len, r_node, d_node, node_les,
         v_out, tl_off, les_k0, les_k1, les_ref, case_tree, cv_off, cl_off, co_off, mu, rho, kt, model,
         np.ascontiguousarray(lesion_coef), p_in, q_in, p_v, dr, sev, r_out, float(tol), int(max_iter), Q, P_up, P_down, p_les0, p_les1, r_mld, p_out, work, lwork,
         n_cv, n_cl, scratch_i, *scratch, iterations, residual, case_tree.size)


@needs_gxx
@pytest.mark.parametrize("model", ["poiseuille-kt", "young-tsai", "ns-calibrated"])
def test_host_ensemble_matches_reference(monkeypatch, model):
    net = detect_lesions(demo_case().network)
    net = net.replace_config(model=net.model.__class__.from_dict({"lesion": model}))
    rng = np.random.default_rng(5)
    params = {"hyperemia_factor": rng.uniform(0.18, 0.3, 33), "lesion_severity": rng.uniform(0, 1.2, (33, 3)),
              "radius_offset_mm": rng.normal(0, 0.05, (33, 18)), "inlet_pressure_mmHg": rng.uniform(80, 100, 33)}
    ref = ens.solve_steady_batch(net, params, backend="numpy", method="nodes")
    real_get = ens.get_kernel
    monkeypatch.setattr(ens, "get_kernel", lambda name, be: _host_ensemble if name == "ensemble_steady"
                        else real_get(name, be))
    got = ens.solve_steady_batch(net, params, backend="numpy", method="nodes")
    for k in ("ffr_lesion", "ffr_outlet", "delta_p_lesion_mmHg", "mld_mm", "flow_ml_s"):
        a, b = getattr(ref, k), getattr(got, k)
        assert np.max(np.abs(a - b)) <= 1e-10 * max(1.0, np.max(np.abs(a))), k


def _host_ensemble_pre(*a):
    n_cv, n_cl = a[-13].size, a[-10].size      # Q, p_les0
    call(library("steady_host"), "host_ensemble_steady_pre", *a[:-13], *a[-13:-3], n_cv, n_cl, *a[-3:], a[37].size)


@needs_gxx
@pytest.mark.parametrize("model", ["poiseuille-kt", "young-tsai", "ns-calibrated"])
@pytest.mark.parametrize("kind,seed", [("tandem", 2), ("touching", 4), ("ostial", 5)])
def test_host_ensemble_pre_matches_reference(monkeypatch, model, kind, seed):
    """The precomputed-layout kernel (steady.cuh ff_ensemble_pre_case) as C++ against its NumPy
    reference, on random trees with tandem, touching and ostial lesions and every perturbation."""
    net = lesion_network(seed, kind, model)
    tr = ens.tree_arrays(net)
    params = sampled_params(net, tr, 33, seed)
    ref = ens.solve_steady_batch(net, params, backend="numpy", trees=[tr])
    real_get = ens.get_kernel
    monkeypatch.setattr(ens, "get_kernel", lambda name, be: _host_ensemble_pre if name == "ensemble_steady_pre"
                        else real_get(name, be))
    got = ens.solve_steady_batch(net, params, backend="numpy", trees=[tr])
    assert np.array_equal(ref.status, got.status) and np.array_equal(ref.iterations, got.iterations)
    for k in ("ffr_lesion", "ffr_outlet", "delta_p_lesion_mmHg", "mld_mm", "flow_ml_s"):
        a, b = getattr(ref, k), getattr(got, k)
        assert np.max(np.abs(a - b)) <= 1e-10 * max(1.0, np.max(np.abs(a))), k


# ----------------------------------------------------------------------------- on a device
@pytest.mark.gpu
def test_gpu_tree_newton_parity():
    offsets, parent, R, S, R_out = random_forest(64, [1, 31, 32, 33, 200], seed=11)
    a = run_tree_newton("numpy", offsets, parent, R, S, R_out)
    b = run_tree_newton("cuda", offsets, parent, R, S, R_out)
    for x, y in zip(a[:3], b[:3]):
        assert np.max(np.abs(x - y)) / np.max(np.abs(x)) < 1e-10


@pytest.mark.gpu
def test_gpu_ensemble_parity():
    net = detect_lesions(demo_case().network)
    rng = np.random.default_rng(6)
    params = {"hyperemia_factor": rng.uniform(0.18, 0.3, 1025), "lesion_severity": rng.uniform(0, 1.2, (1025, 3))}
    a = ens.solve_steady_batch(net, params, backend="numpy")
    b = ens.solve_steady_batch(net, params, backend="cuda")
    assert np.max(np.abs(a.ffr_lesion - b.ffr_lesion)) < 1e-10
    assert np.max(np.abs(a.ffr_outlet - b.ffr_outlet)) < 1e-10


@pytest.mark.gpu
@pytest.mark.parametrize("model", ["poiseuille-kt", "ns-calibrated"])
def test_gpu_ensemble_pre_parity(model):
    """The precomputed-layout kernel on a device (sample-minor arrays, 1025 cases) against the reference."""
    net = lesion_network(2, "tandem", model)
    tr = ens.tree_arrays(net)
    params = sampled_params(net, tr, 1025, 6)
    a = ens.solve_steady_batch(net, params, backend="numpy", trees=[tr])
    b = ens.solve_steady_batch(net, params, backend="cuda", trees=[tr])
    assert np.array_equal(a.status, b.status)
    assert np.max(np.abs(a.ffr_lesion - b.ffr_lesion)) < 1e-10
    assert np.max(np.abs(a.ffr_outlet - b.ffr_outlet)) < 1e-10


@pytest.mark.gpu
def test_gpu_segment_resistance_and_node_pressure_parity():
    rng = np.random.default_rng(3)
    r0, r1, L = rng.uniform(2e-4, 3e-3, 4097), rng.uniform(2e-4, 3e-3, 4097), rng.uniform(1e-5, 1e-3, 4097)
    a, b = np.empty(4097), np.empty(4097)
    get_kernel("segment_resistance", "numpy")(r0, r1, L, 0.0035, a)
    get_kernel("segment_resistance", "cuda")(r0, r1, L, 0.0035, b)
    assert np.max(np.abs(a - b) / a) < 1e-13


@needs_gxx
def test_host_pulsatile_matches_reference():
    """The pulsatile CUDA device functions, run as C++ in GPU launch order, against the NumPy
    reference: 300 steps of the demo phantom (aortic inlet, coronary outlets, three lesions)."""
    net = detect_lesions(demo_case().network)
    out = {}
    for who in ("numpy", "host"):
        a, args, acc, wf = pulsatile_kernel_inputs(net)
        if who == "numpy":
            get_kernel("pulsatile_advance", "numpy")(300, 0.0, 7e-5, 100, *args)
        else:
            call(library("pulsatile_host"), "host_pulsatile_advance", 300, 0.0, 7e-5, 100, *args,
                 a["piece_dx"].size, a["node_type"].size, a["lpm_type"].size, 3)
        out[who] = (a["A"].copy(), a["Q"].copy(), a["node_P"].copy(), a["lpm_P1"].copy(), acc[0].copy(), wf[0].copy())
    for x, y in zip(out["numpy"], out["host"]):
        assert np.max(np.abs(x - y)) <= 1e-10 * np.max(np.abs(x))


@pytest.mark.gpu
def test_gpu_pulsatile_parity():
    net = detect_lesions(demo_case().network)
    out = {}
    for be in ("cpu", "cuda"):
        a, args, acc, _ = pulsatile_kernel_inputs(net)
        get_kernel("pulsatile_advance", be)(600, 0.0, 7e-5, 200, *args)
        out[be] = (a["A"].copy(), a["Q"].copy(), a["node_P"].copy(), acc[0].copy())
    for x, y in zip(out["cpu"], out["cuda"]):
        assert np.max(np.abs(x - y)) <= 1e-10 * np.max(np.abs(x))


# ----------------------------------------------------------------------------- lumped (0D) solver
def _lumped_models():
    """Synthetic lumped models covering every boundary-condition type, stenoses, junctions, output
    paths and status codes (the models of test_lumped.py plus variants)."""
    from ffrflow.cfd.lumped import LumpedModel, SimulationParameters

    sim = SimulationParameters(number_of_cardiac_cycles=3, number_of_time_pts_per_cardiac_cycle=31)
    t = np.linspace(0.0, 1.0, 21)
    q = 5.0 + 3.0 * np.sin(2 * np.pi * t)
    cor = {"Ra1": 100.0, "Ra2": 200.0, "Rv1": 300.0, "Ca": 1e-4, "Cc": 1e-4,
           "Pim": ([0.0, 0.3, 0.6, 1.0], [0.0, 3000.0, 1000.0, 0.0]), "P_v": 30.0}
    varres = {"Ra1": 100.0, "Ra2_min": 200.0, "Ra2_max": 800.0, "Rv1": 300.0, "Ca": 1e-4, "Cc": 1e-4,
              "Pim": ([0.0, 1.0], [1000.0, 1000.0]), "P_v": 30.0, "T_vc": 0.3, "T_vr": 0.4}
    out = {
        "y_stenosis_junction": y_model(),
        "y_compliant": y_model(Q=3.0, S=(10.0, 0.0, 40.0), C=1e-5),
        "coronary_tree": coronary_tree(),
        "rcr": LumpedModel.single_vessel(R=100.0, C=1e-5, L=0.5, S=3.0, inflow=(t, q),
                                         outlet=("RCR", {"Rp": 100.0, "C": 1e-4, "Rd": 900.0, "Pd": 50.0}), sim=sim),
        "coronary": LumpedModel.single_vessel(R=100.0, C=1e-6, L=0.2, inflow=(t, q), outlet=("CORONARY", cor), sim=sim),
        "coronary_var_res": LumpedModel.single_vessel(R=100.0, L=0.2, inflow=(t, q),
                                                      outlet=("CORONARY_VAR_RES", varres), sim=sim),
        "pressure_inlet": LumpedModel.single_vessel(R=100.0, C=1e-5, L=1.0, inflow=(t, 1000.0 + 200.0 * np.sin(
            2 * np.pi * t)), inlet_type="PRESSURE", outlet=("RESISTANCE", {"R": 500.0, "Pd": 10.0}), sim=sim),
        "pressure_outlet": LumpedModel.single_vessel(R=50.0, S=20.0, C=2e-6, inflow=(t, q),
                                                     outlet=("PRESSURE", {"P": 100.0}), sim=sim),
    }
    m = out["coronary"].copy()
    m.sim.steady_initial = False
    m.sim.use_cycle_to_cycle_error = True
    m.sim.sim_cycle_to_cycle_percent_error = 0.01
    out["coronary_c2c_no_steady_init"] = m.validate()
    # status 3, the capped cycle-to-cycle loop: the same coronary bed with capacitances 100x larger
    # (Ca = Cc = 1e-2) filling slowly from rest; its cycle means still change by 4.9 % per cycle after
    # 5 extra cycles and by 0.45 % after 20 (tolerance 0.01 %; it needs 50 cycles)
    out["coronary_c2c_capped"] = LumpedModel.single_vessel(
        R=100.0, C=1e-6, L=0.2, inflow=(t, q), outlet=("CORONARY", {**cor, "Ca": 1e-2, "Cc": 1e-2}),
        sim=SimulationParameters(number_of_cardiac_cycles=2, number_of_time_pts_per_cardiac_cycle=31,
                                 steady_initial=False, use_cycle_to_cycle_error=True,
                                 sim_cycle_to_cycle_percent_error=0.01))
    out["newton_fails"] = LumpedModel.single_vessel(
        R=1.0, S=1e4, inflow=5.0, outlet=("RESISTANCE", {"R": 1.0, "Pd": 0.0}),
        sim=SimulationParameters(number_of_cardiac_cycles=2, number_of_time_pts_per_cardiac_cycle=5,
                                 maximum_nonlinear_iterations=1, steady_initial=False))
    return out


def _peer_models(max_cycles=None, max_pts=None):
    """svZeroDSolver's open-loop peer cases (benchmarks.peers, from the repository's tests/data/peers),
    optionally shortened."""
    from benchmarks.peers import peer_models

    out = {}
    for name, m in peer_models():
        if max_cycles or max_pts:
            m = m.copy()
            m.sim.number_of_cardiac_cycles = min(m.sim.number_of_cardiac_cycles, max_cycles)
            m.sim.number_of_time_pts_per_cardiac_cycle = min(m.sim.number_of_time_pts_per_cardiac_cycle, max_pts)
            m = m.validate()
        out[name] = m
    assert len(out) == 16, sorted(out)  # 9 svZeroDSolver test cases, 4 hand-built, 3 VMR models
    return out


def _lumped_run(packed, who):
    """Run lumped_integrate on a copy of packed arrays: 'host' (lumped.cuh as C++) or a backend name."""
    from ffrflow.cfd.lumped import KERNEL_ARGS

    a = {k: v.copy() for k, v in packed.arrays.items()}
    args = [a[k] for k in KERNEL_ARGS]
    if who == "host":
        call(library("lumped_host"), "host_lumped_integrate", *args, a["sim_i"].shape[1], a["sim_f"].shape[1],
             packed.n_cases)
    else:
        get_kernel("lumped_integrate", who)(*args)
    return a


def _lumped_max_rel(a, b, packed, names, same_newton=True):
    """Max relative difference per case: every output row and the final state, each (element, quantity)
    column scaled by its largest magnitude in ``a`` (floor: 1e-12 of the case's largest value of
    that quantity), and the BC states. Also asserts identical status, steps, cycles and rows, and
    identical Newton iteration counts when ``same_newton`` (the twins of the Numba kernel; the NumPy
    reference's sparse LU can take a different number of iterations near the round-off floor)."""
    assert np.array_equal(a["status"], b["status"])
    cols = [INFO_STEPS, INFO_NEWTON_ITERATIONS, INFO_CYCLES] if same_newton else [INFO_STEPS, INFO_CYCLES]
    assert np.array_equal(a["info_i"][:, cols], b["info_i"][:, cols])
    # rows: a case that failed in "last"/"mean" mode reports the buffer rows in the reference and the rows
    # of the failing cycle in the Numba twin (LumpedResult reads neither: it uses the buffer size)
    rows_ok = same_newton | np.isin(a["status"], (STATUS_OK, STATUS_CYCLES_NOT_CONVERGED)) | (packed.mode == OUTPUT_ALL)
    assert np.array_equal(a["info_i"][rows_ok, INFO_ROWS], b["info_i"][rows_ok, INFO_ROWS])
    # failure time (exact) and the last cycle-to-cycle error (a relative change of cycle sums, so its
    # round-off floor is absolute, ~1e-14); the last Newton residual sits at the round-off floor: not compared
    assert np.array_equal(a["info_f"][:, INFO_FAILURE_TIME], b["info_f"][:, INFO_FAILURE_TIME], equal_nan=True)
    assert np.allclose(a["info_f"][:, INFO_CYCLE_TO_CYCLE_ERROR], b["info_f"][:, INFO_CYCLE_TO_CYCLE_ERROR],
                       rtol=1e-10, atol=1e-12, equal_nan=True)
    off, nel, worst = a["out_off"], packed.n_elements, {}
    for c, name in enumerate(names):
        n = int(nel[c])
        failed = a["status"][c] in (STATUS_NEWTON_FAILED, STATUS_SINGULAR)
        # a failed case: its whole buffer, rows never written included (NaN in both)
        rows = int(a["info_i"][c, INFO_ROWS]) if packed.mode == OUTPUT_ALL and not failed else int(packed.rows[c])
        ya = a["out"][off[c]: off[c] + rows * 4 * n].reshape(rows, n, 4)
        yb = b["out"][off[c]: off[c] + rows * 4 * n].reshape(rows, n, 4)
        e0, e1 = a["el_off"][c], a["el_off"][c + 1]
        if failed:
            assert np.array_equal(np.isnan(ya), np.isnan(yb)), name
            ya, yb = np.nan_to_num(ya, nan=0.0), np.nan_to_num(yb, nan=0.0)
        else:
            ya = np.concatenate([ya, a["el_y"][None, e0:e1], a["el_yd"][None, e0:e1]])
            yb = np.concatenate([yb, b["el_y"][None, e0:e1], b["el_yd"][None, e0:e1]])
        if ya.size == 0:
            worst[name] = 0.0
            continue
        assert np.all(np.isfinite(ya)) and np.all(np.isfinite(yb)), name
        col = np.abs(ya).max(axis=0, keepdims=True)
        floor = 1e-12 * col.max(axis=1, keepdims=True)
        worst[name] = float(np.max(np.abs(ya - yb) / np.maximum(np.maximum(col, floor), 1e-300)))
        b0, b1 = a["bc_off"][c], a["bc_off"][c + 1]
        for k in ("bc_y", "bc_aux"):
            x, y = a[k][b0:b1], b[k][b0:b1]
            if x.size:
                worst[name] = max(worst[name], float(np.max(np.abs(x - y)) / max(np.max(np.abs(x)), 1e-300)))
    return worst


@needs_gxx
@pytest.mark.parametrize("output", ["all", "last", "mean"])
def test_host_lumped_matches_reference(output):
    """lumped.cuh as C++ (one call of ff_lp_case per case) against the NumPy reference on one batch of
    every synthetic model and every svZeroDSolver peer case (shortened to 2 cycles of <= 101 points so
    that the reference's sparse LU stays cheap), some cases with the absolute-time CORONARY_VAR_RES rule."""
    from ffrflow.cfd.lumped import pack

    models = {**_lumped_models(), **_peer_models(max_cycles=2, max_pts=101)}
    names = list(models)
    packed = pack(list(models.values()), output, max_extra_cycles=5)
    vr = [i for i, n in enumerate(names) if "var_res" in n or "varres" in n]
    assert vr
    packed.arrays["sim_i"][vr[-1], SIM_VARRES_ABSOLUTE_TIME] = 1  # absolute time for one CORONARY_VAR_RES case
    a = _lumped_run(packed, "numpy")
    b = _lumped_run(packed, "host")
    worst = _lumped_max_rel(a, b, packed, names, same_newton=False)
    assert max(worst.values()) <= 1e-10, worst
    # ok, the Newton failure, the capped cycle-to-cycle loop (each reported identically: asserted above),
    # the synthetic models alone covering the three
    assert set(a["status"]) == {STATUS_OK, STATUS_NEWTON_FAILED, STATUS_CYCLES_NOT_CONVERGED}
    assert a["status"][names.index("newton_fails")] == STATUS_NEWTON_FAILED
    assert a["status"][names.index("coronary_c2c_capped")] == STATUS_CYCLES_NOT_CONVERGED


@needs_gxx
@pytest.mark.skipif("cpu" not in __import__("ffrflow.kernels").kernels.available_backends(), reason="needs Numba")
def test_host_lumped_matches_numba_on_full_peer_cases():
    """lumped.cuh as C++ against the Numba kernel (the source of truth) on every svZeroDSolver peer case
    at full length (up to 30 cycles x 500 points, the 215-vessel VMR model) and the synthetic models,
    perturbed copies included, every time point written."""
    from benchmarks.peers import perturb_packed
    from ffrflow.cfd.lumped import pack

    models = {**_lumped_models(), **_peer_models()}
    names = list(models) + [n + "~" for n in models]
    packed = pack(list(models.values()) * 2, "all", max_extra_cycles=20)
    perturb_packed(packed, seed=3)
    a = _lumped_run(packed, "cpu")
    b = _lumped_run(packed, "host")
    worst = _lumped_max_rel(a, b, packed, names)
    assert max(worst.values()) <= 1e-10, worst


def _nvrtc_source(name):
    """gpu.cuda_source(name) without importing CuPy: the function's own code, run on kernels/cuda."""
    import ast
    from pathlib import Path

    path = CUDA_DIR.parent / "gpu.py"
    tree = ast.parse(path.read_text())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "cuda_source")
    ns = {"CUDA_DIR": CUDA_DIR, "Path": Path}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), str(path), "exec"), ns)
    return ns["cuda_source"](name)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not found")
@pytest.mark.parametrize("cu", CU_FILES, ids=[p.name for p in CU_FILES])
def test_nvrtc_source_is_self_contained(cu, tmp_path):
    """The one string handed to NVRTC has no local #include left and compiles without an include path."""
    src = _nvrtc_source(cu.name)
    assert '#include "' not in src and "#pragma once" not in src
    (tmp_path / "one.cu").write_text(src)
    out = subprocess.run(["nvcc", "-ptx", "-arch=sm_80", "--std=c++14", str(tmp_path / "one.cu"),
                          "-o", str(tmp_path / "one.ptx")], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr


@pytest.mark.gpu
def test_gpu_lumped_parity():
    """CUDA against Numba: 264 cases (>2 blocks of 128 threads), every synthetic model and every full-length
    peer case, each in perturbed copies, every time point written."""
    from benchmarks.peers import perturb_packed
    from ffrflow.cfd.lumped import pack

    models = {**_lumped_models(), **_peer_models()}
    reps = -(-264 // len(models))
    names = [f"{n}#{r}" for r in range(reps) for n in models][:max(264, len(models))]
    mlist = (list(models.values()) * reps)[:len(names)]
    packed = perturb_packed(pack(mlist, "all", max_extra_cycles=20), seed=7)
    assert packed.n_cases >= 257
    a = _lumped_run(packed, "cpu")
    b = _lumped_run(packed, "cuda")
    worst = _lumped_max_rel(a, b, packed, names)
    assert max(worst.values()) <= 1e-10, sorted(worst.items(), key=lambda kv: -kv[1])[:5]


@pytest.mark.gpu
def test_gpu_lumped_solve_and_batch_api():
    """solve_lumped / solve_lumped_batch with backend='cuda' (NumPy arrays in, results copied back)."""
    from ffrflow.cfd.lumped import solve_lumped, solve_lumped_batch

    m = coronary_tree()
    a = solve_lumped(m, backend="cpu", output="all")
    b = solve_lumped(m, backend="cuda", output="all")
    assert b.backend == "cuda" and a.newton_iterations == b.newton_iterations
    assert np.max(np.abs(a.y - b.y) / np.abs(a.y).max(axis=0, keepdims=True)) < 1e-10
    ra = solve_lumped_batch([m] * 300, backend="cpu")
    rb = solve_lumped_batch([m] * 300, backend="cuda")
    assert np.array_equal(ra.status, rb.status)
    assert np.max(np.abs(np.asarray(ra.y) - np.asarray(rb.y))) <= 1e-10 * np.max(np.abs(np.asarray(ra.y)))
