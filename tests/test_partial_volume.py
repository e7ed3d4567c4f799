"""The lumen area of a partial-volume map by windowed integration (ffrflow.meshing.partial_volume;
docs/physics.md, "Lumen radius from a probability map")."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import SimpleITK as sitk

from ffrflow import phantoms
from ffrflow.meshing import lesion_records, mesh
from ffrflow.meshing.io import load_image
from ffrflow.meshing.partial_volume import section_areas, window_sums_reference
from ffrflow.meshing.radius import tangents
from ffrflow.network import VesselNetwork

from _helpers import capsule


_capsule = functools.partial(capsule, n=48)


def _load(net, spacing, tmp_path, name, origin_shift=(0.0, 0.0, 0.0), direction=None):
    sp = np.broadcast_to(np.asarray(spacing, float), (3,))
    kw = {} if direction is None else {"direction": direction}
    o0 = np.asarray(phantoms.voxelize(net, sp, **kw).GetOrigin())
    dmat = np.eye(3) if direction is None else np.asarray(direction)
    img = phantoms.voxelize(net, sp, origin_mm=o0 - dmat @ (sp * np.asarray(origin_shift)), partial_volume=True, **kw)
    return load_image(phantoms.write_mask(img, tmp_path / f"{name}.nii.gz"), threshold=0.5)


@pytest.mark.parametrize("spacing", [0.4, (0.35, 0.35, 0.6), (0.45, 0.45, 0.625)])
@pytest.mark.parametrize("r", [0.4, 0.6, 1.2])
def test_windowed_area_of_a_straight_tube_is_its_cross_section(tmp_path, spacing, r):
    """Truth: a straight tube of radius r has cross-section area π r² everywhere along it, whatever the
    voxel shape, the tube's orientation (oblique, and 22° off the slice axis) and the grid's sub-voxel
    position, down to a tube of one voxel in radius. (A tube exactly along a grid axis is left out: there
    the voxeliser's 5³ sub-samples are a regular lattice in every cross-section and the map holds the
    lattice count of the disc, a few % off π r² at r = 0.4 mm, not the area.)

    Tolerance: the map's fractions are midpoint sums over 5³ sub-samples (an error of at most 1/10 of a
    voxel per boundary voxel, of either sign) and the window sums to one within 0.3 % off a lattice
    line: 1 % of the area (0.5 % of the radius) in the mean over the tube's middle, 4 % at any point."""
    for k, (direction, shift) in enumerate((((1.0, 0.7, 0.4), (0.0, 0.0, 0.0)), ((0.25, 0.3, 1.0), (0.31, 0.77, 0.5)),
                                            ((0.2, -1.0, 0.3), (0.6, 0.1, 0.9)))):
        net, p0, d = _capsule(r, 30.0, direction)
        m = _load(net, spacing, tmp_path, f"t{k}", shift)
        s = np.linspace(6.0, 24.0, 37)
        pts = p0 + s[:, None] * d
        area, ok = section_areas(m, pts, np.tile(d, (len(s), 1)), np.full(len(s), r))
        assert ok.all()
        rel = area / (np.pi * r * r) - 1.0
        assert abs(rel.mean()) <= 0.01, (direction, rel.mean())
        assert np.abs(rel).max() <= 0.04, (direction, np.abs(rel).max())


def test_a_neighbour_inside_the_cap_is_refused(tmp_path):
    """Truth: the windowed volume is the lumen's only when the cap holds one lumen. Two parallel tubes
    of radius 0.8 mm whose walls are 0.5 mm apart: the cap round one axis reaches the other tube, so
    the point is refused (the contoured radius is kept there); a single tube is accepted."""
    d = np.array([0.3, 1.0, 0.2])
    d /= np.linalg.norm(d)
    side = np.cross(d, [0.0, 0.0, 1.0])
    side /= np.linalg.norm(side)
    a = [list(np.array([1.0, 0.0, 0.0]) + d * 16.0 * k / 8) for k in range(9)]
    b = [list(np.array([1.0, 0.0, 0.0]) + 2.1 * side + d * 16.0 * k / 8) for k in range(9)]
    two = VesselNetwork.from_dict({"format": "ffrflow-network/1", "units": "mm", "vessels": [
        {"id": "A", "parent": None, "points": a, "radius": [0.8] * 9},
        {"id": "B", "parent": None, "points": b, "radius": [0.8] * 9}]})
    one = VesselNetwork.from_dict({"format": "ffrflow-network/1", "units": "mm", "vessels": [
        {"id": "A", "parent": None, "points": a, "radius": [0.8] * 9}]})
    p = np.array(a[4])[None, :]
    for net, expect in ((two, False), (one, True)):
        m = _load(net, 0.4, tmp_path, f"n{int(expect)}")
        _, ok = section_areas(m, p, d[None, :], np.array([0.8]))
        assert bool(ok[0]) is expect


