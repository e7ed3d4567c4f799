"""Uncertainty quantification and virtual stenting (ffrflow.uq, ffrflow.pci)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from _helpers import network, straight
from ffrflow import units
from ffrflow.cfd.ensemble import NONPOSITIVE_RADIUS
from ffrflow.cfd.steady import solve_steady
from ffrflow.errors import InvalidInputError
from ffrflow.meshing.stenosis import detect_lesions
from ffrflow.phantoms import demo_case
from ffrflow.uncertainty import INPUTS, first_order_indices, pci, uq, write_uq

FIXED = {k: {"dist": "fixed"} for k in INPUTS}


@pytest.fixture(scope="module")
def demo():
    return detect_lesions(demo_case().network)


def test_zero_variance_every_sample_equals_the_deterministic_ffr(demo):
    r = uq(demo, 64, FIXED, backend="numpy")
    det = solve_steady(demo, backend="numpy")
    for j, les in enumerate(det.lesions):
        assert np.max(np.abs(r.ffr_lesion[:, j] - les["ffr_distal"])) < 1e-10
        assert r.lesions[j]["sd"] < 1e-12 and r.lesions[j]["p05"] == pytest.approx(r.lesions[j]["p95"])


def test_linear_response_recovers_the_analytic_variance():
    """Truth: FFR = R_out / (R_v(μ) + R_out) on a tube with an explicit outlet; for a small σ_μ the
    delta method gives Var = (∂FFR/∂μ)² σ_μ² exactly to O(σ²)."""
    L, r, rout = 60.0, 1.2, 15.0
    net = network([{**straight("A", None, [0, 0, 0], [0, 0, 1], L, r, n=31), "lesions": []}],
                  boundary={"outlets": {"A": {"resistance_mmHg_s_per_ml": rout}}})
    mu, s = 0.0035, 0.0035 * 0.01
    d = dict(FIXED)
    d["blood_viscosity_pa_s"] = {"dist": "normal", "mean": mu, "sd": s}
    res = uq(net, 4096, d, backend="cpu")
    Rv = 8 * mu * L * 1e-3 / (math.pi * (r * 1e-3) ** 4)
    Ro = units.resistance_to_si(rout)
    dffr = -Ro * (Rv / mu) / (Rv + Ro) ** 2
    var_true = (dffr * s) ** 2
    var_est = res.outlets[0]["sd"] ** 2
    assert abs(var_est / var_true - 1) < 0.03, (var_est, var_true)
    assert res.outlets[0]["first_order_index"]["blood_viscosity_pa_s"] > 0.95


def test_estimates_shrink_as_one_over_sqrt_n(demo):
    """Truth: the Monte Carlo error of the mean falls as 1/√N (16× the samples → ¼ the spread)."""
    def spread(n):
        means = [uq(demo, n, backend="cpu", seed=s, method="mc").lesions[1]["mean"] for s in range(12)]
        return np.std(means, ddof=1)

    ratio = spread(64) / spread(1024)
    assert 2.5 < ratio < 6.5, ratio


def test_first_order_index_of_an_additive_model():
    """Truth: y = x1 + 2 x2 with independent standard normals: S1 = 1/5, S2 = 4/5."""
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((2, 20000))
    y = x1 + 2 * x2
    assert first_order_indices(x1, y) == pytest.approx(0.2, abs=0.02)
    assert first_order_indices(x2, y) == pytest.approx(0.8, abs=0.02)


def test_stenting_raises_ffr_downstream_only(demo):
    res = pci(demo, "L1", backend="cpu")
    l1 = next(x for x in res.lesions if x["id"] == "L1")
    assert l1["ffr_post"] > l1["ffr_pre"] + 0.3 and l1["delta_p_post_mmHg"] < 1.0
    outs = {o["vessel"]: o for o in res.outlets}
    for o in ("LAD_d", "D1", "D2"):
        assert outs[o]["ffr_post"] > outs[o]["ffr_pre"] + 0.2
    for o in ("PDA", "PLV", "AM", "RV"):          # the other tree: untouched
        assert outs[o]["ffr_post"] == pytest.approx(outs[o]["ffr_pre"], abs=1e-12)
    for o in ("LCX_d", "OM1", "OM2"):             # same tree: only the flow redistribution at the LM
        d = outs[o]["ffr_post"] - outs[o]["ffr_pre"]
        assert -0.01 < d <= 1e-12
    pre, post = res.vessels["LAD_m"]["ffr_pre"], res.vessels["LAD_m"]["ffr_post"]
    assert np.all(post > pre)
    with pytest.raises(InvalidInputError, match="L9"):
        pci(demo, "L9")


def test_uq_and_pci_pictures_are_drawn_without_pyplot(demo, tmp_path):
    """uq.png, pci_uq.png and pullback_pci.png come from ffrflow.plots.uncertainty, built without
    pyplot: no figure is left open in pyplot's registry, and the files are where they always were."""
    import matplotlib.pyplot as plt

    from ffrflow.plots import plot_pci, plot_uq

    open_before = plt.get_fignums()
    r = uq(demo, 64, backend="numpy", output_dir=tmp_path / "u")
    p = pci(demo, "L1", backend="numpy", n_samples=32, output_dir=tmp_path / "p")
    assert (tmp_path / "u" / "uq.png").stat().st_size > 10000
    assert {q.name for q in (tmp_path / "p").iterdir()} >= {"pci.json", "pullback_pci.png", "pci_uq.json",
                                                            "pci_uq.png"}
    fig = r.plot()
    assert plot_uq(r).axes[0].get_title() == fig.axes[0].get_title() == "FFR uncertainty (64 samples, qmc)"
    assert hasattr(fig, "_repr_png_") and hasattr(p.plot_pullback(demo), "_repr_png_")
    assert plot_pci(p, demo).axes[0].get_title() == "Virtual PCI: pull-back before and after"
    assert plt.get_fignums() == open_before


