"""NumPy reference kernels: the clear, always-available oracle for every other backend.

Every kernel here has a Numba twin in :mod:`ffrflow.kernels.cpu` and a CUDA twin in
:mod:`ffrflow.kernels.gpu` with the *same signature*: inputs first, then output arrays that are
written in place (and also returned by this module for convenience). All arrays are float64 /
int64, SI units.

Tree layout shared by the tree kernels (CSR-style, batched over cases):

``offsets`` (n_cases + 1)
    Vessels of case ``c`` are ``offsets[c]:offsets[c+1]`` of the flat arrays.
``parent`` (n)
    Global index of each vessel's parent, −1 for a root. Within a case, every parent comes before
    its children (topological order).
``R`` (n), ``S`` (n)
    Vessel pressure drop ΔP = R·Q + S·Q·|Q| (R in Pa·s/m³, S in Pa·s²/m⁶).
``R_out`` (n)
    Outlet resistance to the venous pressure (Pa·s/m³) on vessels without children, 0 elsewhere.
``root_p`` (n), ``root_q`` (n)
    On roots: the inlet pressure (Pa), or, when ``root_q`` is not NaN, the prescribed inflow (m³/s).
``p_venous`` (n_cases)
    Venous pressure Pv (Pa).
"""

from __future__ import annotations

import numpy as np

from .codes import LESION_NS_CALIBRATED, LESION_POISEUILLE_KT, LESION_YOUNG_TSAI  # noqa: F401


def segment_resistance(r0_m, r1_m, length_m, mu_pa_s, out):
    """Exact Poiseuille resistance of a frustum (radius linear from r0 to r1), Pa·s/m³.

    R = (8μ/π) ∫ ds / r(s)⁴ = 8 μ L (r0² + r0 r1 + r1²) / (3 π r0³ r1³),
    which equals 8μL/(3π(r1 − r0))·(r0⁻³ − r1⁻³) and tends to 8μL/(π r⁴) when r0 = r1.
    ``mu_pa_s`` is a scalar or an array broadcastable to the segments.
    """
    r0 = np.asarray(r0_m, dtype=np.float64)
    r1 = np.asarray(r1_m, dtype=np.float64)
    out[...] = (8.0 * mu_pa_s * length_m * (r0 * r0 + r0 * r1 + r1 * r1)
                / (3.0 * np.pi * r0 ** 3 * r1 ** 3))
    return out


def _levels(offsets, parent):  # noqa: ARG001 (offsets kept for symmetry)
    n = parent.shape[0]
    depth = np.zeros(n, dtype=np.int64)
    # parents precede children, so one forward pass suffices
    for i in range(n):
        p = parent[i]
        if p >= 0:
            depth[i] = depth[p] + 1
    order = np.argsort(depth, kind="stable")
    bounds = np.searchsorted(depth[order], np.arange(depth.max() + 2 if n else 1))
    return [order[bounds[d]:bounds[d + 1]] for d in range(len(bounds) - 1)]


#: Armijo constant of the tree Newton's line search (sufficient decrease of the network's energy).
LINE_SEARCH_ALPHA = 1e-4
#: Step halvings tried per Newton iteration before the smallest step is taken.
LINE_SEARCH_HALVINGS = 60


def vessel_law(R, S, q):
    """Monotone vessel law ``f(Q)`` and its slope ``f'(Q)`` (element-wise; SI).

    ``f(Q) = R Q + S Q|Q|`` wherever that has the sign of Q, else 0: with R ≥ 0 and S ≥ 0 (every
    law but a flow-dependent lesion's coefficients frozen at a flow) it is exactly R Q + S Q|Q|;
    with R < 0 (the ``ns-calibrated`` law's terms that switch on above a flow, written as R_x Q +
    S Q|Q| at that flow) the law is flat (zero drop) for |Q| ≤ −R/S instead of dipping below zero,
    so every vessel law is non-decreasing and the network has one solution.
    """
    aq = np.abs(q)
    flat = (R < 0.0) & (R + S * aq <= 0.0)
    return np.where(flat, 0.0, R * q + S * q * aq), np.where(flat, 0.0, R + 2.0 * S * aq)


