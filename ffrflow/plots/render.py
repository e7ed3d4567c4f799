"""The machinery of :mod:`ffrflow.plots` (docs/architecture.md §Packages and modules): the off-screen
VTK probe and renderer, the orthographic :class:`View`, the FFR colour norm, the matplotlib fallback
renderer (decimated, depth-sorted, shaded triangles), the scene figure with its fixed layout, label
placement, and the atomic PNG writer. The figures users call are in :mod:`ffrflow.plots.figures`
and :mod:`ffrflow.plots.uncertainty`.

Every figure is a :class:`matplotlib.figure.Figure` built without ``pyplot`` (no display, no global
state: safe in batch workers and threads). The 3D view is rendered off screen by VTK (EGL where
there is no X display); where VTK cannot open an off-screen window (no EGL/OSMesa/X), a matplotlib
renderer draws the same view instead of failing the run; ``FFRFLOW_RENDERER=matplotlib`` forces it
and ``FFRFLOW_RENDERER=vtk`` skips the probe.

The view is orthographic, looking along the direction in which the tree is thinnest (its smallest
principal axis), from the patient's anterior side, head up where possible; the picture says which.
Coordinates are world millimetres (LPS); image coordinates are pixels.

Colours: FFR on a diverging map (red below, blue above) centred at the 0.80 cut-off
(:data:`FFR_CUTOFF`), from min(0.5, lowest FFR) to 1.0.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .._atomic import atomic_path
from ..vtkio import with_point_arrays

log = logging.getLogger("ffrflow")

#: The FFR cut-off at which the colour map changes from red (ischaemic) to blue.
FFR_CUTOFF = 0.80
#: Colour map of FFR (matplotlib name; diverging, red low).
FFR_CMAP = "RdBu"
#: Triangles kept for the matplotlib fallback renderer.
FALLBACK_TRIANGLES = 30_000

_PROBE = r"""
import os, sys
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
import vtkmodules.vtkRenderingOpenGL2
from vtkmodules import vtkCommonCore, vtkFiltersSources, vtkRenderingCore as vtk
from vtkmodules.util.numpy_support import vtk_to_numpy
vtkCommonCore.vtkObject.GlobalWarningDisplayOff()
rw = vtk.vtkRenderWindow(); rw.SetOffScreenRendering(1); rw.SetSize(64, 64)
ren = vtk.vtkRenderer(); ren.SetBackground(1, 1, 1); rw.AddRenderer(ren)
s = vtkFiltersSources.vtkSphereSource(); m = vtk.vtkPolyDataMapper(); m.SetInputConnection(s.GetOutputPort())
a = vtk.vtkActor(); a.SetMapper(m); a.GetProperty().SetColor(1, 0, 0); ren.AddActor(a)
rw.Render()
w = vtk.vtkWindowToImageFilter(); w.SetInput(rw); w.Update()
img = vtk_to_numpy(w.GetOutput().GetPointData().GetScalars())
print("OK" if (img[:, 1] < 128).sum() > 100 else "BLANK", rw.GetClassName())
"""
_vtk_ok: tuple[bool, str] | None = None
_windows = threading.local()


def vtk_offscreen_available() -> tuple[bool, str]:
    """Whether VTK can render off screen here: ``(ok, why)``; probed once per process.

    The probe runs in a subprocess, so that a broken OpenGL stack cannot take the caller down.
    """
    global _vtk_ok
    if _vtk_ok is not None:
        return _vtk_ok
    mode = os.environ.get("FFRFLOW_RENDERER", "auto").lower()
    if mode == "matplotlib":
        _vtk_ok = (False, "FFRFLOW_RENDERER=matplotlib")
    elif mode == "vtk":
        _vtk_ok = (True, "FFRFLOW_RENDERER=vtk")
    else:
        try:
            out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60)
            words = out.stdout.split()
            ok = out.returncode == 0 and bool(words) and words[0] == "OK"
            why = " ".join(words) if ok else (out.stdout.strip() or out.stderr.strip().splitlines()[-1:] or
                                              [f"exit {out.returncode}"])
            _vtk_ok = (ok, why if isinstance(why, str) else why[0])
        except (OSError, subprocess.TimeoutExpired) as exc:
            _vtk_ok = (False, f"probe failed: {exc}")
        if not _vtk_ok[0]:
            log.warning("VTK cannot render off screen here (%s); pictures are drawn by matplotlib", _vtk_ok[1])
    return _vtk_ok


# ---------------------------------------------------------------------------------------------- view
@dataclass
class View:
    """An orthographic view: world mm → image pixels.

    Attributes
    ----------
    center_mm : (3,) array
    right, up, toward : (3,) arrays
        Unit vectors: image right, image up, and from the scene toward the viewer.
    mm_per_px : float
    size : (width, height) in pixels
    name : str
        Where the viewer stands (e.g. ``"anterior"``), for the caption.
    """

    center_mm: np.ndarray
    right: np.ndarray
    up: np.ndarray
    toward: np.ndarray
    mm_per_px: float
    size: tuple[int, int]
    name: str

    def project(self, xyz_mm) -> np.ndarray:
        """World points (…, 3) → pixel coordinates (…, 2), origin top-left, y down."""
        p = np.asarray(xyz_mm, dtype=np.float64) - self.center_mm
        w, h = self.size
        return np.stack([w / 2 + (p @ self.right) / self.mm_per_px, h / 2 - (p @ self.up) / self.mm_per_px], axis=-1)

    def depth(self, xyz_mm) -> np.ndarray:
        """Distance toward the viewer (larger = nearer), mm."""
        return (np.asarray(xyz_mm, dtype=np.float64) - self.center_mm) @ self.toward


_NAMES = {(0, -1): "anterior", (0, 1): "posterior", (1, -1): "right", (1, 1): "left", (2, 1): "superior",
          (2, -1): "inferior"}


def fit_view(points_mm: np.ndarray, size: tuple[int, int] = (1000, 850), margin: float = 0.06) -> View:
    """The orthographic view that shows a point cloud (world mm, LPS) largest.

    Looks along the smallest principal axis, from the anterior side (−y in LPS) when that axis has
    an anterior–posterior component, head (+z) up when possible.
    """
    pts = np.asarray(points_mm, dtype=np.float64)
    c = 0.5 * (pts.min(axis=0) + pts.max(axis=0))
    cov = np.cov((pts - pts.mean(axis=0)).T) if len(pts) > 3 else np.eye(3)
    _, vecs = np.linalg.eigh(cov)
    toward = vecs[:, 0]
    # stand on the anterior side (LPS: -y) unless the axis is nearly lateral/axial; then left/superior
    axis = int(np.argmax(np.abs(toward)))
    pref = {0: np.array([1.0, 0, 0]), 1: np.array([0, -1.0, 0]), 2: np.array([0, 0, 1.0])}[axis]
    if toward @ pref < 0:
        toward = -toward
    sup = np.array([0.0, 0.0, 1.0])
    up = sup - (sup @ toward) * toward
    if np.linalg.norm(up) < 0.3:
        ant = np.array([0.0, -1.0, 0.0])
        up = ant - (ant @ toward) * toward
    up /= np.linalg.norm(up)
    right = np.cross(up, toward)
    q = pts - c
    u, v = q @ right, q @ up
    w, h = size
    span = max((u.max() - u.min()) / w, (v.max() - v.min()) / h) * (1.0 + 2 * margin)
    c = c + right * 0.5 * (u.max() + u.min()) + up * 0.5 * (v.max() + v.min())
    sgn = int(np.sign(toward[axis]))
    name = _NAMES.get((axis, sgn), "oblique")
    if abs(toward[axis]) < 0.9:
        name = f"mostly {name}"
    return View(c, right, up, toward, max(span, 1e-6), (int(w), int(h)), name)


# ---------------------------------------------------------------------------------------------- colours
def ffr_norm(values: np.ndarray | None = None):
    """The colour norm of FFR: diverging at :data:`FFR_CUTOFF`, from min(0.5, lowest value) to 1."""
    from matplotlib.colors import TwoSlopeNorm

    lo = 0.5
    if values is not None and len(values):
        lo = float(min(lo, np.nanmin(values) - 0.01))
    return TwoSlopeNorm(vmin=max(lo, 0.0), vcenter=FFR_CUTOFF, vmax=1.0)


def _cmap(name: str = FFR_CMAP):
    import matplotlib

    return matplotlib.colormaps[name]


# ---------------------------------------------------------------------------------------------- rendering
def _polydata_arrays(poly) -> tuple[np.ndarray, np.ndarray]:
    """Points (n, 3) and triangles (m, 3) of a triangle polydata."""
    from vtkmodules.util.numpy_support import vtk_to_numpy

    pts = vtk_to_numpy(poly.GetPoints().GetData()).astype(np.float64)
    polys = poly.GetPolys()
    conn = vtk_to_numpy(polys.GetConnectivityArray()).astype(np.int64)
    offs = vtk_to_numpy(polys.GetOffsetsArray()).astype(np.int64)
    if len(offs) > 1 and not np.all(np.diff(offs) == 3):
        from .. import _vtk as vtk

        tri = vtk.vtkTriangleFilter()
        tri.SetInputData(poly)
        tri.Update()
        return _polydata_arrays(tri.GetOutput())
    return pts, conn.reshape(-1, 3)


def _render_vtk(view: View, surface, scalars: np.ndarray | None, cmap, norm, color, opacity: float,
                lines: Sequence[tuple[np.ndarray, tuple]] = ()) -> np.ndarray:
    """Off-screen VTK render of the surface (and polylines) in ``view``: (h, w, 3) uint8."""
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    from .. import _vtk as vtk
    from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy

    w, h = view.size
    translucent = opacity < 1.0
    key = ("window", translucent)
    rw = getattr(_windows, str(key), None)
    if rw is None:          # one off-screen window per thread and kind, reused (an EGL context is slow to make)
        rw = vtk.vtkRenderWindow()
        rw.SetOffScreenRendering(1)
        # 2 samples: llvmpipe renders a phantom tree in 0.10 s with 2, 0.14 s with 4, 0.04 s aliased
        rw.SetMultiSamples(0 if translucent else 2)
        if translucent:
            rw.SetAlphaBitPlanes(1)
        setattr(_windows, str(key), rw)
    rw.SetSize(w, h)
    rw.GetRenderers().RemoveAllItems()
    ren = vtk.vtkRenderer()
    ren.SetBackground(1.0, 1.0, 1.0)
    rw.AddRenderer(ren)
    if translucent:
        ren.SetUseDepthPeeling(1)
        ren.SetMaximumNumberOfPeels(8)
    poly = vtk.vtkPolyData()
    poly.ShallowCopy(surface)
    if poly.GetPointData().GetNormals() is None:
        nf = vtk.vtkPolyDataNormals()
        nf.SetInputData(poly)
        nf.SplittingOff()
        nf.Update()
        poly = nf.GetOutput()
    mapper = vtk.vtkPolyDataMapper()
    mapper.SetInputData(poly)
    if scalars is not None:
        rgb = (np.asarray(cmap(norm(np.asarray(scalars, dtype=np.float64))))[:, :3] * 255).astype(np.uint8)
        arr = numpy_to_vtk(rgb, deep=True, array_type=vtk.VTK_UNSIGNED_CHAR)
        arr.SetName("colors")
        poly.GetPointData().SetScalars(arr)
        mapper.SetColorModeToDirectScalars()
        mapper.ScalarVisibilityOn()
    else:
        mapper.ScalarVisibilityOff()
    actor = vtk.vtkActor()
    actor.SetMapper(mapper)
    prop = actor.GetProperty()
    if scalars is None:
        prop.SetColor(*color)
    prop.SetOpacity(opacity)
    prop.SetInterpolationToPhong()
    prop.SetSpecular(0.15)
    prop.SetSpecularPower(20)
    ren.AddActor(actor)
    for pts, rgb in lines:
        src = vtk.vtkLineSource()
        p = vtk.vtkPoints()
        p.SetData(numpy_to_vtk(np.ascontiguousarray(pts, dtype=np.float64), deep=True))
        src.SetPoints(p)
        tube = vtk.vtkTubeFilter()
        tube.SetInputConnection(src.GetOutputPort())
        tube.SetRadius(max(1.5 * view.mm_per_px, 0.15))
        tube.SetNumberOfSides(8)
        lm = vtk.vtkPolyDataMapper()
        lm.SetInputConnection(tube.GetOutputPort())
        la = vtk.vtkActor()
        la.SetMapper(lm)
        la.GetProperty().SetColor(*rgb)
        la.GetProperty().SetAmbient(0.6)
        la.GetProperty().SetDiffuse(0.5)
        ren.AddActor(la)
    cam = ren.GetActiveCamera()
    cam.ParallelProjectionOn()
    cam.SetFocalPoint(*view.center_mm)
    dist = 1000.0
    cam.SetPosition(*(view.center_mm + dist * view.toward))
    cam.SetViewUp(*view.up)
    cam.SetParallelScale(0.5 * h * view.mm_per_px)
    cam.SetClippingRange(1.0, 2 * dist)
    for pos, intensity in (((0.0, 0.0, 1.0), 0.75), ((0.4, 0.7, 1.0), 0.35)):   # head light + fill light
        light = vtk.vtkLight()
        light.SetLightTypeToCameraLight()
        light.SetPosition(*pos)
        light.SetFocalPoint(0.0, 0.0, 0.0)
        light.SetIntensity(intensity)
        ren.AddLight(light)
    rw.Render()
    grab = vtk.vtkWindowToImageFilter()
    grab.SetInput(rw)
    grab.SetInputBufferTypeToRGB()
    grab.ReadFrontBufferOff()
    grab.Update()
    img = grab.GetOutput()
    dims = img.GetDimensions()
    arr = vtk_to_numpy(img.GetPointData().GetScalars()).reshape(dims[1], dims[0], -1)[::-1, :, :3]
    out = np.array(arr, copy=True)
    rw.RemoveRenderer(ren)
    return out


def _decimate(surface, max_triangles: int):
    from .. import _vtk as vtk

    n = surface.GetNumberOfPolys()
    if n <= max_triangles:
        return surface
    dec = vtk.vtkQuadricDecimation()
    dec.SetInputData(surface)
    dec.SetTargetReduction(1.0 - max_triangles / n)
    dec.AttributeErrorMetricOn()
    dec.Update()
    return dec.GetOutput()


def _draw_mpl(ax, view: View, surface, scalars, cmap, norm, color, opacity: float) -> None:
    """Matplotlib fallback: depth-sorted, Lambert-shaded triangles in the same orthographic view."""
    from matplotlib.collections import PolyCollection
    from matplotlib.colors import to_rgb

    poly = surface
    if scalars is not None:
        poly = with_point_arrays(surface, {"_value": np.asarray(scalars, dtype=np.float64)})
    poly = _decimate(poly, FALLBACK_TRIANGLES)
    pts, tri = _polydata_arrays(poly)
    uv = view.project(pts)
    a, b, c = pts[tri[:, 0]], pts[tri[:, 1]], pts[tri[:, 2]]
    nrm = np.cross(b - a, c - a)
    nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
    shade = 0.35 + 0.65 * np.abs(nrm @ view.toward)
    order = np.argsort(view.depth((a + b + c) / 3.0))
    if scalars is not None:
        from vtkmodules.util.numpy_support import vtk_to_numpy

        val = vtk_to_numpy(poly.GetPointData().GetArray("_value"))[tri].mean(axis=1)
        base = np.asarray(cmap(norm(val)))[:, :3]
    else:
        base = np.tile(to_rgb(color), (len(tri), 1))
    rgba = np.concatenate([base * shade[:, None], np.full((len(tri), 1), opacity)], axis=1)
    coll = PolyCollection(uv[tri][order], facecolors=rgba[order], edgecolors="none", antialiased=False)
    ax.add_collection(coll)


@dataclass
class _Scene:
    view: View
    image: np.ndarray | None
    renderer: str


def _scene(surface, scalars, cmap, norm, color, opacity, lines, size, ax) -> _Scene:
    pts, _ = _polydata_arrays(surface)
    view = fit_view(pts, size)
    ok, _why = vtk_offscreen_available()
    if ok:
        try:
            img = _render_vtk(view, surface, scalars, cmap, norm, color, opacity, lines)
            return _Scene(view, img, "vtk")
        except Exception as exc:  # pragma: no cover - depends on the OpenGL stack
            log.warning("VTK off-screen rendering failed (%s); drawing with matplotlib", exc)
    _draw_mpl(ax, view, surface, scalars, cmap, norm, color, opacity)
    return _Scene(view, None, "matplotlib")


def _figure_class():
    from matplotlib.figure import Figure

    class PictureFigure(Figure):
        """A matplotlib Figure that shows itself as PNG in Jupyter without pyplot (``_repr_png_``)."""

        def _repr_png_(self) -> bytes:
            buf = io.BytesIO()
            self.savefig(buf, format="png", dpi=self.dpi)
            return buf.getvalue()

    return PictureFigure


#: Figure of a scene picture (inches, dots per inch) and, in figure fractions, the fixed rectangles
#: of its picture axes and colour bar: no layout engine, and the 3D view is rendered at exactly the
#: axes' pixel size, so the image is shown 1:1 without resampling (both cost ~0.3 s per picture).
SCENE_FIG_IN, SCENE_DPI = (9.0, 7.5), 110
SCENE_RECT = (0.005, 0.01, 0.855, 0.93)
SCENE_CBAR_RECT = (0.875, 0.13, 0.025, 0.70)


def _new_figure(size_in=(9.0, 7.5), ax=None):
    if ax is not None:
        return ax.figure, ax
    fig = _figure_class()(figsize=size_in, dpi=110, layout="constrained")
    return fig, fig.add_subplot(1, 1, 1)


def _scene_figure(ax, size, colorbar: bool = True):
    """(fig, ax, render size, colour-bar axes or None, fixed layout?): a new fixed-layout figure whose
    picture axes the view is rendered for pixel for pixel, unless ``ax`` is given. Without a colour
    bar the picture axes take the whole width."""
    if ax is not None:
        return ax.figure, ax, size, None, False
    fig = _figure_class()(figsize=SCENE_FIG_IN, dpi=SCENE_DPI)
    x0, y0, w, h = SCENE_RECT if colorbar else (SCENE_RECT[0], SCENE_RECT[1], 1.0 - 2 * SCENE_RECT[0], SCENE_RECT[3])
    ax = fig.add_axes((x0, y0, w, h))
    px = (int(round(SCENE_FIG_IN[0] * SCENE_DPI * w)), int(round(SCENE_FIG_IN[1] * SCENE_DPI * h)))
    return fig, ax, px, fig.add_axes(SCENE_CBAR_RECT) if colorbar else None, True


def _finish_scene_axes(ax, scene: _Scene, one_to_one: bool = False) -> None:
    w, h = scene.view.size
    if scene.image is not None:
        im = ax.imshow(scene.image, extent=(0, w, h, 0), interpolation="nearest" if one_to_one else "antialiased")
        if one_to_one:
            ax.figure._ffrflow_underlay = (im, ax)        # _save pastes it under the drawing, pixel for pixel
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for sp in ax.spines.values():
        sp.set_visible(False)
    # 10 mm scale bar, bottom left
    bar = 10.0 / scene.view.mm_per_px
    x0, y0 = 0.04 * w, 0.95 * h
    ax.plot([x0, x0 + bar], [y0, y0], color="k", lw=3, solid_capstyle="butt")
    ax.text(x0 + bar / 2, y0 - 0.015 * h, "10 mm", ha="center", va="bottom", fontsize=9)


def _save(fig, path, dpi: float | None = None, compress_level: int | None = 3) -> None:
    """Save ``fig`` to ``path`` (when given) atomically, in the format of its suffix (PNG without one),
    at ``dpi`` dots per inch (default the figure's); ``compress_level`` is a PNG's zlib level (None:
    PIL's own, 6)."""
    if path is not None:
        path = Path(path)
        fmt = path.suffix.lstrip(".").lower() or "png"
        with atomic_path(path) as tmp:
            if fmt == "png" and getattr(fig, "_ffrflow_underlay", None) is not None:
                _save_png_underlay(fig, tmp)
            else:
                # zlib level 3 instead of PIL's 6: a third of the encoding time for ~10 % larger files
                png = fmt == "png" and compress_level is not None
                extra = {"pil_kwargs": {"compress_level": compress_level}} if png else {}
                fig.savefig(tmp, format=fmt, dpi=fig.dpi if dpi is None else dpi, **extra)


def _save_png_underlay(fig, path) -> None:
    """PNG of a figure whose rendered 3D view is shown 1:1 in an axes: the figure is drawn without the
    view on a transparent canvas and laid over the view's pixels (PIL), which skips matplotlib's image
    resampling and compositing (~0.1 s of the 0.4 s a 990 x 825 picture took). The same pixels as
    ``savefig`` up to the anti-aliasing of the view's border."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    im, ax = fig._ffrflow_underlay
    saved = (im.get_visible(), fig.patch.get_alpha(), ax.patch.get_visible())
    im.set_visible(False)
    fig.patch.set_alpha(0.0)
    ax.patch.set_visible(False)
    try:
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        over = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        bbox = ax.get_window_extent()
    finally:
        im.set_visible(saved[0])
        fig.patch.set_alpha(saved[1])
        ax.patch.set_visible(saved[2])
    base = Image.new("RGBA", over.size, tuple(int(round(255 * c)) for c in fig.get_facecolor()[:3]) + (255,))
    view = np.asarray(im.get_array())
    base.paste(Image.fromarray(np.ascontiguousarray(view[..., :3])).convert("RGBA"),
               (int(round(bbox.x0)), int(round(over.size[1] - bbox.y1))))
    Image.alpha_composite(base, over).convert("RGB").save(path, format="png", compress_level=3,
                                                          dpi=(fig.dpi, fig.dpi))


def _label_positions(view: View, anchors: np.ndarray, image: np.ndarray | None = None,
                     box_px: tuple[float, float] = (150.0, 46.0)) -> np.ndarray:
    """Label centres near their anchors: inside the picture, apart from each other and, when the
    rendered image is given, over as little of the artery as possible."""
    w, h = view.size
    bw, bh = box_px
    anchors = np.asarray(anchors, dtype=np.float64).reshape(-1, 2)
    c = np.array([w / 2, h / 2])
    placed: list[np.ndarray] = []
    busy = None
    if image is not None:
        image = np.asarray(image)
        busy = image if image.dtype == bool else (image[..., :3] < 242).any(axis=2)      # artery pixels
    for p in anchors:
        d = p - c
        base = np.arctan2(d[1], d[0]) if np.linalg.norm(d) > 1e-6 else -np.pi / 2
        best, best_cost = None, np.inf
        for dist in (110.0, 150.0, 200.0):
            for k in (0, 1, -1, 2, -2, 3, -3, 4, -4, 6):
                a = base + k * np.pi / 8
                q = p + dist * np.array([np.cos(a), np.sin(a)])
                q = np.clip(q, [bw / 2 + 2, bh / 2 + 2], [w - bw / 2 - 2, h - bh / 2 - 2])
                if any(abs(q[0] - o[0]) < bw and abs(q[1] - o[1]) < bh for o in placed):
                    continue
                cost = 0.01 * abs(k) + dist / 1000.0
                if busy is not None:
                    x0, x1 = int(q[0] - bw / 2), int(q[0] + bw / 2)
                    y0, y1 = int(q[1] - bh / 2), int(q[1] + bh / 2)
                    cost += float(busy[max(y0, 0):y1, max(x0, 0):x1].mean()) if x1 > x0 and y1 > y0 else 0.0
                if cost < best_cost:
                    best, best_cost = q, cost
        if best is None:                        # crowded: stack below the last label
            best = np.clip(p + np.array([0.0, 60.0 * (len(placed) + 1)]), [bw / 2, bh / 2], [w - bw / 2, h - bh / 2])
        placed.append(best)
    return np.array(placed).reshape(-1, 2)

