"""Solving lumped models: one model (:func:`solve_lumped`) or a batch in one kernel call.

The kernel is ``lumped_integrate`` of :mod:`ffrflow.kernels` (generalized-α with Newton iterations,
docs/physics.md §Lumped 0D); the results are in the model's units.
"""

from __future__ import annotations

import logging
import time
from typing import Sequence

import numpy as np

from ...errors import ConvergenceError
from ...kernels import get_kernel, resolve_backend
from ...kernels.codes import (INFO_CYCLE_TO_CYCLE_ERROR, INFO_CYCLES, INFO_FAILURE_TIME, INFO_NEWTON_ITERATIONS,
                              INFO_RESIDUAL, INFO_ROWS, INFO_STEPS, OUTPUT_ALL, OUTPUT_MEAN,
                              STATUS_CYCLES_NOT_CONVERGED, STATUS_NEWTON_FAILED, STATUS_OK, STATUS_SINGULAR)
from .model import LumpedModel
from .packing import Packed, pack
from .result import LumpedBatchResult, LumpedResult

log = logging.getLogger("ffrflow")

#: Kernel status codes and their messages.
STATUS = {STATUS_OK: "ok", STATUS_NEWTON_FAILED: "Newton did not converge", STATUS_SINGULAR: "singular linear system",
          STATUS_CYCLES_NOT_CONVERGED: "cycle-to-cycle not converged"}


def _run(packed: Packed, backend: str):
    kernel = get_kernel("lumped_integrate", backend)
    kernel(*packed.args())
    return packed.arrays


def _times(m: LumpedModel, rows: int, mode: int, out_rows: int) -> np.ndarray:
    dt = m.period / (int(m.sim.number_of_time_pts_per_cardiac_cycle) - 1)
    if mode == OUTPUT_MEAN:
        return np.array([0.0])
    return dt * np.arange(out_rows)


def solve_lumped(model: LumpedModel, backend: str = "auto", output: str | None = None, max_extra_cycles: int = 200,
                 varres_time: str = "cycle", raise_on_failure: bool = True) -> LumpedResult:
    """Integrate one lumped model.

    Parameters
    ----------
    model : LumpedModel
        A validated model (units as in ``model.units``).
    backend : {"auto", "numpy", "cpu", "cuda"}
    output : {"all", "last", "mean"}, optional
        Default: ``"all"`` when ``simulation_parameters.output_all_cycles`` is true, else ``"last"``
        (``"mean"`` when ``output_mean_only``).
    max_extra_cycles : int
        Cap on the cycles added by the cycle-to-cycle convergence loop (svZeroDSolver has none).
    varres_time : {"cycle", "absolute"}
        Time used by the CORONARY_VAR_RES activation (see :func:`pack`).
    raise_on_failure : bool
        Raise :class:`~ffrflow.errors.ConvergenceError` when Newton fails or the system is singular.

    Returns
    -------
    LumpedResult
    """
    t0 = time.perf_counter()
    backend = resolve_backend(backend)
    if output is None:
        output = "all" if model.sim.output_all_cycles else "mean" if model.sim.output_mean_only else "last"
    packed = pack([model], output, max_extra_cycles, varres_time)
    t1 = time.perf_counter()
    a = _run(packed, backend)
    t2 = time.perf_counter()
    status = int(a["status"][0])
    info_i, info_f = a["info_i"][0], a["info_f"][0]
    if status in (STATUS_NEWTON_FAILED, STATUS_SINGULAR) and raise_on_failure:
        when = info_f[INFO_FAILURE_TIME]
        phase = "steady initialisation" if when < 0 else f"t = {when:.6g} s"
        raise ConvergenceError(f"lumped solve of {model.name!r} failed at {phase}: {STATUS[status]} "
                               f"(max |residual| {info_f[INFO_RESIDUAL]:.3e}, absolute_tolerance "
                               f"{model.sim.absolute_tolerance:.1e}, maximum_nonlinear_iterations "
                               f"{model.sim.maximum_nonlinear_iterations}, backend {backend})",
                               residual=float(info_f[INFO_RESIDUAL]), iterations=int(info_i[INFO_NEWTON_ITERATIONS]))
    if status == STATUS_CYCLES_NOT_CONVERGED:
        log.warning("lumped %s: cycle-to-cycle error %.3g %% still above %.3g %% after %d extra cycles",
                    model.name, 100 * info_f[INFO_CYCLE_TO_CYCLE_ERROR], model.sim.sim_cycle_to_cycle_percent_error,
                    max_extra_cycles)
    n = len(model.elements)
    rows_written = int(info_i[INFO_ROWS]) if packed.mode == OUTPUT_ALL else int(packed.rows[0])
    y = a["out"][: rows_written * 4 * n].reshape(rows_written, n, 4)
    if packed.mode == OUTPUT_ALL and model.sim.output_interval > 1:
        y = y[:: int(model.sim.output_interval)]
        tt = _times(model, packed.rows[0], OUTPUT_ALL, rows_written)[:: int(model.sim.output_interval)]
    else:
        tt = _times(model, packed.rows[0], packed.mode, rows_written)
    return LumpedResult(model=model, time=tt, y=y.copy(), backend=backend, output=output, status=STATUS[status],
                        newton_iterations=int(info_i[INFO_NEWTON_ITERATIONS]), steps=int(info_i[INFO_STEPS]),
                        cycles=int(info_i[INFO_CYCLES]), cycle_to_cycle_error=float(info_f[INFO_CYCLE_TO_CYCLE_ERROR]),
                        timings_s={"pack": t1 - t0, "solve": t2 - t1, "total": time.perf_counter() - t0})


