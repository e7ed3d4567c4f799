"""Many cases on Dask: a manifest in, one folder per case and a results table out (docs/formats.md
§Batch outputs).

The manifest is a CSV file (or JSON lines, ``.jsonl``/``.ndjson``) with one case per row:

================================  =====================================================================
column                            meaning
================================  =====================================================================
``case_id``                       a plain name: letters, digits, ``.``, ``_``, ``-``; at most 128
                                  characters; not ``.``/``..``; unique. It names the case's folder.
``input``                         the case: a network, a lumen mask or probability map, or a surface
                                  (what ``ffrflow run`` takes), relative to the manifest's folder (or
                                  absolute)
``solver`` (optional)             the solver (default ``steady``)
``inlet_pressure_mmHg`` / ``pa_mmHg``  mean aortic pressure Pa, mmHg
``myocardial_mass_g``             myocardial mass, g (scales the resting coronary flow)
``cardiac_output_l_min``          cardiac output, L/min
``label``                         lumen label of a label volume
``threshold``                     lumen level of a probability map (default 0.5)
``set.<key>``                     any other override, e.g. ``set.model.kt`` (as ``--set``)
================================  =====================================================================

Empty cells mean "not given". Each case runs on a Dask worker and writes ``OUTDIR/<case_id>/``
atomically (a temporary folder renamed when complete): a finished case holds ``summary.json``
(and every other output of ``ffrflow run``), a failed one ``error.json`` (``type``, ``message``,
``stage``). A rerun skips finished cases and retries failed ones. A row whose ``case_id`` is not a
plain name, or repeats an earlier one, fails with a record in ``OUTDIR/_rejected/row-<n>.json``;
nothing is ever written outside ``OUTDIR``. ``OUTDIR/results.csv`` (and ``results.parquet`` when
pyarrow is installed) has one row per case (``row = "case"``: status, min FFR, lesions, seconds,
error) and one per lesion (``row = "lesion"``: vessel, its anatomical name and SCCT segment, %DS, ΔP,
FFR distal, FFR 10 and 20 mm distal to the lesion, ΔFFR across it and its class, see
:mod:`ffrflow.readouts`); ``OUTDIR/batch.json``
summarises the run. ``OUTDIR/index.html`` is the dashboard (one row per case, sortable and
filterable, a thumbnail linking to each case's ``report.html``), its data ``OUTDIR/index-data.js``
rewritten as cases finish (:mod:`ffrflow.report.dashboard`).

Clusters: an embedded :class:`distributed.LocalCluster` (``workers`` processes, one thread each)
by default; an existing scheduler by address (``scheduler="tcp://host:8786"``). ``gpu=True``
(``ffrflow batch --gpu``) runs the heterogeneous graph of :mod:`ffrflow.batch_graph` instead:
meshing, pictures and writing on CPU workers, batched solves and a per-case uncertainty run
(``uq_samples``) on dask-cuda GPU workers (docs/architecture.md §Batches on a GPU node). Asking for
it where CuPy, a CUDA device or dask-cuda is missing is a
:class:`~ffrflow.errors.BackendUnavailableError` naming them, raised before any case runs or
anything is written: never a CPU run instead (``emulate_gpu_workers``, a test device, runs the same
graph with CPU processes labelled as GPU workers).

Privacy: nothing from a DICOM header reaches the outputs (the readers do not keep header tags),
and the input path is recorded as the manifest wrote it.

Examples
--------
>>> from ffrflow.batch import run_batch                          # doctest: +SKIP
>>> rep = run_batch("manifest.csv", "out", workers=2)           # doctest: +SKIP
>>> rep.counts                                                    # doctest: +SKIP
{'ok': 17, 'failed': 3, 'skipped': 0, 'rejected': 0}
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import importlib.util
import json
import logging
import os
import re
import shutil
import signal
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from . import api
from ._atomic import atomic_dir, atomic_path, atomic_write_text
from .errors import BackendUnavailableError, FfrflowError, InvalidInputError
from .kernels import cuda_available
from .plots import vtk_offscreen_available
from .report import Dashboard

log = logging.getLogger("ffrflow")

#: A case id is a plain file name: no separators, no leading dot, at most 128 characters.
CASE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
#: Manifest columns that are overrides, and the option each sets.
OVERRIDE_COLUMNS = {"inlet_pressure_mmHg": "boundary.inlet_pressure_mmHg", "pa_mmHg": "boundary.inlet_pressure_mmHg",
                    "myocardial_mass_g": "boundary.myocardial_mass_g",
                    "cardiac_output_l_min": "boundary.cardiac_output_l_min"}
MANIFEST_COLUMNS = {"case_id", "input", "solver", "label", "threshold", *OVERRIDE_COLUMNS}
RESULT_COLUMNS = ("case_id", "row", "status", "vessel", "vessel_name", "segment", "lesion", "diameter_stenosis_pct",
                  "delta_p_mmHg", "ffr_distal", "ffr_10mm", "ffr_20mm", "delta_ffr", "ffr_class", "position_mm",
                  "min_ffr", "n_lesions", "seconds", "solver", "stage", "error",
                  "uq_samples", "ffr_p05", "ffr_p95", "p_ffr_le_0_80")
REJECTED = "_rejected"


# ---------------------------------------------------------------------------------------------- manifest
@dataclass
class CaseSpec:
    """One row of a manifest.

    Attributes
    ----------
    row : int
        1-based row number (data rows, after the header).
    case_id : str
    input : str
        The input as the manifest wrote it (recorded in the outputs).
    path : str
        The input resolved against the manifest's folder.
    solver : str
    label : int or None
    threshold : float or None
        Lumen level of a probability map.
    overrides : dict
        ``{"boundary.inlet_pressure_mmHg": 90.0, ...}``.
    problem : str or None
        Why the row cannot run (bad or duplicated ``case_id``, bad value); None when it can.
    """

    row: int
    case_id: str
    input: str
    path: str
    solver: str = "steady"
    label: int | None = None
    threshold: float | None = None
    overrides: dict = field(default_factory=dict)
    problem: str | None = None


def check_case_id(case_id: Any) -> str | None:
    """Why ``case_id`` cannot name a case folder (None when it can)."""
    if not isinstance(case_id, str) or not case_id.strip():
        return "case_id is empty"
    if case_id in (".", "..") or "/" in case_id or "\\" in case_id or os.sep in case_id:
        return f"case_id {case_id!r} is not a plain name (it contains a path separator or is '.'/'..')"
    if not CASE_ID_RE.match(case_id):
        return (f"case_id {case_id!r} is not a plain name: use letters, digits, '.', '_' and '-' (first a letter "
                f"or digit), at most 128 characters")
    if case_id == REJECTED:
        return f"case_id {case_id!r} is reserved"
    return None


def _rows(path: Path) -> Iterable[dict]:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"{path}: line {n}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise InvalidInputError(f"{path}: line {n}: expected a JSON object per line")
            yield {k: ("" if v is None else v) for k, v in obj.items()}
        return
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None:
        raise InvalidInputError(f"{path}: empty manifest (expected a header with case_id,input)")
    for row in reader:
        if None in row:
            raise InvalidInputError(f"{path}: row {reader.line_num - 1} has more cells than the header")
        yield {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items()}


def read_manifest(path: str | Path) -> list[CaseSpec]:
    """Read and check a manifest (see the module docstring).

    Raises
    ------
    InvalidInputError
        Unreadable manifest, a missing ``case_id``/``input`` column, an unknown column.
        Row-level problems (a bad or duplicated ``case_id``, a bad number) do not raise: they are
        recorded in :attr:`CaseSpec.problem` and that case fails alone.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such manifest file")
    base = path.resolve().parent
    specs: list[CaseSpec] = []
    seen: dict[str, int] = {}
    rows = list(_rows(path))
    if not rows:
        raise InvalidInputError(f"{path}: the manifest lists no case")
    for n, row in enumerate(rows, start=1):
        for col in ("case_id", "input"):
            if col not in row:
                raise InvalidInputError(f"{path}: row {n}: no {col!r} column (columns: {sorted(row)})")
        unknown = [k for k in row if k not in MANIFEST_COLUMNS and not str(k).startswith("set.")]
        if unknown:
            raise InvalidInputError(f"{path}: unknown column(s) {unknown}; expected {sorted(MANIFEST_COLUMNS)} or "
                                    f"set.<key> overrides")
        cid = str(row["case_id"]) if row["case_id"] != "" else ""
        inp = str(row["input"])
        spec = CaseSpec(row=n, case_id=cid, input=inp, path=str(base / inp) if inp else "")
        problem = check_case_id(cid)
        if problem is None and cid in seen:
            problem = f"case_id {cid!r} is duplicated (first at row {seen[cid]})"
        if problem is None:
            seen[cid] = n
        try:
            if not inp:
                raise InvalidInputError("input is empty")
            if row.get("solver") not in (None, ""):
                spec.solver = str(row["solver"])
            if row.get("label") not in (None, ""):
                spec.label = int(float(row["label"]))
            if row.get("threshold") not in (None, ""):
                spec.threshold = float(row["threshold"])
            for col, key in OVERRIDE_COLUMNS.items():
                if row.get(col) not in (None, ""):
                    spec.overrides[key] = float(row[col])
            for col, v in row.items():
                if str(col).startswith("set.") and v not in (None, ""):
                    try:
                        spec.overrides[col[4:]] = json.loads(v) if isinstance(v, str) else v
                    except json.JSONDecodeError:
                        spec.overrides[col[4:]] = v
        except (TypeError, ValueError) as exc:
            problem = problem or f"row {n}: {exc}"
        spec.problem = problem
        specs.append(spec)
    return specs


