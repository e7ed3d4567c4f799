"""``ffrflow batch`` on a real Dask cluster: 20 phantom cases with 3 broken ones, error records,
the results table, Ctrl-C and kill then resume, the same manifest through an address-given scheduler,
and manifest validation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import distributed  # noqa: F401  (required: a broken install fails here, never a skip)
import pandas as pd
import pytest

from _helpers import sigint_as_in_a_terminal

from ffrflow import cli
from ffrflow.batch import CaseSpec, check_case_id, read_manifest, run_batch, run_case
from ffrflow.errors import InvalidInputError
from ffrflow.phantoms import make_phantom_manifest

ROOT = Path(__file__).resolve().parents[1]
BROKEN = {"broken-missing": "input", "broken-empty": "mesh", "broken-malformed": "load"}


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    """20 rows: 17 phantom networks (right trees, one lesion each) + missing file, empty mask, bad network."""
    return make_phantom_manifest(tmp_path_factory.mktemp("manifest"), 20, inputs="network")


@pytest.fixture(scope="module")
def local_run(manifest, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "out"
    env = dict(os.environ)
    code = cli.main(["batch", str(manifest), "-o", str(out), "--workers", "2", "--no-pictures", "--backend", "numpy"])
    assert dict(os.environ) == env           # the embedded cluster leaves this process's environment alone
    return code, out


def _outcome(out: Path) -> dict:
    """Per case: ("ok", min FFR, lesion FFRs) or ("failed", type, stage)."""
    res = {}
    for d in sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        if (d / "summary.json").exists():
            s = json.loads((d / "summary.json").read_text())
            res[d.name] = ("ok", round(s["min_ffr"], 10), tuple(round(x["ffr_distal"], 10) for x in s["lesions"]))
        else:
            e = json.loads((d / "error.json").read_text())
            res[d.name] = ("failed", e["type"], e["stage"])
    return res


def test_local_cluster_runs_17_and_records_3_failures(local_run):
    code, out = local_run
    assert code == cli.EXIT_BATCH_FAILED                          # the exit status says some failed
    res = _outcome(out)
    assert len(res) == 20
    assert sum(v[0] == "ok" for v in res.values()) == 17
    for cid, stage in BROKEN.items():
        assert res[cid][0] == "failed" and res[cid][2] == stage, res[cid]
        err = json.loads((out / cid / "error.json").read_text())
        assert {"type", "message", "stage"} <= set(err) and err["message"]
        assert sorted(p.name for p in (out / cid).iterdir()) == ["error.json"]
    assert "cases/broken/nowhere.nii.gz: no such file" in json.loads((out / "broken-missing" / "error.json").read_text())[
        "message"]                                                 # the path as the manifest wrote it
    ok = out / "phantom-001"
    assert {"summary.json", "results.h5", "centerlines.vtp", "network.json"} <= {p.name for p in ok.iterdir()}
    # the results table: one row per case and one per lesion
    df = pd.read_parquet(out / "results.parquet")
    csv = pd.read_csv(out / "results.csv")
    assert len(df) == len(csv)
    cases = df[df["row"] == "case"]
    assert len(cases) == 20 and (cases["status"] == "ok").sum() == 17 and (cases["status"] == "failed").sum() == 3
    les = df[df["row"] == "lesion"]
    assert len(les) == cases["n_lesions"].sum() >= 17
    assert les["ffr_distal"].between(0.3, 1.0).all() and les["diameter_stenosis_pct"].between(30, 90).all()
    assert {"case_id", "vessel", "diameter_stenosis_pct", "delta_p_mmHg", "ffr_distal", "min_ffr", "status",
            "seconds"} <= set(df.columns)
    assert (cases[cases["status"] == "ok"]["seconds"] > 0).all()
    # per-case overrides reach the solver (every third case runs at Pa = 90 mmHg)
    s3 = json.loads((out / "phantom-003" / "summary.json").read_text())
    assert s3["boundary"]["inlet_pressure_mmHg"] == 90.0
    batch = json.loads((out / "batch.json").read_text())
    assert batch["counts"] == {"ok": 17, "skipped": 0, "failed": 3, "rejected": 0}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]          # no temporary folders left


def test_rerun_skips_finished_cases(local_run, manifest):
    _, out = local_run
    before = {p.name: (p / "summary.json").stat().st_mtime_ns for p in out.iterdir() if (p / "summary.json").exists()}
    rep = run_batch(manifest, out, workers=1, pictures=False, backend="numpy")
    assert rep.counts == {"ok": 0, "skipped": 17, "failed": 3, "rejected": 0}       # failures are retried
    after = {p.name: (p / "summary.json").stat().st_mtime_ns for p in out.iterdir() if (p / "summary.json").exists()}
    assert after == before


def _finished(out: Path) -> dict:
    """Case id -> mtime of its summary.json, for published case folders."""
    return {q.parent.name: q.stat().st_mtime_ns for q in out.glob("*/summary.json")
            if not q.parent.name.startswith(".")} if out.exists() else {}


def _wait_for(out: Path, n: int, proc, timeout: float = 240.0) -> int:
    t0 = time.monotonic()
    done = 0
    while time.monotonic() - t0 < timeout:
        done = len(_finished(out))
        if done >= n or proc.poll() is not None:
            return done
        time.sleep(0.2)
    raise AssertionError(f"only {done} cases finished in {timeout} s")


def test_ctrl_c_and_kill_then_resume(manifest, local_run, tmp_path):
    """Ctrl-C stops cleanly, SIGKILL of the whole run loses nothing finished, a rerun completes the rest."""
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "ffrflow", "batch", str(manifest), "-o", str(out), "--workers", "2", "--backend",
           "numpy"]                                                  # with pictures: each case takes a while
    # 1. Ctrl-C (SIGINT to the process group, as a terminal does) after a few cases
    p = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True, preexec_fn=sigint_as_in_a_terminal)
    n1 = _wait_for(out, 2, p)
    os.killpg(p.pid, signal.SIGINT)
    _, err = p.communicate(timeout=120)
    if n1 < 17:
        assert p.returncode == cli.EXIT_INTERRUPTED, err[-2000:]
        assert "interrupted" in err and "Traceback" not in err
    first = _finished(out)
    assert not [q for q in out.iterdir() if q.name.startswith(".")]           # Ctrl-C left no temporary folder
    # 2. kill -9 of the driver and its workers halfway
    p = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, preexec_fn=sigint_as_in_a_terminal)
    _wait_for(out, len(first) + 2, p)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait(timeout=60)
    second = _finished(out)
    assert all(second[k] == v for k, v in first.items())             # nothing finished was redone
    # 3. the rerun finishes the rest without redoing any
    done = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == cli.EXIT_BATCH_FAILED, done.stderr[-2000:]
    assert f"{len(second)} finished earlier" in done.stdout
    third = _finished(out)
    assert len(third) == 17 and all(third[k] == v for k, v in second.items())
    assert not [q for q in out.iterdir() if q.name.startswith(".")]
    # identical answers to the uninterrupted run; pictures for every case
    assert _outcome(out) == _outcome(local_run[1])
    assert all((out / k / "ffr.png").exists() and (out / k / "pullback.png").exists() for k in third)


def test_address_given_scheduler_gives_identical_results(manifest, local_run, tmp_path):
    sched_file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--scheduler-file",
                               str(sched_file), "--port", "0", "--no-dashboard", "--host", "127.0.0.1"],
                              cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True, preexec_fn=sigint_as_in_a_terminal)]
    try:
        t0 = time.monotonic()
        while not sched_file.exists() and time.monotonic() - t0 < 60:
            time.sleep(0.2)
        addr = json.loads(sched_file.read_text())["address"]
        procs.append(subprocess.Popen([sys.executable, "-m", "dask", "worker", addr, "--nworkers", "2",
                                       "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"],
                                      cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True, preexec_fn=sigint_as_in_a_terminal))
        from distributed import Client

        with Client(addr, timeout="60s") as c:
            c.wait_for_workers(2, timeout=120)
        out = tmp_path / "out"
        code = cli.main(["batch", str(manifest), "-o", str(out), "--scheduler", addr, "--no-pictures",
                         "--backend", "numpy"])
        assert code == cli.EXIT_BATCH_FAILED
        assert _outcome(out) == _outcome(local_run[1])
        a = pd.read_csv(out / "results.csv").drop(columns=["seconds"])
        b = pd.read_csv(local_run[1] / "results.csv").drop(columns=["seconds"])
        pd.testing.assert_frame_equal(a, b)
    finally:
        for p in procs[::-1]:
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(p.pid, signal.SIGKILL)


# ------------------------------------------------------------------------------------------ manifest checks
@pytest.mark.parametrize("cid,ok", [("case-01", True), ("A.b_c-9", True), ("", False), ("..", False), (".", False),
                                    ("../escape", False), ("a/b", False), ("a\\b", False), (".hidden", False),
                                    ("x" * 129, False), ("_rejected", False), ("sp ace", False)])
def test_case_id_must_be_a_plain_name(cid, ok):
    assert (check_case_id(cid) is None) == ok


def test_bad_rows_fail_alone_and_nothing_leaves_outdir(tmp_path):
    net = tmp_path / "n.json"
    net.write_text(json.dumps({"format": "ffrflow-network/1", "units": "mm", "vessels": [
        {"id": "A", "parent": None, "points": [[0, 0, 0], [0, 0, 30]], "radius": [1.5, 1.4]}]}))
    (tmp_path / "m.csv").write_text("case_id,input,myocardial_mass_g\n"
                                    "good,n.json,140\n"
                                    "../escape,n.json,\n"
                                    "good,n.json,\n"
                                    ",n.json,\n"
                                    "a/b,n.json,\n"
                                    "num,n.json,heavy\n")
    specs = read_manifest(tmp_path / "m.csv")
    assert [s.problem is None for s in specs] == [True, False, False, False, False, False]
    assert "duplicated (first at row 1)" in specs[2].problem
    out = tmp_path / "out"
    rep = run_batch(tmp_path / "m.csv", out, workers=1, pictures=False, backend="numpy")
    assert rep.counts == {"ok": 1, "skipped": 0, "failed": 0, "rejected": 5} and not rep.all_ok
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv", "n.json", "out"]      # nothing outside OUTDIR
    assert sorted(p.name for p in (out / "_rejected").iterdir()) == [f"row-{k:05d}.json" for k in (2, 3, 4, 5, 6)]
    assert json.loads((out / "good" / "summary.json").read_text())["boundary"]["myocardial_mass_g"] == 140.0
    rows = pd.read_csv(out / "results.csv")
    assert (rows["status"] == "rejected").sum() == 5


def test_manifest_errors_name_the_file_and_column(tmp_path):
    (tmp_path / "m.csv").write_text("case_id,input,color\nx,y,red\n")
    with pytest.raises(InvalidInputError, match=r"m\.csv: unknown column\(s\) \['color'\]"):
        read_manifest(tmp_path / "m.csv")
    (tmp_path / "n.csv").write_text("id,input\nx,y\n")
    with pytest.raises(InvalidInputError, match=r"n\.csv: row 1: no 'case_id' column"):
        read_manifest(tmp_path / "n.csv")
    (tmp_path / "j.jsonl").write_text('{"case_id": "a", "input": "x.json", "set.model.kt": 1.2}\n\n')
    (s,) = read_manifest(tmp_path / "j.jsonl")
    assert s.case_id == "a" and s.overrides == {"model.kt": 1.2} and s.problem is None
    with pytest.raises(InvalidInputError, match=r"nope\.csv: no such manifest"):
        read_manifest(tmp_path / "nope.csv")


def test_run_case_never_raises_for_the_case(tmp_path):
    spec = CaseSpec(row=1, case_id="c", input="missing.json", path=str(tmp_path / "missing.json"))
    rec = run_case(spec, str(tmp_path / "out"), {"pictures": False})
    assert rec["status"] == "failed" and rec["stage"] == "input"
    assert json.loads((tmp_path / "out" / "c" / "error.json").read_text())["type"] == "InvalidInputError"


def _worker_settings():
    import dask

    return (os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("NUMBA_NUM_THREADS"),
            dask.config.get("distributed.worker.profile.enabled"))


def test_embedded_workers_keep_glibc_malloc_and_one_thread():
    """Distributed's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its workers, which made each meshed case
    cost ~0.5 s more CPU (page faults); the embedded cluster's workers run without it, single-threaded."""
    from ffrflow.batch import make_client

    client, cluster, _ = make_client(workers=1)
    try:
        assert list(client.run(_worker_settings).values()) == [(None, "1", False)]
    finally:
        client.close()
        cluster.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_worker_with_nanny_malloc_setting_is_tuned_once():
    """A worker started by someone else's nanny has MALLOC_TRIM_THRESHOLD_=65536; run_case resets glibc's
    thresholds there (once), and leaves a process without the variable alone."""
    code = ("from ffrflow import batch; a = batch.tune_malloc(); b = batch.tune_malloc(); "
            "print(a, b, batch._MALLOC_TUNED)")
    env = _env()
    env["MALLOC_TRIM_THRESHOLD_"] = "65536"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "True"]
    env.pop("MALLOC_TRIM_THRESHOLD_")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]


