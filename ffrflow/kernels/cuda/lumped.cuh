// Lumped (0D) solver: per-thread device functions, one case per thread. Line-by-line port of
// ffrflow/kernels/cpu_lumped.py (the Numba twin of ffrflow/kernels/reference_lumped.py, which documents
// the flat layout and the equations): same helpers, same names (ff_lp_<numba name>), same order of
// operations. float64 / int64 throughout; every 2-D array is row-major with the Numba column layout.
#pragma once
#include "common.cuh"

// boundary-condition type codes (ffrflow.kernels.reference_lumped)
enum { FF_LP_FLOW = 0, FF_LP_PRESSURE = 1, FF_LP_RESISTANCE = 2, FF_LP_RCR = 3, FF_LP_CORONARY = 4,
       FF_LP_CORONARY_VR = 5 };
// work columns per element (cpu_lumped._Y ... W_EL)
enum { FF_LP_Y = 0, FF_LP_YD = 4, FF_LP_YO = 8, FF_LP_YDO = 12, FF_LP_J = 16, FF_LP_R = 24, FF_LP_RIN = 26,
       FF_LP_ROUT = 29, FF_LP_RP = 32, FF_LP_RM = 33, FF_LP_KMIN = 34, FF_LP_D = 35, FF_LP_CAP = 39,
       FF_LP_MEAN = 43, FF_LP_W_EL = 48 };
// bwork columns per boundary condition (cpu_lumped._BP ... W_BC)
enum { FF_LP_BP = 0, FF_LP_BZ = 10, FF_LP_BZD = 11, FF_LP_BZO = 12, FF_LP_BZDO = 13, FF_LP_BROW = 14,
       FF_LP_BNROW = 22, FF_LP_BREL = 23, FF_LP_BAUX = 26, FF_LP_BDZ = 29, FF_LP_W_BC = 32 };
enum { FF_LP_NPAR = 10 };  // parameter slots per boundary condition (columns of bc_tab)
#define FF_LP_SINGULAR 1e-13
// A Newton iteration that stalls below FF_LP_STALL x tolerance is at the round-off floor and is accepted.
#define FF_LP_STALL 100.0

// The arrays of lumped_integrate (argument order of ffrflow.cfd.lumped.packing.KERNEL_ARGS) and the row widths
// of sim_i / sim_f (the other 2-D arrays have fixed widths: 4, FF_LP_NPAR, 2, 4, 3, W_EL, W_BC).
struct FfLumped {
    const ff_int* el_off; const ff_int* el_parent; const ff_int* ch_off; const ff_int* ch_idx;
    const double* el_R; const double* el_C; const double* el_L; const double* el_S;
    const ff_int* el_bc_in; const ff_int* el_bc_out; const ff_int* el_cap;
    const ff_int* bc_off; const ff_int* bc_type; const ff_int* bc_el; const ff_int* bc_tab;
    const ff_int* tab_off; const double* tab_t; const double* tab_v; const double* tab_mean; const double* tab_period;
    const ff_int* sim_i; const double* sim_f;
    double* el_y; double* el_yd; double* bc_y; double* bc_yd; double* bc_aux;
    const ff_int* out_off; double* out; ff_int* status; ff_int* info_i; double* info_f;
    double* work; double* bwork;
    ff_int sim_i_w; ff_int sim_f_w;
};

// The argument list of the lumped entry points (the __global__ kernel in lumped.cu and the plain-C++ host
// driver of the tests): the arrays of ffrflow.cfd.lumped.packing.KERNEL_ARGS in that order, the row widths of sim_i
// and sim_f, and the number of cases; FF_LP_BIND(M) gathers them into an FfLumped.
#define FF_LP_PARAMS const ff_int* el_off, const ff_int* el_parent, const ff_int* ch_off, \
        const ff_int* ch_idx, const double* el_R, const double* el_C, const double* el_L, const double* el_S, \
        const ff_int* el_bc_in, const ff_int* el_bc_out, const ff_int* el_cap, const ff_int* bc_off, \
        const ff_int* bc_type, const ff_int* bc_el, const ff_int* bc_tab, const ff_int* tab_off, const double* tab_t, \
        const double* tab_v, const double* tab_mean, const double* tab_period, const ff_int* sim_i, \
        const double* sim_f, double* el_y, double* el_yd, double* bc_y, double* bc_yd, double* bc_aux, \
        const ff_int* out_off, double* out, ff_int* status, ff_int* info_i, double* info_f, double* work, \
        double* bwork, ff_int sim_i_w, ff_int sim_f_w, ff_int n_cases
#define FF_LP_BIND(M) FfLumped M = {el_off, el_parent, ch_off, ch_idx, el_R, el_C, el_L, el_S, el_bc_in, \
        el_bc_out, el_cap, bc_off, bc_type, bc_el, bc_tab, tab_off, tab_t, tab_v, tab_mean, tab_period, sim_i, \
        sim_f, el_y, el_yd, bc_y, bc_yd, bc_aux, out_off, out, status, info_i, info_f, work, bwork, sim_i_w, \
        sim_f_w}

