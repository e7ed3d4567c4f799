"""Numba CPU kernels: ``@njit(parallel=True, cache=True)`` twins of :mod:`ffrflow.kernels.reference`.

Same names, same signatures, same results (to round-off); see the reference module for the
equations and the array layout. Batched kernels run one case per thread (``prange`` over cases).
"""

from __future__ import annotations

import math
import types

import numpy as np
from numba import njit, prange

from .codes import LESION_NS_CALIBRATED, LESION_YOUNG_TSAI


@njit(parallel=True, cache=True)
def _segment_resistance(r0, r1, length, mu, out):
    for i in prange(out.shape[0]):
        a = r0[i]
        b = r1[i]
        out[i] = 8.0 * mu[i] * length[i] * (a * a + a * b + b * b) / (3.0 * math.pi * a ** 3 * b ** 3)


@njit(cache=True)
def _segment_resistance_serial(r0, r1, length, mu, out):
    for i in range(out.shape[0]):
        a = r0[i]
        b = r1[i]
        out[i] = 8.0 * mu[i] * length[i] * (a * a + a * b + b * b) / (3.0 * math.pi * a ** 3 * b ** 3)


#: Below this many elements an element-wise kernel runs on one thread: a single network's few thousand
#: frusta take microseconds, less than waking the thread pool, and the serial twin compiles in a
#: fraction of the parallel one's time (the first run after installing compiles what it calls).
SERIAL_BELOW = 1 << 16


def segment_resistance(r0_m, r1_m, length_m, mu_pa_s, out):
    """Numba twin of :func:`ffrflow.kernels.reference.segment_resistance`."""
    r0 = np.ascontiguousarray(r0_m, dtype=np.float64).ravel()
    r1 = np.ascontiguousarray(r1_m, dtype=np.float64).ravel()
    length = np.ascontiguousarray(length_m, dtype=np.float64).ravel()
    mu = np.ascontiguousarray(np.broadcast_to(np.asarray(mu_pa_s, dtype=np.float64), r0.shape))
    flat = out.reshape(-1)
    (_segment_resistance_serial if flat.shape[0] < SERIAL_BELOW else _segment_resistance)(r0, r1, length, mu, flat)
    return out


LINE_SEARCH_ALPHA = 1e-4
LINE_SEARCH_HALVINGS = 60


@njit(cache=True)
def _law(R, S, q):
    """Monotone vessel law and its slope (reference.vessel_law for one vessel)."""
    aq = abs(q)
    if R < 0.0 and R + S * aq <= 0.0:
        return 0.0, 0.0
    return R * q + S * q * aq, R + 2.0 * S * aq


@njit(cache=True)
def _remainder(R, S, q, h):
    """reference.vessel_energy_remainder for one vessel."""
    b = q + h
    aq = abs(q)
    ab = abs(b)
    flat_a = R < 0.0 and R + S * aq <= 0.0
    flat_b = R < 0.0 and R + S * ab <= 0.0
    if q * b >= 0.0 and not flat_a and not flat_b:
        sgn = 1.0 if q + b >= 0.0 else -1.0
        return 0.5 * R * h * h + sgn * S * (q * h * h + h * h * h / 3.0)
    qz = -R / S if (R < 0.0 and S > 0.0) else 0.0
    ya = qz if flat_a else aq
    yb = qz if flat_b else ab
    fa, _ = _law(R, S, q)
    return (yb - ya) * (0.5 * R * (ya + yb) + S * (ya * ya + ya * yb + yb * yb) / 3.0) - fa * h


@njit(cache=True)
def _tree_newton_case(lo, hi, parent, R, S, R_out, root_p, root_q, pv, tol, max_iter,
                      Q, P_up, P_down, A, B, a, b, sI, sA):
    it = 0
    rel = np.inf
    for it in range(1, max_iter + 1):
        for i in range(lo, hi):
            sI[i] = 0.0
            sA[i] = 0.0
        for i in range(hi - 1, lo - 1, -1):
            q = Q[i]
            f, r = _law(R[i], S[i], q)
            c = f - r * q
            if R_out[i] > 0.0:
                Bd = R_out[i]
                Ad = pv
            else:
                Bd = 1.0 / sI[i]
                Ad = sA[i] * Bd
            A[i] = Ad
            B[i] = Bd
            a[i] = Ad + c
            b[i] = Bd + r
            sA[i] = r          # this vessel's slope (its own sums are used)
            p = parent[i]
            if p >= 0:
                sI[p] += 1.0 / b[i]
                sA[p] += a[i] / b[i]
        dhd = 0.0
        for i in range(lo, hi):
            p = parent[i]
            if p < 0:
                if math.isnan(root_q[i]):
                    pu = root_p[i]
                    qn = (pu - a[i]) / b[i]
                else:
                    qn = root_q[i]
                    pu = a[i] + b[i] * qn
            else:
                pu = P_down[p]
                qn = (pu - a[i]) / b[i]
            sI[i] = qn         # the full Newton step's flow
            P_up[i] = pu
            P_down[i] = A[i] + B[i] * qn
            d = qn - Q[i]
            dhd += (sA[i] + R_out[i]) * d * d
        t = 1.0
        if it > 1:
            if dhd > 0.0:
                for _ in range(LINE_SEARCH_HALVINGS):
                    rem = 0.0
                    for i in range(lo, hi):
                        h = t * (sI[i] - Q[i])
                        rem += _remainder(R[i], S[i], Q[i], h) + 0.5 * R_out[i] * h * h
                    if rem <= (1.0 - LINE_SEARCH_ALPHA) * t * dhd:
                        break
                    t *= 0.5
        for i in range(lo, hi):
            Q[i] = sI[i] if t == 1.0 else Q[i] + t * (sI[i] - Q[i])
        res = 0.0
        drive = 0.0
        for i in range(lo, hi):
            f, _ = _law(R[i], S[i], Q[i])
            e = abs(P_up[i] - P_down[i] - f)
            if e > res:
                res = e
            if parent[i] < 0:
                d = abs(P_up[i] - pv)
                if d > drive:
                    drive = d
        rel = res / drive if drive > 0.0 else 0.0
        if rel <= tol:
            break
    return it, rel


@njit(parallel=True, cache=True)
def _tree_newton(offsets, parent, R, S, R_out, root_p, root_q, p_venous, tol, max_iter,
                 Q, P_up, P_down, work, iterations, residual):
    n_cases = offsets.shape[0] - 1
    for c in prange(n_cases):
        it, rel = _tree_newton_case(offsets[c], offsets[c + 1], parent, R, S, R_out, root_p, root_q,
                                    p_venous[c], tol, max_iter, Q, P_up, P_down,
                                    work[0], work[1], work[2], work[3], work[4], work[5])
        iterations[c] = it
        residual[c] = rel


