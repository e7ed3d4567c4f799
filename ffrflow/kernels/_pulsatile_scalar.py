"""Per-item scalar functions of the pulsatile 1D kernels (plain Python, Numba-compilable).

The NumPy reference calls them directly; :mod:`ffrflow.kernels.cpu` compiles the very same source
with ``numba.njit``; ``kernels/cuda/pulsatile.cuh`` is their line-by-line CUDA C++ port (checked
against them by the test suite). SI units throughout.

Tube law (Olufsen): ``P = P0 + β (1 − √(A0/A))``, β = (4/3)·Eh/r0.
Wave speed ``c(A) = √(β √A0 / (2ρ)) · A^(−1/4)``; ``Φ(A) = ∫_{A0}^{A} c/A' dA' = 4 (c(A0) − c(A))``.
Riemann invariants (α = 1): ``W_f = u + Φ(A)`` travels at u + c, ``W_b = u − Φ(A)`` at u − c.

A *port* joins the end of a 1D piece (side 1: its last face; side 0: its first face) to a coupling
node, possibly through a lumped series element (lesion R, S, inertance L). ``q`` is the flow from
the piece into the node; across the element ``P_face − P_node = R q + S|q|q + L (q − q_old)/dt``.
"""

import math


def tube_pressure(A, A0, beta, p0):
    """Olufsen tube law, Pa."""
    return p0 + beta * (1.0 - math.sqrt(A0 / A))


def tube_area(P, A0, beta, p0):
    """Inverse tube law: area (m²) at pressure P (Pa)."""
    x = 1.0 - (P - p0) / beta
    if x < 0.05:
        x = 0.05
    return A0 / (x * x)


def wave_speed(A, A0, beta, rho):
    """c(A) = √(A/ρ · ∂P/∂A), m/s."""
    return math.sqrt(beta * math.sqrt(A0) / (2.0 * rho)) * A ** -0.25


def phi(A, A0, beta, rho):
    """Φ(A) = ∫ c/A dA from A0 to A, m/s."""
    k = math.sqrt(beta * math.sqrt(A0) / (2.0 * rho))
    return 4.0 * k * (A0 ** -0.25 - A ** -0.25)


def wave_value(w, t, wave_off, wave_t, wave_v, wave_period):
    """Periodic linear interpolation of table ``w`` at time t (s)."""
    lo = wave_off[w]
    hi = wave_off[w + 1]
    T = wave_period[w]
    tt = t - T * math.floor(t / T)
    n = hi - lo
    if n == 1:
        return wave_v[lo]
    # tables start at t=0 and end before T; wrap between the last and first sample
    for j in range(lo, hi - 1):
        if wave_t[j + 1] > tt:
            f = (tt - wave_t[j]) / (wave_t[j + 1] - wave_t[j])
            return wave_v[j] + f * (wave_v[j + 1] - wave_v[j])
    f = (tt - wave_t[hi - 1]) / (T - wave_t[hi - 1] + wave_t[lo])
    return wave_v[hi - 1] + f * (wave_v[lo] - wave_v[hi - 1])


def port_invariant(k, dt, port_piece, port_side, piece_cell_off, piece_dx, piece_case, A, Q, A0, beta, rho, kr):
    """Outgoing invariant at a port's face at t + dt/2 (characteristic extrapolation + friction source).

    Returns W (m/s) and the index of the boundary cell.
    """
    p = port_piece[k]
    c0 = piece_cell_off[p]
    c1 = piece_cell_off[p + 1]
    case = piece_case[p]
    r = rho[case]
    if port_side[k] == 1:
        i1 = c1 - 1
        i2 = c1 - 2
        sg = 1.0
    else:
        i1 = c0
        i2 = c0 + 1
        sg = -1.0
    u1 = Q[i1] / A[i1]
    u2 = Q[i2] / A[i2]
    w1 = u1 + sg * phi(A[i1], A0[i1], beta[i1], r)
    w2 = u2 + sg * phi(A[i2], A0[i2], beta[i2], r)
    lam = abs(u1 + sg * wave_speed(A[i1], A0[i1], beta[i1], r))
    frac = 0.5 - 0.5 * lam * dt / piece_dx[p]
    w = w1 + frac * (w1 - w2) - 0.5 * dt * kr[case] * u1 / A[i1]
    return w, i1


