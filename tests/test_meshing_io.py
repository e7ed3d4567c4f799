"""Reading masks and surfaces: geometry kept, trees kept, specks dropped, bad input named."""

from __future__ import annotations

import os
import re
import time

import numpy as np
import pytest
import SimpleITK as sitk
import vtk

from ffrflow.errors import InvalidInputError
from ffrflow.meshing.io import (euler_characteristic, load_image, load_surface,
                                mask_from_surface)


def _rotation(ax_deg, ay_deg, az_deg):
    ax, ay, az = np.radians([ax_deg, ay_deg, az_deg])
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _tube_array(shape=(40, 30, 30), radius=4.0, value=1):
    """A straight tube along z (array order z, y, x) of the given radius in voxels."""
    z, y, x = np.mgrid[:shape[0], :shape[1], :shape[2]]
    a = np.zeros(shape, np.uint8)
    a[((x - shape[2] / 2) ** 2 + (y - shape[1] / 2) ** 2 <= radius ** 2) & (z > 2) & (z < shape[0] - 3)] = value
    return a


def _write(arr, path, spacing=(0.4, 0.4, 0.4), origin=(0.0, 0.0, 0.0), direction=None):
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    if direction is not None:
        img.SetDirection(tuple(np.asarray(direction, float).ravel()))
    sitk.WriteImage(img, str(path), True)
    return path


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_geometry_is_kept(tmp_path, suffix):
    d = _rotation(10, -25, 40)
    p = _write(_tube_array(), tmp_path / f"m{suffix}", spacing=(0.35, 0.35, 0.6), origin=(-12.5, 30.0, 101.0),
               direction=d)
    m = load_image(p)
    assert np.allclose(m.spacing_mm, [0.35, 0.35, 0.6])
    assert np.allclose(m.origin_mm, [-12.5, 30.0, 101.0], atol=1e-4)
    assert np.allclose(m.direction, d, atol=1e-5)
    assert m.size == (30, 30, 40)
    assert m.n_trees == 1 and m.voxels_dropped == 0
    # index ↔ world round trip, and the crop offset points at the first lumen voxel
    ijk = np.array([[3.0, 4.0, 5.0], [10.5, 2.0, 7.25]])
    assert np.allclose(m.world_to_index(m.index_to_world(ijk)), ijk)
    img = sitk.ReadImage(str(p))
    first = [int(v) for v in m.offset]
    assert np.allclose(m.index_to_world(m.offset), img.TransformIndexToPhysicalPoint(first), atol=1e-4)


def test_dicom_series_folder(tmp_path):
    d = _rotation(0, 15, -30)
    arr = _tube_array(shape=(20, 24, 24), radius=3.0)
    img = sitk.GetImageFromArray(arr.astype(np.uint16))
    img.SetSpacing((0.5, 0.5, 0.8))
    img.SetOrigin((5.0, -7.0, 20.0))
    img.SetDirection(tuple(d.ravel()))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    uid = "1.2.826.0.1.3680043.2.1125.7.%d" % int(time.time())
    dc = img.GetDirection()
    for k in range(img.GetDepth()):
        sl = img[:, :, k]
        sl.SetMetaData("0008|0060", "CT")
        sl.SetMetaData("0020|000e", uid)
        sl.SetMetaData("0020|000d", uid + ".0")
        sl.SetMetaData("0008|0018", f"{uid}.{k + 1}")
        sl.SetMetaData("0020|0037", "\\".join(map(str, (dc[0], dc[3], dc[6], dc[1], dc[4], dc[7]))))
        sl.SetMetaData("0020|0032", "\\".join(map(str, img.TransformIndexToPhysicalPoint((0, 0, k)))))
        sl.SetMetaData("0020|0013", str(k))
        sl.SetMetaData("0010|0010", "Doe^Jane")        # a patient name that must not come out
        writer.SetFileName(str(tmp_path / f"s{k:03d}.dcm"))
        writer.Execute(sl)
    m = load_image(tmp_path)
    assert np.allclose(m.spacing_mm, [0.5, 0.5, 0.8], atol=1e-4)
    assert np.allclose(m.origin_mm, [5.0, -7.0, 20.0], atol=1e-3)
    assert np.allclose(m.direction, d, atol=1e-5)
    assert "Doe" not in repr(m.info())


