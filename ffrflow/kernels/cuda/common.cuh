// Shared definitions for ffrflow's CUDA kernels. Every per-thread function is FF_HD: compiled as
// __host__ __device__ by nvcc/NVRTC and as plain inline C++ by g++ (the test suite builds the same
// headers into a host library and checks them against the NumPy reference; docs/architecture.md
// §Backends and kernels).
#pragma once

#ifdef __CUDACC__
#define FF_HD __host__ __device__ inline
#define FF_GLOBAL extern "C" __global__
#else
#include <cmath>
#define FF_HD inline
#endif

#ifndef FF_PI
#define FF_PI 3.14159265358979323846
#endif

typedef long long ff_int;  // int64, as NumPy's default integer arrays

FF_HD double ff_abs(double x) { return x < 0.0 ? -x : x; }
FF_HD bool ff_isnan(double x) { return x != x; }
