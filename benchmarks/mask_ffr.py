"""``python -m benchmarks mask_ffr``: FFR from a phantom's voxel mask against FFR from its true network,
over the voxel shapes, grid positions and scan orientations coronary CT produces.

Every case is one phantom tree voxelised on one grid (:func:`ffrflow.phantoms.voxelize`: a voxel is
lumen when its centre is inside), written as ``.nii.gz``, meshed and solved by :func:`ffrflow.run`
(steady, ``cpu`` backend); the same solver with the same boundary conditions on the phantom's exact
network is the truth. For each case:

- every true outlet is matched to the meshed outlet whose end is nearest (:func:`match_results`);
  every true lesion to the meshed lesion whose MLD point is nearest, when it lies within
  ``max(2 mm, half the lesion's length)``; the FFR difference (meshed − true) is taken at every
  outlet and at every lesion's distal end (``ffr_distal``);
- the %DS error is the meshed lesion's %DS minus the phantom's exact %DS;
- a branch is *lost* when a true outlet has no meshed outlet end within 3 mm + its radius, *invented*
  when a meshed outlet has no true one (:func:`compare_networks`); a lesion is lost when no meshed
  lesion's MLD lies near its MLD, invented when a meshed lesion is near no true one.

Trees (:data:`TREES`): ``demo`` (both trees, 50/60/70 % DS), ``tandem_ostial`` (both trees, seed 3: a
tandem pair 55 % + 70 % in the mid LAD, a 60 % ostial LCx lesion starting 2 mm after the left main
bifurcation, 45 % in OM1, 80 % in the proximal RCA: an MLD of 0.76 mm; the same 80 % in OM1, an MLD of
0.37 mm, one voxel, disconnects the binary mask at 0.35–0.45 mm voxels and its distal tree is lost), ``random7`` (a random 7-vessel tree: a 65 %
lesion 2 mm after the first bifurcation, 50 % and 75 % on two sibling branches).

Grids: voxel sets (:data:`VOXEL_SETS`) 0.4 mm isotropic, 0.35 × 0.35 × 0.6 and 0.45 × 0.45 × 0.625 mm
(in plane along the image axes i, j; between slices along k); sub-voxel shifts of the grid origin
(a scrambled Halton sequence in [0, 1)³ of a voxel, the first one unshifted); rotations of the scan
frame (:data:`ROTATIONS`: identity, 20° about the patient's left-right axis (gantry tilt), 15° about
an oblique axis, 25° about the head-foot axis).

Input (``--input``): ``binary`` (default) is the binary mask; ``probability`` voxelises exact
partial-volume fractions (``phantoms.voxelize(..., partial_volume=True)``, a float image in [0, 1])
and runs ``ffrflow.run(path, threshold=0.5)``; it needs both of those features of ffrflow and says so
when they are missing.

Targets at every voxel set: |mean signed dFFR| <= 0.005, mean |dFFR| <= 0.012, max |dFFR| <= 0.04 over
outlets and lesion-distal points; %DS within ±5 points; no lost or invented branches.

Options: ``--quick`` (3 shifts × 2 rotations), ``--shifts N``, ``--rotations none,rx20,...``,
``--voxels 0.4,0.35x0.35x0.6``, ``--trees demo,...``, ``--jobs 2`` (process pool; run the command
under ``nice``), ``--seed``, ``--input {binary,probability}``.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from ._common import save, table

#: Voxel sets: name → spacing (mm) along the image axes i, j (in plane) and k (between slices).
VOXEL_SETS = {"0.4": (0.4, 0.4, 0.4), "0.35x0.35x0.6": (0.35, 0.35, 0.6), "0.45x0.45x0.625": (0.45, 0.45, 0.625)}
#: Scan-frame rotations: name → (angle in degrees, axis in world LPS).
ROTATIONS = {"none": (0.0, (0.0, 0.0, 1.0)), "rx20": (20.0, (1.0, 0.0, 0.0)),
             "obl15": (15.0, (0.3, 1.0, 0.5)), "rz25": (25.0, (0.0, 0.0, 1.0))}
TARGETS = {"mean_signed": 0.005, "mean_abs": 0.012, "max_abs": 0.04, "ds_points": 5.0}


def _tree(name: str):
    from ffrflow import phantoms
    from ffrflow.phantoms import LesionSpec

    if name == "demo":
        return phantoms.demo_case()
    if name == "tandem_ostial":
        return phantoms.coronary_tree([
            LesionSpec("LAD_m", center_mm=8.0, length_mm=6.0, ds_pct=55.0),
            LesionSpec("LAD_m", center_mm=19.0, length_mm=8.0, ds_pct=70.0),
            LesionSpec("LCX_p", center_mm=3.5, length_mm=3.0, ds_pct=60.0),
            LesionSpec("OM1", center_mm=15.0, length_mm=8.0, ds_pct=45.0, shape="asymmetric"),
            LesionSpec("RCA_p", center_mm=15.0, length_mm=10.0, ds_pct=80.0, shape="gaussian")], seed=3)
    if name == "random7":
        return phantoms.narrow(phantoms.random_tree(7, seed=0), [
            LesionSpec("V1", center_mm=3.6, length_mm=3.2, ds_pct=65.0),
            LesionSpec("V5", center_mm=9.0, length_mm=8.0, ds_pct=50.0),
            LesionSpec("V6", center_mm=7.0, length_mm=6.0, ds_pct=75.0, shape="gaussian")])
    raise ValueError(f"unknown tree {name!r}; expected one of {sorted(TREES)}")


TREES = ("demo", "tandem_ostial", "random7")


def rotation(name: str) -> np.ndarray:
    """Direction matrix (columns: world directions of the image axes) of a :data:`ROTATIONS` entry."""
    from scipy.spatial.transform import Rotation

    deg, axis = ROTATIONS[name]
    axis = np.asarray(axis, dtype=np.float64)
    return Rotation.from_rotvec(np.radians(deg) * axis / np.linalg.norm(axis)).as_matrix()


def shifts(n: int, seed: int) -> np.ndarray:
    """``n`` sub-voxel shifts in [0, 1)³ (fractions of a voxel): zero, then a scrambled Halton sequence."""
    from scipy.stats import qmc

    if n <= 1:
        return np.zeros((max(n, 0), 3))
    return np.vstack([np.zeros(3), qmc.Halton(d=3, scramble=True, seed=seed).random(n - 1)])


@functools.lru_cache(maxsize=None)
def _truth(tree: str):
    import ffrflow

    ph = _tree(tree)
    return ph, ffrflow.solve(ph.network, backend="cpu")


def _check_probability_api():
    """Raise a clear error when this ffrflow lacks the partial-volume voxeliser or ``run(threshold=)``."""
    import ffrflow
    from ffrflow import phantoms

    missing = []
    if "partial_volume" not in inspect.signature(phantoms.voxelize).parameters:
        missing.append("phantoms.voxelize(..., partial_volume=True)")
    if "threshold" not in inspect.signature(ffrflow.run).parameters:
        missing.append("ffrflow.run(path, threshold=0.5)")
    if missing:
        raise SystemExit(f"--input probability needs {' and '.join(missing)}, which this ffrflow does not have")


def run_case(tree: str, voxels: str, rot: str, k: int, frac, input_kind: str = "binary") -> dict:
    """Voxelise, mesh and solve one case; compare it with the true network's solution."""
    import ffrflow
    from ffrflow import phantoms
    from ffrflow.meshing.compare import compare_networks, match_results

    ph, true = _truth(tree)
    sp = np.asarray(VOXEL_SETS[voxels], dtype=np.float64)
    dmat = rotation(rot)
    o0 = np.asarray(phantoms.voxelize(ph.network, spacing_mm=sp, direction=dmat).GetOrigin())
    origin = o0 - dmat @ (sp * (1.0 - np.asarray(frac, dtype=np.float64)))
    kw = {"partial_volume": True} if input_kind == "probability" else {}
    img = phantoms.voxelize(ph.network, spacing_mm=sp, direction=dmat, origin_mm=origin, **kw)
    run_kw = {"threshold": 0.5} if input_kind == "probability" else {}
    with tempfile.TemporaryDirectory() as tmp:
        path = phantoms.write_mask(img, Path(tmp) / "mask.nii.gz")
        t0 = time.perf_counter()
        m = ffrflow.run(str(path), backend="cpu", **run_kw)
        seconds = time.perf_counter() - t0
    cmp = compare_networks(m.network, ph.network)
    values = {}
    for rec in match_results(true, m):
        if rec["kind"] == "outlet":
            values[rec["name"]] = float(rec["dffr"])
    # lesions: true-solution lesion ↔ phantom truth (same MLD), ↔ meshed lesion (near MLD)
    mles = list(m.lesions)
    tles = list(true.lesions)
    used = set()
    lesions = []
    for les in ph.lesions:
        q = np.asarray(les["mld_xyz_mm"])
        tol = max(2.0, 0.5 * float(les["length_mm"]))
        t = min(tles, key=lambda x: float(np.linalg.norm(np.subtract(x["mld_xyz_mm"], q)))) if tles else None
        d = [float(np.linalg.norm(np.subtract(x["mld_xyz_mm"], q))) for x in mles]
        j = int(np.argmin(d)) if d else -1
        rec = {"vessel": les["vessel"], "true_ds_pct": float(les["diameter_stenosis_pct"]),
               "true_ffr": None if t is None else float(t["ffr_distal"]), "found": bool(d and d[j] <= tol)}
        if rec["found"]:
            used.add(j)
            rec.update(ds_pct=float(mles[j]["diameter_stenosis_pct"]),
                       ds_err=float(mles[j]["diameter_stenosis_pct"] - les["diameter_stenosis_pct"]),
                       mld_distance_mm=d[j], ffr=float(mles[j]["ffr_distal"]),
                       mld_mm=float(mles[j]["mld_mm"]), true_mld_mm=float(les["mld_mm"]))
            if t is not None:
                rec["dffr"] = rec["ffr"] - rec["true_ffr"]
                values[f"lesion {les['vessel']}@{les['center_mm']:.1f}"] = float(rec["dffr"])
        lesions.append(rec)
    true_near = [any(float(np.linalg.norm(np.subtract(x["mld_xyz_mm"], les["mld_xyz_mm"]))) <=
                     max(2.0, 0.5 * float(les["length_mm"])) for les in ph.lesions) for x in mles]
    return {"tree": tree, "voxels": voxels, "rotation": rot, "shift_index": k,
            "shift_voxels": [round(float(x), 4) for x in frac], "input": input_kind, "seconds": seconds,
            "mesh_seconds": float(m.timings_s.get("mesh_total", float("nan"))),
            "dffr": values, "lesions": lesions,
            "lost_branches": list(cmp.missing_outlets), "invented_branches": list(cmp.invented_outlets),
            "lost_lesions": [x["vessel"] for x in lesions if not x["found"]],
            "invented_lesions": [mles[j]["vessel"] for j in range(len(mles)) if not true_near[j]]}


