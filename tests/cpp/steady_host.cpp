// Host driver: the per-thread CUDA device functions of steady.cuh compiled as plain C++ (docs/architecture.md
// §Backends and kernels).
// Each function loops over work items exactly as one GPU thread per item would.
#include "steady.cuh"

extern "C" {

void host_segment_resistance(const double* r0, const double* r1, const double* length, const double* mu,
                             double* out, ff_int n) {
    for (ff_int i = 0; i < n; ++i) out[i] = ff_frustum(r0[i], r1[i], length[i], mu[i]);
}

void host_tree_newton(const ff_int* offsets, const ff_int* parent, const double* R, const double* S,
                      const double* R_out, const double* root_p, const double* root_q, const double* p_venous,
                      double tol, ff_int max_iter, double* Q, double* P_up, double* P_down, double* work, ff_int n,
                      ff_int* iterations, double* residual, ff_int n_cases) {
    for (ff_int c = 0; c < n_cases; ++c) {
        double rel;
        iterations[c] = ff_tree_newton_case(offsets[c], offsets[c + 1], parent, R, S, R_out, root_p, root_q,
                                            p_venous[c], tol, max_iter, Q, P_up, P_down, work, work + n,
                                            work + 2 * n, work + 3 * n, work + 4 * n, work + 5 * n, &rel);
        residual[c] = rel;
    }
}

void host_ensemble_steady(const ff_int* tv_off, const ff_int* parent, const ff_int* vn_off,
        const double* el_len, const double* r_node, const double* d_node, const ff_int* node_les,
        const ff_int* v_out, const ff_int* tl_off, const ff_int* les_k0, const ff_int* les_k1,
        const double* les_ref, const ff_int* case_tree, const ff_int* cv_off, const ff_int* cl_off,
        const ff_int* co_off, const double* mu, const double* rho, const double* kt, const ff_int* model,
        const double* lesion_coef, const double* p_in, const double* q_in, const double* p_v, const double* dr, const double* sev,
        const double* r_out, double tol, ff_int max_iter, double* Q, double* P_up, double* P_down,
        double* p_les0, double* p_les1, double* r_mld, double* p_out, double* work, double* lwork,
        ff_int n_cv, ff_int n_cl, ff_int* par_cv, double* rout_cv, double* rp, double* rq,
        ff_int* iterations, double* residual, ff_int n_cases) {
    for (ff_int c = 0; c < n_cases; ++c) {
        double rel;
        iterations[c] = ff_ensemble_case(c, tv_off, parent, vn_off, el_len, r_node, d_node, node_les, v_out,
                                         tl_off, les_k0, les_k1, les_ref, case_tree, cv_off, cl_off, co_off, mu,
                                         rho, kt, model, lesion_coef, p_in, q_in, p_v, dr, sev, r_out, tol, max_iter, Q, P_up,
                                         P_down, p_les0, p_les1, r_mld, p_out, work, lwork, n_cv, n_cl, par_cv,
                                         rout_cv, rp, rq, &rel);
        residual[c] = rel;
    }
}

}
