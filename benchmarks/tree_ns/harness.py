"""3D Navier–Stokes table of whole sub-trees (OpenFOAM ``simpleFoam`` on gmsh tetrahedra).

``python -m benchmarks.tree_ns.harness --case bifurcation_healthy`` solves one case (both flow
levels) and writes ``benchmarks/data/tree_ns/<case>.json``; ``--size`` sets the mesh
(element size / local radius), ``--convergence`` adds a mesh series on the case into
``mesh_convergence.json``. See ``README.md`` in this folder for what a case is.

Per flow level: the network is solved by ffrflow's steady hyperemic model with
``boundary.myocardial_mass_g`` = the level's mass; its inlet flow and outlet flows are imposed on
the 3D model (Poiseuille inlet; fixed outlet pressures, corrected between runs until every outlet carries its
1D flow within ``flow_tol``); the cross-section-averaged pressure is sampled every 0.5 mm along every
centerline (:mod:`benchmarks.tree_ns.post`). Pressures in the table are relative to the 3D
pressure at the reference plane (``REFERENCE_S_MM`` on the root), so ``p_mmHg`` is minus the
drop from the reference plane.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import math
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.stenosis_ns import foam as sfoam
from benchmarks.stenosis_ns.solve import MU_PA_S, NU_M2_S, PA_PER_MMHG, RHO_KG_M3

from . import foamcase, post
from .cases import CASES, REFERENCE_S_MM, build_case
from .mesh import mesh_network

log = logging.getLogger("benchmarks.tree_ns")

DATA = Path(__file__).resolve().parents[1] / "data" / "tree_ns"
#: Element size / local radius of the table's meshes (the coarser mesh of the convergence study: see README).
BASE_SIZE = 0.25


def hyperemic_bc(network, mass_g: float) -> dict:
    """ffrflow's steady hyperemic solution at one myocardial mass: flows, pressures, resistances."""
    import ffrflow

    res = ffrflow.solve(network, detect=False, overrides={"boundary.myocardial_mass_g": float(mass_g)},
                        backend="numpy")
    outs = {r["vessel"]: r for r in res.outlet_records}
    root = network.roots[0]
    rv = res.vessel(root)
    q_in = float(rv["flow_ml_s"][0])
    p_ref = float(np.interp(REFERENCE_S_MM, rv["s_mm"], rv["pressure_mmHg"]))
    return {
        "myocardial_mass_g": float(mass_g),
        "aortic_pressure_mmHg": float(network.boundary.inlet_pressure_mmHg),
        "inlet_flow_ml_s": q_in,
        "outlet_flows_ml_s": {k: float(v["flow_ml_s"]) for k, v in outs.items()},
        "outlet_resistance_mmHg_s_per_ml": {k: float(v["resistance_mmHg_s_per_ml"]) for k, v in outs.items()},
        "ffr_1d_outlets": {k: float(v["ffr"]) for k, v in outs.items()},
        "p_1d_outlets_rel_mmHg": {k: float(v["pressure_mmHg"]) - p_ref for k, v in outs.items()},
        "matching_resistance_mmHg_s_per_ml": matching_resistances(network, res),
    }


def matching_resistances(network, res) -> dict:
    """Per outlet but the one of largest flow (the reference), the 1D resistance that links its
    outlet pressure to its flow when the inlet flow is fixed: the paths from the junction it shares
    with the reference outlet to both outlets, R_o + R_ref (mmHg·s/mL). Only these paths carry the
    flow that an outlet pressure moves between the two; a stenosis upstream of the shared junction
    does not (taking whole inlet-to-outlet paths makes the outlet-pressure steps several times too
    large behind a left-main lesion, and the matching oscillates away)."""
    outs = {r["vessel"]: r for r in res.outlet_records}
    ref = max(outs, key=lambda k: outs[k]["flow_ml_s"])

    def path(v):
        out = []
        while v is not None:
            out.append(v)
            v = network.vessels[v].parent
        return out[::-1]

    r = {}
    for o in outs:
        if o == ref:
            continue
        po, pr = path(o), path(ref)
        n = 0
        while n < min(len(po), len(pr)) and po[n] == pr[n]:
            n += 1
        pj = float(res.vessel(po[n - 1])["pressure_mmHg"][-1])   # the end of the last shared vessel
        r[o] = sum((pj - float(outs[k]["pressure_mmHg"])) / float(outs[k]["flow_ml_s"]) for k in (o, ref))
    return r


