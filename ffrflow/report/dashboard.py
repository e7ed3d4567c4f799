"""The batch dashboard: ``OUTDIR/index.html`` and its data ``OUTDIR/index-data.js`` (docs/formats.md
§Batch dashboard).

One row per case: status, lowest FFR, the worst lesion (the one whose classified read-out, by default
the FFR 20 mm distal to its lower border, is lowest) with its vessel name, read-out and class, the
number of lesions, seconds, and the error type of a failed case; a thumbnail (the case's ``thumb.png``,
else its ``ffr.png``; ``<img loading="lazy">``) linking to its ``report.html``; the counts at the top. The table sorts by
any column (click its header), filters (case id, status, class, "a lesion of class C in vessel V", e.g.
every case with a positive lesion in the LAD) and is paged (50/100/500 rows), so 10 000 cases stay
quick: only the rows of one page are in the document and only their thumbnails load.

``index.html`` is written once (it holds the page's code, inline; nothing is fetched from outside);
the rows are in ``index-data.js`` (``window.FFRFLOW_DASHBOARD = {...}``, a script rather than JSON
because browsers do not let a ``file://`` page read JSON files). During a batch the page reloads the
data every 5 s while ``running`` is true, so a user can watch it. :class:`Dashboard` keeps the rows in
memory, reads each finished case's ``summary.json`` (or ``error.json``) once, and rewrites the data
file atomically after each finished case, but at most every ``min_interval_s`` seconds (and at least
10 × the time the last write took; a case that finishes sooner is written by a timer when the
interval is over, so the file never lags a finished case by more than that), plus once at the end:
a batch of n cases costs O(n) reads and O(n × writes) bytes written, never O(n²) reads.
"""

from __future__ import annotations

import datetime as _dt
import json
import threading
import time
from pathlib import Path
from typing import Any, Iterable

from ._html import BASE_CSS, esc, script_json
from .._atomic import atomic_write_text

DATA_NAME = "index-data.js"
PAGE_NAME = "index.html"
_JS = Path(__file__).with_name("dashboard.js")


def _worst(lesions: list[dict]) -> dict | None:
    cand = [les for les in lesions if isinstance(les.get("class_ffr"), (int, float))]
    if not cand:
        cand = [les for les in lesions if isinstance(les.get("ffr_distal"), (int, float))]
        return min(cand, key=lambda les: les["ffr_distal"]) if cand else None
    return min(cand, key=lambda les: les["class_ffr"])


def _lesion_keys(les: dict, keys: dict) -> str:
    """What the dashboard's vessel filter matches for a lesion besides its vessel's name: the
    anatomical key (``LAD``, ``D1``, ``RCA`` …), the network's vessel id and the SCCT segment label."""
    return " ".join(str(x) for x in (keys.get(les.get("vessel")), les.get("vessel"), les.get("segment_label"))
                    if x)


