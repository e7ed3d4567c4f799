"""Atomic file and folder writes: a reader sees the old content or the new, never half of it."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from .errors import InvalidInputError


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: The process umask, read once at import (reading it means setting it, which is not thread-safe).
_UMASK = _read_umask()


def _published(p: Path, folder: bool = False) -> None:
    """Give a temporary file (mkstemp: 0600) or folder (mkdtemp: 0700) the mode a plain ``open`` or
    ``mkdir`` would have given it (0666 or 0777 less the umask), so results on shared storage are
    readable by the group as usual."""
    with contextlib.suppress(OSError):
        os.chmod(p, (0o777 if folder else 0o666) & ~_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        _published(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike):
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` in one rename.

    An existing ``path`` is moved aside first and deleted only after the rename succeeded.
    On an exception the temporary folder is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        yield tmp
        _published(tmp, folder=True)
        old = None
        if path.exists():
            old = path.parent / f".{path.name}.old-{os.getpid()}"
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


#: Names ffrflow writes into an output folder (a folder holding only these may be replaced whole).
OUTPUT_NAMES = frozenset({
    "summary.json", "results.h5", "centerlines.vtp", "network.json", "surface.vtp", "surface.stl",
    "lesions.json", "mesh.json", "ffr.png", "pullback.png", "truth.json", "mask.nii.gz", "error.json",
    "volume.msh", "surface_centerline.png", "uq.json", "uq.png", "pci.json", "pullback_pci.png", "pci_uq.json",
    "pci_uq.png"})


@contextlib.contextmanager
def output_folder(path: str | os.PathLike):
    """Yield a temporary folder whose content is published into ``path`` only when the block succeeds.

    All or nothing: on an exception nothing appears in ``path``. When ``path`` is missing, empty or
    holds only files that ffrflow writes (a previous run), the whole folder is replaced in one
    rename (:func:`atomic_dir`). Otherwise (a folder with the user's own files) each new file is
    renamed into it and nothing else there is touched.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InvalidInputError(f"{path}: output folder exists as a file")
    replace_whole = not path.exists() or (
        path.resolve() != Path.cwd().resolve() and not os.path.ismount(path)
        and all(p.name in OUTPUT_NAMES or _is_leftover(p.name) for p in path.iterdir()))
    if replace_whole:
        with atomic_dir(path) as tmp:
            yield tmp
        return
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        yield tmp
        for p in sorted(tmp.iterdir()):
            target = path / p.name
            if p.is_dir() and target.exists():
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            os.replace(p, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _is_leftover(name: str) -> bool:
    """A temporary name left by an interrupted atomic write of ours."""
    return name.startswith(".") and (name.endswith((".partial", ".tmp")) or ".old-" in name)
