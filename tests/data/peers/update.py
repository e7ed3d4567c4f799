"""Copy, refresh and check the peers' cases kept in the repository (tests/data/peers).

``FILES`` below is the list of what is kept and where each file comes from; ``MANIFEST.sha256``
(``sha256sum -c`` format, paths relative to this folder) holds the SHA-256 of each. Upstream files are
copied byte for byte: a copy whose hash differs from the manifest is refused and nothing is written.

Usage (from the repository root)::

    python tests/data/peers/update.py                      # check every file against MANIFEST.sha256
    python tests/data/peers/update.py --from-peers DIR     # copy from a peers folder (DIR/svZeroDSolver/...,
                                                           #   default $FFRFLOW_DATA_DIR/peers or ../shared/data/peers)
    python tests/data/peers/update.py --svzerod-git REPO --svoned-git REPO
                                                           # copy the upstream files and licences from git
                                                           #   clones (`git show COMMIT:PATH`, pinned commits)
    ... --accept                                           # after a deliberate change (a new upstream commit:
                                                           #   edit SVZEROD_COMMIT / SVONED_COMMIT and README.md
                                                           #   too): write what was copied and rewrite the manifest

The hand-built cases (``handmade_reference/``) are this project's own; their home is this folder and
they are only checked (or copied from a peers folder).
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
MANIFEST = HERE / "MANIFEST.sha256"

SVZEROD = "https://github.com/SimVascular/svZeroDSolver"
SVZEROD_COMMIT = "c7b0ca091abe747bc9c31babc33d3326efee7341"
SVONED = "https://github.com/SimVascular/svOneDSolver"
SVONED_COMMIT = "c4b8aac1156764d9faa17b0c9eb1d6a68ca65c85"

#: The open-loop svZeroDSolver test cases (input and stored result both kept).
ZEROD_OPEN = ["pulsatileFlow_CStenosis_steadyPressure", "pulsatileFlow_CStenosis_steadyPressure_definedPeriod",
              "pulsatileFlow_R_coronary", "pulsatileFlow_R_coronary_cycle_error", "pulsatileFlow_R_coronary_varres",
              "steadyFlow_R_coronary", "steadyFlow_bifurcationR_R1", "steadyFlow_blood_vessel_junction",
              "steadyFlow_stenosis_R"]
#: The closed-loop ones: inputs only (the tests check that they are refused with a reason; their stored
#: results, 3.4 MB for the coupled-block one, are not kept).
ZEROD_CLOSED = ["closedLoopHeart_withCoronaries", "coupledBlock_closedLoopHeart_withCoronaries"]
ZEROD_VMR = ["0080_0001_optimal_from_0d", "0104_0001_optimal_from_0d", "0140_2001_optimal_from_0d"]
ZEROD_HANDMADE = ["bifurcation_stenosis_steady_p13332.json", "bifurcation_stenosis_steady_p133322.json",
                  "ref_p13332.txt", "ref_p133322.txt", "single_stenosis_steady_p13332.json",
                  "single_stenosis_steady_p133322.json"]
ONED_CASES = ["Left_coronary_inlet_pressure_wave_outlet_coronary.in", "tube_stenosis_r.in"]
ONED_HANDMADE = ["ref_oneD_single_sten.txt", "single_sten_p13332.in", "single_sten_p133322.in"]

#: (path here, origin, path in the origin): origin "svZeroDSolver" / "svOneDSolver" (the upstream repository at
#: the pinned commit) or "handmade" (this project's own hand-built inputs and references).
FILES: list[tuple[str, str, str]] = (
    [("svZeroDSolver/LICENSE.txt", "svZeroDSolver", "LICENSE.txt")]
    + [(f"svZeroDSolver/tests_cases/{n}.json", "svZeroDSolver", f"tests/cases/{n}.json")
       for n in ZEROD_OPEN + ZEROD_CLOSED]
    + [(f"svZeroDSolver/tests_cases/results/result_{n}.json", "svZeroDSolver", f"tests/cases/results/result_{n}.json")
       for n in ZEROD_OPEN]
    + [("svZeroDSolver/test_interface_02/svzerod_tuned.json", "svZeroDSolver",
        "tests/test_interface/test_02/svzerod_tuned.json")]
    + [(f"svZeroDSolver/vmr_reference/{n}.json", "svZeroDSolver", f"tests/cases/vmr/reference/{n}.json")
       for n in ZEROD_VMR]
    + [(f"svZeroDSolver/handmade_reference/{n}", "handmade", f"svZeroDSolver/handmade_reference/{n}")
       for n in ZEROD_HANDMADE]
    + [("svOneDSolver/Copyright-SimVascular.txt", "svOneDSolver", "Copyright-SimVascular.txt")]
    + [(f"svOneDSolver/tests_cases/{n}", "svOneDSolver", f"tests/cases/{n}") for n in ONED_CASES]
    + [(f"svOneDSolver/handmade_reference/{n}", "handmade", f"svOneDSolver/handmade_reference/{n}")
       for n in ONED_HANDMADE])
#: Files of this folder that are not data.
OWN_FILES = {"README.md", "update.py", "MANIFEST.sha256"}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_manifest(path: Path = MANIFEST) -> dict[str, str]:
    """``{relative path: sha256}`` from a ``sha256sum`` file."""
    out = {}
    for line in path.read_text(encoding="ascii").splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            out[name.lstrip("*")] = digest
    return out


def check(root: Path = HERE) -> list[str]:
    """Problems with the kept files (empty when all is well): a file of ``FILES`` missing or not matching the
    manifest, a manifest entry not in ``FILES``, a file in the folder that nobody listed."""
    problems = []
    manifest = read_manifest(root / MANIFEST.name)
    listed = {dest for dest, _, _ in FILES}
    for name in sorted(set(manifest) - listed):
        problems.append(f"{name}: in MANIFEST.sha256 but not in FILES")
    for name in sorted(listed - set(manifest)):
        problems.append(f"{name}: in FILES but not in MANIFEST.sha256")
    for dest in sorted(listed & set(manifest)):
        p = root / dest
        if not p.is_file():
            problems.append(f"{dest}: missing")
        elif sha256(p.read_bytes()) != manifest[dest]:
            problems.append(f"{dest}: sha256 {sha256(p.read_bytes())} differs from the manifest's {manifest[dest]}")
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    for name in sorted(on_disk - listed - OWN_FILES):
        problems.append(f"{name}: in the folder but not listed in FILES")
    return problems


def _from_peers(folder: Path) -> dict[str, bytes]:
    out = {}
    for dest, origin, _ in FILES:
        if dest.endswith(("LICENSE.txt", "Copyright-SimVascular.txt")):
            continue  # the licences are not in a peers folder: they come from git
        src = folder / dest
        if not src.is_file():
            raise SystemExit(f"{src}: not found (a peers folder holds svZeroDSolver/ and svOneDSolver/)")
        out[dest] = src.read_bytes()
    return out


def _from_git(repos: dict[str, Path]) -> dict[str, bytes]:
    commits = {"svZeroDSolver": SVZEROD_COMMIT, "svOneDSolver": SVONED_COMMIT}
    out = {}
    for dest, origin, src in FILES:
        if origin not in repos:
            continue
        r = subprocess.run(["git", "-C", str(repos[origin]), "show", f"{commits[origin]}:{src}"], capture_output=True)
        if r.returncode:
            raise SystemExit(f"{repos[origin]}: git show {commits[origin]}:{src} failed: "
                             f"{r.stderr.decode(errors='replace').strip()}")
        out[dest] = r.stdout
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--from-peers", nargs="?", const="", default=None, metavar="DIR",
                   help="copy from a peers folder (default: $FFRFLOW_DATA_DIR/peers, else ../shared/data/peers)")
    p.add_argument("--svzerod-git", type=Path, help=f"a git clone of {SVZEROD}")
    p.add_argument("--svoned-git", type=Path, help=f"a git clone of {SVONED}")
    p.add_argument("--accept", action="store_true", help="write files whose hash changed and rewrite the manifest")
    a = p.parse_args(argv)

    new: dict[str, bytes] = {}
    if a.from_peers is not None:
        if a.from_peers:
            folder = Path(a.from_peers)
        else:
            sys.path.insert(0, str(ROOT))
            from ffrflow._datapaths import external_data_dir

            folder = external_data_dir() / "peers"
        new.update(_from_peers(folder))
    repos = {k: v for k, v in (("svZeroDSolver", a.svzerod_git), ("svOneDSolver", a.svoned_git)) if v}
    if repos:
        new.update(_from_git(repos))

    manifest = read_manifest()
    changed = sorted(d for d, b in new.items() if manifest.get(d) != sha256(b))
    if changed and not a.accept:
        for d in changed:
            print(f"{d}: source sha256 {sha256(new[d])} differs from the manifest's {manifest.get(d)}")
        print(f"{len(changed)} file(s) differ: nothing written (--accept writes them and rewrites the manifest)")
        return 1
    if new:
        sys.path.insert(0, str(ROOT))
        from ffrflow._atomic import atomic_path

        for dest, data in new.items():
            target = HERE / dest
            if target.is_file() and target.read_bytes() == data:
                continue
            with atomic_path(target) as tmp:
                tmp.write_bytes(data)
            print(f"wrote {dest}")
        if a.accept:
            manifest.update({d: sha256(b) for d, b in new.items()})
            manifest = {dest: manifest[dest] for dest, _, _ in FILES if dest in manifest}
            with atomic_path(MANIFEST) as tmp:
                tmp.write_text("".join(f"{h}  {d}\n" for d, h in manifest.items()), encoding="ascii")
            print(f"wrote {MANIFEST.name} ({len(manifest)} files)")
    problems = check()
    for line in problems:
        print(line)
    print(f"{len(FILES)} files listed, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
