"""svOneDSolver ``.in`` files: read into a network plus the svOneD-specific data, write from a network.

The format is a list of keyword cards (CGS units: cm, g, s, dyn/cm², mL/s)::

    MODEL name
    NODE id x y z
    JOINT name node inlet_set outlet_set
    JOINTINLET inlet_set n seg_1 ... seg_n           JOINTOUTLET outlet_set n seg_1 ... seg_n
    SEGMENT name id length n_elements in_node out_node in_area out_area inflow material loss
            branch_angle upstream_seg branch_seg bc_type datatable
    DATATABLE name LIST  t0 v0  t1 v1 ...  ENDDATATABLE
    SOLVEROPTIONS dt save_every n_steps quad_points inlet_table inlet_type tol formulation stabilization
    MATERIAL name OLUFSEN|LINEAR density viscosity p_ref exponent k1 k2 k3
    OUTPUT TEXT|VTK [option]

:func:`read_svoned` gives a :class:`~ffrflow.network.VesselNetwork` with one vessel per SEGMENT (ids are
the segment names; the tree from the JOINTs; lengths and end areas honoured: the first point of a
vessel is its parent's last point and the vessel runs its SEGMENT length towards its outlet node;
radius = √(A/π) at each end) and a dict of what a network cannot hold: the material, the inlet
waveform, the outlet boundary conditions with all their parameters, the STENOSIS segments, the
solver options, the original nodes and segments. A STENOSIS segment becomes a lesion over its whole
vessel whose reference radius is the outlet radius of its upstream segment (svOneDSolver's A₀), and
the network's lesion model is then ``"young-tsai"`` (the loss svOneDSolver applies: K_v viscous term +
K_t expansion, which replace the Poiseuille loss over the segment). Boundary block for the steady
solver: ``inlet_pressure_mmHg`` = time mean of a PRESSURE/PRESSURE_WAVE inlet (its waveform as
``inlet_waveform``), ``inlet_flow_ml_s`` = mean of a FLOW inlet; each outlet's total resistance
(RESISTANCE: R; RCR: Rp + Rd; CORONARY: Ra1 + Ra2 + Rv1) as its explicit outlet resistance;
``venous_pressure_mmHg`` = the coronary P_v when all coronary outlets share it.

:func:`write_svoned` writes any network: one SEGMENT per centerline edge (areas at the points, so the
radius profile is kept), one STENOSIS SEGMENT per lesion that loses, at the steady hyperemic operating
point, what the network's own lesion law loses there (the equations are in :func:`network_to_svoned`;
for ``young-tsai`` it is the lesion itself: constant area at the minimal lumen, the upstream segment
ending at the reference area), RESISTANCE outlets with the hyperemic outlet resistances, a
PRESSURE_WAVE inlet (constant at ``inlet_pressure_mmHg`` or the given waveform), an OLUFSEN material
whose reference pressure is the one at which the lumen has its imaged area (``model.reference_pressure_mmHg``,
else the inlet pressure, as in the pulsatile model) and whose velocity-profile exponent is
``model.velocity_profile_zeta`` (svOneDSolver's friction −2πν(n + 2) is the pulsatile model's K_R).
Reading the file back therefore gives the steady solution of the network it came from, whatever its
lesion law. svOneDSolver itself also carries the convective term of the 1D momentum equation
(``model.convective`` in the steady model) and a compliant wall.

Errors name the line, the card and the field (a truncated file, a DATATABLE without ENDDATATABLE, a
segment naming a missing node, material or table, a joint naming a missing segment, a negative or
zero area, ...).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from .. import units
from .._atomic import atomic_write_text
from ..cfd.boundary import outlet_resistances
from ..cfd.elements import OLUFSEN_CGS, young_tsai_expansion, young_tsai_viscous
from ..cfd.steady import solve_steady
from ..errors import InvalidInputError
from ..kernels import get_kernel
from ..network import VesselNetwork, interpolate_along
from ..plausibility import fixed_units

log = logging.getLogger("ffrflow")

__all__ = ["read_svoned", "parse_svoned", "write_svoned", "network_to_svoned", "pulsatile_inputs",
           "svoned_stenosis_drop"]

SEGMENT_FIELDS = ("name", "id", "length", "n_elements", "inlet_node", "outlet_node", "inlet_area", "outlet_area",
                  "inflow", "material", "loss", "branch_angle", "upstream_segment", "branch_segment", "bc_type",
                  "datatable")
SOLVER_FIELDS = ("dt", "save_interval", "n_steps", "quad_points", "inlet_table", "inlet_type", "tolerance",
                 "formulation", "stabilization")
MATERIAL_FIELDS = ("name", "type", "density", "viscosity", "p_ref", "exponent", "k1", "k2", "k3")
LOSS_TYPES = ("NONE", "STENOSIS", "BRANCH_THROUGH_DIVIDING", "BRANCH_SIDE_DIVIDING", "BRANCH_THROUGH_CONVERGING",
              "BRANCH_SIDE_CONVERGING", "BIFURCATION_BRANCH")
BC_TYPES = ("NOBOUND", "PRESSURE", "AREA", "FLOW", "RESISTANCE", "RESISTANCE_TIME", "PRESSURE_WAVE", "WAVE", "RCR",
            "CORONARY", "IMPEDANCE", "PULMONARY")
OUTLET_SUPPORTED = ("RESISTANCE", "RCR", "CORONARY", "PRESSURE")
INLET_SUPPORTED = ("FLOW", "PRESSURE_WAVE", "PRESSURE")
CARDS = ("MODEL", "NODE", "JOINT", "JOINTINLET", "JOINTOUTLET", "SEGMENT", "DATATABLE", "ENDDATATABLE",
         "SOLVEROPTIONS", "MATERIAL", "OUTPUT")


# ---------------------------------------------------------------------------------------------- parsing
def _num(where: str, tok: str, kind=float):
    try:
        v = kind(tok) if kind is float else int(tok)
    except ValueError:
        if kind is int:
            try:
                f = float(tok)
            except ValueError:
                f = None
            if f is not None and f == int(f):
                return int(f)
        raise InvalidInputError(f"{where}: expected {'an integer' if kind is int else 'a number'}, got {tok!r}") \
            from None
    if kind is float and not math.isfinite(v):
        raise InvalidInputError(f"{where}: expected a finite number, got {tok!r}")
    return v


def parse_svoned(text: str, source: str = "<svoned>") -> dict:
    """Parse the cards of an svOneDSolver input into plain dicts (no network yet).

    Returns
    -------
    dict
        ``model``, ``nodes`` {id: [x, y, z] cm}, ``joints`` {name: {node, inlet, outlet}},
        ``joint_sets`` {name: [segment ids]}, ``segments`` [dict per SEGMENT], ``datatables``
        {name: {type, values [[t, v], ...], line}}, ``solver_options``, ``materials`` {name: dict},
        ``output``.
    """
    doc: dict[str, Any] = {"model": None, "nodes": {}, "joints": {}, "joint_sets": {}, "segments": [],
                           "datatables": {}, "solver_options": None, "materials": {}, "output": None}
    lines = text.splitlines()
    i = 0
    n = len(lines)
    while i < n:
        raw = lines[i]
        i += 1
        s = raw.split("#", 1)[0].strip()
        if not s:
            continue
        tok = s.split()
        card = tok[0].upper()
        where = f"{source}:{i}: {tok[0]}"
        named = f"{where} {tok[1]}" if len(tok) > 1 and card in ("SEGMENT", "MATERIAL", "DATATABLE", "JOINT") else where
        if card not in CARDS:
            raise InvalidInputError(f"{where}: unknown card {tok[0]!r}; cards: {', '.join(CARDS)}")
        args = tok[1:]

        def need(k, fields):
            if len(args) < k:
                missing = fields[len(args)] if len(args) < len(fields) else "a field"
                raise InvalidInputError(f"{named}: expected {k} fields, got {len(args)} ({missing} missing; "
                                        f"truncated line?)")

        if card == "MODEL":
            need(1, ("name",))
            doc["model"] = args[0]
        elif card == "NODE":
            need(4, ("id", "x", "y", "z"))
            nid = _num(f"{where} id", args[0], int)
            if nid in doc["nodes"]:
                raise InvalidInputError(f"{where} {nid}: duplicate node id")
            doc["nodes"][nid] = [_num(f"{where} {nid} {c}", args[k + 1]) for k, c in enumerate("xyz")]
        elif card == "JOINT":
            need(4, ("name", "node", "inlet set", "outlet set"))
            if args[0] in doc["joints"]:
                raise InvalidInputError(f"{where} {args[0]}: duplicate joint name")
            doc["joints"][args[0]] = {"node": _num(f"{where} {args[0]} node", args[1], int), "inlet": args[2],
                                      "outlet": args[3], "line": i}
        elif card in ("JOINTINLET", "JOINTOUTLET"):
            need(2, ("name", "number of segments"))
            k = _num(f"{where} {args[0]} number of segments", args[1], int)
            if k < 1 or len(args) < 2 + k:
                raise InvalidInputError(f"{where} {args[0]}: lists {k} segments but gives {max(0, len(args) - 2)} "
                                        f"(truncated line?)")
            doc["joint_sets"][args[0]] = {"segments": [_num(f"{where} {args[0]} segment", a, int)
                                                       for a in args[2:2 + k]], "kind": card, "line": i}
        elif card == "SEGMENT":
            need(16, SEGMENT_FIELDS)
            seg = {"line": i}
            w = f"{where} {args[0]}"
            for k, fname in enumerate(SEGMENT_FIELDS):
                a = args[k]
                if fname in ("id", "n_elements", "inlet_node", "outlet_node", "upstream_segment", "branch_segment"):
                    seg[fname] = _num(f"{w} {fname}", a, int)
                elif fname in ("length", "inlet_area", "outlet_area", "inflow", "branch_angle"):
                    seg[fname] = _num(f"{w} {fname}", a)
                else:
                    seg[fname] = a
            for fname in ("length", "inlet_area", "outlet_area"):
                if seg[fname] <= 0:
                    raise InvalidInputError(f"{w} {fname.replace('_', ' ')}: must be > 0, got {seg[fname]!r}")
            if seg["n_elements"] < 1:
                raise InvalidInputError(f"{w} n_elements: must be >= 1, got {seg['n_elements']}")
            seg["loss"] = seg["loss"].upper()
            seg["bc_type"] = seg["bc_type"].upper()
            if seg["loss"] not in LOSS_TYPES:
                raise InvalidInputError(f"{w} loss type: unknown {seg['loss']!r}; expected one of {LOSS_TYPES}")
            if seg["bc_type"] not in BC_TYPES:
                raise InvalidInputError(f"{w} boundary condition type: unknown {seg['bc_type']!r}; expected one of "
                                        f"{BC_TYPES}")
            doc["segments"].append(seg)
        elif card == "DATATABLE":
            need(2, ("name", "type"))
            name, ttype = args[0], args[1].upper()
            if name in doc["datatables"]:
                raise InvalidInputError(f"{where} {name}: duplicate datatable name")
            start = i
            vals: list[float] = []
            vals_where = f"{where} {name}"
            rest = args[2:]
            for a in rest:
                vals.append(_num(vals_where, a))
            closed = False
            while i < n:
                s2 = lines[i].split("#", 1)[0].strip()
                i += 1
                if not s2:
                    continue
                if s2.split()[0].upper() == "ENDDATATABLE":
                    closed = True
                    break
                if s2.split()[0].upper() in CARDS:
                    raise InvalidInputError(f"{source}:{i}: {s2.split()[0]} inside DATATABLE {name} (started line "
                                            f"{start}): missing ENDDATATABLE")
                for a in s2.split():
                    vals.append(_num(f"{source}:{i}: DATATABLE {name}", a))
            if not closed:
                raise InvalidInputError(f"{source}:{start}: DATATABLE {name} is not closed by ENDDATATABLE (the file "
                                        f"ends at line {n}): truncated file?")
            if ttype == "LIST":
                if len(vals) % 2 or not vals:
                    raise InvalidInputError(f"{source}:{start}: DATATABLE {name}: a LIST needs time/value pairs, got "
                                            f"{len(vals)} numbers")
                pairs = [[vals[k], vals[k + 1]] for k in range(0, len(vals), 2)]
            else:
                pairs = None
            doc["datatables"][name] = {"type": ttype, "values": pairs, "raw": vals, "line": start}
        elif card == "ENDDATATABLE":
            raise InvalidInputError(f"{where}: ENDDATATABLE without a DATATABLE")
        elif card == "SOLVEROPTIONS":
            need(9, SOLVER_FIELDS)
            so = {}
            for k, fname in enumerate(SOLVER_FIELDS):
                a = args[k]
                if fname in ("save_interval", "n_steps", "quad_points", "formulation", "stabilization"):
                    so[fname] = _num(f"{where} {fname}", a, int)
                elif fname in ("dt", "tolerance"):
                    so[fname] = _num(f"{where} {fname}", a)
                else:
                    so[fname] = a
            so["inlet_type"] = so["inlet_type"].upper()
            if so["dt"] <= 0:
                raise InvalidInputError(f"{where} dt: must be > 0, got {so['dt']!r}")
            doc["solver_options"] = so
        elif card == "MATERIAL":
            need(2, MATERIAL_FIELDS)
            mtype = args[1].upper()
            fields = MATERIAL_FIELDS[2:] if mtype == "OLUFSEN" else ("density", "viscosity", "p_ref", "exponent",
                                                                     "parameter_1")
            need(2 + len(fields), MATERIAL_FIELDS[:2] + tuple(fields))
            mat = {"name": args[0], "type": mtype}
            for k, fname in enumerate(fields):
                mat[fname] = _num(f"{where} {args[0]} {fname}", args[2 + k])
            for fname in ("density", "viscosity"):
                if mat[fname] <= 0:
                    raise InvalidInputError(f"{where} {args[0]} {fname}: must be > 0, got {mat[fname]!r}")
            doc["materials"][args[0]] = mat
        elif card == "OUTPUT":
            doc["output"] = args
    return doc


def _check_refs(doc: dict, source: str) -> dict[int, dict]:
    if doc["model"] is None:
        raise InvalidInputError(f"{source}: no MODEL card")
    if not doc["segments"]:
        raise InvalidInputError(f"{source}: no SEGMENT card (truncated file?)")
    if doc["solver_options"] is None:
        raise InvalidInputError(f"{source}: no SOLVEROPTIONS card (truncated file?)")
    if not doc["materials"]:
        raise InvalidInputError(f"{source}: no MATERIAL card (truncated file?)")
    segs: dict[int, dict] = {}
    for s in doc["segments"]:
        w = f"{source}:{s['line']}: SEGMENT {s['name']}"
        if s["id"] in segs:
            raise InvalidInputError(f"{w} id: duplicate segment id {s['id']}")
        segs[s["id"]] = s
        for f in ("inlet_node", "outlet_node"):
            if s[f] not in doc["nodes"]:
                raise InvalidInputError(f"{w} {f.replace('_', ' ')}: no NODE {s[f]}")
        if s["material"] not in doc["materials"]:
            raise InvalidInputError(f"{w} material: no MATERIAL {s['material']!r}")
        if s["bc_type"] != "NOBOUND":
            if s["datatable"] not in doc["datatables"]:
                raise InvalidInputError(f"{w} datatable: no DATATABLE {s['datatable']!r} (for its {s['bc_type']} "
                                        f"boundary condition)")
    so = doc["solver_options"]
    if so["inlet_table"] not in doc["datatables"]:
        raise InvalidInputError(f"{source}: SOLVEROPTIONS inlet datatable: no DATATABLE {so['inlet_table']!r}")
    if so["inlet_type"] not in INLET_SUPPORTED:
        raise InvalidInputError(f"{source}: SOLVEROPTIONS inlet type: {so['inlet_type']!r} is not supported "
                                f"(svOneDSolver accepts {INLET_SUPPORTED[:2]}; PRESSURE is read as a constant "
                                f"pressure)")
    for jn, j in doc["joints"].items():
        w = f"{source}:{j['line']}: JOINT {jn}"
        if j["node"] not in doc["nodes"]:
            raise InvalidInputError(f"{w} node: no NODE {j['node']}")
        for side in ("inlet", "outlet"):
            if j[side] not in doc["joint_sets"]:
                raise InvalidInputError(f"{w} {side} set: no JOINT{side.upper()} {j[side]!r}")
            for sid in doc["joint_sets"][j[side]]["segments"]:
                if sid not in segs:
                    raise InvalidInputError(f"{source}:{doc['joint_sets'][j[side]]['line']}: JOINT{side.upper()} "
                                            f"{j[side]} (joint {jn}): no SEGMENT with id {sid}")
    return segs


def read_svoned(source: str | Path, units_check: bool = True):
    """Read an svOneDSolver ``.in`` file.

    Parameters
    ----------
    source : path
        The input file (CGS).

    Returns
    -------
    network : VesselNetwork
        One vessel per SEGMENT (mm), with lesions for STENOSIS segments and the boundary block
        described in the module docstring; ``meta["units"]`` records the file's unit (cm, CGS by
        the format's definition).
    data : dict
        svOneD-specific data (CGS): ``model``, ``material`` (and ``materials``), ``inlet``
        ({type, table, t_s, values}), ``outlets`` {vessel id: {type, datatable, params...}},
        ``stenoses`` [{vessel, upstream, area_cm2, reference_area_cm2}], ``solver_options``,
        ``segments`` (each SEGMENT card as a dict, with its ``vessel`` id), ``nodes``, ``joints``,
        ``datatables``, ``output``, ``notes``.

    Raises
    ------
    InvalidInputError
        Naming the line, the card and the field.
    """
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise InvalidInputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot read ({exc})") from None
    doc = parse_svoned(text, str(path))
    net, data = _to_network(doc, str(path))
    net.meta.setdefault("source", str(path))
    net.meta["units"] = fixed_units("cm", "an svOneDSolver input (CGS)")
    return net, data


def _to_network(doc: dict, source: str):
    segs = _check_refs(doc, source)
    parent, children, order = _segment_tree(doc, segs, source)
    ids = _vessel_names(segs, order)
    nodes = {k: np.asarray(v, float) for k, v in doc["nodes"].items()}
    end_mm: dict[int, np.ndarray] = {}
    dir_last: dict[int, np.ndarray] = {}
    vessels = [_vessel(segs, s, parent, ids, nodes, end_mm, dir_last, source) for s in order]
    notes: list[str] = []
    boundary, inlet = _inlet_boundary(doc, source)
    outlets = _outlet_boundary(doc, segs, order, children, ids, boundary, notes, source)
    mats = doc["materials"]
    used_mats = sorted({segs[s]["material"] for s in order})
    mat = dict(mats[used_mats[0]])
    if len(used_mats) > 1:
        notes.append(f"segments use {len(used_mats)} materials {used_mats}; the network's blood properties come from "
                     f"{used_mats[0]}")
    model = {"blood_density_kg_m3": mat["density"] * 1000.0, "blood_viscosity_pa_s": mat["viscosity"] * 0.1}
    stenoses = _stenoses(segs, order, parent, ids, notes)
    if stenoses:
        model["lesion"] = "young-tsai"
    net = VesselNetwork.from_dict({"format": "ffrflow-network/1", "units": "mm", "vessels": vessels,
                                   "boundary": boundary, "model": model,
                                   "meta": {"source": source, "format": "svOneDSolver", "model_name": doc["model"]}},
                                  source=source)
    data = _svoned_data(doc, segs, order, ids, mat, inlet, outlets, stenoses, notes)
    for msg in notes:
        log.info("svOneD %s: %s", source, msg)
    return net, data


def _segment_tree(doc: dict, segs: dict[int, dict], source: str):
    """The segment tree from the JOINTs: parent and children of every segment id, and the ids parents
    first (depth first from the one inlet segment); refuses non-trees."""
    parent: dict[int, int] = {}
    for jn, j in doc["joints"].items():
        ins = doc["joint_sets"][j["inlet"]]["segments"]
        outs = doc["joint_sets"][j["outlet"]]["segments"]
        if len(ins) != 1:
            raise InvalidInputError(f"{source}:{j['line']}: JOINT {jn}: {len(ins)} inlet segments; ffrflow handles "
                                    f"trees (one inlet segment per joint)")
        for o in outs:
            if o in parent:
                raise InvalidInputError(f"{source}:{j['line']}: JOINT {jn}: segment {o} already has an upstream joint")
            if o == ins[0]:
                raise InvalidInputError(f"{source}:{j['line']}: JOINT {jn}: segment {o} is its own parent")
            parent[o] = ins[0]
    roots = [sid for sid in segs if sid not in parent]
    if len(roots) != 1:
        names = [segs[s]["name"] for s in roots]
        raise InvalidInputError(f"{source}: {len(roots)} segments without an upstream joint {names[:6]}; an svOneD "
                                f"model has one inlet segment")
    children: dict[int, list[int]] = {}
    for c, p in parent.items():
        children.setdefault(p, []).append(c)
    order = []
    stack = [roots[0]]
    while stack:
        s = stack.pop()
        order.append(s)
        stack.extend(sorted(children.get(s, []), reverse=True))
    if len(order) != len(segs):
        missing = [segs[s]["name"] for s in segs if s not in set(order)]
        raise InvalidInputError(f"{source}: segments {missing[:6]} are not reachable from the inlet segment (the "
                                f"joints form a loop)")
    return parent, children, order


def _vessel_names(segs: dict[int, dict], order: list[int]) -> dict[int, str]:
    """Vessel id of every segment: its name, made unique with ``_<segment id>`` where it repeats."""
    ids: dict[int, str] = {}
    used: set[str] = set()
    for s in order:
        nm = segs[s]["name"]
        if nm in used:
            nm = f"{nm}_{s}"
        used.add(nm)
        ids[s] = nm
    return ids


def _stenosis_upstream(segs: dict[int, dict], s: int, parent: dict[int, int]) -> int | None:
    """The segment whose outlet area is STENOSIS segment s's reference: its upstream segment, else its parent."""
    seg = segs[s]
    return seg["upstream_segment"] if seg["upstream_segment"] in segs and seg["upstream_segment"] != s \
        else parent.get(s)


