"""NumPy reference of the lumped (0D) solver kernel: the oracle of :mod:`ffrflow.kernels.cpu_lumped`.

One kernel, ``lumped_integrate``: generalized-α time integration with Newton iterations of a batch of
lumped networks (the equations are in :mod:`ffrflow.cfd.lumped`). The reference assembles, at every
Newton iteration, the *global* sparse Jacobian of all the cases that share a time schedule (a
block-diagonal matrix) and solves it with SciPy's sparse LU; the Numba twin eliminates the tree in
O(n) per case instead. Both follow svZeroDSolver's integrator step by step.

Flat layout (batched over cases, CSR-style; every index is global; float64 / int64):

``el_off`` (n_cases + 1)
    Elements (vessels and junction branches) of case ``c`` are ``el_off[c]:el_off[c+1]``, parents
    before children.
``el_parent`` (n_el)
    Upstream element, −1 at an inlet. ``ch_off`` (n_el + 1), ``ch_idx``: children of each element.
``el_R, el_C, el_L, el_S`` (n_el)
    Element resistance, capacitance (at the inlet), inductance, stenosis coefficient.
``el_bc_in, el_bc_out`` (n_el)
    Boundary condition at the element's inlet / outlet, −1 when none.
``el_cap`` (n_el)
    Cap used by the cycle-to-cycle check: 0 none, 1 inlet node, 2 outlet node.
``bc_off`` (n_cases + 1), ``bc_type`` (n_bc), ``bc_el`` (n_bc)
    Boundary conditions per case, their type (0 FLOW, 1 PRESSURE, 2 RESISTANCE, 3 RCR, 4 CORONARY,
    5 CORONARY_VAR_RES) and element.
``bc_tab`` (n_bc, 10)
    Table of each parameter slot (order of ``ffrflow.cfd.lumped.model.BC_TYPES``), −1 when unused.
``tab_off, tab_t, tab_v, tab_mean, tab_period``
    Parameter tables: a constant (one value) or a periodic series (times, values), the mean of the
    samples (steady initialisation) and the period.
``sim_i`` (n_cases, 9)
    cycles, points per cycle, steady initial (0/1), max Newton iterations, output mode (0 all, 1 last
    cycle, 2 cycle mean), cycle-to-cycle extension (0/1), max extra cycles, CORONARY_VAR_RES time
    (0 cycle time, 1 absolute), unused. The slots and codes by name: :mod:`ffrflow.kernels.codes`
    (``SIM_*``, ``OUTPUT_*``).
``sim_f`` (n_cases, 4)
    period (s), absolute tolerance, ρ∞, cycle-to-cycle tolerance (fraction) (``SIMF_*``).
``el_y, el_yd`` (n_el, 4); ``bc_y, bc_yd`` (n_bc)
    In: initial state (P_in, Q_in, P_out, Q_out and the internal variable of each BC) and its time
    derivative. Out: final state.
``bc_aux`` (n_bc, 2)
    Out: P_im,0 and P_Cim,0 of the open-loop coronary BCs.
``out_off`` (n_cases + 1), ``out``
    Out: case ``c``'s rows start at ``out_off[c]``, ``4 * n_el_c`` values per row.
``status`` (n_cases)
    Out: 0 ok, 1 Newton failed, 2 singular system, 3 cycle-to-cycle not converged (``STATUS_*``).
``info_i`` (n_cases, 4), ``info_f`` (n_cases, 3)
    Out: steps, Newton iterations, cycles, rows written; failure time (negative during the steady
    initialisation), last max |residual|, last cycle-to-cycle error (``INFO_*``).
``work`` (n_el, 48), ``bwork`` (n_bc, 32)
    Scratch (used by the Numba twin; kept for one signature).
"""

from __future__ import annotations

import math

import numpy as np

from .codes import (INFO_CYCLE_TO_CYCLE_ERROR, INFO_CYCLES, INFO_FAILURE_TIME, INFO_NEWTON_ITERATIONS, INFO_RESIDUAL,
                    INFO_ROWS, INFO_STEPS, OUTPUT_ALL, OUTPUT_LAST, OUTPUT_MEAN, SIM_CYCLE_TO_CYCLE, SIM_CYCLES,
                    SIM_MAX_EXTRA_CYCLES, SIM_MAX_NEWTON, SIM_OUTPUT_MODE, SIM_POINTS_PER_CYCLE, SIM_STEADY_INITIAL,
                    SIM_VARRES_ABSOLUTE_TIME, SIMF_ABSOLUTE_TOLERANCE, SIMF_CYCLE_TO_CYCLE_TOLERANCE, SIMF_PERIOD,
                    SIMF_RHO_INFTY, STATUS_CYCLES_NOT_CONVERGED, STATUS_NEWTON_FAILED, STATUS_OK, STATUS_SINGULAR)

