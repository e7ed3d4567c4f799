"""Lumen probability maps: exact partial-volume phantoms, detection by value, the sub-voxel iso-surface,
and FFR from a probability map against the true network."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import SimpleITK as sitk

from ffrflow import cli, phantoms
from ffrflow.errors import InvalidInputError
from ffrflow.meshing.io import load_image, volume_kind

from _helpers import capsule as _capsule

H = 0.4          # voxel size of the tests, mm


def _write(arr, path, spacing=(H, H, H)):
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    sitk.WriteImage(img, str(path), True)
    return path


# ------------------------------------------------------------------------------------ the voxeliser
def test_one_sub_sample_per_voxel_is_the_binary_mask():
    """Truth: with N = 1 the only sub-sample is the voxel centre, the binary mask's own test."""
    ph = phantoms.left_tree([phantoms.LesionSpec("LAD_p", center_mm=12.0, length_mm=8.0, ds_pct=65.0)])
    b = sitk.GetArrayFromImage(phantoms.voxelize(ph.network, (0.45, 0.45, 0.625)))
    f = phantoms.voxelize(ph.network, (0.45, 0.45, 0.625), partial_volume=True, supersample=1)
    assert f.GetPixelID() == sitk.sitkFloat32
    assert np.array_equal(sitk.GetArrayFromImage(f), b.astype(np.float32))


def test_partial_volume_of_a_straight_tube_is_its_analytic_volume():
    """Truth: a straight tube of radius r and length L with hemispherical ends holds
    V = π r² L + 4/3 π r³, centred on the middle of its axis.

    Tolerance: the fraction of a boundary voxel is the midpoint rule over N³ sub-voxel centres; a
    locally flat wall through the voxel is misplaced by at most half a sub-sample step, so the
    fraction errs by at most 1/(2N), uniformly distributed (σ = 1/(2N√3)) over voxels the oblique
    wall cuts at unrelated positions. Summed over the M boundary voxels, σ_V = √M V_vox / (2N√3);
    the test allows 4 σ_V (about 0.5 % here). The centroid must lie within 4 σ_V / V · (r + L/2)
    of the true centre.
    """
    r, L, n = 1.2, 20.0, 5
    net, p0, d = _capsule(r, L, (1.0, 0.7, 0.4))
    img = phantoms.voxelize(net, H, partial_volume=True, supersample=n)
    f = sitk.GetArrayFromImage(img).astype(np.float64)
    assert f.min() >= 0.0 and f.max() <= 1.0
    v_true = math.pi * r * r * L + 4.0 / 3.0 * math.pi * r ** 3
    m = int(((f > 0) & (f < 1)).sum())
    tol = 4.0 * math.sqrt(m) * H ** 3 / (2 * n * math.sqrt(3.0))
    v = f.sum() * H ** 3
    assert abs(v - v_true) <= tol, (v, v_true, tol)
    kz, ky, kx = np.nonzero(f)
    xyz = np.array([img.TransformContinuousIndexToPhysicalPoint((float(i), float(j), float(k)))
                    for i, j, k in zip(kx, ky, kz)])
    centroid = (f[kz, ky, kx, None] * xyz).sum(axis=0) / f.sum()
    assert np.linalg.norm(centroid - (p0 + 0.5 * L * d)) <= tol / v_true * (r + 0.5 * L)