def _vessel(segs: dict[int, dict], s: int, parent: dict[int, int], ids: dict[int, str], nodes: dict, end_mm: dict,
            dir_last: dict, source: str) -> dict:
    """Segment s as a straight vessel (mm) from its parent's end, its SEGMENT length towards its outlet
    node, radii from its end areas, a lesion over all of it if it is a STENOSIS; records its end point
    and direction in ``end_mm`` and ``dir_last``."""
    seg = segs[s]
    a = nodes[seg["inlet_node"]] * units.CM_TO_MM
    b = nodes[seg["outlet_node"]] * units.CM_TO_MM
    start = end_mm[parent[s]] if s in parent else a
    d = b - a
    nd = float(np.linalg.norm(d))
    if nd > 0:
        d = d / nd
    elif s in parent:
        d = dir_last[parent[s]]
    else:
        d = np.array([0.0, 0.0, 1.0])
    L = seg["length"] * units.CM_TO_MM
    end = start + L * d
    end_mm[s] = end
    dir_last[s] = d
    r0 = math.sqrt(seg["inlet_area"] / math.pi) * units.CM_TO_MM
    r1 = math.sqrt(seg["outlet_area"] / math.pi) * units.CM_TO_MM
    v = {"id": ids[s], "parent": ids[parent[s]] if s in parent else None, "points": [start.tolist(), end.tolist()],
         "radius": [r0, r1]}
    if seg["loss"] == "STENOSIS":
        up = _stenosis_upstream(segs, s, parent)
        if up is None:
            raise InvalidInputError(f"{source}:{seg['line']}: SEGMENT {seg['name']}: a STENOSIS segment needs an "
                                    f"upstream segment (its reference area)")
        a0 = segs[up]["outlet_area"]
        v["lesions"] = [{"start_mm": 0.0, "end_mm": L, "reference_radius_mm":
                         math.sqrt(a0 / math.pi) * units.CM_TO_MM}]
    else:
        v["lesions"] = []
    return v


