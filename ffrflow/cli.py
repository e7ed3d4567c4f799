"""The ``ffrflow`` command, a thin layer over :mod:`ffrflow.api`.

Commands::

    ffrflow run INPUT -o DIR [--solver steady|pulsatile|lumped] [--backend auto|numpy|cpu|cuda] [--set key=value ...]
                             [--label N | --threshold T] [--ostium x,y,z ...] [--units mm|cm|m]
                             [--contour-group NAME ...]
    ffrflow export NETWORK --to svzerod|svoned -o FILE [--root ID]
    ffrflow mesh INPUT -o DIR [--label N | --threshold T] [--ostium x,y,z ...] [--no-lesions] [--volume-mesh]
    ffrflow batch MANIFEST -o OUTDIR [--workers N | --scheduler tcp://host:8786] [--no-pictures] [--force]
                                     [--gpu [--uq-samples N] [--gpu-batch-size K] [--emulate-gpu-workers N]]
    ffrflow report CASE_DIR [-o FILE]
    ffrflow demo [-o DIR]
    ffrflow info

INPUT is a network (``.json``, VTK centerlines with a radius array, svOneDSolver ``.in``,
svZeroDSolver ``.json``, SimVascular project folder), a lumen mask (``.nii``, ``.nii.gz``,
``.nrrd``, ``.mha``, ``.mhd``, DICOM file or series folder), a lumen probability map (the same
formats holding floating-point values in [0, 1]; the lumen is ``p >= --threshold``, default 0.5,
its wall the sub-voxel iso-surface there) or a closed surface (``.stl``, ``.vtp``, ``.obj``);
masks, probability maps and surfaces are meshed first. SimVascular projects and VTK centerlines
do not state their length unit: ``--units`` gives it, else it is inferred from the radii and
reported (log and ``summary.json``). Warnings (renamed SimVascular paths, skipped contour groups,
radii that do not fit a coronary tree) are logged and listed in ``summary.json``. An output folder
appears all or nothing.

Exit codes: 0 success; 1 unexpected internal error; 2 invalid input or usage (the message names the
file and field); 3 the solver did not converge; 4 a requested backend is unavailable; 5 geometry
that cannot be meshed; 6 a batch finished but some of its cases failed (their ``error.json`` says
why); 130 interrupted (Ctrl-C; a batch rerun resumes). Errors print one line, ``error: ...``, and no
traceback (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from . import __version__
from ._atomic import output_folder
from .api import load, mesh, run, write_outputs, write_report
from .batch import run_batch
from .config import apply_overrides
from .errors import BackendUnavailableError, ConvergenceError, FfrflowError, InvalidInputError, MeshQualityError
from .formats.svoned import write_svoned
from .formats.svzerod import write_svzerod
from .kernels import available_backends, resolve_backend
from .meshing.stenosis import detect_lesions, lesion_table
from .network import VesselNetwork
from .phantoms import demo_case
from .report import write_case_report
from .uncertainty import attach_to_outputs, pci, uq, write_uq
from .warmup import warm_up

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT, EXIT_CONVERGENCE, EXIT_BACKEND, EXIT_MESH = 0, 1, 2, 3, 4, 5
EXIT_BATCH_FAILED, EXIT_INTERRUPTED = 6, 130
log = logging.getLogger("ffrflow")


class _StageFormatter(logging.Formatter):
    def __init__(self):
        super().__init__()
        self.t0 = time.perf_counter()

    def format(self, record):
        return f"[{time.perf_counter() - self.t0:6.2f} s] {record.getMessage()}"


def _setup_logging(quiet: bool, debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_StageFormatter())
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO)
    log.propagate = False


def _parse_set(items: list[str]) -> dict:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise InvalidInputError(f"--set {item!r}: expected key=value (e.g. boundary.inlet_pressure_mmHg=90)")
        key, raw = item.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[key.strip()] = value
    return out


def _parse_ostia(items: list[str] | None) -> list[tuple[float, float, float]] | None:
    out = []
    for item in items or []:
        parts = item.replace(" ", "").split(",")
        try:
            xyz = tuple(float(p) for p in parts)
        except ValueError:
            xyz = ()
        if len(xyz) != 3 or not all(map(math.isfinite, xyz)):
            raise InvalidInputError(f"--ostium {item!r}: expected three numbers x,y,z in world mm (LPS), "
                                    f"e.g. --ostium 12.5,-40,103")
        out.append(xyz)
    return out or None


def _text_table(rows, columns, empty: str | None = None) -> str:
    """Fixed-width plain-text table; ``columns`` = [(key, header, alignment and width, format spec)],
    e.g. ``("vessel", "vessel", "<10", "")`` or ``("ffr", "FFR", ">7", ".3f")``."""
    head = "".join(f"{h:{aw}}" for _, h, aw, _ in columns)
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append("".join(f"{'-' if r.get(key) is None else format(r[key], spec):{aw}}"
                             for key, _, aw, spec in columns))
    if not rows and empty:
        lines.append(empty)
    return "\n".join(lines)


def format_geometry_table(lesions: list[dict]) -> str:
    """Plain-text table of lesion geometry (no pressures): vessel, position, length, MLD, %DS, %AS."""
    return _text_table(lesions, [("id", "lesion", "<7", ""), ("vessel", "vessel", "<10", ""),
                                 ("position_mm", "position mm", ">12", ".1f"), ("length_mm", "length mm", ">11", ".1f"),
                                 ("mld_mm", "MLD mm", ">8", ".2f"), ("reference_diameter_mm", "ref mm", ">8", ".2f"),
                                 ("diameter_stenosis_pct", "%DS", ">7", ".1f"), ("area_stenosis_pct", "%AS", ">7", ".1f")],
                       "(no lesion found)")


def format_truth_table(found: list[dict], truth: list[dict], match_mm: float = 6.0) -> str:
    """The phantom's true lesions beside the lesions found (matched by the MLD point, world mm)."""
    head = f"{'true vessel':<12}{'position mm':>12}{'%DS':>7}{'length mm':>11}   | {'found':<6}{'vessel':<8}" \
           f"{'position mm':>12}{'%DS':>7}{'FFR':>7}"
    lines = [head, "-" * len(head)]
    for t in truth:
        d = [float(np.linalg.norm(np.subtract(f["mld_xyz_mm"], t["mld_xyz_mm"]))) for f in found]
        k = int(np.argmin(d)) if d else -1
        left = f"{t['vessel']:<12}{t['position_mm']:>12.1f}{t['diameter_stenosis_pct']:>7.1f}{t['length_mm']:>11.1f}   | "
        if k >= 0 and d[k] <= match_mm:
            f = found[k]
            ffr = f"{f['ffr_distal']:>7.3f}" if "ffr_distal" in f else ""
            lines.append(left + f"{f['id']:<6}{f['vessel']:<8}{f['position_mm']:>12.1f}"
                         f"{f['diameter_stenosis_pct']:>7.1f}{ffr}")
        else:
            lines.append(left + "(not found)")
    return "\n".join(lines)