@njit(cache=True)
def _tree_newton_one(offsets, parent, R, S, R_out, root_p, root_q, p_venous, tol, max_iter,
                     Q, P_up, P_down, work, iterations, residual):
    it, rel = _tree_newton_case(offsets[0], offsets[1], parent, R, S, R_out, root_p, root_q,
                                p_venous[0], tol, max_iter, Q, P_up, P_down,
                                work[0], work[1], work[2], work[3], work[4], work[5])
    iterations[0] = it
    residual[0] = rel


def tree_newton(offsets, parent, R, S, R_out, root_p, root_q, p_venous, tol, max_iter,
                Q, P_up, P_down, work, iterations, residual):
    """Numba twin of :func:`ffrflow.kernels.reference.tree_newton` (one case per thread; a single case
    runs on the calling thread)."""
    one = offsets.shape[0] == 2
    (_tree_newton_one if one else _tree_newton)(offsets, parent, R, S, R_out, root_p, root_q, p_venous,
                                                float(tol), int(max_iter), Q, P_up, P_down, work,
                                                iterations, residual)
    return Q, P_up, P_down, iterations, residual


@njit(parallel=True, cache=True)
def _node_pressure(node_vessel, R_cum, S_cum, P_up, Q, out):
    for k in prange(node_vessel.shape[0]):
        v = node_vessel[k]
        q = Q[v]
        out[k] = P_up[v] - q * R_cum[k] - q * abs(q) * S_cum[k]


@njit(cache=True)
def _node_pressure_serial(node_vessel, R_cum, S_cum, P_up, Q, out):
    for k in range(node_vessel.shape[0]):
        v = node_vessel[k]
        q = Q[v]
        out[k] = P_up[v] - q * R_cum[k] - q * abs(q) * S_cum[k]


def node_pressure(node_vessel, R_cum, S_cum, P_up, Q, out):
    """Numba twin of :func:`ffrflow.kernels.reference.node_pressure`."""
    (_node_pressure_serial if node_vessel.shape[0] < SERIAL_BELOW else _node_pressure)(
        node_vessel, R_cum, S_cum, P_up, Q, out)
    return out


@njit(cache=True)
def _frustum(r0, r1, length, mu):
    return 8.0 * mu * length * (r0 * r0 + r0 * r1 + r1 * r1) / (3.0 * math.pi * r0 ** 3 * r1 ** 3)


@njit(cache=True)
def _lesion_end(les, il, k, c, i, rc, sc, les_k0, les_ref, dr, r_mld, model, lesion_coef, kt, rho, mu, el_len,
                Rc1, Sc1):
    """A lesion's terms at its last node k (node-level pass): returns the accumulated (R, S)."""
    ref = les_ref[les] + dr[i]
    a0 = math.pi * ref * ref
    a_s = math.pi * r_mld[il] * r_mld[il]
    if a_s < a0:
        f = (a0 / a_s - 1.0) ** 2
        if model[c] == LESION_NS_CALIBRATED:
            rc += lesion_coef[il, 0]
            sc += lesion_coef[il, 1]
        else:
            sc += kt[c] * rho[c] / (2.0 * a0 * a0) * f
        if model[c] == LESION_YOUNG_TSAI:
            ls = 0.0
            for kk in range(les_k0[les] + 1, k + 1):
                ls += el_len[kk]
            kv = 32.0 * (0.83 * ls + 1.64 * 2.0 * r_mld[il]) * (a0 / a_s) ** 2 / (2.0 * ref)
            rc += kv * mu[c] / (a0 * 2.0 * ref)
    Rc1[il] = rc
    Sc1[il] = sc
    return rc, sc


@njit(cache=True)
def _ensemble_case(c, tv_off, parent, vn_off, el_len, r_node, d_node, node_les, v_out,
                   tl_off, les_k0, les_k1, les_ref, case_tree, cv_off, cl_off, co_off,
                   mu, rho, kt, model, lesion_coef, p_in, q_in, p_v, dr, sev, r_out, tol, max_iter,
                   Q, P_up, P_down, p_les0, p_les1, r_mld, p_out, work, lwork, par_cv, rout_cv, rp, rq):
    t = case_tree[c]
    v0 = tv_off[t]
    v1 = tv_off[t + 1]
    l0 = tl_off[t]
    l1 = tl_off[t + 1]
    cb = cv_off[c]
    lb = cl_off[c]
    ob = co_off[c]
    R = work[0]
    S = work[1]
    Rc0 = lwork[0]
    Rc1 = lwork[1]
    Sc0 = lwork[2]
    Sc1 = lwork[3]
    yt = model[c] == LESION_YOUNG_TSAI
    for g in range(v0, v1):
        i = cb + g - v0
        par_cv[i] = -1 if parent[g] < 0 else cb + parent[g] - v0
        rout_cv[i] = r_out[ob + v_out[g]] if v_out[g] >= 0 else 0.0
        rp[i] = p_in[c]
        rq[i] = q_in[c]
        rc = 0.0
        sc = 0.0
        kfirst = vn_off[g]
        prev_r = 0.0
        prev_les = -1
        for k in range(kfirst, vn_off[g + 1]):
            les = node_les[k]
            sv = sev[lb + les - l0] if les >= 0 else 1.0
            rk = r_node[k] + (1.0 - sv) * d_node[k] + dr[i]
            if k > kfirst:
                # an element inside a lesion: its first node's lesion reaches its second node
                inside = yt and prev_les >= 0 and k <= les_k1[prev_les]
                if not inside:
                    rc += _frustum(prev_r, rk, el_len[k], mu[c])
            if prev_les >= 0 and prev_les != les and k == les_k1[prev_les]:
                # the last node of a lesion that is the first node of the next one (touching lesions)
                il = lb + prev_les - l0
                if rk < r_mld[il]:
                    r_mld[il] = rk
                rc, sc = _lesion_end(prev_les, il, k, c, i, rc, sc, les_k0, les_ref, dr, r_mld, model, lesion_coef,
                                     kt, rho, mu, el_len, Rc1, Sc1)
            if les >= 0:
                il = lb + les - l0
                if k == les_k0[les]:
                    Rc0[il] = rc
                    Sc0[il] = sc
                    r_mld[il] = rk
                elif rk < r_mld[il]:
                    r_mld[il] = rk
                if k == les_k1[les]:
                    rc, sc = _lesion_end(les, il, k, c, i, rc, sc, les_k0, les_ref, dr, r_mld, model, lesion_coef,
                                         kt, rho, mu, el_len, Rc1, Sc1)
            prev_r = rk
            prev_les = les
        R[i] = rc
        S[i] = sc
    it, rel = _tree_newton_case(cb, cb + (v1 - v0), par_cv, R, S, rout_cv, rp, rq, p_v[c], tol, max_iter,
                                Q, P_up, P_down, work[2], work[3], work[4], work[5], work[6], work[7])
    for lg in range(l0, l1):
        il = lb + lg - l0
        # the vessel holding the lesion: last vessel whose first node is <= les_k0
        g = v0
        while g + 1 < v1 and vn_off[g + 1] <= les_k0[lg]:
            g += 1
        i = cb + g - v0
        q = Q[i]
        p_les0[il] = P_up[i] - q * Rc0[il] - q * abs(q) * Sc0[il]
        p_les1[il] = P_up[i] - q * Rc1[il] - q * abs(q) * Sc1[il]
    for g in range(v0, v1):
        if v_out[g] >= 0:
            p_out[ob + v_out[g]] = P_down[cb + g - v0]
    return it, rel