def _inlet_boundary(doc: dict, source: str) -> tuple[dict, dict]:
    """The boundary block's inlet from the SOLVEROPTIONS inlet table: mean pressure (mmHg) and waveform,
    or mean flow (mL/s), and the heart rate of the table's span; with the inlet's data (CGS)."""
    so = doc["solver_options"]
    tab = doc["datatables"][so["inlet_table"]]
    if tab["values"] is None:
        raise InvalidInputError(f"{source}:{tab['line']}: DATATABLE {so['inlet_table']}: the inlet table must be "
                                f"a LIST")
    tv = np.array(tab["values"], float)
    t_in, v_in = tv[:, 0], tv[:, 1]
    if np.any(np.diff(t_in) < 0):
        raise InvalidInputError(f"{source}:{tab['line']}: DATATABLE {so['inlet_table']}: times must not decrease")
    span = float(t_in[-1] - t_in[0])
    trap = getattr(np, "trapezoid", None) or getattr(np, "trapz")
    mean_in = float(trap(v_in, t_in) / span) if span > 0 else float(v_in[0])
    boundary: dict[str, Any] = {"outlets": {}}
    inlet = {"type": so["inlet_type"], "table": so["inlet_table"], "t_s": t_in.tolist(), "values": v_in.tolist(),
             "mean": mean_in}
    if so["inlet_type"] in ("PRESSURE_WAVE", "PRESSURE"):
        boundary["inlet_pressure_mmHg"] = mean_in / units.MMHG_TO_DYN_CM2
        if t_in.size >= 2 and span > 0 and np.ptp(v_in) > 0:
            boundary["inlet_waveform"] = [[float(t - t_in[0]), float(p / units.MMHG_TO_DYN_CM2)]
                                          for t, p in zip(_dedupe(t_in), _dedupe_vals(t_in, v_in))]
        else:
            boundary["inlet_waveform"] = "constant"
    else:  # FLOW
        boundary["inlet_flow_ml_s"] = mean_in
    if span > 0:
        boundary["heart_rate_bpm"] = 60.0 / span
    return boundary, inlet


