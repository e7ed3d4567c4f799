"""The lesion models against the committed Navier–Stokes table (benchmarks/data/stenosis_ns).

Truth: steady axisymmetric Navier–Stokes (OpenFOAM simpleFoam) drops of rigid stenoses, measured
between area-averaged pressures 2 r0 upstream of the lesion and 20 r0 downstream of it. CI never
runs OpenFOAM: these tests read the committed table.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from benchmarks.stenosis_ns.compare import DATA, case_network, load_cases, model_drop_pa

pytestmark = pytest.mark.skipif(not (DATA / "core.json").exists(), reason="Navier-Stokes table not committed")


def _in_range(c):
    return 50.0 <= c["area_stenosis_pct"] <= 90.0


@pytest.fixture(scope="module")
def cases():
    return [c for c in load_cases() if _in_range(c)]


#: Held-out geometries the calibrated law misses by more than 10 %, known failures kept visible (the
#: strict xfail flags the day they pass). All are under-predictions that grow with the flow:
#: a short (2 mm) lesion with an abrupt inlet ramp (asymmetric, 70 % AS: 9–13 % at every flow), a
#: 14 mm asymmetric lesion of 65 % AS in a 2.5 mm artery at 11.8 mL/s (−12.6 %), and every long diffuse
#: narrowing with a flat throat (15–25 mm, 50–75 % AS: −12 to −28 % at hyperaemic flow). A loss
#: coefficient K = a − b/Re_s fitted per geometry reproduces each geometry within 5 %, but a and b
#: depend on the lesion's length and shape in a way that severity, effective throat length and ramp
#: slope do not capture linearly (best held-out fits 12–13 %). Two lesions in tandem with a gap of
#: 6–10 mm are over-predicted at high flow (+13 to +17 %; poiseuille-kt +55 to +66 %): the second lesion
#: sits in the first one's jet, and the law adds two independent expansion losses.
KNOWN_MISSES = ("asymmetric_r1_as70_l2", "asymmetric_r2.5_as65_l14", "diffuse_r1.5_as60_l25", "diffuse_r1.5_as75_l15",
                "diffuse_r2_as50_l25", "diffuse_r1_as65_l18", "tandem_r1.5_as70-50_l6-6-6", "tandem_r2_as75-75_l8-10-5")


def _known_miss(c) -> bool:
    return any(c["id"].startswith(k) for k in KNOWN_MISSES)


def test_ns_calibrated_within_10_percent_of_navier_stokes(cases):
    """Training (core) and held-out families, every flow, 50–90 % area stenosis, but the known misses."""
    ok = [c for c in cases if not _known_miss(c)]
    assert len(ok) >= 30 and any(c["family"] != "core" for c in ok)
    errs = {c["id"]: model_drop_pa(c, "ns-calibrated") / c["dp_pa"] - 1 for c in ok}
    worst = max(errs, key=lambda k: abs(errs[k]))
    assert abs(errs[worst]) < 0.10, (worst, errs[worst])


@pytest.mark.xfail(strict=True, reason="short abrupt, long diffuse and tandem lesions: terms the calibrated law lacks")
def test_ns_calibrated_on_short_abrupt_and_long_diffuse_lesions(cases):
    miss = [c for c in cases if _known_miss(c)]
    assert miss, "no short abrupt lesion in the committed table"
    assert all(abs(model_drop_pa(c, "ns-calibrated") / c["dp_pa"] - 1) < 0.10 for c in miss)


def test_calibrated_law_beats_the_design_default(cases):
    """Held-out cases included: the calibrated law's mean and worst errors are below poiseuille-kt's."""
    e_ns = np.array([abs(model_drop_pa(c, "ns-calibrated") / c["dp_pa"] - 1) for c in cases])
    e_kt = np.array([abs(model_drop_pa(c, "poiseuille-kt") / c["dp_pa"] - 1) for c in cases])
    assert e_ns.mean() < 0.5 * e_kt.mean() and e_ns.max() < e_kt.max()


def test_default_model_is_still_the_design_one():
    """ns-calibrated becomes the default once it passes every held-out case (issue 4); not yet."""
    from ffrflow.config import Model

    assert Model().lesion == "poiseuille-kt"


def test_previous_default_over_predicts_as_reported(cases):
    """The DESIGN §4 model (Poiseuille + Kt = 1.52) over-predicts the NS drop (the issue's finding)."""
    errs = np.array([model_drop_pa(c, "poiseuille-kt") / c["dp_pa"] - 1 for c in cases])
    assert errs.mean() > 0.05 and errs.max() > 0.15


def test_one_case_through_the_command_line(tmp_path, cases):
    """ffrflow run on a single-vessel network with a flow-driven inlet gives the same drop."""
    c = max(cases, key=lambda x: x["area_stenosis_pct"])
    p = tmp_path / "tube.json"
    p.write_text(json.dumps(case_network(c, "ns-calibrated")))
    out = subprocess.run([sys.executable, "-m", "ffrflow", "run", str(p), "-o", str(tmp_path / "o"), "--no-detect",
                          "--backend", "numpy", "--no-pictures"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    dp_mmhg = s["roots"][0]["pressure_mmHg"] - s["outlets"][0]["pressure_mmHg"]
    assert dp_mmhg * 133.322387415 == pytest.approx(model_drop_pa(c, "ns-calibrated"), rel=1e-9)
    assert abs(dp_mmhg * 133.322387415 / c["dp_pa"] - 1) < 0.10
    assert s["roots"][0]["flow_ml_s"] == pytest.approx(c["flow_ml_s"])


def test_ffr_monotonic_in_severity_and_flow():
    """FFR of a cosine stenosis falls as the stenosis tightens and as the flow rises."""
    import ffrflow

    def ffr(as_pct, q):
        z = np.linspace(0, 60, 241)
        r0 = 1.5
        rmin = r0 * np.sqrt(1 - as_pct / 100)
        bump = np.where(np.abs(z - 30) < 5, (1 + np.cos(np.pi * (z - 30) / 5)) / 2, 0)
        r = r0 - (r0 - rmin) * bump
        net = {"format": "ffrflow-network/1", "vessels": [{"id": "t", "parent": None,
               "points": [[0, 0, x] for x in z], "radius": r.tolist(),
               "lesions": [{"start_mm": 25.0, "end_mm": 35.0, "reference_radius_mm": r0}]}],
               "boundary": {"inlet_flow_ml_s": q, "outlets": {"t": {"resistance_mmHg_s_per_ml": 20.0}}}}
        res = ffrflow.run(net, backend="numpy", detect=False)
        return res.lesions[0]["pressure_ratio"]

    sev = [ffr(a, 2.0) for a in (30, 50, 70, 80, 90, 95)]
    assert all(b < a for a, b in zip(sev, sev[1:])), sev
    flo = [ffr(75, q) for q in (0.25, 0.5, 1.0, 2.0, 3.0)]
    assert all(b < a for a, b in zip(flo, flo[1:])), flo