@njit(parallel=True, cache=True)
def _ensemble_steady(tv_off, parent, vn_off, el_len, r_node, d_node, node_les, v_out,
                     tl_off, les_k0, les_k1, les_ref, to_off,
                     case_tree, cv_off, cl_off, co_off, mu, rho, kt, model, lesion_coef, p_in, q_in, p_v,
                     dr, sev, r_out, tol, max_iter,
                     Q, P_up, P_down, p_les0, p_les1, r_mld, p_out, work, lwork, iterations, residual):
    n_cases = case_tree.shape[0]
    n_cv = Q.shape[0]
    par_cv = np.empty(n_cv, dtype=np.int64)
    rout_cv = np.empty(n_cv)
    rp = np.empty(n_cv)
    rq = np.empty(n_cv)
    for c in prange(n_cases):
        it, rel = _ensemble_case(c, tv_off, parent, vn_off, el_len, r_node, d_node, node_les, v_out,
                                 tl_off, les_k0, les_k1, les_ref, case_tree, cv_off, cl_off, co_off,
                                 mu, rho, kt, model, lesion_coef, p_in, q_in, p_v, dr, sev, r_out, tol, max_iter,
                                 Q, P_up, P_down, p_les0, p_les1, r_mld, p_out, work, lwork,
                                 par_cv, rout_cv, rp, rq)
        iterations[c] = it
        residual[c] = rel


# Argument names (tv_off, cv_off, cl_off, tl_off, co_off, dr, sev, ...): ffrflow/kernels/codes.py;
# layout and units: the NumPy reference, ffrflow.kernels.reference.ensemble_steady.
def ensemble_steady(tv_off, parent, vn_off, el_len, r_node, d_node, node_les, v_out,
                    tl_off, les_k0, les_k1, les_ref, to_off,
                    case_tree, cv_off, cl_off, co_off, mu, rho, kt, model, lesion_coef, p_in, q_in, p_v,
                    dr, sev, r_out, tol, max_iter,
                    Q, P_up, P_down, p_les0, p_les1, r_mld, p_out, work, lwork, iterations, residual):
    """Numba twin of :func:`ffrflow.kernels.reference.ensemble_steady` (one case per thread).

    ``work`` must have at least 8 rows here (the reference uses 2); callers allocate (8, n_cv).
    """
    _ensemble_steady(tv_off, parent, vn_off, el_len, r_node, d_node, node_les, v_out,
                     tl_off, les_k0, les_k1, les_ref, to_off,
                     case_tree, cv_off, cl_off, co_off, mu, rho, kt, model, lesion_coef, p_in, q_in, p_v,
                     dr, sev, r_out, float(tol), int(max_iter),
                     Q, P_up, P_down, p_les0, p_les1, r_mld, p_out, work, lwork, iterations, residual)
    return Q, P_up, P_down, p_les0, p_les1, r_mld, p_out, iterations, residual



# ---------------------------------------------------------------------------------------------
# Ensemble solve from the per-network layout (reference.ensemble_steady_pre; kernels/cuda/steady.cuh
# ff_ensemble_pre_case, line by line). Per-case arrays are sample-minor (item k of case i of tree t
# at base[t] + k * n_t + i); each thread takes a contiguous range of cases, so the lines it reads
# serve its next cases too.
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def _cheb(fn, x, fn_pc, pc_lo, pc_hi, pc_cf, cf):
    p = fn_pc[fn]
    last = fn_pc[fn + 1] - 1
    while p < last and x > pc_hi[p]:
        p += 1
    lo = pc_lo[p]
    hi = pc_hi[p]
    t = (2.0 * x - (lo + hi)) / (hi - lo)
    c0 = pc_cf[p]
    b1 = 0.0
    b2 = 0.0
    for k in range(pc_cf[p + 1] - 1, c0, -1):
        b0 = cf[k] + 2.0 * t * b1 - b2
        b2 = b1
        b1 = b0
    return cf[c0] + t * b1 - b2


@njit(cache=True)
def _ns_geometry(r0, rs, mu, rho, law_c):
    x = rs / r0
    sg = min(x * x, 1.0)
    a_s = math.pi * rs * rs
    ds = 2.0 * rs
    return sg, a_s, law_c[7] * math.exp(-law_c[8] * sg) * rho * ds * ds / (mu * a_s)


@njit(cache=True)
def _ns_coefficients(j, l0, les_v, les_next, les_prev, les_band, les_slope, les_gap, les_wire, les_efs, law_c,
                     Q, vb, r0v, rsv, rpois, lb, ns, sev, mu, rho, scale, at_zero):
    g = l0 + j
    q = 0.0 if at_zero else abs(Q[vb + les_v[g] * ns])
    jn = lb + j * ns
    sg, a_s, ljq = _ns_geometry(r0v[jn], rsv[jn], mu, rho, law_c)
    narrowed = sg < 1.0
    ds = 2.0 * rsv[jn]
    e = rho / (2.0 * a_s * a_s)
    lj = ljq * q
    gap = les_gap[g]
    finite_gap = gap < 1e300 and gap > -1e300
    reach = finite_gap and lj > gap and narrowed
    phi = 1.0
    nx = les_next[g]
    if reach:
        milder = True
        if nx >= 0:
            _, a2, _ = _ns_geometry(r0v[lb + nx * ns], rsv[lb + nx * ns], mu, rho, law_c)
            milder = a_s >= a2
        if milder:
            phi = (gap / lj) ** law_c[10]
    p = les_prev[g]
    p_reach = False
    p_as = 0.0
    p_sg = 0.0
    p_ljq = 0.0
    p_q = 0.0
    if p >= 0:
        p_sg, p_as, p_ljq = _ns_geometry(r0v[lb + p * ns], rsv[lb + p * ns], mu, rho, law_c)
        p_q = 0.0 if at_zero else abs(Q[vb + les_v[l0 + p] * ns])
        p_gap = les_gap[l0 + p]
        p_reach = p_gap < 1e300 and p_ljq * p_q > p_gap and p_sg < 1.0
        if p_reach and a_s > p_as:
            phi = 0.0
    sl = les_slope[g] * sev - law_c[3]
    k_mix = law_c[0] + law_c[1] * (1.0 - sg) + law_c[2] * (sl if sl > 0.0 else 0.0)
    lam = les_band[g] / ds - law_c[6]
    if lam < 0.0:
        lam = 0.0
    s = e * (1.0 - sg) * (1.0 - sg) * k_mix * phi + e * (1.0 - sg) * lam * law_c[4]
    r_dev = e * (1.0 - sg) * lam * law_c[5] * mu * a_s / (rho * ds)
    rx = r_dev
    last = not finite_gap
    inherit = last and p >= 0 and p_reach and p_as < a_s
    xw = les_gap[l0 + p] + les_efs[g] + les_wire[g] if inherit else les_wire[g]
    src_sg = p_sg if inherit else sg
    src_as = p_as if inherit else a_s
    src_ljq = p_ljq if inherit else ljq
    src_q = p_q if inherit else q
    on = last and src_ljq * src_q > xw and src_sg < 1.0
    if on:
        s_rec = law_c[9] * rho * src_sg * (1.0 - src_sg) / (src_as * src_as)
        s += s_rec
        rx -= s_rec * (xw / src_ljq)
    keep = narrowed or on
    rx = scale * rx
    floor_ = -rpois[jn] - scale * r_dev
    if floor_ > 0.0:
        rx += floor_
    return (rx if keep else 0.0), (scale * s if keep else 0.0)