def _outlet_boundary(doc: dict, segs: dict[int, dict], order: list[int], children: dict[int, list[int]],
                     ids: dict[int, str], boundary: dict, notes: list[str], source: str) -> dict[str, dict]:
    """Every outlet's boundary condition with its parameters (CGS), by vessel id; its total resistance
    into ``boundary["outlets"]`` (mmHg·s/mL) and a shared coronary P_v into ``venous_pressure_mmHg``."""
    outlets: dict[str, dict] = {}
    pvs = []
    for s in order:
        seg = segs[s]
        vid = ids[s]
        leaf = not children.get(s)
        if seg["bc_type"] == "NOBOUND":
            if leaf:
                raise InvalidInputError(f"{source}:{seg['line']}: SEGMENT {seg['name']} boundary condition type: the "
                                        f"segment is an outlet but has NOBOUND")
            continue
        if not leaf:
            raise InvalidInputError(f"{source}:{seg['line']}: SEGMENT {seg['name']} boundary condition type: "
                                    f"{seg['bc_type']} on a segment that has downstream segments")
        if seg["bc_type"] not in OUTLET_SUPPORTED:
            raise InvalidInputError(f"{source}:{seg['line']}: SEGMENT {seg['name']} boundary condition type: outlet "
                                    f"{seg['bc_type']!r} is not supported (supported: {OUTLET_SUPPORTED})")
        dtab = doc["datatables"][seg["datatable"]]
        w = f"{source}:{dtab['line']}: DATATABLE {seg['datatable']} (outlet of SEGMENT {seg['name']})"
        spec, r_total = _outlet_spec(seg, dtab, w)
        if seg["bc_type"] == "CORONARY":
            pvs.append(spec["P_v"])
        if r_total is not None:
            if r_total <= 0:
                raise InvalidInputError(f"{w}: total resistance must be > 0, got {r_total!r}")
            boundary["outlets"][vid] = {"resistance_mmHg_s_per_ml": r_total / units.MMHG_TO_DYN_CM2}
        else:
            notes.append(f"outlet {vid}: PRESSURE outlet has no resistance; the steady solver uses a morphometric one")
        outlets[vid] = spec
    if pvs:
        if max(pvs) - min(pvs) <= 1e-9 * max(1.0, abs(max(pvs))):
            boundary["venous_pressure_mmHg"] = pvs[0] / units.MMHG_TO_DYN_CM2
        else:
            notes.append("coronary outlets have different P_v; venous_pressure_mmHg left at 0 for the steady solver")
    return outlets


