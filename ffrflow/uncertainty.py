"""FFR with its uncertainty, and virtual stenting (PCI), on the batched steady solver.

Uncertain inputs and their default distributions (every one can be changed or fixed through
``distributions``; units in the names):

============================  ====================================================================
``radius_vessel_mm``          Segmentation error of the lumen radius, correlated along each vessel:
                              one offset per vessel, normal, σ = 0.25 × voxel size (0.1 mm at
                              0.4 mm voxels; the voxel size comes from the meshed image when known),
                              truncated to ±½ the vessel's smallest radius (below).
``radius_throat_mm``          Extra error of each lesion's minimal radius (the throat, where
                              segmentation errors matter most; Yin et al. 2019), normal,
                              σ = 0.25 × voxel size, applied as a change of the lesion's depth,
                              truncated so that the throat stays between half its radius and its
                              reference radius (below).
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

Bounded perturbations
---------------------
Every input stays physical by construction: each distribution is *truncated* to the input's
physical range, i.e. the sample is drawn from the distribution conditioned on the range (the inverse
CDF of the truncated distribution maps the same uniform point, so the QMC structure is kept), never
clipped. The ranges (:data:`RADIUS_ERROR_BOUND` = β = 0.5):

- ``flow_scale``, ``hyperemia_factor``, ``blood_viscosity_pa_s``, ``kt``: > 0;
  ``inlet_pressure_mmHg``: > the venous pressure.
- ``radius_vessel_mm``: within ±β·m_v, m_v the vessel's smallest reference radius (its lumen with
  every lesion opened to its reference radius). Healthy radii stay ≥ (1 − β)·m_v > 0. A vessel of
  2 mm with the default σ = 0.1 mm is not affected (±10 σ); one of 0.1 mm keeps errors within
  ±0.05 mm.
- ``radius_throat_mm`` (δ_t, a change of the lesion's depth that moves its minimal radius r_s):
  given the vessel's offset δ_v, the throat r_s + δ_v + δ_t stays within [(1 − β)·r_s, the reference
  radius + δ_v]: it closes at most to half its radius and opens at most to its reference (the lesion
  then disappears, as a stent would leave it, never wider). The lower limit is what keeps a 95 %
  stenosis with a 0.1 mm throat error from closing or inverting. (A ``fixed`` throat error is
  moved into that range.)

So a radius is never ≤ 0 and a throat never wider than its reference; a normal error keeps its
mean and spread wherever the range is several σ wide. Samples whose solve still fails are reported
(count, fraction, their inputs), left out of the statistics, and make :func:`uq` raise only when
their fraction exceeds ``max_failed_fraction`` (default :data:`MAX_FAILED_FRACTION`, 1 %).

Reported per lesion and per outlet: median FFR, the 90 % interval (5th–95th percentiles), the
probability that FFR ≤ 0.80, the mean with its Monte Carlo standard error, and the first-order
contribution of each input to the variance (a given-data estimate of the first-order Sobol index,
Var(E[FFR | X_i]) / Var(FFR), from the same samples binned on X_i); the estimates at N/64 … N show
their convergence.

The standard read-outs (:mod:`ffrflow.readouts`: per lesion FFR 10 and 20 mm distal, ΔFFR and the
class; per named vessel the distal and the lowest FFR) get the same statistics and the class
probabilities, read in every sample at the case's read-out points, exactly at the nodes
(:func:`readout_uncertainty`; docs/physics.md §Uncertainty).

Virtual stenting (:func:`pci`) restores a lesion's lumen to its reference radius over its length
(severity 0 in the ensemble kernel) and predicts FFR along every vessel and at every outlet, with
the same uncertainty machinery.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from . import api
from ._atomic import atomic_path, atomic_write_text
from .anatomy import label_network
from .cfd.ensemble import NOT_CONVERGED, STATUS, solve_steady_batch, tree_arrays
from .errors import ConvergenceError, InvalidInputError
from .meshing.stenosis import detect_lesions
from .network import VesselNetwork
from .plots.uncertainty import plot_pci, plot_uq
from .readouts import lesion_readout_probes, vessel_readout_probes

log = logging.getLogger("ffrflow")

CUTOFF = 0.80
INPUTS = ("radius_vessel_mm", "radius_throat_mm", "flow_scale", "hyperemia_factor", "inlet_pressure_mmHg",
          "blood_viscosity_pa_s", "kt")
#: β: a radius error moves a vessel's radius by at most β × its smallest reference radius, and
#: closes a lesion's throat to no less than (1 − β) × its radius (module docstring).
RADIUS_ERROR_BOUND = 0.5
#: Largest fraction of failed samples :func:`uq` accepts before it raises (statistics are computed
#: over the converged samples).
MAX_FAILED_FRACTION = 0.01
#: The physical range of every input (module docstring), as shown in the summary.
BOUNDS = {
    "radius_vessel_mm": f"within ±{RADIUS_ERROR_BOUND} × the vessel's smallest reference radius",
    "radius_throat_mm": f"throat between {1 - RADIUS_ERROR_BOUND} × its radius and its reference radius",
    "flow_scale": "> 0", "hyperemia_factor": "> 0", "inlet_pressure_mmHg": "> venous pressure",
    "blood_viscosity_pa_s": "> 0", "kt": "> 0",
}


def _prepare_network(source) -> VesselNetwork:
    """A network with its lesions: load (or mesh) the source, then detect lesions where none are given."""

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


def _ppf(u: np.ndarray, spec: Mapping[str, Any], name: str, lo=-np.inf, hi=np.inf) -> np.ndarray:
    """Inverse CDF of the distribution ``spec`` truncated to the open range (lo, hi) (arrays broadcast
    with ``u``): the sample is drawn conditioned on the range, never clipped."""
    from scipy import stats

    d = spec.get("dist")
    lo = np.broadcast_to(np.asarray(lo, dtype=np.float64), u.shape)
    hi = np.broadcast_to(np.asarray(hi, dtype=np.float64), u.shape)
    if d == "lognormal":   # positive already: a lower bound at or below zero does not bind
        lo = np.where(lo <= 0.0, -np.inf, lo)
    bounded = bool(np.isfinite(lo).any() or np.isfinite(hi).any())
    try:
        if d == "normal" and float(spec["sd"]) != 0:
            m, sd = float(spec["mean"]), float(spec["sd"])
            if not bounded:
                return stats.norm.ppf(u, m, sd)
            _check_range(name, hi > lo)
            return np.clip(m + sd * _truncated_standard_normal_ppf(u, (lo - m) / sd, (hi - m) / sd), lo, hi)
        if d == "lognormal" and float(spec["sigma_log"]) > 0:
            med, sg = float(spec["median"]), float(spec["sigma_log"])
            if not bounded:
                return med * np.exp(sg * stats.norm.ppf(u))
            dist = stats.lognorm(sg, scale=med)
            f_lo, f_hi = dist.cdf(lo), dist.cdf(hi)
            _check_range(name, f_hi - f_lo > 1e-12)
            return np.clip(dist.ppf(f_lo + u * (f_hi - f_lo)), lo, hi)
        if d == "uniform":
            a, b = np.maximum(float(spec["low"]), lo), np.minimum(float(spec["high"]), hi)
            if np.any(a > b):
                raise InvalidInputError(f"distributions.{name}: the uniform range [{spec['low']}, {spec['high']}] "
                                        f"lies outside the physical range ({BOUNDS[name]})")
            return a + (b - a) * u
        if d in ("fixed", "normal", "lognormal"):
            v = float(spec["value"] if d == "fixed" else spec["mean"] if d == "normal" else spec["median"])
            if np.any(v <= lo) or np.any(v >= hi):
                raise InvalidInputError(f"distributions.{name}: the fixed value {v} lies outside the physical "
                                        f"range ({BOUNDS[name]})")
            return np.full_like(u, v)
    except KeyError as exc:
        raise InvalidInputError(f"distributions.{name}: missing {exc.args[0]!r} for dist {d!r}") from None
    raise InvalidInputError(f"distributions.{name}.dist: expected normal, lognormal, uniform or fixed, got {d!r}")


def _truncated_standard_normal_ppf(u: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Inverse CDF of the standard normal truncated to (a, b): Φ⁻¹(Φ(a) + u (Φ(b) − Φ(a))), written on
    the mirrored tail −Φ⁻¹(Φ(−a) − u (Φ(−a) − Φ(−b))) where a > 0, so that neither form subtracts
    numbers close to 1 (the same values as ``scipy.stats.truncnorm.ppf`` to round-off, at a fraction
    of its cost)."""
    from scipy.special import ndtr, ndtri

    upper = a > 0
    sa, sb = np.where(upper, -a, a), np.where(upper, -b, b)      # mirrored: sb ≤ sa when upper
    fa, fb = ndtr(sa), ndtr(sb)
    z = ndtri(fa + u * (fb - fa))
    return np.where(upper, -z, z)


