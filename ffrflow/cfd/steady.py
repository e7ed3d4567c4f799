"""Steady hyperemic network solver (docs/physics.md §Steady network): the default FFR solver.

Model: Poiseuille resistance along the real radius (exact integral on elements ≤ 1 mm), the
lesion law of ``model.lesion`` at every lesion (:mod:`ffrflow.cfd.lesion`; R Q + S Q|Q|, with R
and S iterated with the solution for the flow-dependent ``ns-calibrated`` law), junctions that conserve mass and share one
pressure, the mean aortic pressure Pa at every root (or a prescribed inflow at a single root),
hyperemic outlet resistances to the venous pressure Pv (explicit or morphometric,
:mod:`ffrflow.cfd.boundary`). Unknowns are vessel flows and node pressures; the tree Newton of the
``tree_newton`` kernel solves them to a relative residual < 1e-8 (one direct solve when there is no
lesion). Every vessel law is non-decreasing in the flow, so the network has one solution, and the
Newton, line-searched on the network's convex energy, reaches it from any start (quadratically
near it); see :func:`ffrflow.kernels.reference.tree_newton`.

Flow-dependent lesions
----------------------
The ``ns-calibrated`` coefficients (R_x, S) of every lesion are evaluated at the lesion's flow and
iterated with the network: each pass freezes them at the previous pass's flows and solves the
network (a warm-started tree Newton), until re-evaluating them changes no lesion drop by more than
:data:`LESION_TOL` × tol × the driving pressure (at most :data:`MAX_LESION_PASSES` passes; a case
still changing is reported as not converged). Why the passes converge, term by term of the law
(:mod:`ffrflow.cfd.lesion`), for a lesion whose true drop D(Q) is non-decreasing:

- terms with constant coefficients (mixing with φ = 1; throat development, whose negative
  low-Reynolds part is bounded by the lesion's Poiseuille resistance so that R + R_x ≥ 0) are exact
  in one pass;
- the recovery term switches on above a flow Q_c as s (Q² − Q_c Q), continuously: the pass law is
  the true law on the side of Q_c the previous flow was on and below it on the other side, so a
  pass on the wrong side is followed by an exact one: finitely many passes;
- the tandem factor φ = (x_n/L_j)^m (m = 0.35) of a milder upstream lesion decreases with the flow:
  frozen at the previous flow, the pass map has slope at most m/2 ≈ 0.18 in magnitude, a
  contraction (a digit per ~1.4 passes);
- the tandem switches (a milder lesion inside a tighter lesion's jet loses its mixing loss; the last
  lesion's recovery then follows the tighter jet, off at the switch) only lower the drop when the
  flow crosses the switch: a pass on either side moves the flow away from it, so it switches once.

Examples
--------
>>> from ffrflow.network import VesselNetwork
>>> net = VesselNetwork.from_dict({"format": "ffrflow-network/1", "vessels": [
...     {"id": "LAD", "parent": None, "points": [[0, 0, 0], [0, 0, 40]], "radius": [1.5, 1.5],
...      "lesions": [{"start_mm": 15, "end_mm": 25, "reference_radius_mm": 1.5}]}],
...     "boundary": {"outlets": {"LAD": {"resistance_mmHg_s_per_ml": 40.0}}}})
>>> r = solve_steady(net, backend="numpy")
>>> r.converged, 0.0 < r.min_ffr <= 1.0
(True, True)
"""

from __future__ import annotations

import copy
import logging
import math
import time

import numpy as np

from .. import units
from ..errors import ConvergenceError
from ..kernels import get_kernel, resolve_backend
from ..network import VesselNetwork
from .assembly import Discretization, discretize
from .boundary import outlet_resistances
from .result import Result

log = logging.getLogger("ffrflow")

#: Default relative tolerance of the Newton solve (docs/physics.md §Steady network).
TOL = 1e-8
MAX_ITER = 100
#: Passes of the flow-dependent (``ns-calibrated``) lesion coefficients with the network.
MAX_LESION_PASSES = 60
#: The lesion coefficients are iterated until re-evaluating them changes no drop by more than
#: LESION_TOL × tol × the driving pressure (well below the Newton tolerance, so that every solver,
#: whatever its path to the fixed point, gives the same solution to ~1e-12).
LESION_TOL = 1e-4


def inner_tolerance(tol: float) -> float:
    """Newton tolerance of each pass when lesion coefficients are iterated (``LESION_TOL × tol``, not
    below 1e-13): every pass converges to round-off, so the fixed point does not depend on the path."""
    return max(LESION_TOL * tol, 1e-13)


