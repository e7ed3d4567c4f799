"""svZeroDSolver JSON: reading, writing, round trips and clear errors for bad files."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from ffrflow.cfd.lumped import solve_lumped, state_slots
from ffrflow.cfd.steady import solve_steady
from ffrflow.errors import InvalidInputError
from ffrflow.formats import detect
from ffrflow.formats.svzerod import is_svzerod, lumped_to_svzerod, network_to_svzerod, read_svzerod, write_svzerod

from _helpers import ZEROD, network, straight

#: The peers' svZeroDSolver files that ffrflow refuses (closed-loop heart blocks).
CLOSED_LOOP = {"closedLoopHeart_withCoronaries", "coupledBlock_closedLoopHeart_withCoronaries", "svzerod_tuned"}


def doc_bifurcation():
    return {
        "description": {"x": "steady flow -> blood vessel junction -> R"},
        "simulation_parameters": {"number_of_cardiac_cycles": 2, "number_of_time_pts_per_cardiac_cycle": 5,
                                  "absolute_tolerance": 1e-9},
        "vessels": [
            {"vessel_id": 0, "vessel_name": "branch0_seg0", "vessel_length": 10.0, "zero_d_element_type": "BloodVessel",
             "zero_d_element_values": {"R_poiseuille": 300.0}, "boundary_conditions": {"inlet": "INFLOW"}},
            {"vessel_id": 1, "vessel_name": "branch1_seg0", "zero_d_element_type": "BloodVessel",
             "zero_d_element_values": {"R_poiseuille": 300.0, "_comment_": "ignored"},
             "boundary_conditions": {"outlet": "OUT1"}},
            {"vessel_id": 2, "vessel_name": "branch2_seg0", "zero_d_element_type": "BloodVessel",
             "zero_d_element_values": {"R_poiseuille": 300.0}, "boundary_conditions": {"outlet": "OUT2"}}],
        "junctions": [{"inlet_vessels": [0], "junction_name": "J0", "junction_type": "BloodVesselJunction",
                       "junction_values": {"R_poiseuille": [100, 200], "L": [0.0, 0.0],
                                           "stenosis_coefficient": [0.0, 0.0]}, "outlet_vessels": [1, 2]}],
        "boundary_conditions": [
            {"bc_name": "INFLOW", "bc_type": "FLOW", "bc_values": {"Q": [5.0, 5.0], "t": [0.0, 1.0]}},
            {"bc_name": "OUT1", "bc_type": "RESISTANCE", "bc_values": {"Pd": 50.0, "R": 100.0}},
            {"bc_name": "OUT2", "bc_type": "RESISTANCE", "bc_values": {"Pd": 200.0, "R": 1000.0}}]}


def test_read_blood_vessel_junction_and_analytic_solution(backend):
    m = read_svzerod(doc_bifurcation())
    assert [e.kind for e in m.elements] == ["vessel", "junction", "vessel", "junction", "vessel"]
    r = solve_lumped(m, backend=backend)
    # svZeroDSolver's analytic answer (tests/cases/steadyFlow_blood_vessel_junction.json)
    assert r.vessel("branch0_seg0")["pressure_in"][-1] == pytest.approx(3462.5, rel=1e-9)
    assert r.vessel("branch1_seg0")["pressure_in"][-1] == pytest.approx(1580.0, rel=1e-9)
    assert r.vessel("branch2_seg0")["pressure_in"][-1] == pytest.approx(1727.5, rel=1e-9)
    assert r.vessel("branch1_seg0")["flow_out"][-1] == pytest.approx(3.825, rel=1e-9)
    assert r.vessel("branch2_seg0")["pressure_out"][-1] == pytest.approx(1375.0, rel=1e-9)


def test_write_read_round_trip_is_a_fixed_point(tmp_path):
    m = read_svzerod(doc_bifurcation())
    doc = lumped_to_svzerod(m)
    assert doc["junctions"][0]["junction_type"] == "BloodVesselJunction"
    assert doc["junctions"][0]["junction_values"]["R_poiseuille"] == [100.0, 200.0]
    p = write_svzerod(m, tmp_path / "m.json")
    m2 = read_svzerod(p)
    assert lumped_to_svzerod(m2) == doc
    assert is_svzerod(json.loads(p.read_text())) and detect(p) == "svzerod"
    a = solve_lumped(m, backend="cpu").y
    b = solve_lumped(m2, backend="cpu").y
    assert np.array_equal(a, b)


def _net():
    net = network([
        straight("LM", None, [0, 0, 0], [0, 0, 1], 10.0, 2.0, n=6),
        {**straight("LAD", "LM", [0, 0, 10], [0, 1, 1], 40.0, (1.6, 1.2), n=30),
         "lesions": [{"start_mm": 10.0, "end_mm": 16.0, "reference_radius_mm": 1.5}]},
        straight("LCX", "LM", [0, 0, 10], [1, 0, 1], 30.0, (1.4, 1.1), n=20),
        straight("RCA", None, [40, 0, 0], [1, 0, 0], 50.0, (1.8, 1.3), n=25),
    ], boundary={"venous_pressure_mmHg": 5.0})
    net.vessels["LAD"].radius_mm = net.vessels["LAD"].radius_mm.copy()
    net.vessels["LAD"].radius_mm[10:14] *= 0.45
    return net


@pytest.mark.parametrize("lesion_model", ["poiseuille-kt", "young-tsai", "ns-calibrated"])
def test_network_to_svzerod_round_trip_gives_the_steady_solution(tmp_path, lesion_model):
    """Truth: the steady solution of the source network. Under its constant inlet the svZeroDSolver model
    settles to the steady state; its lesion's R + S Q|Q| (for ns-calibrated, the secant at the operating
    flow) loses what the lesion loses there, so every outlet's pressure, flow and FFR are the steady
    solver's."""
    net = _net()
    net = net.replace_config(model=type(net.model).from_dict({**net.model.to_dict(), "lesion": lesion_model}))
    steady = solve_steady(net, backend="cpu")
    doc = network_to_svzerod(net)
    assert {b["bc_type"] for b in doc["boundary_conditions"]} == {"PRESSURE", "RESISTANCE"}
    lad = next(v for v in doc["vessels"] if v["vessel_name"] == "LAD")["zero_d_element_values"]
    assert lad["stenosis_coefficient"] > 0 and lad["C"] > 0 and lad["L"] > 0
    p = write_svzerod(net, tmp_path / "net.json")
    r = solve_lumped(read_svzerod(p), backend="cpu")
    means = r.means()
    for o in steady.outlets:
        # the steady solver stops at a relative residual of 1e-8: agreement to that order
        assert means[o["vessel"]]["pressure_out"] / 1333.22387415 == pytest.approx(o["pressure_mmHg"], rel=1e-7)
        assert means[o["vessel"]]["flow_out"] == pytest.approx(o["flow_ml_s"], rel=1e-7)
        root_in = means[net.root_of(o["vessel"])]["pressure_in"] / 1333.22387415
        assert means[o["vessel"]]["pressure_out"] / 1333.22387415 / root_in == pytest.approx(o["ffr"], abs=1e-6)


