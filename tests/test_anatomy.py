"""Anatomical names and SCCT segments from the geometry, checked against the phantoms' known anatomy.

Truth: the phantoms (:mod:`ffrflow.phantoms`) are built vessel by vessel with known names (LM,
LAD_p/m/d, D1, D2, LCX_p/m/d, OM1, OM2, RCA_p/m/d, RV, AM, PDA, PLV). Their names and sides are
stripped, the scan frame is rotated by up to 30° about each axis (what CT positioning produces), and
the names found must cover the true vessels' length: all of LM/LAD/LCX/RCA and >= 90 % of the side
branches. A meshed phantom (mask at 0.5 mm -> new vessel ids LCA_k/RCA_k) is matched to the truth by
geometry. The SCCT split points are checked against their definitions computed by hand on the
phantom's own lengths.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from _helpers import BLUEFERN, needs_bluefern
from ffrflow import phantoms
from ffrflow.anatomy import (PHANTOM_NAMES, apply_names, canonical_key, label_network, naming_accuracy, read_names,
                             rotate_network, stripped)
from ffrflow.errors import InvalidInputError

ROTATIONS = [(0, 0, 0), (30, 0, 0), (-30, 0, 0), (0, 30, 0), (0, -30, 0), (0, 0, 30), (0, 0, -30),
             (20, -20, 20), (-25, 25, -25), (30, 30, 30), (-30, -30, -30)]


#: A lone right tree turned by 25-30° the wrong way about the cranio-caudal axis (z) is read as an LAD
#: traced on its own: the rule "a trunk without an LM is an RCA when its course ends posterior to its
#: ostium" has about 15° of margin on the phantoms' RCA (its end lies 0.24 posterior of the ostium
#: direction). Known gap (docs/physics.md §Anatomical names): strict, so that a better rule shows.
LONE_RCA_GAP = pytest.mark.xfail(strict=True, reason="known gap: a lone RCA turned by -25..-30 deg about z "
                                                     "reads as an LAD on its own (side rule margin ~15 deg)")


def _cases():
    for generator in ("coronary_tree", "left_tree", "right_tree"):
        for seed in (0, 3):
            for ang in ROTATIONS:
                gap = generator == "right_tree" and ang[2] <= -25
                yield pytest.param(generator, seed, ang, marks=[LONE_RCA_GAP] if gap else [],
                                   id=f"{generator}-{seed}-{ang[0]},{ang[1]},{ang[2]}")


@pytest.mark.parametrize("generator, seed, ang", list(_cases()))
def test_phantom_networks_named_under_scan_rotations(generator, seed, ang):
    """Truth: the phantom's names, after its names, sides and ids are taken away (the ids ``V1`` …
    say nothing of a side), so that the geometry alone decides."""
    ph = getattr(phantoms, generator)(seed=seed)
    truth = rotate_network(ph.network, ang)
    net = stripped(truth, keep_sides=False, keep_ids=False)
    an = label_network(net)
    acc = naming_accuracy(an, net, truth)
    assert acc["trunks"] == 1.0, (ang, acc["wrong"])
    assert acc["branches"] >= 0.9, (ang, acc["wrong"])
    # every vessel of the phantom gets exactly its true name (same order: no projection needed)
    renamed = dict(zip(truth.ids, net.ids))
    assert {vid: an.name(renamed[vid]) for vid in truth.ids} == {vid: PHANTOM_NAMES[vid] for vid in truth.ids}, ang
    assert all(0.0 <= lab.confidence <= 1.0 and lab.source == "geometry" for lab in an.labels.values())


def test_meshed_phantom_named_by_geometry(tmp_path):
    from ffrflow.meshing import mesh

    ph = phantoms.coronary_tree(seed=1)
    truth = rotate_network(ph.network, (20, -20, 20), center_mm=phantoms.HEART_CENTER_MM)
    img = phantoms.voxelize(truth, spacing_mm=0.5)
    net = mesh(phantoms.write_mask(img, tmp_path / "mask.nii.gz"), lesions=False).network
    assert any(vid.startswith("LCA_") for vid in net.ids)          # the meshed ids carry no anatomy
    an = label_network(net)
    acc = naming_accuracy(an, net, truth)
    assert acc["trunks"] == 1.0, acc["wrong"]
    assert acc["branches"] >= 0.9, acc["wrong"]


def test_scct_segments_at_their_definitions():
    ph = phantoms.demo_case()
    net = stripped(ph.network)
    an = label_network(net)
    L = {vid: net.length_mm(vid) for vid in net.ids}
    seg = {vid: [(s["segment"], s["start_mm"], s["end_mm"]) for s in an.labels[vid].segments] for vid in net.ids}
    assert seg["LM"] == [(5, 0.0, pytest.approx(L["LM"], abs=1e-3))]
    # pLAD: LM end to the origin of D1 (= the end of LAD_p); D1 = 9, D2 = 10, pCx to OM1 = 11, OM1 = 12
    assert [s[0] for s in seg["LAD_p"]] == [6] and [s[0] for s in seg["LAD_m"]] == [7]
    assert seg["D1"][0][0] == 9 and seg["D2"][0][0] == 10 and seg["OM1"][0][0] == 12 and seg["OM2"][0][0] == 14
    assert [s[0] for s in seg["LCX_p"]] == [11] and [s[0] for s in seg["LCX_m"]] == [13]
    # mLAD ends half-way from the end of pLAD to the apex (the LAD point farthest from the LM ostium)
    lad = np.concatenate([net.vessels[v].points_mm for v in ("LAD_p", "LAD_m", "LAD_d")])
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(lad, axis=0), axis=1))])
    s_apex = s[np.argmax(np.linalg.norm(lad - net.vessels["LM"].points_mm[0], axis=1))]
    s_mid_end = L["LAD_p"] + 0.5 * (s_apex - L["LAD_p"])
    (a, b), = [(x[1], x[2]) for x in seg["LAD_d"] if x[0] == 7]
    assert b == pytest.approx(s_mid_end - L["LAD_p"] - L["LAD_m"], abs=1e-3)
    # pRCA: half the distance to the acute margin (the origin of the AM: end of RCA_m); dRCA to the PDA
    half = 0.5 * (L["RCA_p"] + L["RCA_m"])
    assert seg["RCA_p"] == [(1, 0.0, pytest.approx(L["RCA_p"], abs=1e-3))]
    assert seg["RCA_m"][0][0] == 1 and seg["RCA_m"][0][2] == pytest.approx(half - L["RCA_p"], abs=1e-3)
    assert seg["RCA_m"][1][0] == 2 and [s[0] for s in seg["RCA_d"]] == [3]
    assert seg["PDA"][0][0] == 4 and seg["PLV"][0][0] == 16
    assert seg["AM"][0][0] is None and seg["RV"][0][0] is None       # no number in the 18-segment model
    assert an.segment_at("RCA_m", 1.0) == (1, "proximal RCA") and an.segment_at("RCA_m", 30.0) == (2, "mid RCA")


def test_users_names_win_and_keep_their_segments(tmp_path):
    ph = phantoms.demo_case()                    # the phantom's own names: "left anterior descending, proximal", ...
    an = label_network(ph.network)
    assert an.name("LAD_p") == "left anterior descending, proximal" and an.labels["LAD_p"].source == "user"
    assert an.labels["LAD_p"].confidence == 1.0 and an.labels["LAD_p"].anatomy == "LAD"
    geo = label_network(stripped(ph.network))
    for vid in ph.network.ids:                   # the names read as the same anatomy -> same segments
        assert [s["segment"] for s in an.labels[vid].segments] == [s["segment"] for s in geo.labels[vid].segments]
    # a names mapping (--names) wins over the geometry
    path = tmp_path / "names.json"
    path.write_text(json.dumps({"OM1": "my marginal", "LAD_m": "LAD"}))
    an2 = label_network(stripped(ph.network), names=read_names(path))
    assert an2.name("OM1") == "my marginal" and an2.labels["OM1"].source == "user"
    assert an2.labels["OM1"].segments[0]["segment"] is None      # a name this module cannot read
    assert an2.name("LAD_m") == "LAD" and an2.name("D1") == "D1"
    with pytest.raises(InvalidInputError, match=r"names.json: no vessel \['LAD_x'\]"):
        apply_names(ph.network, {"LAD_x": "LAD"}, source=str(path))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"LM": 3}))
    with pytest.raises(InvalidInputError, match=r"bad.json: names.LM: expected a non-empty string"):
        read_names(bad)


@pytest.mark.parametrize("name, key", [("left anterior descending, mid", "LAD"), ("D2", "D2"),
                                       ("first obtuse marginal", "OM1"), ("OM 3", "OM3"), ("left main coronary artery", "LM"),
                                       ("right coronary artery, distal", "RCA"), ("posterior descending artery", "PDA"),
                                       ("posterolateral ventricular branch", "PLV"), ("acute marginal", "AM"),
                                       ("ramus intermedius", "RI"), ("left circumflex, proximal", "LCX"), ("foo", None)])
def test_canonical_keys(name, key):
    assert canonical_key(name) == key


@needs_bluefern
def test_bluefern_trees_named_as_their_readme_says():
    from ffrflow.formats.vtkcenterlines import read_centerlines

    # 721A: "LAD, diagonal, one bifurcation" (an LAD traced without its left main)
    net = read_centerlines(BLUEFERN / "721A_Centreline.vtk")
    an = label_network(net)
    assert [an.name(v) for v in ("V0", "V1", "V2")] == ["LAD", "LAD", "D1"]
    assert max(lab.confidence for lab in an.labels.values()) < 0.7      # no LM: named at lower confidence
    # 227A: a left main dividing after 12 mm; the long anterior trunk is the LAD with a diagonal
    net = read_centerlines(BLUEFERN / "227A_Centreline.vtk")
    an = label_network(net)
    assert an.name("V0") == "LM" and an.name("V1") == "LAD" and an.name("V5") == "LAD"
    assert an.name("V6") == "D1"
