"""Results of the lumped solver: one model's waveforms (:class:`LumpedResult`) and a batch's arrays.

Pressures and flows are in the model's units (CGS for svZeroDSolver models), times in s.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..._atomic import atomic_write_text
from ..._version import __version__
from ...errors import InvalidInputError
from .model import LumpedModel

_trapezoid = getattr(np, "trapezoid", None) or getattr(np, "trapz")


@dataclass
class LumpedResult:
    """Solution of one lumped model.

    Attributes
    ----------
    model : LumpedModel
    time : (n_rows,) ndarray
        Output times, s (from 0 at the start of the saved window, as svZeroDSolver writes them).
    y : (n_rows, n_elements, 4) ndarray
        ``P_in, Q_in, P_out, Q_out`` of every element at every output time, in the model's units.
    """

    model: LumpedModel
    time: np.ndarray
    y: np.ndarray
    backend: str
    output: str
    status: str
    newton_iterations: int
    steps: int
    cycles: int
    cycle_to_cycle_error: float
    timings_s: dict = field(default_factory=dict)
    input_info: dict = field(default_factory=dict)
    solver: str = "lumped"
    warnings: list = field(default_factory=list)

    @property
    def network(self) -> LumpedModel:
        """The model (so that ``api.write_outputs`` writes it next to the results)."""
        return self.model

    @property
    def converged(self) -> bool:
        return self.status == "ok"

    @property
    def iterations(self) -> int:
        return self.newton_iterations

    def vessel(self, name: str) -> dict[str, np.ndarray]:
        """``time``, ``pressure_in``, ``flow_in``, ``pressure_out``, ``flow_out`` of one vessel."""
        names = [e.name for e in self.model.elements]
        try:
            i = names.index(name)
        except ValueError:
            raise InvalidInputError(f"vessel {name!r}: not in the model (vessels: {self.model.vessel_names[:10]}...)") \
                from None
        return {"time": self.time, "pressure_in": self.y[:, i, 0], "flow_in": self.y[:, i, 1],
                "pressure_out": self.y[:, i, 2], "flow_out": self.y[:, i, 3]}

    def table(self) -> dict[str, np.ndarray]:
        """svZeroDSolver's vessel output as columns (``name, time, flow_in, flow_out, pressure_in,
        pressure_out``), rows ordered by vessel then time."""
        idx = self.model.vessels
        nt = self.time.size
        names = np.repeat(np.array([self.model.elements[i].name for i in idx], dtype=object), nt)
        sel = self.y[:, idx, :]  # (nt, nv, 4)
        col = lambda k: sel[:, :, k].T.reshape(-1)  # noqa: E731
        return {"name": names, "time": np.tile(self.time, len(idx)), "flow_in": col(1), "flow_out": col(3),
                "pressure_in": col(0), "pressure_out": col(2)}

    def means(self) -> dict[str, dict[str, float]]:
        """Time mean (trapezoid over the output window) of P and Q at each vessel's ends."""
        out = {}
        span = float(self.time[-1] - self.time[0]) if self.time.size > 1 else 0.0
        for i in self.model.vessels:
            y = self.y[:, i, :]
            m = _trapezoid(y, self.time, axis=0) / span if span > 0 else y.mean(axis=0)
            out[self.model.elements[i].name] = {"pressure_in": float(m[0]), "flow_in": float(m[1]),
                                                "pressure_out": float(m[2]), "flow_out": float(m[3])}
        return out

    def summary(self) -> dict:
        """The ``summary.json`` document of a lumped run."""
        return {"ffrflow_version": __version__,
                "input": {**(self.input_info or {"path": self.model.meta.get("source")}),
                          "units": self.model.meta.get("units")},
                "solver": "lumped", "backend": self.backend, "units": self.model.units, "model": self.model.name,
                "status": self.status, "converged": self.converged, "newton_iterations": self.newton_iterations,
                "steps": self.steps, "cycles": self.cycles, "cycle_to_cycle_error": _finite(self.cycle_to_cycle_error),
                "output": self.output, "period_s": self.model.period,
                "vessels": self.means(), "timings_s": dict(self.timings_s), "warnings": list(self.warnings)}

    def to_json(self, path: str | Path) -> Path:
        path = Path(path)
        atomic_write_text(path, json.dumps(self.summary(), indent=1) + "\n")
        return path

    def to_csv(self, path: str | Path) -> Path:
        """svZeroDSolver-style vessel CSV (``name,time,flow_in,flow_out,pressure_in,pressure_out``)."""
        t = self.table()
        lines = ["name,time,flow_in,flow_out,pressure_in,pressure_out"]
        for k in range(t["time"].size):
            lines.append(f"{t['name'][k]},{t['time'][k]:.10g},{t['flow_in'][k]:.12g},{t['flow_out'][k]:.12g},"
                         f"{t['pressure_in'][k]:.12g},{t['pressure_out'][k]:.12g}")
        path = Path(path)
        atomic_write_text(path, "\n".join(lines) + "\n")
        return path

    def save(self, folder: str | Path) -> dict[str, Path]:
        """Write ``summary.json`` (cycle means per vessel) and ``results.csv`` (svZeroDSolver's vessel
        output). The model itself is a file format's business: :func:`ffrflow.api.write_outputs` writes
        it as ``model.json`` with :func:`ffrflow.formats.svzerod.write_svzerod`."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return {"summary": self.to_json(folder / "summary.json"), "results": self.to_csv(folder / "results.csv")}

    def format_table(self) -> str:
        """Plain-text table of the cycle means at each vessel's inlet and outlet (model units)."""
        head = f"{'vessel':<24}{'P in':>14}{'P out':>14}{'Q in':>12}{'Q out':>12}"
        lines = [head, "-" * len(head)]
        for name, m in self.means().items():
            lines.append(f"{name[:24]:<24}{m['pressure_in']:>14.6g}{m['pressure_out']:>14.6g}{m['flow_in']:>12.6g}"
                         f"{m['flow_out']:>12.6g}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"LumpedResult({self.model.name!r}, {self.time.size} times x {len(self.model.vessels)} vessels, "
                f"backend={self.backend!r}, status={self.status!r})")


def _finite(x):
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x


@dataclass
class LumpedBatchResult:
    """Solutions of a batch: ``y[c]`` is case ``c``'s (n_rows, n_elements, 4) array (``P_in, Q_in, P_out,
    Q_out`` per element); one (n_cases, n_rows, n_elements, 4) array when every case has the same shape,
    else a list. ``status[c]`` is ``STATUS_OK`` (0) when case ``c`` converged (see
    ``ffrflow.cfd.lumped.solve.STATUS``)."""

    y: Any
    time: list[np.ndarray]
    status: np.ndarray
    info_i: np.ndarray
    info_f: np.ndarray
    backend: str
    output: str
    timings_s: dict = field(default_factory=dict)
