"""Radius and lesion grade from binary masks on the grids CT makes: anisotropic voxels, sub-voxel
shifts, rotated scan frames; fine centerline sampling in lesions; the phantom voxeliser's lumen.

Truths: the phantom's exact radius r(s) and %DS (the network the mask is voxelised from), the exact
throat area π r_min², a known log-linear taper.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from ffrflow import phantoms
from ffrflow.meshing import mesh_mask
from ffrflow.meshing.io import mask_from_array
from ffrflow.meshing.stenosis import lesion_table, reference_radius
from ffrflow.meshing.voxelize import voxelize_array
from ffrflow.network import VesselNetwork
from ffrflow.phantoms import LesionSpec

ISO = (0.4, 0.4, 0.4)
ANISO = (0.35, 0.35, 0.6)


def _tube(radius: float, axis, length: float = 24.0, start=(0.0, 0.0, 0.0)) -> tuple[VesselNetwork, np.ndarray]:
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    pts = np.asarray(start, dtype=np.float64) + np.linspace(0.0, length, 97)[:, None] * axis
    net = VesselNetwork.from_dict({"format": "ffrflow-network/1", "units": "mm", "vessels": [
        {"id": "A", "parent": None, "points": pts.tolist(), "radius": [radius] * len(pts)}]})
    return net, axis


def _mask(net, spacing, shift_voxels=(0.0, 0.0, 0.0), direction=None):
    sp = np.asarray(spacing, dtype=np.float64)
    d = np.eye(3) if direction is None else np.asarray(direction)
    o0 = np.asarray(phantoms.voxelize(net, spacing_mm=sp, direction=d).GetOrigin())
    origin = o0 - d @ (sp * (1.0 - np.asarray(shift_voxels)))
    arr, origin, sp, d = voxelize_array(net, sp, 3.0, d, origin)
    return mask_from_array(arr, spacing_mm=sp, origin_mm=origin, direction=d)


def _mid_radius(res) -> float:
    """Median radius (mm) of the meshed vessel over its middle half (away from the end caps)."""
    v = next(iter(res.network.vessels.values()))
    s = v.arclength_mm
    sel = (s > 0.25 * s[-1]) & (s < 0.75 * s[-1])
    return float(np.median(v.radius_mm[sel]))


SHIFTS = [(0.0, 0.0, 0.0), (0.5, 0.25, 0.75), (0.25, 0.7, 0.4)]
#: Orientations to the image axes: 8° off the slice axis, 12° off an in-plane axis, oblique. (A tube exactly
#: along a grid axis sees the same voxel pattern in every slice, so its radius varies with the shift by
#: ±0.03 mm and its mean needs many shifts; a few degrees off, the tube averages over the pattern.)
AXES = {"slice axis": (0.12, 0.06, 1.0), "in plane": (1.0, 0.18, 0.12), "oblique": (1.0, 0.6, 0.3)}


@pytest.mark.parametrize("radius", [0.6, 1.2])
def test_tube_radius_unbiased_on_anisotropic_and_isotropic_grids(radius):
    """Truth: the tube's exact radius. The mean over three sub-voxel shifts and three orientations (along
    the slices, in plane, oblique) is within 0.015 mm at 0.4 mm and at 0.35 × 0.35 × 0.6 mm voxels, and
    the two voxel shapes agree within 0.015 mm in every orientation."""
    means = {}
    for spacing in (ISO, ANISO):
        for name, axis in AXES.items():
            net, _ = _tube(radius, axis)
            means[spacing, name] = np.mean([_mid_radius(mesh_mask(_mask(net, spacing, sh), lesions=False))
                                            for sh in SHIFTS])
        mean = np.mean([means[spacing, n] for n in AXES])
        assert abs(mean - radius) < 0.015, (spacing, means)
    for name in AXES:
        assert abs(means[ANISO, name] - means[ISO, name]) < 0.015, means


def test_tube_radius_invariant_under_scan_rotation():
    """Truth: rotating the scan frame (20° about the left-right axis, 15° about an oblique axis) does not
    change the lumen: the measured radius stays within 0.015 mm of the unrotated grid's and of the truth."""
    net, _ = _tube(0.9, (0.8, 0.5, 0.33))
    r = {}
    for name, rot in (("none", np.eye(3)), ("rx20", Rotation.from_rotvec(np.radians(20) * np.array([1, 0, 0]))),
                      ("obl15", Rotation.from_rotvec(np.radians(15) * np.array([0.3, 1.0, 0.5]) /
                                                     np.linalg.norm([0.3, 1.0, 0.5])))):
        d = rot if isinstance(rot, np.ndarray) else rot.as_matrix()
        r[name] = np.mean([_mid_radius(mesh_mask(_mask(net, ANISO, sh, d), lesions=False)) for sh in SHIFTS[:2]])
    assert all(abs(v - 0.9) < 0.015 for v in r.values()), r
    assert max(r.values()) - min(r.values()) < 0.015, r


def _lesion_tube(axis, shift=(0.0, 0.0, 0.0)):
    net, axis = _tube(1.5, axis, start=shift)
    return phantoms.narrow(net, [LesionSpec("A", center_mm=12.0, length_mm=6.0, ds_pct=65.0)]), axis


