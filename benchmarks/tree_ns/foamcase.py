"""OpenFOAM case of a sub-tree: gmsh mesh → polyMesh, boundary conditions, steady laminar solve.

Running OpenFOAM (Debian's v1912 without sourcing its bashrc), the dictionaries every steady
laminar case has, the function-object monitors and reading and writing ASCII fields are shared with
:mod:`benchmarks.stenosis_ns.foam`.

Boundary conditions (SI, kinematic pressure p/ρ):

- root inlet: fully developed Poiseuille profile ``u = 2 U (1 - d²/R²)`` (``d`` the distance of the
  face centre from the cap centre, ``R`` the network radius there), given face by face and scaled
  so that ``Σ u_f A_f`` is exactly the inlet flow; p ``fixedFluxPressure`` (the gradient consistent
  with the prescribed flux);
- outlets: fixed pressures, U ``inletOutlet`` (zero-gradient out, no-slip for any backflow). The
  outlet pressures start from the 1D solution's and are corrected between runs until every outlet
  carries its 1D flow (see :func:`benchmarks.tree_ns.harness.match_flows`). Prescribing the outflow
  instead (``flowRateInletVelocity`` with a negative flow, plug or ``extrapolateProfile``, or a
  Poiseuille profile) did not converge on the healthy bifurcation: 28 mm after the branch point the
  profile is far from developed (entrance length ~0.06 Re d ≈ 50 mm), and forcing a profile at
  the outlet left a pressure jump in the last millimetres and an oscillating run.
- wall: no-slip.

Mesh: gmsh's tetrahedra (:mod:`benchmarks.tree_ns.mesh`, graded to 0.4 × the size at the wall)
turned into their dual polyhedra by ``polyDualMesh`` (``dual``). On a straight tube with a
Poiseuille inlet the tetrahedra themselves overestimated the drop by 20-40 % at 9 cells per
diameter and converged slowly (wall shear from skewed near-wall tetrahedra); the dual polyhedra
of the wall-graded mesh were within 1.6 % (lower flow) and 0.6 % (higher flow) of Poiseuille at
40 k cells on a 24 mm tube of radius 2 mm.

Numerics: ``simpleFoam``, laminar, SIMPLEC (``consistent yes``), second-order
``bounded Gauss linearUpwind`` convection, ``Gauss linear`` gradients, ``Gauss linear limited
corrected 0.5`` Laplacian with one non-orthogonal corrector, GAMG for p.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from benchmarks.stenosis_ns.foam import (field_value_monitor, nonuniform_list, read_function_object, run_foam,
                                         write_control_dict, write_foam_file, write_fv_schemes, write_fv_solution,
                                         write_transport)

SETTINGS = {
    "div_phi_U": "bounded Gauss linearUpwind grad(U)",
    "grad": "Gauss linear",
    "laplacian": "Gauss linear limited corrected 0.5",
    "sn_grad": "limited corrected 0.5",
    "relax_U": 0.7,
    "non_orthogonal": 1,
    "p_reltol": 0.05,
    "U_reltol": 0.1,
    "chunk": 100,
    "max_iterations": 3000,
    "residual_p": 1e-5,
    "residual_U": 1e-6,
    "dp_change_tol": 1e-4,
    "monitor_every": 10,
    "max_flow_matching": 6,
    "dual": True,
    "wall_factor": 0.4,
    "flow_tol": 2e-3,
}


def write_system(case: Path, nu_m2_s: float, patches: list[str], settings: dict) -> None:
    """controlDict (with patch-average pressure monitors), fvSchemes, fvSolution, transport."""
    monitors = []
    for name in patches:
        monitors.append(field_value_monitor(f"q_{name}", "surfaceFieldValue", "patch", name, "sum", "phi",
                                            settings["monitor_every"]))
        monitors.append(field_value_monitor(f"p_{name}", "surfaceFieldValue", "patch", name, "areaAverage", "p",
                                            settings["monitor_every"]))
    write_control_dict(case, settings["chunk"], monitors)
    write_fv_schemes(case, settings["div_phi_U"], settings["grad"], settings["laplacian"], settings["sn_grad"])
    write_fv_solution(case, settings["p_reltol"], settings["U_reltol"], f"""
