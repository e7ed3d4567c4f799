"""The notebook API, shared one-to-one by the command line: ``load``, ``mesh``, ``solve``, ``run``.

>>> import ffrflow                                          # doctest: +SKIP
>>> r = ffrflow.run("network.json", output_dir="out")       # doctest: +SKIP
>>> r.lesions[0]["ffr_distal"]                              # doctest: +SKIP
>>> net = ffrflow.mesh("case.nii.gz")                       # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from . import formats
from ._atomic import atomic_write_text, output_folder
from .anatomy import apply_names, read_names
from .cfd.lumped import LumpedModel, solve_lumped, solve_lumped_network
from .cfd.pulsatile import solve_pulsatile
from .cfd.steady import solve_steady
from .config import apply_overrides
from .errors import BackendUnavailableError, InvalidInputError
from .formats import detect
from .formats.svoned import pulsatile_inputs
from .formats.svzerod import write_svzerod
from .meshing import _jsonable, is_geometry_path, mesh as mesh_geometry, write_mesh_outputs
from .meshing.io import load_centerlines, polydata_kind
from .meshing.stenosis import detect_lesions, lesion_table
from .meshing.surface import write_surface
from .meshing.volume import tetrahedral_mesh, volume_mesh_available
from .network import VesselNetwork, merge_serial_vessels
from .plausibility import UNITS_TO_MM, fixed_units, input_warnings
from .report import write_case_report
from .report.case import write_thumbnail
from .vtkio import write_polydata

log = logging.getLogger("ffrflow")

SOLVERS = ("steady", "pulsatile", "lumped")


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (hex); for a folder, of its files' names and bytes in sorted order."""
    path = Path(path)
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for p in files:
        if path.is_dir():
            h.update(str(p.relative_to(path)).encode())
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def load(source: str | Path | VesselNetwork | Mapping[str, Any], *, units: str | None = None,
         contour_groups: Sequence[str] | None = None) -> VesselNetwork:
    """Load a case as a :class:`~ffrflow.network.VesselNetwork` (or a lumped model).

    Parameters
    ----------
    source : path, dict or VesselNetwork
        A network JSON file (``ffrflow-network/1``), a dict in that format, or a network; VMTK or VTK
        centerlines with a radius array (``.vtp``, ``.vtk``); an svOneDSolver input (``.in``; its
        svOneD-specific data is kept as ``network.svoned``); a SimVascular project folder (``Paths/``
        and ``Segmentations/``). An svZeroDSolver JSON file (or dict, recognised by its keys) gives a
        :class:`~ffrflow.cfd.lumped.LumpedModel`, which the lumped solver runs.
    units : {"mm", "cm", "m"}, optional
        Length unit of a SimVascular project or VTK centerlines, whose files do not state it
        (default: inferred from the radii, see :mod:`ffrflow.plausibility`). For a format with its
        own unit (network JSON: mm; svOneDSolver, svZeroDSolver: cm) it must agree with it.
    contour_groups : sequence of str, optional
        SimVascular only: contour groups (``.ctgr`` file names) to use for their paths where a path
        has several (default: the group named like the path).

    Returns
    -------
    VesselNetwork or LumpedModel
        ``meta["units"]`` says which length unit the source was read in and why; ``meta["warnings"]``
        what the reader had to assume.

    Raises
    ------
    InvalidInputError
        Naming the file and the field for anything malformed or unsupported; a unit that cannot be
        told.
    """

    if units is not None and units not in UNITS_TO_MM:
        raise InvalidInputError(f"units (--units): expected one of {list(UNITS_TO_MM)}, got {units!r}")
    if isinstance(source, VesselNetwork):
        fixed_units("mm", "a VesselNetwork", units)
        return _no_groups(source, contour_groups, "a VesselNetwork")
    if isinstance(source, Mapping):
        if formats.svzerod.is_svzerod(source):
            fixed_units("cm", "an svZeroDSolver model (CGS)", units)
            return _no_groups(formats.svzerod.read_svzerod(source), contour_groups, "an svZeroDSolver model")
        fixed_units("mm", "a network dict (ffrflow-network/1)", units)
        return _no_groups(VesselNetwork.from_dict(source), contour_groups, "a network dict")
    path = Path(source)
    if not path.exists():
        raise InvalidInputError(f"{path}: no such file or folder")
    name = path.name.lower()
    kind = formats.detect(path)
    if kind == "simvascular":
        return formats.simvascular.read_simvascular(path, units=units, contour_groups=contour_groups)
    _no_groups(None, contour_groups, f"{path} (not a SimVascular project)")
    if kind == "svzerod":
        fixed_units("cm", "an svZeroDSolver input (CGS)", units, str(path))
        return formats.svzerod.read_svzerod(path)
    if kind == "svoned":
        fixed_units("cm", "an svOneDSolver input (CGS)", units, str(path))
        net, data = formats.svoned.read_svoned(path)
        net.svoned = data
        return net
    if name.endswith(".json"):
        fixed_units("mm", "a network JSON file (ffrflow-network/1)", units, str(path))
        return VesselNetwork.from_json(path)
    if name.endswith((".vtp", ".vtk")):

        if polydata_kind(path) == "centerlines":
            if formats.vtkcenterlines.has_vmtk_arrays(path):
                return formats.vtkcenterlines.read_centerlines(path, units=units)
            return load_centerlines(path, units=units)
        raise InvalidInputError(f"{path}: a surface, not a network; mesh it first (ffrflow.mesh or ffrflow.run)")
    raise InvalidInputError(f"{path}: unsupported input; expected a network .json (ffrflow-network/1)")


