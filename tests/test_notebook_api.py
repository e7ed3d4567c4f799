"""The notebook API and the pictures: tables as DataFrames that still iterate as dicts,
``r.plot()``/``r.plot_pullback()``, ``surface.vtp`` with FFR, ``Result.load``, the example notebook
run top to bottom, and no DICOM identifier in any output."""

from __future__ import annotations

import json
import time
from pathlib import Path

import kimimaro  # noqa: F401  (required: a broken install fails here, never a skip)
import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import vtk

import ffrflow
from ffrflow import phantoms, plots
from ffrflow.vtkio import read_polydata

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A right tree with a 65 % lesion, solved from its network with every output written."""
    ph = phantoms.right_tree([phantoms.LesionSpec("RCA_m", 20.0, 10.0, 65.0)])
    folder = tmp_path_factory.mktemp("nb")
    ph.network.to_json(folder / "network.json")
    r = ffrflow.run(folder / "network.json", output_dir=folder / "out", backend="numpy")
    return ph, r, folder / "out"


def _png(path):
    import matplotlib.image as mpimg

    return mpimg.imread(str(path))[..., :3]


def _check_picture(path, min_px=(700, 250)):
    """Size and non-trivial content: many colours, a fair share of non-white pixels."""
    assert path.stat().st_size > 20_000
    img = _png(path)
    h, w = img.shape[:2]
    assert w >= min_px[0] and h >= min_px[1]
    nonwhite = (img < 0.95).any(axis=2).mean()
    colours = len(np.unique((img * 255).astype(np.uint8).reshape(-1, 3), axis=0))
    assert nonwhite > 0.03 and colours > 200, (nonwhite, colours)
    return img


def test_tables_are_dataframes_that_iterate_as_dicts(case):
    _, r, _ = case
    assert isinstance(r.lesions, pd.DataFrame) and isinstance(r.outlets, pd.DataFrame)
    assert len(r.lesions) == 1 and list(r.lesions.columns[:3]) == ["id", "vessel", "position_mm"]
    les = r.lesions[0]                                       # a row by position, as on a list
    assert isinstance(les, dict) and les["vessel"] == "RCA_m"
    assert [x["ffr_distal"] for x in r.lesions] == r.lesions["ffr_distal"].tolist()
    assert r.lesions == r.lesion_records and r.outlets == r.outlet_records
    assert r.outlets.sort_values("ffr").iloc[0]["ffr"] == pytest.approx(min(o["ffr"] for o in r.outlet_records))
    assert "RCA_m" in repr(r.lesions) and "<table" in r.lesions._repr_html_()
    s = json.loads((Path(case[2]) / "summary.json").read_text())
    assert s["lesions"] == json.loads(json.dumps(r.lesion_records))     # summary.json keeps plain records


def test_pictures_and_surface_with_ffr(case):
    _, r, out = case
    names = {p.name for p in out.iterdir()}
    assert {"ffr.png", "pullback.png", "surface.vtp"} <= names and "surface.stl" not in names   # swept tube
    img = _check_picture(out / "ffr.png")
    red = ((img[..., 0] > 0.6) & (img[..., 2] < 0.45)).mean()
    blue = ((img[..., 2] > 0.5) & (img[..., 0] < 0.35)).mean()
    assert red > 1e-4 and blue > 1e-3                       # FFR below and above 0.80 both shown
    _check_picture(out / "pullback.png")
    surf = read_polydata(out / "surface.vtp")
    from vtk.util.numpy_support import vtk_to_numpy

    ffr = vtk_to_numpy(surf.GetPointData().GetArray("ffr"))
    assert len(ffr) == surf.GetNumberOfPoints() > 1000
    assert ffr.min() == pytest.approx(r.min_ffr, abs=0.02) and ffr.max() == pytest.approx(1.0, abs=1e-9)
    for name in ("pressure_mmHg", "centerline_radius_mm", "vessel_index"):
        assert surf.GetPointData().GetArray(name) is not None
    from matplotlib.figure import Figure

    fig = r.plot()
    assert isinstance(fig, Figure) and fig.axes and fig._repr_png_()[:4] == b"\x89PNG"
    fig = r.plot_pullback()
    assert isinstance(fig, Figure) and len(fig.axes) == 1


def test_saved_ffr_png_is_matplotlibs_own_picture(case, tmp_path):
    """``ffr.png`` is written by laying the figure's drawing over the rendered view (no image
    resampling); the truth is matplotlib's own ``savefig`` of the same figure: same size, same pixels."""
    _, r, _ = case
    fig = r.plot(path=tmp_path / "ffr.png")
    if getattr(fig, "_ffrflow_underlay", None) is None:
        pytest.skip("no VTK off-screen view here: the picture is matplotlib's own")
    fig.savefig(tmp_path / "ref.png", dpi=fig.dpi)
    a, b = _png(tmp_path / "ffr.png"), _png(tmp_path / "ref.png")
    assert a.shape == b.shape
    diff = np.abs(a - b).max(axis=2)
    assert (diff > 8 / 255).mean() < 1e-3 and diff.mean() < 1e-3, ((diff > 8 / 255).mean(), diff.mean())


