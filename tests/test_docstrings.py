"""The Examples in public docstrings run (devito's test_docstrings habit)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["ffrflow.config", "ffrflow.network", "ffrflow.cfd.boundary", "ffrflow.cfd.elements",
           "ffrflow.cfd.steady", "ffrflow.cfd.ensemble", "ffrflow.api", "ffrflow.cfd.lumped",
           "ffrflow.cfd.lumped.model", "ffrflow.cfd.lumped.packing", "ffrflow.cfd.lumped.result",
           "ffrflow.cfd.lumped.solve", "ffrflow.cfd.lumped.from_network", "ffrflow.formats.svzerod",
           "ffrflow.formats.svoned", "ffrflow.formats.vtkcenterlines", "ffrflow.formats.simvascular",
           "ffrflow.plausibility"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    mod = importlib.import_module(name)
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0
