"""Backend choice: the only place that probes CuPy and Numba.

Backends (the names the CLI uses):

``numpy``
    The NumPy reference (:mod:`ffrflow.kernels.reference`), always available; the oracle.
``cpu``
    Numba ``@njit(parallel=True, cache=True)`` versions (:mod:`ffrflow.kernels.cpu`).
``cuda``
    CUDA C kernels compiled by CuPy ``RawModule`` (:mod:`ffrflow.kernels.gpu`).
``auto``
    ``cuda`` when CuPy finds a usable device, else ``cpu``, else ``numpy``. Only ``auto`` may fall
    back; the fallback is logged and the backend actually used is recorded in the results.

Environment: ``FFRFLOW_BACKEND`` sets the default for ``auto``-less callers; ``FFRFLOW_DISABLE_CUDA=1``
makes ``auto`` skip the GPU probe.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Callable, Literal

from ..errors import BackendUnavailableError, InvalidInputError

Backend = Literal["auto", "numpy", "cpu", "cuda"]
BACKENDS = ("auto", "numpy", "cpu", "cuda")
log = logging.getLogger("ffrflow")


@functools.lru_cache(maxsize=None)
def numba_available() -> bool:
    """True when Numba imports."""
    try:
        import numba  # noqa: F401
    except Exception:  # pragma: no cover - depends on the machine
        return False
    return True


@functools.lru_cache(maxsize=None)
def cuda_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device that can run a kernel."""
    if os.environ.get("FFRFLOW_DISABLE_CUDA", "") not in ("", "0"):
        return False
    try:
        import cupy  # noqa: F401

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return False
        cupy.arange(2).sum().item()
    except Exception:
        return False
    return True


def available_backends() -> list[str]:
    """Concrete backends usable on this machine, fastest last (``numpy`` always first)."""
    out = ["numpy"]
    if numba_available():
        out.append("cpu")
    if cuda_available():
        out.append("cuda")
    return out


def resolve_backend(backend: str | None = None) -> str:
    """Validate a backend name and turn ``auto`` into a concrete backend.

    Parameters
    ----------
    backend : {"auto", "numpy", "cpu", "cuda"} or None
        None means ``$FFRFLOW_BACKEND`` or ``auto``.

    Returns
    -------
    str
        ``"numpy"``, ``"cpu"`` or ``"cuda"``.

    Raises
    ------
    InvalidInputError
        For an unknown name.
    BackendUnavailableError
        When a named backend is not usable here (never a silent fallback).
    """
    if backend is None:
        backend = os.environ.get("FFRFLOW_BACKEND", "auto")
    if backend not in BACKENDS:
        raise InvalidInputError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        if cuda_available() and _has_kernels("cuda"):
            return "cuda"
        if numba_available():
            return "cpu"
        log.warning("backend auto: Numba is not importable, using the NumPy reference")
        return "numpy"
    if backend == "cpu" and not numba_available():
        raise BackendUnavailableError("backend 'cpu' needs Numba, which does not import here "
                                      "(pip install numba)")
    if backend == "cuda":
        if not cuda_available():
            raise BackendUnavailableError(
                "backend 'cuda' needs CuPy and a CUDA device; none is usable here "
                "(pip install 'ffrflow[gpu]' on a GPU node, or choose --backend cpu)")
        if not _has_kernels("cuda"):
            raise BackendUnavailableError("backend 'cuda': this build of ffrflow has no CUDA kernels")
    return backend


def _has_kernels(backend: str) -> bool:
    try:
        _module(backend)
    except ImportError:
        return False
    return True


def _module(backend: str):
    if backend == "numpy":
        from . import reference as mod
    elif backend == "cpu":
        from . import cpu as mod
    elif backend == "cuda":
        from . import gpu as mod  # type: ignore[attr-defined]
    else:  # pragma: no cover - resolve_backend guards this
        raise InvalidInputError(f"backend: unknown {backend!r}")
    return mod


def get_kernel(name: str, backend: str) -> Callable:
    """The kernel ``name`` for a concrete backend; every backend's version has the same signature.

    Raises
    ------
    InvalidInputError
        When no kernel of that name exists.
    """
    backend = resolve_backend(backend)
    mod = _module(backend)
    fn = getattr(mod, name, None)
    if fn is None or name.startswith("_"):
        raise InvalidInputError(f"kernel {name!r}: not provided by backend {backend!r}")
    return fn
