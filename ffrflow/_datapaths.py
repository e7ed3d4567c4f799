"""Where the repository's tests and benchmarks find their data (private: not part of the public API).

Two folders, resolved here and nowhere else (tests/conftest.py, benchmarks/validate.py,
benchmarks/peers.py and benchmarks/gpu_device_check.sh all ask this module):

- the peers' cases kept *in* the repository, ``tests/data/peers`` (svZeroDSolver, BSD-3-Clause;
  svOneDSolver, MIT-style; each with its licence, a README naming the upstream commit and paths, and
  ``update.py`` that refreshes and checks them). It is part of every checkout, so a test that needs it
  fails when it is missing instead of skipping. ``$FFRFLOW_PEERS_DIR`` (a folder holding
  ``svZeroDSolver/`` and ``svOneDSolver/`` in the same layout) replaces it, e.g. to run the benchmarks
  on a newer upstream set;
- the external data folder, for data whose licence keeps it out of the repository (the BlueFern
  coronary centrelines, GPL-2.0): ``$FFRFLOW_DATA_DIR`` (a folder holding ``real/`` and ``peers/``),
  else ``<repository>/../shared/data``. Tests that need it skip with :func:`missing_reason`.

``python -m ffrflow._datapaths`` prints the resolved folders (shell scripts read them from there;
``python -m ffrflow._datapaths peers`` prints only the peers folder).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: The repository checkout this package was imported from (its tests/ and benchmarks/ sit beside it).
REPO_ROOT = Path(__file__).resolve().parents[1]
#: Environment variable naming the external data folder (the one holding ``real/`` and ``peers/``).
DATA_ENV = "FFRFLOW_DATA_DIR"
#: Environment variable replacing the in-repository peers folder.
PEERS_ENV = "FFRFLOW_PEERS_DIR"
#: The peers' cases committed to the repository.
IN_REPO_PEERS = REPO_ROOT / "tests" / "data" / "peers"


def external_data_dir() -> Path:
    """The external data folder: ``$FFRFLOW_DATA_DIR``, else ``<repository>/../shared/data`` (may be absent)."""
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser().resolve() if env else REPO_ROOT.parent / "shared" / "data"


def peers_dir() -> Path:
    """The folder holding ``svZeroDSolver/`` and ``svOneDSolver/``: ``$FFRFLOW_PEERS_DIR``, else the
    repository's ``tests/data/peers``.

    Raises
    ------
    FileNotFoundError
        When that folder does not exist (a checkout without ``tests/``, or a wrong ``$FFRFLOW_PEERS_DIR``).
    """
    env = os.environ.get(PEERS_ENV)
    path = Path(env).expanduser().resolve() if env else IN_REPO_PEERS
    if not path.is_dir():
        origin = f"${PEERS_ENV}" if env else "the repository's tests/data/peers (part of every checkout)"
        raise FileNotFoundError(f"peer data folder {path} not found ({origin})")
    return path


def bluefern_dir() -> Path:
    """BlueFern DBiharMesher coronary centrelines (GPL-2.0, external data):
    ``<external>/real/bluefern-coronary-centrelines`` (may be absent)."""
    return external_data_dir() / "real" / "bluefern-coronary-centrelines"


def missing_reason(path: Path, what: str) -> str:
    """Skip reason for external data that is absent: what it is, where it was looked for, how to point at it."""
    return (f"{what} not found at {path} (external data kept outside the repository; "
            f"set ${DATA_ENV} to the folder holding real/ and peers/, default <repository>/../shared/data)")


def main(argv: list[str] | None = None) -> int:
    """Print the resolved folders: ``peers``, ``external`` or ``bluefern`` alone, or all with their names."""
    argv = sys.argv[1:] if argv is None else argv
    paths = {"peers": peers_dir, "external": external_data_dir, "bluefern": bluefern_dir}
    if argv:
        if argv[0] not in paths:
            print(f"usage: python -m ffrflow._datapaths [{'|'.join(paths)}]", file=sys.stderr)
            return 2
        print(paths[argv[0]]())
        return 0
    for name, fn in paths.items():
        try:
            p = fn()
            print(f"{name:9s} {p}{'' if p.is_dir() else '  (absent)'}")
        except FileNotFoundError as exc:
            print(f"{name:9s} {exc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
