// Host driver: the lumped per-thread device function (lumped.cuh) compiled as plain C++, called once per
// case exactly as one GPU thread per case would (same arguments as the __global__ wrapper in lumped.cu).
#include "lumped.cuh"

extern "C" void host_lumped_integrate(const ff_int* el_off, const ff_int* el_parent, const ff_int* ch_off,
        const ff_int* ch_idx, const double* el_R, const double* el_C, const double* el_L, const double* el_S,
        const ff_int* el_bc_in, const ff_int* el_bc_out, const ff_int* el_cap, const ff_int* bc_off,
        const ff_int* bc_type, const ff_int* bc_el, const ff_int* bc_tab, const ff_int* tab_off, const double* tab_t,
        const double* tab_v, const double* tab_mean, const double* tab_period, const ff_int* sim_i,
        const double* sim_f, double* el_y, double* el_yd, double* bc_y, double* bc_yd, double* bc_aux,
        const ff_int* out_off, double* out, ff_int* status, ff_int* info_i, double* info_f, double* work,
        double* bwork, ff_int sim_i_w, ff_int sim_f_w, ff_int n_cases) {
    FfLumped M = {el_off, el_parent, ch_off, ch_idx, el_R, el_C, el_L, el_S, el_bc_in, el_bc_out, el_cap,
                  bc_off, bc_type, bc_el, bc_tab, tab_off, tab_t, tab_v, tab_mean, tab_period, sim_i, sim_f,
                  el_y, el_yd, bc_y, bc_yd, bc_aux, out_off, out, status, info_i, info_f, work, bwork,
                  sim_i_w, sim_f_w};
    for (ff_int c = 0; c < n_cases; ++c) ff_lp_case(c, M);
}
