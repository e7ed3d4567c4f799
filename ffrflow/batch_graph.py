"""The heterogeneous batch graph of ``ffrflow batch --gpu``: meshing, pictures and file writing on
CPU workers, solving on GPU workers, several cases per batched solve, and a per-case uncertainty run
(docs/architecture.md §Batches on a GPU node).

Every case of a manifest becomes four Dask tasks; the worker resources ``CPU`` and ``GPU`` (Dask
worker resources, one unit per worker) decide where each runs:

============  ========  ================================================================================
task          resource  does
============  ========  ================================================================================
prepare       CPU       load or mesh the input, apply the manifest's overrides, detect lesions
                        (:func:`prepare_case`)
solve-input   CPU       the network and what the solve needs, without the meshed surface (which stays
                        on the CPU worker for the writer)
solve-batch   GPU       K cases at once (:func:`solve_batch`): one :func:`~ffrflow.cfd.ensemble.solve_steady_batch`
                        call for the K networks (one kernel launch per Newton pass), then per case the
                        node-level solve that the output files need and the uncertainty run
                        (:func:`ffrflow.uncertainty.uq`, ``uq_samples`` samples in one batched call)
write         CPU       every output of ``ffrflow run`` plus ``uq.json`` (and ``uq.png``) into
                        ``OUTDIR/<case_id>/`` atomically, or ``error.json`` (:func:`write_case`)
============  ========  ================================================================================

The driver (:func:`run_graph`) submits every prepare task at once, collects finished ones into
batches of ``gpu_batch_size`` (the last batch takes what is left) and yields one record per case as
its write task ends. Each case's ``summary.json`` records under ``batch`` which worker ran each of
its tasks (name and kind, ``cpu`` or ``gpu``), the solve batch it was in (id, size, case ids, the
backend) and how far the batched solve's outlet FFRs are from the node-level solve's.

A failure in any stage fails that case alone: the stage's error travels with the case to its
write task, which writes ``error.json`` (``type``, ``message``, ``stage``: ``input``, ``mesh``,
``load``, ``solve``, ``uq`` or ``write``). A batched solve that raises is repeated one case per call
(logged, and recorded as ``isolated`` in the cases' ``batch`` block, with ``batched_error`` on the
case that made it raise); a case's answer is always its node-level solve, which fails the case when
the case itself is bad.

**Emulated GPU workers (a test device).** ``emulate_gpu_workers=N`` (``ffrflow batch --gpu
--emulate-gpu-workers N``) starts N CPU processes labelled with the ``GPU`` resource that run the
solve stage with the Numba (``cpu``) backend and ``FFRFLOW_DISABLE_CUDA=1``: the same graph on a
machine without a GPU, for the tests and for measuring the graph's own cost. It is never chosen by
itself: plain ``--gpu`` without CuPy, a CUDA device or dask-cuda is an error naming what is missing.
Every case solved that way says so (``batch.graph.solve.emulated: true``).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import time
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from . import api
from ._atomic import atomic_dir, atomic_write_text
from .batch import (CaseSpec, _WORKER_CONFIG, _children_ignore_sigint, _public_message, load_case_input, tune_malloc,
                    write_failure)
from .cfd.ensemble import STATUS, solve_steady_batch
from .cfd.lumped import LumpedModel
from .config import apply_overrides
from .errors import BackendUnavailableError, FfrflowError, InvalidInputError
from .kernels import resolve_backend
from .meshing.stenosis import detect_lesions
from .network import VesselNetwork
from .uncertainty import attach_to_outputs, uq, write_uq

log = logging.getLogger("ffrflow")

#: Default number of uncertainty samples per case under ``--gpu`` (0 turns the run off).
DEFAULT_UQ_SAMPLES = 10_000
#: Default number of cases per batched solve task.
DEFAULT_GPU_BATCH_SIZE = 16
#: The Dask worker resources of the two worker kinds.
CPU, GPU = {"CPU": 1}, {"GPU": 1}


# ---------------------------------------------------------------------------------------------- worker identity
def _where() -> dict:
    """The worker running the calling task: ``{"worker": name, "kind": "gpu"|"cpu", "emulated": bool}``."""
    from distributed import get_worker

    try:
        w = get_worker()
    except ValueError:          # called outside a worker (direct calls in tests)
        return {"worker": None, "kind": "local", "emulated": False}
    res = getattr(w.state, "total_resources", None) if hasattr(w, "state") else None
    res = res if res is not None else getattr(w, "total_resources", {})
    kind = "gpu" if res.get("GPU") else "cpu" if res.get("CPU") else "unlabelled"
    return {"worker": str(w.name), "kind": kind,
            "emulated": os.environ.get("FFRFLOW_EMULATED_GPU_WORKER", "") == "1" and kind == "gpu"}


def _error(spec, exc: BaseException, stage: str, t0: float) -> dict:
    msg = _public_message(str(exc) or type(exc).__name__, spec)
    err = {"case_id": spec.case_id, "input": spec.input, "type": type(exc).__name__, "message": msg,
           "stage": stage, "seconds": time.perf_counter() - t0, "expected": isinstance(exc, FfrflowError)}
    if not isinstance(exc, FfrflowError):
        err["traceback"] = _public_message(traceback.format_exc(limit=8), spec)
    return err


# ---------------------------------------------------------------------------------------------- stages
def prepare_case(spec: dict, options: dict) -> dict:
    """CPU stage: the case's network with its overrides and lesions (meshing a mask or surface first).

    Returns a dict: ``case_id``, ``spec``, ``network`` (None on failure), ``meshed`` (the meshing
    result of a mask or surface, else None), ``timings_s`` (s), ``where`` (this worker) and, on
    failure, ``error`` (the future ``error.json``). Never raises for the case's own failure.
    """

    tune_malloc()
    if options.get("renderer") in ("vtk", "matplotlib"):
        os.environ.setdefault("FFRFLOW_RENDERER", options["renderer"])
    spec = CaseSpec(**spec)
    t0 = time.perf_counter()
    out: dict[str, Any] = {"case_id": spec.case_id, "spec": spec, "network": None, "meshed": None,
                           "timings_s": {}, "where": _where(), "t0_wall": time.time()}
    where = {"stage": "input"}
    try:
        net, meshed = load_case_input(spec, where)
        if meshed is not None:
            out["meshed"] = meshed
            out["timings_s"].update({f"mesh_{k}": v for k, v in meshed.timings_s.items()})
        out["sha256"] = api.file_sha256(spec.path)
        where["stage"] = "solve"        # overrides and lesion detection are part of api.solve in ffrflow run

        if not isinstance(net, LumpedModel):
            if spec.overrides:
                b, m = apply_overrides(net.boundary, net.model, spec.overrides)
                net = net.replace_config(boundary=b, model=m)
            if getattr(net, "svoned", None) is None:

                t = time.perf_counter()
                net = detect_lesions(net)
                out["timings_s"]["detect_lesions"] = time.perf_counter() - t
        elif spec.overrides:
            raise InvalidInputError("--set: boundary/model overrides apply to vessel networks, not to an "
                                    "svZeroDSolver model (edit its JSON)")
        out["network"] = net
    except Exception as exc:  # noqa: BLE001 - a case's failure must never stop the others
        out["error"] = _error(spec, exc, where["stage"], t0)
    out["timings_s"]["prepare"] = time.perf_counter() - t0
    return out


def solve_input(prepared: dict) -> dict:
    """CPU stage: what the GPU stage needs from a prepared case (everything but the meshed surface)."""
    return {k: v for k, v in prepared.items() if k != "meshed"}


def _backend_here(options: dict) -> tuple[str, bool]:
    """The solve backend of this GPU worker and whether the worker is an emulated one.

    A real GPU worker solves with ``cuda`` (a :class:`BackendUnavailableError` if CuPy cannot use the
    device there, never a CPU solve instead); an emulated one (a test device, module docstring) with
    Numba (``cpu``)."""

    emulated = os.environ.get("FFRFLOW_EMULATED_GPU_WORKER", "") == "1"
    if bool(options.get("emulate_gpu_workers")) != emulated:
        raise BackendUnavailableError("solve stage on a worker that is not the kind the batch asked for "
                                      f"(emulated GPU workers requested: {bool(options.get('emulate_gpu_workers'))}, "
                                      f"this worker emulated: {emulated})")
    return resolve_backend("cpu" if emulated else "cuda"), emulated


def solve_batch(cases: Sequence[dict], options: dict, batch_id: str) -> list[dict]:
    """GPU stage: K prepared cases (from :func:`solve_input`) solved together.

    1. One :func:`~ffrflow.cfd.ensemble.solve_steady_batch` call for every steady case of the batch
       (several networks per launch); if it raises, each case gets a call of its own (so that the
       one that made it raise is named: ``batch.batched_error`` in its summary).
    2. Per case, the node-level solve (:func:`ffrflow.api.solve` without lesion detection, done in
       :func:`prepare_case`) that the output files need, on the same backend; the largest difference
       of its outlet FFRs from the batched ones is recorded.
    3. Per steady case, :func:`ffrflow.uncertainty.uq` with ``options["uq_samples"]`` samples (none
       with 0); a case whose samples fail beyond its allowance fails at stage ``uq``.

    Returns one dict per case (same order): ``result`` (the :class:`~ffrflow.cfd.result.Result`),
    ``uq`` (a :class:`~ffrflow.uncertainty.UQResult` or None), ``batch`` (the block for
    ``summary.json``) or ``error``. Never raises for a case's own failure.
    """

    where = _where()
    t_batch = time.perf_counter()
    try:
        backend, emulated = _backend_here(options)
    except Exception as exc:  # noqa: BLE001 - every case fails with the reason, none is solved elsewhere
        return [{"case_id": c["case_id"], "error": c.get("error") or _error(c["spec"], exc, "solve", t_batch)}
                for c in cases]
    where["emulated"] = emulated
    ids = [c["case_id"] for c in cases]
    steady = [i for i, c in enumerate(cases) if c.get("error") is None and isinstance(c["network"], VesselNetwork)
              and c["spec"].solver == "steady"]
    batched: dict[int, Any] = {}
    isolated = None
    t1 = time.perf_counter()
    if steady:
        try:
            b = solve_steady_batch([cases[i]["network"] for i in steady], backend=backend)
            for k, i in enumerate(steady):
                batched[i] = (b, k)
        except Exception as exc:  # noqa: BLE001 - isolate the case that made the batched call raise
            isolated = f"{type(exc).__name__}: {exc}"
            log.warning("solve batch %s: the batched call raised (%s); solving its %d cases one per call",
                        batch_id, isolated, len(steady))
            for i in steady:
                try:
                    batched[i] = (solve_steady_batch(cases[i]["network"], backend=backend), 0)
                except Exception as exc1:  # noqa: BLE001
                    batched[i] = exc1
    t_batched = time.perf_counter() - t1
    block = {"id": batch_id, "size": len(steady), "cases": [ids[i] for i in steady], "backend": backend,
             "batched_solve_s": t_batched, **({"isolated": isolated} if isolated else {})}
    out = []
    for i, c in enumerate(cases):
        rec: dict[str, Any] = {"case_id": c["case_id"]}
        out.append(rec)
        if c.get("error") is not None:
            rec["error"] = c["error"]
            continue
        spec, net = c["spec"], c["network"]
        t0 = time.perf_counter()
        stage = "solve"
        try:
            got = batched.get(i)
            result = api.solve(net, solver=spec.solver, backend=backend, detect=False)
            info = {**block, "in_batched_call": i in batched and not isinstance(got, Exception)}
            if isinstance(got, Exception):     # the node-level solve is the case's answer; say what the batch said
                info["batched_error"] = f"{type(got).__name__}: {got}"
            elif got is not None:
                b, k = got
                if int(b.status[k]) != 0:

                    info["batched_status"] = STATUS[int(b.status[k])]
                case_ffr = {o["vessel"]: o["ffr"] for o in result.outlet_records}
                # a batch of several networks keeps one list of outlet ids (and a ragged row) per case
                oids = b.outlet_ids if isinstance(b.outlet_ids[0], str) else b.outlet_ids[k]
                row = np.asarray(b.ffr_outlet[k], dtype=float).ravel()
                diffs = [abs(float(row[j]) - case_ffr[o]) for j, o in enumerate(oids) if o in case_ffr]
                info["batched_min_ffr"] = float(b.min_ffr[k])
                info["batched_outlet_ffr_max_abs_diff"] = float(np.max(diffs)) if diffs else None
            rec["solve_s"] = time.perf_counter() - t0
            n_uq = int(options.get("uq_samples", 0) or 0)
            unc = None
            if n_uq and spec.solver == "steady" and isinstance(net, VesselNetwork):
                stage = "uq"

                t2 = time.perf_counter()
                unc = uq(net, n_samples=n_uq, backend=backend, seed=int(options.get("uq_seed", 0)))
                rec["uq_s"] = time.perf_counter() - t2
            elif n_uq:
                info["uq_skipped"] = (f"solver {spec.solver!r}: the uncertainty run is for the steady model"
                                      if spec.solver != "steady" else "an svZeroDSolver model has no geometry")
            rec.update({"result": result, "uq": unc, "batch": info})
        except Exception as exc:  # noqa: BLE001 - a case's failure must never stop the others
            rec["error"] = _error(spec, exc, stage, t0)
    for rec in out:
        rec["where"] = where
        rec["batch_s"] = time.perf_counter() - t_batch
    return out


def pick(items: Sequence[dict], i: int) -> dict:
    """Item ``i`` of a solve batch's results (runs on the GPU worker that holds them)."""
    return items[i]