def _outlet_spec(seg: dict, dtab: dict, w: str) -> tuple[dict, float | None]:
    """One outlet's parameters (CGS) from its DATATABLE and its total resistance (dyn·s/cm⁵; None for a
    PRESSURE outlet); ``w`` names the table in errors."""
    vals = [p[1] for p in (dtab["values"] or [])]
    spec: dict[str, Any] = {"type": seg["bc_type"], "datatable": seg["datatable"]}
    if seg["bc_type"] == "RESISTANCE":
        if not vals:
            raise InvalidInputError(f"{w}: empty")
        spec["R"] = vals[0]
        spec["R_t"] = dtab["values"]
        r_total = vals[0]
    elif seg["bc_type"] == "RCR":
        if len(vals) < 3:
            raise InvalidInputError(f"{w}: an RCR table needs Rp, C, Rd, got {len(vals)} values (truncated?)")
        spec.update(Rp=vals[0], C=vals[1], Rd=vals[2])
        r_total = vals[0] + vals[2]
    elif seg["bc_type"] == "CORONARY":
        if len(vals) < 8:
            raise InvalidInputError(f"{w}: a CORONARY table needs Ra1, Ra2, Ca, Cc, Rv1, P_v and at least two "
                                    f"P_lv(t) pairs, got {len(vals)} values (truncated?)")
        names = ("Ra1", "Ra2", "Ca", "Cc", "Rv1", "P_v")
        spec.update({k: vals[j] for j, k in enumerate(names)})
        wave = dtab["values"][6:]
        spec["t_s"] = [p[0] for p in wave]
        spec["P_lv"] = [p[1] for p in wave]
        r_total = spec["Ra1"] + spec["Ra2"] + spec["Rv1"]
    else:  # PRESSURE outlet
        spec["P"] = vals[0] if vals else 0.0
        r_total = None
    for key in ("R", "Rp", "Rd", "C", "Ra1", "Ra2", "Ca", "Cc", "Rv1"):
        if key in spec and spec[key] < 0:
            raise InvalidInputError(f"{w}: {key} must be >= 0, got {spec[key]!r}")
    return spec, r_total


def _stenoses(segs: dict[int, dict], order: list[int], parent: dict[int, int], ids: dict[int, str],
              notes: list[str]) -> list[dict]:
    """The STENOSIS segments with their upstream segment and areas (cm², length cm); a note for every
    other loss type, which ffrflow's solvers do not model."""
    stenoses = []
    for s in order:
        seg = segs[s]
        if seg["loss"] == "STENOSIS":
            up = _stenosis_upstream(segs, s, parent)
            stenoses.append({"vessel": ids[s], "upstream": ids[up], "area_cm2": seg["inlet_area"],
                             "reference_area_cm2": segs[up]["outlet_area"], "length_cm": seg["length"]})
        elif seg["loss"] != "NONE":
            notes.append(f"segment {seg['name']}: loss type {seg['loss']} is not modelled by ffrflow's solvers")
    return stenoses


def _svoned_data(doc: dict, segs: dict[int, dict], order: list[int], ids: dict[int, str], mat: dict, inlet: dict,
                 outlets: dict, stenoses: list, notes: list[str]) -> dict:
    """:func:`read_svoned`'s ``data``: what the network cannot hold, the cards without their line numbers (CGS)."""
    segments = []
    for s in order:
        d = {k: v for k, v in segs[s].items() if k != "line"}
        d["vessel"] = ids[s]
        segments.append(d)
    return {"model": doc["model"], "material": mat, "materials": doc["materials"], "inlet": inlet,
            "outlets": outlets, "stenoses": stenoses, "solver_options": doc["solver_options"], "segments": segments,
            "nodes": {k: list(v) for k, v in doc["nodes"].items()},
            "joints": {k: {kk: vv for kk, vv in j.items() if kk != "line"} for k, j in doc["joints"].items()},
            "joint_sets": {k: j["segments"] for k, j in doc["joint_sets"].items()},
            "datatables": {k: {"type": t["type"], "values": t["values"], "raw": t["raw"]}
                           for k, t in doc["datatables"].items()},
            "output": doc["output"], "notes": notes, "units": "cgs"}


def pulsatile_inputs(data: dict) -> tuple[dict, dict]:
    """The svOneD inlet and outlets of :func:`read_svoned`'s ``data`` in SI, as the pulsatile solver takes
    them (``ffrflow.cfd.pulsatile.solve_pulsatile(net, outlet_models=..., inlet=...)``).

    CORONARY outlets: Ra1 → ``Ra``, Ra2 → ``Ram``, Rv1 → ``Rv``, Ca → ``Ca``, Cc → ``Cim``, P_v → ``pv``,
    and the P_lv(t) table drives the intramyocardial pressure (``pim_t_s``, ``pim_pa``); RCR:
    ``Rp``, ``C``, ``Rd``; RESISTANCE: ``R`` (``pv`` = 0). The inlet table becomes
    ``{"kind": "pressure" | "flow", "t_s", "values"}`` (Pa or m³/s).
    """
    R = units.R_CGS_TO_SI
    C = units.C_CGS_TO_SI
    P = units.DYN_CM2_TO_PA
    outlets: dict[str, dict] = {}
    for vid, o in data["outlets"].items():
        if o["type"] == "CORONARY":
            t = np.asarray(o["t_s"], float)
            keep = np.concatenate([[True], np.diff(t) > 0])
            outlets[vid] = {"type": "coronary", "Ra": o["Ra1"] * R, "Ram": o["Ra2"] * R, "Rv": o["Rv1"] * R,
                            "Ca": o["Ca"] * C, "Cim": o["Cc"] * C, "pv": o["P_v"] * P,
                            "pim_t_s": (t[keep] - t[0]).tolist(), "pim_pa": (np.asarray(o["P_lv"])[keep] * P).tolist()}
        elif o["type"] == "RCR":
            outlets[vid] = {"type": "rcr", "Rp": o["Rp"] * R, "C": o["C"] * C, "Rd": o["Rd"] * R, "pv": 0.0}
        elif o["type"] == "RESISTANCE":
            outlets[vid] = {"type": "resistance", "R": o["R"] * R, "pv": 0.0}
    inl = data["inlet"]
    t = np.asarray(inl["t_s"], float)
    keep = np.concatenate([[True], np.diff(t) > 0])
    if inl["type"] == "FLOW":
        inlet = {"kind": "flow", "t_s": (t[keep] - t[0]).tolist(),
                 "values": (np.asarray(inl["values"])[keep] * units.ML_S_TO_M3_S).tolist()}
    else:
        inlet = {"kind": "pressure", "t_s": (t[keep] - t[0]).tolist(),
                 "values": (np.asarray(inl["values"])[keep] * P).tolist()}
    return outlets, inlet


def _dedupe(t):
    keep = np.concatenate([[True], np.diff(t) > 0])
    return t[keep]


def _dedupe_vals(t, v):
    keep = np.concatenate([[True], np.diff(t) > 0])
    return v[keep]


# ---------------------------------------------------------------------------------------------- writing
#: svOneDSolver's expansion coefficient K_t of a STENOSIS segment (a constant in its
#: ``cvOneDMthSegmentModel::N_MinorLoss``).
SVONED_KT = 1.52
#: Fraction of a lesion's length that becomes the entrance segment (NONE, from the lumen at the lesion's
#: start to its reference area) when the lesion has no segment of its own vessel upstream.
ENTRANCE_FRACTION = 0.1


def _frustum_resistance(r0_mm: float, r1_mm: float, length_mm: float, mu_pa_s: float) -> float:
    """Exact Poiseuille resistance (Pa·s/m³) of a segment whose radius is linear from r0 to r1 (mm)."""
    out = np.zeros(1)
    get_kernel("segment_resistance", "numpy")(np.array([units.mm_to_m(r0_mm)]), np.array([units.mm_to_m(r1_mm)]),
                                              units.mm_to_m(length_mm), mu_pa_s, out)
    return float(out[0])


