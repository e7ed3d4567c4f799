"""svZeroDSolver JSON: read into a :class:`~ffrflow.cfd.lumped.LumpedModel`, write from a model or a network.

The document (svZeroDSolver's input, CGS units)::

    {"simulation_parameters": {"number_of_cardiac_cycles": 5, "number_of_time_pts_per_cardiac_cycle": 101},
     "vessels": [{"vessel_id": 0, "vessel_name": "branch0_seg0", "zero_d_element_type": "BloodVessel",
                  "zero_d_element_values": {"R_poiseuille": 100.0, "C": 1e-4, "L": 1.0, "stenosis_coefficient": 0.0},
                  "boundary_conditions": {"inlet": "INFLOW"}}, ...],
     "junctions": [{"junction_name": "J0", "junction_type": "NORMAL_JUNCTION",
                    "inlet_vessels": [0], "outlet_vessels": [1, 2]}],
     "boundary_conditions": [{"bc_name": "INFLOW", "bc_type": "FLOW", "bc_values": {"Q": [5, 5], "t": [0, 1]}},
                             {"bc_name": "OUT1", "bc_type": "RESISTANCE", "bc_values": {"R": 100.0, "Pd": 0.0}}]}

Supported blocks: ``BloodVessel``; junctions ``NORMAL_JUNCTION`` (and its alias ``internal_junction``),
``BloodVesselJunction``; boundary conditions ``FLOW``, ``PRESSURE``, ``RESISTANCE``, ``RCR``, ``CORONARY``,
``CORONARY_VAR_RES`` (the equations are in :mod:`ffrflow.cfd.lumped`). Closed-loop heart blocks
(``closed_loop_blocks``, ``ClosedLoop*`` boundary conditions), external coupling blocks, valves and
chambers are rejected with a message naming the block; so is anything malformed (unknown keys,
a junction naming a missing vessel, a negative resistance, an unknown block type), naming the block
and the field. Keys that start with ``_`` are comments, as in svZeroDSolver.

Examples
--------
>>> doc = {"simulation_parameters": {"number_of_cardiac_cycles": 2, "number_of_time_pts_per_cardiac_cycle": 5},
...        "vessels": [{"vessel_id": 0, "vessel_name": "v", "zero_d_element_type": "BloodVessel",
...                     "zero_d_element_values": {"R_poiseuille": 100.0},
...                     "boundary_conditions": {"inlet": "IN", "outlet": "OUT"}}],
...        "boundary_conditions": [{"bc_name": "IN", "bc_type": "FLOW", "bc_values": {"Q": [5.0, 5.0], "t": [0, 1]}},
...                                {"bc_name": "OUT", "bc_type": "RESISTANCE", "bc_values": {"R": 100.0, "Pd": 0.0}}]}
>>> m = read_svzerod(doc)
>>> m, m.period
(LumpedModel('model', 1 vessels, 0 junction branches, 2 boundary conditions, units cgs), 1.0)
>>> read_svzerod({**doc, "junctions": [{"junction_name": "J", "junction_type": "NORMAL_JUNCTION",
...                                     "inlet_vessels": [0], "outlet_vessels": [7]}]})
Traceback (most recent call last):
...
ffrflow.errors.InvalidInputError: junctions[0] 'J'.outlet_vessels: no vessel with vessel_id 7
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .._atomic import atomic_write_text
from ..cfd.lumped import (BC_DEFAULTS, BC_TYPES, LumpedBC, LumpedElement, LumpedModel, Param,
                          SimulationParameters, junction_branches_follow, network_to_lumped, state_slots)
from ..errors import InvalidInputError
from ..network import VesselNetwork
from ..plausibility import fixed_units

__all__ = ["is_svzerod", "read_svzerod", "read_svzerod_result", "lumped_to_svzerod", "network_to_svzerod",
           "write_svzerod", "initial_state", "CLOSED_LOOP_BC_TYPES"]

TOP_KEYS = {"simulation_parameters", "vessels", "junctions", "boundary_conditions", "description",
            "initial_condition", "initial_condition_d"}
UNSUPPORTED_TOP = {"closed_loop_blocks": "closed-loop heart block",
                   "external_solver_coupling_blocks": "external-solver coupling block",
                   "valves": "valve block", "chambers": "heart-chamber block"}
SIM_KEYS = {"number_of_cardiac_cycles", "number_of_time_pts_per_cardiac_cycle", "cardiac_period",
            "absolute_tolerance", "maximum_nonlinear_iterations", "steady_initial", "rho_infty",
            "output_variable_based", "output_interval", "output_mean_only", "output_derivative",
            "output_all_cycles", "use_cycle_to_cycle_error", "sim_cycle_to_cycle_percent_error",
            "coupled_simulation", "number_of_time_pts", "external_step_size",
            # carried by generated models (VMR); kept as metadata
            "density", "viscosity", "model_name"}
VESSEL_KEYS = {"vessel_id", "vessel_name", "vessel_length", "zero_d_element_type", "zero_d_element_values",
               "boundary_conditions"}
VESSEL_VALUE_KEYS = {"R_poiseuille", "C", "L", "stenosis_coefficient"}
JUNCTION_KEYS = {"junction_name", "junction_type", "inlet_vessels", "outlet_vessels", "inlet_blocks",
                 "outlet_blocks", "junction_values"}
JUNCTION_TYPES = ("NORMAL_JUNCTION", "internal_junction", "BloodVesselJunction")
CLOSED_LOOP_BC_TYPES = ("ClosedLoopCoronaryLeft", "ClosedLoopCoronaryRight", "ClosedLoopRCR",
                        "ClosedLoopHeartAndPulmonary")
#: svZeroDSolver block types that exist but that the lumped solver does not model.
OTHER_SVZEROD_BLOCKS = ("BloodVesselCRL", "BloodVesselRC", "BloodVesselNew", "resistive_junction", "ValveTanh",
                        "ChamberElastanceInductor", "ChamberSphere", "PiecewiseCosineChamber", "LinearElastanceChamber",
                        "IMPEDANCE", "ImpedanceBC", "FourElementWindkessel", "OpenLoopCoronaryDetailed")


# ---------------------------------------------------------------------------------------------- reading
def is_svzerod(doc: Any) -> bool:
    """True when ``doc`` (a parsed JSON document) looks like an svZeroDSolver input (by its keys)."""
    return (isinstance(doc, Mapping) and "format" not in doc and "boundary_conditions" in doc
            and ("simulation_parameters" in doc or "vessels" in doc))


def _comments_dropped(d: Mapping) -> dict:
    return {k: v for k, v in d.items() if not (isinstance(k, str) and k.startswith("_"))}


def _check_keys(where: str, d: Any, allowed) -> dict:
    if not isinstance(d, Mapping):
        raise InvalidInputError(f"{where}: expected an object, got {type(d).__name__}")
    d = _comments_dropped(d)
    unknown = sorted(set(d) - set(allowed))
    if unknown:
        raise InvalidInputError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    return d


def _num(where: str, x: Any, *, integer: bool = False, nonneg: bool = False) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise InvalidInputError(f"{where}: expected a number, got {x!r}")
    if not math.isfinite(x):
        raise InvalidInputError(f"{where}: expected a finite number, got {x!r}")
    if integer and float(x) != int(x):
        raise InvalidInputError(f"{where}: expected an integer, got {x!r}")
    if nonneg and x < 0:
        raise InvalidInputError(f"{where}: must be >= 0, got {x!r}")
    return int(x) if integer else float(x)


def _bool(where: str, x: Any) -> bool:
    if not isinstance(x, bool):
        raise InvalidInputError(f"{where}: expected true or false, got {x!r}")
    return x


def _series(where: str, x: Any) -> np.ndarray:
    if isinstance(x, (list, tuple)):
        if not x:
            raise InvalidInputError(f"{where}: empty list")
        return np.array([_num(f"{where}[{i}]", v) for i, v in enumerate(x)], dtype=np.float64)
    return np.array([_num(where, x)], dtype=np.float64)


def read_svzerod(source: str | Path | Mapping[str, Any]) -> LumpedModel:
    """Read an svZeroDSolver JSON file (or its parsed dict) into a validated :class:`LumpedModel`.

    Parameters
    ----------
    source : path or dict
        The svZeroDSolver input (CGS units as in svZeroDSolver).

    Returns
    -------
    LumpedModel
        Units ``"cgs"``; ``meta`` holds the source, the vessel lengths, the ignored output options
        and ``units`` (cm: CGS by the format's definition).

    Raises
    ------
    InvalidInputError
        Naming the file, the block and the field of anything unsupported or malformed.
    """
    where0 = ""
    if isinstance(source, Mapping):
        doc = source
    else:
        path = Path(source)
        where0 = f"{path}: "
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InvalidInputError(f"{path}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"{path}: cannot read ({exc})") from None
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") \
                from None
    try:
        model = _parse(doc)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where0}{exc}") from None
    if not isinstance(source, Mapping):
        model.meta["source"] = str(source)
        model.name = model.meta.get("model_name") or Path(source).stem
    model.meta["units"] = fixed_units("cm", "an svZeroDSolver input (CGS)")
    return model


def _parse(doc: Any) -> LumpedModel:
    if not isinstance(doc, Mapping):
        raise InvalidInputError(f"expected a JSON object at the top level, got {type(doc).__name__}")
    for key, what in UNSUPPORTED_TOP.items():
        if key in doc and doc[key]:
            blocks = doc[key]
            first = blocks[0] if isinstance(blocks, list) and blocks else blocks
            label = ""
            if isinstance(first, Mapping):
                label = first.get("closed_loop_type") or first.get("type") or first.get("name") or ""
            raise InvalidInputError(
                f"{key}[0]{f' ({label})' if label else ''}: {what}s are out of scope for ffrflow's lumped solver, "
                f"which models open-loop networks (vessels, junctions, FLOW/PRESSURE/RESISTANCE/RCR/CORONARY/"
                f"CORONARY_VAR_RES boundary conditions)")
    top = _check_keys("top level", doc, TOP_KEYS)
    for bi, bc in enumerate(top.get("boundary_conditions") or []):
        if isinstance(bc, Mapping) and bc.get("bc_type") in CLOSED_LOOP_BC_TYPES:
            raise InvalidInputError(
                f"boundary_conditions[{bi}] {bc.get('bc_name')!r}.bc_type: closed-loop block {bc['bc_type']!r} is out "
                f"of scope for ffrflow's lumped solver (open-loop networks only)")
    if "simulation_parameters" not in top:
        raise InvalidInputError("simulation_parameters: missing")
    sim, meta = _parse_sim(top["simulation_parameters"])
    if "boundary_conditions" not in top or not isinstance(top["boundary_conditions"], list) \
            or not top["boundary_conditions"]:
        raise InvalidInputError("boundary_conditions: expected a non-empty list")
    if "vessels" not in top or not isinstance(top["vessels"], list) or not top["vessels"]:
        raise InvalidInputError("vessels: expected a non-empty list")
    bcs = _parse_bcs(top["boundary_conditions"])
    vessels = _parse_vessels(top["vessels"])
    junctions = _parse_junctions(top.get("junctions") or [], vessels)
    elements = _build_tree(vessels, junctions, bcs)
    meta["vessel_length"] = {v["name"]: v["length"] for v in vessels.values() if v["length"] is not None}
    model = LumpedModel(elements, bcs, sim, units="cgs", name=str(meta.get("model_name") or "model"),
                        description=top.get("description"), meta=meta)
    if "initial_condition" in top or "initial_condition_d" in top:
        ic = {"y": top.get("initial_condition") or {}, "ydot": top.get("initial_condition_d") or {}}
        if not isinstance(ic["y"], Mapping) or not isinstance(ic["ydot"], Mapping):
            raise InvalidInputError("initial_condition: expected an object of variable names")
        model.validate()
        model.initial_state = initial_state(model, ic)
        return model
    return model.validate()


def _parse_sim(raw: Any) -> tuple[SimulationParameters, dict]:
    w = "simulation_parameters"
    d = _check_keys(w, raw, SIM_KEYS)
    if d.get("coupled_simulation"):
        raise InvalidInputError(f"{w}.coupled_simulation: coupling with an external solver is out of scope")
    for k in ("number_of_cardiac_cycles", "number_of_time_pts_per_cardiac_cycle"):
        if k not in d:
            raise InvalidInputError(f"{w}.{k}: missing")
    kw: dict[str, Any] = {
        "number_of_cardiac_cycles": _num(f"{w}.number_of_cardiac_cycles", d["number_of_cardiac_cycles"], integer=True),
        "number_of_time_pts_per_cardiac_cycle": _num(f"{w}.number_of_time_pts_per_cardiac_cycle",
                                                     d["number_of_time_pts_per_cardiac_cycle"], integer=True),
    }
    if "cardiac_period" in d:
        kw["cardiac_period"] = _num(f"{w}.cardiac_period", d["cardiac_period"])
    for k, integer in (("absolute_tolerance", False), ("maximum_nonlinear_iterations", True), ("rho_infty", False),
                       ("output_interval", True), ("sim_cycle_to_cycle_percent_error", False)):
        if k in d:
            kw[k] = _num(f"{w}.{k}", d[k], integer=integer)
    for k in ("steady_initial", "output_all_cycles", "output_mean_only", "use_cycle_to_cycle_error"):
        if k in d:
            kw[k] = _bool(f"{w}.{k}", d[k])
    meta = {k: d[k] for k in ("density", "viscosity", "model_name") if k in d}
    ignored = [k for k in ("output_variable_based", "output_derivative") if d.get(k)]
    if ignored:
        meta["ignored_output_options"] = ignored
    return SimulationParameters(**kw).validate(w), meta


def _block_name(where: str, d: dict, key: str, seen) -> tuple[str, str]:
    """The block's ``key`` (a non-empty name not in ``seen``) and its location string for messages."""
    name = d.get(key)
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"{where}.{key}: expected a non-empty string, got {name!r}")
    where = f"{where} {name!r}"
    if name in seen:
        raise InvalidInputError(f"{where}: duplicate {key}")
    return name, where


