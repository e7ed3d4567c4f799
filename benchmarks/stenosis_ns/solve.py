"""Solve one geometry at a ladder of flows with OpenFOAM and measure the pressure drop.

See :mod:`benchmarks.stenosis_ns.foam` for the mesh and the sampling, and ``README.md`` for
the definitions stored in the tables.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import foam
from .geometry import Geometry, MeshSpec, axial_nodes_m, radial_fractions

log = logging.getLogger("benchmarks.stenosis_ns")

RHO_KG_M3 = 1060.0
MU_PA_S = 3.5e-3
NU_M2_S = MU_PA_S / RHO_KG_M3
PA_PER_MMHG = 133.322387415

UPSTREAM_R0 = 8.0  # inlet at 8 r0 before the lesion start
UPSTREAM_PLANE_R0 = 2.0
DOWNSTREAM_PLANE_R0 = 20.0
MIN_TAIL_R0 = 40.0  # outlet at least 40 r0 beyond the downstream plane

SETTINGS = {
    "div_phi_U": "bounded Gauss linearUpwind grad(U)",
    "p_reltol": 0.05,
    "U_reltol": 0.1,
    "residual_p": 1e-6,
    "residual_U": 1e-7,
    "residual_Uy": 1e-5,
    "dp_change_tol": 1e-5,
    "chunk": 50,
    "relax_U": 0.9,
    # (U relaxation, non-orthogonal correctors): the first that does not diverge is used
    "fallbacks": ((0.9, 0), (0.7, 1), (0.5, 2)),
    "relax_p": 1.0,
    "max_iterations": 2500,
    "stall_after": 1000,
    "stall_window": 300,
    "monitor_every": 10,
}


@dataclass
class Domain:
    """Axial extent (m): inlet, sampling planes and outlet, with z = 0 at the lesion start."""

    z_in_m: float
    z_up_m: float
    z_dn_m: float
    z_out_m: float


def jet_tail_m(g: Geometry, q_max_m3_s: float) -> float:
    """Outlet distance beyond the downstream plane (m): ``max(40 r0, estimated recirculation)``.

    The recirculation behind a stenosis grows roughly linearly with the throat Reynolds number;
    ``0.08 Re_t d_t`` (a conservative fit to the runs of this harness, checked after every solve
    by the near-wall velocity: see ``recirculation_end_mm``) estimates its length.
    """
    if g.shape == "tube":
        return MIN_TAIL_R0 * g.r0_m
    rt = g.r_min_m
    re_t = RHO_KG_M3 * (q_max_m3_s / (math.pi * rt**2)) * 2 * rt / MU_PA_S
    est = 0.08 * re_t * 2 * rt + g.length_m - DOWNSTREAM_PLANE_R0 * g.r0_m
    return max(MIN_TAIL_R0 * g.r0_m, est + 10 * g.r0_m)


def make_domain(g: Geometry, q_max_m3_s: float, tail_factor: float = 1.0) -> Domain:
    r0, L = g.r0_m, g.length_m
    z_dn = L + DOWNSTREAM_PLANE_R0 * r0
    return Domain(-UPSTREAM_R0 * r0, -UPSTREAM_PLANE_R0 * r0, z_dn, z_dn + tail_factor * jet_tail_m(g, q_max_m3_s))


def key_points_m(g: Geometry):
    """Axial positions that must be mesh nodes: throat(s) and plateau ends."""
    L = g.length_m
    if g.shape in ("cosine", "gaussian"):
        return [L / 2]
    if g.shape == "asymmetric":
        return [0.2 * L, 0.3 * L]
    if g.shape == "diffuse":
        return [0.35 * L, 0.65 * L]
    if g.shape == "tandem":
        l1, gap, l2 = g.extra["l1_m"], g.extra["gap_m"], g.extra["l2_m"]
        return [l1 / 2, l1, l1 + gap, l1 + gap + l2 / 2]
    return []


@dataclass
class Mesh:
    case: Path
    z_nodes_m: np.ndarray
    r_wall_m: np.ndarray
    n_radial: int
    n_cells: int
    col_up: int
    col_dn: int
    volumes: np.ndarray
    centres: np.ndarray
    inlet_r_nodes_m: np.ndarray
    domain: Domain
    spec: MeshSpec
    seconds: float = 0.0
    check: dict = field(default_factory=dict)


def build_mesh(g: Geometry, dom: Domain, spec: MeshSpec, workdir: Path, settings: dict) -> Mesh:
    """blockMesh + topoSet (sampling zones) + cell centres/volumes for one geometry."""
    t0 = time.perf_counter()
    case = workdir / "mesh"
    case.mkdir(parents=True, exist_ok=True)
    planes = [dom.z_up_m, dom.z_dn_m]
    nodes = axial_nodes_m(g, dom.z_in_m, dom.z_out_m, planes, spec, extra_fixed_m=key_points_m(g),
                          far_start_m=dom.z_dn_m + 2 * g.r0_m)
    r_wall = g.radius_m(nodes)
    nr = spec.radial_cells(g)
    foam.write_block_mesh_dict(case, nodes, r_wall, nr, spec.radial_grading)
    cols = [int(np.searchsorted(nodes, z) - 1) for z in planes]
    zones = {}
    for name, k in zip(("up", "dn"), cols):
        h = nodes[k + 1] - nodes[k]
        zones[name] = (nodes[k] + 0.25 * h, nodes[k + 1] - 0.25 * h)
    foam.write_static_files(case, NU_M2_S, settings["chunk"], zones, settings, settings["monitor_every"])
    foam.run_foam("blockMesh", case, log="log.blockMesh")
    foam.run_foam("topoSet", case, log="log.topoSet")
    (case / "0").mkdir(exist_ok=True)
    foam.write_fields(case / "0", np.zeros(nr))
    foam.run_foam("postProcess", case, "-func", "writeCellCentres", "-time", "0", log="log.C")
    foam.run_foam("postProcess", case, "-func", "writeCellVolumes", "-time", "0", log="log.V")
    C = foam.read_internal_field(case / "0" / "C")
    V = foam.read_internal_field(case / "0" / "V")
    n_cells = len(V)
    if n_cells != nr * (len(nodes) - 1):
        raise RuntimeError(f"mesh has {n_cells} cells, expected {nr} x {len(nodes) - 1}")
    # cell k*nr + j is cell j (outward) of column k: check it
    cx = C[:, 0].reshape(-1, nr)
    if np.any(cx < nodes[:-1, None] - 1e-12) or np.any(cx > nodes[1:, None] + 1e-12):
        raise RuntimeError("cell ordering is not column by column")
    for k, z in zip(cols, planes):
        if np.max(np.abs(cx[k] - z)) > 1e-9 * g.r0_m:
            raise RuntimeError(f"sampling column {k} is not centred on z = {z}")
    r_in = g.r0_m * radial_fractions(nr, spec.radial_grading)
    cin = foam.read_patch_value(case / "0" / "C", "inlet")
    rc = np.hypot(cin[:, 1], cin[:, 2])
    if len(rc) != nr or np.any(rc < r_in[:-1] * math.cos(math.radians(0.5)) - 1e-12) or np.any(rc > r_in[1:]):
        raise RuntimeError("inlet faces are not ordered from the axis outward")
    return Mesh(case, nodes, r_wall, nr, n_cells, cols[0], cols[1], V, C, r_in, dom, spec,
                seconds=time.perf_counter() - t0)


def column_average(field, mesh: Mesh, col: int) -> float:
    """Volume-weighted (= area-weighted, see :mod:`foam`) mean of ``field`` over one column."""
    s = slice(col * mesh.n_radial, (col + 1) * mesh.n_radial)
    return float(np.sum(field[s] * mesh.volumes[s]) / np.sum(mesh.volumes[s]))


def recirculation(U, mesh: Mesh):
    """Downstream extent of reversed near-wall flow and outlet backflow.

    Returns ``(z_end_m or None, outlet_backflow)``: the largest z whose wall-adjacent cell has a
    negative axial velocity, and whether any cell of the last column flows backward.
    """
    nr = mesh.n_radial
    ux = U[:, 0].reshape(-1, nr)
    zc = 0.5 * (mesh.z_nodes_m[1:] + mesh.z_nodes_m[:-1])
    neg = np.nonzero(ux[:, -1] < 0.0)[0]
    z_end = float(zc[neg[-1]]) if len(neg) else None
    return z_end, bool(np.any(ux[-1] < 0.0))


def solve_flows(g: Geometry, flows_ml_s, spec: MeshSpec, settings: dict | None = None, workdir: Path | None = None,
                keep: bool = False, tail_factor: float = 1.0) -> list[dict]:
    """Solve geometry ``g`` at each flow (mL/s, ascending; each run restarts from the previous one).

    Returns one record per flow (SI and clinical units, see README). If a run's recirculation
    reaches within 5 r0 of the outlet or the outlet has backflow, the geometry is re-solved once
    with a domain twice as long downstream.
    """
    settings = {**SETTINGS, **(settings or {})}
    flows = sorted(float(q) for q in flows_ml_s)
    tmp = Path(tempfile.mkdtemp(prefix="stenosis_ns_", dir=workdir))
    try:
        dom = make_domain(g, flows[-1] * 1e-6, tail_factor)
        mesh = build_mesh(g, dom, spec, tmp, settings)
        out = []
        prev = None
        for q in flows:
            rec, prev = _solve_one(g, mesh, q, prev, settings, tmp)
            out.append(rec)
            log.info("%s r0=%.2fmm AS=%.0f%% L=%.1fmm Q=%.3gmL/s: dp=%s Pa it=%d conv=%s relax=%s %.0fs",
                     g.shape, g.r0_m * 1e3, g.area_stenosis * 100, g.length_m * 1e3, q,
                     None if rec["dp_pa"] is None else f"{rec['dp_pa']:.2f}", rec["iterations"], rec["converged"],
                     rec["relax_U"], rec["wall_time_s"])
        bad = [r for r in out if r["outlet_backflow"] is True or (r["recirculation_end_mm"] is not None and
                                                          r["recirculation_end_mm"] > (dom.z_out_m - 5 * g.r0_m) * 1e3)]
        if bad and tail_factor < 2.0:
            log.warning("recirculation reaches the outlet region; re-solving with a longer domain")
            return solve_flows(g, flows, spec, settings, workdir, keep, tail_factor=2.0)
        for r in out:
            r["mesh_seconds"] = round(mesh.seconds, 2)
        return out
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def _solve_one(g: Geometry, mesh: Mesh, q_ml_s: float, prev, settings: dict, tmp: Path):
    """Solve one flow; on divergence (floating-point exception) retry with stronger relaxation."""
    t0 = time.perf_counter()
    q = q_ml_s * 1e-6
    a0 = math.pi * g.r0_m**2
    u_mean = q / a0
    r_t = g.r_min_m
    base = {
        "flow_ml_s": q_ml_s,
        "mean_velocity_m_s": u_mean,
        "reynolds": RHO_KG_M3 * u_mean * 2 * g.r0_m / MU_PA_S,
        "reynolds_throat": RHO_KG_M3 * (q / (math.pi * r_t**2)) * 2 * r_t / MU_PA_S,
    }
    mesh_info = {"cells": mesh.n_cells, "n_radial": mesh.n_radial, "n_axial": len(mesh.z_nodes_m) - 1,
                 "domain_mm": [mesh.domain.z_in_m * 1e3, mesh.domain.z_out_m * 1e3]}
    failures = []
    for relax, nonorth in settings["fallbacks"]:
        case = tmp / f"q{q_ml_s:g}_relax{relax:g}"
        _prepare_case(mesh, case, u_mean, q_ml_s, prev, {**settings, "relax_U": relax, "non_orthogonal": nonorth})
        try:
            rec, state = _iterate(case, mesh, settings)
        except RuntimeError as exc:  # diverged (sigFpe) or crashed
            failures.append(f"relax_U {relax:g}, nNonOrthogonalCorrectors {nonorth}: {str(exc).splitlines()[0]}")
            log.warning("%s Q=%g diverged with U relaxation %g", g.shape, q_ml_s, relax)
            continue
        rec = {**base, **rec, **mesh_info, "relax_U": relax, "non_orthogonal_correctors": nonorth,
               "wall_time_s": round(time.perf_counter() - t0, 2)}
        if failures:
            rec["retries"] = failures
        return rec, {"q_ml_s": q_ml_s, **state}
    rec = {**base, "dp_pa": None, "dp_mmhg": None, "p_up_pa": None, "p_dn_pa": None, "iterations": 0,
           "final_residuals": {}, "dp_change_last_chunk": None, "dp_variation_last20pct": None,
           "converged": False, "recirculation_end_mm": None, "outlet_backflow": None, **mesh_info,
           "relax_U": None, "non_orthogonal_correctors": None, "wall_time_s": round(time.perf_counter() - t0, 2),
           "retries": failures,
           "note": "diverged with every U relaxation tried: " + "; ".join(failures)}
    return rec, prev


def _prepare_case(mesh: Mesh, case: Path, u_mean: float, q_ml_s: float, prev, settings: dict) -> None:
    if case.exists():
        shutil.rmtree(case)
    foam.copy_mesh(mesh.case, case)
    shutil.copytree(mesh.case / "system", case / "system", dirs_exist_ok=True)
    for f in ("transportProperties", "turbulenceProperties"):
        shutil.copy(mesh.case / "constant" / f, case / "constant" / f)
    fv = case / "system" / "fvSolution"
    text = re.sub(r"(equations\s*\{\s*U\s+)[0-9.eE+-]+;", rf"\g<1>{settings['relax_U']};", fv.read_text())
    text = re.sub(r"nNonOrthogonalCorrectors\s+\d+;", f"nNonOrthogonalCorrectors {settings['non_orthogonal']};", text)
    fv.write_text(text)
    u_in = foam.poiseuille_face_velocity(mesh.inlet_r_nodes_m, u_mean)
    if prev is None:
        foam.write_fields(case / "0", u_in)
    else:
        s = q_ml_s / prev["q_ml_s"]
        foam.write_fields(case / "0", u_in, prev["U"] * s, prev["p"] * s**1.5)


def _iterate(case: Path, mesh: Mesh, settings: dict):
    """Run simpleFoam in chunks until converged, stalled or out of iterations; measure the drop."""
    chunk = settings["chunk"]
    it_done, history, logs = 0, [], []
    conv = stalled = False
    while it_done < settings["max_iterations"]:
        foam.set_end_time(case, it_done + chunk, chunk)
        text = foam.run_foam("simpleFoam", case)
        logs.append(text)
        info = foam.parse_log(text)
        it_done = info["last_time"]
        res = info["final_residuals"]
        _, hu = foam.read_monitor(case, "up")
        _, hd = foam.read_monitor(case, "dn")
        n = min(len(hu), len(hd))
        hist = RHO_KG_M3 * (hu[:n] - hd[:n])
        # change of the drop over the last chunk, relative
        k = max(0, n - chunk // settings["monitor_every"] - 1)
        dp_change = float(abs(hist[-1] - hist[k]) / max(abs(hist[-1]), 1e-30)) if n > 1 else float("inf")
        history.append((it_done, dp_change, dict(res)))
        conv = (res.get("p", 1.0) < settings["residual_p"] and res.get("Ux", 1.0) < settings["residual_U"]
                and res.get("Uy", 1.0) < settings["residual_Uy"] and dp_change < settings["dp_change_tol"])
        if conv:
            break
        # give up early on a run that stopped converging (an unsteady jet oscillates for ever):
        # the drop's change per chunk has not fallen tenfold over the last `stall_window` iterations
        w = settings["stall_window"] // chunk
        if it_done >= settings["stall_after"] and len(history) > 2 * w:
            recent = min(h[1] for h in history[-w:])
            earlier = history[-2 * w][1]
            if recent > 0.1 * earlier:
                stalled = True
                break
    (case / "log.simpleFoam.all").write_text("".join(logs))
    tl = foam.latest_time(case)
    U = foam.read_internal_field(case / tl / "U")
    p = foam.read_internal_field(case / tl / "p")
    p_up = column_average(p, mesh, mesh.col_up)
    p_dn = column_average(p, mesh, mesh.col_dn)
    dp = RHO_KG_M3 * (p_up - p_dn)
    tail = hist[int(0.8 * n):] if n >= 10 else hist
    dp_tail_rel = float((tail.max() - tail.min()) / abs(dp)) if len(tail) and dp != 0 else float("nan")
    z_rec, backflow = recirculation(U, mesh)
    rec = {
        "dp_pa": dp,
        "dp_mmhg": dp / PA_PER_MMHG,
        "p_up_pa": RHO_KG_M3 * p_up,
        "p_dn_pa": RHO_KG_M3 * p_dn,
        "iterations": it_done,
        "final_residuals": {k: v for k, v in res.items()},
        "dp_change_last_chunk": dp_change,
        "dp_variation_last20pct": dp_tail_rel,
        "converged": conv,
        "recirculation_end_mm": None if z_rec is None else z_rec * 1e3,
        "outlet_backflow": backflow,
    }
    if not conv:
        rec["note"] = (f"not converged in {it_done} iterations{' (stopped: stalled)' if stalled else ''} "
                       f"(drop varies by {dp_tail_rel:.2e} relative over the last 20 % of them)")
    return rec, {"U": U, "p": p}