def test_cli_uq_and_pci_write_their_outputs(tmp_path):
    demo_case().write(tmp_path / "case", mask=False)
    net = str(tmp_path / "case" / "network.json")
    out = subprocess.run([sys.executable, "-m", "ffrflow", "uq", net, "-o", str(tmp_path / "u"), "--samples", "256"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "P(<=0.80)" in out.stdout
    s = json.loads((tmp_path / "u" / "summary.json").read_text())
    assert s["uq"]["n_samples"] == 256 and len(s["uq"]["lesions"]) == 3
    assert (tmp_path / "u" / "uq.png").stat().st_size > 10000
    import h5py

    with h5py.File(tmp_path / "u" / "results.h5") as f:
        assert f["uq/ffr_lesion"].shape == (256, 3)
    out = subprocess.run([sys.executable, "-m", "ffrflow", "pci", net, "-o", str(tmp_path / "p"), "--lesion", "L1"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "p" / "pullback_pci.png").stat().st_size > 10000
    assert json.loads((tmp_path / "p" / "summary.json").read_text())["pci"]["stented"] == ["L1"]
    out = subprocess.run([sys.executable, "-m", "ffrflow", "pci", net], capture_output=True, text=True)
    assert out.returncode == 2 and "--lesion" in out.stderr


# ------------------------------------------------------------------------------------ bounded inputs
def _small_tree():
    from ffrflow.phantoms import LesionSpec, narrow, random_tree

    tree = random_tree(9, seed=3, distal_radius_mm=0.09)
    vs = [v for v in tree.ids if tree.vessels[v].length_mm >= 9][:3]
    return narrow(tree, [LesionSpec(v, tree.vessels[v].length_mm / 2, 4.0, ds)
                         for v, ds in zip(vs, (80, 95, 60))]).network_with_lesions()


@pytest.mark.parametrize("sd", [0.1, 1.0])
def test_sampled_radii_stay_inside_their_documented_bounds(sd):
    """Truth: the bounds of the module docstring: every vessel offset within ±β·m_v, every throat
    between (1 − β)·r_s and its reference (both moved by the vessel offset), hence no radius ≤ 0:
    the batched solver never reports status 2, even for a 95 % lesion and a 1 mm error σ."""
    from ffrflow.cfd.ensemble import solve_steady_batch, tree_arrays
    from ffrflow.uncertainty import RADIUS_ERROR_BOUND as BETA
    from ffrflow.uncertainty import kernel_params, radius_bounds, sample_inputs

    net = _small_tree()
    tr = tree_arrays(net)
    d = {"radius_vessel_mm": {"dist": "normal", "sd": sd}, "radius_throat_mm": {"dist": "normal", "sd": sd}}
    _, smp = sample_inputs(net, 2048, d, tree=tr)
    b = radius_bounds(tr)
    m_v = b["vessel_mm"] / BETA
    dv, dt = smp["radius_vessel_mm"], smp["radius_throat_mm"]
    assert np.all(np.abs(dv) <= BETA * m_v + 1e-12)
    throat = b["throat_mm"] + dv[:, b["lesion_vessel"]] + dt
    assert np.all(throat >= (1 - BETA) * b["throat_mm"] - 1e-12)
    assert np.all(throat <= 1e3 * tr.les_ref_m + dv[:, b["lesion_vessel"]] + 1e-12)
    res = solve_steady_batch(net, kernel_params(tr, smp), backend="numpy" if sd == 1.0 else "auto", trees=[tr])
    assert np.all(res.status != NONPOSITIVE_RADIUS)
    np.testing.assert_allclose(res.mld_mm[res.ok], 2 * throat[res.ok], rtol=1e-9)


def test_a_wide_range_keeps_the_normal_error_as_it_is():
    """On the demo's 1-4 mm vessels the ±β·m_v range is ≥ 5 σ wide: the sampled vessel offsets keep
    mean 0 and σ = 0.1 mm (truth: the normal distribution, 4096 scrambled Sobol points, to 1 %)."""
    from ffrflow.cfd.ensemble import tree_arrays
    from ffrflow.uncertainty import sample_inputs

    net = detect_lesions(demo_case().network)
    tr = tree_arrays(net)
    _, smp = sample_inputs(net, 4096, tree=tr)
    big = tr.n_vessels and [i for i in range(tr.n_vessels) if smp["radius_vessel_mm"][:, i].std() > 0]
    x = smp["radius_vessel_mm"][:, big[0]]
    assert abs(x.mean()) < 1e-3 and x.std() == pytest.approx(0.1, rel=0.01)


def test_a_large_throat_error_never_gives_a_negative_ffr():
    """The old throat cap let a 70 % lesion's throat go below zero with σ = 0.6 mm (FFR −0.44).
    Truth: FFR lies in [Pv/Pa, 1] for every sample (pressure between venous and aortic)."""
    from ffrflow.phantoms import LesionSpec, left_tree

    net = left_tree([LesionSpec("LAD_p", 12.5, 10.0, 70.0)]).network_with_lesions()
    d = {"radius_throat_mm": {"dist": "normal", "sd": 0.6}}
    r = uq(net, 1024, d, backend="auto")
    assert r.n_failed == 0
    assert np.nanmin(r.ffr_lesion) >= 0.0 and np.nanmax(r.ffr_lesion) <= 1.0
    assert r.lesions[0]["p05"] > 0.0


def test_a_fixed_value_outside_the_physical_range_is_refused(demo):
    with pytest.raises(InvalidInputError, match="blood_viscosity_pa_s"):
        uq(demo, 16, {"blood_viscosity_pa_s": {"dist": "fixed", "value": -0.001}}, backend="numpy")
    with pytest.raises(InvalidInputError, match="radius_vessel_mm"):
        uq(demo, 16, {"radius_vessel_mm": {"dist": "fixed", "value": -5.0}}, backend="numpy")
    with pytest.raises(InvalidInputError, match="kt"):
        uq(demo, 16, {"kt": {"dist": "uniform", "low": -2.0, "high": -1.0}}, backend="numpy")


# ------------------------------------------------------------------------------------ failed samples
def _break_samples(monkeypatch, which):
    """Fault injection: the batched solve gets samples ``which`` with a radius offset of −10 mm, which
    it must mark as not solved (status 2)."""
    import ffrflow.cfd.ensemble as ens

    real = ens.solve_steady_batch

    def broken(net, params, **kw):
        p = dict(params)
        dr = np.array(p["radius_offset_mm"], dtype=float)
        dr[list(which)] = -10.0
        p["radius_offset_mm"] = dr
        return real(net, p, **kw)

    monkeypatch.setattr("ffrflow.uncertainty.solve_steady_batch", broken)   # where uq looks it up


def test_failed_samples_are_reported_and_left_out_of_the_statistics(demo, monkeypatch, tmp_path):
    """Truth: the statistics equal those of the converged samples alone (computed here), the failed
    samples' inputs are the sampled ones."""
    from ffrflow.uncertainty import sample_inputs

    ref = uq(demo, 256, backend="auto")
    _break_samples(monkeypatch, [3, 77])
    r = uq(demo, 256, backend="auto")
    assert r.failed["count"] == 2 and r.failed["fraction"] == pytest.approx(2 / 256)
    assert r.failed["by_status"] == {"radius <= 0": 2} and r.n_failed == 2
    assert list(r.status[[3, 77]]) == [2, 2] and np.all(np.isnan(r.ffr_lesion[[3, 77]]))
    keep = np.ones(256, bool)
    keep[[3, 77]] = False
    y = ref.ffr_lesion[keep, 0]
    assert r.lesions[0]["median"] == pytest.approx(float(np.median(y)), abs=1e-12)
    assert r.lesions[0]["mean"] == pytest.approx(float(y.mean()), abs=1e-12)
    assert r.lesions[0]["p_below_cutoff"] == pytest.approx(float(np.mean(y <= 0.8)), abs=1e-12)
    _, smp = sample_inputs(demo, 256)
    assert list(r.failed_inputs["index"]) == [3, 77]
    np.testing.assert_array_equal(r.failed_inputs["radius_throat_mm"], smp["radius_throat_mm"][[3, 77]])
    assert r.arrays()["failed/kt"].shape == (2,)
    write_uq(r, tmp_path, "uq")                            # the picture leaves the failed samples out
    assert (tmp_path / "uq.png").stat().st_size > 10000


def test_more_failed_samples_than_allowed_raise(demo, monkeypatch):
    from ffrflow.errors import ConvergenceError

    _break_samples(monkeypatch, range(0, 256, 64))          # 4 of 256 = 1.6 %
    with pytest.raises(ConvergenceError, match="4 of 256 samples failed"):
        uq(demo, 256, backend="auto")
    r = uq(demo, 256, backend="auto", max_failed_fraction=0.02)
    assert r.n_failed == 4


def test_cli_uq_with_too_many_failures_exits_3_and_writes_nothing(tmp_path, monkeypatch, capsys):
    """Exit code 3, one ``error:`` line, and the output folder appears all or nothing: not created,
    and an earlier run's folder is left as it was."""
    from ffrflow.cli import main

    demo_case().write(tmp_path / "case", mask=False)
    net = str(tmp_path / "case" / "network.json")
    _break_samples(monkeypatch, range(0, 128, 16))            # 8 of 128
    assert main(["-q", "uq", net, "-o", str(tmp_path / "u"), "--samples", "128"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: uq: 8 of 128 samples failed")
    assert not (tmp_path / "u").exists()
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "summary.json").write_text("{}")
    assert main(["-q", "uq", net, "-o", str(tmp_path / "old"), "--samples", "128"]) == 3
    assert [p.name for p in (tmp_path / "old").iterdir()] == ["summary.json"]
    assert (tmp_path / "old" / "summary.json").read_text() == "{}"


def test_cli_uq_reports_the_failed_count_and_stores_the_failed_inputs(tmp_path, monkeypatch, capsys):
    import h5py

    from ffrflow.cli import main

    demo_case().write(tmp_path / "case", mask=False)
    net = str(tmp_path / "case" / "network.json")
    assert main(["-q", "uq", net, "-o", str(tmp_path / "u0"), "--samples", "128"]) == 0
    assert "0 of 128 samples failed" in capsys.readouterr().out
    _break_samples(monkeypatch, [5])
    assert main(["-q", "uq", net, "-o", str(tmp_path / "u"), "--samples", "128"]) == 0
    assert "1 of 128 samples failed (0.78 %" in capsys.readouterr().out
    s = json.loads((tmp_path / "u" / "summary.json").read_text())
    assert s["uq"]["failed"]["count"] == 1 and s["uq"]["failed"]["by_status"] == {"radius <= 0": 1}
    with h5py.File(tmp_path / "u" / "results.h5") as f:
        assert list(f["uq/failed/index"][()]) == [5] and f["uq/status"][5] == 2
        assert f["uq/failed/radius_vessel_mm"].shape == (1, 18)


@pytest.mark.parametrize("law", ["ns-calibrated", "poiseuille-kt"])
def test_cli_uq_on_small_vessels_and_a_95_percent_lesion_exits_0(tmp_path, capsys, law):
    """The reported failure (a 9-vessel tree down to 0.09 mm, several tight lesions) through the
    command line: exit 0, every sample converged, the count printed."""
    from ffrflow.cli import main

    net = _small_tree()
    path = net.to_json(tmp_path / "net.json")
    assert main(["-q", "uq", str(path), "--samples", "1024", "--set", f"model.lesion={law}"]) == 0
    out = capsys.readouterr().out
    assert "0 of 1024 samples failed" in out
