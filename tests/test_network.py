"""The ffrflow-network/1 format: round trip, and every malformed input (docs/formats.md §Validation)
rejected clearly."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

from _helpers import network, straight
from ffrflow.errors import InvalidInputError
from ffrflow.network import VesselNetwork


def _base():
    a = straight("LM", None, [0, 0, 0], [1, 0, 0], 10.0, 2.2)
    b = straight("LAD", "LM", a["points"][-1], [1, 1, 0], 40.0, (1.8, 1.1), n=5)
    c = straight("LCX", "LM", a["points"][-1], [1, -1, 0], 30.0, (1.6, 1.0), n=4)
    return {"format": "ffrflow-network/1", "units": "mm", "vessels": [a, b, c]}


def test_round_trip(tmp_path):
    d = _base()
    d["vessels"][1]["lesions"] = [{"start_mm": 5.0, "end_mm": 12.0, "reference_radius_mm": 1.7}]
    d["boundary"] = {"inlet_pressure_mmHg": 90.0, "outlets": {"LCX": {"resistance_mmHg_s_per_ml": 33.0}}}
    d["model"] = {"kt": 1.3}
    net = VesselNetwork.from_dict(d)
    p = net.to_json(tmp_path / "n.json")
    back = VesselNetwork.from_json(p)
    assert back.ids == net.ids
    assert back.boundary == net.boundary and back.model == net.model
    assert back.vessels["LAD"].lesions[0].reference_radius_mm == 1.7
    assert back.outlets == ["LAD", "LCX"] and back.roots == ["LM"]


def test_children_listed_before_parents_are_reordered():
    d = _base()
    d["vessels"] = d["vessels"][::-1]
    net = VesselNetwork.from_dict(d)
    assert net.ids[0] == "LM"


def _mutations():
    """(name, mutate(doc), words the message must contain)."""
    def m(fn):
        return fn

    yield "cycle", m(lambda d: d["vessels"][0].__setitem__("parent", "LAD")), ["cycle"]
    yield "self parent", m(lambda d: d["vessels"][0].__setitem__("parent", "LM")), ["LM", "cycle"]
    yield "unknown parent", m(lambda d: d["vessels"][1].__setitem__("parent", "XX")), ["LAD", "parent", "XX"]
    yield "child not touching", m(lambda d: d["vessels"][2]["points"][0].__setitem__(2, 1.0)), \
        ["LCX", "does not touch", "LM"]
    yield "radius zero", m(lambda d: d["vessels"][1]["radius"].__setitem__(2, 0.0)), ["LAD", "radius[2]", "> 0"]
    yield "radius negative", m(lambda d: d["vessels"][1]["radius"].__setitem__(1, -1.0)), ["LAD", "radius[1]"]
    yield "radius NaN", m(lambda d: d["vessels"][1]["radius"].__setitem__(1, float("nan"))), \
        ["LAD", "radius[1]", "NaN"]
    yield "point inf", m(lambda d: d["vessels"][2]["points"][1].__setitem__(0, float("inf"))), \
        ["LCX", "points[1]", "infinity"]
    yield "one point", m(lambda d: (d["vessels"][0].__setitem__("points", [[0, 0, 0]]),
                                    d["vessels"][0].__setitem__("radius", [2.0]))), ["LM", "two points"]
    yield "lengths disagree", m(lambda d: d["vessels"][1]["radius"].pop()), ["LAD", "lengths disagree"]
    yield "units", m(lambda d: d.__setitem__("units", "cm")), ["units", "cm"]
    yield "format", m(lambda d: d.__setitem__("format", "other/2")), ["format"]
    yield "outlet bc on non-outlet", m(lambda d: d.__setitem__(
        "boundary", {"outlets": {"LM": {"resistance_mmHg_s_per_ml": 10}}})), ["boundary.outlets.LM", "not an outlet"]
    yield "outlet bc unknown vessel", m(lambda d: d.__setitem__(
        "boundary", {"outlets": {"ZZ": {"resistance_mmHg_s_per_ml": 10}}})), ["boundary.outlets.ZZ"]
    yield "negative outlet resistance", m(lambda d: d.__setitem__(
        "boundary", {"outlets": {"LAD": {"resistance_mmHg_s_per_ml": -1}}})), ["resistance_mmHg_s_per_ml", "> 0"]
    yield "unknown boundary key", m(lambda d: d.__setitem__("boundary", {"inlet_presure_mmHg": 90})), \
        ["boundary", "inlet_presure_mmHg"]
    yield "unknown model key", m(lambda d: d.__setitem__("model", {"kt2": 1})), ["model", "kt2"]
    yield "bad lesion model", m(lambda d: d.__setitem__("model", {"lesion": "magic"})), ["model.lesion", "magic"]
    yield "duplicate id", m(lambda d: d["vessels"][2].__setitem__("id", "LAD")), ["LAD", "duplicate"]
    yield "unknown vessel key", m(lambda d: d["vessels"][1].__setitem__("radii", [1])), ["LAD", "radii"]
    yield "missing radius", m(lambda d: d["vessels"][1].pop("radius")), ["LAD", "radius", "missing"]
    yield "lesion outside", m(lambda d: d["vessels"][1].__setitem__(
        "lesions", [{"start_mm": 30, "end_mm": 90}])), ["LAD", "lesions[0]", "end_mm"]
    yield "lesion reversed", m(lambda d: d["vessels"][1].__setitem__(
        "lesions", [{"start_mm": 12, "end_mm": 5}])), ["LAD", "lesions[0]"]
    yield "lesions overlap", m(lambda d: d["vessels"][1].__setitem__(
        "lesions", [{"start_mm": 2, "end_mm": 10}, {"start_mm": 8, "end_mm": 12}])), ["LAD", "overlap"]
    yield "side", m(lambda d: d["vessels"][0].__setitem__("side", "middle")), ["LM", "side"]
    yield "coincident points", m(lambda d: d["vessels"][1]["points"].__setitem__(1, d["vessels"][1]["points"][0])), \
        ["LAD", "coincide"]
    yield "no vessels", m(lambda d: d.__setitem__("vessels", [])), ["vessels"]
    yield "flow inlet with two roots", m(lambda d: (d["vessels"].append(
        straight("RCA", None, [50, 0, 0], [0, 1, 0], 30, 1.8)), d.__setitem__("boundary", {"inlet_flow_ml_s": 2.0}))), \
        ["inlet_flow_ml_s", "single-root"]


@pytest.mark.parametrize("name,mutate,words", list(_mutations()), ids=[m[0] for m in _mutations()])
def test_malformed_input_is_rejected_with_a_clear_message(name, mutate, words):
    d = copy.deepcopy(_base())
    mutate(d)
    with pytest.raises(InvalidInputError) as exc:
        VesselNetwork.from_dict(d, source="case.json")
    msg = str(exc.value)
    assert msg.startswith("case.json: ")
    for w in words:
        assert w in msg, f"{w!r} not in {msg!r}"


def test_cli_rejects_malformed_file_without_traceback(tmp_path):
    d = _base()
    d["vessels"][1]["parent"] = "NOPE"
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(d))
    out = subprocess.run([sys.executable, "-m", "ffrflow", "run", str(p), "-o", str(tmp_path / "o")],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert str(p) in out.stderr and "NOPE" in out.stderr and "LAD" in out.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("content,words", [("{not json", ["not valid JSON", "line 1"]),
                                           ("[1, 2]", ["top level"]),
                                           ("\x89PNG\r\n\x1a\n\x00\x00", ["cannot read", "UTF-8"])])
def test_unreadable_files(tmp_path, content, words):
    p = tmp_path / "x.json"
    p.write_bytes(content.encode("latin-1"))
    with pytest.raises(InvalidInputError) as exc:
        VesselNetwork.from_json(p)
    assert str(p) in str(exc.value)
    for w in words:
        assert w in str(exc.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(InvalidInputError, match="no such file"):
        VesselNetwork.from_json(tmp_path / "none.json")


def test_topology_helpers():
    net = network(_base()["vessels"])
    assert net.children("LM") == ["LAD", "LCX"]
    assert net.path_from_root("LAD") == ["LM", "LAD"]
    assert net.offset_from_ostium_mm("LAD") == pytest.approx(10.0)
    assert sorted(map(tuple, net.root_to_outlet_paths())) == [("LM", "LAD"), ("LM", "LCX")]
