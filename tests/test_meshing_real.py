"""Real coronary centerline trees (BlueFern DBiharMesher test data, GPL-2.0: kept outside the
repository, in the external data folder of :mod:`ffrflow._datapaths`; these tests skip, naming that
folder, when it is absent).

They are read as networks (legacy VTK polylines with a ``radii`` array), swept into a tube surface
and into a voxel mask at 0.4 mm, and meshed back: the tree, its centerlines and its radii must come
back within the meshing targets (centerline within half a 0.4 mm voxel); the lesion table runs on
every version.
"""

from __future__ import annotations

import numpy as np
import pytest
import vtk

import ffrflow
from ffrflow import phantoms
from ffrflow.errors import InvalidInputError
from ffrflow.meshing import centerline_polydata, mesh
from ffrflow.meshing.compare import compare_networks
from ffrflow.meshing.io import load_centerlines, polydata_kind
from ffrflow.meshing.stenosis import detect_lesions, lesion_table
from ffrflow.meshing.surface import tube_surface, write_surface
from ffrflow.network import TOUCH_TOLERANCE_MM
from ffrflow.vtkio import write_polydata

from _helpers import BLUEFERN as REAL
from _helpers import needs_bluefern

pytestmark = needs_bluefern
TREES = {"227A_Centreline.vtk": (7, 4, 739), "721A_Centreline.vtk": (3, 2, 357)}


def _file_points(path):
    r = vtk.vtkPolyDataReader()
    r.SetFileName(str(path))
    r.Update()
    from vtk.util.numpy_support import vtk_to_numpy

    pd = r.GetOutput()
    return vtk_to_numpy(pd.GetPoints().GetData()).astype(float), vtk_to_numpy(pd.GetPointData().GetArray("radii"))


@pytest.mark.parametrize("name", sorted(TREES))
def test_read_as_a_network(name, tmp_path):
    n_vessels, n_outlets, n_points = TREES[name]
    path = REAL / name
    assert polydata_kind(path) == "centerlines"
    net = ffrflow.load(path)                       # the notebook API reads VTK centerlines too
    assert len(net.vessels) == n_vessels and len(net.outlets) == n_outlets and len(net.roots) == 1
    root = net.vessels[net.roots[0]]
    assert np.allclose(root.points_mm[0], 0.0)     # the files start at their ostium, the origin
    for v in net.vessels.values():
        if v.parent is not None:
            assert np.linalg.norm(v.points_mm[0] - net.vessels[v.parent].points_mm[-1]) <= TOUCH_TOLERANCE_MM
    # every point of the file is in the network with its radius (junction points shared)
    pts, rad = _file_points(path)
    allp = np.concatenate([v.points_mm for v in net.vessels.values()])
    allr = np.concatenate([v.radius_mm for v in net.vessels.values()])
    assert len(allp) == n_points + (n_vessels - 1)      # a child repeats its junction point
    from scipy.spatial import cKDTree

    d, i = cKDTree(allp).query(pts)
    assert d.max() < 1e-9 and np.allclose(allr[i], rad)
    # round trip through our own VTP centerlines (point array radius_mm)
    p = write_polydata(centerline_polydata(net), tmp_path / "centerlines.vtp")
    back = load_centerlines(p)
    assert len(back.vessels) == n_vessels
    assert compare_networks(back, net).summary()["centerline_median_mm"] < 1e-9


def test_centerline_files_that_are_not_trees_are_refused(tmp_path):
    from ffrflow.vtkio import polylines_to_polydata

    tri = [np.array([[0, 0, 0], [10, 0, 0]]), np.array([[10, 0, 0], [5, 8, 0]]), np.array([[5, 8, 0], [0, 0, 0]])]
    p = write_polydata(polylines_to_polydata(tri, {"radius": [np.ones(2)] * 3}), tmp_path / "loop.vtp")
    with pytest.raises(InvalidInputError, match=r"loop\.vtp: the polylines form a closed loop"):
        load_centerlines(p)
    p = write_polydata(polylines_to_polydata(tri[:1], {"thickness": [np.ones(2)]}), tmp_path / "norad.vtp")
    with pytest.raises(InvalidInputError, match=r"norad\.vtp: no radius array"):
        load_centerlines(p)


@pytest.fixture(scope="module", params=sorted(TREES))
def real(request):
    return request.param, load_centerlines(REAL / request.param)


@pytest.mark.parametrize("kind", ["mask", "surface"])
def test_swept_real_trees_mesh_back(real, kind, tmp_path):
    """Real tree shapes through the whole meshing pipeline: same tree, centerline and radius back."""
    name, ref = real
    n_vessels, n_outlets, _ = TREES[name]
    if kind == "mask":
        src = phantoms.write_mask(phantoms.voxelize(ref, spacing_mm=0.4), tmp_path / "real.nii.gz")
    else:
        src = write_surface(tube_surface(ref, voxel_mm=0.3), tmp_path / "real.stl")
    res = mesh(src)
    net = res.network
    assert len(net.vessels) == n_vessels and len(net.outlets) == n_outlets and len(net.roots) == 1
    cmp = compare_networks(net, ref)
    assert not cmp.missing_outlets and not cmp.invented_outlets
    nodes = np.array([v.points_mm[0] for v in ref.vessels.values()] + [ref.vessels[o].points_mm[-1]
                                                                        for o in ref.outlets])
    far = np.min(np.linalg.norm(cmp.points_mm[:, None] - nodes[None], axis=2), axis=1) > 4.0
    s = cmp.summary(far)
    assert cmp.summary()["centerline_median_mm"] < 0.5 * 0.4
    assert s["centerline_median_mm"] < 0.1 and s["radius_median_abs_error_mm"] < 0.05   # measured ~0.04 / ~0.015
    assert abs(s["radius_median_error_mm"]) < 0.03                                      # no systematic bias
    # the lesion table runs on the meshed tree and on the file's own radii
    for table in (lesion_table(net), lesion_table(detect_lesions(ref))):
        for les in table:
            assert les["diameter_stenosis_pct"] >= 30.0 and les["length_mm"] > 0
            assert les["vessel"] in (net.vessels if les["vessel"] in net.vessels else ref.vessels)