@njit(cache=True, inline="always")   # no call (and argument) overhead per case
def _tree_newton_strided(nv, ns, v0, parent, vb, R, S, R_out, p_root, q_root, pv, tol, max_iter,
                         Q, P_up, P_down, A, B, a, b, sI, sA):
    """_tree_newton_case on one case's vessels v0..v0+nv-1 (local parents), stored from vb with stride ns."""
    it = 0
    rel = np.inf
    for it in range(1, max_iter + 1):
        for v in range(nv):
            sI[vb + v * ns] = 0.0
            sA[vb + v * ns] = 0.0
        for v in range(nv - 1, -1, -1):
            i = vb + v * ns
            q = Q[i]
            f, r = _law(R[i], S[i], q)
            c = f - r * q
            if R_out[i] > 0.0:
                Bd = R_out[i]
                Ad = pv
            else:
                Bd = 1.0 / sI[i]
                Ad = sA[i] * Bd
            A[i] = Ad
            B[i] = Bd
            a[i] = Ad + c
            b[i] = Bd + r
            sA[i] = r
            p = parent[v0 + v]
            if p >= 0:
                sI[vb + p * ns] += 1.0 / b[i]
                sA[vb + p * ns] += a[i] / b[i]
        dhd = 0.0
        for v in range(nv):
            i = vb + v * ns
            p = parent[v0 + v]
            if p < 0:
                if math.isnan(q_root):
                    pu = p_root
                    qn = (pu - a[i]) / b[i]
                else:
                    qn = q_root
                    pu = a[i] + b[i] * qn
            else:
                pu = P_down[vb + p * ns]
                qn = (pu - a[i]) / b[i]
            sI[i] = qn
            P_up[i] = pu
            P_down[i] = A[i] + B[i] * qn
            d = qn - Q[i]
            dhd += (sA[i] + R_out[i]) * d * d
        t = 1.0
        if it > 1:
            if dhd > 0.0:
                for _ in range(LINE_SEARCH_HALVINGS):
                    rem = 0.0
                    for v in range(nv):
                        i = vb + v * ns
                        h = t * (sI[i] - Q[i])
                        rem += _remainder(R[i], S[i], Q[i], h) + 0.5 * R_out[i] * h * h
                    if rem <= (1.0 - LINE_SEARCH_ALPHA) * t * dhd:
                        break
                    t *= 0.5
        for v in range(nv):
            i = vb + v * ns
            Q[i] = sI[i] if t == 1.0 else Q[i] + t * (sI[i] - Q[i])
        res = 0.0
        drive = 0.0
        for v in range(nv):
            i = vb + v * ns
            f, _ = _law(R[i], S[i], Q[i])
            e = abs(P_up[i] - P_down[i] - f)
            if e > res:
                res = e
            if parent[v0 + v] < 0:
                d = abs(P_up[i] - pv)
                if d > drive:
                    drive = d
        rel = res / drive if drive > 0.0 else 0.0
        if rel <= tol:
            break
    return it, rel


@njit(cache=True)
def _pre_radius(r, d, lab, sev, lb, ns, dr):
    sv = sev[lb + lab * ns] if lab >= 0 else 1.0
    return r + (1.0 - sv) * d + dr


#: Cases per chunk of the vectorised geometry pass (consecutive cases of one tree).
PRE_CHUNK = 64


@njit(cache=True)
def _pre_geometry(c0, c1, tv_off, parent, v_out, v_st, st_fn, st_les, st_ed, ed_len, ed_r0, ed_d0, ed_l0, ed_r1,
                  ed_d1, ed_l1, fn_pc, pc_lo, pc_hi, pc_cf, cf, tl_off, les_v, les_fn, les_ref, les_dmax, les_cd,
                  cd_a, cd_d, cd_l, case_tree, tc_off, cv_b, cl_b, co_b, mu_c, model_c, dr, sev, r_out, r_mld, work,
                  lwork):
    """Every stretch's resistance, each lesion's ends, throat and own resistance, for the consecutive
    cases c0..c1-1 of one tree: _pre_case's first loop with the cases innermost, so that the
    Chebyshev sums of cases on the same piece run as SIMD lanes (sample-minor arrays)."""
    m = c1 - c0
    t = case_tree[c0]
    ns = tc_off[t + 1] - tc_off[t]
    i0 = c0 - tc_off[t]
    v0 = tv_off[t]
    nv = tv_off[t + 1] - v0
    l0 = tl_off[t]
    vb = cv_b[t] + i0
    lb = cl_b[t] + i0
    ob = co_b[t] + i0
    Ro = work[8]
    Rb = work[9]
    Rc0 = lwork[0]
    Rc1 = lwork[1]
    rpois = lwork[2]
    r0 = lwork[3]
    k8 = np.empty(m)
    yt = np.empty(m, dtype=np.bool_)
    for c in range(m):
        k8[c] = 8.0 * mu_c[c0 + c] / (3.0 * math.pi)
        yt[c] = model_c[c0 + c] == 1
    rc = np.empty(m)
    pois = np.empty(m)
    x = np.empty(m)
    tt = np.empty(m)
    b1 = np.empty(m)
    b2 = np.empty(m)
    for v in range(nv):
        g = v0 + v
        base = vb + v * ns
        for c in range(m):
            Ro[base + c] = r_out[ob + v_out[g] * ns + c] if v_out[g] >= 0 else 0.0
            rc[c] = 0.0
        for st in range(v_st[g], v_st[g + 1]):
            j = st_les[st]
            for c in range(m):
                pois[c] = 0.0
            for e in range(st_ed[st], st_ed[st + 1]):
                la = ed_l0[e]
                lz = ed_l1[e]
                for c in range(m):
                    d = dr[base + c]
                    sa = sev[lb + la * ns + c] if la >= 0 else 1.0
                    sz = sev[lb + lz * ns + c] if lz >= 0 else 1.0
                    pois[c] += _frustum(ed_r0[e] + (1.0 - sa) * ed_d0[e] + d, ed_r1[e] + (1.0 - sz) * ed_d1[e] + d,
                                        ed_len[e], mu_c[c0 + c])
            fn = st_fn[st]
            if fn >= 0:
                for c in range(m):
                    x[c] = dr[base + c]
                _cheb_lanes(fn, x, tt, b1, b2, fn_pc, pc_lo, pc_hi, pc_cf, cf)
                for c in range(m):
                    pois[c] += k8[c] * x[c]
            if j >= 0:
                jl = l0 + j
                jb = lb + j * ns
                if les_fn[jl] >= 0:
                    for c in range(m):
                        x[c] = sev[jb + c] * les_dmax[jl] / (les_ref[jl] + dr[base + c])
                    _cheb_lanes(les_fn[jl], x, tt, b1, b2, fn_pc, pc_lo, pc_hi, pc_cf, cf)
                    for c in range(m):
                        ref = les_ref[jl] + dr[base + c]
                        ref2 = ref * ref
                        pois[c] += k8[c] * x[c] / (ref2 * ref2)
                for c in range(m):
                    mn = 1e300
                    for k in range(les_cd[jl], les_cd[jl + 1]):
                        y = cd_a[k] - sev[lb + cd_l[k] * ns + c] * cd_d[k]
                        if y < mn:
                            mn = y
                    d = dr[base + c]
                    r_mld[jb + c] = mn + d
                    r0[jb + c] = les_ref[jl] + d
                    rpois[jb + c] = pois[c]
                    Rc0[jb + c] = rc[c]
                    if not yt[c]:
                        rc[c] += pois[c]
                    Rc1[jb + c] = rc[c]
            else:
                for c in range(m):
                    rc[c] += pois[c]
        for c in range(m):
            Rb[base + c] = rc[c]