__all__ = ["lumped_integrate"]

_FLOW, _PRESSURE, _RESISTANCE, _RCR, _CORONARY, _CORONARY_VR = 0, 1, 2, 3, 4, 5
#: A Newton iteration that stalls below _STALL x tolerance is at the round-off floor and is accepted.
_STALL = 100.0


def _params(tabs, t, steady, tab_off, tab_t, tab_v, tab_mean, tab_period):
    """Values of parameter tables ``tabs`` (any shape, −1 = unused → 0) at time ``t``."""
    tabs = np.asarray(tabs)
    out = np.zeros(tabs.shape)
    ok = tabs >= 0
    tb = tabs[ok]
    a = tab_off[tb]
    b = tab_off[tb + 1]
    val = tab_v[a].astype(np.float64)
    series = (b - a) > 1
    if steady:
        val = np.where(series, tab_mean[tb], val)
    elif series.any():
        ts = tb[series]
        aa, bb = a[series], b[series]
        rt = np.fmod(t, tab_period[ts])
        res = np.empty(ts.size)
        for j in range(ts.size):  # tables are short; a per-table lower bound keeps svZeroDSolver's rule
            tt = tab_t[aa[j]:bb[j]]
            vv = tab_v[aa[j]:bb[j]]
            k = int(np.searchsorted(tt, rt[j], side="left"))
            if k >= tt.size:
                k = tt.size - 1
            elif tt[k] == rt[j]:
                res[j] = vv[k]
                continue
            m = k - 1 if k > 0 else 1
            res[j] = vv[m] + (vv[k] - vv[m]) / (tt[k] - tt[m]) * (rt[j] - tt[m])
        val[series] = res
    out[ok] = val
    return out


def _ram_varres(tc, rmin, rmax, tvc, tvr):
    e = np.where(tc <= tvc, 0.5 * (1.0 - np.cos(np.pi * tc / tvc)),
                 np.where(tc <= tvc + tvr, 0.5 * (1.0 + np.cos(np.pi * (tc - tvc) / tvr)), 0.0))
    s0 = np.sqrt(rmin)
    return (s0 + (np.sqrt(rmax) - s0) * e) ** 2


