"""Compile the Numba CPU kernels ahead of the first run (``ffrflow warmup``; ``make install`` runs it).

The CPU kernels are compiled by Numba the first time they are called and cached on disk
(``cache=True``): the first ``ffrflow run`` after installing pays the compilation, every later run loads
the cached machine code. :func:`warm_up` makes that first call on a small built-in network (the demo
case's trees), through the same code path a run takes, so the cached signatures are exactly the ones
a run asks for. Where the cache goes (docs/architecture.md §Backends and kernels): the package's
``__pycache__`` when it is writable, else Numba's per-user cache directory, or ``$NUMBA_CACHE_DIR``
when set (e.g. a folder baked into a container image).
"""

from __future__ import annotations

import time

from .api import solve
from .cfd.lumped import solve_lumped_network
from .kernels.backend import resolve_backend
from .meshing.stenosis import detect_lesions
from .phantoms import demo_case
from .uncertainty import uq

#: What :func:`warm_up` compiles: the steady single-case solve that ``ffrflow run`` takes by default,
#: and with ``everything`` the ensemble (``ffrflow uq``/``pci``), pulsatile 1D and lumped 0D kernels.
STEPS = ("steady", "ensemble", "pulsatile", "lumped")


def warm_up(everything: bool = False, backend: str = "cpu") -> dict[str, float]:
    """Compile (or load from the cache) the kernels a run needs, by solving the demo network.

    Parameters
    ----------
    everything : bool
        Also the ensemble, pulsatile and lumped kernels (default: the steady single-case solve only).
    backend : {"cpu"}
        The backend to warm up: ``cpu`` (Numba). The NumPy reference compiles nothing and the CUDA
        kernels are compiled by CuPy per device, so neither is accepted.

    Returns
    -------
    dict
        Seconds (wall) per step, in :data:`STEPS` order.

    Raises
    ------
    BackendUnavailableError
        When Numba is not importable (``backend="cpu"`` is never replaced by another backend).
    ValueError
        For a backend other than ``cpu``.
    """
    if backend != "cpu":
        raise ValueError(f"warm_up: backend {backend!r}: only 'cpu' (Numba) compiles ahead of a run")
    resolve_backend("cpu")
    net = detect_lesions(demo_case().network)
    steps = {"steady": lambda: solve(net, backend="cpu", detect=False)}
    if everything:
        steps["ensemble"] = lambda: uq(net, n_samples=16, backend="cpu")
        steps["pulsatile"] = lambda: solve(net, solver="pulsatile", backend="cpu", detect=False)
        steps["lumped"] = lambda: solve_lumped_network(net, backend="cpu", n_cycles=1)
    seconds = {}
    for name, step in steps.items():
        t0 = time.perf_counter()
        step()
        seconds[name] = time.perf_counter() - t0
    return seconds
