"""Packing of lumped models into the flat, CSR-style arrays of the ``lumped_integrate`` kernel.

The layout of every array is documented in :mod:`ffrflow.kernels.reference_lumped`; the codes and
slot indices of ``sim_i``, ``sim_f``, ``info_i`` and ``info_f`` are in :mod:`ffrflow.kernels.codes`.
Values are packed in the model's units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ...errors import InvalidInputError
from ...kernels.codes import (OUTPUT_ALL, OUTPUT_LAST, OUTPUT_MEAN, SIM_CYCLE_TO_CYCLE, SIM_CYCLES, SIM_I_WIDTH,
                              SIM_MAX_EXTRA_CYCLES, SIM_MAX_NEWTON, SIM_OUTPUT_MODE, SIM_POINTS_PER_CYCLE,
                              SIM_STEADY_INITIAL, SIM_VARRES_ABSOLUTE_TIME, SIMF_ABSOLUTE_TOLERANCE,
                              SIMF_CYCLE_TO_CYCLE_TOLERANCE, SIMF_PERIOD, SIMF_RHO_INFTY, SIM_F_WIDTH)
from .model import BC_TYPES, NPAR, LumpedModel

#: Output modes of the kernel, by the names of the ``output`` argument (:mod:`ffrflow.kernels.codes`).
OUTPUT_MODES = {"all": OUTPUT_ALL, "last": OUTPUT_LAST, "mean": OUTPUT_MEAN}
W_EL, W_BC = 48, 32


@dataclass
class Packed:
    """Flat, CSR-style arrays of a batch of cases (the kernel's arguments; see reference_lumped)."""

    arrays: dict[str, np.ndarray]
    n_cases: int
    rows: np.ndarray          # output rows per case
    mode: int
    n_elements: np.ndarray    # elements per case

    def args(self) -> tuple:
        a = self.arrays
        return tuple(a[k] for k in KERNEL_ARGS)


#: Argument order of the ``lumped_integrate`` kernel.
KERNEL_ARGS = ("el_off", "el_parent", "ch_off", "ch_idx", "el_R", "el_C", "el_L", "el_S", "el_bc_in", "el_bc_out",
               "el_cap", "bc_off", "bc_type", "bc_el", "bc_tab", "tab_off", "tab_t", "tab_v", "tab_mean",
               "tab_period", "sim_i", "sim_f", "el_y", "el_yd", "bc_y", "bc_yd", "bc_aux", "out_off", "out",
               "status", "info_i", "info_f", "work", "bwork")


def _pack_one(m: LumpedModel, mode: int, max_extra_cycles: int, varres_time: str) -> dict:
    n = len(m.elements)
    names = list(m.bcs)
    bidx = {b: i for i, b in enumerate(names)}
    ch = m.children()
    parent = np.array([e.parent for e in m.elements], dtype=np.int64)
    ch_counts = np.array([len(c) for c in ch], dtype=np.int64)
    ch_idx = np.array([k for c in ch for k in c], dtype=np.int64)
    el_bc_in = np.array([bidx[e.inlet_bc] if e.inlet_bc is not None else -1 for e in m.elements], dtype=np.int64)
    el_bc_out = np.array([bidx[e.outlet_bc] if e.outlet_bc is not None else -1 for e in m.elements], dtype=np.int64)
    cap = np.zeros(n, dtype=np.int64)
    for i, e in enumerate(m.elements):
        if e.kind != "vessel":
            continue
        if e.outlet_bc is not None:  # svZeroDSolver marks a vessel with an outlet BC "outlet" (even if also inlet)
            cap[i] = 2
        elif e.inlet_bc is not None:
            cap[i] = 1
    bc_type = np.array([BC_TYPES[m.bcs[b].type][0] for b in names], dtype=np.int64)
    bc_el = np.zeros(len(names), dtype=np.int64)
    for i, e in enumerate(m.elements):
        if e.inlet_bc is not None:
            bc_el[bidx[e.inlet_bc]] = i
        if e.outlet_bc is not None:
            bc_el[bidx[e.outlet_bc]] = i
    tabs_t, tabs_v, tab_mean, tab_period = [], [], [], []
    bc_tab = np.full((len(names), NPAR), -1, dtype=np.int64)
    for i, b in enumerate(names):
        bc = m.bcs[b]
        for j, pname in enumerate(BC_TYPES[bc.type][1]):
            prm = bc.params[pname]
            v = np.asarray(prm.v, dtype=np.float64)
            t = np.zeros(v.size) if prm.t is None or v.size == 1 else np.asarray(prm.t, dtype=np.float64)
            bc_tab[i, j] = len(tabs_v)
            tabs_t.append(t)
            tabs_v.append(v)
            tab_mean.append(float(np.mean(v)))
            tab_period.append(prm.period if prm.period is not None else 1.0)
    pts = int(m.sim.number_of_time_pts_per_cardiac_cycle)
    n_cycles = m.n_cycles()
    c2c = bool(m.sim.use_cycle_to_cycle_error and not m.has_windkessel())
    extra = max_extra_cycles if c2c else 0
    if mode == OUTPUT_ALL:
        rows = 1 + (pts - 1) * (n_cycles + extra)
    elif mode == OUTPUT_LAST:
        rows = pts
    else:
        rows = 1
    y0, yd0, by0, byd0 = _initial_state(m, names)
    sim_i = [0] * SIM_I_WIDTH
    sim_i[SIM_CYCLES] = n_cycles
    sim_i[SIM_POINTS_PER_CYCLE] = pts
    sim_i[SIM_STEADY_INITIAL] = int(bool(m.sim.steady_initial))
    sim_i[SIM_MAX_NEWTON] = int(m.sim.maximum_nonlinear_iterations)
    sim_i[SIM_OUTPUT_MODE] = mode
    sim_i[SIM_CYCLE_TO_CYCLE] = int(c2c)
    sim_i[SIM_MAX_EXTRA_CYCLES] = int(extra)
    sim_i[SIM_VARRES_ABSOLUTE_TIME] = 0 if varres_time == "cycle" else 1
    sim_f = [0.0] * SIM_F_WIDTH
    sim_f[SIMF_PERIOD] = m.period
    sim_f[SIMF_ABSOLUTE_TOLERANCE] = float(m.sim.absolute_tolerance)
    sim_f[SIMF_RHO_INFTY] = float(m.sim.rho_infty)
    sim_f[SIMF_CYCLE_TO_CYCLE_TOLERANCE] = float(m.sim.sim_cycle_to_cycle_percent_error) / 100.0
    return dict(n=n, parent=parent, ch_counts=ch_counts, ch_idx=ch_idx, R=[e.R for e in m.elements],
                C=[e.C for e in m.elements], L=[e.L for e in m.elements], S=[e.S for e in m.elements],
                bc_in=el_bc_in, bc_out=el_bc_out, cap=cap, bc_type=bc_type, bc_el=bc_el, bc_tab=bc_tab,
                tabs_t=tabs_t, tabs_v=tabs_v, tab_mean=tab_mean, tab_period=tab_period,
                sim_i=sim_i, sim_f=sim_f,
                y0=y0, yd0=yd0, by0=by0, byd0=byd0, rows=rows)


def _initial_state(m: LumpedModel, bc_names: list[str]):
    if m.initial_state is not None:
        y, yd, by, byd = m.initial_state
        return (np.array(y, dtype=np.float64), np.array(yd, dtype=np.float64), np.array(by, dtype=np.float64),
                np.array(byd, dtype=np.float64))
    n = len(m.elements)
    return np.zeros((n, 4)), np.zeros((n, 4)), np.zeros(len(bc_names)), np.zeros(len(bc_names))


def pack(models: Sequence[LumpedModel], output: str = "last", max_extra_cycles: int = 200,
         varres_time: str = "cycle") -> Packed:
    """Pack models into the flat arrays of the ``lumped_integrate`` kernel.

    Parameters
    ----------
    models : sequence of LumpedModel
        Validated models (one case each). Repeated objects are packed once and tiled.
    output : {"all", "last", "mean"}
        Every saved time point, the last cycle, or the time mean over the last cycle.
    max_extra_cycles : int
        Cap on the extra cycles of the cycle-to-cycle convergence loop.
    varres_time : {"cycle", "absolute"}
        Time argument of the CORONARY_VAR_RES activation: time within the cycle (documented
        behaviour, default) or absolute time.
    """
    if output not in OUTPUT_MODES:
        raise InvalidInputError(f"output: expected one of {sorted(OUTPUT_MODES)}, got {output!r}")
    mode = OUTPUT_MODES[output]
    cache: dict[int, dict] = {}
    parts = []
    for m in models:
        key = id(m)
        if key not in cache:
            cache[key] = _pack_one(m, mode, max_extra_cycles, varres_time)
        parts.append(cache[key])
    nc = len(parts)
    n_el = np.array([p["n"] for p in parts], dtype=np.int64)
    n_bc = np.array([len(p["bc_type"]) for p in parts], dtype=np.int64)
    n_tab = np.array([len(p["tabs_v"]) for p in parts], dtype=np.int64)
    el_off = np.concatenate([[0], np.cumsum(n_el)]).astype(np.int64)
    bc_off = np.concatenate([[0], np.cumsum(n_bc)]).astype(np.int64)
    tab_base = np.concatenate([[0], np.cumsum(n_tab)]).astype(np.int64)

    def cat(key, dtype=np.float64):
        return np.concatenate([np.asarray(p[key], dtype=dtype) for p in parts]) if parts else np.zeros(0, dtype)

    parent = np.concatenate([np.where(p["parent"] >= 0, p["parent"] + el_off[i], -1) for i, p in enumerate(parts)])
    ch_counts = cat("ch_counts", np.int64)
    ch_off = np.concatenate([[0], np.cumsum(ch_counts)]).astype(np.int64)
    ch_idx = np.concatenate([p["ch_idx"] + el_off[i] for i, p in enumerate(parts)]).astype(np.int64)
    bc_in = np.concatenate([np.where(p["bc_in"] >= 0, p["bc_in"] + bc_off[i], -1) for i, p in enumerate(parts)])
    bc_out = np.concatenate([np.where(p["bc_out"] >= 0, p["bc_out"] + bc_off[i], -1) for i, p in enumerate(parts)])
    bc_el = np.concatenate([p["bc_el"] + el_off[i] for i, p in enumerate(parts)]).astype(np.int64)
    bc_tab = np.concatenate([np.where(p["bc_tab"] >= 0, p["bc_tab"] + tab_base[i], -1) for i, p in enumerate(parts)])
    tab_lens = np.array([t.size for p in parts for t in p["tabs_v"]], dtype=np.int64)
    tab_off = np.concatenate([[0], np.cumsum(tab_lens)]).astype(np.int64)
    tab_t = np.concatenate([t for p in parts for t in p["tabs_t"]]) if tab_lens.size else np.zeros(0)
    tab_v = np.concatenate([v for p in parts for v in p["tabs_v"]]) if tab_lens.size else np.zeros(0)
    rows = np.array([p["rows"] for p in parts], dtype=np.int64)
    out_off = np.concatenate([[0], np.cumsum(rows * 4 * n_el)]).astype(np.int64)
    arrays = {
        "el_off": el_off, "el_parent": parent.astype(np.int64), "ch_off": ch_off, "ch_idx": ch_idx,
        "el_R": cat("R"), "el_C": cat("C"), "el_L": cat("L"), "el_S": cat("S"),
        "el_bc_in": bc_in.astype(np.int64), "el_bc_out": bc_out.astype(np.int64), "el_cap": cat("cap", np.int64),
        "bc_off": bc_off, "bc_type": cat("bc_type", np.int64), "bc_el": bc_el,
        "bc_tab": bc_tab.astype(np.int64).reshape(-1, NPAR),
        "tab_off": tab_off, "tab_t": np.ascontiguousarray(tab_t, dtype=np.float64),
        "tab_v": np.ascontiguousarray(tab_v, dtype=np.float64), "tab_mean": cat("tab_mean"),
        "tab_period": cat("tab_period"),
        "sim_i": np.array([p["sim_i"] for p in parts], dtype=np.int64).reshape(nc, -1),
        "sim_f": np.array([p["sim_f"] for p in parts], dtype=np.float64).reshape(nc, -1),
        "el_y": np.concatenate([p["y0"] for p in parts]).reshape(-1, 4),
        "el_yd": np.concatenate([p["yd0"] for p in parts]).reshape(-1, 4),
        "bc_y": cat("by0"), "bc_yd": cat("byd0"), "bc_aux": np.zeros((int(bc_off[-1]), 2)),
        "out_off": out_off, "out": np.full(int(out_off[-1]), np.nan),
        "status": np.zeros(nc, dtype=np.int64), "info_i": np.zeros((nc, 4), dtype=np.int64),
        "info_f": np.zeros((nc, 3)),
        "work": np.zeros((int(el_off[-1]), W_EL)), "bwork": np.zeros((int(bc_off[-1]), W_BC)),
    }
    return Packed(arrays, nc, rows, mode, n_el)
