"""Checks of the committed 3D Navier–Stokes tree table (benchmarks/data/tree_ns) and of the 1D
steady model against it.

These tests read only the JSON files written by ``python -m benchmarks.tree_ns.harness``; they
never run OpenFOAM. The 1D model is re-solved at the table's boundary conditions (the 3D runs were
given exactly that model's inlet and outlet flows), so a change of the 1D physics that moves it
away from the 3D solution fails here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks.tree_ns import compare

ROOT = Path(__file__).resolve().parents[1]


DATA = ROOT / "benchmarks" / "data" / "tree_ns"
META_KEYS = ("rho_kg_m3", "mu_pa_s", "openfoam", "solver", "settings", "boundary_conditions", "pressure_definition",
             "date")
#: |ΔFFR| target of the 1D model against 3D at every outlet and lesion-distal point.
DFFR_TARGET = 0.01

#: Cases where the 1D model is known to miss the target, with the largest |ΔFFR| measured by
#: ``python -m benchmarks.tree_ns.compare`` (the test fails if the gap closes, so the entry must go).
KNOWN_GAPS: dict[str, tuple[float, str]] = {
    "medina_010": (0.0337, "the lumped 1D, 5 mm past the LAD lesion at the higher flow: the 3D pressure has not "
                           "recovered there yet; read inside the jet (test_1d_read_inside_the_jets_matches_3d) "
                           "it is within 0.0052"),
    "eccentric_lesion": (0.0385, "held out: the eccentric (one-sided) 50 % lesion loses more than the axisymmetric "
                                 "law gives; 5 mm past it 0.039, at the outlet 0.015 (the higher flow did not "
                                 "settle and is left out; there 0.086 and 0.028)"),
    "medina_100": (0.0161, "the lumped 1D at the LCx outlet at the higher flow: the left-main lesion's jet runs "
                           "into the bifurcation; read inside the jet it is within 0.0092"),
    "medina_111": (0.0121, "the lumped 1D, 5 mm past the LAD and LCx lesions: the 3D pressure has not recovered "
                           "there yet; read inside the jets it is within 0.0069"),
}


#: Cases where even the 1D read inside the jets misses the target (same rules as KNOWN_GAPS).
KNOWN_JET_GAPS: dict[str, tuple[float, str]] = {
    "eccentric_lesion": (0.0200, "held out: an eccentric lesion's jet loses more than the axisymmetric law's; the "
                                 "outlet stays 0.015 high, 5 mm past the lesion 0.020"),
}


#: Cases whose 3D run did not reach the 1D boundary conditions (its outlet-pressure matching diverged),
#: so they are no comparison; the test fails if a rerun matches them, so the entry must go.
KNOWN_UNMATCHED: dict[str, str] = {}


def _docs():
    files = sorted(p for p in DATA.glob("*.json") if p.name != "mesh_convergence.json")
    return [json.loads(p.read_text()) for p in files]


DOCS = _docs()
IDS = [d["case"]["id"] for d in DOCS]


def test_table_is_committed():
    assert "bifurcation_healthy" in IDS
    assert (DATA / "mesh_convergence.json").exists()


def test_known_gaps_name_committed_cases():
    assert set(KNOWN_GAPS) <= set(IDS)
    assert set(KNOWN_UNMATCHED) <= set(IDS)
    assert set(KNOWN_JET_GAPS) <= set(IDS)


@pytest.mark.parametrize("doc", DOCS, ids=IDS)
def test_3d_flows_match_1d_or_listed(doc):
    """Each 3D level carries the 1D outlet flows within the comparison's tolerance, or the case is
    listed as unmatched (and then none of its rows enter the statistics)."""
    case = doc["case"]
    rows = compare.compare_case(case)
    matched = all(r["valid"] for r in rows)
    if case["id"] in KNOWN_UNMATCHED:
        assert not matched, "the case now matches its 1D flows: remove it from KNOWN_UNMATCHED"
    else:
        assert matched, [(r["mass_g"], r["flow_deviation_3d"]) for r in rows]


@pytest.mark.parametrize("doc", DOCS, ids=IDS)
def test_metadata_and_levels(doc):
    for k in META_KEYS:
        assert k in doc["metadata"], k
    case = doc["case"]
    assert len(case["levels"]) == 2
    flows = [lev["inlet_flow_ml_s"] for lev in case["levels"]]
    assert flows[0] < flows[1]
    tol = doc["metadata"]["settings"]["flow_tol"]
    if case["id"] in KNOWN_UNMATCHED:
        return      # its levels are no comparison (test_3d_flows_match_1d_or_listed)
    for lev in case["levels"]:
        if not lev["converged"]:
            # kept, marked and bounded: the drops still move by less than 1 % over the last 20 %
            assert lev["dp_variation_last20pct"] < 0.01, (case["id"], lev["myocardial_mass_g"])
        # the 3D outlets carry the 1D outlet flows (the flow-matching loop's tolerance)
        for vid, q in lev["outlet_flows_ml_s"].items():
            assert lev["outlet_flows_3d_ml_s"][f"outlet_{vid}"] == pytest.approx(q, rel=tol)
        # conservation: what leaves is what the Poiseuille inlet brings in
        assert sum(lev["outlet_flows_3d_ml_s"].values()) == pytest.approx(lev["inlet_flow_ml_s"], rel=1e-4)
        for prof in lev["profiles"].values():
            assert len(prof["s_mm"]) == len(prof["p_mmHg"])
            assert np.all(np.isfinite(prof["p_mmHg"]))


def test_healthy_left_main_is_poiseuille():
    """Truth: with a developed (Poiseuille) inlet, the LM of the healthy bifurcation has the
    Poiseuille gradient 8 μ Q / (π r⁴) between 2 and 8 mm, at the lower flow (Re 108) within 2 %.
    At the higher flow (Re 181) the measured gradient is 6.7 % below it (the carina, 2 diameters
    downstream, and the mesh): known, checked to stay there."""
    doc = next(d for d in DOCS if d["case"]["id"] == "bifurcation_healthy")
    mu = doc["metadata"]["mu_pa_s"]
    r = 2.0e-3
    ratios = []
    for lev in doc["case"]["levels"]:
        prof = lev["profiles"]["LM"]
        p2, p8 = np.interp([2.0, 8.0], prof["s_mm"], prof["p_mmHg"])
        exact = 8 * mu * 6e-3 * lev["inlet_flow_ml_s"] * 1e-6 / (math.pi * r**4) / 133.322387415
        ratios.append((p2 - p8) / exact)
    assert ratios[0] == pytest.approx(1.0, abs=0.02)
    assert ratios[1] == pytest.approx(0.933, abs=0.005)


#: (flow level mass g, outlet) of the mesh series whose change exceeds 1 %, with the measured change.
KNOWN_MESH_GAPS = {(60.0, "LCX"): -0.0133}


def test_mesh_convergence():
    """Outlet pressure drops of the two meshes of the series (0.25 and 0.18 × radius, 66 k and
    154 k polyhedra) differ by less than 1 %, except the LCx at the higher flow (1.3 %)."""
    doc = json.loads((DATA / "mesh_convergence.json").read_text())
    series = sorted(doc["series"], key=lambda s: s["mesh"]["cells"])
    assert len(series) >= 2
    fine, finer = series[-2], series[-1]
    assert finer["mesh"]["cells"] > 2 * fine["mesh"]["cells"]
    gaps = []
    for la, lb in zip(fine["levels"], finer["levels"]):
        assert la["converged"] and lb["converged"]
        for vid, p in lb["outlet_p_mmHg"].items():
            change = la["outlet_p_mmHg"][vid] / p - 1.0
            key = (la["myocardial_mass_g"], vid)
            if key in KNOWN_MESH_GAPS:
                assert change == pytest.approx(KNOWN_MESH_GAPS[key], abs=2e-3)
                gaps.append((key, change))
            else:
                assert abs(change) < 0.01, (key, change)
    assert len(gaps) == len(KNOWN_MESH_GAPS)
    pytest.xfail(f"known: {gaps} exceed the 1 % mesh-convergence target (a finer mesh was not run)")


def _check_1d_against_3d(case: dict, column: str, gaps: dict, gaps_name: str) -> None:
    """Max |``column``| over the converged rows at the 1D flows within DFFR_TARGET, or equal to its entry
    in ``gaps`` (then an xfail; a moved gap fails)."""
    if case["id"] in KNOWN_UNMATCHED:
        pytest.skip(f"3D run not at the 1D flows: {KNOWN_UNMATCHED[case['id']]}")
    rows = [r for r in compare.compare_case(case) if r["converged_3d"] and r["valid"]]
    assert rows
    for r in rows:
        assert r["flow_deviation"] < compare.FLOW_TOL, r     # the comparison is at the 3D run's flows
    worst = max(abs(r[column]) for r in rows)
    if case["id"] in gaps:
        measured, why = gaps[case["id"]]
        assert worst == pytest.approx(measured, abs=2e-3), f"the known gap moved: update {gaps_name}"
        pytest.xfail(f"known gap: max |{column}| {worst:.4f} > {DFFR_TARGET} ({why})")
    assert worst <= DFFR_TARGET, [(r["vessel"], r["kind"], r["mass_g"], round(r[column], 4)) for r in rows]


@pytest.mark.parametrize("doc", DOCS, ids=IDS)
def test_1d_read_inside_the_jets_matches_3d(doc):
    """Truth: the 3D Navier–Stokes section-averaged pressures. The 1D steady pressures read inside the
    lesions' jets (ffrflow.cfd.jet: the ns-calibrated law's own jet length and momentum recovery, no
    constant fitted on these trees) are within 0.01 in FFR at every outlet and lesion-distal point of
    every case run at the 1D flows, including the points 5 mm past a lesion where the lumped 1D read
    up to 0.034 high; the eccentric lesion, which the axisymmetric law does not describe, is a known gap."""
    _check_1d_against_3d(doc["case"], "dffr_jet", KNOWN_JET_GAPS, "KNOWN_JET_GAPS")


@pytest.mark.parametrize("doc", DOCS, ids=IDS)
def test_1d_matches_3d(doc):
    """|ΔFFR| between the 1D steady model and 3D at every outlet and lesion-distal point."""
    _check_1d_against_3d(doc["case"], "dffr", KNOWN_GAPS, "KNOWN_GAPS")
