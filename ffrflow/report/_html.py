"""Small helpers shared by the pages: escaping, number formatting, embedding data in ``<script>``."""

from __future__ import annotations

import html
import json
import math
from typing import Any


def esc(value: Any) -> str:
    """``value`` as text safe inside HTML content and quoted attributes."""
    return html.escape("" if value is None else str(value), quote=True)


def fmt(value: Any, spec: str = ".3f") -> str:
    """A number formatted with ``spec``; ``-`` for None or a non-finite value; other values as text."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return "-"
        return format(value, spec)
    return str(value)


def script_json(obj: Any) -> str:
    """JSON that can sit inside a ``<script>`` element: ``<``, ``>``, ``&`` and the JavaScript line
    separators are written as ``\\u`` escapes, so no text in it can close the element."""
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def finite(obj: Any) -> Any:
    """``obj`` with NaN and infinities replaced by None (standard JSON)."""
    if isinstance(obj, dict):
        return {str(k): finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        return finite(obj.item())
    return obj


#: The colour map of FFR used by the pages: matplotlib's ``RdBu`` (ColorBrewer), red low, as in
#: :mod:`ffrflow.plots`, diverging at 0.80 (docs/formats.md §Case report).
RDBU = ["#67001f", "#b2182b", "#d6604d", "#f4a582", "#fddbc7", "#f7f7f7", "#d1e5f0", "#92c5de", "#4393c3",
        "#2166ac", "#053061"]

BASE_CSS = """
:root{--fg:#1b1f24;--muted:#5b6570;--line:#d8dde3;--bg:#ffffff;--panel:#f5f7f9;--pos:#b2182b;--grey:#b8860b;--neg:#2166ac}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);
 background:var(--bg);margin:0;padding:0 24px 40px;max-width:1280px}
h1{font-size:22px;margin:18px 0 4px}h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}
.muted{color:var(--muted)}
table{border-collapse:collapse;margin:6px 0 10px;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--panel);font-weight:600;white-space:nowrap}
td.num,th.num{text-align:right}
.tw{overflow-x:auto;max-width:100%}
#lesions th{white-space:normal;min-width:3.5em}#lesions th,#lesions td{padding:4px 6px}
.cls{display:inline-block;padding:0 6px;border-radius:9px;font-size:12px;font-weight:600;color:#fff}
.cls-positive{background:var(--pos)}.cls-grey{background:var(--grey)}.cls-negative{background:var(--neg)}
.cls-failed{background:#6b6b6b}.cls-none{background:#9aa3ad}
.warn{background:#fff6e0;border:1px solid #e8c66a;border-radius:6px;padding:8px 12px;margin:10px 0}
.warn ul{margin:4px 0 0 18px;padding:0}
.kpi{display:inline-block;background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:6px 12px;
 margin:4px 8px 4px 0}
.kpi b{font-size:18px;display:block}
details{margin:6px 0}summary{cursor:pointer;color:var(--muted)}
img.pic{max-width:100%;height:auto;border:1px solid var(--line);border-radius:4px}
"""


def class_badge(cls: str | None) -> str:
    """A coloured badge for an FFR class (``positive``, ``grey zone``, ``negative``) or a status."""
    if not cls:
        return '<span class="cls cls-none">-</span>'
    key = {"grey zone": "grey"}.get(cls, cls)
    return f'<span class="cls cls-{esc(key)}">{esc(cls)}</span>'