def _no_groups(obj, contour_groups, what: str):
    if contour_groups:
        names = [contour_groups] if isinstance(contour_groups, (str, Path)) else list(contour_groups)
        raise InvalidInputError(f"--contour-group {' '.join(map(str, names))}: contour groups belong to SimVascular "
                                f"projects, and the input is {what}")
    return obj


def mesh(source: str | Path, output_dir: str | Path | None = None, *, label: int | None = None,
         threshold: float | None = None, ostia: Sequence[Sequence[float]] | None = None, lesions: bool = True,
         volume_mesh: bool = False, **options) -> VesselNetwork:
    """Mask or surface → centerline network with graded lesions (the front half of the pipeline).

    Parameters
    ----------
    source : str or Path
        A lumen mask (``.nii``, ``.nii.gz``, ``.nrrd``, ``.mha``, ``.mhd``, DICOM file or series
        folder), a lumen probability map (same formats, floating-point values in [0, 1]: the soft
        output of a segmentation network) or a closed lumen surface (``.stl``, ``.vtp``, ``.obj``),
        world mm (LPS).
    output_dir : str or Path, optional
        When given, ``network.json``, ``surface.vtp``, ``surface.stl``, ``centerlines.vtp``,
        ``lesions.json`` and ``mesh.json`` are written there, all or nothing.
    label : int, optional
        Lumen label of a label volume (default: every voxel > 0). Not for a probability map.
    threshold : float, optional
        Lumen level of a probability map, in (0, 1) (default 0.5): the lumen is ``p >= threshold``,
        its wall the iso-surface of ``p`` at that level (sub-voxel). Not with ``label``.
    ostia : sequence of (x, y, z), optional
        Ostium points in world mm, at most one per tree (default: the widest end of each tree).
    lesions : bool
        Detect and grade lesions (%DS ≥ 30 %) on every vessel.
    volume_mesh : bool
        Also fill the lumen with tetrahedra (``volume.msh``, gmsh; needs ``output_dir``): flat
        inlet and outlet faces labelled ``inlet_<vessel>`` / ``outlet_<vessel>``, the ``wall`` and
        the volume ``lumen`` (:func:`ffrflow.meshing.volume.tetrahedral_mesh`); its summary (element
        count, smallest dihedral angle, volumes, caps) goes into ``mesh.json`` under ``volume``.
        Raises :class:`~ffrflow.errors.BackendUnavailableError` when gmsh is not installed
        (nothing is written).
    **options
        Passed to :func:`ffrflow.meshing.mesh` (``spacing_out_mm``, ``surface_voxel_mm``, ...).

    Returns
    -------
    VesselNetwork
        Centerlines (mm) with the area-equivalent radius (mm) and, per vessel, its lesions;
        ``meta["mesh"]`` holds the meshing summary (image geometry, timings; no patient identifiers).
        :func:`ffrflow.meshing.mesh` returns the full :class:`~ffrflow.meshing.MeshResult` (surface included).

    Raises
    ------
    InvalidInputError
        Missing, unreadable or truncated file, empty mask, noise, no tubular structure.
    MeshQualityError
        A surface with holes; geometry that cannot be meshed.

    Examples
    --------
    >>> net = ffrflow.mesh("case.nii.gz", output_dir="case-mesh")          # doctest: +SKIP
    >>> [(les["vessel"], round(les["diameter_stenosis_pct"])) for les in
    ...  ffrflow.meshing.stenosis.lesion_table(net)]                         # doctest: +SKIP
    [('L3', 71), ('L2', 50), ('R3', 61)]
    """
    if volume_mesh:
        if output_dir is None:
            raise InvalidInputError("volume_mesh: needs an output_dir for volume.msh")

        ok, why = volume_mesh_available()
        if not ok:
            raise BackendUnavailableError(f"--volume-mesh: {why}")
    res = _mesh(source, label=label, threshold=threshold, ostia=ostia, lesions=lesions, **options)
    if output_dir is not None:

        with output_folder(output_dir) as tmp:
            if volume_mesh:

                res.volume_info = tetrahedral_mesh(res.surface, res.network, Path(tmp) / "volume.msh")
                res.volume_info["path"] = "volume.msh"
                res.network.meta["mesh"] = res.summary()
            write_mesh_outputs(res, tmp)
    return res.network


