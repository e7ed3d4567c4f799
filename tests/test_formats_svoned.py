"""svOneDSolver .in files: the peers' cases, bad files, writer round trips."""

from __future__ import annotations

import re

import numpy as np
import pytest

from ffrflow.cfd.steady import solve_steady
from ffrflow.errors import InvalidInputError
from ffrflow.formats.svoned import network_to_svoned, read_svoned, write_svoned

from conftest import ONED, network, straight
MMHG = 1333.22387415

SMALL = """MODEL small
NODE 0 0.0 0.0 0.0
NODE 1 0.0 0.0 2.0
NODE 2 0.0 0.0 3.0
NODE 3 0.0 0.0 5.0
JOINT JOINT0 1 IN0 OUT0
JOINTINLET IN0 1 0
JOINTOUTLET OUT0 1 1
JOINT JOINT1 2 IN1 OUT1
JOINTINLET IN1 1 1
JOINTOUTLET OUT1 1 2
SEGMENT seg0 0 2.0 40 0 1 0.07068583 0.07068583 0.0 MAT1 NONE 0.0 0 0 NOBOUND NONE
SEGMENT seg1 1 1.0 20 1 2 0.02120575 0.02120575 0.0 MAT1 STENOSIS 0.0 0 0 NOBOUND NONE
SEGMENT seg2 2 2.0 40 2 3 0.07068583 0.07068583 0.0 MAT1 NONE 0.0 0 0 RESISTANCE OUTLETDATA
DATATABLE INLETDATA LIST
0.0 13332.0
10.0 13332.0
ENDDATATABLE
DATATABLE OUTLETDATA LIST
0.0 4000.0
ENDDATATABLE
SOLVEROPTIONS 0.001 100 1000 2 INLETDATA PRESSURE_WAVE 1.0e-8 1 1
MATERIAL MAT1 OLUFSEN 1.06 0.04 0 2.0 1.0e15 -20 1e9
OUTPUT TEXT
"""


