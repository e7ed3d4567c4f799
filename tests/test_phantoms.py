"""Synthetic coronary phantoms (ffrflow.phantoms): anatomy, lesion truth, random trees, voxelisation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ffrflow import phantoms as P
from ffrflow.errors import InvalidInputError
from ffrflow.network import VesselNetwork

N_MURRAY = P.MURRAY_EXPONENT
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo():
    return P.demo_case()


def _phantoms():
    return {
        "left": P.left_tree(),
        "right": P.right_tree(),
        "both": P.coronary_tree(),
        "demo": P.demo_case(),
        "left_seed3": P.left_tree([P.LesionSpec("LAD_m", 15.0, 12.0, 45.0, "asymmetric")], seed=3),
        "shapes": P.coronary_tree([
            P.LesionSpec("LAD_d", 30.0, 14.0, 85.0, "gaussian"),
            P.LesionSpec("LAD_d", 55.0, 8.0, 40.0, "cosine"),
            P.LesionSpec("D1", 20.0, 10.0, 99.0, "asymmetric"),
            P.LesionSpec("PDA", 30.0, 6.0, 55.0, "cosine")]),
    }


PHANTOMS = _phantoms()


def _tube(p0, p1, r):
    """A single straight vessel of constant radius r (mm), points every 0.5 mm."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    n = int(np.ceil(np.linalg.norm(p1 - p0) / 0.5)) + 1
    pts = p0 + np.linspace(0.0, 1.0, n)[:, None] * (p1 - p0)
    return VesselNetwork.from_dict({"format": "ffrflow-network/1", "units": "mm", "vessels": [
        {"id": "T", "parent": None, "points": pts.tolist(), "radius": [r] * n}]})


def _rotation(seed=1):
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((3, 3)))
    return q * np.sign(np.linalg.det(q))


def _world_voxels(img):
    import SimpleITK as sitk
    arr = sitk.GetArrayFromImage(img)
    k, j, i = np.nonzero(arr)
    idx = np.column_stack([i, j, k]).astype(float)
    sp = np.array(img.GetSpacing())
    d = np.array(img.GetDirection()).reshape(3, 3)
    return np.array(img.GetOrigin()) + (idx * sp) @ d.T, float(np.prod(sp))


# ------------------------------------------------------------------ anatomy and network validity
@pytest.mark.parametrize("key", sorted(PHANTOMS))
def test_phantom_network_validates_and_children_touch(key):
    ph = PHANTOMS[key]
    net = VesselNetwork.from_dict(ph.network.to_dict())
    assert set(net.vessels) == set(ph.network.vessels)
    for v in ph.network.vessels.values():
        assert v.lesions is None, "the phantom network must not carry its lesions"
        assert np.all(v.radius_mm > 0)
        assert np.all(np.linalg.norm(np.diff(v.points_mm, axis=0), axis=1) <= P.POINT_SPACING_MM + 1e-9)
        if v.parent is not None:
            np.testing.assert_array_equal(v.points_mm[0], ph.network.vessels[v.parent].points_mm[-1])
    with_les = VesselNetwork.from_dict(ph.network_with_lesions().to_dict())
    assert sum(len(v.lesions) for v in with_les.vessels.values()) == len(ph.lesions)


def test_anatomy_ids_sides_and_lengths(demo):
    net = demo.network
    expected = {"LM", "LAD_p", "LAD_m", "LAD_d", "D1", "D2", "LCX_p", "LCX_m", "LCX_d", "OM1", "OM2",
                "RCA_p", "RCA_m", "RCA_d", "RV", "AM", "PDA", "PLV"}
    assert set(net.vessels) == expected
    assert sorted(net.roots) == ["LM", "RCA_p"]
    assert net.vessels["LM"].side == "left" and net.vessels["RCA_p"].side == "right"
    assert all(v.name for v in net.vessels.values())
    assert set(net.children("LM")) == {"LAD_p", "LCX_p"}
    assert set(net.children("RCA_d")) == {"PDA", "PLV"}
    L = {vid: net.length_mm(vid) for vid in net.vessels}
    assert 9.0 <= L["LM"] <= 11.0
    assert 120.0 <= L["LAD_p"] + L["LAD_m"] + L["LAD_d"] <= 140.0
    assert 70.0 <= L["LCX_p"] + L["LCX_m"] + L["LCX_d"] <= 90.0
    assert 120.0 <= L["RCA_p"] + L["RCA_m"] + L["RCA_d"] <= 150.0
    for b in ("D1", "D2", "OM1", "OM2", "RV", "AM", "PDA", "PLV"):
        assert 30.0 <= L[b] <= 70.0, b