def format_lesion_table(lesions: list[dict]) -> str:
    """Plain-text lesion table: vessel (id and anatomical name, SCCT segment), position, %DS, ΔP (mmHg),
    FFR at the distal shoulder, the read-outs distal to the lesion (FFR at 10 and 20 mm by default),
    ΔFFR across it and its class."""
    lesions = list(lesions)
    readouts = [k for k in (lesions[0] if lesions else {}) if k.startswith("ffr_") and k.endswith("mm")]
    cols = [("id", "lesion", "<7", ""), ("vessel", "vessel", "<10", ""), ("vessel_name", "name", "<12", ""),
            ("segment", "seg", ">4", ""), ("position_mm", "position mm", ">12", ".1f"),
            ("length_mm", "length mm", ">11", ".1f"), ("mld_mm", "MLD mm", ">8", ".2f"),
            ("diameter_stenosis_pct", "%DS", ">7", ".1f"), ("delta_p_mmHg", "dP mmHg", ">9", ".2f"),
            ("ffr_distal", "FFR", ">7", ".3f")]
    cols += [(k, "FFR@" + k[4:], ">10", ".3f") for k in readouts]
    if lesions and "delta_ffr" in lesions[0]:
        cols += [("delta_ffr", "dFFR", ">7", ".3f"), ("_class", "  class", "<12", "")]
        lesions = [{**les, "_class": f"  {les['ffr_class']}" if les.get("ffr_class") else None} for les in lesions]
    return _text_table(lesions, cols, "(no lesion found)")