// Python's max(acc, v) for floats, as Numba lowers it: v replaces acc only when v > acc (a NaN v is skipped).
FF_HD double ff_lp_max(double acc, double v) { return v > acc ? v : acc; }
FF_HD double ff_lp_nan() { return nan(""); }
FF_HD double ff_lp_inf() { double big = 1e308; return big * 10.0; }
FF_HD bool ff_lp_isfinite(double x) { return x - x == 0.0; }  // false for inf and NaN

// Parameter table `tab` at time t: periodic linear interpolation (svZeroDSolver's rule).
FF_HD double ff_lp_param(ff_int tab, double t, bool steady, const FfLumped& M) {
    if (tab < 0) return 0.0;
    ff_int a = M.tab_off[tab];
    ff_int b = M.tab_off[tab + 1];
    if (b - a == 1) return M.tab_v[a];
    if (steady) return M.tab_mean[tab];
    double rt = fmod(t, M.tab_period[tab]);
    ff_int lo = a, hi = b;
    while (lo < hi) {  // lower bound: first k with t[k] >= rt
        ff_int mid = (lo + hi) / 2;
        if (M.tab_t[mid] < rt) lo = mid + 1;
        else hi = mid;
    }
    ff_int k = lo;
    if (k >= b) k = b - 1;
    else if (M.tab_t[k] == rt) return M.tab_v[k];
    ff_int m = k > a ? k - 1 : a + 1;
    return M.tab_v[m] + (M.tab_v[k] - M.tab_v[m]) / (M.tab_t[k] - M.tab_t[m]) * (rt - M.tab_t[m]);
}

// Time-varying microvascular resistance of CORONARY_VAR_RES at cycle time tc.
FF_HD double ff_lp_ram_varres(double tc, double ram_min, double ram_max, double tvc, double tvr) {
    double e;
    if (tc <= tvc) e = 0.5 * (1.0 - cos(FF_PI * tc / tvc));
    else if (tc <= tvc + tvr) e = 0.5 * (1.0 + cos(FF_PI * (tc - tvc) / tvr));
    else e = 0.0;
    double s0 = sqrt(ram_min);
    double s = s0 + (sqrt(ram_max) - s0) * e;
    return s * s;
}

FF_HD double ff_lp_sgn(double x) {
    if (x > 0.0) return 1.0;
    if (x < 0.0) return -1.0;
    return 0.0;
}

FF_HD void ff_lp_bc_params(ff_int b0, ff_int b1, double t, bool steady, ff_int vr_mode, double period,
                           const FfLumped& M) {
    for (ff_int b = b0; b < b1; ++b) {
        double* bw = M.bwork + b * FF_LP_W_BC;
        for (int j = 0; j < FF_LP_NPAR; ++j) bw[FF_LP_BP + j] = ff_lp_param(M.bc_tab[b * FF_LP_NPAR + j], t, steady, M);
        if (M.bc_type[b] == FF_LP_CORONARY_VR) {
            if (steady) {
                bw[FF_LP_BAUX + 2] = bw[FF_LP_BP + 1];
            } else {
                double tc = vr_mode == 0 ? fmod(t, period) : t;
                bw[FF_LP_BAUX + 2] = ff_lp_ram_varres(tc, bw[FF_LP_BP + 1], bw[FF_LP_BP + 2], bw[FF_LP_BP + 8],
                                                      bw[FF_LP_BP + 9]);
            }
        }
    }
}

