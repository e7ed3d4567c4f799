"""Checks of the committed Navier–Stokes stenosis table (benchmarks/data/stenosis_ns).

These tests read only the JSON files written by ``python -m benchmarks.stenosis_ns.harness``;
they never run OpenFOAM.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from benchmarks.stenosis_ns.harness import geometry_of  # pure geometry, no OpenFOAM

ROOT = Path(__file__).resolve().parents[1]


DATA = ROOT / "benchmarks" / "data" / "stenosis_ns"
FAMILIES = ("core", "gaussian", "asymmetric", "diffuse", "tandem", "short", "holdout")
META_KEYS = ("rho_kg_m3", "mu_pa_s", "openfoam", "solver", "settings", "dp_definition", "convergence", "date")


def _load(name):
    path = DATA / f"{name}.json"
    if not path.exists():
        pytest.skip(f"{path} not generated")
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def validation():
    return _load("validation")


@pytest.fixture(scope="module", params=FAMILIES)
def family(request):
    return request.param, _load(request.param)


def test_core_family_is_committed():
    doc = _load("core")
    assert len(doc["cases"]) >= 60


def test_tube_matches_poiseuille(validation):
    tube = validation["tube"]
    assert tube["cases"]
    for c in tube["cases"]:
        assert c["converged"]
        exact = 8 * validation["metadata"]["mu_pa_s"] * c["plane_distance_mm"] * 1e-3 * c["flow_ml_s"] * 1e-6 / (
            math.pi * (c["r0_mm"] * 1e-3) ** 4)
        assert c["dp_poiseuille_pa"] == pytest.approx(exact, rel=1e-12)
        assert abs(c["dp_pa"] - exact) / exact < 1e-3


def test_mesh_convergence(validation):
    mc = validation["mesh_convergence"]
    # committed so far: the 70 % AS, 9 mm cosine lesion at the lowest and the highest flow
    assert len({c["id"].rsplit("_q", 1)[0] for c in mc["cases"]}) >= 1
    assert len(mc["cases"]) >= 2
    assert len({c["flow_ml_s"] for c in mc["cases"]}) >= 2
    for c in mc["cases"]:
        assert c["base"]["converged"] and c["refined"]["converged"]
        assert c["refined"]["cells"] >= 3.9 * c["base"]["cells"]
        change = (c["refined"]["dp_pa"] - c["base"]["dp_pa"]) / c["refined"]["dp_pa"]
        assert change == pytest.approx(c["rel_change"], rel=1e-9)
        assert abs(change) < 5e-3, c["id"]


def test_metadata(family):
    name, doc = family
    meta = doc["metadata"]
    for k in META_KEYS:
        assert k in meta, (name, k)
    assert meta["rho_kg_m3"] == 1060.0
    assert meta["mu_pa_s"] == pytest.approx(3.5e-3)
    assert "v1912" in meta["openfoam"]


def test_profiles_consistent(family):
    name, doc = family
    assert doc["cases"], name
    for c in doc["cases"]:
        z = np.asarray(c["profile"]["z_mm"])
        r = np.asarray(c["profile"]["r_mm"])
        assert len(z) == len(r) >= 20
        assert np.all(np.diff(z) > 0), c["id"]
        r0, rmin = c["r0_mm"], c["r_min_mm"]
        assert rmin == pytest.approx(r0 * math.sqrt(1 - c["area_stenosis_pct"] / 100), rel=1e-12)
        assert r.min() == pytest.approx(rmin, rel=1e-6), c["id"]
        assert 1 - (r.min() / r0) ** 2 == pytest.approx(c["area_stenosis_pct"] / 100, rel=1e-6)
        # straight reference tube outside the lesion, the domain ends and planes in the profile
        outside = (z <= c["lesion_start_mm"]) | (z >= c["lesion_end_mm"])
        assert np.allclose(r[outside], r0, rtol=1e-12)
        assert np.all(r <= r0 * (1 + 1e-12))
        for zz in (*c["domain_mm"], c["plane_up_mm"], c["plane_dn_mm"]):
            assert np.any(np.isclose(z, zz, atol=1e-9)), (c["id"], zz)
        assert z[0] == pytest.approx(c["domain_mm"][0]) and z[-1] == pytest.approx(c["domain_mm"][1])
        assert c["plane_up_mm"] == pytest.approx(c["lesion_start_mm"] - 2 * r0)
        assert c["plane_dn_mm"] == pytest.approx(c["lesion_end_mm"] + 20 * r0)
        inner = z[(z > c["lesion_start_mm"]) & (z < c["lesion_end_mm"])]
        assert np.max(np.diff(inner)) <= 0.1 + 1e-9
        # the stored points are the analytic shape, and linear interpolation reproduces it
        g = geometry_of(c)
        assert np.allclose(g.radius_m(z * 1e-3) * 1e3, r, rtol=0, atol=1e-9 * r0), c["id"]
        zz = np.linspace(c["lesion_start_mm"] - 2 * r0, c["lesion_end_mm"] + 2 * r0, 20001)
        err = np.max(np.abs(np.interp(zz, z, r) - g.radius_m(zz * 1e-3) * 1e3)) / r0
        assert err < 1e-3, (c["id"], err)
        # lesion intervals (two for tandem) inside [start, end], throats at the narrowest points
        # tables written before the harness recorded ``lesions`` have one lesion from start to end
        les = c.get("lesions") or [{"start_mm": c["lesion_start_mm"], "end_mm": c["lesion_end_mm"],
                                    "area_stenosis_pct": c["area_stenosis_pct"],
                                    "throat_mm": float(z[np.argmin(r)])}]
        assert len(les) == (2 if c["shape"] == "tandem" else 1)
        assert les[0]["start_mm"] == c["lesion_start_mm"] and les[-1]["end_mm"] == c["lesion_end_mm"]
        assert max(x["area_stenosis_pct"] for x in les) == pytest.approx(c["area_stenosis_pct"])
        for x in les:
            rt = float(np.interp(x["throat_mm"], z, r))
            assert 1 - (rt / r0) ** 2 == pytest.approx(x["area_stenosis_pct"] / 100, rel=1e-6), c["id"]


def test_flow_quantities(family):
    name, doc = family
    for c in doc["cases"]:
        a0 = math.pi * (c["r0_mm"] * 1e-3) ** 2
        assert c["mean_velocity_m_s"] == pytest.approx(c["flow_ml_s"] * 1e-6 / a0, rel=1e-9)
        re = 1060.0 * c["mean_velocity_m_s"] * 2 * c["r0_mm"] * 1e-3 / 3.5e-3
        assert c["reynolds"] == pytest.approx(re, rel=1e-9)
        assert c["dp_mmhg"] == pytest.approx(c["dp_pa"] / 133.322387415, rel=1e-9)
        assert isinstance(c["converged"], bool)
        if not c["converged"]:
            assert c.get("note"), c["id"]


def test_dp_positive_and_increasing_with_flow(family):
    name, doc = family
    by_geom = defaultdict(list)
    for c in doc["cases"]:
        if c["converged"]:
            by_geom[c["geometry_id"]].append(c)
    assert by_geom, name
    for gid, cases in by_geom.items():
        cases.sort(key=lambda c: c["flow_ml_s"])
        dp = [c["dp_pa"] for c in cases]
        assert all(d > 0 for d in dp), gid
        assert all(b > a for a, b in zip(dp, dp[1:])), (gid, dp)


def test_core_grid_complete():
    doc = _load("core")
    keys = {(round(c["area_stenosis_pct"]), round(c["length_mm"]), c["flow_ml_s"]) for c in doc["cases"]}
    for a in (50, 60, 70, 80, 90):
        for L in (6, 9, 12):
            for q in (0.5, 1.0, 2.0, 3.0):
                assert (a, L, q) in keys


def test_core_dp_increases_with_severity():
    doc = _load("core")
    dp = {(round(c["area_stenosis_pct"]), round(c["length_mm"]), c["flow_ml_s"]): c["dp_pa"]
          for c in doc["cases"] if c["converged"]}
    for L in (6, 9, 12):
        for q in (0.5, 1.0, 2.0, 3.0):
            seq = [dp[(a, L, q)] for a in (50, 60, 70, 80, 90) if (a, L, q) in dp]
            assert all(b > a for a, b in zip(seq, seq[1:])), (L, q, seq)


def test_excluded_cases_are_listed(family):
    """Unconverged cases stay in the table (converged = false) with the reason."""
    name, doc = family
    for c in doc["cases"]:
        assert c["iterations"] > 0
        if c["converged"]:
            assert c["dp_change_last_chunk"] < 1e-5 and c["final_residuals"]["p"] < 1e-6, c["id"]