def format_vessel_table(vessels: list[dict]) -> str:
    """Plain-text per-vessel table: name, SCCT segments, FFR at the distal end where the lumen is still
    ≥ the diameter cut-off (mm from the vessel's start), lowest FFR, confidence of the name."""
    rows = [{**v, "segs": ",".join(str(x) for x in v.get("segments", [])) or "-",
             "n": ",".join(v["vessels"]) if len(v["vessels"]) <= 3 else f"{v['vessels'][0]}..{v['vessels'][-1]}"}
            for v in vessels]
    cut = vessels[0]["min_diameter_mm"] if vessels else 1.8
    return _text_table(rows, [("name", "vessel", "<14", ""), ("n", "network ids", "<22", ""), ("segs", "SCCT", "<9", ""),
                              ("ffr_distal", f"FFR (d>={cut:g}mm)", ">15", ".3f"), ("distal_mm", "at mm", ">8", ".1f"),
                              ("ffr_min", "min FFR", ">9", ".3f"), ("confidence", "conf", ">6", ".2f")])


def format_outlet_table(outlets: list[dict]) -> str:
    """Plain-text outlet table: vessel, flow (mL/s), pressure (mmHg), FFR."""
    cols = [("vessel", "outlet", "<10", "")] + ([("vessel_name", "name", "<12", "")] if outlets and
                                                 "vessel_name" in list(outlets)[0] else [])
    return _text_table(outlets, cols + [("flow_ml_s", "flow mL/s", ">10", ".3f"),
                                 ("pressure_mmHg", "P mmHg", ">9", ".2f"), ("ffr", "FFR", ">7", ".3f")])


def _print_result(result, output_dir) -> None:
    if not hasattr(result, "lesion_records"):  # a lumped (svZeroDSolver) model: no geometry, no lesions
        print(result.format_table())
        print(f"\nsolver lumped on {result.backend} | {result.status} | {result.cycles} cycles, {result.steps} steps, "
              f"{result.newton_iterations} Newton iterations | means over the last cycle, {result.model.units} units")
        if output_dir is not None:
            out = Path(output_dir)
            print(f"outputs in {out}/: " + ", ".join(sorted(p.name for p in out.iterdir() if p.is_file()
                                                             and not p.name.startswith("."))))
        return
    print(format_lesion_table(result.lesion_records))
    print()
    print(format_vessel_table(result.vessel_readouts))
    print()
    print(format_outlet_table(result.outlet_records))
    print()
    if result.solver == "pulsatile":
        p = result.pulsatile
        how = (f"{p['cycles']} cycles, {'periodic' if p['periodic'] else 'NOT periodic'} (last change "
               f"{p['last_change']:.1e}), {p['steps_per_cycle']} steps/cycle, FFR from cycle means")
    else:
        how = f"{result.iterations} Newton iterations, residual {result.residual:.1e}"
    print(f"min FFR {result.min_ffr:.3f} | solver {result.solver} on {result.backend} | {how}")
    if output_dir is not None:
        out = Path(output_dir)
        print(f"outputs in {out}/: " + ", ".join(sorted(p.name for p in out.iterdir() if p.is_file()
                                                         and not p.name.startswith("."))))


def cmd_run(args) -> int:
    overrides = _parse_set(args.set)
    result = run(args.input, output_dir=args.output, solver=args.solver, backend=args.backend,
                 overrides=overrides, detect=not args.no_detect, label=args.label, threshold=args.threshold,
                 ostia=_parse_ostia(args.ostium), names=args.names,
                 pictures=not args.no_pictures, units=args.units, contour_groups=args.contour_group)
    _print_result(result, args.output)
    return EXIT_OK


def cmd_batch(args) -> int:
    if args.workers is not None and args.workers < 1:
        raise InvalidInputError(f"--workers {args.workers}: expected at least 1")
    rep = run_batch(args.manifest, args.output, workers=args.workers, scheduler=args.scheduler,
                    backend=args.backend, pictures=not args.no_pictures, force=args.force,
                    progress=True if args.progress else None, gpu=True if args.gpu else None,
                    uq_samples=args.uq_samples, gpu_batch_size=args.gpu_batch_size,
                    emulate_gpu_workers=args.emulate_gpu_workers)
    c = rep.counts
    print(f"{c['ok']} done, {c['skipped']} finished earlier, {c['failed']} failed, {c['rejected']} rejected "
          f"in {rep.seconds:.1f} s ({rep.cases_per_minute:.1f} cases/min) on {rep.cluster}")
    for r in rep.records:
        if r.get("status") in ("failed", "rejected"):
            print(f"  {r.get('case_id') or '(row %s)' % r.get('row')}: {r.get('stage')}: {r.get('error')}")
    print(f"results in {Path(args.output)}/: " + ", ".join(p.name for p in rep.results.values()))
    return EXIT_OK if rep.all_ok else EXIT_BATCH_FAILED