def _named_blocks(section: str, raw: list, allowed, name_key: str):
    """``(name, where, block)`` for every block of a list section (``boundary_conditions``,
    ``vessels``, ``junctions``): its keys checked against ``allowed``, its ``name_key`` a non-empty
    name that no earlier block of the section has; ``where`` locates the block in messages."""
    seen: set[str] = set()
    for i, rb in enumerate(raw):
        where = f"{section}[{i}]"
        d = _check_keys(where, rb, allowed)
        name, where = _block_name(where, d, name_key, seen)
        seen.add(name)
        yield name, where, d


def _parse_bcs(raw: list) -> dict[str, LumpedBC]:
    out: dict[str, LumpedBC] = {}
    for name, w, d in _named_blocks("boundary_conditions", raw, {"bc_name", "bc_type", "bc_values"}, "bc_name"):
        btype = d.get("bc_type")
        if btype not in BC_TYPES:
            hint = (" (an svZeroDSolver block that ffrflow's lumped solver does not model)"
                    if btype in OTHER_SVZEROD_BLOCKS else "")
            raise InvalidInputError(f"{w}.bc_type: unknown boundary-condition type {btype!r}{hint}; supported: "
                                    f"{sorted(BC_TYPES)}")
        names = BC_TYPES[btype][1]
        allowed = set(names) | {"t"} | ({"closed_loop_outlet"} if btype in ("CORONARY", "CORONARY_VAR_RES") else set())
        vals = _check_keys(f"{w}.bc_values", d.get("bc_values", {}), allowed)
        if vals.get("closed_loop_outlet"):
            raise InvalidInputError(f"{w}.bc_values.closed_loop_outlet: closed-loop outlets are out of scope")
        t = _series(f"{w}.bc_values.t", vals["t"]) if "t" in vals else None
        params: dict[str, Param] = {}
        for pname in names:
            if pname not in vals:
                if pname in BC_DEFAULTS.get(btype, {}):
                    params[pname] = Param.const(BC_DEFAULTS[btype][pname])
                    continue
                raise InvalidInputError(f"{w}.bc_values.{pname}: missing (required for {btype})")
            v = _series(f"{w}.bc_values.{pname}", vals[pname])
            if v.size > 1:
                if t is None:
                    raise InvalidInputError(f"{w}.bc_values.t: missing (needed by the time series {pname})")
                if t.size != v.size:
                    raise InvalidInputError(f"{w}.bc_values.{pname}: {v.size} values but t has {t.size} times")
                if np.any(np.diff(t) < 0) or t[-1] <= t[0]:
                    raise InvalidInputError(f"{w}.bc_values.t: times must increase")
                params[pname] = Param(v, t.copy())
            else:
                if pname in ("R", "Rp", "Rd", "C", "Ra1", "Ra2", "Rv1", "Ca", "Cc", "Ra2_min", "Ra2_max") and v[0] < 0:
                    raise InvalidInputError(f"{w}.bc_values.{pname}: must be >= 0, got {float(v[0])!r}")
                params[pname] = Param(v)
        if btype == "CORONARY_VAR_RES":
            if params["Ra2_max"].v.min() < params["Ra2_min"].v.max():
                raise InvalidInputError(f"{w}.bc_values.Ra2_max: must be >= Ra2_min")
            for k in ("T_vc", "T_vr"):
                if params[k].v.min() <= 0:
                    raise InvalidInputError(f"{w}.bc_values.{k}: must be > 0, got {float(params[k].v.min())!r}")
        out[name] = LumpedBC(name, btype, params)
    return out


