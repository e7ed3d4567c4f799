"""``ffrflow batch --gpu`` as a heterogeneous Dask graph, run here with emulated GPU workers (CPU
processes labelled with the GPU resource that solve with Numba; the documented test device): which
stage ran on which worker kind, several cases per batched solve, the per-case uncertainty in
summary.json and the results table, per-case errors in every stage, atomic outputs, resume, and the
option checks."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import distributed  # noqa: F401  (required: a broken install fails here, never a skip)
import h5py
import numpy as np
import pandas as pd
import pytest

from _helpers import sigint_as_in_a_terminal

from ffrflow import cli
from ffrflow.batch import run_batch
from ffrflow.phantoms import make_phantom_manifest

ROOT = Path(__file__).resolve().parents[1]
UQ = 512
BATCH = 4
ARGS = ["--gpu", "--emulate-gpu-workers", "1", "--workers", "2", "--no-pictures", "--uq-samples", str(UQ),
        "--gpu-batch-size", str(BATCH)]
# case id -> (error type, stage) of the cases that must fail alone
BROKEN = {"broken-missing": ("InvalidInputError", "input"), "broken-empty": ("InvalidInputError", "mesh"),
          "broken-malformed": ("InvalidInputError", "load"), "stiff-lumped": ("ConvergenceError", "solve")}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    """11 phantom networks, one phantom mask (meshed on a CPU worker), the three broken rows of
    make_phantom_manifest and an svZeroDSolver model whose solve cannot converge (it fails on the GPU
    worker, in a batch with cases that succeed)."""
    from ffrflow.cfd.lumped import LumpedModel, SimulationParameters
    from ffrflow.formats.svzerod import write_svzerod

    root = tmp_path_factory.mktemp("graph")
    path = make_phantom_manifest(root / "in", 14, inputs="network")
    mask = make_phantom_manifest(root / "mask", 1, inputs="mask", broken=False, spacing_mm=0.5)
    sim = SimulationParameters(number_of_cardiac_cycles=2, number_of_time_pts_per_cardiac_cycle=5,
                               maximum_nonlinear_iterations=1, steady_initial=False)
    write_svzerod(LumpedModel.single_vessel(R=1.0, S=1e4, inflow=5.0, outlet=("RESISTANCE", {"R": 1.0, "Pd": 0.0}),
                                            sim=sim), root / "in" / "stiff.json")
    rows = list(csv.DictReader(path.read_text().splitlines()))
    rows.insert(3, {"case_id": "mask-001", "input": str(mask.parent / "cases" / "p001" / "mask.nii.gz"),
                    "inlet_pressure_mmHg": ""})
    rows.insert(7, {"case_id": "stiff-lumped", "input": "stiff.json", "inlet_pressure_mmHg": ""})
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["case_id", "input", "inlet_pressure_mmHg"])
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def graph_run(manifest, tmp_path_factory):
    out = tmp_path_factory.mktemp("graph-out") / "out"
    code = cli.main(["batch", str(manifest), "-o", str(out), *ARGS])
    return code, out


def _summaries(out: Path) -> dict:
    return {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/summary.json")}


def test_every_case_ends_in_its_folder_and_bad_ones_fail_alone(graph_run):
    code, out = graph_run
    assert code == cli.EXIT_BATCH_FAILED
    s = _summaries(out)
    assert len(s) == 12 and "mask-001" in s
    for cid, (typ, stage) in BROKEN.items():
        assert sorted(p.name for p in (out / cid).iterdir()) == ["error.json"]
        err = json.loads((out / cid / "error.json").read_text())
        assert (err["type"], err["stage"]) == (typ, stage), err
        assert err["message"] and "graph" in err
    # the stiff model failed on the GPU worker, in a batch whose other cases were written
    err = json.loads((out / "stiff-lumped" / "error.json").read_text())
    assert err["graph"]["solve"]["kind"] == "gpu" and err["graph"]["write"]["kind"] == "cpu"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]          # no temporary folder left
    for cid in s:                                                             # every ok case is complete
        names = {p.name for p in (out / cid).iterdir()}
        assert {"summary.json", "results.h5", "centerlines.vtp", "network.json", "uq.json"} <= names
        assert "error.json" not in names
    assert {"surface.vtp", "mesh.json"} <= {p.name for p in (out / "mask-001").iterdir()}
    batch = json.loads((out / "batch.json").read_text())
    assert batch["counts"] == {"ok": 12, "skipped": 0, "failed": 4, "rejected": 0}
    assert batch["gpu_graph"] == {"uq_samples": UQ, "gpu_batch_size": BATCH, "emulate_gpu_workers": 1}
    assert "emulated GPU workers" in batch["cluster"] and "a test device" in batch["cluster"]


def test_stages_run_on_their_worker_kinds(graph_run):
    """Prepare (meshing) and write (files) on CPU workers, the solve on the GPU-labelled worker, which
    says that it is emulated and solved with Numba."""
    _, out = graph_run
    for cid, s in _summaries(out).items():
        g = s["batch"]["graph"]
        assert g["prepare"]["kind"] == g["write"]["kind"] == "cpu", (cid, g)
        assert g["prepare"]["worker"].startswith("cpu-") and g["write"]["worker"].startswith("cpu-")
        assert g["solve"] == {"worker": "gpu-emulated-0", "kind": "gpu", "emulated": True}
        assert s["backend"] == "cpu" and s["batch"]["backend"] == "cpu"
        assert s["uq"]["backend"] == "cpu"


def test_cases_are_solved_several_per_batched_call(graph_run):
    """Cases share batched solves of at most BATCH cases; each case's batched outlet FFRs equal its
    node-level solve's."""
    _, out = graph_run
    by_batch: dict = {}
    for cid, s in _summaries(out).items():
        b = s["batch"]
        assert b["in_batched_call"] and cid in b["cases"]
        by_batch.setdefault(b["id"], set()).add(cid)
        assert 1 <= b["size"] == len(b["cases"]) <= BATCH
        assert b["batched_outlet_ffr_max_abs_diff"] < 1e-9
        assert b["batched_min_ffr"] == pytest.approx(s["min_ffr"], abs=1e-6)
    assert max(len(v) for v in by_batch.values()) >= 2
    for bid, cids in by_batch.items():       # every case of a batch names the same batch members
        members = {tuple(_summaries(out)[c]["batch"]["cases"]) for c in cids}
        assert len(members) == 1 and cids <= set(next(iter(members)))


