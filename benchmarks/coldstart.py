"""``python -m benchmarks coldstart``: the first ``ffrflow run`` of a network after installing.

Each run is a fresh ``python -m ffrflow run network.json -o OUT`` process on the demo case's network
(its lesions detected), timed from the outside (wall time, and the CPU time of the process). The Numba
cache is pointed at a new empty folder (``NUMBA_CACHE_DIR``), so nothing compiled earlier on this
machine is reused:

- ``cold``: the first run with an empty cache (it compiles the kernels it calls);
- ``warm``: the next run with the cache the cold run left;
- ``after warmup``: a run after ``ffrflow warmup`` (what ``make install`` does), the warm-up timed apart;
- each of these also with ``--no-pictures``, to show what the pictures cost.

With ``--read-only`` (on by default when this runs as root and ``setpriv`` exists) it also runs from a
read-only copy of the package, as the unprivileged user ``nobody`` with a fresh home and no
``NUMBA_CACHE_DIR``: Numba cannot write beside the package, so it must cache in the user's own cache
folder, and the second run must be warm.

Options: ``--repeats N`` (default 3; medians are reported), ``--no-save``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._common import save, table

ROOT = Path(__file__).resolve().parents[1]


def _network(folder: Path) -> Path:
    from ffrflow.meshing.stenosis import detect_lesions
    from ffrflow.phantoms import demo_case

    path = folder / "network.json"
    detect_lesions(demo_case().network).to_json(path)
    return path


def _timed(cmd: list[str], env: dict, cwd: Path, user: str | None = None) -> dict:
    """Run ``cmd``; wall and CPU (user + system) seconds of the child, and its exit code."""
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", "--regid=nogroup", "--clear-groups", *cmd]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return {"wall_s": wall, "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)}


def _env(package_parent: Path, cache: Path | None, home: Path | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "PYTHONPATH")}
    env["PYTHONPATH"] = str(package_parent)
    if cache is not None:
        env["NUMBA_CACHE_DIR"] = str(cache)
    if home is not None:
        env["HOME"] = str(home)
        env.pop("XDG_CACHE_HOME", None)
        env["MPLCONFIGDIR"] = str(home / ".mpl")
    return env


def _one_round(work: Path, net: Path, pictures: bool) -> dict:
    """cold, warm and after-warmup runs, each with a new cache folder."""
    run = [sys.executable, "-m", "ffrflow", "run", str(net)] + ([] if pictures else ["--no-pictures"])
    out = {}
    cache = Path(tempfile.mkdtemp(prefix="nb-", dir=work))
    env = _env(ROOT, cache)
    out["cold"] = _timed(run + ["-o", str(work / "cold")], env, work)
    out["warm"] = _timed(run + ["-o", str(work / "warm")], env, work)
    cache = Path(tempfile.mkdtemp(prefix="nb-", dir=work))
    env = _env(ROOT, cache)
    out["warmup"] = _timed([sys.executable, "-m", "ffrflow", "warmup"], env, work)
    out["after warmup"] = _timed(run + ["-o", str(work / "after")], env, work)
    for d in ("cold", "warm", "after"):
        shutil.rmtree(work / d, ignore_errors=True)
    return out


def _read_only(work: Path, net: Path) -> dict:
    """Two runs as ``nobody`` from a read-only copy of the package (Numba's per-user cache)."""
    pkg_parent = work / "ro"
    shutil.copytree(ROOT / "ffrflow", pkg_parent / "ffrflow",
                    ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    home = work / "home"
    (home / ".mpl").mkdir(parents=True)
    runs = work / "runs"
    runs.mkdir()
    shutil.copy(net, runs / "network.json")
    for p in (home, runs):
        subprocess.run(["chown", "-R", "nobody:nogroup", str(p)], check=True)
    subprocess.run(["chmod", "-R", "a-w", str(pkg_parent)], check=True)
    os.chmod(work, 0o755)
    env = _env(pkg_parent, None, home)
    run = [sys.executable, "-m", "ffrflow", "run", "network.json", "--no-pictures"]
    first = _timed(run + ["-o", "first"], env, runs, user="nobody")
    second = _timed(run + ["-o", "second"], env, runs, user="nobody")
    in_tree = sorted(p.name for p in (pkg_parent / "ffrflow" / "kernels").rglob("*.nbi"))
    user_cache = sorted(p.name for p in home.rglob("*.nbi"))
    subprocess.run(["chmod", "-R", "u+w", str(pkg_parent)], check=True)
    return {"first": first, "second": second, "cache_files_beside_package": len(in_tree),
            "cache_files_in_user_cache": len(user_cache)}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks coldstart", description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--read-only", choices=("auto", "yes", "no"), default="auto")
    p.add_argument("--no-save", action="store_true")
    a = p.parse_args(argv)
    can_ro = os.geteuid() == 0 and shutil.which("setpriv") is not None
    if a.read_only == "yes" and not can_ro:
        raise SystemExit("coldstart --read-only yes: needs root and setpriv (to run as the user nobody)")
    rows, samples = [], {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ffrflow-coldstart-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        net = _network(work)
        for pictures in (True, False):
            rounds = [_one_round(work, net, pictures) for _ in range(a.repeats)]
            for key in ("cold", "warm", "warmup", "after warmup"):
                walls = [r[key]["wall_s"] for r in rounds]
                cpus = [r[key]["cpu_s"] for r in rounds]
                name = "ffrflow warmup" if key == "warmup" else f"run, {key}"
                if key == "warmup" and not pictures:
                    continue
                rows.append({"what": name, "pictures": "-" if key == "warmup" else ("yes" if pictures else "no"),
                             "wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus)})
                samples[f"{name} / pictures={pictures}"] = {"wall_s": walls, "cpu_s": cpus}
        read_only = None
        if a.read_only == "yes" or (a.read_only == "auto" and can_ro):
            (work / "readonly").mkdir()
            read_only = _read_only(work / "readonly", net)
    cols = [("what", "what", "s"), ("pictures", "pictures", "s"), ("wall_s", "wall s", ".2f"), ("cpu_s", "CPU s", ".2f")]
    print(f"demo network, {a.repeats} repeats, medians; load average before: {load_before[0]:.2f}")
    print(table(rows, cols))
    if read_only is not None:
        print(f"read-only package as nobody (no pictures): first run {read_only['first']['wall_s']:.2f} s, "
              f"second {read_only['second']['wall_s']:.2f} s; cache files beside the package "
              f"{read_only['cache_files_beside_package']}, in the user's cache {read_only['cache_files_in_user_cache']}")
    if not a.no_save:
        path = save("coldstart", {"repeats": a.repeats, "load_average_before": list(load_before),
                                  "load_average_after": list(os.getloadavg()), "rows": rows,
                                  "samples": samples, "read_only": read_only})
        print(f"saved {path}")


if __name__ == "__main__":
    main()