def test_partial_volume_of_an_axis_aligned_tube_is_the_sub_sample_count_of_its_cross_section():
    """Truth: along a tube parallel to the k axis every voxel slice sees the same disk, and its
    fractions times the voxel's cross-section are the midpoint rule on the N × N sub-lattice: the
    count of sub-sample centres inside the circle (counted here independently), which approaches
    π r² (within 2 % at N = 5 for r = 0.5–1.2 mm at 0.4 mm voxels: the sub-sample lattice repeats
    along the axis, so its counting error does not average out as on an oblique tube)."""
    r, n = 0.9, 5
    net, p0, _ = _capsule(r, 12.0, (0.0, 0.0, 1.0))
    img = phantoms.voxelize(net, H, partial_volume=True, supersample=n)
    f = sitk.GetArrayFromImage(img).astype(np.float64)
    origin = np.asarray(img.GetOrigin())
    k_mid = int(round((p0[2] + 6.0 - origin[2]) / H))
    area = f[k_mid].sum() * H * H
    u = ((np.arange(n) + 0.5) / n - 0.5) * H
    xs = (origin[0] + np.arange(f.shape[2]) * H)[:, None] + u[None, :]
    ys = (origin[1] + np.arange(f.shape[1]) * H)[:, None] + u[None, :]
    gx, gy = np.meshgrid(xs.ravel() - p0[0], ys.ravel() - p0[1])
    count = int(np.count_nonzero(gx * gx + gy * gy <= r * r))
    assert area == pytest.approx(count * (H / n) ** 2, rel=1e-6)           # float32 fractions
    assert area == pytest.approx(math.pi * r * r, rel=0.02)


def test_partial_volume_rejects_a_bad_supersample():
    net, _, _ = _capsule(1.0, 5.0, (1, 0, 0))
    for bad in (0, 2.5, True):
        with pytest.raises(InvalidInputError, match="supersample"):
            phantoms.voxelize(net, H, partial_volume=True, supersample=bad)


def test_phantom_writes_its_probability_map_beside_its_mask(tmp_path):
    ph = phantoms.right_tree()
    paths = ph.write(tmp_path, mask=True, spacing_mm=0.5, probability=True)
    m, p = sitk.ReadImage(str(paths["mask"])), sitk.ReadImage(str(paths["probability"]))
    assert p.GetPixelID() == sitk.sitkFloat32
    assert p.GetSize() == m.GetSize() and p.GetOrigin() == m.GetOrigin() and p.GetSpacing() == m.GetSpacing()
    doc = json.loads(paths["truth"].read_text())
    assert doc["probability"]["path"] == "probability.nii.gz" and doc["probability"]["supersample"] >= 1
    a = sitk.GetArrayFromImage(p)
    # the lumen volume of the fractions equals that of the mask to within the mask's staircase
    assert a.sum() == pytest.approx(sitk.GetArrayFromImage(m).sum(), rel=0.02)
    assert not [x.name for x in tmp_path.iterdir() if x.name.startswith(".")]


# ------------------------------------------------------------------------------------ reading
def test_a_float_volume_is_told_apart_by_its_values(tmp_path):
    tube = np.zeros((30, 20, 20), np.float32)
    tube[3:-3, 6:14, 6:14] = 1.0
    assert volume_kind(tube) == "mask"                                    # 0/1 stored as floats
    assert volume_kind(tube.astype(np.uint8)) == "label"
    soft = tube.copy()
    soft[3:-3, 5, 6:14] = 0.3
    assert volume_kind(soft) == "probability"
    assert volume_kind(tube * 3) == "label"                               # integer labels as floats

    m = load_image(_write(tube, tmp_path / "binary_float.nii.gz"))
    assert m.probability is None and m.info()["kind"] == "mask"
    m = load_image(_write(tube, tmp_path / "binary_float2.nii.gz"), threshold=0.3)   # same voxels
    assert m.probability is None and m.components[0]["voxels"] == 24 * 64
    p = load_image(_write(soft, tmp_path / "soft.nii.gz"), threshold=0.25)
    assert p.info()["kind"] == "probability" and p.info()["threshold"] == 0.25
    assert p.components[0]["voxels"] == 24 * 72                           # the 0.3 row is lumen at 0.25
    assert load_image(tmp_path / "soft.nii.gz").components[0]["voxels"] == 24 * 64   # default 0.5