def cmd_mesh(args) -> int:
    net = mesh(args.input, output_dir=args.output, label=args.label, threshold=args.threshold,
               ostia=_parse_ostia(args.ostium),
               lesions=not args.no_lesions, spacing_out_mm=args.spacing, volume_mesh=args.volume_mesh)
    info = net.meta.get("mesh", {})
    print(format_geometry_table(lesion_table(net)) if not args.no_lesions else "(lesion detection off)")
    print()
    print(f"{len(net.vessels)} vessels, {len(net.roots)} trees ({', '.join(net.roots)}), {len(net.outlets)} outlets; "
          f"surface {info.get('surface', {}).get('triangles', '?')} triangles, meshed in "
          f"{info.get('timings_s', {}).get('total', float('nan')):.1f} s")
    out = Path(args.output)
    print(f"outputs in {out}/: " + ", ".join(sorted(p.name for p in out.iterdir() if p.is_file()
                                                     and not p.name.startswith("."))))
    return EXIT_OK


def cmd_demo(args) -> int:
    out = Path(args.output)
    t = time.perf_counter()
    phantom = demo_case()
    case_dir = out / "case"
    phantom.write(case_dir, mask=True, spacing_mm=0.4)
    log.info("demo: phantom left + right coronary tree with %d lesions voxelised at 0.4 mm into %s (%.2f s)",
             len(phantom.lesions), case_dir / "mask.nii.gz", time.perf_counter() - t)
    result = run(case_dir / "mask.nii.gz", output_dir=out, backend=args.backend, overrides=_parse_set(args.set))
    _print_result(result, out)
    print("\nthe phantom's true lesions (case/truth.json) beside the lesions found in its mask:")
    print(format_truth_table(result.lesion_records, phantom.lesions))
    return EXIT_OK


def format_uq_table(rows: list[dict], key: str = "id") -> str:
    """Plain-text uncertainty table: median FFR, 90 % interval, P(FFR <= 0.80), main contributor."""
    head = f"{'':<7}{'vessel':<9}{'median':>8}{'90 % interval':>17}{'P(<=0.80)':>11}  main contributors"
    lines = [head, "-" * (len(head) + 12)]
    for r in rows:
        top = sorted(r["first_order_index"].items(), key=lambda kv: -kv[1])[:2]
        contrib = ", ".join(f"{k} {v:.2f}" for k, v in top if v > 0.005) or "-"
        lines.append(f"{str(r.get(key, '')):<7}{r['vessel']:<9}{r['median']:>8.3f}   [{r['p05']:.3f}, {r['p95']:.3f}]"
                     f"{r['p_below_cutoff']:>11.2f}  {contrib}")
    return "\n".join(lines)


def format_uq_readouts(block: dict) -> str:
    """Plain-text table of the standard read-outs with their uncertainty (``uq.json`` ``readouts``):
    per lesion FFR 10/20 mm distal (median [90 % interval]), ΔFFR, P(FFR <= 0.80) and the class
    probabilities at the classified point; per named vessel the distal and lowest FFR."""
    if "unavailable" in block:
        return f"read-outs: unavailable ({block['unavailable']})"

    def iv(x, p=False):
        if x is None:
            return f"{'-':>22}" + (f"{'':>7}" if p else "")
        return f"{x['median']:>6.3f} [{x['p05']:.3f}, {x['p95']:.3f}]" + (f"{x['p_below_cutoff']:>7.2f}" if p else "")

    les = block["lesions"]
    keys = [k for k in (les[0] if les else {}) if k.startswith("ffr_") and k.endswith("mm")]
    head = (f"{'lesion':<7}{'vessel':<9}" + "".join(f"{'FFR@' + k[4:] + ' [90 %]':>22}" for k in keys)
            + f"{'dFFR [90 %]':>22}{'P(<=0.80)':>11}{'P(pos)':>8}{'P(grey)':>8}")
    lines = [head, "-" * len(head)]
    for r in les:
        lines.append(f"{r['id']:<7}{r['vessel']:<9}" + "".join(f"{iv(r[k]):>22}" for k in keys)
                     + f"{iv(r['delta_ffr']):>22}{r['class_ffr']['p_below_cutoff']:>11.2f}"
                     + f"{r['p_positive']:>8.2f}{r['p_grey_zone']:>8.2f}")
    head2 = f"{'vessel':<40}{'distal FFR [90 %]':>22}{'P':>7}{'lowest FFR [90 %]':>22}{'P':>7}"
    lines += ["", head2, "-" * len(head2)]
    for r in block["vessels"]:
        lines.append(f"{r['name'][:39]:<40}{iv(r['ffr_distal'], True)}{iv(r['ffr_min'], True)}")
    lines.append(f"(P: P(FFR <= 0.80); P(pos): FFR <= {block['config']['positive_max']:g}, P(grey): "
                 f"{block['config']['positive_max']:g} < FFR <= {block['config']['negative_above']:g}, at "
                 f"{block['config']['class_at_mm']:g} mm distal or the path's end)")
    return "\n".join(lines)


