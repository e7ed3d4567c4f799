"""Batched steady solves: many cases in one kernel launch (uncertainty studies, virtual stenting,
synthetic-data generation).

Two ways to batch, both packed CSR-style into the flat arrays of the ``ensemble_steady`` kernel
(:mod:`ffrflow.kernels.reference`), one case per thread on every backend:

- one network with sampled parameters (``params`` arrays of length N): lesion severity or MLD,
  radius offsets per vessel, outlet resistance scales, Pa, Pv, hyperemia factor, cardiac output
  (flow scale), viscosity, density, K_t;
- several networks (a list), one case each (parameters scalar or one value per network).

Every case equals :func:`ffrflow.cfd.steady.solve_steady` on the same network with the same values
changed (tested): morphometric outlet resistances follow docs/physics.md §Boundary conditions,
i.e. they scale with (Pa − Pv)·h / Q_rest of the case; explicit outlet resistances are kept (times
``outlet_resistance_scale``).

A few bad cases never stop a batch: every case gets a status (:data:`STATUS`; 0 converged, 1 not
converged, 2 its sampled radius offset or severity makes a radius ≤ 0, not solved) and the results
of a failed case are NaN (``on_failure="raise"`` raises instead). The tree Newton converges from
any start (:func:`ffrflow.kernels.reference.tree_newton`) and so do the lesion passes
(:mod:`ffrflow.cfd.steady`): status 1 means an iteration cap (``max_iter``, ``MAX_LESION_PASSES``)
was too small for the case.

Examples
--------
>>> from ffrflow.phantoms import demo_case
>>> from ffrflow.meshing.stenosis import detect_lesions
>>> net = detect_lesions(demo_case().network)
>>> b = solve_steady_batch(net, {"hyperemia_factor": [0.2, 0.24, 0.3]}, backend="numpy")
>>> b.ffr_lesion.shape, bool((b.ffr_lesion[0] < b.ffr_lesion[2]).all())
((3, 3), True)
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .. import units
from ..errors import ConvergenceError, InvalidInputError
from ..kernels import get_kernel, resolve_backend
from ..kernels.codes import LESION_NS_CALIBRATED, LESION_POISEUILLE_KT, LESION_YOUNG_TSAI
from ..network import VesselNetwork
from .assembly import Discretization, discretize
from .boundary import outlet_resistances, resting_coronary_flow_ml_min
from .ensemble_layout import (build_layout, cheb_eval, cheb_fit, default_ranges, frusta_sum, frustum_sum,
                              kernel_tables, sample_ranges)
from .lesion import KT_YOUNG_TSAI, ns_calibrated_coefficients, shape_arrays
from .steady import LESION_TOL, MAX_LESION_PASSES, inner_tolerance

#: Parameters a batch may sample, with their shapes (N = number of cases).
PARAMS = {
    "inlet_pressure_mmHg": "(N,)",
    "venous_pressure_mmHg": "(N,)",
    "inlet_flow_ml_s": "(N,) (single-root networks)",
    "hyperemia_factor": "(N,) morphometric outlets scale with it",
    "flow_scale": "(N,) resting coronary flow multiplier (cardiac output, myocardial mass)",
    "outlet_resistance_scale": "(N,) or (N, n_outlets)",
    "blood_viscosity_pa_s": "(N,)",
    "blood_density_kg_m3": "(N,)",
    "kt": "(N,)",
    "radius_offset_mm": "(N,) or (N, n_vessels): added to every radius of a vessel",
    "lesion_severity": "(N, n_lesions): 1 keeps the lesion, 0 restores the reference lumen",
    "lesion_mld_mm": "(N, n_lesions): minimal lumen diameter (replaces lesion_severity)",
}
log = logging.getLogger("ffrflow")
_MODEL_CODE = {"poiseuille-kt": LESION_POISEUILLE_KT, "young-tsai": LESION_YOUNG_TSAI,
               "ns-calibrated": LESION_NS_CALIBRATED}
#: Status of each case of a batch (``BatchResult.status``), by code.
CONVERGED, NOT_CONVERGED, NONPOSITIVE_RADIUS = 0, 1, 2
STATUS = {CONVERGED: "converged", NOT_CONVERGED: "not converged", NONPOSITIVE_RADIUS: "radius <= 0"}


@dataclass
class TreeArrays:
    """The kernel's per-tree arrays for one discretised network (SI)."""

    network: VesselNetwork
    disc: Discretization
    el_len_m: np.ndarray
    r_node_m: np.ndarray
    d_node_m: np.ndarray
    node_les: np.ndarray
    v_out: np.ndarray
    les_k0: np.ndarray
    les_k1: np.ndarray
    les_ref_m: np.ndarray
    outlet_ids: list
    r_out_base: np.ndarray
    morph: np.ndarray
    q_rest_ml_min: float
    #: The per-network layout of the precomputed method (:mod:`ffrflow.cfd.ensemble_layout`), built
    #: on first use and rebuilt only when a batch needs a wider range of its perturbations.
    layout: Any = field(default=None, repr=False, compare=False)
    healthy_min_m: Any = field(default=None, repr=False, compare=False)

    @property
    def n_vessels(self) -> int:
        return self.disc.n_vessels

    @property
    def n_lesions(self) -> int:
        return len(self.disc.lesions)

    @property
    def n_outlets(self) -> int:
        return len(self.outlet_ids)


def _exact_depth(ref: float, r: np.ndarray) -> np.ndarray:
    """Depth ``max(ref − r, 0)`` of the lesion nodes (m), nudged by ulps so that ``r + d`` is never below ``ref``
    in floating point (it equals it, or exceeds it by an ulp where no depth makes the sum exact): a
    lesion at severity 0 (a stent) is then never narrower than its reference lumen in any kernel or
    method (the per-network layout takes the reference radius itself), so that the Young–Tsai law,
    which jumps at A_s = A_0, is not applied to a stent by round-off in one method and not the other."""
    d = np.maximum(ref - r, 0.0)
    narrowed = d > 0.0
    d = np.where(narrowed, d + (ref - (r + d)), d)     # the residual is exact (Sterbenz): r + d is near ref
    for _ in range(64):                                  # then single ulps up while r + d < ref
        low = narrowed & (r + d < ref)
        if not low.any():
            break
        d = np.where(low, np.nextafter(d, np.inf), d)
    return d


