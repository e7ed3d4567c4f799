"""Pictures a clinician-researcher looks at (docs/formats.md §Outputs of one case): the 3D artery
coloured by FFR, the virtual pull-back curve, the surface with its centerlines, and the FFR
distributions of an uncertainty run and the pull-back before and after virtual stenting.

Every function returns a :class:`matplotlib.figure.Figure` built without ``pyplot`` (no display, no
global state: safe in batch workers and threads) and saves it when given a path.

The package (docs/architecture.md §Packages and modules):

- :mod:`ffrflow.plots.render`: the machinery: off-screen VTK rendering and its probe
  (:func:`vtk_offscreen_available`), the orthographic :class:`View` (:func:`fit_view`), the FFR
  colour norm, the matplotlib fallback renderer, the scene figure and the atomic PNG writer.
- :mod:`ffrflow.plots.figures`: the figures of a result (:func:`plot_result`,
  :func:`plot_ffr_surface`, :func:`plot_pullback`, :func:`plot_surface_centerlines`) and its surface
  with the centerline values (:func:`result_surface`, :func:`surface_fields`).
- :mod:`ffrflow.plots.uncertainty`: the figures of :mod:`ffrflow.uncertainty` (:func:`plot_uq`,
  :func:`plot_pci`).

The 3D view is rendered off screen by VTK (EGL where there is no X display) and composed with
matplotlib (colour bar, lesion labels, scale bar). Where VTK cannot open an off-screen window (no
EGL/OSMesa/X), a matplotlib renderer draws the same view (depth-sorted, shaded triangles of a
decimated surface) instead of failing the run; ``FFRFLOW_RENDERER=matplotlib`` forces it and
``FFRFLOW_RENDERER=vtk`` skips the probe.

The view is orthographic, looking along the direction in which the tree is thinnest (its smallest
principal axis), from the patient's anterior side, head up where possible; the picture says which.

Colours: FFR on a diverging map (red below, blue above) centred at the 0.80 cut-off
(:data:`FFR_CUTOFF`), from min(0.5, lowest FFR) to 1.0. Lengths in mm, FFR dimensionless.

Examples
--------
>>> import ffrflow                                      # doctest: +SKIP
>>> r = ffrflow.run("case.nii.gz")                      # doctest: +SKIP
>>> fig = r.plot(); fig.savefig("ffr.png")              # doctest: +SKIP
>>> r.plot_pullback().savefig("pullback.png")           # doctest: +SKIP
"""

from .figures import (plot_ffr_surface, plot_pullback, plot_result, plot_surface_centerlines, pullback_paths,
                      result_surface, surface_fields)
from .render import (FALLBACK_TRIANGLES, FFR_CMAP, FFR_CUTOFF, SCENE_CBAR_RECT, SCENE_DPI, SCENE_FIG_IN, SCENE_RECT,
                     View, ffr_norm, fit_view, vtk_offscreen_available)
from .uncertainty import UQ_DPI, plot_pci, plot_uq

__all__ = [
    "FALLBACK_TRIANGLES", "FFR_CMAP", "FFR_CUTOFF", "SCENE_CBAR_RECT", "SCENE_DPI", "SCENE_FIG_IN", "SCENE_RECT",
    "UQ_DPI", "View", "ffr_norm", "fit_view", "plot_ffr_surface", "plot_pci", "plot_pullback", "plot_result",
    "plot_surface_centerlines", "plot_uq", "pullback_paths", "result_surface", "surface_fields",
    "vtk_offscreen_available",
]
