"""The HTML pages (docs/formats.md §Case report, §Batch dashboard): ``report.html`` in every case
folder (run, uq, pci, batch), ``ffrflow report CASE_DIR``, ``Result.to_html``, atomic writes, no
reference that would fetch anything; the batch dashboard ``index.html`` and its data file
``index-data.js`` (rows equal to the results table, failed cases with their error type, rewritten
after each finished case). The JavaScript: ``node --check`` where node exists; headless Chromium
(``chromium --headless --dump-dom``, no Python package needed) where it exists: no console errors,
the 3D view's canvas drawn with non-background pixels, the dashboard sorted, filtered and paged;
the same through Playwright where it is installed (it is not a dependency of ffrflow)."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

import ffrflow
from ffrflow import cli
from ffrflow.phantoms import demo_case, make_phantom_manifest
from ffrflow.report import dashboard as dash
from ffrflow.report.case import build_case_report, read_case_folder

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or (
    "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
NODE = shutil.which("node")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium executable on this machine (optional: "
                                                             "the browser checks of the pages)")
needs_node = pytest.mark.skipif(NODE is None, reason="no node executable on this machine (optional: the "
                                                     "JavaScript syntax check)")

#: A reference that makes a browser fetch something from elsewhere: src/href/url()/@import to a
#: scheme or a protocol-relative address (a data: URI or a relative file name is fine).
REMOTE = re.compile(r"""(?:\b(?:src|href|action|poster|srcset)\s*=\s*["']?\s*(?!data:)(?:[a-z][a-z0-9+.-]*:|//)"""
                    r"""|url\(\s*["']?\s*(?:https?:|//)|@import|<link\b|\bfetch\(|XMLHttpRequest|<iframe\b)""",
                    re.IGNORECASE)


class _Tables(HTMLParser):
    """Every ``<table id=...>`` of a page: per row the cells' ``data-col``, ``data-value`` and text."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[dict]]] = {}
        self._table = None
        self._row = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = a.get("id")
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = {"col": a.get("data-col"), "value": a.get("data-value"), "text": ""}

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row:
                self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data


def tables(html: str) -> dict:
    p = _Tables()
    p.feed(html)
    return p.tables


def column(rows, col):
    out = []
    for r in rows:
        c = [x for x in r if x["col"] == col]
        out.append(c[0] if c else None)
    return out


def read_data_js(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    prefix = "window.FFRFLOW_DASHBOARD = "
    assert text.startswith(prefix) and text.rstrip().endswith(";")
    return json.loads(text[len(prefix):].rstrip().rstrip(";"))


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """The demo phantom's network run with pictures, as ``ffrflow run -o`` writes it."""
    base = tmp_path_factory.mktemp("report")
    demo_case().write(base / "in", mask=False)
    code = cli.main(["-q", "run", str(base / "in" / "network.json"), "-o", str(base / "out"), "--backend", "numpy"])
    assert code == 0
    return base / "out"


# ---------------------------------------------------------------------------------------------- report.html
def test_run_writes_report_with_the_tables_of_summary_json(case):
    html = (case / "report.html").read_text(encoding="utf-8")
    s = json.loads((case / "summary.json").read_text(encoding="utf-8"))
    t = tables(html)
    rows = t["lesions"]
    assert len(rows) == len(s["lesions"]) == 3
    for key, col in (("ffr_distal", "FFR distal"), ("ffr_10mm", "FFR 10 mm distal"), ("ffr_20mm", "FFR 20 mm distal"),
                     ("delta_ffr", "ΔFFR"), ("diameter_stenosis_pct", "%DS"), ("delta_p_mmHg", "ΔP mmHg")):
        for les, cell in zip(s["lesions"], column(rows, col)):
            assert cell is not None, col
            if les[key] is None:
                assert cell["value"] is None and cell["text"] == "-"
            else:            # the exact value is in data-value, the shown text rounded to 3 (or 1, 2) places
                assert float(cell["value"]) == les[key], (col, les["id"])
                assert float(cell["text"]) == pytest.approx(les[key], abs=0.051)
    for les, cell in zip(s["lesions"], column(rows, "class")):
        assert cell["value"] == les["ffr_class"] and les["ffr_class"] in cell["text"]
    for les, cell in zip(s["lesions"], column(rows, "vessel")):
        assert les["vessel_name"] in cell["text"] and les["vessel"] in cell["text"]
    vrows = t["vessels"]
    assert len(vrows) == len(s["vessels"])
    for v, cell, low in zip(s["vessels"], column(vrows, "vessel"), column(vrows, "lowest FFR")):
        assert v["name"] in cell["text"]
        assert float(low["value"]) == v["ffr_min"]
    assert len(t["outlets"]) == len(s["outlets"])
    # headline, provenance, pictures and the 3D view
    assert f'{s["min_ffr"]:.3f}' in html
    prov = {r[0]["text"]: r[1]["text"] for r in t["provenance"]}
    assert prov["ffrflow version"] == ffrflow.__version__ and prov["solver"] == "steady" and prov["backend"] == "numpy"
    assert prov["input (as given)"] == s["input"]["path"] and prov["input SHA-256"] == s["input"]["sha256"]
    params = {r[0]["text"]: r[1]["text"] for r in t["parameters"]}
    assert float(params["boundary.inlet_pressure_mmHg"]) == s["boundary"]["inlet_pressure_mmHg"]
    assert float(params["model.kt"]) == s["model"]["kt"]
    assert 'data-name="ffr.png" src="data:image/png;base64,' in html
    assert 'data-name="pullback.png" src="data:image/png;base64,' in html
    m = re.search(r'<script type="application/json" id="viewer-data">(.*?)</script>', html, re.S)
    view = json.loads(m.group(1))
    assert len(view["vessels"]) == len(s["anatomy"]["vessels"]) and len(view["lesions"]) == 3
    assert '<canvas id="viewer"' in html


def test_report_is_self_contained(case):
    html = (case / "report.html").read_text(encoding="utf-8")
    assert REMOTE.search(html) is None, REMOTE.search(html)
    assert not re.search(r"https?://", html)      # no address of anything anywhere on the page
    assert "<script src" not in html


def test_report_shows_warnings(tmp_path):
    s = {"ffrflow_version": "x", "input": {"path": "a<b>.json"}, "solver": "steady", "backend": "numpy",
         "lesions": [], "vessels": [], "outlets": [], "warnings": ["radius <script>alert(1)</script> odd"],
         "converged": False, "residual": 1e-3}
    html = build_case_report(s, uq={"n_samples": 10, "method": "sobol", "backend": "numpy",
                                    "failed": {"count": 2, "fraction": 0.2}, "lesions": [], "outlets": []})
    assert 'id="warnings"' in html and "radius &lt;script&gt;alert(1)&lt;/script&gt; odd" in html
    assert "did not converge" in html and "2 of 10 samples failed" in html
    assert "<script>alert" not in html and "a&lt;b&gt;.json" in html
    assert 'id="viewer-missing"' in html


def test_cli_report_rewrites_it_from_the_folder(case, tmp_path, capsys):
    folder = tmp_path / "copy"
    shutil.copytree(case, folder)
    (folder / "report.html").unlink()
    assert cli.main(["report", str(folder)]) == 0
    first = (folder / "report.html").read_text(encoding="utf-8")
    assert "report.html" in capsys.readouterr().out
    s = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    s["lesions"][0]["ffr_20mm"] = 0.123456
    (folder / "summary.json").write_text(json.dumps(s))
    assert cli.main(["report", str(folder)]) == 0
    second = (folder / "report.html").read_text(encoding="utf-8")
    assert "0.123456" not in first and 'data-value="0.123456"' in second
    assert cli.main(["report", str(folder), "-o", str(tmp_path / "elsewhere.html")]) == 0
    assert (tmp_path / "elsewhere.html").is_file()
    # not a case folder: exit 2 naming it; a failed case points to its error.json
    (tmp_path / "failed").mkdir()
    (tmp_path / "failed" / "error.json").write_text("{}")
    assert cli.main(["report", str(tmp_path / "failed")]) == cli.EXIT_INPUT
    err = capsys.readouterr().err
    assert "no summary.json" in err and "error.json" in err


def test_report_write_is_atomic(case, tmp_path, monkeypatch):
    from ffrflow.report import case as case_mod

    folder = tmp_path / "copy"
    shutil.copytree(case, folder)
    replaced = []
    real = os.replace
    monkeypatch.setattr("ffrflow._atomic.os.replace", lambda a, b: (replaced.append((Path(a), Path(b))), real(a, b)))
    case_mod.write_case_report(folder)
    assert [b.name for a, b in replaced] == ["report.html"] and replaced[0][0].name.startswith(".report.html.")
    before = (folder / "report.html").read_bytes()
    # a writer that dies half-way leaves the old page whole and no temporary file behind
    monkeypatch.setattr(case_mod, "atomic_write_text", _half_write)
    with pytest.raises(RuntimeError, match="disk filled up"):
        case_mod.write_case_report(folder)
    assert (folder / "report.html").read_bytes() == before
    assert not [p for p in folder.iterdir() if p.name.startswith(".report.html.")]


def _half_write(path, text):
    """An atomic write whose writer dies half-way."""
    from ffrflow._atomic import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(text[: len(text) // 2], encoding="utf-8")
        raise RuntimeError("the disk filled up")


def test_a_failed_report_never_fails_the_run(tmp_path, monkeypatch, caplog):
    demo_case().write(tmp_path / "in", mask=False)

    def broken(folder, path=None):
        raise RuntimeError("page bug")

    monkeypatch.setattr("ffrflow.api.write_case_report", broken)     # where run looks it up
    r = ffrflow.run(tmp_path / "in" / "network.json", output_dir=tmp_path / "out", backend="numpy", pictures=False)
    assert r.min_ffr < 0.8 and (tmp_path / "out" / "summary.json").is_file()
    assert not (tmp_path / "out" / "report.html").exists()
    assert "report.html not written: RuntimeError: page bug" in caplog.text


def test_result_to_html(tmp_path):
    r = ffrflow.solve(demo_case().network, backend="numpy")
    path = r.to_html(tmp_path / "nb" / "case.html")
    html = path.read_text(encoding="utf-8")
    rows = tables(html)["lesions"]
    assert [c["value"] for c in column(rows, "FFR 20 mm distal")] == [repr(x["ffr_20mm"]) if x["ffr_20mm"] is not None
                                                                       else None for x in r.lesion_records]
    assert 'data-name="ffr.png" src="data:image/png;base64,' in html and '<canvas id="viewer"' in html
    assert REMOTE.search(html) is None
    assert not [p for p in (tmp_path / "nb").iterdir() if p.name != "case.html"]   # no temporary left
    html2 = r.to_html(tmp_path / "nopics.html", pictures=False).read_text(encoding="utf-8")
    assert "data:image/png" not in html2 and 'id="lesions"' in html2


def test_result_module_does_not_import_report_at_the_top():
    src = (ROOT / "ffrflow" / "cfd" / "result.py").read_text(encoding="utf-8")
    assert not re.search(r"^from \.\.report|^import ffrflow\.report|^from \.\.plots", src, re.M)


def test_uq_and_pci_folders_get_their_sections(tmp_path):
    demo_case().write(tmp_path / "in", mask=False)
    net = str(tmp_path / "in" / "network.json")
    assert cli.main(["-q", "uq", net, "-o", str(tmp_path / "uq"), "--samples", "32", "--backend", "numpy"]) == 0
    html = (tmp_path / "uq" / "report.html").read_text(encoding="utf-8")
    u = json.loads((tmp_path / "uq" / "uq.json").read_text(encoding="utf-8"))
    t = tables(html)
    assert 'id="uq"' in html and 'data-name="uq.png"' in html
    assert [float(c["value"]) for c in column(t["uq-lesions"], "median FFR")] == [x["median"] for x in u["lesions"]]
    # the standard read-outs with their intervals, as uq.json has them
    ro = u["readouts"]["lesions"]
    assert [float(c["value"]) for c in column(t["uq-readouts"], "FFR 20 mm [90 %]")] == [
        x["ffr_20mm"]["median"] for x in ro]
    assert [float(c["value"]) for c in column(t["uq-readouts"], "P(FFR ≤ 0.80)")] == [
        x["class_ffr"]["p_below_cutoff"] for x in ro]
    assert len(t["uq-vessel-readouts"]) == len(u["readouts"]["vessels"])
    assert cli.main(["-q", "pci", net, "-o", str(tmp_path / "pci"), "--all", "--backend", "numpy"]) == 0
    html = (tmp_path / "pci" / "report.html").read_text(encoding="utf-8")
    p = json.loads((tmp_path / "pci" / "pci.json").read_text(encoding="utf-8"))
    t = tables(html)
    assert 'id="pci"' in html and 'data-name="pullback_pci.png"' in html
    assert [float(c["value"]) for c in column(t["pci-lesions"], "FFR after")] == [x["ffr_post"] for x in p["lesions"]]


def test_read_case_folder_names_what_is_wrong(tmp_path):
    with pytest.raises(ffrflow.errors.InvalidInputError, match="no such case folder"):
        read_case_folder(tmp_path / "nowhere")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "summary.json").write_text("{not json")
    with pytest.raises(ffrflow.errors.InvalidInputError, match="summary.json: not valid JSON"):
        read_case_folder(tmp_path / "c")


# ---------------------------------------------------------------------------------------------- dashboard
@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """5 rows: 2 phantom networks (with pictures) and the 3 broken cases of the batch tests."""
    base = tmp_path_factory.mktemp("dash")
    manifest = make_phantom_manifest(base / "in", 5, inputs="network")
    out = base / "out"
    code = cli.main(["-q", "batch", str(manifest), "-o", str(out), "--workers", "1", "--backend", "numpy"])
    assert code == cli.EXIT_BATCH_FAILED
    return out


def test_batch_writes_the_dashboard_with_the_rows_of_the_results_table(batch):
    page = (batch / "index.html").read_text(encoding="utf-8")
    assert '<script id="dashboard-data" src="index-data.js"></script>' in page
    assert REMOTE.search(page) is None and not re.search(r"https?://", page)
    d = read_data_js(batch / "index-data.js")
    assert d["format"] == "ffrflow-dashboard/1" and d["running"] is False
    with open(batch / "results.csv", newline="", encoding="utf-8") as f:
        res = {r["case_id"]: r for r in csv.DictReader(f) if r["row"] == "case"}
    rows = {r["id"]: r for r in d["rows"]}
    assert set(rows) == set(res) and len(rows) == 5
    for cid, r in res.items():
        row = rows[cid]
        assert row["st"] == r["status"]
        if r["status"] == "ok":
            assert row["min"] == float(r["min_ffr"]) and row["nl"] == int(r["n_lesions"])
            assert row["s"] == pytest.approx(float(r["seconds"]))
            s = json.loads((batch / cid / "summary.json").read_text(encoding="utf-8"))
            worst = min(s["lesions"], key=lambda x: x["class_ffr"])
            assert (row["wl"], row["wv"], row["wf"], row["cls"]) == (worst["id"], worst["vessel_name"],
                                                                     worst["class_ffr"], worst["ffr_class"])
            assert row["png"] and row["th"] and row["rep"]
            assert (batch / cid / "report.html").is_file() and (batch / cid / "ffr.png").is_file()
            thumb = (batch / cid / "thumb.png")
            assert thumb.stat().st_size < (batch / cid / "ffr.png").stat().st_size / 3
        else:
            e = json.loads((batch / cid / "error.json").read_text(encoding="utf-8"))
            assert row["err"] == e["type"] == "InvalidInputError" and row["stage"] == e["stage"] == r["stage"]
            assert r["error"].startswith(row["err"])
    assert d["counts"] == {**d["counts"], "cases": 5, "ok": 2, "failed": 3, "rejected": 0, "not run": 0}
    b = json.loads((batch / "batch.json").read_text(encoding="utf-8"))
    assert b["results"]["dashboard"] == "index.html"


def test_data_file_is_rewritten_after_each_finished_case(batch, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(batch, out)
    (out / "index-data.js").unlink()
    ids = sorted(p.name for p in out.iterdir() if p.is_dir())
    db = dash.Dashboard(out, ids, min_interval_s=0.0)
    d = read_data_js(out / "index-data.js")
    assert d["running"] is True and {r["st"] for r in d["rows"]} == {"not run"}
    for k, cid in enumerate(ids, 1):
        db.update({"case_id": cid, "status": "ok" if cid.startswith("phantom") else "failed"})
        d = read_data_js(out / "index-data.js")
        assert sum(r["st"] != "not run" for r in d["rows"]) == k and d["running"] is True
    db.close()
    assert read_data_js(out / "index-data.js")["running"] is False
    assert db.writes == len(ids) + 2


def test_throttled_updates_are_written_by_a_timer(batch, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(batch, out)
    ids = sorted(p.name for p in out.iterdir() if p.is_dir())
    db = dash.Dashboard(out, ids, min_interval_s=0.3)
    db.update({"case_id": ids[0], "status": "ok"})       # within 0.3 s of the first write: not yet
    t = time.monotonic()
    while time.monotonic() - t < 5.0:
        if any(r["st"] != "not run" for r in read_data_js(out / "index-data.js")["rows"]):
            break
        time.sleep(0.05)
    assert any(r["st"] != "not run" for r in read_data_js(out / "index-data.js")["rows"])
    db.close()


def test_batch_updates_the_data_file_as_cases_finish(tmp_path, monkeypatch):
    """In a real batch: one rewrite per finished case (the interval set to 0), running until the end."""
    seen = []
    real = dash.write_data

    def spy(outdir, payload):
        seen.append((payload["running"], payload["counts"]["ok"] + payload["counts"]["failed"]))
        return real(outdir, payload)

    monkeypatch.setattr(dash, "write_data", spy)
    monkeypatch.setitem(dash.Dashboard.__init__.__kwdefaults__, "min_interval_s", 0.0)
    manifest = make_phantom_manifest(tmp_path / "in", 4, inputs="network")
    with open(manifest, "a", encoding="utf-8") as f:
        f.write("bad/name,cases/p001/network.json,\n")
    code = cli.main(["-q", "batch", str(manifest), "-o", str(tmp_path / "out"), "--workers", "1", "--backend",
                     "numpy", "--no-pictures"])
    assert code == cli.EXIT_BATCH_FAILED
    assert seen[0] == (True, 0) and seen[-1] == (False, 4)
    finished = [n for running, n in seen[1:-1]]
    assert finished == [0] + list(range(1, 5))           # the rejected row, then one write per case
    d = read_data_js(tmp_path / "out" / "index-data.js")
    rej = [r for r in d["rows"] if r["st"] == "rejected"]
    assert len(rej) == 1 and rej[0]["id"].startswith("row ") and rej[0]["err"] == "InvalidInputError"
    assert d["counts"]["rejected"] == 1 and d["counts"]["cases"] == 5


def test_dashboard_of_ten_thousand_cases_is_small(tmp_path):
    """Size of the data file; how long writing it takes is python -m benchmarks dashboard's figure."""
    rows = [{"id": f"c{k:05d}", "st": "ok", "min": 0.7 + (k % 30) / 100, "nl": 1, "s": 1.5, "wl": "L1",
             "wv": "left anterior descending, mid", "wid": "LAD_m", "wf": 0.75 + (k % 20) / 100, "wat": 20.0,
             "cls": "negative", "les": [["left anterior descending, mid", "negative", 0.85, "LAD LAD_m mid LAD"]],
             "png": True, "rep": True} for k in range(10000)]
    dash.write_dashboard(tmp_path, rows, title="big")
    assert (tmp_path / "index-data.js").stat().st_size < 400 * 10000
    assert read_data_js(tmp_path / "index-data.js")["counts"]["ok"] == 10000


# ---------------------------------------------------------------------------------------------- JavaScript
def _inline_scripts(html: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"<script>(.*?)</script>", html, re.S)]


@needs_node
def test_javascript_parses(case, batch, tmp_path):
    files = [ROOT / "ffrflow" / "report" / "viewer.js", ROOT / "ffrflow" / "report" / "dashboard.js",
             batch / "index-data.js"]
    for k, page in enumerate((case / "report.html", batch / "index.html")):
        for j, code in enumerate(_inline_scripts(page.read_text(encoding="utf-8"))):
            p = tmp_path / f"page{k}-{j}.js"
            p.write_text(code, encoding="utf-8")
            files.append(p)
    assert len(files) >= 5
    for f in files:
        r = subprocess.run([NODE, "--check", str(f)], capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=60)
        assert r.returncode == 0, (f.name, r.stderr)


def _chromium(url: str, tmp_path: Path, screenshot: str | None = None) -> tuple[str, list[str]]:
    """The DOM after the page's scripts ran, and the console messages (headless Chromium)."""
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--no-default-browser-check", f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr", "--v=0", "--window-size=1280,900", "--virtual-time-budget=3000"]
    if screenshot:   # an artefact to look at (FFRFLOW_TEST_ARTIFACTS=folder keeps it)
        subprocess.run(args + ["--hide-scrollbars", f"--screenshot={screenshot}", url], capture_output=True, text=True, encoding="utf-8", errors="replace",
                       timeout=120)
    r = subprocess.run(args + ["--dump-dom", url], capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=120)
    if r.returncode != 0 or "<html" not in r.stdout:
        pytest.skip(f"chromium could not render here (exit {r.returncode}): {r.stderr[-300:]}")
    console = [ln for ln in r.stderr.splitlines() if ":CONSOLE" in ln]
    return r.stdout, console


ART = Path(os.environ.get("FFRFLOW_TEST_ARTIFACTS", "")) if os.environ.get("FFRFLOW_TEST_ARTIFACTS") else None


@needs_chromium
def test_report_in_headless_chromium(case, tmp_path):
    shot = str(ART / "report.png") if ART else str(tmp_path / "report.png")
    dom, console = _chromium((case / "report.html").as_uri(), tmp_path, screenshot=shot)
    assert console == [], console
    m = re.search(r'<canvas id="viewer"[^>]*data-drawn="(\d+)"[^>]*data-ink="(\d+)"', dom)
    assert m, "the 3D view did not draw"
    assert int(m.group(1)) > 100 and int(m.group(2)) > 200          # segments drawn, pixels not background
    s = json.loads((case / "summary.json").read_text(encoding="utf-8"))
    rows = column(tables(dom)["lesions"], "FFR 20 mm distal")
    assert [float(c["value"]) for c in rows] == [x["ffr_20mm"] for x in s["lesions"]]


def _dash_ids(dom: str) -> list[str]:
    return re.findall(r'<tr data-id="([^"]*)"', dom)


@needs_chromium
def test_dashboard_in_headless_chromium_sorts_filters_and_pages(batch, tmp_path):
    base = batch.joinpath("index.html").as_uri()
    d = read_data_js(batch / "index-data.js")
    shot = str(ART / "dashboard.png") if ART else str(tmp_path / "dashboard.png")
    dom, console = _chromium(base, tmp_path, screenshot=shot)
    assert console == [], console
    assert _dash_ids(dom) == sorted(r["id"] for r in d["rows"])                       # by case id
    assert 'src="phantom-001/thumb.png"' in dom and 'loading="lazy"' in dom
    assert 'href="phantom-001/report.html"' in dom
    assert re.search(r'data-count="failed"><span class="muted">failed</span><b>3</b>', dom)
    dom, console = _chromium(base + "#sort=min&dir=desc", tmp_path)
    ok = sorted((r for r in d["rows"] if r["st"] == "ok"), key=lambda r: -r["min"])
    assert _dash_ids(dom)[:2] == [r["id"] for r in ok] and console == []
    dom, _ = _chromium(base + "#status=failed", tmp_path)
    assert sorted(_dash_ids(dom)) == ["broken-empty", "broken-malformed", "broken-missing"]
    assert "InvalidInputError (mesh)" in dom
    dom, _ = _chromium(base + "#vessel=RCA&lclass=" + (d["rows"][-1].get("cls") or "negative").replace(" ", "%20"),
                       tmp_path)
    want = [r["id"] for r in d["rows"] if any(x[1] == (d["rows"][-1].get("cls") or "negative") and "RCA" in x[3]
                                              for x in r.get("les") or [])]
    assert sorted(_dash_ids(dom)) == sorted(want) and want
    dom, _ = _chromium(base + "#vessel=LAD", tmp_path)                  # right trees: no LAD lesion
    assert _dash_ids(dom) == [] and "no case matches" in dom


@needs_chromium
def test_dashboard_pages_ten_thousand_rows(tmp_path):
    rows = [{"id": f"c{k:05d}", "st": "ok" if k % 7 else "failed", "min": round(0.6 + (k * 37 % 400) / 1000, 3),
             "nl": 1, "s": 1.0, "err": None if k % 7 else "ConvergenceError"} for k in range(10000)]
    out = tmp_path / "big"
    dash.write_dashboard(out, rows, title="big")
    dom, console = _chromium((out / "index.html").as_uri() + "#size=50&page=3", tmp_path)
    assert console == []
    assert _dash_ids(dom) == [f"c{k:05d}" for k in range(100, 150)]
    assert re.search(r'<body[^>]*data-ready-ms="\d+"', dom)   # how fast: python -m benchmarks dashboard
    assert "101–150 of 10000 shown" in dom


def _playwright():
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        return None
    return sync_playwright


@pytest.mark.skipif(_playwright() is None or CHROMIUM is None,
                    reason="playwright (Python package) or chromium not installed: optional interactive browser "
                           "test (neither is a dependency of ffrflow)")
def test_pages_interactively_with_playwright(case, batch, tmp_path):
    sync_playwright = _playwright()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        errors, requests = [], []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
        page.goto((case / "report.html").as_uri())
        ink = page.evaluate("""() => { const c = document.getElementById('viewer');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
            for (let i = 0; i < d.length; i += 4) { if (d[i] < 250 || d[i+1] < 250 || d[i+2] < 250) n++; } return n; }""")
        assert ink > 1000
        box = page.locator("#viewer").bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] / 2 + 80, box["y"] + box["height"] / 2 + 30)
        page.mouse.up()
        page.goto((batch / "index.html").as_uri())
        ids = page.eval_on_selector_all("#rows tr", "rs => rs.map(r => r.dataset.id)")
        assert ids == sorted(ids)
        page.click('th[data-key="min"]')
        page.click('th[data-key="min"]')
        first = page.eval_on_selector_all("#rows tr", "rs => rs.map(r => r.dataset.id)")
        assert first[0].startswith("phantom")
        page.select_option("#f-status", "failed")
        assert len(page.eval_on_selector_all("#rows tr", "rs => rs")) == 3
        assert "status=failed" in page.url                       # the view is kept in the fragment
        # while a batch runs the page re-includes index-data.js: a case finishing shows up by itself
        live = tmp_path / "live"
        rows = [dash.case_row(batch, r["id"]) for r in read_data_js(batch / "index-data.js")["rows"]]
        for r in rows:
            if r["st"] == "ok":
                shutil.copytree(batch / r["id"], live / r["id"])
        first = [r if r["st"] == "ok" else {"id": r["id"], "st": "not run"} for r in rows]
        dash.write_dashboard(live, first, running=True)
        page.goto((live / "index.html").as_uri())
        assert "running" in page.inner_text("#state")
        assert page.inner_text('[data-count="failed"] b') == "0"
        dash.write_data(live, dash.dashboard_payload(rows, running=False))
        page.wait_for_function("document.querySelector('[data-count=\"failed\"] b').textContent === '3'",
                               timeout=15000)
        assert "finished" in page.inner_text("#state")
        browser.close()
    assert errors == [] and requests == []