def _parse_vessels(raw: list) -> dict[int, dict]:
    vessels: dict[int, dict] = {}
    for name, w, d in _named_blocks("vessels", raw, VESSEL_KEYS, "vessel_name"):
        if "vessel_id" not in d:
            raise InvalidInputError(f"{w}.vessel_id: missing")
        vid = _num(f"{w}.vessel_id", d["vessel_id"], integer=True)
        if vid in vessels:
            raise InvalidInputError(f"{w}.vessel_id: duplicate id {vid}")
        etype = d.get("zero_d_element_type", "BloodVessel")
        if etype != "BloodVessel":
            raise InvalidInputError(f"{w}.zero_d_element_type: {etype!r} is not supported (ffrflow's lumped solver "
                                    f"models 'BloodVessel')")
        if "zero_d_element_values" not in d:
            raise InvalidInputError(f"{w}.zero_d_element_values: missing")
        vals = _check_keys(f"{w}.zero_d_element_values", d["zero_d_element_values"], VESSEL_VALUE_KEYS)
        if "R_poiseuille" not in vals:
            raise InvalidInputError(f"{w}.zero_d_element_values.R_poiseuille: missing")
        R = _num(f"{w}.zero_d_element_values.R_poiseuille", vals["R_poiseuille"], nonneg=True)
        C = _num(f"{w}.zero_d_element_values.C", vals.get("C", 0.0), nonneg=True)
        L = _num(f"{w}.zero_d_element_values.L", vals.get("L", 0.0), nonneg=True)
        S = _num(f"{w}.zero_d_element_values.stenosis_coefficient", vals.get("stenosis_coefficient", 0.0))
        bcd = _check_keys(f"{w}.boundary_conditions", d.get("boundary_conditions", {}), {"inlet", "outlet"})
        for side in ("inlet", "outlet"):
            if side in bcd and not isinstance(bcd[side], str):
                raise InvalidInputError(f"{w}.boundary_conditions.{side}: expected a boundary-condition name")
        length = d.get("vessel_length")
        if length is not None:
            length = _num(f"{w}.vessel_length", length, nonneg=True)
        vessels[vid] = {"name": name, "where": w, "R": R, "C": C, "L": L, "S": S, "inlet": bcd.get("inlet"),
                        "outlet": bcd.get("outlet"), "length": length, "id": vid}
    return vessels