def test_radii_realistic(demo):
    net = demo.network
    lm_d = 2.0 * net.vessels["LM"].radius_mm
    assert abs(lm_d.mean() - 4.5) < 0.15
    assert 1.7 <= net.vessels["LAD_p"].radius_mm[0] <= 1.9
    assert 1.8 <= net.vessels["RCA_p"].radius_mm[0] <= 2.0
    for o in net.outlets:
        assert 0.6 - 1e-9 <= net.vessels[o].radius_mm[-1] <= 1.0, o


def test_trees_lie_on_a_heart_sized_surface_and_do_not_touch(demo):
    from scipy.spatial import cKDTree
    net = demo.network
    pts = np.concatenate([v.points_mm for v in net.vessels.values()])
    c = np.asarray(P.HEART_CENTER_MM)
    a, b, _ = P.HEART_SEMI_AXES_MM
    _, u, v, w = P.anatomy._heart_frame()
    q = pts - c
    rho = (q @ u / a) ** 2 + ((q @ v) ** 2 + (q @ w) ** 2) / b**2
    assert np.all((rho > 0.95) & (rho < 1.2))            # on (just above) the ellipsoid
    ext = pts.max(axis=0) - pts.min(axis=0)
    assert np.all(ext > 60) and np.all(ext < 140)           # 3D, heart sized
    left = [vv for vv in net.vessels.values() if net.root_of(vv.id) == "LM"]
    right = [vv for vv in net.vessels.values() if net.root_of(vv.id) == "RCA_p"]
    lp = np.concatenate([x.points_mm for x in left])
    lr = np.concatenate([x.radius_mm for x in left])
    rp = np.concatenate([x.points_mm for x in right])
    rr = np.concatenate([x.radius_mm for x in right])
    d, j = cKDTree(rp).query(lp)
    assert (d - lr - rr[j]).min() > 5.0                    # two separate lumen components


@pytest.mark.parametrize("key", sorted(PHANTOMS))
def test_radius_tapers_along_every_path_except_in_lesions(key):
    ph = PHANTOMS[key]
    net = ph.network
    in_lesion = {vid: np.zeros(len(v.radius_mm), bool) for vid, v in net.vessels.items()}
    for les in ph.lesions:
        s = net.vessels[les["vessel"]].arclength_mm
        in_lesion[les["vessel"]] |= (s > les["start_mm"] + 1e-9) & (s < les["end_mm"] - 1e-9)
    for path in net.root_to_outlet_paths():
        r = np.concatenate([net.vessels[vid].radius_mm for vid in path])
        m = np.concatenate([in_lesion[vid] for vid in path])
        ok = ~(m[:-1] | m[1:])
        assert np.all(np.diff(r)[ok] <= 1e-12), path


@pytest.mark.parametrize("key", sorted(PHANTOMS))
def test_murray_law_at_every_junction(key):
    net = PHANTOMS[key].network
    for vid, v in net.vessels.items():
        ch = net.children(vid)
        if not ch:
            continue
        assert len(ch) == 2
        lhs = v.radius_mm[-1] ** N_MURRAY
        rhs = sum(net.vessels[c].radius_mm[0] ** N_MURRAY for c in ch)
        assert rhs == pytest.approx(lhs, rel=1e-9), vid


