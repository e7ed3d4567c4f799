"""Physics: boundary conditions, lesion and vessel elements, steady and pulsatile solvers, results.

Backend-agnostic: every hot loop is a kernel of :mod:`ffrflow.kernels`. Imports with the numeric
stack alone (numpy, scipy, numba, h5py).
"""


def __getattr__(name):  # lazy: keep `import ffrflow.cfd` light
    if name == "solve_steady":
        from .steady import solve_steady
        return solve_steady
    if name == "solve_steady_batch":
        from .ensemble import solve_steady_batch
        return solve_steady_batch
    raise AttributeError(name)