def solve_lumped_batch(models: Sequence[LumpedModel], backend: str = "auto", output: str = "mean",
                       max_extra_cycles: int = 200, packed: Packed | None = None) -> LumpedBatchResult:
    """Integrate many lumped models in one kernel call (one case per thread).

    Parameters
    ----------
    models : sequence of LumpedModel
        The cases (may repeat the same object; it is packed once).
    output : {"mean", "last", "all"}
        Per case: time means over the last cycle (default, the least memory), the last cycle, or
        every time point.
    packed : Packed, optional
        Pre-packed arrays (e.g. from :func:`pack` with parameters perturbed in place).
    """
    t0 = time.perf_counter()
    backend = resolve_backend(backend)
    if packed is None:
        packed = pack(models, output, max_extra_cycles)
    t1 = time.perf_counter()
    a = _run(packed, backend)
    t2 = time.perf_counter()
    off = a["out_off"]
    nel, rows_c = packed.n_elements, packed.rows
    if packed.mode != OUTPUT_ALL and np.all(nel == nel[0]) and np.all(rows_c == rows_c[0]):
        # uniform batch: one (n_cases, rows, n_elements, 4) view, no per-case Python work
        ys = a["out"].reshape(len(models), int(rows_c[0]), int(nel[0]), 4)
        tcache: dict[int, np.ndarray] = {}
        ts = [tcache.setdefault(id(m), _times(m, rows_c[0], packed.mode, int(rows_c[0]))) for m in models]
    else:
        ys, ts = [], []
        for c, m in enumerate(models):
            n = int(nel[c])
            rows = int(a["info_i"][c, INFO_ROWS]) if packed.mode == OUTPUT_ALL else int(rows_c[c])
            ys.append(a["out"][off[c]: off[c] + rows * 4 * n].reshape(rows, n, 4))
            ts.append(_times(m, rows_c[c], packed.mode, rows))
    return LumpedBatchResult(ys, ts, a["status"].copy(), a["info_i"].copy(), a["info_f"].copy(), backend,
                             output, {"pack": t1 - t0, "solve": t2 - t1, "total": time.perf_counter() - t0})