def _mesh(source, **options):
    res = mesh_geometry(source, **options)
    res.network.meta["mesh"] = res.summary()
    sinfo = res.image_info.get("surface_input")
    if sinfo is not None and sinfo.get("scaled_from_m"):
        units = {"unit": "m", "to_mm": 1000.0, "decided_by": "inferred",
                 "reason": "meshed from a surface that spans less than 1 unit: taken to be in metres"}
    else:
        units = {"unit": "mm", "to_mm": 1.0, "decided_by": "format",
                 "reason": "meshed from a mask in world mm (image header)" if sinfo is None else
                 "meshed from a surface in mm (surfaces are read as mm unless they span less than 1 unit)"}
    res.network.meta["units"] = units
    return res


def geometry_input_info(meshed) -> dict:
    """What ``summary.json`` records under ``input`` about a meshed image: ``kind`` (``"mask"`` or
    ``"probability"``) and, for a probability map, the ``threshold`` used; empty for a surface."""
    info = meshed.image_info
    if "surface_input" in info or "kind" not in info:
        return {}
    out = {"kind": info["kind"]}
    if info.get("threshold") is not None:
        out["threshold"] = float(info["threshold"])
    return out


def is_geometry_input(source) -> bool:
    """Whether ``source`` is a mask or surface path that :func:`run` meshes before solving."""
    if not isinstance(source, (str, Path)):
        return False

    if detect(source) == "simvascular":
        return False

    return is_geometry_path(source)