def solve_steady(net: VesselNetwork, backend: str = "auto", tol: float = TOL, max_iter: int = MAX_ITER,
                 raise_on_failure: bool = True) -> Result:
    """Solve the steady hyperemic model on one network.

    Parameters
    ----------
    net : VesselNetwork
        Network with its ``boundary`` and ``model`` blocks (mm, mmHg, mL/s as in the file).
    backend : {"auto", "numpy", "cpu", "cuda"}
        Kernel backend; the one used is recorded in the result.
    tol : float
        Relative residual tolerance (dimensionless, scaled by the driving pressure Pa − Pv).
    max_iter : int
        Newton iterations allowed.
    raise_on_failure : bool
        Raise :class:`~ffrflow.errors.ConvergenceError` when the tolerance is not reached (default);
        otherwise return the result with ``converged = False``.

    Returns
    -------
    Result
        Pressures (Pa) at every node, flows (m³/s) per vessel, FFR, lesion and outlet tables.

    Raises
    ------
    ConvergenceError
        With the residual and the iteration count when Newton does not converge.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    backend = resolve_backend(backend)
    disc = discretize(net, backend)
    r_out, bc_report = outlet_resistances(net)
    timings["assemble"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    flow_dependent = bool(disc.flow_dependent)
    newton_tol = inner_tolerance(tol) if flow_dependent else tol
    Q, P_up, P_down, iters, resid = _solve_tree(net, disc, r_out, backend, newton_tol, max_iter)
    if flow_dependent:
        # ns-calibrated lesions: coefficients evaluated at the lesion's flow, iterated to a fixed
        # point with the network (each pass a warm-started tree Newton); converged when re-evaluating
        # them changes no lesion drop by more than LESION_TOL × tol × the driving pressure
        m = net.model
        drive = max(float(np.max(np.abs(P_up[disc.parent < 0] - units.mmhg_to_pa(net.boundary.venous_pressure_mmHg)))),
                    1e-12)
        passes, change = 1, 0.0
        while resid <= newton_tol:   # a pass whose Newton failed ends the iteration (reported below)
            change = disc.update_lesion_flows(Q, m.blood_viscosity_pa_s, m.blood_density_kg_m3, m.kt)
            if change <= LESION_TOL * tol * drive or passes >= MAX_LESION_PASSES:
                break
            Q, P_up, P_down, it2, resid = _solve_tree(net, disc, r_out, backend, newton_tol, max_iter, Q)
            iters += it2
            passes += 1
        resid = max(resid, change / drive)
        timings["lesion_passes"] = passes
    P = np.empty(disc.n_nodes)
    get_kernel("node_pressure", backend)(disc.node_vessel, disc.R_cum, disc.S_cum, P_up, Q, P)
    timings["solve"] = time.perf_counter() - t1
    converged = bool(resid <= tol)
    if not converged and raise_on_failure:
        raise ConvergenceError(
            f"steady solve did not converge: relative residual {resid:.3e} > tol {tol:.1e} after {iters} "
            f"Newton iterations (backend {backend})", residual=float(resid), iterations=int(iters))
    log.debug("steady: %d Newton iterations, residual %.2e, backend %s", iters, resid, backend)
    return Result(network=net, disc=disc, pressure_pa=P, flow_m3_s=Q, p_up_pa=P_up, p_down_pa=P_down,
                  backend=backend, solver="steady", iterations=int(iters), residual=float(resid),
                  converged=converged, boundary_report=bc_report,
                  outlet_resistance_pa_s_m3=r_out, timings_s=timings)


def _solve_tree(net: VesselNetwork, disc: Discretization, r_out: dict, backend: str, tol: float, max_iter: int,
                Q0: np.ndarray | None = None):
    n = disc.n_vessels
    b = net.boundary
    R_out = np.zeros(n)
    for i, vid in enumerate(disc.vessel_ids):
        if vid in r_out:
            R_out[i] = r_out[vid]
    root_p = np.full(n, units.mmhg_to_pa(b.inlet_pressure_mmHg))
    root_q = np.full(n, math.nan)
    if b.inlet_flow_ml_s is not None:
        root_q[disc.parent < 0] = units.ml_s_to_m3_s(b.inlet_flow_ml_s)
    p_venous = np.array([units.mmhg_to_pa(b.venous_pressure_mmHg)])
    offsets = np.array([0, n], dtype=np.int64)
    Q = np.zeros(n) if Q0 is None else Q0.copy()
    P_up = np.zeros(n)
    P_down = np.zeros(n)
    work = np.zeros((6, n))
    iters = np.zeros(1, dtype=np.int64)
    resid = np.zeros(1)
    get_kernel("tree_newton", backend)(offsets, disc.parent, disc.R, disc.S, R_out, root_p, root_q, p_venous,
                                       tol, max_iter, Q, P_up, P_down, work, iters, resid)
    return Q, P_up, P_down, int(iters[0]), float(resid[0])


def operating_discretization(net: VesselNetwork, backend: str = "auto") -> Discretization:
    """:func:`~ffrflow.cfd.assembly.discretize`, with flow-dependent lesion coefficients at the steady solution.

    The ``ns-calibrated`` lesion law depends on the lesion's flow; the pulsatile and lumped models and
    the svZeroDSolver export take it at the steady hyperemic operating point of ``net`` (a steady
    solve, milliseconds) as a secant expansion loss: the lesion's drop beyond Poiseuille at its
    steady flow Q* becomes S' Q|Q| with S' = ΔP_extra(Q*)/Q*² (R' = 0), so every element keeps
    R ≥ 0 and S ≥ 0 (an extra drop ≤ 0, possible only at very low flows, stays linear). Other lesion
    models: the plain discretisation.
    """
    if net.model.lesion != "ns-calibrated" or not any(net.vessels[v].lesions for v in net.ids):
        return discretize(net, resolve_backend(backend))
    return secant_discretization(solve_steady(net, backend=backend))


def secant_discretization(result: Result) -> Discretization:
    """A copy of a steady result's discretisation whose flow-dependent lesions are secants at the solved
    flows (:meth:`~ffrflow.cfd.assembly.Discretization.secant_lesions`); the result is left as is."""
    disc = copy.deepcopy(result.disc)
    disc.secant_lesions(result.flow_m3_s)
    return disc

