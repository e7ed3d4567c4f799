"""``report.html``: one case on one self-contained page (docs/formats.md §Case report).

The page holds, in this order: the case's headline (lowest FFR, lesions by class) and its warnings;
the lesion table with the standard read-outs (FFR 10 and 20 mm distal to the lower border, ΔFFR, class;
:mod:`ffrflow.readouts`); the per-vessel table (FFR at the distal end where the lumen is still ≥
1.8 mm wide, lowest FFR); the outlets; an interactive 3D view of the centerline tree drawn as tubes of
the lumen radius and coloured by FFR; the pictures ``ffr.png`` and ``pullback.png`` (and ``uq.png``,
``pullback_pci.png``, ``pci_uq.png`` when present); the uncertainty and virtual-PCI results when
present; and the provenance: version, solver, backend, the input as it was given (its path and
SHA-256, never header fields of the image), the convergence, the timings and every model and
boundary parameter used.

Self-contained: the pictures are embedded as ``data:image/png;base64`` URIs, the 3D view is a small
canvas viewer of ffrflow's own (``viewer.js`` beside this module, about 8 kB, inlined), the style
sheet is inline; the page fetches nothing when opened. Its size is the pictures' (about
100–300 kB each) plus the centerline (about 40 bytes per point: coordinates to 0.01 mm, radius to
0.01 mm, FFR to 0.001): about 0.5–1 MB for a meshed case with its two pictures.

Every text taken from the case (vessel names, input path, warnings, parameter values) is
HTML-escaped; the data the viewer draws is JSON inside a ``<script type="application/json">``
element with ``<``, ``>`` and ``&`` escaped.

Units: lengths and positions in mm, pressures in mmHg, flows in mL/s, as in ``summary.json``.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .._atomic import atomic_path, atomic_write_text
from ..errors import InvalidInputError
from ._html import BASE_CSS, RDBU, class_badge, esc, finite, fmt, script_json

#: Pictures a case folder may hold, in the order the report shows them, with their captions.
PICTURES = (("ffr.png", "The artery coloured by FFR"), ("pullback.png", "Virtual pull-back: FFR along every path"),
            ("uq.png", "Uncertainty: FFR distributions"), ("pullback_pci.png", "Virtual PCI: FFR before and after"),
            ("pci_uq.png", "Virtual PCI: FFR uncertainty after stenting"))

_VIEWER_JS = Path(__file__).with_name("viewer.js")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None


def geometry_from_h5(path: str | Path) -> list[dict]:
    """The centerline tree of ``results.h5`` for the 3D view: per vessel ``id``, ``parent``, ``name``,
    ``xyz_mm`` (n × 3), ``radius_mm``, ``ffr``.

    Raises
    ------
    InvalidInputError
        A file that is not ``ffrflow-results/1``, or a vessel group without one of those datasets
        (named).
    """
    import h5py

    path = Path(path)
    out = []
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot be read as HDF5 ({exc})") from None
    with f:
        if f.attrs.get("format") != "ffrflow-results/1":
            raise InvalidInputError(f"{path}: attribute 'format' is {f.attrs.get('format')!r}, expected "
                                    f"'ffrflow-results/1'")
        if "vessels" not in f:
            raise InvalidInputError(f"{path}: no group 'vessels'")
        for key, g in f["vessels"].items():
            for ds in ("xyz_mm", "radius_mm", "ffr"):
                if ds not in g:
                    raise InvalidInputError(f"{path}: vessel group {key!r} has no dataset {ds!r}")
            out.append({"id": str(g.attrs.get("id", key)), "parent": str(g.attrs.get("parent", "")) or None,
                        "name": str(g.attrs.get("name", "")) or None,
                        "xyz_mm": g["xyz_mm"][()].tolist(), "radius_mm": g["radius_mm"][()].tolist(),
                        "ffr": g["ffr"][()].tolist()})
    return out


def geometry_from_result(result) -> list[dict]:
    """The centerline tree of an in-memory :class:`~ffrflow.cfd.result.Result` (as :func:`geometry_from_h5`)."""
    out = []
    names = {lab.vessel: lab.name for lab in result.anatomy.labels.values()} if hasattr(result, "anatomy") else {}
    for vid in result.disc.vessel_ids:
        v = result.vessel(vid)
        out.append({"id": vid, "parent": result.network.vessels[vid].parent, "name": names.get(vid),
                    "xyz_mm": v["xyz_mm"].tolist(), "radius_mm": v["radius_mm"].tolist(), "ffr": v["ffr"].tolist()})
    return out


def read_case_folder(folder: str | Path) -> dict:
    """What a report is built from, read from a case folder: ``summary`` (``summary.json``, required),
    ``geometry`` (``results.h5``, when present), ``pictures`` ({file name: PNG bytes}), ``uq``
    (``uq.json``), ``pci`` (``pci.json``), ``pci_uq`` (``pci_uq.json``), ``mesh`` (``mesh.json``).

    Raises
    ------
    InvalidInputError
        No ``summary.json`` (not a case folder; an ``error.json`` there is named), or a file that
        cannot be read (named).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInputError(f"{folder}: no such case folder")
    s_path = folder / "summary.json"
    if not s_path.is_file():
        hint = " (the case failed: see its error.json)" if (folder / "error.json").is_file() else ""
        raise InvalidInputError(f"{folder}: no summary.json; not a finished ffrflow case folder{hint}")
    summary = _read_json(s_path)
    if not isinstance(summary, dict):
        raise InvalidInputError(f"{s_path}: expected a JSON object")
    data: dict[str, Any] = {"summary": summary, "geometry": None, "pictures": {}}
    if (folder / "results.h5").is_file():
        data["geometry"] = geometry_from_h5(folder / "results.h5")
    for name, _ in PICTURES:
        if (folder / name).is_file():
            data["pictures"][name] = (folder / name).read_bytes()
    for key in ("uq", "pci", "pci_uq", "mesh"):
        p = folder / f"{key}.json"
        data[key] = _read_json(p) if p.is_file() else None
    if data["uq"] is None and isinstance(summary.get("uq"), dict):
        data["uq"] = summary["uq"]
    if data["pci"] is None and isinstance(summary.get("pci"), dict):
        data["pci"] = summary["pci"]
    return data