def tree_arrays(net: VesselNetwork, backend: str = "numpy") -> TreeArrays:
    """Discretise ``net`` and lay it out for the ensemble kernel (lesions as given in ``net``)."""
    disc = discretize(net, backend)
    n = disc.n_nodes
    el_len = np.zeros(n)
    same = disc.node_vessel[1:] == disc.node_vessel[:-1]
    el_len[1:] = np.where(same, np.diff(disc.s_mm), 0.0) * 1e-3
    r_node = disc.radius_mm * 1e-3
    d_node = np.zeros(n)
    node_les = np.full(n, -1, dtype=np.int64)
    for j, les in enumerate(disc.lesions):
        k0, k1 = les["node_start"], les["node_end"]
        ref = les["reference_radius_mm"] * 1e-3
        node_les[k0:k1 + 1] = j
        d_node[k0:k1 + 1] = _exact_depth(ref, r_node[k0:k1 + 1])
    r_out, rep = outlet_resistances(net)
    outlet_ids = [v for v in disc.vessel_ids if v in r_out]
    v_out = np.full(disc.n_vessels, -1, dtype=np.int64)
    for j, vid in enumerate(outlet_ids):
        v_out[disc.vessel_ids.index(vid)] = j
    morph = np.array([rep["outlets"][o]["source"] == "morphometric" for o in outlet_ids])
    return TreeArrays(net, disc, el_len, r_node, d_node, node_les, v_out,
                      np.array([x["node_start"] for x in disc.lesions], dtype=np.int64),
                      np.array([x["node_end"] for x in disc.lesions], dtype=np.int64),
                      np.array([x["reference_radius_mm"] * 1e-3 for x in disc.lesions]),
                      outlet_ids, np.array([r_out[o] for o in outlet_ids]), morph,
                      resting_coronary_flow_ml_min(net))


@dataclass
class BatchResult:
    """Results of a batched steady solve (one row per case).

    Attributes
    ----------
    ffr_lesion : (N, n_lesions)
        FFR just distal to each lesion (at its end).
    delta_p_lesion_mmHg : (N, n_lesions)
        Pressure drop across each lesion, mmHg.
    mld_mm : (N, n_lesions)
        Minimal lumen diameter of each lesion in each case, mm.
    ffr_outlet : (N, n_outlets)
    flow_outlet_ml_s : (N, n_outlets)
    flow_ml_s : (N, n_vessels)
    min_ffr : (N,)
        Lowest of the lesion and outlet FFRs of each case.
    ffr_point : (N, n_nodes) or None
        FFR at every node (only with ``per_point=True``; single-network batches).
    ffr_node : (N, n_probe) or None
        FFR at the nodes asked for with ``probe_nodes`` (single-network batches).
    iterations, residual : (N,)
        Newton iterations and the final relative residual of each case.
    status : (N,) int64
        Code of each case's outcome, :data:`STATUS`: 0 converged, 1 not converged (residual above
        the tolerance), 2 an input that makes a radius ≤ 0 (the case is not solved). The results of
        a case with a non-zero status are NaN.
    """

    lesion_ids: list
    lesion_vessels: list
    outlet_ids: list
    vessel_ids: list
    ffr_lesion: np.ndarray
    delta_p_lesion_mmHg: np.ndarray
    mld_mm: np.ndarray
    ffr_outlet: np.ndarray
    flow_outlet_ml_s: np.ndarray
    flow_ml_s: np.ndarray
    min_ffr: np.ndarray
    iterations: np.ndarray
    residual: np.ndarray
    backend: str
    ffr_point: np.ndarray | None = None
    ffr_node: np.ndarray | None = None
    timings_s: dict = field(default_factory=dict)
    status: np.ndarray | None = None

    @property
    def n_cases(self) -> int:
        return self.ffr_outlet.shape[0]

    @property
    def ok(self) -> np.ndarray:
        """(N,) bool: the cases that converged."""
        return self.status == CONVERGED

    @property
    def n_failed(self) -> int:
        """Number of cases with a non-zero status."""
        return int(np.count_nonzero(self.status != CONVERGED))

    def status_counts(self) -> dict:
        """Number of cases per status name (only the statuses that occur)."""
        codes, counts = np.unique(self.status, return_counts=True)
        return {STATUS[int(c)]: int(k) for c, k in zip(codes, counts)}


def _param(params: Mapping[str, Any], name: str, n: int, default, width: int | None = None) -> np.ndarray:
    v = params.get(name, default)
    a = np.asarray(v, dtype=np.float64)
    if width is None:
        if a.ndim == 0:
            return np.full(n, float(a))
        if a.shape != (n,):
            raise InvalidInputError(f"params.{name}: expected a scalar or shape ({n},), got {a.shape}")
        return a.copy()
    if a.ndim == 0:
        return np.full((n, width), float(a))
    if a.ndim == 1 and a.shape == (n,):
        return np.repeat(a[:, None], width, axis=1)
    if a.shape != (n, width):
        raise InvalidInputError(f"params.{name}: expected a scalar, ({n},) or ({n}, {width}), "
                                f"got {a.shape}")
    return a.copy()


def solve_steady_batch(networks_or_one: VesselNetwork | Sequence[VesselNetwork],
                       params: Mapping[str, Any] | None = None, backend: str = "auto", tol: float = 1e-8,
                       max_iter: int = 100, per_point: bool = False, on_failure: str = "mark",
                       trees: Sequence[TreeArrays] | None = None, method: str = "precomputed",
                       probe_nodes: Sequence[int] | None = None) -> BatchResult:
    """Solve many steady cases in one kernel call.

    Parameters
    ----------
    networks_or_one : VesselNetwork or sequence of VesselNetwork
        One network (sampled parameters) or several (one case each). Lesions must already be on
        the networks (run :func:`ffrflow.meshing.stenosis.detect_lesions` first if needed).
    params : mapping, optional
        Sampled parameters, see :data:`PARAMS`; scalars broadcast. Units in the names.
    backend : {"auto", "numpy", "cpu", "cuda"}
    tol : float
        Relative residual tolerance of every case (dimensionless, scaled by its driving pressure).
    max_iter : int
        Newton iterations allowed per case and lesion pass.
    per_point : bool
        Also return FFR at every node (N × n_nodes; single network only).
    probe_nodes : sequence of int, optional
        Global node indices of the network's discretisation (``TreeArrays.disc``) whose FFR every
        case needs (``BatchResult.ffr_node``, N × len(probe_nodes); single network only). Exact, at
        a cost of the elements between each node and the nearest point upstream on its vessel whose
        pressure the solve has (the vessel's start, a lesion's start or end): see :func:`_node_ffr`.
    on_failure : {"mark", "raise"}
        ``"mark"`` (default): a case that does not converge, or whose sampled radius offset or
        severity makes a radius ≤ 0, gets its code in ``BatchResult.status`` and NaN results; the
        other cases are unaffected. ``"raise"``: such a case raises (ConvergenceError or
        InvalidInputError naming it).
    trees : sequence of TreeArrays, optional
        Pre-built kernel layouts (reuse across calls).
    method : {"precomputed", "nodes"}
        ``"precomputed"`` (default): every vessel's and lesion's resistance as a function of the
        case's radius offset and severity, summed once per network
        (:mod:`ffrflow.cfd.ensemble_layout`), so that a case costs O(vessels + lesions), with the
        ns-calibrated law's passes inside the kernel (``ensemble_steady_pre``). ``"nodes"``: every
        case walks every centerline node (``ensemble_steady``), the lesion passes in Python; the
        two agree to 1e-9 (tested).

    Returns
    -------
    BatchResult

    Raises
    ------
    InvalidInputError
        For an unknown parameter or a wrong shape; with ``on_failure="raise"`` for a case whose
        radius would be ≤ 0.
    ConvergenceError
        With ``on_failure="raise"``, when a case does not converge, naming the case.
    """
    t0 = time.perf_counter()
    params = _checked_params(params, on_failure, method)
    backend = resolve_backend(backend)
    single = isinstance(networks_or_one, VesselNetwork)
    nets = [networks_or_one] if single else list(networks_or_one)
    if not nets:
        raise InvalidInputError("networks: expected at least one network")
    if trees is None:
        trees = [tree_arrays(n, backend) for n in nets]
    case_tree = _case_trees(params, single, len(nets), per_point, probe_nodes)
    n_cases = case_tree.size
    # per case c: its vessels cv_off[c]:cv_off[c+1], lesions cl_off[c]:..., outlets co_off[c]:... in the
    # per-case arrays (dr: radius offset per case-vessel, m; sev: severity per case-lesion; r_out);
    # the kernels' short argument names are listed in ffrflow/kernels/codes.py
    cv_off, cl_off, co_off = _case_offsets(trees, case_tree)
    mu, rho, kt, model, pa, pv, qin, h, fscale = _case_scalars(params, trees, case_tree)
    dr, sev, r_out = _case_rows(params, trees, case_tree, cv_off, cl_off, co_off, pa, pv, h, fscale)
    invalid = _invalid_cases(params, method, on_failure, trees, case_tree, cv_off, cl_off, sev, dr)

    if method == "precomputed":
        t_pack = time.perf_counter() - t0
        t1 = time.perf_counter()
        (Q, P_up, p_les0, p_les1, r_mld, p_out, lesion_coef, iters, resid, passes) = _solve_precomputed(
            trees, single, case_tree, cv_off, cl_off, co_off, dr, sev, r_out, mu, rho, kt, model, pa, qin, pv, tol,
            max_iter, backend)
        t_kernel = time.perf_counter() - t1
    else:
        t_pack, t_kernel, Q, P_up, p_les0, p_les1, r_mld, p_out, lesion_coef, iters, resid, passes = _solve_nodes(
            trees, t0, case_tree, cv_off, cl_off, co_off, dr, sev, r_out, mu, rho, kt, model, pa, qin, pv, tol,
            max_iter, backend)
    return _results(trees, single, t_pack, t_kernel, passes, n_cases, cv_off, cl_off, co_off, invalid, tol,
                    on_failure, Q, P_up, p_les0, p_les1, r_mld, p_out, lesion_coef, iters, resid, per_point, mu,
                    model, kt, rho, dr, sev, backend, t0, probe_nodes)


