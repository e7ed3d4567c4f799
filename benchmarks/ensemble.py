"""Batched steady benchmark: ensemble samples per second per backend (uncertainty-study workload).

The demo phantom with sampled hyperemia factor, lesion severities and per-vessel radius offsets,
solved in one ``solve_steady_batch`` call for batches of 1, 100 and 10 000 samples. Timed per
backend and method (``precomputed``: the per-network layout, O(vessels + lesions) per sample;
``nodes``: every sample walks every centerline node), side by side in one run, JIT warm-up
excluded, median of repeats; ``kernel`` excludes packing and unpacking.
"""

from __future__ import annotations

import argparse

import numpy as np

from ._common import median_time, save, table


def run(batches=(1, 100, 10000), backends=("numpy", "cpu", "cuda"), methods=("precomputed",)):
    from ffrflow.cfd.ensemble import solve_steady_batch, tree_arrays
    from ffrflow.kernels import available_backends
    from ffrflow.meshing.stenosis import detect_lesions
    from ffrflow.phantoms import demo_case

    net = detect_lesions(demo_case().network)
    tree = tree_arrays(net)
    rng = np.random.default_rng(0)
    rows = []
    for be in backends:
        if be not in available_backends():
            continue
        for n in batches:
            params = {"hyperemia_factor": rng.normal(0.24, 0.03, n),
                      "lesion_severity": rng.uniform(0.8, 1.1, (n, tree.n_lesions)),
                      "radius_offset_mm": rng.normal(0.0, 0.05, (n, tree.n_vessels))}
            reps = 5 if n <= 100 else 3
            for method in methods:
                res = {}

                def go():
                    res["r"] = solve_steady_batch(net, params, backend=be, trees=[tree], method=method)

                sec, _ = median_time(go, reps, warmup=1)
                rows.append({"backend": be, "method": method, "samples": n, "seconds": sec,
                             "kernel_s": res["r"].timings_s["kernel"], "samples_per_s": n / sec,
                             "kernel_samples_per_s": n / res["r"].timings_s["kernel"]})
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks ensemble", description=__doc__.splitlines()[0])
    p.add_argument("--batches", default="1,100,10000")
    p.add_argument("--backends", default="numpy,cpu,cuda")
    p.add_argument("--method", default="precomputed",
                   help="comma-separated: precomputed (default), nodes (the node-level pass), both side by side")
    p.add_argument("--no-save", action="store_true")
    a = p.parse_args(argv)
    rows = run([int(x) for x in a.batches.split(",")], a.backends.split(","), a.method.split(","))
    print(table(rows, [("backend", "backend", "s"), ("method", "method", "s"), ("samples", "samples", "d"), ("seconds", "seconds", ".4f"),
                       ("samples_per_s", "samples/s", ".1f"), ("kernel_samples_per_s", "kernel smp/s", ".1f")]))
    if not a.no_save:
        print(f"saved {save('ensemble', {'rows': rows})}")


if __name__ == "__main__":
    main()