def _deterministic(args):
    """The case solved as ``ffrflow run`` does, nothing written yet (the caller writes one folder)."""

    return run(args.input, output_dir=None, backend=args.backend, overrides=_parse_set(args.set),
               label=args.label, threshold=args.threshold, ostia=_parse_ostia(args.ostium), units=args.units,
               contour_groups=args.contour_group, names=args.names)


def _write_case(result, tmp) -> None:
    """The run's outputs (as ``ffrflow run`` writes them) into a folder being built."""

    write_outputs(result, tmp, pictures=True)
    result.to_json(Path(tmp) / "summary.json")


def _failed_line(res) -> str:
    f = res.failed
    line = (f"{f['count']} of {res.n_samples} samples failed ({100 * f['fraction']:.2f} %; at most "
            f"{100 * f['max_fraction']:g} % allowed)")
    if f["count"]:
        line += ": " + ", ".join(f"{k} {v}" for k, v in f["by_status"].items()) + \
            f"; statistics over the {res.n_samples - f['count']} converged samples"
    return line


def cmd_uq(args) -> int:
    result = _deterministic(args)
    dists = json.loads(args.distributions) if args.distributions else None
    res = uq(result.network, n_samples=args.samples, distributions=dists, backend=args.backend, seed=args.seed,
             method=args.method, max_failed_fraction=args.max_failed_fraction)
    if args.output:   # the run's outputs and the uncertainty appear together or not at all
        with output_folder(args.output) as tmp:
            _write_case(result, tmp)
            write_uq(res, tmp, "uq")
            attach_to_outputs(tmp, "uq", res.summary(), res.arrays())
            write_report(tmp)
    print(format_uq_table(res.lesions))
    print()
    print(format_uq_table(res.outlets, key=""))
    print()
    print(format_uq_readouts(res.readouts))
    print(f"\n{res.n_samples} samples ({res.method}) on {res.backend} in {res.timings_s['total']:.2f} s")
    print(_failed_line(res))
    if args.output:
        print(f"outputs in {args.output}/: uq.json, uq.png (summary.json and results.h5 carry them under 'uq')")
    return EXIT_OK


def cmd_pci(args) -> int:
    if not args.all and not args.lesion:
        raise InvalidInputError("pci: name the lesion(s) to stent with --lesion ID (repeatable) or use --all")
    result = _deterministic(args)
    chosen = "all" if args.all else args.lesion
    if args.output:   # the run's outputs and the PCI outputs appear together or not at all
        with output_folder(args.output) as tmp:
            res = pci(result.network, chosen, backend=args.backend, n_samples=args.samples, output_dir=tmp,
                      max_failed_fraction=args.max_failed_fraction)
            _write_case(result, tmp)
            arrays = {"ffr_lesion_pre_post": np.array([[x["ffr_pre"], x["ffr_post"]]
                                                       for x in res.lesions]).reshape(-1, 2)}
            if res.uncertainty is not None:
                arrays.update({f"uq/{k}": v for k, v in res.uncertainty.arrays().items()})
            attach_to_outputs(tmp, "pci", res.summary(), arrays)
            write_report(tmp)
    else:
        res = pci(result.network, chosen, backend=args.backend, n_samples=args.samples,
                  max_failed_fraction=args.max_failed_fraction)
    head = f"{'lesion':<7}{'vessel':<9}{'stented':>8}{'FFR before':>12}{'FFR after':>11}"
    print(head)
    print("-" * len(head))
    for x in res.lesions:
        print(f"{x['id']:<7}{x['vessel']:<9}{'yes' if x['stented'] else '':>8}{x['ffr_pre']:>12.3f}{x['ffr_post']:>11.3f}")
    print()
    print(f"{'outlet':<10}{'FFR before':>12}{'FFR after':>11}")
    for o in res.outlets:
        print(f"{o['vessel']:<10}{o['ffr_pre']:>12.3f}{o['ffr_post']:>11.3f}")
    if res.uncertainty is not None:
        print("\nafter PCI, with uncertainty: " + _failed_line(res.uncertainty))
    if args.output:
        print(f"\noutputs in {args.output}/: pci.json, pullback_pci.png"
              + (", pci_uq.json, pci_uq.png" if args.samples else "") + " (and 'pci' in summary.json)")
    return EXIT_OK


