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
            aq = abs(q)
            r = R[i] + 2.0 * S[i] * aq
            c = -S[i] * q * aq
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
            p = parent[i]
            if p >= 0:
                sI[p] += 1.0 / b[i]
                sA[p] += a[i] / b[i]
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
            Q[i] = qn
            P_up[i] = pu
            P_down[i] = A[i] + B[i] * qn
        res = 0.0
        drive = 0.0
        for i in range(lo, hi):
            q = Q[i]
            e = abs(P_up[i] - P_down[i] - (R[i] * q + S[i] * q * abs(q)))
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
