"""``python -m benchmarks dashboard``: how fast the batch dashboard opens in headless Chromium.

One case is run for real (``ffrflow run`` on the demo network, pictures on), and its folder's
``summary.json`` and ``thumb.png`` stand for every case of a batch of N (1 000 and 10 000 by default;
every seventh case a failure with its ``error.json``); the thumbnails are hard links, so each case has
its own file as a batch has. The rows are read from the folders as ``ffrflow batch`` reads them
(:func:`ffrflow.report.dashboard.case_row`), and ``index.html`` with ``index-data.js`` is written as
the batch writes it. Headless Chromium (Debian's ``chromium``) then opens the page, in real time,
and the page records when its first rows were on screen (``data-ready-ms`` on ``<body>``: milliseconds
from the start of navigation, the page's own ``performance.now()``). Reported per N: the median of
``--repeats`` openings of that figure, the wall time of the whole headless browser process (start-up
included), the size of the data file and the seconds the batch takes to write the page and
its data file.

Options: ``--cases 1000,10000``, ``--repeats 3``, ``--no-save``. Needs ``chromium`` (an error that
names it where it is missing).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from ._common import save, table


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise SystemExit("dashboard benchmark: no chromium executable here (Debian: apt-get install chromium)")
    return exe


def _one_case(work: Path) -> Path:
    """A real case folder: the demo network run with pictures (summary.json, thumb.png, ...)."""
    from ffrflow.api import run
    from ffrflow.meshing.stenosis import detect_lesions
    from ffrflow.phantoms import demo_case

    net_path = work / "network.json"
    detect_lesions(demo_case().network).to_json(net_path)
    out = work / "case"
    run(net_path, output_dir=out)
    return out


def _batch(work: Path, case: Path, n: int) -> tuple[Path, float]:
    """N case folders beside ``index.html``: the real case's summary and thumbnail (hard links),
    every seventh case failed with an ``error.json``; returns the batch folder and the seconds that
    writing ``index.html`` and ``index-data.js`` took."""
    from ffrflow.report import dashboard as dash

    out = work / f"batch-{n}"
    out.mkdir()
    summary = (case / "summary.json").read_text()
    rows = []
    for k in range(n):
        cid = f"case-{k:05d}"
        folder = out / cid
        folder.mkdir()
        if k % 7 == 6:
            (folder / "error.json").write_text(json.dumps({
                "case_id": cid, "input": f"cases/{cid}.nii.gz", "type": "MeshQualityError",
                "message": f"cases/{cid}.nii.gz: contouring the mask gave no surface", "stage": "mesh",
                "seconds": 0.4, "expected": True}))
        else:
            (folder / "summary.json").write_text(summary)
            os.link(case / "thumb.png", folder / "thumb.png")
        rows.append(dash.case_row(out, cid))
    t0 = time.perf_counter()
    dash.write_dashboard(out, rows, title=f"benchmark: {n} cases")
    return out, time.perf_counter() - t0


def _open(exe: str, page: Path, profile: Path) -> tuple[float, float]:
    """(data-ready-ms, wall seconds of the browser process) for one opening of ``page``."""
    args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--no-default-browser-check", f"--user-data-dir={profile}", "--window-size=1280,900",
            "--dump-dom", page.as_uri()]
    t0 = time.perf_counter()
    r = subprocess.run(args, capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=300)
    wall = time.perf_counter() - t0
    m = re.search(r'<body[^>]*data-ready-ms="(\d+)"', r.stdout)
    if r.returncode != 0 or m is None:
        raise RuntimeError(f"chromium did not show the dashboard's rows (exit {r.returncode}): {r.stderr[-500:]}")
    return float(m.group(1)), wall


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks dashboard", description=__doc__.splitlines()[0])
    p.add_argument("--cases", default="1000,10000")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-save", action="store_true")
    a = p.parse_args(argv)
    exe = _chromium()
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
    rows = []
    with tempfile.TemporaryDirectory(prefix="ffrflow-dashboard-") as tmp:
        work = Path(tmp)
        case = _one_case(work)
        for n in (int(x) for x in a.cases.split(",")):
            out, write_s = _batch(work, case, n)
            runs = [_open(exe, out / "index.html", work / f"profile-{n}-{i}") for i in range(a.repeats)]
            ready = [r[0] for r in runs]
            wall = [r[1] for r in runs]
            rows.append({"cases": n, "ready_ms": statistics.median(ready), "ready_ms_all": ready,
                         "browser_wall_s": statistics.median(wall), "browser_wall_s_all": wall,
                         "data_kb": (out / "index-data.js").stat().st_size / 1024, "write_s": write_s})
            shutil.rmtree(out)
    print(f"{version}, headless, real time; medians of {a.repeats}")
    print(table(rows, [("cases", "cases", "d"), ("ready_ms", "first rows ms", ".0f"),
                       ("browser_wall_s", "browser s", ".2f"), ("data_kb", "data kB", ".0f"),
                       ("write_s", "write s", ".2f")]))
    if not a.no_save:
        path = save("dashboard", {"browser": version, "repeats": a.repeats, "load_average": list(os.getloadavg()),
                                  "rows": rows})
        print(f"saved {path}")


if __name__ == "__main__":
    main()
