"""SimVascular project folders (Paths/*.pth + Segmentations/*.ctgr) → network."""

from __future__ import annotations

import numpy as np
import pytest

from ffrflow.errors import InvalidInputError
from ffrflow.formats import detect
from ffrflow.formats.simvascular import contour_radius, read_simvascular


HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="no" ?>'


def _pth(points, path_id=1):
    """A path file as SimVascular 2023 writes it (``Paths/<name>.pth``)."""
    s = [HEAD, '<format version="1.0" />',
         f'<path id="{path_id}" method="0" calculation_number="100" spacing="0" version="1.0" reslice_size="5" '
         'point_2D_display_size="" point_size="">', '    <timestep id="0">',
         '        <path_element method="0" calculation_number="100" spacing="0">', '            <control_points>']
    s += [f'                <point id="{i}" x="{p[0]}" y="{p[1]}" z="{p[2]}" />' for i, p in enumerate(points[::10])]
    s += ['            </control_points>', '            <path_points>']
    for i, p in enumerate(points):
        s += [f'                <path_point id="{i}">', f'                    <pos x="{p[0]}" y="{p[1]}" z="{p[2]}" />',
              '                    <tangent x="0" y="0" z="1" />', '                    <rotation x="1" y="0" z="0" />',
              '                </path_point>']
    s += ['            </path_points>', '        </path_element>', '    </timestep>', '</path>']
    return "\n".join(s)


def _ctgr(name, contours, path_id=1):
    """A contour group as SimVascular writes it (``Segmentations/<group>.ctgr``): ``path_name`` and
    ``path_id`` name the path as it was when the group was made."""
    s = [HEAD, f'<contourgroup path_name="{name}" path_id="{path_id}" reslice_size="5" point_2D_display_size="" '
               'point_size="" version="1.0">', '    <timestep id="0">',
         '        <lofting_parameters method="nurbs" sampling="60" sample_per_seg="12" use_linear_sample="1" '
         'linear_multiplier="10" use_fft="0" num_modes="20" u_degree="2" v_degree="2" u_knot_type="derivative" '
         'v_knot_type="average" u_parametric_type="centripetal" v_parametric_type="chord" />']
    for k, (idx, pos, r, normal) in enumerate(contours):
        n = np.asarray(normal, float) / np.linalg.norm(normal)
        u = np.cross(n, [0, 0, 1.0] if abs(n[2]) < 0.9 else [1.0, 0, 0])
        u /= np.linalg.norm(u)
        v = np.cross(n, u)
        s += [f'        <contour id="{k}" type="Circle" method="Manual" closed="true" min_control_number="2" '
              'max_control_number="2" subdivision_type="0" subdivision_number="0" subdivision_spacing="0">',
              f'            <path_point id="{idx}">', f'                <pos x="{pos[0]}" y="{pos[1]}" z="{pos[2]}" />',
              f'                <tangent x="{n[0]}" y="{n[1]}" z="{n[2]}" />',
              f'                <rotation x="{u[0]}" y="{u[1]}" z="{u[2]}" />', '            </path_point>',
              '            <control_points>']
        c0, c1 = np.asarray(pos), np.asarray(pos) + r * u
        s += [f'                <point id="{j}" x="{c[0]}" y="{c[1]}" z="{c[2]}" />' for j, c in enumerate((c0, c1))]
        s += ['            </control_points>', '            <contour_points>']
        for j, a in enumerate(np.linspace(0, 2 * np.pi, 72, endpoint=False)):
            q = np.asarray(pos) + r * (np.cos(a) * u + np.sin(a) * v)
            s.append(f'                <point id="{j}" x="{q[0]}" y="{q[1]}" z="{q[2]}" />')
        s += ['            </contour_points>', '        </contour>']
    s += ['    </timestep>', '</contourgroup>']
    return "\n".join(s)


SVPROJ = """<?xml version="1.0" encoding="UTF-8" standalone="no" ?>
<projectDescription version="1.0">
    <images folder_name="Images" />
    <paths folder_name="Paths" />
    <segmentations folder_name="Segmentations" />
    <models folder_name="Models" />
    <meshes folder_name="Meshes" />
    <simulations folder_name="Simulations" />
</projectDescription>
"""

LAD_ID, D1_ID = 1, 2


def _lad_contours(main, scale, stenosis, ref=1.0):
    c = [(0, main[0], 2.0 * scale, [0, 0, 1]), (40, main[40], 1.5 * scale, [0, 0, 1])]
    if stenosis:  # a 60 % DS narrowing at 8-12 mm (ref: radius factor of the throat, 1 = as drawn)
        c[1:1] = [(6, main[6], 1.92 * scale, [0, 0, 1]), (10, main[10], 0.76 * ref * scale, [0, 0, 1]),
                  (14, main[14], 1.86 * scale, [0, 0, 1])]
    return c