def write_case(prepared: dict, solved: dict, outdir: str, options: dict) -> dict:
    """CPU stage: write the case's folder atomically (every output of ``ffrflow run``, ``uq.json`` and
    ``uq.png``, ``summary.json`` with its ``batch`` and ``uq`` blocks, ``report.html``), or its
    ``error.json``.

    Returns the case's record (``case_id``, ``status`` ``ok``/``failed``, ``seconds``, and ``stage``
    and ``error`` for a failure). Never raises for the case's own failure.
    """

    if options.get("renderer") in ("vtk", "matplotlib"):
        os.environ.setdefault("FFRFLOW_RENDERER", options["renderer"])
    spec = prepared["spec"]
    t0 = time.perf_counter()
    here = _where()
    graph = {"prepare": prepared["where"], "solve": solved.get("where"), "write": here}
    record: dict[str, Any] = {"case_id": spec.case_id}
    final = Path(outdir) / spec.case_id
    elapsed = lambda: time.time() - prepared["t0_wall"]  # noqa: E731 - case wall time from its prepare task
    with atomic_dir(final) as tmp:
        err = prepared.get("error") or solved.get("error")
        try:
            if err is None:
                result, unc = solved["result"], solved.get("uq")
                meshed = prepared.get("meshed")
                if meshed is not None:
                    result.surface = meshed.surface
                    result.mesh_info = meshed.summary()
                result.timings_s = {**prepared["timings_s"], **result.timings_s,
                                    "solve_stage": solved.get("solve_s", 0.0), "uq": solved.get("uq_s", 0.0)}
                result.input_info = {"path": spec.input, "sha256": prepared["sha256"], "case_id": spec.case_id,
                                     **(api.geometry_input_info(meshed) if meshed else {})}
                api.write_outputs(result, tmp, pictures=bool(options.get("pictures", True)))
                result.timings_s["total"] = elapsed()
                result.to_json(tmp / "summary.json")
                block = {**solved["batch"], "graph": graph}
                attach_to_outputs(tmp, "batch", block)
                if unc is not None:
                    write_uq(unc, tmp, "uq", picture=bool(options.get("pictures", True)))
                    attach_to_outputs(tmp, "uq", unc.summary(), unc.arrays())
                api.write_report(tmp)          # report.html (with the uncertainty) and thumb.png
                record.update({"status": "ok", "seconds": elapsed()})
                return record
        except Exception as exc:  # noqa: BLE001 - a case's failure must never stop the others
            for p in list(tmp.iterdir()):
                shutil.rmtree(p) if p.is_dir() else p.unlink()
            err = _error(spec, exc, "write", t0)
        err = {**err, "seconds": elapsed(), "graph": graph}
        atomic_write_text(tmp / "error.json", json.dumps(err, indent=1) + "\n")
        record.update({"status": "failed", "seconds": err["seconds"], "stage": err["stage"],
                       "error": f"{err['type']}: {err['message']}"})
    return record


