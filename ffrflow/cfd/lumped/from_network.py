"""A vessel network as a lumped model in CGS, and the lumped solve of a network.

:func:`network_to_lumped` builds one element per vessel from the same discretisation as the steady
solver; :func:`solve_lumped_network` solves it and returns the network solvers'
:class:`~ffrflow.cfd.result.Result` in SI units (docs/physics.md §Lumped 0D).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ... import units
from ..boundary import outlet_resistances
from ..elements import OLUFSEN_CGS, inductance_cgs, tube_law_compliance_cgs
from ..result import Result
from ..steady import operating_discretization
from .model import LumpedBC, LumpedElement, LumpedModel, Param, SimulationParameters
from .result import _trapezoid
from .solve import solve_lumped


def network_to_lumped(net, n_cycles: int = 3, pts_per_cycle: int = 101, olufsen=OLUFSEN_CGS,
                      backend: str = "auto", waveform: Any = None) -> tuple[LumpedModel, dict]:
    """A vessel network as a lumped model in CGS (one element per vessel, junctions at branch points).

    Per vessel: ``R`` = the exact Poiseuille integral along the real radius (with the Young–Tsai
    viscous term over lesions when ``model.lesion = "young-tsai"``), ``S`` = the sum of the expansion
    coefficients of its lesions (both as in :func:`ffrflow.cfd.assembly.discretize`; the flow-dependent
    ``ns-calibrated`` coefficients at the steady hyperemic operating point,
    :func:`ffrflow.cfd.steady.operating_discretization`),
    ``C`` from the linearised Olufsen tube law and ``L = ρ∫ds/A`` (:func:`tube_law_compliance_cgs`,
    :func:`inductance_cgs`). Roots: a ``PRESSURE`` inlet at ``boundary.inlet_pressure_mmHg`` (or a
    ``FLOW`` inlet at ``inlet_flow_ml_s``; a list ``inlet_waveform`` gives a periodic pressure);
    outlets: ``RESISTANCE`` with the hyperemic outlet resistance of
    :func:`ffrflow.cfd.boundary.outlet_resistances` and ``Pd`` = the venous pressure.

    Parameters
    ----------
    net : VesselNetwork
    n_cycles, pts_per_cycle : int
        ``simulation_parameters`` of the model (period = 60 / heart rate).
    olufsen : (k1, k2, k3)
        Tube-law constants, CGS.
    waveform : str or list, optional
        Overrides ``boundary.inlet_waveform``; ``"aortic"`` and ``"constant"`` give a constant inlet
        pressure (the shipped aortic shape belongs to the pulsatile solver).

    Returns
    -------
    model : LumpedModel
    report : dict
        The outlet-resistance report, the discretisation, notes.
    """
    disc = operating_discretization(net, backend)
    r_out, report = outlet_resistances(net)
    b = net.boundary
    rho_cgs = net.model.blood_density_kg_m3 * 1e-3
    period = 60.0 / b.heart_rate_bpm
    elements: list[LumpedElement] = []
    bcs: dict[str, LumpedBC] = {}
    index = {vid: i for i, vid in enumerate(disc.vessel_ids)}
    notes = []
    wf = b.inlet_waveform if waveform is None else waveform
    pv_cgs = units.mmhg_to_pa(b.venous_pressure_mmHg) / units.DYN_CM2_TO_PA
    for i, vid in enumerate(disc.vessel_ids):
        v = net.vessels[vid]
        sl = disc.nodes_of(i)
        r_cm = disc.radius_mm[sl] * 0.1
        s_cm = disc.s_mm[sl] * 0.1
        seg = np.diff(s_cm)
        C = float(tube_law_compliance_cgs(r_cm[:-1], r_cm[1:], seg, olufsen).sum())
        L = float(inductance_cgs(r_cm[:-1], r_cm[1:], seg, rho_cgs).sum())
        R = float(disc.R[i]) / units.R_CGS_TO_SI
        S = float(disc.S[i]) / units.S_CGS_TO_SI
        parent = index[v.parent] if v.parent is not None else -1
        el = LumpedElement(vid, parent, R, C, L, S, vessel_id=i, length=float(s_cm[-1]))
        if parent < 0:
            name = f"INLET_{vid}"
            if b.inlet_flow_ml_s is not None:
                q = np.array([b.inlet_flow_ml_s] * 2)
                bcs[name] = LumpedBC(name, "FLOW", {"Q": Param(q, np.array([0.0, period]))})
            elif isinstance(wf, (list, tuple)):
                tw = np.array([p[0] for p in wf], float)
                pw = np.array([p[1] for p in wf], float) * units.MMHG_TO_PA / units.DYN_CM2_TO_PA
                bcs[name] = LumpedBC(name, "PRESSURE", {"P": Param(pw, tw - tw[0])})
                period = float(tw[-1] - tw[0])
            else:
                p = units.mmhg_to_pa(b.inlet_pressure_mmHg) / units.DYN_CM2_TO_PA
                bcs[name] = LumpedBC(name, "PRESSURE", {"P": Param(np.array([p, p]), np.array([0.0, period]))})
                if wf == "aortic":
                    notes.append("inlet_waveform 'aortic': the lumped export uses a constant inlet pressure "
                                 "(boundary.inlet_pressure_mmHg); give a list of [t_s, p_mmHg] for a waveform")
            el.inlet_bc = name
        if vid in r_out:
            name = f"OUTLET_{vid}"
            bcs[name] = LumpedBC(name, "RESISTANCE", {"R": Param.const(r_out[vid] / units.R_CGS_TO_SI),
                                                      "Pd": Param.const(pv_cgs)})
            el.outlet_bc = name
        elements.append(el)
    for i, el in enumerate(elements):
        if any(e.parent == i for e in elements):
            el.junction = f"J_{el.name}"
    # periodic inlet tables must share the model period
    for bc in bcs.values():
        for prm in bc.params.values():
            if prm.t is not None and prm.v.size == 2 and prm.t[-1] != period and bc.type in ("PRESSURE", "FLOW"):
                prm.t = np.array([0.0, period])
    sim = SimulationParameters(number_of_cardiac_cycles=int(n_cycles),
                               number_of_time_pts_per_cardiac_cycle=int(pts_per_cycle))
    model = LumpedModel(elements, bcs, sim, units="cgs", name=str(net.meta.get("name", "network")),
                        description=f"exported by ffrflow from a vessel network ({len(elements)} vessels)",
                        meta={"source": net.meta.get("source"), "olufsen_cgs": list(olufsen),
                              "blood_density_g_cm3": rho_cgs,
                              "blood_viscosity_poise": net.model.blood_viscosity_pa_s * 10.0})
    return model.validate(), {"boundary": report, "disc": disc, "notes": notes, "r_out": r_out}


def solve_lumped_network(net, backend: str = "auto", n_cycles: int = 3, pts_per_cycle: int = 101,
                         waveform: Any = None, **kw):
    """Solve a vessel network with the lumped solver; returns a :class:`~ffrflow.cfd.result.Result`.

    Node pressures are the time means over the last cycle: at each vessel's inlet, and along it
    ``P = P̄_in − R_cum·Q̄ − S_cum·mean(Q|Q|)`` (exact for a steady inlet, where the lumped and the
    steady solvers solve the same equations). The waveforms of the last cycle are attached as
    ``result.waveforms`` (per vessel: time, pressure and flow at both ends, SI) and the lumped result
    as ``result.lumped``.
    """
    t0 = time.perf_counter()
    model, rep = network_to_lumped(net, n_cycles=n_cycles, pts_per_cycle=pts_per_cycle, backend=backend,
                                   waveform=waveform)
    lres = solve_lumped(model, backend=backend, output="last", **kw)
    disc = rep["disc"]
    y = lres.y  # (nt, n, 4) CGS
    tt = lres.time
    span = tt[-1] - tt[0]

    def tmean(a):
        return _trapezoid(a, tt, axis=0) / span if span > 0 else a.mean(axis=0)

    p_cgs = units.DYN_CM2_TO_PA
    q_cgs = units.ML_S_TO_M3_S
    pin = tmean(y[:, :, 0]) * p_cgs
    qin = tmean(y[:, :, 1]) * q_cgs
    pout = tmean(y[:, :, 2]) * p_cgs
    qq = tmean(y[:, :, 1] * np.abs(y[:, :, 1])) * q_cgs * q_cgs
    nv = disc.node_vessel
    P = pin[nv] - disc.R_cum * qin[nv] - disc.S_cum * qq[nv]
    res = Result(network=net, disc=disc, pressure_pa=P, flow_m3_s=qin, p_up_pa=pin, p_down_pa=pout,
                 backend=lres.backend, solver="lumped", iterations=lres.newton_iterations,
                 residual=float(model.sim.absolute_tolerance), converged=lres.converged,
                 boundary_report=rep["boundary"], outlet_resistance_pa_s_m3=rep["r_out"],
                 timings_s={"lumped": time.perf_counter() - t0}, notes=list(rep["notes"]))
    res.waveforms = {vid: {"time_s": tt, "pressure_in_pa": y[:, i, 0] * p_cgs, "flow_in_m3_s": y[:, i, 1] * q_cgs,
                           "pressure_out_pa": y[:, i, 2] * p_cgs, "flow_out_m3_s": y[:, i, 3] * q_cgs}
                     for i, vid in enumerate(disc.vessel_ids)}
    res.lumped = lres
    return res
