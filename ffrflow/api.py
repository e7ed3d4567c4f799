"""The notebook API, shared one-to-one by the command line: ``load``, ``solve``, ``run``.

>>> import ffrflow                                          # doctest: +SKIP
>>> r = ffrflow.run("network.json", output_dir="out")       # doctest: +SKIP
>>> r.lesions[0]["ffr_distal"]                              # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any, Mapping

from .config import apply_overrides
from .errors import InvalidInputError
from .network import VesselNetwork

log = logging.getLogger("ffrflow")

SOLVERS = ("steady",)


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (hex); for a folder, of its files' names and bytes in sorted order."""
    path = Path(path)
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for p in files:
        if path.is_dir():
            h.update(str(p.relative_to(path)).encode())
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def load(source: str | Path | VesselNetwork | Mapping[str, Any]) -> VesselNetwork:
    """Load a case as a :class:`~ffrflow.network.VesselNetwork`.

    Parameters
    ----------
    source : path, dict or VesselNetwork
        A network JSON file (``ffrflow-network/1``), a dict in that format, or a network.

    Raises
    ------
    InvalidInputError
        Naming the file and the field for anything malformed or unsupported.
    """
    if isinstance(source, VesselNetwork):
        return source
    if isinstance(source, Mapping):
        return VesselNetwork.from_dict(source)
    path = Path(source)
    if not path.exists():
        raise InvalidInputError(f"{path}: no such file or folder")
    name = path.name.lower()
    if name.endswith(".json"):
        return VesselNetwork.from_json(path)
    raise InvalidInputError(f"{path}: unsupported input; expected a network .json (ffrflow-network/1)")


def solve(network: VesselNetwork, solver: str = "steady", backend: str = "auto", detect: bool = True,
          overrides: Mapping[str, Any] | None = None, **solver_options):
    """Detect lesions (where none are given) and solve one network.

    Parameters
    ----------
    network : VesselNetwork
    solver : {"steady"}
        The steady hyperemic model of DESIGN §4.
    backend : {"auto", "numpy", "cpu", "cuda"}
    detect : bool
        Run lesion detection on vessels without a ``lesions`` list.
    overrides : mapping, optional
        ``{"boundary.inlet_pressure_mmHg": 90, "model.kt": 1.2, ...}`` applied before solving.

    Returns
    -------
    ffrflow.cfd.result.Result
    """
    if solver not in SOLVERS:
        raise InvalidInputError(f"solver: expected one of {SOLVERS}, got {solver!r}")
    timings: dict[str, float] = {}
    if overrides:
        b, m = apply_overrides(network.boundary, network.model, overrides)
        network = network.replace_config(boundary=b, model=m)
    if detect:
        from .meshing.stenosis import detect_lesions

        t = time.perf_counter()
        network = detect_lesions(network)
        timings["detect_lesions"] = time.perf_counter() - t
        log.info("lesions: %d found (threshold %.0f %% DS)",
                 sum(len(v.lesions or []) for v in network.vessels.values()), network.model.stenosis_threshold_pct)
    from .cfd.steady import solve_steady

    result = solve_steady(network, backend=backend, **solver_options)
    result.timings_s = {**timings, **result.timings_s}
    log.info("solve: %s on %s, %d Newton iterations, residual %.1e", solver, result.backend,
             result.iterations, result.residual)
    return result


def run(source, output_dir: str | Path | None = None, solver: str = "steady", backend: str = "auto",
        overrides: Mapping[str, Any] | None = None, detect: bool = True, **solver_options):
    """Load, detect lesions, solve and (optionally) write every output of one case.

    Parameters
    ----------
    source : path, dict or VesselNetwork
        The case (see :func:`load`).
    output_dir : path, optional
        When given, ``summary.json``, ``results.h5``, ``centerlines.vtp`` and ``network.json`` (the
        network as solved, lesions included) are written there, each atomically.

    Returns
    -------
    ffrflow.cfd.result.Result

    Examples
    --------
    >>> import ffrflow                                        # doctest: +SKIP
    >>> r = ffrflow.run("case/network.json")                  # doctest: +SKIP
    >>> [round(les["ffr_distal"], 2) for les in r.lesions]    # doctest: +SKIP
    """
    t0 = time.perf_counter()
    net = load(source)
    t_load = time.perf_counter() - t0
    log.info("load: %d vessels, %d roots, %d outlets (%.2f s)", len(net.vessels), len(net.roots),
             len(net.outlets), t_load)
    result = solve(net, solver=solver, backend=backend, detect=detect, overrides=overrides, **solver_options)
    result.timings_s = {"load": t_load, **result.timings_s}
    if isinstance(source, (str, Path)):
        result.input_info = {"path": str(source), "sha256": file_sha256(source)}
    else:
        result.input_info = {"path": None, "sha256": None}
    if output_dir is not None:
        t = time.perf_counter()
        write_outputs(result, output_dir)
        log.info("outputs: %s (%.2f s)", output_dir, time.perf_counter() - t)
    result.timings_s["total"] = time.perf_counter() - t0
    if output_dir is not None:
        result.to_json(Path(output_dir) / "summary.json")
    return result


def write_outputs(result, output_dir: str | Path) -> dict[str, Path]:
    """Write every output of a result into ``output_dir`` (each file atomically)."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"network": result.network.to_json(out / "network.json")}
    t = time.perf_counter()
    paths.update(result.save(out))
    result.timings_s["write"] = time.perf_counter() - t
    return paths