def test_the_probability_kept_is_the_trees_and_agrees_with_the_mask(tmp_path):
    """The surface field holds the kept tree only (a speck's probability vanishes) and its lumen
    (p >= threshold) is exactly the mask's voxels, even where a value equals the threshold."""
    rng = np.random.default_rng(3)
    a = np.zeros((40, 30, 30), np.float32)
    z, y, x = np.mgrid[:40, :30, :30]
    d = np.sqrt((x - 14.3) ** 2 + (y - 15.6) ** 2)
    a[4:-4] = np.clip(0.5 - (d[4:-4] - 4.0) / 1.5, 0, 1)
    a[30:32, 2:4, 2:4] = 0.9                                              # a speck, 8 voxels
    a += (rng.random(a.shape) * 0.01 * (a > 0)).astype(np.float32)
    a = np.clip(a, 0, 1)
    assert a[10, 15, 18] > 0.5 and a[10, 15, 19] < 0.5
    a[10, 15, 19] = 0.5                                                   # exactly at the threshold, by the wall
    m = load_image(_write(a, tmp_path / "p.nii.gz"), min_component_mm3=1.0)
    assert m.n_trees == 1 and m.voxels_dropped == 8
    inner = m.probability[1:-1, 1:-1, 1:-1]
    assert inner.shape == m.labels.shape
    assert np.array_equal(inner >= m.threshold, m.labels > 0)
    assert np.array_equal(m.probability >= m.threshold, np.pad(m.labels > 0, 1))
    assert m.probability.max() <= 1.0
    assert m.labels[tuple(np.array([10, 15, 19]) - m.offset[::-1])] == 1    # p >= threshold is lumen


@pytest.mark.parametrize("make,match", [
    (lambda a: (a * 1400.0 - 1024.0), r"values from -1024 to 376.*expected a binary or label mask.*probability "
                                      r"map in \[0, 1\]"),
    (lambda a: np.where(a > 0.5, np.nan, a), "NaN or infinite"),
    (lambda a: a * 0.3, "no voxel of the probability map reaches the threshold 0.5")])
def test_a_float_volume_that_is_no_mask_or_probability_is_refused_by_name(tmp_path, make, match):
    a = np.zeros((20, 16, 16), np.float32)
    a[2:-2, 4:12, 4:12] = 1.0
    a[2:-2, 3, 4:12] = 0.4
    path = _write(make(a).astype(np.float32), tmp_path / "ct.mha")      # NIfTI reads NaN back as 0
    with pytest.raises(InvalidInputError, match=match) as exc:
        load_image(path)
    assert str(path) in str(exc.value)


def test_label_and_threshold_apply_where_they_mean_something(tmp_path):
    a = np.zeros((20, 16, 16), np.float32)
    a[2:-2, 4:12, 4:12] = 1.0
    a[2:-2, 3, 4:12] = 0.4
    prob = _write(a, tmp_path / "p.nii.gz")
    labels = _write((a > 0.5).astype(np.uint8) * 2, tmp_path / "l.nii.gz")
    with pytest.raises(InvalidInputError, match="probability map.*leave --label out"):
        load_image(prob, label=1)
    with pytest.raises(InvalidInputError, match="exclude each other"):
        load_image(labels, label=2, threshold=0.5)
    with pytest.raises(InvalidInputError, match="--threshold 0.5 applies to a lumen probability map"):
        load_image(labels, threshold=0.5)
    for bad in (0.0, 1.0, -0.2, float("nan"), "0.5"):
        with pytest.raises(InvalidInputError, match="threshold: expected"):
            load_image(prob, threshold=bad)


def test_cli_refuses_label_with_a_probability_map_and_label_with_threshold(tmp_path, capsys):
    a = np.zeros((20, 16, 16), np.float32)
    a[2:-2, 4:12, 4:12] = 1.0
    a[2:-2, 3, 4:12] = 0.4
    prob = str(_write(a, tmp_path / "p.nii.gz"))
    for cmd in (["run", prob, "--label", "1"], ["mesh", prob, "-o", str(tmp_path / "m"), "--label", "1"],
                ["run", prob, "--label", "1", "--threshold", "0.4"],
                ["uq", prob, "--threshold", "0.4", "--label", "2"]):
        assert cli.main(cmd) == cli.EXIT_INPUT
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and prob in err[0]
        assert "--label" in err[0]
    assert not (tmp_path / "m").exists()


