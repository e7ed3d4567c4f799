"""FFR with its uncertainty, and virtual stenting (PCI), on the batched steady solver.

Uncertain inputs and their default distributions (every one can be changed or fixed through
``distributions``; units in the names):

============================  ====================================================================
``radius_vessel_mm``          Segmentation error of the lumen radius, correlated along each vessel:
                              one offset per vessel, normal, σ = 0.25 × voxel size (0.1 mm at
                              0.4 mm voxels; the voxel size comes from the meshed image when known).
``radius_throat_mm``          Extra error of each lesion's minimal radius (the throat, where
                              segmentation errors matter most; Yin et al. 2019), normal,
                              σ = 0.25 × voxel size, applied as a change of the lesion's depth.
``flow_scale``                Resting coronary flow (cardiac output, myocardial mass) multiplier,
                              log-normal, median 1, σ_log = 0.15 (Sturdy et al. 2019).
``hyperemia_factor``          Hyperemic/rest microvascular resistance, log-normal, median 0.24,
                              σ_log = 0.15.
``inlet_pressure_mmHg``       Mean aortic pressure, normal, the case's value ± 8 mmHg.
``blood_viscosity_pa_s``      Normal, the case's value ± 10 %.
``kt``                        Expansion coefficient K_t, log-normal, median 1.52, σ_log = 0.1 (with
                              ``ns-calibrated``: the whole extra drop scaled by kt/1.52).
============================  ====================================================================

A distribution is ``{"dist": "normal", "mean": m, "sd": s}``, ``{"dist": "lognormal", "median": m,
"sigma_log": s}``, ``{"dist": "uniform", "low": a, "high": b}`` or ``{"dist": "fixed", "value": v}``
(``mean``/``median``/``value`` default to the case's own value). Samples are scrambled Sobol
quasi-Monte Carlo points (``method="qmc"``, default) or plain pseudo-random (``method="mc"``), mapped
through the inverse CDFs; all samples are solved in one call of
:func:`ffrflow.cfd.ensemble.solve_steady_batch` (GPU when present).

Reported per lesion and per outlet: median FFR, the 90 % interval (5th–95th percentiles), the
probability that FFR ≤ 0.80, the mean with its Monte Carlo standard error, and the first-order
contribution of each input to the variance (a given-data estimate of the first-order Sobol index,
Var(E[FFR | X_i]) / Var(FFR), from the same samples binned on X_i); the estimates at N/64 … N show
their convergence.

Virtual stenting (:func:`pci`) restores a lesion's lumen to its reference radius over its length
(severity 0 in the ensemble kernel) and predicts FFR along every vessel and at every outlet, with
the same uncertainty machinery.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import InvalidInputError
from .network import VesselNetwork

log = logging.getLogger("ffrflow")

CUTOFF = 0.80
INPUTS = ("radius_vessel_mm", "radius_throat_mm", "flow_scale", "hyperemia_factor", "inlet_pressure_mmHg",
          "blood_viscosity_pa_s", "kt")


def _prepare_network(source) -> VesselNetwork:
    """A network with its lesions: load (or mesh) the source, then detect lesions where none are given."""
    from . import api
    from .meshing.stenosis import detect_lesions

    if isinstance(source, VesselNetwork):
        net = source
    elif api.is_geometry_input(source):
        net = api.mesh(source)
    else:
        net = api.load(source)
    return detect_lesions(net)


def default_distributions(net: VesselNetwork, voxel_mm: float | None = None) -> dict:
    """The documented default distribution of every uncertain input for this network."""
    if voxel_mm is None:
        voxel_mm = _voxel_size(net) or 0.4
    s = 0.25 * voxel_mm
    b, m = net.boundary, net.model
    return {
        "radius_vessel_mm": {"dist": "normal", "mean": 0.0, "sd": s},
        "radius_throat_mm": {"dist": "normal", "mean": 0.0, "sd": s},
        "flow_scale": {"dist": "lognormal", "median": 1.0, "sigma_log": 0.15},
        "hyperemia_factor": {"dist": "lognormal", "median": b.hyperemia_factor, "sigma_log": 0.15},
        "inlet_pressure_mmHg": {"dist": "normal", "mean": b.inlet_pressure_mmHg, "sd": 8.0},
        "blood_viscosity_pa_s": {"dist": "normal", "mean": m.blood_viscosity_pa_s, "sd": 0.1 * m.blood_viscosity_pa_s},
        "kt": {"dist": "lognormal", "median": m.kt, "sigma_log": 0.1},
    }


def _voxel_size(net: VesselNetwork) -> float | None:
    info = (net.meta.get("mesh") or {}).get("image") or net.meta.get("image") or {}
    sp = info.get("spacing_mm") if isinstance(info, dict) else None
    if sp:
        return float(np.mean(sp))
    return None


def _ppf(u: np.ndarray, spec: Mapping[str, Any], name: str) -> np.ndarray:
    from scipy import stats

    d = spec.get("dist")
    try:
        if d == "normal":
            sd = float(spec["sd"])
            return np.full_like(u, float(spec["mean"])) if sd == 0 else stats.norm.ppf(u, float(spec["mean"]), sd)
        if d == "lognormal":
            sg = float(spec["sigma_log"])
            return float(spec["median"]) * np.exp(sg * stats.norm.ppf(u)) if sg > 0 else np.full_like(u, float(spec["median"]))
        if d == "uniform":
            lo, hi = float(spec["low"]), float(spec["high"])
            return lo + (hi - lo) * u
        if d == "fixed":
            return np.full_like(u, float(spec["value"]))
    except KeyError as exc:
        raise InvalidInputError(f"distributions.{name}: missing {exc.args[0]!r} for dist {d!r}") from None
    raise InvalidInputError(f"distributions.{name}.dist: expected normal, lognormal, uniform or fixed, got {d!r}")


def _is_fixed(spec) -> bool:
    return (spec.get("dist") == "fixed" or (spec.get("dist") == "normal" and float(spec.get("sd", 1)) == 0)
            or (spec.get("dist") == "lognormal" and float(spec.get("sigma_log", 1)) == 0))


@dataclass
class UQResult:
    """Uncertainty of FFR per lesion and per outlet (see module docstring)."""

    n_samples: int
    method: str
    distributions: dict
    lesions: list
    outlets: list
    convergence: list
    samples: dict = field(repr=False, default_factory=dict)
    ffr_lesion: np.ndarray = field(repr=False, default=None)
    ffr_outlet: np.ndarray = field(repr=False, default=None)
    stented: list = field(default_factory=list)
    backend: str = ""
    timings_s: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """JSON-ready summary (the ``uq`` / ``pci`` block of summary.json)."""
        return {"n_samples": self.n_samples, "method": self.method, "cutoff": CUTOFF,
                "distributions": self.distributions, "lesions": self.lesions, "outlets": self.outlets,
                "convergence": self.convergence, "stented": self.stented, "backend": self.backend,
                "timings_s": self.timings_s}

    def plot(self, title: str | None = None):
        """Distributions of lesion and outlet FFR with the 0.80 cut-off (matplotlib figure)."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        labels = [f"{x['id']} {x['vessel']}" for x in self.lesions] + [f"out {x['vessel']}" for x in self.outlets]
        data = [self.ffr_lesion[:, j] for j in range(self.ffr_lesion.shape[1])] + \
               [self.ffr_outlet[:, j] for j in range(self.ffr_outlet.shape[1])]
        fig, ax = plt.subplots(figsize=(8, 0.45 * len(labels) + 1.6))
        if data:
            parts = ax.violinplot(data, vert=False, showmedians=True, quantiles=[[0.05, 0.95]] * len(data))
            for b in parts["bodies"]:
                b.set_alpha(0.6)
        ax.axvline(CUTOFF, color="crimson", lw=1.5, ls="--", label="FFR 0.80")
        ax.set_yticks(range(1, len(labels) + 1), labels)
        ax.set_xlabel("FFR")
        ax.set_title(title or f"FFR uncertainty ({self.n_samples} samples, {self.method})")
        for j, x in enumerate(self.lesions + self.outlets, start=1):
            ax.text(1.005, j, f"P(≤0.80)={x['p_below_cutoff']:.2f}", va="center", fontsize=8,
                    transform=ax.get_yaxis_transform())
        ax.legend(loc="lower left", fontsize=8)
        fig.tight_layout()
        return fig