def test_seeds_are_deterministic_and_vary_a_little():
    a, b, c = P.coronary_tree(seed=0), P.coronary_tree(seed=0), P.coronary_tree(seed=7)
    for vid in a.network.vessels:
        np.testing.assert_array_equal(a.network.vessels[vid].points_mm, b.network.vessels[vid].points_mm)
        np.testing.assert_array_equal(a.network.vessels[vid].radius_mm, b.network.vessels[vid].radius_mm)
    d = P.coronary_tree(seed=7)
    assert np.array_equal(c.network.vessels["LAD_d"].points_mm, d.network.vessels["LAD_d"].points_mm)
    la, lc = a.network.length_mm("LAD_d"), c.network.length_mm("LAD_d")
    assert la != lc and abs(la - lc) / la < 0.15


# ------------------------------------------------------------------ lesion truth
def _all_lesions():
    for key, ph in PHANTOMS.items():
        for i in range(len(ph.lesions)):
            yield pytest.param(key, i, id=f"{key}-{ph.lesions[i]['vessel']}-{ph.lesions[i]['shape']}")


@pytest.mark.parametrize("key, i", list(_all_lesions()))
def test_lesion_truth_matches_the_network(key, i):
    ph = PHANTOMS[key]
    les = ph.lesions[i]
    net = ph.network
    v = net.vessels[les["vessel"]]
    s = v.arclength_mm
    inside = (s >= les["start_mm"] - 1e-9) & (s <= les["end_mm"] + 1e-9)
    ic = int(np.argmin(np.abs(s - les["center_mm"])))
    assert abs(s[ic] - les["center_mm"]) < 1e-9                 # a point exactly at the MLD
    assert abs(2.0 * v.radius_mm[inside].min() - les["mld_mm"]) < 1e-9
    assert abs(2.0 * v.radius_mm[ic] - les["mld_mm"]) < 1e-9
    np.testing.assert_allclose(v.points_mm[ic], les["mld_xyz_mm"], atol=1e-12)
    d = les["diameter_stenosis_pct"] / 100.0
    assert les["mld_mm"] == pytest.approx((1 - d) * les["reference_diameter_mm"], rel=1e-12)
    assert les["reference_diameter_mm"] == pytest.approx(2 * les["reference_radius_mm"], rel=1e-12)
    assert les["area_stenosis_pct"] == pytest.approx(100 * (1 - (1 - d) ** 2), rel=1e-12)
    assert les["position_mm"] == pytest.approx(net.offset_from_ostium_mm(les["vessel"]) + les["center_mm"],
                                               abs=1e-9)
    spec = [x for x in ph.parameters["lesion_specs"] if x["vessel"] == les["vessel"]
            and abs(x["center_mm"] - les["center_mm"]) < 1e-3][0]
    assert les["diameter_stenosis_pct"] == pytest.approx(spec["ds_pct"], abs=1e-9)
    assert les["length_mm"] == spec["length_mm"] and les["shape"] == spec["shape"]
    frac = P.ASYMMETRIC_INLET_FRACTION if les["shape"] == "asymmetric" else 0.5
    assert les["start_mm"] == pytest.approx(les["center_mm"] - frac * les["length_mm"], abs=1e-12)
    assert les["end_mm"] == pytest.approx(les["center_mm"] + (1 - frac) * les["length_mm"], abs=1e-12)
    assert les["start_mm"] >= P.LESION_END_CLEARANCE_MM - 1e-3
    assert les["end_mm"] <= v.length_mm - P.LESION_END_CLEARANCE_MM + 1e-3


def test_reference_radius_is_the_healthy_radius():
    ph = PHANTOMS["shapes"]
    healthy = P.coronary_tree().network
    for les in ph.lesions:
        hv = healthy.vessels[les["vessel"]]
        r_ref = np.interp(les["center_mm"], hv.arclength_mm, hv.radius_mm)
        assert les["reference_radius_mm"] == pytest.approx(r_ref, rel=1e-4)
        v = ph.network.vessels[les["vessel"]]
        s = v.arclength_mm
        outside = s < v.length_mm - 1e-6
        for other in ph.lesions:
            if other["vessel"] == les["vessel"]:
                outside &= (s < other["start_mm"] - 1e-6) | (s > other["end_mm"] + 1e-6)
        np.testing.assert_allclose(v.radius_mm[outside], np.interp(s[outside], hv.arclength_mm, hv.radius_mm),
                                   rtol=1e-4)


