// Pulsatile 1D solver: per-thread device functions. Line-by-line port of
// ffrflow/kernels/_pulsatile_scalar.py (nodes, outlet models, waveforms) and of the cell loops of
// ffrflow/kernels/cpu.py (_advance_case). SI units; see ffrflow/cfd/pulsatile.py for the model.
#pragma once
#include "common.cuh"

FF_HD double ff_tube_pressure(double A, double A0, double beta, double p0) {
    return p0 + beta * (1.0 - sqrt(A0 / A));
}

FF_HD double ff_wave_speed(double A, double A0, double beta, double rho) {
    return sqrt(beta * sqrt(A0) / (2.0 * rho)) * pow(A, -0.25);
}

FF_HD double ff_phi(double A, double A0, double beta, double rho) {
    double k = sqrt(beta * sqrt(A0) / (2.0 * rho));
    return 4.0 * k * (pow(A0, -0.25) - pow(A, -0.25));
}

FF_HD double ff_wave_value(ff_int w, double t, const ff_int* wave_off, const double* wave_t, const double* wave_v,
                           const double* wave_period) {
    ff_int lo = wave_off[w], hi = wave_off[w + 1];
    double T = wave_period[w];
    double tt = t - T * floor(t / T);
    if (hi - lo == 1) return wave_v[lo];
    for (ff_int j = lo; j < hi - 1; ++j) {
        if (wave_t[j + 1] > tt) {
            double f = (tt - wave_t[j]) / (wave_t[j + 1] - wave_t[j]);
            return wave_v[j] + f * (wave_v[j + 1] - wave_v[j]);
        }
    }
    double f = (tt - wave_t[hi - 1]) / (T - wave_t[hi - 1] + wave_t[lo]);
    return wave_v[hi - 1] + f * (wave_v[lo] - wave_v[hi - 1]);
}

FF_HD double ff_port_invariant(ff_int k, double dt, const ff_int* port_piece, const ff_int* port_side,
                               const ff_int* piece_cell_off, const double* piece_dx, const ff_int* piece_case,
                               const double* A, const double* Q, const double* A0, const double* beta,
                               const double* rho, const double* kr) {
    ff_int p = port_piece[k];
    ff_int c0 = piece_cell_off[p], c1 = piece_cell_off[p + 1];
    ff_int cs = piece_case[p];
    double r = rho[cs];
    ff_int i1, i2;
    double sg;
    if (port_side[k] == 1) { i1 = c1 - 1; i2 = c1 - 2; sg = 1.0; }
    else { i1 = c0; i2 = c0 + 1; sg = -1.0; }
    double u1 = Q[i1] / A[i1];
    double u2 = Q[i2] / A[i2];
    double w1 = u1 + sg * ff_phi(A[i1], A0[i1], beta[i1], r);
    double w2 = u2 + sg * ff_phi(A[i2], A0[i2], beta[i2], r);
    double lam = ff_abs(u1 + sg * ff_wave_speed(A[i1], A0[i1], beta[i1], r));
    double frac = 0.5 - 0.5 * lam * dt / piece_dx[p];
    return w1 + frac * (w1 - w2) - 0.5 * dt * kr[cs] * u1 / A[i1];
}

// Returns A; writes q (flow into the node), dA/dP_node and dq/dA.
FF_HD double ff_port_solve(double W, double sg, double A_guess, double A0, double beta, double p0, double rho,
                           double P_node, double R, double S, double L, double q_old, double dt,
                           double* q_out, double* dAdP, double* dqdA) {
    double A = A_guess;
    if (A <= 0.0) A = A0;
    double gp = 1.0;
    for (int it = 0; it < 60; ++it) {
        double ph = ff_phi(A, A0, beta, rho);
        double c = ff_wave_speed(A, A0, beta, rho);
        double q = sg * A * W - A * ph;
        double dq = sg * W - ph - c;
        double aq = ff_abs(q);
        double f = R * q + S * aq * q + L * (q - q_old) / dt;
        double fp = R + 2.0 * S * aq + L / dt;
        double P = p0 + beta * (1.0 - sqrt(A0 / A));
        double Pp = 0.5 * beta * sqrt(A0) * pow(A, -1.5);
        double g = P - P_node - f;
        gp = Pp - fp * dq;
        double An = A - g / gp;
        if (An < 0.2 * A) An = 0.2 * A;
        else if (An > 5.0 * A) An = 5.0 * A;
        bool done = ff_abs(An - A) <= 1e-14 * A0;
        A = An;
        if (done) break;
    }
    double ph = ff_phi(A, A0, beta, rho);
    *q_out = sg * A * W - A * ph;
    *dqdA = sg * W - ph - ff_wave_speed(A, A0, beta, rho);
    *dAdP = 1.0 / gp;
    return A;
}

