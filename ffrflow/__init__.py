"""ffrflow: coronary CT geometry → reduced-order blood flow → FFR at every centerline point.

Three lines in a notebook::

    import ffrflow
    r = ffrflow.run("case/network.json", output_dir="out")   # or a mask: "case.nii.gz"
    r.lesions            # vessel, position, %DS, ΔP (mmHg), FFR distal, ...
    net = ffrflow.mesh("case.nii.gz")                        # mask/surface → network with lesions
    u = ffrflow.uq("case.nii.gz", n_samples=4096)            # FFR with its uncertainty
    p = ffrflow.pci("case.nii.gz", "L1")                     # virtual stenting of lesion L1

Sub-packages: :mod:`ffrflow.meshing` (geometry in, network out), :mod:`ffrflow.cfd` (physics),
:mod:`ffrflow.kernels` (hot loops; NumPy reference, Numba CPU, CUDA). The network format is
:mod:`ffrflow.network`. Units: SI inside; mm, mmHg, mL/s at the edges.
"""

from ._version import __version__
from .api import load, mesh, run, solve
from .cfd.result import Result
from .config import Boundary, Model
from .errors import BackendUnavailableError, ConvergenceError, FfrflowError, InvalidInputError, MeshQualityError
from .network import Lesion, Vessel, VesselNetwork
from .uncertainty import pci, uq


__all__ = [
    "__version__", "load", "mesh", "run", "solve", "Result", "Boundary", "Model", "VesselNetwork", "Vessel", "Lesion",
    "FfrflowError", "InvalidInputError", "MeshQualityError", "ConvergenceError", "BackendUnavailableError",
    "uq", "pci",
]