def test_demo_case_lesions(demo):
    got = {(x["vessel"], x["shape"], round(x["diameter_stenosis_pct"], 6), x["length_mm"]) for x in demo.lesions}
    assert got == {("LAD_p", "cosine", 70.0, 10.0), ("LCX_p", "cosine", 50.0, 8.0),
                   ("RCA_m", "gaussian", 60.0, 12.0)}
    net = demo.network_with_lesions()
    assert [(round(x.start_mm, 3), round(x.end_mm, 3)) for x in net.vessels["LAD_p"].lesions] == [(7.5, 17.5)]
    assert net.vessels["LM"].lesions == []
    assert demo.network.vessels["LAD_p"].lesions is None


@pytest.mark.parametrize("spec, match", [
    (dict(vessel="XYZ", center_mm=10, length_mm=5, ds_pct=50), "no such vessel"),
    (dict(vessel="RCA_m", center_mm=10, length_mm=5, ds_pct=50), "no such vessel"),   # right vessel, left tree
    (dict(vessel="LAD_p", center_mm=4, length_mm=5, ds_pct=50), "from both ends"),
    (dict(vessel="LAD_p", center_mm=23, length_mm=4, ds_pct=50), "from both ends"),
    (dict(vessel="LAD_p", center_mm=12, length_mm=5, ds_pct=0), "ds_pct"),
    (dict(vessel="LAD_p", center_mm=12, length_mm=5, ds_pct=99.5), "ds_pct"),
    (dict(vessel="LAD_p", center_mm=12, length_mm=0, ds_pct=50), "length_mm"),
    (dict(vessel="LAD_p", center_mm=float("nan"), length_mm=5, ds_pct=50), "center_mm"),
    (dict(vessel="LAD_p", center_mm=12, length_mm=5, ds_pct=50, shape="box"), "shape"),
    (dict(vessel="LAD_d", center_mm=40, length_mm=30, ds_pct=1), "taper"),
])
def test_bad_lesions_are_rejected(spec, match):
    with pytest.raises(InvalidInputError, match=match):
        P.left_tree([spec])


def test_bad_arguments_are_rejected():
    with pytest.raises(InvalidInputError, match="overlap"):
        P.left_tree([P.LesionSpec("LAD_d", 20, 10, 50), P.LesionSpec("LAD_d", 27, 10, 50)])
    with pytest.raises(InvalidInputError, match="sides"):
        P.coronary_tree(sides=("left", "middle"))
    with pytest.raises(InvalidInputError, match="sides"):
        P.coronary_tree(sides=())
    with pytest.raises(InvalidInputError, match="seed"):
        P.left_tree(seed=-1)
    with pytest.raises(InvalidInputError, match="lesions"):
        P.left_tree(P.LesionSpec("LAD_p", 12, 5, 50))


# ------------------------------------------------------------------ random trees
@pytest.mark.parametrize("n", [1, 2, 10, 100])
def test_random_tree_has_n_vessels_and_validates(n):
    net = P.random_tree(n, seed=n)
    assert len(net.vessels) == n
    again = VesselNetwork.from_dict(net.to_dict())
    assert len(again.vessels) == n and again.roots == ["V0"]
    assert net.vessels["V0"].radius_mm[0] == pytest.approx(2.0)
    for vid, v in net.vessels.items():
        assert len(net.children(vid)) <= 2
        assert 5.0 - 1e-6 <= v.length_mm <= 20.5
        seg = np.linalg.norm(np.diff(v.points_mm, axis=0), axis=1)
        assert seg.max() <= 1.0 and seg.min() >= 0.4
        assert v.radius_mm.min() >= 0.3 - 1e-12
        assert np.all(np.diff(v.radius_mm) <= 0)
        if v.parent is not None:
            np.testing.assert_array_equal(v.points_mm[0], net.vessels[v.parent].points_mm[-1])
            assert v.radius_mm[0] <= net.vessels[v.parent].radius_mm[-1] + 1e-12
    pts = np.concatenate([v.points_mm for v in net.vessels.values()])
    if n >= 10:
        assert np.all(np.ptp(pts, axis=0) > 1.0)          # a 3D tree, not planar


