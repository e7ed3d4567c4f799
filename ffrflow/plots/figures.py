"""The figures of a result (docs/formats.md §Outputs of one case): the 3D artery coloured by FFR
(``ffr.png``), the virtual pull-back curves (``pullback.png``) and the surface with its centerlines;
and the lumen surface with the centerline values mapped onto it. Built on the machinery of
:mod:`ffrflow.plots.render`; each returns a :class:`matplotlib.figure.Figure` built without
``pyplot`` and saves it when given a path. Lengths in mm, FFR dimensionless.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .render import (FFR_CUTOFF, _cmap, _figure_class, _finish_scene_axes, _label_positions, _polydata_arrays, _save,
                     _scene, _scene_figure, ffr_norm)
from .. import units
from ..meshing.surface import tube_surface
from ..vtkio import nearest_centerline_node


# ---------------------------------------------------------------------------------------------- pictures
def _lesion_where(les: dict) -> str:
    """Where a lesion is, for a label: its vessel's anatomical name and SCCT segment when known
    (``"LAD (6)"``), else the vessel id."""
    name = les.get("vessel_name") or les["vessel"]
    seg = les.get("segment")
    return f"{name} ({seg})" if seg is not None else str(name)


def plot_ffr_surface(surface, ffr: np.ndarray, lesions: Sequence[dict] = (), *, ax=None, path=None,
                     title: str | None = None, size: tuple[int, int] = (1000, 850)):
    """The 3D artery surface coloured by FFR, with a colour bar and every lesion labelled.

    Parameters
    ----------
    surface : vtkPolyData
        Closed lumen surface, world mm.
    ffr : (n_points,) array
        FFR at every surface vertex (dimensionless).
    lesions : sequence of dict
        Lesion records (``id``, ``vessel``, ``mld_xyz_mm``, ``ffr_distal``, ``diameter_stenosis_pct``).
    ax : matplotlib Axes, optional
        Draw into this axes (its figure is returned).
    path : str or Path, optional
        Save the figure there (PNG), atomically.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.cm import ScalarMappable

    fig, ax, size, cax, fixed = _scene_figure(ax, size)
    ffr = np.asarray(ffr, dtype=np.float64)
    norm = ffr_norm(ffr)
    cmap = _cmap()
    scene = _scene(surface, ffr, cmap, norm, None, 1.0, (), size, ax)
    _finish_scene_axes(ax, scene, one_to_one=fixed)
    if len(lesions):
        anchors = scene.view.project(np.array([les["mld_xyz_mm"] for les in lesions], dtype=np.float64))
        busy = scene.image
        if busy is None:            # matplotlib renderer: the artery's footprint from its projected vertices
            from scipy.ndimage import binary_dilation

            w, h = scene.view.size
            uv = np.round(scene.view.project(_polydata_arrays(surface)[0])).astype(int)
            ok = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
            busy = np.zeros((h, w), dtype=bool)
            busy[uv[ok, 1], uv[ok, 0]] = True
            busy = binary_dilation(busy, iterations=4)
        for les, p, q in zip(lesions, anchors, _label_positions(scene.view, anchors, busy)):
            f = les.get("ffr_distal")
            txt = f"{les.get('id', '')} {_lesion_where(les)}\n{les['diameter_stenosis_pct']:.0f} %DS"
            if f is not None and np.isfinite(f):
                txt += f", FFR {f:.2f}"
            ax.annotate(txt, xy=p, xytext=q, fontsize=9, ha="center", va="center",
                        bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "0.3", "alpha": 0.9},
                        arrowprops={"arrowstyle": "-|>", "color": "0.15", "lw": 1.2, "shrinkA": 0, "shrinkB": 3})
    sm = ScalarMappable(norm=norm, cmap=cmap)
    cb = fig.colorbar(sm, cax=cax) if cax is not None else fig.colorbar(sm, ax=ax, shrink=0.75, pad=0.01)
    cb.set_label("FFR (distal / aortic pressure)")
    ticks = sorted({round(norm.vmin, 2), 0.6, 0.7, FFR_CUTOFF, 0.9, 1.0} - ({0.6} if norm.vmin > 0.6 else set()))
    cb.set_ticks([t for t in ticks if norm.vmin <= t <= 1.0])
    cb.ax.axhline(FFR_CUTOFF, color="k", lw=1.2)
    lo = float(np.nanmin(ffr)) if ffr.size else float("nan")
    ax.set_title(title or f"FFR (min {lo:.2f}); view from {scene.view.name}", fontsize=11)
    fig.ffrflow_renderer = scene.renderer
    _save(fig, path)
    return fig