@pytest.mark.parametrize("spacing", [0.4, (0.35, 0.35, 0.6)])
def test_throat_of_a_short_severe_lesion_from_a_probability_map(tmp_path, spacing):
    """Truth: the phantom's exact minimal lumen diameter. A 3 mm long 60 % cosine lesion (a 0.48 mm
    throat radius, 1.2 voxels) on an oblique vessel, meshed from its exact partial-volume map: the
    minimal radius is within 3 % of the truth (0.015 mm) and the %DS within 2 points, at three grid
    positions. The contoured iso-surface alone read such throats 0.04–0.08 mm wide."""
    net, _, _ = _capsule(1.2, 20.0, (1.0, 0.6, 0.35), n=40)
    ph = phantoms.narrow(net, [phantoms.LesionSpec("A", center_mm=9.0, length_mm=3.0, ds_pct=60.0)])
    (truth,) = ph.lesions
    for k, shift in enumerate(((0.0, 0.0, 0.0), (0.5, 0.25, 0.75), (0.8, 0.6, 0.3))):
        sp = np.broadcast_to(np.asarray(spacing, float), (3,))
        o0 = np.asarray(phantoms.voxelize(ph.network, sp).GetOrigin())
        img = phantoms.voxelize(ph.network, sp, origin_mm=o0 - sp * np.asarray(shift), partial_volume=True)
        res = mesh(phantoms.write_mask(img, tmp_path / f"l{k}.nii.gz"), threshold=0.5)
        (v,) = res.network.vessels.values()
        r_min = float(v.radius_mm.min())
        assert abs(r_min - 0.5 * truth["mld_mm"]) <= 0.03 * 0.5 * truth["mld_mm"], (shift, r_min, truth["mld_mm"])
        (les,) = lesion_records(res)
        assert abs(les["diameter_stenosis_pct"] - truth["diameter_stenosis_pct"]) <= 2.0
        assert res.centerline_info["radius"]["partial_volume"]["replaced"] > 0


def test_numba_window_sums_equal_the_numpy_reference(tmp_path):
    """Truth: the NumPy reference of the windowed sums; the compiled kernel is the same arithmetic
    (to round-off: 1e-12 relative) at points on and off a tube, on an oblique anisotropic grid."""
    net, p0, d = _capsule(0.7, 20.0, (1.0, 0.5, 0.8))
    m = _load(net, (0.35, 0.35, 0.6), tmp_path, "parity", (0.2, 0.7, 0.4))
    s = np.linspace(2.0, 18.0, 9)
    pts = p0 + s[:, None] * d + np.array([0.1, -0.2, 0.15])
    tg = tangents(pts)
    a1, ok1 = section_areas(m, pts, tg, np.full(len(s), 0.7))
    a2, ok2 = section_areas(m, pts, tg, np.full(len(s), 0.7), sums=window_sums_reference)
    assert np.array_equal(ok1, ok2) and ok1.any()
    np.testing.assert_allclose(a1[ok1], a2[ok2], rtol=1e-12)


def test_a_sub_voxel_throat_does_not_cut_a_probability_map(tmp_path):
    """Truth: the phantom is one tree. A 75 % Gaussian lesion with a 0.24 mm throat radius (half a voxel
    at 0.45 × 0.45 × 0.625 mm) keeps the partial-volume fractions along its axis below 0.5, so
    ``p ≥ 0.5`` falls apart there; the pieces are joined through the voxels of ``p ≥ 0.25`` between
    them, the tree is meshed as one vessel and its throat is read from the fractions within 5 %
    (12 µm). Two tubes 3 mm apart are not joined."""
    from ffrflow.meshing.mask import _components

    net, _, _ = _capsule(0.95, 24.0, (1.0, 0.45, 0.3), n=48)
    ph = phantoms.narrow(net, [phantoms.LesionSpec("A", center_mm=12.0, length_mm=6.0, ds_pct=75.0,
                                                   shape="gaussian")])
    (truth,) = ph.lesions
    sp = np.array([0.45, 0.45, 0.625])
    img = phantoms.voxelize(ph.network, sp, partial_volume=True)
    arr = sitk.GetArrayFromImage(img)
    assert _components(arr >= 0.5)[1].size > 2, "the test needs a throat that cuts p >= 0.5"
    path = phantoms.write_mask(img, tmp_path / "cut.nii.gz")
    m = load_image(path, threshold=0.5)
    assert m.n_trees == 1
    res = mesh(path, threshold=0.5)
    assert len(res.network.vessels) == 1
    (v,) = res.network.vessels.values()
    assert abs(float(v.radius_mm.min()) - 0.5 * truth["mld_mm"]) <= 0.05 * 0.5 * truth["mld_mm"]

    d = np.array([1.0, 0.2, 0.1])
    two = VesselNetwork.from_dict({"format": "ffrflow-network/1", "units": "mm", "vessels": [
        {"id": "A", "parent": None, "points": [[0.0, 0.0, 0.0], list(16.0 * d)], "radius": [1.0, 1.0]},
        {"id": "B", "parent": None, "points": [[0.0, 5.0, 0.0], list(16.0 * d + [0.0, 5.0, 0.0])],
         "radius": [1.0, 1.0]}]})
    m2 = load_image(phantoms.write_mask(phantoms.voxelize(two, 0.4, partial_volume=True), tmp_path / "two.nii.gz"),
                    threshold=0.5)
    assert m2.n_trees == 2