// Residuals (-f) and Jacobian rows of every equation of one case; returns max |f|.
FF_HD double ff_lp_assemble(ff_int e0, ff_int e1, ff_int b0, ff_int b1, bool steady, double alf, double am, double af,
                            const FfLumped& M) {
    double* W = M.work;
    double res = 0.0;
    for (ff_int e = e0; e < e1; ++e) {
        double* w = W + e * FF_LP_W_EL;
        double Pi = w[FF_LP_YO + 0] + alf * (w[FF_LP_Y + 0] - w[FF_LP_YO + 0]);
        double Qi = w[FF_LP_YO + 1] + alf * (w[FF_LP_Y + 1] - w[FF_LP_YO + 1]);
        double Po = w[FF_LP_YO + 2] + alf * (w[FF_LP_Y + 2] - w[FF_LP_YO + 2]);
        double Qo = w[FF_LP_YO + 3] + alf * (w[FF_LP_Y + 3] - w[FF_LP_YO + 3]);
        double dPi = w[FF_LP_YDO + 0] + am * (w[FF_LP_YD + 0] - w[FF_LP_YDO + 0]);
        double dQi = w[FF_LP_YDO + 1] + am * (w[FF_LP_YD + 1] - w[FF_LP_YDO + 1]);
        double dQo = w[FF_LP_YDO + 3] + am * (w[FF_LP_YD + 3] - w[FF_LP_YDO + 3]);
        double R = M.el_R[e];
        double C = M.el_C[e];
        double L = M.el_L[e];
        double S = M.el_S[e];
        double aq = fabs(Qi);
        double f0 = Pi - Po - (R + S * aq) * Qi - L * dQo;
        double f1 = Qi - Qo - C * dPi + C * (R + 2.0 * S * aq) * dQi;
        w[FF_LP_J + 0] = af;
        w[FF_LP_J + 1] = -af * (R + 2.0 * S * aq);
        w[FF_LP_J + 2] = -af;
        w[FF_LP_J + 3] = -am * L;
        w[FF_LP_J + 4] = -am * C;
        w[FF_LP_J + 5] = af * (1.0 + 2.0 * C * S * ff_lp_sgn(Qi) * dQi) + am * C * (R + 2.0 * S * aq);
        w[FF_LP_J + 6] = 0.0;
        w[FF_LP_J + 7] = -af;
        w[FF_LP_R + 0] = -f0;
        w[FF_LP_R + 1] = -f1;
        res = ff_lp_max(ff_lp_max(res, fabs(f0)), fabs(f1));
        ff_int p = M.el_parent[e];
        if (p >= 0) {
            const double* wp = W + p * FF_LP_W_EL;
            double Pop = wp[FF_LP_YO + 2] + alf * (wp[FF_LP_Y + 2] - wp[FF_LP_YO + 2]);
            double fp = Pop - Pi;
            w[FF_LP_RP] = -fp;
            res = ff_lp_max(res, fabs(fp));
        } else {
            w[FF_LP_RP] = 0.0;
        }
        if (M.ch_off[e + 1] > M.ch_off[e]) {
            double fm = Qo;
            for (ff_int j = M.ch_off[e]; j < M.ch_off[e + 1]; ++j) {
                const double* wk = W + M.ch_idx[j] * FF_LP_W_EL;
                fm -= wk[FF_LP_YO + 1] + alf * (wk[FF_LP_Y + 1] - wk[FF_LP_YO + 1]);
            }
            w[FF_LP_RM] = -fm;
            res = ff_lp_max(res, fabs(fm));
        } else {
            w[FF_LP_RM] = 0.0;
        }
    }
    for (ff_int b = b0; b < b1; ++b) {
        double* bw = M.bwork + b * FF_LP_W_BC;
        ff_int e = M.bc_el[b];
        const double* w = W + e * FF_LP_W_EL;
        int ip = M.el_bc_in[e] == b ? 0 : 2;
        double P = w[FF_LP_YO + ip] + alf * (w[FF_LP_Y + ip] - w[FF_LP_YO + ip]);
        double Q = w[FF_LP_YO + ip + 1] + alf * (w[FF_LP_Y + ip + 1] - w[FF_LP_YO + ip + 1]);
        double dP = w[FF_LP_YDO + ip] + am * (w[FF_LP_YD + ip] - w[FF_LP_YDO + ip]);
        double dQ = w[FF_LP_YDO + ip + 1] + am * (w[FF_LP_YD + ip + 1] - w[FF_LP_YDO + ip + 1]);
        double z = bw[FF_LP_BZO] + alf * (bw[FF_LP_BZ] - bw[FF_LP_BZO]);
        double dz = bw[FF_LP_BZDO] + am * (bw[FF_LP_BZD] - bw[FF_LP_BZDO]);
        ff_int t = M.bc_type[b];
        double jp0 = 0.0, jq0 = 0.0, jz0 = 0.0, f0 = 0.0;
        double jp1 = 0.0, jq1 = 0.0, jz1 = 0.0, f1 = 0.0;
        int nrow = 1;
        if (t == FF_LP_FLOW) {
            f0 = Q - bw[FF_LP_BP + 0];
            jq0 = af;
        } else if (t == FF_LP_PRESSURE) {
            f0 = P - bw[FF_LP_BP + 0];
            jp0 = af;
        } else if (t == FF_LP_RESISTANCE) {
            double Rb = bw[FF_LP_BP + 0];
            f0 = P - Rb * Q - bw[FF_LP_BP + 1];
            jp0 = af;
            jq0 = -af * Rb;
        } else if (t == FF_LP_RCR) {
            double Rp = bw[FF_LP_BP + 0];
            double Cw = steady ? 0.0 : bw[FF_LP_BP + 1];
            double Rd = bw[FF_LP_BP + 2];
            double Pd = bw[FF_LP_BP + 3];
            nrow = 2;
            f0 = P - Rp * Q - z;
            jp0 = af;
            jq0 = -af * Rp;
            jz0 = -af;
            f1 = Rd * Q - z + Pd - Rd * Cw * dz;
            jq1 = af * Rd;
            jz1 = -af - am * Rd * Cw;
        } else {  // open-loop coronary (Kim et al.), constant or time-varying Ram
            nrow = 2;
            double Ra, Ram, Rv, Ca, Cim, Pim, Pv;
            if (t == FF_LP_CORONARY) {
                Ra = bw[FF_LP_BP + 0];
                Ram = bw[FF_LP_BP + 1];
                Rv = bw[FF_LP_BP + 2];
                Ca = bw[FF_LP_BP + 3];
                Cim = bw[FF_LP_BP + 4];
                Pim = bw[FF_LP_BP + 5];
                Pv = bw[FF_LP_BP + 6];
            } else {
                Ra = bw[FF_LP_BP + 0];
                Ram = bw[FF_LP_BAUX + 2];
                Rv = bw[FF_LP_BP + 3];
                Ca = bw[FF_LP_BP + 4];
                Cim = bw[FF_LP_BP + 5];
                Pim = bw[FF_LP_BP + 6];
                Pv = bw[FF_LP_BP + 7];
            }
            if (steady) {
                f0 = z;
                jz0 = af;
                double Rt = Ra + Ram + Rv;
                f1 = -P + Rt * Q + Pv;
                jp1 = -af;
                jq1 = af * Rt;
            } else {
                double pim0 = bw[FF_LP_BAUX + 0];
                double pc0 = bw[FF_LP_BAUX + 1];
                double CR = Cim * Rv;
                f0 = (CR * Q - z - Ca * CR * dP + Ra * Ca * CR * dQ - CR * dz
                      + Cim * (-Pim + Pv + pim0 - pc0));
                jp0 = -am * Ca * CR;
                jq0 = af * CR + am * Ra * Ca * CR;
                jz0 = -af - am * CR;
                f1 = (CR * P - CR * Ra * Q - (Rv + Ram) * z - CR * Ram * dz + Ram * Cim * Pv
                      - Cim * (Rv + Ram) * (Pim + pc0 - pim0));
                jp1 = af * CR;
                jq1 = -af * CR * Ra;
                jz1 = -af * (Rv + Ram) - am * CR * Ram;
            }
        }
        bw[FF_LP_BROW + 0] = jp0;
        bw[FF_LP_BROW + 1] = jq0;
        bw[FF_LP_BROW + 2] = jz0;
        bw[FF_LP_BROW + 3] = -f0;
        bw[FF_LP_BROW + 4] = jp1;
        bw[FF_LP_BROW + 5] = jq1;
        bw[FF_LP_BROW + 6] = jz1;
        bw[FF_LP_BROW + 7] = -f1;
        bw[FF_LP_BNROW] = nrow;
        res = ff_lp_max(res, fabs(f0));
        double a_, b_, g_;
        if (nrow == 2) {
            res = ff_lp_max(res, fabs(f1));
            a_ = jz1 * jp0 - jz0 * jp1;
            b_ = jz1 * jq0 - jz0 * jq1;
            g_ = jz1 * (-f0) - jz0 * (-f1);
        } else {
            a_ = jp0;
            b_ = jq0;
            g_ = -f0;
        }
        double m = ff_lp_max(fabs(a_), fabs(b_));
        if (m > 0.0) {
            a_ /= m;
            b_ /= m;
            g_ /= m;
        }
        bw[FF_LP_BREL + 0] = a_;
        bw[FF_LP_BREL + 1] = b_;
        bw[FF_LP_BREL + 2] = g_;
    }
    return res;
}

