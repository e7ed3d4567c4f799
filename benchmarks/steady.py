"""Steady solver benchmark: solve time per case for trees of 10 to 10 000 vessels, NumPy vs Numba.

Trees come from :func:`ffrflow.phantoms.random_tree`; every tenth vessel gets a cosine lesion of
50–70 % diameter stenosis (given as a lesion, so the Newton iteration has real work), and, as a
lesion-dense variant (``--lesion-every``, default ``10,1``: 1 is every vessel, up to 1 000 vessels),
every vessel does. Timed per backend, JIT warm-up excluded, median of repeats:

- ``assemble``: discretisation into ≤ 1 mm elements (exact Poiseuille integrals, lesion
  coefficients) and the morphometric outlet resistances;
- ``solve``: the tree Newton and the node pressures (the kernels);
- ``total``: ``solve_steady`` end to end.

Numba runs on one thread by default (``--threads``), so that the figure is the cost on one core.
"""

from __future__ import annotations

import argparse

import numpy as np

from ._common import median_time, save, table


def with_lesions(net, every=10, seed=0):
    """Narrow every ``every``-th vessel with a cosine lesion over its middle third (given lesion)."""
    from ffrflow.network import Lesion

    rng = np.random.default_rng(seed)
    net = net.copy()
    for i, v in enumerate(net.vessels.values()):
        v.lesions = []
        if i % every != every // 2:
            continue
        s = v.arclength_mm
        L = s[-1]
        c, w = L / 2, L / 3
        ds = rng.uniform(0.5, 0.7)
        bump = np.where(np.abs(s - c) < w / 2, (1 + np.cos(2 * np.pi * (s - c) / w)) / 2, 0.0)
        ref = v.radius_mm.copy()
        v.radius_mm = ref * (1 - ds * bump)
        v.lesions = [Lesion(float(c - w / 2), float(c + w / 2), float(np.interp(c, s, ref)))]
    return net


def run(sizes=(10, 100, 1000, 10000), backends=("numpy", "cpu"), threads=1, repeats=None, lesion_every=(10, 1)):
    from ffrflow.cfd.assembly import discretize
    from ffrflow.cfd.boundary import outlet_resistances
    from ffrflow.cfd.steady import _solve_tree, solve_steady
    from ffrflow.kernels import get_kernel
    from ffrflow.phantoms import random_tree

    try:
        import numba

        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    except ImportError:
        pass
    rows = []
    for n, every in [(n, e) for e in lesion_every for n in sizes if e >= 10 or n <= 1000]:
        net = with_lesions(random_tree(n, seed=1), every=every)
        reps = repeats or (50 if n <= 100 else 10 if n <= 1000 else 3)
        for be in backends:
            t_asm, _ = median_time(lambda: (discretize(net, be), outlet_resistances(net)), reps)
            disc = discretize(net, be)
            r_out, _ = outlet_resistances(net)

            def solve_only():
                Q, Pu, Pd, it, res = _solve_tree(net, disc, r_out, be, 1e-8, 100)
                P = np.empty(disc.n_nodes)
                get_kernel("node_pressure", be)(disc.node_vessel, disc.R_cum, disc.S_cum, Pu, Q, P)
                return it

            t_solve, _ = median_time(solve_only, reps)
            t_total, _ = median_time(lambda: solve_steady(net, backend=be), reps)
            it = solve_only()
            rows.append({"vessels": n, "lesion_every": every, "nodes": disc.n_nodes, "lesions": len(disc.lesions), "backend": be,
                         "assemble_ms": 1e3 * t_asm, "solve_ms": 1e3 * t_solve, "total_ms": 1e3 * t_total,
                         "us_per_vessel": 1e6 * t_total / n, "newton_iterations": it, "repeats": reps})
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks steady", description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10,100,1000,10000")
    p.add_argument("--backends", default="numpy,cpu")
    p.add_argument("--threads", type=int, default=1, help="Numba threads (default 1: one core)")
    p.add_argument("--lesion-every", default="10,1",
                   help="a lesion on every k-th vessel, one tree family per k (1: lesion-dense, up to 1 000 vessels)")
    p.add_argument("--no-save", action="store_true")
    a = p.parse_args(argv)
    rows = run([int(x) for x in a.sizes.split(",")], a.backends.split(","), a.threads,
               lesion_every=[int(x) for x in a.lesion_every.split(",")])
    print(table(rows, [("vessels", "vessels", "d"), ("lesions", "lesions", "d"), ("nodes", "nodes", "d"),
                       ("backend", "backend", "s"),
                       ("newton_iterations", "Newton it", "d"), ("assemble_ms", "assemble ms", ".3f"),
                       ("solve_ms", "solve ms", ".3f"), ("total_ms", "total ms", ".3f"),
                       ("us_per_vessel", "us/vessel", ".2f")]))
    for n, every in sorted({(r["vessels"], r["lesion_every"]) for r in rows}):
        by = {r["backend"]: r for r in rows if r["vessels"] == n and r["lesion_every"] == every}
        if "numpy" in by and "cpu" in by:
            print(f"{n:>6} vessels, lesion on every {every}: Numba/NumPy speed-up total {by['numpy']['total_ms'] / by['cpu']['total_ms']:.1f}x, "
                  f"solve {by['numpy']['solve_ms'] / by['cpu']['solve_ms']:.1f}x")
    if not a.no_save:
        path = save("steady", {"threads": a.threads, "rows": rows})
        print(f"saved {path}")


if __name__ == "__main__":
    main()
