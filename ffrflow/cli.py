"""The ``ffrflow`` command, a thin layer over :mod:`ffrflow.api`.

Commands::

    ffrflow run INPUT -o DIR [--solver steady] [--backend auto|numpy|cpu|cuda] [--set key=value ...]
    ffrflow demo [-o DIR]
    ffrflow info

Exit codes: 0 success; 1 unexpected internal error; 2 invalid input or usage (the message names the
file and field); 3 the solver did not converge; 4 a requested backend is unavailable; 5 geometry
that cannot be meshed. Errors print one line, ``error: ...``, and no traceback (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from . import __version__
from .errors import (BackendUnavailableError, ConvergenceError, FfrflowError, InvalidInputError,
                     MeshQualityError)

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT, EXIT_CONVERGENCE, EXIT_BACKEND, EXIT_MESH = 0, 1, 2, 3, 4, 5
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


def format_lesion_table(lesions: list[dict]) -> str:
    """Plain-text lesion table: vessel, position, %DS, ΔP (mmHg), FFR distal."""
    head = f"{'lesion':<7}{'vessel':<10}{'position mm':>12}{'length mm':>11}{'MLD mm':>8}{'%DS':>7}" \
           f"{'dP mmHg':>9}{'FFR':>7}"
    lines = [head, "-" * len(head)]
    for les in lesions:
        lines.append(f"{les['id']:<7}{les['vessel']:<10}{les['position_mm']:>12.1f}{les['length_mm']:>11.1f}"
                     f"{les['mld_mm']:>8.2f}{les['diameter_stenosis_pct']:>7.1f}{les['delta_p_mmHg']:>9.2f}"
                     f"{les['ffr_distal']:>7.3f}")
    if not lesions:
        lines.append("(no lesion found)")
    return "\n".join(lines)


def format_outlet_table(outlets: list[dict]) -> str:
    """Plain-text outlet table: vessel, flow (mL/s), pressure (mmHg), FFR."""
    head = f"{'outlet':<10}{'flow mL/s':>10}{'P mmHg':>9}{'FFR':>7}"
    lines = [head, "-" * len(head)]
    for o in outlets:
        lines.append(f"{o['vessel']:<10}{o['flow_ml_s']:>10.3f}{o['pressure_mmHg']:>9.2f}{o['ffr']:>7.3f}")
    return "\n".join(lines)


def _print_result(result, output_dir) -> None:
    print(format_lesion_table(result.lesions))
    print()
    print(format_outlet_table(result.outlets))
    print()
    print(f"min FFR {result.min_ffr:.3f} | solver {result.solver} on {result.backend} | "
          f"{result.iterations} Newton iterations, residual {result.residual:.1e}")
    if output_dir is not None:
        out = Path(output_dir)
        print(f"outputs in {out}/: " + ", ".join(sorted(p.name for p in out.iterdir() if p.is_file()
                                                         and not p.name.startswith("."))))


def cmd_run(args) -> int:
    from .api import run

    overrides = _parse_set(args.set)
    result = run(args.input, output_dir=args.output, solver=args.solver, backend=args.backend,
                 overrides=overrides, detect=not args.no_detect)
    _print_result(result, args.output)
    return EXIT_OK


def cmd_demo(args) -> int:
    from .api import run
    from .phantoms import demo_case

    out = Path(args.output)
    t = time.perf_counter()
    phantom = demo_case()
    case_dir = out / "case"
    phantom.write(case_dir, mask=False)
    log.info("demo: phantom left + right coronary tree with %d lesions written to %s (%.2f s)",
             len(phantom.lesions), case_dir, time.perf_counter() - t)
    result = run(case_dir / "network.json", output_dir=out, backend=args.backend, overrides=_parse_set(args.set))
    _print_result(result, out)
    print("\ntrue lesions of the phantom (truth.json):")
    for les in phantom.lesions:
        print(f"  {les['vessel']:<8} position {les['position_mm']:6.1f} mm, {les['diameter_stenosis_pct']:4.1f} %DS, "
              f"length {les['length_mm']:.1f} mm")
    return EXIT_OK


def cmd_info(args) -> int:
    from .kernels import available_backends, resolve_backend

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

    r = sub.add_parser("run", help="solve one case and write its outputs")
    r.add_argument("input", help="network .json (ffrflow-network/1)")
    r.add_argument("-o", "--output", default=None, help="output folder (summary.json, results.h5, centerlines.vtp)")
    r.add_argument("--solver", default="steady", choices=["steady"])
    r.add_argument("--no-detect", action="store_true", help="do not detect lesions on vessels without a lesions list")
    common(r)
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("demo", help="run the whole pipeline on the embedded phantom case")
    d.add_argument("-o", "--output", default="ffrflow-demo", help="output folder (default ./ffrflow-demo)")
    common(d)
    d.set_defaults(func=cmd_demo)

    i = sub.add_parser("info", help="version and available backends")
    i.set_defaults(func=cmd_info)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ffrflow`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.quiet, args.debug)
    try:
        return args.func(args)
    except InvalidInputError as exc:
        code, msg = EXIT_INPUT, str(exc)
    except ConvergenceError as exc:
        code, msg = EXIT_CONVERGENCE, str(exc)
    except BackendUnavailableError as exc:
        code, msg = EXIT_BACKEND, str(exc)
    except MeshQualityError as exc:
        code, msg = EXIT_MESH, str(exc)
    except FfrflowError as exc:
        code, msg = EXIT_INTERNAL, str(exc)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if args.debug:
        raise
    print(f"error: {msg}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
