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

Modules
-------
:mod:`~ffrflow.cfd.lumped.model`
    :class:`LumpedModel` and its parts (:class:`Param`, :class:`LumpedBC`, :class:`LumpedElement`,
    :class:`SimulationParameters`), the boundary-condition table :data:`BC_TYPES`, validation, and
    the state layout (:func:`state_slots`).
:mod:`~ffrflow.cfd.lumped.packing`
    :func:`pack`: models into the flat arrays of the kernel (:data:`KERNEL_ARGS`, :class:`Packed`).
:mod:`~ffrflow.cfd.lumped.result`
    :class:`LumpedResult` (one model's waveforms, tables, files) and :class:`LumpedBatchResult`.
:mod:`~ffrflow.cfd.lumped.solve`
    :func:`solve_lumped` and :func:`solve_lumped_batch`.
:mod:`~ffrflow.cfd.lumped.from_network`
    :func:`network_to_lumped` and :func:`solve_lumped_network` (a vessel network through the lumped
    solver).

Examples
--------
>>> m = LumpedModel.single_vessel(R=100.0, S=100.0, inflow=5.0, outlet=("RESISTANCE", {"R": 100.0, "Pd": 100.0}))
>>> r = solve_lumped(m, backend="numpy")
>>> round(float(r.vessel("V0")["pressure_in"][-1]), 6), round(float(r.vessel("V0")["pressure_out"][-1]), 6)
(3600.0, 600.0)
"""

from __future__ import annotations

from ..elements import OLUFSEN_CGS, inductance_cgs, tube_law_compliance_cgs
from .from_network import network_to_lumped, solve_lumped_network
from .model import (BC_DEFAULTS, BC_TYPES, NONNEGATIVE, NPAR, LumpedBC, LumpedElement, LumpedModel, Param,
                    SimulationParameters, junction_branches_follow, state_slots)
from .packing import KERNEL_ARGS, OUTPUT_MODES, W_BC, W_EL, Packed, pack
from .result import LumpedBatchResult, LumpedResult
from .solve import STATUS, solve_lumped, solve_lumped_batch

__all__ = ["BC_DEFAULTS", "BC_TYPES", "KERNEL_ARGS", "NONNEGATIVE", "NPAR", "OUTPUT_MODES", "STATUS", "W_BC", "W_EL",
           "LumpedBC", "LumpedBatchResult", "LumpedElement", "LumpedModel", "LumpedResult", "Packed", "Param",
           "SimulationParameters", "junction_branches_follow", "network_to_lumped", "pack", "solve_lumped",
           "solve_lumped_batch", "solve_lumped_network", "state_slots", "tube_law_compliance_cgs", "inductance_cgs",
           "OLUFSEN_CGS"]
