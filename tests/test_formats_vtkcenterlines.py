"""VMTK centerlines and VTK polylines with a radius array → network."""

from __future__ import annotations

import numpy as np
import pytest

from ffrflow.errors import InvalidInputError
from ffrflow.formats.vtkcenterlines import read_centerlines

from _helpers import BLUEFERN, needs_bluefern, write_centerlines_vtp, y_centerlines


def test_raw_vmtk_centerlines_are_merged_where_they_overlap(tmp_path):
    lines, radii = y_centerlines(offset=0.05)
    p = write_centerlines_vtp(tmp_path / "cl.vtp", lines, radii, cell_arrays={"CenterlineIds": [0, 1]})
    net = read_centerlines(p)
    assert net.meta["layout"] == "overlap"
    assert len(net.vessels) == 3 and len(net.roots) == 1 and len(net.outlets) == 2
    (root,) = net.roots
    assert net.length_mm(root) == pytest.approx(20.0, abs=0.6)
    assert sorted(round(float(net.vessels[o].radius_mm[-1]), 3) for o in net.outlets) == [1.1, 1.3]


def test_vmtk_branch_split_centerlines(tmp_path):
    lines, radii = y_centerlines()
    # tracts per centerline: trunk (group 0), bifurcation (group 1, blanked), branch (group 2 or 3)
    tl, tr, ci, ti, gi, bl = [], [], [], [], [], []
    for c, (line, r) in enumerate(zip(lines, radii)):
        cuts = [(0, 37), (36, 43), (42, len(line))]
        for t, (a, b) in enumerate(cuts):
            tl.append(line[a:b])
            tr.append(r[a:b])
            ci.append(c)
            ti.append(t)
            gi.append(0 if t == 0 else 1 if t == 1 else 2 + c)
            bl.append(1 if t == 1 else 0)
    p = write_centerlines_vtp(tmp_path / "br.vtp", tl, tr, cell_arrays={"CenterlineIds": ci, "TractIds": ti, "GroupIds": gi,
                                                             "Blanking": bl})
    net = read_centerlines(p)
    assert net.meta["layout"] == "branches"
    assert net.roots == ["G0"] and sorted(net.children("G0")) == ["G2", "G3"]
    total = sum(net.length_mm(v) for v in net.vessels)
    # the blanked bifurcation tract (z 18 -> 20 mm) starts each child: it is counted twice
    expected = sum(float(np.linalg.norm(np.diff(line, axis=0), axis=1).sum()) for line in lines) - 20.0 + 2.0
    assert total == pytest.approx(expected, rel=1e-9)
    assert net.vessels["G2"].points_mm[0] == pytest.approx(net.vessels["G0"].points_mm[-1])


def test_polylines_sharing_end_points_legacy_vtk_in_cm(tmp_path):
    lines, radii = y_centerlines()
    # one polyline per segment: trunk, then two branches starting at the trunk's end (legacy .vtk, cm)
    segs = [lines[0][:41], lines[0][40:], lines[1][40:]]
    rads = [radii[0][:41], radii[0][40:], radii[1][40:]]
    p = write_centerlines_vtp(tmp_path / "seg.vtk", [s / 10 for s in segs], [r / 10 for r in rads], point_name="Radius",
                   legacy=True)
    net = read_centerlines(p, units="cm")
    assert net.meta["layout"] == "graph" and len(net.vessels) == 3
    assert net.length_mm(net.roots[0]) == pytest.approx(20.0, rel=1e-6)
    with pytest.raises(InvalidInputError, match="not a plausible vessel radius"):
        read_centerlines(p, units="m")


@needs_bluefern
def test_bluefern_real_centrelines():
    net = read_centerlines(BLUEFERN / "227A_Centreline.vtk")
    assert len(net.vessels) == 7 and len(net.outlets) == 4 and len(net.roots) == 1
    assert net.meta["radius_array"] == "radii"
    net = read_centerlines(BLUEFERN / "721A_Centreline.vtk")
    assert len(net.vessels) == 3 and len(net.outlets) == 2


def test_errors_name_the_problem(tmp_path):
    lines, radii = y_centerlines()
    p = write_centerlines_vtp(tmp_path / "norad.vtp", lines, radii, point_name="Thickness")
    with pytest.raises(InvalidInputError, match=r"no radius array; .*point arrays: \['Thickness'\]"):
        read_centerlines(p)
    bad = [r.copy() for r in radii]
    bad[1][5] = -1.0
    p = write_centerlines_vtp(tmp_path / "neg.vtp", lines, bad)
    with pytest.raises(InvalidInputError, match=r"MaximumInscribedSphereRadius'\[\d+\] = -1.0; a radius must be > 0"):
        read_centerlines(p)
    p = write_centerlines_vtp(tmp_path / "units.vtp", [lines[0] / 1000], [radii[0]], cell_arrays={"CenterlineIds": [0]})
    with pytest.raises(InvalidInputError, match="coordinates and radius look like different units"):
        read_centerlines(p)
    loop = [np.array([[0, 0, 0], [10, 0, 0.0]]), np.array([[10, 0, 0], [10, 10, 0.0]]),
            np.array([[10, 10, 0], [0, 0, 0.0]])]
    p = write_centerlines_vtp(tmp_path / "loop.vtp", loop, [np.full(2, 1.0)] * 3)
    with pytest.raises(InvalidInputError, match="the centerlines form a loop"):
        read_centerlines(p)