def _check_range(name, ok) -> None:
    """A truncated distribution needs probability in its range."""
    if not np.all(ok):
        raise InvalidInputError(f"distributions.{name}: (almost) no probability inside the physical range "
                                f"({BOUNDS[name]}); move the distribution into it")


def _is_fixed(spec) -> bool:
    return (spec.get("dist") == "fixed" or (spec.get("dist") == "normal" and float(spec.get("sd", 1)) == 0)
            or (spec.get("dist") == "lognormal" and float(spec.get("sigma_log", 1)) == 0))


@dataclass
class UQResult:
    """Uncertainty of FFR per lesion and per outlet (see module docstring).

    ``ffr_lesion`` (n_samples, n_lesions) and ``ffr_outlet`` (n_samples, n_outlets) hold every
    sample, NaN for a failed one; ``status`` (n_samples,) the solver's code per sample
    (:data:`ffrflow.cfd.ensemble.STATUS`, 0 converged); ``failed`` the count, fraction and statuses
    of the failed samples, and ``failed_inputs`` their index and inputs. The statistics are over the
    converged samples.
    """

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
    status: np.ndarray = field(repr=False, default=None)
    failed: dict = field(default_factory=dict)
    failed_inputs: dict = field(repr=False, default_factory=dict)
    #: The standard read-outs with their uncertainty (:func:`readout_uncertainty`): ``lesions`` and
    #: ``vessels`` blocks of ``uq.json``, or ``{"unavailable": reason}``.
    readouts: dict = field(default_factory=dict)
    #: Per-sample read-outs (NaN for a failed sample or a read-out the case does not have), for
    #: ``results.h5``: ``lesion_<key>`` (n_samples, n_lesions), ``vessel_<key>`` (n_samples, n_named).
    readout_samples: dict = field(repr=False, default_factory=dict)

    @property
    def n_failed(self) -> int:
        return int(self.failed.get("count", 0))

    def summary(self) -> dict:
        """JSON-ready summary (the ``uq`` / ``pci`` block of summary.json)."""
        return {"n_samples": self.n_samples, "method": self.method, "cutoff": CUTOFF,
                "distributions": self.distributions, "bounds": BOUNDS, "failed": self.failed,
                "lesions": self.lesions, "outlets": self.outlets,
                "convergence": self.convergence, "stented": self.stented, "backend": self.backend,
                "timings_s": self.timings_s, "readouts": self.readouts}

    def arrays(self) -> dict:
        """The per-sample arrays for ``results.h5`` (``/uq`` or ``/pci``): FFR per sample, the status
        per sample and, under ``failed/``, the index and inputs of every failed sample."""
        out = {"ffr_lesion": self.ffr_lesion, "ffr_outlet": self.ffr_outlet, "status": self.status}
        out.update({f"readouts/{k}": v for k, v in self.readout_samples.items()})
        out.update({f"failed/{k}": v for k, v in self.failed_inputs.items()})
        return out

    def plot(self, title: str | None = None, path=None):
        """Distributions of lesion and outlet FFR with the 0.80 cut-off (FFR dimensionless): a
        matplotlib figure built without pyplot (:func:`ffrflow.plots.uncertainty.plot_uq`), saved to
        ``path`` when given."""
        return plot_uq(self, title, path=path)


