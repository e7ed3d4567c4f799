"""Shared fixtures and hooks: the backend fixtures, the gpu marker. Shared helpers (small networks,
the data folders, random kernel inputs, ...) are in ``_helpers.py``."""

from __future__ import annotations

import pytest

from ffrflow.kernels import available_backends, cuda_available


def pytest_collection_modifyitems(config, items):
    if cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device and CuPy (none usable here)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=available_backends())
def backend(request):
    """Every concrete backend usable on this machine (numpy always; cpu with Numba; cuda on a GPU)."""
    return request.param


@pytest.fixture(params=[b for b in available_backends() if b != "numpy"]
                or [pytest.param(None, marks=pytest.mark.skip(reason="only the NumPy reference is usable here"))])
def parity_backend(request):
    """Every usable backend other than the NumPy reference: parity tests compare it with the reference
    (comparing the reference with itself proves nothing)."""
    return request.param