def cmd_report(args) -> int:
    path = write_case_report(args.case_dir, args.output)
    print(f"report: {path}")
    return EXIT_OK


def cmd_warmup(args) -> int:
    for step, seconds in warm_up(everything=args.all).items():
        print(f"{step:10s} {seconds:6.2f} s")
    return EXIT_OK


def cmd_export(args) -> int:
    net = load(args.input, units=args.units, contour_groups=args.contour_group)
    if not isinstance(net, VesselNetwork):
        raise InvalidInputError(f"{args.input}: already an svZeroDSolver model; export takes a vessel network")
    overrides = _parse_set(args.set)
    if overrides:
        b, m = apply_overrides(net.boundary, net.model, overrides)
        net = net.replace_config(boundary=b, model=m)
    if not args.no_detect:

        net = detect_lesions(net)
    if args.to == "svzerod":

        path = write_svzerod(net, args.output)
    else:

        path = write_svoned(net, args.output, root=args.root)
    n_les = sum(len(v.lesions or []) for v in net.vessels.values())
    print(f"wrote {path} ({args.to}: {len(net.vessels)} vessels, {n_les} lesions, {len(net.outlets)} outlets; CGS)")
    return EXIT_OK


def cmd_info(args) -> int:
    print(f"ffrflow {__version__}")
    print(f"backends available: {', '.join(available_backends())}; auto -> {resolve_backend('auto')}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ffrflow", description="Coronary geometry to reduced-order blood flow and FFR.")
    p.add_argument("--version", action="version", version=f"ffrflow {__version__}")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    p.add_argument("--debug", action="store_true", help="debug logging and full tracebacks")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("--backend", default="auto", choices=["auto", "numpy", "cpu", "cuda"],
                        help="kernel backend (default auto: cuda if usable, else cpu/Numba)")
        sp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a boundary/model value, e.g. boundary.inlet_pressure_mmHg=90 or model.kt=1.2")

    def geometry(sp):
        sp.add_argument("--label", type=int, default=None, metavar="N",
                        help="lumen label of a label volume (default: every voxel > 0)")
        sp.add_argument("--threshold", type=float, default=None, metavar="T",
                        help="lumen level of a probability map (floating-point values in [0, 1]), 0 < T < 1: the "
                             "lumen is p >= T, its wall the iso-surface of p at T (default 0.5); not with --label")
        sp.add_argument("--ostium", action="append", default=[], metavar="X,Y,Z",
                        help="ostium of one tree in world mm (LPS); repeat for each tree (default: widest end)")

    def names_option(sp):
        sp.add_argument("--names", default=None, metavar="NAMES.json",
                        help="your own vessel names, {\"vessel id\": \"name\"} (ids as in the solved network, e.g. "
                             "LCA_3 for a mask); they win over the anatomical names found from the geometry")

    def network_input(sp):
        sp.add_argument("--units", default=None, choices=["mm", "cm", "m"],
                        help="length unit of a SimVascular project or VTK centerlines, which do not state it "
                             "(default: inferred from the radii and reported; a tree whose unit cannot be told "
                             "is refused)")
        sp.add_argument("--contour-group", action="append", default=[], metavar="NAME", dest="contour_group",
                        help="SimVascular: use contour group NAME (its .ctgr file name) for its path where the "
                             "path has several (default: the group named like the path); repeatable")

    def one_case_options(sp, func):
        """What every command on one case takes (run, uq, pci): the geometry, names, network input,
        backend and override options, and the command's function."""
        geometry(sp)
        names_option(sp)
        network_input(sp)
        common(sp)
        sp.set_defaults(func=func)

    r = sub.add_parser("run", help="solve one case and write its outputs")
    r.add_argument("input", help="network (.json, VTK centerlines), lumen mask (.nii/.nii.gz/.nrrd/.mha/.mhd/"
                                 "DICOM folder) or closed surface (.stl/.vtp/.obj)")
    r.add_argument("-o", "--output", default=None, help="output folder (summary.json, results.h5, centerlines.vtp)")
    r.add_argument("--solver", default="steady", choices=["steady", "pulsatile", "lumped"],
                   help="steady hyperemic network (default), pulsatile 1D (FFR from cycle means, waveforms in "
                        "results.h5) or lumped 0D (svZeroDSolver-compatible; an svZeroDSolver .json always runs it)")
    r.add_argument("--no-detect", action="store_true", help="do not detect lesions on vessels without a lesions list")
    r.add_argument("--no-pictures", action="store_true", help="skip ffr.png, pullback.png (and the swept surface)")
    one_case_options(r, cmd_run)

    b = sub.add_parser("batch", help="run every case of a manifest on Dask, one folder per case")
    b.add_argument("manifest", help="CSV (or .jsonl) with case_id,input[,solver,inlet_pressure_mmHg,"
                                    "myocardial_mass_g,label,set.<key>]; inputs relative to the manifest")
    b.add_argument("-o", "--output", required=True, help="output folder: <case_id>/ per case, results.csv/.parquet")
    b.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker processes of the embedded Dask LocalCluster (default: CPU count)")
    b.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on an existing Dask scheduler, e.g. tcp://host:8786")
    b.add_argument("--gpu", action="store_true",
                   help="heterogeneous graph: meshing, pictures and writing on CPU workers, batched solves and a "
                        "per-case uncertainty run on GPU workers (one per GPU, dask-cuda; exit 4 if CuPy, a CUDA "
                        "device or dask-cuda is missing); --workers then counts the CPU workers")
    b.add_argument("--uq-samples", type=int, default=None, metavar="N",
                   help="with --gpu: uncertainty samples per case (default 10000; 0 turns the run off); the 90 %% "
                        "interval and P(FFR <= 0.80) go into summary.json, uq.json and the results table")
    b.add_argument("--gpu-batch-size", type=int, default=None, metavar="K",
                   help="with --gpu: cases per batched solve on a GPU worker (default 16)")
    b.add_argument("--emulate-gpu-workers", type=int, default=None, metavar="N",
                   help="with --gpu, TEST DEVICE: N CPU processes stand in for GPU workers and solve with Numba, "
                        "so that the GPU graph runs on a machine without a GPU (tests, graph-overhead benchmark); "
                        "never chosen by itself")
    b.add_argument("--no-pictures", action="store_true", help="skip ffr.png and pullback.png per case")
    b.add_argument("--force", action="store_true", help="rerun finished cases too")
    b.add_argument("--progress", action="store_true", help="progress bar even when stderr is not a terminal")
    b.add_argument("--backend", default="auto", choices=["auto", "numpy", "cpu", "cuda"],
                   help="kernel backend on the workers")
    b.set_defaults(func=cmd_batch)

    m = sub.add_parser("mesh", help="mask or surface -> 3D artery model, centerline network and lesions")
    m.add_argument("input", help="lumen mask (.nii/.nii.gz/.nrrd/.mha/.mhd/DICOM folder) or closed surface "
                                 "(.stl/.vtp/.obj)")
    m.add_argument("-o", "--output", required=True,
                   help="output folder: network.json, surface.vtp, surface.stl, centerlines.vtp, lesions.json")
    m.add_argument("--no-lesions", action="store_true", help="skip lesion detection")
    m.add_argument("--spacing", type=float, default=0.5, metavar="MM", help="centerline point spacing, mm (0.5)")
    m.add_argument("--volume-mesh", action="store_true",
                   help="also fill the surface with tetrahedra (volume.msh; needs the gmsh Python package)")
    geometry(m)
    m.set_defaults(func=cmd_mesh)

    d = sub.add_parser("demo", help="run the whole pipeline on the embedded phantom case")
    d.add_argument("-o", "--output", default="ffrflow-demo", help="output folder (default ./ffrflow-demo)")
    common(d)
    d.set_defaults(func=cmd_demo)

    u = sub.add_parser("uq", help="FFR with its uncertainty (Monte Carlo over the uncertain inputs)")
    u.add_argument("input", help="network, mask or surface (as for run)")
    u.add_argument("-o", "--output", default=None, help="output folder (the run's outputs plus uq.json, uq.png)")
    u.add_argument("--samples", type=int, default=4096, help="number of samples (default 4096)")
    u.add_argument("--method", default="qmc", choices=["qmc", "mc"], help="scrambled Sobol (default) or random")
    u.add_argument("--seed", type=int, default=0)
    u.add_argument("--distributions", default=None, metavar="JSON",
                   help='override input distributions, e.g. \'{"inlet_pressure_mmHg": {"dist": "normal", "sd": 5}}\'')
    u.add_argument("--max-failed-fraction", type=float, default=0.01, metavar="F",
                   help="largest fraction of samples whose solve may fail (default 0.01); they are reported and "
                        "left out of the statistics, more fail with exit code 3")
    one_case_options(u, cmd_uq)

    pc = sub.add_parser("pci", help="virtual stenting: FFR before and after restoring lesions to their reference lumen")
    pc.add_argument("input", help="network, mask or surface (as for run)")
    pc.add_argument("-o", "--output", default=None, help="output folder (pci.json, pullback_pci.png)")
    pc.add_argument("--lesion", action="append", default=[], metavar="ID", help="lesion id to stent (L1, L2, ...)")
    pc.add_argument("--all", action="store_true", help="stent every lesion")
    pc.add_argument("--samples", type=int, default=0, help="also the post-PCI uncertainty with this many samples")
    pc.add_argument("--max-failed-fraction", type=float, default=0.01, metavar="F",
                    help="with --samples: largest fraction of samples whose solve may fail (default 0.01)")
    one_case_options(pc, cmd_pci)

    e = sub.add_parser("export", help="write a network in another tool's format (svZeroDSolver JSON, svOneDSolver .in)")
    e.add_argument("input", help="network (.json, VTK centerlines, svOneD .in, SimVascular project folder)")
    e.add_argument("--to", required=True, choices=["svzerod", "svoned"], help="target format")
    e.add_argument("-o", "--output", required=True, help="output file")
    e.add_argument("--root", default=None, help="svoned: the tree to write when the network has several roots")
    e.add_argument("--no-detect", action="store_true", help="do not detect lesions on vessels without a lesions list")
    e.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a boundary/model value before exporting")
    network_input(e)
    e.set_defaults(func=cmd_export)

    rp = sub.add_parser("report", help="(re)write report.html of a case folder from its files")
    rp.add_argument("case_dir", help="a case folder written by run, uq, pci or batch (holds summary.json)")
    rp.add_argument("-o", "--output", default=None, help="where to write the page (default CASE_DIR/report.html)")
    rp.set_defaults(func=cmd_report)

    w = sub.add_parser("warmup", help="compile the Numba CPU kernels now, so that the first run does not "
                                      "(make install runs it)")
    w.add_argument("--all", action="store_true",
                   help="also the ensemble (uq, pci), pulsatile and lumped kernels (about a minute)")
    w.set_defaults(func=cmd_warmup)

    i = sub.add_parser("info", help="version and available backends")
    i.set_defaults(func=cmd_info)
    return p


