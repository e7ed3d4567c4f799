"""``python -m benchmarks batch``: phantom cases per minute through ``ffrflow batch``.

End to end from masks: each case is a phantom right coronary tree (seeded variations, one lesion of
40-75 % DS) voxelised at 0.5 mm; the batch meshes it, solves the steady model and writes every
output (pictures included unless ``--no-pictures``). The same manifest runs on an embedded Dask
LocalCluster with 1 and with 2 workers (one thread each), each time into a fresh folder. Rates
count the wall time from the call to the last case, cluster start-up included, and also from the
first finished case on (the steady rate).

Options: ``--cases N`` (default 60), ``--workers 1,2`` (``auto``: the default of each graph, the CPU
count for the CPU batch and the CPU count less the GPU workers for ``--gpu``), ``--sides right``
(``left,right`` for both trees), ``--spacing 0.5``, ``--no-pictures``, ``--inputs mask|network``,
``--repeats N`` (each configuration runs N times into fresh folders; the table gives the median rate
and the range, the file keeps every run), ``--tag NAME`` (result file ``batch-NAME-<date>.json``).

Graphs (``--graphs``, comma-separated; default ``cpu``), each with every ``--uq-samples`` value
(comma-separated, default ``0``; the CPU batch runs no uncertainty and takes only 0):

- ``cpu``: the CPU batch (one task per case on a LocalCluster), as without ``--gpu``;
- ``gpu``: ``ffrflow batch --gpu`` on a GPU node (dask-cuda GPU workers; docs/architecture.md
  §Batches on a GPU node), with ``--gpu-batch-size`` (default 16) cases per batched solve;
- ``emulated``: the same graph with ``--emulate-gpu-workers`` CPU processes labelled as GPU workers
  (Numba; the test device): on a machine without a GPU this measures what the graph itself costs
  on the CPU (extra tasks, transfers, batching), never a GPU figure.

Targets: >= 60 phantom cases per minute on 2 cores with the steady solver, from masks; on a GPU node,
``--graphs cpu,gpu --uq-samples 0,10000``: the ``--gpu`` batch with 10^4 uncertainty samples per case
within 10 % of the CPU batch's wall time without uncertainty (the table's last column).
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


def run_once(manifest: Path, out: Path, workers: int | None, pictures: bool, graph: str = "cpu", uq_samples: int = 0,
             gpu_batch_size: int = 16, emulate: int = 1) -> dict:
    from ffrflow.batch import run_batch

    t0 = time.perf_counter()
    if graph == "cpu":
        rep = run_batch(manifest, out, workers=workers, pictures=pictures, progress=False, gpu=False)
    else:
        rep = run_batch(manifest, out, workers=workers, pictures=pictures, progress=False, gpu=True,
                        uq_samples=uq_samples, gpu_batch_size=gpu_batch_size,
                        emulate_gpu_workers=emulate if graph == "emulated" else 0)
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
    return {"graph": graph, "uq_samples": uq_samples, "workers": workers, "pictures": pictures, "cases": n,
            "failed": rep.counts["failed"], "wall_s": wall, "cases_per_min": 60.0 * n / wall,
            "steady_cases_per_min": steady, "mean_case_s": mean("total"), "mean_mesh_s": mean("mesh_total"),
            "mean_solve_s": mean("solve"), "mean_uq_s": mean("uq"),
            "mean_pictures_s": mean("pictures") + mean("surface_ffr"), "cluster": rep.cluster,
            **({"gpu_batch_size": gpu_batch_size} if graph != "cpu" else {}),
            **({"emulated_gpu_workers": emulate} if graph == "emulated" else {})}


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
    ap.add_argument("--graphs", default="cpu", help="comma-separated: cpu, gpu, emulated (module docstring)")
    ap.add_argument("--uq-samples", default="0", help="comma-separated uncertainty samples per case (gpu/emulated)")
    ap.add_argument("--gpu-batch-size", type=int, default=16)
    ap.add_argument("--emulate-gpu-workers", type=int, default=1)
    ap.add_argument("--tag", default=None)
    args = ap.parse_args(argv)
    graphs = args.graphs.split(",")
    bad = [g for g in graphs if g not in ("cpu", "gpu", "emulated")]
    if bad:
        ap.error(f"--graphs: unknown {bad}; expected cpu, gpu, emulated")
    uqs = [int(x) for x in args.uq_samples.split(",")]
    configs = [(g, u) for g in graphs for u in ([0] if g == "cpu" else uqs)]
    if "cpu" in graphs and 0 not in uqs:
        configs = [c for c in configs if c[0] != "cpu"] + [("cpu", 0)]
    from ffrflow.phantoms import make_phantom_manifest

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        manifest = make_phantom_manifest(Path(tmp) / "in", args.cases, inputs=args.inputs, broken=False,
                                         sides=tuple(args.sides.split(",")), spacing_mm=args.spacing)
        for w in (None if x == "auto" else int(x) for x in args.workers.split(",")):
            for pictures in ([False] if args.no_pictures else [True, False]):
                base = None
                for graph, n_uq in configs:
                    runs = []
                    for k in range(args.repeats):
                        run = run_once(manifest, Path(tmp) / f"out-{graph}-{n_uq}-{w}-{int(pictures)}-{k}", w,
                                       pictures, graph, n_uq, args.gpu_batch_size, args.emulate_gpu_workers)
                        runs.append(run)
                        print(f"{graph} graph, uq {n_uq}, {w or 'auto'} worker(s), pictures {pictures}, run "
                              f"{k + 1}/{args.repeats}: {run['cases_per_min']:.1f} cases/min ({run['wall_s']:.1f} s) "
                              f"on {run['cluster']}", file=sys.stderr)
                    row = _median_row(runs)
                    row["workers"] = w or "auto"
                    if graph == "cpu" and n_uq == 0:
                        base = row
                    rows.append(row)
                for row in rows:   # wall time against the CPU batch without uncertainty, same workers and pictures
                    if base is not None and row["pictures"] == pictures and row["workers"] == (w or "auto"):
                        row["extra_wall_vs_cpu_pct"] = 100.0 * (base["cases_per_min"] / row["cases_per_min"] - 1.0)
    cols = [("graph", "graph", ""), ("uq_samples", "uq", "d"),
            ("workers", "workers", ""), ("pictures", "pictures", ""), ("cases", "cases", "d"),
            ("runs", "runs", "d"), ("cases_per_min", "median/min", ".1f"), ("min_cases_per_min", "min/min", ".1f"),
            ("max_cases_per_min", "max/min", ".1f"),
            ("steady_cases_per_min", "steady/min", ".1f"), ("mean_case_s", "case s", ".2f"),
            ("mean_mesh_s", "mesh s", ".2f"), ("mean_pictures_s", "pictures s", ".2f"), ("mean_uq_s", "uq s", ".3f"),
            ("extra_wall_vs_cpu_pct", "wall vs cpu %", "+.1f")]
    print(table(rows, cols))
    load = os.getloadavg()
    print(f"load average during the run (other users of the machine included): {load[0]:.1f}", file=sys.stderr)
    path = save("batch" + (f"-{args.tag}" if args.tag else ""), {
        "load_average_1_5_15": list(load),
        "description": f"ffrflow batch end to end from {args.inputs}s: phantom trees ({args.sides}) at {args.spacing} mm, "
                       f"steady solver; graphs {graphs} (cpu: Dask LocalCluster, one task per case; gpu: --gpu on "
                       f"dask-cuda GPU workers; emulated: --gpu with CPU processes labelled as GPU workers, Numba, "
                       f"a test device that measures the graph's CPU cost, not a GPU); uq samples {uqs}",
        "target": ">= 60 phantom cases per minute on 2 cores; --gpu with 1e4 UQ samples per case within 10 % of "
                  "the CPU batch without UQ (extra_wall_vs_cpu_pct <= 10) on a GPU node",
        "cases": args.cases, "repeats": args.repeats, "rows": rows})
    print(f"saved {path}")