@njit(cache=True)
def _cheb_lanes(fn, x, t, b1, b2, fn_pc, pc_lo, pc_hi, pc_cf, cf):
    """_cheb at every x, in place: lanes on one piece run the recurrence together."""
    m = x.shape[0]
    p0 = fn_pc[fn]
    last = fn_pc[fn + 1] - 1
    if last == p0:
        lo = pc_lo[p0]
        hi = pc_hi[p0]
        for c in range(m):
            t[c] = (2.0 * x[c] - (lo + hi)) / (hi - lo)
            b1[c] = 0.0
            b2[c] = 0.0
        c0 = pc_cf[p0]
        for k in range(pc_cf[p0 + 1] - 1, c0, -1):
            ck = cf[k]
            for c in range(m):
                b0 = ck + 2.0 * t[c] * b1[c] - b2[c]
                b2[c] = b1[c]
                b1[c] = b0
        for c in range(m):
            x[c] = cf[c0] + t[c] * b1[c] - b2[c]
    else:
        for c in range(m):
            x[c] = _cheb(fn, x[c], fn_pc, pc_lo, pc_hi, pc_cf, cf)


@njit(cache=True)
def _pre_case(c, t, ns, vb, lb, ob, tv_off, parent, v_out, tl_off, les_v, les_next, les_prev, les_len, les_band,
              les_slope, les_gap, les_wire, les_efs, law_c, mu_c, rho_c, kt_c, model_c, p_in, q_in, p_v, sev,
              newton_tol, max_iter, lesion_tol, max_passes, Q, P_up, P_down, p_les0, p_les1, r_mld, coef, p_out,
              work, lwork):
    """One case after its geometry (_pre_geometry): lesion terms, Newton and lesion passes, outputs.
    Its items are at vb/lb/ob + k·ns of the arrays given (the kernel's, or a contiguous copy)."""
    v0 = tv_off[t]
    nv = tv_off[t + 1] - v0
    l0 = tl_off[t]
    nl = tl_off[t + 1] - l0
    mu = mu_c[c]
    rho = rho_c[c]
    kt = kt_c[c]
    model = model_c[c]
    yt = model == LESION_YOUNG_TSAI
    R = work[0]
    S = work[1]
    Ro = work[8]
    Rb = work[9]
    Rc0 = lwork[0]
    Rc1 = lwork[1]
    rpois = lwork[2]
    r0 = lwork[3]
    xr = lwork[4]
    xs = lwork[5]
    cr = coef[0]
    cs = coef[1]
    scale = kt / 1.52
    for j in range(nl):
        jn = lb + j * ns
        ref = r0[jn]
        a0 = math.pi * ref * ref
        a_s = math.pi * r_mld[jn] * r_mld[jn]
        er = 0.0
        es = 0.0
        if model == LESION_NS_CALIBRATED:
            nr, nsv = _ns_coefficients(j, l0, les_v, les_next, les_prev, les_band, les_slope, les_gap, les_wire,
                                       les_efs, law_c, Q, vb, r0, r_mld, rpois, lb, ns, sev[jn], mu, rho, scale, True)
            cr[jn] = nr
            cs[jn] = nsv
            if a_s < a0:
                er = nr
                es = nsv
        else:
            if a_s < a0:
                f = a0 / a_s - 1.0
                es = kt * rho / (2.0 * a0 * a0) * f * f
                if yt:
                    ratio = a0 / a_s
                    kv = 32.0 * (0.83 * les_len[l0 + j] + 1.64 * 2.0 * r_mld[jn]) * ratio * ratio / (2.0 * ref)
                    er = kv * mu / (a0 * 2.0 * ref)
            cr[jn] = 0.0
            cs[jn] = 0.0
        xr[jn] = er
        xs[jn] = es
    pv = p_v[c]
    it = 0
    rr = 0.0
    n_pass = 0
    while True:
        for v in range(nv):
            R[vb + v * ns] = Rb[vb + v * ns]
            S[vb + v * ns] = 0.0
        for j in range(nl):
            i = vb + les_v[l0 + j] * ns
            R[i] += xr[lb + j * ns]
            S[i] += xs[lb + j * ns]
        it, rr = _tree_newton_strided(nv, ns, v0, parent, vb, R, S, Ro, p_in[c], q_in[c], pv, newton_tol, max_iter,
                                      Q, P_up, P_down, work[2], work[3], work[4], work[5], work[6], work[7])
        n_pass += 1
        if model != 2:
            break
        change = 0.0
        for j in range(nl):
            jn = lb + j * ns
            nr, nsv = _ns_coefficients(j, l0, les_v, les_next, les_prev, les_band, les_slope, les_gap, les_wire,
                                       les_efs, law_c, Q, vb, r0, r_mld, rpois, lb, ns, sev[jn], mu, rho, scale, False)
            q = Q[vb + les_v[l0 + j] * ns]
            ch = abs((nr - cr[jn]) * q + (nsv - cs[jn]) * q * abs(q))
            if ch > change:
                change = ch
            cr[jn] = nr
            cs[jn] = nsv
            ref = r0[jn]
            narrowed = r_mld[jn] * r_mld[jn] * math.pi < math.pi * ref * ref
            xr[jn] = nr if narrowed else 0.0
            xs[jn] = nsv if narrowed else 0.0
        drive = 0.0
        for v in range(nv):
            if parent[v0 + v] < 0:
                dd = abs(P_up[vb + v * ns] - pv)
                if dd > drive:
                    drive = dd
        relc = change / (drive if drive > 1e-12 else 1e-12)
        if relc <= lesion_tol:
            break
        if n_pass >= max_passes:
            if relc > rr:
                rr = relc
            break
    cum_r = 0.0
    cum_s = 0.0
    cur_v = -1
    for j in range(nl):
        jn = lb + j * ns
        v = les_v[l0 + j]
        if v != cur_v:
            cum_r = 0.0
            cum_s = 0.0
            cur_v = v
        q = Q[vb + v * ns]
        pu = P_up[vb + v * ns]
        p_les0[jn] = pu - q * (Rc0[jn] + cum_r) - q * abs(q) * cum_s
        cum_r += xr[jn]
        cum_s += xs[jn]
        p_les1[jn] = pu - q * (Rc1[jn] + cum_r) - q * abs(q) * cum_s
    for v in range(nv):
        if v_out[v0 + v] >= 0:
            p_out[ob + v_out[v0 + v] * ns] = P_down[vb + v * ns]
    return it, rr, n_pass