FF_HD ff_int ff_port_face(ff_int k, const ff_int* port_piece, const ff_int* port_side, const ff_int* piece_cell_off) {
    ff_int p = port_piece[k];
    return piece_cell_off[p] + p + (port_side[k] == 1 ? piece_cell_off[p + 1] - piece_cell_off[p] : 0);
}

FF_HD ff_int ff_port_cell(ff_int k, const ff_int* port_piece, const ff_int* port_side, const ff_int* piece_cell_off) {
    ff_int p = port_piece[k];
    return port_side[k] == 1 ? piece_cell_off[p + 1] - 1 : piece_cell_off[p];
}

// Solve port k at node pressure P: set its face state; return its flow into the node and add dq/dP to *dF.
FF_HD double ff_port_update(ff_int k, double P, double dt, const ff_int* port_piece, const ff_int* port_side,
                            const double* port_R, const double* port_S, const double* port_L, const double* port_q,
                            const double* port_W, const ff_int* piece_cell_off, const ff_int* piece_case,
                            const double* A0, const double* beta, const double* p0, const double* rho, double* Af,
                            double* Qf, double* dF) {
    ff_int p = port_piece[k];
    ff_int ic = ff_port_cell(k, port_piece, port_side, piece_cell_off);
    ff_int face = ff_port_face(k, port_piece, port_side, piece_cell_off);
    double sg = port_side[k] == 1 ? 1.0 : -1.0;
    double qk, dAdP, dqdA;
    double Ak = ff_port_solve(port_W[k], sg, Af[face], A0[ic], beta[ic], p0[ic], rho[piece_case[p]], P, port_R[k],
                              port_S[k], port_L[k], port_q[k], dt, &qk, &dAdP, &dqdA);
    Af[face] = Ak;
    Qf[face] = sg * qk;
    *dF += dqdA * dAdP;
    return qk;
}

FF_HD double ff_node_solve(ff_int n, double t_half, double dt, const ff_int* node_port_off, const ff_int* node_type,
        const double* node_val, const ff_int* node_wave, const ff_int* node_lpm, double* node_P,
        const ff_int* port_piece, const ff_int* port_side, const double* port_R, const double* port_S,
        const double* port_L, double* port_q, double* port_W, const ff_int* piece_cell_off,
        const double* piece_dx, const ff_int* piece_case, const double* A, const double* Q, const double* A0,
        const double* beta, const double* p0, const double* rho, const double* kr, const ff_int* wave_off,
        const double* wave_t, const double* wave_v, const double* wave_period, const double* lpm_P1,
        double* Af, double* Qf) {
    ff_int k0 = node_port_off[n], k1 = node_port_off[n + 1];
    for (ff_int k = k0; k < k1; ++k)
        port_W[k] = ff_port_invariant(k, dt, port_piece, port_side, piece_cell_off, piece_dx, piece_case, A, Q, A0,
                                      beta, rho, kr);
    ff_int typ = node_type[n];
    double q_in = 0.0;
    if (typ == 1) node_P[n] = ff_wave_value(node_wave[n], t_half, wave_off, wave_t, wave_v, wave_period);
    else if (typ == 3) node_P[n] = lpm_P1[node_lpm[n]];
    else if (typ == 4) node_P[n] = node_val[n];
    else if (typ == 2) q_in = ff_wave_value(node_wave[n], t_half, wave_off, wave_t, wave_v, wave_period);
    double P = node_P[n];
    bool free_node = (typ == 0 || typ == 2);
    for (int it = 0; it < 60; ++it) {
        double F = q_in, dF = 0.0;
        for (ff_int k = k0; k < k1; ++k) {
            F += ff_port_update(k, P, dt, port_piece, port_side, port_R, port_S, port_L, port_q, port_W,
                                piece_cell_off, piece_case, A0, beta, p0, rho, Af, Qf, &dF);
        }
        if (!free_node) break;
        double dP = -F / dF;
        P += dP;
        if (ff_abs(dP) <= 1e-11 * (ff_abs(P) + 1.0)) break;
    }
    if (free_node) {
        double dF = 0.0;
        for (ff_int k = k0; k < k1; ++k)
            ff_port_update(k, P, dt, port_piece, port_side, port_R, port_S, port_L, port_q, port_W,
                           piece_cell_off, piece_case, A0, beta, p0, rho, Af, Qf, &dF);
    }
    node_P[n] = P;
    for (ff_int k = k0; k < k1; ++k) {
        ff_int face = ff_port_face(k, port_piece, port_side, piece_cell_off);
        port_q[k] = port_side[k] == 1 ? Qf[face] : -Qf[face];
    }
    return P;
}

