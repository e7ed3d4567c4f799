"""The result of a solve: pressure, flow and FFR at every centerline node, per lesion, per outlet.

Outputs (docs/formats.md §Outputs of one case), all written atomically:

- ``summary.json``: version, input (path, SHA-256, ``units``: the length unit the geometry was read
  in and why), solver, backend, model and boundary (every value used), lesions, outlets, roots,
  min FFR, convergence, timings, notes, ``warnings`` (what the reader assumed, radii that do not fit
  a coronary tree);
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

from .assembly import Discretization, discretize
from .. import units
from .._atomic import atomic_path, atomic_write_text
from .._version import __version__
from ..errors import InvalidInputError
from ..kernels import resolve_backend
from ..network import VesselNetwork
from ..readouts import lesion_readouts, vessel_readouts
from ..vtkio import read_polydata, with_point_arrays, write_polydata, write_polylines

RESULTS_FORMAT = "ffrflow-results/1"
#: Column order of the lesion and outlet tables.
LESION_COLUMNS = ("id", "vessel", "position_mm", "vessel_name", "segment", "start_mm", "end_mm", "length_mm",
                  "mld_mm", "reference_diameter_mm", "diameter_stenosis_pct", "area_stenosis_pct", "delta_p_mmHg",
                  "ffr_distal", "ffr_10mm", "ffr_20mm", "delta_ffr", "ffr_class", "pressure_ratio", "mld_xyz_mm",
                  "lesion_model")
OUTLET_COLUMNS = ("vessel", "vessel_name", "ffr", "pressure_mmHg", "flow_ml_s", "resistance_mmHg_s_per_ml", "xyz_mm")


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
    warnings : list of str
        What the input reader had to assume and radii that do not fit a coronary tree (set by
        :func:`ffrflow.solve`; ``summary.json`` lists them).
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
    warnings: list = field(default_factory=list)
    waveforms: dict | None = None
    pulsatile: dict | None = None
    surface: Any = None
    mesh_info: dict | None = None
    _anatomy: Any = field(default=None, repr=False, compare=False)

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
    def anatomy(self):
        """Anatomical names, confidences and SCCT segments of the vessels
        (:class:`ffrflow.anatomy.Anatomy`; the user's ``name`` fields win), computed once."""
        if self._anatomy is None:
            from ..anatomy import label_network

            self._anatomy = label_network(self.network)
        return self._anatomy

    @property
    def vessel_readouts(self) -> list[dict]:
        """Per named vessel: FFR at its distal end where the lumen diameter is still ≥
        ``model.readout.min_diameter_mm`` and its lowest FFR (:func:`ffrflow.readouts.vessel_readouts`;
        mm)."""

        an = self.anatomy
        rows = vessel_readouts(self, {vid: an.name(vid) for vid in self.network.ids}, self.network.model.readout)
        for r in rows:
            segs = []
            for vid in r["vessels"]:
                segs += [x["segment"] for x in an.labels[vid].segments if x["segment"] is not None]
            r["segments"] = list(dict.fromkeys(segs))
            r["confidence"] = min(an.labels[vid].confidence for vid in r["vessels"])
        return rows

    @property
    def lesions(self):
        """The lesion table: a pandas DataFrame when pandas is installed (else a list of dicts) whose
        iteration yields one dict per lesion, so ``for les in r.lesions`` and ``r.lesions[0]["ffr_distal"]``
        work as on a list (see :mod:`ffrflow._tables`). Keys as in ``summary.json`` (docs/formats.md),
        mm / mmHg."""

        from .._tables import record_table   # pandas, when installed

        return record_table(self.lesion_records, LESION_COLUMNS)

    @property
    def outlets(self):
        """The outlet table (DataFrame or list of dicts, as :attr:`lesions`): ``vessel``, ``xyz_mm``,
        ``flow_ml_s``, ``pressure_mmHg``, ``ffr``, ``resistance_mmHg_s_per_ml``."""

        from .._tables import record_table

        return record_table(self.outlet_records, OUTLET_COLUMNS)

    @property
    def lesion_records(self) -> list[dict]:
        """One dict per lesion with the ``summary.json`` keys (docs/formats.md), mm / mmHg."""

        out = []
        ffr = self.ffr
        an = self.anatomy if self.disc.lesions else None
        for n, les in enumerate(self.disc.lesions, start=1):
            p0 = self.pressure_pa[les["node_start"]]
            p1 = self.pressure_pa[les["node_end"]]
            seg, seg_label = an.segment_at(les["vessel"], les["mld_s_mm"] if "mld_s_mm" in les else
                                           0.5 * (les["start_mm"] + les["end_mm"]))
            rec = {
                "id": f"L{n}",
                "vessel": les["vessel"],
                "vessel_name": an.name(les["vessel"]),
                "name_confidence": an.labels[les["vessel"]].confidence,
                "segment": seg,
                "segment_label": seg_label,
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
            }
            rec.update(lesion_readouts(self, rec, self.network.model.readout))
            out.append(rec)
        return out

    @property
    def outlet_records(self) -> list[dict]:
        """One dict per outlet: ``vessel``, ``xyz_mm``, ``flow_ml_s``, ``pressure_mmHg``, ``ffr``,
        ``resistance_mmHg_s_per_ml``."""
        d = self.disc
        ffr = self.ffr
        an = self.anatomy
        out = []
        for vid in self.network.outlets:
            i = d.vessel_ids.index(vid)
            k = int(d.node_offsets[i + 1] - 1)
            out.append({
                "vessel": vid,
                "vessel_name": an.name(vid),
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
        """The ``summary.json`` document (docs/formats.md §Outputs of one case)."""
        boundary = self.network.boundary.to_dict()
        boundary["derived"] = self.boundary_report
        return {
            "ffrflow_version": __version__,
            "input": {**(self.input_info or {"path": self.network.meta.get("source"), "sha256": None}),
                      "units": self.network.meta.get("units")},
            "solver": self.solver,
            "backend": self.backend,
            "model": self.network.model.to_dict(),
            "boundary": boundary,
            "lesions": self.lesion_records,
            "outlets": self.outlet_records,
            "vessels": self.vessel_readouts,
            "anatomy": self.anatomy.to_dict(),
            "roots": self.roots,
            "min_ffr": self.min_ffr,
            "converged": self.converged,
            "iterations": self.iterations,
            "residual": self.residual,
            "timings_s": dict(self.timings_s),
            "notes": list(self.notes),
            "warnings": list(self.warnings),
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
                f.attrs["readout"] = json.dumps(self.network.model.readout)
                f.attrs["vessel_readouts"] = json.dumps(_finite(self.vessel_readouts))
                g = f.create_group("vessels")
                an = self.anatomy
                for vid in self.disc.vessel_ids:
                    gv = g.create_group(vid.replace("/", "\u2215"))
                    gv.attrs["id"] = vid
                    lab = an.labels[vid]
                    gv.attrs["name"] = lab.name
                    gv.attrs["anatomy"] = lab.anatomy or ""
                    gv.attrs["name_confidence"] = lab.confidence
                    gv.attrs["name_source"] = lab.source
                    gv.attrs["segments"] = json.dumps(lab.segments)
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
                for les in self.lesion_records:
                    gl = lt.create_group(les["id"])
                    for k, val in les.items():
                        gl.attrs[k] = _h5_attr(val)
        return path

    def to_vtk(self, path: str | Path) -> Path:
        """Write ``centerlines.vtp`` (polyline per vessel; FFR, pressure, flow, radius arrays).

        Given a folder (no ``.vtp`` suffix), write ``centerlines.vtp`` and ``surface.vtp`` (the surface
        with FFR, see :meth:`surface_with_ffr`) into it and return the folder.
        """

        path = Path(path)
        if path.suffix != ".vtp":
            path.mkdir(parents=True, exist_ok=True)
            self.to_vtk(path / "centerlines.vtp")

            write_polydata(self.surface_with_ffr(), path / "surface.vtp")
            return path
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

    # ------------------------------------------------------------------ surface and pictures
    def surface_with_ffr(self):
        """The lumen surface (vtkPolyData, mm) with FFR mapped from the centerline to every vertex.

        Point arrays ``ffr``, ``pressure_mmHg``, ``centerline_radius_mm`` and ``vessel_index``. The
        surface is the meshed one for a mask or surface input, else a tube swept from the centerline
        radii (:func:`ffrflow.plots.result_surface`).
        """
        from ..plots import result_surface, surface_fields

        surf = result_surface(self)
        return with_point_arrays(surf, surface_fields(self, surf))

    def plot(self, ax=None, path: str | Path | None = None, title: str | None = None):
        """The 3D artery coloured by FFR (diverging map centred at 0.80, colour bar), lesions labelled.

        Returns a :class:`matplotlib.figure.Figure` (saved to ``path`` when given); see
        :mod:`ffrflow.plots`.
        """
        from ..plots import plot_result

        return plot_result(self, ax=ax, path=path, title=title)

    def plot_pullback(self, path: str | Path | None = None, title: str | None = None):
        """FFR against distance from the ostium on every root-to-outlet path (lesions marked, 0.80 line).

        Returns a :class:`matplotlib.figure.Figure` (saved to ``path`` when given).
        """
        from ..plots import plot_pullback

        return plot_pullback(self, path=path, title=title)

    def to_html(self, path: str | Path, pictures: bool = True) -> Path:
        """Write this result's case report, ``report.html`` as ``ffrflow run`` writes it into a case
        folder (docs/formats.md §Case report), to ``path``, atomically; for notebooks.

        With ``pictures`` the FFR picture and the pull-back curves are drawn and embedded (as
        :meth:`plot` and :meth:`plot_pullback`; a picture that cannot be drawn is left out).
        Returns the path written.
        """
        from ..report.case import write_result_report

        return write_result_report(self, path, pictures=pictures)

    @classmethod
    def load(cls, folder: str | Path) -> "Result":
        """Read a result back from a case folder (``network.json``, ``results.h5``, ``summary.json``).

        The network as solved is re-discretised and the pressures and flows of ``results.h5`` are
        put on its nodes; ``surface.vtp`` is read when present.

        Raises
        ------
        InvalidInputError
            A missing file, or ``results.h5`` whose vessels do not match ``network.json``.
        """
        import h5py

        folder = Path(folder)
        for name in ("network.json", "results.h5", "summary.json"):
            if not (folder / name).is_file():
                raise InvalidInputError(f"{folder}: no {name}; not an ffrflow case folder")
        net = VesselNetwork.from_json(folder / "network.json")
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        disc = discretize(net, resolve_backend("numpy"))
        p = np.empty(disc.n_nodes)
        q = np.empty(disc.n_vessels)
        with h5py.File(folder / "results.h5", "r") as f:
            if f.attrs.get("format") != RESULTS_FORMAT:
                raise InvalidInputError(f"{folder / 'results.h5'}: format {f.attrs.get('format')!r}, expected "
                                        f"{RESULTS_FORMAT!r}")
            g = f["vessels"]
            for i, vid in enumerate(disc.vessel_ids):
                gv = g[vid.replace("/", "\u2215")]
                sl = disc.nodes_of(i)
                pv = gv["pressure_mmHg"][()]
                if len(pv) != sl.stop - sl.start:
                    # network.json rounds coordinates to 1e-6 mm, which can move a lesion end off a point
                    # and add a node: put the stored solution on the new nodes by arclength
                    s_h5 = gv["s_mm"][()]
                    if abs(float(s_h5[-1]) - float(disc.s_mm[sl][-1])) > 1e-3:
                        raise InvalidInputError(f"{folder}: vessel {vid!r} is {float(s_h5[-1]):.4f} mm long in "
                                                f"results.h5 and {float(disc.s_mm[sl][-1]):.4f} mm in network.json")
                    pv = np.interp(disc.s_mm[sl], s_h5, pv)
                p[sl] = units.mmhg_to_pa(pv)
                q[i] = units.ml_s_to_m3_s(float(gv["flow_ml_s"][0]))
        first = disc.node_offsets[:-1]
        last = disc.node_offsets[1:] - 1
        derived = dict(summary.get("boundary", {}).get("derived", {}) or {})
        r_out = {o["vessel"]: units.resistance_to_si(o["resistance_mmHg_s_per_ml"])
                 for o in summary.get("outlets", []) if o.get("resistance_mmHg_s_per_ml") is not None}
        res = cls(network=net, disc=disc, pressure_pa=p, flow_m3_s=q, p_up_pa=p[first].copy(),
                  p_down_pa=p[last].copy(), backend=summary.get("backend", "numpy"),
                  solver=summary.get("solver", "steady"), iterations=int(summary.get("iterations") or 0),
                  residual=float(summary.get("residual") or 0.0), converged=bool(summary.get("converged", True)),
                  boundary_report=derived, outlet_resistance_pa_s_m3=r_out,
                  timings_s=dict(summary.get("timings_s", {})), input_info=dict(summary.get("input", {})),
                  notes=list(summary.get("notes", [])), warnings=list(summary.get("warnings", [])),
                  pulsatile=summary.get("pulsatile"))
        if (folder / "surface.vtp").is_file():

            res.surface = read_polydata(folder / "surface.vtp")
        if (folder / "mesh.json").is_file():
            res.mesh_info = json.loads((folder / "mesh.json").read_text(encoding="utf-8"))
        return res

    def __repr__(self) -> str:
        return (f"Result(solver={self.solver!r}, backend={self.backend!r}, {len(self.disc.lesions)} lesions, "
                f"min_ffr={self.min_ffr:.3f}, converged={self.converged})")


def _h5_attr(val):
    """An HDF5 attribute value: None (a read-out that is not there) is stored as NaN."""
    if val is None:
        return float("nan")
    return val


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