def plot_surface_centerlines(surface, network, *, ax=None, path=None, title: str | None = None,
                             size: tuple[int, int] = (1000, 850), labels: bool = True):
    """The surface (translucent) with the centerline of every vessel drawn through it.

    Parameters
    ----------
    surface : vtkPolyData
        Lumen surface, world mm.
    network : VesselNetwork
        Centerlines (world mm); roots are marked, vessels labelled by id.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.colors import to_rgb

    fig, ax, size, _, fixed = _scene_figure(ax, size, colorbar=False)
    palette = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#1f78b4"]
    vids = list(network.vessels)
    lines = [(network.vessels[v].points_mm, to_rgb(palette[k % len(palette)])) for k, v in enumerate(vids)]
    scene = _scene(surface, None, None, None, (0.85, 0.35, 0.3), 0.35, lines, size, ax)
    _finish_scene_axes(ax, scene, one_to_one=fixed)
    if scene.image is None:       # matplotlib fallback: draw the centerlines over the surface
        for pts, rgb in lines:
            uv = scene.view.project(pts)
            ax.plot(uv[:, 0], uv[:, 1], color=rgb, lw=1.5)
    for k, v in enumerate(vids):
        ves = network.vessels[v]
        uv = scene.view.project(ves.points_mm)
        if labels:
            m = uv[len(uv) // 2]
            ax.text(m[0] + 6, m[1], v, fontsize=7, color=palette[k % len(palette)], ha="left", va="center")
        if ves.parent is None:
            ax.plot(*uv[0], "o", ms=7, mfc="yellow", mec="k")
    ax.set_title(title or f"{len(vids)} vessels, {len(network.roots)} trees, {len(network.outlets)} outlets; "
                          f"view from {scene.view.name}", fontsize=11)
    fig.ffrflow_renderer = scene.renderer
    _save(fig, path)
    return fig


def pullback_paths(result) -> list[dict]:
    """FFR against distance from the ostium along every root-to-outlet path.

    Returns
    -------
    list of dict
        Per outlet: ``outlet``, ``root``, ``side``, ``s_mm`` (distance from the ostium, mm), ``ffr``,
        ``vessels`` (ids along the path).
    """
    net = result.network
    sides = result.boundary_report.get("sides", {}) if result.boundary_report else {}
    out = []
    for path in net.root_to_outlet_paths():
        s_all, f_all, off = [], [], 0.0
        for vid in path:
            v = result.vessel(vid)
            s_all.append(off + v["s_mm"])
            f_all.append(v["ffr"])
            off += float(v["s_mm"][-1])
        side = sides.get(path[0], {}).get("side") if isinstance(sides.get(path[0]), dict) else None
        out.append({"outlet": path[-1], "root": path[0], "side": side, "vessels": path,
                    "s_mm": np.concatenate(s_all), "ffr": np.concatenate(f_all)})
    return out


def plot_pullback(result, *, path=None, title: str | None = None):
    """Virtual pull-back: FFR against distance from the ostium for every root-to-outlet path.

    One panel per tree (left, right); lesions shaded over their extent and marked with their distal
    FFR; the 0.80 cut-off drawn. Distances in mm.

    Parameters
    ----------
    result : Result
    path : str or Path, optional
        Save the figure there (PNG), atomically.

    Returns
    -------
    matplotlib.figure.Figure
    """
    paths = pullback_paths(result)
    roots = list(dict.fromkeys(p["root"] for p in paths))
    # fixed margins (inches) instead of a layout engine (which re-measures every text per draw): room for the
    # tick labels and y label on the left, the legend outside on the right (sized from its longest entry)
    width, height = 10.0, 3.2 * len(roots) + 0.6 + (0.3 if title else 0.0)
    longest = max([len(f"-> {p['outlet']}") for p in paths] + [9])
    right_in = 0.75 + 0.06 * longest + 0.35
    fig = _figure_class()(figsize=(width, height), dpi=110)
    top_in = 0.35 + (0.3 if title else 0.0)
    axes = fig.subplots(len(roots), 1, squeeze=False,
                        gridspec_kw={"left": 0.75 / width, "right": 1.0 - right_in / width,
                                     "bottom": 0.6 / height, "top": 1.0 - top_in / height,
                                     "hspace": 0.6 / max(3.2 - 0.6, 0.5)})[:, 0]
    lesions = list(result.lesion_records) if hasattr(result, "lesion_records") else list(result.lesions)
    lo = min(0.5, min(float(np.min(p["ffr"])) for p in paths) - 0.03) if paths else 0.5
    for ax, root in zip(axes, roots):
        mine = [p for p in paths if p["root"] == root]
        for k, p in enumerate(mine):
            ax.plot(p["s_mm"], p["ffr"], lw=1.6, label=f"→ {p['outlet']}", color=f"C{k % 10}")
        on_tree = [les for les in lesions if result.network.root_of(les["vessel"]) == root]
        for les in on_tree:
            off = result.network.offset_from_ostium_mm(les["vessel"])
            ax.axvspan(off + les["start_mm"], off + les["end_mm"], color="0.5", alpha=0.18, lw=0)
            s_end = off + les["end_mm"]
            ax.plot([s_end], [les["ffr_distal"]], "v", color="k", ms=6)
            ax.annotate(f"{les['id']} {_lesion_where(les)}\nFFR {les['ffr_distal']:.2f}", (s_end, les["ffr_distal"]),
                        xytext=(6, -22), textcoords="offset points", fontsize=8,
                        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "0.6", "alpha": 0.9})
        ax.axhline(FFR_CUTOFF, color="r", ls="--", lw=1.0)
        ax.text(1.0, FFR_CUTOFF, " 0.80", color="r", va="center", ha="left", fontsize=8,
                transform=ax.get_yaxis_transform())
        ax.set_ylim(lo, 1.02)
        ax.set_xlim(left=0)
        side = mine[0]["side"] if mine else None
        ax.set_title(f"tree {root}" + (f" ({side})" if side else ""), fontsize=10)
        ax.set_ylabel("FFR")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0 + 0.5 / (width - 0.75 - right_in), 1.0),
                  borderaxespad=0.0, title="to outlet", title_fontsize=7)
    axes[-1].set_xlabel("distance from the ostium along the centerline (mm)")
    if title:
        fig.suptitle(title)
    _save(fig, path)
    return fig


# ---------------------------------------------------------------------------------------------- results
def result_surface(result, voxel_mm: float | None = None):
    """The lumen surface of a result: the meshed one, else a tube swept from the centerline radii.

    The swept tube (:func:`ffrflow.meshing.surface.tube_surface`, voxel size ``voxel_mm``, default
    ``clip(min radius / 2, 0.3, 0.4)`` mm) is cached on the result.
    """
    if getattr(result, "surface", None) is not None:
        return result.surface
    cached = getattr(result, "_swept_surface", None)
    if cached is not None:
        return cached

    net = result.network
    if voxel_mm is None:
        rmin = float(min(v.radius_mm.min() for v in net.vessels.values()))
        voxel_mm = float(np.clip(rmin / 2.0, 0.3, 0.4))
    surf = tube_surface(net, voxel_mm=voxel_mm, iterations=20, pass_band=0.05)
    object.__setattr__(result, "_swept_surface", surf)
    return surf


def surface_fields(result, surface=None) -> dict[str, np.ndarray]:
    """Centerline values mapped to every surface vertex: ``ffr``, ``pressure_mmHg``,
    ``centerline_radius_mm`` (mm), ``vessel_index`` (into ``result.disc.vessel_ids``).

    Each vertex takes the values of the centerline node whose lumen it lies on
    (:func:`ffrflow.vtkio.nearest_centerline_node`).
    """
    from vtkmodules.util.numpy_support import vtk_to_numpy

    surface = result_surface(result) if surface is None else surface
    d = result.disc
    cached = getattr(result, "_surface_nodes", None)       # surface.vtp and ffr.png map the same surface
    if cached is not None and cached[0] is surface and len(cached[1]) == surface.GetNumberOfPoints():
        k = cached[1]
    else:
        pts = vtk_to_numpy(surface.GetPoints().GetData()).astype(np.float64)
        k = nearest_centerline_node(pts, d.xyz_mm, d.radius_mm)
        object.__setattr__(result, "_surface_nodes", (surface, k))
    return {"ffr": result.ffr[k], "pressure_mmHg": units.pa_to_mmhg(result.pressure_pa[k]),
            "centerline_radius_mm": d.radius_mm[k], "vessel_index": d.node_vessel[k].astype(np.int64)}


def plot_result(result, *, ax=None, path=None, title: str | None = None):
    """``ffr.png`` of a result: its surface (meshed or swept) coloured by FFR, lesions labelled."""
    surf = result_surface(result)
    fields = surface_fields(result, surf)
    lesions = list(result.lesion_records) if hasattr(result, "lesion_records") else list(result.lesions)
    return plot_ffr_surface(surf, fields["ffr"], lesions, ax=ax, path=path, title=title)