# ---------------------------------------------------------------------------------------------- the cluster
def make_graph_cluster(cpu_workers: int | None = None, emulate_gpu_workers: int = 0):
    """An embedded cluster of CPU workers (resource ``CPU``) and GPU workers (resource ``GPU``).

    On a GPU node the GPU workers are a dask-cuda ``LocalCUDACluster`` (one per device); with
    ``emulate_gpu_workers=N`` (a test device, module docstring) they are N CPU processes labelled
    ``GPU``. ``cpu_workers`` defaults to the CPU count less the GPU workers (at least 1). Each
    worker has one thread. Returns ``(client, cluster, what)``.
    """

    import dask
    from distributed import Client, LocalCluster, Nanny

    env = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    saved = dict(os.environ)        # the nanny writes its pre-spawn variables into this process: undo that
    try:
        with dask.config.set(_WORKER_CONFIG), _children_ignore_sigint():
            if emulate_gpu_workers:
                n_gpu = int(emulate_gpu_workers)
                cluster = LocalCluster(n_workers=0, threads_per_worker=1, processes=True, dashboard_address=None,
                                       silence_logs=logging.ERROR, env=env)
                template = next(iter(cluster.new_worker_spec().values()))
                for g in range(n_gpu):
                    spec = copy.deepcopy(template)
                    spec["options"].update(resources=dict(GPU), env={**env, "FFRFLOW_DISABLE_CUDA": "1",
                                                                     "FFRFLOW_EMULATED_GPU_WORKER": "1"})
                    cluster.worker_spec[f"gpu-emulated-{g}"] = spec
            else:
                from dask_cuda import LocalCUDACluster

                # one worker per visible device (CUDA_VISIBLE_DEVICES respected), pinned to the cores near it
                cluster = LocalCUDACluster(threads_per_worker=1, dashboard_address=None, silence_logs=logging.ERROR,
                                           resources=dict(GPU))
                n_gpu = len(cluster.worker_spec)
                template = {"cls": Nanny, "options": {"nthreads": 1, "dashboard_address": None, "dashboard": False,
                                                      "silence_logs": logging.ERROR, "host": "127.0.0.1"}}
            try:
                n_cpu = int(cpu_workers or max(1, (os.cpu_count() or 1) - n_gpu))
                for k in range(n_cpu):
                    spec = copy.deepcopy(template)
                    spec["options"].update(resources=dict(CPU), env=dict(env))
                    cluster.worker_spec[f"cpu-{k}"] = spec
                cluster.scale(len(cluster.worker_spec))      # starts the workers added to the spec
                client = Client(cluster)
                client.wait_for_workers(n_cpu + n_gpu, timeout=120)
            except BaseException:
                cluster.close()
                raise
    finally:
        for k in set(os.environ) - set(saved):
            del os.environ[k]
        os.environ.update(saved)
    kind = "emulated GPU workers (CPU processes, Numba backend; a test device)" if emulate_gpu_workers else \
        "GPU workers (dask-cuda LocalCUDACluster)"
    return client, cluster, f"{n_cpu} CPU workers + {n_gpu} {kind}"


