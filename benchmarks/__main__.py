"""``python -m benchmarks <name> [options]``; the names are the keys of ``BENCHMARKS``."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {"steady": "benchmarks.steady", "pulsatile": "benchmarks.pulsatile", "ensemble": "benchmarks.ensemble", "uq": "benchmarks.uq",
              "meshing": "benchmarks.meshing", "batch": "benchmarks.batch",
              "validate": "benchmarks.validate", "peers": "benchmarks.peers",
              "mask_ffr": "benchmarks.mask_ffr", "robustness": "benchmarks.robustness",
              "demo": "benchmarks.demo", "labels": "benchmarks.labels",
              "coldstart": "benchmarks.coldstart", "dashboard": "benchmarks.dashboard"}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in BENCHMARKS:
        print(f"usage: python -m benchmarks {{{','.join(BENCHMARKS)}}} [options]", file=sys.stderr)
        return 2
    importlib.import_module(BENCHMARKS[argv[0]]).main(argv[1:])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
