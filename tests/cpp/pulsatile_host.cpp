// Host driver: the pulsatile per-thread device functions (pulsatile.cuh) compiled as plain C++,
// called in the order the GPU launches them (predictor, nodes, corrector, outlet models, sums).
#include "pulsatile.cuh"

extern "C" void host_pulsatile_advance(ff_int n_steps, double t0, double dt, ff_int sample_every,
        const ff_int* case_piece_off, const ff_int* case_node_off, const ff_int* case_lpm_off,
        const ff_int* piece_cell_off, const double* piece_dx, const ff_int* piece_case,
        double* A, double* Q, const double* A0, const double* beta, const double* p0, const double* rho,
        const double* kr, const double* alpha, double* Af, double* Qf,
        const ff_int* node_port_off, const ff_int* node_type, const double* node_val, const ff_int* node_wave,
        const ff_int* node_lpm, double* node_P, const ff_int* port_piece, const ff_int* port_side,
        const double* port_R, const double* port_S, const double* port_L, double* port_q, double* port_W,
        const ff_int* lpm_port, const ff_int* lpm_type, const double* lpm_R2, const double* lpm_R3,
        const double* lpm_C1, const double* lpm_C2, const double* lpm_pv, const ff_int* lpm_pim_wave,
        const double* lpm_pim_scale, double* lpm_P1, double* lpm_P2, const ff_int* wave_off, const double* wave_t,
        const double* wave_v, const double* wave_period, double* acc_cell_P, double* acc_cell_Q, double* acc_node_P,
        double* acc_port_q, double* acc_port_P, double* wf_cell_P, double* wf_cell_Q, double* wf_node_P,
        ff_int n_pieces, ff_int n_nodes, ff_int n_lpm, ff_int n_rows) {
    (void)case_piece_off; (void)case_node_off; (void)case_lpm_off;
    ff_int n_cells = piece_cell_off[n_pieces];
    for (ff_int step = 0; step < n_steps; ++step) {
        double t = t0 + step * dt;
        for (ff_int p = 0; p < n_pieces; ++p) {
            ff_int c = piece_case[p];
            for (ff_int i = piece_cell_off[p] + 1; i < piece_cell_off[p + 1]; ++i)
                ff_predictor_face(i, p, dt, piece_dx, A, Q, A0, beta, p0, rho[c], kr[c], alpha[c], Af, Qf);
        }
        for (ff_int n = 0; n < n_nodes; ++n)
            ff_node_solve(n, t + 0.5 * dt, dt, node_port_off, node_type, node_val, node_wave, node_lpm, node_P,
                          port_piece, port_side, port_R, port_S, port_L, port_q, port_W, piece_cell_off, piece_dx,
                          piece_case, A, Q, A0, beta, p0, rho, kr, wave_off, wave_t, wave_v, wave_period, lpm_P1,
                          Af, Qf);
        for (ff_int p = 0; p < n_pieces; ++p) {
            ff_int c = piece_case[p];
            for (ff_int i = piece_cell_off[p]; i < piece_cell_off[p + 1]; ++i)
                ff_corrector_cell(i, p, piece_cell_off[p], piece_cell_off[p + 1], dt, piece_dx, A, Q, A0, beta, p0,
                                  rho[c], kr[c], alpha[c], Af, Qf);
        }
        for (ff_int j = 0; j < n_lpm; ++j)
            ff_lpm_step(j, t + dt, dt, port_q[lpm_port[j]], lpm_type, lpm_R2, lpm_R3, lpm_C1, lpm_C2, lpm_pv,
                        lpm_pim_wave, lpm_pim_scale, lpm_P1, lpm_P2, wave_off, wave_t, wave_v, wave_period);
        ff_int row = -1;
        if (sample_every > 0 && (step + 1) % sample_every == 0 && (step + 1) / sample_every - 1 < n_rows)
            row = (step + 1) / sample_every - 1;
        for (ff_int i = 0; i < n_cells; ++i) {
            double P = ff_tube_pressure(A[i], A0[i], beta[i], p0[i]);
            acc_cell_P[i] += P;
            acc_cell_Q[i] += Q[i];
            if (row >= 0) { wf_cell_P[row * n_cells + i] = P; wf_cell_Q[row * n_cells + i] = Q[i]; }
        }
        for (ff_int n = 0; n < n_nodes; ++n) {
            acc_node_P[n] += node_P[n];
            if (row >= 0) wf_node_P[row * n_nodes + n] = node_P[n];
            for (ff_int k = node_port_off[n]; k < node_port_off[n + 1]; ++k) {
                acc_port_q[k] += port_q[k];
                ff_int ic = ff_port_cell(k, port_piece, port_side, piece_cell_off);
                ff_int face = ff_port_face(k, port_piece, port_side, piece_cell_off);
                acc_port_P[k] += ff_tube_pressure(Af[face], A0[ic], beta[ic], p0[ic]);
            }
        }
    }
}