def test_matplotlib_fallback_draws_the_same_picture(case, tmp_path, monkeypatch):
    _, r, _ = case
    monkeypatch.setattr(plots.render, "_vtk_ok", (False, "test: no OpenGL"))
    fig = r.plot(path=tmp_path / "ffr.png")
    assert fig.ffrflow_renderer == "matplotlib"
    _check_picture(tmp_path / "ffr.png")


def test_to_hdf5_to_vtk_and_load(case, tmp_path):
    _, r, out = case
    r.to_hdf5(tmp_path / "r.h5")
    assert r.to_vtk(tmp_path / "vtk") == tmp_path / "vtk"
    assert sorted(p.name for p in (tmp_path / "vtk").iterdir()) == ["centerlines.vtp", "surface.vtp"]
    back = ffrflow.Result.load(out)
    np.testing.assert_allclose(back.ffr, r.ffr, rtol=0, atol=1e-9)
    np.testing.assert_allclose(back.flow_m3_s, r.flow_m3_s, rtol=1e-9)
    assert back.lesion_records[0]["ffr_distal"] == pytest.approx(r.lesion_records[0]["ffr_distal"], abs=1e-9)
    for a, b in zip(back.outlet_records, r.outlet_records):
        assert a["vessel"] == b["vessel"] and a["ffr"] == pytest.approx(b["ffr"], abs=1e-9)
        assert a["resistance_mmHg_s_per_ml"] == pytest.approx(b["resistance_mmHg_s_per_ml"], rel=1e-9)
    assert back.surface is not None and back.solver == "steady"
    with pytest.raises(ffrflow.InvalidInputError, match="no network.json"):
        ffrflow.Result.load(tmp_path)


def test_example_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    import ipykernel  # noqa: F401  (the notebook's kernel: required by the test extra)
    import nbclient
    import nbformat

    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    nb = nbformat.read(ROOT / "examples" / "quickstart.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=300,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)            # the pictures are shown
    assert any("text/html" in o.get("data", {}) for o in outputs)            # the tables are DataFrames
    assert (tmp_path / "out" / "ffr.png").exists() and (tmp_path / "copy" / "surface.vtp").exists()


# ------------------------------------------------------------------------------------------ privacy
IDENTIFIERS = {"0010|0010": "Doe^Jane", "0010|0020": "PID-738291", "0010|0030": "19610423",
               "0008|0050": "ACC-5512093", "0008|0080": "St Elsewhere Hospital"}


def _dicom_series(folder: Path) -> Path:
    """A Y-shaped vessel mask written as a DICOM series whose headers carry patient identifiers."""
    net = ffrflow.VesselNetwork.from_dict({"format": "ffrflow-network/1", "units": "mm", "vessels": [
        {"id": "A", "parent": None, "points": [[0, 0, 0], [0, 2, 20]], "radius": [1.6, 1.5]},
        {"id": "B", "parent": "A", "points": [[0, 2, 20], [8, 4, 40]], "radius": [1.3, 1.1]},
        {"id": "C", "parent": "A", "points": [[0, 2, 20], [-8, 3, 38]], "radius": [1.1, 1.0]}]})
    img = sitk.Cast(phantoms.voxelize(net, spacing_mm=0.5), sitk.sitkUInt16)
    folder.mkdir(parents=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    uid = "1.2.826.0.1.3680043.2.1125.9.%d" % int(time.time())
    for k in range(img.GetDepth()):
        sl = img[:, :, k]
        for tag, value in IDENTIFIERS.items():
            sl.SetMetaData(tag, value)
        sl.SetMetaData("0008|0060", "CT")
        sl.SetMetaData("0020|000e", uid)
        sl.SetMetaData("0020|000d", uid + ".0")
        sl.SetMetaData("0008|0018", f"{uid}.{k + 1}")
        sl.SetMetaData("0020|0037", "1\\0\\0\\0\\1\\0")
        sl.SetMetaData("0020|0032", "\\".join(map(str, img.TransformIndexToPhysicalPoint((0, 0, k)))))
        sl.SetMetaData("0020|0013", str(k))
        writer.SetFileName(str(folder / f"im{k:04d}.dcm"))
        writer.Execute(sl)
    return folder


def test_no_dicom_identifier_reaches_any_output(tmp_path):
    from ffrflow.batch import run_batch

    _dicom_series(tmp_path / "in" / "series")
    (tmp_path / "in" / "manifest.csv").write_text("case_id,input\ncase-0001,series\n")
    rep = run_batch(tmp_path / "in" / "manifest.csv", tmp_path / "out", workers=1, backend="numpy")
    assert rep.counts["ok"] == 1, rep.records
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert {"summary.json", "results.h5", "surface.vtp", "ffr.png", "mesh.json", "results.csv", "report.html",
            "index.html", "index-data.js"} <= {p.name for p in files}
    needles = [v.encode() for v in IDENTIFIERS.values()] + [b"Doe^", b"738291", b"5512093", b"Elsewhere"]
    for p in files:                  # byte search (JSON, CSV, HDF5 attributes, VTK headers, PNG text)
        data = p.read_bytes()
        for n in needles:
            assert n not in data, (p.name, n)
    s = json.loads((tmp_path / "out" / "case-0001" / "summary.json").read_text())
    assert s["input"]["path"] == "series" and s["input"]["case_id"] == "case-0001"