def solve(network: VesselNetwork, solver: str = "steady", backend: str = "auto", detect: bool = True,
          overrides: Mapping[str, Any] | None = None, **solver_options):
    """Detect lesions (where none are given) and solve one network.

    Parameters
    ----------
    network : VesselNetwork or LumpedModel
    solver : {"steady", "pulsatile", "lumped"}
        The steady hyperemic model (docs/physics.md §Steady network), the pulsatile 1D model, or the lumped (0D,
        svZeroDSolver-compatible) model. A :class:`~ffrflow.cfd.lumped.LumpedModel` (an svZeroDSolver
        file) is always solved by the lumped solver and gives a :class:`~ffrflow.cfd.lumped.LumpedResult`.
    backend : {"auto", "numpy", "cpu", "cuda"}
    detect : bool
        Run lesion detection on vessels without a ``lesions`` list.
    overrides : mapping, optional
        ``{"boundary.inlet_pressure_mmHg": 90, "model.kt": 1.2, ...}`` applied before solving.

    Returns
    -------
    ffrflow.cfd.result.Result
        Its ``warnings`` (listed in ``summary.json``) hold what the reader had to assume
        (``network.meta["warnings"]``) and radii that do not fit a coronary tree
        (:func:`ffrflow.plausibility.input_warnings`, also logged).
    """
    if solver not in SOLVERS:
        raise InvalidInputError(f"solver: expected one of {SOLVERS}, got {solver!r}")

    warnings = input_warnings(network)

    if isinstance(network, LumpedModel):

        if solver == "pulsatile":
            raise InvalidInputError("solver: an svZeroDSolver model has no geometry for the pulsatile 1D solver; "
                                    "it runs with the lumped solver")
        if overrides:
            raise InvalidInputError("--set: boundary/model overrides apply to vessel networks, not to an "
                                    "svZeroDSolver model (edit its JSON)")
        result = solve_lumped(network, backend=backend, **solver_options)
        log.info("solve: lumped on %s, %d steps, %d cycles, %d Newton iterations (%s)", result.backend, result.steps,
                 result.cycles, result.newton_iterations, result.status)
        result.warnings = warnings
        return result
    timings: dict[str, float] = {}
    if overrides:
        b, m = apply_overrides(network.boundary, network.model, overrides)
        network = network.replace_config(boundary=b, model=m)
    svoned = getattr(network, "svoned", None)
    if svoned is not None and detect:
        # an svOneDSolver model defines its own stenoses (STENOSIS segments): no detection on its segments
        detect = False
        log.info("lesions: as given by the svOneDSolver model (%d STENOSIS segments); detection off",
                 len(svoned.get("stenoses", [])))
    if detect:

        t = time.perf_counter()
        network = detect_lesions(network)
        timings["detect_lesions"] = time.perf_counter() - t
        log.info("lesions: %d found (threshold %.0f %% DS)",
                 sum(len(v.lesions or []) for v in network.vessels.values()), network.model.stenosis_threshold_pct)
    if solver == "lumped":

        result = solve_lumped_network(network, backend=backend, **solver_options)
        log.info("solve: lumped on %s, %d Newton iterations", result.backend, result.iterations)
    elif solver == "pulsatile":

        if svoned is not None and "outlet_models" not in solver_options:
            # the model's own inlet table and outlet models; its serial SEGMENT chains are merged into
            # single vessels (the same 1D equations, without the sub-millimetre cells that would set the
            # time step)

            outlets, inlet = pulsatile_inputs(svoned)
            network, mapping = merge_serial_vessels(network)
            solver_options = {**solver_options, "inlet": inlet,
                              "outlet_models": {mapping[k][0]: v for k, v in outlets.items()}}
            log.info("svOneD model: %d serial segments merged, %d vessels", network.meta["merged_serial_vessels"],
                     len(network.vessels))
        result = solve_pulsatile(network, backend=backend, **solver_options)
        log.info("solve: pulsatile on %s, %d cycles (%s, last change %.1e), %d steps of %.2e s per cycle",
                 result.backend, result.iterations, "periodic" if result.converged else "NOT periodic",
                 result.residual, result.pulsatile["steps_per_cycle"], result.pulsatile["dt_s"])
    else:

        result = solve_steady(network, backend=backend, **solver_options)
        log.info("solve: %s on %s, %d Newton iterations, residual %.1e", solver, result.backend,
                 result.iterations, result.residual)
    result.timings_s = {**timings, **result.timings_s}
    result.warnings = warnings
    return result


