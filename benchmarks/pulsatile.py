"""Pulsatile 1D benchmark: cell updates per second and cases per second, per backend.

The demo phantom (both coronary trees, three lesions, aortic inlet, coronary outlets) is laid out
once per batch size (1, 100, 10 000 copies in one kernel call, one case per thread). Each backend
advances a fixed number of steps (JIT warm-up excluded, median of repeats); a *cell update* is one
cell advanced by one time step. ``cases/s`` is the rate of complete pulsatile FFR runs implied by
the measured throughput and the demo's steps per run (cycles to periodicity × steps per cycle,
taken from a real run). The end-to-end time of one demo FFR (``solve_pulsatile``, build + all
cycles) is measured directly.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ._common import median_time, save, table


def _layout(net, n_cases):
    from ffrflow.cfd.pulsatile import build_model
    from ffrflow.cfd.steady import solve_steady

    st = solve_steady(net, backend="cpu")
    return build_model([net] * n_cases, backend="cpu", steady_results=[st] * n_cases)


def run(batches=(1, 100, 10000), backends=("numpy", "cpu"), steps=2000, numpy_max_cases=1, cpu_max_cases=100):
    from ffrflow.cfd.pulsatile import KERNEL_ARGS, solve_pulsatile
    from ffrflow.kernels import available_backends, get_kernel
    from ffrflow.meshing.stenosis import detect_lesions
    from ffrflow.phantoms import demo_case

    net = detect_lesions(demo_case().network)
    t = time.perf_counter()
    ref = solve_pulsatile(net, backend="cpu")
    ref = solve_pulsatile(net, backend="cpu")  # warm
    t_demo = None
    t_demo, _ = median_time(lambda: solve_pulsatile(net, backend="cpu"), 3, warmup=0)
    steps_per_run = ref.pulsatile["steps_per_cycle"] * ref.pulsatile["cycles"]
    rows = []
    for be in backends:
        if be not in available_backends():
            continue
        for n in batches:
            limit = numpy_max_cases if be == "numpy" else cpu_max_cases if be == "cpu" else 10 ** 9
            if n > limit:
                rows.append({"backend": be, "cases": n, "skipped": f"> {limit} cases on {be}"})
                continue
            model = _layout(net, n)
            a = model.arrays
            nc, nn, npt = a["A"].size, a["node_type"].size, a["port_piece"].size
            k = get_kernel("pulsatile_advance", be)
            nsteps = steps if be != "numpy" else max(20, steps // 50)

            def go():
                acc = [np.zeros(nc), np.zeros(nc), np.zeros(nn), np.zeros(npt), np.zeros(npt)]
                wf = [np.zeros((1, nc)), np.zeros((1, nc)), np.zeros((1, nn))]
                k(nsteps, 0.0, ref.pulsatile["dt_s"], 0, *(a[x] for x in KERNEL_ARGS), *acc, *wf)

            sec, _ = median_time(go, 3 if be != "numpy" else 1, warmup=1)
            ups = nc * nsteps / sec
            rows.append({"backend": be, "cases": n, "cells": nc, "steps": nsteps, "seconds": sec,
                         "cell_updates_per_s": ups, "cases_per_s": ups / (nc / n * steps_per_run)})
    return rows, {"demo_seconds": t_demo, "steps_per_run": steps_per_run, "cycles": ref.pulsatile["cycles"],
                  "steps_per_cycle": ref.pulsatile["steps_per_cycle"], "cells": ref.pulsatile["cells"],
                  "dt_s": ref.pulsatile["dt_s"]}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks pulsatile", description=__doc__.splitlines()[0])
    p.add_argument("--batches", default="1,100,10000")
    p.add_argument("--backends", default="numpy,cpu,cuda")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--no-save", action="store_true")
    a = p.parse_args(argv)
    rows, demo = run([int(x) for x in a.batches.split(",")], a.backends.split(","), a.steps)
    print(f"demo phantom pulsatile FFR end to end (Numba): {demo['demo_seconds']:.2f} s "
          f"({demo['cycles']} cycles x {demo['steps_per_cycle']} steps, {demo['cells']} cells)")
    print(table([r for r in rows if "skipped" not in r],
                [("backend", "backend", "s"), ("cases", "cases", "d"), ("cells", "cells", "d"), ("steps", "steps", "d"),
                 ("seconds", "seconds", ".3f"), ("cell_updates_per_s", "cell upd/s", ".3e"),
                 ("cases_per_s", "cases/s", ".3f")]))
    for r in rows:
        if "skipped" in r:
            print(f"skipped {r['backend']} x {r['cases']}: {r['skipped']}")
    by = {(r["backend"], r["cases"]): r for r in rows if "skipped" not in r}
    if ("numpy", 1) in by and ("cpu", 1) in by:
        print(f"Numba / NumPy reference, one case: {by[('cpu', 1)]['cell_updates_per_s'] / by[('numpy', 1)]['cell_updates_per_s']:.1f}x")
    if not a.no_save:
        print(f"saved {save('pulsatile', {'rows': rows, 'demo': demo})}")


if __name__ == "__main__":
    main()