def test_random_tree_is_deterministic_and_scales():
    a, b = P.random_tree(50, seed=3), P.random_tree(50, seed=3)
    for vid in a.vessels:
        np.testing.assert_array_equal(a.vessels[vid].points_mm, b.vessels[vid].points_mm)
    big = P.random_tree(10_000, seed=1)                  # the steady benchmark's largest tree
    assert len(big.vessels) == 10_000
    assert min(v.radius_mm.min() for v in big.vessels.values()) >= 0.3 - 1e-12
    with pytest.raises(InvalidInputError, match="n_vessels"):
        P.random_tree(0)


# ------------------------------------------------------------------ voxelisation
def test_voxelised_cylinder_volume():
    import SimpleITK as sitk
    r, L = 1.5, 20.0
    p0, p1 = np.array([3.0, -2.0, 10.0]), np.array([3.0, -2.0, 10.0]) + L * np.array([0.6, 0.0, 0.8])
    img = P.voxelize(_tube(p0, p1, r), spacing_mm=0.2)
    assert img.GetPixelID() == sitk.sitkUInt8
    xyz, dv = _world_voxels(img)
    total = len(xyz) * dv
    assert total == pytest.approx(np.pi * r**2 * L + 4.0 / 3.0 * np.pi * r**3, rel=0.03)
    axis = (p1 - p0) / L
    s = (xyz - p0) @ axis
    mid = len(xyz[(s >= 5.0) & (s < 15.0)]) * dv
    assert mid == pytest.approx(np.pi * r**2 * 10.0, rel=0.03)


def test_voxelisation_honours_spacing_and_direction():
    r = 1.2
    p0, p1 = np.array([-10.0, 5.0, 30.0]), np.array([2.0, 14.0, 18.0])
    net = _tube(p0, p1, r)
    iso = P.voxelize(net, spacing_mm=0.25)
    rot = P.voxelize(net, spacing_mm=(0.2, 0.3, 0.25), direction=_rotation(), margin_mm=2.0)
    assert rot.GetSpacing() == pytest.approx((0.2, 0.3, 0.25))
    np.testing.assert_allclose(np.array(rot.GetDirection()).reshape(3, 3), _rotation(), atol=1e-12)
    xa, dva = _world_voxels(iso)
    xb, dvb = _world_voxels(rot)
    assert len(xb) * dvb == pytest.approx(len(xa) * dva, rel=0.03)
    assert np.linalg.norm(xa.mean(axis=0) - xb.mean(axis=0)) < 0.2
    assert np.linalg.norm(xb.mean(axis=0) - 0.5 * (p0 + p1)) < 0.2
    # every voxel centre flagged lies within the tube (+ nothing outside it)
    e = p1 - p0
    t = np.clip((xb - p0) @ e / (e @ e), 0, 1)
    assert np.linalg.norm(xb - p0 - t[:, None] * e, axis=1).max() <= r + 1e-9
    # a given origin is honoured and the size still covers the tube
    o = np.array(rot.GetOrigin()) - _rotation() @ (np.array([0.2, 0.3, 0.25]) * [3, 2, 4])  # whole voxels
    rot2 = P.voxelize(net, spacing_mm=(0.2, 0.3, 0.25), direction=_rotation(), origin_mm=o, margin_mm=2.0)
    assert rot2.GetOrigin() == pytest.approx(tuple(o))
    assert rot2.GetSize() == tuple(n + d for n, d in zip(rot.GetSize(), (3, 2, 4)))
    np.testing.assert_allclose(np.sort(_world_voxels(rot2)[0], axis=0), np.sort(xb, axis=0), atol=1e-9)


