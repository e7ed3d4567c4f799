"""``ffrflow warmup``: the Numba kernels a run calls are compiled (or loaded) ahead of the run
(docs/architecture.md §Backends and kernels)."""

from __future__ import annotations

import pytest

from ffrflow.cli import main
from ffrflow.warmup import STEPS, warm_up


def test_warm_up_compiles_the_steady_single_case_solve():
    seconds = warm_up()
    assert list(seconds) == ["steady"]
    assert seconds["steady"] >= 0.0


def test_warm_up_refuses_a_backend_that_compiles_nothing_ahead():
    with pytest.raises(ValueError, match="only 'cpu'"):
        warm_up(backend="numpy")


def test_cli_warmup_prints_each_step(capsys):
    assert main(["warmup"]) == 0
    out = capsys.readouterr().out
    assert out.split()[0] == STEPS[0]