def _parse_junctions(raw: list, vessels: dict[int, dict]) -> list[dict]:
    by_name = {v["name"]: vid for vid, v in vessels.items()}
    out = []
    for name, w, d in _named_blocks("junctions", raw, JUNCTION_KEYS, "junction_name"):
        jtype = d.get("junction_type", "NORMAL_JUNCTION")
        if jtype not in JUNCTION_TYPES:
            hint = " (an svZeroDSolver block that ffrflow does not model)" if jtype in OTHER_SVZEROD_BLOCKS else ""
            raise InvalidInputError(f"{w}.junction_type: unknown junction type {jtype!r}{hint}; supported: "
                                    f"{list(JUNCTION_TYPES)}")
        ends = {}
        for side in ("inlet", "outlet"):
            # a side lists its vessels by vessel_id (<side>_vessels) or by name (<side>_blocks)
            if f"{side}_vessels" in d:
                key, by_id = f"{side}_vessels", True
            elif f"{side}_blocks" in d:
                key, by_id = f"{side}_blocks", False
            else:
                raise InvalidInputError(f"{w}.{side}_vessels: missing")
            lst = d[key]
            if not isinstance(lst, list) or not lst:
                raise InvalidInputError(f"{w}.{key}: expected a non-empty list of vessel {'ids' if by_id else 'names'}")
            ids = []
            for k, x in enumerate(lst):
                if by_id:
                    vid = _num(f"{w}.{key}[{k}]", x, integer=True)
                    if vid not in vessels:
                        raise InvalidInputError(f"{w}.{key}: no vessel with vessel_id {vid}")
                else:
                    if x not in by_name:
                        raise InvalidInputError(f"{w}.{key}: no vessel named {x!r} (junctions may connect vessels "
                                                f"only)")
                    vid = by_name[x]
                ids.append(vid)
            ends[side] = ids
        if len(ends["inlet"]) != 1:
            raise InvalidInputError(f"{w}.inlet_vessels: {len(ends['inlet'])} inlet vessels; ffrflow's lumped solver "
                                    f"handles junctions with one inlet (tree networks)")
        branch = None
        if jtype == "BloodVesselJunction":
            vals = _check_keys(f"{w}.junction_values", d.get("junction_values", {}), VESSEL_VALUE_KEYS)
            nout = len(ends["outlet"])
            branch = {}
            for key, attr in (("R_poiseuille", "R"), ("L", "L"), ("stenosis_coefficient", "S")):
                lst = vals.get(key, [0.0] * nout)
                if not isinstance(lst, list) or len(lst) != nout:
                    raise InvalidInputError(f"{w}.junction_values.{key}: expected a list of {nout} numbers (one per "
                                            f"outlet vessel)")
                branch[attr] = [_num(f"{w}.junction_values.{key}[{k}]", x, nonneg=(attr != "S"))
                                for k, x in enumerate(lst)]
        elif d.get("junction_values"):
            raise InvalidInputError(f"{w}.junction_values: only a BloodVesselJunction has values")
        out.append({"name": name, "where": w, "type": jtype, "inlet": ends["inlet"][0], "outlets": ends["outlet"],
                    "branch": branch})
    return out


