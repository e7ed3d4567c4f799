// Global kernels of one pulsatile time step; threads map to cells, nodes or outlet models only.
// The host launches predictor -> nodes -> corrector -> outlet models -> accumulate for every step;
// all arrays stay on the device for the whole run.
#include "pulsatile.cuh"

#define FF_TID ((ff_int)blockIdx.x * blockDim.x + threadIdx.x)

FF_GLOBAL void ff_pul_predictor_k(ff_int n_cells, const ff_int* cell_piece, const ff_int* piece_cell_off,
        const ff_int* piece_case, double dt, const double* piece_dx, const double* A, const double* Q,
        const double* A0, const double* beta, const double* p0, const double* rho, const double* kr,
        const double* alpha, double* Af, double* Qf) {
    ff_int i = FF_TID;
    if (i >= n_cells) return;
    ff_int p = cell_piece[i];
    if (i == piece_cell_off[p]) return;
    ff_int c = piece_case[p];
    ff_predictor_face(i, p, dt, piece_dx, A, Q, A0, beta, p0, rho[c], kr[c], alpha[c], Af, Qf);
}

FF_GLOBAL void ff_pul_nodes_k(ff_int n_nodes, double t_half, double dt, const ff_int* node_port_off,
        const ff_int* node_type, const double* node_val, const ff_int* node_wave, const ff_int* node_lpm,
        double* node_P, const ff_int* port_piece, const ff_int* port_side, const double* port_R,
        const double* port_S, const double* port_L, double* port_q, double* port_W, const ff_int* piece_cell_off,
        const double* piece_dx, const ff_int* piece_case, const double* A, const double* Q, const double* A0,
        const double* beta, const double* p0, const double* rho, const double* kr, const ff_int* wave_off,
        const double* wave_t, const double* wave_v, const double* wave_period, const double* lpm_P1,
        double* Af, double* Qf) {
    ff_int n = FF_TID;
    if (n >= n_nodes) return;
    ff_node_solve(n, t_half, dt, node_port_off, node_type, node_val, node_wave, node_lpm, node_P, port_piece,
                  port_side, port_R, port_S, port_L, port_q, port_W, piece_cell_off, piece_dx, piece_case, A, Q, A0,
                  beta, p0, rho, kr, wave_off, wave_t, wave_v, wave_period, lpm_P1, Af, Qf);
}

FF_GLOBAL void ff_pul_corrector_k(ff_int n_cells, const ff_int* cell_piece, const ff_int* piece_cell_off,
        const ff_int* piece_case, double dt, const double* piece_dx, double* A, double* Q, const double* A0,
        const double* beta, const double* p0, const double* rho, const double* kr, const double* alpha,
        const double* Af, const double* Qf) {
    ff_int i = FF_TID;
    if (i >= n_cells) return;
    ff_int p = cell_piece[i];
    ff_int c = piece_case[p];
    ff_corrector_cell(i, p, piece_cell_off[p], piece_cell_off[p + 1], dt, piece_dx, A, Q, A0, beta, p0, rho[c],
                      kr[c], alpha[c], Af, Qf);
}

FF_GLOBAL void ff_pul_lpm_k(ff_int n_lpm, double t_new, double dt, const double* port_q, const ff_int* lpm_port,
        const ff_int* lpm_type, const double* lpm_R2, const double* lpm_R3, const double* lpm_C1,
        const double* lpm_C2, const double* lpm_pv, const ff_int* lpm_pim_wave, const double* lpm_pim_scale,
        double* lpm_P1, double* lpm_P2, const ff_int* wave_off, const double* wave_t, const double* wave_v,
        const double* wave_period) {
    ff_int j = FF_TID;
    if (j >= n_lpm) return;
    ff_lpm_step(j, t_new, dt, port_q[lpm_port[j]], lpm_type, lpm_R2, lpm_R3, lpm_C1, lpm_C2, lpm_pv, lpm_pim_wave,
                lpm_pim_scale, lpm_P1, lpm_P2, wave_off, wave_t, wave_v, wave_period);
}

FF_GLOBAL void ff_pul_accumulate_cells_k(ff_int n_cells, const double* A, const double* Q, const double* A0,
        const double* beta, const double* p0, double* acc_P, double* acc_Q, ff_int row, double* wf_P, double* wf_Q) {
    ff_int i = FF_TID;
    if (i >= n_cells) return;
    double P = ff_tube_pressure(A[i], A0[i], beta[i], p0[i]);
    acc_P[i] += P;
    acc_Q[i] += Q[i];
    if (row >= 0) { wf_P[row * n_cells + i] = P; wf_Q[row * n_cells + i] = Q[i]; }
}

FF_GLOBAL void ff_pul_accumulate_nodes_k(ff_int n_nodes, const ff_int* node_port_off, const double* node_P,
        const double* port_q, const ff_int* port_piece, const ff_int* port_side, const ff_int* piece_cell_off,
        const double* Af, const double* A0, const double* beta, const double* p0, double* acc_node_P,
        double* acc_port_q, double* acc_port_P, ff_int row, double* wf_node_P) {
    ff_int n = FF_TID;
    if (n >= n_nodes) return;
    acc_node_P[n] += node_P[n];
    if (row >= 0) wf_node_P[row * n_nodes + n] = node_P[n];
    for (ff_int k = node_port_off[n]; k < node_port_off[n + 1]; ++k) {
        acc_port_q[k] += port_q[k];
        ff_int ic = ff_port_cell(k, port_piece, port_side, piece_cell_off);
        ff_int face = ff_port_face(k, port_piece, port_side, piece_cell_off);
        acc_port_P[k] += ff_tube_pressure(Af[face], A0[ic], beta[ic], p0[ic]);
    }
}
