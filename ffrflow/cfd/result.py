"""The result of a solve: pressure, flow and FFR at every centerline node, per lesion, per outlet.

Outputs (DESIGN §7), all written atomically:

- ``summary.json``: version, input, solver, backend, model and boundary (every value used), lesions,
  outlets, roots, min FFR, convergence, timings;
- ``results.h5``: root attributes ``format = "ffrflow-results/1"`` and the model as JSON; one group
  per vessel ``/vessels/<id>`` with ``s_mm``, ``xyz_mm``, ``radius_mm``, ``pressure_mmHg``,
  ``flow_ml_s``, ``ffr`` on the same nodes;
- ``centerlines.vtp``: one polyline per vessel with FFR, pressure, flow and radius arrays (ParaView).

FFR at a node is ``P / Pa`` with Pa the root (aortic) pressure of its tree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import units
from .._atomic import atomic_path, atomic_write_text
from .._version import __version__
from ..network import VesselNetwork
from .assembly import Discretization

RESULTS_FORMAT = "ffrflow-results/1"


@dataclass
class Result:
    """Solution of one case (SI inside; the tables and files use mm, mmHg, mL/s).

    Attributes
    ----------
    network : VesselNetwork
    disc : Discretization
        The nodes the solution lives on (every input centerline point is a node).
    pressure_pa : (n_nodes,) ndarray
        Pressure at every node, Pa.
    flow_m3_s : (n_vessels,) ndarray
        Flow through every vessel, m³/s (in ``disc.vessel_ids`` order).
    """

    network: VesselNetwork
    disc: Discretization
    pressure_pa: np.ndarray
    flow_m3_s: np.ndarray
    p_up_pa: np.ndarray
    p_down_pa: np.ndarray
    backend: str
    solver: str
    iterations: int
    residual: float
    converged: bool
    boundary_report: dict
    outlet_resistance_pa_s_m3: dict
    timings_s: dict = field(default_factory=dict)
    input_info: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    waveforms: dict | None = None
    pulsatile: dict | None = None
    surface: Any = None
    mesh_info: dict | None = None

    # ------------------------------------------------------------------ derived quantities
    @property
    def aortic_pressure_pa(self) -> np.ndarray:
        """Root pressure of the tree of each node, Pa (the FFR denominator)."""
        d = self.disc
        root = np.arange(d.n_vessels)
        while True:
            par = d.parent[root]
            up = par >= 0
            if not up.any():
                break
            root = np.where(up, par, root)
        return self.p_up_pa[root][d.node_vessel]

    @property
    def ffr(self) -> np.ndarray:
        """FFR = P / Pa at every node (dimensionless)."""
        return self.pressure_pa / self.aortic_pressure_pa

    @property
    def min_ffr(self) -> float:
        """Lowest FFR anywhere in the network."""
        return float(np.min(self.ffr))

    def vessel(self, vessel_id: str) -> dict[str, np.ndarray]:
        """Arrays on one vessel's nodes: ``s_mm``, ``xyz_mm``, ``radius_mm``, ``pressure_mmHg``,
        ``flow_ml_s``, ``ffr``."""
        d = self.disc
        i = d.vessel_ids.index(vessel_id)
        sl = d.nodes_of(i)
        n = sl.stop - sl.start
        return {
            "s_mm": d.s_mm[sl].copy(),
            "xyz_mm": d.xyz_mm[sl].copy(),
            "radius_mm": d.radius_mm[sl].copy(),
            "pressure_mmHg": units.pa_to_mmhg(self.pressure_pa[sl]),
            "flow_ml_s": np.full(n, units.m3_s_to_ml_s(self.flow_m3_s[i])),
            "ffr": self.ffr[sl].copy(),
        }

    @property
    def lesions(self) -> list[dict]:
        """One record per lesion with the ``summary.json`` keys (DESIGN §7), mm / mmHg."""
        out = []
        ffr = self.ffr
        for n, les in enumerate(self.disc.lesions, start=1):
            p0 = self.pressure_pa[les["node_start"]]
            p1 = self.pressure_pa[les["node_end"]]
            out.append({
                "id": f"L{n}",
                "vessel": les["vessel"],
                "start_mm": les["start_mm"],
                "end_mm": les["end_mm"],
                "position_mm": les["position_mm"],
                "mld_xyz_mm": les["mld_xyz_mm"],
                "mld_mm": les["mld_mm"],
                "reference_diameter_mm": les["reference_diameter_mm"],
                "diameter_stenosis_pct": les["diameter_stenosis_pct"],
                "area_stenosis_pct": les["area_stenosis_pct"],
                "length_mm": les["length_mm"],
                "delta_p_mmHg": float(units.pa_to_mmhg(p0 - p1)),
                "ffr_distal": float(ffr[les["node_end"]]),
                "pressure_ratio": float(p1 / p0) if p0 != 0 else float("nan"),
                "lesion_model": les["model"],
            })
        return out

    @property
    def outlets(self) -> list[dict]:
        """One record per outlet: ``vessel``, ``xyz_mm``, ``flow_ml_s``, ``pressure_mmHg``, ``ffr``,
        ``resistance_mmHg_s_per_ml``."""
        d = self.disc
        ffr = self.ffr
        out = []
        for vid in self.network.outlets:
            i = d.vessel_ids.index(vid)
            k = int(d.node_offsets[i + 1] - 1)
            out.append({
                "vessel": vid,
                "xyz_mm": [float(c) for c in d.xyz_mm[k]],
                "flow_ml_s": float(units.m3_s_to_ml_s(self.flow_m3_s[i])),
                "pressure_mmHg": float(units.pa_to_mmhg(self.pressure_pa[k])),
                "ffr": float(ffr[k]),
                "resistance_mmHg_s_per_ml": float(units.resistance_from_si(self.outlet_resistance_pa_s_m3[vid])),
            })
        return out

    @property
    def roots(self) -> list[dict]:
        """One record per root (ostium): ``vessel``, ``side``, ``flow_ml_s``, ``pressure_mmHg``."""
        d = self.disc
        sides = self.boundary_report.get("sides", {})
        return [{"vessel": vid,
                 "side": sides.get(vid, {}).get("side"),
                 "flow_ml_s": float(units.m3_s_to_ml_s(self.flow_m3_s[d.vessel_ids.index(vid)])),
                 "pressure_mmHg": float(units.pa_to_mmhg(self.p_up_pa[d.vessel_ids.index(vid)]))}
                for vid in self.network.roots]

    # ------------------------------------------------------------------ outputs
    def summary(self) -> dict[str, Any]:
        """The ``summary.json`` document (DESIGN §7)."""
        boundary = self.network.boundary.to_dict()
        boundary["derived"] = self.boundary_report
        return {
            "ffrflow_version": __version__,
            "input": self.input_info or {"path": self.network.meta.get("source"), "sha256": None},
            "solver": self.solver,
            "backend": self.backend,
            "model": self.network.model.to_dict(),
            "boundary": boundary,
            "lesions": self.lesions,
            "outlets": self.outlets,
            "roots": self.roots,
            "min_ffr": self.min_ffr,
            "converged": self.converged,
            "iterations": self.iterations,
            "residual": self.residual,
            "timings_s": dict(self.timings_s),
            "notes": list(self.notes),
            **({"pulsatile": self.pulsatile} if self.pulsatile is not None else {}),
        }

    def to_json(self, path: str | Path) -> Path:
        """Write ``summary.json`` atomically."""
        path = Path(path)
        atomic_write_text(path, json.dumps(_finite(self.summary()), indent=1) + "\n")
        return path

    def to_hdf5(self, path: str | Path) -> Path:
        """Write ``results.h5`` atomically (h5py)."""
        import h5py

        path = Path(path)
        with atomic_path(path) as tmp:
            with h5py.File(tmp, "w") as f:
                f.attrs["format"] = RESULTS_FORMAT
                f.attrs["ffrflow_version"] = __version__
                f.attrs["solver"] = self.solver
                f.attrs["backend"] = self.backend
                f.attrs["model"] = json.dumps(self.network.model.to_dict())
                f.attrs["boundary"] = json.dumps(_finite({**self.network.boundary.to_dict(),
                                                          "derived": self.boundary_report}))
                f.attrs["converged"] = self.converged
                f.attrs["iterations"] = self.iterations
                f.attrs["residual"] = self.residual
                g = f.create_group("vessels")
                for vid in self.disc.vessel_ids:
                    gv = g.create_group(vid.replace("/", "\u2215"))
                    gv.attrs["id"] = vid
                    parent = self.network.vessels[vid].parent
                    gv.attrs["parent"] = parent if parent is not None else ""
                    for name, arr in self.vessel(vid).items():
                        gv.create_dataset(name, data=arr)
                    if self.waveforms and vid in self.waveforms:
                        gw = gv.create_group("waveforms")
                        gw.attrs["description"] = ("last cardiac cycle at the 1D cells: pressure_mmHg and flow_ml_s "
                                                   "are (time, cell) arrays; s_mm the cell centres")
                        for name, arr in self.waveforms[vid].items():
                            gw.create_dataset(name, data=np.asarray(arr))
                lt = f.create_group("lesions")
                for les in self.lesions:
                    gl = lt.create_group(les["id"])
                    for k, val in les.items():
                        gl.attrs[k] = val
        return path

    def to_vtk(self, path: str | Path) -> Path:
        """Write ``centerlines.vtp`` (polyline per vessel; FFR, pressure, flow, radius arrays)."""
        from ..vtkio import write_polylines

        path = Path(path)
        if path.suffix != ".vtp":
            path = path / "centerlines.vtp"
        lines, arrays = [], {"ffr": [], "pressure_mmHg": [], "flow_ml_s": [], "radius_mm": [], "s_mm": []}
        for vid in self.disc.vessel_ids:
            v = self.vessel(vid)
            lines.append(v["xyz_mm"])
            for k in arrays:
                arrays[k].append(v[k])
        write_polylines(path, lines, arrays, cell_arrays={"vessel_id": list(self.disc.vessel_ids)})
        return path

    def save(self, folder: str | Path) -> dict[str, Path]:
        """Write ``summary.json``, ``results.h5`` and ``centerlines.vtp`` into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return {"summary": self.to_json(folder / "summary.json"),
                "results": self.to_hdf5(folder / "results.h5"),
                "centerlines": self.to_vtk(folder / "centerlines.vtp")}

    def __repr__(self) -> str:
        return (f"Result(solver={self.solver!r}, backend={self.backend!r}, {len(self.disc.lesions)} lesions, "
                f"min_ffr={self.min_ffr:.3f}, converged={self.converged})")


def _finite(obj):
    """Replace NaN/inf by None so the JSON is standard."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, np.generic):
        return _finite(obj.item())
    return obj
