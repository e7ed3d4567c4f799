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
from ffrflow.meshing.stenosis import detect_lesions
from ffrflow.phantoms import demo_case
from test_kernels import _random_forest, _run

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
    offsets, parent, R, S, R_out = _random_forest(4, [size, max(1, size // 3)], seed=size)
    Q, Pu, Pd, it, res, pv = _run("numpy", offsets, parent, R, S, R_out)
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
    ref = ens.solve_steady_batch(net, params, backend="numpy")
    real_get = ens.get_kernel
    monkeypatch.setattr(ens, "get_kernel", lambda name, be: _host_ensemble if name == "ensemble_steady"
                        else real_get(name, be))
    got = ens.solve_steady_batch(net, params, backend="numpy")
    for k in ("ffr_lesion", "ffr_outlet", "delta_p_lesion_mmHg", "mld_mm", "flow_ml_s"):
        a, b = getattr(ref, k), getattr(got, k)
        assert np.max(np.abs(a - b)) <= 1e-10 * max(1.0, np.max(np.abs(a))), k


# ----------------------------------------------------------------------------- on a device
@pytest.mark.gpu
def test_gpu_tree_newton_parity():
    offsets, parent, R, S, R_out = _random_forest(64, [1, 31, 32, 33, 200], seed=11)
    a = _run("numpy", offsets, parent, R, S, R_out)
    b = _run("cuda", offsets, parent, R, S, R_out)
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
    from ffrflow.cfd.pulsatile import KERNEL_ARGS, build_model

    net = detect_lesions(demo_case().network)
    out = {}
    for who in ("numpy", "host"):
        model = build_model(net, backend="numpy")
        a = model.arrays
        nc, nn, npt = a["A"].size, a["node_type"].size, a["port_piece"].size
        acc = [np.zeros(nc), np.zeros(nc), np.zeros(nn), np.zeros(npt), np.zeros(npt)]
        wf = [np.zeros((3, nc)), np.zeros((3, nc)), np.zeros((3, nn))]
        args = [a[k] for k in KERNEL_ARGS] + acc + wf
        if who == "numpy":
            get_kernel("pulsatile_advance", "numpy")(300, 0.0, 7e-5, 100, *args)
        else:
            call(library("pulsatile_host"), "host_pulsatile_advance", 300, 0.0, 7e-5, 100, *args,
                 a["piece_dx"].size, nn, a["lpm_type"].size, 3)
        out[who] = (a["A"].copy(), a["Q"].copy(), a["node_P"].copy(), a["lpm_P1"].copy(), acc[0].copy(), wf[0].copy())
    for x, y in zip(out["numpy"], out["host"]):
        assert np.max(np.abs(x - y)) <= 1e-10 * np.max(np.abs(x))


@pytest.mark.gpu
def test_gpu_pulsatile_parity():
    from ffrflow.cfd.pulsatile import KERNEL_ARGS, build_model

    net = detect_lesions(demo_case().network)
    out = {}
    for be in ("cpu", "cuda"):
        model = build_model(net, backend="numpy")
        a = model.arrays
        nc, nn, npt = a["A"].size, a["node_type"].size, a["port_piece"].size
        acc = [np.zeros(nc), np.zeros(nc), np.zeros(nn), np.zeros(npt), np.zeros(npt)]
        wf = [np.zeros((3, nc)), np.zeros((3, nc)), np.zeros((3, nn))]
        get_kernel("pulsatile_advance", be)(600, 0.0, 7e-5, 200, *(a[k] for k in KERNEL_ARGS), *acc, *wf)
        out[be] = (a["A"].copy(), a["Q"].copy(), a["node_P"].copy(), acc[0].copy())
    for x, y in zip(out["cpu"], out["cuda"]):
        assert np.max(np.abs(x - y)) <= 1e-10 * np.max(np.abs(x))