def check_graph_workers(client) -> None:
    """Check that a given client's cluster has workers of both kinds (resources ``CPU`` and ``GPU``).

    Raises
    ------
    InvalidInputError
        Naming the kind that no worker has (the graph's tasks would wait for it forever).
    """
    workers = client.scheduler_info().get("workers", {}).values()
    have = {r for w in workers for r, v in (w.get("resources") or {}).items() if v}
    missing = [r for r in ("CPU", "GPU") if r not in have]
    if missing:
        raise InvalidInputError(f"batch --gpu: no worker of this cluster has the Dask resource(s) {missing}; "
                                f"start CPU workers with --resources CPU=1 and GPU workers with --resources GPU=1")


# ---------------------------------------------------------------------------------------------- the driver
def run_graph(client, todo: Sequence, outdir: Path, options: dict, futures: set,
              gpu_batch_size: int = DEFAULT_GPU_BATCH_SIZE) -> Iterator[dict]:
    """Submit the graph for the cases ``todo`` (:class:`~ffrflow.batch.CaseSpec`) and yield one record
    per case as its write task ends (module docstring). The futures not yet finished with are kept in
    ``futures`` (so that an interrupted caller can cancel them); a case's futures, and a solve batch's
    once all its cases are written, are dropped as soon as its record is yielded, so that the
    cluster's memory holds only the cases in flight."""
    from distributed import as_completed

    if gpu_batch_size < 1:
        raise InvalidInputError(f"gpu_batch_size: expected at least 1, got {gpu_batch_size}")
    out = str(Path(outdir).resolve())
    stamp = f"{os.getpid()}-{time.time_ns()}"
    spec_of = {s.case_id: s for s in todo}
    prepared, light, mine = {}, {}, {}     # case id -> prepare future, solve-input future, all its futures
    for s in todo:
        p = client.submit(prepare_case, asdict(s), options, pure=False, resources=CPU,
                          key=f"ffrflow-prepare-{s.case_id}-{stamp}")
        q = client.submit(solve_input, p, pure=False, resources=CPU, key=f"ffrflow-solve-input-{s.case_id}-{stamp}")
        prepared[s.case_id], light[s.case_id], mine[s.case_id] = p, q, [p, q]
        futures.update((p, q))
    case_of = {q.key: cid for cid, q in light.items()}
    writes: dict[str, str] = {}
    batch_of: dict[str, Any] = {}           # case id -> its solve batch future
    left_in: dict[str, int] = {}            # solve batch key -> cases not yet written
    written = as_completed()
    ready: list[str] = []
    n_batches = 0

    def flush():
        nonlocal n_batches
        bid = f"b{n_batches:04d}"
        n_batches += 1
        bf = client.submit(solve_batch, [light[c] for c in ready], options, bid, pure=False, resources=GPU,
                           key=f"ffrflow-solve-batch-{bid}-{stamp}")
        futures.add(bf)
        left_in[bf.key] = len(ready)
        for i, cid in enumerate(ready):
            one = client.submit(pick, bf, i, pure=False, resources=GPU, key=f"ffrflow-pick-{cid}-{stamp}")
            w = client.submit(write_case, prepared[cid], one, out, options, pure=False, resources=CPU,
                              key=f"ffrflow-write-{cid}-{stamp}")
            futures.update((one, w))
            mine[cid] += [one, w]
            writes[w.key], batch_of[cid] = cid, bf
            written.add(w)
        ready.clear()

    def record(w) -> dict:
        cid = writes[w.key]
        try:
            rec = w.result()
        except Exception as exc:  # noqa: BLE001 - a worker died or a task was lost
            rec = write_failure(outdir, spec_of[cid], exc, "worker")
        futures.difference_update(mine.pop(cid))
        prepared.pop(cid, None)
        light.pop(cid, None)
        bf = batch_of.pop(cid)
        left_in[bf.key] -= 1
        if not left_in[bf.key]:
            futures.discard(bf)
        return rec

    n_seen, n_cases = 0, len(light)
    for f in as_completed(list(light.values())):
        n_seen += 1
        ready.append(case_of[f.key])
        if len(ready) >= gpu_batch_size or n_seen == n_cases:
            flush()
        while written.has_ready():           # what has been written meanwhile, without waiting
            yield record(next(written))
    for w in written:
        yield record(w)
