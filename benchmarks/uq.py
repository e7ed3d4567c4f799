"""Uncertainty benchmark: a full ``ffrflow.uq`` of the demo phantom (sampling, one batched solve,
statistics and sensitivity indices), samples per second per backend, for 1 000 and 10 000 samples.
Medians of repeats; the first call per backend (JIT warm-up) is excluded."""

from __future__ import annotations

import argparse

from ._common import median_time, save, table


def run(sizes=(1000, 10000), backends=("numpy", "cpu", "cuda")):
    from ffrflow.kernels import available_backends
    from ffrflow.meshing.stenosis import detect_lesions
    from ffrflow.phantoms import demo_case
    from ffrflow.uncertainty import uq

    net = detect_lesions(demo_case().network)
    rows = []
    for be in backends:
        if be not in available_backends():
            continue
        for n in sizes:
            if be == "numpy" and n > 1000:
                continue
            box = {}

            def go():
                box["r"] = uq(net, n, backend=be)

            sec, _ = median_time(go, 3, warmup=1)
            t = box["r"].timings_s
            rows.append({"backend": be, "samples": n, "seconds": sec, "solve_s": t["solve"],
                         "samples_per_s": n / sec, "solve_samples_per_s": n / t["solve"]})
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks uq", description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,10000")
    p.add_argument("--backends", default="numpy,cpu,cuda")
    p.add_argument("--no-save", action="store_true")
    a = p.parse_args(argv)
    rows = run([int(x) for x in a.sizes.split(",")], a.backends.split(","))
    print(table(rows, [("backend", "backend", "s"), ("samples", "samples", "d"), ("seconds", "UQ seconds", ".3f"),
                       ("solve_s", "solve s", ".3f"), ("samples_per_s", "samples/s", ".0f"),
                       ("solve_samples_per_s", "solve smp/s", ".0f")]))
    if not a.no_save:
        print(f"saved {save('uq', {'rows': rows})}")


if __name__ == "__main__":
    main()
