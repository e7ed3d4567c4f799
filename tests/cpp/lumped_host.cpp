// Host driver: the lumped per-thread device function (lumped.cuh) compiled as plain C++, called once per
// case exactly as one GPU thread per case would (same arguments as the __global__ wrapper in lumped.cu).
#include "lumped.cuh"

extern "C" void host_lumped_integrate(FF_LP_PARAMS) {
    FF_LP_BIND(M);
    for (ff_int c = 0; c < n_cases; ++c) ff_lp_case(c, M);
}