def test_results_equal_a_solve_on_the_cpu(graph_run, manifest):
    """The graph changes where a case is solved, not its answer."""
    from ffrflow import api
    from ffrflow.batch import read_manifest

    _, out = graph_run
    s = _summaries(out)
    specs = {x.case_id: x for x in read_manifest(manifest)}
    for cid in ("phantom-001", "phantom-003", "phantom-007"):
        net = api.load(specs[cid].path)
        r = api.solve(net, backend="cpu", overrides=specs[cid].overrides or None)
        assert s[cid]["min_ffr"] == pytest.approx(r.min_ffr, abs=1e-10)
        assert [x["ffr_distal"] for x in s[cid]["lesions"]] == pytest.approx(
            [x["ffr_distal"] for x in r.lesion_records], abs=1e-10)
    assert s["phantom-003"]["boundary"]["inlet_pressure_mmHg"] == 90.0        # manifest overrides applied


def test_uncertainty_in_summary_results_h5_and_table(graph_run):
    _, out = graph_run
    s = _summaries(out)
    df = pd.read_parquet(out / "results.parquet")
    cases = df[df["row"] == "case"].set_index("case_id")
    assert (cases.loc[list(s), "uq_samples"] == UQ).all()
    assert cases.loc[list(BROKEN), "uq_samples"].isna().all()
    les = df[df["row"] == "lesion"]
    assert len(les) >= 12 and les[["ffr_p05", "ffr_p95", "p_ffr_le_0_80"]].notna().all().all()
    for _, row in les.iterrows():
        u = {x["id"]: x for x in s[row["case_id"]]["uq"]["lesions"]}[row["lesion"]]
        assert (row["ffr_p05"], row["ffr_p95"], row["p_ffr_le_0_80"]) == pytest.approx(
            (u["p05"], u["p95"], u["p_below_cutoff"]))
        assert 0.0 < u["p05"] <= u["median"] <= u["p95"] <= 1.0 and 0.0 <= u["p_below_cutoff"] <= 1.0
        assert u["p05"] < u["p95"]                                   # the inputs did vary
    with h5py.File(out / "phantom-001" / "results.h5") as f:
        assert f["uq/ffr_lesion"].shape == (UQ, len(s["phantom-001"]["lesions"]))
        assert np.isfinite(f["uq/ffr_lesion"][:]).all()
    assert json.loads((out / "phantom-001" / "uq.json").read_text())["n_samples"] == UQ


