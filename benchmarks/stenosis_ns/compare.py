"""Lesion models against the committed Navier–Stokes table, case by case; and the calibration fit.

Every converged case of ``benchmarks/data/stenosis_ns/<family>.json`` becomes a single-vessel
network: the case's radius profile between the two pressure planes (2 r0 upstream of the lesion
start, 20 r0 downstream of its end), the lesion given with its reference radius r0, and a
flow-driven inlet (``boundary.inlet_flow_ml_s``). It is run through ``ffrflow.run`` with each
``model.lesion`` option and the drop between the first and the last point is compared with the
Navier–Stokes drop.

``python -m benchmarks.stenosis_ns.compare`` prints and saves the comparison table;
``--fit`` fits the constants of ``ns-calibrated`` (:data:`ffrflow.cfd.lesion.NS_CALIBRATED`)
by least squares on the relative errors of the ``core`` family (cosine lesions, r0 = 1.5 mm) and
prints them; the other families (other radii, shapes, lengths, flows) are the held-out cases.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / "data" / "stenosis_ns"
MODELS = ("ns-calibrated", "poiseuille-kt", "young-tsai")
TRAIN_FAMILIES = ("core",)


def load_cases(families=None, converged_only=True) -> list[dict]:
    """Cases of the committed table (each with its ``family``)."""
    out = []
    for f in sorted(DATA.glob("*.json")):
        if f.stem == "validation" or (families and f.stem not in families):
            continue
        for c in json.loads(f.read_text())["cases"]:
            if c.get("converged") or not converged_only:
                out.append({**c, "family": f.stem})
    return out


def lesions_of(case: dict) -> list[tuple[float, float]]:
    """Lesion intervals (z, mm) of a case: one, or two for the tandem family."""
    if "lesions" in case:
        return [(x["start_mm"], x["end_mm"]) for x in case["lesions"]]
    return [(case["lesion_start_mm"], case["lesion_end_mm"])]


def case_network(case: dict, lesion_model: str) -> dict:
    """The single-vessel ``ffrflow-network/1`` document of one case (flow-driven inlet)."""
    z = np.asarray(case["profile"]["z_mm"], float)
    r = np.asarray(case["profile"]["r_mm"], float)
    z0, z1 = case["plane_up_mm"], case["plane_dn_mm"]
    inner = z[(z > z0 + 1e-9) & (z < z1 - 1e-9)]
    zz = np.concatenate([[z0], inner, [z1]])
    rr = np.interp(zz, z, r)
    lesions = [{"start_mm": a - z0, "end_mm": b - z0, "reference_radius_mm": case["r0_mm"]} for a, b in lesions_of(case)]
    return {"format": "ffrflow-network/1", "units": "mm",
            "vessels": [{"id": "tube", "parent": None, "points": [[0.0, 0.0, float(x - z0)] for x in zz],
                         "radius": rr.tolist(), "lesions": lesions}],
            "boundary": {"inlet_flow_ml_s": case["flow_ml_s"], "outlets": {"tube": {"resistance_mmHg_s_per_ml": 10.0}}},
            "model": {"lesion": lesion_model, "blood_density_kg_m3": 1060.0, "blood_viscosity_pa_s": 0.0035}}


def model_drop_pa(case: dict, lesion_model: str) -> float:
    """Drop (Pa) between the two planes predicted by ``ffrflow.run`` with one lesion model."""
    import ffrflow

    r = ffrflow.run(case_network(case, lesion_model), backend="numpy", detect=False)
    return float(r.pressure_pa[0] - r.pressure_pa[-1])


def compare(cases, models=MODELS) -> list[dict]:
    rows = []
    for c in cases:
        row = {"id": c["id"], "family": c["family"], "shape": c["shape"], "r0_mm": c["r0_mm"],
               "area_stenosis_pct": c["area_stenosis_pct"], "length_mm": c["length_mm"], "flow_ml_s": c["flow_ml_s"],
               "reynolds_throat": c.get("reynolds_throat"), "ns_dp_pa": c["dp_pa"],
               "held_out": c["family"] not in TRAIN_FAMILIES}
        for m in models:
            dp = model_drop_pa(c, m)
            row[f"{m}_dp_pa"] = dp
            row[f"{m}_error_pct"] = 100.0 * (dp / c["dp_pa"] - 1.0)
        rows.append(row)
    return rows


def summarize(rows, models=MODELS, lo=50.0, hi=90.0) -> dict:
    out = {}
    for subset, sel in (("all 50-90 %AS", lambda r: True), ("held-out 50-90 %AS", lambda r: r["held_out"]),
                        ("training 50-90 %AS", lambda r: not r["held_out"])):
        rs = [r for r in rows if lo <= r["area_stenosis_pct"] <= hi and sel(r)]
        out[subset] = {"cases": len(rs)}
        for m in models:
            e = np.array([r[f"{m}_error_pct"] for r in rs])
            out[subset][m] = {"max_abs_error_pct": float(np.abs(e).max()) if e.size else None,
                              "mean_abs_error_pct": float(np.abs(e).mean()) if e.size else None,
                              "mean_error_pct": float(e.mean()) if e.size else None}
    return out


def fit(cases) -> dict:
    """Least-squares fit of (k_exp, k_as, c_re) on the relative errors of the training cases."""
    from scipy.optimize import least_squares

    import ffrflow.cfd.lesion as L

    train = [c for c in cases if c["family"] in TRAIN_FAMILIES]
    saved = dict(L.NS_CALIBRATED)

    def residuals(p):
        L.NS_CALIBRATED.update(k_exp=p[0], k_as=p[1], c_re=p[2])
        return np.array([model_drop_pa(c, "ns-calibrated") / c["dp_pa"] - 1.0 for c in train])

    try:
        sol = least_squares(residuals, [0.8, 0.0, 0.0], x_scale=[1.0, 1.0, 10.0])
    finally:
        L.NS_CALIBRATED.clear()
        L.NS_CALIBRATED.update(saved)
    return {"k_exp": float(sol.x[0]), "k_as": float(sol.x[1]), "c_re": float(sol.x[2]),
            "max_abs_error_pct_train": float(100 * np.abs(sol.fun).max()), "cases": len(train)}


def main(argv=None):
    from .._common import save

    p = argparse.ArgumentParser(prog="python -m benchmarks.stenosis_ns.compare", description=__doc__.splitlines()[0])
    p.add_argument("--fit", action="store_true", help="fit the ns-calibrated constants on the training family")
    p.add_argument("--no-save", action="store_true")
    a = p.parse_args(argv)
    cases = load_cases()
    if a.fit:
        print(json.dumps(fit(cases), indent=1))
        return
    rows = compare(cases)
    head = f"{'case':<34}{'NS dP Pa':>10}" + "".join(f"{m:>16}" for m in MODELS)
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['id'][:33]:<34}{r['ns_dp_pa']:>10.1f}" + "".join(f"{r[m + '_error_pct']:>15.1f}%" for m in MODELS)
              + ("  held-out" if r["held_out"] else ""))
    summ = summarize(rows)
    print()
    for k, v in summ.items():
        print(f"{k} ({v['cases']} cases): " + "; ".join(
            f"{m} max {v[m]['max_abs_error_pct']:.1f} % mean {v[m]['mean_abs_error_pct']:.1f} %"
            for m in MODELS if v[m]['max_abs_error_pct'] is not None))
    if not a.no_save:
        from ffrflow.cfd.lesion import NS_CALIBRATED

        print(f"saved {save('stenosis_ns_compare', {'ns_calibrated': NS_CALIBRATED, 'summary': summ, 'rows': rows})}")


if __name__ == "__main__":
    main()