def svoned_stenosis_drop(q_m3_s: float, ref_radius_m: float, radius_m: float, length_m: float, mu_pa_s: float,
                         rho_kg_m3: float) -> float:
    """Steady pressure drop (Pa) svOneDSolver computes over a STENOSIS segment at the forward flow q (m³/s).

    A transcription of ``cvOneDMthSegmentModel::N_MinorLoss`` (svOneDSolver) for a segment of constant
    radius ``radius_m`` and length ``length_m`` (L) whose upstream segment ends at ``ref_radius_m`` and
    carries the same flow (Q0 = Q1 = Q): with S0, S1 the areas, D0, D1 the diameters, a = S1/S0,
    K_t = 1.52, ν = μ/ρ,

        La = 0.83 L + 1.64 D1,  K_v = 32 La/D0 · a⁻²,  Re0 = D0 Q/(S0 ν),
        func = K_v/Re0 + K_t/2 (1/a − 1)²,  N = 2 func a² · Q/(2L),

    and N replaces the Poiseuille friction −8πν of the momentum equation (S/ρ) ∂P/∂z = −N Q/S, unless
    it is smaller (then the Poiseuille friction stays). Integrated over the constant area S1:
    ΔP = ρ N Q L/S1² = ρ func Q²/S0² (Young & Tsai's K_v μ/(A0 D0) Q + K_t ρ/(2A0²)(A0/A_s − 1)² Q²),
    or 8πμL/S1² · Q when that is larger.
    """
    nu = mu_pa_s / rho_kg_m3
    s0, s1 = math.pi * ref_radius_m ** 2, math.pi * radius_m ** 2
    d0, d1 = 2.0 * ref_radius_m, 2.0 * radius_m
    a = s1 / s0
    la = 0.83 * length_m + 1.64 * d1
    kv = 32.0 * la / d0 / (a * a)
    re0 = d0 * q_m3_s / (s0 * nu)
    func = kv / re0 + SVONED_KT / 2.0 * (1.0 / a - 1.0) ** 2
    n = 2.0 * func * a * a * q_m3_s / (2.0 * length_m)
    n = max(n, 8.0 * math.pi * nu)
    return rho_kg_m3 * n * q_m3_s * length_m / (s1 * s1)


def _equivalent_throat_radius(target_pa: float, q_m3_s: float, ref_radius_m: float, length_m: float,
                              mu_pa_s: float, rho_kg_m3: float) -> float | None:
    """Radius (m) of the STENOSIS segment whose Young–Tsai drop (without svOneD's Poiseuille floor) at the
    flow q is ``target_pa``: the root of a function decreasing from +∞ (radius → 0) to the drop at the
    reference radius; None when the target is not above that (no narrowing loses so little)."""
    from scipy.optimize import brentq

    def excess(r):
        return (young_tsai_viscous(ref_radius_m, r, length_m, mu_pa_s) * q_m3_s
                + young_tsai_expansion(ref_radius_m, r, rho_kg_m3, SVONED_KT) * q_m3_s * q_m3_s - target_pa)

    if excess(ref_radius_m) >= 0.0:
        return None
    lo = 0.5 * ref_radius_m
    while excess(lo) <= 0.0:
        lo *= 0.5
    return float(brentq(excess, lo, ref_radius_m, xtol=1e-15 * ref_radius_m, rtol=4.0 * np.finfo(float).eps,
                        maxiter=200))


def _lesion_operating_points(net, backend: str = "auto") -> dict[tuple[str, int], dict]:
    """Each lesion's flow and pressure drop at the steady hyperemic operating point of ``net``.

    One steady solve with the network's own lesion law (for ``ns-calibrated``, its coefficients at the
    solved flows, i.e. the secant R Q + S' Q|Q| of :func:`ffrflow.cfd.steady.operating_discretization`
    gives the same drop there).

    Returns
    -------
    dict
        ``{(vessel id, index in vessel.lesions): {"q_m3_s", "dp_pa", "reference_radius_mm", "mld_mm",
        "start_mm", "end_mm"}}``; ``dp_pa`` is the drop from the lesion's start to its end (Poiseuille
        along its radius plus the lesion law's terms).
    """
    res = solve_steady(net, backend=backend)
    disc = res.disc
    out: dict[tuple[str, int], dict] = {}
    count: dict[str, int] = {}
    for x in disc.lesions:
        vid = x["vessel"]
        k = count.get(vid, 0)
        count[vid] = k + 1
        k0, k1 = x["node_start"], x["node_end"]
        q = float(res.flow_m3_s[int(disc.node_vessel[k1])])
        dr = float(disc.R_cum[k1] - disc.R_cum[k0])
        ds = float(disc.S_cum[k1] - disc.S_cum[k0])
        out[(vid, k)] = {"q_m3_s": q, "dp_pa": dr * q + ds * q * abs(q),
                         "reference_radius_mm": x["reference_radius_mm"], "mld_mm": x["mld_mm"],
                         "start_mm": x["start_mm"], "end_mm": x["end_mm"]}
    return out


def _lesion_pieces(v, pieces: list[dict], j: int, number: int, op: dict, mu: float, rho: float,
                   model: str) -> list[dict]:
    """The segments that replace lesion piece ``j`` of vessel ``v`` (and the upstream piece's new outlet radius).

    See :func:`network_to_svoned`: a STENOSIS segment of equivalent throat radius, preceded either by the
    vessel's own upstream piece (ending at the reference radius; the change of its Poiseuille resistance is
    added to the drop the STENOSIS must give) or by an entrance segment cut from the lesion's first
    ``ENTRANCE_FRACTION`` of length; a NONE segment of equivalent constant radius when no STENOSIS
    segment loses as little as the lesion.
    """
    p = pieces[j]
    a, bnd = p["a"], p["b"]
    q, dp, r_ref = op["q_m3_s"], op["dp_pa"], op["reference_radius_mm"]
    where = f"lesion {number + 1} of vessel {v.id!r} ({a:.3f}-{bnd:.3f} mm)"
    if not q > 0.0 or not dp > 0.0:
        raise InvalidInputError(f"{where}: flow {units.m3_s_to_ml_s(q):.4g} mL/s and drop "
                                f"{units.pa_to_mmhg(dp):.4g} mmHg at the steady operating point; an svOneD STENOSIS "
                                f"segment needs forward flow and a positive drop (inlet pressure above the venous "
                                f"pressure?)")
    prev = pieces[j - 1] if j > 0 and pieces[j - 1]["loss"] == "NONE" else None
    if prev is not None:
        start = a
        pl = prev["b"] - prev["a"]
        extra = (_frustum_resistance(prev["r"][0], prev["r"][1], pl, mu)
                 - _frustum_resistance(prev["r"][0], r_ref, pl, mu)) * q
    else:
        start = a + ENTRANCE_FRACTION * (bnd - a)
        r_a = float(interpolate_along(v, [a])[1][0])
        extra = -_frustum_resistance(r_a, r_ref, start - a, mu) * q
    length_m = units.mm_to_m(bnd - start)
    r1 = _equivalent_throat_radius(dp + extra, q, units.mm_to_m(r_ref), length_m, mu, rho)
    info = (f"{where}, {model} law: MLD {op['mld_mm']:.4g} mm, reference diameter {2 * r_ref:.4g} mm; "
            f"at the operating flow {units.m3_s_to_ml_s(q):.5g} mL/s it loses {units.pa_to_mmhg(dp):.5g} mmHg")
    if r1 is None:
        length_mm = bnd - a
        r_e = units.m_to_mm((8.0 * mu * units.mm_to_m(length_mm) * q / (math.pi * dp)) ** 0.25)
        log.warning("svOneD export: %s, less than any STENOSIS segment of its length loses at that flow (Young-Tsai's "
                    "viscous term); written as a NONE segment of constant radius %.4g mm with the same Poiseuille drop",
                    where, r_e)
        return [{**p, "loss": "NONE", "r": (r_e, r_e),
                 "note": f"{info}; NONE segment of equivalent radius {r_e:.6g} mm"}]
    r1_mm = units.m_to_mm(r1)
    sv_drop = svoned_stenosis_drop(q, units.mm_to_m(r_ref), r1, length_m, mu, rho)
    if sv_drop > (dp + extra) * (1.0 + 1e-9):
        log.warning("svOneD export: %s: svOneDSolver's Poiseuille floor (8 pi mu L / A_s^2) exceeds the Young-Tsai "
                    "drop of its STENOSIS segment at the operating flow (%.4g > %.4g mmHg); svOneDSolver will lose "
                    "more than ffrflow there", where, units.pa_to_mmhg(sv_drop), units.pa_to_mmhg(dp + extra))
    note = f"{info}; STENOSIS of equivalent throat diameter {2 * r1_mm:.6g} mm (Young-Tsai, K_t = 1.52)"
    out = []
    if prev is not None:
        prev["r"] = (prev["r"][0], r_ref)
    else:
        xyz, _ = interpolate_along(v, [start])
        out.append({"a": a, "b": start, "loss": "NONE", "xyz": (p["xyz"][0], xyz[0]), "r": (r_a, r_ref),
                    "note": f"entrance of the STENOSIS segment of {where} (NONE, to its reference area)"})
        p = {**p, "a": start, "xyz": (xyz[0], p["xyz"][1])}
    out.append({**p, "r": (r1_mm, r1_mm), "note": note})
    return out


