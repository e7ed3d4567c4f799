"""``python -m benchmarks batch``: phantom cases per minute through ``ffrflow batch``.

End to end from masks: each case is a phantom right coronary tree (seeded variations, one lesion of
40-75 % DS) voxelised at 0.5 mm; the batch meshes it, solves the steady model and writes every
output (pictures included unless ``--no-pictures``). The same manifest runs on an embedded Dask
LocalCluster with 1 and with 2 workers (one thread each), each time into a fresh folder. Rates
count the wall time from the call to the last case, cluster start-up included, and also from the
first finished case on (the steady rate).

Options: ``--cases N`` (default 60), ``--workers 1,2``, ``--sides right`` (``left,right`` for both
trees), ``--spacing 0.5``, ``--no-pictures``, ``--inputs mask|network``, ``--repeats N`` (each
configuration runs N times into fresh folders; the table gives the median rate and the range, the
file keeps every run).
Target: >= 60 phantom cases per minute on 2 cores with the steady solver, from masks.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ._common import save, table


def run_once(manifest: Path, out: Path, workers: int, pictures: bool) -> dict:
    from ffrflow.batch import run_batch

    t0 = time.perf_counter()
    rep = run_batch(manifest, out, workers=workers, pictures=pictures, progress=False)
    wall = time.perf_counter() - t0
    times = []
    for d in out.iterdir():
        s = d / "summary.json"
        if s.is_file():
            times.append((s.stat().st_mtime, json.loads(s.read_text())["timings_s"]))
    times.sort(key=lambda x: x[0])
    n = rep.counts["ok"]
    steady = (n - 1) / (times[-1][0] - times[0][0]) * 60.0 if n > 2 and times[-1][0] > times[0][0] else None
    mean = lambda k: sum(t.get(k, 0.0) for _, t in times) / max(len(times), 1)  # noqa: E731
    return {"workers": workers, "pictures": pictures, "cases": n, "failed": rep.counts["failed"],
            "wall_s": wall, "cases_per_min": 60.0 * n / wall, "steady_cases_per_min": steady,
            "mean_case_s": mean("total"), "mean_mesh_s": mean("mesh_total"), "mean_solve_s": mean("solve"),
            "mean_pictures_s": mean("pictures") + mean("surface_ffr"), "cluster": rep.cluster}


def _median_row(runs: list[dict]) -> dict:
    """The run with the median rate of one configuration, with the range and every run kept."""
    order = sorted(runs, key=lambda r: r["cases_per_min"])
    med = statistics.median(r["cases_per_min"] for r in runs)
    row = dict(order[(len(order) - 1) // 2])
    row.update({"runs": len(runs), "cases_per_min": med, "min_cases_per_min": order[0]["cases_per_min"],
                "max_cases_per_min": order[-1]["cases_per_min"], "every_run": runs})
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks batch", description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=60)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--sides", default="right")
    ap.add_argument("--spacing", type=float, default=0.5)
    ap.add_argument("--inputs", default="mask", choices=["mask", "network"])
    ap.add_argument("--no-pictures", action="store_true")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args(argv)
    from ffrflow.batch import make_phantom_manifest

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        manifest = make_phantom_manifest(Path(tmp) / "in", args.cases, inputs=args.inputs, broken=False,
                                         sides=tuple(args.sides.split(",")), spacing_mm=args.spacing)
        for w in (int(x) for x in args.workers.split(",")):
            for pictures in ([False] if args.no_pictures else [True, False]):
                runs = []
                for k in range(args.repeats):
                    run = run_once(manifest, Path(tmp) / f"out-{w}-{int(pictures)}-{k}", w, pictures)
                    runs.append(run)
                    print(f"{w} worker(s), pictures {pictures}, run {k + 1}/{args.repeats}: "
                          f"{run['cases_per_min']:.1f} cases/min ({run['wall_s']:.1f} s)", file=sys.stderr)
                rows.append(_median_row(runs))
    cols = [("workers", "workers", "d"), ("pictures", "pictures", ""), ("cases", "cases", "d"),
            ("runs", "runs", "d"), ("cases_per_min", "median/min", ".1f"), ("min_cases_per_min", "min/min", ".1f"),
            ("max_cases_per_min", "max/min", ".1f"),
            ("steady_cases_per_min", "steady/min", ".1f"), ("mean_case_s", "case s", ".2f"),
            ("mean_mesh_s", "mesh s", ".2f"), ("mean_pictures_s", "pictures s", ".2f")]
    print(table(rows, cols))
    load = os.getloadavg()
    print(f"load average during the run (other users of the machine included): {load[0]:.1f}", file=sys.stderr)
    path = save("batch", {"load_average_1_5_15": list(load), "description": f"ffrflow batch end to end from {args.inputs}s: phantom trees "
                                         f"({args.sides}) at {args.spacing} mm, steady solver, Dask LocalCluster",
                          "target": ">= 60 phantom cases per minute on 2 cores", "cases": args.cases, "repeats": args.repeats, "rows": rows})
    print(f"saved {path}")