def test_demo_mask_contains_every_centerline_point(demo):
    import SimpleITK as sitk
    from scipy import ndimage
    img = P.voxelize(demo.network, spacing_mm=(0.5, 0.45, 0.6), direction=_rotation(5))
    arr = sitk.GetArrayViewFromImage(img)
    for v in demo.network.vessels.values():
        for p, rad in zip(v.points_mm, v.radius_mm):
            if rad < 0.45:
                continue
            i, j, k = img.TransformPhysicalPointToIndex(tuple(float(x) for x in p))
            assert arr[k, j, i] == 1, (v.id, p)
    _, ncomp = ndimage.label(arr)
    assert ncomp == 2                                            # left and right trees


def test_demo_voxelisation_grid_spans_the_heart(demo):
    img = P.voxelize(demo.network, spacing_mm=0.4)
    assert all(60 / 0.4 < n < 160 / 0.4 for n in img.GetSize())


def test_voxelize_rejects_bad_geometry():
    net = _tube([0, 0, 0], [0, 0, 10], 1.0)
    with pytest.raises(InvalidInputError, match="spacing_mm"):
        P.voxelize(net, spacing_mm=0)
    with pytest.raises(InvalidInputError, match="spacing_mm"):
        P.voxelize(net, spacing_mm=(0.4, 0.4))
    with pytest.raises(InvalidInputError, match="direction"):
        P.voxelize(net, direction=np.diag([1.0, 2.0, 1.0]))
    with pytest.raises(InvalidInputError, match="origin_mm"):
        P.voxelize(net, origin_mm=(0.0, 0.0, 5.0))
    with pytest.raises(InvalidInputError, match="margin_mm"):
        P.voxelize(net, margin_mm=-1)


# ------------------------------------------------------------------ files
def test_phantom_write_round_trip(tmp_path, demo):
    import SimpleITK as sitk
    paths = demo.write(tmp_path / "case", mask=True, spacing_mm=0.6)
    assert set(paths) == {"network", "truth", "mask"}
    net = VesselNetwork.from_json(paths["network"])
    assert set(net.vessels) == set(demo.network.vessels)
    for vid, v in net.vessels.items():
        assert v.lesions is None
        np.testing.assert_allclose(v.points_mm, demo.network.vessels[vid].points_mm, atol=1e-6)
        np.testing.assert_allclose(v.radius_mm, demo.network.vessels[vid].radius_mm, atol=1e-6)
    truth = json.loads(paths["truth"].read_text())
    assert truth["format"] == P.TRUTH_FORMAT
    assert [x["vessel"] for x in truth["lesions"]] == [x["vessel"] for x in demo.lesions]
    assert truth["lesions"][0]["mld_mm"] == demo.lesions[0]["mld_mm"]
    assert truth["parameters"]["seed"] == 0
    img = sitk.ReadImage(str(paths["mask"]))
    ref = P.voxelize(demo.network, spacing_mm=0.6)
    assert img.GetOrigin() == pytest.approx(ref.GetOrigin(), abs=1e-4)
    assert img.GetSpacing() == pytest.approx(ref.GetSpacing(), abs=1e-6)
    assert img.GetSize() == ref.GetSize()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img), sitk.GetArrayFromImage(ref))
    assert sorted(p.name for p in (tmp_path / "case").iterdir()) == ["mask.nii.gz", "network.json", "truth.json"]


@pytest.mark.parametrize("suffix", [".nrrd", ".mha", ".nii"])
def test_write_mask_formats(tmp_path, suffix):
    import SimpleITK as sitk
    img = P.voxelize(_tube([0, 0, 0], [5, 5, 5], 1.0), spacing_mm=(0.3, 0.4, 0.5), direction=_rotation(2))
    out = P.write_mask(img, tmp_path / f"m{suffix}")
    back = sitk.ReadImage(str(out))
    assert back.GetSpacing() == pytest.approx(img.GetSpacing())
    assert back.GetOrigin() == pytest.approx(img.GetOrigin(), abs=1e-4)
    np.testing.assert_allclose(back.GetDirection(), img.GetDirection(), atol=1e-5)
    assert list(tmp_path.iterdir()) == [out]
    with pytest.raises(InvalidInputError, match="unsupported"):
        P.write_mask(img, tmp_path / "m.png")