// Increment of the internal variable of boundary condition b given its node increments.
FF_HD void ff_lp_bc_dz(ff_int b, double dP, double dQ, const FfLumped& M) {
    double* bw = M.bwork + b * FF_LP_W_BC;
    if (bw[FF_LP_BNROW] < 2) {
        bw[FF_LP_BDZ] = 0.0;
        return;
    }
    double jz0 = bw[FF_LP_BROW + 2];
    double jz1 = bw[FF_LP_BROW + 6];
    if (fabs(jz0) >= fabs(jz1))
        bw[FF_LP_BDZ] = (bw[FF_LP_BROW + 3] - bw[FF_LP_BROW + 0] * dP - bw[FF_LP_BROW + 1] * dQ) / jz0;
    else
        bw[FF_LP_BDZ] = (bw[FF_LP_BROW + 7] - bw[FF_LP_BROW + 4] * dP - bw[FF_LP_BROW + 5] * dQ) / jz1;
}

// Exact solve of the linearised network (upward reduction, downward recovery); false if singular.
FF_HD bool ff_lp_solve_tree(ff_int e0, ff_int e1, double af, const FfLumped& M) {
    double* W = M.work;
    for (ff_int e = e1 - 1; e > e0 - 1; --e) {
        double* w = W + e * FF_LP_W_EL;
        ff_int bo_ = M.el_bc_out[e];
        double ao, bo, go;
        if (bo_ >= 0) {
            const double* bw = M.bwork + bo_ * FF_LP_W_BC;
            ao = bw[FF_LP_BREL + 0];
            bo = bw[FF_LP_BREL + 1];
            go = bw[FF_LP_BREL + 2];
            w[FF_LP_KMIN] = -1.0;
        } else {
            double A = 0.0, B = 1.0, G = 0.0;
            ff_int kmin = -1;
            double bmin = 1e300;
            for (ff_int j = M.ch_off[e]; j < M.ch_off[e + 1]; ++j) {
                ff_int k = M.ch_idx[j];
                const double* wk = W + k * FF_LP_W_EL;
                double ak = wk[FF_LP_RIN + 0];
                double bk = wk[FF_LP_RIN + 1];
                double gk = wk[FF_LP_RIN + 2] + ak * wk[FF_LP_RP] / af;
                double An = A * bk + ak * B, Bn = B * bk, Gn = G * bk + gk * B;
                A = An;
                B = Bn;
                G = Gn;
                double m = ff_lp_max(fabs(A), fabs(B));
                if (m > 0.0) {
                    A /= m;
                    B /= m;
                    G /= m;
                }
                if (fabs(bk) < bmin) {
                    bmin = fabs(bk);
                    kmin = k;
                }
            }
            ao = A;
            bo = B;
            go = G + B * w[FF_LP_RM] / af;
            w[FF_LP_KMIN] = (double)kmin;
        }
        w[FF_LP_ROUT + 0] = ao;
        w[FF_LP_ROUT + 1] = bo;
        w[FF_LP_ROUT + 2] = go;
        if (ao == 0.0 && bo == 0.0) return false;
        // eliminate (dPo, dQo) from the two element rows and the outlet relation
        double s = ff_lp_max(fabs(w[FF_LP_J + 2]), fabs(w[FF_LP_J + 3]));
        double J00 = w[FF_LP_J + 0] / s;
        double J01 = w[FF_LP_J + 1] / s;
        double J02 = w[FF_LP_J + 2] / s;
        double J03 = w[FF_LP_J + 3] / s;
        double r0 = w[FF_LP_R + 0] / s;
        s = ff_lp_max(fabs(w[FF_LP_J + 6]), fabs(w[FF_LP_J + 7]));
        double J10 = w[FF_LP_J + 4] / s;
        double J11 = w[FF_LP_J + 5] / s;
        double J12 = w[FF_LP_J + 6] / s;
        double J13 = w[FF_LP_J + 7] / s;
        double r1 = w[FF_LP_R + 1] / s;
        double w0 = J12 * bo - ao * J13;
        double w1 = ao * J03 - J02 * bo;
        double w2 = J02 * J13 - J12 * J03;
        double a_ = w0 * J00 + w1 * J10;
        double b_ = w0 * J01 + w1 * J11;
        double g_ = w0 * r0 + w1 * r1 + w2 * go;
        double m = ff_lp_max(fabs(a_), fabs(b_));
        if (m == 0.0) return false;
        w[FF_LP_RIN + 0] = a_ / m;
        w[FF_LP_RIN + 1] = b_ / m;
        w[FF_LP_RIN + 2] = g_ / m;
    }
    for (ff_int e = e0; e < e1; ++e) {
        double* w = W + e * FF_LP_W_EL;
        if (M.el_parent[e] < 0) {
            ff_int bi = M.el_bc_in[e];
            const double* bw = M.bwork + bi * FF_LP_W_BC;
            double a_ = w[FF_LP_RIN + 0];
            double b_ = w[FF_LP_RIN + 1];
            double g_ = w[FF_LP_RIN + 2];
            double ab = bw[FF_LP_BREL + 0];
            double bb = bw[FF_LP_BREL + 1];
            double gb = bw[FF_LP_BREL + 2];
            double det = a_ * bb - b_ * ab;
            if (fabs(det) < FF_LP_SINGULAR) return false;
            double dPi = (g_ * bb - b_ * gb) / det;
            double dQi = (a_ * gb - g_ * ab) / det;
            w[FF_LP_D + 0] = dPi;
            w[FF_LP_D + 1] = dQi;
            ff_lp_bc_dz(bi, dPi, dQi, M);
        }
        double dPi = w[FF_LP_D + 0];
        double dQi = w[FF_LP_D + 1];
        // three equations in (dPo, dQo); take the best-conditioned pair
        double c00 = w[FF_LP_J + 2];
        double c01 = w[FF_LP_J + 3];
        double h0 = w[FF_LP_R + 0] - w[FF_LP_J + 0] * dPi - w[FF_LP_J + 1] * dQi;
        double s = ff_lp_max(fabs(c00), fabs(c01));
        c00 /= s;
        c01 /= s;
        h0 /= s;
        double c10 = w[FF_LP_J + 6];
        double c11 = w[FF_LP_J + 7];
        double h1 = w[FF_LP_R + 1] - w[FF_LP_J + 4] * dPi - w[FF_LP_J + 5] * dQi;
        s = ff_lp_max(fabs(c10), fabs(c11));
        c10 /= s;
        c11 /= s;
        h1 /= s;
        double c20 = w[FF_LP_ROUT + 0];
        double c21 = w[FF_LP_ROUT + 1];
        double h2 = w[FF_LP_ROUT + 2];
        double d01 = c00 * c11 - c01 * c10;
        double d02 = c00 * c21 - c01 * c20;
        double d12 = c10 * c21 - c11 * c20;
        double dPo, dQo;
        if (fabs(d01) >= fabs(d02) && fabs(d01) >= fabs(d12)) {
            dPo = (h0 * c11 - c01 * h1) / d01;
            dQo = (c00 * h1 - h0 * c10) / d01;
        } else if (fabs(d02) >= fabs(d12)) {
            dPo = (h0 * c21 - c01 * h2) / d02;
            dQo = (c00 * h2 - h0 * c20) / d02;
        } else {
            if (d12 == 0.0) return false;
            dPo = (h1 * c21 - c11 * h2) / d12;
            dQo = (c10 * h2 - h1 * c20) / d12;
        }
        w[FF_LP_D + 2] = dPo;
        w[FF_LP_D + 3] = dQo;
        ff_int bo_ = M.el_bc_out[e];
        if (bo_ >= 0) {
            ff_lp_bc_dz(bo_, dPo, dQo, M);
        } else {
            ff_int kmin = (ff_int)w[FF_LP_KMIN];
            double total = dQo - w[FF_LP_RM] / af;
            double other = 0.0;
            for (ff_int j = M.ch_off[e]; j < M.ch_off[e + 1]; ++j) {
                ff_int k = M.ch_idx[j];
                double* wk = W + k * FF_LP_W_EL;
                double dp = dPo - wk[FF_LP_RP] / af;
                wk[FF_LP_D + 0] = dp;
                if (k != kmin) {
                    double dq = (wk[FF_LP_RIN + 2] - wk[FF_LP_RIN + 0] * dp) / wk[FF_LP_RIN + 1];
                    wk[FF_LP_D + 1] = dq;
                    other += dq;
                }
            }
            W[kmin * FF_LP_W_EL + FF_LP_D + 1] = total - other;
        }
    }
    return true;
}

