"""The standard read-outs (FFR 10/20 mm distal to a lesion, ΔFFR, class, per-vessel distal and lowest
FFR) against hand computation on the solved phantom: the points located by arclength, the largest
child chosen by its radius, FFR interpolated linearly between the solution's own nodes, the classes
at their thresholds (Nørgaard et al. 2021: > 0.80 negative, 0.76-0.80 grey zone, <= 0.75 positive)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import ffrflow
from ffrflow.anatomy import stripped
from ffrflow.errors import InvalidInputError
from ffrflow.network import VesselNetwork
from ffrflow.phantoms import LesionSpec, left_tree
from ffrflow.readouts import classify


def _interp_by_hand(s_nodes, f_nodes, x):
    """Linear interpolation written out: the node pair that brackets x."""
    i = int(np.searchsorted(s_nodes, x, side="right") - 1)
    i = min(max(i, 0), len(s_nodes) - 2)
    t = (x - s_nodes[i]) / (s_nodes[i + 1] - s_nodes[i])
    return f_nodes[i] + t * (f_nodes[i + 1] - f_nodes[i])


@pytest.fixture(scope="module")
def solved():
    # a 70 % lesion 9 mm from the end of LAD_p (25 mm): 10 and 20 mm past its lower border cross the
    # D1/LAD_m branch point, where the read-out must follow LAD_m (the larger child)
    ph = left_tree([LesionSpec("LAD_p", center_mm=16.0, length_mm=8.0, ds_pct=70.0)])
    net = stripped(ph.network)
    return ffrflow.solve(net, backend="numpy")


def test_lesion_readouts_by_hand(solved):
    r = solved
    les, = r.lesion_records
    assert les["vessel"] == "LAD_p" and les["vessel_name"] == "LAD" and les["segment"] == 6
    L = r.network.length_mm("LAD_p")
    # the larger child at the end of LAD_p: LAD_m (radius 1.4 mm) rather than D1 (1.0 mm)
    rad = {c: float(np.mean(r.network.vessels[c].radius_mm[:5])) for c in r.network.children("LAD_p")}
    assert max(rad, key=rad.get) == "LAD_m"
    for d, key in ((10.0, "ffr_10mm"), (20.0, "ffr_20mm")):
        x = les["end_mm"] + d - L                   # arclength on LAD_m
        assert 0 < x < r.network.length_mm("LAD_m")
        v = r.vessel("LAD_m")
        assert les[key] == pytest.approx(_interp_by_hand(v["s_mm"], v["ffr"], x), abs=1e-12)
    # ΔFFR: FFR at the proximal shoulder minus at the distal shoulder = (p_start - p_end) / Pa
    v = r.vessel("LAD_p")
    pa = r.vessel("LM")["pressure_mmHg"][0]
    f0 = _interp_by_hand(v["s_mm"], v["ffr"], les["start_mm"])
    f1 = _interp_by_hand(v["s_mm"], v["ffr"], les["end_mm"])
    assert les["delta_ffr"] == pytest.approx(f0 - f1, abs=1e-12)
    assert les["delta_ffr"] == pytest.approx(les["delta_p_mmHg"] / pa, rel=1e-9)
    assert les["ffr_class"] == classify(les["ffr_20mm"]) and les["class_at_mm"] == 20.0


def test_readout_distances_are_configurable_and_end_at_outlets(solved):
    r = solved
    net = r.network.replace_config(model=ffrflow.config.Model.from_dict(
        {**r.network.model.to_dict(), "readout": {"distances_mm": [5, 400], "class_at_mm": 400}}))
    r2 = ffrflow.solve(net, backend="numpy", detect=False)
    les, = r2.lesion_records
    v = r2.vessel("LAD_p")
    assert les["ffr_5mm"] == pytest.approx(_interp_by_hand(v["s_mm"], v["ffr"], les["end_mm"] + 5), abs=1e-12)
    assert les["ffr_400mm"] is None                 # the LAD ends before 400 mm: no value ...
    # ... and the class is read at the end of the largest-child path (the LAD's outlet) instead
    path_len = r2.network.length_mm("LAD_p") - les["end_mm"] + r2.network.length_mm("LAD_m") + \
        r2.network.length_mm("LAD_d")
    assert les["class_at_mm"] == pytest.approx(path_len, abs=1e-9)
    assert les["class_ffr"] == pytest.approx(r2.vessel("LAD_d")["ffr"][-1], abs=1e-12)
    with pytest.raises(InvalidInputError, match=r"model.readout.distances_mm\[0\]: expected a number > 0"):
        ffrflow.config.Model.from_dict({"readout": {"distances_mm": [-1]}})
    with pytest.raises(InvalidInputError, match=r"model.readout: unknown key\(s\) 'distance'"):
        ffrflow.config.Model.from_dict({"readout": {"distance": 10}})


@pytest.mark.parametrize("ffr, cls", [(0.81, "negative"), (0.8000001, "negative"), (0.80, "grey zone"),
                                      (0.76, "grey zone"), (0.7500001, "grey zone"), (0.75, "positive"),
                                      (0.5, "positive"), (None, None), (float("nan"), None)])
def test_classes_at_the_thresholds(ffr, cls):
    assert classify(ffr) == cls


def test_class_thresholds_configurable():
    assert classify(0.78, positive_max=0.80, negative_above=0.80) == "positive"
    assert classify(0.78, positive_max=0.70, negative_above=0.75) == "negative"


def test_vessel_distal_readout_at_the_diameter_cutoff():
    # one tapering vessel: radius 1.5 -> 0.5 mm over 50 mm (diameter 3 -> 1 mm); points every 0.7 mm
    s = np.arange(0.0, 50.0, 0.7)
    s = np.append(s, 50.0)
    r_mm = 1.5 - s / 50.0
    net = VesselNetwork.from_dict({"format": "ffrflow-network/1", "units": "mm", "vessels": [
        {"id": "A", "parent": None, "side": "right", "points": [[0, 0, -x] for x in s], "radius": r_mm.tolist(),
         "lesions": []}]})
    res = ffrflow.solve(net, backend="numpy", detect=False)
    row, = res.vessel_readouts
    s_star = (1.5 - 0.9) * 50.0                     # diameter 1.8 mm <=> radius 0.9 mm
    v = res.vessel("A")
    assert row["distal_mm"] == pytest.approx(s_star, abs=1e-9) and row["distal_vessel"] == "A"
    assert row["ffr_distal"] == pytest.approx(_interp_by_hand(v["s_mm"], v["ffr"], s_star), abs=1e-12)
    assert row["ffr_min"] == pytest.approx(float(v["ffr"].min()), abs=1e-15)
    net.model = ffrflow.config.Model.from_dict({"readout": {"min_diameter_mm": 3.5}})
    row, = ffrflow.solve(net, backend="numpy", detect=False).vessel_readouts
    assert row["ffr_distal"] is None                # never 3.5 mm wide


def test_names_and_readouts_in_the_outputs(tmp_path):
    ph = left_tree([LesionSpec("LAD_m", center_mm=15.0, length_mm=8.0, ds_pct=60.0)], seed=2)
    src = stripped(ph.network).to_json(tmp_path / "net.json")
    names = tmp_path / "names.json"
    names.write_text(json.dumps({"OM1": "big marginal"}))
    from ffrflow.cli import main

    assert main(["-q", "run", str(src), "-o", str(tmp_path / "out"), "--backend", "numpy", "--no-pictures",
                 "--names", str(names)]) == 0
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    les, = s["lesions"]
    assert les["vessel_name"] == "LAD" and les["segment"] == 7 and les["ffr_class"] in ("negative", "grey zone",
                                                                                        "positive")
    assert {o["vessel"]: o["vessel_name"] for o in s["outlets"]}["OM1"] == "big marginal"
    by_name = {v["name"]: v for v in s["vessels"]}
    assert set(by_name) >= {"LM", "LAD", "LCX", "D1", "D2", "OM2", "big marginal"}
    assert by_name["LAD"]["vessels"] == ["LAD_p", "LAD_m", "LAD_d"] and by_name["LAD"]["segments"] == [6, 7, 8]
    names_json = {v["vessel"]: v for v in s["anatomy"]["vessels"]}
    assert names_json["OM1"]["source"] == "user" and names_json["LCX_d"]["name"] == "LCX"
    with h5py.File(tmp_path / "out" / "results.h5", "r") as f:
        assert f["vessels/LAD_m"].attrs["name"] == "LAD" and f["vessels/OM1"].attrs["name"] == "big marginal"
        assert 0.0 <= f["vessels/D1"].attrs["name_confidence"] <= 1.0
        assert f["lesions/L1"].attrs["ffr_20mm"] == pytest.approx(les["ffr_20mm"])
    # the result read back names the same
    back = ffrflow.cfd.result.Result.load(tmp_path / "out")
    assert back.anatomy.name("OM1") == "big marginal" and back.lesion_records[0]["ffr_10mm"] == \
        pytest.approx(les["ffr_10mm"], abs=1e-6)
    from ffrflow.cli import EXIT_INPUT

    assert main(["-q", "run", str(src), "--names", str(tmp_path / "missing.json"), "--backend", "numpy"]) == EXIT_INPUT