class _Group:
    """Cases that share a time schedule, with the sparsity pattern of their global Jacobian."""

    def __init__(self, cases, A):
        self.cases = np.asarray(cases, dtype=np.int64)
        el_off, bc_off = A["el_off"], A["bc_off"]
        self.E = np.concatenate([np.arange(el_off[c], el_off[c + 1]) for c in self.cases])
        self.B = np.concatenate([np.arange(bc_off[c], bc_off[c + 1]) for c in self.cases]).astype(np.int64)
        nE, nB = self.E.size, self.B.size
        self.nE, self.nB = nE, nB
        loc = np.full(A["el_parent"].size, -1, dtype=np.int64)
        loc[self.E] = np.arange(nE)
        bloc = np.full(A["bc_type"].size, -1, dtype=np.int64)
        bloc[self.B] = np.arange(nB)
        self.loc, self.bloc = loc, bloc
        self.case_of_el = np.repeat(np.arange(self.cases.size), el_off[self.cases + 1] - el_off[self.cases])
        self.case_of_bc = np.repeat(np.arange(self.cases.size), bc_off[self.cases + 1] - bc_off[self.cases])
        par = A["el_parent"][self.E]
        self.par = np.where(par >= 0, loc[np.maximum(par, 0)], -1)
        self.nonroot = np.flatnonzero(self.par >= 0)
        nch = A["ch_off"][self.E + 1] - A["ch_off"][self.E]
        self.parents = np.flatnonzero(nch > 0)
        self.R, self.C, self.L, self.S = (A[k][self.E] for k in ("el_R", "el_C", "el_L", "el_S"))
        self.btype = A["bc_type"][self.B]
        self.bel = loc[A["bc_el"][self.B]]
        self.bside = np.where(A["el_bc_in"][A["bc_el"][self.B]] == self.B, 0, 2)
        self.btab = A["bc_tab"][self.B]
        self.cap = A["el_cap"][self.E]
        # rows: element (2 nE), junction pressure (non-roots), junction mass (parents), BC (2 nB)
        r_el = 2 * nE
        r_jp = r_el + self.nonroot.size
        r_jm = r_jp + self.parents.size
        self.n = 4 * nE + nB
        assert r_jm + 2 * nB == self.n, "lumped reference: equations and unknowns do not match"
        e = np.arange(nE)
        rows = [np.repeat(2 * e, 4), np.repeat(2 * e + 1, 4)]
        cols = [(4 * e[:, None] + np.arange(4)).ravel(), (4 * e[:, None] + np.arange(4)).ravel()]
        k = self.nonroot
        rows += [r_el + np.arange(k.size), r_el + np.arange(k.size)]
        cols += [4 * self.par[k] + 2, 4 * k + 0]
        # mass rows: parent's Qout and every child's Qin
        ch_rows, ch_cols = [], []
        pr = {int(p): r_jp + j for j, p in enumerate(self.parents)}
        self.mass_row_of_child = np.array([pr[int(self.par[c])] for c in k], dtype=np.int64) if k.size else \
            np.zeros(0, np.int64)
        rows += [r_jp + np.arange(self.parents.size), self.mass_row_of_child]
        cols += [4 * self.parents + 3, 4 * k + 1]
        b = np.arange(nB)
        node = 4 * self.bel + self.bside
        for rr in (r_jm + 2 * b, r_jm + 2 * b + 1):
            rows += [rr, rr, rr]
            cols += [node, node + 1, 4 * nE + b]
        self.rows = np.concatenate(rows)
        self.cols = np.concatenate(cols)
        self.r_el, self.r_jp, self.r_jm = r_el, r_jp, r_jm
        self.row_case = np.empty(self.n, dtype=np.int64)
        self.row_case[:r_el] = np.repeat(self.case_of_el, 2)
        self.row_case[r_el:r_jp] = self.case_of_el[k]
        self.row_case[r_jp:r_jm] = self.case_of_el[self.parents]
        self.row_case[r_jm:] = np.repeat(self.case_of_bc, 2)
        self.dof_case = np.concatenate([np.repeat(self.case_of_el, 4), self.case_of_bc])
        self.entry_case = self.row_case[self.rows]


