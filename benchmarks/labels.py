"""Anatomical labelling accuracy: ``python -m benchmarks labels [--quick]``.

Per phantom (``coronary_tree``, ``left_tree``, ``right_tree``, seeds 0–2) and rotation of the scan
frame (up to ±30° about each axis), the fraction of the true vessels' length named as the truth
(:func:`ffrflow.anatomy.naming_accuracy`): on the phantom network with its names, sides and ids stripped,
and on the phantom voxelised at 0.5 mm and meshed (new vessel ids, matched to the truth by geometry).
Then the names given to the two BlueFern trees (GPL test data outside the repository; skipped when
absent). Saved with :func:`benchmarks._common.save` as ``labels-<date>.json``.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

from benchmarks._common import save, table

ROTATIONS = [(0, 0, 0)] + [tuple(a) for a in itertools.product((-30, 30), repeat=3)] + \
    [(30, 0, 0), (-30, 0, 0), (0, 30, 0), (0, -30, 0), (0, 0, 30), (0, 0, -30)]
MESH_ROTATIONS = [(0, 0, 0), (25, 0, 0), (0, -25, 0), (0, 0, 25), (20, -20, 20), (-30, 30, -30)]


def _row(kind, gen, seed, ang, acc, seconds=None):
    return {"input": kind, "phantom": gen, "seed": seed, "rotation_deg": list(ang), "trunks": acc["trunks"],
            "branches": acc["branches"], "overall": acc["overall"], "by_name": acc["by_name"],
            "wrong_mm": acc["wrong"], "junction_mm": acc["junction_mm"], "seconds": seconds}


def main(argv=None):
    from ffrflow import phantoms
    from ffrflow.anatomy import label_network, naming_accuracy, rotate_network, stripped
    from ffrflow.meshing import mesh

    ap = argparse.ArgumentParser(prog="python -m benchmarks labels")
    ap.add_argument("--quick", action="store_true", help="seed 0 only, two meshed rotations")
    args = ap.parse_args(argv)
    seeds = [0] if args.quick else [0, 1, 2]
    rows = []
    for gen in ("coronary_tree", "left_tree", "right_tree"):
        for seed in seeds:
            ph = getattr(phantoms, gen)(seed=seed)
            for ang in ROTATIONS:
                truth = rotate_network(ph.network, ang)
                net = stripped(truth, keep_sides=False, keep_ids=False)
                t = time.perf_counter()
                an = label_network(net)
                dt = time.perf_counter() - t
                rows.append(_row("network", gen, seed, ang, naming_accuracy(an, net, truth), dt))
            for ang in (MESH_ROTATIONS[:2] if args.quick else MESH_ROTATIONS):
                truth = rotate_network(ph.network, ang, center_mm=phantoms.HEART_CENTER_MM)
                with tempfile.TemporaryDirectory() as d:
                    img = phantoms.voxelize(truth, spacing_mm=0.5)
                    net = mesh(phantoms.write_mask(img, Path(d) / "mask.nii.gz"), lesions=False).network
                t = time.perf_counter()
                an = label_network(net)
                dt = time.perf_counter() - t
                rows.append(_row("mask 0.5 mm", gen, seed, ang, naming_accuracy(an, net, truth), dt))
    print(table(rows, [("input", "input", ""), ("phantom", "phantom", ""), ("seed", "seed", ""),
                       ("rotation_deg", "rotation deg", ""), ("trunks", "trunks", ".3f"),
                       ("branches", "branches", ".3f"), ("overall", "overall", ".3f")]))
    summary = {}
    for kind in ("network", "mask 0.5 mm"):
        sel = [r for r in rows if r["input"] == kind]
        summary[kind] = {"cases": len(sel), "min_trunks": min(r["trunks"] for r in sel),
                         "min_branches": min(r["branches"] for r in sel),
                         "cases_trunks_100pct": sum(r["trunks"] == 1.0 for r in sel),
                         "cases_branches_ge_90pct": sum(r["branches"] >= 0.9 for r in sel)}
        print(f"{kind}: {summary[kind]}")
    bluefern = {}
    try:
        from ffrflow._datapaths import bluefern_dir
        from ffrflow.formats.vtkcenterlines import read_centerlines

        folder = bluefern_dir()
        for f in ("227A_Centreline.vtk", "721A_Centreline.vtk"):
            if not (folder / f).is_file():
                continue
            net = read_centerlines(folder / f)
            an = label_network(net)
            bluefern[f] = {"notes": an.notes, "vessels": [
                {"id": vid, "parent": net.vessels[vid].parent, "length_mm": round(net.length_mm(vid), 1),
                 "name": an.name(vid), "confidence": round(an.labels[vid].confidence, 2),
                 "segments": [s["segment"] for s in an.labels[vid].segments]} for vid in net.ids]}
            print(f"\nBlueFern {f}: " + ", ".join(f"{v['id']} ({v['length_mm']} mm) {v['name']} "
                                                  f"[{v['confidence']:.2f}]" for v in bluefern[f]["vessels"]))
    except Exception as exc:  # noqa: BLE001 - the GPL data lives outside the repository
        print(f"BlueFern trees not labelled: {type(exc).__name__}: {exc}")
    path = save("labels", {"rows": rows, "summary": summary, "bluefern": bluefern,
                           "rotations_deg": ROTATIONS, "mesh_rotations_deg": MESH_ROTATIONS, "mask_spacing_mm": 0.5})
    print(f"\nsaved {path}")


if __name__ == "__main__":
    main()