// One generalized-alpha step with Newton iterations; returns the code (0 ok, 1 Newton failed, 2 singular)
// and writes the iterations to *iters.
FF_HD int ff_lp_step(ff_int c, double t, double dt, bool steady, double alf, double am, double gam, double atol,
                     ff_int max_iter, ff_int vr_mode, double period, ff_int e0, ff_int e1, ff_int b0, ff_int b1,
                     const FfLumped& M, ff_int* iters) {
    double* W = M.work;
    double c_pred = 1.0 - 1.0 / gam;
    for (ff_int e = e0; e < e1; ++e) {
        double* w = W + e * FF_LP_W_EL;
        for (int k = 0; k < 4; ++k) {
            w[FF_LP_YO + k] = w[FF_LP_Y + k];
            w[FF_LP_YDO + k] = w[FF_LP_YD + k];
            w[FF_LP_YD + k] = w[FF_LP_YDO + k] * c_pred;
        }
    }
    for (ff_int b = b0; b < b1; ++b) {
        double* bw = M.bwork + b * FF_LP_W_BC;
        bw[FF_LP_BZO] = bw[FF_LP_BZ];
        bw[FF_LP_BZDO] = bw[FF_LP_BZD];
        bw[FF_LP_BZD] = bw[FF_LP_BZDO] * c_pred;
    }
    ff_lp_bc_params(b0, b1, t + alf * dt, steady, vr_mode, period, M);
    double af = alf * gam * dt;
    double ydc = gam * dt;
    double res_prev = ff_lp_inf();
    for (ff_int it = 0; it < max_iter; ++it) {
        double res = ff_lp_assemble(e0, e1, b0, b1, steady, alf, am, af, M);
        M.info_f[c * 3 + 1] = res;
        *iters = it;
        if (res < atol) return 0;
        if (it >= 2 && res < FF_LP_STALL * atol && res > 0.5 * res_prev)
            return 0;  // stalled at the round-off floor of the equations, just above the tolerance
        res_prev = res;
        if (it == max_iter - 1 || !ff_lp_isfinite(res)) return 1;
        if (!ff_lp_solve_tree(e0, e1, af, M)) return 2;
        for (ff_int e = e0; e < e1; ++e) {
            double* w = W + e * FF_LP_W_EL;
            for (int k = 0; k < 4; ++k) {
                double d = w[FF_LP_D + k];
                w[FF_LP_YD + k] += d;
                w[FF_LP_Y + k] += d * ydc;
            }
        }
        for (ff_int b = b0; b < b1; ++b) {
            double* bw = M.bwork + b * FF_LP_W_BC;
            double d = bw[FF_LP_BDZ];
            bw[FF_LP_BZD] += d;
            bw[FF_LP_BZ] += d * ydc;
        }
    }
    *iters = max_iter;
    return 1;
}

