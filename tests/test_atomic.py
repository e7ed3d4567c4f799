"""Atomic writes publish with the permissions a plain write would give (shared storage, batch jobs)."""

from __future__ import annotations

import os
import stat

from ffrflow._atomic import _UMASK, atomic_dir, atomic_path, atomic_write_text


def test_atomic_file_and_folder_get_the_umask_mode_not_the_temp_mode(tmp_path):
    """Truth: ``open``/``mkdir`` give 0666/0777 less the umask; mkstemp/mkdtemp alone give 0600/0700."""
    atomic_write_text(tmp_path / "a.json", "{}")
    with atomic_path(tmp_path / "b.bin") as tmp:
        tmp.write_bytes(b"x")
    with atomic_dir(tmp_path / "case") as d:
        (d / "c.txt").write_text("c")
    assert stat.S_IMODE(os.stat(tmp_path / "a.json").st_mode) == 0o666 & ~_UMASK
    assert stat.S_IMODE(os.stat(tmp_path / "b.bin").st_mode) == 0o666 & ~_UMASK
    assert stat.S_IMODE(os.stat(tmp_path / "case").st_mode) == 0o777 & ~_UMASK
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]      # no temporary left behind


def test_a_failed_write_leaves_the_old_file(tmp_path):
    atomic_write_text(tmp_path / "a.json", "old")
    try:
        with atomic_path(tmp_path / "a.json") as tmp:
            tmp.write_text("half")
            raise RuntimeError("stop")
    except RuntimeError:
        pass
    assert (tmp_path / "a.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