def _build_tree(vessels: dict[int, dict], junctions: list[dict], bcs: dict[str, LumpedBC]) -> list[LumpedElement]:
    up: dict[int, tuple[str, Any]] = {}
    down: dict[int, tuple[str, Any]] = {}
    for vid, v in vessels.items():
        if v["inlet"] is not None:
            if v["inlet"] not in bcs:
                raise InvalidInputError(f"{v['where']}.boundary_conditions.inlet: no boundary condition named "
                                        f"{v['inlet']!r}")
            up[vid] = ("bc", v["inlet"])
        if v["outlet"] is not None:
            if v["outlet"] not in bcs:
                raise InvalidInputError(f"{v['where']}.boundary_conditions.outlet: no boundary condition named "
                                        f"{v['outlet']!r}")
            down[vid] = ("bc", v["outlet"])
    for j in junctions:
        vin = j["inlet"]
        if vin in down:
            raise InvalidInputError(f"{j['where']}.inlet_vessels: the outlet of vessel {vessels[vin]['name']!r} is "
                                    f"already connected to {down[vin][0]} {_label(down[vin])!r}")
        down[vin] = ("junction", j)
        for k, vo in enumerate(j["outlets"]):
            if vo in up:
                raise InvalidInputError(f"{j['where']}.outlet_vessels: the inlet of vessel {vessels[vo]['name']!r} is "
                                        f"already connected to {up[vo][0]} {_label(up[vo])!r}")
            if vo == vin:
                raise InvalidInputError(f"{j['where']}: vessel {vessels[vo]['name']!r} is both inlet and outlet")
            up[vo] = ("junction", (j, k))
    for vid, v in vessels.items():
        if vid not in up:
            raise InvalidInputError(f"{v['where']}: its inlet is connected to nothing (no junction lists it as an "
                                    f"outlet vessel and it has no inlet boundary condition)")
        if vid not in down:
            raise InvalidInputError(f"{v['where']}: its outlet is connected to nothing (no junction lists it as an "
                                    f"inlet vessel and it has no outlet boundary condition)")
    elements: list[LumpedElement] = []
    roots = [vid for vid in vessels if up[vid][0] == "bc"]
    if not roots:
        raise InvalidInputError("vessels: no vessel has an inlet boundary condition (a closed loop?)")
    placed: set[int] = set()
    for r in roots:
        stack: list[tuple[str, Any, int]] = [("vessel", r, -1)]
        while stack:
            kind, obj, parent = stack.pop()
            if kind == "branch":
                j, k = obj
                br = j["branch"]
                vo = j["outlets"][k]
                bel = LumpedElement(f"{j['name']}:{vessels[vo]['name']}", parent, br["R"][k], 0.0, br["L"][k],
                                    br["S"][k], kind="junction")
                elements.append(bel)
                stack.append(("vessel", vo, len(elements) - 1))
                continue
            vid = obj
            if vid in placed:
                raise InvalidInputError(f"{vessels[vid]['where']}: reached twice (the junctions form a loop)")
            placed.add(vid)
            v = vessels[vid]
            el = LumpedElement(v["name"], parent, v["R"], v["C"], v["L"], v["S"], vessel_id=vid, length=v["length"],
                               inlet_bc=up[vid][1] if up[vid][0] == "bc" else None,
                               outlet_bc=down[vid][1] if down[vid][0] == "bc" else None)
            elements.append(el)
            idx = len(elements) - 1
            if down[vid][0] == "junction":
                j = down[vid][1]
                el.junction = j["name"]
                br = j["branch"]
                for k in reversed(range(len(j["outlets"]))):
                    if br is not None and (br["R"][k] != 0 or br["L"][k] != 0 or br["S"][k] != 0):
                        stack.append(("branch", (j, k), idx))
                    else:
                        stack.append(("vessel", j["outlets"][k], idx))
    missing = [vessels[v]["name"] for v in vessels if v not in placed]
    if missing:
        raise InvalidInputError(f"vessels {missing[:5]}: not reachable from an inlet boundary condition (the "
                                f"junctions form a loop)")
    return elements