FF_HD void ff_lp_cap_add(ff_int e0, ff_int e1, bool reset, const FfLumped& M) {
    for (ff_int e = e0; e < e1; ++e) {
        ff_int cap = M.el_cap[e];
        if (cap == 0) continue;
        double* w = M.work + e * FF_LP_W_EL;
        int ip = cap == 1 ? 0 : 2;
        if (reset) {
            w[FF_LP_CAP + 2] = w[FF_LP_CAP + 0];
            w[FF_LP_CAP + 3] = w[FF_LP_CAP + 1];
            w[FF_LP_CAP + 0] = 0.0;
            w[FF_LP_CAP + 1] = 0.0;
        }
        w[FF_LP_CAP + 0] += w[FF_LP_Y + ip];
        w[FF_LP_CAP + 1] += w[FF_LP_Y + ip + 1];
    }
}

FF_HD double ff_lp_rel_change(double cur, double prev) {
    double d = fabs(cur - prev);
    if (prev == 0.0) return d == 0.0 ? ff_lp_nan() : ff_lp_inf();
    return fabs((cur - prev) / prev);
}

// Cycle-to-cycle check at the caps: true when converged; the worst relative change goes to *worst.
FF_HD bool ff_lp_cap_converged(ff_int e0, ff_int e1, double tol, const FfLumped& M, double* worst_out) {
    double worst = 0.0;
    bool ok = true;
    for (ff_int e = e0; e < e1; ++e) {
        if (M.el_cap[e] == 0) continue;
        const double* w = M.work + e * FF_LP_W_EL;
        double eq = ff_lp_rel_change(w[FF_LP_CAP + 1], w[FF_LP_CAP + 3]);
        double ep = ff_lp_rel_change(w[FF_LP_CAP + 0], w[FF_LP_CAP + 2]);
        if (eq > tol || ep > tol) ok = false;  // NaN compares false: 0/0 counts as converged, as in svZeroDSolver
        if (eq == eq) worst = ff_lp_max(worst, eq);
        if (ep == ep) worst = ff_lp_max(worst, ep);
    }
    *worst_out = worst;
    return ok;
}