def _write(tmp_path, text, name="m.in"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_small_model_reads_with_its_stenosis(tmp_path):
    net, data = read_svoned(_write(tmp_path, SMALL))
    assert net.ids == ["seg0", "seg1", "seg2"] and net.outlets == ["seg2"]
    assert net.model.lesion == "young-tsai"
    (les,) = net.vessels["seg1"].lesions
    assert les.reference_radius_mm == pytest.approx(10 * np.sqrt(0.07068583 / np.pi), rel=1e-12)
    assert net.length_mm("seg1") == pytest.approx(10.0, rel=1e-12)
    assert net.boundary.outlets["seg2"]["resistance_mmHg_s_per_ml"] == pytest.approx(4000.0 / MMHG, rel=1e-12)
    assert data["inlet"]["type"] == "PRESSURE_WAVE" and data["stenoses"][0]["upstream"] == "seg0"
    assert data["material"]["k1"] == 1.0e15


def test_left_coronary_tree_reads_as_86_segments_with_6_coronary_outlets():
    net, data = read_svoned(ONED / "tests_cases" / "Left_coronary_inlet_pressure_wave_outlet_coronary.in")
    assert len(net.vessels) == 86
    assert len(net.outlets) == 6
    assert sorted(data["outlets"]) == sorted(net.outlets)
    assert {o["type"] for o in data["outlets"].values()} == {"CORONARY"}
    cor = data["outlets"]["lc1_19"]
    assert cor["Ra1"] == pytest.approx(102060.056033825487) and cor["P_v"] == 31992.0
    assert len(cor["P_lv"]) == 21 and cor["t_s"][-1] == 1.0
    assert data["inlet"]["type"] == "PRESSURE_WAVE" and len(data["inlet"]["values"]) == 21
    assert data["solver_options"]["n_steps"] == 400 and data["solver_options"]["dt"] == 0.005
    assert data["material"]["type"] == "OLUFSEN" and data["material"]["k1"] == 1.48e7
    seg = {s["name"]: s for s in data["segments"]}
    assert net.length_mm("lc1_0") == pytest.approx(10 * seg["lc1_0"]["length"], rel=1e-12)
    assert net.vessels["lc2_0"].parent == "lc1_0" and net.vessels["lc1_1"].parent == "lc1_0"
    assert net.boundary.heart_rate_bpm == pytest.approx(60.0)
    r = solve_steady(net, backend="cpu")  # the tree is a valid network for the steady solver too
    assert 0.5 < r.min_ffr < 1.0


@pytest.mark.parametrize("name", ["single_sten_p13332", "single_sten_p133322"])
def test_handmade_single_stenosis_matches_svoned_steady_values(name):
    net, _ = read_svoned(ONED / "handmade_reference" / f"{name}.in")
    ref = (ONED / "handmade_reference" / "ref_oneD_single_sten.txt").read_text()
    block = ref.split(f"P_inlet = {name.split('_p')[1]}")[1].split("P_inlet")[0]
    r = solve_steady(net, backend="cpu")
    for seg, q, p_in, p_out in re.findall(r"(seg\d): .*?Q_in=([\d.]+) .*?P_in=([\d.]+) P_out=([\d.]+)", block):
        v = r.vessel(seg)
        assert v["flow_ml_s"][0] == pytest.approx(float(q), rel=1e-6)
        assert v["pressure_mmHg"][-1] * MMHG == pytest.approx(float(p_out), rel=1e-6)


def test_tube_stenosis_matches_its_analytic_solution():
    net, data = read_svoned(ONED / "tests_cases" / "tube_stenosis_r.in")
    assert data["inlet"]["type"] == "FLOW" and net.boundary.inlet_flow_ml_s == 100.0
    r = solve_steady(net, backend="cpu")
    assert r.vessel("seg0")["pressure_mmHg"][0] * MMHG == pytest.approx(10150.68211, rel=1e-6)
    assert r.vessel("seg2")["pressure_mmHg"][-1] * MMHG == pytest.approx(10000.0, rel=1e-6)


BAD = [
    (lambda s: s.replace("0.0 4000.0\nENDDATATABLE\n", "0.0 4000.0\n").split("SOLVEROPTIONS")[0],
     r"DATATABLE OUTLETDATA is not closed by ENDDATATABLE .*truncated"),
    (lambda s: s.replace("SEGMENT seg2 2 2.0 40 2 3 0.07068583 0.07068583 0.0 MAT1 NONE 0.0 0 0 RESISTANCE OUTLETDATA",
                         "SEGMENT seg2 2 2.0 40 2 3 0.07068583"),
     r":14: SEGMENT seg2: expected 16 fields, got 7 \(outlet_area missing"),
    (lambda s: s.replace("SEGMENT seg2 2 2.0 40 2 3", "SEGMENT seg2 2 2.0 40 2 9"),
     r"SEGMENT seg2 outlet node: no NODE 9"),
    (lambda s: s.replace("0.07068583 0.07068583 0.0 MAT1 NONE 0.0 0 0 RESISTANCE",
                         "0.07068583 -0.07 0.0 MAT1 NONE 0.0 0 0 RESISTANCE"),
     r"SEGMENT seg2 outlet area: must be > 0"),
    (lambda s: s.replace("JOINTOUTLET OUT1 1 2", "JOINTOUTLET OUT1 1 5"),
     r"JOINTOUTLET OUT1 \(joint JOINT1\): no SEGMENT with id 5"),
    (lambda s: s.replace("0.0 4000.0", "0.0 -4000.0"), r"OUTLETDATA .*R must be >= 0"),
    (lambda s: s.replace("MATERIAL MAT1", "MATERIAL MAT2"), r"SEGMENT seg0 material: no MATERIAL 'MAT1'"),
    (lambda s: s.replace("OUTPUT TEXT", "OUTPUTS TEXT"), r":24: OUTPUTS: unknown card"),
    (lambda s: s.split("SOLVEROPTIONS")[0], r"no SOLVEROPTIONS card \(truncated file\?\)"),
    (lambda s: s.replace("RESISTANCE OUTLETDATA", "NOBOUND NONE"), r"SEGMENT seg2 .*outlet but has NOBOUND"),
]


@pytest.mark.parametrize("edit,message", BAD)
def test_bad_files_name_the_line_card_and_field(tmp_path, edit, message):
    with pytest.raises(InvalidInputError, match=message):
        read_svoned(_write(tmp_path, edit(SMALL)))


def _tree(lesion=False, lesion_model="young-tsai"):
    lad = straight("LAD", "LM", [0, 0, 10], [0, 1, 1], 40.0, (1.6, 1.2), n=41)
    if lesion:  # reference radius = the radius at the lesion's start: svOneD's A0 convention holds exactly
        r0 = float(np.interp(10.0, np.linspace(0, 40, 41), np.linspace(1.6, 1.2, 41)))
        lad["lesions"] = [{"start_mm": 10.0, "end_mm": 16.0, "reference_radius_mm": r0}]
        lad["radius"] = [r * (0.5 if 10.5 < s < 15.5 else 1.0)
                         for r, s in zip(lad["radius"], np.linspace(0, 40, 41))]
    return network([straight("LM", None, [0, 0, 0], [0, 0, 1], 10.0, 2.0, n=6), lad,
                    straight("LCX", "LM", [0, 0, 10], [1, 0, 1], 30.0, (1.4, 1.1), n=20)],
                   model={"lesion": lesion_model})


@pytest.mark.parametrize("lesion", [False, True])
def test_network_to_svoned_round_trip_gives_the_same_solution(tmp_path, lesion):
    net = _tree(lesion)
    r0 = solve_steady(net, backend="cpu")
    p = write_svoned(net, tmp_path / "net.in")
    net2, data = read_svoned(p)
    assert len(net2.vessels) >= sum(len(v.points_mm) - 1 for v in net.vessels.values()) - (5 if lesion else 0)
    assert {vid.split("~")[0] for vid in net2.vessels} == set(net.vessels)
    r2 = solve_steady(net2, backend="cpu")
    out2 = {o["vessel"].split("~")[0]: o for o in r2.outlets}
    for o in r0.outlets:
        assert out2[o["vessel"]]["pressure_mmHg"] == pytest.approx(o["pressure_mmHg"], rel=1e-8)
        assert out2[o["vessel"]]["flow_ml_s"] == pytest.approx(o["flow_ml_s"], rel=1e-8)
    if lesion:
        assert len(data["stenoses"]) == 1 and net2.model.lesion == "young-tsai"
        assert r2.lesions[0]["delta_p_mmHg"] == pytest.approx(r0.lesions[0]["delta_p_mmHg"], rel=1e-7)


def test_writer_refuses_two_trees_without_a_root():
    net = network([straight("LM", None, [0, 0, 0], [0, 0, 1], 10.0, 2.0),
                   straight("RCA", None, [9, 0, 0], [0, 0, 1], 10.0, 2.0)])
    with pytest.raises(InvalidInputError, match="one inlet: write one tree per file"):
        network_to_svoned(net)
    assert "MODEL" in network_to_svoned(net, root="RCA")


def test_peer_files_are_a_fixed_point_of_read_write_read(tmp_path):
    net, _ = read_svoned(ONED / "handmade_reference" / "single_sten_p13332.in")
    r0 = solve_steady(net, backend="cpu")
    net2, _ = read_svoned(write_svoned(net, tmp_path / "again.in"))
    r2 = solve_steady(net2, backend="cpu")
    assert r2.outlets[0]["pressure_mmHg"] == pytest.approx(r0.outlets[0]["pressure_mmHg"], rel=1e-8)


def test_load_keeps_the_svoned_data(tmp_path):
    import ffrflow

    net = ffrflow.load(_write(tmp_path, SMALL))
    assert net.ids == ["seg0", "seg1", "seg2"] and net.svoned["solver_options"]["dt"] == 0.001


def test_pulsatile_inputs_in_si():
    from ffrflow.formats.svoned import pulsatile_inputs

    net, data = read_svoned(ONED / "tests_cases" / "Left_coronary_inlet_pressure_wave_outlet_coronary.in")
    outlets, inlet = pulsatile_inputs(data)
    assert sorted(outlets) == sorted(net.outlets)
    o = outlets["lc1_19"]
    assert o["type"] == "coronary" and o["Ra"] == pytest.approx(102060.056033825487 * 1e5)
    assert o["Cim"] == pytest.approx(0.000006705759 * 1e-5) and o["pv"] == pytest.approx(3199.2)
    assert len(o["pim_t_s"]) == 21 and o["pim_pa"][0] == pytest.approx(9484.203469088)
    assert inlet["kind"] == "pressure" and inlet["values"][0] == pytest.approx(10182.18)
    # the coronary table of outlet lc1_sub1_14 repeats t = 0.60: kept once
    assert len(outlets["lc1_sub1_14"]["pim_t_s"]) == 21


def test_left_coronary_tree_runs_through_the_pulsatile_solver_to_a_periodic_state():
    """The 86-segment svOneDSolver left coronary tree (6 CORONARY outlets, P_lv-driven) with its own
    inlet pressure wave: periodic, mass conserved, and the steady solver's answer after merging the
    serial segment chains is the same network (series resistances add)."""
    import ffrflow
    from ffrflow.cfd.steady import solve_steady
    from ffrflow.network import merge_serial_vessels

    net, data = read_svoned(ONED / "tests_cases" / "Left_coronary_inlet_pressure_wave_outlet_coronary.in")
    assert len(net.vessels) == 86 and sum(o["type"] == "CORONARY" for o in data["outlets"].values()) == 6
    merged, mapping = merge_serial_vessels(net)
    a, b = solve_steady(net, backend="cpu"), solve_steady(merged, backend="cpu")
    qa = {mapping[o["vessel"]][0]: o["flow_ml_s"] for o in a.outlets}
    for o in b.outlets:
        assert o["flow_ml_s"] == pytest.approx(qa[o["vessel"]], rel=1e-9)
    net.svoned = data
    r = ffrflow.solve(net, solver="pulsatile", backend="cpu")
    assert r.converged and r.pulsatile["periodic"] and r.pulsatile["cycles"] <= 10
    assert r.pulsatile["mass_balance"]["relative_error"] < 1e-6
    assert len(r.outlets) == 6 and 0.9 < r.min_ffr <= 1.0
    inlet = r.waveforms[r.network.roots[0]]["pressure_mmHg"][:, 0]
    assert inlet.max() - inlet.min() > 20.0   # the file's pressure wave drives it
