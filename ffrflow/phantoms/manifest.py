"""Phantom batches: phantom cases on disk and the ``manifest.csv`` that lists them, the fixture of the
batch tests and benchmarks (the manifest's columns: :mod:`ffrflow.batch`, docs/formats.md §Batch
outputs).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InvalidInputError
from ..meshing.voxelize import voxelize
from .anatomy import coronary_tree
from .lesions import LesionSpec, write_mask

__all__ = ["make_phantom_manifest"]

#: (vessel, centre mm, length mm) of the lesion put into each phantom case, by tree.
_PHANTOM_LESIONS = {"right": [("RCA_m", 20.0, 10.0), ("RCA_p", 15.0, 8.0), ("RCA_d", 25.0, 10.0)],
                    "left": [("LAD_p", 12.5, 10.0), ("LAD_m", 15.0, 10.0), ("LCX_p", 12.0, 8.0)]}


def make_phantom_manifest(folder: str | Path, n_cases: int = 20, *, inputs: str = "mask", broken: bool = True,
                          sides: Sequence[str] = ("right",), spacing_mm: float = 0.5) -> Path:
    """Write phantom cases and their ``manifest.csv`` into ``folder`` (tests, benchmarks, tutorials).

    Case ``k`` is :func:`~ffrflow.phantoms.coronary_tree` with seed ``k`` and one lesion of 40–75 %
    DS (position and grade vary with ``k``); every third case carries its own ``inlet_pressure_mmHg``.
    With ``broken``, the last three rows are broken cases that must fail alone: a missing file, an
    empty mask and a malformed network (a negative radius).

    Parameters
    ----------
    folder : path
    n_cases : int
        Rows in the manifest (broken ones included).
    inputs : {"mask", "network"}
        Voxel masks (``mask.nii.gz`` at ``spacing_mm``) or network JSON files.
    sides : sequence of {"left", "right"}
        Trees of each phantom.
    spacing_mm : float
        Voxel size of the masks, mm.

    Returns
    -------
    Path
        The manifest.
    """
    if inputs not in ("mask", "network"):
        raise InvalidInputError(f"inputs: expected 'mask' or 'network', got {inputs!r}")
    folder = Path(folder)
    (folder / "cases").mkdir(parents=True, exist_ok=True)
    n_broken = 3 if broken else 0
    rows = []
    choices = [x for s in sides for x in _PHANTOM_LESIONS[s]]
    for k in range(max(0, n_cases - n_broken)):
        vessel, centre, length = choices[k % len(choices)]
        ds = 40.0 + (35.0 * ((k * 7) % 11) / 10.0)
        ph = coronary_tree([LesionSpec(vessel, centre, length, ds, "cosine")], sides=tuple(sides),
                            seed=k + 1)
        cdir = folder / "cases" / f"p{k + 1:03d}"
        cdir.mkdir(exist_ok=True)
        if inputs == "mask":
            write_mask(voxelize(ph.network, spacing_mm=spacing_mm), cdir / "mask.nii.gz")
            inp = f"cases/{cdir.name}/mask.nii.gz"
        else:
            ph.network.to_json(cdir / "network.json")
            inp = f"cases/{cdir.name}/network.json"
        rows.append({"case_id": f"phantom-{k + 1:03d}", "input": inp,
                     "inlet_pressure_mmHg": "90" if k % 3 == 2 else ""})
    if broken:
        bdir = folder / "cases" / "broken"
        bdir.mkdir(exist_ok=True)
        import SimpleITK as sitk

        img = sitk.GetImageFromArray(np.zeros((16, 16, 16), np.uint8))
        img.SetSpacing((spacing_mm,) * 3)
        sitk.WriteImage(img, str(bdir / "empty.nii.gz"), True)
        bad = {"format": "ffrflow-network/1", "units": "mm", "vessels": [
            {"id": "A", "parent": None, "points": [[0, 0, 0], [0, 0, 10]], "radius": [1.5, -1.0]}]}
        (bdir / "malformed.json").write_text(json.dumps(bad))
        rows += [{"case_id": "broken-missing", "input": "cases/broken/nowhere.nii.gz", "inlet_pressure_mmHg": ""},
                 {"case_id": "broken-empty", "input": "cases/broken/empty.nii.gz", "inlet_pressure_mmHg": ""},
                 {"case_id": "broken-malformed", "input": "cases/broken/malformed.json", "inlet_pressure_mmHg": ""}]
    path = folder / "manifest.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["case_id", "input", "inlet_pressure_mmHg"])
        w.writeheader()
        w.writerows(rows)
    return path
