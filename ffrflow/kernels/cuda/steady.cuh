// Steady hyperemic network: per-thread (per-case) device functions. Mirrors ffrflow/kernels/cpu.py
// (_tree_newton_case, _ensemble_case) line by line; see ffrflow/kernels/reference.py for the maths.
#pragma once
#include "common.cuh"

// Exact Poiseuille resistance of a frustum with radius linear from r0 to r1 (SI).
FF_HD double ff_frustum(double r0, double r1, double length, double mu) {
    return 8.0 * mu * length * (r0 * r0 + r0 * r1 + r1 * r1) / (3.0 * FF_PI * r0 * r0 * r0 * r1 * r1 * r1);
}

#define FF_LINE_SEARCH_ALPHA 1e-4
#define FF_LINE_SEARCH_HALVINGS 60

// Monotone vessel law f(q) (returned) and its slope *fp (reference.vessel_law for one vessel).
FF_HD double ff_vessel_law(double R, double S, double q, double* fp) {
    double aq = ff_abs(q);
    if (R < 0.0 && R + S * aq <= 0.0) { *fp = 0.0; return 0.0; }
    *fp = R + 2.0 * S * aq;
    return R * q + S * q * aq;
}

// F(q + h) - F(q) - f(q) h without cancellation (reference.vessel_energy_remainder for one vessel).
FF_HD double ff_vessel_remainder(double R, double S, double q, double h) {
    double b = q + h;
    double aq = ff_abs(q), ab = ff_abs(b);
    bool flat_a = R < 0.0 && R + S * aq <= 0.0;
    bool flat_b = R < 0.0 && R + S * ab <= 0.0;
    if (q * b >= 0.0 && !flat_a && !flat_b) {
        double sgn = q + b >= 0.0 ? 1.0 : -1.0;
        return 0.5 * R * h * h + sgn * S * (q * h * h + h * h * h / 3.0);
    }
    double qz = (R < 0.0 && S > 0.0) ? -R / S : 0.0;
    double ya = flat_a ? qz : aq;
    double yb = flat_b ? qz : ab;
    double fp;
    double fa = ff_vessel_law(R, S, q, &fp);
    return (yb - ya) * (0.5 * R * (ya + yb) + S * (ya * ya + ya * yb + yb * yb) / 3.0) - fa * h;
}

// Globally convergent tree Newton on vessels lo..hi-1 (parents first; parent[] in the same index
// space, -1 = root): the Newton step of reference.tree_newton with its Armijo line search on the
// network energy from the second iteration. Writes Q, P_up, P_down; returns iterations, sets *rel to
// the final relative residual. sI holds the full step's flows and sA each vessel's slope after the
// upward sweep.
FF_HD ff_int ff_tree_newton_case(ff_int lo, ff_int hi, const ff_int* parent, const double* R, const double* S,
                                 const double* R_out, const double* root_p, const double* root_q, double pv,
                                 double tol, ff_int max_iter, double* Q, double* P_up, double* P_down,
                                 double* A, double* B, double* a, double* b, double* sI, double* sA, double* rel) {
    ff_int it = 0;
    double r_rel = 1e300;
    for (it = 1; it <= max_iter; ++it) {
        for (ff_int i = lo; i < hi; ++i) { sI[i] = 0.0; sA[i] = 0.0; }
        for (ff_int i = hi - 1; i >= lo; --i) {
            double q = Q[i];
            double r;
            double f = ff_vessel_law(R[i], S[i], q, &r);
            double c = f - r * q;
            double Bd, Ad;
            if (R_out[i] > 0.0) { Bd = R_out[i]; Ad = pv; }
            else { Bd = 1.0 / sI[i]; Ad = sA[i] * Bd; }
            A[i] = Ad; B[i] = Bd;
            a[i] = Ad + c; b[i] = Bd + r;
            sA[i] = r;
            ff_int p = parent[i];
            if (p >= 0) { sI[p] += 1.0 / b[i]; sA[p] += a[i] / b[i]; }
        }
        double dhd = 0.0;
        for (ff_int i = lo; i < hi; ++i) {
            ff_int p = parent[i];
            double pu, qn;
            if (p < 0) {
                if (ff_isnan(root_q[i])) { pu = root_p[i]; qn = (pu - a[i]) / b[i]; }
                else { qn = root_q[i]; pu = a[i] + b[i] * qn; }
            } else { pu = P_down[p]; qn = (pu - a[i]) / b[i]; }
            sI[i] = qn; P_up[i] = pu; P_down[i] = A[i] + B[i] * qn;
            double d = qn - Q[i];
            dhd += (sA[i] + R_out[i]) * d * d;
        }
        double t = 1.0;
        if (it > 1) {
            if (dhd > 0.0) {
                for (ff_int k = 0; k < FF_LINE_SEARCH_HALVINGS; ++k) {
                    double rem = 0.0;
                    for (ff_int i = lo; i < hi; ++i) {
                        double h = t * (sI[i] - Q[i]);
                        rem += ff_vessel_remainder(R[i], S[i], Q[i], h) + 0.5 * R_out[i] * h * h;
                    }
                    if (rem <= (1.0 - FF_LINE_SEARCH_ALPHA) * t * dhd) break;
                    t *= 0.5;
                }
            }
        }
        for (ff_int i = lo; i < hi; ++i) Q[i] = t == 1.0 ? sI[i] : Q[i] + t * (sI[i] - Q[i]);
        double res = 0.0, drive = 0.0;
        for (ff_int i = lo; i < hi; ++i) {
            double fp;
            double e = ff_abs(P_up[i] - P_down[i] - ff_vessel_law(R[i], S[i], Q[i], &fp));
            if (e > res) res = e;
            if (parent[i] < 0) { double d = ff_abs(P_up[i] - pv); if (d > drive) drive = d; }
        }
        r_rel = drive > 0.0 ? res / drive : 0.0;
        if (r_rel <= tol) break;
    }
    if (it > max_iter) it = max_iter;
    *rel = r_rel;
    return it;
}

