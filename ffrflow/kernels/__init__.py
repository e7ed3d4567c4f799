"""The hot loops, one algorithm per kernel in three backends with one signature (docs/architecture.md
§Backends and kernels).

Only this sub-package knows about devices. Code above it asks :func:`get_kernel` for a kernel by
name and backend and never branches on the backend itself.
"""

from .backend import BACKENDS, available_backends, cuda_available, get_kernel, resolve_backend

__all__ = ["BACKENDS", "available_backends", "cuda_available", "get_kernel", "resolve_backend"]
