"""The figures of :mod:`ffrflow.uncertainty`: the FFR distributions of an uncertainty run (``uq.png``,
``pci_uq.png``) and the pull-back before and after virtual stenting (``pullback_pci.png``).

Each returns a :class:`matplotlib.figure.Figure` built without ``pyplot`` (no global state: safe in
batch workers and threads) and saves it when given a path, atomically, at :data:`UQ_DPI` dots per
inch. FFR is dimensionless, distances along the centerline are mm; the dashed line is the 0.80
cut-off (:data:`ffrflow.plots.render.FFR_CUTOFF`, the value of ``ffrflow.uncertainty.CUTOFF``).
"""

from __future__ import annotations

import inspect

import numpy as np

from .render import FFR_CUTOFF, _figure_class, _save

#: Dots per inch of the saved uncertainty and PCI pictures.
UQ_DPI = 110


def plot_uq(res, title: str | None = None, *, path=None):
    """Distributions of lesion and outlet FFR (violins with the 5th and 95th percentiles), the 0.80
    cut-off and, per row, the probability that FFR ≤ 0.80.

    Parameters
    ----------
    res : ffrflow.uncertainty.UQResult
        Failed samples (NaN) are left out of the violins.
    title : str, optional
        Default: the number of samples (and failed ones) and the sampling method.
    path : str or Path, optional
        Save the figure there (PNG), atomically.

    Returns
    -------
    matplotlib.figure.Figure
    """
    labels = [f"{x['id']} {x['vessel']}" for x in res.lesions] + [f"out {x['vessel']}" for x in res.outlets]
    data = [res.ffr_lesion[:, j] for j in range(res.ffr_lesion.shape[1])] + \
           [res.ffr_outlet[:, j] for j in range(res.ffr_outlet.shape[1])]
    data = [y[np.isfinite(y)] for y in data]   # failed samples (NaN) are not drawn
    fig = _figure_class()(figsize=(8, 0.45 * len(labels) + 1.6))
    ax = fig.subplots()
    if data:
        # matplotlib >= 3.10 names the direction ``orientation`` (``vert`` is deprecated there)
        horizontal = ({"orientation": "horizontal"} if "orientation" in inspect.signature(ax.violinplot).parameters
                      else {"vert": False})
        parts = ax.violinplot(data, showmedians=True, quantiles=[[0.05, 0.95]] * len(data), **horizontal)
        for b in parts["bodies"]:
            b.set_alpha(0.6)
    ax.axvline(FFR_CUTOFF, color="crimson", lw=1.5, ls="--", label="FFR 0.80")
    ax.set_yticks(range(1, len(labels) + 1), labels)
    ax.set_xlabel("FFR")
    failed = f", {res.n_failed} failed" if res.n_failed else ""
    ax.set_title(title or f"FFR uncertainty ({res.n_samples} samples{failed}, {res.method})")
    for j, x in enumerate(res.lesions + res.outlets, start=1):
        ax.text(1.005, j, f"P(≤0.80)={x['p_below_cutoff']:.2f}", va="center", fontsize=8,
                transform=ax.get_yaxis_transform())
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    _save(fig, path, dpi=UQ_DPI, compress_level=None)
    return fig


def plot_pci(res, network, *, path=None):
    """Pull-back FFR before (dashed) and after PCI (solid) against distance from the ostium (mm), along
    every root-to-outlet path holding a stented lesion (else the first path); stented lesions shaded
    over their length, the 0.80 cut-off dotted.

    Parameters
    ----------
    res : ffrflow.uncertainty.PCIResult
    network : VesselNetwork
        The network the PCI was computed on (its root-to-outlet paths).
    path : str or Path, optional
        Save the figure there (PNG), atomically.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    vs = {x["vessel"] for x in res.lesions if x["stented"]}
    paths = [p for p in network.root_to_outlet_paths() if vs & set(p)] or network.root_to_outlet_paths()[:1]
    fig = _figure_class()(figsize=(8, 4.2))
    ax = fig.subplots()
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for c, vids in enumerate(paths):
        s0, xs, pre, post = 0.0, [], [], []
        for vid in vids:
            d = res.vessels[vid]
            xs.append(s0 + d["s_mm"])
            pre.append(d["ffr_pre"])
            post.append(d["ffr_post"])
            s0 += float(d["s_mm"][-1])
        col = colors[c % len(colors)]
        ax.plot(np.concatenate(xs), np.concatenate(pre), color=col, ls="--", lw=1.2, label=f"{vids[-1]} before")
        ax.plot(np.concatenate(xs), np.concatenate(post), color=col, lw=1.8, label=f"{vids[-1]} after PCI")
    for x in res.lesions:
        if x["stented"]:
            ax.axvspan(x["position_mm"] - 0.5 * x["length_mm"], x["position_mm"] + 0.5 * x["length_mm"],
                       color="0.85", zorder=0)
            ax.text(x["position_mm"], 1.005, x["id"], ha="center", va="bottom", fontsize=8)
    ax.axhline(FFR_CUTOFF, color="crimson", ls=":", lw=1.2)
    ax.set_xlabel("distance from ostium (mm)")
    ax.set_ylabel("FFR")
    ax.set_ylim(min(0.4, ax.get_ylim()[0]), 1.03)
    ax.set_title("Virtual PCI: pull-back before and after")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    _save(fig, path, dpi=UQ_DPI, compress_level=None)
    return fig