def vessel_energy_remainder(R, S, q, h):
    """``F(q + h) − F(q) − f(q) h`` for the vessel law ``f`` of :func:`vessel_law` and its integral
    ``F(Q) = ∫₀^Q f`` (Pa·m³/s; element-wise), without cancellation: on one side of zero and off the
    flat part it is R h²/2 ± S (q h² + h³/3)."""
    b = q + h
    aq, ab = np.abs(q), np.abs(b)
    flat_a = (R < 0.0) & (R + S * aq <= 0.0)
    flat_b = (R < 0.0) & (R + S * ab <= 0.0)
    sgn = np.where(q + b >= 0.0, 1.0, -1.0)
    smooth = (q * b >= 0.0) & ~flat_a & ~flat_b
    rem_smooth = 0.5 * R * h * h + sgn * S * (q * h * h + h * h * h / 3.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        qz = np.where((R < 0.0) & (S > 0.0), -R / np.where(S > 0.0, S, 1.0), 0.0)
    ya = np.where(flat_a, qz, aq)
    yb = np.where(flat_b, qz, ab)
    f_a, _ = vessel_law(R, S, q)
    g = (yb - ya) * (0.5 * R * (ya + yb) + S * (ya * ya + ya * yb + yb * yb) / 3.0)
    return np.where(smooth, rem_smooth, g - f_a * h)


def tree_newton(offsets, parent, R, S, R_out, root_p, root_q, p_venous, tol, max_iter,
                Q, P_up, P_down, work, iterations, residual):
    """Globally convergent Newton solve of the steady tree network, batched over cases.

    Unknowns per vessel: flow Q (m³/s) and the pressures at its two ends (Pa). Equations:
    ``P_up − P_down = f(Q)`` on every vessel (``f(Q) = R Q + S Q|Q|``, made monotone by
    :func:`vessel_law` where R < 0), ``P_down = Pv + R_out Q`` at every outlet, mass conservation and
    one shared pressure at every junction, the root pressure (or flow).

    Each Newton step linearises every vessel about the current flow (ΔP ≈ c + r Q, r = f'(Q),
    c = f(Q) − r Q) and solves the linear tree *exactly* in O(n): an upward sweep reduces every
    subtree to an affine law ``P = A + B Q`` at its inlet (children in parallel: B = 1/Σ(1/b_k),
    A = B Σ a_k/b_k), a downward sweep recovers pressures and flows from the root.

    Global convergence. The solution minimises the network's convex energy
    E(Q) = Σ_vessels F(Q) + Σ_outlets (R_out Q²/2 + Pv Q) − Σ_pressure roots P_root Q (F' = f) over the
    mass-conserving flows: every vessel law is non-decreasing and every outlet resistance positive,
    so E is strictly convex in the outlet flows and the minimiser, the solution, is unique. The
    Newton step d is the minimiser of E's quadratic model (E's gradient along d is −dᵀHd < 0), so from
    the second iteration (the first one makes any start mass-conserving) the step length t is halved
    until E(Q + t d) ≤ E(Q) − α t dᵀHd (Armijo, α = :data:`LINE_SEARCH_ALPHA`; the energy difference is
    summed from :func:`vessel_energy_remainder`, free of cancellation). A convex C¹ energy with
    bounded level sets and such gradient-related steps converges from any start (e.g. Bertsekas,
    Nonlinear Programming, Prop. 1.2.1); near the solution the full step passes the test and the
    convergence is quadratic. Without the line search a tight lesion (S ≫ R) with a negative linear
    coefficient left the flow cycling round the stationary point of R Q + S Q|Q|.

    Parameters
    ----------
    offsets, parent, R, S, R_out, root_p, root_q, p_venous
        Tree layout and coefficients (module docstring), SI units; S ≥ 0.
    tol : float
        Relative tolerance on the largest vessel-equation residual, scaled by the driving pressure
        max |P_root − Pv| of the case.
    max_iter : int
        Newton iterations allowed per case.
    Q : (n,) float64
        In: initial flows (zeros are fine). Out: flows, m³/s.
    P_up, P_down : (n,) float64
        Out: pressure at each vessel's first and last point, Pa.
    work : (6, n) float64
        Scratch space.
    iterations : (n_cases,) int64
        Out: Newton iterations used per case.
    residual : (n_cases,) float64
        Out: final relative residual per case (≤ tol when converged).
    """
    n_cases = offsets.shape[0] - 1
    n = parent.shape[0]
    A, B, a, b, sI, sA = work
    levels = _levels(offsets, parent)
    case_of = np.repeat(np.arange(n_cases), np.diff(offsets))
    pv = p_venous[case_of]
    is_out = R_out > 0.0
    is_root = parent < 0
    flow_root = is_root & ~np.isnan(root_q)
    active = np.ones(n_cases, dtype=bool)
    iterations[:] = 0
    residual[:] = np.inf
    for it in range(1, max_iter + 1):
        act = active[case_of]
        f, r = vessel_law(R, S, Q)
        c = f - r * Q
        sI[:] = 0.0
        sA[:] = 0.0
        for idx in reversed(levels):
            with np.errstate(divide="ignore", invalid="ignore"):
                Bd = np.where(is_out[idx], R_out[idx], 1.0 / sI[idx])
                Ad = np.where(is_out[idx], pv[idx], sA[idx] * Bd)
            A[idx] = Ad
            B[idx] = Bd
            a[idx] = Ad + c[idx]
            b[idx] = Bd + r[idx]
            nr = idx[parent[idx] >= 0]
            np.add.at(sI, parent[nr], 1.0 / b[nr])
            np.add.at(sA, parent[nr], a[nr] / b[nr])
        Qn = Q.copy()
        for idx in levels:
            par = parent[idx]
            root = par < 0
            pu = np.where(root, root_p[idx], P_down[np.where(root, 0, par)] if n else 0.0)
            qn = (pu - a[idx]) / b[idx]
            fr = flow_root[idx]
            qn = np.where(fr, root_q[idx], qn)
            pu = np.where(fr, a[idx] + b[idx] * root_q[idx], pu)
            # P_down of this level is needed by the next level: write active cases now
            keep = act[idx]
            P_down[idx] = np.where(keep, A[idx] + B[idx] * qn, P_down[idx])
            P_up[idx] = np.where(keep, pu, P_up[idx])
            Qn[idx] = np.where(keep, qn, Q[idx])
        # step length: Armijo on the energy from the second iteration (the iterate conserves mass)
        d = Qn - Q
        t = np.ones(n_cases)
        if it > 1:
            dhd = np.bincount(case_of, (r + R_out) * d * d, minlength=n_cases)
            trying = active & (dhd > 0.0)
            for _ in range(LINE_SEARCH_HALVINGS):
                if not trying.any():
                    break
                h = t[case_of] * d
                rem = np.bincount(case_of, vessel_energy_remainder(R, S, Q, h) + 0.5 * R_out * h * h,
                                  minlength=n_cases)
                short = trying & (rem > (1.0 - LINE_SEARCH_ALPHA) * t * dhd)
                t[short] *= 0.5
                trying = short
        tc = t[case_of]
        Q[:] = np.where(act, np.where(tc == 1.0, Qn, Q + tc * d), Q)
        # nonlinear residual of the vessel equations at the new iterate
        res_v = np.abs(P_up - P_down - vessel_law(R, S, Q)[0])
        drive = np.where(is_root, np.abs(P_up - pv), 0.0)
        res_c = np.zeros(n_cases)
        drv_c = np.zeros(n_cases)
        np.maximum.at(res_c, case_of, res_v)
        np.maximum.at(drv_c, case_of, drive)
        rel = np.where(drv_c > 0.0, res_c / np.where(drv_c > 0.0, drv_c, 1.0), 0.0)
        residual[active] = rel[active]
        iterations[active] = it
        active = active & (rel > tol)
        if not active.any():
            break
    return Q, P_up, P_down, iterations, residual


def node_pressure(node_vessel, R_cum, S_cum, P_up, Q, out):
    """Pressure at centerline nodes from their vessel's inlet pressure and flow, Pa.

    ``P = P_up[v] − Q[v]·R_cum − Q[v]|Q[v]|·S_cum``, where ``R_cum`` (Pa·s/m³) and ``S_cum``
    (Pa·s²/m⁶) are the resistance and lesion coefficients accumulated from the vessel's first point
    to the node, and ``node_vessel`` is the node's global vessel index.
    """
    q = Q[node_vessel]
    out[...] = P_up[node_vessel] - q * R_cum - q * np.abs(q) * S_cum
    return out


# ---------------------------------------------------------------------------------------------
# Ensemble (batched) steady solve: many cases of one or several trees, sampled parameters.
# ---------------------------------------------------------------------------------------------
# Lesion-law codes of the ``model`` argument, and what the short argument names (tv_off, cv_off,
# cl_off, tl_off, co_off, dr, sev, ...) stand for: ffrflow/kernels/codes.py.


def _frustum(r0, r1, length, mu):
    return 8.0 * mu * length * (r0 * r0 + r0 * r1 + r1 * r1) / (3.0 * np.pi * r0 ** 3 * r1 ** 3)


def ensemble_steady(tv_off, parent, vn_off, el_len, r_node, d_node, node_les, v_out,
                    tl_off, les_k0, les_k1, les_ref, to_off,
                    case_tree, cv_off, cl_off, co_off, mu, rho, kt, model, lesion_coef, p_in, q_in, p_v,
                    dr, sev, r_out, tol, max_iter,
                    Q, P_up, P_down, p_les0, p_les1, r_mld, p_out, work, lwork, iterations, residual):
    """Steady hyperemic solve of many cases in one call (uncertainty studies, virtual stenting).

    Trees (T of them) are packed CSR-style: vessels ``tv_off[t]:tv_off[t+1]`` (``parent`` global,
    −1 for roots, parents first), nodes of vessel g ``vn_off[g]:vn_off[g+1]`` with ``el_len`` (m,
    length of the element ending at the node, 0 at a vessel's first node), base radius ``r_node``
    (m), lesion narrowing depth ``d_node`` (m; reference − radius inside a lesion, else 0),
    ``node_les`` (global lesion index or −1); ``v_out[g]`` the outlet's index within its tree or −1;
    lesions ``tl_off[t]:tl_off[t+1]`` with first/last node ``les_k0``/``les_k1`` and reference
    radius ``les_ref`` (m); outlets per tree ``to_off``.

    Case c solves tree ``case_tree[c]`` with its own μ (Pa·s), ρ (kg/m³), K_t, lesion model code,
    inlet pressure ``p_in`` (Pa) or inflow ``q_in`` (m³/s, NaN for pressure), venous pressure
    ``p_v`` (Pa), a radius offset per vessel ``dr`` (m, at ``cv_off[c] + local vessel``), a severity
    per lesion ``sev`` (``cl_off``; node radius r + (1 − sev)·d + dr: 1 keeps the lesion, 0 restores
    the reference lumen, i.e. a virtual stent) and outlet resistances ``r_out`` (Pa·s/m³, ``co_off``).

    Element resistances are the exact Poiseuille frustum integrals on the case's radii; each lesion
    adds S = K_t ρ/(2A0²)(A0/As − 1)² at its end (As from the case's minimal radius over the lesion,
    A0 from ``les_ref + dr``); with the Young–Tsai code (1) the lesion's viscous drop is
    K_v μ/(A0 D0) Q instead of the Poiseuille integral over it; with the NS-calibrated code (2) the
    lesion adds ``R_x = lesion_coef[il, 0]`` (Pa·s/m³) and ``S = lesion_coef[il, 1]`` (Pa·s²/m⁶) at
    its end, per case-lesion ``il`` (``cl_off``): the flow-dependent coefficients of
    :func:`ffrflow.cfd.lesion.ns_calibrated_coefficients`, which the caller iterates with the
    solution (:func:`ffrflow.cfd.ensemble.solve_steady_batch`; the previous flows are the Newton's
    starting point). The tree Newton is the one of :func:`tree_newton`.

    Outputs: ``Q``, ``P_up``, ``P_down`` per case-vessel; pressure at every lesion's start and end
    ``p_les0``, ``p_les1`` and its minimal radius ``r_mld`` (m) per case-lesion; outlet pressure
    ``p_out`` per case-outlet; ``iterations`` and relative ``residual`` per case. ``work`` (8, n_cv)
    and ``lwork`` (4, n_cl) are scratch.
    """
    n_cases = case_tree.shape[0]
    n_cv = cv_off[-1]
    R = work[0]
    S = work[1]
    Rc0, Rc1, Sc0, Sc1 = lwork
    par_cv = np.full(n_cv, -1, dtype=np.int64)
    rout_cv = np.zeros(n_cv)
    for c in range(n_cases):
        t = case_tree[c]
        v0, v1 = tv_off[t], tv_off[t + 1]
        l0 = tl_off[t]
        cb, lb, ob = cv_off[c], cl_off[c], co_off[c]
        for g in range(v0, v1):
            i = cb + g - v0
            par_cv[i] = -1 if parent[g] < 0 else cb + parent[g] - v0
            if v_out[g] >= 0:
                rout_cv[i] = r_out[ob + v_out[g]]
            k = np.arange(vn_off[g], vn_off[g + 1])
            les = node_les[k]
            sv = np.where(les >= 0, sev[lb + np.maximum(les, 0) - l0], 1.0)
            rb = r_node[k] + (1.0 - sv) * d_node[k] + dr[i]
            el = np.zeros(k.size)
            el[1:] = _frustum(rb[:-1], rb[1:], el_len[k[1:]], mu[c])
            if model[c] == LESION_YOUNG_TSAI:
                # the lesion's own elements are replaced by the K_v term added at its end
                # an element inside a lesion: its first node's lesion reaches its second node
                inside = np.zeros(k.size, dtype=bool)
                inside[1:] = (les[:-1] >= 0) & (k[1:] <= les_k1[np.maximum(les[:-1], 0)])
                el[inside] = 0.0
            rc = np.cumsum(el)
            sc = np.zeros(k.size)
            for lg in range(l0, tl_off[t + 1]):
                if not (vn_off[g] <= les_k0[lg] < vn_off[g + 1]):
                    continue
                j0, j1 = les_k0[lg] - vn_off[g], les_k1[lg] - vn_off[g]
                rmin = rb[j0:j1 + 1].min()
                ref = les_ref[lg] + dr[i]
                a0 = np.pi * ref * ref
                a_s = np.pi * rmin * rmin
                il = lb + lg - l0
                s_coef = kt[c] * rho[c] / (2.0 * a0 * a0) * (a0 / a_s - 1.0) ** 2 if a_s < a0 else 0.0
                if model[c] == LESION_NS_CALIBRATED and a_s < a0:
                    s_coef = lesion_coef[il, 1]
                    rc[j1:] += lesion_coef[il, 0]
                if model[c] == LESION_YOUNG_TSAI and a_s < a0:
                    ls = np.sum(el_len[k[j0 + 1:j1 + 1]])
                    kv = 32.0 * (0.83 * ls + 1.64 * 2.0 * rmin) * (a0 / a_s) ** 2 / (2.0 * ref)
                    rc[j1:] += kv * mu[c] / (a0 * 2.0 * ref)
                r_mld[il] = rmin
                Rc0[il], Rc1[il] = rc[j0], rc[j1]
                Sc0[il] = sc[j0]
                sc[j1:] += s_coef
                Sc1[il] = sc[j1]
            R[i], S[i] = rc[-1], sc[-1]
    offsets = cv_off.astype(np.int64)
    root_p = np.repeat(p_in, np.diff(cv_off))
    root_q = np.repeat(q_in, np.diff(cv_off))
    w6 = np.zeros((6, n_cv))
    tree_newton(offsets, par_cv, R, S, rout_cv, root_p, root_q, p_v, tol, max_iter,
                Q, P_up, P_down, w6, iterations, residual)
    for c in range(n_cases):
        t = case_tree[c]
        v0 = tv_off[t]
        l0 = tl_off[t]
        cb, lb, ob = cv_off[c], cl_off[c], co_off[c]
        for lg in range(l0, tl_off[t + 1]):
            g = np.searchsorted(vn_off, les_k0[lg], side="right") - 1
            i = cb + g - v0
            il = lb + lg - l0
            q = Q[i]
            p_les0[il] = P_up[i] - q * Rc0[il] - q * abs(q) * Sc0[il]
            p_les1[il] = P_up[i] - q * Rc1[il] - q * abs(q) * Sc1[il]
        for g in range(v0, tv_off[t + 1]):
            if v_out[g] >= 0:
                p_out[ob + v_out[g]] = P_down[cb + g - v0]
    return Q, P_up, P_down, p_les0, p_les1, r_mld, p_out, iterations, residual




def _cheb_flat(fn, x, fn_pc, pc_lo, pc_hi, pc_cf, cf):
    """Piecewise Chebyshev expansion ``fn`` of the flat tables at every x (vectorised)."""
    p0, p1 = fn_pc[fn], fn_pc[fn + 1]
    piece = p0 + np.minimum(np.searchsorted(pc_hi[p0:p1], x, side="left"), p1 - p0 - 1)
    out = np.empty_like(x)
    for p in np.unique(piece):
        m = piece == p
        lo, hi = pc_lo[p], pc_hi[p]
        out[m] = np.polynomial.chebyshev.chebval((2.0 * x[m] - (lo + hi)) / (hi - lo), cf[pc_cf[p]:pc_cf[p + 1]])
    return out


def ensemble_steady_pre(tv_off, parent, v_out, v_st, st_fn, st_les, st_ed, ed_len, ed_r0, ed_d0, ed_l0, ed_r1,
                        ed_d1, ed_l1, fn_pc, pc_lo, pc_hi, pc_cf, cf, tl_off, les_v, les_next, les_prev, les_fn,
                        les_ref, les_dmax, les_cd, cd_a, cd_d, cd_l, les_len, les_band, les_slope, les_gap, les_wire,
                        les_efs, law_c, case_tree, tc_off, cv_b, cl_b, co_b, mu, rho, kt, model, p_in, q_in, p_v,
                        dr, sev, r_out, newton_tol, max_iter, lesion_tol, max_passes,
                        Q, P_up, P_down, p_les0, p_les1, r_mld, coef, p_out, work, lwork, iterations, residual,
                        passes):
    """:func:`ensemble_steady` from the per-network layout of :mod:`ffrflow.cfd.ensemble_layout`:
    O(vessels + lesions) per case, the lesion passes of the ns-calibrated law inside.

    Per-network tables (:data:`ffrflow.cfd.ensemble_layout.TABLES`, built by
    :func:`~ffrflow.cfd.ensemble_layout.kernel_tables`; T trees): vessels ``tv_off[t]:tv_off[t+1]``
    with local ``parent`` and outlet index ``v_out`` (−1 none); vessel g has stretches
    ``v_st[g]:v_st[g+1]``, each with its healthy expansion ``st_fn`` (a function of the offset δ,
    m⁻³; −1 none), its lesion ``st_les`` (local, −1 for a gap) and exact edge frusta
    ``st_ed[k]:st_ed[k+1]`` (length m; radius r, depth d (m) and local lesion of both nodes);
    expansions ``fn_pc``/``pc_lo``/``pc_hi``/``pc_cf``/``cf`` (piecewise Chebyshev); lesions
    ``tl_off[t]:tl_off[t+1]`` with vessel, next and previous lesion of the vessel (local, −1),
    narrowed expansion ``les_fn`` (of w = s·d_max/(r_ref + δ), m; −1 none), reference radius and
    throat depth (m), throat envelope lines ``les_cd`` → (``cd_a``, ``cd_d``, m; ``cd_l`` the lesion
    whose severity applies), length (m) and ns-calibrated shape descriptors (m; slope
    dimensionless); ``law_c`` the constants of the ns-calibrated law
    (:data:`~ffrflow.cfd.ensemble_layout.LAW_CONSTANTS`).

    Cases are grouped by tree (``case_tree`` non-decreasing; tree t has cases
    ``tc_off[t]:tc_off[t+1]``, n_t of them). Per-case-item arrays are sample-minor: item k of the
    i-th case of tree t is at ``base[t] + k·n_t + i`` with ``base`` = ``cv_b`` (vessels: ``dr`` (m),
    ``Q``, ``P_up``, ``P_down``, rows of ``work``), ``cl_b`` (lesions: ``sev``, ``p_les0``,
    ``p_les1``, ``r_mld``, rows of ``coef`` and ``lwork``) or ``co_b`` (outlets: ``r_out``,
    ``p_out``). Per case: μ (Pa·s), ρ (kg/m³), K_t, lesion model code, inlet pressure (Pa) or inflow
    (m³/s, NaN for pressure), venous pressure (Pa).

    A case's vessel resistance is 8μ/(3π)·[K(δ) + (r_ref + δ)⁻⁴ G(w)] plus its exact edges plus its
    lesions' terms, exactly the node-level sums of :func:`ensemble_steady` (to the expansions'
    1e-10). ns-calibrated cases (code 2) start from the law's low-flow coefficients and re-evaluate
    them at the solved flows (Newton warm-started from the previous flows) until no lesion drop
    changes by more than ``lesion_tol`` × the driving pressure, at most ``max_passes`` solves; a
    case still changing then gets that change as its residual. ``coef`` (2, n_cl) holds the law's
    last coefficients (R_x, S), ``passes`` the solves per case, ``iterations`` the Newton
    iterations of the last one. Newton tolerance ``newton_tol``, ``max_iter`` iterations per solve.
    ``work`` (10, n_cv) and ``lwork`` (8, n_cl) are scratch.
    """
    from ..cfd.lesion import ns_calibrated_coefficients

    c_law = dict(zip(("k_exp", "k_as", "k_steep", "slope_0", "k_dev", "c_dev", "lambda_0", "c_jet", "k_jet",
                      "k_rec", "m_tandem"), (float(x) for x in law_c)))
    n_trees = tv_off.shape[0] - 1
    k3 = 8.0 / (3.0 * np.pi)
    for t in range(n_trees):
        c0, c1 = tc_off[t], tc_off[t + 1]
        ns = c1 - c0
        if ns == 0:
            continue
        cases = np.arange(c0, c1)
        v0, nv = tv_off[t], tv_off[t + 1] - tv_off[t]
        l0, nl = tl_off[t], tl_off[t + 1] - tl_off[t]
        vblk = slice(cv_b[t], cv_b[t] + nv * ns)
        lblk = slice(cl_b[t], cl_b[t] + nl * ns)
        d_all = dr[vblk].reshape(nv, ns)
        s_all = sev[lblk].reshape(nl, ns)
        m_c, rho_c, kt_c, mod = mu[cases], rho[cases], kt[cases], model[cases]
        rb = np.zeros((nv, ns))
        rc0, rc1, rpois, r0, rm = (np.zeros((nl, ns)) for _ in range(5))
        for v in range(nv):
            g = v0 + v
            d = d_all[v]
            rc = np.zeros(ns)
            for st in range(v_st[g], v_st[g + 1]):
                pois = np.zeros(ns)
                if st_fn[st] >= 0:
                    pois += k3 * m_c * _cheb_flat(st_fn[st], d, fn_pc, pc_lo, pc_hi, pc_cf, cf)
                for e in range(st_ed[st], st_ed[st + 1]):
                    ra = ed_r0[e] + (1.0 - (s_all[ed_l0[e]] if ed_l0[e] >= 0 else 1.0)) * ed_d0[e] + d
                    rb_ = ed_r1[e] + (1.0 - (s_all[ed_l1[e]] if ed_l1[e] >= 0 else 1.0)) * ed_d1[e] + d
                    pois += _frustum(ra, rb_, ed_len[e], m_c)
                j = st_les[st]
                if j < 0:
                    rc += pois
                    continue
                jl = l0 + j
                ref = les_ref[jl] + d
                if les_fn[jl] >= 0:
                    w = s_all[j] * les_dmax[jl] / ref
                    pois += k3 * m_c * _cheb_flat(les_fn[jl], w, fn_pc, pc_lo, pc_hi, pc_cf, cf) / ref ** 4
                k = np.arange(les_cd[jl], les_cd[jl + 1])
                rm[j] = np.min(cd_a[k][:, None] - s_all[cd_l[k]] * cd_d[k][:, None], axis=0) + d
                r0[j], rpois[j], rc0[j] = ref, pois, rc
                rc = rc + np.where(mod == LESION_YOUNG_TSAI, 0.0, pois)
                rc1[j] = rc
            rb[v] = rc
        a0, a_s = np.pi * r0 ** 2, np.pi * rm ** 2
        narrowed = a_s < a0
        with np.errstate(divide="ignore", invalid="ignore"):
            es = np.where(narrowed, kt_c * rho_c / (2.0 * a0 * a0) * (a0 / a_s - 1.0) ** 2, 0.0)
            kv = 32.0 * (0.83 * les_len[l0:l0 + nl, None] + 1.64 * 2.0 * rm) * (a0 / a_s) ** 2 / (2.0 * r0)
            er = np.where(narrowed & (mod == LESION_YOUNG_TSAI), kv * m_c / (a0 * 2.0 * r0), 0.0)
        ns_case = mod == LESION_NS_CALIBRATED
        lv = les_v[l0:l0 + nl]
        nxt = les_next[l0:l0 + nl]
        # the ns-calibrated law over every (case, lesion), case-major
        idx = (np.arange(ns)[:, None] * nl + np.arange(nl)[None, :])
        nxt_flat = np.where(nxt[None, :] >= 0, np.arange(ns)[:, None] * nl + nxt[None, :], -1).ravel()

        def law(q):
            shp = {"band_up_m": np.repeat(les_band[None, l0:l0 + nl], ns, 0).ravel(),
                   "inlet_slope": (les_slope[l0:l0 + nl, None] * s_all).T.ravel(),
                   "gap_m": np.repeat(les_gap[None, l0:l0 + nl], ns, 0).ravel(),
                   "wire_m": np.repeat(les_wire[None, l0:l0 + nl], ns, 0).ravel(),
                   "exit_from_start_m": np.repeat(les_efs[None, l0:l0 + nl], ns, 0).ravel()}
            rx, sx = ns_calibrated_coefficients(q.T.ravel(), r0.T.ravel(), rm.T.ravel(), mu_pa_s=np.repeat(m_c, nl),
                                                rho_kg_m3=np.repeat(rho_c, nl), scale=np.repeat(kt_c / 1.52, nl),
                                                next_index=nxt_flat, poiseuille_r=rpois.T.ravel(), c=c_law, **shp)
            return rx[idx].T, sx[idx].T

        cr, cs = np.zeros((nl, ns)), np.zeros((nl, ns))
        if nl and ns_case.any():
            r_, s_ = law(np.zeros((nl, ns)))
            cr = np.where(ns_case, r_, 0.0)
            cs = np.where(ns_case, s_, 0.0)
            er = np.where(ns_case, np.where(narrowed, cr, 0.0), er)
            es = np.where(ns_case, np.where(narrowed, cs, 0.0), es)
        par_l = parent[v0:v0 + nv]
        ro = np.zeros((nv, ns))
        for v in range(nv):
            if v_out[v0 + v] >= 0:
                ro[v] = r_out[co_b[t] + v_out[v0 + v] * ns:co_b[t] + (v_out[v0 + v] + 1) * ns]
        q_blk, pu_blk, pd_blk = (np.zeros((nv, ns)) for _ in range(3))
        q_blk[:] = Q[vblk].reshape(nv, ns)
        it_c, res_c, pass_c = np.zeros(ns, dtype=np.int64), np.zeros(ns), np.zeros(ns, dtype=np.int64)
        todo = np.ones(ns, dtype=bool)
        while todo.any():
            sub = np.flatnonzero(todo)
            m = sub.size
            R = rb[:, sub].copy()
            S = np.zeros((nv, m))
            for j in range(nl):
                R[lv[j]] += er[j, sub]
                S[lv[j]] += es[j, sub]
            offs = np.arange(m + 1, dtype=np.int64) * nv
            par = (np.where(par_l[None, :] >= 0, par_l[None, :] + offs[:-1, None], -1)).ravel()
            qq = q_blk[:, sub].T.ravel().copy()
            pu, pd = np.zeros(m * nv), np.zeros(m * nv)
            itn, rsd = np.zeros(m, dtype=np.int64), np.zeros(m)
            tree_newton(offs, par, R.T.ravel(), S.T.ravel(), ro[:, sub].T.ravel(), np.repeat(p_in[cases[sub]], nv),
                        np.repeat(q_in[cases[sub]], nv), p_v[cases[sub]], newton_tol, max_iter, qq, pu, pd,
                        np.zeros((6, m * nv)), itn, rsd)
            q_blk[:, sub], pu_blk[:, sub], pd_blk[:, sub] = (x.reshape(m, nv).T for x in (qq, pu, pd))
            it_c[sub], res_c[sub] = itn, rsd
            pass_c[sub] += 1
            again = ns_case[sub]
            if nl and again.any():
                r_, s_ = law(q_blk[lv])
                q = q_blk[lv][:, sub]
                change = np.max(np.abs((r_[:, sub] - cr[:, sub]) * q + (s_[:, sub] - cs[:, sub]) * q * np.abs(q)),
                                axis=0)
                cr[:, sub] = np.where(again, r_[:, sub], cr[:, sub])
                cs[:, sub] = np.where(again, s_[:, sub], cs[:, sub])
                er[:, sub] = np.where(again, np.where(narrowed[:, sub], cr[:, sub], 0.0), er[:, sub])
                es[:, sub] = np.where(again, np.where(narrowed[:, sub], cs[:, sub], 0.0), es[:, sub])
                roots = par_l < 0
                drive = np.max(np.abs(pu_blk[roots][:, sub] - p_v[cases[sub]][None, :]), axis=0)
                rel = change / np.maximum(drive, 1e-12)
                stop = rel <= lesion_tol
                cap = ~stop & (pass_c[sub] >= max_passes)
                res_c[sub] = np.where(cap, np.maximum(res_c[sub], rel), res_c[sub])
                again = again & ~stop & ~cap
            todo[sub] = again
        Q[vblk], P_up[vblk], P_down[vblk] = q_blk.ravel(), pu_blk.ravel(), pd_blk.ravel()
        iterations[cases], residual[cases], passes[cases] = it_c, res_c, pass_c
        r_mld[lblk] = rm.ravel()
        coef[0, lblk], coef[1, lblk] = cr.ravel(), cs.ravel()
        cum_r, cum_s = np.zeros((nl, ns)), np.zeros((nl, ns))
        for j in range(nl):
            if j > 0 and lv[j] == lv[j - 1]:
                cum_r[j], cum_s[j] = cum_r[j - 1] + er[j - 1], cum_s[j - 1] + es[j - 1]
        if nl:
            q, pu = q_blk[lv], pu_blk[lv]
            p_les0[lblk] = (pu - q * (rc0 + cum_r) - q * np.abs(q) * cum_s).ravel()
            p_les1[lblk] = (pu - q * (rc1 + cum_r + er) - q * np.abs(q) * (cum_s + es)).ravel()
        for v in range(nv):
            o = v_out[v0 + v]
            if o >= 0:
                p_out[co_b[t] + o * ns:co_b[t] + (o + 1) * ns] = pd_blk[v]
    return Q, P_up, P_down, p_les0, p_les1, r_mld, coef, p_out, iterations, residual, passes

# ---------------------------------------------------------------------------------------------
# Pulsatile 1D (A–Q) solver: Richtmyer two-step Lax–Wendroff in every 1D piece, characteristic
# coupling at nodes (junctions, lesion elements, inlets, outlet models). See ffrflow.cfd.pulsatile.
# ---------------------------------------------------------------------------------------------
from . import _pulsatile_scalar as _ps  # noqa: E402


def _cell_pressure(A, A0, beta, p0):
    return p0 + beta * (1.0 - np.sqrt(A0 / A))


def pulsatile_advance(n_steps, t0, dt, sample_every,
                      case_piece_off, case_node_off, case_lpm_off,
                      piece_cell_off, piece_dx, piece_case,
                      A, Q, A0, beta, p0, rho, kr, alpha, Af, Qf,
                      node_port_off, node_type, node_val, node_wave, node_lpm, node_P,
                      port_piece, port_side, port_R, port_S, port_L, port_q, port_W,
                      lpm_port, lpm_type, lpm_R2, lpm_R3, lpm_C1, lpm_C2, lpm_pv, lpm_pim_wave, lpm_pim_scale,
                      lpm_P1, lpm_P2, wave_off, wave_t, wave_v, wave_period,
                      acc_cell_P, acc_cell_Q, acc_node_P, acc_port_q, acc_port_P,
                      wf_cell_P, wf_cell_Q, wf_node_P):
    """Advance every case by ``n_steps`` steps of ``dt`` (s) from time ``t0`` (s), in place.

    Per step: (1) Lax–Wendroff predictor at interior faces (t + dt/2); (2) every coupling node
    solved at t + dt/2 from the outgoing characteristics of its ports (junctions conserve mass and
    share one pressure; lesion elements R, S, L in series on a port; inlet P(t) or Q(t); outlet
    models through the pressure of their first capacitor), giving the boundary faces; (3) corrector
    for every cell (A in flux form: mass is conserved exactly; momentum with the pressure gradient in
    non-conservative form, well balanced at rest, and the friction −K_R Q/A); (4) outlet models
    advanced by dt. Accumulates sums for cycle means (cell P and Q at t + dt, node P, port flow and
    face pressure at t + dt/2) and, every ``sample_every`` steps, waveform samples: row r holds the
    state at ``t0 + (r + 1)·sample_every·dt``.

    Cell arrays ``A``, ``Q`` (state, m², m³/s), ``A0`` (m²), ``beta`` (Pa), ``p0`` (Pa); per-case
    ``rho`` (kg/m³), ``kr`` (K_R, m²/s), ``alpha``; face arrays ``Af``, ``Qf`` (piece p has faces
    ``piece_cell_off[p] + p .. + N``). Node, port, outlet-model and waveform tables as built by
    :func:`ffrflow.cfd.pulsatile.build_model`.
    """
    n_cells = A.shape[0]
    n_pieces = piece_dx.shape[0]
    counts = np.diff(piece_cell_off)
    cell_piece = np.repeat(np.arange(n_pieces), counts)
    cell_case = piece_case[cell_piece]
    dx = piece_dx[cell_piece]
    r_c, kr_c, al_c = rho[cell_case], kr[cell_case], alpha[cell_case]
    first = piece_cell_off[:-1][cell_piece] == np.arange(n_cells)
    # interior faces: between cell i-1 and i of the same piece
    right = np.flatnonzero(~first)            # cell index i (left neighbour i-1)
    face_of_left_edge = np.arange(n_cells) + cell_piece   # face index of each cell's left face
    fi = face_of_left_edge[right]
    n_nodes = node_port_off.shape[0] - 1
    n_lpm = lpm_type.shape[0]
    for step in range(n_steps):
        t = t0 + step * dt
        P = _cell_pressure(A, A0, beta, p0)
        F = al_c * Q * Q / A
        L, R_ = right - 1, right
        Abar = 0.5 * (A[L] + A[R_])
        Qbar = 0.5 * (Q[L] + Q[R_])
        h = dt / dx[R_]
        Af[fi] = Abar - 0.5 * h * (Q[R_] - Q[L])
        Qf[fi] = (Qbar - 0.5 * h * (F[R_] - F[L]) - 0.5 * h * Abar / r_c[R_] * (P[R_] - P[L])
                  - 0.5 * dt * kr_c[R_] * Qbar / Abar)
        for n in range(n_nodes):
            _ps.node_solve_one(n, t + 0.5 * dt, dt, node_port_off, node_type, node_val, node_wave, node_lpm, node_P,
                               port_piece, port_side, port_R, port_S, port_L, port_q, port_W,
                               piece_cell_off, piece_dx, piece_case, A, Q, A0, beta, p0, rho, kr,
                               wave_off, wave_t, wave_v, wave_period, lpm_P1, Af, Qf)
        # face pressures: interior faces with averaged A0/beta/p0, boundary faces with their cell's
        Pf = np.empty(Af.shape[0])
        lf = face_of_left_edge
        rf = lf + 1
        Pf[lf] = _cell_pressure(Af[lf], A0, beta, p0)
        Pf[rf] = _cell_pressure(Af[rf], A0, beta, p0)
        Pf[fi] = _cell_pressure(Af[fi], 0.5 * (A0[L] + A0[R_]), 0.5 * (beta[L] + beta[R_]), 0.5 * (p0[L] + p0[R_]))
        Ah = 0.5 * (Af[lf] + Af[rf])
        Qh = 0.5 * (Qf[lf] + Qf[rf])
        h = dt / dx
        A_new = A - h * (Qf[rf] - Qf[lf])
        Q_new = (Q - h * al_c * (Qf[rf] ** 2 / Af[rf] - Qf[lf] ** 2 / Af[lf]) - h * Ah / r_c * (Pf[rf] - Pf[lf])
                 - dt * kr_c * Qh / Ah)
        A[:] = A_new
        Q[:] = Q_new
        for j in range(n_lpm):
            _ps.lpm_step(j, t + dt, dt, port_q[lpm_port[j]], lpm_type, lpm_R2, lpm_R3, lpm_C1, lpm_C2, lpm_pv,
                         lpm_pim_wave, lpm_pim_scale, lpm_P1, lpm_P2, wave_off, wave_t, wave_v, wave_period)
        Pn = _cell_pressure(A, A0, beta, p0)
        acc_cell_P += Pn
        acc_cell_Q += Q
        acc_node_P += node_P
        acc_port_q += port_q
        for k in range(port_piece.shape[0]):
            p = port_piece[k]
            side = port_side[k]
            ic = piece_cell_off[p + 1] - 1 if side == 1 else piece_cell_off[p]
            face = piece_cell_off[p] + p + (counts[p] if side == 1 else 0)
            acc_port_P[k] += _ps.tube_pressure(Af[face], A0[ic], beta[ic], p0[ic])
        if sample_every > 0 and (step + 1) % sample_every == 0:
            row = (step + 1) // sample_every - 1
            if row < wf_cell_P.shape[0]:
                wf_cell_P[row] = Pn
                wf_cell_Q[row] = Q
                wf_node_P[row] = node_P

from .reference_lumped import *  # noqa
