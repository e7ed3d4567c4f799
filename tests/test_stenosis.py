"""Lesion detection and grading against phantoms whose lesions are known exactly (docs/physics.md
§Lesion detection)."""

from __future__ import annotations

import numpy as np
import pytest

from ffrflow.meshing.stenosis import detect_lesions, find_runs, lesion_table, reference_radius
from ffrflow.phantoms import LesionSpec, coronary_tree


def _match(found, truth, tol_mm=1.5):
    return [f for f in found if f["vessel"] == truth["vessel"] and abs(f["position_mm"] - truth["position_mm"]) <= tol_mm]


CASES = [
    [LesionSpec("LAD_p", 12.5, 10.0, 70.0, "cosine"), LesionSpec("RCA_m", 20.0, 12.0, 40.0, "gaussian")],
    [LesionSpec("LAD_m", 15.0, 8.0, 50.0, "asymmetric"), LesionSpec("LCX_p", 12.0, 6.0, 80.0, "cosine"),
     LesionSpec("RCA_p", 20.0, 14.0, 60.0, "gaussian")],
    [LesionSpec("D1", 15.0, 10.0, 45.0, "cosine"), LesionSpec("OM1", 12.0, 8.0, 65.0, "asymmetric"),
     LesionSpec("PDA", 14.0, 9.0, 55.0, "cosine")],
]


@pytest.mark.parametrize("specs", CASES, ids=["lad-rca", "three-shapes", "side-branches"])
def test_every_true_lesion_found_and_graded(specs):
    """Truth: the phantom's lesions — found, %DS within ±5 points, MLD position within 1.5 mm."""
    ph = coronary_tree(specs)
    found = lesion_table(detect_lesions(ph.network))
    for t in ph.lesions:
        m = _match(found, t)
        assert len(m) == 1, (t, found)
        assert m[0]["diameter_stenosis_pct"] == pytest.approx(t["diameter_stenosis_pct"], abs=5.0)
        assert m[0]["reference_diameter_mm"] == pytest.approx(t["reference_diameter_mm"], rel=0.05)
        assert m[0]["start_mm"] <= t["center_mm"] <= m[0]["end_mm"]
    assert len(found) == len(ph.lesions), found


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_false_lesions_on_healthy_trees(seed):
    """Truth: a healthy phantom (tapering, Murray steps at bifurcations) has no lesion ≥ 30 %."""
    ph = coronary_tree([], seed=seed)
    assert lesion_table(detect_lesions(ph.network)) == []


def test_threshold_option():
    ph = coronary_tree([LesionSpec("LAD_m", 15.0, 8.0, 40.0)])
    assert len(lesion_table(detect_lesions(ph.network, threshold_pct=30))) == 1
    assert lesion_table(detect_lesions(ph.network, threshold_pct=50)) == []


def test_given_lesions_replace_detection():
    ph = coronary_tree([LesionSpec("LAD_p", 12.5, 10.0, 70.0)])
    net = ph.network.copy()
    net.vessels["LAD_p"].lesions = []
    out = detect_lesions(net)
    assert out.vessels["LAD_p"].lesions == []
    assert out.meta["lesion_detection"]["given_on"] == ["LAD_p"]


def test_reference_fit_ignores_a_narrowing():
    """Truth: an exponential taper with a 60 % dip is fit back to the taper within 1 %."""
    s = np.arange(0, 60.5, 0.5)
    ref = 1.8 * np.exp(-0.006 * s)
    r = ref * (1 - 0.6 * np.where(np.abs(s - 30) < 6, (1 + np.cos(np.pi * (s - 30) / 6)) / 2, 0))
    fit = reference_radius(s, r)
    assert np.max(np.abs(fit.radius_mm / ref - 1)) < 0.01


def test_tandem_lesions_split_between_them():
    ds = np.array([0, 0.05, 0.2, 0.5, 0.2, 0.12, 0.11, 0.15, 0.4, 0.6, 0.3, 0.05, 0])
    runs = find_runs(np.arange(ds.size) * 0.5, ds, 0.3, 0.1)
    assert len(runs) == 2
    assert runs[0][1] == runs[1][0] == 6  # split at the widest point between the cores
