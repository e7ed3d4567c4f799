"""Robustness of the batched steady solve under ``ffrflow uq``: failed samples on hard random trees.

For each of ``--trees`` trees (default 50): :func:`ffrflow.phantoms.random_tree` with 3–15 vessels
whose smallest (distal) radius is 0.1 mm (every other tree; the others 0.1–0.3 mm); 1–3 lesions put
in by :func:`ffrflow.phantoms.narrow`, 30–95 % diameter stenosis (every tree has one of 95 %),
cosine, Gaussian or asymmetric, 2–10 mm long, on a third of the trees also a tandem pair on one
vessel. On every tree, ``--samples`` samples (default 10⁴) of the default input distributions,
drawn as ``ffrflow uq`` draws them (:func:`ffrflow.uncertainty.sample_inputs`, bounded
perturbations; :func:`ffrflow.uncertainty.kernel_params`), are solved in one
:func:`ffrflow.cfd.ensemble.solve_steady_batch` call per lesion law (``ns-calibrated`` and
``poiseuille-kt``).

Reported per tree and law, per law and in total: failed samples (goal 0) by status, the worst
relative residual over all samples, the most Newton iterations, the lesion passes, the time; the
first failed samples with their inputs. Then ``ffrflow uq`` itself (a subprocess, ``--cli-trees``
trees, both laws, the same number of samples): its exit code and the failed-sample line it prints.
``--quick`` runs 6 trees of 1 000 samples.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ._common import save, table

LAWS = ("ns-calibrated", "poiseuille-kt")
SHAPES = ("cosine", "gaussian", "asymmetric")


def hard_tree(k: int):
    """Tree ``k`` of the benchmark: (network with its lesions given, description)."""
    from ffrflow.phantoms import LESION_END_CLEARANCE_MM as CL
    from ffrflow.phantoms import LesionSpec, narrow, random_tree

    rng = np.random.default_rng(1000 + k)
    nv = int(rng.integers(3, 16))
    distal = 0.1 if k % 2 == 0 else float(rng.uniform(0.1, 0.3))
    net = random_tree(nv, seed=k, distal_radius_mm=distal)
    ids = list(net.vessels)
    length = {v: net.vessels[v].length_mm for v in ids}
    n_les = int(rng.integers(1, 4))
    specs = []
    tandem = k % 3 == 0
    free = [v for v in ids if length[v] >= 2 * CL + 2.0]
    rng.shuffle(free)
    for j, vid in enumerate(free[:n_les + (1 if tandem else 0)]):
        room = length[vid] - 2 * CL
        ds = 95.0 if j == 0 else float(rng.uniform(30.0, 95.0))
        shape = SHAPES[int(rng.integers(0, 3))]
        a = 0.3 if shape == "asymmetric" else 0.5
        if tandem and j == 0 and room >= 5.0:   # two lesions in series on this vessel
            gap = float(rng.uniform(0.5, min(3.0, room - 4.0)))
            ln = float(rng.uniform(2.0, min(4.0, (room - gap) / 2)))
            s0 = CL + float(rng.uniform(0.0, room - 2 * ln - gap))
            specs.append(LesionSpec(vid, s0 + a * ln, ln, ds, shape))
            specs.append(LesionSpec(vid, s0 + ln + gap + 0.5 * ln, ln, float(rng.uniform(30.0, 95.0)), "cosine"))
            continue
        ln = float(rng.uniform(2.0, min(10.0, room)))
        c = CL + a * ln + float(rng.uniform(0.0, room - ln))
        specs.append(LesionSpec(vid, c, ln, ds, shape))
    ph = narrow(net, specs)
    on_one = {}
    for sp in specs:
        on_one[sp.vessel] = on_one.get(sp.vessel, 0) + 1
    desc = {"tree": k, "n_vessels": nv, "distal_radius_mm": distal,
            "lesions": [{"vessel": x["vessel"], "ds_pct": round(x["diameter_stenosis_pct"], 2),
                         "length_mm": round(x["length_mm"], 2), "shape": x["shape"],
                         "mld_mm": round(x["mld_mm"], 4)} for x in ph.lesions],
            "tandem": any(n > 1 for n in on_one.values())}
    return ph.network_with_lesions(), desc


def run(trees: int = 50, samples: int = 10000, backend: str = "cpu", seed: int = 0):
    from ffrflow.cfd.ensemble import STATUS, solve_steady_batch, tree_arrays
    from ffrflow.config import Model
    from ffrflow.uncertainty import kernel_params, sample_inputs

    rows, failures = [], []
    for k in range(trees):
        base, desc = hard_tree(k)
        for law in LAWS:
            net = base.replace_config(model=Model.from_dict({**base.model.to_dict(), "lesion": law}))
            t0 = time.perf_counter()
            tree = tree_arrays(net, backend)
            _, smp = sample_inputs(net, samples, None, seed + k, "qmc", tree=tree)
            b = solve_steady_batch(net, kernel_params(tree, smp), backend=backend, trees=[tree], on_failure="mark")
            sec = time.perf_counter() - t0
            bad = np.flatnonzero(~b.ok)
            rows.append({**desc, "law": law, "samples": samples, "failed": int(bad.size),
                         "by_status": b.status_counts(), "worst_residual": float(np.max(b.residual)),
                         "max_iterations": int(np.max(b.iterations)), "lesion_passes": int(b.timings_s["lesion_passes"]),
                         "min_ffr": float(np.nanmin(b.min_ffr)), "seconds": sec})
            for c in bad[:max(0, 20 - len(failures))]:
                failures.append({"tree": k, "law": law, "sample": int(c), "status": STATUS[int(b.status[c])],
                                 "residual": float(b.residual[c]), "iterations": int(b.iterations[c]),
                                 "inputs": {name: np.asarray(v[c]).tolist() for name, v in smp.items()}})
    per_law = {}
    for law in LAWS + ("all",):
        rs = [r for r in rows if law in ("all", r["law"])]
        per_law[law] = {"trees": len({r["tree"] for r in rs}), "samples": sum(r["samples"] for r in rs),
                        "failed": sum(r["failed"] for r in rs),
                        "worst_residual": max(r["worst_residual"] for r in rs),
                        "max_iterations": max(r["max_iterations"] for r in rs),
                        "max_lesion_passes": max(r["lesion_passes"] for r in rs),
                        "seconds": sum(r["seconds"] for r in rs)}
    return rows, per_law, failures


def cli_runs(trees: int, samples: int, backend: str) -> list[dict]:
    """``ffrflow uq`` on the first ``trees`` benchmark trees, both laws: exit code and failed-sample line."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(trees):
            net, _ = hard_tree(k)
            path = net.to_json(Path(tmp) / f"tree{k}.json")
            for law in LAWS:
                t = time.perf_counter()
                r = subprocess.run([sys.executable, "-m", "ffrflow", "-q", "uq", str(path), "--samples", str(samples),
                                    "--backend", backend, "--set", f"model.lesion={law}"], capture_output=True, text=True)
                line = next((x for x in r.stdout.splitlines() if "samples failed" in x), "")
                out.append({"tree": k, "law": law, "samples": samples, "exit_code": r.returncode, "failed_line": line,
                            "stderr": r.stderr.strip()[-300:], "seconds": time.perf_counter() - t})
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks robustness", description=__doc__.splitlines()[0])
    p.add_argument("--trees", type=int, default=50)
    p.add_argument("--samples", type=int, default=10000)
    p.add_argument("--backend", default="cpu")
    p.add_argument("--cli-trees", type=int, default=3, help="trees also run through `ffrflow uq` (default 3)")
    p.add_argument("--quick", action="store_true", help="6 trees of 1 000 samples (not saved)")
    p.add_argument("--no-save", action="store_true")
    a = p.parse_args(argv)
    trees, samples = (6, 1000) if a.quick else (a.trees, a.samples)
    t = time.perf_counter()
    rows, per_law, failures = run(trees, samples, a.backend)
    wall = time.perf_counter() - t
    cli = cli_runs(min(a.cli_trees, trees), samples, a.backend)
    print(table(rows, [("tree", "tree", "d"), ("law", "law", "s"), ("n_vessels", "vessels", "d"),
                       ("distal_radius_mm", "distal mm", ".3f"), ("failed", "failed", "d"),
                       ("worst_residual", "worst resid", ".1e"), ("max_iterations", "max iter", "d"),
                       ("lesion_passes", "passes", "d"), ("min_ffr", "min FFR", ".3f"), ("seconds", "seconds", ".2f")]))
    print()
    print(table([{"law": k, **v} for k, v in per_law.items()],
                [("law", "law", "s"), ("trees", "trees", "d"), ("samples", "samples", "d"), ("failed", "failed", "d"),
                 ("worst_residual", "worst resid", ".1e"), ("max_iterations", "max iter", "d"),
                 ("max_lesion_passes", "max passes", "d"), ("seconds", "seconds", ".1f")]))
    for f in failures:
        print(f"failed: tree {f['tree']} {f['law']} sample {f['sample']}: {f['status']}, residual {f['residual']:.2e}")
    print(f"\n{per_law['all']['failed']} failed of {per_law['all']['samples']} samples; worst residual "
          f"{per_law['all']['worst_residual']:.1e}; {wall:.0f} s on backend {a.backend}")
    for c in cli:
        print(f"ffrflow uq, tree {c['tree']} {c['law']}: exit {c['exit_code']}: {c['failed_line'] or c['stderr']}")
    if not (a.no_save or a.quick):
        print(f"saved {save('robustness', {'trees': trees, 'samples_per_tree': samples, 'backend': a.backend, 'laws': list(LAWS), 'per_law': per_law, 'failures': failures, 'rows': rows, 'wall_s': wall, 'cli': cli})}")


if __name__ == "__main__":
    main()