@njit(cache=True)
def _pre_one(c, tv_off, parent, v_out, tl_off, les_v, les_next, les_prev, les_len, les_band, les_slope, les_gap,
             les_wire, les_efs, law_c, case_tree, tc_off, cv_b, cl_b, co_b, mu, rho, kt, model, p_in, q_in, p_v, sev,
             newton_tol, max_iter, lesion_tol, max_passes, Q, P_up, P_down, p_les0, p_les1, r_mld, coef, p_out,
             work, lwork, iterations, residual, passes, lw, ll, lq, lm, lc):
    """_pre_case for case c on a contiguous copy of its rows (lw, ll, lq, lm, lc: scratch of the
    chunk): the sample-minor rows are n_cases apart, the Newton iterations stay in the L1 cache."""
    t = case_tree[c]
    ns = tc_off[t + 1] - tc_off[t]
    ic = c - tc_off[t]
    v0 = tv_off[t]
    nv = tv_off[t + 1] - v0
    l0 = tl_off[t]
    nl = tl_off[t + 1] - l0
    vb = cv_b[t] + ic
    lb = cl_b[t] + ic
    ob = co_b[t] + ic
    for v in range(nv):
        i = vb + v * ns
        lw[8, v] = work[8, i]
        lw[9, v] = work[9, i]
        lq[0, v] = Q[i]
    for j in range(nl):
        i = lb + j * ns
        for r in range(4):
            ll[r, j] = lwork[r, i]
        lm[0, j] = r_mld[i]
        lm[1, j] = sev[i]
    it, rel, n_pass = _pre_case(c, t, 1, 0, 0, 0, tv_off, parent, v_out, tl_off, les_v, les_next, les_prev, les_len,
                                les_band, les_slope, les_gap, les_wire, les_efs, law_c, mu, rho, kt, model, p_in,
                                q_in, p_v, lm[1], newton_tol, max_iter, lesion_tol, max_passes, lq[0], lq[1], lq[2],
                                lm[2], lm[3], lm[0], lc, lq[3], lw, ll)
    for v in range(nv):
        i = vb + v * ns
        Q[i] = lq[0, v]
        P_up[i] = lq[1, v]
        P_down[i] = lq[2, v]
        if v_out[v0 + v] >= 0:
            p_out[ob + v_out[v0 + v] * ns] = lq[3, v_out[v0 + v]]
    for j in range(nl):
        i = lb + j * ns
        p_les0[i] = lm[2, j]
        p_les1[i] = lm[3, j]
        coef[0, i] = lc[0, j]
        coef[1, i] = lc[1, j]
    iterations[c] = it
    residual[c] = rel
    passes[c] = n_pass


@njit(parallel=True, cache=True)
def _ensemble_steady_pre(tv_off, parent, v_out, v_st, st_fn, st_les, st_ed, ed_len, ed_r0, ed_d0, ed_l0, ed_r1,
                         ed_d1, ed_l1, fn_pc, pc_lo, pc_hi, pc_cf, cf, tl_off, les_v, les_next, les_prev, les_fn,
                         les_ref, les_dmax, les_cd, cd_a, cd_d, cd_l, les_len, les_band, les_slope, les_gap, les_wire,
                         les_efs, law_c, case_tree, tc_off, cv_b, cl_b, co_b, mu, rho, kt, model, p_in, q_in, p_v,
                         dr, sev, r_out, newton_tol, max_iter, lesion_tol, max_passes,
                         Q, P_up, P_down, p_les0, p_les1, r_mld, coef, p_out, work, lwork, iterations, residual,
                         passes):
    n_cases = case_tree.shape[0]
    # chunks of at most PRE_CHUNK consecutive cases of one tree
    n_chunks = 0
    for t in range(tc_off.shape[0] - 1):
        n_chunks += (tc_off[t + 1] - tc_off[t] + PRE_CHUNK - 1) // PRE_CHUNK
    lo = np.empty(n_chunks, dtype=np.int64)
    hi = np.empty(n_chunks, dtype=np.int64)
    q = 0
    for t in range(tc_off.shape[0] - 1):
        for c in range(tc_off[t], tc_off[t + 1], PRE_CHUNK):
            lo[q] = c
            hi[q] = min(c + PRE_CHUNK, tc_off[t + 1])
            q += 1
    nv_max = 1
    nl_max = 1
    for t in range(tv_off.shape[0] - 1):
        nv_max = max(nv_max, tv_off[t + 1] - tv_off[t])
        nl_max = max(nl_max, tl_off[t + 1] - tl_off[t])
    for q in prange(n_chunks):
        _pre_geometry(lo[q], hi[q], tv_off, parent, v_out, v_st, st_fn, st_les, st_ed, ed_len, ed_r0, ed_d0, ed_l0,
                      ed_r1, ed_d1, ed_l1, fn_pc, pc_lo, pc_hi, pc_cf, cf, tl_off, les_v, les_fn, les_ref, les_dmax,
                      les_cd, cd_a, cd_d, cd_l, case_tree, tc_off, cv_b, cl_b, co_b, mu, model, dr, sev, r_out, r_mld,
                      work, lwork)
        lw = np.empty((10, nv_max))
        ll = np.empty((8, nl_max))
        lq = np.empty((4, nv_max))
        lm = np.empty((4, nl_max))
        lc = np.empty((2, nl_max))
        for c in range(lo[q], hi[q]):
            _pre_one(c, tv_off, parent, v_out, tl_off, les_v, les_next, les_prev, les_len, les_band, les_slope,
                     les_gap, les_wire, les_efs, law_c, case_tree, tc_off, cv_b, cl_b, co_b, mu, rho, kt, model, p_in,
                     q_in, p_v, sev, newton_tol, max_iter, lesion_tol, max_passes, Q, P_up, P_down, p_les0, p_les1,
                     r_mld, coef, p_out, work, lwork, iterations, residual, passes, lw, ll, lq, lm, lc)


