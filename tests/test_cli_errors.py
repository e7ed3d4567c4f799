"""The command line's error edges: every failure ends in one ``error:`` line and its documented exit
code (1 internal, 3 no convergence, 5 geometry that cannot be meshed), nothing half-written, and the
traceback only with ``--debug``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ffrflow import cli


@pytest.mark.parametrize("exc,line", [
    (RuntimeError("boom\n  in the second line"), "error: RuntimeError: boom in the second line"),
    (KeyError("vessel"), "error: KeyError: 'vessel'"),
    (ZeroDivisionError(), "error: ZeroDivisionError")])
def test_an_exception_that_is_not_ffrflows_is_one_line_and_exit_1(monkeypatch, capsys, exc, line):
    def broken(args):
        raise exc

    monkeypatch.setattr(cli, "cmd_info", broken)
    assert cli.main(["info"]) == cli.EXIT_INTERNAL
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [line] and captured.out == ""


def test_debug_prints_the_traceback_then_the_same_line_and_code(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "cmd_info", broken)
    assert cli.main(["--debug", "info"]) == cli.EXIT_INTERNAL
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "Traceback (most recent call last):" and "in broken" in "\n".join(err)
    assert err[-1] == "error: RuntimeError: boom"


def test_ffrflows_own_errors_keep_their_codes_and_messages(monkeypatch, capsys):
    from ffrflow.errors import (BackendUnavailableError, ConvergenceError, FfrflowError, InvalidInputError,
                                MeshQualityError)

    for exc, code in ((InvalidInputError("net.json: vessels[0].radius: expected > 0"), 2),
                      (ConvergenceError("did not converge"), 3), (BackendUnavailableError("no cuda"), 4),
                      (MeshQualityError("case.stl: holes"), 5), (FfrflowError("other"), 1)):
        monkeypatch.setattr(cli, "cmd_info", lambda args, exc=exc: (_ for _ in ()).throw(exc))
        assert cli.main(["info"]) == code
        assert capsys.readouterr().err.splitlines() == [f"error: {exc}"]


def test_a_model_that_cannot_converge_is_exit_3_and_writes_nothing(tmp_path, capsys):
    """Truth: a lumped model with a stenosis (quadratic in the flow) whose file allows one Newton
    iteration per step cannot reach its absolute tolerance of 1e-8: Newton's first step from the
    initial state leaves a residual of the order of the inflow. svZeroDSolver's own input format."""
    from ffrflow.cfd.lumped import LumpedModel, SimulationParameters
    from ffrflow.formats.svzerod import write_svzerod

    sim = SimulationParameters(number_of_cardiac_cycles=2, number_of_time_pts_per_cardiac_cycle=5,
                               maximum_nonlinear_iterations=1, steady_initial=False)
    model = LumpedModel.single_vessel(R=1.0, S=1e4, inflow=5.0, outlet=("RESISTANCE", {"R": 1.0, "Pd": 0.0}), sim=sim)
    path = write_svzerod(model, tmp_path / "stiff.json")
    out = tmp_path / "out"
    code = cli.main(["-q", "run", str(path), "-o", str(out), "--backend", "numpy"])
    err = capsys.readouterr().err.splitlines()
    assert code == cli.EXIT_CONVERGENCE
    assert len(err) == 1 and err[0].startswith("error: lumped solve of 'stiff' failed")
    assert "Newton did not converge" in err[0] and "maximum_nonlinear_iterations 1" in err[0]
    assert not out.exists()


def test_a_surface_with_holes_is_exit_5_through_the_console_command(tmp_path):
    """A lumen surface with holes cannot be meshed: ``python -m ffrflow -q mesh holed.stl`` exits 5
    with one line naming the file, and no output folder appears."""
    import vtk

    from ffrflow.meshing.surface import tube_surface, write_surface
    from ffrflow.network import VesselNetwork

    net = VesselNetwork.from_dict({"format": "ffrflow-network/1", "units": "mm", "vessels": [
        {"id": "A", "parent": None, "points": [[0, 0, 0], [0, 0, 15]], "radius": [1.5, 1.5]}]})
    surf = tube_surface(net, voxel_mm=0.5)
    holed = vtk.vtkPolyData()
    holed.DeepCopy(surf)
    for i in range(0, holed.GetNumberOfCells(), 200):
        holed.DeleteCell(i)
    holed.RemoveDeletedCells()
    src = write_surface(holed, tmp_path / "holed.stl")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "ffrflow", "-q", "mesh", str(src), "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == cli.EXIT_MESH, proc.stderr
    err = proc.stderr.splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {src}") and "not watertight" in err[0]
    assert not out.exists()
