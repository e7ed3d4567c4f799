"""Physics: boundary conditions, lesion and vessel elements, steady and pulsatile solvers, results.

Backend-agnostic: every hot loop is a kernel of :mod:`ffrflow.kernels`. Imports with the numeric
stack alone (numpy, scipy, numba, h5py).
"""


from .ensemble import solve_steady_batch
from .steady import solve_steady

__all__ = ["solve_steady", "solve_steady_batch"]