// One case of the ensemble solve (see reference.ensemble_steady for the layout). work has 8 rows of
// n_cv, lwork 4 rows of n_cl; scratch par_cv, rout_cv, rp, rq are n_cv long.
FF_HD ff_int ff_ensemble_case(ff_int c, const ff_int* tv_off, const ff_int* parent, const ff_int* vn_off,
        const double* el_len, const double* r_node, const double* d_node, const ff_int* node_les,
        const ff_int* v_out, const ff_int* tl_off, const ff_int* les_k0, const ff_int* les_k1,
        const double* les_ref, const ff_int* case_tree, const ff_int* cv_off, const ff_int* cl_off,
        const ff_int* co_off, const double* mu, const double* rho, const double* kt, const ff_int* model,
        const double* lesion_coef, const double* p_in, const double* q_in, const double* p_v, const double* dr, const double* sev,
        const double* r_out, double tol, ff_int max_iter, double* Q, double* P_up, double* P_down,
        double* p_les0, double* p_les1, double* r_mld, double* p_out, double* work, double* lwork,
        ff_int n_cv, ff_int n_cl, ff_int* par_cv, double* rout_cv, double* rp, double* rq, double* rel) {
    ff_int t = case_tree[c];
    ff_int v0 = tv_off[t], v1 = tv_off[t + 1];
    ff_int l0 = tl_off[t], l1 = tl_off[t + 1];
    ff_int cb = cv_off[c], lb = cl_off[c], ob = co_off[c];
    double* R = work;
    double* S = work + n_cv;
    double* Rc0 = lwork;
    double* Rc1 = lwork + n_cl;
    double* Sc0 = lwork + 2 * n_cl;
    double* Sc1 = lwork + 3 * n_cl;
    bool yt = model[c] == 1;
    for (ff_int g = v0; g < v1; ++g) {
        ff_int i = cb + g - v0;
        par_cv[i] = parent[g] < 0 ? -1 : cb + parent[g] - v0;
        rout_cv[i] = v_out[g] >= 0 ? r_out[ob + v_out[g]] : 0.0;
        rp[i] = p_in[c];
        rq[i] = q_in[c];
        double rc = 0.0, sc = 0.0, prev_r = 0.0;
        ff_int kfirst = vn_off[g];
        ff_int prev_les = -1;
        for (ff_int k = kfirst; k < vn_off[g + 1]; ++k) {
            ff_int les = node_les[k];
            double sv = les >= 0 ? sev[lb + les - l0] : 1.0;
            double rk = r_node[k] + (1.0 - sv) * d_node[k] + dr[i];
            if (k > kfirst) {
                bool inside = yt && les >= 0 && les == prev_les;
                if (!inside) rc += ff_frustum(prev_r, rk, el_len[k], mu[c]);
            }
            if (les >= 0) {
                ff_int il = lb + les - l0;
                if (k == les_k0[les]) { Rc0[il] = rc; Sc0[il] = sc; r_mld[il] = rk; }
                else if (rk < r_mld[il]) { r_mld[il] = rk; }
                if (k == les_k1[les]) {
                    double ref = les_ref[les] + dr[i];
                    double a0 = FF_PI * ref * ref;
                    double as = FF_PI * r_mld[il] * r_mld[il];
                    if (as < a0) {
                        double f = a0 / as - 1.0;
                        if (model[c] == 2) {
                            rc += lesion_coef[2 * il];
                            sc += lesion_coef[2 * il + 1];
                        } else {
                            sc += kt[c] * rho[c] / (2.0 * a0 * a0) * f * f;
                        }
                        if (yt) {
                            double ls = 0.0;
                            for (ff_int kk = les_k0[les] + 1; kk <= k; ++kk) ls += el_len[kk];
                            double ratio = a0 / as;
                            double kv = 32.0 * (0.83 * ls + 1.64 * 2.0 * r_mld[il]) * ratio * ratio / (2.0 * ref);
                            rc += kv * mu[c] / (a0 * 2.0 * ref);
                        }
                    }
                    Rc1[il] = rc; Sc1[il] = sc;
                }
            }
            prev_r = rk;
            prev_les = les;
        }
        R[i] = rc;
        S[i] = sc;
    }
    ff_int it = ff_tree_newton_case(cb, cb + (v1 - v0), par_cv, R, S, rout_cv, rp, rq, p_v[c], tol, max_iter,
                                    Q, P_up, P_down, work + 2 * n_cv, work + 3 * n_cv, work + 4 * n_cv,
                                    work + 5 * n_cv, work + 6 * n_cv, work + 7 * n_cv, rel);
    for (ff_int lg = l0; lg < l1; ++lg) {
        ff_int il = lb + lg - l0;
        ff_int g = v0;
        while (g + 1 < v1 && vn_off[g + 1] <= les_k0[lg]) ++g;
        ff_int i = cb + g - v0;
        double q = Q[i];
        p_les0[il] = P_up[i] - q * Rc0[il] - q * ff_abs(q) * Sc0[il];
        p_les1[il] = P_up[i] - q * Rc1[il] - q * ff_abs(q) * Sc1[il];
    }
    for (ff_int g = v0; g < v1; ++g)
        if (v_out[g] >= 0) p_out[ob + v_out[g]] = P_down[cb + g - v0];
    return it;
}
