"""The batched steady solve from the per-network layout (method="precomputed") against the
node-level pass (method="nodes"), and the layout's expansions against direct sums.

Truths: (1) every case's lesion and outlet FFR, lesion drop, MLD and vessel flows equal the
node-level pass (which rebuilds every vessel from all its frusta) to 1e-9, over random trees with
single, tandem, touching and ostial lesions, all three lesion laws and every kind of perturbation;
(2) the Chebyshev expansions equal the direct frustum sums to 1e-10 relative at random points of
their ranges, also where the radii come close to zero; (3) touching lesions (one node shared by
two lesions) give the single-case solver's answer.
"""

from __future__ import annotations

import numpy as np
import pytest

from ffrflow.cfd.ensemble import solve_steady_batch, tree_arrays
from ffrflow.cfd.ensemble_layout import (build_layout, cheb_eval, cheb_fit, default_ranges, frustum_sum,
                                        homogeneous_sum)
from ffrflow.config import Model

from _helpers import lesion_network, sampled_params

LAWS = ["ns-calibrated", "poiseuille-kt", "young-tsai"]
KEYS = ("ffr_lesion", "ffr_outlet", "delta_p_lesion_mmHg", "mld_mm", "flow_ml_s")


def _assert_equal(a, b, tol=1e-9):
    assert list(a.status) == list(b.status)
    for k in KEYS:
        x, y = getattr(a, k), getattr(b, k)
        ok = ~np.isnan(x)
        assert np.array_equal(ok, ~np.isnan(y)), k
        scale = max(1.0, float(np.max(np.abs(x[ok])))) if ok.any() else 1.0
        assert np.max(np.abs(x[ok] - y[ok]), initial=0.0) <= tol * scale, (k, np.max(np.abs(x[ok] - y[ok])))


@pytest.mark.parametrize("law", LAWS)
@pytest.mark.parametrize("kind,seed", [("single", 1), ("tandem", 2), ("touching", 4), ("ostial", 5)])
def test_precomputed_equals_the_node_level_pass(backend, law, kind, seed):
    """Truth: the node-level pass, case by case, to 1e-9 (every perturbation kind at once)."""
    net = lesion_network(seed, kind, law)
    tr = tree_arrays(net)
    assert tr.n_lesions >= 2
    p = sampled_params(net, tr, 24, seed)
    a = solve_steady_batch(net, p, backend="numpy", method="nodes", trees=[tr])
    b = solve_steady_batch(net, p, backend=backend, method="precomputed", trees=[tr])
    assert a.n_failed == 0
    _assert_equal(a, b)


def test_touching_lesions_equal_the_single_solver(backend):
    """Truth: the single-case solver (each lesion handled on its own node range) for two lesions
    sharing a node; the node-level pass of every backend and the precomputed method agree with it."""
    from ffrflow.cfd.steady import solve_steady

    net = lesion_network(4, "touching", "poiseuille-kt")
    tr = tree_arrays(net)
    k1 = [x["node_end"] for x in tr.disc.lesions]
    k0 = [x["node_start"] for x in tr.disc.lesions]
    assert set(k1) & set(k0), "the test network must have two lesions sharing a node"
    r = solve_steady(net, backend="numpy")
    for method in ("nodes", "precomputed"):
        b = solve_steady_batch(net, {"hyperemia_factor": [net.boundary.hyperemia_factor]}, backend=backend,
                               method=method, trees=[tr])
        np.testing.assert_allclose(b.ffr_lesion[0], [x["ffr_distal"] for x in r.lesions], rtol=0, atol=1e-10)
        np.testing.assert_allclose(b.delta_p_lesion_mmHg[0], [x["delta_p_mmHg"] for x in r.lesions], rtol=1e-9,
                                   atol=1e-9)


def test_several_networks_and_a_wider_range(backend):
    """Truth: the node-level pass, for a batch of several networks (one case each) and for offsets
    and severities outside the bounded ranges (the layout is rebuilt for them)."""
    nets = [lesion_network(s, k, law) for s, k, law in ((1, "single", "ns-calibrated"), (2, "tandem", "poiseuille-kt"),
                                                  (5, "ostial", "young-tsai"))]
    a = solve_steady_batch(nets, {"hyperemia_factor": [0.2, 0.25, 0.3]}, backend="numpy", method="nodes")
    b = solve_steady_batch(nets, {"hyperemia_factor": [0.2, 0.25, 0.3]}, backend=backend)
    for k in KEYS:
        for c in range(3):
            np.testing.assert_allclose(np.asarray(getattr(b, k)[c], dtype=float),
                                       np.asarray(getattr(a, k)[c], dtype=float), rtol=1e-9, atol=1e-12)
    net = nets[0]
    tr = tree_arrays(net)
    p = sampled_params(net, tr, 8, 3)
    p["radius_offset_mm"] = p["radius_offset_mm"] * 1.6      # beyond ±½ the smallest radius of some vessels
    p["lesion_severity"] = np.linspace(-0.5, 1.45, 8)[:, None] * np.ones((1, tr.n_lesions))
    a = solve_steady_batch(net, p, backend="numpy", method="nodes", trees=[tr])
    b = solve_steady_batch(net, p, backend=backend, trees=[tr])
    _assert_equal(a, b)
    assert np.any(tr.layout.delta_range[:, 1] > default_ranges(tr)[0][:, 1])   # rebuilt for the wider batch