def _exit_code(exc: BaseException) -> int:
    """The documented exit code of an exception (1 for anything that is not one of ffrflow's own)."""
    for cls, code in ((InvalidInputError, EXIT_INPUT), (ConvergenceError, EXIT_CONVERGENCE),
                      (BackendUnavailableError, EXIT_BACKEND), (MeshQualityError, EXIT_MESH)):
        if isinstance(exc, cls):
            return code
    return EXIT_INTERNAL


def _one_line(exc: BaseException) -> str:
    """``error: <message>`` on one line; an exception that is not ffrflow's own is named by its type."""
    msg = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    if not isinstance(exc, FfrflowError):
        msg = f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
    return f"error: {msg}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ffrflow`` console script; returns the exit code.

    Every error ends in one ``error: ...`` line on stderr and its exit code (module docstring): an
    exception that is not ffrflow's own (a bug, a full disk) is an internal error, exit 1, named by
    its type; ``--debug`` prints the traceback before that line. ``batch --gpu`` without CuPy, a CUDA
    device or dask-cuda is exit 4 naming what is missing, before any case runs.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.quiet, args.debug)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted" + (" (finished cases are kept; rerun the same command to resume)"
                               if args.command == "batch" else ""), file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the command line's last word on every error
        if args.debug:

            traceback.print_exc(file=sys.stderr)
        print(_one_line(exc), file=sys.stderr)
        return _exit_code(exc)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
