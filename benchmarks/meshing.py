"""``python -m benchmarks meshing``: seconds and peak memory to mesh a full phantom tree.

Masks of 256³, 384³ and 512×512×300 voxels at 0.4 mm hold the demo phantom (left and right
coronary trees, 18 vessels, three lesions) in their centre; each is written as ``.nii.gz`` and meshed
(:func:`ffrflow.meshing.mesh`: read, surface, skeleton, graph, cross-section radii, lesions) in a
fresh subprocess, which reports its wall time per stage and its peak resident memory (``ru_maxrss``,
which includes the ~0.2 GB of Python, VTK and SimpleITK themselves; the baseline after imports is
reported too). The meshed network is compared with the phantom's truth. The 256³ grid (102 mm) is
smaller than the tree (108 mm), so the tree's centerlines are scaled by 0.957 about its centre there
(radii unchanged); the JSON says so.

Options: ``--sizes 256,384,512x512x300``, ``--repeats N`` (median of N runs per size, default 1).
Target: 512×512×300 in under 20 s and 4 GB on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ._common import save, table

SIZES = {"256": (256, 256, 256), "384": (384, 384, 384), "512x512x300": (512, 512, 300)}
SPACING_MM = 0.4

_CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from ffrflow.meshing import mesh
import SimpleITK, vtk, kimimaro  # noqa: F401  (counted in the baseline)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t = time.perf_counter()
res = mesh(sys.argv[1])
wall = time.perf_counter() - t
res.network.to_json(sys.argv[2])
print(json.dumps({"seconds": wall, "stages": res.timings_s, "peak_rss_mb": resource.getrusage(
    resource.RUSAGE_SELF).ru_maxrss / 1024, "baseline_rss_mb": base, "vessels": len(res.network.vessels),
    "outlets": len(res.network.outlets), "triangles": res.surface_info["triangles"]}))
"""


def make_mask(size_xyz: tuple[int, int, int], spacing_mm: float = SPACING_MM):
    """The demo phantom centred in a grid of ``size_xyz`` voxels; returns (image, truth network, scale)."""
    import SimpleITK as sitk

    from ffrflow import phantoms
    from ffrflow.meshing.voxelize import voxelize_array

    net = phantoms.demo_case().network
    pts = np.concatenate([v.points_mm for v in net.vessels.values()])
    rmax = max(float(v.radius_mm.max()) for v in net.vessels.values())
    lo, hi = pts.min(axis=0) - rmax, pts.max(axis=0) + rmax
    centre = 0.5 * (lo + hi)
    room = np.asarray(size_xyz) * spacing_mm - 2.0          # 1 mm of background on each side
    scale = float(min(1.0, np.min(room / (hi - lo))))
    if scale < 1.0:
        net = net.copy()
        for v in net.vessels.values():
            v.points_mm = centre + scale * (v.points_mm - centre)
    arr, origin, sp, _ = voxelize_array(net, spacing_mm, margin_mm=1.0)
    full = np.zeros(tuple(size_xyz[::-1]), np.uint8)
    shift = (np.asarray(full.shape) - np.asarray(arr.shape)) // 2
    shift = np.maximum(shift, 0)
    z, y, x = (min(a, b) for a, b in zip(arr.shape, full.shape))
    full[shift[0]:shift[0] + z, shift[1]:shift[1] + y, shift[2]:shift[2] + x] = arr[:z, :y, :x]
    img = sitk.GetImageFromArray(full)
    img.SetSpacing((spacing_mm,) * 3)
    img.SetOrigin(tuple(float(v) for v in origin - shift[::-1] * spacing_mm))
    return img, net, scale


def run_one(name: str, size, folder: Path) -> dict:
    import SimpleITK as sitk

    from ffrflow.meshing.compare import compare_networks
    from ffrflow.network import VesselNetwork

    img, truth, scale = make_mask(size)
    path = folder / f"mask-{name}.nii.gz"
    sitk.WriteImage(img, str(path), True)
    del img
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(folder / f"net-{name}.json")],
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if out.returncode != 0:
        raise RuntimeError(f"meshing {name} failed:\n{out.stderr[-3000:]}")
    rep = json.loads(out.stdout.strip().splitlines()[-1])
    net = VesselNetwork.from_json(folder / f"net-{name}.json")
    cmp = compare_networks(net, truth).summary()
    rep.update({"size": list(size), "voxels": int(np.prod(size)), "spacing_mm": SPACING_MM, "tree_scale": scale,
                "centerline_median_mm": cmp["centerline_median_mm"],
                "radius_median_abs_error_mm": cmp["radius_median_abs_error_mm"],
                "missing_outlets": len(cmp["missing_outlets"]), "invented_outlets": len(cmp["invented_outlets"])})
    return rep


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks meshing", description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=",".join(SIZES), help="comma-separated among " + ", ".join(SIZES))
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sizes.split(","):
            runs = [run_one(name, SIZES[name], Path(tmp)) for _ in range(max(1, args.repeats))]
            rep = min(runs, key=lambda r: abs(r["seconds"] - statistics.median(x["seconds"] for x in runs)))
            rep["name"] = name
            rep["seconds_all"] = [r["seconds"] for r in runs]
            rep["peak_gb"] = rep["peak_rss_mb"] / 1024
            for k in ("load", "surface", "skeleton", "graph", "radius", "lesions"):
                rep[f"t_{k}"] = rep["stages"].get(k)
            rows.append(rep)
            print(f"{name}: {rep['seconds']:.1f} s, peak {rep['peak_rss_mb']:.0f} MB", file=sys.stderr)
    cols = [("name", "mask", "s"), ("seconds", "total s", ".1f"), ("t_load", "read s", ".1f"),
            ("t_surface", "surface s", ".1f"), ("t_skeleton", "skeleton s", ".1f"), ("t_radius", "radius s", ".1f"),
            ("peak_gb", "peak GB", ".2f"), ("vessels", "vessels", "d"),
            ("centerline_median_mm", "cl err mm", ".3f"), ("radius_median_abs_error_mm", "r err mm", ".3f")]
    print(table(rows, cols))
    path = save("meshing", {"load_average_1_5_15": list(os.getloadavg()), "description": "mesh the demo phantom (both trees) from masks at 0.4 mm",
                            "target": "512x512x300 in < 20 s and < 4 GB on 2 cores", "rows": rows})
    print(f"saved {path}")
