"""Numba kernels of the lumped (0D) solver: twins of :mod:`ffrflow.kernels.reference_lumped`.

Same name, same signature, same results (to round-off); the equations, the flat array layout and
the time integration are documented in :mod:`ffrflow.kernels.reference_lumped` and
:mod:`ffrflow.cfd.lumped`.

Structure (written to be ported to CUDA as it is): :func:`_case` integrates *one* case from its
initial state to the end of the run using only scalar loops over the case's slice of the flat arrays
and its rows of the two scratch arrays (no allocation, no recursion, no Python objects); the public
kernel runs one case per thread (``prange`` over cases). A CUDA port maps one thread to one call of
:func:`_case` (``__host__ __device__`` in a header, the ``__global__`` wrapper maps threads to cases).

Each Newton iteration solves the linearised tree network exactly in O(n), without a matrix: an
upward sweep reduces every element (vessel or junction branch) to one affine relation
``alpha dP + beta dQ = gamma`` between the increments at its inlet (children in parallel at
junctions; the internal variable of a boundary condition eliminated locally), and a downward sweep
from the inlet boundary condition recovers every increment. This is the same linear solve that a
sparse LU of the global Jacobian performs (the NumPy reference does exactly that), in a fixed,
branch-free order that suits one GPU thread per case.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .codes import (INFO_CYCLE_TO_CYCLE_ERROR, INFO_CYCLES, INFO_FAILURE_TIME, INFO_NEWTON_ITERATIONS, INFO_RESIDUAL,
                    INFO_ROWS, INFO_STEPS, OUTPUT_ALL, OUTPUT_LAST, OUTPUT_MEAN, SIM_CYCLE_TO_CYCLE, SIM_CYCLES,
                    SIM_MAX_EXTRA_CYCLES, SIM_MAX_NEWTON, SIM_OUTPUT_MODE, SIM_POINTS_PER_CYCLE, SIM_STEADY_INITIAL,
                    SIM_VARRES_ABSOLUTE_TIME, SIMF_ABSOLUTE_TOLERANCE, SIMF_CYCLE_TO_CYCLE_TOLERANCE, SIMF_PERIOD,
                    SIMF_RHO_INFTY, STATUS_CYCLES_NOT_CONVERGED, STATUS_NEWTON_FAILED, STATUS_OK, STATUS_SINGULAR)

__all__ = ["lumped_integrate"]

# boundary-condition type codes (same as ffrflow.kernels.reference_lumped)
_FLOW, _PRESSURE, _RESISTANCE, _RCR, _CORONARY, _CORONARY_VR = 0, 1, 2, 3, 4, 5
# work columns per element
_Y, _YD, _YO, _YDO = 0, 4, 8, 12   # y_{n+1}, ydot_{n+1}, y_n, ydot_n: (Pi, Qi, Po, Qo)
_J = 16      # Jacobian rows: [J00 J01 J02 J03 J10 J11 J12 J13] on (dPi, dQi, dPo, dQo)
_R = 24      # residuals -f0, -f1
_RIN = 26    # inlet relation (alpha, beta, gamma)
_ROUT = 29   # outlet relation
_RP = 32     # -f of the junction pressure equation at this element's inlet
_RM = 33     # -f of the junction mass equation at this element's outlet
_KMIN = 34   # child that takes the remainder flow (smallest |beta|)
_D = 35      # increments of ydot: dPi, dQi, dPo, dQo
_CAP = 39    # cycle sums at the cap: P current, Q current, P previous, Q previous
_MEAN = 43   # trapezoid accumulators of the cycle mean (4)
W_EL = 48
# bwork columns per boundary condition
_BP = 0      # parameter values at the current time (10)
_BZ, _BZD, _BZO, _BZDO = 10, 11, 12, 13
_BROW = 14   # jp0 jq0 jz0 r0 jp1 jq1 jz1 r1
_BNROW = 22
_BREL = 23   # reduced relation (alpha, beta, gamma) on the node increments
_BAUX = 26   # Pim_0, P_Cim_0 (open-loop coronary offsets), Ram(t)
_BDZ = 29    # increment of the internal variable
W_BC = 32
NPAR = 10
_SINGULAR = 1e-13
#: A Newton iteration that stalls below _STALL x tolerance is at the round-off floor and is accepted.
_STALL = 100.0


@njit(cache=True)
def _param(tab, t, steady, tab_off, tab_t, tab_v, tab_mean, tab_period):
    """Parameter table ``tab`` at time ``t``: periodic linear interpolation (svZeroDSolver's rule)."""
    if tab < 0:
        return 0.0
    a = tab_off[tab]
    b = tab_off[tab + 1]
    if b - a == 1:
        return tab_v[a]
    if steady:
        return tab_mean[tab]
    rt = np.fmod(t, tab_period[tab])
    lo = a
    hi = b
    while lo < hi:  # lower bound: first k with t[k] >= rt
        mid = (lo + hi) // 2
        if tab_t[mid] < rt:
            lo = mid + 1
        else:
            hi = mid
    k = lo
    if k >= b:
        k = b - 1
    elif tab_t[k] == rt:
        return tab_v[k]
    m = k - 1 if k > a else a + 1
    return tab_v[m] + (tab_v[k] - tab_v[m]) / (tab_t[k] - tab_t[m]) * (rt - tab_t[m])


@njit(cache=True)
def _ram_varres(tc, ram_min, ram_max, tvc, tvr):
    """Time-varying microvascular resistance of CORONARY_VAR_RES at cycle time ``tc``."""
    if tc <= tvc:
        e = 0.5 * (1.0 - math.cos(math.pi * tc / tvc))
    elif tc <= tvc + tvr:
        e = 0.5 * (1.0 + math.cos(math.pi * (tc - tvc) / tvr))
    else:
        e = 0.0
    s0 = math.sqrt(ram_min)
    s = s0 + (math.sqrt(ram_max) - s0) * e
    return s * s


@njit(cache=True)
def _sgn(x):
    if x > 0.0:
        return 1.0
    if x < 0.0:
        return -1.0
    return 0.0


@njit(cache=True)
def _bc_params(b0, b1, t, steady, vr_mode, period, bc_type, bc_tab, tab_off, tab_t, tab_v, tab_mean,
               tab_period, bwork):
    for b in range(b0, b1):
        for j in range(NPAR):
            bwork[b, _BP + j] = _param(bc_tab[b, j], t, steady, tab_off, tab_t, tab_v, tab_mean, tab_period)
        if bc_type[b] == _CORONARY_VR:
            if steady:
                bwork[b, _BAUX + 2] = bwork[b, _BP + 1]
            else:
                tc = np.fmod(t, period) if not vr_mode else t  # vr_mode: sim_i[SIM_VARRES_ABSOLUTE_TIME]
                bwork[b, _BAUX + 2] = _ram_varres(tc, bwork[b, _BP + 1], bwork[b, _BP + 2], bwork[b, _BP + 8],
                                                  bwork[b, _BP + 9])


@njit(cache=True)
def _assemble(e0, e1, b0, b1, steady, alf, am, af, el_parent, ch_off, ch_idx, el_R, el_C, el_L, el_S,
              el_bc_in, bc_type, bc_el, work, bwork):
    """Residuals (-f) and Jacobian rows of every equation of one case; returns max |f|."""
    res = 0.0
    for e in range(e0, e1):
        Pi = work[e, _YO + 0] + alf * (work[e, _Y + 0] - work[e, _YO + 0])
        Qi = work[e, _YO + 1] + alf * (work[e, _Y + 1] - work[e, _YO + 1])
        Po = work[e, _YO + 2] + alf * (work[e, _Y + 2] - work[e, _YO + 2])
        Qo = work[e, _YO + 3] + alf * (work[e, _Y + 3] - work[e, _YO + 3])
        dPi = work[e, _YDO + 0] + am * (work[e, _YD + 0] - work[e, _YDO + 0])
        dQi = work[e, _YDO + 1] + am * (work[e, _YD + 1] - work[e, _YDO + 1])
        dQo = work[e, _YDO + 3] + am * (work[e, _YD + 3] - work[e, _YDO + 3])
        R = el_R[e]
        C = el_C[e]
        L = el_L[e]
        S = el_S[e]
        aq = abs(Qi)
        f0 = Pi - Po - (R + S * aq) * Qi - L * dQo
        f1 = Qi - Qo - C * dPi + C * (R + 2.0 * S * aq) * dQi
        work[e, _J + 0] = af
        work[e, _J + 1] = -af * (R + 2.0 * S * aq)
        work[e, _J + 2] = -af
        work[e, _J + 3] = -am * L
        work[e, _J + 4] = -am * C
        work[e, _J + 5] = af * (1.0 + 2.0 * C * S * _sgn(Qi) * dQi) + am * C * (R + 2.0 * S * aq)
        work[e, _J + 6] = 0.0
        work[e, _J + 7] = -af
        work[e, _R + 0] = -f0
        work[e, _R + 1] = -f1
        res = max(res, abs(f0), abs(f1))
        p = el_parent[e]
        if p >= 0:
            Pop = work[p, _YO + 2] + alf * (work[p, _Y + 2] - work[p, _YO + 2])
            fp = Pop - Pi
            work[e, _RP] = -fp
            res = max(res, abs(fp))
        else:
            work[e, _RP] = 0.0
        if ch_off[e + 1] > ch_off[e]:
            fm = Qo
            for j in range(ch_off[e], ch_off[e + 1]):
                k = ch_idx[j]
                fm -= work[k, _YO + 1] + alf * (work[k, _Y + 1] - work[k, _YO + 1])
            work[e, _RM] = -fm
            res = max(res, abs(fm))
        else:
            work[e, _RM] = 0.0
    for b in range(b0, b1):
        e = bc_el[b]
        ip = 0 if el_bc_in[e] == b else 2
        P = work[e, _YO + ip] + alf * (work[e, _Y + ip] - work[e, _YO + ip])
        Q = work[e, _YO + ip + 1] + alf * (work[e, _Y + ip + 1] - work[e, _YO + ip + 1])
        dP = work[e, _YDO + ip] + am * (work[e, _YD + ip] - work[e, _YDO + ip])
        dQ = work[e, _YDO + ip + 1] + am * (work[e, _YD + ip + 1] - work[e, _YDO + ip + 1])
        z = bwork[b, _BZO] + alf * (bwork[b, _BZ] - bwork[b, _BZO])
        dz = bwork[b, _BZDO] + am * (bwork[b, _BZD] - bwork[b, _BZDO])
        t = bc_type[b]
        jp0 = 0.0
        jq0 = 0.0
        jz0 = 0.0
        f0 = 0.0
        jp1 = 0.0
        jq1 = 0.0
        jz1 = 0.0
        f1 = 0.0
        nrow = 1
        if t == _FLOW:
            f0 = Q - bwork[b, _BP + 0]
            jq0 = af
        elif t == _PRESSURE:
            f0 = P - bwork[b, _BP + 0]
            jp0 = af
        elif t == _RESISTANCE:
            Rb = bwork[b, _BP + 0]
            f0 = P - Rb * Q - bwork[b, _BP + 1]
            jp0 = af
            jq0 = -af * Rb
        elif t == _RCR:
            Rp = bwork[b, _BP + 0]
            Cw = 0.0 if steady else bwork[b, _BP + 1]
            Rd = bwork[b, _BP + 2]
            Pd = bwork[b, _BP + 3]
            nrow = 2
            f0 = P - Rp * Q - z
            jp0 = af
            jq0 = -af * Rp
            jz0 = -af
            f1 = Rd * Q - z + Pd - Rd * Cw * dz
            jq1 = af * Rd
            jz1 = -af - am * Rd * Cw
        else:  # open-loop coronary (Kim et al.), constant or time-varying Ram
            nrow = 2
            if t == _CORONARY:
                Ra = bwork[b, _BP + 0]
                Ram = bwork[b, _BP + 1]
                Rv = bwork[b, _BP + 2]
                Ca = bwork[b, _BP + 3]
                Cim = bwork[b, _BP + 4]
                Pim = bwork[b, _BP + 5]
                Pv = bwork[b, _BP + 6]
            else:
                Ra = bwork[b, _BP + 0]
                Ram = bwork[b, _BAUX + 2]
                Rv = bwork[b, _BP + 3]
                Ca = bwork[b, _BP + 4]
                Cim = bwork[b, _BP + 5]
                Pim = bwork[b, _BP + 6]
                Pv = bwork[b, _BP + 7]
            if steady:
                f0 = z
                jz0 = af
                Rt = Ra + Ram + Rv
                f1 = -P + Rt * Q + Pv
                jp1 = -af
                jq1 = af * Rt
            else:
                pim0 = bwork[b, _BAUX + 0]
                pc0 = bwork[b, _BAUX + 1]
                CR = Cim * Rv
                f0 = (CR * Q - z - Ca * CR * dP + Ra * Ca * CR * dQ - CR * dz
                      + Cim * (-Pim + Pv + pim0 - pc0))
                jp0 = -am * Ca * CR
                jq0 = af * CR + am * Ra * Ca * CR
                jz0 = -af - am * CR
                f1 = (CR * P - CR * Ra * Q - (Rv + Ram) * z - CR * Ram * dz + Ram * Cim * Pv
                      - Cim * (Rv + Ram) * (Pim + pc0 - pim0))
                jp1 = af * CR
                jq1 = -af * CR * Ra
                jz1 = -af * (Rv + Ram) - am * CR * Ram
        bwork[b, _BROW + 0] = jp0
        bwork[b, _BROW + 1] = jq0
        bwork[b, _BROW + 2] = jz0
        bwork[b, _BROW + 3] = -f0
        bwork[b, _BROW + 4] = jp1
        bwork[b, _BROW + 5] = jq1
        bwork[b, _BROW + 6] = jz1
        bwork[b, _BROW + 7] = -f1
        bwork[b, _BNROW] = nrow
        res = max(res, abs(f0))
        if nrow == 2:
            res = max(res, abs(f1))
            a_ = jz1 * jp0 - jz0 * jp1
            b_ = jz1 * jq0 - jz0 * jq1
            g_ = jz1 * (-f0) - jz0 * (-f1)
        else:
            a_ = jp0
            b_ = jq0
            g_ = -f0
        m = max(abs(a_), abs(b_))
        if m > 0.0:
            a_ /= m
            b_ /= m
            g_ /= m
        bwork[b, _BREL + 0] = a_
        bwork[b, _BREL + 1] = b_
        bwork[b, _BREL + 2] = g_
    return res


@njit(cache=True)
def _bc_dz(b, dP, dQ, bwork):
    """Increment of the internal variable of boundary condition ``b`` given its node increments."""
    if bwork[b, _BNROW] < 2:
        bwork[b, _BDZ] = 0.0
        return
    jz0 = bwork[b, _BROW + 2]
    jz1 = bwork[b, _BROW + 6]
    if abs(jz0) >= abs(jz1):
        bwork[b, _BDZ] = (bwork[b, _BROW + 3] - bwork[b, _BROW + 0] * dP - bwork[b, _BROW + 1] * dQ) / jz0
    else:
        bwork[b, _BDZ] = (bwork[b, _BROW + 7] - bwork[b, _BROW + 4] * dP - bwork[b, _BROW + 5] * dQ) / jz1


@njit(cache=True)
def _solve_tree(e0, e1, af, el_parent, ch_off, ch_idx, el_bc_in, el_bc_out, work, bwork):
    """Exact solve of the linearised network (upward reduction, downward recovery); False if singular."""
    for e in range(e1 - 1, e0 - 1, -1):
        bo_ = el_bc_out[e]
        if bo_ >= 0:
            ao = bwork[bo_, _BREL + 0]
            bo = bwork[bo_, _BREL + 1]
            go = bwork[bo_, _BREL + 2]
            work[e, _KMIN] = -1.0
        else:
            A = 0.0
            B = 1.0
            G = 0.0
            kmin = -1
            bmin = 1e300
            for j in range(ch_off[e], ch_off[e + 1]):
                k = ch_idx[j]
                ak = work[k, _RIN + 0]
                bk = work[k, _RIN + 1]
                gk = work[k, _RIN + 2] + ak * work[k, _RP] / af
                A, B, G = A * bk + ak * B, B * bk, G * bk + gk * B
                m = max(abs(A), abs(B))
                if m > 0.0:
                    A /= m
                    B /= m
                    G /= m
                if abs(bk) < bmin:
                    bmin = abs(bk)
                    kmin = k
            ao = A
            bo = B
            go = G + B * work[e, _RM] / af
            work[e, _KMIN] = kmin
        work[e, _ROUT + 0] = ao
        work[e, _ROUT + 1] = bo
        work[e, _ROUT + 2] = go
        if ao == 0.0 and bo == 0.0:
            return False
        # eliminate (dPo, dQo) from the two element rows and the outlet relation
        s = max(abs(work[e, _J + 2]), abs(work[e, _J + 3]))
        J00 = work[e, _J + 0] / s
        J01 = work[e, _J + 1] / s
        J02 = work[e, _J + 2] / s
        J03 = work[e, _J + 3] / s
        r0 = work[e, _R + 0] / s
        s = max(abs(work[e, _J + 6]), abs(work[e, _J + 7]))
        J10 = work[e, _J + 4] / s
        J11 = work[e, _J + 5] / s
        J12 = work[e, _J + 6] / s
        J13 = work[e, _J + 7] / s
        r1 = work[e, _R + 1] / s
        w0 = J12 * bo - ao * J13
        w1 = ao * J03 - J02 * bo
        w2 = J02 * J13 - J12 * J03
        a_ = w0 * J00 + w1 * J10
        b_ = w0 * J01 + w1 * J11
        g_ = w0 * r0 + w1 * r1 + w2 * go
        m = max(abs(a_), abs(b_))
        if m == 0.0:
            return False
        work[e, _RIN + 0] = a_ / m
        work[e, _RIN + 1] = b_ / m
        work[e, _RIN + 2] = g_ / m
    for e in range(e0, e1):
        if el_parent[e] < 0:
            bi = el_bc_in[e]
            a_ = work[e, _RIN + 0]
            b_ = work[e, _RIN + 1]
            g_ = work[e, _RIN + 2]
            ab = bwork[bi, _BREL + 0]
            bb = bwork[bi, _BREL + 1]
            gb = bwork[bi, _BREL + 2]
            det = a_ * bb - b_ * ab
            if abs(det) < _SINGULAR:
                return False
            dPi = (g_ * bb - b_ * gb) / det
            dQi = (a_ * gb - g_ * ab) / det
            work[e, _D + 0] = dPi
            work[e, _D + 1] = dQi
            _bc_dz(bi, dPi, dQi, bwork)
        dPi = work[e, _D + 0]
        dQi = work[e, _D + 1]
        # three equations in (dPo, dQo); take the best-conditioned pair
        c00 = work[e, _J + 2]
        c01 = work[e, _J + 3]
        h0 = work[e, _R + 0] - work[e, _J + 0] * dPi - work[e, _J + 1] * dQi
        s = max(abs(c00), abs(c01))
        c00 /= s
        c01 /= s
        h0 /= s
        c10 = work[e, _J + 6]
        c11 = work[e, _J + 7]
        h1 = work[e, _R + 1] - work[e, _J + 4] * dPi - work[e, _J + 5] * dQi
        s = max(abs(c10), abs(c11))
        c10 /= s
        c11 /= s
        h1 /= s
        c20 = work[e, _ROUT + 0]
        c21 = work[e, _ROUT + 1]
        h2 = work[e, _ROUT + 2]
        d01 = c00 * c11 - c01 * c10
        d02 = c00 * c21 - c01 * c20
        d12 = c10 * c21 - c11 * c20
        if abs(d01) >= abs(d02) and abs(d01) >= abs(d12):
            dPo = (h0 * c11 - c01 * h1) / d01
            dQo = (c00 * h1 - h0 * c10) / d01
        elif abs(d02) >= abs(d12):
            dPo = (h0 * c21 - c01 * h2) / d02
            dQo = (c00 * h2 - h0 * c20) / d02
        else:
            if d12 == 0.0:
                return False
            dPo = (h1 * c21 - c11 * h2) / d12
            dQo = (c10 * h2 - h1 * c20) / d12
        work[e, _D + 2] = dPo
        work[e, _D + 3] = dQo
        bo_ = el_bc_out[e]
        if bo_ >= 0:
            _bc_dz(bo_, dPo, dQo, bwork)
        else:
            kmin = int(work[e, _KMIN])
            total = dQo - work[e, _RM] / af
            other = 0.0
            for j in range(ch_off[e], ch_off[e + 1]):
                k = ch_idx[j]
                dp = dPo - work[k, _RP] / af
                work[k, _D + 0] = dp
                if k != kmin:
                    dq = (work[k, _RIN + 2] - work[k, _RIN + 0] * dp) / work[k, _RIN + 1]
                    work[k, _D + 1] = dq
                    other += dq
            work[kmin, _D + 1] = total - other
    return True


@njit(cache=True)
def _step(c, t, dt, steady, alf, am, gam, atol, max_iter, vr_mode, period, e0, e1, b0, b1,
          el_parent, ch_off, ch_idx, el_R, el_C, el_L, el_S, el_bc_in, el_bc_out,
          bc_type, bc_el, bc_tab, tab_off, tab_t, tab_v, tab_mean, tab_period, work, bwork, info_f):
    """One generalized-alpha step with Newton iterations; returns (code, iterations)."""
    c_pred = 1.0 - 1.0 / gam
    for e in range(e0, e1):
        for k in range(4):
            work[e, _YO + k] = work[e, _Y + k]
            work[e, _YDO + k] = work[e, _YD + k]
            work[e, _YD + k] = work[e, _YDO + k] * c_pred
    for b in range(b0, b1):
        bwork[b, _BZO] = bwork[b, _BZ]
        bwork[b, _BZDO] = bwork[b, _BZD]
        bwork[b, _BZD] = bwork[b, _BZDO] * c_pred
    _bc_params(b0, b1, t + alf * dt, steady, vr_mode, period, bc_type, bc_tab, tab_off, tab_t, tab_v, tab_mean,
               tab_period, bwork)
    af = alf * gam * dt
    ydc = gam * dt
    res_prev = math.inf
    for it in range(max_iter):
        res = _assemble(e0, e1, b0, b1, steady, alf, am, af, el_parent, ch_off, ch_idx, el_R, el_C, el_L, el_S,
                        el_bc_in, bc_type, bc_el, work, bwork)
        info_f[c, INFO_RESIDUAL] = res
        if res < atol:
            return STATUS_OK, it
        if it >= 2 and res < _STALL * atol and res > 0.5 * res_prev:
            return STATUS_OK, it  # stalled at the round-off floor of the equations, just above the tolerance
        res_prev = res
        if it == max_iter - 1 or not math.isfinite(res):
            return STATUS_NEWTON_FAILED, it
        if not _solve_tree(e0, e1, af, el_parent, ch_off, ch_idx, el_bc_in, el_bc_out, work, bwork):
            return STATUS_SINGULAR, it
        for e in range(e0, e1):
            for k in range(4):
                d = work[e, _D + k]
                work[e, _YD + k] += d
                work[e, _Y + k] += d * ydc
        for b in range(b0, b1):
            d = bwork[b, _BDZ]
            bwork[b, _BZD] += d
            bwork[b, _BZ] += d * ydc
    return STATUS_NEWTON_FAILED, max_iter


@njit(cache=True)
def _cap_add(e0, e1, el_cap, work, reset):
    for e in range(e0, e1):
        cap = el_cap[e]
        if cap == 0:
            continue
        ip = 0 if cap == 1 else 2
        if reset:
            work[e, _CAP + 2] = work[e, _CAP + 0]
            work[e, _CAP + 3] = work[e, _CAP + 1]
            work[e, _CAP + 0] = 0.0
            work[e, _CAP + 1] = 0.0
        work[e, _CAP + 0] += work[e, _Y + ip]
        work[e, _CAP + 1] += work[e, _Y + ip + 1]


@njit(cache=True)
def _rel_change(cur, prev):
    d = abs(cur - prev)
    if prev == 0.0:
        return math.nan if d == 0.0 else math.inf
    return abs((cur - prev) / prev)


@njit(cache=True)
def _cap_converged(e0, e1, el_cap, work, tol):
    worst = 0.0
    ok = True
    for e in range(e0, e1):
        if el_cap[e] == 0:
            continue
        eq = _rel_change(work[e, _CAP + 1], work[e, _CAP + 3])
        ep = _rel_change(work[e, _CAP + 0], work[e, _CAP + 2])
        if eq > tol or ep > tol:  # NaN compares false: 0/0 counts as converged, as in svZeroDSolver
            ok = False
        if eq == eq:
            worst = max(worst, eq)
        if ep == ep:
            worst = max(worst, ep)
    return ok, worst


@njit(cache=True)
def _write_row(c, row, e0, e1, out_off, out, work):
    n = e1 - e0
    base = out_off[c] + row * 4 * n
    if base + 4 * n > out_off[c + 1]:
        return False
    for e in range(e0, e1):
        for k in range(4):
            out[base + 4 * (e - e0) + k] = work[e, _Y + k]
    return True


@njit(cache=True)
def _mean_acc(e0, e1, work, w, reset):
    for e in range(e0, e1):
        for k in range(4):
            if reset:
                work[e, _MEAN + k] = 0.0
            work[e, _MEAN + k] += w * work[e, _Y + k]


@njit(cache=True)
def _case(c, el_off, el_parent, ch_off, ch_idx, el_R, el_C, el_L, el_S, el_bc_in, el_bc_out, el_cap,
          bc_off, bc_type, bc_el, bc_tab, tab_off, tab_t, tab_v, tab_mean, tab_period,
          sim_i, sim_f, el_y, el_yd, bc_y, bc_yd, bc_aux, out_off, out, status, info_i, info_f, work, bwork):
    """Integrate case ``c`` (steady initialisation, cycles, cycle-to-cycle check, output)."""
    e0 = el_off[c]
    e1 = el_off[c + 1]
    b0 = bc_off[c]
    b1 = bc_off[c + 1]
    n_cycles = sim_i[c, SIM_CYCLES]
    pts = sim_i[c, SIM_POINTS_PER_CYCLE]
    steady_init = sim_i[c, SIM_STEADY_INITIAL]
    max_iter = sim_i[c, SIM_MAX_NEWTON]
    mode = sim_i[c, SIM_OUTPUT_MODE]
    use_c2c = sim_i[c, SIM_CYCLE_TO_CYCLE]
    max_extra = sim_i[c, SIM_MAX_EXTRA_CYCLES]
    vr_mode = sim_i[c, SIM_VARRES_ABSOLUTE_TIME]
    period = sim_f[c, SIMF_PERIOD]
    atol = sim_f[c, SIMF_ABSOLUTE_TOLERANCE]
    rho = sim_f[c, SIMF_RHO_INFTY]
    c2c_tol = sim_f[c, SIMF_CYCLE_TO_CYCLE_TOLERANCE]
    am = 0.5 * (3.0 - rho) / (1.0 + rho)
    alf = 1.0 / (1.0 + rho)
    gam = 0.5 + am - alf
    for e in range(e0, e1):
        for k in range(4):
            work[e, _Y + k] = el_y[e, k]
            work[e, _YD + k] = el_yd[e, k]
        for k in range(4):
            work[e, _CAP + k] = 0.0
    for b in range(b0, b1):
        bwork[b, _BZ] = bc_y[b]
        bwork[b, _BZD] = bc_yd[b]
        bwork[b, _BAUX + 0] = 0.0
        bwork[b, _BAUX + 1] = 0.0
    status[c] = STATUS_OK
    n_newton = 0
    info_f[c, INFO_FAILURE_TIME] = math.nan
    if steady_init:
        dts = period / 10.0
        for i in range(31):
            code, it = _step(c, dts * i, dts, True, alf, am, gam, atol, max_iter, vr_mode, period, e0, e1, b0, b1,
                             el_parent, ch_off, ch_idx, el_R, el_C, el_L, el_S, el_bc_in, el_bc_out,
                             bc_type, bc_el, bc_tab, tab_off, tab_t, tab_v, tab_mean, tab_period, work, bwork, info_f)
            n_newton += it
            if code != STATUS_OK:
                status[c] = code
                info_f[c, INFO_FAILURE_TIME] = -dts * (i + 1)
                info_f[c, INFO_CYCLE_TO_CYCLE_ERROR] = math.nan  # no cycle ran (as the NumPy reference reports it)
                info_i[c, INFO_NEWTON_ITERATIONS] = n_newton
                return
    # offsets of the open-loop coronary boundary conditions from the initial state
    for b in range(b0, b1):
        tb = bc_type[b]
        if tb == _CORONARY or tb == _CORONARY_VR:
            e = bc_el[b]
            ip = 0 if el_bc_in[e] == b else 2
            if tb == _CORONARY:
                Ra = _param(bc_tab[b, 0], 0.0, steady_init, tab_off, tab_t, tab_v, tab_mean, tab_period)
                Ram = _param(bc_tab[b, 1], 0.0, steady_init, tab_off, tab_t, tab_v, tab_mean, tab_period)
                Ca = _param(bc_tab[b, 3], 0.0, steady_init, tab_off, tab_t, tab_v, tab_mean, tab_period)
                Pim = _param(bc_tab[b, 5], 0.0, steady_init, tab_off, tab_t, tab_v, tab_mean, tab_period)
            else:
                Ra = _param(bc_tab[b, 0], 0.0, steady_init, tab_off, tab_t, tab_v, tab_mean, tab_period)
                Ram = _param(bc_tab[b, 1], 0.0, steady_init, tab_off, tab_t, tab_v, tab_mean, tab_period)
                Ca = _param(bc_tab[b, 4], 0.0, steady_init, tab_off, tab_t, tab_v, tab_mean, tab_period)
                Pim = _param(bc_tab[b, 6], 0.0, steady_init, tab_off, tab_t, tab_v, tab_mean, tab_period)
            P = work[e, _Y + ip]
            Q = work[e, _Y + ip + 1]
            dP = work[e, _YD + ip]
            dQ = work[e, _YD + ip + 1]
            p_ca = P - Ra * Q
            q_am = Q - Ca * (dP - Ra * dQ)
            bwork[b, _BAUX + 0] = Pim
            bwork[b, _BAUX + 1] = p_ca - Ram * q_am
    for b in range(b0, b1):
        bc_aux[b, 0] = bwork[b, _BAUX + 0]
        bc_aux[b, 1] = bwork[b, _BAUX + 1]
    dt = period / (pts - 1)
    spc = pts - 1  # steps per cycle
    row = 0
    if mode == OUTPUT_ALL:
        _write_row(c, 0, e0, e1, out_off, out, work)
        row = 1
    elif mode == OUTPUT_MEAN:
        _mean_acc(e0, e1, work, 0.5, True)
    _cap_add(e0, e1, el_cap, work, True)
    total_cycles = n_cycles
    cycle = 0
    i = 0
    worst = math.nan
    while cycle < total_cycles:
        if mode == OUTPUT_LAST:  # the buffer holds one cycle; row 0 is the state at the start of this cycle
            _write_row(c, 0, e0, e1, out_off, out, work)
        for k in range(1, spc + 1):
            t = dt * i
            code, it = _step(c, t, dt, False, alf, am, gam, atol, max_iter, vr_mode, period, e0, e1, b0, b1,
                             el_parent, ch_off, ch_idx, el_R, el_C, el_L, el_S, el_bc_in, el_bc_out,
                             bc_type, bc_el, bc_tab, tab_off, tab_t, tab_v, tab_mean, tab_period, work, bwork, info_f)
            n_newton += it
            i += 1
            if code != STATUS_OK:
                status[c] = code
                info_f[c, INFO_FAILURE_TIME] = dt * i
                # the last cycle-to-cycle error before the failure (NaN if none)
                info_f[c, INFO_CYCLE_TO_CYCLE_ERROR] = worst
                info_i[c, INFO_STEPS] = i
                info_i[c, INFO_NEWTON_ITERATIONS] = n_newton
                info_i[c, INFO_CYCLES] = cycle
                info_i[c, INFO_ROWS] = row
                return
            if mode == OUTPUT_ALL:
                _write_row(c, row, e0, e1, out_off, out, work)
                row += 1
            elif mode == OUTPUT_LAST:
                _write_row(c, k, e0, e1, out_off, out, work)
            else:
                _mean_acc(e0, e1, work, 0.5 if k == spc else 1.0, False)
            _cap_add(e0, e1, el_cap, work, False)
        cycle += 1
        if mode == OUTPUT_MEAN:
            base = out_off[c]
            for e in range(e0, e1):
                for q in range(4):
                    out[base + 4 * (e - e0) + q] = work[e, _MEAN + q] / spc
            _mean_acc(e0, e1, work, 0.5, True)
        if use_c2c and cycle >= n_cycles and cycle >= 2:
            ok, worst = _cap_converged(e0, e1, el_cap, work, c2c_tol)
            if not ok:
                if cycle - n_cycles < max_extra:
                    total_cycles += 1
                else:
                    status[c] = STATUS_CYCLES_NOT_CONVERGED
        _cap_add(e0, e1, el_cap, work, True)
    if mode == OUTPUT_LAST:
        row = pts
    elif mode == OUTPUT_MEAN:
        row = 1
    for e in range(e0, e1):
        for k in range(4):
            el_y[e, k] = work[e, _Y + k]
            el_yd[e, k] = work[e, _YD + k]
    for b in range(b0, b1):
        bc_y[b] = bwork[b, _BZ]
        bc_yd[b] = bwork[b, _BZD]
    info_i[c, INFO_STEPS] = i
    info_i[c, INFO_NEWTON_ITERATIONS] = n_newton
    info_i[c, INFO_CYCLES] = cycle
    info_i[c, INFO_ROWS] = row
    info_f[c, INFO_CYCLE_TO_CYCLE_ERROR] = worst


@njit(parallel=True, cache=True)
def _integrate(el_off, el_parent, ch_off, ch_idx, el_R, el_C, el_L, el_S, el_bc_in, el_bc_out, el_cap,
               bc_off, bc_type, bc_el, bc_tab, tab_off, tab_t, tab_v, tab_mean, tab_period,
               sim_i, sim_f, el_y, el_yd, bc_y, bc_yd, bc_aux, out_off, out, status, info_i, info_f, work, bwork):
    for c in prange(el_off.shape[0] - 1):
        _case(c, el_off, el_parent, ch_off, ch_idx, el_R, el_C, el_L, el_S, el_bc_in, el_bc_out, el_cap,
              bc_off, bc_type, bc_el, bc_tab, tab_off, tab_t, tab_v, tab_mean, tab_period,
              sim_i, sim_f, el_y, el_yd, bc_y, bc_yd, bc_aux, out_off, out, status, info_i, info_f, work, bwork)


def lumped_integrate(el_off, el_parent, ch_off, ch_idx, el_R, el_C, el_L, el_S, el_bc_in, el_bc_out, el_cap,
                     bc_off, bc_type, bc_el, bc_tab, tab_off, tab_t, tab_v, tab_mean, tab_period,
                     sim_i, sim_f, el_y, el_yd, bc_y, bc_yd, bc_aux, out_off, out, status, info_i, info_f,
                     work, bwork):
    """Numba twin of :func:`ffrflow.kernels.reference_lumped.lumped_integrate` (one case per thread)."""
    _integrate(el_off, el_parent, ch_off, ch_idx, el_R, el_C, el_L, el_S, el_bc_in, el_bc_out, el_cap,
               bc_off, bc_type, bc_el, bc_tab, tab_off, tab_t, tab_v, tab_mean, tab_period,
               sim_i, sim_f, el_y, el_yd, bc_y, bc_yd, bc_aux, out_off, out, status, info_i, info_f, work, bwork)
    return out, status