SIMPLE
{{
    nNonOrthogonalCorrectors {settings['non_orthogonal']};
    consistent      yes;
}}

relaxationFactors
{{
    equations {{ U {settings['relax_U']}; }}
    fields {{ p 1; }}
}}
""")
    write_transport(case, nu_m2_s)


def import_mesh(case: Path, msh: Path, dual: bool = False) -> str:
    """``gmshToFoam`` + mm → m + wall patch type (+ ``polyDualMesh``) + ``checkMesh``; returns the
    checkMesh log.

    ``dual``: replace the tetrahedra by their dual polyhedra (one cell per tetrahedron vertex,
    ``polyDualMesh`` with a 60° feature angle keeping the cap-wall edges).
    """
    run_foam("gmshToFoam", case, str(msh), log="log.gmshToFoam")
    run_foam("transformPoints", case, "-scale", "(1e-3 1e-3 1e-3)", log="log.transformPoints")
    bfile = case / "constant" / "polyMesh" / "boundary"
    text = bfile.read_text()
    text = re.sub(r"(\bwall\s*\{\s*type\s+)\w+;", r"\1wall;", text)
    bfile.write_text(text)
    if dual:
        run_foam("polyDualMesh", case, "60", "-overwrite", "-concaveMultiCells", in_case_dir=True)
    return run_foam("checkMesh", case, log="log.checkMesh")


def check_mesh_summary(text: str) -> dict:
    """Cells, max non-orthogonality and max skewness from a checkMesh log."""
    out = {}
    m = re.search(r"^\s*cells:\s+(\d+)", text, flags=re.M)
    if m:
        out["cells"] = int(m.group(1))
    m = re.search(r"Mesh non-orthogonality Max:\s*([0-9.eE+-]+)\s+average:\s*([0-9.eE+-]+)", text)
    if m:
        out["max_non_orthogonality_deg"] = float(m.group(1))
        out["mean_non_orthogonality_deg"] = float(m.group(2))
    m = re.search(r"Max skewness = ([0-9.eE+-]+)", text)
    if m:
        out["max_skewness"] = float(m.group(1))
    out["mesh_ok"] = "Mesh OK." in text
    return out


# ----------------------------------------------------------------------------- polyMesh reading
def _foam_list_body(text: str) -> str:
    """The body of the top-level list of a polyMesh file (after the FoamFile header)."""
    i = text.index("}", text.index("FoamFile"))
    m = re.search(r"\n(\d+)\s*\n\(", text[i:])
    return text[i + m.end(): text.rindex(")")]


def read_points(case: Path) -> np.ndarray:
    body = _foam_list_body((case / "constant" / "polyMesh" / "points").read_text())
    return np.array(body.replace("(", " ").replace(")", " ").split(), dtype=float).reshape(-1, 3)


def read_faces(case: Path, start: int, count: int) -> list[np.ndarray]:
    """Faces ``start .. start+count-1`` as arrays of point indices."""
    body = _foam_list_body((case / "constant" / "polyMesh" / "faces").read_text())
    faces = re.findall(r"\d+\(([^)]*)\)", body)
    return [np.array(f.split(), dtype=np.int64) for f in faces[start:start + count]]


def read_boundary(case: Path) -> dict:
    """Patch name → ``{"type", "nFaces", "startFace"}``."""
    text = (case / "constant" / "polyMesh" / "boundary").read_text()
    out = {}
    for name, body in re.findall(r"^\s*(\w+)\s*\{([^}]*)\}", text[text.index("}", text.index("FoamFile")) + 1:],
                                 flags=re.M):
        d = dict(re.findall(r"(\w+)\s+([^;]+);", body))
        out[name] = {"type": d.get("type"), "nFaces": int(d["nFaces"]), "startFace": int(d["startFace"])}
    return out


def face_geometry(points: np.ndarray, faces: list[np.ndarray]):
    """Centres and area vectors (m², right-hand normal) of polygonal faces (triangle fans about
    the vertex mean, OpenFOAM's own decomposition)."""
    C, S = [], []
    for f in faces:
        p = points[f]
        c0 = p.mean(axis=0)
        a = np.cross(p - c0, np.roll(p, -1, axis=0) - c0) * 0.5
        ctr = (p + np.roll(p, -1, axis=0) + c0) / 3.0
        w = np.linalg.norm(a, axis=1)
        C.append((ctr * w[:, None]).sum(axis=0) / w.sum())
        S.append(a.sum(axis=0))
    return np.array(C), np.array(S)


def poiseuille_inlet(centres_m: np.ndarray, areas_m2: np.ndarray, center_m, radius_m: float, q_m3_s: float):
    """Face velocities (m/s, vectors) of a Poiseuille profile carrying exactly ``q_m3_s`` inward.

    ``areas_m2`` are the outward area vectors of the patch faces; the velocity points inward for
    ``q_m3_s > 0`` (an inlet) and outward for ``q_m3_s < 0`` (a prescribed outflow).
    The profile ``2U(1 - d²/R²)`` (clipped at 0) is scaled so that ``-Σ U_f · S_f = q``.
    """
    d2 = np.sum((centres_m - np.asarray(center_m)) ** 2, axis=1)
    shape = np.clip(1.0 - d2 / radius_m**2, 0.0, None)
    a = np.linalg.norm(areas_m2, axis=1)
    n = areas_m2 / a[:, None]
    u = shape * q_m3_s / float(np.sum(shape * a))
    return -u[:, None] * n


def write_fields(time_dir: Path, inlet: str, inlet_u, outlet_p: dict, U_internal=None, p_internal=None) -> None:
    """``U`` and ``p`` with the boundary conditions of the module docstring.

    ``inlet_u``: face velocity vectors (m/s) from :func:`poiseuille_inlet`; ``outlet_p``: the fixed
    kinematic pressure (m²/s²) of every outlet patch.
    """
    ub = [f"    {inlet}\n    {{\n        type fixedValue;\n        value {nonuniform_list(inlet_u, 'vector')};\n    }}",
          "    wall { type noSlip; }"]
    pb = [f"    {inlet} {{ type fixedFluxPressure; value uniform 0; }}", "    wall { type zeroGradient; }"]
    for name, p in outlet_p.items():
        ub.append(f"    {name} {{ type inletOutlet; inletValue uniform (0 0 0); value uniform (0 0 0); }}")
        pb.append(f"    {name} {{ type fixedValue; value uniform {p:.14e}; }}")
    ui = "uniform (0 0 0)" if U_internal is None else nonuniform_list(U_internal, "vector")
    pi = "uniform 0" if p_internal is None else nonuniform_list(p_internal, "scalar")
    write_foam_file(time_dir / "U", "volVectorField", "U",
                    f"\ndimensions [0 1 -1 0 0 0 0];\ninternalField {ui};\nboundaryField\n{{\n" + "\n".join(ub) + "\n}\n")
    write_foam_file(time_dir / "p", "volScalarField", "p",
                    f"\ndimensions [0 2 -2 0 0 0 0];\ninternalField {pi};\nboundaryField\n{{\n" + "\n".join(pb) + "\n}\n")


def read_patch_monitor(case: Path, patch: str, kind: str = "p"):
    """(iterations, values) of a patch monitor: ``kind="p"`` area-averaged kinematic pressure
    (m²/s²), ``"q"`` the flux out of the domain (m³/s)."""
    return read_function_object(case, f"{kind}_{patch}", "surfaceFieldValue.dat")
