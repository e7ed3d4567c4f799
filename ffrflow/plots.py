"""Pictures a clinician-researcher looks at (docs/formats.md §Outputs of one case): the 3D artery
coloured by FFR, the virtual pull-back curve, and the surface with its centerlines.

Every function returns a :class:`matplotlib.figure.Figure` built without ``pyplot`` (no display, no
global state: safe in batch workers and threads) and saves it when given a path.

The 3D view is rendered off screen by VTK (EGL where there is no X display) and composed with
matplotlib (colour bar, lesion labels, scale bar). Where VTK cannot open an off-screen window (no
EGL/OSMesa/X), a matplotlib renderer draws the same view (depth-sorted, shaded triangles of a
decimated surface) instead of failing the run; ``FFRFLOW_RENDERER=matplotlib`` forces it and
``FFRFLOW_RENDERER=vtk`` skips the probe.

The view is orthographic, looking along the direction in which the tree is thinnest (its smallest
principal axis), from the patient's anterior side, head up where possible; the picture says which.

Colours: FFR on a diverging map (red below, blue above) centred at the 0.80 cut-off
(:data:`FFR_CUTOFF`), from min(0.5, lowest FFR) to 1.0.

Examples
--------
>>> import ffrflow                                      # doctest: +SKIP
>>> r = ffrflow.run("case.nii.gz")                      # doctest: +SKIP
>>> fig = r.plot(); fig.savefig("ffr.png")              # doctest: +SKIP
>>> r.plot_pullback().savefig("pullback.png")           # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

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
        from . import _vtk as vtk

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
    from . import _vtk as vtk
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
    from . import _vtk as vtk

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
        from .vtkio import with_point_arrays

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
            import io

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


def _save(fig, path) -> None:
    if path is not None:
        from ._atomic import atomic_path

        path = Path(path)
        fmt = path.suffix.lstrip(".").lower() or "png"
        with atomic_path(path) as tmp:
            if fmt == "png" and getattr(fig, "_ffrflow_underlay", None) is not None:
                _save_png_underlay(fig, tmp)
            else:
                # zlib level 3 instead of PIL's 6: a third of the encoding time for ~10 % larger files
                extra = {"pil_kwargs": {"compress_level": 3}} if fmt == "png" else {}
                fig.savefig(tmp, format=fmt, dpi=fig.dpi, **extra)


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
    # fixed margins (inches) instead of a layout engine, which cost ~0.1 s per picture: room for the
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
    from .meshing.surface import tube_surface

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

    from . import units
    from .vtkio import nearest_centerline_node

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
