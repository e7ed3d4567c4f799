"""Peer-case benchmark: seconds per case of the lumped solver on svZeroDSolver's cases, single and batched.

``python -m benchmarks peers [--copies 1000] [--cuda-copies 1000,10000] [--backends cpu,cuda,numpy] [--threads N]
[--cases a,b] [--max-vessels N] [--repeats 3] [--tag T]``

For every open-loop svZeroDSolver case of the peer data (``tests/data/peers``, or
``$FFRFLOW_PEERS_DIR``; resolved by :mod:`ffrflow._datapaths`: the test cases, the hand-built ones and
the three Vascular Model Repository models) and every backend
(``cpu``: Numba, one case per thread; ``cuda``: one case per GPU thread; ``numpy``: the oracle):

- ``single_s``: one case, one kernel call (median of repeats, JIT / NVRTC warm-up excluded), last
  cycle written (what svZeroDSolver writes); for cuda this includes the host-device copies;
- ``batched_s_per_case``: ``--copies`` copies of the case with every element R, C, L, S and every
  boundary-condition table scaled by an independent factor U(0.9, 1.1), integrated in one kernel call
  (one case per thread), cycle means written; wall time / copies (one row per batch size: ``--copies``,
  or ``--cuda-copies`` for the cuda backend);
- ``speedup``: single / batched per case (the throughput gain of batching on this machine).

A backend that is not usable here (no CuPy or no device for ``cuda``) is skipped with a note.

The NumPy reference (a sparse LU per Newton iteration in Python) is the oracle, not a production
backend: it runs fewer copies (``--numpy-copies``) and skips the cases whose single run exceeds
``--numpy-max-s``. svZeroDSolver's own C++ timings on this machine (measured once with its own executable) are
printed for comparison: 0.05 s for the one-vessel coronary case (30 cycles), 3.2 s for the 215-vessel VMR model
(3 cycles).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ffrflow._datapaths import peers_dir

from ._common import median_time, save

ZEROD = peers_dir() / "svZeroDSolver"
SVZEROD_CPP_S = {"pulsatileFlow_R_coronary": 0.05, "0080_0001_optimal_from_0d": 3.2}


def peer_models():
    """``[(name, LumpedModel)]`` of every open-loop svZeroDSolver case in the peer data.

    Raises FileNotFoundError when a folder of cases holds none (a peer-data folder that is not complete)."""
    from ffrflow.errors import InvalidInputError
    from ffrflow.formats.svzerod import read_svzerod

    out = []
    for sub in ("tests_cases", "handmade_reference", "vmr_reference"):
        paths = sorted((ZEROD / sub).glob("*.json"))
        if not paths:
            raise FileNotFoundError(f"no svZeroDSolver case (*.json) in {ZEROD / sub}")
        for p in paths:
            try:
                out.append((p.stem, read_svzerod(p)))
            except InvalidInputError:
                continue  # closed-loop: not supported
    return out


def perturbed_pack(model, copies: int, seed: int = 0, output: str = "mean"):
    """Pack ``copies`` copies of a model with R, C, L, S and BC tables scaled by U(0.9, 1.1)."""
    from ffrflow.cfd.lumped import pack

    return perturb_packed(pack([model] * copies, output), seed)


def perturb_packed(p, seed: int = 0):
    """Scale R, C, L, S and the BC tables of packed cases in place by independent U(0.9, 1.1) factors."""
    a = p.arrays
    rng = np.random.default_rng(seed)
    for k in ("el_R", "el_C", "el_L", "el_S"):
        a[k] *= rng.uniform(0.9, 1.1, a[k].size)
    n_tab = a["tab_mean"].size
    f = rng.uniform(0.9, 1.1, n_tab)
    lens = np.diff(a["tab_off"])
    a["tab_v"] *= np.repeat(f, lens)
    a["tab_mean"] *= f
    # the activation times of CORONARY_VAR_RES are durations, not magnitudes: keep them
    vr = np.flatnonzero(a["bc_type"] == 5)
    for j in (8, 9):
        t = a["bc_tab"][vr, j]
        a["tab_v"][a["tab_off"][t]] /= f[t]
        a["tab_mean"][t] /= f[t]
    return p


def run(copies=(1000,), backends=("cpu", "numpy"), threads=None, cases=None, numpy_copies=20, numpy_max_s=5.0,
        repeats=3, cuda_copies=None, max_vessels=None):
    """Time every case on every backend; returns (rows, Numba threads, skipped-backend notes).

    ``copies``: batch sizes of every backend (the NumPy oracle caps them at ``numpy_copies``);
    ``cuda_copies``: batch sizes of the cuda backend when given (a GPU wants larger batches)."""
    from ffrflow.cfd.lumped import solve_lumped, solve_lumped_batch
    from ffrflow.kernels import available_backends
    from ffrflow.kernels.codes import STATUS_OK

    if isinstance(copies, int):
        copies = (copies,)
    try:
        import numba

        if threads:
            numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
        n_threads = numba.get_num_threads()
    except ImportError:  # pragma: no cover
        n_threads = 1
    models = [(n, m) for n, m in peer_models()
              if (not cases or n in cases) and (max_vessels is None or len(m.vessels) <= max_vessels)]
    if not models:
        print(f"no peer case under {ZEROD} matches --cases / --max-vessels")
    rows, skipped = [], []
    for be in backends:
        if be not in available_backends():
            note = f"backend {be}: not available here, skipped"
            print(note)
            skipped.append(note)
            continue
        for name, m in models:
            n_vessels = len(m.vessels)
            steps = (int(m.sim.number_of_time_pts_per_cardiac_cycle) - 1) * m.n_cycles()
            base = {"case": name, "backend": be, "vessels": n_vessels, "steps": steps}
            if be == "numpy":
                t = time.perf_counter()
                solve_lumped(m, backend=be)
                t_single = time.perf_counter() - t
                if t_single > numpy_max_s:
                    rows.append({**base, "single_s": t_single, "copies": 0, "batched_s_per_case": None,
                                 "speedup": None, "note": f"batch skipped (single run > {numpy_max_s} s)"})
                    print(f"{be:5s} {name}: single {t_single:.3g} s (batch skipped)")
                    continue
                sizes = sorted({min(n, numpy_copies) for n in copies})
            else:
                t_single, _ = median_time(lambda: solve_lumped(m, backend=be), repeats, warmup=1)
                sizes = list(cuda_copies) if be == "cuda" and cuda_copies else list(copies)
            for n in sizes:
                packed = perturbed_pack(m, n)
                t = time.perf_counter()
                res = solve_lumped_batch([m] * n, backend=be, packed=packed)
                t_batch = time.perf_counter() - t
                ok = int(np.sum(res.status == STATUS_OK))
                row = {**base, "single_s": t_single, "copies": n, "batched_total_s": t_batch,
                       "batched_s_per_case": t_batch / n, "speedup": t_single / (t_batch / n), "cases_ok": ok,
                       "threads": n_threads if be == "cpu" else 1, "svzerodsolver_cpp_s": SVZEROD_CPP_S.get(name)}
                rows.append(row)
                print(f"{be:5s} {name}: single {t_single:.4g} s | {n} copies {t_batch:.3g} s = {t_batch / n:.3g} "
                      f"s/case ({row['speedup']:.1f}x) | {ok}/{n} ok", flush=True)
    return rows, n_threads, skipped


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks peers", description=__doc__.splitlines()[0])
    p.add_argument("--copies", default="1000", help="batch sizes, comma-separated (e.g. 1000,10000)")
    p.add_argument("--cuda-copies", default=None, help="batch sizes of the cuda backend (default: --copies)")
    p.add_argument("--repeats", type=int, default=3, help="single runs timed per case (median)")
    p.add_argument("--numpy-copies", type=int, default=20)
    p.add_argument("--numpy-max-s", type=float, default=5.0)
    p.add_argument("--backends", default="cpu,numpy")
    p.add_argument("--threads", type=int, default=None, help="Numba threads (default: all)")
    p.add_argument("--cases", default=None, help="comma-separated case names (default: all)")
    p.add_argument("--max-vessels", type=int, default=None, help="skip the cases with more vessels")
    p.add_argument("--tag", default="", help="result file benchmarks/results/peers-<tag>-<date>.json")
    p.add_argument("--no-save", action="store_true")
    a = p.parse_args(argv)
    copies = tuple(int(x) for x in str(a.copies).split(",") if x)
    cuda_copies = tuple(int(x) for x in a.cuda_copies.split(",") if x) if a.cuda_copies else None
    rows, n_threads, skipped = run(copies, a.backends.split(","), a.threads,
                                   a.cases.split(",") if a.cases else None, a.numpy_copies, a.numpy_max_s,
                                   a.repeats, cuda_copies, a.max_vessels)
    print()
    head = f"{'case':<44}{'backend':>8}{'vessels':>8}{'steps':>7}{'single s':>11}{'copies':>8}{'batch s/case':>13}" \
           f"{'speedup':>8}{'svZeroD C++ s':>14}"
    print(head)
    print("-" * len(head))
    for r in rows:
        b = "-" if r["batched_s_per_case"] is None else f"{r['batched_s_per_case']:.3g}"
        sp = "-" if r["speedup"] is None else f"{r['speedup']:.1f}"
        cpp = "-" if not r.get("svzerodsolver_cpp_s") else f"{r['svzerodsolver_cpp_s']:.3g}"
        print(f"{r['case']:<44}{r['backend']:>8}{r['vessels']:>8}{r['steps']:>7}{r['single_s']:>11.4g}"
              f"{r['copies']:>8}{b:>13}{sp:>8}{cpp:>14}")
    for note in skipped:
        print(note)
    if not a.no_save:
        path = save(f"peers-{a.tag}" if a.tag else "peers", {"copies": list(copies), "cuda_copies": list(cuda_copies or copies),
                              "repeats": a.repeats, "backends": a.backends.split(","), "skipped": skipped,
                              "numba_threads": n_threads, "rows": rows,
                              "note": "svZeroDSolver C++ timings measured once with its executable on the 2-core "
                                      "development machine"})
        print(f"saved {path}")


if __name__ == "__main__":
    main()