FF_HD void ff_lpm_step(ff_int j, double t_new, double dt, double q, const ff_int* lpm_type, const double* lpm_R2,
                       const double* lpm_R3, const double* lpm_C1, const double* lpm_C2, const double* lpm_pv,
                       const ff_int* lpm_pim_wave, const double* lpm_pim_scale, double* lpm_P1, double* lpm_P2,
                       const ff_int* wave_off, const double* wave_t, const double* wave_v, const double* wave_period) {
    ff_int typ = lpm_type[j];
    if (typ == 2) return;
    double P1 = lpm_P1[j], pv = lpm_pv[j];
    if (typ == 1) {
        double C = lpm_C1[j], Rd = lpm_R2[j];
        lpm_P1[j] = (P1 + dt / C * (q + pv / Rd)) / (1.0 + dt / (C * Rd));
        return;
    }
    double Ca = lpm_C1[j], Cim = lpm_C2[j], Ram = lpm_R2[j], Rv = lpm_R3[j], P2 = lpm_P2[j];
    double pim_old = 0.0, pim_new = 0.0;
    ff_int w = lpm_pim_wave[j];
    if (w >= 0) {
        double s = lpm_pim_scale[j];
        pim_old = s * ff_wave_value(w, t_new - dt, wave_off, wave_t, wave_v, wave_period);
        pim_new = s * ff_wave_value(w, t_new, wave_off, wave_t, wave_v, wave_period);
    }
    double a11 = Ca / dt + 1.0 / Ram, a12 = -1.0 / Ram, a22 = Cim / dt + 1.0 / Ram + 1.0 / Rv;
    double b1 = Ca / dt * P1 + q;
    double b2 = Cim / dt * (P2 + pim_new - pim_old) + pv / Rv;
    double det = a11 * a22 - a12 * a12;
    lpm_P1[j] = (b1 * a22 - a12 * b2) / det;
    lpm_P2[j] = (a11 * b2 - a12 * b1) / det;
}

// Lax–Wendroff predictor at the face left of cell i (i not the first cell of its piece p).
FF_HD void ff_predictor_face(ff_int i, ff_int p, double dt, const double* piece_dx, const double* A, const double* Q,
                             const double* A0, const double* beta, const double* p0, double r, double k_r, double al,
                             double* Af, double* Qf) {
    ff_int l = i - 1;
    double h = dt / piece_dx[p];
    double PL = p0[l] + beta[l] * (1.0 - sqrt(A0[l] / A[l]));
    double PR = p0[i] + beta[i] * (1.0 - sqrt(A0[i] / A[i]));
    double Ab = 0.5 * (A[l] + A[i]);
    double Qb = 0.5 * (Q[l] + Q[i]);
    ff_int f = i + p;
    Af[f] = Ab - 0.5 * h * (Q[i] - Q[l]);
    Qf[f] = (Qb - 0.5 * h * (al * Q[i] * Q[i] / A[i] - al * Q[l] * Q[l] / A[l]) - 0.5 * h * Ab / r * (PR - PL)
             - 0.5 * dt * k_r * Qb / Ab);
}

// Lax–Wendroff corrector of cell i in piece p (cells c0..c1-1), in place.
FF_HD void ff_corrector_cell(ff_int i, ff_int p, ff_int c0, ff_int c1, double dt, const double* piece_dx, double* A,
                             double* Q, const double* A0, const double* beta, const double* p0, double r, double k_r,
                             double al, const double* Af, const double* Qf) {
    double h = dt / piece_dx[p];
    ff_int lf = i + p, rf = lf + 1;
    double Pl, Pr;
    if (i == c0) Pl = p0[i] + beta[i] * (1.0 - sqrt(A0[i] / Af[lf]));
    else {
        double a0m = 0.5 * (A0[i - 1] + A0[i]);
        Pl = 0.5 * (p0[i - 1] + p0[i]) + 0.5 * (beta[i - 1] + beta[i]) * (1.0 - sqrt(a0m / Af[lf]));
    }
    if (i == c1 - 1) Pr = p0[i] + beta[i] * (1.0 - sqrt(A0[i] / Af[rf]));
    else {
        double a0m = 0.5 * (A0[i] + A0[i + 1]);
        Pr = 0.5 * (p0[i] + p0[i + 1]) + 0.5 * (beta[i] + beta[i + 1]) * (1.0 - sqrt(a0m / Af[rf]));
    }
    double Ah = 0.5 * (Af[lf] + Af[rf]);
    double Qh = 0.5 * (Qf[lf] + Qf[rf]);
    double A_new = A[i] - h * (Qf[rf] - Qf[lf]);
    double Q_new = (Q[i] - h * al * (Qf[rf] * Qf[rf] / Af[rf] - Qf[lf] * Qf[lf] / Af[lf]) - h * Ah / r * (Pr - Pl)
                    - dt * k_r * Qh / Ah);
    A[i] = A_new;
    Q[i] = Q_new;
}