def ensemble_steady_pre(tv_off, parent, v_out, v_st, st_fn, st_les, st_ed, ed_len, ed_r0, ed_d0, ed_l0, ed_r1,
                        ed_d1, ed_l1, fn_pc, pc_lo, pc_hi, pc_cf, cf, tl_off, les_v, les_next, les_prev, les_fn,
                        les_ref, les_dmax, les_cd, cd_a, cd_d, cd_l, les_len, les_band, les_slope, les_gap, les_wire,
                        les_efs, law_c, case_tree, tc_off, cv_b, cl_b, co_b, mu, rho, kt, model, p_in, q_in, p_v,
                        dr, sev, r_out, newton_tol, max_iter, lesion_tol, max_passes,
                        Q, P_up, P_down, p_les0, p_les1, r_mld, coef, p_out, work, lwork, iterations, residual,
                        passes):
    """Numba twin of :func:`ffrflow.kernels.reference.ensemble_steady_pre` (one case per thread)."""
    _ensemble_steady_pre(tv_off, parent, v_out, v_st, st_fn, st_les, st_ed, ed_len, ed_r0, ed_d0, ed_l0, ed_r1,
                         ed_d1, ed_l1, fn_pc, pc_lo, pc_hi, pc_cf, cf, tl_off, les_v, les_next, les_prev, les_fn,
                         les_ref, les_dmax, les_cd, cd_a, cd_d, cd_l, les_len, les_band, les_slope, les_gap, les_wire,
                         les_efs, law_c, case_tree, tc_off, cv_b, cl_b, co_b, mu, rho, kt, model, p_in, q_in, p_v,
                         dr, sev, r_out, float(newton_tol), int(max_iter), float(lesion_tol), int(max_passes),
                         Q, P_up, P_down, p_les0, p_les1, r_mld, coef, p_out, work, lwork, iterations, residual,
                         passes)
    return Q, P_up, P_down, p_les0, p_les1, r_mld, coef, p_out, iterations, residual, passes

# ---------------------------------------------------------------------------------------------
# Pulsatile 1D: the scalar node/outlet functions are compiled from the same source the NumPy
# reference runs (kernels/_pulsatile_scalar.py); cell updates are explicit loops; one case per thread.
# ---------------------------------------------------------------------------------------------
from . import _pulsatile_scalar as _src  # noqa: E402

_tube_pressure = njit(cache=True)(_src.tube_pressure)
_src_wave_speed = njit(cache=True)(_src.wave_speed)
_src_phi = njit(cache=True)(_src.phi)
_wave_value = njit(cache=True)(_src.wave_value)


def _rebind(fn, **names):
    """Compile a scalar function with its module globals replaced by compiled twins."""
    g = dict(fn.__globals__)
    g.update(names)
    return njit(cache=True)(types.FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__, fn.__closure__))


_port_invariant = _rebind(_src.port_invariant, phi=_src_phi, wave_speed=_src_wave_speed)
_port_solve = _rebind(_src.port_solve, phi=_src_phi, wave_speed=_src_wave_speed)
_port_update = _rebind(_src.port_update, port_solve=_port_solve)
_node_solve_one = _rebind(_src.node_solve_one, port_invariant=_port_invariant, port_update=_port_update,
                          wave_value=_wave_value)
_lpm_step = _rebind(_src.lpm_step, wave_value=_wave_value)