def _run_case_star(args):
    try:
        return run_case(*args)
    except Exception as exc:  # noqa: BLE001 - a failed case is a result of the study, reported as such
        return {"tree": args[0], "voxels": args[1], "rotation": args[2], "shift_index": args[3],
                "error": f"{type(exc).__name__}: {exc}"}


def summarise(rows: list[dict], key) -> list[dict]:
    """Per group (``key(row)``): FFR and %DS error statistics, lost/invented counts, seconds per case."""
    groups: dict = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    out = []
    for g, rs in groups.items():
        ok = [r for r in rs if "error" not in r]
        v = np.array([x for r in ok for x in r["dffr"].values()])
        ds = np.array([les["ds_err"] for r in ok for les in r["lesions"] if les["found"]])
        a = np.abs(v)
        row = {"group": g, "cases": len(rs), "failed": len(rs) - len(ok), "values": int(v.size),
               "mean_signed": float(v.mean()) if v.size else None, "mean_abs": float(a.mean()) if v.size else None,
               "max_abs": float(a.max()) if v.size else None,
               "p95_abs": float(np.percentile(a, 95)) if v.size else None,
               "ds_mean_err": float(ds.mean()) if ds.size else None,
               "ds_max_abs_err": float(np.abs(ds).max()) if ds.size else None,
               "lost_branches": sum(len(r["lost_branches"]) for r in ok),
               "invented_branches": sum(len(r["invented_branches"]) for r in ok),
               "lost_lesions": sum(len(r["lost_lesions"]) for r in ok),
               "invented_lesions": sum(len(r["invented_lesions"]) for r in ok),
               "median_seconds": float(np.median([r["seconds"] for r in ok])) if ok else None,
               "median_mesh_seconds": float(np.median([r["mesh_seconds"] for r in ok])) if ok else None}
        if v.size:
            worst = max(((n, x) for r in ok for n, x in r["dffr"].items()), key=lambda t: abs(t[1]))
            wr = next(r for r in ok if worst[0] in r["dffr"] and r["dffr"][worst[0]] == worst[1])
            row["worst"] = f"{wr['tree']}/{worst[0]} {wr['rotation']} shift {wr['shift_index']}"
        row["meets_targets"] = bool(
            v.size and not row["failed"] and abs(row["mean_signed"]) <= TARGETS["mean_signed"]
            and row["mean_abs"] <= TARGETS["mean_abs"] and row["max_abs"] <= TARGETS["max_abs"]
            and (not ds.size or row["ds_max_abs_err"] <= TARGETS["ds_points"])
            and row["lost_branches"] == 0 and row["invented_branches"] == 0)
        out.append(row)
    return out


