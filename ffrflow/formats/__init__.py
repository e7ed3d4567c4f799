"""Readers and writers of the formats of other tools (SimVascular, VMTK, svZeroDSolver, svOneDSolver).

====================  ==============================================  =================================
module                reads                                           writes
====================  ==============================================  =================================
:mod:`.svzerod`       svZeroDSolver JSON → :class:`LumpedModel`       JSON from a model or a network
:mod:`.svoned`        svOneDSolver ``.in`` → network + svOneD data    ``.in`` from a network
:mod:`.vtkcenterlines` VMTK centerlines / VTK polylines with a radius  –
                      array (``.vtp``, ``.vtk``) → network
:mod:`.simvascular`   SimVascular project (``Paths/*.pth`` +          –
                      ``Segmentations/*.ctgr``) → network
====================  ==============================================  =================================

Every reader raises :class:`~ffrflow.errors.InvalidInputError` naming the file, the block and the
field of what does not fit. :func:`detect` tells which reader a path needs (used by
:func:`ffrflow.load`).
"""

from __future__ import annotations

import json
from pathlib import Path


def detect(path: str | Path) -> str | None:
    """The format of ``path``: ``"network"``, ``"svzerod"``, ``"svoned"``, ``"vtk"``, ``"simvascular"``
    or None when unknown."""
    p = Path(path)
    if p.is_dir():
        if (p / "Paths").is_dir() or any(p.glob("*.pth")):
            return "simvascular"
        return None
    name = p.name.lower()
    if name.endswith((".vtp", ".vtk")):
        return "vtk"
    if name.endswith(".in"):
        return "svoned"
    if name.endswith(".json"):
        try:
            with open(p, "rb") as f:
                head = f.read(1 << 16).decode("utf-8", "replace")
        except OSError:
            return None
        if '"ffrflow-network/' in head:
            return "network"
        try:
            doc = json.loads(Path(p).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            return "network"  # let the network reader report the JSON error
        from .svzerod import is_svzerod

        return "svzerod" if is_svzerod(doc) else "network"
    return None


from . import simvascular, svoned, svzerod, vtkcenterlines  # noqa: E402  (light: VTK is imported lazily)

__all__ = ["detect", "simvascular", "svoned", "svzerod", "vtkcenterlines"]
