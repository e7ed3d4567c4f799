"""Pieces of the 3D Navier–Stokes tree harness (benchmarks/tree_ns) that run without OpenFOAM:
case geometry, the lumen solid and its mesh labels (gmsh), the section average, the inlet profile
and the polyMesh readers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks.tree_ns import cases, foamcase, mesh, post

ROOT = Path(__file__).resolve().parents[1]


SYNTHETIC = [c for c in cases.CASES if c != "bluefern_721A"]


@pytest.mark.parametrize("case_id", SYNTHETIC)
def test_case_lesions_are_exact(case_id):
    """Truth: the phantom lesion law puts the MLD at exactly (1 - DS) r_ref at the lesion centre."""
    c = cases.build_case(case_id)
    for les in c.lesions:
        v = c.network.vessels[les["vessel"]]
        r = np.interp(les["center_mm"], v.arclength_mm, v.radius_mm)
        assert r == pytest.approx((1 - les["diameter_stenosis_pct"] / 100) * les["reference_radius_mm"], rel=1e-12)
        assert les["diameter_stenosis_pct"] == pytest.approx(50.0)
    for vid, v in c.network.vessels.items():
        if v.parent is not None:       # children start at their parent's last point
            assert np.allclose(v.points_mm[0], c.network.vessels[v.parent].points_mm[-1])


def test_medina_patterns():
    """Medina 1,1,1: LM, LAD and LCx narrowed; 1,0,0: LM only; 0,1,0: LAD only."""
    want = {"medina_111": {"LM", "LAD", "LCX"}, "medina_100": {"LM"}, "medina_010": {"LAD"}}
    for cid, vessels in want.items():
        assert {les["vessel"] for les in cases.build_case(cid).lesions} == vessels


def test_eccentric_offsets_keep_one_wall_healthy():
    """Truth: offset e = r_ref - r along n keeps the wall on the n side at the healthy radius
    (|e| + r = r_ref) and narrows only the other side (r - |e| = 2r - r_ref)."""
    c = cases.build_case("eccentric_lesion")
    v = c.network.vessels["LAD"]
    e = c.offsets_mm["LAD"]
    assert np.allclose(np.linalg.norm(e, axis=1) + v.radius_mm, 1.5, atol=1e-12)
    t = mesh.tangents(v.points_mm)
    assert np.allclose(np.einsum("ij,ij->i", e, t), 0.0, atol=1e-12)   # in the cross-section plane
    assert np.linalg.norm(e, axis=1).max() == pytest.approx(0.75)


def test_curved_vessel_bend():
    """The curved case turns by 120° with an 8 mm bend radius (chord geometry of the arc)."""
    net = cases.curved_vessel()
    p = net.vessels["LAD"].points_mm
    t0 = p[1] - p[0]
    t1 = p[-1] - p[-2]
    ang = math.degrees(math.acos(t0 @ t1 / np.linalg.norm(t0) / np.linalg.norm(t1)))
    assert ang == pytest.approx(120.0, abs=1e-6)
    assert net.vessels["LAD"].length_mm == pytest.approx(8 + 8 * math.radians(120) + 20, rel=1e-3)


def test_stations_keep_lesion_points():
    c = cases.build_case("medina_010")
    v = c.network.vessels["LAD"]
    idx = mesh.stations(v, 1.0)
    s = v.arclength_mm
    inside = np.nonzero((s >= 1.0) & (s <= 9.0))[0]
    assert set(inside) <= set(idx)
    assert idx[0] == 0 and idx[-1] == len(s) - 1
    assert np.all(np.diff(s[idx]) > 0.19)


def test_lumen_solid_volume_and_labels(tmp_path):
    """Truth: the loft of a straight tube of radius 1.5 mm and 12 mm is a cylinder, V = π r² L;
    the mesh has the named inlet and outlet groups."""
    pytest.importorskip("gmsh")
    from ffrflow.network import VesselNetwork

    pts = np.column_stack([np.linspace(0, 12, 25), np.zeros(25), np.zeros(25)])
    net = VesselNetwork.from_dict({"format": "ffrflow-network/1", "vessels": [
        {"id": "A", "parent": None, "points": pts.tolist(), "radius": [1.5] * 25}]})
    info = mesh.mesh_network(net, tmp_path / "t.msh", 0.6)
    assert info["solid_volume_mm3"] == pytest.approx(math.pi * 1.5**2 * 12, rel=1e-6)
    text = (tmp_path / "t.msh").read_text()
    assert text.startswith("$MeshFormat\n2.2 0 8")
    for name in ("inlet_A", "outlet_A", "wall", "lumen"):
        assert f'"{name}"' in text
    assert info["tetrahedra"] > 100


def test_bifurcation_solid_is_one_volume(tmp_path):
    pytest.importorskip("gmsh")
    c = cases.build_case("medina_111")
    info = mesh.mesh_network(c.network, tmp_path / "b.msh", 0.6)
    assert set(info["caps"]) == {"inlet_LM", "outlet_LAD", "outlet_LCX"}
    # the lumen is smaller than the sum of the healthy cylinders (lesions) and larger than the narrowed LM alone
    healthy = math.pi * (2.0**2 * 16 + 1.6**2 * 30 + 1.4**2 * 28)
    assert 0.7 * healthy < info["solid_volume_mm3"] < healthy


def _cylinder_cells(h=0.05, R=1.0, L=2.0):
    g = np.arange(-R + h / 2, R, h)
    x = np.arange(h / 2, L, h)
    X, Y, Z = np.meshgrid(x, g, g, indexing="ij")
    C = np.column_stack([X.ravel(), Y.ravel(), Z.ravel()])
    C = C[C[:, 1] ** 2 + C[:, 2] ** 2 <= R * R]
    return C, np.full(len(C), h**3)


def test_section_average_of_a_synthetic_field():
    """Truth: a field a + b x + c y² + d z averaged on the plane x = x0 is a + b x0 + c <y²>: the
    linear axial part cancels in a symmetric slab, the odd part d z over the symmetric section, and
    <y²> is that of one column of the cell grid (its staircase disk, not exactly R²/4)."""
    C, V = _cylinder_cells()
    a, b, c = 2.0, -3.0, 5.0
    f = a + b * C[:, 0] + c * C[:, 1] ** 2 + 7.0 * C[:, 2]
    col = C[np.isclose(C[:, 0], C[0, 0])]
    y2 = float(np.mean(col[:, 1] ** 2))
    for x0 in (0.6, 1.0, 1.4):
        mean, n, area = post.section_average(f, C, V, [x0, 0, 0], [1, 0, 0], 1.0, 0.3)
        assert mean == pytest.approx(a + b * x0 + c * y2, rel=1e-12)
        assert area == pytest.approx(math.pi, rel=0.03)
        assert n > 0
    # cells of another vessel (mask) are not counted
    f = a + b * C[:, 0] + c * C[:, 1] ** 2
    mean, n, _ = post.section_average(f, C, V, [1.0, 0, 0], [1, 0, 0], 1.0, 0.3, mask=C[:, 1] > 0)
    assert n > 0 and mean == pytest.approx(a + b * 1.0 + c * y2, rel=1e-12)


def test_profiles_follow_a_linear_pressure():
    """Truth: a field linear in arc length, p = -k s, comes back exactly along the centerline."""
    from ffrflow.network import VesselNetwork

    C, V = _cylinder_cells(L=6.0)
    pts = np.column_stack([np.linspace(0, 6, 13), np.zeros(13), np.zeros(13)])
    net = VesselNetwork.from_dict({"format": "ffrflow-network/1", "vessels": [
        {"id": "A", "parent": None, "points": pts.tolist(), "radius": [1.0] * 13}]})
    prof = post.profiles(net, -0.7 * C[:, 0], C, V)["A"]
    s = np.array(prof["s_mm"])
    assert np.allclose(np.array(prof["value"]), -0.7 * s, atol=1e-9)     # the end slabs too (linear fit)
    # cells scattered unevenly along the axis (as tetrahedra are): the fit still returns the plane value
    rng = np.random.default_rng(1)
    Cr = C + rng.uniform(-0.02, 0.02, C.shape) * [1, 0, 0]
    Vr = V * rng.uniform(0.5, 1.5, len(V))
    f = -0.7 * Cr[:, 0] + 0.3 * Cr[:, 1] ** 2
    mean, _, _ = post.section_average(f, Cr, Vr, [2.0, 0, 0], [1, 0, 0], 1.0, 0.8)
    sel = (np.abs(Cr[:, 0] - 2.0) <= 0.4)
    y2 = np.sum(Vr[sel] * Cr[sel, 1] ** 2) / np.sum(Vr[sel])
    assert mean == pytest.approx(-1.4 + 0.3 * y2, rel=1e-3)


def test_poiseuille_profile_carries_the_flow():
    """Truth: Σ u·S over the faces equals the prescribed flow (inlet inward, outflow outward),
    and the profile is 2U(1 - d²/R²) up to the flux scaling."""
    rng = np.random.default_rng(0)
    R = 1.5e-3
    r = R * np.sqrt(rng.random(400))
    th = 2 * np.pi * rng.random(400)
    centres = np.column_stack([np.zeros(400), r * np.cos(th), r * np.sin(th)])
    areas = np.tile([-math.pi * R**2 / 400, 0.0, 0.0], (400, 1))      # outward normal -x
    q = 3e-6
    u = foamcase.poiseuille_inlet(centres, areas, [0, 0, 0], R, q)
    assert -np.sum(np.einsum("ij,ij->i", u, areas)) == pytest.approx(q, rel=1e-12)
    assert np.all(u[:, 0] >= 0)
    shape = 1 - r**2 / R**2
    assert np.allclose(u[:, 0] / u[:, 0].max(), shape / shape.max(), atol=1e-12)
    uo = foamcase.poiseuille_inlet(centres, areas, [0, 0, 0], R, -q)
    assert np.sum(np.einsum("ij,ij->i", uo, areas)) == pytest.approx(q, rel=1e-12)


def test_face_geometry_and_polymesh_readers(tmp_path):
    """Truth: a unit right triangle has area 1/2 and its centroid at (1/3, 1/3); a square 1."""
    pts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0.0]])
    c, s = foamcase.face_geometry(pts, [np.array([0, 1, 2]), np.array([0, 1, 3, 2])])
    assert np.allclose(c[0], [1 / 3, 1 / 3, 0]) and np.allclose(s[0], [0, 0, 0.5])
    assert np.allclose(c[1], [0.5, 0.5, 0]) and np.allclose(s[1], [0, 0, 1.0])
    pm = tmp_path / "constant" / "polyMesh"
    pm.mkdir(parents=True)
    hdr = "FoamFile\n{\n    version 2.0;\n    format ascii;\n    class x;\n    object y;\n}\n"
    (pm / "points").write_text(hdr + "\n4\n(\n(0 0 0)\n(1 0 0)\n(0 1 0)\n(1 1 0)\n)\n")
    (pm / "faces").write_text(hdr + "\n2\n(\n3(0 1 2)\n4(0 1 3 2)\n)\n")
    (pm / "boundary").write_text(hdr + "\n1\n(\n    inlet_A\n    {\n        type patch;\n        nFaces 2;\n"
                                       "        startFace 0;\n    }\n)\n")
    assert np.allclose(foamcase.read_points(tmp_path), pts)
    f = foamcase.read_faces(tmp_path, 1, 1)
    assert len(f) == 1 and f[0].tolist() == [0, 1, 3, 2]
    assert foamcase.read_boundary(tmp_path) == {"inlet_A": {"type": "patch", "nFaces": 2, "startFace": 0}}


def test_check_mesh_summary():
    log = ("    cells:            25356\n    Mesh non-orthogonality Max: 68.9 average: 16.2\n"
           "    Max skewness = 0.58 OK.\n\nMesh OK.\n")
    assert foamcase.check_mesh_summary(log) == {"cells": 25356, "max_non_orthogonality_deg": 68.9,
                                                "mean_non_orthogonality_deg": 16.2, "max_skewness": 0.58,
                                                "mesh_ok": True}


def test_flow_matching_resistance_is_downstream_of_the_shared_junction():
    """Truth: with the inlet flow fixed, an outlet pressure moves flow only between the two outlet
    paths below their shared junction, so the matching resistance of the Medina 1,0,0 case (a
    left-main lesion) equals the healthy bifurcation's (Poiseuille branches: flow-independent)."""
    from benchmarks.tree_ns.harness import hyperemic_bc

    healthy = hyperemic_bc(cases.build_case("bifurcation_healthy").network, 30.0)
    lm = hyperemic_bc(cases.build_case("medina_100").network, 30.0)
    assert set(lm["matching_resistance_mmHg_s_per_ml"]) == {"LCX"}          # LAD carries more: the reference
    assert lm["matching_resistance_mmHg_s_per_ml"]["LCX"] == pytest.approx(
        healthy["matching_resistance_mmHg_s_per_ml"]["LCX"], rel=1e-9)
    # and it is far below the whole inlet-to-outlet path resistances (dominated by the LM lesion)
    whole = sum(-lm["p_1d_outlets_rel_mmHg"][k] / lm["outlet_flows_ml_s"][k] for k in ("LAD", "LCX"))
    assert lm["matching_resistance_mmHg_s_per_ml"]["LCX"] < 0.25 * whole
