"""The tetrahedral volume mesh: flat, labelled inlet and outlet faces cut at planes normal to the
centerline, the wall, and tetrahedra that fill the lumen (gmsh)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import vtk

from ffrflow import phantoms
from ffrflow.errors import BackendUnavailableError, MeshQualityError
from ffrflow.meshing import volume
from ffrflow.meshing.radius import SurfaceCutter
from ffrflow.meshing.surface import surface_report, tube_surface
from ffrflow.meshing.volume import (cap_surface, dihedral_angles, end_planes, read_volume_mesh,
                                    signed_volumes, tetrahedral_mesh, volume_mesh_available)

needs_gmsh = pytest.mark.skipif(not volume_mesh_available()[0], reason=volume_mesh_available()[1])

#: The smallest dihedral angle accepted in the phantom's mesh, degrees (no slivers; gmsh gives 6-12° here).
MIN_DIHEDRAL_DEG = 5.0


def test_the_meshing_extra_installs_a_working_gmsh():
    """Where the meshing extra is installed (kimimaro comes with it), gmsh is there and its library
    loads, so the volume-mesh tests below run rather than skip (``make test`` installs it)."""
    import kimimaro  # noqa: F401  (the meshing extra: a broken install fails here, never a skip)

    ok, why = volume_mesh_available()
    assert ok, why


def test_dihedral_angles_and_signed_volumes_of_known_tetrahedra():
    """Truth: a regular tetrahedron has all six dihedral angles arccos(1/3) = 70.53°; the corner
    tetrahedron (0, e1, e2, e3) has 90° along the three edges at the origin and arccos(1/√3) = 54.74°
    along the others, volume 1/6, and -1/6 with two vertices swapped."""
    reg = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float)
    corner = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    pts = np.concatenate([reg, corner])
    tets = np.array([[0, 1, 2, 3], [4, 5, 6, 7], [4, 6, 5, 7]])
    ang = dihedral_angles(pts, tets)
    np.testing.assert_allclose(ang[0], np.degrees(np.arccos(1 / 3)), atol=1e-9)
    edges = [(i, j) for i in range(4) for j in range(i + 1, 4)]
    want = [90.0 if 0 in e else np.degrees(np.arccos(1 / math.sqrt(3))) for e in edges]
    np.testing.assert_allclose(ang[1], want, atol=1e-9)
    np.testing.assert_allclose(ang[2], want, atol=1e-9)
    vol = signed_volumes(pts, tets)
    assert vol[1] == pytest.approx(1 / 6) and vol[2] == pytest.approx(-1 / 6)
    assert vol[0] == pytest.approx(-16 / 6)     # edge a = 2√2: a³/(6√2), this vertex order left-handed


@pytest.fixture(scope="module")
def right_tree_mesh(tmp_path_factory):
    """The right coronary phantom's swept surface (0.5 mm voxels) meshed with its own network."""
    if not volume_mesh_available()[0]:
        pytest.skip(volume_mesh_available()[1])
    net = phantoms.right_tree().network
    surf = tube_surface(net, voxel_mm=0.5)
    path = tmp_path_factory.mktemp("vol") / "volume.msh"
    info = tetrahedral_mesh(surf, net, path)
    return net, surf, path, info, read_volume_mesh(path)


@needs_gmsh
def test_every_inlet_and_outlet_has_its_labelled_flat_cap(right_tree_mesh):
    """Truth: the network's roots and terminal vessels. The file has one face per root
    (``inlet_<id>``) and per outlet (``outlet_<id>``), the wall and the volume, nothing else; each
    cap lies on a plane through the centerline, normal to it within 2°, inside the vessel; its area
    is within 3 % of the lumen's own cross-section there (the swept surface cut by that plane:
    the remeshed cap's polygon loses a little to its chords)."""
    net, surf, _, info, m = right_tree_mesh
    want = {f"inlet_{v}" for v in net.roots} | {f"outlet_{v}" for v in net.outlets}
    assert len(want) == 5
    assert set(m["faces"]) == want | {"wall"} and m["volumes"] == ["lumen"]
    cutter = SurfaceCutter(surf)
    by_name = {c["name"]: c for c in info["caps"]}
    for name in want:
        kind, vid = name.split("_", 1)
        v = net.vessels[vid]
        end = v.points_mm[0] if kind == "inlet" else v.points_mm[-1]
        tris = m["faces"][name]
        assert len(tris) >= 20
        p = m["points"][tris]
        n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
        area = 0.5 * np.linalg.norm(n, axis=1).sum()
        n_mean = n.sum(axis=0) / np.linalg.norm(n.sum(axis=0))
        c = p.reshape(-1, 3).mean(axis=0)
        assert np.abs((p.reshape(-1, 3) - c) @ n_mean).max() < 1e-6                          # flat
        # the centerline through the cap: the nearest centerline point lies on the cap's plane
        d = np.linalg.norm(v.points_mm - c, axis=1)
        k = int(np.argmin(d))
        assert abs((v.points_mm[k] - c) @ n_mean) < 0.3 and d[k] < 0.3
        tangent = v.points_mm[min(k + 2, len(d) - 1)] - v.points_mm[max(k - 2, 0)]
        assert abs(n_mean @ tangent) / np.linalg.norm(tangent) > math.cos(math.radians(2.0))
        assert np.linalg.norm(end - c) < 2.0 * by_name[name]["radius_mm"]                     # at its end
        cut = cutter.cut(c, n_mean, 3.0 * by_name[name]["radius_mm"])
        assert cut.ok and area == pytest.approx(cut.area_mm2, rel=0.03)
        assert by_name[name]["area_mm2"] == pytest.approx(area, rel=1e-9)