FF_HD bool ff_lp_write_row(ff_int c, ff_int row, ff_int e0, ff_int e1, const FfLumped& M) {
    ff_int n = e1 - e0;
    ff_int base = M.out_off[c] + row * 4 * n;
    if (base + 4 * n > M.out_off[c + 1]) return false;
    for (ff_int e = e0; e < e1; ++e)
        for (int k = 0; k < 4; ++k) M.out[base + 4 * (e - e0) + k] = M.work[e * FF_LP_W_EL + FF_LP_Y + k];
    return true;
}

FF_HD void ff_lp_mean_acc(ff_int e0, ff_int e1, double wt, bool reset, const FfLumped& M) {
    for (ff_int e = e0; e < e1; ++e) {
        double* w = M.work + e * FF_LP_W_EL;
        for (int k = 0; k < 4; ++k) {
            if (reset) w[FF_LP_MEAN + k] = 0.0;
            w[FF_LP_MEAN + k] += wt * w[FF_LP_Y + k];
        }
    }
}

// Integrate case c (steady initialisation, cycles, cycle-to-cycle check, output): cpu_lumped._case.
FF_HD void ff_lp_case(ff_int c, const FfLumped& M) {
    double* W = M.work;
    ff_int e0 = M.el_off[c];
    ff_int e1 = M.el_off[c + 1];
    ff_int b0 = M.bc_off[c];
    ff_int b1 = M.bc_off[c + 1];
    // slots of sim_i, sim_f, info_i, info_f, output modes (0 all, 1 last, 2 mean) and status codes by name:
    // ffrflow/kernels/codes.py (SIM_*, SIMF_*, INFO_*, OUTPUT_*, STATUS_*)
    const ff_int* si = M.sim_i + c * M.sim_i_w;
    const double* sf = M.sim_f + c * M.sim_f_w;
    ff_int* info_i = M.info_i + c * 4;
    double* info_f = M.info_f + c * 3;
    ff_int n_cycles = si[0];
    ff_int pts = si[1];
    bool steady_init = si[2] != 0;
    ff_int max_iter = si[3];
    ff_int mode = si[4];
    bool use_c2c = si[5] != 0;
    ff_int max_extra = si[6];
    ff_int vr_mode = si[7];
    double period = sf[0];
    double atol = sf[1];
    double rho = sf[2];
    double c2c_tol = sf[3];
    double am = 0.5 * (3.0 - rho) / (1.0 + rho);
    double alf = 1.0 / (1.0 + rho);
    double gam = 0.5 + am - alf;
    for (ff_int e = e0; e < e1; ++e) {
        double* w = W + e * FF_LP_W_EL;
        for (int k = 0; k < 4; ++k) {
            w[FF_LP_Y + k] = M.el_y[e * 4 + k];
            w[FF_LP_YD + k] = M.el_yd[e * 4 + k];
        }
        for (int k = 0; k < 4; ++k) w[FF_LP_CAP + k] = 0.0;
    }
    for (ff_int b = b0; b < b1; ++b) {
        double* bw = M.bwork + b * FF_LP_W_BC;
        bw[FF_LP_BZ] = M.bc_y[b];
        bw[FF_LP_BZD] = M.bc_yd[b];
        bw[FF_LP_BAUX + 0] = 0.0;
        bw[FF_LP_BAUX + 1] = 0.0;
    }
    M.status[c] = 0;
    ff_int n_newton = 0;
    info_f[0] = ff_lp_nan();
    if (steady_init) {
        double dts = period / 10.0;
        for (ff_int i = 0; i < 31; ++i) {
            ff_int it;
            int code = ff_lp_step(c, dts * i, dts, true, alf, am, gam, atol, max_iter, vr_mode, period, e0, e1, b0,
                                  b1, M, &it);
            n_newton += it;
            if (code != 0) {
                M.status[c] = code;
                info_f[0] = -dts * (i + 1);
                info_f[2] = ff_lp_nan();  // no cycle ran (as the NumPy reference reports it)
                info_i[1] = n_newton;
                return;
            }
        }
    }
    // offsets of the open-loop coronary boundary conditions from the initial state
    for (ff_int b = b0; b < b1; ++b) {
        ff_int tb = M.bc_type[b];
        if (tb == FF_LP_CORONARY || tb == FF_LP_CORONARY_VR) {
            ff_int e = M.bc_el[b];
            int ip = M.el_bc_in[e] == b ? 0 : 2;
            const ff_int* tab = M.bc_tab + b * FF_LP_NPAR;
            double Ra, Ram, Ca, Pim;
            if (tb == FF_LP_CORONARY) {
                Ra = ff_lp_param(tab[0], 0.0, steady_init, M);
                Ram = ff_lp_param(tab[1], 0.0, steady_init, M);
                Ca = ff_lp_param(tab[3], 0.0, steady_init, M);
                Pim = ff_lp_param(tab[5], 0.0, steady_init, M);
            } else {
                Ra = ff_lp_param(tab[0], 0.0, steady_init, M);
                Ram = ff_lp_param(tab[1], 0.0, steady_init, M);
                Ca = ff_lp_param(tab[4], 0.0, steady_init, M);
                Pim = ff_lp_param(tab[6], 0.0, steady_init, M);
            }
            const double* w = W + e * FF_LP_W_EL;
            double P = w[FF_LP_Y + ip];
            double Q = w[FF_LP_Y + ip + 1];
            double dP = w[FF_LP_YD + ip];
            double dQ = w[FF_LP_YD + ip + 1];
            double p_ca = P - Ra * Q;
            double q_am = Q - Ca * (dP - Ra * dQ);
            double* bw = M.bwork + b * FF_LP_W_BC;
            bw[FF_LP_BAUX + 0] = Pim;
            bw[FF_LP_BAUX + 1] = p_ca - Ram * q_am;
        }
    }
    for (ff_int b = b0; b < b1; ++b) {
        M.bc_aux[b * 2 + 0] = M.bwork[b * FF_LP_W_BC + FF_LP_BAUX + 0];
        M.bc_aux[b * 2 + 1] = M.bwork[b * FF_LP_W_BC + FF_LP_BAUX + 1];
    }
    double dt = period / (double)(pts - 1);
    ff_int spc = pts - 1;  // steps per cycle
    ff_int row = 0;
    if (mode == 0) {
        ff_lp_write_row(c, 0, e0, e1, M);
        row = 1;
    } else if (mode == 2) {
        ff_lp_mean_acc(e0, e1, 0.5, true, M);
    }
    ff_lp_cap_add(e0, e1, true, M);
    ff_int total_cycles = n_cycles;
    ff_int cycle = 0;
    ff_int i = 0;
    double worst = ff_lp_nan();
    while (cycle < total_cycles) {
        if (mode == 1) ff_lp_write_row(c, 0, e0, e1, M);  // the buffer holds one cycle; row 0 starts it
        for (ff_int k = 1; k < spc + 1; ++k) {
            double t = dt * i;
            ff_int it;
            int code = ff_lp_step(c, t, dt, false, alf, am, gam, atol, max_iter, vr_mode, period, e0, e1, b0, b1, M,
                                  &it);
            n_newton += it;
            i += 1;
            if (code != 0) {
                M.status[c] = code;
                info_f[0] = dt * i;
                info_f[2] = worst;  // last cycle-to-cycle error before the failure (NaN if none)
                info_i[0] = i;
                info_i[1] = n_newton;
                info_i[2] = cycle;
                info_i[3] = row;
                return;
            }
            if (mode == 0) {
                ff_lp_write_row(c, row, e0, e1, M);
                row += 1;
            } else if (mode == 1) {
                ff_lp_write_row(c, k, e0, e1, M);
            } else {
                ff_lp_mean_acc(e0, e1, k == spc ? 0.5 : 1.0, false, M);
            }
            ff_lp_cap_add(e0, e1, false, M);
        }
        cycle += 1;
        if (mode == 2) {
            ff_int base = M.out_off[c];
            for (ff_int e = e0; e < e1; ++e)
                for (int q = 0; q < 4; ++q) M.out[base + 4 * (e - e0) + q] = W[e * FF_LP_W_EL + FF_LP_MEAN + q] / spc;
            ff_lp_mean_acc(e0, e1, 0.5, true, M);
        }
        if (use_c2c && cycle >= n_cycles && cycle >= 2) {
            bool ok = ff_lp_cap_converged(e0, e1, c2c_tol, M, &worst);
            if (!ok) {
                if (cycle - n_cycles < max_extra) total_cycles += 1;
                else M.status[c] = 3;
            }
        }
        ff_lp_cap_add(e0, e1, true, M);
    }
    if (mode == 1) row = pts;
    else if (mode == 2) row = 1;
    for (ff_int e = e0; e < e1; ++e) {
        const double* w = W + e * FF_LP_W_EL;
        for (int k = 0; k < 4; ++k) {
            M.el_y[e * 4 + k] = w[FF_LP_Y + k];
            M.el_yd[e * 4 + k] = w[FF_LP_YD + k];
        }
    }
    for (ff_int b = b0; b < b1; ++b) {
        M.bc_y[b] = M.bwork[b * FF_LP_W_BC + FF_LP_BZ];
        M.bc_yd[b] = M.bwork[b * FF_LP_W_BC + FF_LP_BZD];
    }
    info_i[0] = i;
    info_i[1] = n_newton;
    info_i[2] = cycle;
    info_i[3] = row;
    info_f[2] = worst;
}