def run(source, output_dir: str | Path | None = None, solver: str = "steady", backend: str = "auto",
        overrides: Mapping[str, Any] | None = None, detect: bool = True, *, label: int | None = None,
        threshold: float | None = None, ostia: Sequence[Sequence[float]] | None = None, mesh_options: Mapping[str, Any] | None = None,
        pictures: bool = True, units: str | None = None, contour_groups: Sequence[str] | None = None,
        names: str | Path | Mapping[str, str] | None = None, **solver_options):
    """Load (or mesh), detect lesions, solve and (optionally) write every output of one case.

    Parameters
    ----------
    source : path, dict or VesselNetwork
        The case: a network (see :func:`load`), or a lumen mask / lumen probability map / closed
        surface, which is meshed first (see :func:`mesh`; ``label``, ``threshold``, ``ostia`` and
        ``mesh_options`` go there). ``summary.json`` records under ``input`` the ``kind`` of a meshed
        image (``"mask"`` or ``"probability"``) and a probability map's ``threshold``.
    output_dir : path, optional
        When given, ``summary.json``, ``results.h5``, ``centerlines.vtp`` and ``network.json`` (the
        network as solved, lesions included) are written there; for a meshed input also
        ``surface.stl``, ``lesions.json`` and ``mesh.json``. The folder's new content appears all or
        nothing.
    pictures : bool
        With ``output_dir``: also ``ffr.png``, ``pullback.png`` and ``surface.vtp`` carrying FFR (for a
        network input the surface is a tube swept from the centerline radii).
    units, contour_groups
        Passed to :func:`load`: the length unit of a SimVascular project or VTK centerlines (default:
        inferred from the radii; ``summary.json`` says which was used and why in ``input.units``) and
        the SimVascular contour groups to use.
    names : path or mapping, optional
        The user's vessel names, ``{vessel id: name}`` or a JSON file of it (``--names``): set as the
        vessels' ``name`` (ids of the network as solved, e.g. ``LCA_3`` for a mask) and winning over
        the anatomical names :mod:`ffrflow.anatomy` finds from the geometry.

    Returns
    -------
    ffrflow.cfd.result.Result

    Examples
    --------
    >>> import ffrflow                                        # doctest: +SKIP
    >>> r = ffrflow.run("case/network.json")                  # doctest: +SKIP
    >>> [round(les["ffr_distal"], 2) for les in r.lesions]    # doctest: +SKIP
    """
    t0 = time.perf_counter()
    meshed = None
    if is_geometry_input(source):
        if units is not None or contour_groups:
            raise InvalidInputError(f"{source}: --units and --contour-group apply to SimVascular projects and "
                                    f"centerlines; a mask is meshed in world mm from its header, a surface is read as "
                                    f"mm (metres recognised by size)")
        meshed = _mesh(source, label=label, threshold=threshold, ostia=ostia, lesions=detect,
                       **dict(mesh_options or {}))
        net = meshed.network
        log.info("mesh: %d vessels, %d roots, %d outlets from %s (%.2f s)", len(net.vessels), len(net.roots),
                 len(net.outlets), source, meshed.timings_s.get("total", 0.0))
    else:
        if label is not None or threshold is not None:
            raise InvalidInputError(f"{source}: --label and --threshold apply to mask and probability-map images; "
                                    f"this input is a network")
        net = load(source, units=units, contour_groups=contour_groups)
    if names is not None and isinstance(net, VesselNetwork):
        where = str(names) if isinstance(names, (str, Path)) else "names"
        net = apply_names(net, read_names(names) if isinstance(names, (str, Path)) else names, source=where)
    elif names is not None:
        raise InvalidInputError(f"{names}: names apply to vessel networks; an svZeroDSolver model has no vessels "
                                f"to name")
    t_load = time.perf_counter() - t0
    log.info("load: %d vessels, %d roots, %d outlets (%.2f s)", len(net.vessels), len(net.roots),
             len(net.outlets), t_load)
    result = solve(net, solver=solver, backend=backend, detect=detect, overrides=overrides, **solver_options)
    timings = {"load": t_load}
    if meshed is not None:
        timings.update({f"mesh_{k}": v for k, v in meshed.timings_s.items()})
        result.surface = meshed.surface
        result.mesh_info = meshed.summary()
    result.timings_s = {**timings, **result.timings_s}
    if isinstance(source, (str, Path)):
        result.input_info = {"path": str(source), "sha256": file_sha256(source),
                             **(geometry_input_info(meshed) if meshed is not None else {})}
    else:
        result.input_info = {"path": None, "sha256": None}
    if output_dir is None:
        result.timings_s["total"] = time.perf_counter() - t0
        return result
    with output_folder(output_dir) as tmp:
        t = time.perf_counter()
        write_outputs(result, tmp, pictures=pictures)
        log.info("outputs: %s (%.2f s)", output_dir, time.perf_counter() - t)
        result.timings_s["total"] = time.perf_counter() - t0
        result.to_json(Path(tmp) / "summary.json")
        write_report(tmp)
    return result


