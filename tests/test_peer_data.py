"""The peers' cases kept in the repository are the upstream bytes, every one listed with its origin and
licence; the data folders are resolved in one place (ffrflow._datapaths)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ffrflow import _datapaths

from _helpers import ONED, PEERS, ZEROD

HERE = Path(__file__).resolve().parent
IN_REPO = HERE / "data" / "peers"


def _update_module():
    spec = importlib.util.spec_from_file_location("peers_update", IN_REPO / "update.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_tests_read_the_in_repo_copy(monkeypatch):
    assert PEERS == _datapaths.peers_dir() and ZEROD.parent == ONED.parent == PEERS
    monkeypatch.delenv("FFRFLOW_PEERS_DIR", raising=False)
    assert _datapaths.peers_dir() == _datapaths.IN_REPO_PEERS == IN_REPO


def test_every_file_matches_its_sha256_and_is_listed():
    """Truth: MANIFEST.sha256, written from the upstream repositories at the pinned commits (git show
    COMMIT:PATH) and, for the hand-built cases, from the project's peers folder."""
    upd = _update_module()
    assert upd.check() == []
    manifest = upd.read_manifest()
    assert len(manifest) == len(upd.FILES) == 37
    # each upstream tree carries its licence; every upstream file names its source path
    assert "svZeroDSolver/LICENSE.txt" in manifest and "svOneDSolver/Copyright-SimVascular.txt" in manifest
    bsd = (IN_REPO / "svZeroDSolver/LICENSE.txt").read_text(encoding="utf-8")
    mit = (IN_REPO / "svOneDSolver/Copyright-SimVascular.txt").read_text(encoding="utf-8")
    assert "Redistribution and use in source and binary forms" in bsd
    assert "Permission is hereby granted, free of charge" in mit
    assert {o for _, o, _ in upd.FILES} == {"svZeroDSolver", "svOneDSolver", "handmade"}
    readme = (IN_REPO / "README.md").read_text(encoding="utf-8")
    assert upd.SVZEROD_COMMIT in readme and upd.SVONED_COMMIT in readme


def test_check_catches_a_changed_a_missing_and_an_unlisted_file(tmp_path):
    upd = _update_module()
    root = tmp_path / "peers"
    shutil.copytree(IN_REPO, root)
    assert upd.check(root) == []
    (root / "svZeroDSolver/tests_cases/steadyFlow_stenosis_R.json").write_text("{}")
    (root / "svOneDSolver/tests_cases/tube_stenosis_r.in").unlink()
    (root / "svOneDSolver/extra.in").write_text("x")
    problems = upd.check(root)
    assert len(problems) == 3, problems
    assert any("steadyFlow_stenosis_R.json: sha256" in p for p in problems)
    assert any("tube_stenosis_r.in: missing" in p for p in problems)
    assert any("extra.in: in the folder but not listed" in p for p in problems)


def test_update_script_checks_from_the_command_line():
    r = subprocess.run([sys.executable, str(IN_REPO / "update.py")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "37 files listed, 0 problem(s)" in r.stdout


def test_external_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FFRFLOW_DATA_DIR", str(tmp_path))
    assert _datapaths.external_data_dir() == tmp_path.resolve()
    assert _datapaths.bluefern_dir() == tmp_path.resolve() / "real" / "bluefern-coronary-centrelines"
    monkeypatch.delenv("FFRFLOW_DATA_DIR")
    assert _datapaths.external_data_dir() == _datapaths.REPO_ROOT.parent / "shared" / "data"
    reason = _datapaths.missing_reason(tmp_path / "x", "BlueFern")
    assert str(tmp_path / "x") in reason and "FFRFLOW_DATA_DIR" in reason


def test_a_wrong_peers_folder_is_an_error_not_a_skip(monkeypatch, tmp_path):
    monkeypatch.setenv("FFRFLOW_PEERS_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="nowhere not found"):
        _datapaths.peers_dir()
    monkeypatch.setenv("FFRFLOW_PEERS_DIR", str(tmp_path))
    assert _datapaths.peers_dir() == tmp_path.resolve()