def make_project(d, scale=1.0, with_d1_contours=True, stenosis=False):
    """A two-path SimVascular project (LAD with a diagonal D1) in mm (``scale=1``) or cm (``scale=0.1``),
    laid out as SimVascular saves it: ``.svproj``, ``Images/``, ``Paths/``, ``Segmentations/``, ..."""
    for sub in ("Images", "Paths", "Segmentations", "Models", "Meshes", "Simulations"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    (d / ".svproj").write_text(SVPROJ)
    main = np.stack([np.zeros(41), np.zeros(41), np.linspace(0, 40, 41)], axis=1) * scale
    d1 = np.stack([np.linspace(0.5, 20, 21), np.zeros(21), np.linspace(20, 30, 21)], axis=1) * scale
    (d / "Paths" / "LAD.pth").write_text(_pth(main, LAD_ID))
    (d / "Paths" / "D1.pth").write_text(_pth(d1, D1_ID))
    (d / "Segmentations" / "LAD.ctgr").write_text(_ctgr("LAD", _lad_contours(main, scale, stenosis), LAD_ID))
    (d / "Segmentations" / "D1.ctgr").write_text(
        _ctgr("D1", [(0, d1[0], 1.0 * scale, d1[1] - d1[0])] if with_d1_contours else [], D1_ID))
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
    (proj / "Segmentations" / "RCA.ctgr").write_text(_ctgr("RCA", [(0, [0, 0, 0], 1.0, [0, 0, 1])], path_id=7))
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


# ---------------------------------------------------------------------------------------------- projects as people keep them
@pytest.fixture
def cli_log():
    """The command line points the ffrflow logger at the (captured) stderr; put it back afterwards."""
    import logging

    lg = logging.getLogger("ffrflow")
    saved = (lg.handlers[:], lg.level, lg.propagate)
    yield
    lg.handlers[:], lg.level, lg.propagate = saved[0], saved[1], saved[2]


def _summary(folder):
    import json

    return json.loads((folder / "summary.json").read_text())


def test_project_in_cm_is_inferred_reported_and_gives_the_answer_of_the_mm_project(tmp_path):
    """Truth: the same project drawn in cm and in mm is one geometry, so one FFR (up to round-off)."""
    import ffrflow

    mm = make_project(tmp_path / "mm", stenosis=True)
    cm = make_project(tmp_path / "cm", scale=0.1, stenosis=True)
    net_mm, net_cm = read_simvascular(mm), read_simvascular(cm)
    assert (net_mm.meta["units"]["unit"], net_mm.meta["units"]["decided_by"]) == ("mm", "inferred")
    u = net_cm.meta["units"]
    assert (u["unit"], u["decided_by"], u["to_mm"]) == ("cm", "inferred", 10.0)
    assert "median contour radius 0.1679 in the file" in u["reason"] and "1.68 mm in cm" in u["reason"]
    for vid, v in net_mm.vessels.items():
        assert np.allclose(net_cm.vessels[vid].points_mm, v.points_mm, rtol=0, atol=1e-9)
        assert np.allclose(net_cm.vessels[vid].radius_mm, v.radius_mm, rtol=1e-12)
    r_mm = ffrflow.run(mm, tmp_path / "o_mm", backend="numpy", pictures=False)
    r_cm = ffrflow.run(cm, tmp_path / "o_cm", backend="numpy", pictures=False)
    assert r_mm.min_ffr < 0.7  # the 60 % lesion matters
    assert r_cm.min_ffr == pytest.approx(r_mm.min_ffr, abs=1e-12)
    (les_mm,), (les_cm,) = list(r_mm.lesions), list(r_cm.lesions)
    assert les_cm["reference_diameter_mm"] == pytest.approx(les_mm["reference_diameter_mm"], rel=1e-12)
    assert les_cm["reference_diameter_mm"] == pytest.approx(3.89, abs=0.01)  # 2 x 1.95 mm, drawn as 0.195 cm
    s = _summary(tmp_path / "o_cm")
    assert s["input"]["units"]["unit"] == "cm" and s["input"]["units"]["decided_by"] == "inferred"
    assert s["warnings"] == []
    # what a new user saw before: the cm project taken as mm. Given so, it runs, and says loudly that it is wrong
    r_bad = ffrflow.run(cm, tmp_path / "o_bad", backend="numpy", pictures=False, units="mm")
    assert r_bad.min_ffr < 0.05
    s = _summary(tmp_path / "o_bad")
    assert s["input"]["units"]["decided_by"] == "given" and s["input"]["units"]["unit"] == "mm"
    assert any("median lumen radius 0.155 mm" in w and "a geometry in cm read as mm" in w for w in s["warnings"])
    assert any("far outside a coronary lumen" in w for w in s["warnings"])


def test_project_whose_unit_cannot_be_told_is_refused_unless_given(tmp_path):
    # contour radii 2, 1.5, 1 x 0.2: median 0.3, a lumen radius in mm and in cm alike
    proj = make_project(tmp_path / "both", scale=0.2)
    with pytest.raises(InvalidInputError, match=r"both: cannot tell the length unit .*median contour radius 0\.2998 "
                                                r"in the file \(range 0\.1999–0\.3997\).*fits mm and cm alike.*"
                                                r"--units mm\|cm\|m"):
        read_simvascular(proj)
    net = read_simvascular(proj, units="cm")
    assert net.meta["units"]["decided_by"] == "given" and net.length_mm("LAD") == pytest.approx(40.0, rel=1e-9)
    # median 0.015: 0.015 mm, 0.15 mm or 15 mm, none a coronary lumen radius
    with pytest.raises(InvalidInputError, match=r"cannot tell the length unit .*fits no unit"):
        read_simvascular(make_project(tmp_path / "none", scale=0.01))
    with pytest.raises(InvalidInputError, match=r"units \(--units\): expected one of \['mm', 'cm', 'm'\], got 'in'"):
        read_simvascular(proj, units="in")


def _rename(proj, old, new, folder="Paths", ext=".pth"):
    (proj / folder / f"{old}{ext}").rename(proj / folder / f"{new}{ext}")


def test_renamed_path_is_matched_by_path_id_and_file_name_with_a_warning(tmp_path):
    ref = read_simvascular(make_project(tmp_path / "ref"))
    proj = make_project(tmp_path / "p")
    # D1 renamed DIAG1 after segmenting (path and segmentation); the group still says path_name="D1"
    _rename(proj, "D1", "DIAG1")
    _rename(proj, "D1", "DIAG1", "Segmentations", ".ctgr")
    net = read_simvascular(proj)
    assert sorted(net.vessels) == ["DIAG1", "LAD", "LAD_1"]
    assert np.allclose(net.vessels["DIAG1"].radius_mm, ref.vessels["D1"].radius_mm, rtol=1e-12)
    assert net.meta["paths"]["DIAG1"]["matched_by"] == "path_id and file name"
    (w,) = net.meta["warnings"]
    assert "DIAG1.ctgr" in w and "names path 'D1', which is not a path" in w and "'DIAG1' (DIAG1.pth)" in w
    # only the path renamed, the segmentation file keeps the old name: its path_id alone tells
    _rename(proj, "DIAG1", "D1", "Segmentations", ".ctgr")
    net = read_simvascular(proj)
    assert net.meta["paths"]["DIAG1"]["matched_by"] == "path_id" and "by its path_id" in net.meta["warnings"][0]
    # path_id (the LAD) and file name (DIAG1) disagree: refused
    text = (proj / "Segmentations" / "D1.ctgr").read_text().replace(f'path_id="{D1_ID}"', f'path_id="{LAD_ID}"')
    (proj / "Segmentations" / "D1.ctgr").unlink()
    (proj / "Segmentations" / "DIAG1.ctgr").write_text(text)
    with pytest.raises(InvalidInputError, match=r"DIAG1\.ctgr: .*path_id 1 is path 'LAD' but its file name is path "
                                                r"'DIAG1': cannot tell"):
        read_simvascular(proj)


def test_renamed_path_runs_and_the_warning_reaches_the_terminal_and_summary(tmp_path, capsys, cli_log):
    from ffrflow.cli import main

    proj = make_project(tmp_path / "p")
    _rename(proj, "LAD", "LAD_main")
    _rename(proj, "LAD", "LAD_main", "Segmentations", ".ctgr")
    assert main(["run", str(proj), "-o", str(tmp_path / "o"), "--backend", "numpy", "--no-pictures"]) == 0
    err = capsys.readouterr().err
    assert "names path 'LAD', which is not a path of the project; matched to path 'LAD_main'" in err
    assert "length unit mm, inferred" in err
    s = _summary(tmp_path / "o")
    assert len(s["warnings"]) == 1 and "matched to path 'LAD_main'" in s["warnings"][0]
    assert s["input"]["units"]["decided_by"] == "inferred"
    assert sorted(o["vessel"] for o in s["outlets"]) == ["D1", "LAD_main_1"]


def test_second_contour_group_of_a_path_is_skipped_and_can_be_picked(tmp_path, capsys, cli_log):
    import ffrflow
    from ffrflow.cli import main

    proj = make_project(tmp_path / "p", stenosis=True)
    main_pts = np.stack([np.zeros(41), np.zeros(41), np.linspace(0, 40, 41)], axis=1)
    # a virtually repaired copy of the LAD's group: the throat drawn at 0.76 x 2.5 = 1.9 mm
    (proj / "Segmentations" / "LAD_healthy.ctgr").write_text(
        _ctgr("LAD", _lad_contours(main_pts, 1.0, True, ref=2.5), LAD_ID))
    a = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    poly = contour_radius(np.stack([np.cos(a), np.sin(a), 0 * a], axis=1))  # the 72-gon's area-equivalent radius
    net = read_simvascular(proj)
    throat = lambda n: float(np.interp(10.0, n.vessels["LAD"].arclength_mm, n.vessels["LAD"].radius_mm))  # noqa: E731
    assert throat(net) == pytest.approx(0.76 * poly, rel=1e-9)
    (w,) = net.meta["warnings"]
    assert "contour group LAD.ctgr used (named like the path); skipped LAD_healthy.ctgr" in w
    assert net.meta["paths"]["LAD"]["skipped_contour_groups"] == [str(proj / "Segmentations" / "LAD_healthy.ctgr")]
    healthy = read_simvascular(proj, contour_groups=["LAD_healthy"])
    assert throat(healthy) == pytest.approx(1.9 * poly, rel=1e-9)
    assert "LAD_healthy.ctgr used (picked by --contour-group); skipped LAD.ctgr" in healthy.meta["warnings"][0]
    # the repaired group removes the lesion: FFR up
    r = ffrflow.run(proj, tmp_path / "o", backend="numpy", pictures=False)
    assert main(["run", str(proj), "-o", str(tmp_path / "oh"), "--backend", "numpy", "--no-pictures",
                 "--contour-group", "LAD_healthy.ctgr"]) == 0
    assert "skipped LAD.ctgr" in capsys.readouterr().err
    s, sh = _summary(tmp_path / "o"), _summary(tmp_path / "oh")
    assert s["min_ffr"] == pytest.approx(r.min_ffr) and r.min_ffr < 0.7 < sh["min_ffr"]
    assert sh["lesions"] == [] and "skipped LAD.ctgr" in sh["warnings"][0]
    assert "skipped LAD_healthy.ctgr" in s["warnings"][0]
    # errors: an unknown group, two picks for one path, several groups and none named like the path
    with pytest.raises(InvalidInputError, match=r"contour group 'RCA' \(--contour-group\): no such contour group .*"
                                                r"\['D1', 'LAD', 'LAD_healthy'\]"):
        read_simvascular(proj, contour_groups=["RCA"])
    with pytest.raises(InvalidInputError, match="'LAD' and 'LAD_healthy' are both contour groups of path 'LAD'"):
        read_simvascular(proj, contour_groups=["LAD", "LAD_healthy"])
    _rename(proj, "LAD", "LAD_v1", "Segmentations", ".ctgr")
    with pytest.raises(InvalidInputError, match=r"path 'LAD' has 2 contour groups \['LAD_healthy.ctgr', "
                                                r"'LAD_v1.ctgr'\] .*none is named like the path; pick one with "
                                                r"--contour-group NAME"):
        read_simvascular(proj)
    assert throat(read_simvascular(proj, contour_groups=["LAD_v1"])) == pytest.approx(0.76 * poly, rel=1e-9)


def test_units_and_contour_groups_are_refused_where_they_do_not_apply(tmp_path, cli_log):
    import ffrflow
    from ffrflow.cli import main

    proj = make_project(tmp_path / "p")
    net = ffrflow.load(proj, units="mm")
    p = net.to_json(tmp_path / "net.json")
    with pytest.raises(InvalidInputError, match=r"net\.json: --units cm: the lengths of a network JSON file "
                                                r"\(ffrflow-network/1\) are in mm by definition"):
        ffrflow.load(p, units="cm")
    assert ffrflow.load(p, units="mm").meta["units"]["origin"]["decided_by"] == "given"  # where it came from
    with pytest.raises(InvalidInputError, match="contour groups belong to SimVascular projects"):
        ffrflow.load(p, contour_groups=["LAD"])
    assert main(["-q", "run", str(p), "--units", "cm", "--backend", "numpy"]) == 2
