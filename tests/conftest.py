"""Shared fixtures: the backend fixture over every available backend, the gpu marker, small networks, the
data folders (resolved by :mod:`ffrflow._datapaths`: the peers' cases kept in the repository, the
external GPL data that tests skip without)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ffrflow._datapaths import bluefern_dir, missing_reason, peers_dir
from ffrflow.kernels import available_backends
from ffrflow.network import VesselNetwork

#: The peers' cases kept in the repository (tests/data/peers): always there, so never a reason to skip.
PEERS = peers_dir()
ZEROD = PEERS / "svZeroDSolver"
ONED = PEERS / "svOneDSolver"
#: BlueFern coronary centrelines (GPL-2.0): external, tests that read them skip when absent.
BLUEFERN = bluefern_dir()
needs_bluefern = pytest.mark.skipif(not BLUEFERN.is_dir(),
                                    reason=missing_reason(BLUEFERN, "BlueFern coronary centrelines (GPL-2.0)"))


def pytest_collection_modifyitems(config, items):
    from ffrflow.kernels import cuda_available

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


def straight(vid, parent, start, direction, length_mm, radius, n=2):
    """A straight vessel from ``start`` along ``direction`` with radius constant or (r0, r1) linear."""
    start = np.asarray(start, float)
    d = np.asarray(direction, float)
    d = d / np.linalg.norm(d)
    t = np.linspace(0.0, length_mm, n)
    pts = start + t[:, None] * d
    if np.isscalar(radius):
        r = np.full(n, float(radius))
    else:
        r = np.linspace(radius[0], radius[1], n)
    return {"id": vid, "parent": parent, "points": pts.tolist(), "radius": r.tolist()}


def network(vessels, boundary=None, model=None) -> VesselNetwork:
    d = {"format": "ffrflow-network/1", "units": "mm", "vessels": vessels}
    if boundary is not None:
        d["boundary"] = boundary
    if model is not None:
        d["model"] = model
    return VesselNetwork.from_dict(d)


def poiseuille_r(mu, length_m, radius_m):
    """R = 8 μ L / (π r⁴), Pa·s/m³."""
    return 8.0 * mu * length_m / (math.pi * radius_m ** 4)