def port_solve(W, sg, A_guess, A0, beta, p0, rho, P_node, R, S, L, q_old, dt):
    """Solve one port for its face area at a given node pressure.

    g(A) = P(A) − P_node − f(q(A)) = 0 with q(A) = sg·A·W − A·Φ(A) (flow into the node) and
    f(q) = R q + S|q|q + L (q − q_old)/dt. g is increasing in A, so Newton from a positive guess,
    kept positive, converges. Returns (A, q, dA/dP_node, dq/dA).
    """
    A = A_guess
    if A <= 0.0:
        A = A0
    dq = 0.0
    gp = 1.0
    q = 0.0
    for _ in range(60):
        ph = phi(A, A0, beta, rho)
        c = wave_speed(A, A0, beta, rho)
        q = sg * A * W - A * ph
        dq = sg * W - ph - c
        aq = abs(q)
        f = R * q + S * aq * q + L * (q - q_old) / dt
        fp = R + 2.0 * S * aq + L / dt
        P = p0 + beta * (1.0 - math.sqrt(A0 / A))
        Pp = 0.5 * beta * math.sqrt(A0) * A ** -1.5
        g = P - P_node - f
        gp = Pp - fp * dq
        dA = g / gp
        An = A - dA
        if An < 0.2 * A:
            An = 0.2 * A
        elif An > 5.0 * A:
            An = 5.0 * A
        done = abs(An - A) <= 1e-14 * A0
        A = An
        if done:
            break
    ph = phi(A, A0, beta, rho)
    q = sg * A * W - A * ph
    dq = sg * W - ph - wave_speed(A, A0, beta, rho)
    return A, q, 1.0 / gp, dq


def port_update(k, P, dt, port_piece, port_side, port_R, port_S, port_L, port_q, port_W,
                piece_cell_off, piece_case, A0, beta, p0, rho, Af, Qf):
    """Solve port k at node pressure P: set its face state; return (flow into the node, dq/dP)."""
    p = port_piece[k]
    side = port_side[k]
    ic = piece_cell_off[p + 1] - 1 if side == 1 else piece_cell_off[p]
    face = piece_cell_off[p] + p + (piece_cell_off[p + 1] - piece_cell_off[p] if side == 1 else 0)
    sg = 1.0 if side == 1 else -1.0
    Ak, qk, dAdP, dqdA = port_solve(port_W[k], sg, Af[face], A0[ic], beta[ic], p0[ic], rho[piece_case[p]], P,
                                    port_R[k], port_S[k], port_L[k], port_q[k], dt)
    Af[face] = Ak
    Qf[face] = sg * qk
    return qk, dqdA * dAdP