@functools.lru_cache(maxsize=None)
def _grade_errors(spacing):
    """%DS error (points) of the meshed 65 % lesion over three shifts and two orientations, with the
    location checks of :func:`test_lesion_grade_and_throat_on_ct_grids` applied on the way."""
    errs = []
    for axis in (AXES["slice axis"], AXES["oblique"]):
        for sh in SHIFTS:
            ph, ax = _lesion_tube(axis, shift=np.asarray(sh) * 0.3)
            res = mesh_mask(_mask(ph.network, spacing, sh))
            (les,) = lesion_table(res.network)
            errs.append(les["diameter_stenosis_pct"] - ph.lesions[0]["diameter_stenosis_pct"])
            assert np.linalg.norm(np.subtract(les["mld_xyz_mm"], ph.lesions[0]["mld_xyz_mm"])) < 0.75
            v = res.network.vessels[les["vessel"]]
            near = np.linalg.norm(v.points_mm - np.asarray(ph.lesions[0]["mld_xyz_mm"]), axis=1)
            assert near.min() < 0.1                     # a sample at the true throat (0.5 mm apart before)
            s = v.arclength_mm
            k = int(np.argmin(near))
            assert np.max(np.diff(s[max(k - 10, 0):k + 11])) <= 0.1 + 1e-6
    return np.array(errs)


@pytest.mark.parametrize("spacing, worst", [(ISO, 5.0), (ANISO, 6.0)], ids=["0.4", "0.35x0.35x0.6"])
def test_lesion_grade_and_throat_on_ct_grids(spacing, worst):
    """Truth: the phantom's 65 % DS (throat radius 0.525 mm) of a 6 mm lesion. Over three shifts and two
    orientations the measured %DS is within 2.5 points on average (no bias) and within 5 points every time
    at 0.4 mm; at 0.6 mm slices a 1.05 mm throat is 1.75 slices long and where the slices fall moves its
    grade by up to ±5.5 points (digitisation, not bias: the mean stays within 2.5); 6 points there is a
    regression guard, the ±5 target is :func:`test_lesion_grade_within_5_points_on_thick_slices`. The
    MLD is found within 0.75 mm of the true throat (the profile is within 0.04 mm of its minimum over
    ±0.4 mm), and the centerline is sampled every 0.1 mm within ±1 mm of the true throat (fine lesion
    sampling; 0.5 mm elsewhere), so a sample lies within 0.1 mm of it."""
    errs = _grade_errors(spacing)
    assert np.all(np.abs(errs) < worst), errs
    assert abs(errs.mean()) < 2.5, errs


@pytest.mark.xfail(strict=True, reason="known gap (docs/benchmarks.md, mask_ffr): at 0.6 mm slices the "
                   "grade of a 1.05 mm throat moves by up to 5.5 points with where the slices fall")
def test_lesion_grade_within_5_points_on_thick_slices():
    """Target: lesion %DS within ±5 points at 0.35 × 0.35 × 0.6 mm voxels, every shift and orientation."""
    errs = _grade_errors(ANISO)
    assert np.all(np.abs(errs) < 5.0), errs


def test_voxelised_steep_lesion_has_the_network_radius():
    """Truth: the exact throat area π r_min² of a short (3.2 mm) 65 % lesion whose radius falls by 0.85 mm
    per mm. At 0.1 mm voxels the mask's throat slice holds that area within 6 % (the spheres at the
    centerline joints used to fill it to twice the area: the mask's lesion was 56 %, not 65 %)."""
    net, _ = _tube(1.5, (0.0, 0.0, 1.0), length=16.0)
    ph = phantoms.narrow(net, [LesionSpec("A", center_mm=8.0, length_mm=3.2, ds_pct=65.0)])
    arr, origin, sp, _ = voxelize_array(ph.network, 0.1, 1.0, None, np.array([-3.0, -3.0, -3.0]))
    k = int(round((8.0 - origin[2]) / sp[2]))
    area = arr[k].sum() * sp[0] * sp[1]
    r_min = ph.lesions[0]["mld_mm"] / 2
    assert area == pytest.approx(np.pi * r_min ** 2, rel=0.06)
    # away from the lesion the tube keeps its full cross-section
    k0 = int(round((3.0 - origin[2]) / sp[2]))
    assert arr[k0].sum() * sp[0] * sp[1] == pytest.approx(np.pi * 1.5 ** 2, rel=0.02)


def test_reference_fit_weighs_millimetres_not_points():
    """Truth: the healthy taper r = 1.6 exp(−0.01 s) mm. With the lesion sampled every 0.1 mm and the
    rest every 0.5 mm (as meshing now samples), the reference fit recovers it within 1 %, as it does on
    the evenly sampled profile."""
    s_even = np.arange(0.0, 40.0 + 1e-9, 0.5)
    s_fine = np.unique(np.concatenate([s_even, np.arange(14.0, 26.0, 0.1)]))
    for s in (s_even, s_fine):
        healthy = 1.6 * np.exp(-0.01 * s)
        r = healthy * (1.0 - 0.6 * np.clip(1.0 - np.abs(s - 20.0) / 5.0, 0.0, None) ** 2)
        fit = reference_radius(s, r)
        assert np.max(np.abs(fit.radius_mm / healthy - 1.0)) < 0.01, fit.method