@njit(cache=True)
def _advance_case(c, n_steps, t0, dt, sample_every, case_piece_off, case_node_off, case_lpm_off,
                  piece_cell_off, piece_dx, piece_case, A, Q, A0, beta, p0, rho, kr, alpha, Af, Qf,
                  node_port_off, node_type, node_val, node_wave, node_lpm, node_P,
                  port_piece, port_side, port_R, port_S, port_L, port_q, port_W,
                  lpm_port, lpm_type, lpm_R2, lpm_R3, lpm_C1, lpm_C2, lpm_pv, lpm_pim_wave, lpm_pim_scale,
                  lpm_P1, lpm_P2, wave_off, wave_t, wave_v, wave_period,
                  acc_cell_P, acc_cell_Q, acc_node_P, acc_port_q, acc_port_P, wf_cell_P, wf_cell_Q, wf_node_P,
                  Pf):
    pa, pb = case_piece_off[c], case_piece_off[c + 1]
    na, nb = case_node_off[c], case_node_off[c + 1]
    la, lb = case_lpm_off[c], case_lpm_off[c + 1]
    r = rho[c]
    k_r = kr[c]
    al = alpha[c]
    ca, cb = piece_cell_off[pa], piece_cell_off[pb]
    for step in range(n_steps):
        t = t0 + step * dt
        # predictor at interior faces
        for p in range(pa, pb):
            c0 = piece_cell_off[p]
            c1 = piece_cell_off[p + 1]
            h = dt / piece_dx[p]
            for i in range(c0 + 1, c1):
                l = i - 1
                PL = p0[l] + beta[l] * (1.0 - math.sqrt(A0[l] / A[l]))
                PR = p0[i] + beta[i] * (1.0 - math.sqrt(A0[i] / A[i]))
                Ab = 0.5 * (A[l] + A[i])
                Qb = 0.5 * (Q[l] + Q[i])
                f = i + p
                Af[f] = Ab - 0.5 * h * (Q[i] - Q[l])
                Qf[f] = (Qb - 0.5 * h * (al * Q[i] * Q[i] / A[i] - al * Q[l] * Q[l] / A[l])
                         - 0.5 * h * Ab / r * (PR - PL) - 0.5 * dt * k_r * Qb / Ab)
        for n in range(na, nb):
            _node_solve_one(n, t + 0.5 * dt, dt, node_port_off, node_type, node_val, node_wave, node_lpm, node_P,
                            port_piece, port_side, port_R, port_S, port_L, port_q, port_W,
                            piece_cell_off, piece_dx, piece_case, A, Q, A0, beta, p0, rho, kr,
                            wave_off, wave_t, wave_v, wave_period, lpm_P1, Af, Qf)
        # corrector
        for p in range(pa, pb):
            c0 = piece_cell_off[p]
            c1 = piece_cell_off[p + 1]
            h = dt / piece_dx[p]
            for i in range(c0, c1):
                lf = i + p
                rf = lf + 1
                if i == c0:
                    Pl = p0[i] + beta[i] * (1.0 - math.sqrt(A0[i] / Af[lf]))
                else:
                    a0m = 0.5 * (A0[i - 1] + A0[i])
                    Pl = 0.5 * (p0[i - 1] + p0[i]) + 0.5 * (beta[i - 1] + beta[i]) * (1.0 - math.sqrt(a0m / Af[lf]))
                if i == c1 - 1:
                    Pr = p0[i] + beta[i] * (1.0 - math.sqrt(A0[i] / Af[rf]))
                else:
                    a0m = 0.5 * (A0[i] + A0[i + 1])
                    Pr = 0.5 * (p0[i] + p0[i + 1]) + 0.5 * (beta[i] + beta[i + 1]) * (1.0 - math.sqrt(a0m / Af[rf]))
                Ah = 0.5 * (Af[lf] + Af[rf])
                Qh = 0.5 * (Qf[lf] + Qf[rf])
                A_new = A[i] - h * (Qf[rf] - Qf[lf])
                Q_new = (Q[i] - h * al * (Qf[rf] * Qf[rf] / Af[rf] - Qf[lf] * Qf[lf] / Af[lf])
                         - h * Ah / r * (Pr - Pl) - dt * k_r * Qh / Ah)
                A[i] = A_new
                Q[i] = Q_new
        for j in range(la, lb):
            _lpm_step(j, t + dt, dt, port_q[lpm_port[j]], lpm_type, lpm_R2, lpm_R3, lpm_C1, lpm_C2, lpm_pv,
                      lpm_pim_wave, lpm_pim_scale, lpm_P1, lpm_P2, wave_off, wave_t, wave_v, wave_period)
        sample = sample_every > 0 and (step + 1) % sample_every == 0
        row = (step + 1) // sample_every - 1 if sample_every > 0 else 0
        if sample and row >= wf_cell_P.shape[0]:
            sample = False
        for i in range(ca, cb):
            Pn = p0[i] + beta[i] * (1.0 - math.sqrt(A0[i] / A[i]))
            acc_cell_P[i] += Pn
            acc_cell_Q[i] += Q[i]
            if sample:
                wf_cell_P[row, i] = Pn
                wf_cell_Q[row, i] = Q[i]
        for n in range(na, nb):
            acc_node_P[n] += node_P[n]
            if sample:
                wf_node_P[row, n] = node_P[n]
            for k in range(node_port_off[n], node_port_off[n + 1]):
                acc_port_q[k] += port_q[k]
                p = port_piece[k]
                if port_side[k] == 1:
                    ic = piece_cell_off[p + 1] - 1
                    face = piece_cell_off[p + 1] + p
                else:
                    ic = piece_cell_off[p]
                    face = piece_cell_off[p] + p
                acc_port_P[k] += p0[ic] + beta[ic] * (1.0 - math.sqrt(A0[ic] / Af[face]))


@njit(parallel=True, cache=True)
def _pulsatile_advance(n_steps, t0, dt, sample_every, case_piece_off, case_node_off, case_lpm_off,
                       piece_cell_off, piece_dx, piece_case, A, Q, A0, beta, p0, rho, kr, alpha, Af, Qf,
                       node_port_off, node_type, node_val, node_wave, node_lpm, node_P,
                       port_piece, port_side, port_R, port_S, port_L, port_q, port_W,
                       lpm_port, lpm_type, lpm_R2, lpm_R3, lpm_C1, lpm_C2, lpm_pv, lpm_pim_wave, lpm_pim_scale,
                       lpm_P1, lpm_P2, wave_off, wave_t, wave_v, wave_period,
                       acc_cell_P, acc_cell_Q, acc_node_P, acc_port_q, acc_port_P, wf_cell_P, wf_cell_Q, wf_node_P):
    n_cases = case_piece_off.shape[0] - 1
    Pf = np.empty(1)
    for c in prange(n_cases):
        _advance_case(c, n_steps, t0, dt, sample_every, case_piece_off, case_node_off, case_lpm_off,
                      piece_cell_off, piece_dx, piece_case, A, Q, A0, beta, p0, rho, kr, alpha, Af, Qf,
                      node_port_off, node_type, node_val, node_wave, node_lpm, node_P,
                      port_piece, port_side, port_R, port_S, port_L, port_q, port_W,
                      lpm_port, lpm_type, lpm_R2, lpm_R3, lpm_C1, lpm_C2, lpm_pv, lpm_pim_wave, lpm_pim_scale,
                      lpm_P1, lpm_P2, wave_off, wave_t, wave_v, wave_period,
                      acc_cell_P, acc_cell_Q, acc_node_P, acc_port_q, acc_port_P, wf_cell_P, wf_cell_Q, wf_node_P,
                      Pf)


def pulsatile_advance(n_steps, t0, dt, sample_every, case_piece_off, case_node_off, case_lpm_off,
                      piece_cell_off, piece_dx, piece_case, A, Q, A0, beta, p0, rho, kr, alpha, Af, Qf,
                      node_port_off, node_type, node_val, node_wave, node_lpm, node_P,
                      port_piece, port_side, port_R, port_S, port_L, port_q, port_W,
                      lpm_port, lpm_type, lpm_R2, lpm_R3, lpm_C1, lpm_C2, lpm_pv, lpm_pim_wave, lpm_pim_scale,
                      lpm_P1, lpm_P2, wave_off, wave_t, wave_v, wave_period,
                      acc_cell_P, acc_cell_Q, acc_node_P, acc_port_q, acc_port_P, wf_cell_P, wf_cell_Q, wf_node_P):
    """Numba twin of :func:`ffrflow.kernels.reference.pulsatile_advance` (one case per thread)."""
    _pulsatile_advance(int(n_steps), float(t0), float(dt), int(sample_every), case_piece_off, case_node_off,
                       case_lpm_off, piece_cell_off, piece_dx, piece_case, A, Q, A0, beta, p0, rho, kr, alpha, Af, Qf,
                       node_port_off, node_type, node_val, node_wave, node_lpm, node_P,
                       port_piece, port_side, port_R, port_S, port_L, port_q, port_W,
                       lpm_port, lpm_type, lpm_R2, lpm_R3, lpm_C1, lpm_C2, lpm_pv, lpm_pim_wave, lpm_pim_scale,
                       lpm_P1, lpm_P2, wave_off, wave_t, wave_v, wave_period,
                       acc_cell_P, acc_cell_Q, acc_node_P, acc_port_q, acc_port_P, wf_cell_P, wf_cell_Q, wf_node_P)

from .cpu_lumped import *  # noqa