def test_label_selection_and_specks(tmp_path):
    arr = _tube_array(value=2)
    arr[_tube_array(radius=2.0).astype(bool)] = 3     # an inner label
    arr[0, 0, 0] = 1                                   # a speck of another label
    p = _write(arr, tmp_path / "labels.nii.gz")
    m_all = load_image(p)
    assert m_all.n_trees == 1 and m_all.voxels_dropped == 1
    m3 = load_image(p, label=3)
    assert m3.components[0]["voxels"] == int((arr == 3).sum())
    with pytest.raises(InvalidInputError, match=r"labels\.nii\.gz: label 7 is not present"):
        load_image(p, label=7)


def test_two_trees_kept_surplus_dropped(tmp_path):
    arr = np.zeros((40, 60, 30), np.uint8)
    arr[:, :30][_tube_array(shape=(40, 30, 30), radius=4.0).astype(bool)] = 1
    arr[:, 30:][_tube_array(shape=(40, 30, 30), radius=3.0).astype(bool)] = 1
    arr[5:8, 0:3, 0:3] = 1                               # a 27-voxel blob: 1.7 mm³, a speck
    p = _write(arr, tmp_path / "two.mha")
    m = load_image(p)
    assert m.n_trees == 2
    assert m.voxels_dropped == 27
    assert m.components[0]["voxels"] > m.components[1]["voxels"]
    m1 = load_image(p, max_trees=1)
    assert m1.n_trees == 1 and m1.voxels_dropped == 27 + m.components[1]["voxels"]


def test_euler_characteristic():
    cube = np.ones((5, 5, 5), bool)
    assert euler_characteristic(cube) == 1
    shell = cube.copy()
    shell[1:4, 1:4, 1:4] = False                          # a cavity: χ = 2
    assert euler_characteristic(shell) == 2
    ring = np.zeros((3, 7, 7), bool)
    ring[1, 1:6, 1:6] = True
    ring[1, 2:5, 2:5] = False                             # a torus: χ = 0
    assert euler_characteristic(ring) == 0
    diag = np.zeros((2, 2, 2), bool)
    diag[0, 0, 0] = diag[1, 1, 1] = True                  # corner-touching voxels are one piece
    assert euler_characteristic(diag) == 1


def test_euler_window_count_matches_the_cell_count():
    """The compiled 2x2x2-window count against the NumPy count of vertices, edges, faces and cubes, on
    random masks of every density (tunnels, cavities, many pieces) and on a phantom tree."""
    from ffrflow.meshing.io import euler_characteristic_reference

    rng = np.random.default_rng(7)
    values = set()
    for _ in range(150):
        m = rng.random(tuple(rng.integers(1, 14, 3))) < rng.random()
        chi = euler_characteristic(m)
        assert chi == euler_characteristic_reference(m)
        values.add(chi)
    assert min(values) < 0 < max(values) and len(values) > 20
    import SimpleITK as sitk

    from ffrflow import phantoms

    tree = sitk.GetArrayFromImage(phantoms.voxelize(phantoms.right_tree().network, 0.5)) > 0
    assert euler_characteristic(tree) == euler_characteristic_reference(tree) == 1


# ------------------------------------------------------------------------------------------ bad input
def test_missing_file(tmp_path):
    with pytest.raises(InvalidInputError, match=r"nope\.nii\.gz: no such file"):
        load_image(tmp_path / "nope.nii.gz")


@pytest.mark.parametrize("name", ["notes.nii.gz", "notes.nrrd", "notes.txt"])
def test_non_image_file(tmp_path, name):
    p = tmp_path / name
    p.write_text("this is not an image\n")
    with pytest.raises(InvalidInputError, match=re.escape(name) + ": not an image"):
        load_image(p)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_truncated_nifti(tmp_path, suffix):
    p = _write(_tube_array(), tmp_path / f"full{suffix}")
    data = p.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidInputError, match=r"cut\.nii(\.gz)?: truncated"):
        load_image(cut)
    head = tmp_path / f"head{suffix}"
    head.write_bytes(data[:100])
    with pytest.raises(InvalidInputError, match=r"head\.nii(\.gz)?: (truncated|not an image)"):
        load_image(head)


