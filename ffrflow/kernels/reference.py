"""NumPy reference kernels: the clear, always-available oracle for every other backend.

Every kernel here has a Numba twin in :mod:`ffrflow.kernels.cpu` (and a CUDA twin where the GPU
issue adds one) with the *same signature*: inputs first, then output arrays that are written in
place (and also returned by this module for convenience). All arrays are float64 / int64, SI units.

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


def _levels(offsets, parent):
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


def tree_newton(offsets, parent, R, S, R_out, root_p, root_q, p_venous, tol, max_iter,
                Q, P_up, P_down, work, iterations, residual):
    """Newton solve of the steady tree network, batched over cases.

    Unknowns per vessel: flow Q (m³/s) and the pressures at its two ends (Pa). Equations:
    ``P_up − P_down = R Q + S Q|Q|`` on every vessel, ``P_down = Pv + R_out Q`` at every outlet,
    mass conservation and one shared pressure at every junction, the root pressure (or flow).

    Each Newton step linearises every vessel about the current flow
    (ΔP ≈ c + r Q, r = R + 2S|Q|, c = −S Q|Q|) and solves the linear tree *exactly* in O(n): an
    upward sweep reduces every subtree to an affine law ``P = A + B Q`` at its inlet (children in
    parallel: B = 1/Σ(1/b_k), A = B Σ a_k/b_k), a downward sweep recovers pressures and flows from
    the root. With S = 0 this is one direct solve; otherwise Newton converges quadratically.

    Parameters
    ----------
    offsets, parent, R, S, R_out, root_p, root_q, p_venous
        Tree layout and coefficients (module docstring), SI units.
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
        q = Q.copy()
        r = R + 2.0 * S * np.abs(q)
        c = -S * q * np.abs(q)
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
        Pu = np.empty(n)
        Qn = np.empty(n)
        for idx in levels:
            par = parent[idx]
            root = par < 0
            pu = np.where(root, root_p[idx], P_down[np.where(root, 0, par)] if n else 0.0)
            qn = (pu - a[idx]) / b[idx]
            fr = flow_root[idx]
            qn = np.where(fr, root_q[idx], qn)
            pu = np.where(fr, a[idx] + b[idx] * root_q[idx], pu)
            Pu[idx] = pu
            Qn[idx] = qn
            # P_down of this level is needed by the next level: write active cases now
            pd = A[idx] + B[idx] * qn
            keep = act[idx]
            P_down[idx] = np.where(keep, pd, P_down[idx])
            Pu_keep = np.where(keep, pu, P_up[idx])
            P_up[idx] = Pu_keep
            Q[idx] = np.where(keep, qn, Q[idx])
        # nonlinear residual of the vessel equations at the new iterate
        res_v = np.abs(P_up - P_down - (R * Q + S * Q * np.abs(Q)))
        drive = np.where(is_root, np.abs(P_up - pv), 0.0)
        res_c = np.zeros(n_cases)
        drv_c = np.zeros(n_cases)
        np.maximum.at(res_c, case_of, res_v)
        np.maximum.at(drv_c, case_of, drive)
        rel = np.where(drv_c > 0.0, res_c / np.where(drv_c > 0.0, drv_c, 1.0), 0.0)
        newly = active & True
        residual[newly] = rel[newly]
        iterations[newly] = it
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
