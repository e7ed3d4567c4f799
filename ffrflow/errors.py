"""The ffrflow exception hierarchy.

Every error ffrflow raises on purpose derives from :class:`FfrflowError`; messages name the file,
field, value or vessel involved so that a user can fix the input without reading a traceback.

::

    FfrflowError
    ├── InvalidInputError (ValueError)   malformed network / config / option
    ├── MeshQualityError                 geometry that cannot be meshed or measured
    ├── ConvergenceError                 a nonlinear solve that did not reach its tolerance
    └── BackendUnavailableError          a backend asked for by name that this machine lacks

The command line maps them to exit codes (see ``ffrflow.cli``).
"""

from __future__ import annotations


class FfrflowError(Exception):
    """Base class of every error ffrflow raises deliberately."""


class InvalidInputError(FfrflowError, ValueError):
    """Input (file, field, option) that does not satisfy the documented format."""


class MeshQualityError(FfrflowError):
    """Geometry that cannot be turned into a surface, centerline or radius profile."""


class ConvergenceError(FfrflowError):
    """A nonlinear solve that stopped before reaching its tolerance.

    Attributes
    ----------
    residual : float
        Relative residual at the last iterate (dimensionless).
    iterations : int
        Newton iterations performed.
    """

    def __init__(self, message: str, residual: float = float("nan"), iterations: int = 0):
        super().__init__(message)
        self.residual = residual
        self.iterations = iterations


class BackendUnavailableError(FfrflowError):
    """A compute backend requested by name is not usable on this machine."""
