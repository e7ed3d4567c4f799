// Global kernel of the lumped (0D) solver: one thread integrates one case (lumped.cuh, ff_lp_case).
// The arguments are FF_LP_PARAMS (lumped.cuh): the arrays of ffrflow.cfd.lumped.packing.KERNEL_ARGS in that
// order, then the row widths of sim_i and sim_f and the number of cases.
#include "lumped.cuh"

FF_GLOBAL void ff_lumped_integrate_k(FF_LP_PARAMS) {
    ff_int c = (ff_int)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= n_cases) return;
    FF_LP_BIND(M);
    ff_lp_case(c, M);
}
