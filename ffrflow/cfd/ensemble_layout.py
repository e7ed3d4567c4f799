"""What a sample of the batched steady solve needs, computed once per network (SI inside).

A sample of :func:`ffrflow.cfd.ensemble.solve_steady_batch` changes a network by a radius offset
δ per vessel (every radius of the vessel moves by δ) and a severity s per lesion (a lesion node of
reference radius r_ref and narrowing depth d = r_ref − r ≥ 0 gets the radius r_ref − s·d + δ). The
node-level pass rebuilds every vessel's Poiseuille resistance from all its frusta for every sample
(≈ 1 500 for the demo network). Here the frusta are summed once, as functions of the perturbations,
so that a sample costs O(vessels + lesions):

Stretches
    Each vessel is cut at its lesions' first and last nodes into stretches: the gaps between lesions
    and the lesions themselves (the resistance at a lesion's ends is what its pressures need).
Healthy part, a function of δ
    The frusta of a stretch whose two nodes are not narrowed (d = 0) have radii r + δ; their sum
    K(δ) = Σ L (a² + ab + b²)/(a³ b³) (a = r₀ + δ, b = r₁ + δ; the resistance is 8μ/(3π)·K) is
    smooth on any range of δ that keeps the radii positive (its poles are at δ = −r).
Narrowed part, a function of one variable
    The frusta of a lesion whose two nodes are narrowed (d > 0, so r + d = r_ref) have radii
    (r_ref + δ)(1 − w·d/d_max) with w = s·d_max/(r_ref + δ), d_max the lesion's depth at its throat.
    The frustum is homogeneous of degree −4 in its radii, so their sum is exactly
    (r_ref + δ)⁻⁴·G(w), G(w) = Σ L (α² + αβ + β²)/(α³ β³), α = 1 − w d₀/d_max, β = 1 − w d₁/d_max:
    one function of one variable, with its poles at w ≥ 1 (w = 1 closes the throat).
Edges, exact
    A frustum with one narrowed and one healthy node, or with nodes of two lesions (lesions that
    touch), is evaluated exactly per sample (a handful per lesion).
Minimal radius
    The throat radius min_k(r_k + (1 − s)d_k) + δ is the lower envelope of the lines a_k − s·d_k
    (a_k = r_k + d_k), of which only the few lines that are lowest for some s are kept.

Chebyshev expansions
--------------------
K and G are stored as piecewise Chebyshev expansions on the range of δ (per vessel) and w (per
lesion) that the samples need: the bounded ranges of :mod:`ffrflow.uncertainty` (δ within ±½ the
vessel's smallest reference radius; the throat between half its radius and its reference radius)
joined with the range of the batch at hand. Each piece gets the lowest degree of
:data:`DEGREES` whose expansion agrees with the direct sum to :data:`FIT_RTOL` relative at 2n + 1
Chebyshev–Lobatto points and 33 uniformly spaced points of the piece; a piece that no degree
fits is halved (pieces crowd towards a pole; a batch whose radii come close to zero gets more
pieces, never a less accurate one). The relative error of an expansion on its range stays below
1e-10 (tested against direct sums at random points); every other per-sample term is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInputError
from .lesion import NS_CALIBRATED, shape_arrays

#: Relative error each Chebyshev piece is fitted to (checked against the direct sum).
FIT_RTOL = 1e-12
#: Degrees tried for each piece, lowest first, before it is halved.
DEGREES = (6, 10, 16, 20, 24, 28, 32, 40, 48)
#: Largest number of halvings of a piece, and of pieces of one expansion.
MAX_SPLITS = 60
MAX_PIECES = 400
#: β of the bounded radius errors (:data:`ffrflow.uncertainty.RADIUS_ERROR_BOUND`).
_BETA = 0.5


def frusta_sum(a, b, length):
    """Σ_e L_e (a² + ab + b²)/(a³ b³) along the last axis, the end radii ``a``, ``b`` (rows × frusta)
    and lengths ``length`` (frusta): the Poiseuille resistance of the frusta over 8μ/(3π) (m⁻³)."""
    ab = a * b
    return np.sum(length[None, :] * (a * a + ab + b * b) / (ab * ab * ab), axis=1)


def frustum_sum(r0, r1, length, x):
    """K(x) = Σ_e L_e (a² + ab + b²)/(a³ b³), a = r0_e + x, b = r1_e + x, at every x (m⁻³)."""
    x = np.asarray(x, dtype=np.float64)[:, None]
    return frusta_sum(r0[None, :] + x, r1[None, :] + x, length)


def homogeneous_sum(e0, e1, length, w):
    """G(w) = Σ_e L_e (α² + αβ + β²)/(α³ β³), α = 1 − w e0_e, β = 1 − w e1_e (m)."""
    w = np.asarray(w, dtype=np.float64)[:, None]
    return frusta_sum(1.0 - w * e0[None, :], 1.0 - w * e1[None, :], length)


def _cheb_coefficients(f, lo, hi, n):
    k = np.arange(n)
    theta = np.pi * (k + 0.5) / n
    fx = f(0.5 * (lo + hi) + 0.5 * (hi - lo) * np.cos(theta))
    c = (2.0 / n) * np.cos(np.outer(k, theta)) @ fx
    c[0] *= 0.5
    return c


def cheb_fit(f, lo: float, hi: float, rtol: float = FIT_RTOL) -> list[tuple[float, float, np.ndarray]]:
    """Piecewise Chebyshev expansion of the positive function ``f`` on [lo, hi] (module docstring).

    Returns the pieces ``(lo, hi, coefficients)`` in order; on each piece f(x) ≈ Σ c_k T_k(t),
    t = (2x − lo − hi)/(hi − lo).
    """
    if not hi > lo:
        raise ValueError(f"cheb_fit: empty range [{lo}, {hi}]")
    probe = f(np.linspace(lo, hi, 65))
    if not np.all(np.isfinite(probe) & (probe > 0)):
        raise InvalidInputError(f"ensemble layout: a frustum sum is not positive on [{lo:.6g}, {hi:.6g}] "
                                "(a radius reaches zero inside the range)")
    pieces, todo = [], [(lo, hi, 0)]
    while todo:
        if len(pieces) + len(todo) > MAX_PIECES:
            raise InvalidInputError(f"ensemble layout: more than {MAX_PIECES} Chebyshev pieces on "
                                    f"[{lo:.6g}, {hi:.6g}] (radii too close to zero)")
        a, b, depth = todo.pop()
        for n in DEGREES:
            c = _cheb_coefficients(f, a, b, n)
            t = np.concatenate([np.cos(np.pi * np.arange(2 * n + 1) / (2 * n)), np.linspace(-1.0, 1.0, 33)])
            exact = f(0.5 * (a + b) + 0.5 * (b - a) * t)
            if np.all(np.isfinite(exact)) and np.max(np.abs(np.polynomial.chebyshev.chebval(t, c) - exact)
                                                     / np.abs(exact)) <= rtol:
                pieces.append((a, b, c))
                break
        else:
            if depth >= MAX_SPLITS:
                raise InvalidInputError(f"ensemble layout: no Chebyshev expansion reaches {rtol:g} on "
                                        f"[{a:.6g}, {b:.6g}] (radii too close to zero)")
            m = 0.5 * (a + b)
            todo += [(m, b, depth + 1), (a, m, depth + 1)]
    return sorted(pieces, key=lambda p: p[0])


def cheb_eval(pieces, x) -> np.ndarray:
    """Evaluate the expansion of :func:`cheb_fit` at x (vectorised; x within its range)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    his = np.array([p[1] for p in pieces])
    which = np.minimum(np.searchsorted(his, x, side="left"), len(pieces) - 1)
    for i, (a, b, c) in enumerate(pieces):
        m = which == i
        if m.any():
            out[m] = np.polynomial.chebyshev.chebval((2.0 * x[m] - (a + b)) / (b - a), c)
    return out