def _stats(y: np.ndarray) -> dict:
    q = np.percentile(y, [5, 50, 95])
    n = y.size
    p = float(np.mean(y <= CUTOFF))
    return {"median": float(q[1]), "p05": float(q[0]), "p95": float(q[2]), "mean": float(y.mean()),
            "sd": float(y.std(ddof=1)) if n > 1 else 0.0,
            "mean_mc_se": float(y.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0,
            "p_below_cutoff": p, "p_below_cutoff_mc_se": math.sqrt(max(p * (1 - p), 0.0) / n)}


def first_order_indices(x: np.ndarray, y: np.ndarray, bins: int | None = None, raw: bool = False) -> float:
    """Given-data estimate of the first-order Sobol index Var(E[y|x]) / Var(y) (dimensionless).

    The samples are sorted on x and split into ``bins`` (default √N) equal-count bins; the variance
    of the bin means (corrected for their sampling noise) over the total variance estimates S_i.
    ``raw`` returns the unclipped estimate (for sums over several independent inputs).
    """
    n = y.size
    vy = y.var()
    if n < 16 or vy <= 0 or np.ptp(x) == 0:
        return 0.0
    bins = bins or max(4, int(math.sqrt(n)))
    order = np.argsort(x, kind="stable")
    groups = np.array_split(y[order], bins)
    means = np.array([g.mean() for g in groups])
    sizes = np.array([g.size for g in groups])
    within = np.array([g.var(ddof=1) if g.size > 1 else 0.0 for g in groups])
    between = np.sum(sizes * (means - y.mean()) ** 2) / n - np.sum(within) / n
    return float(between / vy) if raw else float(np.clip(between / vy, 0.0, 1.0))


def sample_inputs(net: VesselNetwork, n: int, distributions: Mapping[str, Any] | None = None, seed: int = 0,
                  method: str = "qmc", n_lesions: int = 0, n_vessels: int = 0, voxel_mm: float | None = None):
    """Draw ``n`` samples of every uncertain input. Returns (dists used, dict of arrays)."""
    dists = default_distributions(net, voxel_mm)
    for k, v in (distributions or {}).items():
        if k not in dists:
            raise InvalidInputError(f"distributions: unknown input {k!r}; known: {list(INPUTS)}")
        if not isinstance(v, Mapping):
            raise InvalidInputError(f"distributions.{k}: expected an object like {{'dist': 'normal', ...}}")
        spec = dict(v)
        if spec.get("dist") in ("normal",) and "mean" not in spec:
            spec["mean"] = dists[k].get("mean", dists[k].get("median"))
        if spec.get("dist") == "lognormal" and "median" not in spec:
            spec["median"] = dists[k].get("median", dists[k].get("mean"))
        if spec.get("dist") == "fixed" and "value" not in spec:
            spec["value"] = dists[k].get("mean", dists[k].get("median"))
        dists[k] = spec
    if method not in ("qmc", "mc"):
        raise InvalidInputError(f"method: expected 'qmc' or 'mc', got {method!r}")
    dims = {"radius_vessel_mm": n_vessels, "radius_throat_mm": n_lesions}
    width = {k: dims.get(k, 1) for k in INPUTS}
    total = sum(width.values())
    if method == "qmc":
        from scipy.stats import qmc

        sob = qmc.Sobol(d=max(total, 1), scramble=True, seed=seed)
        m = int(round(math.log2(n)))
        if 2 ** m == n:
            u = sob.random_base2(m)
        else:  # balance properties hold only for powers of two; still a low-discrepancy prefix
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                u = sob.random(n)
    else:
        u = np.random.default_rng(seed).random((n, max(total, 1)))
    u = np.clip(u, 1e-12, 1 - 1e-12)
    out, col = {}, 0
    for k in INPUTS:
        w = width[k]
        if w == 0:
            out[k] = np.zeros((n, 0))
            continue
        out[k] = _ppf(u[:, col:col + w], dists[k], k)
        col += w
        if w == 1:
            out[k] = out[k][:, 0]
    return dists, out


def _to_params(tree, base_mld_r_m, samples: dict) -> dict:
    """Map sampled inputs onto the ensemble kernel's parameters."""
    p = {
        "flow_scale": samples["flow_scale"], "hyperemia_factor": samples["hyperemia_factor"],
        "inlet_pressure_mmHg": samples["inlet_pressure_mmHg"], "blood_viscosity_pa_s": samples["blood_viscosity_pa_s"],
        "kt": samples["kt"], "radius_offset_mm": samples["radius_vessel_mm"],
    }
    if tree.n_lesions:
        # throat error: the lesion depth d changes so that the minimal radius moves by δ
        dmax = np.array([tree.d_node_m[tree.les_k0[j]:tree.les_k1[j] + 1].max() for j in range(tree.n_lesions)])
        with np.errstate(divide="ignore", invalid="ignore"):
            sev = np.where(dmax > 0, 1.0 - samples["radius_throat_mm"] * 1e-3 / dmax, 1.0)
        # keep at least 5 % of the reference radius open, never widen beyond the reference
        ref = tree.les_ref_m
        sev = np.clip(sev, 0.0, np.where(dmax > 0, (ref - 0.05 * ref - (ref - dmax)) / dmax + 1.0, 1.0))
        p["lesion_severity"] = sev
    return p


def uq(source, n_samples: int = 4096, distributions: Mapping[str, Any] | None = None, backend: str = "auto",
       seed: int = 0, method: str = "qmc", stent: Sequence[str] | None = None, output_dir=None,
       voxel_mm: float | None = None) -> UQResult:
    """Monte Carlo / quasi-Monte Carlo uncertainty of FFR for one case.

    Parameters
    ----------
    source : path or VesselNetwork
        The case (meshed and lesion-detected when needed, as :func:`ffrflow.run` does).
    n_samples : int
        Number of samples (a power of two is best for ``qmc``).
    distributions : mapping, optional
        Overrides of the default distributions (module docstring).
    stent : sequence of str, optional
        Lesion ids (``"L1"``, …) to stent in every sample (virtual PCI with uncertainty).
    output_dir : path, optional
        Write ``uq.json`` and ``uq.png`` there.

    Returns
    -------
    UQResult
    """
    from .cfd.ensemble import solve_steady_batch, tree_arrays

    if n_samples < 2:
        raise InvalidInputError(f"samples: expected at least 2, got {n_samples}")
    t0 = time.perf_counter()
    net = _prepare_network(source)
    tree = tree_arrays(net)
    dists, smp = sample_inputs(net, n_samples, distributions, seed, method, tree.n_lesions, tree.n_vessels, voxel_mm)
    params = _to_params(tree, None, smp)
    les_ids = [f"L{j + 1}" for j in range(tree.n_lesions)]
    stented = list(stent or [])
    for sid in stented:
        if sid not in les_ids:
            raise InvalidInputError(f"lesion {sid!r}: no such lesion; this case has {les_ids or 'none'}")
        params["lesion_severity"][:, les_ids.index(sid)] = 0.0
    t1 = time.perf_counter()
    b = solve_steady_batch(net, params, backend=backend, trees=[tree])
    t2 = time.perf_counter()
    inputs_1d = {k: (v if v.ndim == 1 else None) for k, v in smp.items()}

    def contributions(y, lesion_index, vessel_index):
        """First-order index of every input; vector inputs (one radius error per vessel or lesion)
        sum the indices of their independent components on the path to the point."""
        out = {}
        for k, v in smp.items():
            if _is_fixed(dists[k]):
                out[k] = 0.0
            elif v.ndim == 1:
                out[k] = first_order_indices(v, y)
            else:
                cols = lesion_index if k == "radius_throat_mm" else vessel_index
                tot = sum(first_order_indices(v[:, c], y, raw=True) for c in cols)
                out[k] = float(np.clip(tot, 0.0, 1.0))
        return out

    vids = tree.disc.vessel_ids
    lesions = []
    for j, les in enumerate(tree.disc.lesions):
        path_v = net.path_from_root(les["vessel"])
        path = [vids.index(v) for v in path_v]
        up = [i for i, x in enumerate(tree.disc.lesions) if x["vessel"] in path_v and
              (x["vessel"] != les["vessel"] or x["start_mm"] <= les["start_mm"])]
        y = b.ffr_lesion[:, j]
        lesions.append({"id": les_ids[j], "vessel": les["vessel"], "position_mm": les["position_mm"],
                        "stented": les_ids[j] in stented, **_stats(y),
                        "first_order_index": contributions(y, up, path)})
    outlets = []
    for j, o in enumerate(b.outlet_ids):
        path_v = net.path_from_root(o)
        path = [vids.index(v) for v in path_v]
        up = [i for i, x in enumerate(tree.disc.lesions) if x["vessel"] in path_v]
        y = b.ffr_outlet[:, j]
        outlets.append({"vessel": o, **_stats(y), "first_order_index": contributions(y, up, path)})
    conv = []
    n = n_samples
    k = max(1, n // 64)
    while k <= n:
        row = {"n": k}
        for j, les in enumerate(lesions):
            y = b.ffr_lesion[:k, j]
            row[les["id"]] = {"median": float(np.median(y)), "p05": float(np.percentile(y, 5)),
                              "p95": float(np.percentile(y, 95)), "p_below_cutoff": float(np.mean(y <= CUTOFF))}
        conv.append(row)
        if k == n:
            break
        k = min(n, 2 * k)
    res = UQResult(n_samples, method, dists, lesions, outlets, conv, samples=inputs_1d, ffr_lesion=b.ffr_lesion,
                   ffr_outlet=b.ffr_outlet, stented=stented, backend=b.backend,
                   timings_s={"sample": t1 - t0, "solve": t2 - t1, "total": time.perf_counter() - t0})
    log.info("uq: %d samples on %s in %.2f s (solve %.2f s)", n_samples, b.backend, res.timings_s["total"], t2 - t1)
    if output_dir is not None:
        write_uq(res, output_dir, "uq")
    return res


def write_uq(res: UQResult, output_dir, name: str = "uq") -> dict:
    """Write ``<name>.json`` and ``<name>.png`` (distributions with the 0.80 line) atomically."""
    from ._atomic import atomic_path, atomic_write_text

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"{name}.json", json.dumps(res.summary(), indent=1) + "\n")
    fig = res.plot()
    with atomic_path(out / f"{name}.png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return {"json": out / f"{name}.json", "png": out / f"{name}.png"}


@dataclass
class PCIResult:
    """Virtual stenting: FFR before and after restoring the chosen lesions to their reference lumen."""

    stented: list
    lesions: list
    outlets: list
    vessels: dict
    uncertainty: UQResult | None = None

    def summary(self) -> dict:
        d = {"stented": self.stented, "lesions": self.lesions, "outlets": self.outlets}
        if self.uncertainty is not None:
            d["uncertainty"] = self.uncertainty.summary()
        return d

    def plot_pullback(self, network: VesselNetwork):
        """Pull-back FFR before and after PCI along every root-to-outlet path holding a stented lesion."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        vs = {x["vessel"] for x in self.lesions if x["stented"]}
        paths = [p for p in network.root_to_outlet_paths() if vs & set(p)] or network.root_to_outlet_paths()[:1]
        fig, ax = plt.subplots(figsize=(8, 4.2))
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for c, path in enumerate(paths):
            s0, xs, pre, post = 0.0, [], [], []
            for vid in path:
                d = self.vessels[vid]
                xs.append(s0 + d["s_mm"])
                pre.append(d["ffr_pre"])
                post.append(d["ffr_post"])
                s0 += float(d["s_mm"][-1])
            col = colors[c % len(colors)]
            ax.plot(np.concatenate(xs), np.concatenate(pre), color=col, ls="--", lw=1.2, label=f"{path[-1]} before")
            ax.plot(np.concatenate(xs), np.concatenate(post), color=col, lw=1.8, label=f"{path[-1]} after PCI")
        for x in self.lesions:
            if x["stented"]:
                ax.axvspan(x["position_mm"] - 0.5 * x["length_mm"], x["position_mm"] + 0.5 * x["length_mm"],
                           color="0.85", zorder=0)
                ax.text(x["position_mm"], 1.005, x["id"], ha="center", va="bottom", fontsize=8)
        ax.axhline(CUTOFF, color="crimson", ls=":", lw=1.2)
        ax.set_xlabel("distance from ostium (mm)")
        ax.set_ylabel("FFR")
        ax.set_ylim(min(0.4, ax.get_ylim()[0]), 1.03)
        ax.set_title("Virtual PCI: pull-back before and after")
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        return fig


def pci(source, lesions: Sequence[str] | str = "all", backend: str = "auto", n_samples: int = 0,
        distributions: Mapping[str, Any] | None = None, output_dir=None, seed: int = 0) -> PCIResult:
    """Virtual stenting of one or more lesions.

    Parameters
    ----------
    source : path or VesselNetwork
    lesions : "all" or sequence of lesion ids (``"L1"``, …)
        The lesions to stent: each one's lumen is restored to its reference radius over its length.
    n_samples : int
        When > 0, also the post-PCI FFR uncertainty (:func:`uq` with the lesions stented).
    output_dir : path, optional
        Write ``pci.json`` and ``pullback_pci.png`` (and ``pci_uq.png``) there.

    Returns
    -------
    PCIResult
        Per lesion FFR before/after, per outlet before/after, and along every vessel
        (``vessels[id] = {"s_mm", "ffr_pre", "ffr_post"}``).
    """
    from .cfd.ensemble import solve_steady_batch, tree_arrays

    net = _prepare_network(source)
    tree = tree_arrays(net)
    ids = [f"L{j + 1}" for j in range(tree.n_lesions)]
    if isinstance(lesions, str) and lesions == "all":
        chosen = list(ids)
    else:
        chosen = list([lesions] if isinstance(lesions, str) else lesions)
    for sid in chosen:
        if sid not in ids:
            raise InvalidInputError(f"lesion {sid!r}: no such lesion; this case has {ids or 'none'}")
    if not chosen:
        raise InvalidInputError("pci: no lesion to stent (this case has none)")
    sev = np.ones((2, tree.n_lesions))
    for sid in chosen:
        sev[1, ids.index(sid)] = 0.0
    b = solve_steady_batch(net, {"lesion_severity": sev}, backend=backend, trees=[tree], per_point=True)
    les = []
    for j, x in enumerate(tree.disc.lesions):
        les.append({"id": ids[j], "vessel": x["vessel"], "position_mm": x["position_mm"], "length_mm": x["length_mm"],
                    "stented": ids[j] in chosen, "ffr_pre": float(b.ffr_lesion[0, j]),
                    "ffr_post": float(b.ffr_lesion[1, j]), "delta_p_pre_mmHg": float(b.delta_p_lesion_mmHg[0, j]),
                    "delta_p_post_mmHg": float(b.delta_p_lesion_mmHg[1, j])})
    outs = [{"vessel": o, "ffr_pre": float(b.ffr_outlet[0, j]), "ffr_post": float(b.ffr_outlet[1, j]),
             "flow_pre_ml_s": float(b.flow_outlet_ml_s[0, j]), "flow_post_ml_s": float(b.flow_outlet_ml_s[1, j])}
            for j, o in enumerate(b.outlet_ids)]
    vessels = {}
    disc = tree.disc
    for i, vid in enumerate(disc.vessel_ids):
        sl = disc.nodes_of(i)
        vessels[vid] = {"s_mm": disc.s_mm[sl].copy(), "ffr_pre": b.ffr_point[0, sl].copy(),
                        "ffr_post": b.ffr_point[1, sl].copy()}
    unc = uq(net, n_samples, distributions, backend, seed, stent=chosen) if n_samples > 0 else None
    res = PCIResult(chosen, les, outs, vessels, unc)
    if output_dir is not None:
        from ._atomic import atomic_path, atomic_write_text
        import matplotlib.pyplot as plt

        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "pci.json", json.dumps(res.summary(), indent=1) + "\n")
        fig = res.plot_pullback(net)
        with atomic_path(out / "pullback_pci.png") as tmp:
            fig.savefig(tmp, dpi=110, format="png")
        plt.close(fig)
        if unc is not None:
            write_uq(unc, out, "pci_uq")
    return res


def attach_to_outputs(output_dir, key: str, block: dict, arrays: Mapping[str, np.ndarray] | None = None) -> None:
    """Add ``block`` under ``key`` to ``summary.json`` and ``arrays`` under ``/<key>`` in ``results.h5``
    of a case folder (both rewritten atomically)."""
    import shutil

    from ._atomic import atomic_path, atomic_write_text

    out = Path(output_dir)
    sj = out / "summary.json"
    doc = json.loads(sj.read_text()) if sj.exists() else {}
    doc[key] = block
    atomic_write_text(sj, json.dumps(doc, indent=1) + "\n")
    h5 = out / "results.h5"
    if arrays and h5.exists():
        import h5py

        with atomic_path(h5) as tmp:
            shutil.copyfile(h5, tmp)
            with h5py.File(tmp, "a") as f:
                if key in f:
                    del f[key]
                g = f.create_group(key)
                g.attrs["summary"] = json.dumps(block)
                for name, arr in arrays.items():
                    g.create_dataset(name, data=np.asarray(arr))
