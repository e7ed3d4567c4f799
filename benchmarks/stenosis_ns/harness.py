"""Navier–Stokes reference table of stenosis pressure drops (OpenFOAM, 1° axisymmetric wedge).

``python -m benchmarks.stenosis_ns.harness --all`` regenerates ``benchmarks/data/stenosis_ns``:

- ``validation.json``: the plain tube against Poiseuille and the mesh-convergence study;
- ``<family>.json`` for the families ``core`` (cosine, r0 = 1.5 mm), ``gaussian``,
  ``asymmetric``, ``diffuse``, ``tandem``, ``short`` (short cosine and Gaussian lesions up to
  hyperaemic flow) and ``holdout`` (every shape at new radii, severities and
  lengths; never used to fit the lesion law): one record per (geometry, flow) with the full radius
  profile, the drop and the convergence record.

Every case is steady, laminar, incompressible and Newtonian (ρ = 1060 kg/m³, μ = 3.5 mPa·s),
rigid, with a fully developed Poiseuille inlet. The drop is ``ΔP = p̄(z_s - 2 r0) - p̄(z_e + 20 r0)``
between area-averaged pressures upstream of the lesion start ``z_s`` and downstream of its end
``z_e``. Runs are resumable: a case already in the output file (same id and mesh) is not re-solved;
``--force`` re-solves. See ``README.md`` in this folder.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import math
import time
from pathlib import Path

import numpy as np

from . import foam
from .geometry import Geometry, MeshSpec
from .solve import (DOWNSTREAM_PLANE_R0, MU_PA_S, PA_PER_MMHG, RHO_KG_M3, SETTINGS, UPSTREAM_PLANE_R0,
                    UPSTREAM_R0, solve_flows)

log = logging.getLogger("benchmarks.stenosis_ns")

DATA = Path(__file__).resolve().parents[1] / "data" / "stenosis_ns"

#: Base mesh of every table entry (chosen by the mesh-convergence study in validation.json).
BASE_MESH = MeshSpec()

FAMILIES = ("core", "gaussian", "asymmetric", "diffuse", "tandem", "short", "holdout")

#: Mean velocities (m/s) of the held-out families' flow ladders: rest to hyperaemia.
VELOCITIES_M_S = (0.05, 0.2, 0.6)


def flow_ml_s(r0_mm: float, u_m_s: float) -> float:
    """Flow (mL/s, rounded to 4 significant digits) giving mean velocity ``u`` in a tube of radius r0."""
    q = u_m_s * math.pi * (r0_mm * 1e-3) ** 2 * 1e6
    return float(f"{q:.4g}")


def family_cases(family: str) -> list[tuple[Geometry, list[float]]]:
    """The geometries of one family and their flow ladders (mL/s), in solve order."""
    mm = 1e-3
    out = []
    if family == "core":
        for as_pct in (50, 60, 70, 80, 90):
            for L in (6, 9, 12):
                out.append((Geometry("cosine", 1.5 * mm, as_pct / 100, L * mm), [0.5, 1.0, 2.0, 3.0]))
    elif family in ("gaussian", "asymmetric"):
        table = {
            "gaussian": [(1.0, 75, 10), (2.0, 30, 15), (1.0, 95, 3), (2.0, 85, 20), (2.5, 60, 25), (2.5, 90, 5)],
            "asymmetric": [(1.0, 50, 6), (1.0, 70, 2), (2.5, 35, 20), (1.0, 85, 12), (2.5, 65, 14), (1.5, 85, 3),
                           (2.5, 75, 5), (1.25, 60, 2.5), (2.0, 95, 6)],
        }[family]
        for r0, as_pct, L in table:
            out.append((Geometry(family, r0 * mm, as_pct / 100, L * mm), [flow_ml_s(r0, u) for u in VELOCITIES_M_S]))
    elif family == "diffuse":
        for r0, as_pct, L in [(1.5, 40, 20), (1.5, 60, 25), (1.5, 75, 15), (2.0, 50, 25), (1.0, 65, 18),
                              (1.5, 65, 20), (2.25, 70, 15)]:
            out.append((Geometry("diffuse", r0 * mm, as_pct / 100, L * mm),
                        [flow_ml_s(r0, u) for u in VELOCITIES_M_S]))
    elif family == "tandem":
        for r0, l1, gap, l2, as1, as2 in [(1.5, 6, 6, 6, 70, 50), (1.5, 4, 3, 8, 60, 80), (2.0, 8, 10, 5, 75, 75),
                                          (1.0, 3, 4, 3, 50, 65), (1.5, 4, 2, 4, 70, 70), (2.0, 6, 15, 6, 60, 80),
                                          (1.25, 3, 6, 5, 80, 50)]:
            g = Geometry("tandem", r0 * mm, max(as1, as2) / 100, (l1 + gap + l2) * mm,
                         extra={"l1_m": l1 * mm, "gap_m": gap * mm, "l2_m": l2 * mm, "as1": as1 / 100, "as2": as2 / 100})
            out.append((g, [flow_ml_s(r0, u) for u in VELOCITIES_M_S]))
    elif family == "short":
        # short cosine and Gaussian lesions over the whole flow range (the core family stops at u = 0.42 m/s)
        for shape, r0, as_pct, L in [("cosine", 1.5, 70, 4), ("cosine", 2.0, 80, 5), ("cosine", 1.0, 60, 3),
                                     ("gaussian", 1.5, 60, 8), ("gaussian", 2.0, 75, 6), ("cosine", 1.75, 85, 6)]:
            out.append((Geometry(shape, r0 * mm, as_pct / 100, L * mm), [flow_ml_s(r0, u) for u in VELOCITIES_M_S]))
    elif family == "holdout":
        # Solved after the form of the ns-calibrated law was chosen, never used to fit it (TRAIN_FAMILIES
        # in compare.py): new radii, severities and lengths of every shape.
        for shape, r0, as_pct, L in [("diffuse", 1.25, 70, 12), ("diffuse", 2.0, 80, 20), ("diffuse", 1.75, 55, 10),
                                     ("asymmetric", 1.5, 75, 8), ("asymmetric", 2.0, 60, 4), ("gaussian", 1.5, 70, 6),
                                     ("cosine", 2.0, 75, 4), ("cosine", 1.25, 85, 15)]:
            out.append((Geometry(shape, r0 * mm, as_pct / 100, L * mm), [flow_ml_s(r0, u) for u in VELOCITIES_M_S]))
        for r0, l1, gap, l2, as1, as2 in [(1.75, 5, 5, 5, 65, 65), (1.25, 4, 8, 6, 55, 75)]:
            g = Geometry("tandem", r0 * mm, max(as1, as2) / 100, (l1 + gap + l2) * mm,
                         extra={"l1_m": l1 * mm, "gap_m": gap * mm, "l2_m": l2 * mm, "as1": as1 / 100, "as2": as2 / 100})
            out.append((g, [flow_ml_s(r0, u) for u in VELOCITIES_M_S]))
    else:
        raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")
    return out


def geometry_id(g: Geometry) -> str:
    base = f"{g.shape}_r{g.r0_m * 1e3:g}_as{g.area_stenosis * 100:.0f}_l{g.length_m * 1e3:g}"
    if g.shape == "tandem":
        e = g.extra
        base = (f"tandem_r{g.r0_m * 1e3:g}_as{e['as1'] * 100:.0f}-{e['as2'] * 100:.0f}"
                f"_l{e['l1_m'] * 1e3:g}-{e['gap_m'] * 1e3:g}-{e['l2_m'] * 1e3:g}")
    return base


def profile_mm(g: Geometry, z_in_m: float, z_out_m: float) -> dict:
    """Radius profile for the table (mm): over the lesion every ``min(0.1 mm, L/200)``, in the
    straight 2 r0 on either side every 0.25 mm, plus the lesion ends, throat(s)/plateau ends, the
    sampling planes and the domain ends (r = r0 there). Linear interpolation between the points
    reproduces the analytic wall within 0.05 % of r0 (checked in the tests)."""
    from .solve import key_points_m

    r0, L = g.r0_m, g.length_m
    step = min(0.1e-3, L / 200)
    n = int(math.ceil(L / step))
    z = np.concatenate([np.linspace(0.0, L, n + 1), np.arange(-2 * r0, 0.0, 0.25e-3),
                        L + np.arange(0.25e-3, 2 * r0 + 1e-12, 0.25e-3),
                        [z_in_m, z_out_m, -UPSTREAM_PLANE_R0 * r0, L + DOWNSTREAM_PLANE_R0 * r0], key_points_m(g)])
    z = np.unique(np.round(z, 12))
    r = g.radius_m(z)
    return {"z_mm": [round(float(v) * 1e3, 9) for v in z], "r_mm": [round(float(v) * 1e3, 12) for v in r]}


def _r(x: float) -> float:
    """Round a stated parameter (mm, %) to 9 decimals: 9.000000000000002 -> 9.0."""
    return round(float(x), 9)


def lesions_mm(g: Geometry) -> list[dict]:
    """The lesion interval(s): one, or two for tandem (z in mm, area stenosis in %)."""
    if g.shape == "tandem":
        e = g.extra
        a = {"start_mm": 0.0, "end_mm": _r(e["l1_m"] * 1e3), "area_stenosis_pct": _r(e["as1"] * 100),
             "throat_mm": _r(e["l1_m"] / 2 * 1e3)}
        s2 = _r((e["l1_m"] + e["gap_m"]) * 1e3)
        b = {"start_mm": s2, "end_mm": _r(g.length_m * 1e3), "area_stenosis_pct": _r(e["as2"] * 100),
             "throat_mm": _r(s2 + e["l2_m"] / 2 * 1e3)}
        return [a, b]
    if g.shape == "tube":
        return []
    throat = {"cosine": 0.5, "gaussian": 0.5, "asymmetric": 0.25, "diffuse": 0.5}[g.shape] * g.length_m
    return [{"start_mm": 0.0, "end_mm": _r(g.length_m * 1e3), "area_stenosis_pct": _r(g.area_stenosis * 100),
             "throat_mm": _r(throat * 1e3)}]


def geometry_of(row: dict) -> Geometry:
    """Rebuild the :class:`Geometry` of a table row (inverse of :func:`case_record`)."""
    mm = 1e-3
    extra = {}
    if row["shape"] == "tandem":
        t = row["tandem"]
        extra = {"l1_m": t["l1_mm"] * mm, "gap_m": t["gap_mm"] * mm, "l2_m": t["l2_mm"] * mm,
                 "as1": t["as1_pct"] / 100, "as2": t["as2_pct"] / 100}
    return Geometry(row["shape"], row["r0_mm"] * mm, row["area_stenosis_pct"] / 100, row["length_mm"] * mm, extra)


def refresh_geometry_fields(row: dict) -> dict:
    """Recompute the geometry-derived fields of a row (profile, lesions, planes) from its shape."""
    for k in ("r0_mm", "area_stenosis_pct", "length_mm", "lesion_end_mm"):
        row[k] = _r(row[k])
    if "tandem" in row:
        row["tandem"] = {k: _r(v) for k, v in row["tandem"].items()}
    g = geometry_of(row)
    z_in, z_out = row["domain_mm"]
    row["r_min_mm"] = g.r_min_m * 1e3
    row["lesions"] = lesions_mm(g)
    row["plane_up_mm"] = -UPSTREAM_PLANE_R0 * g.r0_m * 1e3
    row["plane_dn_mm"] = (g.length_m + DOWNSTREAM_PLANE_R0 * g.r0_m) * 1e3
    row["profile"] = profile_mm(g, z_in * 1e-3, z_out * 1e-3)
    return row


def case_record(g: Geometry, rec: dict, mesh_spec: MeshSpec) -> dict:
    """One table row: geometry, profile, flow, drop and the convergence record."""
    z_in, z_out = rec["domain_mm"]
    gid = geometry_id(g)
    row = {
        "id": f"{gid}_q{rec['flow_ml_s']:g}",
        "geometry_id": gid,
        "shape": g.shape,
        "r0_mm": _r(g.r0_m * 1e3),
        "area_stenosis_pct": _r(g.area_stenosis * 100),
        "r_min_mm": g.r_min_m * 1e3,
        "length_mm": _r(g.length_m * 1e3),
        "lesion_start_mm": 0.0,
        "lesion_end_mm": _r(g.length_m * 1e3),
    }
    if g.shape == "tandem":
        row["tandem"] = {"l1_mm": _r(g.extra["l1_m"] * 1e3), "gap_mm": _r(g.extra["gap_m"] * 1e3),
                         "l2_mm": _r(g.extra["l2_m"] * 1e3), "as1_pct": _r(g.extra["as1"] * 100),
                         "as2_pct": _r(g.extra["as2"] * 100)}
    row["lesions"] = lesions_mm(g)
    row["plane_up_mm"] = -UPSTREAM_PLANE_R0 * g.r0_m * 1e3
    row["plane_dn_mm"] = (g.length_m + DOWNSTREAM_PLANE_R0 * g.r0_m) * 1e3
    row["domain_mm"] = [z_in, z_out]
    row["profile"] = profile_mm(g, z_in * 1e-3, z_out * 1e-3)
    for k in ("flow_ml_s", "mean_velocity_m_s", "reynolds", "reynolds_throat", "dp_pa", "dp_mmhg", "p_up_pa",
              "p_dn_pa", "converged", "iterations", "final_residuals", "dp_change_last_chunk",
              "dp_variation_last20pct", "recirculation_end_mm", "outlet_backflow", "cells", "n_radial", "n_axial", "relax_U", "non_orthogonal_correctors", "wall_time_s"):
        row[k] = rec[k]
    for k in ("retries", "note"):
        if k in rec:
            row[k] = rec[k]
    row["mesh"] = mesh_spec.to_dict()
    return row


def metadata(description: str) -> dict:
    return {
        "description": description,
        "rho_kg_m3": RHO_KG_M3,
        "mu_pa_s": MU_PA_S,
        "nu_m2_s": MU_PA_S / RHO_KG_M3,
        "openfoam": foam.openfoam_version(),
        "solver": "simpleFoam, steady, laminar (simulationType laminar), Newtonian; SIMPLEC (consistent yes)",
        "settings": {k: v for k, v in SETTINGS.items()},
        "schemes": {"div(phi,U)": SETTINGS["div_phi_U"], "grad": "Gauss linear",
                    "laplacian": "Gauss linear corrected", "p solver": "GAMG (DICGaussSeidel)",
                    "U solver": "smoothSolver (symGaussSeidel)"},
        "geometry": ("rigid axisymmetric tube, 1 degree wedge about the x axis (blockMesh, one block per axial "
                     "cell, collapsed axis), wall piecewise linear through the profile at every axial node; "
                     f"inlet {UPSTREAM_R0:g} r0 before the lesion start; outlet >= 40 r0 beyond the downstream "
                     "plane and beyond the estimated recirculation (checked: recirculation_end_mm, outlet_backflow)"),
        "boundary_conditions": ("inlet: fully developed Poiseuille profile u = 2U(1 - r^2/r0^2), face-averaged, "
                                "p zeroGradient; outlet: p = 0 (kinematic), U zeroGradient; wall: no-slip"),
        "dp_definition": (f"dp_pa = rho * (pbar(z = lesion_start - {UPSTREAM_PLANE_R0:g} r0) - "
                          f"pbar(z = lesion_end + {DOWNSTREAM_PLANE_R0:g} r0)); pbar is the area-weighted mean of "
                          "the kinematic pressure over the cross-section, computed as the volume-weighted mean of the "
                          "single column of cells whose centres lie on the plane (the mesh puts each plane at a "
                          "cell-centre column; same as volFieldValue volAverage on that cellZone)"),
        "convergence": (f"iterations are run in chunks of {SETTINGS['chunk']}; converged when the initial residuals "
                        f"satisfy p < {SETTINGS['residual_p']:g}, Ux < {SETTINGS['residual_U']:g}, "
                        f"Uy < {SETTINGS['residual_Uy']:g} and dp changed by < {SETTINGS['dp_change_tol']:g} "
                        f"(relative) over the last chunk, within {SETTINGS['max_iterations']} iterations. Uz (the "
                        "wedge-normal component, zero up to round-off) is not used. Cases with converged = false "
                        "are kept in the table and excluded from any validation set"),
        "reynolds": "reynolds = rho U D0 / mu with U = Q / (pi r0^2); reynolds_throat uses the throat diameter",
        "units": {"z_mm": "axial position, mm, 0 at the lesion start", "r_mm": "wall radius, mm",
                  "dp_pa": "Pa", "dp_mmhg": f"mmHg (1 mmHg = {PA_PER_MMHG} Pa)", "flow_ml_s": "mL/s",
                  "mean_velocity_m_s": "m/s"},
        "date": _dt.date.today().isoformat(),
        "generator": "python -m benchmarks.stenosis_ns.harness",
    }


def _load(path: Path) -> dict:
    if path.exists():
        return json.loads(path.read_text())
    return {}


def _save(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(path)


def run_geometry(g: Geometry, flows, spec: MeshSpec = BASE_MESH, workdir=None) -> list[dict]:
    """Solve one geometry at its flows and return the table rows."""
    recs = solve_flows(g, flows, spec, workdir=workdir)
    return [case_record(g, r, spec) for r in recs]


def run_family(family: str, out: Path = DATA, force: bool = False, deadline: float | None = None,
               workdir=None) -> dict:
    """Solve (or resume) one family and write ``<out>/<family>.json`` after every geometry."""
    path = out / f"{family}.json"
    doc = _load(path)
    if not doc or force:
        doc = {"metadata": {}, "cases": []}
    doc["metadata"] = {**metadata(f"Navier-Stokes stenosis pressure drops, family {family!r}"),
                       "family": family, "mesh": BASE_MESH.to_dict()}
    spec = BASE_MESH.to_dict()
    done = {c["id"] for c in doc["cases"] if c.get("mesh") == spec}
    for g, flows in family_cases(family):
        gid = geometry_id(g)
        if all(f"{gid}_q{q:g}" in done for q in flows):
            continue
        if deadline is not None and time.time() > deadline:
            log.warning("time budget spent: stopping family %s before %s", family, gid)
            doc["metadata"]["incomplete"] = "the compute budget ran out before every geometry was solved"
            break
        t0 = time.perf_counter()
        rows = run_geometry(g, flows, workdir=workdir)
        doc["cases"] = [c for c in doc["cases"] if c["geometry_id"] != gid] + rows
        doc["metadata"].pop("incomplete", None)
        _save(path, doc)
        log.info("%s: %s done in %.0f s", family, gid, time.perf_counter() - t0)
    else:
        doc["metadata"].pop("incomplete", None)
    _save(path, doc)
    return doc


# --- validation -------------------------------------------------------------------------------

TUBE_CASES = [(1.5, [0.5, 3.0]), (1.0, [flow_ml_s(1.0, 0.6)])]
MESH_CASES = [(Geometry("cosine", 1.5e-3, 0.7, 9e-3), [0.5, 3.0]), (Geometry("cosine", 1.5e-3, 0.9, 6e-3), [0.5, 3.0])]


def run_validation(out: Path = DATA, workdir=None, refine: bool = True) -> dict:
    """Tube vs Poiseuille and base vs halved-cell-size mesh; writes ``validation.json``."""
    path = out / "validation.json"
    doc = _load(path) or {}
    doc["metadata"] = {**metadata("Validation of the Navier-Stokes stenosis harness"),
                       "base_mesh": BASE_MESH.to_dict(), "refined_mesh": BASE_MESH.refined().to_dict()}
    tube = []
    for r0_mm, flows in TUBE_CASES:
        g = Geometry("tube", r0_mm * 1e-3, 0.0, 6e-3)
        for rec in solve_flows(g, flows, BASE_MESH, workdir=workdir):
            length_m = (g.length_m + (DOWNSTREAM_PLANE_R0 + UPSTREAM_PLANE_R0) * g.r0_m)
            q = rec["flow_ml_s"] * 1e-6
            exact = 8 * MU_PA_S * length_m * q / (math.pi * g.r0_m**4)
            tube.append({"r0_mm": r0_mm, "flow_ml_s": rec["flow_ml_s"], "plane_distance_mm": length_m * 1e3,
                         "dp_pa": rec["dp_pa"], "dp_poiseuille_pa": exact,
                         "rel_error": (rec["dp_pa"] - exact) / exact, "converged": rec["converged"],
                         "iterations": rec["iterations"], "cells": rec["cells"]})
            log.info("tube r0=%g Q=%g: dp=%.5f exact=%.5f err=%.2e", r0_mm, rec["flow_ml_s"], rec["dp_pa"], exact,
                     tube[-1]["rel_error"])
    doc["tube"] = {"description": ("plain tube of radius r0 (no lesion; planes as for a 6 mm lesion) against "
                                   "Poiseuille dp = 8 mu L Q / (pi r0^4) between the same two planes"),
                   "tolerance": 1e-3, "cases": tube,
                   "max_abs_rel_error": max(abs(t["rel_error"]) for t in tube)}
    _save(path, doc)
    if refine:
        conv = []
        for g, flows in MESH_CASES:
            base = solve_flows(g, flows, BASE_MESH, workdir=workdir)
            fine = solve_flows(g, flows, BASE_MESH.refined(), workdir=workdir)
            for b, f in zip(base, fine):
                conv.append({"id": f"{geometry_id(g)}_q{b['flow_ml_s']:g}", "shape": g.shape,
                             "r0_mm": g.r0_m * 1e3, "area_stenosis_pct": g.area_stenosis * 100,
                             "length_mm": g.length_m * 1e3, "flow_ml_s": b["flow_ml_s"], "reynolds": b["reynolds"],
                             "reynolds_throat": b["reynolds_throat"],
                             "base": {k: b[k] for k in ("dp_pa", "cells", "n_radial", "n_axial", "iterations",
                                                        "converged")},
                             "refined": {k: f[k] for k in ("dp_pa", "cells", "n_radial", "n_axial", "iterations",
                                                           "converged")},
                             "rel_change": (f["dp_pa"] - b["dp_pa"]) / f["dp_pa"]})
                log.info("mesh %s: base %.4f fine %.4f change %.2e", conv[-1]["id"], b["dp_pa"], f["dp_pa"],
                         conv[-1]["rel_change"])
            doc["mesh_convergence"] = {
                "description": ("drop on the base mesh vs a mesh with half the cell size in each direction "
                                "(twice the radial cells, half every axial spacing): rel_change = "
                                "(dp_refined - dp_base) / dp_refined"),
                "tolerance": 5e-3, "cases": conv,
                "max_abs_rel_change": max(abs(c["rel_change"]) for c in conv)}
            _save(path, doc)
    return doc


def summary_markdown(out: Path = DATA) -> str:
    """Markdown summary of the stored tables: validation, counts per family, the core drops."""
    lines = []
    val = _load(out / "validation.json")
    if val.get("tube"):
        lines += ["Tube vs Poiseuille:", "", "| r0 (mm) | Q (mL/s) | ΔP NS (Pa) | ΔP Poiseuille (Pa) | error |",
                  "|---|---|---|---|---|"]
        for t in val["tube"]["cases"]:
            lines.append(f"| {t['r0_mm']:g} | {t['flow_ml_s']:g} | {t['dp_pa']:.4f} | {t['dp_poiseuille_pa']:.4f} | "
                         f"{100 * t['rel_error']:+.3f} % |")
        lines.append("")
    if val.get("mesh_convergence"):
        lines += ["Mesh convergence (refined = half the cell size in each direction):", "",
                  "| case | Re | Re throat | cells base / refined | ΔP base (Pa) | ΔP refined (Pa) | change |",
                  "|---|---|---|---|---|---|---|"]
        for c in val["mesh_convergence"]["cases"]:
            lines.append(f"| {c['id']} | {c['reynolds']:.0f} | {c['reynolds_throat']:.0f} | "
                         f"{c['base']['cells']} / {c['refined']['cells']} | {c['base']['dp_pa']:.2f} | "
                         f"{c['refined']['dp_pa']:.2f} | {100 * c['rel_change']:+.3f} % |")
        lines.append("")
    lines += ["| family | geometries | cases | converged | not converged | wall time per case (s): median / max |",
              "|---|---|---|---|---|---|"]
    for fam in FAMILIES:
        doc = _load(out / f"{fam}.json")
        cs = doc.get("cases", [])
        if not cs:
            lines.append(f"| {fam} | 0 | 0 | 0 | 0 | not run |")
            continue
        wt = [c["wall_time_s"] for c in cs]
        nconv = sum(c["converged"] for c in cs)
        lines.append(f"| {fam} | {len({c['geometry_id'] for c in cs})} | {len(cs)} | {nconv} | {len(cs) - nconv} | "
                     f"{float(np.median(wt)):.0f} / {max(wt):.0f} |")
    lines.append("")
    core = _load(out / "core.json").get("cases", [])
    if core:
        flows = sorted({c["flow_ml_s"] for c in core})
        lines += ["Core family ΔP (mmHg), cosine, r0 = 1.5 mm:", "",
                  "| AS | L (mm) | " + " | ".join(f"Q = {q:g} mL/s" for q in flows) + " |",
                  "|---|---|" + "---|" * len(flows)]
        for a in sorted({c["area_stenosis_pct"] for c in core}):
            for L in sorted({c["length_mm"] for c in core}):
                row = {c["flow_ml_s"]: c for c in core if c["area_stenosis_pct"] == a and c["length_mm"] == L}
                if row:
                    cells = [(f"{row[q]['dp_mmhg']:.3f}" + ("" if row[q]["converged"] else "*")) if q in row else "–"
                             for q in flows]
                    lines.append(f"| {a:g} % | {L:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.stenosis_ns.harness", description=__doc__.split("\n")[0])
    ap.add_argument("--family", action="append", choices=FAMILIES + ("validation",),
                    help="family to (re)generate; repeatable")
    ap.add_argument("--all", action="store_true", help="validation and every family, in priority order")
    ap.add_argument("--out", type=Path, default=DATA, help="output folder (default %(default)s)")
    ap.add_argument("--force", action="store_true", help="re-solve cases already in the output files")
    ap.add_argument("--budget-min", type=float, default=None,
                    help="stop starting new geometries after this many minutes")
    ap.add_argument("--workdir", type=Path, default=None, help="where the temporary OpenFOAM cases go")
    ap.add_argument("--no-refine", action="store_true", help="validation: skip the mesh-convergence study")
    ap.add_argument("--summary", action="store_true", help="print a Markdown summary of the stored tables")
    ap.add_argument("--refresh", action="store_true",
                    help="only recompute the geometry-derived fields (profile, lesions, planes) of the stored rows")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    todo = ["validation", *FAMILIES] if a.all else (a.family or [])
    if a.summary:
        print(summary_markdown(a.out))
        return 0
    if a.refresh:
        for fam in [f for f in (todo or FAMILIES) if f != "validation"]:
            path = a.out / f"{fam}.json"
            if path.exists():
                doc = _load(path)
                doc["cases"] = [refresh_geometry_fields(c) for c in doc["cases"]]
                _save(path, doc)
        return 0
    if not todo:
        ap.error("give --family or --all")
    deadline = None if a.budget_min is None else time.time() + 60 * a.budget_min
    for fam in todo:
        if fam == "validation":
            run_validation(a.out, a.workdir, refine=not a.no_refine)
        else:
            run_family(fam, a.out, a.force, deadline, a.workdir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