def _iterate(case: Path, patches: list[str], settings: dict) -> dict:
    chunk = settings["chunk"]
    it, history, logs, conv = 0, [], [], False
    res = {}
    dp_change = float("inf")
    while it < settings["max_iterations"]:
        sfoam.set_end_time(case, it + chunk, chunk)
        text = sfoam.run_foam("simpleFoam", case)
        logs.append(text)
        info = sfoam.parse_log(text)
        it, res = info["last_time"], info["final_residuals"]
        mons = [foamcase.read_patch_monitor(case, p)[1] for p in patches]
        n = min(len(m) for m in mons)
        drops = np.array([mons[0][:n] - m[:n] for m in mons[1:]])      # inlet minus each outlet
        k = max(0, n - chunk // settings["monitor_every"] - 1)
        scale = max(np.abs(drops[:, -1]).max(), 1e-30)
        dp_change = float(np.abs(drops[:, -1] - drops[:, k]).max() / scale) if n > 1 else float("inf")
        history.append((it, dp_change))
        ures = max(res.get(c, 1.0) for c in ("Ux", "Uy", "Uz"))
        conv = res.get("p", 1.0) < settings["residual_p"] and ures < settings["residual_U"] \
            and dp_change < settings["dp_change_tol"]
        log.info("  it %d: p %.2e U %.2e dP change %.2e", it, res.get("p", 1.0), ures, dp_change)
        if conv:
            break
        if np.any(~np.isfinite(drops[:, -1])):
            break
    (case / "log.simpleFoam.all").write_text("".join(logs))
    tail = drops[:, int(0.8 * n):] if n >= 10 else drops
    var = float(np.abs(tail.max(axis=1) - tail.min(axis=1)).max() / scale)
    flux = {p: float(foamcase.read_patch_monitor(case, p, "q")[1][-1]) for p in patches}
    p_pat = {p: float(m[-1]) for p, m in zip(patches, mons)}
    return {"flux_m3_s": flux, "patch_p": p_pat, "iterations": it, "final_residuals": res, "converged": bool(conv), "dp_change_last_chunk": dp_change,
            "dp_variation_last20pct": var}


def solve_case(case_id: str, size_per_radius: float = BASE_SIZE, workdir: Path | None = None, keep: bool = False,
               settings: dict | None = None) -> dict:
    """Mesh and solve one case at both flow levels; return its table document."""
    settings = {**foamcase.SETTINGS, **(settings or {})}
    c = build_case(case_id)
    net = c.network
    t_all = time.perf_counter()
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"tree_ns_{case_id}_", dir=workdir))
    try:
        levels = [hyperemic_bc(net, m) for m in sorted(c.masses_g)]
        msh = tmp / "lumen.msh"
        minfo = mesh_network(net, msh, size_per_radius, offsets_mm=c.offsets_mm, wall_factor=settings["wall_factor"])
        base = tmp / "mesh"
        foamcase.write_system(base, NU_M2_S, [], settings)
        t0 = time.perf_counter()
        check = foamcase.check_mesh_summary(foamcase.import_mesh(base, msh, settings["dual"]))
        bnd = foamcase.read_boundary(base)
        root = net.roots[0]
        inlet = f"inlet_{root}"
        outlets = [f"outlet_{v}" for v in net.outlets]
        missing = [p for p in [inlet, "wall", *outlets] if p not in bnd]
        if missing:
            raise RuntimeError(f"patches {missing} missing after gmshToFoam: {sorted(bnd)}")
        pts = foamcase.read_points(base)
        faces = foamcase.read_faces(base, bnd[inlet]["startFace"], bnd[inlet]["nFaces"])
        fc, fs = foamcase.face_geometry(pts, faces)
        cap = minfo["caps"][inlet]
        (base / "0").mkdir(exist_ok=True)
        foamcase.write_fields(base / "0", inlet, np.zeros((len(faces), 3)), {o: 0.0 for o in outlets})
        sfoam.run_foam("postProcess", base, "-func", "writeCellCentres", "-time", "0", log="log.C")
        sfoam.run_foam("postProcess", base, "-func", "writeCellVolumes", "-time", "0", log="log.V")
        C = sfoam.read_internal_field(base / "0" / "C") * 1e3          # mm
        V = sfoam.read_internal_field(base / "0" / "V") * 1e9          # mm^3
        mesh_seconds = minfo["seconds"] + time.perf_counter() - t0
        rows, prev = [], None
        kin = PA_PER_MMHG / RHO_KG_M3                                   # mmHg -> m^2/s^2
        for lev in levels:
            t1 = time.perf_counter()
            q_target = {f"outlet_{k}": v * 1e-6 for k, v in lev["outlet_flows_ml_s"].items()}
            u_in = foamcase.poiseuille_inlet(fc, fs, np.array(cap["center_mm"]) * 1e-3, cap["radius_mm"] * 1e-3,
                                             lev["inlet_flow_ml_s"] * 1e-6)
            p_out = {f"outlet_{k}": v * kin for k, v in lev["p_1d_outlets_rel_mmHg"].items()}
            ref = max(q_target, key=q_target.get)
            history, total_it = [], 0
            for k in range(settings["max_flow_matching"]):
                case = tmp / f"m{lev['myocardial_mass_g']:g}_{k}"
                shutil.copytree(base / "constant", case / "constant")
                foamcase.write_system(case, NU_M2_S, [inlet, *outlets], settings)
                if prev is None:
                    foamcase.write_fields(case / "0", inlet, u_in, p_out)
                else:
                    sc = lev["inlet_flow_ml_s"] / prev[0]
                    foamcase.write_fields(case / "0", inlet, u_in, p_out, prev[1] * sc, prev[2] * sc**1.5)
                rec = _iterate(case, [inlet, *outlets], settings)
                total_it += rec["iterations"]
                tl = sfoam.latest_time(case)
                U = sfoam.read_internal_field(case / tl / "U")
                p = sfoam.read_internal_field(case / tl / "p")
                prev = (lev["inlet_flow_ml_s"], U, p)
                q3 = {o: rec["flux_m3_s"][o] for o in outlets}
                err = {o: q3[o] / q_target[o] - 1.0 for o in outlets}
                history.append({"outlet_p_mmHg": {o: v / kin for o, v in p_out.items()},
                                "outlet_flows_ml_s": {o: v * 1e6 for o, v in q3.items()},
                                "flow_error": err, "iterations": rec["iterations"], "converged": rec["converged"]})
                log.info("  flow matching %d: errors %s", k, {o: f"{e:+.2e}" for o, e in err.items()})
                if max(abs(e) for e in err.values()) < settings["flow_tol"]:
                    break
                # A step for each outlet but the reference one: with the inlet flow fixed,
                # dQ_o/dp_o ~ -1/(R_o + R_ref), R from the junction the two share (1D, first step),
                # then the secant of the last two 3D runs when it has the right sign.
                for o in outlets:
                    if o == ref:
                        continue
                    r_o = lev["matching_resistance_mmHg_s_per_ml"][o[len("outlet_"):]] * kin / 1e-6
                    if len(history) >= 2:
                        h0, h1 = history[-2], history[-1]
                        dp = (h1["outlet_p_mmHg"][o] - h0["outlet_p_mmHg"][o]) * kin
                        dq = (h1["outlet_flows_ml_s"][o] - h0["outlet_flows_ml_s"][o]) * 1e-6
                        if dp != 0.0 and dq / dp < 0.0:
                            r_o = -dp / dq
                    p_out[o] += (q3[o] - q_target[o]) * r_o
                prev = (lev["inlet_flow_ml_s"], U, p)
            p = p * RHO_KG_M3 / PA_PER_MMHG                                 # mmHg
            rec["iterations"] = total_it
            prof = post.profiles(net, p, C, V, c.offsets_mm)
            v0 = net.vessels[root]
            p_ref = float(np.interp(REFERENCE_S_MM, prof[root]["s_mm"], prof[root]["value"]))
            profiles = {vid: {"s_mm": d["s_mm"], "p_mmHg": [round(x - p_ref, 6) for x in d["value"]],
                              "cells": d["cells"],
                              "area_ratio": [round(a / b, 4) for a, b in zip(d["area_mm2"], d["area_network_mm2"])]}
                        for vid, d in prof.items()}
            outlet_p = {vid: profiles[vid]["p_mmHg"][-1] for vid in net.outlets}
            re_in = RHO_KG_M3 * (lev["inlet_flow_ml_s"] * 1e-6 / (math.pi * (v0.radius_mm[0] * 1e-3) ** 2)) \
                * 2 * v0.radius_mm[0] * 1e-3 / MU_PA_S
            rec = {k: v for k, v in rec.items() if k not in ("flux_m3_s", "patch_p")}
            rows.append({**lev, "reynolds_inlet": re_in, "flow_matching": history,
                         "outlet_flows_3d_ml_s": history[-1]["outlet_flows_ml_s"],
                         "outlet_p_mmHg": outlet_p, "profiles": profiles,
                         **rec,
                         "wall_time_s": round(time.perf_counter() - t1, 1)})
            log.info("%s M=%g g: Q=%.3f mL/s, outlets %s mmHg, it %d, conv %s, %.0f s", case_id,
                     lev["myocardial_mass_g"], lev["inlet_flow_ml_s"],
                     {k: round(v, 3) for k, v in outlet_p.items()}, rec["iterations"], rec["converged"],
                     rows[-1]["wall_time_s"])
        doc = {"id": case_id, "note": c.note,
               "network": net.to_dict(include_config=False) if c.store_geometry else None,
               "source": c.source, "offsets_mm": {k: np.round(v, 6).tolist() for k, v in c.offsets_mm.items()},
               "lesions": c.lesions, "reference_s_mm": REFERENCE_S_MM,
               "mesh": {**{k: v for k, v in minfo.items() if k != "caps"}, **check,
                        "cells": int(len(V)), "mesh_seconds": round(mesh_seconds, 1)},
               "levels": rows, "seconds": round(time.perf_counter() - t_all, 1)}
        return doc
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def metadata(settings: dict | None = None) -> dict:
    return {"rho_kg_m3": RHO_KG_M3, "mu_pa_s": MU_PA_S, "openfoam": sfoam.openfoam_version(),
            "solver": "simpleFoam, steady laminar incompressible Newtonian, rigid walls",
            "settings": {**foamcase.SETTINGS, **(settings or {})},
            "boundary_conditions": "Poiseuille inlet at the root (1D hyperemic inlet flow, fixedFluxPressure); "
                                   "fixed-pressure outlets (U inletOutlet) corrected by Newton steps until each "
                                   "carries its 1D flow within flow_tol; no-slip walls",
            "pressure_definition": "intercept at the plane normal to the centerline of a volume-weighted "
                                   "linear fit along the normal over a slab 0.8 r wide (= area-weighted section "
                                   "mean for a linear axial variation), relative to the "
                                   f"section at s = {REFERENCE_S_MM} mm on the root; mmHg",
            "date": _dt.date.today().isoformat()}