def case_row(outdir: str | Path, case_id: str, status: str | None = None, record: dict | None = None) -> dict:
    """The dashboard row of one case, read from its folder (``summary.json`` or ``error.json``).

    Keys (short, the data file of 10 000 cases stays small): ``id``; ``st`` (``ok``, ``failed``,
    ``rejected``, ``not run``); ``min`` (lowest FFR); ``nl`` (lesions); the worst lesion ``wl`` (id),
    ``wv`` (vessel name), ``wid`` (vessel id), ``wf`` (its classified read-out), ``wat`` (mm distal
    where it was read), ``cls`` (its class); ``les`` (every lesion: ``[vessel name, class, read-out,
    other names]``, the last the anatomical key, vessel id and segment label the vessel filter matches);
    ``s`` (seconds); ``err`` (exception type), ``stage``, ``msg`` (message); ``png``, ``th``, ``rep``
    (whether ``ffr.png``, ``thumb.png`` and ``report.html`` exist).
    """
    folder = Path(outdir) / case_id
    row: dict[str, Any] = {"id": case_id, "st": "not run"}
    rec = record or {}
    if status == "rejected" or rec.get("status") == "rejected":
        row.update({"st": "rejected", "err": "InvalidInputError", "stage": "manifest",
                    "msg": str(rec.get("error") or "")})
        return row
    s_path = folder / "summary.json"
    e_path = folder / "error.json"
    if s_path.is_file():
        try:
            s = json.loads(s_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            row.update({"st": "failed", "err": type(exc).__name__, "stage": "dashboard",
                        "msg": f"{s_path.name}: cannot be read: {exc}"})
            return row
        lesions = s.get("lesions") or []
        keys = {v.get("vessel"): v.get("anatomy") for v in ((s.get("anatomy") or {}).get("vessels") or [])
                if isinstance(v, dict)}
        w = _worst(lesions)
        row.update({"st": "ok", "min": s.get("min_ffr"), "nl": len(lesions),
                    "s": (s.get("timings_s") or {}).get("total"), "solver": s.get("solver"),
                    "les": [[les.get("vessel_name") or les.get("vessel"), les.get("ffr_class"),
                             les.get("class_ffr", les.get("ffr_distal")), _lesion_keys(les, keys)]
                            for les in lesions],
                    "png": (folder / "ffr.png").is_file(), "th": (folder / "thumb.png").is_file(),
                    "rep": (folder / "report.html").is_file()})
        if w is not None:
            row.update({"wl": w.get("id"), "wv": w.get("vessel_name") or w.get("vessel"), "wid": w.get("vessel"),
                        "wf": w.get("class_ffr", w.get("ffr_distal")), "wat": w.get("class_at_mm"),
                        "cls": w.get("ffr_class")})
    elif e_path.is_file():
        try:
            e = json.loads(e_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            e = {"type": type(exc).__name__, "message": f"{e_path.name}: cannot be read: {exc}", "stage": "dashboard"}
        row.update({"st": "failed", "err": e.get("type"), "stage": e.get("stage"), "s": e.get("seconds"),
                    "msg": str(e.get("message") or "")[:300]})
    return row


def _counts(rows: Iterable[dict]) -> dict:
    c = {"cases": 0, "ok": 0, "failed": 0, "rejected": 0, "not run": 0, "positive": 0, "grey zone": 0,
         "negative": 0, "no lesion": 0}
    for r in rows:
        c["cases"] += 1
        c[r["st"]] = c.get(r["st"], 0) + 1
        if r["st"] == "ok":
            c[r.get("cls") or "no lesion"] = c.get(r.get("cls") or "no lesion", 0) + 1
    return c


def dashboard_payload(rows: list[dict], *, running: bool, title: str = "ffrflow batch", started_utc: str | None = None,
                      extra: dict | None = None) -> dict:
    """The document ``index-data.js`` assigns: ``title``, ``running``, ``updated_utc``, ``counts``, ``rows``."""
    return {"format": "ffrflow-dashboard/1", "title": title, "running": running, "started_utc": started_utc,
            "updated_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "counts": _counts(rows), "rows": rows, **(extra or {})}


def write_data(outdir: str | Path, payload: dict) -> Path:
    """Write ``index-data.js`` atomically."""
    path = Path(outdir) / DATA_NAME
    atomic_write_text(path, "window.FFRFLOW_DASHBOARD = " + script_json(payload) + ";\n")
    return path


def page_html(title: str = "ffrflow batch") -> str:
    """``index.html``: the page's markup, style and code; the rows come from ``index-data.js``."""

    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{esc(title)}</title>'
            f'<style>{BASE_CSS}{_CSS}</style></head>\n<body>\n{_BODY}\n'
            f'<script>{_JS.read_text(encoding="utf-8")}</script>\n</body></html>\n')


def write_dashboard(outdir: str | Path, rows: list[dict], *, running: bool = False, title: str = "ffrflow batch",
                    extra: dict | None = None) -> Path:
    """Write ``index.html`` and ``index-data.js`` for these rows (:func:`case_row`) at once; returns
    the page's path."""
    outdir = Path(outdir)
    write_data(outdir, dashboard_payload(rows, running=running, title=title, extra=extra))
    atomic_write_text(outdir / PAGE_NAME, page_html(title))
    return outdir / PAGE_NAME


class Dashboard:
    """The dashboard of a batch as it runs (see the module docstring).

    Parameters
    ----------
    outdir : path
        The batch's output folder.
    case_ids : list of str
        Every case of the manifest, in its order (rows start as ``not run``).
    min_interval_s : float
        Shortest time between two rewrites of the data file, s (also at least 10 × the last write);
        0: rewrite after every finished case, however long the writes take.
    title : str
        The page's title.
    """

    def __init__(self, outdir: str | Path, case_ids: list[str], *, min_interval_s: float = 1.0,
                 title: str = "ffrflow batch"):
        self.outdir = Path(outdir)
        self.title = title
        self.min_interval_s = float(min_interval_s)
        self.rows: dict[str, dict] = {}
        for cid in case_ids:
            self.rows.setdefault(cid, {"id": cid, "st": "not run"})
        self.started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self._last = 0.0
        self._cost = 0.0
        self._dirty = False
        self._lock = threading.RLock()
        self._timer: threading.Timer | None = None
        self._closed = False
        self.writes = 0
        self.outdir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.outdir / PAGE_NAME, page_html(title))
        self.flush(running=True)

    def update(self, record: dict) -> None:
        """A case finished (a batch record: ``case_id``, ``status``): read its row, rewrite the data
        file when the last rewrite is old enough."""
        cid = record.get("case_id")
        if record.get("status") == "rejected":   # a bad or repeated case_id: keyed by its manifest row
            key = f"row {record.get('row')}: {cid if isinstance(cid, str) else ''}".rstrip(": ")
            row = {**case_row(self.outdir, key, record=record), "id": key}
        else:
            if not isinstance(cid, str) or not cid:
                cid = f"(row {record.get('row')})"
            key, row = cid, case_row(self.outdir, cid, record=record)
        with self._lock:
            self.rows[key] = row
            self._dirty = True
            limit = max(self.min_interval_s, 10.0 * self._cost) if self.min_interval_s > 0 else 0.0
            wait = limit - (time.monotonic() - self._last)
            if wait <= 0:
                self.flush(running=True)
            elif self._timer is None:   # written when the interval is over, even if no other case finishes
                self._timer = threading.Timer(wait, self._timed_flush)
                self._timer.daemon = True
                self._timer.start()

    def _timed_flush(self) -> None:
        with self._lock:
            self._timer = None
            if self._dirty and not self._closed:
                self.flush(running=True)

    def flush(self, running: bool) -> None:
        """Rewrite the data file now."""
        with self._lock:
            t = time.perf_counter()
            write_data(self.outdir, dashboard_payload(list(self.rows.values()), running=running, title=self.title,
                                                      started_utc=self.started))
            self._cost = time.perf_counter() - t
            self._last = time.monotonic()
            self._dirty = False
            self.writes += 1

    def close(self) -> None:
        """The batch ended (finished or interrupted): the final rewrite, ``running`` false."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self.flush(running=False)

    def following(self, progress):
        """A progress object that updates ``progress`` and this dashboard on every record (the batch
        driver's one hook)."""
        return _Both(progress, self)


class _Both:
    def __init__(self, progress, dashboard: Dashboard):
        self.progress, self.dashboard = progress, dashboard

    def update(self, rec: dict) -> None:
        self.progress.update(rec)
        self.dashboard.update(rec)

    def close(self) -> None:
        self.progress.close()
        self.dashboard.close()


_CSS = """
body{max-width:none}
#controls{display:flex;flex-wrap:wrap;gap:10px;align-items:end;margin:10px 0}
#controls label{display:flex;flex-direction:column;font-size:12px;color:var(--muted)}
#controls input,#controls select{font:inherit;padding:3px 6px}
th.sort{cursor:pointer;user-select:none}th.sort:hover{background:#e8edf2}
th .arrow{color:var(--muted);font-size:11px}
td.thumb img{width:96px;height:72px;object-fit:contain;background:#fff;border:1px solid var(--line)}
td.err{color:#8a1c1c;max-width:420px}
#pager{display:flex;gap:8px;align-items:center;margin:8px 0}
#pager button{font:inherit;padding:2px 10px}
.status-ok{color:#1a7f37}.status-failed{color:#b2182b}.status-rejected{color:#8a6d00}.status-notrun{color:var(--muted)}
"""

_BODY = """<h1 id="title">ffrflow batch</h1>
<p class="muted" id="state"></p>
<div id="counts"></div>
<div id="controls">
 <label>case id<input id="f-id" type="search" placeholder="contains"></label>
 <label>status<select id="f-status"><option value="">any</option><option>ok</option><option>failed</option>
  <option>rejected</option><option>not run</option></select></label>
 <label>worst lesion class<select id="f-class"><option value="">any</option><option>positive</option>
  <option>grey zone</option><option>negative</option><option value="none">no lesion</option></select></label>
 <label>a lesion of class<select id="f-lclass"><option value="">any</option><option>positive</option>
  <option>grey zone</option><option>negative</option></select></label>
 <label>in vessel<input id="f-lvessel" type="search" placeholder="e.g. LAD"></label>
 <label>rows per page<select id="f-page"><option>50</option><option selected>100</option><option>500</option></select></label>
</div>
<div id="pager"><button id="prev">&lsaquo; previous</button><span id="range"></span><button id="next">next &rsaquo;</button></div>
<table id="cases"><thead><tr>
 <th class="thumb">picture</th>
 <th class="sort" data-key="id">case<span class="arrow"></span></th>
 <th class="sort" data-key="st">status<span class="arrow"></span></th>
 <th class="sort num" data-key="min">min FFR<span class="arrow"></span></th>
 <th class="sort" data-key="wv">worst lesion<span class="arrow"></span></th>
 <th class="sort num" data-key="wf">read-out<span class="arrow"></span></th>
 <th class="sort" data-key="cls">class<span class="arrow"></span></th>
 <th class="sort num" data-key="nl">lesions<span class="arrow"></span></th>
 <th class="sort num" data-key="s">seconds<span class="arrow"></span></th>
 <th class="sort" data-key="err">error<span class="arrow"></span></th>
</tr></thead><tbody id="rows"></tbody></table>
<p class="muted">Worst lesion: the lesion whose classified read-out (FFR at the distance shown, by default 20 mm
distal to its lower border) is lowest. Classes: FFR &le; 0.75 positive, &gt; 0.80 negative, between: grey zone.
Click a picture for the case's report; a column header sorts.</p>
<script id="dashboard-data" src="index-data.js"></script>"""
