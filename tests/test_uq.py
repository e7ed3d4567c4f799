"""Uncertainty quantification and virtual stenting (ffrflow.uq, ffrflow.pci)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from conftest import network, straight
from ffrflow import units
from ffrflow.cfd.steady import solve_steady
from ffrflow.errors import InvalidInputError
from ffrflow.meshing.stenosis import detect_lesions
from ffrflow.phantoms import demo_case
from ffrflow.uncertainty import INPUTS, first_order_indices, pci, uq

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
