"""End to end on the phantoms: invariants, backends, outputs (docs/formats.md) and the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import ffrflow
from ffrflow.phantoms import demo_case

SUMMARY_KEYS = {"ffrflow_version", "input", "solver", "backend", "model", "boundary", "lesions", "outlets",
                "roots", "min_ffr", "converged", "iterations", "timings_s"}
LESION_KEYS = {"vessel", "start_mm", "end_mm", "position_mm", "mld_xyz_mm", "mld_mm", "reference_diameter_mm",
               "diameter_stenosis_pct", "area_stenosis_pct", "length_mm", "delta_p_mmHg", "ffr_distal"}
OUTLET_KEYS = {"vessel", "xyz_mm", "flow_ml_s", "pressure_mmHg", "ffr", "resistance_mmHg_s_per_ml"}


@pytest.fixture(scope="module")
def demo():
    return demo_case()


@pytest.fixture(scope="module")
def demo_result(demo):
    return ffrflow.solve(demo.network, backend="numpy")


def test_ffr_at_most_one_and_non_increasing_from_root_to_every_outlet(demo_result):
    """Truth: pressure only falls along the flow, and FFR = P/Pa ≤ 1."""
    r = demo_result
    ffr = r.ffr
    assert ffr.max() <= 1.0 + 1e-12
    for path in r.network.root_to_outlet_paths():
        seq = np.concatenate([r.vessel(v)["ffr"] for v in path])
        assert np.all(np.diff(seq) <= 1e-10), path   # non-increasing up to round-off


def test_mass_conserved_at_every_junction_of_the_phantom(demo_result):
    r = demo_result
    ids = r.disc.vessel_ids
    for vid in ids:
        kids = r.network.children(vid)
        if kids:
            q = r.flow_m3_s[ids.index(vid)]
            qk = sum(r.flow_m3_s[ids.index(k)] for k in kids)
            assert abs(q - qk) / abs(q) < 1e-12
    total_in = sum(x["flow_ml_s"] for x in r.roots)
    total_out = sum(x["flow_ml_s"] for x in r.outlets)
    assert abs(total_in - total_out) / total_in < 1e-12


def test_backends_agree_on_the_phantom(demo, demo_result):
    from ffrflow.kernels import available_backends

    others = [be for be in available_backends() if be != demo_result.backend]   # never the reference against itself
    if not others:
        pytest.skip("only the NumPy reference is usable here")
    for be in others:
        r = ffrflow.solve(demo.network, backend=be)
        assert np.max(np.abs(r.pressure_pa - demo_result.pressure_pa)) / demo_result.pressure_pa.max() < 1e-10
        assert np.max(np.abs(r.flow_m3_s - demo_result.flow_m3_s)) / np.abs(demo_result.flow_m3_s).max() < 1e-10


def test_detected_lesions_give_the_ffr_of_the_true_lesions(demo, demo_result):
    """Detection vs the phantom's true lesion intervals: lesion FFR within 0.02."""
    true = ffrflow.solve(demo.network_with_lesions(), backend="numpy", detect=False)
    for a, b in zip(sorted(demo_result.lesions, key=lambda x: x["vessel"]),
                    sorted(true.lesions, key=lambda x: x["vessel"])):
        assert a["vessel"] == b["vessel"]
        assert abs(a["ffr_distal"] - b["ffr_distal"]) < 0.02