def test_a_radius_below_zero_is_marked_the_same_way(backend):
    net = lesion_network(1, "single", "ns-calibrated")
    tr = tree_arrays(net)
    p = sampled_params(net, tr, 6, 7)
    p["radius_offset_mm"][2, 0] = -50.0
    p["lesion_severity"][4, 1] = 60.0
    a = solve_steady_batch(net, p, backend="numpy", method="nodes", trees=[tr])
    b = solve_steady_batch(net, p, backend=backend, trees=[tr])
    assert list(b.status) == [0, 0, 2, 0, 2, 0]
    _assert_equal(a, b)


# ------------------------------------------------------------------------------ the expansions
def test_chebyshev_expansion_of_frustum_sums_within_1e_10():
    """Truth: the direct sums, at 4 000 random points of each range, for random vessels (radii
    0.1–3 mm, tapering and noisy) over ±½ their smallest radius and, closer to the poles, down to
    0.02 of it; and for narrowed sums of random lesions with the throat closing to 1 % of its
    reference radius."""
    rng = np.random.default_rng(11)
    for trial in range(12):
        n = int(rng.integers(3, 200))
        r = np.abs(rng.uniform(0.1e-3, 3e-3) * (1 + 0.3 * np.cumsum(rng.normal(0, 0.05, n + 1))))
        r = np.maximum(r, 0.05e-3)
        ln = rng.uniform(1e-4, 1e-3, n)
        m = r.min()
        for lo in (-0.5 * m, -0.98 * m):
            f = (lambda x, r=r, ln=ln: frustum_sum(r[:-1], r[1:], ln, x))
            pieces = cheb_fit(f, lo, 0.5 * m)
            x = rng.uniform(lo, 0.5 * m, 4000)
            exact = f(x)
            assert np.max(np.abs(cheb_eval(pieces, x) - exact) / exact) < 1e-10
        d = np.sort(rng.uniform(0, 1, n + 1))
        d = np.where(rng.random(n + 1) < 0.5, d, d[::-1]) / d.max()
        g = (lambda w, d=d, ln=ln: homogeneous_sum(d[:-1], d[1:], ln, w))
        pieces = cheb_fit(g, -0.5, 0.99)
        w = rng.uniform(-0.5, 0.99, 4000)
        exact = g(w)
        assert np.max(np.abs(cheb_eval(pieces, w) - exact) / exact) < 1e-10


def test_layout_sums_equal_the_vessel_resistances():
    """Truth: the discretisation's Poiseuille resistance of every vessel (R_cum at its last node,
    lesion terms excluded) at zero offset and full severity, and the frustum sums at random offsets."""
    net = lesion_network(2, "tandem", "poiseuille-kt")
    net = net.replace_config(model=Model.from_dict({**net.model.to_dict(), "lesion": "poiseuille-kt"}))
    tr = tree_arrays(net)
    rng = np.random.default_rng(3)
    d_rng = default_ranges(tr)[0]
    les_v = [tr.disc.vessel_ids.index(x["vessel"]) for x in tr.disc.lesions]
    dmax = np.array([tr.d_node_m[tr.les_k0[j]:tr.les_k1[j] + 1].max() for j in range(tr.n_lesions)])
    np.maximum.at(d_rng[:, 0], les_v, -0.5 * (tr.les_ref_m - dmax))     # the throats stay open at full severity
    dvs = np.concatenate([np.zeros((tr.n_vessels, 1)), rng.uniform(d_rng[:, :1], d_rng[:, 1:], (tr.n_vessels, 3))], 1)
    w = dmax[:, None] / (tr.les_ref_m[:, None] + dvs[les_v])       # full severity at these offsets
    L = build_layout(tr, w_range=np.stack([w.min(axis=1), w.max(axis=1)], axis=1))
    mu = net.model.blood_viscosity_pa_s
    k8 = 8.0 * mu / (3.0 * np.pi)
    for v in range(tr.n_vessels):
        sl = tr.disc.nodes_of(v)
        r, el = tr.r_node_m[sl], tr.el_len_m[sl]
        for dv in dvs[v]:
            total = 0.0
            for st in range(L.v_st[v], L.v_st[v + 1]):
                if L.st_fn[st] >= 0:
                    total += k8 * cheb_eval(L.functions[L.st_fn[st]][2], np.array([dv]))[0]
                j = L.st_les[st]
                if j >= 0 and L.les_fn[j] >= 0:
                    ref = L.les_ref[j] + dv
                    total += k8 * cheb_eval(L.functions[L.les_fn[j]][2], np.array([L.les_dmax[j] / ref]))[0] / ref ** 4
                for e in range(L.st_ed[st], L.st_ed[st + 1]):
                    a, b = L.ed_r0[e] + dv, L.ed_r1[e] + dv
                    total += k8 * L.ed_len[e] * (a * a + a * b + b * b) / (a ** 3 * b ** 3)
            direct = k8 * frustum_sum(r[:-1], r[1:], el[1:], np.array([dv]))[0]
            assert abs(total - direct) <= 1e-10 * direct
