"""SimVascular project folders (Paths/*.pth + Segmentations/*.ctgr) → network."""

from __future__ import annotations

import numpy as np
import pytest

from ffrflow.errors import InvalidInputError
from ffrflow.formats import detect
from ffrflow.formats.simvascular import contour_radius, read_simvascular


def _pth(points):
    s = ['<?xml version="1.0" encoding="UTF-8" ?>', '<format version="1.0" />',
         '<path id="1" method="0" calculation_number="100" spacing="0">', '  <timestep id="0">',
         '    <path_element method="0">', '      <control_points />', '      <path_points>']
    for i, p in enumerate(points):
        s += [f'        <path_point id="{i}">', f'          <pos x="{p[0]}" y="{p[1]}" z="{p[2]}" />',
              '          <tangent x="0" y="0" z="1" />', '        </path_point>']
    s += ['      </path_points>', '    </path_element>', '  </timestep>', '</path>']
    return "\n".join(s)


def _ctgr(name, contours):
    s = ['<?xml version="1.0" encoding="UTF-8" ?>', '<format version="1.0" />',
         f'<contourgroup path_name="{name}" path_id="1">', '  <timestep id="0">']
    for k, (idx, pos, r, normal) in enumerate(contours):
        n = np.asarray(normal, float) / np.linalg.norm(normal)
        u = np.cross(n, [0, 0, 1.0] if abs(n[2]) < 0.9 else [1.0, 0, 0])
        u /= np.linalg.norm(u)
        v = np.cross(n, u)
        s += [f'    <contour id="{k}" type="Circle">', f'      <path_point id="{idx}">',
              f'        <pos x="{pos[0]}" y="{pos[1]}" z="{pos[2]}" />', '      </path_point>',
              '      <contour_points>']
        for j, a in enumerate(np.linspace(0, 2 * np.pi, 72, endpoint=False)):
            q = np.asarray(pos) + r * (np.cos(a) * u + np.sin(a) * v)
            s.append(f'        <point id="{j}" x="{q[0]}" y="{q[1]}" z="{q[2]}" />')
        s += ['      </contour_points>', '    </contour>']
    s += ['  </timestep>', '</contourgroup>']
    return "\n".join(s)


def make_project(d, scale=1.0, with_d1_contours=True):
    (d / "Paths").mkdir(parents=True, exist_ok=True)
    (d / "Segmentations").mkdir(parents=True, exist_ok=True)
    main = np.stack([np.zeros(41), np.zeros(41), np.linspace(0, 40, 41)], axis=1) * scale
    d1 = np.stack([np.linspace(0.5, 20, 21), np.zeros(21), np.linspace(20, 30, 21)], axis=1) * scale
    (d / "Paths" / "LAD.pth").write_text(_pth(main))
    (d / "Paths" / "D1.pth").write_text(_pth(d1))
    (d / "Segmentations" / "LAD.ctgr").write_text(
        _ctgr("LAD", [(0, main[0], 2.0 * scale, [0, 0, 1]), (40, main[40], 1.5 * scale, [0, 0, 1])]))
    (d / "Segmentations" / "D1.ctgr").write_text(
        _ctgr("D1", [(0, d1[0], 1.0 * scale, d1[1] - d1[0])] if with_d1_contours else []))
    return d


def test_project_becomes_a_tree_with_interpolated_area_equivalent_radius(tmp_path):
    proj = make_project(tmp_path / "proj")
    assert detect(proj) == "simvascular"
    net = read_simvascular(proj)
    assert net.roots == ["LAD"] and sorted(net.children("LAD")) == ["D1", "LAD_1"]
    lad, lad1, d1 = (net.vessels[k] for k in ("LAD", "LAD_1", "D1"))
    assert lad.points_mm[-1] == pytest.approx([0, 0, 20]) and d1.points_mm[0] == pytest.approx([0, 0, 20])
    a = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    poly = contour_radius(np.stack([np.cos(a), np.sin(a), 0 * a], axis=1))  # unit 72-gon
    assert poly == pytest.approx(np.sqrt(72 / (2 * np.pi) * np.sin(2 * np.pi / 72)), rel=1e-12)
    # linear in arclength between the two LAD contours (2.0 at 0 mm, 1.5 at 40 mm), x the 72-gon factor
    assert lad.radius_mm[0] == pytest.approx(2.0 * poly, rel=1e-9)
    assert lad1.radius_mm[0] == pytest.approx(1.75 * poly, rel=1e-9)
    assert lad1.radius_mm[-1] == pytest.approx(1.5 * poly, rel=1e-9)
    assert np.allclose(d1.radius_mm, 1.0 * poly)  # one contour: constant


def test_units_cm(tmp_path):
    net = read_simvascular(make_project(tmp_path / "cm", scale=0.1), units="cm")
    assert net.length_mm("LAD") == pytest.approx(20.0, rel=1e-9)
    with pytest.raises(InvalidInputError, match="not a plausible vessel radius"):
        read_simvascular(make_project(tmp_path / "cm2", scale=0.1), units="m")


def test_path_without_segmentation_is_an_error(tmp_path):
    proj = make_project(tmp_path / "p", with_d1_contours=False)
    with pytest.raises(InvalidInputError, match=r"path\(s\) \['D1'\] have no segmentation"):
        read_simvascular(proj)
    (proj / "Segmentations" / "D1.ctgr").unlink()
    with pytest.raises(InvalidInputError, match=r"\['D1'\] have no segmentation"):
        read_simvascular(proj)


def test_contour_group_for_a_missing_path_and_broken_xml(tmp_path):
    proj = make_project(tmp_path / "p")
    (proj / "Segmentations" / "RCA.ctgr").write_text(_ctgr("RCA", [(0, [0, 0, 0], 1.0, [0, 0, 1])]))
    with pytest.raises(InvalidInputError, match="contour group for path 'RCA', but there is no such path"):
        read_simvascular(proj)
    (proj / "Segmentations" / "RCA.ctgr").unlink()
    text = (proj / "Paths" / "D1.pth").read_text()
    (proj / "Paths" / "D1.pth").write_text(text[: len(text) // 2])
    with pytest.raises(InvalidInputError, match=r"D1\.pth: not valid SimVascular XML .*truncated"):
        read_simvascular(proj)
    with pytest.raises(InvalidInputError, match="no SimVascular path"):
        read_simvascular(tmp_path)


def test_load_and_run_a_project_folder(tmp_path):
    import ffrflow

    proj = make_project(tmp_path / "proj")
    net = ffrflow.load(proj)
    assert sorted(net.vessels) == ["D1", "LAD", "LAD_1"]
    r = ffrflow.run(proj, backend="cpu", detect=False)
    assert r.converged and 0.8 < r.min_ffr <= 1.0
