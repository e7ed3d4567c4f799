// Global kernels of the steady solver: threads map to work items only; the work is in steady.cuh.
#include "steady.cuh"

FF_GLOBAL void ff_segment_resistance_k(const double* r0, const double* r1, const double* length,
                                       const double* mu, double* out, ff_int n) {
    ff_int i = (ff_int)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = ff_frustum(r0[i], r1[i], length[i], mu[i]);
}

FF_GLOBAL void ff_node_pressure_k(const ff_int* node_vessel, const double* R_cum, const double* S_cum,
                                  const double* P_up, const double* Q, double* out, ff_int n) {
    ff_int k = (ff_int)blockIdx.x * blockDim.x + threadIdx.x;
    if (k < n) {
        ff_int v = node_vessel[k];
        double q = Q[v];
        out[k] = P_up[v] - q * R_cum[k] - q * ff_abs(q) * S_cum[k];
    }
}

FF_GLOBAL void ff_tree_newton_k(const ff_int* offsets, const ff_int* parent, const double* R, const double* S,
                                const double* R_out, const double* root_p, const double* root_q,
                                const double* p_venous, double tol, ff_int max_iter, double* Q, double* P_up,
                                double* P_down, double* work, ff_int n, ff_int* iterations, double* residual,
                                ff_int n_cases) {
    ff_int c = (ff_int)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= n_cases) return;
    double rel;
    iterations[c] = ff_tree_newton_case(offsets[c], offsets[c + 1], parent, R, S, R_out, root_p, root_q,
                                        p_venous[c], tol, max_iter, Q, P_up, P_down, work, work + n,
                                        work + 2 * n, work + 3 * n, work + 4 * n, work + 5 * n, &rel);
    residual[c] = rel;
}

FF_GLOBAL void ff_ensemble_steady_k(const ff_int* tv_off, const ff_int* parent, const ff_int* vn_off,
        const double* el_len, const double* r_node, const double* d_node, const ff_int* node_les,
        const ff_int* v_out, const ff_int* tl_off, const ff_int* les_k0, const ff_int* les_k1,
        const double* les_ref, const ff_int* case_tree, const ff_int* cv_off, const ff_int* cl_off,
        const ff_int* co_off, const double* mu, const double* rho, const double* kt, const ff_int* model,
        const double* lesion_coef, const double* p_in, const double* q_in, const double* p_v, const double* dr, const double* sev,
        const double* r_out, double tol, ff_int max_iter, double* Q, double* P_up, double* P_down,
        double* p_les0, double* p_les1, double* r_mld, double* p_out, double* work, double* lwork,
        ff_int n_cv, ff_int n_cl, ff_int* par_cv, double* rout_cv, double* rp, double* rq,
        ff_int* iterations, double* residual, ff_int n_cases) {
    ff_int c = (ff_int)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= n_cases) return;
    double rel;
    iterations[c] = ff_ensemble_case(c, tv_off, parent, vn_off, el_len, r_node, d_node, node_les, v_out, tl_off,
                                     les_k0, les_k1, les_ref, case_tree, cv_off, cl_off, co_off, mu, rho, kt,
                                     model, lesion_coef, p_in, q_in, p_v, dr, sev, r_out, tol, max_iter, Q, P_up, P_down,
                                     p_les0, p_les1, r_mld, p_out, work, lwork, n_cv, n_cl, par_cv, rout_cv,
                                     rp, rq, &rel);
    residual[c] = rel;
}

FF_GLOBAL void ff_ensemble_steady_pre_k(const ff_int* tv_off, const ff_int* parent, const ff_int* v_out, const ff_int* v_st, const ff_int* st_fn,
        const ff_int* st_les, const ff_int* st_ed, const double* ed_len, const double* ed_r0, const double* ed_d0,
        const ff_int* ed_l0, const double* ed_r1, const double* ed_d1, const ff_int* ed_l1,
        const ff_int* fn_pc, const double* pc_lo, const double* pc_hi, const ff_int* pc_cf, const double* cf,
        const ff_int* tl_off, const ff_int* les_v, const ff_int* les_next, const ff_int* les_prev,
        const ff_int* les_fn, const double* les_ref, const double* les_dmax, const ff_int* les_cd,
        const double* cd_a, const double* cd_d, const ff_int* cd_l, const double* les_len, const double* les_band,
        const double* les_slope, const double* les_gap, const double* les_wire, const double* les_efs,
        const double* law_c,
        const ff_int* case_tree, const ff_int* tc_off, const ff_int* cv_b, const ff_int* cl_b, const ff_int* co_b,
        const double* mu_c, const double* rho_c, const double* kt_c, const ff_int* model_c, const double* p_in,
        const double* q_in, const double* p_v, const double* dr, const double* sev, const double* r_out,
        double newton_tol, ff_int max_iter, double lesion_tol, ff_int max_passes,
        double* Q, double* P_up, double* P_down, double* p_les0, double* p_les1, double* r_mld, double* coef,
        double* p_out, double* work, double* lwork, ff_int n_cv, ff_int n_cl,
        ff_int* iterations, double* residual, ff_int* passes, ff_int n_cases) {
    ff_int c = (ff_int)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= n_cases) return;
    double rel;
    ff_int np_;
    iterations[c] = ff_ensemble_pre_case(c, tv_off, parent, v_out, v_st, st_fn, st_les, st_ed, ed_len, ed_r0, ed_d0, ed_l0, ed_r1,
            ed_d1, ed_l1, fn_pc, pc_lo, pc_hi, pc_cf, cf, tl_off, les_v, les_next, les_prev, les_fn, les_ref, les_dmax,
            les_cd, cd_a, cd_d, cd_l, les_len, les_band, les_slope, les_gap, les_wire, les_efs, law_c, case_tree, tc_off,
            cv_b, cl_b, co_b, mu_c, rho_c, kt_c, model_c, p_in, q_in, p_v, dr, sev, r_out, newton_tol, max_iter,
            lesion_tol, max_passes, Q, P_up, P_down, p_les0, p_les1, r_mld, coef, p_out, work, lwork, n_cv, n_cl,
            &rel, &np_);
    residual[c] = rel;
    passes[c] = np_;
}