@needs_gmsh
def test_tetrahedra_are_valid_and_fill_the_capped_lumen(right_tree_mesh):
    """No inverted or flat tetrahedron (every signed volume > 0), the smallest dihedral angle above
    5°, and the tetrahedra's total volume within 2 % of the volume that the capped surface encloses
    (vtkMassProperties on the surface cut and capped at the same planes)."""
    net, surf, _, info, m = right_tree_mesh
    vol = signed_volumes(m["points"], m["tetrahedra"])
    assert len(vol) == info["tetrahedra"] > 10_000
    assert (vol > 0).all()
    ang = dihedral_angles(m["points"], m["tetrahedra"])
    assert ang.min() > MIN_DIHEDRAL_DEG
    assert ang.min() == pytest.approx(info["min_dihedral_deg"], abs=1e-6)
    capped, _ = cap_surface(surf, end_planes(net))
    assert surface_report(capped)["watertight"]
    mp = vtk.vtkMassProperties()
    mp.SetInputData(capped)
    mp.Update()
    assert vol.sum() == pytest.approx(mp.GetVolume(), rel=0.02)
    # every boundary triangle of the tetrahedra is a labelled face, and every labelled face bounds them
    faces = np.sort(np.concatenate([m["tetrahedra"][:, [1, 2, 3]], m["tetrahedra"][:, [0, 2, 3]],
                                    m["tetrahedra"][:, [0, 1, 3]], m["tetrahedra"][:, [0, 1, 2]]]), axis=1)
    uniq, cnt = np.unique(faces, axis=0, return_counts=True)
    assert cnt.max() == 2
    labelled = np.sort(np.concatenate(list(m["faces"].values())), axis=1)
    assert len(labelled) == (cnt == 1).sum()
    assert {tuple(f) for f in uniq[cnt == 1]} == {tuple(f) for f in labelled}


@needs_gmsh
def test_an_end_that_cannot_be_capped_is_refused(tmp_path):
    """A network that does not run through the surface (shifted 20 mm): the inlet plane cuts
    nothing off; a MeshQualityError names the vessel and no file is written."""
    net = phantoms.right_tree().network
    surf = tube_surface(net, voxel_mm=0.6)
    shifted = net.from_dict({**net.to_dict(), "vessels": [
        {**v, "points": (np.asarray(v["points"]) + [20.0, 0.0, 0.0]).tolist()} for v in net.to_dict()["vessels"]]})
    with pytest.raises(MeshQualityError, match="RCA_p"):
        tetrahedral_mesh(surf, shifted, tmp_path / "v.msh")
    assert list(tmp_path.iterdir()) == []


def test_missing_gmsh_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(volume, "volume_mesh_available",
                        lambda: (False, "no tetrahedral mesher: gmsh is not installed"))
    with pytest.raises(BackendUnavailableError, match="gmsh"):
        tetrahedral_mesh(None, None, tmp_path / "v.msh")
    assert list(tmp_path.iterdir()) == []


@needs_gmsh
def test_two_separate_trees_are_two_volumes(tmp_path):
    """Left and right coronary trees are two closed shells: each becomes its own volume (one volume
    with both shells would read the second as a hole and gmsh fails). Two parallel tubes 12 mm apart:
    each end labelled, every tetrahedron positive, the volume within 2 % of the capped surfaces', and
    each tube's tetrahedra within 8 % of its cylinder between the caps, π r² (16 mm − 2 r) (the caps sit
    one radius inside each end; the 0.4 mm voxel surface and the remeshed chords make it 2-4 % small)."""
    from ffrflow.network import VesselNetwork

    net = VesselNetwork.from_dict({"format": "ffrflow-network/1", "units": "mm", "vessels": [
        {"id": "L", "parent": None, "points": [[0, 0, 0], [0, 0, 16]], "radius": [1.2, 1.2]},
        {"id": "R", "parent": None, "points": [[12, 0, 0], [12, 0, 16]], "radius": [1.0, 1.0]}]})
    surf = tube_surface(net, voxel_mm=0.4)
    assert surface_report(surf)["regions"] == 2
    info = tetrahedral_mesh(surf, net, tmp_path / "two.msh")
    m = read_volume_mesh(tmp_path / "two.msh")
    assert set(m["faces"]) == {"inlet_L", "outlet_L", "inlet_R", "outlet_R", "wall"}
    vol = signed_volumes(m["points"], m["tetrahedra"])
    assert (vol > 0).all() and ang_min(m) > MIN_DIHEDRAL_DEG
    assert vol.sum() == pytest.approx(info["surface_volume_mm3"], rel=0.02)
    centroid_x = m["points"][m["tetrahedra"]].mean(axis=1)[:, 0]
    for x0, r in ((0.0, 1.2), (12.0, 1.0)):          # each tube filled by its own tetrahedra
        mine = np.abs(centroid_x - x0) < 3.0
        assert vol[mine].sum() == pytest.approx(math.pi * r ** 2 * (16.0 - 2 * r), rel=0.08)
    assert np.all((np.abs(centroid_x) < 3.0) | (np.abs(centroid_x - 12.0) < 3.0))


def ang_min(m) -> float:
    return float(dihedral_angles(m["points"], m["tetrahedra"]).min())