def _lower_envelope(a: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Indices of the lines y = a − s·d that are the lowest on some interval of s (equal lines: the first)."""
    keep = []
    for i in range(a.size):
        lo, hi, ok = -np.inf, np.inf, True
        for k in range(a.size):
            if k == i:
                continue
            dd, da = d[k] - d[i], a[k] - a[i]
            if dd > 0:
                hi = min(hi, da / dd)
            elif dd < 0:
                lo = max(lo, da / dd)
            elif da < 0 or (da == 0 and k < i):
                ok = False
                break
        if ok and lo < hi:          # lowest on an interval (a line lowest at one point only ties there)
            keep.append(i)
    return np.array(keep, dtype=np.int64)


@dataclass
class EnsembleLayout:
    """The per-network arrays of the ``ensemble_steady_pre`` kernel for one tree (local indices).

    Vessel v has stretches ``v_st[v]:v_st[v+1]``; stretch k has the healthy function ``st_fn[k]``
    (−1: none), its lesion ``st_les[k]`` (−1 for a gap) and the exact edges ``st_ed[k]:st_ed[k+1]``
    (``ed_*``: length, the two nodes' radius r, depth d and lesion, −1 for none). Functions f have
    pieces ``fn_pc[f]:fn_pc[f+1]`` on ``[pc_lo, pc_hi]`` with coefficients ``cf[pc_cf[p]:pc_cf[p+1]]``.
    Lesion j: narrowed function ``les_fn[j]`` of w (−1: none), reference radius ``les_ref`` (m),
    throat depth ``les_dmax`` (m), envelope lines ``les_cd[j]:les_cd[j+1]`` (``cd_a``, ``cd_d``, m,
    ``cd_l`` the lesion whose severity applies), length ``les_len`` (m, the Young–Tsai L_s), vessel,
    next and previous lesion of the same vessel (−1), and the ns-calibrated shape descriptors (m).
    ``ranges`` holds the (lo, hi) range of δ per vessel and of w per lesion the expansions cover.
    """

    v_st: np.ndarray
    st_fn: np.ndarray
    st_les: np.ndarray
    st_ed: np.ndarray
    ed_len: np.ndarray
    ed_r0: np.ndarray
    ed_d0: np.ndarray
    ed_l0: np.ndarray
    ed_r1: np.ndarray
    ed_d1: np.ndarray
    ed_l1: np.ndarray
    fn_pc: np.ndarray
    pc_lo: np.ndarray
    pc_hi: np.ndarray
    pc_cf: np.ndarray
    cf: np.ndarray
    les_fn: np.ndarray
    les_ref: np.ndarray
    les_dmax: np.ndarray
    les_cd: np.ndarray
    cd_a: np.ndarray
    cd_d: np.ndarray
    cd_l: np.ndarray
    les_len: np.ndarray
    les_v: np.ndarray
    les_next: np.ndarray
    les_prev: np.ndarray
    shape: dict
    delta_range: np.ndarray
    w_range: np.ndarray
    functions: list

    @property
    def n_functions(self) -> int:
        return self.fn_pc.size - 1

    def covers(self, delta_range: np.ndarray, w_range: np.ndarray) -> bool:
        """True when the expansions cover the ranges (n_vessels, 2) of δ and (n_lesions, 2) of w."""
        return bool(np.all(delta_range[:, 0] >= self.delta_range[:, 0]) and
                    np.all(delta_range[:, 1] <= self.delta_range[:, 1]) and
                    np.all(w_range[:, 0] >= self.w_range[:, 0]) and np.all(w_range[:, 1] <= self.w_range[:, 1]))


def default_ranges(tree) -> tuple[np.ndarray, np.ndarray]:
    """The ranges of δ (m, per vessel) and w (per lesion) of the bounded perturbations of
    :mod:`ffrflow.uncertainty`: |δ| ≤ β·m_v (m_v the vessel's smallest reference radius) and a
    throat between (1 − β) times its radius and its reference radius."""
    ref_lumen = tree.r_node_m + tree.d_node_m
    disc = tree.disc
    m = np.full(tree.n_vessels, np.inf)
    np.minimum.at(m, disc.node_vessel, ref_lumen)
    les_v = np.array([disc.vessel_ids.index(x["vessel"]) for x in disc.lesions], dtype=np.int64)
    if les_v.size:
        np.minimum.at(m, les_v, tree.les_ref_m)
    dr = np.stack([-_BETA * m, _BETA * m], axis=1)
    w = np.zeros((tree.n_lesions, 2))
    for j in range(tree.n_lesions):
        dmax = float(tree.d_node_m[tree.les_k0[j]:tree.les_k1[j] + 1].max())
        ref = float(tree.les_ref_m[j])
        if dmax > 0:
            w[j, 1] = 1.0 - (1.0 - _BETA) * (ref - dmax) / (ref + _BETA * m[les_v[j]])
    return dr, w


def build_layout(tree, delta_range: np.ndarray | None = None, w_range: np.ndarray | None = None) -> EnsembleLayout:
    """The :class:`EnsembleLayout` of a :class:`ffrflow.cfd.ensemble.TreeArrays`, its expansions
    covering the default ranges (:func:`default_ranges`) joined with ``delta_range`` (m, (n_vessels,
    2)) and ``w_range`` ((n_lesions, 2)) when given."""
    disc = tree.disc
    nv, nl = tree.n_vessels, tree.n_lesions
    d_lo, w_lo = default_ranges(tree)
    if delta_range is not None:
        d_lo = np.stack([np.minimum(d_lo[:, 0], delta_range[:, 0]), np.maximum(d_lo[:, 1], delta_range[:, 1])], 1)
    if w_range is not None and nl:
        w_lo = np.stack([np.minimum(w_lo[:, 0], w_range[:, 0]), np.maximum(w_lo[:, 1], w_range[:, 1])], 1)
    r, d, lab, el = tree.r_node_m, tree.d_node_m, tree.node_les, tree.el_len_m
    k0s, k1s = tree.les_k0, tree.les_k1
    les_v = np.array([disc.vessel_ids.index(x["vessel"]) for x in disc.lesions], dtype=np.int64)
    dmax = np.array([float(d[k0s[j]:k1s[j] + 1].max()) for j in range(nl)])
    narrowed = d > 0.0

    functions, st_fn, st_les, st_ed, v_st = [], [], [], [0], [0]
    ed = {k: [] for k in ("len", "r0", "d0", "l0", "r1", "d1", "l1")}
    les_fn = np.full(nl, -1, dtype=np.int64)

    def add_function(kind, arg, lo, hi):
        if kind == "delta":
            r0, r1, ln = arg
            pieces = cheb_fit(lambda x: frustum_sum(r0, r1, ln, x), lo, hi)
        else:
            e0, e1, ln = arg
            pieces = cheb_fit(lambda x: homogeneous_sum(e0, e1, ln, x), lo, hi)
        functions.append((kind, arg, pieces))
        return len(functions) - 1

    for v in range(nv):
        n0, n1 = int(disc.node_offsets[v]), int(disc.node_offsets[v + 1])
        mine = sorted((j for j in range(nl) if les_v[j] == v), key=lambda j: k0s[j])
        cuts, cur = [], n0
        for j in mine:
            if k0s[j] < cur:
                raise InvalidInputError(f"network: lesions of vessel {disc.vessel_ids[v]!r} overlap "
                                        f"(nodes {int(k0s[j])} < {cur})")
            cuts += [(cur, int(k0s[j]), -1), (int(k0s[j]), int(k1s[j]), j)]
            cur = int(k1s[j])
        cuts.append((cur, n1 - 1, -1))
        for a, b, j in cuts:
            ks = np.arange(a + 1, b + 1)           # element (k − 1, k) for k in ks
            healthy = ~narrowed[ks - 1] & ~narrowed[ks]
            homog = np.zeros(ks.size, dtype=bool)
            if j >= 0:
                homog = narrowed[ks - 1] & narrowed[ks] & (lab[ks - 1] == j) & (lab[ks] == j)
            edge = ~healthy & ~homog
            fn = -1
            if healthy.any():
                kh = ks[healthy]
                fn = add_function("delta", (r[kh - 1].copy(), r[kh].copy(), el[kh].copy()),
                                  float(d_lo[v, 0]), float(d_lo[v, 1]))
            if homog.any():
                kg = ks[homog]
                les_fn[j] = add_function("w", (d[kg - 1] / dmax[j], d[kg] / dmax[j], el[kg].copy()),
                                         float(w_lo[j, 0]), float(w_lo[j, 1]))
            for k in ks[edge]:
                ed["len"].append(el[k])
                ed["r0"].append(r[k - 1])
                ed["d0"].append(d[k - 1])
                ed["l0"].append(lab[k - 1])
                ed["r1"].append(r[k])
                ed["d1"].append(d[k])
                ed["l1"].append(lab[k])
            st_fn.append(fn)
            st_les.append(j)
            st_ed.append(len(ed["len"]))
        v_st.append(len(st_fn))

    # the throat: lower envelope of the lesion's own lines, plus every node of another lesion
    les_cd, cd_a, cd_d, cd_l = [0], [], [], []
    for j in range(nl):
        ks = np.arange(k0s[j], k1s[j] + 1)
        own = ks[lab[ks] == j]
        other = ks[lab[ks] != j]
        # a narrowed node has r + d = r_ref up to round-off: r_ref exactly, so that the lines meet
        # at s = 0 and the envelope keeps the deepest and the shallowest of them
        a, dd = np.where(d[own] > 0, tree.les_ref_m[j], r[own]), d[own]
        keep = _lower_envelope(a, dd) if own.size else np.zeros(0, dtype=np.int64)
        cd_a += list(a[keep]) + list(r[other] + d[other])
        cd_d += list(dd[keep]) + list(d[other])
        cd_l += [j] * keep.size + list(lab[other])
        les_cd.append(len(cd_a))

    fn_pc, pc_lo, pc_hi, pc_cf, cf = [0], [], [], [0], []
    for _, _, pieces in functions:
        for a, b, c in pieces:
            pc_lo.append(a)
            pc_hi.append(b)
            cf += list(c)
            pc_cf.append(len(cf))
        fn_pc.append(len(pc_lo))

    nxt = np.array([-1 if x.get("next_lesion") is None else x["next_lesion"] for x in disc.lesions], dtype=np.int64)
    prev = np.full(nl, -1, dtype=np.int64)
    prev[nxt[nxt >= 0]] = np.flatnonzero(nxt >= 0)
    none = {"band_up_mm": 0.0, "inlet_slope": 0.0, "gap_mm": math.inf, "wire_mm": 0.0, "exit_from_start_mm": 0.0}
    shape = shape_arrays([x.get("shape") or none for x in disc.lesions]) if nl else {
        k: np.zeros(0) for k in ("band_up_m", "inlet_slope", "gap_m", "wire_m", "exit_from_start_m")}
    les_len = np.array([float(np.sum(el[k0s[j] + 1:k1s[j] + 1])) for j in range(nl)])
    i64 = (lambda x: np.asarray(x, dtype=np.int64))
    f64 = (lambda x: np.asarray(x, dtype=np.float64))
    return EnsembleLayout(
        i64(v_st), i64(st_fn), i64(st_les), i64(st_ed), f64(ed["len"]), f64(ed["r0"]), f64(ed["d0"]), i64(ed["l0"]),
        f64(ed["r1"]), f64(ed["d1"]), i64(ed["l1"]), i64(fn_pc), f64(pc_lo), f64(pc_hi), i64(pc_cf), f64(cf),
        les_fn, f64(tree.les_ref_m), f64(dmax), i64(les_cd), f64(cd_a), f64(cd_d), i64(cd_l), les_len, les_v, nxt,
        prev, {k: f64(v) for k, v in shape.items()}, d_lo, w_lo, functions)


def sample_ranges(tree, dr: np.ndarray, sev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranges of δ (m, (n_vessels, 2)) and w ((n_lesions, 2)) of a batch: ``dr`` (n_vessels, N) and
    ``sev`` (n_lesions, N), sample-minor."""
    n = dr.shape[1] if dr.ndim == 2 else 0
    if n == 0:
        return np.zeros((tree.n_vessels, 2)), np.zeros((tree.n_lesions, 2))
    d_rng = np.stack([dr.min(axis=1), dr.max(axis=1)], axis=1)
    w_rng = np.zeros((tree.n_lesions, 2))
    if tree.n_lesions:
        les_v = np.array([tree.disc.vessel_ids.index(x["vessel"]) for x in tree.disc.lesions], dtype=np.int64)
        dmax = np.array([float(tree.d_node_m[tree.les_k0[j]:tree.les_k1[j] + 1].max()) for j in range(tree.n_lesions)])
        w = sev * (dmax[:, None] / (tree.les_ref_m[:, None] + dr[les_v]))
        w_rng = np.stack([w.min(axis=1), w.max(axis=1)], axis=1)
    return d_rng, w_rng


#: Argument names of the ``ensemble_steady_pre`` kernel's per-network tables, in order.
TABLES = ("tv_off", "parent", "v_out", "v_st", "st_fn", "st_les", "st_ed", "ed_len", "ed_r0", "ed_d0", "ed_l0",
          "ed_r1", "ed_d1", "ed_l1", "fn_pc", "pc_lo", "pc_hi", "pc_cf", "cf", "tl_off", "les_v", "les_next",
          "les_prev", "les_fn", "les_ref", "les_dmax", "les_cd", "cd_a", "cd_d", "cd_l", "les_len", "les_band",
          "les_slope", "les_gap", "les_wire", "les_efs", "law_c")
#: Order of the ns-calibrated constants in ``law_c``.
LAW_CONSTANTS = ("k_exp", "k_as", "k_steep", "slope_0", "k_dev", "c_dev", "lambda_0", "c_jet", "k_jet", "k_rec",
                 "m_tandem")


def kernel_tables(trees, layouts) -> dict:
    """The per-network tables of several trees, concatenated (:data:`TABLES`): vessel, lesion,
    outlet and node-derived indices stay local to their tree; indices into the stretch, edge,
    function, piece, coefficient and envelope tables are global."""
    i64 = (lambda parts: np.concatenate([np.asarray(p, dtype=np.int64) for p in parts]) if parts else
           np.zeros(0, dtype=np.int64))
    f64 = (lambda parts: np.concatenate([np.asarray(p, dtype=np.float64) for p in parts]) if parts else np.zeros(0))
    out = {"tv_off": np.concatenate([[0], np.cumsum([t.n_vessels for t in trees])]).astype(np.int64),
           "tl_off": np.concatenate([[0], np.cumsum([t.n_lesions for t in trees])]).astype(np.int64),
           "parent": i64([t.disc.parent for t in trees]), "v_out": i64([t.v_out for t in trees])}
    st0 = ed0 = fn0 = pc0 = cf0 = cd0 = 0
    parts = {k: [] for k in ("v_st", "st_fn", "st_les", "st_ed", "fn_pc", "pc_cf", "les_fn", "les_cd")}
    for i, L in enumerate(layouts):
        first = i == 0
        parts["v_st"].append(L.v_st[0 if first else 1:] + st0)
        parts["st_ed"].append(L.st_ed[0 if first else 1:] + ed0)
        parts["fn_pc"].append(L.fn_pc[0 if first else 1:] + pc0)
        parts["pc_cf"].append(L.pc_cf[0 if first else 1:] + cf0)
        parts["les_cd"].append(L.les_cd[0 if first else 1:] + cd0)
        parts["st_fn"].append(np.where(L.st_fn >= 0, L.st_fn + fn0, -1))
        parts["les_fn"].append(np.where(L.les_fn >= 0, L.les_fn + fn0, -1))
        parts["st_les"].append(L.st_les)
        st0 += L.st_fn.size
        ed0 += L.ed_len.size
        fn0 += L.n_functions
        pc0 += L.pc_lo.size
        cf0 += L.cf.size
        cd0 += L.cd_a.size
    out.update({k: i64(v) for k, v in parts.items()})
    for k in ("ed_len", "ed_r0", "ed_d0", "ed_r1", "ed_d1", "pc_lo", "pc_hi", "cf", "les_ref", "les_dmax",
              "cd_a", "cd_d", "les_len"):
        out[k] = f64([getattr(L, k) for L in layouts])
    for k in ("ed_l0", "ed_l1", "les_v", "les_next", "les_prev", "cd_l"):
        out[k] = i64([getattr(L, k) for L in layouts])
    for k, s in (("les_band", "band_up_m"), ("les_slope", "inlet_slope"), ("les_gap", "gap_m"), ("les_wire", "wire_m"),
                 ("les_efs", "exit_from_start_m")):
        out[k] = f64([L.shape[s] for L in layouts])
    out["law_c"] = np.array([NS_CALIBRATED[k] for k in LAW_CONSTANTS], dtype=np.float64)
    return {k: out[k] for k in TABLES}