COLUMNS = [("group", "group", "s"), ("cases", "cases", "d"), ("values", "values", "d"),
           ("mean_signed", "mean dFFR", "+.4f"), ("mean_abs", "mean |dFFR|", ".4f"), ("max_abs", "max |dFFR|", ".4f"),
           ("ds_mean_err", "%DS mean err", "+.2f"), ("ds_max_abs_err", "%DS max |err|", ".2f"),
           ("lost_branches", "lost br.", "d"), ("invented_branches", "inv. br.", "d"),
           ("lost_lesions", "lost les.", "d"), ("invented_lesions", "inv. les.", "d"),
           ("median_seconds", "s/case", ".2f"), ("meets_targets", "targets", "")]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks mask_ffr", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 shifts x 2 rotations (none, rx20)")
    ap.add_argument("--shifts", type=int, default=None, help="sub-voxel shifts per tree, voxel set and rotation (8)")
    ap.add_argument("--rotations", default=None, help=f"comma list of {list(ROTATIONS)} (none,rx20,obl15)")
    ap.add_argument("--voxels", default=",".join(VOXEL_SETS), help=f"comma list of {list(VOXEL_SETS)}")
    ap.add_argument("--trees", default=",".join(TREES), help=f"comma list of {list(TREES)}")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (2)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--input", choices=("binary", "probability"), default="binary",
                    help="binary mask, or exact partial-volume fractions read with threshold 0.5 (needs "
                         "phantoms.voxelize(partial_volume=True) and ffrflow.run(threshold=))")
    ap.add_argument("--tag", default="", help="suffix of the result file name")
    a = ap.parse_args(argv)
    if a.input == "probability":
        _check_probability_api()
    n_shifts = a.shifts if a.shifts is not None else (3 if a.quick else 8)
    rots = (a.rotations or ("none,rx20" if a.quick else "none,rx20,obl15")).split(",")
    voxels = a.voxels.split(",")
    trees = a.trees.split(",")
    for name, known, what in ((rots, ROTATIONS, "rotation"), (voxels, VOXEL_SETS, "voxel set"), (trees, TREES, "tree")):
        bad = [x for x in name if x not in known]
        if bad:
            raise SystemExit(f"unknown {what} {bad}; expected some of {list(known)}")
    fr = shifts(n_shifts, a.seed)
    jobs = [(t, v, r, k, tuple(fr[k]), a.input) for v in voxels for t in trees for r in rots for k in range(n_shifts)]
    print(f"{len(jobs)} cases: trees {trees}, voxels {voxels}, rotations {rots}, {n_shifts} shifts, input {a.input}, "
          f"{a.jobs} processes", flush=True)
    t0 = time.perf_counter()
    rows = []
    if a.jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=a.jobs) as pool:
            for r in pool.map(_run_case_star, jobs):
                rows.append(r)
                _progress(r, len(rows), len(jobs))
    else:
        for j in jobs:
            rows.append(_run_case_star(j))
            _progress(rows[-1], len(rows), len(jobs))
    wall = time.perf_counter() - t0
    by_set = summarise(rows, lambda r: r["voxels"])
    by_tree = summarise(rows, lambda r: f"{r['voxels']} {r['tree']}")
    print(f"\nper voxel set ({a.input} input; dFFR = meshed - true over outlets and lesion-distal points):")
    print(table(by_set, COLUMNS))
    print("\nper voxel set and tree:")
    print(table(by_tree, COLUMNS))
    for r in by_set:
        print(f"{r['group']}: worst {r.get('worst')}")
    print(f"targets: |mean| <= {TARGETS['mean_signed']}, mean |dFFR| <= {TARGETS['mean_abs']}, max <= "
          f"{TARGETS['max_abs']}, %DS within {TARGETS['ds_points']} points, no lost/invented branches; "
          f"wall {wall:.0f} s")
    path = save("mask_ffr" + (f"-{a.tag}" if a.tag else ""),
                {"load_average_1_5_15": list(os.getloadavg()), "wall_seconds": wall, "jobs": a.jobs,
                 "description": "FFR from phantom voxel masks vs the true network over voxel sets, sub-voxel "
                                "shifts and scan rotations (benchmarks/mask_ffr.py)",
                 "input": a.input, "trees": trees, "voxel_sets": {v: VOXEL_SETS[v] for v in voxels},
                 "rotations": {r: ROTATIONS[r] for r in rots}, "shifts_voxels": fr.tolist(), "targets": TARGETS,
                 "summary": by_set, "summary_by_tree": by_tree, "rows": rows})
    print(f"saved {path}")


def _progress(r: dict, n: int, total: int) -> None:
    if "error" in r:
        print(f"[{n}/{total}] {r['tree']} {r['voxels']} {r['rotation']} shift {r['shift_index']}: FAILED {r['error']}",
              flush=True)
        return
    a = np.abs(np.array(list(r["dffr"].values())))
    extra = "".join(f" {k}={r[k]}" for k in ("lost_branches", "invented_branches", "lost_lesions", "invented_lesions")
                    if r[k])
    ds = [les["ds_err"] for les in r["lesions"] if les["found"]]
    print(f"[{n}/{total}] {r['tree']} {r['voxels']} {r['rotation']} shift {r['shift_index']}: max |dFFR| "
          f"{a.max():.4f} mean {a.mean():.4f} signed {np.mean(list(r['dffr'].values())):+.4f}, %DS err "
          f"{' '.join(f'{x:+.1f}' for x in ds)} ({r['seconds']:.1f} s){extra}", flush=True)


if __name__ == "__main__":
    main()