def test_module_imports_without_simpleitk():
    code = ("import sys; sys.modules['SimpleITK'] = None\n"
            "import ffrflow.phantoms as P\n"
            "print(len(P.left_tree().network.vessels))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "11"


@pytest.mark.parametrize("n", [3, 9, 30])
def test_random_tree_with_a_distal_radius(n):
    """Truth: the smallest radius is exactly the one asked for, radii still taper and step down at
    junctions (the map r -> r_root (r/r_root)^p keeps the order), the root keeps 2 mm."""
    net = P.random_tree(n, seed=n, distal_radius_mm=0.1)
    assert min(v.radius_mm.min() for v in net.vessels.values()) == pytest.approx(0.1, rel=1e-12)
    assert net.vessels["V0"].radius_mm[0] == pytest.approx(2.0)
    for v in net.vessels.values():
        assert np.all(np.diff(v.radius_mm) <= 0)
        if v.parent is not None:
            assert v.radius_mm[0] <= net.vessels[v.parent].radius_mm[-1] + 1e-12
    with pytest.raises(InvalidInputError, match="distal_radius_mm"):
        P.random_tree(5, distal_radius_mm=0.0)


def test_narrow_puts_exact_lesions_into_a_network():
    """Truth: the MLD is (1 − DS)·r_ref(c) at the centre, the lesion stays inside its extent, the
    rest of the vessel keeps its radii; tandem lesions on one vessel; the lesions detected in the
    narrowed network are where they were put."""
    from ffrflow.meshing.stenosis import detect_lesions

    base = P.random_tree(9, seed=3, distal_radius_mm=0.1)
    v3 = base.vessels["V3"]
    specs = [P.LesionSpec("V1", 4.5, 4.0, 80.0), P.LesionSpec("V3", 4.0, 3.0, 95.0, "gaussian"),
             P.LesionSpec("V3", 9.5, 3.0, 60.0, "asymmetric")]
    ph = P.narrow(base, specs)
    assert [t["vessel"] for t in ph.lesions] == ["V1", "V3", "V3"]
    for t, sp in zip(ph.lesions, specs):
        v = ph.network.vessels[t["vessel"]]
        s = v.arclength_mm
        k = int(np.argmin(np.abs(s - sp.center_mm)))
        assert s[k] == pytest.approx(sp.center_mm, abs=1e-9)
        r_ref = np.interp(sp.center_mm, base.vessels[t["vessel"]].arclength_mm, base.vessels[t["vessel"]].radius_mm)
        assert v.radius_mm[k] == pytest.approx((1 - sp.ds_pct / 100) * r_ref, rel=1e-12)
        assert t["diameter_stenosis_pct"] == pytest.approx(sp.ds_pct)
    s3 = ph.network.vessels["V3"].arclength_mm
    outside = (s3 < 2.5 - 1e-9) | ((s3 > 5.5 + 1e-9) & (s3 < 8.6 - 1e-9)) | (s3 > 11.6 + 1e-9)
    np.testing.assert_allclose(ph.network.vessels["V3"].radius_mm[outside],
                               np.interp(s3[outside], v3.arclength_mm, v3.radius_mm), rtol=1e-12)
    given = ph.network_with_lesions()
    assert [len(given.vessels[v].lesions) for v in ("V1", "V3")] == [1, 2]
    found = detect_lesions(ph.network)       # the detector finds each lesion around its centre
    for vid, centres in (("V1", [4.5]), ("V3", [4.0, 9.5])):
        got = sorted(found.vessels[vid].lesions, key=lambda x: x.start_mm)
        assert len(got) == len(centres)
        for les, c in zip(got, centres):
            assert les.start_mm < c < les.end_mm
    with pytest.raises(InvalidInputError, match="V9"):
        P.narrow(base, [P.LesionSpec("V9", 4.0, 3.0, 50.0)])
    with pytest.raises(InvalidInputError, match="overlap"):
        P.narrow(base, [P.LesionSpec("V3", 4.0, 3.0, 50.0), P.LesionSpec("V3", 5.0, 3.0, 50.0)])