def test_empty_mask(tmp_path):
    p = _write(np.zeros((10, 10, 10), np.uint8), tmp_path / "empty.nii.gz")
    with pytest.raises(InvalidInputError, match=r"empty\.nii\.gz: empty mask"):
        load_image(p)


@pytest.mark.parametrize("density", [0.05, 0.3, 0.6])
def test_noise_mask(tmp_path, density):
    rng = np.random.default_rng(1)
    p = _write((rng.random((60, 60, 60)) < density).astype(np.uint8), tmp_path / "noise.nii.gz")
    with pytest.raises(InvalidInputError, match=r"noise\.nii\.gz: the mask looks like noise"):
        load_image(p)


def test_not_a_volume(tmp_path):
    img = sitk.GetImageFromArray(np.ones((20, 20), np.uint8))
    p = tmp_path / "slice.nii.gz"
    sitk.WriteImage(img, str(p))
    with pytest.raises(InvalidInputError, match=r"slice\.nii\.gz: expected a 3D volume"):
        load_image(p)


# ------------------------------------------------------------------------------------------ surfaces
def _sphere_surface(radius=5.0):
    src = vtk.vtkSphereSource()
    src.SetRadius(radius)
    src.SetThetaResolution(24)
    src.SetPhiResolution(24)
    src.Update()
    return src.GetOutput()


@pytest.mark.parametrize("suffix", [".stl", ".vtp", ".obj"])
def test_load_surface_formats(tmp_path, suffix):
    poly = _sphere_surface()
    p = tmp_path / f"s{suffix}"
    if suffix == ".obj":
        w = vtk.vtkOBJWriter()
    elif suffix == ".stl":
        w = vtk.vtkSTLWriter()
    else:
        w = vtk.vtkXMLPolyDataWriter()
    w.SetFileName(str(p))
    w.SetInputData(poly)
    w.Write()
    out, info = load_surface(p)
    assert info["triangles"] == poly.GetNumberOfPolys()
    assert not info["scaled_from_m"]
    assert np.allclose(out.GetBounds(), poly.GetBounds(), atol=1e-4)


def test_surface_in_metres_is_scaled(tmp_path, caplog):
    poly = _sphere_surface(radius=0.005)           # 5 mm written in metres
    w = vtk.vtkSTLWriter()
    p = tmp_path / "metres.stl"
    w.SetFileName(str(p))
    w.SetInputData(poly)
    w.Write()
    with caplog.at_level("WARNING", logger="ffrflow.meshing"):
        out, info = load_surface(p)
    assert info["scaled_from_m"]
    assert "metres" in caplog.text
    assert np.allclose(out.GetBounds(), 1000.0 * np.asarray(poly.GetBounds()), atol=1e-3)


def test_bad_surfaces(tmp_path):
    with pytest.raises(InvalidInputError, match=r"gone\.stl: no such file"):
        load_surface(tmp_path / "gone.stl")
    bad = tmp_path / "bad.vtp"
    bad.write_text("<not vtk>")
    with pytest.raises(InvalidInputError, match=r"bad\.vtp: not a readable VTP surface"):
        load_surface(bad)
    (tmp_path / "x.ply").write_text("ply")
    with pytest.raises(InvalidInputError, match=r"x\.ply: unknown surface format"):
        load_surface(tmp_path / "x.ply")


def test_mask_from_surface_volume():
    poly = _sphere_surface(radius=4.0)
    m = mask_from_surface(poly, voxel_mm=0.25)
    vol = m.components[0]["volume_mm3"]
    mp = vtk.vtkMassProperties()
    mp.SetInputData(poly)
    assert vol == pytest.approx(mp.GetVolume(), rel=0.03)
    assert os.fspath(m.source) == "<surface>"
