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

// A lesion's terms at its last node k (node-level pass), added to *rc, *sc; records Rc1, Sc1.
FF_HD void ff_lesion_end(ff_int les, ff_int il, ff_int k, ff_int c, ff_int i, double* rc, double* sc,
                         const ff_int* les_k0, const double* les_ref, const double* dr, const double* r_mld,
                         const ff_int* model, const double* lesion_coef, const double* kt, const double* rho,
                         const double* mu, const double* el_len, double* Rc1, double* Sc1) {
    double ref = les_ref[les] + dr[i];
    double a0 = FF_PI * ref * ref;
    double as = FF_PI * r_mld[il] * r_mld[il];
    if (as < a0) {
        double f = a0 / as - 1.0;
        if (model[c] == 2) {
            *rc += lesion_coef[2 * il];
            *sc += lesion_coef[2 * il + 1];
        } else {
            *sc += kt[c] * rho[c] / (2.0 * a0 * a0) * f * f;
        }
        if (model[c] == 1) {
            double ls = 0.0;
            for (ff_int kk = les_k0[les] + 1; kk <= k; ++kk) ls += el_len[kk];
            double ratio = a0 / as;
            double kv = 32.0 * (0.83 * ls + 1.64 * 2.0 * r_mld[il]) * ratio * ratio / (2.0 * ref);
            *rc += kv * mu[c] / (a0 * 2.0 * ref);
        }
    }
    Rc1[il] = *rc;
    Sc1[il] = *sc;
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
                // an element inside a lesion: its first node's lesion reaches its second node
                bool inside = yt && prev_les >= 0 && k <= les_k1[prev_les];
                if (!inside) rc += ff_frustum(prev_r, rk, el_len[k], mu[c]);
            }
            if (prev_les >= 0 && prev_les != les && k == les_k1[prev_les]) {
                // the last node of a lesion that is the first node of the next one (touching lesions)
                ff_int il = lb + prev_les - l0;
                if (rk < r_mld[il]) r_mld[il] = rk;
                ff_lesion_end(prev_les, il, k, c, i, &rc, &sc, les_k0, les_ref, dr, r_mld, model, lesion_coef, kt, rho,
                              mu, el_len, Rc1, Sc1);
            }
            if (les >= 0) {
                ff_int il = lb + les - l0;
                if (k == les_k0[les]) { Rc0[il] = rc; Sc0[il] = sc; r_mld[il] = rk; }
                else if (rk < r_mld[il]) { r_mld[il] = rk; }
                if (k == les_k1[les])
                    ff_lesion_end(les, il, k, c, i, &rc, &sc, les_k0, les_ref, dr, r_mld, model, lesion_coef, kt, rho,
                                  mu, el_len, Rc1, Sc1);
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

// ------------------------------------------------------------------------------------------------
// Ensemble solve from the per-network layout (ffrflow/cfd/ensemble_layout.py): one case per thread,
// O(vessels + lesions) per case. Mirrors ffrflow/kernels/cpu.py (_pre_geometry, which runs the first
// loop with a chunk of cases innermost, then _pre_case) line by line; see
// reference.ensemble_steady_pre for the layout. Per-case arrays are sample-minor: item k of case i
// of tree t is at base[t] + k * n_t + i (n_t the tree's number of cases), so that consecutive
// threads read consecutive addresses.
// ------------------------------------------------------------------------------------------------
#define FF_PRE_WORK_ROWS 10
#define FF_PRE_LWORK_ROWS 8

// Piecewise Chebyshev expansion number fn at x (Clenshaw).
FF_HD double ff_cheb(ff_int fn, double x, const ff_int* fn_pc, const double* pc_lo, const double* pc_hi,
                     const ff_int* pc_cf, const double* cf) {
    ff_int p = fn_pc[fn];
    ff_int last = fn_pc[fn + 1] - 1;
    while (p < last && x > pc_hi[p]) ++p;
    double lo = pc_lo[p], hi = pc_hi[p];
    double t = (2.0 * x - (lo + hi)) / (hi - lo);
    ff_int c0 = pc_cf[p];
    double b1 = 0.0, b2 = 0.0;
    for (ff_int k = pc_cf[p + 1] - 1; k > c0; --k) {
        double b0 = cf[k] + 2.0 * t * b1 - b2;
        b2 = b1;
        b1 = b0;
    }
    return cf[c0] + t * b1 - b2;
}

// Geometry of lesion j of a case for the ns-calibrated law: sigma, throat area, jet length per flow.
FF_HD void ff_ns_geometry(double r0, double rs, double mu, double rho, const double* law_c, double* sigma,
                          double* a_s, double* ljq) {
    double x = rs / r0;
    double sg = x * x;
    if (sg > 1.0) sg = 1.0;
    double as = FF_PI * rs * rs;
    double ds = 2.0 * rs;
    *sigma = sg;
    *a_s = as;
    *ljq = law_c[7] * exp(-law_c[8] * sg) * rho * ds * ds / (mu * as);
}

// Coefficients (R_x, S) of the ns-calibrated law of lesion j (local; its case's lesions start at
// case-lesion index lb with stride ns) at the flows of their vessels: reference
// ffrflow.cfd.lesion.ns_calibrated_coefficients for one lesion. q: |Q| of lesion k is
// qv[les_v[k] * ns] (pointer at the case's first vessel, vessel stride ns).
FF_HD void ff_ns_coefficients(ff_int j, ff_int l0, const ff_int* les_v, const ff_int* les_next,
                              const ff_int* les_prev, const double* les_band, const double* les_slope,
                              const double* les_gap, const double* les_wire, const double* les_efs,
                              const double* law_c, const double* qv, const double* r0v, const double* rsv,
                              const double* rpois, ff_int ns, double sev, double mu, double rho, double scale,
                              int at_zero, double* rx_out, double* s_out) {
    // law_c: k_exp, k_as, k_steep, slope_0, k_dev, c_dev, lambda_0, c_jet, k_jet, k_rec, m_tandem
    double sg, as, ljq;
    ff_int g = l0 + j;
    double q = at_zero ? 0.0 : ff_abs(qv[les_v[g] * ns]);
    ff_int jn = j * ns;
    ff_ns_geometry(r0v[jn], rsv[jn], mu, rho, law_c, &sg, &as, &ljq);
    bool narrowed = sg < 1.0;
    double ds = 2.0 * rsv[jn];
    double e = rho / (2.0 * as * as);
    double lj = ljq * q;
    double gap = les_gap[g];
    bool finite_gap = gap < 1e300 && gap > -1e300;
    bool reach = finite_gap && lj > gap && narrowed;
    double phi = 1.0;
    ff_int nx = les_next[g];
    if (reach) {
        bool milder = true;
        if (nx >= 0) {
            double s2, a2, l2;
            ff_ns_geometry(r0v[nx * ns], rsv[nx * ns], mu, rho, law_c, &s2, &a2, &l2);
            milder = as >= a2;
        }
        if (milder) phi = pow(gap / lj, law_c[10]);
    }
    ff_int p = les_prev[g];
    bool p_reach = false;
    double p_as = 0.0, p_sg = 0.0, p_ljq = 0.0, p_q = 0.0;
    if (p >= 0) {
        ff_ns_geometry(r0v[p * ns], rsv[p * ns], mu, rho, law_c, &p_sg, &p_as, &p_ljq);
        p_q = at_zero ? 0.0 : ff_abs(qv[les_v[l0 + p] * ns]);
        double p_gap = les_gap[l0 + p];
        p_reach = (p_gap < 1e300) && p_ljq * p_q > p_gap && p_sg < 1.0;
        if (p_reach && as > p_as) phi = 0.0;   // a milder throat inside a tighter jet loses its mixing
    }
    double slope = les_slope[g] * sev;
    double sl = slope - law_c[3];
    double k_mix = law_c[0] + law_c[1] * (1.0 - sg) + law_c[2] * (sl > 0.0 ? sl : 0.0);
    double lam = les_band[g] / ds - law_c[6];
    if (lam < 0.0) lam = 0.0;
    double s = e * (1.0 - sg) * (1.0 - sg) * k_mix * phi + e * (1.0 - sg) * lam * law_c[4];
    double r_dev = e * (1.0 - sg) * lam * law_c[5] * mu * as / (rho * ds);
    double rx = r_dev;
    bool last = !finite_gap;
    bool inherit = last && p >= 0 && p_reach && p_as < as;
    double xw = inherit ? les_gap[l0 + p] + les_efs[g] + les_wire[g] : les_wire[g];
    double src_sg = inherit ? p_sg : sg, src_as = inherit ? p_as : as, src_ljq = inherit ? p_ljq : ljq;
    double src_q = inherit ? p_q : q;
    bool on = last && src_ljq * src_q > xw && src_sg < 1.0;
    if (on) {
        double s_rec = law_c[9] * rho * src_sg * (1.0 - src_sg) / (src_as * src_as);
        s += s_rec;
        rx -= s_rec * (xw / src_ljq);
    }
    bool keep = narrowed || on;
    rx = scale * rx;
    double floor_ = -rpois[jn] - scale * r_dev;
    if (floor_ > 0.0) rx += floor_;
    *rx_out = keep ? rx : 0.0;
    *s_out = keep ? scale * s : 0.0;
}

// Tree Newton of ff_tree_newton_case on one case's vessels 0..nv-1 stored with stride ns (parent:
// the tree's local parent indices; root pressure p_root or inflow q_root for every root).
FF_HD ff_int ff_tree_newton_strided(ff_int nv, ff_int ns, const ff_int* parent, const double* R, const double* S,
                                    const double* R_out, double p_root, double q_root, double pv, double tol,
                                    ff_int max_iter, double* Q, double* P_up, double* P_down, double* A,
                                    double* B, double* a, double* b, double* sI, double* sA, double* rel) {
    ff_int it = 0;
    double r_rel = 1e300;
    for (it = 1; it <= max_iter; ++it) {
        for (ff_int v = 0; v < nv; ++v) { sI[v * ns] = 0.0; sA[v * ns] = 0.0; }
        for (ff_int v = nv - 1; v >= 0; --v) {
            ff_int i = v * ns;
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
            ff_int p = parent[v];
            if (p >= 0) { sI[p * ns] += 1.0 / b[i]; sA[p * ns] += a[i] / b[i]; }
        }
        double dhd = 0.0;
        for (ff_int v = 0; v < nv; ++v) {
            ff_int i = v * ns;
            ff_int p = parent[v];
            double pu, qn;
            if (p < 0) {
                if (ff_isnan(q_root)) { pu = p_root; qn = (pu - a[i]) / b[i]; }
                else { qn = q_root; pu = a[i] + b[i] * qn; }
            } else { pu = P_down[p * ns]; qn = (pu - a[i]) / b[i]; }
            sI[i] = qn; P_up[i] = pu; P_down[i] = A[i] + B[i] * qn;
            double d = qn - Q[i];
            dhd += (sA[i] + R_out[i]) * d * d;
        }
        double t = 1.0;
        if (it > 1) {
            if (dhd > 0.0) {
                for (ff_int k = 0; k < FF_LINE_SEARCH_HALVINGS; ++k) {
                    double rem = 0.0;
                    for (ff_int v = 0; v < nv; ++v) {
                        ff_int i = v * ns;
                        double h = t * (sI[i] - Q[i]);
                        rem += ff_vessel_remainder(R[i], S[i], Q[i], h) + 0.5 * R_out[i] * h * h;
                    }
                    if (rem <= (1.0 - FF_LINE_SEARCH_ALPHA) * t * dhd) break;
                    t *= 0.5;
                }
            }
        }
        for (ff_int v = 0; v < nv; ++v) {
            ff_int i = v * ns;
            Q[i] = t == 1.0 ? sI[i] : Q[i] + t * (sI[i] - Q[i]);
        }
        double res = 0.0, drive = 0.0;
        for (ff_int v = 0; v < nv; ++v) {
            ff_int i = v * ns;
            double fp;
            double e = ff_abs(P_up[i] - P_down[i] - ff_vessel_law(R[i], S[i], Q[i], &fp));
            if (e > res) res = e;
            if (parent[v] < 0) { double d = ff_abs(P_up[i] - pv); if (d > drive) drive = d; }
        }
        r_rel = drive > 0.0 ? res / drive : 0.0;
        if (r_rel <= tol) break;
    }
    if (it > max_iter) it = max_iter;
    *rel = r_rel;
    return it;
}

// Radius of a node (r, d, lesion l local or -1) in case-lesion severities sev (stride ns), offset dr.
FF_HD double ff_pre_radius(double r, double d, ff_int l, const double* sev, ff_int ns, double dr) {
    double sv = l >= 0 ? sev[l * ns] : 1.0;
    return r + (1.0 - sv) * d + dr;
}

// One case of reference.ensemble_steady_pre. Returns the Newton iterations of its last pass; writes
// *rel (final relative residual) and *n_pass (lesion passes).
FF_HD ff_int ff_ensemble_pre_case(ff_int c,
        const ff_int* tv_off, const ff_int* parent, const ff_int* v_out, const ff_int* v_st, const ff_int* st_fn,
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
        double* p_out, double* work, double* lwork, ff_int n_cv, ff_int n_cl, double* rel, ff_int* n_pass) {
    ff_int t = case_tree[c];
    ff_int ns = tc_off[t + 1] - tc_off[t];
    ff_int ic = c - tc_off[t];
    ff_int v0 = tv_off[t], nv = tv_off[t + 1] - v0;
    ff_int l0 = tl_off[t], nl = tl_off[t + 1] - l0;
    ff_int vb = cv_b[t] + ic, lb = cl_b[t] + ic, ob = co_b[t] + ic;
    double mu = mu_c[c], rho = rho_c[c], kt = kt_c[c];
    ff_int model = model_c[c];
    bool yt = model == 1;
    const double* drc = dr + vb;
    const double* svc = sev + lb;
    double* Qc = Q + vb;
    double* Puc = P_up + vb;
    double* Pdc = P_down + vb;
    double* R = work + vb;
    double* S = work + n_cv + vb;
    double* Ro = work + 8 * n_cv + vb;
    double* Rb = work + 9 * n_cv + vb;
    double* Rc0 = lwork + lb;
    double* Rc1 = lwork + n_cl + lb;
    double* rpois = lwork + 2 * n_cl + lb;
    double* r0 = lwork + 3 * n_cl + lb;
    double* xr = lwork + 4 * n_cl + lb;
    double* xs = lwork + 5 * n_cl + lb;
    double* rm = r_mld + lb;
    double* cr = coef + lb;
    double* cs = coef + n_cl + lb;
    double k8 = 8.0 * mu / (3.0 * FF_PI);
    // Poiseuille along every stretch; each lesion's ends, throat and own resistance
    for (ff_int v = 0; v < nv; ++v) {
        ff_int g = v0 + v;
        ff_int i = v * ns;
        double d = drc[i];
        Ro[i] = v_out[g] >= 0 ? r_out[ob + v_out[g] * ns] : 0.0;
        double rc = 0.0;
        for (ff_int st = v_st[g]; st < v_st[g + 1]; ++st) {
            ff_int j = st_les[st];
            double pois = 0.0;
            if (st_fn[st] >= 0) pois = k8 * ff_cheb(st_fn[st], d, fn_pc, pc_lo, pc_hi, pc_cf, cf);
            for (ff_int e = st_ed[st]; e < st_ed[st + 1]; ++e)
                pois += ff_frustum(ff_pre_radius(ed_r0[e], ed_d0[e], ed_l0[e], svc, ns, d),
                                   ff_pre_radius(ed_r1[e], ed_d1[e], ed_l1[e], svc, ns, d), ed_len[e], mu);
            if (j >= 0) {
                ff_int jl = l0 + j;
                ff_int jn = j * ns;
                double ref = les_ref[jl] + d;
                if (les_fn[jl] >= 0) {
                    double w = svc[jn] * les_dmax[jl] / ref;
                    double ref2 = ref * ref;
                    pois += k8 * ff_cheb(les_fn[jl], w, fn_pc, pc_lo, pc_hi, pc_cf, cf) / (ref2 * ref2);
                }
                double mn = 1e300;
                for (ff_int k = les_cd[jl]; k < les_cd[jl + 1]; ++k) {
                    double x = cd_a[k] - svc[cd_l[k] * ns] * cd_d[k];
                    if (x < mn) mn = x;
                }
                rm[jn] = mn + d;
                r0[jn] = ref;
                rpois[jn] = pois;
                Rc0[jn] = rc;
                if (!yt) rc += pois;
                Rc1[jn] = rc;
            } else {
                rc += pois;
            }
        }
        Rb[i] = rc;
    }
    // lesion terms: Poiseuille-Kt and Young-Tsai expansion and viscous terms; the ns-calibrated law
    // from its low-flow limit, re-evaluated at the solved flows until no lesion drop changes by more
    // than lesion_tol times the driving pressure (at most max_passes Newton solves)
    double scale = kt / 1.52;
    for (ff_int j = 0; j < nl; ++j) {
        ff_int jn = j * ns;
        double ref = r0[jn];
        double a0 = FF_PI * ref * ref;
        double as = FF_PI * rm[jn] * rm[jn];
        double er = 0.0, es = 0.0;
        if (model == 2) {
            double nr, nsv;
            ff_ns_coefficients(j, l0, les_v, les_next, les_prev, les_band, les_slope, les_gap, les_wire, les_efs,
                               law_c, Qc, r0, rm, rpois, ns, svc[jn], mu, rho, scale, 1, &nr, &nsv);
            cr[jn] = nr;
            cs[jn] = nsv;
            if (as < a0) { er = nr; es = nsv; }
        } else if (as < a0) {
            double f = a0 / as - 1.0;
            es = kt * rho / (2.0 * a0 * a0) * f * f;
            if (yt) {
                double ratio = a0 / as;
                double kv = 32.0 * (0.83 * les_len[l0 + j] + 1.64 * 2.0 * rm[jn]) * ratio * ratio / (2.0 * ref);
                er = kv * mu / (a0 * 2.0 * ref);
            }
            cr[jn] = 0.0;
            cs[jn] = 0.0;
        } else {
            cr[jn] = 0.0;
            cs[jn] = 0.0;
        }
        xr[jn] = er;
        xs[jn] = es;
    }
    double pv = p_v[c];
    ff_int it = 0;
    double rr = 0.0;
    ff_int pass = 0;
    while (true) {
        for (ff_int v = 0; v < nv; ++v) { R[v * ns] = Rb[v * ns]; S[v * ns] = 0.0; }
        for (ff_int j = 0; j < nl; ++j) {
            ff_int i = les_v[l0 + j] * ns;
            R[i] += xr[j * ns];
            S[i] += xs[j * ns];
        }
        it = ff_tree_newton_strided(nv, ns, parent + v0, R, S, Ro, p_in[c], q_in[c], pv, newton_tol, max_iter,
                                    Qc, Puc, Pdc, work + 2 * n_cv + vb, work + 3 * n_cv + vb, work + 4 * n_cv + vb,
                                    work + 5 * n_cv + vb, work + 6 * n_cv + vb, work + 7 * n_cv + vb, &rr);
        pass += 1;
        if (model != 2) break;
        double change = 0.0;
        for (ff_int j = 0; j < nl; ++j) {
            ff_int jn = j * ns;
            double nr, nsv;
            ff_ns_coefficients(j, l0, les_v, les_next, les_prev, les_band, les_slope, les_gap, les_wire, les_efs,
                               law_c, Qc, r0, rm, rpois, ns, svc[jn], mu, rho, scale, 0, &nr, &nsv);
            double q = Qc[les_v[l0 + j] * ns];
            double ch = ff_abs((nr - cr[jn]) * q + (nsv - cs[jn]) * q * ff_abs(q));
            if (ch > change) change = ch;
            cr[jn] = nr;
            cs[jn] = nsv;
            double ref = r0[jn];
            bool narrowed = rm[jn] * rm[jn] * FF_PI < FF_PI * ref * ref;
            xr[jn] = narrowed ? nr : 0.0;
            xs[jn] = narrowed ? nsv : 0.0;
        }
        double drive = 0.0;
        for (ff_int v = 0; v < nv; ++v)
            if (parent[v0 + v] < 0) { double dd = ff_abs(Puc[v * ns] - pv); if (dd > drive) drive = dd; }
        double relc = change / (drive > 1e-12 ? drive : 1e-12);
        if (relc <= lesion_tol) break;
        if (pass >= max_passes) { if (relc > rr) rr = relc; break; }
    }
    // pressures at the lesions' ends (the terms of the earlier lesions of the vessel included)
    double cum_r = 0.0, cum_s = 0.0;
    ff_int cur_v = -1;
    for (ff_int j = 0; j < nl; ++j) {
        ff_int jn = j * ns;
        ff_int v = les_v[l0 + j];
        if (v != cur_v) { cum_r = 0.0; cum_s = 0.0; cur_v = v; }
        double q = Qc[v * ns];
        double pu = Puc[v * ns];
        p_les0[lb + jn] = pu - q * (Rc0[jn] + cum_r) - q * ff_abs(q) * cum_s;
        cum_r += xr[jn];
        cum_s += xs[jn];
        p_les1[lb + jn] = pu - q * (Rc1[jn] + cum_r) - q * ff_abs(q) * cum_s;
    }
    for (ff_int v = 0; v < nv; ++v)
        if (v_out[v0 + v] >= 0) p_out[ob + v_out[v0 + v] * ns] = Pdc[v * ns];
    *rel = rr;
    *n_pass = pass;
    return it;
}