def test_demo_case_svzerod_round_trip_keeps_the_ffr_of_the_default_law(tmp_path):
    """Truth: the steady solution of the demo network with the default ns-calibrated law (its three
    lesions detected). Network -> svZeroDSolver JSON -> lumped solve: each lesion's stenosis coefficient is
    the secant of its extra drop at the operating flow, so the mean outlet pressures give every outlet's
    FFR (requirement 0.005; exact at the operating point, so to the solvers' tolerances)."""
    from ffrflow.meshing.stenosis import detect_lesions
    from ffrflow.phantoms import demo_case

    net = detect_lesions(demo_case().network)
    assert net.model.lesion == "ns-calibrated" and sum(len(v.lesions) for v in net.vessels.values()) == 3
    steady = solve_steady(net, backend="cpu")
    means = solve_lumped(read_svzerod(write_svzerod(net, tmp_path / "demo.json")), backend="cpu").means()
    pa = net.boundary.inlet_pressure_mmHg
    for o in steady.outlets:
        assert means[o["vessel"]]["pressure_out"] / 1333.22387415 / pa == pytest.approx(o["ffr"], abs=1e-6)


BAD = [
    (lambda d: d["junctions"][0].__setitem__("outlet_vessels", [1, 7]),
     r"junctions\[0\] 'J0'\.outlet_vessels: no vessel with vessel_id 7"),
    (lambda d: d["vessels"][1]["zero_d_element_values"].__setitem__("R_poiseuille", -3.0),
     r"vessels\[1\] 'branch1_seg0'\.zero_d_element_values\.R_poiseuille: must be >= 0, got -3"),
    (lambda d: d["boundary_conditions"][1].__setitem__("bc_type", "IMPEDANCE"),
     r"boundary_conditions\[1\] 'OUT1'\.bc_type: unknown boundary-condition type 'IMPEDANCE'"),
    (lambda d: d["vessels"][0].__setitem__("zero_d_element_type", "BloodVesselCRL"),
     r"vessels\[0\] 'branch0_seg0'\.zero_d_element_type: 'BloodVesselCRL' is not supported"),
    (lambda d: d["junctions"][0].__setitem__("junction_type", "magic_junction"),
     r"junctions\[0\] 'J0'\.junction_type: unknown junction type 'magic_junction'"),
    (lambda d: d["boundary_conditions"][2]["bc_values"].__setitem__("R", -1.0),
     r"'OUT2'\.bc_values\.R: must be >= 0"),
    (lambda d: d["boundary_conditions"][2]["bc_values"].__setitem__("Rd", 1.0),
     r"'OUT2'\.bc_values: unknown key\(s\) \['Rd'\]"),
    (lambda d: d["vessels"][2].__setitem__("boundary_conditions", {"outlet": "NOPE"}),
     r"'branch2_seg0'\.boundary_conditions\.outlet: no boundary condition named 'NOPE'"),
    (lambda d: d["vessels"][2].pop("boundary_conditions"),
     r"'branch2_seg0': its outlet is connected to nothing"),
    (lambda d: d["simulation_parameters"].__setitem__("number_of_cycles", 3),
     r"simulation_parameters: unknown key\(s\) \['number_of_cycles'\]"),
    (lambda d: d["boundary_conditions"][0]["bc_values"].__setitem__("t", [0.0]),
     r"'INFLOW'\.bc_values\.Q: 2 values but t has 1 times"),
    (lambda d: d.__setitem__("closed_loop_blocks", [{"closed_loop_type": "ClosedLoopHeartAndPulmonary"}]),
     r"closed_loop_blocks\[0\] \(ClosedLoopHeartAndPulmonary\): closed-loop heart blocks are out of scope"),
    (lambda d: d["boundary_conditions"][1].__setitem__("bc_type", "ClosedLoopRCR"),
     r"'OUT1'\.bc_type: closed-loop block 'ClosedLoopRCR' is out of scope"),
]