def test_gpu_without_gpu_cluster_is_exit_4_before_anything_runs(manifest, tmp_path, capsys):
    """``batch --gpu`` where CuPy, a CUDA device or dask-cuda is missing: exit 4 with one line naming
    exactly what is missing here, no case run and no output folder; never a CPU run instead."""
    from ffrflow.batch import gpu_cluster_missing

    missing = gpu_cluster_missing()
    if not missing:
        pytest.skip("this machine has CuPy, a CUDA device and dask-cuda")
    out = tmp_path / "out"
    code = cli.main(["batch", str(manifest), "-o", str(out), "--gpu", "--no-pictures"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == cli.EXIT_BACKEND
    assert len(err) == 1 and err[0].startswith("error: batch --gpu needs CuPy, a CUDA device and dask-cuda")
    assert err[0].split("missing here: ")[1].startswith(", ".join(missing) + " (")
    assert not out.exists()


@pytest.mark.parametrize("have,device,missing", [
    ({"dask_cuda"}, False, ["CuPy"]), ({"cupy"}, False, ["a CUDA device", "dask-cuda"]),
    ({"cupy", "dask_cuda"}, False, ["a CUDA device"]), (set(), False, ["CuPy", "dask-cuda"]),
    ({"cupy", "dask_cuda"}, True, [])])
def test_gpu_names_each_missing_piece(monkeypatch, tmp_path, have, device, missing):
    """What the error names follows what is missing (CuPy, a CUDA device that CuPy can use, dask-cuda),
    and the check comes before the manifest is read or anything is written."""
    import importlib.util

    from ffrflow import batch
    from ffrflow.errors import BackendUnavailableError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: (object() if name in have else None)
                        if name in ("cupy", "dask_cuda") else real(name, *a))
    monkeypatch.setattr(batch, "_imports", lambda name: True)
    monkeypatch.setattr(batch, "cuda_available", lambda: device)
    monkeypatch.delenv("FFRFLOW_DISABLE_CUDA", raising=False)
    assert batch.gpu_cluster_missing() == missing
    if missing:
        with pytest.raises(BackendUnavailableError, match="missing here: " + ", ".join(missing) + r" \("):
            batch.run_batch(tmp_path / "never-read.csv", tmp_path / "out", gpu=True)
        assert list(tmp_path.iterdir()) == []


def test_gpu_with_an_external_scheduler_is_refused(manifest, tmp_path, capsys):
    """``--gpu`` starts its own dask-cuda cluster; with ``--scheduler`` it would be ignored: exit 2,
    before any connection is tried."""
    code = cli.main(["batch", str(manifest), "-o", str(tmp_path / "out"), "--gpu", "--scheduler", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == cli.EXIT_INPUT and len(err) == 1 and "--scheduler" in err[0]
    assert not (tmp_path / "out").exists()
