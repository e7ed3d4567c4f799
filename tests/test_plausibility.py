"""Length units inferred from the radii, and the coronary plausibility check every reader's input gets."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest

import ffrflow
from ffrflow.errors import InvalidInputError
from ffrflow.plausibility import input_warnings, lumped_warnings, network_warnings, resolve_units

from _helpers import PEERS, network, straight, write_centerlines_vtp, y_centerlines


@pytest.fixture
def ffrflow_log(caplog):
    """caplog sees the ffrflow logger even after a command-line test pointed it at its own handler."""
    lg = logging.getLogger("ffrflow")
    saved = lg.propagate
    lg.propagate = True
    with caplog.at_level(logging.INFO, logger="ffrflow"):
        yield caplog
    lg.propagate = saved


def _tree(r_trunk, r_branch, n=11):
    return network([straight("LM", None, [0, 0, 0], [0, 0, 1], 10.0, r_trunk, n),
                    straight("LAD", "LM", [0, 0, 10], [0, 1, 1], 40.0, r_branch, n),
                    straight("LCX", "LM", [0, 0, 10], [0, -1, 1], 50.0, r_branch, n)])


def test_unit_is_given_or_inferred_from_the_median_radius_or_refused():
    # a coronary lumen radius is 0.3-3 mm: a median of 1.2 is mm, 0.12 cm, 0.0012 m
    for radii, unit in (([0.8, 1.2, 2.0], "mm"), ([0.08, 0.12, 0.2], "cm"), ([0.0008, 0.0012, 0.002], "m")):
        d = resolve_units(radii, None, "f.vtp")
        assert (d["unit"], d["decided_by"], d["median_radius_in_file"]) == (unit, "inferred", radii[1])
        assert d["to_mm"] * radii[1] == pytest.approx(1.2)
        assert "--units overrides" in d["reason"]
    d = resolve_units([0.08, 0.12, 0.2], "mm", "f.vtp")  # given: used as given
    assert (d["unit"], d["decided_by"]) == ("mm", "given") and "0.12 mm" in d["reason"]
    with pytest.raises(InvalidInputError, match=r"f\.vtp: cannot tell the length unit .*median radius 0\.3 in the "
                                                r"file \(range 0\.2–0\.5\) is 0\.3 mm in mm, 3 mm in cm, 300 mm in m, "
                                                r"which fits mm and cm alike"):
        resolve_units([0.2, 0.3, 0.5], None, "f.vtp")
    with pytest.raises(InvalidInputError, match=r"cannot tell the length unit .*which fits no unit"):
        resolve_units([10.0, 12.0], None, "f.vtp")  # 12 mm, 12 cm or 12 m: not a coronary lumen
    with pytest.raises(InvalidInputError, match=r"is 120 mm with units='m', not a plausible vessel radius \(the radii "
                                                r"fit units='cm'\)"):
        resolve_units([0.1, 0.12, 0.14], "m", "f.vtp")
    with pytest.raises(InvalidInputError, match="no positive radius"):
        resolve_units([0.0, -1.0], None, "f.vtp")


def test_network_json_with_absurd_radii_warns_on_the_terminal_and_in_summary(tmp_path, ffrflow_log):
    # a tree drawn in cm and written as mm: radii 0.2 and 0.08 "mm"
    p = _tree(0.2, 0.08).to_json(tmp_path / "tiny.json")
    r = ffrflow.run(p, tmp_path / "o", backend="numpy", pictures=False)
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["warnings"] == r.warnings and len(s["warnings"]) == 2
    median, far = s["warnings"]
    assert "tiny.json: median lumen radius 0.08 mm (length-weighted) is outside 0.25–4 mm" in median
    assert "10x larger (0.8 mm: a geometry in cm read as mm) would fit" in median
    assert "90 % of the centerline length has a radius below 0.1 mm" in far and "vessels LAD, LCX" in far
    assert s["input"]["units"] == {"unit": "mm", "to_mm": 1.0, "decided_by": "format",
                                   "reason": "ffrflow-network/1 is in mm"}
    logged = [rec.getMessage() for rec in ffrflow_log.records if rec.levelno == logging.WARNING]
    assert logged == s["warnings"]
    # an aorta-sized tree (radius 12 mm) is no coronary tree either
    big = ffrflow.solve(_tree(12.0, 10.0), backend="numpy")
    assert len(big.warnings) == 2 and "median lumen radius 10 mm" in big.warnings[0]
    assert big.summary()["warnings"] == big.warnings
    # a coronary tree: nothing to say
    ok = ffrflow.run(_tree(2.2, 1.5).to_json(tmp_path / "ok.json"), tmp_path / "ok", backend="numpy", pictures=False)
    assert ok.warnings == [] and json.loads((tmp_path / "ok" / "summary.json").read_text())["warnings"] == []


def test_a_severe_stenosis_alone_is_not_implausible():
    """A 95 % DS throat (radius 0.075 mm) over 4 mm of 80 mm is under the 10 % share: no warning.

    Each point stands for half of each segment it touches: 9 points at 0.5 mm spacing are 4.5 mm
    (5.6 %), 25 points are 12.5 mm (15.6 %)."""
    z = np.linspace(0, 80, 161)
    r = np.where(np.abs(z - 40) <= 2, 0.075, 1.5)
    net = network([{"id": "LAD", "parent": None, "points": np.stack([0 * z, 0 * z, z], 1).tolist(),
                    "radius": r.tolist()}])
    assert network_warnings(net) == []
    r[np.abs(z - 40) <= 6] = 0.075  # 25 points: 12.5 mm of 80
    net = network([{"id": "LAD", "parent": None, "points": np.stack([0 * z, 0 * z, z], 1).tolist(),
                    "radius": r.tolist()}])
    (w,) = network_warnings(net)
    assert "16 % of the centerline length has a radius below 0.1 mm" in w


def test_vtk_centerlines_in_cm_and_m_are_inferred_and_reported(tmp_path):
    lines, radii = y_centerlines()
    ref = ffrflow.load(write_centerlines_vtp(tmp_path / "mm.vtp", lines, radii, point_name="Radius"))
    ref_vmtk = ffrflow.formats.vtkcenterlines.read_centerlines(tmp_path / "mm.vtp")
    assert ref.meta["units"]["unit"] == "mm" and ref.meta["units"]["decided_by"] == "inferred"
    for unit, f in (("cm", 10.0), ("m", 1000.0)):
        p = write_centerlines_vtp(tmp_path / f"{unit}.vtp", [x / f for x in lines], [x / f for x in radii], point_name="Radius")
        net = ffrflow.load(p)  # plain polylines: ffrflow.meshing.io.load_centerlines
        assert (net.meta["units"]["unit"], net.meta["units"]["decided_by"]) == (unit, "inferred")
        for vid, v in ref.vessels.items():
            assert np.allclose(net.vessels[vid].points_mm, v.points_mm, atol=1e-9)
            assert np.allclose(net.vessels[vid].radius_mm, v.radius_mm, rtol=1e-12)
        vmtk = ffrflow.formats.vtkcenterlines.read_centerlines(p)  # the VMTK reader infers alike
        assert vmtk.meta["units"]["unit"] == unit
        for vid, v in ref_vmtk.vessels.items():
            assert np.allclose(vmtk.vessels[vid].points_mm, v.points_mm, atol=1e-9)
    given = ffrflow.load(tmp_path / "cm.vtp", units="cm")
    assert given.meta["units"]["decided_by"] == "given"
    p = write_centerlines_vtp(tmp_path / "both.vtp", [x / 5 for x in lines], [x / 5 for x in radii], point_name="Radius")
    with pytest.raises(InvalidInputError, match=r"both\.vtp: cannot tell the length unit.*fits mm and cm alike"):
        ffrflow.load(p)  # median radius 0.4: 0.4 mm or 4 mm


def test_svoned_inputs_are_cgs_and_checked():
    from ffrflow.formats.svoned import read_svoned

    one = PEERS / "svOneDSolver"
    net, _ = read_svoned(one / "tests_cases" / "Left_coronary_inlet_pressure_wave_outlet_coronary.in")
    assert net.meta["units"]["unit"] == "cm" and net.meta["units"]["decided_by"] == "format"
    assert input_warnings(net) == []
    # svOneDSolver's tube test: area 10 cm^2, a radius of sqrt(10/pi) cm = 17.8 mm, no coronary artery
    tube = ffrflow.load(one / "tests_cases" / "tube_stenosis_r.in")
    median, far = input_warnings(tube)
    assert f"median lumen radius {10 * math.sqrt(10 / math.pi):.3g} mm" in median
    assert "100 % of the centerline length" in far
    with pytest.raises(InvalidInputError, match=r"--units mm: the lengths of an svOneDSolver input \(CGS\) are in cm"):
        ffrflow.load(one / "tests_cases" / "tube_stenosis_r.in", units="mm")


def test_svzerod_poiseuille_radius_is_checked():
    doc = json.loads((PEERS / "svZeroDSolver" / "handmade_reference" / "single_stenosis_steady_p13332.json")
                     .read_text())
    model = ffrflow.load(doc)
    # built with r = 0.15 cm, L = 5 cm, mu = 0.04 P: R = 8 mu L / (pi r^4) gives the radius back, 1.5 mm
    assert lumped_warnings(model) == []
    assert model.meta["units"]["unit"] == "cm"
    doc["vessels"][0]["zero_d_element_values"]["R_poiseuille"] *= 1e4  # the radius 10x smaller: 0.15 mm
    r = ffrflow.solve(ffrflow.load(doc), backend="numpy")
    assert len(r.warnings) == 1 and "median Poiseuille radius (from R_poiseuille, vessel_length and mu = 0.04 P) " \
                                    "0.15 mm" in r.warnings[0]
    s = r.summary()
    assert s["warnings"] == r.warnings and s["input"]["units"]["unit"] == "cm"
    doc["vessels"][0].pop("vessel_length")
    assert lumped_warnings(ffrflow.load(doc)) == []  # no length, no radius to check