def _checked_params(params: Mapping[str, Any] | None, on_failure: str, method: str) -> dict:
    """Refuse an unknown ``on_failure``, ``method`` or parameter name; return the parameters as a dict."""
    if on_failure not in ("mark", "raise"):
        raise InvalidInputError(f"on_failure: expected 'mark' or 'raise', got {on_failure!r}")
    if method not in ("precomputed", "nodes"):
        raise InvalidInputError(f"method: expected 'precomputed' or 'nodes', got {method!r}")
    params = dict(params or {})
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise InvalidInputError(f"params: unknown {unknown}; allowed: {sorted(PARAMS)}")
    return params


def _case_trees(params: dict, single: bool, n_nets: int, per_point: bool, probe_nodes) -> np.ndarray:
    """The tree of every case: all 0 for one network (as many cases as the sampled arrays are long),
    else case c is network c (then only scalar or per-network parameters)."""
    if single:
        lens = {np.asarray(v).shape[0] for v in params.values() if np.asarray(v).ndim >= 1}
        if len(lens) > 1:
            raise InvalidInputError(f"params: arrays disagree on the number of cases: {sorted(lens)}")
        n_cases = lens.pop() if lens else 1
        return np.zeros(n_cases, dtype=np.int64)
    if per_point or probe_nodes is not None:
        raise InvalidInputError("per_point, probe_nodes: only for a batch of one network")
    per_item = sorted(set(params) & {"outlet_resistance_scale", "radius_offset_mm", "lesion_severity",
                                     "lesion_mld_mm"})
    if per_item:
        raise InvalidInputError(f"params {per_item}: per-vessel/lesion/outlet arrays need a batch of one network")
    return np.arange(n_nets, dtype=np.int64)