def test_rerun_skips_finished_cases_and_retries_failed(graph_run, manifest):
    _, out = graph_run
    before = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/summary.json")}
    rep = run_batch(manifest, out, gpu=True, emulate_gpu_workers=1, workers=1, pictures=False, uq_samples=UQ,
                    gpu_batch_size=BATCH, progress=False)
    assert rep.counts == {"ok": 0, "skipped": 12, "failed": 4, "rejected": 0}
    assert {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/summary.json")} == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_uq_off_and_batch_of_one(manifest, tmp_path):
    """--uq-samples 0: no uncertainty run, no uq outputs; --gpu-batch-size 1: one case per solve."""
    out = tmp_path / "out"
    rep = run_batch(manifest, out, gpu=True, emulate_gpu_workers=1, workers=1, pictures=False, uq_samples=0,
                    gpu_batch_size=1, progress=False)
    assert rep.counts["ok"] == 12
    for cid, s in _summaries(out).items():
        assert "uq" not in s and not (out / cid / "uq.json").exists()
        assert s["batch"]["size"] == 1 and s["batch"]["cases"] == [cid]
    assert pd.read_csv(out / "results.csv")["uq_samples"].isna().all()


@pytest.mark.parametrize("args,what", [
    (["--uq-samples", "100"], "only with --gpu"),
    (["--emulate-gpu-workers", "1"], "only with --gpu"),
    (["--gpu-batch-size", "4"], "only with --gpu"),
    (["--gpu", "--emulate-gpu-workers", "1", "--uq-samples", "1"], "--uq-samples 1"),
    (["--gpu", "--emulate-gpu-workers", "1", "--uq-samples", "-5"], "--uq-samples -5"),
    (["--gpu", "--emulate-gpu-workers", "1", "--gpu-batch-size", "0"], "--gpu-batch-size 0"),
    (["--gpu", "--emulate-gpu-workers", "1", "--backend", "numpy"], "--backend numpy"),
    (["--gpu", "--emulate-gpu-workers", "-1"], "--emulate-gpu-workers -1"),
    (["--gpu", "--emulate-gpu-workers", "1", "--scheduler", "tcp://127.0.0.1:9"], "--scheduler")])
def test_options_that_do_not_go_together_are_exit_2_before_anything(manifest, tmp_path, capsys, args, what):
    out = tmp_path / "out"
    code = cli.main(["batch", str(manifest), "-o", str(out), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == cli.EXIT_INPUT and len(err) == 1 and what in err[0], err
    assert not out.exists()


def test_a_given_client_needs_both_worker_kinds():
    from ffrflow.batch_graph import check_graph_workers
    from ffrflow.errors import InvalidInputError

    class Client:
        def __init__(self, res):
            self.res = res

        def scheduler_info(self):
            return {"workers": {f"w{i}": {"resources": r} for i, r in enumerate(self.res)}}

    check_graph_workers(Client([{"CPU": 1}, {"GPU": 1}]))
    with pytest.raises(InvalidInputError, match=r"\['GPU'\]"):
        check_graph_workers(Client([{"CPU": 1}, {}]))
    with pytest.raises(InvalidInputError, match=r"\['CPU', 'GPU'\]"):
        check_graph_workers(Client([{}]))


def test_solve_stage_refuses_a_worker_of_the_other_kind(monkeypatch):
    """A real-GPU batch never solves on an emulated worker, nor the other way round; without a usable
    device a real GPU worker names the missing backend (never a CPU solve)."""
    from ffrflow.batch_graph import _backend_here
    from ffrflow.errors import BackendUnavailableError

    monkeypatch.setenv("FFRFLOW_EMULATED_GPU_WORKER", "1")
    assert _backend_here({"emulate_gpu_workers": 1}) == ("cpu", True)
    with pytest.raises(BackendUnavailableError, match="not the kind"):
        _backend_here({"emulate_gpu_workers": 0})
    monkeypatch.delenv("FFRFLOW_EMULATED_GPU_WORKER")
    with pytest.raises(BackendUnavailableError, match="not the kind"):
        _backend_here({"emulate_gpu_workers": 1})
    monkeypatch.setenv("FFRFLOW_DISABLE_CUDA", "1")
    with pytest.raises(BackendUnavailableError):
        _backend_here({"emulate_gpu_workers": 0})


def test_a_batched_call_that_raises_is_repeated_per_case(manifest, monkeypatch):
    """The solve stage called directly: when the batched call over several networks raises, every
    case gets a call of its own, the one that made it raise is named, and every case keeps its
    node-level answer; a case that failed earlier passes through with its own error."""
    from dataclasses import asdict

    import ffrflow.cfd.ensemble as ens
    from ffrflow.batch import read_manifest
    from ffrflow.batch_graph import prepare_case, solve_batch, solve_input

    specs = {s.case_id: s for s in read_manifest(manifest)}
    ids = ["phantom-001", "phantom-002", "broken-missing", "phantom-004"]
    cases = [solve_input(prepare_case(asdict(specs[c]), {})) for c in ids]
    assert cases[2]["error"]["stage"] == "input" and cases[0].get("error") is None
    bad = cases[1]["network"]
    real = ens.solve_steady_batch

    def flaky(nets, *a, **k):
        if not isinstance(nets, ens.VesselNetwork) or nets is bad:
            raise RuntimeError("injected failure")
        return real(nets, *a, **k)

    monkeypatch.setattr("ffrflow.batch_graph.solve_steady_batch", flaky)   # where the graph looks it up
    monkeypatch.setenv("FFRFLOW_EMULATED_GPU_WORKER", "1")
    got = solve_batch(cases, {"emulate_gpu_workers": 1, "uq_samples": 0}, "b-test")
    assert [g["case_id"] for g in got] == ids
    assert got[2]["error"] == cases[2]["error"]
    for g in (got[0], got[1], got[3]):
        assert "error" not in g and g["result"].converged and g["uq"] is None
        assert g["batch"]["isolated"] == "RuntimeError: injected failure"
        assert g["batch"]["cases"] == ["phantom-001", "phantom-002", "phantom-004"]
    assert got[1]["batch"]["batched_error"] == "RuntimeError: injected failure"
    assert not got[1]["batch"]["in_batched_call"]
    assert got[0]["batch"]["in_batched_call"] and got[0]["batch"]["batched_outlet_ffr_max_abs_diff"] < 1e-9


def test_ctrl_c_stops_the_graph_cleanly_and_a_rerun_resumes(manifest, graph_run, tmp_path):
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) while cases are in flight: exit 130,
    no temporary folder left, finished cases kept; the rerun finishes the rest without redoing any,
    with the same answers as the uninterrupted run."""
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "ffrflow", "batch", str(manifest), "-o", str(out), *ARGS]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True, preexec_fn=sigint_as_in_a_terminal)
    t0 = time.monotonic()
    while len(list(out.glob("*/summary.json"))) < 2 and p.poll() is None and time.monotonic() - t0 < 240:
        time.sleep(0.1)
    os.killpg(p.pid, signal.SIGINT)
    _, err = p.communicate(timeout=120)
    first = {q.parent.name: q.stat().st_mtime_ns for q in out.glob("*/summary.json")}
    if len(first) < 12:
        assert p.returncode == cli.EXIT_INTERRUPTED, err[-2000:]
        assert "interrupted" in err and "Traceback" not in err
    assert not [q for q in out.iterdir() if q.name.startswith(".")]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == cli.EXIT_BATCH_FAILED, done.stderr[-2000:]
    assert f"{len(first)} finished earlier" in done.stdout
    second = {q.parent.name: q.stat().st_mtime_ns for q in out.glob("*/summary.json")}
    assert len(second) == 12 and all(second[k] == v for k, v in first.items())
    ref = _summaries(graph_run[1])
    for cid, s in _summaries(out).items():
        assert s["min_ffr"] == pytest.approx(ref[cid]["min_ffr"], abs=1e-12)
        assert [x["p95"] for x in s["uq"]["lesions"]] == pytest.approx([x["p95"] for x in ref[cid]["uq"]["lesions"]])