def node_solve_one(n, t_half, dt, node_port_off, node_type, node_val, node_wave, node_lpm, node_P,
                   port_piece, port_side, port_R, port_S, port_L, port_q, port_W,
                   piece_cell_off, piece_dx, piece_case, A, Q, A0, beta, p0, rho, kr,
                   wave_off, wave_t, wave_v, wave_period, lpm_P1, Af, Qf):
    """Couple the ports of node ``n`` at t + dt/2: set their face states (Af, Qf), flows and the node
    pressure. Node types: 0 junction (mass conservation, one pressure), 1 inlet pressure P(t),
    2 inlet flow Q(t), 3 pressure of an outlet model's first capacitor, 4 fixed pressure."""
    k0 = node_port_off[n]
    k1 = node_port_off[n + 1]
    for k in range(k0, k1):
        w, i1 = port_invariant(k, dt, port_piece, port_side, piece_cell_off, piece_dx, piece_case, A, Q, A0,
                               beta, rho, kr)
        port_W[k] = w
    typ = node_type[n]
    q_in = 0.0
    if typ == 1:
        node_P[n] = wave_value(node_wave[n], t_half, wave_off, wave_t, wave_v, wave_period)
    elif typ == 3:
        node_P[n] = lpm_P1[node_lpm[n]]
    elif typ == 4:
        node_P[n] = node_val[n]
    elif typ == 2:
        q_in = wave_value(node_wave[n], t_half, wave_off, wave_t, wave_v, wave_period)
    P = node_P[n]
    free = typ == 0 or typ == 2
    for it in range(60):
        F = q_in
        dF = 0.0
        for k in range(k0, k1):
            qk, dqdP = port_update(k, P, dt, port_piece, port_side, port_R, port_S, port_L, port_q, port_W,
                                   piece_cell_off, piece_case, A0, beta, p0, rho, Af, Qf)
            F += qk
            dF += dqdP
        if not free:
            break
        dP = -F / dF
        P += dP
        if abs(dP) <= 1e-11 * (abs(P) + 1.0):
            break
    if free:
        # final pass at the converged pressure so that faces and flows match it exactly
        for k in range(k0, k1):
            port_update(k, P, dt, port_piece, port_side, port_R, port_S, port_L, port_q, port_W,
                        piece_cell_off, piece_case, A0, beta, p0, rho, Af, Qf)
    node_P[n] = P
    for k in range(k0, k1):
        p = port_piece[k]
        side = port_side[k]
        face = piece_cell_off[p] + p + (piece_cell_off[p + 1] - piece_cell_off[p] if side == 1 else 0)
        port_q[k] = Qf[face] if side == 1 else -Qf[face]
    return P


def lpm_step(j, t_new, dt, q, lpm_type, lpm_R2, lpm_R3, lpm_C1, lpm_C2, lpm_pv, lpm_pim_wave, lpm_pim_scale,
             lpm_P1, lpm_P2, wave_off, wave_t, wave_v, wave_period):
    """Advance outlet model ``j`` by dt with inflow q (implicit Euler).

    Type 0, coronary (Kim et al. 2010): R_a on the port, then C_a (P1), R_am, C_im driven by
    P_im(t) (P2), R_v to P_v:  C_a dP1/dt = q − (P1 − P2)/R_am;
    C_im d(P2 − P_im)/dt = (P1 − P2)/R_am − (P2 − P_v)/R_v.
    Type 1, RCR: R_p on the port, C (P1), R_d to P_v: C dP1/dt = q − (P1 − P_v)/R_d.
    Type 2: pure resistance (no state).
    """
    typ = lpm_type[j]
    if typ == 2:
        return
    P1 = lpm_P1[j]
    pv = lpm_pv[j]
    if typ == 1:
        C = lpm_C1[j]
        Rd = lpm_R2[j]
        lpm_P1[j] = (P1 + dt / C * (q + pv / Rd)) / (1.0 + dt / (C * Rd))
        return
    Ca = lpm_C1[j]
    Cim = lpm_C2[j]
    Ram = lpm_R2[j]
    Rv = lpm_R3[j]
    P2 = lpm_P2[j]
    pim_old = 0.0
    pim_new = 0.0
    w = lpm_pim_wave[j]
    if w >= 0:
        s = lpm_pim_scale[j]
        pim_old = s * wave_value(w, t_new - dt, wave_off, wave_t, wave_v, wave_period)
        pim_new = s * wave_value(w, t_new, wave_off, wave_t, wave_v, wave_period)
    # [Ca/dt + 1/Ram, -1/Ram; -1/Ram, Cim/dt + 1/Ram + 1/Rv] [P1'; P2'] = rhs
    a11 = Ca / dt + 1.0 / Ram
    a12 = -1.0 / Ram
    a22 = Cim / dt + 1.0 / Ram + 1.0 / Rv
    b1 = Ca / dt * P1 + q
    b2 = Cim / dt * (P2 + pim_new - pim_old) + pv / Rv
    det = a11 * a22 - a12 * a12
    lpm_P1[j] = (b1 * a22 - a12 * b2) / det
    lpm_P2[j] = (a11 * b2 - a12 * b1) / det
