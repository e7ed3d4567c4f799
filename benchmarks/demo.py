"""``python -m benchmarks demo``: the demo phantom under each lesion law, and through the exports.

Two sources of the same case:

- ``mask``: what ``make demo`` does (the phantom voxelised at 0.4 mm, meshed, lesions detected);
- ``network``: the phantom's true centerline network with its lesions detected (no voxels).

For each source and each lesion law (``ns-calibrated``, the default; ``poiseuille-kt``;
``young-tsai``) it prints every lesion's %DS, pressure drop and distal FFR. Then the ``network``
source, solved with the default law, goes through both exports and back:

- ``export --to svzerod``, solved by the lumped 0D solver: each outlet's FFR from the mean outlet
  pressure over the aortic pressure;
- ``export --to svoned``, read back by ffrflow's svOneD reader and solved steady: each outlet's and
  each lesion's FFR;

and the largest difference from the source's FFR (the exports are exact at the steady operating
point, so it is at the solvers' tolerance). Everything is saved under ``benchmarks/results/``.
Options: ``--spacing MM`` (default 0.4, as ``make demo``), ``--no-save``.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

from ._common import save, table

LAWS = ("ns-calibrated", "poiseuille-kt", "young-tsai")
MMHG = 1333.22387415


def _lesion_rows(result, source: str, law: str) -> list[dict]:
    return [{"source": source, "law": law, "lesion": x["id"], "vessel": x["vessel"],
             "ds_pct": x["diameter_stenosis_pct"], "delta_p_mmHg": x["delta_p_mmHg"], "ffr_distal": x["ffr_distal"]}
            for x in sorted(result.lesion_records, key=lambda x: x["vessel"])]


def _with_law(net, law: str):
    return net.replace_config(model=dataclasses.replace(net.model, lesion=law))


def laws(spacing_mm: float) -> list[dict]:
    """Lesion rows of both sources under every law."""
    from ffrflow.api import run
    from ffrflow.cfd import solve_steady
    from ffrflow.meshing.stenosis import detect_lesions
    from ffrflow.phantoms import demo_case

    phantom = demo_case()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        phantom.write(Path(tmp), mask=True, spacing_mm=spacing_mm)
        meshed = None
        for law in LAWS:
            if meshed is None:
                res = run(Path(tmp) / "mask.nii.gz", output_dir=None, backend="cpu",
                          overrides={"model.lesion": law})
                meshed = res.network
            else:
                res = solve_steady(_with_law(meshed, law), backend="cpu")
            rows += _lesion_rows(res, f"mask {spacing_mm:g} mm", law)
    net = detect_lesions(phantom.network)
    for law in LAWS:
        rows += _lesion_rows(solve_steady(_with_law(net, law), backend="cpu"), "network", law)
    return rows


def exports() -> list[dict]:
    """Round trips of the demo network (default law) through svZeroDSolver JSON and svOneDSolver .in."""
    from ffrflow.cfd import solve_steady
    from ffrflow.cfd.lumped import solve_lumped
    from ffrflow.formats.svoned import read_svoned, write_svoned
    from ffrflow.formats.svzerod import read_svzerod, write_svzerod
    from ffrflow.meshing.stenosis import detect_lesions
    from ffrflow.phantoms import demo_case

    net = detect_lesions(demo_case().network)
    r0 = solve_steady(net, backend="cpu")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        means = solve_lumped(read_svzerod(write_svzerod(net, Path(tmp) / "demo.json")), backend="cpu").means()
        pa = net.boundary.inlet_pressure_mmHg
        for o in r0.outlets:
            rows.append({"export": "svzerod -> lumped 0D", "what": f"outlet {o['vessel']}", "ffr_source": o["ffr"],
                         "ffr_back": means[o["vessel"]]["pressure_out"] / MMHG / pa})
        out0 = {o["vessel"]: o["ffr"] for o in r0.outlets}
        les0 = {x["vessel"]: x["ffr_distal"] for x in r0.lesion_records}
        for root in net.roots:
            net2, _ = read_svoned(write_svoned(net, Path(tmp) / f"{root}.in", root=root, backend="cpu"))
            r2 = solve_steady(net2, backend="cpu")
            for o in r2.outlets:
                src = o["vessel"].split("~")[0]
                rows.append({"export": "svoned -> steady", "what": f"outlet {src}", "ffr_source": out0[src],
                             "ffr_back": o["ffr"]})
            for x in r2.lesion_records:
                src = x["vessel"].split("~")[0]
                rows.append({"export": "svoned -> steady", "what": f"lesion on {src}", "ffr_source": les0[src],
                             "ffr_back": x["ffr_distal"]})
    for r in rows:
        r["abs_diff"] = abs(r["ffr_back"] - r["ffr_source"])
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks demo", description=__doc__.splitlines()[0])
    ap.add_argument("--spacing", type=float, default=0.4)
    ap.add_argument("--no-save", action="store_true")
    a = ap.parse_args(argv)
    law_rows = laws(a.spacing)
    print(table(law_rows, [("source", "source", "s"), ("law", "law", "s"), ("lesion", "lesion", "s"),
                           ("vessel", "vessel", "s"), ("ds_pct", "%DS", ".1f"), ("delta_p_mmHg", "dP mmHg", ".1f"),
                           ("ffr_distal", "FFR", ".3f")]))
    exp_rows = exports()
    print()
    print(table(exp_rows, [("export", "export", "s"), ("what", "what", "s"), ("ffr_source", "FFR source", ".4f"),
                           ("ffr_back", "FFR back", ".4f"), ("abs_diff", "|diff|", ".1e")]))
    worst = max(r["abs_diff"] for r in exp_rows)
    print(f"largest |FFR back - FFR source| over {len(exp_rows)} outlets and lesions: {worst:.1e}")
    if not a.no_save:
        print(f"saved {save('demo', {'spacing_mm': a.spacing, 'laws': law_rows, 'exports': exp_rows, 'exports_max_abs_diff': worst})}")


if __name__ == "__main__":
    main()
