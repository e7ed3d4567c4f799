r"""Lumped (0D) network solver compatible with svZeroDSolver: vessels, junctions, open-loop BCs.

A :class:`LumpedModel` is a forest of *elements* (two-port blocks between two nodes; every node
carries a pressure :math:`P` and a flow :math:`Q`) joined at junctions, fed by one inlet boundary
condition per tree and closed by one boundary condition per outlet. It is what an svZeroDSolver
JSON file describes (:mod:`ffrflow.formats.svzerod` reads and writes it) and what
:func:`network_to_lumped` builds from a :class:`~ffrflow.network.VesselNetwork`.

Units: the solver is unit-agnostic (every equation is dimensionally homogeneous); a model carries the
unit system of its numbers in ``LumpedModel.units``. Models read from svZeroDSolver files and models
built by :func:`network_to_lumped` use **CGS** as svZeroDSolver does (cm, g, s; pressure dyn/cm²,
flow mL/s, resistance dyn·s/cm⁵, capacitance cm⁵/dyn, inductance g/cm⁴, stenosis coefficient
dyn·s²/cm⁸); the absolute Newton tolerance is in those units too. :mod:`ffrflow.units` converts.

Blocks and equations
--------------------
Each element (svZeroDSolver ``BloodVessel``; a ``BloodVesselJunction`` branch is the same element
with :math:`C = 0`), unknowns :math:`(P_{in}, Q_{in}, P_{out}, Q_{out})`, capacitance at the inlet:

.. math::

    P_{in} - P_{out} - (R + S|Q_{in}|)\,Q_{in} - L\,\dot Q_{out} = 0

    Q_{in} - Q_{out} - C\,\dot P_{in} + C\,(R + 2S|Q_{in}|)\,\dot Q_{in} = 0

with the Poiseuille resistance :math:`R`, capacitance :math:`C`, inductance :math:`L` and stenosis
coefficient :math:`S = K_t\rho/(2A_0^2)\,(A_0/A_s - 1)^2` (the second equation is
:math:`Q_{in} - Q_{out} = C\,\tfrac{d}{dt}(P_{in} - (R + S|Q_{in}|)Q_{in})`: the capacitor sits
after the resistive drop).

Junction (``NORMAL_JUNCTION``): one inlet, any number of outlets, one shared pressure and mass
conservation, :math:`P_{in} - P_k = 0`, :math:`Q_{in} - \sum_k Q_k = 0`.
``BloodVesselJunction``: the same with an :math:`R_k, L_k, S_k` element on each outlet.

Boundary conditions at a node :math:`(P, Q)` (parameters may be periodic time series, linearly
interpolated as svZeroDSolver does):

``FLOW``           :math:`Q = Q(t)`
``PRESSURE``       :math:`P = P(t)`
``RESISTANCE``     :math:`P - R\,Q - P_d = 0`
``RCR``            :math:`P - R_p Q - P_c = 0`, :math:`R_d Q - P_c + P_d - R_d C \dot P_c = 0`
                   (internal variable :math:`P_c`)
``CORONARY``       open-loop coronary of Kim et al. (2010): :math:`R_a` – :math:`C_a` to ground –
                   :math:`R_{am}` – :math:`C_{im}` driven by :math:`P_{im}(t)` – :math:`R_v` –
                   :math:`P_v`; internal variable the intramyocardial volume :math:`V_{im}`,
                   measured from the initial state as in svZeroDSolver:

                   .. math::

                       C_{im}R_vQ - V_{im} - C_aC_{im}R_v\dot P + R_aC_aC_{im}R_v\dot Q
                       - C_{im}R_v\dot V_{im} + C_{im}(P_v - P_{im} + P_{im,0} - P_{Cim,0}) = 0

                       C_{im}R_vP - C_{im}R_vR_aQ - (R_v + R_{am})V_{im} - C_{im}R_vR_{am}\dot V_{im}
                       + R_{am}C_{im}P_v - C_{im}(R_v + R_{am})(P_{im} + P_{Cim,0} - P_{im,0}) = 0
``CORONARY_VAR_RES`` the same with :math:`R_{am}(t) = [(\sqrt{R_{max}} - \sqrt{R_{min}})e(t) +
                   \sqrt{R_{min}}]^2`, :math:`e` a raised-cosine contraction over :math:`T_{vc}`,
                   relaxation over :math:`T_{vr}`, rest after.

Time integration: generalized-α (Jansen, Whiting & Hulbert 2000) with spectral radius
:math:`\rho_\infty = 0.5` by default (:math:`\rho_\infty = 0` is BDF2-like, 1 the trapezoidal rule),
predictor "constant :math:`y`, consistent :math:`\dot y`", Newton iterations on :math:`\dot y_{n+1}`
until :math:`\max|f| <` ``absolute_tolerance`` (svZeroDSolver's criterion, evaluated before each
update). Steady initialisation (``steady_initial``, default true) as svZeroDSolver: 31 steps of
:math:`T/10` with every time series replaced by the mean of its samples, RCR capacitances set to 0
and the coronary blocks in their steady form. The number of cycles and of points per cycle come from
``simulation_parameters``; with ``use_cycle_to_cycle_error`` the number of cycles follows
svZeroDSolver (RCR models: :math:`\lceil -\tau_{max}/T\,\ln\epsilon\rceil` cycles, Pfaller et al.
2021 eq. 21; other models: extra cycles until the cycle means of pressure and flow at every vessel
cap change by less than :math:`\epsilon`).

Two deliberate differences from svZeroDSolver: when the cycle-to-cycle loop adds cycles and only the
last cycle is written, ffrflow writes the final (converged) cycle where svZeroDSolver writes the last
*nominal* one; and a Newton iteration that stalls below 100 × ``absolute_tolerance`` (the round-off
floor of equations whose terms are ~10⁶ in CGS) is accepted instead of aborting the run.

Closed-loop heart and coupling blocks are out of scope (an :class:`~ffrflow.errors.InvalidInputError`
names them).

Kernels: ``lumped_integrate`` in :mod:`ffrflow.kernels` (NumPy reference with a global sparse solve;
Numba with one case per thread and an O(n) tree elimination; CUDA, ``kernels/cuda/lumped.cuh``, the
Numba kernel line by line with one case per GPU thread).

References
----------
Kim HJ et al. Patient-specific modeling of blood flow and pressure in human coronary arteries.
Ann Biomed Eng 38 (2010) 3195–3209.
Jansen KE, Whiting CH, Hulbert GM. A generalized-α method for integrating the filtered Navier–Stokes
equations with a stabilized finite element method. CMAME 190 (2000) 305–319.
Pfaller MR et al. Automated generation of 0D and 1D reduced-order models of patient-specific blood
flow. IJNMBE 38 (2022) e3639.
Menon K et al. svZeroDSolver (github.com/SimVascular/svZeroDSolver), ``src/model/*.h``.

Examples
--------
>>> m = LumpedModel.single_vessel(R=100.0, S=100.0, inflow=5.0, outlet=("RESISTANCE", {"R": 100.0, "Pd": 100.0}))
>>> r = solve_lumped(m, backend="numpy")
>>> round(float(r.vessel("V0")["pressure_in"][-1]), 6), round(float(r.vessel("V0")["pressure_out"][-1]), 6)
(3600.0, 600.0)
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import units
from .._atomic import atomic_write_text
from .._version import __version__
from ..errors import ConvergenceError, InvalidInputError
from ..kernels import get_kernel, resolve_backend
from ..kernels.codes import (INFO_CYCLE_TO_CYCLE_ERROR, INFO_CYCLES, INFO_FAILURE_TIME, INFO_NEWTON_ITERATIONS,
                             INFO_RESIDUAL, INFO_ROWS, INFO_STEPS, OUTPUT_ALL, OUTPUT_LAST, OUTPUT_MEAN,
                             SIM_CYCLE_TO_CYCLE, SIM_CYCLES, SIM_I_WIDTH, SIM_MAX_EXTRA_CYCLES, SIM_MAX_NEWTON,
                             SIM_OUTPUT_MODE, SIM_POINTS_PER_CYCLE, SIM_STEADY_INITIAL, SIM_VARRES_ABSOLUTE_TIME,
                             SIMF_ABSOLUTE_TOLERANCE, SIMF_CYCLE_TO_CYCLE_TOLERANCE, SIMF_PERIOD, SIMF_RHO_INFTY,
                             SIM_F_WIDTH, STATUS_CYCLES_NOT_CONVERGED, STATUS_NEWTON_FAILED, STATUS_OK,
                             STATUS_SINGULAR)
from .boundary import outlet_resistances
from .elements import OLUFSEN_CGS, inductance_cgs, tube_law_compliance_cgs
from .result import Result
from .steady import operating_discretization

log = logging.getLogger("ffrflow")
_trapezoid = getattr(np, "trapezoid", None) or getattr(np, "trapz")

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
NPAR = 10
#: Output modes of the kernel, by the names of the ``output`` argument (:mod:`ffrflow.kernels.codes`).
OUTPUT_MODES = {"all": OUTPUT_ALL, "last": OUTPUT_LAST, "mean": OUTPUT_MEAN}
#: Kernel status codes and their messages.
STATUS = {STATUS_OK: "ok", STATUS_NEWTON_FAILED: "Newton did not converge", STATUS_SINGULAR: "singular linear system",
          STATUS_CYCLES_NOT_CONVERGED: "cycle-to-cycle not converged"}
W_EL, W_BC = 48, 32


# ---------------------------------------------------------------------------------------------- model
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


# ---------------------------------------------------------------------------------------------- packing
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


# ---------------------------------------------------------------------------------------------- results
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
    else a list. ``status[c]`` is ``STATUS_OK`` (0) when case ``c`` converged (see ``ffrflow.cfd.lumped.STATUS``)."""

    y: Any
    time: list[np.ndarray]
    status: np.ndarray
    info_i: np.ndarray
    info_f: np.ndarray
    backend: str
    output: str
    timings_s: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- solving
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


# ---------------------------------------------------------------------------------------------- networks
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


__all__ = ["BC_TYPES", "LumpedBC", "LumpedBatchResult", "LumpedElement", "LumpedModel", "LumpedResult", "Param",
           "SimulationParameters", "network_to_lumped", "pack", "solve_lumped", "solve_lumped_batch",
           "solve_lumped_network", "state_slots", "tube_law_compliance_cgs", "inductance_cgs", "OLUFSEN_CGS"]