def _stats(y: np.ndarray) -> dict:
    q = np.percentile(y, [5, 50, 95])
    n = y.size
    p = float(np.mean(y <= CUTOFF))
    return {"median": float(q[1]), "p05": float(q[0]), "p95": float(q[2]), "mean": float(y.mean()),
            "sd": float(y.std(ddof=1)) if n > 1 else 0.0,
            "mean_mc_se": float(y.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0,
            "p_below_cutoff": p, "p_below_cutoff_mc_se": math.sqrt(max(p * (1 - p), 0.0) / n)}


def first_order_indices(x: np.ndarray, y: np.ndarray, bins: int | None = None, raw: bool = False,
                        order: np.ndarray | None = None) -> float:
    """Given-data estimate of the first-order Sobol index Var(E[y|x]) / Var(y) (dimensionless).

    The samples are sorted on x and split into ``bins`` (default √N) equal-count bins; the variance
    of the bin means (corrected for their sampling noise) over the total variance estimates S_i.
    ``raw`` returns the unclipped estimate (for sums over several independent inputs). ``order``:
    ``np.argsort(x, kind="stable")`` when the caller has it (one input against many outputs).
    """
    n = y.size
    vy = y.var()
    if n < 16 or vy <= 0 or np.ptp(x) == 0:
        return 0.0
    bins = bins or max(4, int(math.sqrt(n)))
    ys = y[np.argsort(x, kind="stable") if order is None else order]
    sizes = np.full(bins, n // bins)            # equal-count bins, the first n % bins one longer
    sizes[: n % bins] += 1
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    means = np.add.reduceat(ys, starts) / sizes
    dev2 = np.add.reduceat((ys - np.repeat(means, sizes)) ** 2, starts)
    within = np.divide(dev2, sizes - 1, out=np.zeros(bins), where=sizes > 1)
    between = np.sum(sizes * (means - y.mean()) ** 2) / n - np.sum(within) / n
    return float(between / vy) if raw else float(np.clip(between / vy, 0.0, 1.0))


def sample_inputs(net: VesselNetwork, n: int, distributions: Mapping[str, Any] | None = None, seed: int = 0,
                  method: str = "qmc", voxel_mm: float | None = None, tree=None):
    """Draw ``n`` samples of every uncertain input, each inside its physical range (module docstring).

    Parameters
    ----------
    net : VesselNetwork
        The case, with its lesions.
    n : int
        Number of samples.
    distributions : mapping, optional
        Overrides of :func:`default_distributions`.
    seed : int
        Seed of the scrambled Sobol sequence (``qmc``) or of the generator (``mc``).
    method : {"qmc", "mc"}
    voxel_mm : float, optional
        Voxel size (mm) that sets the default radius errors.
    tree : ffrflow.cfd.ensemble.TreeArrays, optional
        The network's kernel layout (built when not given): its radii bound the radius errors.

    Returns
    -------
    (dict, dict)
        The distributions used and the samples: one array (n,) per scalar input, (n, n_vessels) for
        ``radius_vessel_mm`` and (n, n_lesions) for ``radius_throat_mm`` (mm).
    """

    if tree is None:
        tree = tree_arrays(net)
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
    dims = {"radius_vessel_mm": tree.n_vessels, "radius_throat_mm": tree.n_lesions}
    width = {k: dims.get(k, 1) for k in INPUTS}
    total = sum(width.values())
    if method == "qmc":
        from scipy.stats import qmc

        sob = qmc.Sobol(d=max(total, 1), scramble=True, seed=seed)
        m = int(round(math.log2(n)))
        if 2 ** m == n:
            u = sob.random_base2(m)
        else:  # balance properties hold only for powers of two; still a low-discrepancy prefix
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                u = sob.random(n)
    else:
        u = np.random.default_rng(seed).random((n, max(total, 1)))
    u = np.clip(u, 1e-12, 1 - 1e-12)
    b = radius_bounds(tree)
    pv = net.boundary.venous_pressure_mmHg
    out, col = {}, 0
    for k in INPUTS:
        w = width[k]
        if w == 0:
            out[k] = np.zeros((n, 0))
            continue
        uk = u[:, col:col + w]
        col += w
        if k == "radius_vessel_mm":
            out[k] = _ppf(uk, dists[k], k, -b["vessel_mm"], b["vessel_mm"])
        elif k == "radius_throat_mm":
            # given the vessel's offset, the throat r_s + δ_v + δ_t stays in [(1 − β) r_s, r_ref + δ_v]
            dv = out["radius_vessel_mm"][:, b["lesion_vessel"]]
            deep = b["depth_mm"] > 0
            lo = np.where(deep, -RADIUS_ERROR_BOUND * b["throat_mm"] - dv, -np.inf)
            hi = np.where(deep, b["depth_mm"], np.inf)
            if _is_fixed(dists[k]):   # a fixed error is moved into the range the vessel's offset leaves
                val = np.clip(_ppf(uk, dists[k], k), lo, hi)
            else:
                val = _ppf(uk, dists[k], k, lo, hi)
            out[k] = np.where(deep, val, 0.0)
        else:
            lo = pv if k == "inlet_pressure_mmHg" else 0.0
            out[k] = _ppf(uk, dists[k], k, lo, np.inf)[:, 0]
    return dists, out


def radius_bounds(tree) -> dict:
    """What bounds the radius errors of a kernel layout (mm): ``vessel_mm`` (n_vessels,) the largest
    vessel offset, β × the vessel's smallest reference radius; per lesion ``throat_mm`` (its minimal
    radius), ``depth_mm`` (reference − minimal radius) and ``lesion_vessel`` (the vessel's index)."""
    disc = tree.disc
    ref_lumen = tree.r_node_m + tree.d_node_m
    m = np.full(tree.n_vessels, np.inf)
    np.minimum.at(m, disc.node_vessel, ref_lumen)
    les_v = np.array([disc.vessel_ids.index(x["vessel"]) for x in disc.lesions], dtype=np.int64)
    if les_v.size:
        np.minimum.at(m, les_v, tree.les_ref_m)
    depth = np.array([tree.d_node_m[tree.les_k0[j]:tree.les_k1[j] + 1].max() for j in range(tree.n_lesions)])
    return {"vessel_mm": 1e3 * RADIUS_ERROR_BOUND * m, "lesion_vessel": les_v,
            "throat_mm": 1e3 * (tree.les_ref_m - depth), "depth_mm": 1e3 * depth}


def kernel_params(tree, samples: dict) -> dict:
    """Map sampled inputs onto the ensemble kernel's parameters: the throat error δ_t becomes the
    lesion severity 1 − δ_t/d (d the lesion's depth), which moves its minimal radius by δ_t."""
    p = {
        "flow_scale": samples["flow_scale"], "hyperemia_factor": samples["hyperemia_factor"],
        "inlet_pressure_mmHg": samples["inlet_pressure_mmHg"], "blood_viscosity_pa_s": samples["blood_viscosity_pa_s"],
        "kt": samples["kt"], "radius_offset_mm": samples["radius_vessel_mm"],
    }
    if tree.n_lesions:
        depth = radius_bounds(tree)["depth_mm"]
        with np.errstate(divide="ignore", invalid="ignore"):
            p["lesion_severity"] = np.where(depth > 0, 1.0 - samples["radius_throat_mm"] / depth, 1.0)
    return p


def uq(source, n_samples: int = 4096, distributions: Mapping[str, Any] | None = None, backend: str = "auto",
       seed: int = 0, method: str = "qmc", stent: Sequence[str] | None = None, output_dir=None,
       voxel_mm: float | None = None, max_failed_fraction: float = MAX_FAILED_FRACTION) -> UQResult:
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
    voxel_mm : float, optional
        Voxel size (mm) that sets the default radius errors.
    max_failed_fraction : float
        Largest fraction (0–1) of samples whose solve may fail; they are reported and left out of
        the statistics.

    Returns
    -------
    UQResult

    Raises
    ------
    ConvergenceError
        When more than ``max_failed_fraction`` of the samples fail (the message gives the count).
    """

    if n_samples < 2:
        raise InvalidInputError(f"samples: expected at least 2, got {n_samples}")
    if not 0.0 <= max_failed_fraction <= 1.0:
        raise InvalidInputError(f"max_failed_fraction: expected a fraction in [0, 1], got {max_failed_fraction!r}")
    t0 = time.perf_counter()
    net = _prepare_network(source)
    tree = tree_arrays(net)
    dists, smp = sample_inputs(net, n_samples, distributions, seed, method, voxel_mm, tree)
    params = kernel_params(tree, smp)
    les_ids = [f"L{j + 1}" for j in range(tree.n_lesions)]
    stented = list(stent or [])
    for sid in stented:
        if sid not in les_ids:
            raise InvalidInputError(f"lesion {sid!r}: no such lesion; this case has {les_ids or 'none'}")
        params["lesion_severity"][:, les_ids.index(sid)] = 0.0
    t1 = time.perf_counter()
    probes = _readout_probes(net, tree)
    b = solve_steady_batch(net, params, backend=backend, trees=[tree], on_failure="mark",
                           probe_nodes=probes["nodes"] if probes["nodes"] is not None else None)
    t2 = time.perf_counter()
    ok = b.ok
    n_ok = int(ok.sum())
    bad = np.flatnonzero(~ok)
    failed = {"count": int(bad.size), "fraction": bad.size / n_samples, "max_fraction": max_failed_fraction,
              "by_status": {k: v for k, v in b.status_counts().items() if k != STATUS[0]},
              "worst_residual": float(np.max(b.residual[bad])) if bad.size else None}
    failed_inputs = {"index": bad, **{k: v[bad] for k, v in smp.items()}}
    by = ", ".join(f"{k}: {v}" for k, v in failed["by_status"].items())
    if bad.size > max_failed_fraction * n_samples or n_ok < 2:
        c = int(bad[0])
        first = f"sample {c}: {STATUS[int(b.status[c])]}" + (
            f", relative residual {b.residual[c]:.2e}" if b.status[c] == NOT_CONVERGED else "")
        raise ConvergenceError(
            f"uq: {bad.size} of {n_samples} samples failed ({100 * bad.size / n_samples:.2f} %, more than the "
            f"{100 * max_failed_fraction:g} % allowed by max_failed_fraction; {by}; first {first})",
            residual=float(b.residual[c]), iterations=int(b.iterations[c]))
    if bad.size:
        log.warning("uq: %d of %d samples failed (%s); statistics over the %d others", bad.size, n_samples, by, n_ok)
    inputs_1d = {k: (v if v.ndim == 1 else None) for k, v in smp.items()}
    smp_ok = {k: v[ok] for k, v in smp.items()}

    orders: dict = {}

    def order_of(k, c=None):
        """The sorting permutation of input ``k`` (column ``c``), computed once for every output."""
        if (k, c) not in orders:
            orders[k, c] = np.argsort(smp_ok[k] if c is None else smp_ok[k][:, c], kind="stable")
        return orders[k, c]

    def contributions(y, lesion_index, vessel_index):
        """First-order index of every input; vector inputs (one radius error per vessel or lesion)
        sum the indices of their independent components on the path to the point."""
        out = {}
        for k, v in smp_ok.items():
            if _is_fixed(dists[k]):
                out[k] = 0.0
            elif v.ndim == 1:
                out[k] = first_order_indices(v, y, order=order_of(k))
            else:
                cols = lesion_index if k == "radius_throat_mm" else vessel_index
                tot = sum(first_order_indices(v[:, c], y, raw=True, order=order_of(k, c)) for c in cols)
                out[k] = float(np.clip(tot, 0.0, 1.0))
        return out

    vids = tree.disc.vessel_ids
    lesions = []
    for j, les in enumerate(tree.disc.lesions):
        path_v = net.path_from_root(les["vessel"])
        path = [vids.index(v) for v in path_v]
        up = [i for i, x in enumerate(tree.disc.lesions) if x["vessel"] in path_v and
              (x["vessel"] != les["vessel"] or x["start_mm"] <= les["start_mm"])]
        y = b.ffr_lesion[ok, j]
        lesions.append({"id": les_ids[j], "vessel": les["vessel"], "position_mm": les["position_mm"],
                        "stented": les_ids[j] in stented, **_stats(y),
                        "first_order_index": contributions(y, up, path)})
    outlets = []
    for j, o in enumerate(b.outlet_ids):
        path_v = net.path_from_root(o)
        path = [vids.index(v) for v in path_v]
        up = [i for i, x in enumerate(tree.disc.lesions) if x["vessel"] in path_v]
        y = b.ffr_outlet[ok, j]
        outlets.append({"vessel": o, **_stats(y), "first_order_index": contributions(y, up, path)})
    conv = []
    n = n_samples
    k = max(1, n // 64)
    while k <= n:
        row = {"n": k, "n_converged": int(ok[:k].sum())}
        for j, les in enumerate(lesions):
            y = b.ffr_lesion[:k, j][ok[:k]]
            if y.size:
                row[les["id"]] = {"median": float(np.median(y)), "p05": float(np.percentile(y, 5)),
                                  "p95": float(np.percentile(y, 95)), "p_below_cutoff": float(np.mean(y <= CUTOFF))}
        conv.append(row)
        if k == n:
            break
        k = min(n, 2 * k)
    readouts, readout_samples = readout_uncertainty(probes, b.ffr_node, ok, les_ids)
    res = UQResult(n_samples, method, dists, lesions, outlets, conv, samples=inputs_1d, ffr_lesion=b.ffr_lesion,
                   ffr_outlet=b.ffr_outlet, stented=stented, backend=b.backend,
                   timings_s={"sample": t1 - t0, "solve": t2 - t1, "total": time.perf_counter() - t0},
                   status=b.status, failed=failed, failed_inputs=failed_inputs, readouts=readouts,
                   readout_samples=readout_samples)
    log.info("uq: %d samples (%d failed) on %s in %.2f s (solve %.2f s)", n_samples, bad.size, b.backend,
             res.timings_s["total"], t2 - t1)
    if output_dir is not None:
        write_uq(res, output_dir, "uq")
    return res


def _readout_probes(net: VesselNetwork, tree) -> dict:
    """The points of the standard read-outs (:mod:`ffrflow.readouts`) as probes of the ensemble's
    discretisation, and the nodes whose FFR every sample needs (``nodes``, None when the read-outs
    are unavailable, with the reason in ``unavailable``)."""
    cfg = net.model.readout
    if net.model.lesion == "young-tsai":
        reason = ("the young-tsai law spreads its resistance over each lesion; read-out intervals need the "
                  "ns-calibrated or poiseuille-kt law")
        log.warning("uq: no read-out intervals: %s", reason)
        return {"nodes": None, "unavailable": reason}
    disc = tree.disc
    an = label_network(net)
    names = {vid: an.name(vid) for vid in net.ids}
    les = []
    for x in disc.lesions:
        pr = lesion_readout_probes(net, disc, x, cfg)
        les.append({"vessel": x["vessel"], "vessel_name": names[x["vessel"]], **pr})
    ves = vessel_readout_probes(net, disc, names, cfg)
    nodes: dict[int, int] = {}

    def col(k):
        return nodes.setdefault(int(k), len(nodes))

    def probe_cols(pr):
        return None if pr is None else (col(pr[0]), col(pr[1]), pr[2])

    for r in les:
        for k, v in list(r.items()):
            if isinstance(v, tuple):
                r[k] = probe_cols(v)
    for r in ves:
        r["distal"] = probe_cols(r["distal"])
        r["min_nodes"] = [col(k) for k in r["min_nodes"]]
    return {"nodes": np.array(list(nodes), dtype=np.int64), "lesions": les, "vessels": ves, "config": dict(cfg)}


def readout_uncertainty(probes: dict, ffr_node: np.ndarray | None, ok: np.ndarray,
                        lesion_ids: Sequence[str]) -> tuple[dict, dict]:
    """The standard read-outs of every sample and their statistics (docs/physics.md §Uncertainty).

    Per lesion: ``ffr_<d>mm`` (FFR d mm distal to its lower border), ``delta_ffr`` (proximal minus
    distal shoulder) and ``class_ffr`` (the FFR classified, at ``class_at_mm``), each with the
    statistics of the other uq outputs (median, 90 % interval p05–p95, mean, sd, P(FFR ≤ 0.80)), and
    the class probabilities ``p_positive`` (FFR ≤ positive_max), ``p_grey_zone``, ``p_negative`` (FFR
    > negative_above). Per named vessel: ``ffr_distal`` and ``ffr_min`` likewise. A read-out the
    case does not have (the path ends sooner, a vessel never as wide as the cut-off) is None.

    Parameters
    ----------
    probes : dict
        From :func:`_readout_probes`.
    ffr_node : (n_samples, n_nodes) array
        FFR at ``probes["nodes"]`` per sample (``BatchResult.ffr_node``).
    ok : (n_samples,) bool
        The converged samples (the statistics are over them).

    Returns
    -------
    (summary, arrays)
        The ``readouts`` block of ``uq.json`` and the per-sample arrays for ``results.h5``.
    """
    if probes.get("nodes") is None:
        return {"unavailable": probes["unavailable"]}, {}
    cfg = probes["config"]
    n = ffr_node.shape[0]

    def at(pr):
        if pr is None:
            return np.full(n, np.nan)
        a, b, t = pr
        fa, fb = ffr_node[:, a], ffr_node[:, b]
        return fa + t * (fb - fa) if t else fa.copy()

    def stats(y):
        return _stats(y[ok])

    keys = [k for k in (probes["lesions"][0] if probes["lesions"] else {}) if k.startswith("ffr_")]
    arrays = {f"lesion_{k}": np.full((n, len(probes["lesions"])), np.nan) for k in keys + ["delta_ffr", "class_ffr"]}
    les_out = []
    for j, r in enumerate(probes["lesions"]):
        row = {"id": lesion_ids[j], "vessel": r["vessel"], "vessel_name": r["vessel_name"]}
        for k in keys:
            y = at(r[k])
            arrays[f"lesion_{k}"][:, j] = y
            row[k] = None if r[k] is None else stats(y)
        dl = at(r["start"]) - at(r["end"])
        arrays["lesion_delta_ffr"][:, j] = dl
        row["delta_ffr"] = {k: v for k, v in stats(dl).items() if not k.startswith("p_below")}
        f = at(r["class"])
        arrays["lesion_class_ffr"][:, j] = f
        fo = f[ok]
        pos = float(np.mean(fo <= cfg["positive_max"]))
        neg = float(np.mean(fo > cfg["negative_above"]))
        row.update({"class_at_mm": r["class_at_mm"], "class_ffr": stats(f), "p_positive": pos,
                    "p_grey_zone": 1.0 - pos - neg, "p_negative": neg})
        les_out.append(row)
    ves_out = []
    nvn = len(probes["vessels"])
    arrays["vessel_ffr_distal"] = np.full((n, nvn), np.nan)
    arrays["vessel_ffr_min"] = np.full((n, nvn), np.nan)
    for i, r in enumerate(probes["vessels"]):
        yd = at(r["distal"])
        ym = np.min(ffr_node[:, r["min_nodes"]], axis=1)
        arrays["vessel_ffr_distal"][:, i] = yd
        arrays["vessel_ffr_min"][:, i] = ym
        ves_out.append({"name": r["name"], "vessels": r["vessels"],
                        "ffr_distal": None if r["distal"] is None else stats(yd), "ffr_min": stats(ym)})
    summary = {"config": cfg, "lesions": les_out, "vessels": ves_out,
               "vessel_names": [r["name"] for r in probes["vessels"]]}
    return summary, arrays


def write_uq(res: UQResult, output_dir, name: str = "uq", picture: bool = True) -> dict:
    """Write ``<name>.json`` and, with ``picture``, ``<name>.png`` (distributions with the 0.80 line)
    atomically; returns their paths (``json``, ``png``)."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"{name}.json", json.dumps(res.summary(), indent=1) + "\n")
    paths = {"json": out / f"{name}.json"}
    if picture:
        plot_uq(res, path=out / f"{name}.png")
        paths["png"] = out / f"{name}.png"
    return paths


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

    def plot_pullback(self, network: VesselNetwork, path=None):
        """Pull-back FFR before and after PCI against distance from the ostium (mm) along every
        root-to-outlet path holding a stented lesion: a matplotlib figure built without pyplot
        (:func:`ffrflow.plots.uncertainty.plot_pci`), saved to ``path`` when given."""
        return plot_pci(self, network, path=path)


def pci(source, lesions: Sequence[str] | str = "all", backend: str = "auto", n_samples: int = 0,
        distributions: Mapping[str, Any] | None = None, output_dir=None, seed: int = 0,
        max_failed_fraction: float = MAX_FAILED_FRACTION) -> PCIResult:
    """Virtual stenting of one or more lesions.

    Parameters
    ----------
    source : path or VesselNetwork
    lesions : "all" or sequence of lesion ids (``"L1"``, …)
        The lesions to stent: each one's lumen is restored to its reference radius over its length.
    n_samples : int
        When > 0, also the post-PCI FFR uncertainty (:func:`uq` with the lesions stented).
    max_failed_fraction : float
        For the uncertainty: the largest fraction of samples that may fail (see :func:`uq`).
    output_dir : path, optional
        Write ``pci.json`` and ``pullback_pci.png`` (and ``pci_uq.png``) there.

    Returns
    -------
    PCIResult
        Per lesion FFR before/after, per outlet before/after, and along every vessel
        (``vessels[id] = {"s_mm", "ffr_pre", "ffr_post"}``).
    """

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
    b = solve_steady_batch(net, {"lesion_severity": sev}, backend=backend, trees=[tree], per_point=True,
                           on_failure="raise")
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
    unc = (uq(net, n_samples, distributions, backend, seed, stent=chosen, max_failed_fraction=max_failed_fraction)
           if n_samples > 0 else None)
    res = PCIResult(chosen, les, outs, vessels, unc)
    if output_dir is not None:
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "pci.json", json.dumps(res.summary(), indent=1) + "\n")
        plot_pci(res, net, path=out / "pullback_pci.png")
        if unc is not None:
            write_uq(unc, out, "pci_uq")
    return res


def attach_to_outputs(output_dir, key: str, block: dict, arrays: Mapping[str, np.ndarray] | None = None) -> None:
    """Add ``block`` under ``key`` to ``summary.json`` and ``arrays`` under ``/<key>`` in ``results.h5``
    of a case folder (both rewritten atomically)."""
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
