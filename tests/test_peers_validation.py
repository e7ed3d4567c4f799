"""ffrflow against the peers' own cases (kept in the repository, tests/data/peers): svZeroDSolver's stored
results, the hand-built references, the analytic answers, the closed-loop cases rejected with a reason."""

from __future__ import annotations

import pytest

from benchmarks import validate


@pytest.fixture(scope="module")
def peer_rows():
    return validate.svzerod_peer_rows("cpu")


def test_every_open_loop_svzerod_case_matches_its_stored_result(peer_rows):
    ran = [r for r in peer_rows if r["pass"] is not None]
    cases = {r["case"] for r in ran}
    assert len(cases) == 9, cases  # every tests_cases/*.json that is not closed-loop
    assert {r["quantity"] for r in ran} == set(validate.QUANTITIES)
    for r in ran:
        assert r["pass"], r
        assert r["max_rel_error"] <= 1e-3
        assert r["svzd_1e-7"], r  # svZeroDSolver's own test criterion on every stored point, all cycles


def test_closed_loop_cases_are_listed_with_the_reason(peer_rows):
    rows = [r for r in peer_rows + validate.closed_loop_rows() if r["pass"] is None]
    assert {r["case"] for r in rows} == {"closedLoopHeart_withCoronaries",
                                         "coupledBlock_closedLoopHeart_withCoronaries", "svzerod_tuned"}
    for r in rows:
        assert "ClosedLoopHeartAndPulmonary" in r["note"] and "out of scope" in r["note"]


def test_handmade_steady_cases_match_to_1e_6():
    rows = validate.handmade_rows("cpu")
    assert len(rows) >= 40
    bad = [r for r in rows if not r["pass"]]
    assert not bad, bad
    assert all(r["tolerance"] == 1e-6 for r in rows)


def test_analytic_answers():
    rows = validate.analytic_rows("cpu")
    bad = [r for r in rows if not r["pass"]]
    assert not bad, bad


def test_vmr_models_run_and_conserve_mass():
    rows = validate.vmr_rows("cpu")
    assert len(rows) == 3 and all(r["pass"] for r in rows), rows


def test_table_format():
    rows = validate.svzerod_case(validate.ZEROD / "tests_cases" / "steadyFlow_stenosis_R.json", "cpu")
    shown = [{**r, "pass_s": "yes", "svzd": "yes", "err": r["max_rel_error"]} for r in rows]
    text = validate.format_table(shown)
    assert text.splitlines()[0].split()[:4] == ["case", "quantity", "max", "rel"]
    assert "steadyFlow_stenosis_R" in text and "pressure_in" in text