# ------------------------------------------------------------------------------------ the iso-surface
def _mean_radius_error(net, p0, d, length, path, partial_volume, origin):
    from ffrflow.meshing import mesh

    img = phantoms.voxelize(net, H, origin_mm=origin, partial_volume=partial_volume)
    m = mesh(phantoms.write_mask(img, path), lesions=False)
    (v,) = m.network.vessels.values()
    s = (v.points_mm - p0) @ d
    sel = (s > 6.0) & (s < length - 6.0)
    return float(np.mean(v.radius_mm[sel])), m


def test_iso_surface_radius_of_a_tube_is_sub_voxel_exact(tmp_path):
    """Truth: a straight tube of radius 0.6 mm (a throat at 0.4 mm voxels: three voxels across),
    voxelised as exact partial-volume fractions at three sub-voxel grid shifts. The radius from the
    probability map's iso-surface stays within 2 % of a voxel (0.008 mm) of the truth at every shift;
    the binary mask of the same tube on the same grids errs by more (its staircase moves with the grid)."""
    r, length = 0.6, 24.0
    net, p0, d = _capsule(r, length, (1.0, 0.7, 0.4), n=48)
    o0 = np.asarray(phantoms.voxelize(net, H).GetOrigin())
    err_pv, err_bin = [], []
    for k, frac in enumerate(((0.0, 0.0, 0.0), (0.5, 0.25, 0.75), (0.8, 0.6, 0.3))):
        origin = o0 - H + H * np.asarray(frac)
        r_pv, m = _mean_radius_error(net, p0, d, length, tmp_path / f"p{k}.nii.gz", True, origin)
        r_bin, _ = _mean_radius_error(net, p0, d, length, tmp_path / f"b{k}.nii.gz", False, origin)
        err_pv.append(r_pv - r)
        err_bin.append(r_bin - r)
        assert m.surface_info["watertight"] and m.image_info["kind"] == "probability"
    assert max(abs(e) for e in err_pv) <= 0.02 * H, err_pv
    assert max(abs(e) for e in err_pv) < max(abs(e) for e in err_bin), (err_pv, err_bin)


# ------------------------------------------------------------------------------------ end to end
def test_ffr_from_a_probability_map_matches_the_true_network(tmp_path):
    """Truth: the phantom's own network solved with the same solver and boundary conditions. From its
    exact partial-volume map at 0.4 mm, every outlet's FFR and the lesion's distal FFR are within
    0.02 of it (the target for probability maps) and the lesion's %DS within 5 points; no branch is
    lost or invented; summary.json says the input was a probability map and its threshold."""
    import ffrflow
    from ffrflow.meshing.compare import match_results

    ph = phantoms.left_tree([phantoms.LesionSpec("LAD_p", center_mm=14.0, length_mm=10.0, ds_pct=70.0)])
    paths = ph.write(tmp_path / "case", mask=False, spacing_mm=H, probability=True)
    true = ffrflow.solve(ph.network, backend="numpy")
    res = ffrflow.run(str(paths["probability"]), output_dir=tmp_path / "out", backend="numpy", pictures=False)
    assert len(res.network.outlets) == len(ph.network.outlets)
    pairs = match_results(true, res)
    assert max(p["distance_mm"] for p in pairs if p["kind"] == "outlet") < 3.0
    assert max(abs(p["dffr"]) for p in pairs) <= 0.02, [(p["name"], round(p["dffr"], 4)) for p in pairs]
    (les,) = [p for p in pairs if p["kind"] == "lesion"]
    assert abs(les["meshed"]["diameter_stenosis_pct"] - ph.lesions[0]["diameter_stenosis_pct"]) <= 5.0
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["input"]["kind"] == "probability" and s["input"]["threshold"] == 0.5
    mesh_info = json.loads((tmp_path / "out" / "mesh.json").read_text())
    assert mesh_info["image"]["kind"] == "probability"