def _assemble(g, y, yd, z, zd, yo, ydo, zo, zdo, bp, ram, pim0, pc0, steady, alf, am, af):
    """Residual f (n,) and Jacobian values (matching g.rows/g.cols) at the generalized mid-point."""
    ya = yo + alf * (y - yo)
    yda = ydo + am * (yd - ydo)
    za = zo + alf * (z - zo)
    zda = zdo + am * (zd - zdo)
    nE, nB = g.nE, g.nB
    R, C, L, S = g.R, g.C, g.L, g.S
    Pi, Qi, Po, Qo = ya.T
    dPi, dQi, dQo = yda[:, 0], yda[:, 1], yda[:, 3]
    aq = np.abs(Qi)
    f = np.zeros(g.n)
    f[0:2 * nE:2] = Pi - Po - (R + S * aq) * Qi - L * dQo
    f[1:2 * nE:2] = Qi - Qo - C * dPi + C * (R + 2.0 * S * aq) * dQi
    J0 = np.stack([np.full(nE, af), -af * (R + 2.0 * S * aq), np.full(nE, -af), -am * L], axis=1)
    J1 = np.stack([-am * C, af * (1.0 + 2.0 * C * S * np.sign(Qi) * dQi) + am * C * (R + 2.0 * S * aq),
                   np.zeros(nE), np.full(nE, -af)], axis=1)
    k = g.nonroot
    f[g.r_el:g.r_jp] = ya[g.par[k], 2] - ya[k, 0]
    fm = Qo[g.parents].copy()
    np.add.at(fm, g.mass_row_of_child - g.r_jp, -Qi[k])
    f[g.r_jp:g.r_jm] = fm
    # boundary conditions
    b = np.arange(nB)
    P = ya[g.bel, g.bside]
    Q = ya[g.bel, g.bside + 1]
    dP = yda[g.bel, g.bside]
    dQ = yda[g.bel, g.bside + 1]
    jr = np.zeros((nB, 2, 3))
    fb = np.zeros((nB, 2))
    t = g.btype
    m = t == _FLOW
    fb[m, 0] = Q[m] - bp[m, 0]
    jr[m, 0, 1] = af
    m = t == _PRESSURE
    fb[m, 0] = P[m] - bp[m, 0]
    jr[m, 0, 0] = af
    m = t == _RESISTANCE
    fb[m, 0] = P[m] - bp[m, 0] * Q[m] - bp[m, 1]
    jr[m, 0, 0] = af
    jr[m, 0, 1] = -af * bp[m, 0]
    one_row = (t == _FLOW) | (t == _PRESSURE) | (t == _RESISTANCE)
    fb[one_row, 1] = za[one_row]  # placeholder equation z = 0 for BCs without an internal variable
    jr[one_row, 1, 2] = af
    m = t == _RCR
    if m.any():
        Rp, Cw, Rd, Pd = bp[m, 0], (0.0 if steady else 1.0) * bp[m, 1], bp[m, 2], bp[m, 3]
        fb[m, 0] = P[m] - Rp * Q[m] - za[m]
        jr[m, 0, 0], jr[m, 0, 1], jr[m, 0, 2] = af, -af * Rp, -af
        fb[m, 1] = Rd * Q[m] - za[m] + Pd - Rd * Cw * zda[m]
        jr[m, 1, 1], jr[m, 1, 2] = af * Rd, -af - am * Rd * Cw
    m = (t == _CORONARY) | (t == _CORONARY_VR)
    if m.any():
        vr = t == _CORONARY_VR
        Ra = bp[:, 0]
        Ram = np.where(vr, ram, bp[:, 1])
        Rv = np.where(vr, bp[:, 3], bp[:, 2])
        Ca = np.where(vr, bp[:, 4], bp[:, 3])
        Cim = np.where(vr, bp[:, 5], bp[:, 4])
        Pim = np.where(vr, bp[:, 6], bp[:, 5])
        Pv = np.where(vr, bp[:, 7], bp[:, 6])
        if steady:
            Rt = Ra + Ram + Rv
            fb[m, 0] = za[m]
            jr[m, 0, 2] = af
            fb[m, 1] = -P[m] + Rt[m] * Q[m] + Pv[m]
            jr[m, 1, 0], jr[m, 1, 1] = -af, af * Rt[m]
        else:
            CR = Cim * Rv
            fb[m, 0] = (CR * Q - za - Ca * CR * dP + Ra * Ca * CR * dQ - CR * zda
                        + Cim * (-Pim + Pv + pim0 - pc0))[m]
            jr[m, 0, 0] = (-am * Ca * CR)[m]
            jr[m, 0, 1] = (af * CR + am * Ra * Ca * CR)[m]
            jr[m, 0, 2] = (-af - am * CR)[m]
            fb[m, 1] = (CR * P - CR * Ra * Q - (Rv + Ram) * za - CR * Ram * zda + Ram * Cim * Pv
                        - Cim * (Rv + Ram) * (Pim + pc0 - pim0))[m]
            jr[m, 1, 0] = (af * CR)[m]
            jr[m, 1, 1] = (-af * CR * Ra)[m]
            jr[m, 1, 2] = (-af * (Rv + Ram) - am * CR * Ram)[m]
    f[g.r_jm:] = fb.reshape(-1)
    vals = np.concatenate([J0.ravel(), J1.ravel(), np.full(k.size, af), np.full(k.size, -af),
                           np.full(g.parents.size, af), np.full(k.size, -af),
                           jr[b, 0, 0], jr[b, 0, 1], jr[b, 0, 2], jr[b, 1, 0], jr[b, 1, 1], jr[b, 1, 2]])
    real = np.ones(g.n, dtype=bool)
    real[g.r_jm + 2 * np.flatnonzero(one_row) + 1] = False  # placeholder rows do not count in the residual
    return f, vals, real