def _write(path: Path, doc: dict) -> None:
    from ffrflow._atomic import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(doc, indent=1, allow_nan=True) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", default=[], help=f"one of {CASES} (repeatable); default all")
    ap.add_argument("--size", type=float, default=BASE_SIZE, help="element size / local radius")
    ap.add_argument("--convergence", type=float, nargs="*", default=None,
                    help="mesh series (sizes per radius) on the case into mesh_convergence.json")
    ap.add_argument("--out", type=Path, default=DATA)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--force", action="store_true", help="re-solve cases already in --out")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cases = a.case or list(CASES)
    if a.convergence:
        path = a.out / "mesh_convergence.json"
        doc = json.loads(path.read_text()) if path.exists() else {"metadata": metadata(), "series": []}
        for cid in cases:
            for size in a.convergence:
                if any(s["id"] == cid and s["mesh"]["size_per_radius"] == size for s in doc["series"]) and not a.force:
                    continue
                d = solve_case(cid, size, a.workdir, a.keep)
                doc["series"] = [s for s in doc["series"]
                                 if not (s["id"] == cid and s["mesh"]["size_per_radius"] == size)] + [d]
                doc["metadata"] = metadata()
                _write(path, doc)
        return 0
    for cid in cases:
        path = a.out / f"{cid}.json"
        if path.exists() and not a.force:
            log.info("%s: already in %s", cid, path)
            continue
        d = solve_case(cid, a.size, a.workdir, a.keep)
        _write(path, {"metadata": metadata(), "case": d})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
