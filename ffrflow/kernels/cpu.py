"""Numba CPU kernels: ``@njit(parallel=True, cache=True)`` twins of :mod:`ffrflow.kernels.reference`.

Same names, same signatures, same results (to round-off); see the reference module for the
equations and the array layout. Batched kernels run one case per thread (``prange`` over cases).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def _segment_resistance(r0, r1, length, mu, out):
    for i in prange(out.shape[0]):
        a = r0[i]
        b = r1[i]
        out[i] = 8.0 * mu[i] * length[i] * (a * a + a * b + b * b) / (3.0 * math.pi * a ** 3 * b ** 3)


def segment_resistance(r0_m, r1_m, length_m, mu_pa_s, out):
    """Numba twin of :func:`ffrflow.kernels.reference.segment_resistance`."""
    r0 = np.ascontiguousarray(r0_m, dtype=np.float64).ravel()
    r1 = np.ascontiguousarray(r1_m, dtype=np.float64).ravel()
    length = np.ascontiguousarray(length_m, dtype=np.float64).ravel()
    mu = np.ascontiguousarray(np.broadcast_to(np.asarray(mu_pa_s, dtype=np.float64), r0.shape))
    flat = out.reshape(-1)
    _segment_resistance(r0, r1, length, mu, flat)
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


def tree_newton(offsets, parent, R, S, R_out, root_p, root_q, p_venous, tol, max_iter,
                Q, P_up, P_down, work, iterations, residual):
    """Numba twin of :func:`ffrflow.kernels.reference.tree_newton` (one case per thread)."""
    _tree_newton(offsets, parent, R, S, R_out, root_p, root_q, p_venous, float(tol), int(max_iter),
                 Q, P_up, P_down, work, iterations, residual)
    return Q, P_up, P_down, iterations, residual


@njit(parallel=True, cache=True)
def _node_pressure(node_vessel, R_cum, S_cum, P_up, Q, out):
    for k in prange(node_vessel.shape[0]):
        v = node_vessel[k]
        q = Q[v]
        out[k] = P_up[v] - q * R_cum[k] - q * abs(q) * S_cum[k]


def node_pressure(node_vessel, R_cum, S_cum, P_up, Q, out):
    """Numba twin of :func:`ffrflow.kernels.reference.node_pressure`."""
    _node_pressure(node_vessel, R_cum, S_cum, P_up, Q, out)
    return out


@njit(cache=True)
def _frustum(r0, r1, length, mu):
    return 8.0 * mu * length * (r0 * r0 + r0 * r1 + r1 * r1) / (3.0 * math.pi * r0 ** 3 * r1 ** 3)


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
    yt = model[c] == 1
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
                inside = yt and les >= 0 and les == prev_les
                if not inside:
                    rc += _frustum(prev_r, rk, el_len[k], mu[c])
            if les >= 0:
                il = lb + les - l0
                if k == les_k0[les]:
                    Rc0[il] = rc
                    Sc0[il] = sc
                    r_mld[il] = rk
                elif rk < r_mld[il]:
                    r_mld[il] = rk
                if k == les_k1[les]:
                    ref = les_ref[les] + dr[i]
                    a0 = math.pi * ref * ref
                    a_s = math.pi * r_mld[il] * r_mld[il]
                    if a_s < a0:
                        f = (a0 / a_s - 1.0) ** 2
                        if model[c] == 2:
                            rc += lesion_coef[il, 0]
                            sc += lesion_coef[il, 1]
                        else:
                            sc += kt[c] * rho[c] / (2.0 * a0 * a0) * f
                        if yt:
                            ls = 0.0
                            for kk in range(les_k0[les] + 1, k + 1):
                                ls += el_len[kk]
                            kv = 32.0 * (0.83 * ls + 1.64 * 2.0 * r_mld[il]) * (a0 / a_s) ** 2 / (2.0 * ref)
                            rc += kv * mu[c] / (a0 * 2.0 * ref)
                    Rc1[il] = rc
                    Sc1[il] = sc
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
    import types

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
