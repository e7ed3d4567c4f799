"""Pulsatile 1D blood flow (docs/physics.md §Pulsatile 1D): area–flow equations on every vessel,
lumped lesions, characteristic coupling at junctions, an aortic pressure waveform at the roots and
coronary lumped-parameter outlets; cycles are run until periodic and FFR comes from cycle means.

Equations (per 1D piece, SI)::

    ∂A/∂t + ∂Q/∂x = 0
    ∂Q/∂t + ∂(α Q²/A)/∂x + (A/ρ) ∂P/∂x = −K_R Q/A,   α = (ζ+2)/(ζ+1), K_R = 2π(ζ+2)μ/ρ
    P = P0 + β (1 − √(A0/A)),   β = (4/3)(k1 exp(k2 r0) + k3)          (Olufsen tube law)

ζ = 2 (Poiseuille profile: α = 4/3, K_R = 8πμ/ρ) so that under a constant inlet the 1D model loses
what the steady model loses. P0 is the pressure at which the lumen has its imaged radius (default
the mean aortic pressure).

Discretisation: each vessel is cut at its lesions into 1D *pieces* (cells ≤ ``model.max_cell_mm``),
advanced by the Richtmyer two-step Lax–Wendroff scheme (second order, CFL-limited time step) with
the pressure gradient in non-conservative form (exactly well balanced at rest over a varying A0)
and the mass equation in flux form (mass conserved to round-off). Lesions are lumped Young–Tsai
elements between two pieces: ΔP = R Q + S Q|Q| + L dQ/dt with R the Poiseuille integral over the
lesion's real radius (or the K_v term of ``model.lesion = "young-tsai"``), S the expansion loss and
L = K_u ρ L_s / A0 (with ``model.lesion = "ns-calibrated"`` R and S are the law's flow-dependent
coefficients at the steady hyperemic operating point, :mod:`ffrflow.cfd.lesion`). Pieces shorter than 4 mm are folded into the neighbouring lesion element.

Coupling nodes (junctions, lesion ends, inlets, outlets) are solved at every half step from the
outgoing characteristic of each port (extrapolated, with the friction source): junctions conserve
mass and share one static pressure; inlets prescribe P(t) (``boundary.inlet_waveform``: the shipped
aortic shape scaled to Pa and the heart rate, ``"constant"``, or ``[[t_s, p_mmHg], ...]``) or a flow;
outlets are Kim et al. coronary models (R_a, C_a, R_am, C_im with P_im(t), R_v; split of the
morphometric hyperemic resistance, see :class:`ffrflow.config.Boundary`), RCR, or the explicit
resistance. The run starts from the steady solution and stops when every outlet's cycle-mean
pressure changes by less than ``model.periodic_tol`` (0.1 %).

All loops are ``pulsatile_advance`` kernels (NumPy reference, Numba, CUDA); this module builds the
flat arrays and maps the results back to the network.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import units
from ..errors import ConvergenceError, InvalidInputError
from ..kernels import get_kernel, resolve_backend
from ..network import VesselNetwork
from .assembly import Discretization, discretize
from .boundary import outlet_resistances
from .result import Result
from .steady import secant_discretization, solve_steady

log = logging.getLogger("ffrflow")

MIN_PIECE_MM = 4.0
_DATA = Path(__file__).resolve().parents[1] / "data" / "waveforms.json"
NODE_JUNCTION, NODE_P_INLET, NODE_Q_INLET, NODE_LPM, NODE_FIXED_P = 0, 1, 2, 3, 4
LPM_CORONARY, LPM_RCR, LPM_RESISTANCE = 0, 1, 2


def default_waveforms() -> dict:
    """The shipped waveform shapes (``ffrflow/data/waveforms.json``)."""
    return json.loads(_DATA.read_text())


def olufsen_beta(r0_m, model) -> np.ndarray:
    """β = (4/3)(k1 exp(k2 r0) + k3), Pa, for lumen radius r0 (m)."""
    r0 = np.asarray(r0_m, dtype=np.float64)
    return (4.0 / 3.0) * (model.wall_k1_pa * np.exp(model.wall_k2_per_m * r0) + model.wall_k3_pa)


@dataclass
class PulsatileModel:
    """Flat arrays of one or more cases for ``pulsatile_advance`` plus what maps them back."""

    arrays: dict
    period_s: float
    cases: list = field(default_factory=list)     # per case: dict with network, disc, maps

    @property
    def n_cells(self) -> int:
        return int(self.arrays["A"].shape[0])


def _series(elems):
    R = sum(e[0] for e in elems)
    S = sum(e[1] for e in elems)
    L = sum(e[2] for e in elems)
    return (R, S, L)


def _vessel_layout(disc: Discretization, i: int, lesion_elems: dict):
    """Split vessel i into pieces (node index ranges) and lumped elements.

    Returns (lead_elem, pieces, elems_after) where pieces = [(ka, kb)] node ranges and
    elems_after[j] is the series element after piece j ((0,0,0) for none); lead_elem precedes the
    first piece (attached at the vessel's start node).
    """
    sl = disc.nodes_of(i)
    a, b = sl.start, sl.stop - 1
    s = disc.s_mm
    les = sorted(lesion_elems.get(i, []), key=lambda x: x[0])
    segs = []  # alternating ("p", ka, kb) / ("e", R, S, L)
    cur = a
    for k0, k1, elem in les:
        segs.append(("p", cur, k0))
        segs.append(("e",) + elem)
        cur = k1
    segs.append(("p", cur, b))
    # fold short pieces into neighbouring elements (their Poiseuille R joins the element)
    pieces = [x for x in segs if x[0] == "p" and s[x[2]] - s[x[1]] >= MIN_PIECE_MM]
    if not pieces:
        # the whole vessel is lesion: one piece over all of it, lesions as S and L only at its end
        S_tot = sum(x[2] for x in segs if x[0] == "e")
        L_tot = sum(x[3] for x in segs if x[0] == "e")
        return (0.0, 0.0, 0.0), [(a, b)], [(0.0, S_tot, L_tot)]
    lead, out, pending = [], [], []
    for x in segs:
        if x[0] == "e":
            pending.append(x[1:])
        elif s[x[2]] - s[x[1]] >= MIN_PIECE_MM:
            if not out:
                lead = pending
            else:
                out[-1][1].extend(pending)
            out.append([(x[1], x[2]), []])
            pending = []
        else:
            pending.append((disc.R_cum[x[2]] - disc.R_cum[x[1]], 0.0, 0.0))
    out[-1][1].extend(pending)
    return _series(lead) if lead else (0.0, 0.0, 0.0), [p for p, _ in out], [_series(e) if e else (0.0, 0.0, 0.0)
                                                                              for _, e in out]


def build_model(networks, backend: str = "numpy", steady_results=None, outlet_models=None,
                inlet=None) -> PulsatileModel:
    """Lay out one or more networks (one case each) for the pulsatile kernel, initialised from
    their steady solutions. All cases must share one heart rate.

    ``outlet_models`` (optional, one dict per case or one for all) gives explicit outlet models in SI,
    e.g. from an svOneDSolver file: ``{vessel: {"type": "coronary", "Ra", "Ram", "Rv" (Pa·s/m³), "Ca",
    "Cim" (m³/Pa), "pv" (Pa), "pim_t_s", "pim_pa"}}``, ``{"type": "rcr", "Rp", "C", "Rd", "pv"}`` or
    ``{"type": "resistance", "R", "pv"}``; their total resistance should equal the network's
    ``boundary.outlets`` entry so that the steady start is consistent. ``inlet`` (optional)
    replaces the inlet waveform by a table: ``{"kind": "flow" | "pressure", "t_s": [...],
    "values": [...] (m³/s or Pa)}`` over one cycle."""
    nets = [networks] if isinstance(networks, VesselNetwork) else list(networks)
    period = _common_period(nets)
    wf = default_waveforms()
    flat = _FlatLayout()
    lv_table = flat.add_table(np.asarray(wf["t"]) * period, np.asarray(wf["lv_pressure_over_aortic_peak"]), period)
    if outlet_models is None or isinstance(outlet_models, dict):
        outlet_models = [outlet_models or {}] * len(nets)
    cases = []
    for ci, net in enumerate(nets):
        explicit_lpm = outlet_models[ci]
        steady = steady_results[ci] if steady_results is not None else solve_steady(net, backend=backend)
        # flow-dependent (ns-calibrated) lesions keep the coefficients of the steady operating point
        disc = secant_discretization(steady) if steady.disc.flow_dependent else discretize(net, backend)
        cases.append(_add_case(flat, ci, net, steady, disc, explicit_lpm, inlet, wf, lv_table, period))
    return PulsatileModel(_pack(flat), period, cases)


def _common_period(nets) -> float:
    """The cardiac period (s) shared by all cases; a batch with several heart rates is refused."""
    hr = {n.boundary.heart_rate_bpm for n in nets}
    if len(hr) != 1:
        raise InvalidInputError(f"boundary.heart_rate_bpm: a pulsatile batch needs one heart rate, got {sorted(hr)}")
    return 60.0 / hr.pop()


class _FlatLayout:
    """The flat kernel arrays of all cases as lists, filled case by case by :func:`build_model` (SI)."""

    def __init__(self):
        self.tables_t, self.tables_v, self.tables_T = [], [], []
        self.A, self.Q, self.A0, self.beta, self.p0 = [], [], [], [], []
        self.piece_cell_off, self.piece_dx, self.piece_case = [0], [], []
        self.node_port_off, self.node_type, self.node_val, self.node_wave, self.node_lpm, self.node_P = \
            [0], [], [], [], [], []
        self.port_piece, self.port_side, self.port_R, self.port_S, self.port_L, self.port_q = [], [], [], [], [], []
        self.lpm = {k: [] for k in ("port", "type", "R2", "R3", "C1", "C2", "pv", "pim_wave", "pim_scale", "P1",
                                    "P2")}
        self.case_piece_off, self.case_node_off, self.case_lpm_off = [0], [0], [0]
        self.rho, self.kr, self.alpha = [], [], []
        self.n_cells_total = 0
        self.nodes_info = []   # the current case's nodes: (label, node index, disc node index for its pressure)

    def add_table(self, t, v, T) -> int:
        """Append a periodic table (t in s over one period T, values in their SI unit); return its index."""
        t, v = np.asarray(t, float), np.asarray(v, float)
        if t.size > 1 and abs(t[-1] - T) <= 1e-9 * max(T, 1.0):
            t, v = t[:-1], v[:-1]   # a closed table [0, T]: the last sample repeats the first
        self.tables_t.append(t)
        self.tables_v.append(v)
        self.tables_T.append(float(T))
        return len(self.tables_t) - 1

    def add_piece(self, ci, n, dx_mm, a0c, bc, pref, A, q_v) -> int:
        """Append one piece of n cells (areas m², β and P0 in Pa, flow m³/s); return its index."""
        self.A0.append(a0c)
        self.beta.append(bc)
        self.p0.append(np.full(n, pref))
        self.A.append(A)
        self.Q.append(np.full(n, q_v))
        self.n_cells_total += n
        self.piece_cell_off.append(self.n_cells_total)
        self.piece_dx.append(dx_mm * 1e-3)
        self.piece_case.append(ci)
        return len(self.piece_dx) - 1

    def add_node(self, typ, ports, val=0.0, wave=-1, lpm_idx=-1, p_init=0.0, disc_node=-1, label="") -> int:
        """Append a coupling node with its ports (piece, side, series element (R, S, L), initial flow);
        return its index."""
        for (pp, side, elem, qinit) in ports:
            self.port_piece.append(pp)
            self.port_side.append(side)
            self.port_R.append(elem[0])
            self.port_S.append(elem[1])
            self.port_L.append(elem[2])
            self.port_q.append(qinit)
        self.node_port_off.append(len(self.port_piece))
        self.node_type.append(typ)
        self.node_val.append(val)
        self.node_wave.append(wave)
        self.node_lpm.append(lpm_idx)
        self.node_P.append(p_init)
        self.nodes_info.append((label, len(self.node_type) - 1, disc_node))
        return len(self.node_type) - 1

    def end_case(self):
        """Close the current case's ranges of pieces, nodes and outlet models."""
        self.case_piece_off.append(len(self.piece_dx))
        self.case_node_off.append(len(self.node_type))
        self.case_lpm_off.append(len(self.lpm["type"]))


def _add_case(flat: _FlatLayout, ci: int, net: VesselNetwork, steady, disc: Discretization, explicit_lpm: dict,
              inlet, wf: dict, lv_table: int, period: float) -> dict:
    """Lay out case ci: its fluid constants, the pieces of every vessel, then inlet, lesion-end,
    junction and outlet nodes; return what maps the case's results back."""
    m, b = net.model, net.boundary
    r_out, rep = outlet_resistances(net)
    zeta = m.velocity_profile_zeta
    flat.rho.append(m.blood_density_kg_m3)
    flat.kr.append(2.0 * math.pi * (zeta + 2.0) * m.blood_viscosity_pa_s / m.blood_density_kg_m3)
    flat.alpha.append((zeta + 2.0) / (zeta + 1.0))
    pref = units.mmhg_to_pa(m.reference_pressure_mmHg if m.reference_pressure_mmHg is not None
                            else b.inlet_pressure_mmHg)
    pv = units.mmhg_to_pa(b.venous_pressure_mmHg)
    lesion_elems = _lesion_elements(disc, m)
    P_nodes = steady.pressure_pa
    first_piece = len(flat.piece_dx)
    vmap = {vid: _add_vessel_pieces(flat, ci, disc, i, lesion_elems, m, P_nodes, pref, steady.flow_m3_s[i])
            for i, vid in enumerate(disc.vessel_ids)}
    flat.nodes_info = nodes_info = []
    sides, _ = net.side_of_roots()
    for i, vid in enumerate(disc.vessel_ids):
        info = vmap[vid]
        sl = disc.nodes_of(i)
        _add_lesion_end_nodes(flat, vid, info, P_nodes)
        if disc.parent[i] < 0:   # roots get an inlet (junctions are made at the parent's end)
            w, typ = _inlet_table(flat, b, inlet, wf, period)
            info["start_node"] = flat.add_node(typ, [(info["piece_ids"][0], 0, info["lead"], -info["flow"])], wave=w,
                                               p_init=P_nodes[sl.start], disc_node=sl.start, label=f"{vid}:inlet")
        kids = net.children(vid)
        if kids:
            _add_junction(flat, vid, info, kids, vmap, sl.stop - 1, P_nodes)
        else:
            R_tot = r_out[vid]
            side = sides[net.root_of(vid)]
            explicit = rep["outlets"][vid]["source"] == "explicit" or b.outlet_model == "resistance"
            given = explicit_lpm.get(vid)
            pv_out = pv if given is None else float(given.get("pv", pv))   # this outlet's own, if it has one
            out = _outlet_model(flat, given, R_tot, explicit, b, rep, vid, side, pv_out, lv_table, period, wf)
            _add_outlet(flat, vid, info, out, sl.stop - 1)
    flat.end_case()
    return {"network": net, "disc": disc, "vmap": vmap, "nodes": nodes_info, "steady": steady,
            "first_piece": first_piece, "outlet_resistance": r_out, "boundary_report": rep}


def _lesion_elements(disc: Discretization, m) -> dict[int, list]:
    """Lumped lesion elements per vessel index: [(k0, k1, (R (Pa·s/m³), S (Pa·s²/m⁶), L (Pa·s²/m³)))]."""
    lesion_elems: dict[int, list] = {}
    for les in disc.lesions:
        i = disc.vessel_ids.index(les["vessel"])
        a0 = math.pi * (les["reference_radius_mm"] * 1e-3) ** 2
        L_in = m.lesion_ku * m.blood_density_kg_m3 * les["length_mm"] * 1e-3 / a0
        R_les = disc.R_cum[les["node_end"]] - disc.R_cum[les["node_start"]]
        lesion_elems.setdefault(i, []).append((les["node_start"], les["node_end"], (R_les, les["s_coefficient"], L_in)))
    return lesion_elems


def _add_vessel_pieces(flat: _FlatLayout, ci: int, disc: Discretization, i: int, lesion_elems: dict, m, P_nodes,
                       pref: float, q_v: float) -> dict:
    """Cut vessel i into pieces of cells (≤ ``model.max_cell_mm``) with the steady pressures (Pa) and
    flow q_v (m³/s) as initial state; return its map entry (pieces, elements, piece ids, flow)."""
    lead, pieces, after = _vessel_layout(disc, i, lesion_elems)
    pids = []
    for (ka, kb) in pieces:
        s_a, s_b = disc.s_mm[ka], disc.s_mm[kb]
        length = s_b - s_a
        n = max(2, int(math.ceil(length / m.max_cell_mm - 1e-9)))
        dx = length / n
        sc = s_a + (np.arange(n) + 0.5) * dx
        sl = slice(ka, kb + 1)
        r_c = np.interp(sc, disc.s_mm[sl], disc.radius_mm[sl]) * 1e-3
        p_c = np.interp(sc, disc.s_mm[sl], P_nodes[sl])
        a0c = math.pi * r_c ** 2
        bc = olufsen_beta(r_c, m)
        x = 1.0 - (p_c - pref) / bc
        pids.append(flat.add_piece(ci, n, dx, a0c, bc, pref, a0c / np.maximum(x, 0.05) ** 2, q_v))
    return {"lead": lead, "pieces": pieces, "after": after, "piece_ids": pids, "flow": q_v}


def _add_lesion_end_nodes(flat: _FlatLayout, vid: str, info: dict, P_nodes):
    """Add the nodes between consecutive pieces of a vessel (after its lesion elements)."""
    pids, q_v = info["piece_ids"], info["flow"]
    info["inner_nodes"] = []
    for j in range(len(pids) - 1):
        kb = info["pieces"][j + 1][0]
        nid = flat.add_node(NODE_JUNCTION, [(pids[j], 1, info["after"][j], q_v),
                                            (pids[j + 1], 0, (0.0, 0.0, 0.0), -q_v)],
                            p_init=P_nodes[kb], disc_node=kb, label=f"{vid}:lesion-end")
        info["inner_nodes"].append(nid)


def _inlet_table(flat: _FlatLayout, b, inlet, wf: dict, period: float) -> tuple[int, int]:
    """The inlet's table and node type: the given ``inlet`` table, a constant flow (m³/s), or a pressure
    (Pa: constant, the shipped aortic shape or ``boundary.inlet_waveform`` pairs)."""
    if inlet is not None:
        tt = np.asarray(inlet["t_s"], float)
        w = flat.add_table(tt - tt[0], np.asarray(inlet["values"], float), period)
        return w, NODE_Q_INLET if inlet["kind"] == "flow" else NODE_P_INLET
    if b.inlet_flow_ml_s is not None:
        return flat.add_table([0.0], [units.ml_s_to_m3_s(b.inlet_flow_ml_s)], period), NODE_Q_INLET
    pa = units.mmhg_to_pa(b.inlet_pressure_mmHg)
    wfm = b.inlet_waveform
    if wfm == "constant":
        w = flat.add_table([0.0], [pa], period)
    elif wfm == "aortic":
        w = flat.add_table(np.asarray(wf["t"]) * period, np.asarray(wf["aortic_pressure_over_mean"]) * pa, period)
    else:
        tt = np.array([x[0] for x in wfm])
        if tt[-1] > period * (1 + 1e-9):
            raise InvalidInputError(f"boundary.inlet_waveform: times must lie in one cycle "
                                    f"[0, {period:.4f}) s at {60 / period:.1f} bpm")
        w = flat.add_table(tt, units.mmhg_to_pa(np.array([x[1] for x in wfm])), period)
    return w, NODE_P_INLET


def _add_junction(flat: _FlatLayout, vid: str, info: dict, kids, vmap: dict, kend: int, P_nodes):
    """Add the junction of vessel vid's last piece with its children's first pieces."""
    q_v = info["flow"]
    ports = [(info["piece_ids"][-1], 1, info["after"][-1], q_v)]
    for kid in kids:
        kinfo = vmap[kid]
        ports.append((kinfo["piece_ids"][0], 0, kinfo["lead"], -kinfo["flow"]))
    nid = flat.add_node(NODE_JUNCTION, ports, p_init=P_nodes[kend], disc_node=kend, label=f"{vid}:junction")
    info["end_node"] = nid
    for kid in kids:
        vmap[kid]["start_node"] = nid


@dataclass
class _Outlet:
    """One outlet's lumped model: resistances Pa·s/m³, compliances m³/Pa, pressures Pa."""

    typ: int
    R1: float
    R2: float
    R3: float
    C1: float
    C2: float
    R_tot: float
    pv: float
    pim_wave: int
    pim_scale: float


def _outlet_model(flat: _FlatLayout, given, R_tot: float, explicit: bool, b, rep: dict, vid: str, side: str,
                  pv: float, lv_table: int, period: float, wf: dict) -> _Outlet:
    """The outlet's model: the given one, its explicit resistance, or the split of its morphometric
    resistance R_tot into a coronary or RCR model (docs/physics.md §Pulsatile 1D)."""
    pim_w, pim_s = lv_table, None
    if given is not None:
        gt = given["type"]
        if gt == "coronary":
            typ, R1, R2, R3, C1, C2 = (LPM_CORONARY, given["Ra"], given["Ram"], given["Rv"], given["Ca"],
                                       given["Cim"])
            if "pim_pa" in given:
                tt = np.asarray(given["pim_t_s"], float)
                pim_w = flat.add_table(tt - tt[0], np.asarray(given["pim_pa"], float), period)
                pim_s = 1.0
        elif gt == "rcr":
            typ, R1, R2, R3, C1, C2 = LPM_RCR, given["Rp"], given["Rd"], 0.0, given["C"], 0.0
        else:
            typ, R1, R2, R3, C1, C2 = LPM_RESISTANCE, given["R"], 0.0, 0.0, 0.0, 0.0
        R_tot = R1 + R2 + R3 if typ != LPM_RCR else R1 + R2
    elif explicit:
        typ, R1, R2, R3, C1, C2 = LPM_RESISTANCE, R_tot, 0.0, 0.0, 0.0, 0.0
    else:
        C_side = b.coronary_compliance_ml_per_mmHg[side] * units.ML_S_TO_M3_S / units.MMHG_TO_PA
        side_flow = rep["side_flow_ml_min"][side]
        C = C_side * rep["outlets"][vid]["rest_flow_ml_min"] / side_flow
        if b.outlet_model == "coronary":
            typ, R1, R2, R3, C1, C2 = LPM_CORONARY, 0.32 * R_tot, 0.52 * R_tot, 0.16 * R_tot, 0.11 * C, 0.89 * C
        else:
            typ, R1, R2, R3, C1, C2 = LPM_RCR, 0.1 * R_tot, 0.9 * R_tot, 0.0, C, 0.0
    peak = float(wf["aortic_peak_over_mean"]) * units.mmhg_to_pa(b.inlet_pressure_mmHg)
    if pim_s is None:
        pim_s = b.intramyocardial_pressure_scale[side] * peak
    return _Outlet(typ, R1, R2, R3, C1, C2, R_tot, pv, pim_w, pim_s)


def _add_outlet(flat: _FlatLayout, vid: str, info: dict, out: _Outlet, kend: int):
    """Add vessel vid's outlet node (a fixed pressure for a resistance, else a lumped model) and its
    model's row, its states consistent with the steady flow."""
    q_v = info["flow"]
    elem = info["after"][-1]
    port = [(info["piece_ids"][-1], 1, (elem[0] + out.R1, elem[1], elem[2]), q_v)]
    lpm = flat.lpm
    lpm_idx = len(lpm["type"])
    if out.typ == LPM_RESISTANCE:
        nid = flat.add_node(NODE_FIXED_P, port, val=out.pv, p_init=out.pv, disc_node=kend, label=f"{vid}:outlet")
    else:
        nid = flat.add_node(NODE_LPM, port, lpm_idx=lpm_idx, p_init=0.0, disc_node=kend, label=f"{vid}:outlet")
    # steady-consistent states: P_face − R1 q = P1, P1 − R2 q = P2, P2 − R3 q = Pv
    p_face_out = out.pv + out.R_tot * q_v  # pressure after the lesion element at the outlet face
    P1 = p_face_out - out.R1 * q_v if out.typ != LPM_RESISTANCE else out.pv
    P2 = P1 - out.R2 * q_v if out.typ == LPM_CORONARY else 0.0
    lpm["port"].append(flat.node_port_off[-1] - 1)
    lpm["type"].append(out.typ)
    lpm["R2"].append(out.R2)
    lpm["R3"].append(out.R3)
    lpm["C1"].append(out.C1)
    lpm["C2"].append(out.C2)
    lpm["pv"].append(out.pv)
    lpm["pim_wave"].append(out.pim_wave if out.typ == LPM_CORONARY else -1)
    lpm["pim_scale"].append(out.pim_scale if out.typ == LPM_CORONARY else 0.0)
    lpm["P1"].append(P1)
    lpm["P2"].append(P2 + (lpm["pim_scale"][-1] * 0.0))
    if out.typ != LPM_RESISTANCE:
        flat.node_P[nid] = P1
    info["end_node"] = nid
    info["lpm"] = lpm_idx


def _face_states(A_flat: np.ndarray, Q_flat: np.ndarray, pco: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Initial face areas (m², cell means inside a piece, the end cells' at its ends) and flows (m³/s)."""
    n_pieces = pco.size - 1
    n_faces = int(pco[-1]) + n_pieces
    Af = np.empty(n_faces)
    Qf = np.empty(n_faces)
    for p in range(n_pieces):
        c0, c1 = pco[p], pco[p + 1]
        f0 = c0 + p
        Af[f0:f0 + (c1 - c0) + 1] = np.concatenate([[A_flat[c0]], 0.5 * (A_flat[c0:c1 - 1] + A_flat[c0 + 1:c1]),
                                                      [A_flat[c1 - 1]]])
        Qf[f0:f0 + (c1 - c0) + 1] = Q_flat[c0]
    return Af, Qf


def _pack(flat: _FlatLayout) -> dict:
    """The kernel's arrays (:data:`KERNEL_ARGS`) from the accumulated lists."""
    wave_off = np.concatenate([[0], np.cumsum([len(t) for t in flat.tables_t])]).astype(np.int64)
    i64 = lambda x: np.asarray(x, dtype=np.int64)  # noqa: E731
    f64 = lambda x: np.asarray(x, dtype=np.float64)  # noqa: E731
    A_flat = np.concatenate(flat.A)
    Q_flat = np.concatenate(flat.Q)
    pco = i64(flat.piece_cell_off)
    Af, Qf = _face_states(A_flat, Q_flat, pco)
    lpm = flat.lpm
    return dict(
        case_piece_off=i64(flat.case_piece_off), case_node_off=i64(flat.case_node_off),
        case_lpm_off=i64(flat.case_lpm_off),
        piece_cell_off=pco, piece_dx=f64(flat.piece_dx), piece_case=i64(flat.piece_case),
        A=A_flat, Q=Q_flat, A0=np.concatenate(flat.A0), beta=np.concatenate(flat.beta), p0=np.concatenate(flat.p0),
        rho=f64(flat.rho), kr=f64(flat.kr), alpha=f64(flat.alpha), Af=Af, Qf=Qf,
        node_port_off=i64(flat.node_port_off), node_type=i64(flat.node_type), node_val=f64(flat.node_val),
        node_wave=i64(flat.node_wave), node_lpm=i64(flat.node_lpm), node_P=f64(flat.node_P),
        port_piece=i64(flat.port_piece), port_side=i64(flat.port_side), port_R=f64(flat.port_R),
        port_S=f64(flat.port_S), port_L=f64(flat.port_L), port_q=f64(flat.port_q),
        port_W=np.zeros(len(flat.port_piece)),
        lpm_port=i64(lpm["port"]), lpm_type=i64(lpm["type"]), lpm_R2=f64(lpm["R2"]), lpm_R3=f64(lpm["R3"]),
        lpm_C1=f64(lpm["C1"]), lpm_C2=f64(lpm["C2"]), lpm_pv=f64(lpm["pv"]), lpm_pim_wave=i64(lpm["pim_wave"]),
        lpm_pim_scale=f64(lpm["pim_scale"]), lpm_P1=f64(lpm["P1"]), lpm_P2=f64(lpm["P2"]),
        wave_off=wave_off, wave_t=np.concatenate(flat.tables_t), wave_v=np.concatenate(flat.tables_v),
        wave_period=f64(flat.tables_T),
    )


KERNEL_ARGS = ("case_piece_off", "case_node_off", "case_lpm_off", "piece_cell_off", "piece_dx", "piece_case",
               "A", "Q", "A0", "beta", "p0", "rho", "kr", "alpha", "Af", "Qf",
               "node_port_off", "node_type", "node_val", "node_wave", "node_lpm", "node_P",
               "port_piece", "port_side", "port_R", "port_S", "port_L", "port_q", "port_W",
               "lpm_port", "lpm_type", "lpm_R2", "lpm_R3", "lpm_C1", "lpm_C2", "lpm_pv", "lpm_pim_wave",
               "lpm_pim_scale", "lpm_P1", "lpm_P2", "wave_off", "wave_t", "wave_v", "wave_period")


def stable_dt(model: PulsatileModel, cfl: float) -> float:
    """Largest explicit step with Courant number ``cfl``: cfl·min(Δx / (|u| + c)), s."""
    a = model.arrays
    cell_piece = np.repeat(np.arange(a["piece_dx"].size), np.diff(a["piece_cell_off"]))
    rho = a["rho"][a["piece_case"][cell_piece]]
    c = np.sqrt(a["beta"] * np.sqrt(a["A0"]) / (2 * rho)) * a["A"] ** -0.25
    u = np.abs(a["Q"] / a["A"])
    # margin for the systolic peak velocity (up to 2.5× the mean)
    return float(cfl * np.min(a["piece_dx"][cell_piece] / (c + 2.5 * u + 1e-12)))


@dataclass
class PulsatileRun:
    """Raw output of :func:`run_cycles`: cycle means and last-cycle waveforms on the flat arrays."""

    model: PulsatileModel
    dt: float
    steps_per_cycle: int
    cycles: int
    periodic: bool
    change: float
    history: list
    means: dict
    waveforms: dict
    backend: str
    mass: dict


def run_cycles(model: PulsatileModel, backend: str = "auto", tol: float | None = None, max_cycles: int | None = None,
               min_cycles: int = 2, samples_per_cycle: int = 100, cfl: float | None = None,
               steps_per_cycle: int | None = None) -> PulsatileRun:
    """Advance whole cardiac cycles until every outlet's mean pressure is periodic.

    Returns cycle means (cells, nodes, ports) and the last cycle's waveforms. Raises
    :class:`ConvergenceError` if the solution blows up (NaN), naming the cycle.
    """
    backend = resolve_backend(backend)
    net0 = model.cases[0]["network"]
    tol = net0.model.periodic_tol if tol is None else tol
    max_cycles = net0.model.max_cycles if max_cycles is None else max_cycles
    cfl = net0.model.cfl if cfl is None else cfl
    dt_max = stable_dt(model, cfl)
    steps = int(math.ceil(model.period_s / dt_max))
    if steps_per_cycle is not None:
        if steps_per_cycle < steps:
            raise InvalidInputError(f"steps_per_cycle: {steps_per_cycle} is below the stable minimum {steps} "
                                    f"(CFL {cfl})")
        steps = int(steps_per_cycle)
    dt = model.period_s / steps
    every = max(1, steps // samples_per_cycle)
    n_samples = steps // every
    a = model.arrays
    kernel = get_kernel("pulsatile_advance", backend)
    nc, nn, npt = a["A"].size, a["node_type"].size, a["port_piece"].size
    outlet_ports = np.array([a["lpm_port"][j] for j in range(a["lpm_type"].size)], dtype=np.int64)
    inlet_ports = np.array([k for n in range(nn) if a["node_type"][n] in (NODE_P_INLET, NODE_Q_INLET)
                            for k in range(a["node_port_off"][n], a["node_port_off"][n + 1])], dtype=np.int64)
    prev = None
    history = []
    change = float("inf")
    periodic = False
    cycle = 0
    cell_piece = np.repeat(np.arange(a["piece_dx"].size), np.diff(a["piece_cell_off"]))
    dxc = a["piece_dx"][cell_piece]
    for cycle in range(1, max_cycles + 1):
        acc = {k: np.zeros(n) for k, n in (("cell_P", nc), ("cell_Q", nc), ("node_P", nn), ("port_q", npt),
                                           ("port_P", npt))}
        wf = {"cell_P": np.zeros((n_samples, nc)), "cell_Q": np.zeros((n_samples, nc)),
              "node_P": np.zeros((n_samples, nn))}
        vol0 = float(np.sum(a["A"] * dxc))
        kernel(steps, (cycle - 1) * model.period_s, dt, every, *(a[k] for k in KERNEL_ARGS),
               acc["cell_P"], acc["cell_Q"], acc["node_P"], acc["port_q"], acc["port_P"],
               wf["cell_P"], wf["cell_Q"], wf["node_P"])
        if not np.all(np.isfinite(a["A"])) or not np.all(np.isfinite(a["Q"])) or np.any(a["A"] <= 0):
            raise ConvergenceError(f"pulsatile solve became unstable in cycle {cycle} (dt {dt:.3e} s, CFL {cfl}); "
                                   f"lower model.cfl or model.max_cell_mm", iterations=cycle)
        means = {k: v / steps for k, v in acc.items()}
        out_p = means["port_P"][outlet_ports]
        if prev is not None:
            change = float(np.max(np.abs(out_p - prev) / np.abs(prev)))
            history.append(change)
            log.debug("pulsatile cycle %d: max change of outlet mean pressure %.2e", cycle, change)
            if change < tol and cycle >= min_cycles:
                periodic = True
                break
        prev = out_p
    vol1 = float(np.sum(a["A"] * dxc))
    q_in = float(-means["port_q"][inlet_ports].sum() * steps * dt)   # volume in over the last cycle
    q_out = float(means["port_q"][outlet_ports].sum() * steps * dt)
    mass = {"inflow_m3": q_in, "outflow_m3": q_out, "volume_change_m3": vol1 - vol0,
            "relative_error": abs(q_in - q_out - (vol1 - vol0)) / max(abs(q_in), 1e-30)}
    t = (np.arange(n_samples) + 1) * every * dt   # time within the last cycle of each sample
    return PulsatileRun(model, dt, steps, cycle, periodic, change, history, means,
                        {"t_s": t, **wf}, backend, mass)


def solve_pulsatile(net: VesselNetwork, backend: str = "auto", raise_on_failure: bool = False,
                    outlet_models: dict | None = None, inlet: dict | None = None, **options) -> Result:
    """Pulsatile 1D solve of one network; FFR from cycle means (see module docstring).

    Parameters
    ----------
    net : VesselNetwork
        With lesions (detected or given), ``boundary`` and ``model`` blocks.
    backend : {"auto", "numpy", "cpu", "cuda"}
    raise_on_failure : bool
        Raise :class:`ConvergenceError` when periodicity is not reached in ``model.max_cycles``.
    outlet_models, inlet : dict, optional
        Explicit outlet models and inlet table (see :func:`build_model`), e.g. from svOneDSolver.

    Returns
    -------
    Result
        ``solver = "pulsatile"``; node pressures and vessel flows are cycle means; ``iterations`` is
        the number of cycles, ``residual`` the last cycle-to-cycle change of the outlet mean
        pressures; ``waveforms`` holds the last cycle at every cell; ``pulsatile`` the run details.
    """
    t0 = time.perf_counter()
    backend = resolve_backend(backend)
    model = build_model(net, backend, outlet_models=outlet_models, inlet=inlet)
    t1 = time.perf_counter()
    run = run_cycles(model, backend, **options)
    t2 = time.perf_counter()
    if not run.periodic and raise_on_failure:
        raise ConvergenceError(f"pulsatile solve not periodic after {run.cycles} cycles (change {run.change:.2e} > "
                               f"{net.model.periodic_tol})", residual=run.change, iterations=run.cycles)
    res = _to_result(run, 0)
    res.timings_s = {"assemble": t1 - t0, "solve": t2 - t1}
    return res


def _piece_profile(run: PulsatileRun, p: int, field_mean: str = "cell_P"):
    a = run.model.arrays
    c0, c1 = a["piece_cell_off"][p], a["piece_cell_off"][p + 1]
    dx = a["piece_dx"][p] * 1e3
    s = (np.arange(c1 - c0) + 0.5) * dx
    return s, run.means[field_mean][c0:c1], c0, c1


def _to_result(run: PulsatileRun, ci: int) -> Result:
    case = run.model.cases[ci]
    net, disc, vmap = case["network"], case["disc"], case["vmap"]
    a = run.model.arrays
    means = run.means
    port_of = {}
    for k in range(a["port_piece"].size):
        port_of[(int(a["port_piece"][k]), int(a["port_side"][k]))] = k
    node_mean = means["node_P"]
    P = np.empty(disc.n_nodes)
    flow = np.empty(disc.n_vessels)
    p_up = np.empty(disc.n_vessels)
    p_down = np.empty(disc.n_vessels)
    waveforms = {}
    for i, vid in enumerate(disc.vessel_ids):
        info = vmap[vid]
        sl = disc.nodes_of(i)
        s_nodes = disc.s_mm[sl]
        xs, ps = [], []
        # vessel start: node pressure (before any leading element)
        xs.append(0.0)
        ps.append(node_mean[info["start_node"]])
        wf_s, wf_cols = [], []
        for j, (p, (ka, kb)) in enumerate(zip(info["piece_ids"], info["pieces"])):
            s_a, s_b = disc.s_mm[ka], disc.s_mm[kb]
            sc, pc, c0, c1 = _piece_profile(run, p)
            pin = means["port_P"][port_of[(p, 0)]]
            pout = means["port_P"][port_of[(p, 1)]]
            if s_a > xs[-1] + 1e-9 or j > 0:
                xs.append(s_a)
                ps.append(pin)
            else:
                ps[-1] = pin if not any(info["lead"]) else ps[-1]
                if any(info["lead"]):
                    xs.append(s_a + 1e-9)
                    ps.append(pin)
            xs.extend((s_a + sc).tolist())
            ps.extend(pc.tolist())
            xs.append(s_b)
            ps.append(pout)
            if j < len(info["piece_ids"]) - 1:
                nid = info["inner_nodes"][j]
                s_next = disc.s_mm[info["pieces"][j + 1][0]]
                xs.append(s_next if s_next > s_b + 1e-9 else s_b + 1e-9)
                ps.append(node_mean[nid])
            wf_s.append(s_a + sc)
            wf_cols.append(np.arange(c0, c1))
        xs_arr = np.asarray(xs)
        order = np.argsort(xs_arr, kind="stable")
        P[sl] = np.interp(s_nodes, xs_arr[order], np.asarray(ps)[order])
        first_p = info["piece_ids"][0]
        flow[i] = -means["port_q"][port_of[(first_p, 0)]]
        p_up[i] = P[sl.start]
        p_down[i] = P[sl.stop - 1]
        cols = np.concatenate(wf_cols)
        waveforms[vid] = {"t_s": run.waveforms["t_s"], "s_mm": np.concatenate(wf_s),
                          "pressure_mmHg": units.pa_to_mmhg(run.waveforms["cell_P"][:, cols]),
                          "flow_ml_s": units.m3_s_to_ml_s(run.waveforms["cell_Q"][:, cols])}
    # inside lumped lesions the 1D model has no profile: reconstruct it from the element law with the
    # mean flow (the viscous part along the real radius, the expansion loss at the end); where the
    # lesion ends at a coupling node its end takes that node's mean pressure
    for les in disc.lesions:
        i = disc.vessel_ids.index(les["vessel"])
        info = vmap[les["vessel"]]
        k0, k1 = les["node_start"], les["node_end"]
        q = flow[i]
        inner = np.arange(k0 + 1, k1)
        P[inner] = P[k0] - q * (disc.R_cum[inner] - disc.R_cum[k0])
        starts = [ka for ka, _ in info["pieces"]]
        if k1 in starts[1:]:
            P[k1] = node_mean[info["inner_nodes"][starts.index(k1) - 1]]
        elif k1 == disc.node_offsets[i + 1] - 1 and a["node_type"][info["end_node"]] == NODE_JUNCTION:
            P[k1] = node_mean[info["end_node"]]
        elif k1 not in starts:
            P[k1] = P[k0] - q * (disc.R_cum[k1] - disc.R_cum[k0]) - les["s_coefficient"] * q * abs(q)
        p_up[i] = P[disc.node_offsets[i]]
        p_down[i] = P[disc.node_offsets[i + 1] - 1]
    res = Result(network=net, disc=disc, pressure_pa=P, flow_m3_s=flow, p_up_pa=p_up, p_down_pa=p_down,
                 backend=run.backend, solver="pulsatile", iterations=run.cycles, residual=run.change,
                 converged=run.periodic, boundary_report=case["boundary_report"],
                 outlet_resistance_pa_s_m3=case["outlet_resistance"])
    res.waveforms = waveforms
    res.pulsatile = {"dt_s": run.dt, "steps_per_cycle": run.steps_per_cycle, "cycles": run.cycles,
                     "periodic": run.periodic, "last_change": run.change, "history": run.history,
                     "period_s": run.model.period_s, "cells": run.model.n_cells, "mass_balance": run.mass,
                     "outlet_model": net.boundary.outlet_model, "inlet_waveform": net.boundary.inlet_waveform
                     if isinstance(net.boundary.inlet_waveform, str) else "table"}
    if not run.periodic:
        res.notes.append(f"not periodic after {run.cycles} cycles (last change {run.change:.2e})")
    return res