# ---------------------------------------------------------------------------------------------- one case
def _public_message(msg: str, spec: CaseSpec) -> str:
    """An error message with the resolved input path shown as the manifest wrote it."""
    return msg.replace(spec.path, spec.input) if spec.path else msg


_MALLOC_TUNED: bool | None = None


def tune_malloc() -> bool:
    """Undo, in this process, the effect of ``MALLOC_TRIM_THRESHOLD_`` when a Dask nanny has set it.

    A nanny starts its worker with ``MALLOC_TRIM_THRESHOLD_=65536`` (``distributed.nanny.pre-spawn-environ``).
    Setting any threshold switches off glibc's adaptive mmap threshold, so every array above 128 KiB is
    mapped and unmapped afresh, and meshing, which allocates and frees volume-sized arrays all the time,
    pays for it in page faults on every case. With the variable set, this sets the mmap threshold to
    32 MiB (where the adaptive one tops out) and the trim threshold to 64 MiB through ``mallopt``;
    without it, or off glibc, it does nothing. Returns whether it changed anything; runs once.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED is not None:
        return _MALLOC_TUNED
    _MALLOC_TUNED = False
    if os.environ.get("MALLOC_TRIM_THRESHOLD_") and sys.platform.startswith("linux"):

        try:
            libc = ctypes.CDLL("libc.so.6")
            m_trim_threshold, m_mmap_threshold = -1, -3
            _MALLOC_TUNED = bool(libc.mallopt(m_mmap_threshold, 32 << 20)) and \
                bool(libc.mallopt(m_trim_threshold, 64 << 20))
        except (OSError, AttributeError):        # not glibc
            pass
    return _MALLOC_TUNED


def run_case(spec: CaseSpec | dict, outdir: str, options: dict | None = None) -> dict:
    """Run one case into ``outdir/<case_id>/`` atomically; never raises for a case's own failure.

    Parameters
    ----------
    spec : CaseSpec or its dict
    outdir : str
        The batch's output folder.
    options : dict
        ``backend``, ``pictures`` (bool), ``force`` (rerun finished cases), ``renderer`` (``"vtk"`` or
        ``"matplotlib"``: how this machine draws pictures, probed once by the driver; it becomes this
        process's ``FFRFLOW_RENDERER`` unless that is set).

    Returns
    -------
    dict
        ``case_id``, ``status`` (``ok``, ``failed``, ``skipped``), ``seconds``, ``stage`` and ``error``
        for a failure.
    """

    tune_malloc()
    spec = spec if isinstance(spec, CaseSpec) else CaseSpec(**spec)
    options = dict(options or {})
    if options.get("renderer") in ("vtk", "matplotlib"):
        os.environ.setdefault("FFRFLOW_RENDERER", options["renderer"])
    t0 = time.perf_counter()
    out = Path(outdir)
    final = out / spec.case_id
    if check_case_id(spec.case_id) is not None or final.resolve().parent != out.resolve():
        raise InvalidInputError(f"case_id {spec.case_id!r}: not a plain name")   # read_manifest filters these
    if (final / "summary.json").is_file() and not options.get("force"):
        return {"case_id": spec.case_id, "status": "skipped", "seconds": 0.0}
    where = {"stage": "input"}
    record: dict[str, Any] = {"case_id": spec.case_id}
    with atomic_dir(final) as tmp:
        try:
            net, meshed = load_case_input(spec, where)
            where["stage"] = "solve"
            result = api.solve(net, solver=spec.solver, backend=options.get("backend", "auto"),
                               overrides=spec.overrides or None)
            if meshed is not None:
                result.surface = meshed.surface
                result.mesh_info = meshed.summary()
                result.timings_s = {**{f"mesh_{k}": v for k, v in meshed.timings_s.items()}, **result.timings_s}
            result.input_info = {"path": spec.input, "sha256": api.file_sha256(spec.path),
                                 "case_id": spec.case_id, **(api.geometry_input_info(meshed) if meshed else {})}
            where["stage"] = "write"
            api.write_outputs(result, tmp, pictures=bool(options.get("pictures", True)))
            result.timings_s["total"] = time.perf_counter() - t0
            result.to_json(tmp / "summary.json")
            api.write_report(tmp)
            record.update({"status": "ok", "seconds": time.perf_counter() - t0})
        except Exception as exc:  # noqa: BLE001 - a case's failure must never stop the others
            for p in list(tmp.iterdir()):
                shutil.rmtree(p) if p.is_dir() else p.unlink()
            msg = _public_message(str(exc), spec)
            err = {"case_id": spec.case_id, "input": spec.input, "type": type(exc).__name__, "message": msg,
                   "stage": where["stage"], "seconds": time.perf_counter() - t0,
                   "expected": isinstance(exc, FfrflowError)}
            if not isinstance(exc, FfrflowError):
                err["traceback"] = _public_message(traceback.format_exc(limit=8), spec)
            atomic_write_text(tmp / "error.json", json.dumps(err, indent=1) + "\n")
            record.update({"status": "failed", "seconds": err["seconds"], "stage": where["stage"],
                           "error": f"{err['type']}: {msg}"})
    return record


def load_case_input(spec: CaseSpec, where: dict) -> tuple:
    """A case's network from its input: meshed from a mask or surface, or read from a network file.

    Returns ``(network, meshed)`` (``meshed`` is the meshing result, or None for a network file).
    ``where["stage"]`` follows the work (``input``, ``mesh``, ``load``) so that a caller's error
    record names the stage that failed."""

    where["stage"] = "input"
    if not Path(spec.path).exists():
        raise InvalidInputError(f"{spec.input}: no such file or folder")
    if api.is_geometry_input(spec.path):
        where["stage"] = "mesh"
        meshed = api._mesh(spec.path, label=spec.label, threshold=spec.threshold, lesions=True)
        net = meshed.network
    else:
        where["stage"] = "load"
        meshed = None
        net = api.load(spec.path)
    net.meta["source"] = spec.input
    return net, meshed


def write_failure(outdir: str | Path, spec: CaseSpec, exc: BaseException, stage: str) -> dict:
    """Record a case that failed outside :func:`run_case` (a worker that died) as its ``error.json``."""
    msg = _public_message(str(exc) or type(exc).__name__, spec)
    err = {"case_id": spec.case_id, "input": spec.input, "type": type(exc).__name__, "message": msg,
           "stage": stage, "seconds": None, "expected": False}
    with atomic_dir(Path(outdir) / spec.case_id) as tmp:
        atomic_write_text(tmp / "error.json", json.dumps(err, indent=1) + "\n")
    return {"case_id": spec.case_id, "status": "failed", "stage": stage, "error": f"{err['type']}: {msg}"}


def write_rejected(outdir: str | Path, spec: CaseSpec) -> dict:
    """The record of a manifest row that cannot run (bad or duplicated ``case_id``)."""
    err = {"row": spec.row, "case_id": spec.case_id, "input": spec.input, "type": "InvalidInputError",
           "message": spec.problem, "stage": "manifest"}
    atomic_write_text(Path(outdir) / REJECTED / f"row-{spec.row:05d}.json", json.dumps(err, indent=1) + "\n")
    return {"case_id": spec.case_id, "status": "rejected", "stage": "manifest", "error": spec.problem,
            "row": spec.row}


def clean_leftovers(outdir: Path, specs: Sequence[CaseSpec]) -> int:
    """Remove temporary folders that an interrupted run left for these cases; returns how many."""
    n = 0
    ids = {s.case_id for s in specs if s.problem is None}
    for p in outdir.iterdir() if outdir.is_dir() else []:
        if p.name.startswith(".") and (p.name.endswith(".partial") or ".old-" in p.name):
            stem = p.name[1:].split(".old-")[0]
            if any(stem.startswith(cid + ".") or stem == cid for cid in ids):
                shutil.rmtree(p, ignore_errors=True)
                n += 1
    return n


# ---------------------------------------------------------------------------------------------- results
def collect_results(outdir: str | Path, specs: Sequence[CaseSpec]) -> list[dict]:
    """One row per case and one per lesion, read back from the case folders (see the module docstring)."""
    outdir = Path(outdir)
    rows: list[dict] = []
    for spec in specs:
        base = {c: None for c in RESULT_COLUMNS}
        base.update({"case_id": spec.case_id, "row": "case"})
        if spec.problem is not None:
            rows.append({**base, "status": "rejected", "stage": "manifest", "error": spec.problem})
            continue
        folder = outdir / spec.case_id
        if (folder / "summary.json").is_file():
            s = json.loads((folder / "summary.json").read_text())
            lesions = s.get("lesions") or []
            uq = s.get("uq") or {}
            uq_les = {x.get("id"): x for x in uq.get("lesions") or []}
            rows.append({**base, "status": "ok", "min_ffr": s.get("min_ffr"), "n_lesions": len(lesions),
                         "seconds": (s.get("timings_s") or {}).get("total"), "solver": s.get("solver"),
                         "uq_samples": uq.get("n_samples")})
            for les in lesions:
                u = uq_les.get(les.get("id")) or {}
                rows.append({**base, "row": "lesion", "status": "ok", "vessel": les.get("vessel"),
                             "ffr_p05": u.get("p05"), "ffr_p95": u.get("p95"), "p_ffr_le_0_80": u.get("p_below_cutoff"),
                             "vessel_name": les.get("vessel_name"), "segment": les.get("segment"),
                             "ffr_10mm": les.get("ffr_10mm"), "ffr_20mm": les.get("ffr_20mm"),
                             "delta_ffr": les.get("delta_ffr"), "ffr_class": les.get("ffr_class"),
                             "lesion": les.get("id"), "diameter_stenosis_pct": les.get("diameter_stenosis_pct"),
                             "delta_p_mmHg": les.get("delta_p_mmHg"), "ffr_distal": les.get("ffr_distal"),
                             "position_mm": les.get("position_mm"), "min_ffr": s.get("min_ffr"),
                             "solver": s.get("solver")})
        elif (folder / "error.json").is_file():
            e = json.loads((folder / "error.json").read_text())
            rows.append({**base, "status": "failed", "stage": e.get("stage"), "seconds": e.get("seconds"),
                         "error": f"{e.get('type')}: {e.get('message')}"})
        else:
            rows.append({**base, "status": "not run"})
    return rows


def write_results(outdir: str | Path, rows: list[dict]) -> dict[str, Path]:
    """``results.csv`` always, ``results.parquet`` when pandas and pyarrow are installed (atomically)."""
    outdir = Path(outdir)
    paths = {"csv": outdir / "results.csv"}
    with atomic_path(paths["csv"]) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(RESULT_COLUMNS))
            w.writeheader()
            for r in rows:
                w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in RESULT_COLUMNS})
    try:
        import pandas as pd
        import pyarrow  # noqa: F401
    except ImportError:
        return paths
    df = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    for c in ("diameter_stenosis_pct", "delta_p_mmHg", "ffr_distal", "ffr_10mm", "ffr_20mm", "delta_ffr",
              "position_mm", "min_ffr", "seconds", "ffr_p05", "ffr_p95", "p_ffr_le_0_80"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    for c in ("n_lesions", "segment", "uq_samples"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
    paths["parquet"] = outdir / "results.parquet"
    with atomic_path(paths["parquet"]) as tmp:
        df.to_parquet(tmp, index=False)
    return paths


# ---------------------------------------------------------------------------------------------- the run
@dataclass
class BatchReport:
    """What a batch run did.

    Attributes
    ----------
    counts : dict
        ``ok`` (run now), ``skipped`` (finished earlier), ``failed``, ``rejected``.
    records : list of dict
        One per case, in completion order.
    seconds : float
        Wall time of the run (s).
    cases_per_minute : float
        Cases run now (ok + failed) per minute of wall time.
    cluster : str
        What ran the cases.
    results : dict
        Paths of the results table(s).
    """

    counts: dict
    records: list
    seconds: float
    cases_per_minute: float
    cluster: str
    results: dict = field(default_factory=dict)

    @property
    def all_ok(self) -> bool:
        """True when no case failed or was rejected."""
        return self.counts.get("failed", 0) == 0 and self.counts.get("rejected", 0) == 0


@contextlib.contextmanager
def _children_ignore_sigint():
    """Worker processes started inside this block ignore SIGINT (the disposition survives exec), so that
    Ctrl-C reaches only the driver, which cancels the cases and shuts the cluster down in order."""

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def gpu_cluster_missing() -> list[str]:
    """What a dask-cuda GPU cluster needs and this machine lacks: any of CuPy, a CUDA device that
    CuPy can run a kernel on, and dask-cuda (an empty list when all are there)."""

    missing = []
    if importlib.util.find_spec("cupy") is None:
        missing.append("CuPy")
    elif not _imports("cupy"):
        missing.append("a CuPy that imports")
    elif not cuda_available():
        missing.append("a CUDA device (disabled by FFRFLOW_DISABLE_CUDA)"
                       if os.environ.get("FFRFLOW_DISABLE_CUDA", "") not in ("", "0") else "a CUDA device")
    if importlib.util.find_spec("dask_cuda") is None:
        missing.append("dask-cuda")
    return missing


def _imports(name: str) -> bool:
    try:
        __import__(name)
    except Exception:  # noqa: BLE001 - a broken install is as missing as an absent one
        return False
    return True


def require_gpu_cluster(scheduler: str | None = None) -> None:
    """Check a request for the dask-cuda GPU cluster (``batch --gpu``) before anything runs.

    Raises
    ------
    InvalidInputError
        With ``scheduler``: the workers are that scheduler's, not a cluster this starts.
    BackendUnavailableError
        Naming what is missing (see :func:`gpu_cluster_missing`).
    """
    if scheduler:
        raise InvalidInputError("batch --gpu starts its own dask-cuda cluster; with --scheduler the workers "
                                "are whatever that scheduler has (start them with dask-cuda-worker)")
    missing = gpu_cluster_missing()
    if missing:
        raise BackendUnavailableError(
            f"batch --gpu needs CuPy, a CUDA device and dask-cuda; missing here: {', '.join(missing)} "
            f"(on a GPU node: pip install 'ffrflow[gpu,cluster]'; or run without --gpu)")


def _gpu_cluster():
    """A dask-cuda LocalCUDACluster (one worker per GPU); assumes :func:`gpu_cluster_missing` is empty."""
    from dask_cuda import LocalCUDACluster

    with _children_ignore_sigint():
        return LocalCUDACluster(threads_per_worker=1, dashboard_address=None)


#: Dask settings for the embedded cluster's workers. ``daemon`` off: a case may start processes.
#: The nanny's ``MALLOC_TRIM_THRESHOLD_`` is not set, so that the workers keep glibc's adaptive mmap
#: threshold (why: :func:`tune_malloc`). The statistical profiler is off: nobody reads it in a batch.
_WORKER_CONFIG = {"distributed.worker.daemon": False,
                  "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                  "distributed.worker.profile.enabled": False}


def make_client(workers: int | None = None, scheduler: str | None = None, gpu: bool | None = None):
    """A Dask client: on ``scheduler`` when given, else on an embedded cluster; returns (client, cluster, what).

    ``gpu``: True requires a dask-cuda ``LocalCUDACluster`` (:class:`~ffrflow.errors.BackendUnavailableError`
    naming what is missing otherwise), False a CPU ``LocalCluster``, None the GPU cluster when
    everything it needs is here, else the CPU one (logged).

    The renderer the workers draw pictures with reaches them with the cases (``run_case``'s ``renderer``
    option), so that they do not each probe the OpenGL stack again."""
    import dask
    from distributed import Client, LocalCluster

    if gpu:
        require_gpu_cluster(scheduler)
    if scheduler:
        client = Client(scheduler, timeout="30s")
        n = len(client.scheduler_info().get("workers", {}))
        return client, None, f"scheduler {scheduler} ({n} workers)"
    cluster = None
    if gpu or gpu is None:
        missing = gpu_cluster_missing() if gpu is None else []
        if missing:
            log.info("batch: no GPU cluster (missing %s); running on a CPU LocalCluster", ", ".join(missing))
        else:
            cluster = _gpu_cluster()
    if cluster is not None:
        return Client(cluster), cluster, f"LocalCUDACluster ({len(cluster.workers)} GPU workers)"
    n = int(workers or os.cpu_count() or 1)
    env = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    saved = dict(os.environ)        # the nanny writes its pre-spawn variables into this process: undo that
    try:
        with dask.config.set(_WORKER_CONFIG), _children_ignore_sigint():
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                   silence_logs=logging.ERROR, env=env)
    finally:
        for k in set(os.environ) - set(saved):
            del os.environ[k]
        os.environ.update(saved)
    return Client(cluster), cluster, f"LocalCluster ({n} workers x 1 thread)"


class _Progress:
    """tqdm bar on a terminal (done, failed, cases/min), JSON lines on the log otherwise."""

    def __init__(self, total: int, show: bool | None):
        self.total, self.done, self.failed, self.skipped = total, 0, 0, 0
        self.t0 = time.perf_counter()
        self.bar = None
        if show is None:
            show = sys.stderr.isatty()
        if show:
            try:
                from tqdm import tqdm

                width = shutil.get_terminal_size((0, 0)).columns
                self.bar = tqdm(total=total, unit="case", file=sys.stderr, dynamic_ncols=width > 0,
                                ncols=None if width > 0 else 100, smoothing=0.1)
            except ImportError:  # pragma: no cover
                self.bar = None

    def update(self, rec: dict) -> None:
        st = rec.get("status")
        self.done += st in ("ok", "skipped")
        self.failed += st in ("failed", "rejected")
        self.skipped += st == "skipped"
        ran = self.done + self.failed - self.skipped
        rate = 60.0 * ran / max(time.perf_counter() - self.t0, 1e-9)
        if self.bar is not None:
            self.bar.set_postfix(done=self.done, failed=self.failed, rate=f"{rate:.1f}/min", refresh=False)
            self.bar.update(1)
        else:
            log.info(json.dumps({"case": rec.get("case_id"), "status": st, "seconds": round(rec.get("seconds") or 0, 2),
                                 "done": self.done, "failed": self.failed, "of": self.total,
                                 "cases_per_min": round(rate, 1), **({"error": rec["error"]} if "error" in rec else {})}))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_batch(manifest: str | Path, outdir: str | Path, *, workers: int | None = None, scheduler: str | None = None,
              backend: str = "auto", pictures: bool = True, force: bool = False, progress: bool | None = None,
              gpu: bool | None = None, client=None, uq_samples: int | None = None,
              gpu_batch_size: int | None = None, emulate_gpu_workers: int = 0,
              dashboard: bool = True) -> BatchReport:
    """Run every case of a manifest on Dask (see the module docstring).

    Parameters
    ----------
    manifest : path
        CSV or JSON-lines manifest.
    outdir : path
        Output folder (created); one sub-folder per case.
    workers : int, optional
        Worker processes of the embedded LocalCluster (default: CPU count).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); its workers must import ffrflow.
    backend : {"auto", "numpy", "cpu", "cuda"}
    pictures : bool
        Write ``ffr.png`` and ``pullback.png`` (and ``surface.vtp`` with FFR) per case.
    force : bool
        Rerun finished cases too.
    progress : bool, optional
        Progress bar (default: when stderr is a terminal; else one JSON log line per case).
    gpu : bool, optional
        True: the GPU graph (:mod:`ffrflow.batch_graph`): CPU workers for meshing, pictures and
        writing, one dask-cuda GPU worker per device for the batched solves and the uncertainty
        runs, and a :class:`~ffrflow.errors.BackendUnavailableError` naming what is missing (CuPy, a
        CUDA device, dask-cuda) before anything runs or is written when that cannot be (unless
        ``emulate_gpu_workers``); False or None (default): one task per case on CPU workers (whose
        ``auto`` kernels use a GPU they see). With ``scheduler``, True is an
        :class:`~ffrflow.errors.InvalidInputError`.
    client : distributed.Client, optional
        Use this client (its cluster is left running). With ``gpu=True`` its workers must carry the
        Dask resources ``CPU`` and ``GPU`` (:mod:`ffrflow.batch_graph`).
    uq_samples : int, optional
        With ``gpu=True``: uncertainty samples per case (default
        :data:`~ffrflow.batch_graph.DEFAULT_UQ_SAMPLES`, 10 000; 0 turns the run off); the interval
        and P(FFR ≤ 0.80) go into each case's ``summary.json`` (``uq``), ``uq.json`` and the results
        table. Not without ``gpu=True``.
    gpu_batch_size : int, optional
        With ``gpu=True``: cases per batched solve task (default
        :data:`~ffrflow.batch_graph.DEFAULT_GPU_BATCH_SIZE`).
    emulate_gpu_workers : int
        With ``gpu=True``: a test device. Run the GPU graph with this many CPU processes labelled as
        GPU workers that solve with the Numba backend (:mod:`ffrflow.batch_graph`), instead of
        dask-cuda workers on GPUs; 0 (default) for real GPU workers.
    dashboard : bool
        Write ``OUTDIR/index.html`` and keep ``OUTDIR/index-data.js`` up to date as cases finish
        (:mod:`ffrflow.report.dashboard`; default True).

    Returns
    -------
    BatchReport

    Raises
    ------
    InvalidInputError
        A manifest that cannot be read (the cases' own failures never raise); ``gpu=True`` with
        ``scheduler``.
    BackendUnavailableError
        ``gpu=True`` where CuPy, a CUDA device or dask-cuda is missing.
    KeyboardInterrupt
        On Ctrl-C, after cancelling the pending cases and closing the cluster; finished cases stay,
        and a rerun resumes.
    """
    graph = _check_graph_options(gpu, client, scheduler, backend, uq_samples, gpu_batch_size, emulate_gpu_workers)
    specs = read_manifest(manifest)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    cleaned = clean_leftovers(out, specs)
    if cleaned:
        log.info("removed %d temporary folders left by an interrupted run", cleaned)
    t0 = time.perf_counter()
    records: list[dict] = []
    bar = _Progress(len(specs), progress)
    runnable = [s for s in specs if s.problem is None]
    if dashboard:   # OUTDIR/index.html, its data rewritten as cases finish (ffrflow.report.dashboard)

        bar = Dashboard(out, [s.case_id for s in runnable], title=f"ffrflow batch: {Path(manifest).name}").following(bar)
    for s in specs:
        if s.problem is not None:
            rec = write_rejected(out, s)
            records.append(rec)
            bar.update(rec)
    opts = {"backend": backend, "pictures": pictures, "force": force, **graph}
    own = client is None
    cluster = None
    what = "given client"
    todo = []
    futures: set = set()
    interrupted = False
    for s in runnable:
        if not force and (out / s.case_id / "summary.json").is_file():
            rec = {"case_id": s.case_id, "status": "skipped", "seconds": 0.0}
            records.append(rec)
            bar.update(rec)
        else:
            todo.append(s)
    try:
        if todo:
            if own:
                probe = None
                if pictures and not scheduler:
                    # whether VTK renders off screen here, probed once (in a subprocess) while the
                    # cluster starts; the workers are told with the cases instead of each probing
                    pool = ThreadPoolExecutor(1)
                    probe = pool.submit(vtk_offscreen_available)
                    pool.shutdown(wait=False)
                if graph:
                    from .batch_graph import make_graph_cluster

                    client, cluster, what = make_graph_cluster(workers, graph["emulate_gpu_workers"])
                else:
                    client, cluster, what = make_client(workers, scheduler, False)
                if probe is not None:
                    opts["renderer"] = "vtk" if probe.result()[0] else "matplotlib"
            log.info("batch: %d cases to run, %d finished earlier, %d rejected, on %s", len(todo),
                     len(runnable) - len(todo), len(specs) - len(runnable), what)
            if graph:
                from .batch_graph import check_graph_workers, run_graph

                if not own:
                    check_graph_workers(client)
                finished = run_graph(client, todo, out, opts, futures, graph["gpu_batch_size"])
            else:
                finished = _run_cases(client, todo, out, opts, futures)
            for rec in finished:          # one record per case, as each case's folder is complete
                records.append(rec)
                bar.update(rec)
    except KeyboardInterrupt:
        log.warning("interrupted: cancelling the cases not yet finished (a rerun resumes)")
        interrupted = True
        _quiet_shutdown_logs()
        if client is not None and todo:
            try:
                client.cancel(list(futures), force=True)
                if own:     # our workers and nannies too: they share this terminal
                    client.run(_quiet_shutdown_logs)
                    client.run(_quiet_shutdown_logs, nanny=True)
            except Exception:  # noqa: BLE001
                pass
        raise
    finally:
        bar.close()
        if own and client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
            if interrupted:        # our workers are gone: remove the folders they were writing
                clean_leftovers(out, specs)
    seconds = time.perf_counter() - t0
    counts = {k: sum(r.get("status") == k for r in records) for k in ("ok", "skipped", "failed", "rejected")}
    ran = counts["ok"] + counts["failed"]
    rows = collect_results(out, specs)
    paths = write_results(out, rows)
    if dashboard and (out / "index.html").is_file():
        paths["dashboard"] = out / "index.html"
    report = BatchReport(counts=counts, records=records, seconds=seconds,
                         cases_per_minute=60.0 * ran / seconds if seconds > 0 and ran else 0.0, cluster=what,
                         results=paths)
    atomic_write_text(out / "batch.json", json.dumps({
        "manifest": str(manifest), "cases": len(specs), "counts": counts, "seconds": round(seconds, 3),
        "cases_per_minute": round(report.cases_per_minute, 2), "cluster": what, "backend": backend,
        "pictures": pictures, "results": {k: v.name for k, v in paths.items()},
        **({"gpu_graph": graph} if graph else {})}, indent=1) + "\n")
    return report


def _quiet_shutdown_logs() -> None:
    """Silence the connection noise of an interrupted run's shutdown (a client, worker or nanny
    reading from a peer that is closing), in whichever process calls it."""
    for name in ("distributed", "asyncio", "tornado"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _run_cases(client, todo: Sequence[CaseSpec], out: Path, opts: dict, futures: set):
    """The CPU batch: one :func:`run_case` task per case; yields each case's record as it ends."""
    from distributed import as_completed

    by_key = {}
    stamp = f"{os.getpid()}-{time.time_ns()}"
    for s in todo:
        fut = client.submit(run_case, asdict(s), str(out.resolve()), opts, pure=False,
                            key=f"ffrflow-case-{s.case_id}-{stamp}")
        by_key[fut.key] = s
        futures.add(fut)
    for fut in as_completed(list(futures)):
        s = by_key[fut.key]
        try:
            rec = fut.result()
        except Exception as exc:  # noqa: BLE001 - a worker died or the task was lost
            rec = write_failure(out, s, exc, "worker")
        futures.discard(fut)
        yield rec