def write_case_report(folder: str | Path, path: str | Path | None = None) -> Path:
    """(Re)write ``report.html`` of a case folder from its files (``ffrflow report CASE_DIR``), atomically.

    Parameters
    ----------
    folder : path
        A case folder written by ``ffrflow run``, ``uq``, ``pci`` or ``batch``.
    path : path, optional
        Where to write (default ``folder/report.html``).

    Returns
    -------
    Path
        The page written.
    """
    folder = Path(folder)
    data = read_case_folder(folder)
    html = build_case_report(**data)
    out = Path(path) if path is not None else folder / "report.html"
    atomic_write_text(out, html)
    return out


#: Width of ``thumb.png`` (the dashboard's thumbnail of ``ffr.png``), pixels: two device pixels per CSS
#: pixel of the 96-pixel-wide cell.
THUMB_WIDTH = 192


def write_thumbnail(folder: str | Path, width: int = THUMB_WIDTH) -> Path | None:
    """Write ``thumb.png``, ``ffr.png`` shrunk to about ``width`` pixels (block means), atomically,
    for the batch dashboard (about 20 kB instead of 100–300 kB, so a page of thumbnails loads
    quickly). Returns its path, or None when the folder has no ``ffr.png``."""
    folder = Path(folder)
    src = folder / "ffr.png"
    if not src.is_file():
        return None
    from matplotlib import image as mpimg

    img = mpimg.imread(src)
    k = max(1, int(round(img.shape[1] / width)))
    h, w = (img.shape[0] // k) * k, (img.shape[1] // k) * k
    small = img[:h, :w].reshape(h // k, k, w // k, k, *img.shape[2:]).mean(axis=(1, 3))
    out = folder / "thumb.png"
    with atomic_path(out) as tmp:
        mpimg.imsave(tmp, np.clip(small, 0.0, 1.0), format="png")
    return out


def _plain(obj):
    return obj.tolist() if hasattr(obj, "tolist") else str(obj)


def write_result_report(result, path: str | Path, pictures: bool = True) -> Path:
    """Write the report of an in-memory :class:`~ffrflow.cfd.result.Result` to ``path`` atomically
    (:meth:`Result.to_html <ffrflow.cfd.result.Result.to_html>`): the same page as
    :func:`write_case_report` builds from the case folder ``ffrflow run`` writes, from the result's
    :meth:`~ffrflow.cfd.result.Result.summary` and centerline; with ``pictures`` the FFR picture and
    the pull-back curves are drawn now (a picture that cannot be drawn is left out and named among
    the warnings)."""
    if not hasattr(result, "disc") or not hasattr(result, "lesion_records"):
        raise InvalidInputError("to_html: a report needs a network solver's result (steady or pulsatile); "
                                "a lumped model has no vessels or lesions")
    summary = json.loads(json.dumps(finite(result.summary())))
    pics: dict[str, bytes] = {}
    if pictures:
        with tempfile.TemporaryDirectory(prefix="ffrflow-report-") as tmp:
            for name, draw in (("ffr.png", result.plot), ("pullback.png", result.plot_pullback)):
                try:
                    fig = draw(path=Path(tmp) / name)
                    pics[name] = (Path(tmp) / name).read_bytes()
                    try:
                        import matplotlib.pyplot as plt

                        plt.close(fig)
                    except Exception:  # noqa: BLE001 - a figure that is not matplotlib's
                        pass
                except Exception as exc:  # noqa: BLE001 - a picture is never worth the report
                    logging.getLogger("ffrflow").warning("%s not drawn: %s: %s", name, type(exc).__name__, exc)
                    summary.setdefault("notes", []).append(f"{name} not drawn: {type(exc).__name__}: {exc}")
    html = build_case_report(summary, geometry=geometry_from_result(result), pictures=pics,
                             mesh=json.loads(json.dumps(finite(result.mesh_info), default=_plain))
                             if getattr(result, "mesh_info", None) else None)
    path = Path(path)
    atomic_write_text(path, html)
    return path


# ---------------------------------------------------------------------------------------------- the page
def _table(head: list[tuple[str, str]], rows: list[list[tuple[str, Any, str]]], table_id: str) -> str:
    """``head`` = [(label, css class)], each row = [(cell html, raw value for data-value, css class)]."""
    th = "".join(f'<th class="{c}">{esc(h)}</th>' for h, c in head)
    body = []
    for r in rows:
        tds = []
        for (cell, raw, c), (h, _) in zip(r, head):
            dv = "" if raw is None else f' data-value="{esc(raw)}"'
            tds.append(f'<td class="{c}" data-col="{esc(h)}"{dv}>{cell}</td>')
        body.append("<tr>" + "".join(tds) + "</tr>")
    if not rows:
        body.append(f'<tr><td colspan="{len(head)}" class="muted">none</td></tr>')
    return (f'<div class="tw"><table id="{table_id}"><thead><tr>{th}</tr></thead><tbody>{"".join(body)}</tbody>'
            f'</table></div>')


def _num(value, spec=".3f"):
    return (esc(fmt(value, spec)), value if isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) else None, "num")


def _txt(value):
    return (esc(fmt(value)), None, "")


def _vessel_label(name, vid) -> str:
    if name and name != vid:
        return f'{esc(name)} <span class="muted">({esc(vid)})</span>'
    return esc(vid)


def _readout_keys(lesions: list[dict]) -> list[str]:
    keys: list[str] = []
    for les in lesions:
        for k in les:
            if k.startswith("ffr_") and k.endswith("mm") and k not in keys:
                keys.append(k)
    return sorted(keys, key=lambda k: float(k[4:-2]))


def lesion_table(lesions: list[dict]) -> str:
    """The lesion table: geometry, ΔP (mmHg), FFR at the distal shoulder, the read-outs, ΔFFR, class."""
    rk = _readout_keys(lesions)
    head = [("lesion", ""), ("vessel", ""), ("segment", ""), ("position mm", "num"), ("length mm", "num"),
            ("MLD mm", "num"), ("reference mm", "num"), ("%DS", "num"), ("ΔP mmHg", "num"), ("FFR distal", "num")]
    head += [(f"FFR {k[4:-2]} mm distal", "num") for k in rk]
    head += [("ΔFFR", "num"), ("class", "")]
    rows = []
    for les in lesions:
        seg = les.get("segment")
        seg_html = (f'{esc(seg)} <span class="muted">{esc(les.get("segment_label") or "")}</span>'
                    if seg is not None else "-")
        cls = les.get("ffr_class")
        at = les.get("class_at_mm")
        cls_html = class_badge(cls) + (f' <span class="muted">at {esc(fmt(at, "g"))} mm</span>' if at is not None else "")
        rows.append([(esc(les.get("id")), les.get("id"), ""),
                     (_vessel_label(les.get("vessel_name"), les.get("vessel")), les.get("vessel"), ""),
                     (seg_html, seg, ""),
                     _num(les.get("position_mm"), ".1f"), _num(les.get("length_mm"), ".1f"),
                     _num(les.get("mld_mm"), ".2f"), _num(les.get("reference_diameter_mm"), ".2f"),
                     _num(les.get("diameter_stenosis_pct"), ".1f"), _num(les.get("delta_p_mmHg"), ".2f"),
                     _num(les.get("ffr_distal"))] + [_num(les.get(k)) for k in rk] +
                    [_num(les.get("delta_ffr")), (cls_html, cls, "")])
    return _table(head, rows, "lesions")


def vessel_table(vessels: list[dict]) -> str:
    """The per-vessel table: name, network ids, SCCT segments, length, distal FFR (where the lumen is
    still ≥ the diameter cut-off, mm from the vessel's start), lowest FFR, confidence of the name."""
    cut = vessels[0].get("min_diameter_mm", 1.8) if vessels else 1.8
    head = [("vessel", ""), ("network ids", ""), ("SCCT", ""), ("length mm", "num"),
            (f"FFR distal (d ≥ {fmt(cut, 'g')} mm)", "num"), ("at mm", "num"), ("lowest FFR", "num"),
            ("name confidence", "num")]
    rows = []
    for v in vessels:
        rows.append([(esc(v.get("name")), v.get("name"), ""), (esc(", ".join(v.get("vessels") or [])), None, ""),
                     (esc(", ".join(str(s) for s in v.get("segments") or []) or "-"), None, ""),
                     _num(v.get("length_mm"), ".1f"), _num(v.get("ffr_distal")), _num(v.get("distal_mm"), ".1f"),
                     _num(v.get("ffr_min")), _num(v.get("confidence"), ".2f")])
    return _table(head, rows, "vessels")


def outlet_table(outlets: list[dict]) -> str:
    """Outlets: vessel, flow (mL/s), pressure (mmHg), FFR, hyperemic resistance (mmHg·s/mL)."""
    head = [("outlet", ""), ("flow mL/s", "num"), ("pressure mmHg", "num"), ("FFR", "num"),
            ("resistance mmHg·s/mL", "num")]
    rows = [[(_vessel_label(o.get("vessel_name"), o.get("vessel")), o.get("vessel"), ""), _num(o.get("flow_ml_s")),
             _num(o.get("pressure_mmHg"), ".2f"), _num(o.get("ffr")), _num(o.get("resistance_mmHg_s_per_ml"), ".1f")]
            for o in outlets]
    return _table(head, rows, "outlets")


def _flatten(d: Mapping, prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out += _flatten(v, key + ".")
        else:
            out.append((key, v))
    return out


def _param_value(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(finite(v))
    return "null" if v is None else str(v)


def parameter_table(summary: dict, table_id: str = "parameters") -> str:
    """Every model and boundary value used (``model.*``, ``boundary.*``; the derived boundary values
    are listed separately)."""
    model = summary.get("model") or {}
    boundary = {k: v for k, v in (summary.get("boundary") or {}).items() if k != "derived"}
    rows = [[(esc(k), None, ""), (esc(_param_value(v)), None, "")]
            for k, v in _flatten({"model": model, "boundary": boundary})]
    return _table([("parameter", ""), ("value", "")], rows, table_id)


def _uq_table(items: list[dict], key: str, table_id: str) -> str:
    head = [("", ""), ("vessel", ""), ("median FFR", "num"), ("90 % interval", "num"), ("P(FFR ≤ 0.80)", "num"),
            ("main contributors", "")]
    rows = []
    for r in items:
        contrib = r.get("first_order_index") or {}
        top = sorted(contrib.items(), key=lambda kv: -(kv[1] or 0))[:2]
        ctext = ", ".join(f"{k} {v:.2f}" for k, v in top if v and v > 0.005) or "-"
        interval = f"{fmt(r.get('p05'))} – {fmt(r.get('p95'))}"
        rows.append([(esc(r.get(key, "")), None, ""),
                     (_vessel_label(r.get("vessel_name"), r.get("vessel")), r.get("vessel"), ""),
                     _num(r.get("median")), (esc(interval), None, "num"), _num(r.get("p_below_cutoff"), ".2f"),
                     (esc(ctext), None, "")])
    return _table(head, rows, table_id)


def _interval(x) -> tuple:
    """A read-out's ``median [p05 – p95]`` cell (``-`` when the read-out does not exist)."""
    if not x:
        return ("-", None, "num")
    return (esc(f"{fmt(x.get('median'))} [{fmt(x.get('p05'))} – {fmt(x.get('p95'))}]"), x.get("median"), "num")


def uq_readouts_section(block: dict) -> str:
    """The standard read-outs with their uncertainty (``uq.json`` ``readouts``): per lesion FFR at
    each distance past its lower border, ΔFFR, P(FFR ≤ 0.80) and the class probabilities at the
    classified point; per named vessel its distal and lowest FFR."""
    if not block:
        return ""
    if "unavailable" in block:
        return f"<h3>Read-outs</h3><p>Read-out intervals unavailable: {esc(block['unavailable'])}</p>"
    les = block.get("lesions") or []
    keys = [k for k in (les[0] if les else {}) if k.startswith("ffr_") and k.endswith("mm")]
    head = ([("lesion", ""), ("vessel", "")] + [(f"FFR {k[4:-2]} mm [90 %]", "num") for k in keys]
            + [("ΔFFR [90 %]", "num"), ("P(FFR ≤ 0.80)", "num"), ("P(positive)", "num"), ("P(grey zone)", "num")])
    rows = [[(esc(r.get("id", "")), None, ""), (_vessel_label(r.get("vessel_name"), r.get("vessel")), r.get("vessel"), "")]
            + [_interval(r.get(k)) for k in keys]
            + [_interval(r.get("delta_ffr")), _num((r.get("class_ffr") or {}).get("p_below_cutoff"), ".2f"),
               _num(r.get("p_positive"), ".2f"), _num(r.get("p_grey_zone"), ".2f")] for r in les]
    out = ["<h3>Read-outs</h3>" + _table(head, rows, "uq-readouts")]
    vessels = block.get("vessels") or []
    if vessels:
        vhead = [("vessel", ""), ("distal FFR [90 %]", "num"), ("P(FFR ≤ 0.80)", "num"), ("lowest FFR [90 %]", "num"),
                 ("P(FFR ≤ 0.80)", "num")]
        vrows = [[(esc(r.get("name", "")), None, ""), _interval(r.get("ffr_distal")),
                  _num((r.get("ffr_distal") or {}).get("p_below_cutoff"), ".2f"), _interval(r.get("ffr_min")),
                  _num((r.get("ffr_min") or {}).get("p_below_cutoff"), ".2f")] for r in vessels]
        out.append(_table(vhead, vrows, "uq-vessel-readouts"))
    return "".join(out)


def uq_section(uq: dict) -> str:
    """Uncertainty: per lesion and outlet the median FFR, 90 % interval and P(FFR ≤ 0.80), and the
    standard read-outs with their intervals."""
    f = uq.get("failed") or {}
    parts = [f'<p>{esc(uq.get("n_samples"))} samples ({esc(uq.get("method"))}) on {esc(uq.get("backend"))}; '
             f'{esc(f.get("count", 0))} failed ({esc(fmt(100 * (f.get("fraction") or 0.0), ".2f"))} %), '
             f'statistics over the converged samples.</p>']
    parts.append("<h3>Lesions</h3>" + _uq_table(uq.get("lesions") or [], "id", "uq-lesions"))
    parts.append("<h3>Outlets</h3>" + _uq_table(uq.get("outlets") or [], "", "uq-outlets"))
    parts.append(uq_readouts_section(uq.get("readouts") or {}))
    return "".join(parts)


def pci_section(pci: dict, pci_uq: dict | None) -> str:
    """Virtual PCI: per lesion and outlet FFR before and after restoring the stented lesions."""
    head = [("lesion", ""), ("vessel", ""), ("stented", ""), ("FFR before", "num"), ("FFR after", "num"),
            ("ΔP before mmHg", "num"), ("ΔP after mmHg", "num")]
    rows = [[(esc(x.get("id")), x.get("id"), ""), (_vessel_label(x.get("vessel_name"), x.get("vessel")), x.get("vessel"), ""),
             (esc(fmt(bool(x.get("stented")))), None, ""), _num(x.get("ffr_pre")), _num(x.get("ffr_post")),
             _num(x.get("delta_p_pre_mmHg"), ".2f"), _num(x.get("delta_p_post_mmHg"), ".2f")]
            for x in pci.get("lesions") or []]
    out = [f'<p>stented: {esc(", ".join(map(str, pci.get("stented") or [])) or "-")}</p>',
           _table(head, rows, "pci-lesions")]
    orows = [[(_vessel_label(o.get("vessel_name"), o.get("vessel")), o.get("vessel"), ""), _num(o.get("ffr_pre")),
              _num(o.get("ffr_post"))] for o in pci.get("outlets") or []]
    out.append("<h3>Outlets</h3>" + _table([("outlet", ""), ("FFR before", "num"), ("FFR after", "num")], orows,
                                           "pci-outlets"))
    unc = pci_uq or pci.get("uncertainty")
    if isinstance(unc, dict) and unc.get("lesions") is not None:
        out.append("<h3>After PCI, with uncertainty</h3>" + uq_section(unc))
    return "".join(out)


def case_warnings(summary: dict, mesh: dict | None = None, uq: dict | None = None) -> list[str]:
    """Everything a reader should know before trusting the numbers: the case's warnings and notes,
    a solve that did not converge, radii that meshing interpolated or took from the distance
    transform, failed uncertainty samples."""
    out = [str(w) for w in summary.get("warnings") or []]
    out += [f"note: {n}" for n in summary.get("notes") or []]
    if summary.get("converged") is False:
        out.append(f"the solve did not converge (residual {fmt(summary.get('residual'), '.1e')})")
    rad = ((mesh or {}).get("centerline") or {}).get("radius") or {}
    if rad.get("interpolated"):
        out.append(f"{rad['interpolated']} of {rad.get('points')} centerline radii were interpolated along the vessel "
                   f"(no clean cross-section there: {', '.join(f'{k} {v}' for k, v in (rad.get('failures') or {}).items())})")
    if rad.get("dt_fallback"):
        out.append(f"{rad['dt_fallback']} centerline radii came from the distance transform (vessels without any clean "
                   f"cross-section)")
    for label, u in (("uncertainty", uq),):
        f = (u or {}).get("failed") or {}
        if f.get("count"):
            out.append(f"{label}: {f['count']} of {u.get('n_samples')} samples failed and are left out of the statistics")
    return out


def _viewer_data(geometry: list[dict], lesions: list[dict]) -> dict:
    vessels = []
    for v in geometry:
        vessels.append({"id": v["id"], "name": v.get("name"),
                        "p": [round(float(c), 2) for xyz in v["xyz_mm"] for c in xyz],
                        "r": [round(float(r), 2) for r in v["radius_mm"]],
                        "f": [round(float(f), 3) for f in v["ffr"]]})
    marks = [{"id": les.get("id"), "xyz": les.get("mld_xyz_mm"),
              "text": f"{les.get('id')} {fmt(les.get('diameter_stenosis_pct'), '.0f')}% FFR {fmt(les.get('ffr_distal'))}"}
             for les in lesions if les.get("mld_xyz_mm") is not None]
    ffr_all = [f for v in vessels for f in v["f"]]
    lo = min([0.5] + ffr_all)
    return finite({"vessels": vessels, "lesions": marks, "cmap": RDBU, "norm": [max(lo, 0.0), 0.8, 1.0]})


def _kpis(summary: dict) -> str:
    lesions = summary.get("lesions") or []
    by = {c: sum(1 for les in lesions if les.get("ffr_class") == c) for c in ("positive", "grey zone", "negative")}
    worst = min((les for les in lesions if les.get("class_ffr") is not None), key=lambda les: les["class_ffr"],
                default=None)
    k = [f'<div class="kpi" id="kpi-min-ffr"><span class="muted">lowest FFR</span><b>{esc(fmt(summary.get("min_ffr")))}</b></div>',
         f'<div class="kpi"><span class="muted">lesions</span><b>{len(lesions)}</b></div>']
    k += [f'<div class="kpi"><span class="muted">{esc(c)}</span><b>{n}</b></div>' for c, n in by.items()]
    if worst is not None:
        k.append(f'<div class="kpi"><span class="muted">worst lesion</span><b>{esc(worst.get("id"))} '
                 f'{esc(worst.get("vessel_name") or worst.get("vessel"))}: {esc(fmt(worst.get("class_ffr")))}</b>'
                 f'<span class="muted">FFR {esc(fmt(worst.get("class_at_mm"), "g"))} mm distal, {esc(worst.get("ffr_class"))}'
                 f'</span></div>')
    return "".join(k)


def _provenance(summary: dict) -> str:
    inp = summary.get("input") or {}
    units = inp.get("units") if isinstance(inp.get("units"), dict) else {}
    rows = [("ffrflow version", summary.get("ffrflow_version")), ("input (as given)", inp.get("path")),
            ("input SHA-256", inp.get("sha256")), ("case id", inp.get("case_id")), ("input kind", inp.get("kind")),
            ("length unit", f"{units.get('unit')} ({units.get('reason')})" if units else None),
            ("solver", summary.get("solver")), ("backend", summary.get("backend")),
            ("converged", summary.get("converged")), ("iterations", summary.get("iterations")),
            ("residual", fmt(summary.get("residual"), ".2e") if summary.get("residual") is not None else None),
            ("total time s", fmt((summary.get("timings_s") or {}).get("total"), ".2f"))]
    body = [[(esc(k), None, ""), (esc(fmt(v)), None, "")] for k, v in rows if v is not None]
    t = summary.get("timings_s") or {}
    timing = _table([("stage", ""), ("seconds", "num")],
                    [[(esc(k), None, ""), _num(v, ".3f")] for k, v in t.items()], "timings")
    return _table([("", ""), ("", "")], body, "provenance") + f"<details><summary>timings per stage</summary>{timing}</details>"


def build_case_report(summary: dict, geometry: list[dict] | None = None, pictures: Mapping[str, bytes] | None = None,
                      uq: dict | None = None, pci: dict | None = None, pci_uq: dict | None = None,
                      mesh: dict | None = None) -> str:
    """The report page as a string (see the module docstring).

    Parameters
    ----------
    summary : dict
        The ``summary.json`` document.
    geometry : list of dict, optional
        The centerline tree for the 3D view (:func:`geometry_from_h5`); without it the page says so.
    pictures : {file name: PNG bytes}, optional
        Pictures to embed (names of :data:`PICTURES`).
    uq, pci, pci_uq, mesh : dict, optional
        ``uq.json``, ``pci.json``, ``pci_uq.json``, ``mesh.json``.
    """
    pictures = dict(pictures or {})
    lesions = summary.get("lesions")
    if not isinstance(lesions, list):
        raise InvalidInputError("summary.json: field 'lesions' missing or not a list; a report needs a network "
                                "solver's summary (steady or pulsatile)")
    inp = summary.get("input") or {}
    title = inp.get("case_id") or (Path(str(inp.get("path"))).name if inp.get("path") else "case")
    warnings = case_warnings(summary, mesh, uq)
    parts = [f'<h1>FFR report: {esc(title)}</h1>',
             f'<p class="muted">ffrflow {esc(summary.get("ffrflow_version"))} · {esc(summary.get("solver"))} solver on '
             f'{esc(summary.get("backend"))} · input <code>{esc(inp.get("path"))}</code> · FFR = mean distal / mean '
             f'aortic pressure under hyperemia; classes: ≤ {esc(fmt(((summary.get("model") or {}).get("readout") or {}).get("positive_max", 0.75), ".2f"))} '
             f'positive, &gt; {esc(fmt(((summary.get("model") or {}).get("readout") or {}).get("negative_above", 0.80), ".2f"))} '
             f'negative, between: grey zone</p>',
             f'<div id="kpis">{_kpis(summary)}</div>']
    if warnings:
        parts.append('<div class="warn" id="warnings"><b>Warnings</b><ul>' +
                     "".join(f"<li>{esc(w)}</li>" for w in warnings) + "</ul></div>")
    parts.append("<h2>Lesions</h2>" + lesion_table(lesions))
    parts.append('<p class="muted">Position: from the tree\'s ostium to the MLD. ΔP: pressure drop across the '
                 'lesion. FFR distal: at its lower border; FFR 10/20 mm distal: along the vessel, following the '
                 'largest child at branch points ("-" past an outlet). ΔFFR: across the lesion. Class: from the FFR '
                 'at the distance shown.</p>')
    parts.append("<h2>Vessels</h2>" + vessel_table(summary.get("vessels") or []))
    parts.append("<h2>Outlets</h2>" + outlet_table(summary.get("outlets") or []))
    parts.append("<h2>3D view</h2>")
    if geometry:
        parts.append('<div id="viewer-wrap" style="position:relative"><canvas id="viewer" '
                     'style="width:100%;height:560px;border:1px solid #d8dde3;border-radius:4px;touch-action:none">'
                     '</canvas><div id="viewer-tip" style="position:absolute;display:none;background:#fff;'
                     'border:1px solid #999;padding:2px 6px;font-size:12px;pointer-events:none"></div></div>'
                     '<p class="muted">Centerline tree drawn as tubes of the lumen radius, coloured by FFR (red below '
                     '0.80, blue above). Drag to rotate, wheel to zoom, double-click to reset; hover for the FFR. '
                     'Start: anterior view (patient\'s left on the right, head up; LPS coordinates).</p>')
        parts.append(f'<script type="application/json" id="viewer-data">{script_json(_viewer_data(geometry, lesions))}</script>')
        parts.append(f"<script>{_VIEWER_JS.read_text(encoding='utf-8')}</script>")
    else:
        parts.append('<p class="muted" id="viewer-missing">No results.h5 in this case folder: no 3D view.</p>')
    parts.append("<h2>Pictures</h2>")
    shown = [(n, c) for n, c in PICTURES if n in pictures]
    for name, caption in shown:
        b64 = base64.b64encode(pictures[name]).decode("ascii")
        parts.append(f'<figure><img class="pic" alt="{esc(caption)}" data-name="{esc(name)}" '
                     f'src="data:image/png;base64,{b64}"><figcaption class="muted">{esc(caption)} '
                     f'({esc(name)})</figcaption></figure>')
    if not shown:
        parts.append('<p class="muted">No pictures in this case folder (run without --no-pictures to draw them).</p>')
    if uq:
        parts.append('<h2 id="uq">Uncertainty</h2>' + uq_section(uq))
    if pci:
        parts.append('<h2 id="pci">Virtual PCI</h2>' + pci_section(pci, pci_uq))
    parts.append("<h2>Inputs and provenance</h2>" + _provenance(summary))
    parts.append("<h3>Every parameter used</h3>" + parameter_table(summary))
    derived = (summary.get("boundary") or {}).get("derived")
    if derived:
        rows = [[(esc(k), None, ""), (esc(_param_value(v)), None, "")] for k, v in _flatten(derived)]
        parts.append("<details><summary>derived boundary values (resting flow, outlet resistances)</summary>" +
                     _table([("value", ""), ("", "")], rows, "derived") + "</details>")
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="generator" content="ffrflow {esc(summary.get("ffrflow_version"))}">'
            f'<title>FFR report: {esc(title)}</title><style>{BASE_CSS}</style></head>\n<body>\n{body}\n</body></html>\n')