def _step(g, st, t, dt, steady, alf, am, gam, atol, max_iter, vr_abs, period, active, A):
    """One generalized-α step of the active cases of a group; returns per-case (code, iterations)."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    y, yd, z, zd = st["y"], st["yd"], st["z"], st["zd"]
    act_el = active[g.case_of_el]
    act_bc = active[g.case_of_bc]
    yo, ydo, zo, zdo = y.copy(), yd.copy(), z.copy(), zd.copy()
    cp = 1.0 - 1.0 / gam
    yd[act_el] = ydo[act_el] * cp
    zd[act_bc] = zdo[act_bc] * cp
    tn = t + alf * dt
    bp = _params(g.btab, tn, steady, A["tab_off"], A["tab_t"], A["tab_v"], A["tab_mean"], A["tab_period"])
    if steady:
        ram = bp[:, 1].copy()
    else:
        tc = tn if vr_abs else math.fmod(tn, period)
        with np.errstate(divide="ignore", invalid="ignore"):
            ram = _ram_varres(tc, bp[:, 1], bp[:, 2], bp[:, 8], bp[:, 9])
    af = alf * gam * dt
    nc = g.cases.size
    code = np.zeros(nc, dtype=np.int64)
    iters = np.zeros(nc, dtype=np.int64)
    going = active.copy()
    res_prev = np.full(nc, np.inf)
    for it in range(max_iter):
        f, vals, real = _assemble(g, y, yd, z, zd, yo, ydo, zo, zdo, bp, ram, st["pim0"], st["pc0"], steady,
                                  alf, am, af)
        res = np.zeros(nc)
        np.maximum.at(res, g.row_case[real], np.abs(f[real]))
        st["res"] = np.where(going, res, st["res"])
        done = going & ((res < atol) | ((it >= 2) & (res < _STALL * atol) & (res > 0.5 * res_prev)))
        res_prev = res
        iters[done] = it
        going &= ~done
        bad = going & ((it == max_iter - 1) | ~np.isfinite(res))
        code[bad] = STATUS_NEWTON_FAILED
        iters[bad] = it
        going &= ~bad
        if not going.any():
            break
        # the Jacobian is block-diagonal by case: solve the block of the cases still iterating
        keep = going[g.entry_case]
        rsel = going[g.row_case]
        csel = going[g.dof_case]
        rmap = np.cumsum(rsel) - 1
        cmap = np.cumsum(csel) - 1
        nsub = int(rsel.sum())
        Jm = sp.csc_matrix((vals[keep], (rmap[g.rows[keep]], cmap[g.cols[keep]])), shape=(nsub, nsub))
        try:
            dsub = spla.splu(Jm).solve(-f[rsel])
        except RuntimeError:
            code[going] = STATUS_SINGULAR
            iters[going] = it
            break
        d = np.zeros(g.n)
        d[csel] = dsub
        de = d[:4 * g.nE].reshape(-1, 4)
        db = d[4 * g.nE:]
        yd += de
        y += de * gam * dt
        zd += db
        z += db * gam * dt
    return code, iters


def _integrate_group(g, A):
    c0 = g.cases[0]
    si, sf = A["sim_i"][c0], A["sim_f"][c0]
    n_cycles, pts, steady_init, max_iter = (int(si[k]) for k in (SIM_CYCLES, SIM_POINTS_PER_CYCLE, SIM_STEADY_INITIAL,
                                                                 SIM_MAX_NEWTON))
    mode, use_c2c, max_extra, vr_abs = (int(si[k]) for k in (SIM_OUTPUT_MODE, SIM_CYCLE_TO_CYCLE, SIM_MAX_EXTRA_CYCLES,
                                                             SIM_VARRES_ABSOLUTE_TIME))
    period, atol, rho, c2c_tol = (float(sf[k]) for k in (SIMF_PERIOD, SIMF_ABSOLUTE_TOLERANCE, SIMF_RHO_INFTY,
                                                         SIMF_CYCLE_TO_CYCLE_TOLERANCE))
    am = 0.5 * (3.0 - rho) / (1.0 + rho)
    alf = 1.0 / (1.0 + rho)
    gam = 0.5 + am - alf
    nc = g.cases.size
    st = {"y": A["el_y"][g.E].astype(np.float64).copy(), "yd": A["el_yd"][g.E].astype(np.float64).copy(),
          "z": A["bc_y"][g.B].astype(np.float64).copy(), "zd": A["bc_yd"][g.B].astype(np.float64).copy(),
          "pim0": np.zeros(g.nB), "pc0": np.zeros(g.nB), "res": np.zeros(nc)}
    status = np.zeros(nc, dtype=np.int64)
    n_newton = np.zeros(nc, dtype=np.int64)
    fail_t = np.full(nc, np.nan)
    active = np.ones(nc, dtype=bool)
    if steady_init:
        dts = period / 10.0
        for i in range(31):
            code, it = _step(g, st, dts * i, dts, True, alf, am, gam, atol, max_iter, vr_abs, period, active, A)
            n_newton += np.where(active, it, 0)
            newly = active & (code != STATUS_OK)
            status[newly] = code[newly]
            fail_t[newly] = -dts * (i + 1)
            active &= code == 0
    # open-loop coronary offsets from the initial state
    tabs = A["tab_off"], A["tab_t"], A["tab_v"], A["tab_mean"], A["tab_period"]
    b0 = _params(g.btab, 0.0, bool(steady_init), *tabs)
    vr = g.btype == _CORONARY_VR
    cor = (g.btype == _CORONARY) | vr
    Ra = b0[:, 0]
    Ram = b0[:, 1]
    Ca = np.where(vr, b0[:, 4], b0[:, 3])
    Pim = np.where(vr, b0[:, 6], b0[:, 5])
    y, yd = st["y"], st["yd"]
    P, Q = y[g.bel, g.bside], y[g.bel, g.bside + 1]
    dP, dQ = yd[g.bel, g.bside], yd[g.bel, g.bside + 1]
    st["pim0"] = np.where(cor, Pim, 0.0)
    st["pc0"] = np.where(cor, (P - Ra * Q) - Ram * (Q - Ca * (dP - Ra * dQ)), 0.0)
    A["bc_aux"][g.B, 0] = st["pim0"]
    A["bc_aux"][g.B, 1] = st["pc0"]
    dt = period / (pts - 1)
    spc = pts - 1
    out, out_off = A["out"], A["out_off"]
    ne_c = np.bincount(g.case_of_el, minlength=nc)
    el_start = np.concatenate([[0], np.cumsum(ne_c)[:-1]])

    def write(row, mask):
        for j in np.flatnonzero(mask):
            c = g.cases[j]
            n = ne_c[j]
            base = out_off[c] + row * 4 * n
            if base + 4 * n <= out_off[c + 1]:
                out[base:base + 4 * n] = st["y"][el_start[j]:el_start[j] + n].ravel()

    rows = np.zeros(nc, dtype=np.int64)
    mean_acc = np.zeros_like(st["y"])
    if mode == OUTPUT_ALL:
        write(0, active)
        rows[:] = 1
    elif mode == OUTPUT_MEAN:
        mean_acc = 0.5 * st["y"]
    capm = g.cap > 0
    cap_ip = np.where(g.cap == 1, 0, 2)
    cur = np.zeros((g.nE, 2))
    prev = np.zeros((g.nE, 2))

    def cap_values():
        return np.stack([st["y"][np.arange(g.nE), cap_ip], st["y"][np.arange(g.nE), cap_ip + 1]], axis=1)

    cur[capm] = cap_values()[capm]
    total = np.full(nc, n_cycles)
    cycles = np.zeros(nc, dtype=np.int64)
    steps = np.zeros(nc, dtype=np.int64)
    worst = np.full(nc, np.nan)
    i = 0
    cycle = 0
    while active.any():
        if mode == OUTPUT_LAST:
            write(0, active)
        for k in range(1, spc + 1):
            code, it = _step(g, st, dt * i, dt, False, alf, am, gam, atol, max_iter, vr_abs, period, active, A)
            n_newton += np.where(active, it, 0)
            i += 1
            steps[active] = i
            newly = active & (code != STATUS_OK)
            status[newly] = code[newly]
            fail_t[newly] = dt * i
            cycles[newly] = cycle
            active &= code == 0
            if mode == OUTPUT_ALL:
                write(i, active)
                rows[active] = i + 1
            elif mode == OUTPUT_LAST:
                write(k, active)
            else:
                mean_acc += (0.5 if k == spc else 1.0) * st["y"]
            cur[capm] += cap_values()[capm]
        cycle += 1
        cycles[active] = cycle
        if mode == OUTPUT_MEAN:
            for j in np.flatnonzero(active):
                c = g.cases[j]
                n = ne_c[j]
                out[out_off[c]:out_off[c] + 4 * n] = (mean_acc[el_start[j]:el_start[j] + n] / spc).ravel()
            mean_acc = 0.5 * st["y"]
        if use_c2c and cycle >= n_cycles and cycle >= 2:
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.abs((cur - prev) / prev)
                rel = np.where(prev == 0.0, np.where(cur == prev, np.nan, np.inf), rel)
            bad = np.zeros(nc, dtype=bool)
            np.logical_or.at(bad, g.case_of_el[capm], (rel[capm] > c2c_tol).any(axis=1))
            w = np.full(nc, -np.inf)
            finite_rel = np.where(np.isnan(rel), -np.inf, rel)
            np.maximum.at(w, g.case_of_el[capm], finite_rel[capm].max(axis=1))
            worst = np.where(active & np.isfinite(w), w, worst)
            worst = np.where(active & (w == np.inf), np.inf, worst)
            extend = active & bad & (cycle - n_cycles < max_extra)
            total[extend] += 1
            status[active & bad & ~extend] = STATUS_CYCLES_NOT_CONVERGED
        prev[:] = cur
        cur[:] = 0.0
        cur[capm] = cap_values()[capm]
        active &= cycle < total
    if mode == OUTPUT_LAST:
        rows[:] = pts
    elif mode == OUTPUT_MEAN:
        rows[:] = 1
    A["el_y"][g.E] = st["y"]
    A["el_yd"][g.E] = st["yd"]
    A["bc_y"][g.B] = st["z"]
    A["bc_yd"][g.B] = st["zd"]
    A["status"][g.cases] = status
    A["info_i"][g.cases, INFO_STEPS] = steps
    A["info_i"][g.cases, INFO_NEWTON_ITERATIONS] = n_newton
    A["info_i"][g.cases, INFO_CYCLES] = cycles
    A["info_i"][g.cases, INFO_ROWS] = rows
    A["info_f"][g.cases, INFO_FAILURE_TIME] = fail_t
    A["info_f"][g.cases, INFO_RESIDUAL] = st["res"]
    A["info_f"][g.cases, INFO_CYCLE_TO_CYCLE_ERROR] = worst


def lumped_integrate(el_off, el_parent, ch_off, ch_idx, el_R, el_C, el_L, el_S, el_bc_in, el_bc_out, el_cap,
                     bc_off, bc_type, bc_el, bc_tab, tab_off, tab_t, tab_v, tab_mean, tab_period,
                     sim_i, sim_f, el_y, el_yd, bc_y, bc_yd, bc_aux, out_off, out, status, info_i, info_f,
                     work, bwork):
    """Integrate a batch of lumped networks (generalized-α + Newton, svZeroDSolver's schedule).

    Arrays as in the module docstring; ``out``, ``status``, ``info_i``, ``info_f``, ``el_y``, ``el_yd``,
    ``bc_y``, ``bc_yd`` and ``bc_aux`` are written in place. Cases with the same schedule (``sim_i``,
    ``sim_f``) are integrated together with one sparse solve per Newton iteration.

    Returns
    -------
    out, status
    """
    A = dict(el_off=el_off, el_parent=el_parent, ch_off=ch_off, ch_idx=ch_idx, el_R=el_R, el_C=el_C, el_L=el_L,
             el_S=el_S, el_bc_in=el_bc_in, el_bc_out=el_bc_out, el_cap=el_cap, bc_off=bc_off, bc_type=bc_type,
             bc_el=bc_el, bc_tab=bc_tab, tab_off=tab_off, tab_t=tab_t, tab_v=tab_v, tab_mean=tab_mean,
             tab_period=tab_period, sim_i=sim_i, sim_f=sim_f, el_y=el_y, el_yd=el_yd, bc_y=bc_y, bc_yd=bc_yd,
             bc_aux=bc_aux, out_off=out_off, out=out, status=status, info_i=info_i, info_f=info_f)
    groups: dict[tuple, list[int]] = {}
    for c in range(el_off.size - 1):
        key = tuple(int(x) for x in sim_i[c]) + tuple(float(x) for x in sim_f[c])
        groups.setdefault(key, []).append(c)
    for cases in groups.values():
        _integrate_group(_Group(cases, A), A)
    return out, status
