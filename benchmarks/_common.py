"""Shared helpers of the benchmark harness: machine info, timing, result files, tables."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine_info() -> dict:
    """CPU, core count and library versions (and the GPU when one is used)."""
    import numpy

    info = {"host": platform.node(), "platform": platform.platform(), "python": platform.python_version(),
            "cpu": _cpu_name(), "cores": os.cpu_count(), "numpy": numpy.__version__}
    try:
        import numba

        info["numba"] = numba.__version__
        info["numba_threads"] = numba.get_num_threads()
    except Exception:  # pragma: no cover
        pass
    try:
        from ffrflow.kernels import cuda_available

        if cuda_available():
            import cupy

            props = cupy.cuda.runtime.getDeviceProperties(0)
            info["gpu"] = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
            info["cupy"] = cupy.__version__
            info["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
            info["cuda_driver"] = cupy.cuda.runtime.driverGetVersion()
    except Exception:  # pragma: no cover
        pass
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def median_time(fn, repeats: int, warmup: int = 1) -> tuple[float, list[float]]:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` calls (s)."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), ts


def code_version() -> dict:
    """The commit the measured code is at, and whether the working tree differed from it.

    Written into every result file, so a figure can be traced to the code that produced it and a
    figure measured before a change of the physics is recognisable as stale.
    """
    root = Path(__file__).resolve().parents[1]

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10,
                                  check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    from ffrflow import __version__

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no", "--", "ffrflow", "benchmarks",
                 ":(exclude)benchmarks/results")        # an earlier result file is not the measured code
    return {"ffrflow": __version__, "commit": commit,
            "dirty": None if status is None else bool(status)}


def save(name: str, payload: dict) -> Path:
    """Write ``benchmarks/results/<name>-<date>.json`` and return its path.

    The file carries the date, the machine (:func:`machine_info`) and the code version
    (:func:`code_version`: commit and whether ``ffrflow/`` or ``benchmarks/``, result files apart, had
    uncommitted changes).
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")
    path = RESULTS / f"{name}-{stamp}.json"
    payload = {"benchmark": name, "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
               "machine": machine_info(), "code": code_version(), **payload}
    path.write_text(json.dumps(payload, indent=1) + "\n")
    return path


def table(rows: list[dict], cols: list[tuple[str, str, str]]) -> str:
    """Format rows as a fixed-width table; ``cols`` = [(key, header, format)]."""
    widths = [max(len(h), 10) for _, h, _ in cols]
    out = ["  ".join(h.rjust(w) for (_, h, _), w in zip(cols, widths))]
    out.append("  ".join("-" * w for w in widths))
    for r in rows:
        out.append("  ".join(format(r[k], f).rjust(w) if r.get(k) is not None else "-".rjust(w)
                             for (k, _, f), w in zip(cols, widths)))
    return "\n".join(out)