def test_outputs_have_the_documented_keys(tmp_path, demo):
    demo.write(tmp_path / "case", mask=False)
    r = ffrflow.run(tmp_path / "case" / "network.json", output_dir=tmp_path / "out", backend="numpy")
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(s)
    assert s["input"]["sha256"] and len(s["input"]["sha256"]) == 64
    assert s["backend"] == "numpy" and s["solver"] == "steady" and s["converged"] is True
    assert len(s["lesions"]) == 3 and all(LESION_KEYS <= set(x) for x in s["lesions"])
    assert all(OUTLET_KEYS <= set(x) for x in s["outlets"])
    assert s["boundary"]["inlet_pressure_mmHg"] == 93.0
    assert s["boundary"]["derived"]["q_rest_ml_min"] == pytest.approx(200.0)
    assert s["model"]["kt"] == 1.52
    assert s["min_ffr"] == pytest.approx(r.min_ffr)
    assert {"load", "detect_lesions", "assemble", "solve", "write", "total"} <= set(s["timings_s"])

    import h5py

    with h5py.File(tmp_path / "out" / "results.h5") as f:
        assert f.attrs["format"] == "ffrflow-results/1"
        assert json.loads(f.attrs["model"])["blood_viscosity_pa_s"] == 0.0035
        g = f["vessels/LAD_p"]
        for k in ("s_mm", "xyz_mm", "radius_mm", "pressure_mmHg", "flow_ml_s", "ffr"):
            assert g[k].shape[0] == g["s_mm"].shape[0]
        np.testing.assert_allclose(g["ffr"][()], r.vessel("LAD_p")["ffr"])

    import vtk

    rd = vtk.vtkXMLPolyDataReader()
    rd.SetFileName(str(tmp_path / "out" / "centerlines.vtp"))
    rd.Update()
    pd = rd.GetOutput()
    assert pd.GetNumberOfLines() == len(r.network.vessels)
    for name in ("ffr", "pressure_mmHg", "radius_mm", "flow_ml_s"):
        assert pd.GetPointData().GetArray(name) is not None
    net2 = ffrflow.load(tmp_path / "out" / "network.json")
    assert sum(len(v.lesions) for v in net2.vessels.values()) == 3


def test_overrides_change_the_answer(demo):
    lo = ffrflow.solve(demo.network, backend="numpy", overrides={"boundary.hyperemia_factor": 0.5})
    hi = ffrflow.solve(demo.network, backend="numpy", overrides={"hyperemia_factor": 0.15})
    assert lo.min_ffr > hi.min_ffr
    with pytest.raises(ffrflow.InvalidInputError, match="no such option"):
        ffrflow.solve(demo.network, overrides={"boundary.nope": 1})


def test_cli_run_and_demo(tmp_path, demo):
    demo.write(tmp_path / "case", mask=False)
    out = subprocess.run([sys.executable, "-m", "ffrflow", "run", str(tmp_path / "case" / "network.json"),
                          "-o", str(tmp_path / "o"), "--backend", "numpy", "--set", "model.kt=1.2"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "LAD_p" in out.stdout and "FFR" in out.stdout
    assert "solve" in out.stderr  # progress line per stage
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["model"]["kt"] == 1.2
    out = subprocess.run([sys.executable, "-m", "ffrflow", "demo", "-o", str(tmp_path / "d")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for word in ("vessel", "%DS", "dP mmHg", "FFR", "LAD_p", "LCX_p", "RCA_m", "outputs in", "true lesions"):
        assert word in out.stdout
    assert "(not found)" not in out.stdout
    assert (tmp_path / "d" / "summary.json").exists()
    # the demo starts from the phantom's voxel mask, the path a user takes
    assert (tmp_path / "d" / "case" / "mask.nii.gz").exists() and (tmp_path / "d" / "surface.vtp").exists()
    assert json.loads((tmp_path / "d" / "summary.json").read_text())["input"]["path"].endswith("mask.nii.gz")


def test_cli_backend_unavailable_is_a_clear_error(tmp_path, demo):
    from ffrflow.kernels import cuda_available

    if cuda_available():
        pytest.skip("a CUDA device is present")
    demo.write(tmp_path / "case", mask=False)
    out = subprocess.run([sys.executable, "-m", "ffrflow", "run", str(tmp_path / "case" / "network.json"),
                          "--backend", "cuda"], capture_output=True, text=True)
    assert out.returncode == 4 and "cuda" in out.stderr and "Traceback" not in out.stderr
