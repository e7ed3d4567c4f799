"""ffrflow: coronary CT geometry → reduced-order blood flow → FFR at every centerline point.

Three lines in a notebook::

    import ffrflow
    r = ffrflow.run("case/network.json", output_dir="out")
    r.lesions            # vessel, position, %DS, ΔP (mmHg), FFR distal, ...

Sub-packages: :mod:`ffrflow.meshing` (geometry in, network out), :mod:`ffrflow.cfd` (physics),
:mod:`ffrflow.kernels` (hot loops; NumPy reference, Numba CPU, CUDA). The network format is
:mod:`ffrflow.network`. Units: SI inside; mm, mmHg, mL/s at the edges.
"""

from ._version import __version__
from .api import load, run, solve
from .config import Boundary, Model
from .errors import (BackendUnavailableError, ConvergenceError, FfrflowError, InvalidInputError,
                     MeshQualityError)
from .network import Lesion, Vessel, VesselNetwork

__all__ = [
    "__version__", "load", "run", "solve", "Boundary", "Model", "VesselNetwork", "Vessel", "Lesion",
    "FfrflowError", "InvalidInputError", "MeshQualityError", "ConvergenceError", "BackendUnavailableError",
]
