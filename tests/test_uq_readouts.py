"""The standard read-outs with their uncertainty (``ffrflow uq``): every sample's read-out equals the
read-out of one deterministic solve of that sample's own network."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from _helpers import explicit_outlets, solve_sample

from ffrflow.cfd.ensemble import CONVERGED, solve_steady_batch, tree_arrays
from ffrflow.cfd.steady import solve_steady
from ffrflow.config import Model
from ffrflow.meshing.stenosis import detect_lesions
from ffrflow.phantoms import demo_case
from ffrflow.readouts import _ffr_at
from ffrflow.uncertainty import INPUTS, _stats, kernel_params, sample_inputs, uq

FIXED = {k: {"dist": "fixed"} for k in INPUTS}


def _law(net, law):
    return net.replace_config(model=Model.from_dict({**net.model.to_dict(), "lesion": law}))


@pytest.fixture(scope="module", params=["ns-calibrated", "poiseuille-kt"])
def demo(request):
    return explicit_outlets(_law(detect_lesions(demo_case().network), request.param))


def test_probe_nodes_equal_the_per_node_pressures(demo, backend):
    """Truth: FFR at every node from the whole per-node pass (``per_point``), itself tested against
    the single solver; the probes walk only from the nearest anchor."""
    tr = tree_arrays(demo)
    _, smp = sample_inputs(demo, 64, tree=tr)
    nodes = np.arange(tr.disc.n_nodes)
    b = solve_steady_batch(demo, kernel_params(tr, smp), backend=backend, trees=[tr], per_point=True,
                           probe_nodes=nodes[::-1])
    np.testing.assert_allclose(b.ffr_node[:, ::-1], b.ffr_point, rtol=0, atol=1e-12)


def test_zero_variance_readouts_equal_the_deterministic_readouts(demo):
    """Truth: the read-outs of ``ffrflow.solve`` on the case (lesion table and per-vessel table)."""
    r = uq(demo, 16, FIXED, backend="numpy")
    det = solve_steady(demo, backend="numpy")
    ro = r.readouts
    for j, les in enumerate(det.lesion_records):
        q = ro["lesions"][j]
        assert q["id"] == les["id"] and q["vessel"] == les["vessel"]
        for k in ("ffr_10mm", "ffr_20mm", "delta_ffr", "class_ffr"):
            if les[k] is None:
                assert q[k] is None
                continue
            assert q[k]["median"] == pytest.approx(les[k], abs=1e-10)
            assert q[k]["p05"] == pytest.approx(q[k]["p95"], abs=1e-12)
        assert q["class_at_mm"] == les["class_at_mm"]
        p = {"positive": q["p_positive"], "grey zone": q["p_grey_zone"], "negative": q["p_negative"]}
        assert p[les["ffr_class"]] == 1.0 and sum(p.values()) == 1.0
    rows = det.vessel_readouts
    assert [x["name"] for x in ro["vessels"]] == [x["name"] for x in rows]
    for q, v in zip(ro["vessels"], rows):
        assert q["vessels"] == v["vessels"]
        assert q["ffr_min"]["median"] == pytest.approx(v["ffr_min"], abs=1e-10)
        if v["ffr_distal"] is None:
            assert q["ffr_distal"] is None
        else:
            assert q["ffr_distal"]["median"] == pytest.approx(v["ffr_distal"], abs=1e-10)


def test_every_sample_readout_equals_a_single_solve_of_its_own_network(demo):
    """Truth: ``solve_steady`` on the network each sample describes (its radii, throats, Pa, μ, K_t
    written in), read at the case's read-out points (docs/physics.md §Uncertainty: the points are
    the case's, the samples change the pressures there): FFR interpolated at the 10/20 mm points,
    the shoulders and the classified point as :func:`ffrflow.readouts.lesion_readouts` does, and
    equal to the single solve's own lesion table wherever its largest-child path is the case's;
    the lowest FFR is the minimum over every node of the named vessel.

    With the ns-calibrated law the vessel radius errors are fixed at 0: the ensemble keeps the
    lesion's shape descriptors of the case under a radius offset, the single solve would re-derive
    them from the shifted profile (:class:`ffrflow.cfd.ensemble._NsLaw`)."""
    from ffrflow.readouts import _outlet_end, point_downstream, readout_key

    n = 256
    dists = {"radius_vessel_mm": {"dist": "fixed", "value": 0.0}} if demo.model.lesion == "ns-calibrated" else None
    res = uq(demo, n, dists, backend="numpy", seed=3)
    tr = tree_arrays(demo)
    _, smp = sample_inputs(demo, n, dists, 3, "qmc", None, tr)
    p = kernel_params(tr, smp)
    base = solve_steady(demo, backend="numpy")
    det = base.vessel_readouts
    cfg = demo.model.readout
    arr = res.readout_samples
    cls = arr["lesion_class_ffr"]
    picks = {int(np.nanargmin(cls[:, 0])), int(np.nanargmax(cls[:, 0])), int(np.nanargmin(cls[:, 1])),
             int(np.argmin(p["radius_offset_mm"].min(axis=1))), 17}
    same_path = 0
    for c in sorted(picks):
        single = solve_sample(demo, tr, {k: np.asarray(v)[c] for k, v in p.items()})
        for j, les in enumerate(base.lesion_records):
            vid = les["vessel"]
            want = {}
            for d in cfg["distances_mm"]:
                at = point_downstream(demo, vid, les["end_mm"], d)
                want[readout_key(d)] = None if at is None else _ffr_at(single, *at)
            want["delta_ffr"] = _ffr_at(single, vid, les["start_mm"]) - _ffr_at(single, vid, les["end_mm"])
            at = point_downstream(demo, vid, les["end_mm"], cfg["class_at_mm"])
            want["class_ffr"] = _ffr_at(single, *(at or _outlet_end(demo, vid, les["end_mm"])[:2]))
            own = single.lesion_records[j]
            path_kept = all(point_downstream(single.network, vid, les["end_mm"], d) ==
                            point_downstream(demo, vid, les["end_mm"], d)
                            for d in list(cfg["distances_mm"]) + [cfg["class_at_mm"]])
            same_path += path_kept
            for k, w in want.items():
                got = arr[f"lesion_{k}"][c, j]
                if w is None:
                    assert np.isnan(got)
                    continue
                assert got == pytest.approx(w, rel=0, abs=1e-9), (c, j, k)
                if path_kept:
                    assert got == pytest.approx(own[k], rel=0, abs=1e-9), (c, j, k)
        for i, v in enumerate(det):
            f = np.concatenate([single.vessel(vid)["ffr"] for vid in v["vessels"]])
            assert arr["vessel_ffr_min"][c, i] == pytest.approx(f.min(), rel=0, abs=1e-9)
            if v["ffr_distal"] is not None:
                want = _ffr_at(single, v["distal_vessel"], v["distal_s_mm"])
                assert arr["vessel_ffr_distal"][c, i] == pytest.approx(want, rel=0, abs=1e-9)
    assert same_path >= len(picks)   # the single solve's own read-outs were compared, too


def test_statistics_and_class_probabilities_by_hand(demo):
    """Truth: the quantiles, P(FFR ≤ 0.80) and class fractions counted directly from the per-sample
    read-outs; the three class probabilities add up to 1."""
    r = uq(demo, 512, backend="numpy", seed=1)
    ok = r.status == CONVERGED
    cfg = r.readouts["config"]
    for j, q in enumerate(r.readouts["lesions"]):
        y = r.readout_samples["lesion_ffr_20mm"][ok, j]
        assert q["ffr_20mm"] == _stats(y)
        f = r.readout_samples["lesion_class_ffr"][ok, j]
        assert q["p_positive"] == np.mean(f <= cfg["positive_max"])
        assert q["p_negative"] == np.mean(f > cfg["negative_above"])
        assert q["p_grey_zone"] == pytest.approx(np.mean((f > cfg["positive_max"]) & (f <= cfg["negative_above"])),
                                                 abs=1e-12)
        assert q["class_ffr"]["p_below_cutoff"] == np.mean(f <= 0.80)
        lo, hi = np.percentile(y, [5, 95])
        assert (q["ffr_20mm"]["p05"], q["ffr_20mm"]["p95"]) == (lo, hi)
    for i, q in enumerate(r.readouts["vessels"]):
        ym = r.readout_samples["vessel_ffr_min"][ok, i]
        yd = r.readout_samples["vessel_ffr_distal"][ok, i]
        assert q["ffr_min"]["median"] == np.median(ym)
        assert np.all(ym <= yd + 1e-12) if q["ffr_distal"] is not None else np.all(np.isnan(yd))


def test_young_tsai_has_no_readout_intervals_and_says_why():
    net = _law(detect_lesions(demo_case().network), "young-tsai")
    r = uq(net, 16, backend="numpy")
    assert "young-tsai" in r.readouts["unavailable"] and r.readout_samples == {}


def test_cli_uq_writes_the_readout_intervals(tmp_path):
    """uq.json, summary.json's ``uq`` block and results.h5's ``/uq/readouts`` carry the same read-outs;
    the terminal shows their table."""
    demo_case().write(tmp_path / "case", mask=False)
    net = str(tmp_path / "case" / "network.json")
    out = subprocess.run([sys.executable, "-m", "ffrflow", "uq", net, "-o", str(tmp_path / "u"), "--samples", "128"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "FFR@10mm [90 %]" in out.stdout and "lowest FFR [90 %]" in out.stdout
    u = json.loads((tmp_path / "u" / "uq.json").read_text())
    s = json.loads((tmp_path / "u" / "summary.json").read_text())
    assert s["uq"]["readouts"] == u["readouts"]
    nl, nv = len(u["readouts"]["lesions"]), len(u["readouts"]["vessels"])
    import h5py

    with h5py.File(tmp_path / "u" / "results.h5") as f:
        g = f["uq/readouts"]
        assert g["lesion_ffr_10mm"].shape == (128, nl) and g["vessel_ffr_min"].shape == (128, nv)
        ok = f["uq/status"][()] == 0
        assert np.median(g["lesion_ffr_20mm"][()][ok, 0]) == pytest.approx(u["readouts"]["lesions"][0]["ffr_20mm"]["median"])