@pytest.mark.parametrize("edit,message", BAD)
def test_bad_documents_name_the_block_and_field(edit, message):
    d = copy.deepcopy(doc_bifurcation())
    edit(d)
    with pytest.raises(InvalidInputError, match=message):
        read_svzerod(d)


def test_file_errors_carry_the_file_name(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text("{\"simulation_parameters\": ")
    with pytest.raises(InvalidInputError, match="bad.json: not valid JSON"):
        read_svzerod(p)
    d = doc_bifurcation()
    d["vessels"][0]["zero_d_element_values"]["C"] = -1.0
    p.write_text(json.dumps(d))
    with pytest.raises(InvalidInputError, match=r"bad\.json: vessels\[0\] 'branch0_seg0'\.zero_d_element_values\.C"):
        read_svzerod(p)


def test_initial_condition_names_map_to_nodes():
    d = doc_bifurcation()
    d["simulation_parameters"]["steady_initial"] = False
    d["initial_condition"] = {"pressure_all": 100.0, "flow:INFLOW:branch0_seg0": 5.0}
    m = read_svzerod(d)
    y, ydot, bc_y, bc_ydot = m.initial_state
    _, i, base = state_slots(m)["INFLOW:branch0_seg0"]
    assert y[i, base + 1] == 5.0 and y[i, base] == 100.0
    assert np.all(y[:, [0, 2]] == 100.0) and not ydot.any() and not bc_y.any() and not bc_ydot.any()
    assert solve_lumped(m, backend="numpy").converged
    d["initial_condition"] = {"pressure:nowhere": 1.0}
    with pytest.raises(InvalidInputError, match="initial_condition.pressure:nowhere: unknown variable"):
        read_svzerod(d)


def test_every_peer_file_reads_or_is_rejected_clearly():
    files = sorted(ZEROD.glob("*/*.json"))
    # 11 svZeroDSolver test cases, 1 tuned closed-loop model, 3 VMR models, 4 hand-built cases
    assert len(files) == 19, files
    rejected = set()
    for f in files:
        doc = json.loads(f.read_text())
        if "closed_loop_blocks" in doc:
            with pytest.raises(InvalidInputError, match="closed-loop heart blocks are out of scope"):
                read_svzerod(f)
            rejected.add(f.stem)
        else:
            m = read_svzerod(f)
            assert m.vessels and m.units == "cgs"
    assert rejected == CLOSED_LOOP


def test_load_and_run_recognise_svzerod_json_and_write_its_outputs(tmp_path):
    import ffrflow
    from ffrflow.cfd.lumped import LumpedModel, LumpedResult

    p = tmp_path / "case.json"
    p.write_text(json.dumps(doc_bifurcation()))
    assert isinstance(ffrflow.load(p), LumpedModel) and isinstance(ffrflow.load(doc_bifurcation()), LumpedModel)
    r = ffrflow.run(p, output_dir=tmp_path / "out", backend="cpu")  # the default solver name maps to lumped
    assert isinstance(r, LumpedResult) and r.converged
    assert sorted(x.name for x in (tmp_path / "out").iterdir()) == ["model.json", "results.csv", "summary.json"]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["solver"] == "lumped" and summary["vessels"]["branch1_seg0"]["flow_out"] == pytest.approx(3.825)
    with pytest.raises(InvalidInputError, match="no geometry for the pulsatile"):
        ffrflow.solve(ffrflow.load(p), solver="pulsatile")


def test_cli_export_and_run_lumped(tmp_path, capsys):
    from ffrflow.cli import main

    net = _net()
    src = net.to_json(tmp_path / "net.json")
    assert main(["-q", "export", str(src), "--to", "svzerod", "-o", str(tmp_path / "m.json"), "--no-detect"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["-q", "run", str(tmp_path / "m.json"), "--backend", "cpu"]) == 0
    assert "solver lumped on cpu | ok" in capsys.readouterr().out
    assert main(["-q", "run", str(src), "--solver", "lumped", "--backend", "cpu", "--no-detect"]) == 0
    assert "solver lumped" in capsys.readouterr().out
    assert main(["-q", "export", str(tmp_path / "m.json"), "--to", "svoned", "-o", str(tmp_path / "x.in")]) == 2
