"""Lesion models against the committed Navier–Stokes table, case by case; and the calibration fit.

Every converged case of ``benchmarks/data/stenosis_ns/<family>.json`` becomes a single-vessel
network: the case's radius profile between the two pressure planes (2 r0 upstream of the lesion
start, 20 r0 downstream of its end), the lesion given with its reference radius r0, and a
flow-driven inlet (``boundary.inlet_flow_ml_s``). It is run through ``ffrflow.run`` with each
``model.lesion`` option and the drop between the first and the last point is compared with the
Navier–Stokes drop.

``python -m benchmarks.stenosis_ns.compare`` prints and saves the comparison table, with the
leave-one-geometry-out error of ``ns-calibrated`` next to it (the law refitted without the
geometry, then applied to it); ``--fit`` fits the constants of ``ns-calibrated``
(:data:`ffrflow.cfd.lesion.NS_CALIBRATED`) and prints them: the jet length (c_jet, k_jet) by
log-linear least squares on the recirculation lengths recorded in the table, then the six drop
constants by least squares on the relative errors raised to the 8th power (close to minimising the
largest error), on the families ``core``, ``gaussian``, ``asymmetric``, ``diffuse``, ``tandem`` and
``short``. The ``holdout`` family (solved after the form of the law was chosen) is never fitted.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / "data" / "stenosis_ns"
MODELS = ("ns-calibrated", "poiseuille-kt", "young-tsai")
TRAIN_FAMILIES = ("core", "gaussian", "asymmetric", "diffuse", "tandem", "short")
#: Constants of ns-calibrated fitted on the drops (the rest are fitted on jet lengths or set).
DROP_CONSTANTS = ("k_exp", "k_as", "k_steep", "k_dev", "c_dev", "m_tandem")
#: Exponent of the fit's error norm (8: close to the largest error).
FIT_NORM = 8


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


class FastCase:
    """One case reduced to what the ``ns-calibrated`` law needs (flow-driven single vessel: the flow is
    given, so the drop is the Poiseuille integral plus the law's terms at that flow, with no solve).
    :func:`fast_drop_pa` equals :func:`model_drop_pa` (checked in the tests)."""

    def __init__(self, case: dict):
        from ffrflow.cfd.assembly import discretize
        from ffrflow.cfd.lesion import shape_arrays
        from ffrflow.network import VesselNetwork

        net = VesselNetwork.from_dict(case_network(case, "ns-calibrated"))
        disc = discretize(net, "numpy")
        self.case = case
        self.q = case["flow_ml_s"] * 1e-6
        extra = sum(x["r_extra"] for x in disc.lesions)
        self.r_pois = float(disc.R[0]) - extra
        les = disc.lesions
        self.ref = 1e-3 * np.array([x["reference_radius_mm"] for x in les])
        self.rmin = 0.5e-3 * np.array([x["mld_mm"] for x in les])
        self.shape = shape_arrays([x["shape"] for x in les])
        self.next = np.array([-1 if x["next_lesion"] is None else x["next_lesion"] for x in les], dtype=np.int64)
        self.mu, self.rho = net.model.blood_viscosity_pa_s, net.model.blood_density_kg_m3

    def drop_pa(self, constants: dict) -> float:
        from ffrflow.cfd.lesion import ns_calibrated_drop

        return self.r_pois * self.q + float(np.sum(ns_calibrated_drop(
            self.q, self.ref, self.rmin, mu_pa_s=self.mu, rho_kg_m3=self.rho, c=constants, next_index=self.next,
            **self.shape)))


def fast_drop_pa(case: dict, constants: dict | None = None) -> float:
    """Drop (Pa) of ``ns-calibrated`` with the given constants (default: the shipped ones)."""
    from ffrflow.cfd.lesion import NS_CALIBRATED

    return FastCase(case).drop_pa(NS_CALIBRATED if constants is None else constants)


def fit_jet_length(cases) -> dict:
    """c_jet, k_jet of L_j = c_jet exp(−k_jet σ) Re_s D_s from the recorded recirculation lengths.

    Single-lesion cases with a recirculation zone; L_j is measured from the throat exit (the last
    point at the minimal radius) to ``recirculation_end_mm``; least squares on log(L_j/(Re_s D_s))
    weighted by sqrt(L_j) (the long jets are the ones that reach the wire)."""
    rows = []
    for c in cases:
        if c["family"] == "tandem" or c.get("recirculation_end_mm") is None:
            continue
        z = np.asarray(c["profile"]["z_mm"])
        r = np.asarray(c["profile"]["r_mm"])
        inside = (z >= c["lesion_start_mm"] - 1e-9) & (z <= c["lesion_end_mm"] + 1e-9)
        zl, rl = z[inside], r[inside]
        z_exit = zl[np.flatnonzero(rl <= rl.min() * (1 + 1e-9) + 1e-12)[-1]]
        lj = c["recirculation_end_mm"] - z_exit
        if lj <= 0:
            continue
        sigma = (rl.min() / c["r0_mm"]) ** 2
        rows.append((sigma, c["reynolds_throat"], 2 * rl.min(), lj))
    s, re, ds, lj = np.array(rows).T
    w = np.sqrt(lj)
    a = np.c_[np.ones_like(s), -s] * w[:, None]
    sol = np.linalg.lstsq(a, np.log(lj / (re * ds)) * w, rcond=None)[0]
    pred = np.exp(sol[0] - sol[1] * s) * re * ds
    return {"c_jet": float(np.exp(sol[0])), "k_jet": float(sol[1]), "cases": int(s.size),
            "median_abs_error": float(np.median(np.abs(pred / lj - 1))), "max_abs_error": float(np.max(np.abs(pred / lj - 1)))}


def fit_drop_constants(fast: list, base: dict, names=DROP_CONSTANTS) -> dict:
    """Least squares of the relative errors (to the FIT_NORM-th power) over the given FastCases."""
    from scipy.optimize import least_squares

    dp = np.array([f.case["dp_pa"] for f in fast])

    def residuals(x):
        c = {**base, **dict(zip(names, x))}
        r = np.array([f.drop_pa(c) for f in fast]) / dp - 1.0
        return r * np.abs(10.0 * r) ** ((FIT_NORM - 2) / 2)

    sol = least_squares(residuals, [base[k] for k in names])
    return {**base, **{k: float(v) for k, v in zip(names, sol.x)}}


def fit(cases) -> dict:
    """Fit the ns-calibrated constants on the training families (see the module docstring)."""
    from ffrflow.cfd.lesion import NS_CALIBRATED

    train = [c for c in cases if c["family"] in TRAIN_FAMILIES]
    jet = fit_jet_length(train)
    base = {**NS_CALIBRATED, "c_jet": jet["c_jet"], "k_jet": jet["k_jet"]}
    fast = [FastCase(c) for c in train]
    c = fit_drop_constants(fast, base)
    err = np.array([f.drop_pa(c) / f.case["dp_pa"] - 1 for f in fast])
    rng = np.array([50 <= f.case["area_stenosis_pct"] <= 90 for f in fast])
    return {**{k: round(c[k], 4) for k in ("c_jet", "k_jet", *DROP_CONSTANTS)}, "jet_length_fit": jet,
            "cases": len(train), "max_abs_error_pct_train": float(100 * np.abs(err).max()),
            "max_abs_error_pct_train_50_90": float(100 * np.abs(err[rng]).max())}


def leave_one_geometry_out(cases) -> dict:
    """Per case id: the relative error of ns-calibrated refitted without the case's geometry (drop
    constants only; the jet length and the set constants as shipped)."""
    from ffrflow.cfd.lesion import NS_CALIBRATED

    train = [FastCase(c) for c in cases if c["family"] in TRAIN_FAMILIES]
    out = {}
    for g in sorted({f.case["geometry_id"] for f in train}):
        c = fit_drop_constants([f for f in train if f.case["geometry_id"] != g], dict(NS_CALIBRATED))
        for f in train:
            if f.case["geometry_id"] == g:
                out[f.case["id"]] = f.drop_pa(c) / f.case["dp_pa"] - 1.0
    return out


def markdown(rows, summ) -> str:
    """The comparison as Markdown: the summary, then every case of 50–90 % area stenosis."""
    out = ["# Lesion models against Navier–Stokes (`python -m benchmarks.stenosis_ns.compare`)", "",
           "Error of the drop between the planes 2 r0 upstream and 20 r0 downstream of the lesion, "
           "(model − NS)/NS, single vessel with a flow-driven inlet through `ffrflow.run`. "
           "*LOO*: ns-calibrated refitted without the case's geometry (holdout cases: never fitted).", "",
           "| subset | cases | " + " | ".join(f"{m} max / mean" for m in (*MODELS, "ns-calibrated LOO")) + " |",
           "|---|---|" + "---|" * (len(MODELS) + 1)]
    for k, v in summ.items():
        cells = [f"{v[m]['max_abs_error_pct']:.1f} % / {v[m]['mean_abs_error_pct']:.1f} %"
                 for m in (*MODELS, "ns-calibrated (leave one geometry out)")]
        out.append(f"| {k} | {v['cases']} | " + " | ".join(cells) + " |")
    out += ["", "| case | family | AS % | Q mL/s | Re throat | NS ΔP Pa | " + " | ".join(MODELS) + " | ns-calibrated LOO |",
            "|---|---|---|---|---|---|" + "---|" * (len(MODELS) + 1)]
    for r in rows:
        if 50 <= r["area_stenosis_pct"] <= 90:
            out.append(f"| {r['id']} | {r['family']} | {r['area_stenosis_pct']:g} | {r['flow_ml_s']:g} | "
                       f"{r['reynolds_throat']:.0f} | {r['ns_dp_pa']:.1f} | "
                       + " | ".join(f"{r[m + '_error_pct']:+.1f} %" for m in MODELS)
                       + f" | {r['ns-calibrated_loo_error_pct']:+.1f} % |")
    return "\n".join(out) + "\n"


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
    loo = leave_one_geometry_out(cases)
    for r in rows:
        r["ns-calibrated_loo_error_pct"] = 100.0 * loo[r["id"]] if r["id"] in loo else r["ns-calibrated_error_pct"]
    head = f"{'case':<40}{'NS dP Pa':>10}" + "".join(f"{m:>16}" for m in MODELS) + f"{'ns-cal. LOO':>14}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['id'][:39]:<40}{r['ns_dp_pa']:>10.1f}" + "".join(f"{r[m + '_error_pct']:>15.1f}%" for m in MODELS)
              + f"{r['ns-calibrated_loo_error_pct']:>13.1f}%" + ("  held-out" if r["held_out"] else ""))
    summ = summarize(rows)
    for k, v in summ.items():
        e = np.array([r["ns-calibrated_loo_error_pct"] for r in rows if 50 <= r["area_stenosis_pct"] <= 90
                      and (k.startswith("all") or r["held_out"] == k.startswith("held-out"))])
        v["ns-calibrated (leave one geometry out)"] = {
            "max_abs_error_pct": float(np.abs(e).max()) if e.size else None,
            "mean_abs_error_pct": float(np.abs(e).mean()) if e.size else None}
    print()
    for k, v in summ.items():
        print(f"{k} ({v['cases']} cases): " + "; ".join(
            f"{m} max {v[m]['max_abs_error_pct']:.1f} % mean {v[m]['mean_abs_error_pct']:.1f} %"
            for m in (*MODELS, "ns-calibrated (leave one geometry out)") if v[m]['max_abs_error_pct'] is not None))
    if not a.no_save:
        from ffrflow.cfd.lesion import NS_CALIBRATED

        path = save('stenosis_ns_compare', {'ns_calibrated': NS_CALIBRATED, 'summary': summ, 'rows': rows})
        path.with_suffix(".md").write_text(markdown(rows, summ))
        print(f"saved {path} and {path.with_suffix('.md').name}")


if __name__ == "__main__":
    main()