def network_to_svoned(net, dt: float = 1e-3, n_cycles: int = 2, save_every: int = 10, olufsen=None,
                      elements_per_cm: float = 50.0, model_name: str | None = None, root: str | None = None,
                      backend: str = "auto") -> str:
    """The svOneDSolver ``.in`` text of a network (CGS; see the module docstring for the mapping).

    Parameters
    ----------
    net : VesselNetwork
    dt : float
        svOneDSolver time step, s.
    n_cycles : int
        Cardiac cycles to run (period = 60 / heart rate).
    save_every : int
        Steps between saves.
    olufsen : (k1, k2, k3), optional
        Olufsen material constants, CGS (default :data:`ffrflow.cfd.elements.OLUFSEN_CGS`).
    elements_per_cm : float
        Finite elements per cm of segment (at least 2 per segment).
    root : str, optional
        The tree to write when the network has several roots (svOneDSolver models have one inlet);
        outlet resistances and the lesions' operating point are still those of the whole network.
    backend : str
        Kernel backend of the steady solve that gives the lesions' operating point.

    Notes
    -----
    **What svOneDSolver does with a STENOSIS segment** (``cvOneDMthSegmentModel::N_MinorLoss``): over
    the segment, of length L and area A_s, the Poiseuille friction of the momentum equation is replaced
    by Young & Tsai's loss, evaluated with the area A0 and the flow Q0 at the last node of its upstream
    segment; for steady forward flow (Q0 = Q) through a segment of constant area it integrates to

        ΔP_sv(Q) = 8πμ (0.83 L + 1.64 D_s)/A_s² · Q + (K_t ρ/2)(1/A_s − 1/A0)² · Q²,   K_t = 1.52,

    (:func:`svoned_stenosis_drop`; svOneDSolver never lets it fall below the Poiseuille drop
    8πμL/A_s² · Q of the segment, and applies no loss when Q ≤ 0). Joints carry the static pressure.

    **What is written.** The lesion's drop at the operating point, ΔP*, is taken from a steady solve of
    the whole network with its own lesion law: Poiseuille along the lesion's radius plus the law's
    terms, at the lesion's flow Q* (for ``ns-calibrated`` this is the drop of the secant R Q + S' Q|Q|
    that the svZeroDSolver export and the pulsatile model use, exact at Q*). The lesion becomes

    * a STENOSIS segment over the lesion, A0 = the lesion's reference area (the upstream segment of
      the same vessel ends there), and A_s the *equivalent throat area*: the root of
      ΔP_sv(Q*; A_s) = ΔP* + (R_up − R_up') Q*, where R_up and R_up' are the Poiseuille resistances of
      the upstream segment with its own outlet radius and ending at the reference radius (ΔP_sv
      decreases monotonically from +∞ to 8πμ(0.83 L + 1.64 D0)/A0² · Q* as A_s grows to A0, so the
      root is unique);
    * when the lesion has no segment of its own vessel upstream (it starts the vessel, or touches the
      lesion before it), its first ``ENTRANCE_FRACTION`` of length becomes a NONE segment from the
      lumen at its start to A0 (svOneDSolver takes A0 and Q0 from the upstream segment, which must
      carry the lesion's flow), and the STENOSIS segment of the rest must give ΔP* − R_entrance Q*;
    * when ΔP* is below what any STENOSIS segment of that length loses at Q* (Young–Tsai's viscous
      term at A_s = A0), a NONE segment of the constant radius whose Poiseuille drop at Q* is ΔP*
      (logged as a warning; the read-back network has no lesion there).

    What is approximate: the match is exact at the operating flow Q* only. Away from it the segment
    follows Young–Tsai's curve through (Q*, ΔP*), whose viscous part is larger and quadratic part
    smaller than the secant's (on the demo case's lesions Young–Tsai's viscous term at any throat area
    that reproduces the secant's expansion coefficient with K_t = 1.52 exceeds the lesion's whole
    linear coefficient, so the two coefficients cannot be matched separately); the equivalent throat
    diameter is not the measured MLD (both are written in a comment above the segment); svOneDSolver's
    areas follow its tube law around the reference pressure, so its own drop at Q* moves with the
    distension of A_s and A0 (the steady model's walls are rigid). A warning is logged when
    svOneDSolver's Poiseuille floor would bind at Q*. For ``young-tsai`` networks (K_t = 1.52) whose
    lesions start where the lumen has its reference radius, the root is the lesion's own minimal area
    and the file is exact at every flow.
    """
    k1, k2, k3 = olufsen or OLUFSEN_CGS
    b = net.boundary
    period = 60.0 / b.heart_rate_bpm
    r_out, _ = outlet_resistances(net)
    roots = net.roots
    if root is None and len(roots) > 1:
        raise InvalidInputError(f"network has {len(roots)} roots {roots}; an svOneDSolver model has one inlet: write "
                                f"one tree per file (root={roots[0]!r}, ...)")
    if root is not None and root not in roots:
        raise InvalidInputError(f"root: {root!r} is not a root of the network (roots: {roots})")
    # the lesions' operating point comes from the whole network (its flows set by every outlet)
    ops = _lesion_operating_points(net, backend) if any(v.lesions for v in net.vessels.values()) else {}
    if root is not None:
        keep = [vid for vid in net.vessels if net.root_of(vid) == root]
        net = net.copy()
        net.vessels = {vid: net.vessels[vid] for vid in keep}
    if b.venous_pressure_mmHg != 0.0:
        log.warning("svOneD export: RESISTANCE outlets have no distal pressure; venous_pressure_mmHg = %g is not "
                    "written (the lesions' operating point is that of the network with it)", b.venous_pressure_mmHg)
    mu_si, rho_si = net.model.blood_viscosity_pa_s, net.model.blood_density_kg_m3
    nodes: list[np.ndarray] = []
    segs: list[dict] = []
    joints: list[tuple[int, int, list[int]]] = []  # (node, inlet seg, outlet segs)
    last_seg: dict[str, int] = {}
    first_seg: dict[str, int] = {}

    def node(p):
        nodes.append(np.asarray(p, float) / units.CM_TO_MM)
        return len(nodes) - 1

    for vid, v in net.vessels.items():
        s = v.arclength_mm
        # break points: every centerline point plus lesion ends
        pieces: list[dict] = []
        les = sorted(enumerate(v.lesions or []), key=lambda t: t[1].start_mm)
        cuts = [0.0]
        kinds: list[int | None] = []
        pos = 0.0
        for k, lz in les:
            if lz.start_mm > pos + 1e-9:
                cuts.append(lz.start_mm)
                kinds.append(None)
            cuts.append(lz.end_mm)
            kinds.append(k)
            pos = lz.end_mm
        if pos < s[-1] - 1e-9:
            cuts.append(float(s[-1]))
            kinds.append(None)
        for (a, bnd), k in zip(zip(cuts[:-1], cuts[1:]), kinds):
            if k is None:
                inner = s[(s > a + 1e-9) & (s < bnd - 1e-9)]
                ss = np.concatenate([[a], inner, [bnd]])
                xyz, rr = interpolate_along(v, ss)
                for j in range(ss.size - 1):
                    pieces.append({"a": float(ss[j]), "b": float(ss[j + 1]), "loss": "NONE",
                                   "xyz": (xyz[j], xyz[j + 1]), "r": (float(rr[j]), float(rr[j + 1]))})
            else:
                xyz, _ = interpolate_along(v, [a, bnd])
                pieces.append({"a": float(a), "b": float(bnd), "loss": "STENOSIS", "lesion": k,
                               "xyz": (xyz[0], xyz[1])})
        written: list[dict] = []
        for j, pc in enumerate(pieces):
            if pc["loss"] == "STENOSIS":
                k = pc["lesion"]
                written.extend(_lesion_pieces(v, pieces, j, k, ops[(vid, k)], mu_si, rho_si, net.model.lesion))
            else:
                written.append(pc)
        prev_seg = None
        for j, pc in enumerate(written):
            n_in = node(pc["xyz"][0])
            n_out = node(pc["xyz"][1])
            L = (pc["b"] - pc["a"]) / units.CM_TO_MM
            sid = len(segs)
            segs.append({"name": f"{vid}~{j}", "id": sid, "length": L,
                         "n_el": max(2, int(math.ceil(L * elements_per_cm))), "in": n_in, "out": n_out,
                         "a_in": math.pi * (pc["r"][0] / units.CM_TO_MM) ** 2,
                         "a_out": math.pi * (pc["r"][1] / units.CM_TO_MM) ** 2,
                         "loss": pc["loss"], "up": prev_seg if prev_seg is not None else -1, "bc": "NOBOUND",
                         "table": "NONE", "vessel": vid, "note": pc.get("note")})
            if prev_seg is not None:
                joints.append((n_in, prev_seg, [sid]))
            else:
                first_seg[vid] = sid
            prev_seg = sid
        last_seg[vid] = prev_seg
    for vid, v in net.vessels.items():
        kids = net.children(vid)
        if kids:
            nd = segs[last_seg[vid]]["out"]
            joints.append((nd, last_seg[vid], [first_seg[k] for k in kids]))
    tables = []
    for vid in net.outlets:
        sid = last_seg[vid]
        segs[sid]["bc"] = "RESISTANCE"
        segs[sid]["table"] = f"OUT_{len(tables)}"
        tables.append((segs[sid]["table"], [[0.0, r_out[vid] / units.R_CGS_TO_SI]]))
    if b.inlet_flow_ml_s is not None:
        inlet_type = "FLOW"
        inlet = [[0.0, b.inlet_flow_ml_s], [period, b.inlet_flow_ml_s]]
    elif isinstance(b.inlet_waveform, (list, tuple)):
        inlet_type = "PRESSURE_WAVE"
        t0 = b.inlet_waveform[0][0]
        inlet = [[t - t0, p * units.MMHG_TO_DYN_CM2] for t, p in b.inlet_waveform]
        period = inlet[-1][0]
    else:
        inlet_type = "PRESSURE_WAVE"
        p = b.inlet_pressure_mmHg * units.MMHG_TO_DYN_CM2
        inlet = [[0.0, p], [period, p]]
    n_steps = int(round(n_cycles * period / dt))
    rho = net.model.blood_density_kg_m3 / 1000.0
    mu = net.model.blood_viscosity_pa_s * 10.0
    # the written areas are the lumen's at the reference pressure (the pulsatile model's P0); svOneD's
    # velocity-profile exponent n gives its friction N = -2 pi nu (n + 2), the pulsatile model's K_R with n = zeta
    p_ref = (net.model.reference_pressure_mmHg if net.model.reference_pressure_mmHg is not None
             else b.inlet_pressure_mmHg) * units.MMHG_TO_DYN_CM2
    zeta = net.model.velocity_profile_zeta
    name = model_name or str(net.meta.get("model_name") or net.meta.get("name") or "ffrflow")
    out = [f"# svOneDSolver input written by ffrflow from a vessel network ({len(net.vessels)} vessels, "
           f"{len(segs)} segments); CGS units",
           "# segments are named <vessel>~<k> (one per centerline edge; a lesion is one STENOSIS segment, see the "
           "comment above it)",
           f"MODEL {name.replace(' ', '_')}", ""]
    for i, p in enumerate(nodes):
        out.append(f"NODE {i} {p[0]:.10g} {p[1]:.10g} {p[2]:.10g}")
    out.append("")
    for k, (nd, sin, souts) in enumerate(joints):
        out += [f"JOINT J{k} {nd} IN{k} OUT{k}", f"JOINTINLET IN{k} 1 {sin}",
                f"JOINTOUTLET OUT{k} {len(souts)} " + " ".join(str(x) for x in souts), ""]
    for sg in segs:
        if sg["note"]:
            out.append(f"# {sg['note']}")
        out.append(f"SEGMENT {sg['name']} {sg['id']} {sg['length']:.10g} {sg['n_el']} {sg['in']} {sg['out']} "
                   f"{sg['a_in']:.10g} {sg['a_out']:.10g} 0.0 MAT1 {sg['loss']} 0.0 {max(sg['up'], 0)} 0 "
                   f"{sg['bc']} {sg['table']}")
    out.append("")
    out.append("DATATABLE INLETDATA LIST")
    out += [f"{t:.10g} {v:.10g}" for t, v in inlet]
    out += ["ENDDATATABLE", ""]
    for nm, vals in tables:
        out.append(f"DATATABLE {nm} LIST")
        out += [f"{t:.10g} {v:.10g}" for t, v in vals]
        out += ["ENDDATATABLE", ""]
    out.append(f"SOLVEROPTIONS {dt:.10g} {save_every} {n_steps} 2 INLETDATA {inlet_type} 1.0e-8 1 1")
    out.append(f"MATERIAL MAT1 OLUFSEN {rho:.10g} {mu:.10g} {p_ref:.10g} {zeta:.10g} {k1:.10g} {k2:.10g} {k3:.10g}")
    out.append("OUTPUT TEXT")
    return "\n".join(out) + "\n"


def write_svoned(net, path: str | Path, **kw) -> Path:
    """Write a network as an svOneDSolver ``.in`` file (atomically); see :func:`network_to_svoned`."""
    path = Path(path)
    atomic_write_text(path, network_to_svoned(net, **kw))
    return path