def _label(x):
    kind, obj = x
    if kind == "bc":
        return obj
    if isinstance(obj, tuple):
        return obj[0]["name"]
    return obj["name"]


def initial_state(model: LumpedModel, ic: Mapping) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The solver's initial state ``(y, ydot, bc_y, bc_ydot)`` (see ``LumpedModel.initial_state``) from
    svZeroDSolver's ``initial_condition`` and ``initial_condition_d`` (``ic["y"]``, ``ic["ydot"]``:
    ``pressure_all``, ``flow_all``, ``pressure:<node>``, ``flow:<node>``, ``pressure_c:<RCR>``,
    ``volume_im:<CORONARY>``; the names as :func:`ffrflow.cfd.lumped.state_slots` gives them)."""
    n, nb = len(model.elements), len(model.bcs)
    y, yd, by, byd = np.zeros((n, 4)), np.zeros((n, 4)), np.zeros(nb), np.zeros(nb)
    names = state_slots(model)
    for which, target_y, target_by in (("y", y, by), ("ydot", yd, byd)):
        d = dict(ic.get(which) or {})
        p_all = d.pop("pressure_all", None) if which == "y" else None
        q_all = d.pop("flow_all", None) if which == "y" else None
        if p_all is not None:
            target_y[:, 0] = target_y[:, 2] = float(p_all)
        if q_all is not None:
            target_y[:, 1] = target_y[:, 3] = float(q_all)
        for key, val in d.items():
            if key.startswith("_"):
                continue
            kind, _, node = key.partition(":")
            if key in names and names[key][0] == "bc":
                target_by[names[key][1]] = float(val)
                continue
            if kind not in ("pressure", "flow") or node not in names:
                raise InvalidInputError(f"initial_condition{'_d' if which == 'ydot' else ''}.{key}: unknown variable "
                                        f"(known: pressure:<node>, flow:<node>, pressure_c:<RCR>, "
                                        f"volume_im:<CORONARY>, pressure_all, flow_all)")
            _, i, base = names[node]
            target_y[i, base + (0 if kind == "pressure" else 1)] = float(val)
    junction_branches_follow(model, y)
    return y, yd, by, byd


# ---------------------------------------------------------------------------------------------- writing
def lumped_to_svzerod(model: LumpedModel) -> dict:
    """The svZeroDSolver JSON document of a lumped model (CGS numbers as stored in the model)."""
    if model.units != "cgs":
        raise InvalidInputError(f"model.units: svZeroDSolver expects CGS, this model is in {model.units!r}")
    s = model.sim
    sim: dict[str, Any] = {"number_of_cardiac_cycles": int(s.number_of_cardiac_cycles),
                           "number_of_time_pts_per_cardiac_cycle": int(s.number_of_time_pts_per_cardiac_cycle)}
    defaults = SimulationParameters()
    for k in ("cardiac_period", "steady_initial", "absolute_tolerance", "maximum_nonlinear_iterations", "rho_infty",
              "output_all_cycles", "output_interval", "output_mean_only", "use_cycle_to_cycle_error",
              "sim_cycle_to_cycle_percent_error"):
        v = getattr(s, k)
        if v is not None and v != getattr(defaults, k):
            sim[k] = v
    for k in ("density", "viscosity", "model_name"):
        if k in model.meta:
            sim[k] = model.meta[k]
    ids: dict[int, int] = {}
    used = {e.vessel_id for e in model.elements if e.kind == "vessel" and e.vessel_id is not None}
    nxt = 0
    for i, e in enumerate(model.elements):
        if e.kind != "vessel":
            continue
        if e.vessel_id is not None:
            ids[i] = int(e.vessel_id)
        else:
            while nxt in used:
                nxt += 1
            ids[i] = nxt
            used.add(nxt)
    vessels = []
    for i, e in enumerate(model.elements):
        if e.kind != "vessel":
            continue
        d: dict[str, Any] = {"vessel_id": ids[i], "vessel_name": e.name}
        if e.length is not None:
            d["vessel_length"] = e.length
        d["zero_d_element_type"] = "BloodVessel"
        d["zero_d_element_values"] = {"R_poiseuille": e.R, "C": e.C, "L": e.L, "stenosis_coefficient": e.S}
        bc = {}
        if e.inlet_bc is not None:
            bc["inlet"] = e.inlet_bc
        if e.outlet_bc is not None:
            bc["outlet"] = e.outlet_bc
        if bc:
            d["boundary_conditions"] = bc
        vessels.append(d)
    ch = model.children()
    junctions = []
    jcount = 0
    for i, e in enumerate(model.elements):
        if e.kind != "vessel" or not ch[i]:
            continue
        outs, vals, bvj = [], {"R_poiseuille": [], "L": [], "stenosis_coefficient": []}, False
        for k in ch[i]:
            ek = model.elements[k]
            if ek.kind == "junction":
                bvj = True
                (target,) = ch[k]
                vals["R_poiseuille"].append(ek.R)
                vals["L"].append(ek.L)
                vals["stenosis_coefficient"].append(ek.S)
            else:
                target = k
                for key in vals:
                    vals[key].append(0.0)
            outs.append(ids[target])
        name = e.junction or f"J{jcount}"
        jcount += 1
        j: dict[str, Any] = {"junction_name": name,
                             "junction_type": "BloodVesselJunction" if bvj else "NORMAL_JUNCTION",
                             "inlet_vessels": [ids[i]], "outlet_vessels": outs}
        if bvj:
            j["junction_values"] = vals
        junctions.append(j)
    bcs = []
    for name, bc in model.bcs.items():
        vals: dict[str, Any] = {}
        t = None
        for pname in BC_TYPES[bc.type][1]:
            prm = bc.params[pname]
            if prm.t is not None and prm.v.size > 1:
                if t is not None and (t.size != prm.t.size or np.any(t != prm.t)):
                    raise InvalidInputError(f"boundary condition {name!r}: svZeroDSolver needs one time vector per "
                                            f"block, {pname} has another")
                t = prm.t
                vals[pname] = [float(x) for x in prm.v]
            else:
                vals[pname] = float(prm.v[0])
        if t is not None:
            vals["t"] = [float(x) for x in t]
        bcs.append({"bc_name": name, "bc_type": bc.type, "bc_values": vals})
    doc: dict[str, Any] = {}
    if model.description is not None:
        doc["description"] = model.description
    doc["simulation_parameters"] = sim
    doc["vessels"] = vessels
    if junctions:
        doc["junctions"] = junctions
    doc["boundary_conditions"] = bcs
    return doc


def network_to_svzerod(net, n_cycles: int = 3, pts_per_cycle: int = 101, **kw) -> dict:
    """svZeroDSolver JSON (CGS) of a vessel network: R, C, L, S per vessel, PRESSURE/FLOW inlets,
    RESISTANCE outlets (see :func:`ffrflow.cfd.lumped.network_to_lumped`)."""
    model, rep = network_to_lumped(net, n_cycles=n_cycles, pts_per_cycle=pts_per_cycle, **kw)
    model.description = {
        "description of model": f"exported by ffrflow from a vessel network ({len(model.elements)} vessels); CGS "
                                f"units (cm, g, s; dyn/cm^2, mL/s)",
        "ffrflow": {"R": "exact Poiseuille integral along the centerline radius (+ Young-Tsai viscous term over "
                         "lesions when model.lesion = young-tsai)",
                    "S": "sum of the expansion coefficients of the vessel's lesions: Kt*rho/(2 A0^2)(A0/As-1)^2 "
                         "(poiseuille-kt, young-tsai) or, for the flow-dependent ns-calibrated law, its drop "
                         "beyond Poiseuille at the steady hyperemic flow Q* divided by Q*^2",
                    "C": "linearised Olufsen tube law, k1, k2, k3 = " + str(list(model.meta["olufsen_cgs"])),
                    "L": "rho * integral ds / A", "outlets": "hyperemic outlet resistances, Pd = venous pressure",
                    "notes": rep["notes"]}}
    return lumped_to_svzerod(model)


def read_svzerod_result(path: str | Path) -> dict[str, np.ndarray]:
    """svZeroDSolver's vessel output (``name, time, flow_in, flow_out, pressure_in, pressure_out``) as
    columns, from its CSV or from the JSON its test suite stores (``result_*.json``, pandas' ``to_json``).
    """
    path = Path(path)
    if path.suffix.lower() == ".csv":
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows:
            raise InvalidInputError(f"{path}: empty result")
        cols = {k: [r[k] for r in rows] for k in rows[0]}
    else:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidInputError(f"{path}: cannot read an svZeroDSolver result ({exc})") from None
        if not isinstance(raw, Mapping) or "name" not in raw:
            raise InvalidInputError(f"{path}: expected svZeroDSolver's vessel output with a 'name' column")
        keys = sorted(raw["name"], key=int) if isinstance(raw["name"], Mapping) else None
        cols = {k: ([v[i] for i in keys] if keys is not None else list(v)) for k, v in raw.items()}
    out: dict[str, np.ndarray] = {"name": np.asarray(cols["name"], dtype=object)}
    for k, v in cols.items():
        if k != "name":
            out[k] = np.asarray(v, dtype=np.float64)
    return out


def write_svzerod(obj, path: str | Path, **kw) -> Path:
    """Write a :class:`LumpedModel` or a :class:`~ffrflow.network.VesselNetwork` as svZeroDSolver JSON."""
    doc = network_to_svzerod(obj, **kw) if isinstance(obj, VesselNetwork) else lumped_to_svzerod(obj)
    path = Path(path)
    atomic_write_text(path, json.dumps(doc, indent=2) + "\n")
    return path