def _check_graph_options(gpu, client, scheduler, backend, uq_samples, gpu_batch_size, emulate_gpu_workers) -> dict:
    """Check the options of the GPU graph before anything is read, run or written; returns the graph's
    options for the workers (empty without ``gpu=True``).

    Raises
    ------
    InvalidInputError
        Graph options without ``gpu=True``, a bad number, ``backend`` other than ``auto`` with
        ``gpu=True``, ``scheduler`` with ``gpu=True``.
    BackendUnavailableError
        ``gpu=True`` (not emulated) where CuPy, a CUDA device or dask-cuda is missing.
    """
    from .batch_graph import DEFAULT_GPU_BATCH_SIZE, DEFAULT_UQ_SAMPLES

    if not gpu:
        given = [n for n, v in (("--uq-samples", uq_samples), ("--gpu-batch-size", gpu_batch_size),
                                ("--emulate-gpu-workers", emulate_gpu_workers or None)) if v is not None]
        if given:
            raise InvalidInputError(f"{', '.join(given)}: only with --gpu (the CPU batch runs no uncertainty "
                                    f"and solves each case on its own worker)")
        return {}
    emulate_gpu_workers = int(emulate_gpu_workers or 0)
    if emulate_gpu_workers < 0:
        raise InvalidInputError(f"--emulate-gpu-workers {emulate_gpu_workers}: expected 0 or more")
    if client is None:
        if emulate_gpu_workers:
            if scheduler:
                raise InvalidInputError("batch --gpu --emulate-gpu-workers starts its own cluster; not with "
                                        "--scheduler")
        else:
            require_gpu_cluster(scheduler)
    if backend != "auto":
        raise InvalidInputError(f"--backend {backend}: with --gpu the GPU workers solve with cuda (Numba on "
                                f"emulated GPU workers); leave --backend at auto")
    n_uq = DEFAULT_UQ_SAMPLES if uq_samples is None else int(uq_samples)
    if n_uq < 0 or n_uq == 1:
        raise InvalidInputError(f"--uq-samples {uq_samples}: expected 0 (no uncertainty run) or at least 2")
    size = DEFAULT_GPU_BATCH_SIZE if gpu_batch_size is None else int(gpu_batch_size)
    if size < 1:
        raise InvalidInputError(f"--gpu-batch-size {gpu_batch_size}: expected at least 1")
    return {"uq_samples": n_uq, "gpu_batch_size": size, "emulate_gpu_workers": emulate_gpu_workers}