def write_report(folder: str | Path) -> Path | None:
    """Write ``report.html`` of a case folder from its files (:func:`ffrflow.report.write_case_report`)
    and ``thumb.png`` (the dashboard's thumbnail of ``ffr.png``);
    a report that cannot be built (a lumped model's folder, which has no vessels or lesions, or a
    bug) is logged, never fatal: the results are worth more than their page. Returns its path or None."""
    if not (Path(folder) / "summary.json").is_file():
        return None
    try:

        t = time.perf_counter()
        path = write_case_report(folder)
        try:
            write_thumbnail(folder)     # thumb.png for the batch dashboard (when ffr.png was drawn)
        except Exception as exc:  # noqa: BLE001 - a thumbnail is never worth the results
            log.warning("thumb.png not written: %s: %s", type(exc).__name__, exc)
        log.debug("report: %s (%.2f s)", path, time.perf_counter() - t)
        return path
    except InvalidInputError as exc:
        log.info("report.html not written: %s", exc)
    except Exception as exc:  # noqa: BLE001 - a page is never worth the results
        log.warning("report.html not written: %s: %s", type(exc).__name__, exc)
    return None


def write_outputs(result, output_dir: str | Path, pictures: bool = False) -> dict[str, Path]:
    """Write every output of a result into ``output_dir`` (each file atomically).

    ``network.json`` and :meth:`Result.save` (``summary.json``, ``results.h5``, ``centerlines.vtp``);
    for a meshed case also ``surface.vtp`` (with FFR), ``surface.stl``, ``lesions.json`` and
    ``mesh.json``; for a lumped result ``model.json`` (its svZeroDSolver model); with ``pictures``
    also ``ffr.png``, ``pullback.png`` and, for a network input, ``surface.vtp`` on a tube swept from
    the centerline radii (docs/formats.md §Outputs of one case). A picture that cannot be drawn is
    logged and noted in the result, not fatal.
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    if isinstance(result.network, VesselNetwork):
        paths["network"] = result.network.to_json(out / "network.json")
    t = time.perf_counter()
    paths.update(result.save(out))
    if not isinstance(result.network, VesselNetwork) and result.network.units == "cgs":

        paths["model"] = write_svzerod(result.network, out / "model.json")
    solved_network = hasattr(result, "disc") and isinstance(result.network, VesselNetwork)
    if getattr(result, "surface", None) is not None or (pictures and solved_network):
        t_s = time.perf_counter()
        surf = result.surface_with_ffr() if solved_network else result.surface
        paths["surface"] = write_polydata(surf, out / "surface.vtp")
        result.timings_s["surface_ffr"] = time.perf_counter() - t_s
    if getattr(result, "surface", None) is not None:

        paths["surface_stl"] = write_surface(result.surface, out / "surface.stl")
    if pictures and solved_network:
        t_p = time.perf_counter()
        for name, draw in (("ffr.png", result.plot), ("pullback.png", result.plot_pullback)):
            try:
                draw(path=out / name)
                paths[name.split(".")[0] + "_png"] = out / name
            except Exception as exc:  # noqa: BLE001 - a picture is never worth the results
                log.warning("%s not drawn: %s: %s", name, type(exc).__name__, exc)
                result.notes.append(f"{name} not drawn: {type(exc).__name__}: {exc}")
        result.timings_s["pictures"] = time.perf_counter() - t_p
    if getattr(result, "mesh_info", None) is not None:

        paths["lesions"] = out / "lesions.json"
        atomic_write_text(paths["lesions"], json.dumps(_jsonable(lesion_table(result.network)), indent=1) + "\n")
        paths["mesh_info"] = out / "mesh.json"
        atomic_write_text(paths["mesh_info"], json.dumps(_jsonable(result.mesh_info), indent=1) + "\n")
    result.timings_s["write"] = time.perf_counter() - t
    return paths
