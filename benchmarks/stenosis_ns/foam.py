"""OpenFOAM plumbing for the stenosis harness: write a 1° wedge case, run it, read it back.

The general part (running an application, the dictionaries every steady laminar case has, function
object monitors, ASCII lists and fields) is shared with :mod:`benchmarks.tree_ns.foamcase`.

Everything OpenFOAM sees is in SI units with *kinematic* pressure (p/ρ, m²/s²); the conversion
to Pa happens in :func:`column_average` callers (× ρ).

Mesh
    ``blockMesh`` with one block per axial cell: block ``k`` spans the axial nodes ``z_k`` and
    ``z_{k+1}`` and goes from the axis (collapsed edge, prism cells) to the wall at the local
    radius ``r(z)``, with ``n_radial`` cells graded toward the wall (``simpleGrading (1 g 1)``).
    The wall is therefore piecewise linear through the exact profile at every axial node. The
    wedge is ±0.5° about the x axis (x is the tube axis); ``front``/``back`` are ``wedge`` patches,
    ``axis`` is the collapsed (zero-face) patch. Cells are numbered block by block, radially
    outward, so cell ``k * n_radial + j`` is the ``j``-th cell of axial column ``k``.

Sampling
    Each sampling plane sits at the centre of one axial column of cells (see
    :func:`geometry.axial_nodes_m`), in a straight part of the tube where all cells of the column
    have their centroid on the plane. The plane's area-averaged pressure is the volume-weighted
    mean of the column (for a column of equal thickness the cell volume is proportional to the
    cell's cross-section area), exactly what ``volFieldValue``'s ``volAverage`` computes on the
    ``cellZone`` made of that column; the function objects record it every ``monitor_every``
    iterations to judge the convergence of the drop.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

WEDGE_HALF_ANGLE_DEG = 0.5

HEADER = """FoamFile
{{
    version     2.0;
    format      ascii;
    class       {cls};
    location    "{loc}";
    object      {obj};
}}
"""

_CANDIDATE_BASHRC = ("/usr/lib/openfoam/openfoam1912/etc/bashrc", "/usr/share/openfoam/etc/bashrc")


def foam_env() -> dict:
    """Environment for running OpenFOAM's binaries.

    Debian's ``openfoam`` package (bookworm, v1912) puts the binaries in ``/usr/bin`` and the
    ``etc`` tree in ``/usr/share/openfoam/etc``; its ``etc/bashrc`` is not usable as is (it calls
    ``bin/foamCleanPath``, which the package does not ship), but the binaries only need
    ``WM_PROJECT_DIR`` to find ``etc/controlDict``. An upstream-style install
    (``/usr/lib/openfoam/openfoam1912``) is used through ``WM_PROJECT_DIR`` the same way.
    """
    env = dict(os.environ)
    for rc in _CANDIDATE_BASHRC:
        root = Path(rc).parent.parent
        if (root / "etc" / "controlDict").exists():
            env.setdefault("WM_PROJECT_DIR", str(root))
            break
    env.setdefault("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
    return env


def openfoam_version() -> str:
    """Version string of the installed OpenFOAM (from the Debian package or the banner)."""
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "openfoam"], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            return f"OpenFOAM v1912 (Debian package openfoam {out.stdout.strip()})"
    except OSError:
        pass
    return "OpenFOAM (unknown version)"


def run_foam(app: str, case: Path, *args: str, log: str | None = None, in_case_dir: bool = False) -> str:
    """Run one OpenFOAM application on ``case`` single-process under ``nice -n 10``; return its log.

    The log is streamed to ``case/<log>`` (default ``log.<app>``). ``in_case_dir``: run with the
    case as working directory (``polyDualMesh`` writes its feature-edge ``.obj`` files into the
    current directory). Raises ``RuntimeError`` (with the log tail) when the application fails.
    """
    cmd = ["nice", "-n", "10", app, "-case", "." if in_case_dir else str(case), *args]
    path = case / (log or f"log.{app}")
    with open(path, "w") as fh:
        res = subprocess.run(cmd, cwd=case if in_case_dir else None, stdout=fh, stderr=subprocess.STDOUT,
                             env=foam_env())
    text = path.read_text()
    if res.returncode != 0 or "FOAM FATAL" in text:
        raise RuntimeError(f"{app} failed on {case} (rc {res.returncode}):\n{text[-3000:]}")
    return text


def write_foam_file(path: Path, cls: str, obj: str, body: str) -> None:
    """An OpenFOAM file: the ``FoamFile`` header (location: the file's folder) and ``body``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER.format(cls=cls, loc=path.parent.name, obj=obj) + body)


def field_value_monitor(name: str, fo_type: str, region_type: str, region: str, operation: str, field: str,
                        every: int) -> str:
    """A ``controlDict`` function object that records ``operation`` of ``field`` over a region
    (``fo_type`` ``volFieldValue`` on a ``cellZone``, ``surfaceFieldValue`` on a ``patch``) every
    ``every`` iterations into ``postProcessing/<name>``."""
    return f"""    {name}
    {{
        type            {fo_type};
        libs            ("libfieldFunctionObjects.so");
        regionType      {region_type};
        name            {region};
        operation       {operation};
        fields          ({field});
        writeFields     false;
        log             false;
        writeControl    timeStep;
        writeInterval   {every};
    }}"""


def write_control_dict(case: Path, chunk: int, monitors: list[str]) -> None:
    """``system/controlDict`` of a steady ``simpleFoam`` run of ``chunk`` iterations (restarted from
    the latest time, one time folder kept) with the function objects ``monitors``."""
    write_foam_file(case / "system" / "controlDict", "dictionary", "controlDict", f"""
application     simpleFoam;
startFrom       latestTime;
startTime       0;
stopAt          endTime;
endTime         {chunk};
deltaT          1;
writeControl    timeStep;
writeInterval   {chunk};
purgeWrite      1;
writeFormat     ascii;
writePrecision  14;
writeCompression off;
timeFormat      general;
timePrecision   8;
runTimeModifiable false;

functions
{{
{chr(10).join(monitors)}
}}
""")


def write_fv_schemes(case: Path, div_phi_U: str, grad: str = "Gauss linear",
                     laplacian: str = "Gauss linear corrected", sn_grad: str = "corrected") -> None:
    """``system/fvSchemes`` of a steady laminar case."""
    write_foam_file(case / "system" / "fvSchemes", "dictionary", "fvSchemes", f"""
ddtSchemes      {{ default steadyState; }}
gradSchemes     {{ default {grad}; }}
divSchemes
{{
    default         none;
    div(phi,U)      {div_phi_U};
    div((nuEff*dev2(T(grad(U))))) Gauss linear;
}}
laplacianSchemes {{ default {laplacian}; }}
interpolationSchemes {{ default linear; }}
snGradSchemes   {{ default {sn_grad}; }}
""")


def write_fv_solution(case: Path, p_reltol: float, U_reltol: float, simple_and_relaxation: str) -> None:
    """``system/fvSolution``: GAMG for p, smoothSolver for U, then ``simple_and_relaxation`` (the
    ``SIMPLE`` and ``relaxationFactors`` blocks)."""
    write_foam_file(case / "system" / "fvSolution", "dictionary", "fvSolution", f"""
solvers
{{
    p
    {{
        solver          GAMG;
        smoother        DICGaussSeidel;
        nCellsInCoarsestLevel 50;
        tolerance       1e-12;
        relTol          {p_reltol};
        maxIter         100;
    }}
    U
    {{
        solver          smoothSolver;
        smoother        symGaussSeidel;
        tolerance       1e-15;
        relTol          {U_reltol};
        maxIter         50;
    }}
}}
""" + simple_and_relaxation)


def write_transport(case: Path, nu_m2_s: float) -> None:
    """``constant/transportProperties`` (Newtonian, ``nu``) and ``turbulenceProperties`` (laminar)."""
    write_foam_file(case / "constant" / "transportProperties", "dictionary", "transportProperties",
                    f"\ntransportModel  Newtonian;\nnu              {nu_m2_s:.12e};\n")
    write_foam_file(case / "constant" / "turbulenceProperties", "dictionary", "turbulenceProperties",
                    "\nsimulationType  laminar;\n")


def write_block_mesh_dict(case: Path, z_nodes_m, r_wall_m, n_radial: int, radial_grading: float) -> None:
    """``system/blockMeshDict`` with one block per axial cell (see module docstring)."""
    a = math.radians(WEDGE_HALF_ANGLE_DEG)
    ca, sa = math.cos(a), math.sin(a)
    lines = ["scale 1;", "", "vertices", "("]
    for z, r in zip(z_nodes_m, r_wall_m):
        lines.append(f"    ({z:.12e} 0 0)")
        lines.append(f"    ({z:.12e} {r * ca:.12e} {-r * sa:.12e})")
        lines.append(f"    ({z:.12e} {r * ca:.12e} {r * sa:.12e})")
    lines += [");", "", "blocks", "("]
    nb = len(z_nodes_m) - 1
    for k in range(nb):
        A0, F0, B0 = 3 * k, 3 * k + 1, 3 * k + 2
        A1, F1, B1 = A0 + 3, F0 + 3, B0 + 3
        lines.append(f"    hex ({A0} {A1} {F1} {F0} {A0} {A1} {B1} {B0}) (1 {n_radial} 1) "
                     f"simpleGrading (1 {radial_grading:.10g} 1)")
    lines += [");", "", "edges ();", "", "boundary", "("]

    def patch(name, typ, faces):
        out = [f"    {name}", "    {", f"        type {typ};", "        faces", "        ("]
        out += [f"            ({' '.join(map(str, f))})" for f in faces]
        out += ["        );", "    }"]
        return out

    lines += patch("inlet", "patch", [(0, 0, 2, 1)])
    n = nb
    lines += patch("outlet", "patch", [(3 * n, 3 * n + 1, 3 * n + 2, 3 * n)])
    lines += patch("wall", "wall", [(3 * k + 1, 3 * k + 4, 3 * k + 5, 3 * k + 2) for k in range(nb)])
    lines += patch("front", "wedge", [(3 * k, 3 * k + 3, 3 * k + 4, 3 * k + 1) for k in range(nb)])
    lines += patch("back", "wedge", [(3 * k, 3 * k + 2, 3 * k + 5, 3 * k + 3) for k in range(nb)])
    lines += patch("axis", "empty", [(3 * k, 3 * k + 3, 3 * k + 3, 3 * k) for k in range(nb)])
    lines += [");", "", "mergePatchPairs ();", ""]
    write_foam_file(case / "system" / "blockMeshDict", "dictionary", "blockMeshDict", "\n".join(lines))


def write_static_files(case: Path, nu_m2_s: float, chunk: int, zones: dict, settings: dict,
                       monitor_every: int = 10) -> None:
    """controlDict, fvSchemes, fvSolution, topoSetDict, transportProperties, turbulenceProperties."""
    monitors = [field_value_monitor(f"p_{name}", "volFieldValue", "cellZone", name, "volAverage", "p", monitor_every)
                for name in zones]
    write_control_dict(case, chunk, monitors)
    write_fv_schemes(case, settings["div_phi_U"])
    write_fv_solution(case, settings["p_reltol"], settings["U_reltol"], f"""
SIMPLE
{{
    nNonOrthogonalCorrectors 0;
    consistent      yes;
    // convergence is judged by the harness between chunks of iterations (see solve.py):
    // OpenFOAM's residualControl takes the largest component residual of U, and the wedge-normal
    // component Uz (zero up to round-off) has a normalised residual of O(0.1) forever.
}}

relaxationFactors
{{
    equations
    {{
        U               {settings['relax_U']};
    }}
    fields
    {{
        p               {settings['relax_p']};
    }}
}}
""")
    acts = []
    for name, (z0, z1) in zones.items():
        acts.append(f"""    {{ name {name}Set; type cellSet; action new; source boxToCell; box ({z0:.12e} -1 -1) ({z1:.12e} 1 1); }}
    {{ name {name}; type cellZoneSet; action new; source setToCellZone; set {name}Set; }}""")
    write_foam_file(case / "system" / "topoSetDict", "dictionary", "topoSetDict",
                    "actions\n(\n" + "\n".join(acts) + "\n);\n")
    write_transport(case, nu_m2_s)


def poiseuille_face_velocity(r_nodes_m, u_mean_m_s: float):
    """Face averages of the fully developed profile ``u = 2 U (1 - r²/R²)`` over the annuli
    ``[r_a, r_b]`` between consecutive radial nodes (R = last node): ``2U(1 - (r_a²+r_b²)/(2R²))``.
    Their area-weighted sum is exactly ``U`` times the inlet area."""
    r = np.asarray(r_nodes_m, dtype=float)
    R = r[-1]
    ra, rb = r[:-1], r[1:]
    return 2.0 * u_mean_m_s * (1.0 - (ra**2 + rb**2) / (2.0 * R**2))


def nonuniform_list(values, kind: str) -> str:
    """``nonuniform List<scalar>`` or ``List<vector>`` of ``values``, one entry a line (no ``;``)."""
    if kind == "vector":
        body = "\n".join(f"({v[0]:.14e} {v[1]:.14e} {v[2]:.14e})" for v in values)
    else:
        body = "\n".join(f"{v:.14e}" for v in values)
    return f"nonuniform List<{kind}>\n{len(values)}\n(\n{body}\n)\n"


def _list(name: str, values, kind: str) -> str:
    return f"{name} {nonuniform_list(values, kind)};"


def write_fields(time_dir: Path, inlet_u_m_s, U_internal=None, p_internal=None) -> None:
    """``U`` and ``p`` in ``time_dir``: Poiseuille face values at the inlet, no-slip wall,
    zero-gradient U and p = 0 at the outlet, wedges; internal fields uniform 0 or given arrays
    (continuation from another flow)."""
    inlet = [(u, 0.0, 0.0) for u in inlet_u_m_s]
    ui = "internalField uniform (0 0 0);" if U_internal is None else _list("internalField", U_internal, "vector")
    pi = "internalField uniform 0;" if p_internal is None else _list("internalField", p_internal, "scalar")
    write_foam_file(time_dir / "U", "volVectorField", "U", f"""
dimensions      [0 1 -1 0 0 0 0];
{ui}
boundaryField
{{
    inlet
    {{
        type            fixedValue;
        {_list('value', inlet, 'vector')}
    }}
    outlet          {{ type zeroGradient; }}
    wall            {{ type noSlip; }}
    front           {{ type wedge; }}
    back            {{ type wedge; }}
    axis            {{ type empty; }}
}}
""")
    write_foam_file(time_dir / "p", "volScalarField", "p", f"""
dimensions      [0 2 -2 0 0 0 0];
{pi}
boundaryField
{{
    inlet           {{ type zeroGradient; }}
    outlet          {{ type fixedValue; value uniform 0; }}
    wall            {{ type zeroGradient; }}
    front           {{ type wedge; }}
    back            {{ type wedge; }}
    axis            {{ type empty; }}
}}
""")


_LIST_RE = re.compile(r"List<(scalar|vector)>\s*(\d+)\s*\(")


def read_internal_field(path: Path):
    """The internal field of an ASCII volScalarField/volVectorField file (n,) or (n, 3)."""
    text = Path(path).read_text()
    i = text.index("internalField")
    m = _LIST_RE.search(text, i)
    if m is None or text[i:m.start()].count(";"):
        raise ValueError(f"{path}: internalField is not a nonuniform list")
    return _parse_list(text, m)


def read_patch_value(path: Path, patch: str):
    """The ``value`` list of one patch of an ASCII field file."""
    text = Path(path).read_text()
    j = text.index("boundaryField")
    i = re.compile(rf"\b{patch}\b\s*\{{").search(text, j).end()
    m = _LIST_RE.search(text, i)
    return _parse_list(text, m)


def _parse_list(text: str, m):
    kind, n = m.group(1), int(m.group(2))
    # Lists of more than 10 entries are written one entry a line, closed by a lone ")".
    end = text.index("\n)", m.end()) if n > 10 else _close(text, m.end())
    body = text[m.end():end].replace("(", " ").replace(")", " ")
    arr = np.array(body.split(), dtype=float)
    if kind == "vector":
        arr = arr.reshape(-1, 3)
    if len(arr) != n:
        raise ValueError(f"list of {n} {kind}s parsed as {len(arr)}")
    return arr


def _close(text: str, start: int) -> int:
    """Index of the ")" closing the list whose "(" ends just before ``start``."""
    depth = 1
    for k in range(start, len(text)):
        if text[k] == "(":
            depth += 1
        elif text[k] == ")":
            depth -= 1
            if depth == 0:
                return k
    raise ValueError("unbalanced list")


def parse_log(text: str) -> dict:
    """Last iteration number and the initial residuals of every equation at that iteration."""
    times = re.findall(r"^Time = (\d+)", text, flags=re.M)
    res = {}
    for eq, val in re.findall(r"Solving for (\w+), Initial residual = ([0-9.eE+-]+)", text):
        res[eq] = float(val)
    return {"last_time": int(times[-1]) if times else 0, "final_residuals": res}


def set_end_time(case: Path, end: int, write_interval: int) -> None:
    """Point ``system/controlDict`` at a new ``endTime`` (the next chunk of iterations)."""
    f = case / "system" / "controlDict"
    s = f.read_text()
    s = re.sub(r"^endTime\s+\S+;", f"endTime         {end};", s, flags=re.M)
    s = re.sub(r"^writeInterval\s+\S+;", f"writeInterval   {write_interval};", s, flags=re.M)
    f.write_text(s)


def read_monitor(case: Path, name: str):
    """(iterations, kinematic pressure) recorded by the ``p_<name>`` function object, all restarts."""
    return read_function_object(case, f"p_{name}", "volFieldValue.dat")


def read_function_object(case: Path, fo_name: str, dat_file: str):
    """(iterations, values): the first value column of ``postProcessing/<fo_name>/<time>/<dat_file>``
    over all restarts (time folders in order); empty arrays before the first record."""
    base = case / "postProcessing" / fo_name
    its, vals = [], []
    if not base.exists():
        return np.array([]), np.array([])
    for d in sorted(base.iterdir(), key=lambda p: float(p.name)):
        f = d / dat_file
        if not f.exists():
            continue
        for line in f.read_text().splitlines():
            if line.startswith("#") or not line.strip():
                continue
            parts = line.split()
            its.append(float(parts[0]))
            vals.append(float(parts[1]))
    return np.array(its), np.array(vals)


def latest_time(case: Path) -> str:
    times = [d.name for d in case.iterdir() if d.is_dir() and re.fullmatch(r"\d+(\.\d+)?", d.name)]
    return max(times, key=float)


def copy_mesh(src: Path, dst: Path) -> None:
    (dst / "constant").mkdir(parents=True, exist_ok=True)
    shutil.copytree(src / "constant" / "polyMesh", dst / "constant" / "polyMesh", dirs_exist_ok=True)