def _case_offsets(trees, case_tree: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR offsets of every case's vessels, lesions and outlets in the per-case arrays."""
    nv = np.array([t.n_vessels for t in trees], dtype=np.int64)[case_tree]
    nl = np.array([t.n_lesions for t in trees], dtype=np.int64)[case_tree]
    no = np.array([t.n_outlets for t in trees], dtype=np.int64)[case_tree]
    cv_off = np.concatenate([[0], np.cumsum(nv)]).astype(np.int64)
    cl_off = np.concatenate([[0], np.cumsum(nl)]).astype(np.int64)
    co_off = np.concatenate([[0], np.cumsum(no)]).astype(np.int64)
    return cv_off, cl_off, co_off


def _case_scalars(params: dict, trees, case_tree: np.ndarray):
    """Per-case scalars, sampled or the case's network's own: μ (Pa·s), ρ (kg/m³), K_t, lesion law code,
    Pa, Pv (mmHg), inlet flow (mL/s, NaN for none), hyperemia factor, flow scale."""
    n_cases = case_tree.size
    b0 = [t.network.boundary for t in trees]
    m0 = [t.network.model for t in trees]
    pick = (lambda vals: np.asarray(vals)[case_tree])
    mu = _param(params, "blood_viscosity_pa_s", n_cases, pick([m.blood_viscosity_pa_s for m in m0]))
    rho = _param(params, "blood_density_kg_m3", n_cases, pick([m.blood_density_kg_m3 for m in m0]))
    kt = _param(params, "kt", n_cases, pick([m.kt for m in m0]))
    model = np.array([_MODEL_CODE[m.lesion] for m in m0], dtype=np.int64)[case_tree]
    pa = _param(params, "inlet_pressure_mmHg", n_cases, pick([b.inlet_pressure_mmHg for b in b0]))
    pv = _param(params, "venous_pressure_mmHg", n_cases, pick([b.venous_pressure_mmHg for b in b0]))
    qin_default = pick([np.nan if b.inlet_flow_ml_s is None else b.inlet_flow_ml_s for b in b0])
    qin = _param(params, "inlet_flow_ml_s", n_cases, qin_default)
    h = _param(params, "hyperemia_factor", n_cases, pick([b.hyperemia_factor for b in b0]))
    fscale = _param(params, "flow_scale", n_cases, 1.0)
    return mu, rho, kt, model, pa, pv, qin, h, fscale


def _case_rows(params: dict, trees, case_tree: np.ndarray, cv_off, cl_off, co_off, pa, pv, h, fscale):
    """Per case-vessel radius offsets (m), per case-lesion severities and per case-outlet resistances
    (Pa·s/m³; morphometric ones scaled with (Pa − Pv)·h / flow scale, docs/physics.md §Boundary
    conditions), vectorised per tree; non-finite values or resistances ≤ 0 are refused."""
    n_cases = case_tree.size
    dr = np.zeros(cv_off[-1])
    sev = np.ones(cl_off[-1])
    r_out = np.zeros(co_off[-1])
    for t, tr in enumerate(trees):
        cases = np.flatnonzero(case_tree == t)     # consecutive: cases are grouped by tree
        nc = cases.size
        idx_v = slice(cv_off[cases[0]], cv_off[cases[-1] + 1])
        idx_l = slice(cl_off[cases[0]], cl_off[cases[-1] + 1])
        idx_o = slice(co_off[cases[0]], co_off[cases[-1] + 1])
        b = tr.network.boundary
        if tr.morph.any():
            scale = ((pa[cases] - pv[cases]) / (b.inlet_pressure_mmHg - b.venous_pressure_mmHg)
                     * (h[cases] / b.hyperemia_factor) / fscale[cases])
        else:
            scale = np.ones(nc)
        ro = tr.r_out_base[None, :] * np.where(tr.morph[None, :], scale[:, None], 1.0)
        if "outlet_resistance_scale" in params:
            ro = ro * _param(params, "outlet_resistance_scale", n_cases, None, tr.n_outlets)[cases]
        r_out[idx_o] = ro.ravel()
        if "radius_offset_mm" in params:
            dr[idx_v] = 1e-3 * _param(params, "radius_offset_mm", n_cases, None, tr.n_vessels)[cases].ravel()
        if "lesion_mld_mm" in params and tr.n_lesions:
            target = 0.5e-3 * _param(params, "lesion_mld_mm", n_cases, None, tr.n_lesions)[cases]
            dmax = np.array([tr.d_node_m[tr.les_k0[j]:tr.les_k1[j] + 1].max() for j in range(tr.n_lesions)])
            with np.errstate(divide="ignore", invalid="ignore"):
                sev[idx_l] = np.where(dmax[None, :] > 0, (tr.les_ref_m[None, :] - target) / dmax[None, :],
                                      1.0).ravel()
        elif "lesion_severity" in params and tr.n_lesions:
            sev[idx_l] = _param(params, "lesion_severity", n_cases, None, tr.n_lesions)[cases].ravel()
    for name, arr in (("radius", dr), ("severity", sev), ("outlet resistance", r_out)):
        if not np.all(np.isfinite(arr)):
            raise InvalidInputError(f"params: non-finite {name} values")
    if np.any(r_out <= 0):
        raise InvalidInputError("params: outlet resistances must stay > 0")
    return dr, sev, r_out


def _invalid_cases(params: dict, method: str, on_failure: str, trees, case_tree: np.ndarray, cv_off, cl_off, sev,
                   dr) -> np.ndarray:
    """The cases whose radius offset or severity takes a radius to ≤ 0 (status 2, not solved): raise
    for the first with ``on_failure="raise"``, else reset their ``dr`` and ``sev`` in place to the
    unperturbed values and return the mask."""
    n_cases = case_tree.size
    invalid = np.zeros(n_cases, dtype=bool)
    if {"radius_offset_mm", "lesion_severity", "lesion_mld_mm"} & set(params):
        r_min = (_min_radius_layout(trees, case_tree, cv_off, cl_off, sev, dr) if method == "precomputed" else
                 _min_radius(trees, case_tree, cv_off, cl_off, sev, dr))
        invalid = ~(r_min > 0.0)
    if invalid.any():
        c = int(np.flatnonzero(invalid)[0])
        if on_failure == "raise":
            raise InvalidInputError(f"params: case {c} makes a radius {1e3 * r_min[c]:.3g} mm <= 0 (radius_offset_mm, "
                                    f"lesion_severity or lesion_mld_mm; {int(invalid.sum())} case(s))")
        bad_v = invalid[np.repeat(np.arange(n_cases), np.diff(cv_off))]
        bad_l = invalid[np.repeat(np.arange(n_cases), np.diff(cl_off))]
        dr[bad_v] = 0.0
        sev[bad_l] = 1.0
    return invalid


def _layout(tr: TreeArrays):
    """The tree's precomputed layout, built on first use (default ranges)."""
    if tr.layout is None:
        tr.layout = build_layout(tr)
    return tr.layout


def _min_radius_layout(trees, case_tree, cv_off, cl_off, sev, dr) -> np.ndarray:
    """:func:`_min_radius` from the layouts: the smallest healthy radius of each vessel plus its offset,
    and each lesion's throat (the lower envelope of its nodes' radii), per case."""
    out = np.full(case_tree.size, np.inf)
    for t, tr in enumerate(trees):
        cases = np.flatnonzero(case_tree == t)
        if not cases.size:
            continue
        nc, nv, nl = cases.size, tr.n_vessels, tr.n_lesions
        L = _layout(tr)
        drc = dr[cv_off[cases[0]]:cv_off[cases[-1] + 1]].reshape(nc, nv)
        sc = sev[cl_off[cases[0]]:cl_off[cases[-1] + 1]].reshape(nc, nl)
        if tr.healthy_min_m is None:
            h = np.full(nv, np.inf)
            out_les = tr.node_les < 0
            np.minimum.at(h, tr.disc.node_vessel[out_les], tr.r_node_m[out_les])
            tr.healthy_min_m = h
        m = np.min(tr.healthy_min_m[None, :] + drc, axis=1)
        for j in range(nl):
            k = slice(L.les_cd[j], L.les_cd[j + 1])
            r = np.min(L.cd_a[k][None, :] - sc[:, L.cd_l[k]] * L.cd_d[k][None, :], axis=1) + drc[:, L.les_v[j]]
            m = np.minimum(m, r)
        out[cases] = m
    return out


def _solve_precomputed(trees, single, case_tree, cv_off, cl_off, co_off, dr, sev, r_out, mu, rho, kt, model, pa, qin,
                       pv, tol, max_iter, backend):
    """The precomputed method (``ensemble_steady_pre``): sample-minor arrays in, case-major views out."""
    n_cases = case_tree.size
    layouts, tc, dr_sm, sev_sm, ro_sm = [], [0], [], [], []
    for t, tr in enumerate(trees):
        cases = np.flatnonzero(case_tree == t)
        nc, nv, nl, no = cases.size, tr.n_vessels, tr.n_lesions, tr.n_outlets
        tc.append(tc[-1] + nc)
        d2 = dr[cv_off[cases[0]]:cv_off[cases[-1] + 1]].reshape(nc, nv).T
        s2 = sev[cl_off[cases[0]]:cl_off[cases[-1] + 1]].reshape(nc, nl).T
        dr_sm.append(d2.ravel())
        sev_sm.append(s2.ravel())
        ro_sm.append(r_out[co_off[cases[0]]:co_off[cases[-1] + 1]].reshape(nc, no).T.ravel())
        L = _layout(tr)
        d_rng, w_rng = sample_ranges(tr, d2, s2)
        if not L.covers(d_rng, w_rng):
            log.debug("ensemble layout of %d vessels rebuilt for a wider range of offsets/severities", nv)
            L = tr.layout = build_layout(tr, np.stack([np.minimum(d_rng[:, 0], L.delta_range[:, 0]),
                                                       np.maximum(d_rng[:, 1], L.delta_range[:, 1])], 1),
                                         np.stack([np.minimum(w_rng[:, 0], L.w_range[:, 0]),
                                                   np.maximum(w_rng[:, 1], L.w_range[:, 1])], 1))
        layouts.append(L)
    tab = kernel_tables(trees, layouts)
    tc_off = np.array(tc, dtype=np.int64)
    first = tc_off[:-1]
    cv_b, cl_b, co_b = cv_off[first], cl_off[first], co_off[first]
    n_cv, n_cl, n_co = int(cv_off[-1]), int(cl_off[-1]), int(co_off[-1])
    Q, P_up, P_down = np.zeros(n_cv), np.zeros(n_cv), np.zeros(n_cv)
    p_les0, p_les1, r_mld = np.zeros(n_cl), np.zeros(n_cl), np.zeros(n_cl)
    coef = np.zeros((2, n_cl))
    p_out = np.zeros(n_co)
    work = np.zeros((10, n_cv))
    lwork = np.zeros((8, n_cl))
    iters = np.zeros(n_cases, dtype=np.int64)
    resid = np.zeros(n_cases)
    passes = np.zeros(n_cases, dtype=np.int64)
    law = bool(np.any(model == LESION_NS_CALIBRATED))
    kernel = get_kernel("ensemble_steady_pre", backend)
    kernel(*tab.values(), case_tree, tc_off, cv_b, cl_b, co_b, mu, rho, kt, model, units.mmhg_to_pa(pa),
           units.ml_s_to_m3_s(qin), units.mmhg_to_pa(pv), np.concatenate(dr_sm), np.concatenate(sev_sm),
           np.concatenate(ro_sm), inner_tolerance(tol) if law else tol, max_iter, LESION_TOL * tol,
           MAX_LESION_PASSES, Q, P_up, P_down, p_les0, p_les1, r_mld, coef, p_out, work, lwork, iters, resid, passes)
    n_pass = int(passes.max()) if n_cases else 0
    if single:   # (n_cases, n) views of the sample-minor results
        tr = trees[0]
        nv, nl, no = tr.n_vessels, tr.n_lesions, tr.n_outlets
        return (Q.reshape(nv, n_cases).T, P_up.reshape(nv, n_cases).T, p_les0.reshape(nl, n_cases).T,
                p_les1.reshape(nl, n_cases).T, r_mld.reshape(nl, n_cases).T, p_out.reshape(no, n_cases).T,
                coef.reshape(2, nl, n_cases).transpose(2, 1, 0), iters, resid, n_pass)
    return Q, P_up, p_les0, p_les1, r_mld, p_out, coef.T, iters, resid, n_pass


def _solve_nodes(trees, t0, case_tree, cv_off, cl_off, co_off, dr, sev, r_out, mu, rho, kt, model, pa, qin, pv, tol,
                 max_iter, backend):
    """The node-level pass (``ensemble_steady``), lesion passes of the ns-calibrated law in Python."""
    n_cases = case_tree.size
    # flat tree arrays
    tv_off = np.concatenate([[0], np.cumsum([t.n_vessels for t in trees])]).astype(np.int64)
    tn_off = np.concatenate([[0], np.cumsum([t.disc.n_nodes for t in trees])]).astype(np.int64)
    # per tree t: its lesions tl_off[t]:tl_off[t+1] in the tree tables (les_k0, les_k1, les_ref, ...)
    tl_off = np.concatenate([[0], np.cumsum([t.n_lesions for t in trees])]).astype(np.int64)
    to_off = np.concatenate([[0], np.cumsum([t.n_outlets for t in trees])]).astype(np.int64)
    parent = np.concatenate([np.where(t.disc.parent >= 0, t.disc.parent + tv_off[i], -1)
                             for i, t in enumerate(trees)]).astype(np.int64)
    vn_off = np.concatenate([trees[0].disc.node_offsets[:1]] +
                            [t.disc.node_offsets[1:] + tn_off[i] for i, t in enumerate(trees)]).astype(np.int64)
    el_len = np.concatenate([t.el_len_m for t in trees])
    r_node = np.concatenate([t.r_node_m for t in trees])
    d_node = np.concatenate([t.d_node_m for t in trees])
    node_les = np.concatenate([np.where(t.node_les >= 0, t.node_les + tl_off[i], -1)
                               for i, t in enumerate(trees)]).astype(np.int64)
    v_out = np.concatenate([t.v_out for t in trees]).astype(np.int64)
    les_k0 = np.concatenate([t.les_k0 + tn_off[i] for i, t in enumerate(trees)]).astype(np.int64)
    les_k1 = np.concatenate([t.les_k1 + tn_off[i] for i, t in enumerate(trees)]).astype(np.int64)
    les_ref = np.concatenate([t.les_ref_m for t in trees])

    n_cv, n_cl, n_co = int(cv_off[-1]), int(cl_off[-1]), int(co_off[-1])
    Q, P_up, P_down = np.zeros(n_cv), np.zeros(n_cv), np.zeros(n_cv)
    p_les0, p_les1, r_mld = np.zeros(n_cl), np.zeros(n_cl), np.zeros(n_cl)
    p_out = np.zeros(n_co)
    work = np.zeros((8, n_cv))
    lwork = np.zeros((4, n_cl))
    iters = np.zeros(n_cases, dtype=np.int64)
    resid = np.zeros(n_cases)
    # ns-calibrated cases: per case-lesion coefficients (R_x, S) at the lesion's flow, iterated with the solution
    lesion_coef = np.zeros((n_cl, 2))
    law = (_NsLaw(trees, case_tree, cv_off, cl_off, tl_off, sev, dr, mu, rho, kt, model)
           if np.any(model == LESION_NS_CALIBRATED) else None)
    if law is not None:
        law.initial(lesion_coef)
    t_pack = time.perf_counter() - t0
    t1 = time.perf_counter()
    kernel = get_kernel("ensemble_steady", backend)
    pv_pa = units.mmhg_to_pa(pv)
    passes = 0
    outputs = (Q, P_up, P_down, p_les0, p_les1, r_mld, p_out, iters, resid)
    owner = [np.repeat(np.arange(n_cases), np.diff(o)) for o in (cv_off, cv_off, cv_off, cl_off, cl_off, cl_off,
                                                                 co_off)] + [np.arange(n_cases)] * 2
    done = np.zeros(n_cases, dtype=bool)
    kept = None
    newton_tol = tol if law is None else inner_tolerance(tol)
    while True:
        kernel(tv_off, parent, vn_off, el_len, r_node, d_node, node_les, v_out, tl_off, les_k0, les_k1, les_ref, to_off,
               case_tree, cv_off, cl_off, co_off, mu, rho, kt, model, lesion_coef, units.mmhg_to_pa(pa),
               units.ml_s_to_m3_s(qin), pv_pa, dr, sev, r_out, newton_tol, max_iter,
               Q, P_up, P_down, p_les0, p_les1, r_mld, p_out, work, lwork, iters, resid)
        passes += 1
        if law is None:
            break
        if kept is not None:   # a converged case keeps the solution it converged with
            for a, k, o in zip(outputs, kept, owner):
                a[done[o]] = k[done[o]]
        rel = law.update(lesion_coef, Q, P_up, r_mld, pv_pa)
        done |= rel <= LESION_TOL * tol
        kept = [a.copy() for a in outputs]
        if done.all() or passes >= MAX_LESION_PASSES:
            resid[:] = np.maximum(resid, np.where(done, 0.0, rel))
            break
    t_kernel = time.perf_counter() - t1
    return t_pack, t_kernel, Q, P_up, p_les0, p_les1, r_mld, p_out, lesion_coef, iters, resid, passes


def _results(trees, single, t_pack, t_kernel, passes, n_cases, cv_off, cl_off, co_off, invalid, tol, on_failure,
             Q, P_up, p_les0, p_les1, r_mld, p_out, lesion_coef, iters, resid, per_point, mu, model, kt, rho, dr, sev,
             backend, t0, probe_nodes=None):
    """Statuses, FFRs and flows of a solved batch (case-major arrays or views)."""
    status = np.where(invalid, NONPOSITIVE_RADIUS, np.where(resid <= tol, CONVERGED, NOT_CONVERGED)).astype(np.int64)
    bad = np.flatnonzero(status == NOT_CONVERGED)
    if bad.size and on_failure == "raise":
        c = int(bad[0])
        raise ConvergenceError(f"batched steady solve: case {c} did not converge (relative residual "
                               f"{resid[c]:.3e} > {tol:.1e} after {iters[c]} iterations; {bad.size} case(s) failed)",
                               residual=float(resid[c]), iterations=int(iters[c]))

    # per-case FFR reference: the root pressure of the tree holding each lesion / outlet
    root_of = [np.array(_root_index(t.disc)) for t in trees]
    if single:
        tr = trees[0]
        Pu = P_up.reshape(n_cases, tr.n_vessels)
        root = root_of[0]
        les_v = np.array([tr.disc.vessel_ids.index(x["vessel"]) for x in tr.disc.lesions], dtype=np.int64)
        out_v = np.array([tr.disc.vessel_ids.index(o) for o in tr.outlet_ids], dtype=np.int64)
        pl0 = p_les0.reshape(n_cases, -1)
        pl1 = p_les1.reshape(n_cases, -1)
        ffr_les = pl1 / Pu[:, root[les_v]] if tr.n_lesions else np.zeros((n_cases, 0))
        ffr_out = p_out.reshape(n_cases, -1) / Pu[:, root[out_v]]
        dp = units.pa_to_mmhg(pl0 - pl1)
        mld = 2e3 * r_mld.reshape(n_cases, -1)
        q_out = units.m3_s_to_ml_s(Q.reshape(n_cases, -1)[:, out_v])
        flow = units.m3_s_to_ml_s(Q.reshape(n_cases, -1))
        les_ids = [f"L{j + 1}" for j in range(tr.n_lesions)]
        les_vessels = [x["vessel"] for x in tr.disc.lesions]
        outlet_ids, vessel_ids = tr.outlet_ids, tr.disc.vessel_ids
    else:
        ffr_les, ffr_out, dp, mld, q_out, flow = [], [], [], [], [], []
        les_ids, les_vessels, outlet_ids, vessel_ids = [], [], [], []
        for c in range(n_cases):
            tr = trees[c]
            Pu = P_up[cv_off[c]:cv_off[c + 1]]
            root = root_of[c]
            les_v = np.array([tr.disc.vessel_ids.index(x["vessel"]) for x in tr.disc.lesions], dtype=np.int64)
            out_v = np.array([tr.disc.vessel_ids.index(o) for o in tr.outlet_ids], dtype=np.int64)
            ffr_les.append(p_les1[cl_off[c]:cl_off[c + 1]] / Pu[root[les_v]] if les_v.size else np.zeros(0))
            ffr_out.append(p_out[co_off[c]:co_off[c + 1]] / Pu[root[out_v]])
            dp.append(units.pa_to_mmhg(p_les0[cl_off[c]:cl_off[c + 1]] - p_les1[cl_off[c]:cl_off[c + 1]]))
            mld.append(2e3 * r_mld[cl_off[c]:cl_off[c + 1]])
            q_out.append(units.m3_s_to_ml_s(Q[cv_off[c]:cv_off[c + 1]][out_v]))
            flow.append(units.m3_s_to_ml_s(Q[cv_off[c]:cv_off[c + 1]]))
            les_ids.append([f"L{j + 1}" for j in range(tr.n_lesions)])
            les_vessels.append([x["vessel"] for x in tr.disc.lesions])
            outlet_ids.append(tr.outlet_ids)
            vessel_ids.append(tr.disc.vessel_ids)
        ffr_les, ffr_out, dp, mld, q_out, flow = (_ragged(x) for x in (ffr_les, ffr_out, dp, mld, q_out, flow))
    if single:   # (n_cases, n) arrays: vectorised (a per-case loop took 2.5 s of a 3.8 s batch of 100 000)
        min_ffr = np.minimum(ffr_out.min(axis=1), ffr_les.min(axis=1) if ffr_les.shape[1] else 1.0)
    else:
        min_ffr = np.array([min(np.min(ffr_out[c]), np.min(ffr_les[c]) if np.size(ffr_les[c]) else 1.0)
                            for c in range(n_cases)])
    res = BatchResult(les_ids, les_vessels, outlet_ids, vessel_ids, ffr_les, dp, mld, ffr_out, q_out, flow,
                      min_ffr, iters, resid, backend,
                      timings_s={"pack": t_pack, "kernel": t_kernel, "lesion_passes": passes}, status=status)
    if per_point:
        res.ffr_point = _per_point(trees[0], mu, model, kt, lesion_coef.reshape(n_cases, -1, 2), rho,
                                   dr.reshape(n_cases, -1),
                                   sev.reshape(n_cases, -1),
                                   Q.reshape(n_cases, -1), P_up.reshape(n_cases, -1), root_of[0])
    if probe_nodes is not None:
        res.ffr_node = _node_ffr(trees[0], np.asarray(probe_nodes, dtype=np.int64), mu, Q.reshape(n_cases, -1),
                                 P_up.reshape(n_cases, -1), p_les0.reshape(n_cases, -1), p_les1.reshape(n_cases, -1),
                                 dr.reshape(n_cases, -1), sev.reshape(n_cases, -1), root_of[0])
    failed = np.flatnonzero(status != CONVERGED)
    if failed.size:   # a failed case has no result
        for name in ("ffr_lesion", "delta_p_lesion_mmHg", "mld_mm", "ffr_outlet", "flow_outlet_ml_s", "flow_ml_s",
                     "min_ffr", "ffr_point", "ffr_node"):
            a = getattr(res, name)
            if a is None:
                continue
            if a.dtype == object:
                for c in failed:
                    a[c] = np.full(np.shape(a[c]), np.nan)
            else:
                a[failed] = np.nan
    res.timings_s["total"] = time.perf_counter() - t0
    return res


class _NsLaw:
    """The ``ns-calibrated`` coefficients of every case-lesion of a batch, re-evaluated at the solved flows.

    Shape descriptors (:func:`ffrflow.cfd.lesion.lesion_shape`) come from each tree's own profile;
    a case's severity scales the lesion's depth, hence its inlet slope (the band, the throat exit
    and the distances are unchanged); its radius offset moves the reference and minimal radii. The
    Poiseuille resistance along each case-lesion (its radii, its viscosity) bounds the law's
    development term. The passes converge as explained in :mod:`ffrflow.cfd.steady`.
    """

    def __init__(self, trees, case_tree, cv_off, cl_off, tl_off, sev, dr, mu, rho, kt, model):
        n_cl = int(cl_off[-1])
        case = np.repeat(np.arange(case_tree.size), np.diff(cl_off))
        local = np.arange(n_cl) - cl_off[case]
        glob = tl_off[case_tree[case]] + local
        flat = [x for t in trees for x in t.disc.lesions]
        none = {"band_up_mm": 0.0, "inlet_slope": 0.0, "gap_mm": math.inf, "wire_mm": 0.0, "exit_from_start_mm": 0.0}
        self.shape = {k: v[glob] for k, v in shape_arrays([x.get("shape") or none for x in flat]).items()}
        self.shape["inlet_slope"] = self.shape["inlet_slope"] * sev
        nxt_local = np.array([-1 if x.get("next_lesion") is None else x["next_lesion"] for x in flat],
                             dtype=np.int64)[glob]
        self.next = np.where(nxt_local >= 0, cl_off[case] + nxt_local, -1)
        les_v = np.array([t.disc.vessel_ids.index(x["vessel"]) for t in trees for x in t.disc.lesions], dtype=np.int64)
        self.cv = cv_off[case] + les_v[glob]
        self.ref = np.concatenate([t.les_ref_m for t in trees])[glob] + dr[self.cv]
        self.mu, self.rho, self.scale = mu[case], rho[case], (kt / KT_YOUNG_TSAI)[case]
        self.on = model[case] == LESION_NS_CALIBRATED
        self.case = case
        self.n_cases = case_tree.size
        self.roots = [np.flatnonzero(t.disc.parent < 0) for t in trees]
        self.cv_off, self.case_tree = cv_off, case_tree
        # each case's minimal radius and Poiseuille resistance along the lesion (as the kernel computes
        # them: node radii with severity and offset, exact frustum integrals)
        self.r_mld = np.zeros(n_cl)
        self.r_pois = np.zeros(n_cl)
        order = np.argsort(glob, kind="stable")
        bounds = np.searchsorted(glob[order], np.arange(int(tl_off[-1]) + 1))
        for ti, t in enumerate(trees):
            for j in range(t.n_lesions):
                g = int(tl_off[ti]) + j
                idx = order[bounds[g]:bounds[g + 1]]
                if idx.size:
                    k = slice(int(t.les_k0[j]), int(t.les_k1[j]) + 1)
                    # each node with its own lesion's severity (a node shared by touching lesions is the next one's)
                    lab = t.node_les[k]
                    sv = sev[(idx - j)[:, None] + lab[None, :]]
                    r = t.r_node_m[k][None, :] + (1.0 - sv) * t.d_node_m[k][None, :] + dr[self.cv[idx], None]
                    self.r_mld[idx] = r.min(axis=1)
                    self.r_pois[idx] = (8.0 / (3.0 * math.pi)) * self.mu[idx] * frusta_sum(
                        r[:, :-1], r[:, 1:], t.el_len_m[k][1:])

    def _coefficients(self, q, r_mld):
        r_x, s = ns_calibrated_coefficients(q, self.ref, r_mld, mu_pa_s=self.mu, rho_kg_m3=self.rho, scale=self.scale,
                                            next_index=self.next, poiseuille_r=self.r_pois, **self.shape)
        return np.where(self.on, r_x, 0.0), np.where(self.on, s, 0.0)

    def initial(self, coef):
        """The coefficients of the low-flow limit (as the single-network discretisation starts)."""
        coef[:, 0], coef[:, 1] = self._coefficients(0.0, self.r_mld)

    def update(self, coef, Q, P_up, r_mld, pv_pa) -> np.ndarray:
        """Re-evaluate ``coef`` (n_cl, 2) in place at the flows ``Q``; return per case the largest change
        of a lesion drop relative to the case's driving pressure."""
        q = Q[self.cv]
        r_x, s = self._coefficients(q, r_mld)
        change = np.abs((r_x - coef[:, 0]) * q + (s - coef[:, 1]) * q * np.abs(q))
        coef[:, 0], coef[:, 1] = r_x, s
        per_case = np.zeros(self.n_cases)
        np.maximum.at(per_case, self.case, change)
        if len(self.roots) == 1:   # one tree for every case: vectorised
            pu = P_up.reshape(self.n_cases, -1)[:, self.roots[0]]
            drive = np.max(np.abs(pu - pv_pa[:, None]), axis=1)
        else:
            drive = np.array([np.max(np.abs(P_up[self.cv_off[c] + self.roots[self.case_tree[c]]] - pv_pa[c]))
                              for c in range(self.n_cases)])
        return per_case / np.maximum(drive, 1e-12)


def _min_radius(trees, case_tree, cv_off, cl_off, sev, dr) -> np.ndarray:
    """Smallest node radius (m) of every case: healthy nodes r + dr, lesion nodes r + (1 − sev) d + dr."""
    out = np.full(case_tree.size, np.inf)
    for t, tr in enumerate(trees):
        cases = np.flatnonzero(case_tree == t)
        if not cases.size:
            continue
        disc = tr.disc
        drc = dr[cv_off[cases][:, None] + np.arange(tr.n_vessels)[None, :]]
        healthy = np.full(tr.n_vessels, np.inf)
        out_les = tr.node_les < 0
        np.minimum.at(healthy, disc.node_vessel[out_les], tr.r_node_m[out_les])
        m = (healthy[None, :] + drc).min(axis=1)
        for j in range(tr.n_lesions):
            k = slice(int(tr.les_k0[j]), int(tr.les_k1[j]) + 1)
            v = int(disc.node_vessel[tr.les_k0[j]])
            lab = tr.node_les[k]
            r = (tr.r_node_m[k][None, :] + (1.0 - sev[cl_off[cases][:, None] + lab[None, :]]) * tr.d_node_m[k][None, :]
                 + drc[:, v:v + 1])
            m = np.minimum(m, r.min(axis=1))
        out[cases] = m
    return out


def _ragged(rows):
    try:
        return np.array(rows, dtype=np.float64)
    except ValueError:
        return np.array(rows, dtype=object)


def _root_index(disc: Discretization) -> list[int]:
    root = list(range(disc.n_vessels))
    for i in range(disc.n_vessels):
        p = disc.parent[i]
        root[i] = root[p] if p >= 0 else i
    return root


def _per_point(tr: TreeArrays, mu, model, kt, lesion_coef, rho, dr, sev, Q, P_up, root):
    """FFR at every node for every case of a single-network batch (vectorised over cases)."""
    disc = tr.disc
    nv = disc.node_vessel
    les = tr.node_les
    sv = np.where(les >= 0, sev[:, np.maximum(les, 0)], 1.0)
    rb = tr.r_node_m[None, :] + (1.0 - sv) * tr.d_node_m[None, :] + dr[:, nv]
    el = np.zeros_like(rb)
    el[:, 1:] = 8.0 * mu[:, None] * tr.el_len_m[None, 1:] * (rb[:, :-1] ** 2 + rb[:, :-1] * rb[:, 1:] + rb[:, 1:] ** 2) \
        / (3.0 * math.pi * rb[:, :-1] ** 3 * rb[:, 1:] ** 3)
    rc = np.cumsum(el, axis=1)
    rc -= rc[:, disc.node_offsets[:-1]][:, nv]
    sc = np.zeros_like(rb)
    for j, x in enumerate(disc.lesions):
        k0, k1 = x["node_start"], x["node_end"]
        stop = disc.node_offsets[nv[k1] + 1]
        rmin = rb[:, k0:k1 + 1].min(axis=1)
        ref = tr.les_ref_m[j] + dr[:, nv[k1]]
        a0, a_s = np.pi * ref ** 2, np.pi * rmin ** 2
        f = np.where(a_s < a0, (a0 / a_s - 1) ** 2, 0.0)
        ns = (model == LESION_NS_CALIBRATED) & (a_s < a0)
        s_coef = np.where(ns, lesion_coef[:, j, 1], kt * rho / (2 * a0 ** 2) * f)
        if np.any(model == LESION_YOUNG_TSAI):
            raise InvalidInputError("per_point: not available with the young-tsai lesion model")
        rc[:, k1:stop] += np.where(ns, lesion_coef[:, j, 0], 0.0)[:, None]
        sc[:, k1:stop] += s_coef[:, None]
    q = Q[:, nv]
    p = P_up[:, nv] - q * rc - q * np.abs(q) * sc
    return p / P_up[:, np.asarray(root)[nv]]


def _node_ffr(tr: TreeArrays, nodes: np.ndarray, mu, Q, P_up, p_les0, p_les1, dr, sev, root) -> np.ndarray:
    """FFR at the global nodes ``nodes`` of every case of a single-network batch (N × len(nodes)).

    The pressure at node k of vessel v is the pressure at the nearest anchor a ≤ k upstream on v
    whose pressure the solve returns (v's start P_up, a lesion's start p_les0 or end p_les1) minus
    Q_v times the exact Poiseuille resistance of the case's frusta from a to k: between an anchor
    and the next lesion end nothing but Poiseuille elements acts (every lesion term sits at its
    lesion's end, docs/physics.md §Steady network), so this is the single solve's node pressure to
    round-off. The frusta of the stretch whose radii move only with the vessel's offset δ are summed
    once, as a Chebyshev expansion in δ (:mod:`ffrflow.cfd.ensemble_layout`, relative error below
    1e-10), so a sample costs O(1) per probe; the narrowed frusta (a probe inside a lesion), and
    samples whose δ lies outside the expansion's range, are summed exactly. Not for ``young-tsai``
    nodes inside a lesion (that law spreads its resistance over the lesion), which are refused.
    """
    disc = tr.disc
    n_cases = Q.shape[0]
    out = np.empty((n_cases, nodes.size))
    if nodes.size == 0:
        return out
    if np.any((nodes < 0) | (nodes >= disc.n_nodes)):
        raise InvalidInputError(f"probe_nodes: expected node indices in [0, {disc.n_nodes}), got {nodes.min()}.."
                                f"{nodes.max()}")
    nv_of = disc.node_vessel
    anchors: dict[int, list[tuple[int, str, int]]] = {}
    for j, x in enumerate(disc.lesions):
        v = int(nv_of[x["node_start"]])
        anchors.setdefault(v, []).append((int(x["node_start"]), "start", j))
        anchors.setdefault(v, []).append((int(x["node_end"]), "end", j))
    young_tsai = tr.network.model.lesion == "young-tsai"
    c8 = 8.0 * mu / (3.0 * math.pi)
    rootp = P_up[:, np.asarray(root)]
    d_range = default_ranges(tr)[0]
    moved = (tr.node_les >= 0) & (tr.d_node_m > 0)           # radius moves with the lesion's severity too
    for i, k in enumerate(nodes):
        v = int(nv_of[k])
        a, p = int(disc.node_offsets[v]), P_up[:, v]
        inside = None
        for node, kind, j in sorted(anchors.get(v, []), key=lambda z: (z[0], z[1] == "end")):
            if a <= node <= k:
                a, p = node, (p_les0[:, j] if kind == "start" else p_les1[:, j])
                inside = j if kind == "start" else None
        if k > a:
            if young_tsai and inside is not None:
                raise InvalidInputError(f"probe_nodes: node {int(k)} lies inside lesion L{inside + 1}, whose "
                                        "young-tsai resistance is spread over the lesion; read FFR outside it")
            ks = np.arange(a + 1, k + 1)                   # the frusta (k − 1, k)
            plain = ~moved[ks - 1] & ~moved[ks]
            p = p - Q[:, v] * c8 * (_offset_sum(tr, ks[plain], dr[:, v], d_range[v]) +
                                    _exact_sum(tr, ks[~plain], dr[:, v], sev))
        out[:, i] = p / rootp[:, v]
    return out


def _offset_sum(tr: TreeArrays, ks: np.ndarray, delta: np.ndarray, default: np.ndarray) -> np.ndarray:
    """K(δ) = Σ L (a² + ab + b²)/(a³ b³) over the frusta (k − 1, k), k in ``ks``, whose radii are
    r + δ (m⁻³, one value per sample): a Chebyshev expansion on the vessel's default range of δ
    joined with the samples' (kept clear of the pole at δ = −min r), exact sums outside it."""
    if ks.size == 0:
        return np.zeros(delta.size)
    r0, r1, ln = tr.r_node_m[ks - 1], tr.r_node_m[ks], tr.el_len_m[ks]
    floor = -0.9 * float(min(r0.min(), r1.min()))
    lo = max(min(float(default[0]), float(delta.min())), floor)
    hi = max(float(default[1]), float(delta.max()), lo + 1e-12)
    out = np.empty(delta.size)
    inside = (delta >= lo) & (delta <= hi)
    if inside.any():
        out[inside] = cheb_eval(cheb_fit(lambda x: frustum_sum(r0, r1, ln, x), lo, hi), delta[inside])
    if not inside.all():
        out[~inside] = frustum_sum(r0, r1, ln, delta[~inside])
    return out


def _exact_sum(tr: TreeArrays, ks: np.ndarray, delta: np.ndarray, sev: np.ndarray) -> np.ndarray:
    """The same sum over frusta with narrowed nodes, radius r + (1 − s)·d + δ, summed per sample."""
    if ks.size == 0:
        return np.zeros(delta.size)
    nodes = np.concatenate([ks - 1, ks])
    lab = tr.node_les[nodes]
    s = np.where(lab >= 0, sev[:, np.maximum(lab, 0)], 1.0)
    r = tr.r_node_m[nodes][None, :] + delta[:, None] + (1.0 - s) * tr.d_node_m[nodes][None, :]
    return frusta_sum(r[:, :ks.size], r[:, ks.size:], tr.el_len_m[ks])
