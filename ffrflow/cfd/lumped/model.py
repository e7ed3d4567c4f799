"""The lumped model: elements, boundary conditions, run parameters, their validation and state layout.

A :class:`LumpedModel` holds what an svZeroDSolver JSON file describes; its numbers are in the unit
system named by ``LumpedModel.units`` (CGS for models read from svZeroDSolver files or built by
:func:`ffrflow.cfd.lumped.from_network.network_to_lumped`). The equations of the blocks are in
:mod:`ffrflow.cfd.lumped` and docs/physics.md §Lumped 0D.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import InvalidInputError

log = logging.getLogger("ffrflow")

#: Boundary-condition types of the lumped solver, their kernel codes and parameter names (in the
#: order of the kernel's parameter slots, svZeroDSolver's JSON names).
BC_TYPES: dict[str, tuple[int, tuple[str, ...]]] = {
    "FLOW": (0, ("Q",)),
    "PRESSURE": (1, ("P",)),
    "RESISTANCE": (2, ("R", "Pd")),
    "RCR": (3, ("Rp", "C", "Rd", "Pd")),
    "CORONARY": (4, ("Ra1", "Ra2", "Rv1", "Ca", "Cc", "Pim", "P_v")),
    "CORONARY_VAR_RES": (5, ("Ra1", "Ra2_min", "Ra2_max", "Rv1", "Ca", "Cc", "Pim", "P_v", "T_vc", "T_vr")),
}
#: Optional BC parameters and their defaults (svZeroDSolver's).
BC_DEFAULTS = {"RCR": {"Pd": 0.0}, "RESISTANCE": {}, "CORONARY": {}, "CORONARY_VAR_RES": {}}
#: Parameters that must be >= 0.
NONNEGATIVE = {"R", "Rp", "Rd", "C", "Ra1", "Ra2", "Rv1", "Ca", "Cc", "Ra2_min", "Ra2_max", "T_vc", "T_vr"}
#: Parameter slots per boundary condition in the kernel's tables (``bc_tab`` columns; the most any type has).
NPAR = 10


@dataclass
class Param:
    """A block parameter: a constant (``t`` is None, ``v`` has one value) or a periodic series."""

    v: np.ndarray
    t: np.ndarray | None = None

    @classmethod
    def const(cls, value: float) -> "Param":
        return cls(np.array([float(value)]))

    @property
    def is_constant(self) -> bool:
        return self.v.size == 1

    @property
    def period(self) -> float | None:
        """Period of a time series (last time − first time), None for a constant."""
        if self.is_constant or self.t is None:
            return None
        return float(self.t[-1] - self.t[0])

    def mean(self) -> float:
        """Arithmetic mean of the samples (what svZeroDSolver uses for the steady initial state)."""
        return float(np.mean(self.v))

    def at(self, t: float) -> float:
        """Value at time ``t`` (periodic linear interpolation, svZeroDSolver's rule)."""
        if self.is_constant:
            return float(self.v[0])
        rt = math.fmod(t, self.period)
        return float(np.interp(rt, self.t, self.v))

    def to_json(self):
        return float(self.v[0]) if self.is_constant and self.t is None else [float(x) for x in self.v]


@dataclass
class LumpedBC:
    """A boundary condition: ``type`` in :data:`BC_TYPES`, parameters by svZeroDSolver name."""

    name: str
    type: str
    params: dict[str, Param]


@dataclass
class LumpedElement:
    """A two-port element: vessel (``kind="vessel"``) or junction branch (``kind="junction"``).

    ``parent`` is the index of the element upstream (−1 at an inlet); ``inlet_bc``/``outlet_bc``
    name the boundary conditions at its ends (an inlet element has an inlet BC, an element without
    children an outlet BC). ``junction`` names the junction at the element's outlet (when it has
    children). R, C, L, S in the model's units.
    """

    name: str
    parent: int
    R: float
    C: float = 0.0
    L: float = 0.0
    S: float = 0.0
    kind: str = "vessel"
    inlet_bc: str | None = None
    outlet_bc: str | None = None
    junction: str | None = None
    vessel_id: int | None = None
    length: float | None = None


@dataclass
class SimulationParameters:
    """svZeroDSolver's ``simulation_parameters`` that the lumped solver honours (same names)."""

    number_of_cardiac_cycles: int = 5
    number_of_time_pts_per_cardiac_cycle: int = 101
    cardiac_period: float | None = None
    steady_initial: bool = True
    absolute_tolerance: float = 1e-8
    maximum_nonlinear_iterations: int = 30
    rho_infty: float = 0.5
    output_all_cycles: bool = False
    output_interval: int = 1
    output_mean_only: bool = False
    use_cycle_to_cycle_error: bool = False
    sim_cycle_to_cycle_percent_error: float = 1.0
    extra: dict = field(default_factory=dict)

    def validate(self, where: str = "simulation_parameters") -> "SimulationParameters":
        if int(self.number_of_cardiac_cycles) < 1:
            raise InvalidInputError(f"{where}.number_of_cardiac_cycles: expected an integer >= 1, "
                                    f"got {self.number_of_cardiac_cycles!r}")
        if int(self.number_of_time_pts_per_cardiac_cycle) < 2:
            raise InvalidInputError(f"{where}.number_of_time_pts_per_cardiac_cycle: expected an integer >= 2, "
                                    f"got {self.number_of_time_pts_per_cardiac_cycle!r}")
        if self.cardiac_period is not None and not (self.cardiac_period > 0 and math.isfinite(self.cardiac_period)):
            raise InvalidInputError(f"{where}.cardiac_period: expected a number > 0, got {self.cardiac_period!r}")
        if not self.absolute_tolerance > 0:
            raise InvalidInputError(f"{where}.absolute_tolerance: expected a number > 0, "
                                    f"got {self.absolute_tolerance!r}")
        if int(self.maximum_nonlinear_iterations) < 1:
            raise InvalidInputError(f"{where}.maximum_nonlinear_iterations: expected an integer >= 1")
        if not 0.0 <= self.rho_infty <= 1.0:
            raise InvalidInputError(f"{where}.rho_infty: expected a value in [0, 1], got {self.rho_infty!r}")
        if int(self.output_interval) < 1:
            raise InvalidInputError(f"{where}.output_interval: expected an integer >= 1")
        if self.use_cycle_to_cycle_error and int(self.number_of_cardiac_cycles) < 2:
            raise InvalidInputError(f"{where}.use_cycle_to_cycle_error: needs number_of_cardiac_cycles >= 2")
        return self


@dataclass
class LumpedModel:
    """One lumped network: elements in topological order, boundary conditions, run parameters.

    Build it with :func:`ffrflow.formats.svzerod.read_svzerod` (svZeroDSolver JSON),
    :func:`network_to_lumped` (a vessel network) or :meth:`single_vessel`, then call
    :meth:`validate` (the readers do).
    """

    elements: list[LumpedElement]
    bcs: dict[str, LumpedBC]
    sim: SimulationParameters = field(default_factory=SimulationParameters)
    units: str = "cgs"
    name: str = "model"
    description: Any = None
    #: Initial state ``(y, ydot, bc_y, bc_ydot)``: element states (n_elements, 4) ``P_in, Q_in, P_out,
    #: Q_out`` and the boundary conditions' internal states (n_bcs,), in the order of ``bcs``; None
    #: is all zeros. :func:`state_slots` names the slots as svZeroDSolver does.
    initial_state: tuple | None = None
    meta: dict = field(default_factory=dict)

    # -------------------------------------------------------------- derived
    @property
    def vessels(self) -> list[int]:
        """Indices of the elements that are vessels (the rows of svZeroDSolver's vessel output)."""
        return [i for i, e in enumerate(self.elements) if e.kind == "vessel"]

    @property
    def vessel_names(self) -> list[str]:
        return [self.elements[i].name for i in self.vessels]

    @property
    def roots(self) -> list[str]:
        """Names of the elements with an inlet boundary condition."""
        return [e.name for e in self.elements if e.inlet_bc is not None]

    @property
    def outlets(self) -> list[str]:
        """Names of the elements with an outlet boundary condition."""
        return [e.name for e in self.elements if e.outlet_bc is not None]

    def children(self) -> list[list[int]]:
        ch: list[list[int]] = [[] for _ in self.elements]
        for i, e in enumerate(self.elements):
            if e.parent >= 0:
                ch[e.parent].append(i)
        return ch

    @property
    def period(self) -> float:
        """Cardiac period, s: ``cardiac_period`` or the period of the time series, else 1 (svZeroDSolver)."""
        p = self._series_period()
        if self.sim.cardiac_period is not None:
            return float(self.sim.cardiac_period)
        return p if p is not None else 1.0

    def _series_period(self) -> float | None:
        per = None
        for bc in self.bcs.values():
            for prm in bc.params.values():
                if prm.period is not None:
                    per = prm.period
        return per

    def has_windkessel(self) -> bool:
        return any(bc.type == "RCR" for bc in self.bcs.values())

    def n_cycles(self) -> int:
        """Cycles to run: as given, or svZeroDSolver's estimate for RCR models with cycle-to-cycle error."""
        s = self.sim
        if s.use_cycle_to_cycle_error and self.has_windkessel():
            tau = max(bc.params["Rd"].mean() * bc.params["C"].mean() for bc in self.bcs.values() if bc.type == "RCR")
            eps = s.sim_cycle_to_cycle_percent_error / 100.0
            return max(1, int(math.ceil(-tau / self.period * math.log(eps))))
        return int(s.number_of_cardiac_cycles)

    # -------------------------------------------------------------- validation
    def validate(self) -> "LumpedModel":
        """Check connectivity, parameter signs and periods. Raises InvalidInputError naming the block."""
        self.sim.validate()
        n = len(self.elements)
        if n == 0:
            raise InvalidInputError("vessels: the model has no vessel")
        ch = self.children()
        used: dict[str, str] = {}
        for i, e in enumerate(self.elements):
            w = f"vessel {e.name!r}" if e.kind == "vessel" else f"junction branch {e.name!r}"
            if not (-1 <= e.parent < i):
                raise InvalidInputError(f"{w}: elements must be in topological order (parent {e.parent})")
            for nm in ("R", "C", "L"):
                x = getattr(e, nm)
                if not math.isfinite(x):
                    raise InvalidInputError(f"{w}.{_VESSEL_KEY[nm]}: expected a finite number, got {x!r}")
                if x < 0:
                    raise InvalidInputError(f"{w}.{_VESSEL_KEY[nm]}: must be >= 0, got {x!r}")
            if not math.isfinite(e.S):
                raise InvalidInputError(f"{w}.stenosis_coefficient: expected a finite number, got {e.S!r}")
            if e.parent < 0 and e.inlet_bc is None:
                raise InvalidInputError(f"{w}: its inlet is connected to nothing (no junction, no inlet boundary "
                                        f"condition)")
            if e.parent >= 0 and e.inlet_bc is not None:
                raise InvalidInputError(f"{w}: its inlet is connected to a junction and to boundary condition "
                                        f"{e.inlet_bc!r}")
            if not ch[i] and e.outlet_bc is None:
                raise InvalidInputError(f"{w}: its outlet is connected to nothing (no junction, no outlet boundary "
                                        f"condition)")
            if ch[i] and e.outlet_bc is not None:
                raise InvalidInputError(f"{w}: its outlet is connected to a junction and to boundary condition "
                                        f"{e.outlet_bc!r}")
            for side in ("inlet_bc", "outlet_bc"):
                b = getattr(e, side)
                if b is None:
                    continue
                if b not in self.bcs:
                    raise InvalidInputError(f"{w}.boundary_conditions.{side[:-3]}: no boundary condition named {b!r}")
                if b in used:
                    raise InvalidInputError(f"boundary condition {b!r}: connected twice ({used[b]} and {w})")
                used[b] = w
        for name, bc in self.bcs.items():
            w = f"boundary condition {name!r}"
            if name not in used:
                raise InvalidInputError(f"{w}: not connected to any vessel")
            if bc.type not in BC_TYPES:
                raise InvalidInputError(f"{w}.bc_type: unknown type {bc.type!r}; supported: {sorted(BC_TYPES)}")
            for pname in BC_TYPES[bc.type][1]:
                if pname not in bc.params:
                    raise InvalidInputError(f"{w}.bc_values.{pname}: missing")
                prm = bc.params[pname]
                if not np.all(np.isfinite(prm.v)):
                    raise InvalidInputError(f"{w}.bc_values.{pname}: NaN or infinity")
                if pname in NONNEGATIVE and np.any(prm.v < 0):
                    raise InvalidInputError(f"{w}.bc_values.{pname}: must be >= 0, got {float(np.min(prm.v))!r}")
                if not prm.is_constant:
                    if prm.t is None or prm.t.size != prm.v.size:
                        raise InvalidInputError(f"{w}.bc_values.t: {pname} has {prm.v.size} values but t has "
                                                f"{0 if prm.t is None else prm.t.size}")
                    if np.any(np.diff(prm.t) < 0) or not prm.period > 0:
                        raise InvalidInputError(f"{w}.bc_values.t: times must increase")
        sp = self._series_period()
        for bc in self.bcs.values():
            for pname, prm in bc.params.items():
                if prm.period is not None and sp is not None and abs(prm.period - sp) > 1e-12 * max(1.0, sp):
                    raise InvalidInputError(f"boundary condition {bc.name!r}.bc_values.t: period {prm.period} differs "
                                            f"from the period {sp} of another time series")
        if self.sim.cardiac_period is not None and sp is not None and \
                abs(self.sim.cardiac_period - sp) > 1e-9 * max(1.0, sp):
            raise InvalidInputError(f"simulation_parameters.cardiac_period: {self.sim.cardiac_period} differs from "
                                    f"the period {sp} of the boundary-condition time series")
        for e in self.elements:
            if e.inlet_bc is not None and self.bcs[e.inlet_bc].type in ("RCR", "CORONARY", "CORONARY_VAR_RES"):
                # allowed by the equations, but almost always a mistake
                log.warning("boundary condition %r of type %s is at the inlet of %r", e.inlet_bc,
                            self.bcs[e.inlet_bc].type, e.name)
        return self

    # -------------------------------------------------------------- construction helpers
    @classmethod
    def single_vessel(cls, R: float, C: float = 0.0, L: float = 0.0, S: float = 0.0, inflow: Any = 1.0,
                      outlet: tuple[str, dict] = ("RESISTANCE", {"R": 1.0, "Pd": 0.0}),
                      sim: SimulationParameters | None = None, inlet_type: str = "FLOW") -> "LumpedModel":
        """One vessel between an inlet (FLOW or PRESSURE, constant or ``(t, values)``) and one outlet BC."""
        if isinstance(inflow, tuple):
            pin = Param(np.asarray(inflow[1], float), np.asarray(inflow[0], float))
        else:
            pin = Param(np.array([float(inflow), float(inflow)]), np.array([0.0, 1.0]))
        key = "Q" if inlet_type == "FLOW" else "P"
        otype, ovals = outlet
        oparams = {}
        for k, v in ovals.items():
            oparams[k] = (Param(np.asarray(v[1], float), np.asarray(v[0], float)) if isinstance(v, tuple)
                          else Param.const(v))
        for k, v in BC_DEFAULTS.get(otype, {}).items():
            oparams.setdefault(k, Param.const(v))
        m = cls([LumpedElement("V0", -1, R, C, L, S, inlet_bc="IN", outlet_bc="OUT", vessel_id=0)],
                {"IN": LumpedBC("IN", inlet_type, {key: pin}), "OUT": LumpedBC("OUT", otype, oparams)},
                sim or SimulationParameters(number_of_cardiac_cycles=2, number_of_time_pts_per_cardiac_cycle=5))
        return m.validate()

    def copy(self) -> "LumpedModel":
        return copy.deepcopy(self)

    def __repr__(self) -> str:
        return (f"LumpedModel({self.name!r}, {len(self.vessels)} vessels, {len(self.elements) - len(self.vessels)} "
                f"junction branches, {len(self.bcs)} boundary conditions, units {self.units})")


_VESSEL_KEY = {"R": "R_poiseuille", "C": "C", "L": "L", "S": "stenosis_coefficient"}


def state_slots(model: LumpedModel) -> dict[str, tuple[str, int, int]]:
    """svZeroDSolver's names of a model's state variables and where they live in the solver's state.

    Returns ``{name: (kind, index, base)}``: a node ``"<upstream>:<element>"`` or
    ``"<element>:<downstream>"`` is ``("el", element index, 0 or 2)`` (its pressure at ``base``, its
    flow at ``base + 1`` of the element's ``P_in, Q_in, P_out, Q_out``); ``"pressure_c:<RCR>"`` and
    ``"volume_im:<CORONARY>"`` are ``("bc", boundary-condition index in the order of bcs, 0)``.
    """
    names: dict[str, tuple[str, int, int]] = {}
    for i, e in enumerate(model.elements):
        upstream = e.inlet_bc if e.inlet_bc is not None else None
        if e.parent >= 0:
            p = model.elements[e.parent]
            upstream = p.junction if p.kind == "vessel" else None
        if upstream is not None and e.kind == "vessel":
            names[f"{upstream}:{e.name}"] = ("el", i, 0)
        if e.kind == "junction" and e.parent >= 0:
            names[f"{model.elements[e.parent].junction}:{e.name.split(':', 1)[1]}"] = ("el", i, 0)
        downstream = e.outlet_bc if e.outlet_bc is not None else e.junction
        if downstream is not None and e.kind == "vessel":
            names[f"{e.name}:{downstream}"] = ("el", i, 2)
    bidx = {b: k for k, b in enumerate(model.bcs)}
    for b, bc in model.bcs.items():
        if bc.type == "RCR":
            names[f"pressure_c:{b}"] = ("bc", bidx[b], 0)
        elif bc.type.startswith("CORONARY"):
            names[f"volume_im:{b}"] = ("bc", bidx[b], 0)
    return names


def junction_branches_follow(model: LumpedModel, y: np.ndarray) -> None:
    """Set the state of every junction-branch element from its neighbours (in place): inlet pressure
    from its parent's outlet, flow through it the parent's outlet flow."""
    for i, e in enumerate(model.elements):
        if e.kind == "junction" and e.parent >= 0:
            y[i, 0] = y[e.parent, 2]
            y[i, 1] = y[i, 3] = y[e.parent, 3]

