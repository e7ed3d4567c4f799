"""The vessel network: the ``ffrflow-network/1`` format, its validation and its JSON I/O (docs/formats.md
§Network format).

The network is the contract between :mod:`ffrflow.meshing` (which produces it from images and
surfaces) and :mod:`ffrflow.cfd` (which solves on it). It belongs to neither.

A network is a forest of trees of *vessels*. A vessel is a segment of a coronary artery between two
nodes of the tree (ostium, junction or outlet), given as a polyline of centerline points in world
millimetres (LPS) with the lumen radius (mm) at each point. A child's first point is at its parent's
last point. A vessel with ``parent: null`` is a root (an ostium); a vessel without children ends in an
outlet.

Format
------
.. code-block:: json

    {"format": "ffrflow-network/1", "units": "mm",
     "vessels": [
       {"id": "LM",  "parent": null, "side": "left", "points": [[0,0,0],[0,0,10]], "radius": [2.2, 2.1]},
       {"id": "LAD", "parent": "LM", "points": [[0,0,10],[0,5,40]], "radius": [1.8, 1.2],
        "lesions": [{"start_mm": 8.0, "end_mm": 14.0, "reference_radius_mm": 1.6}]}],
     "boundary": {"inlet_pressure_mmHg": 93.0},
     "model": {"kt": 1.52}}

Optional per vessel: ``name``, ``side`` (``"left"``/``"right"``), ``lesions`` (a list of
``{"start_mm", "end_mm", "reference_radius_mm"?}``, arclength from the vessel's first point; a
given list, even empty, replaces automatic detection on that vessel). Optional top level:
``boundary`` and ``model`` (see :mod:`ffrflow.config`), ``name``, ``description``, ``meta``.

Examples
--------
>>> net = VesselNetwork.from_dict({"format": "ffrflow-network/1", "units": "mm", "vessels": [
...     {"id": "A", "parent": None, "points": [[0, 0, 0], [0, 0, 20]], "radius": [1.5, 1.5]}]})
>>> net.roots, net.outlets, round(net.length_mm("A"), 6)
(['A'], ['A'], 20.0)
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from ._atomic import atomic_write_text
from .config import Boundary, Model
from .errors import InvalidInputError

FORMAT = "ffrflow-network/1"
#: Largest gap (mm) allowed between a child's first point and its parent's last point.
TOUCH_TOLERANCE_MM = 0.01
_VESSEL_KEYS = {"id", "parent", "points", "radius", "name", "side", "lesions"}
_LESION_KEYS = {"start_mm", "end_mm", "reference_radius_mm"}
_TOP_KEYS = {"format", "units", "vessels", "boundary", "model", "name", "description", "meta"}
_SIDES = ("left", "right")
#: Names that imply a side when a root has no ``side`` field (docs/physics.md §Boundary conditions).
SIDE_BY_NAME = {"LM": "left", "LMCA": "left", "LAD": "left", "LCX": "left", "LCx": "left",
                "RCA": "right"}


@dataclass
class Lesion:
    """A lesion on one vessel: arclength interval (mm from the vessel's first point).

    Parameters
    ----------
    start_mm, end_mm : float
        Start and end of the lesion along the vessel, mm; the expansion loss acts at ``end_mm``.
    reference_radius_mm : float or None
        Healthy (reference) lumen radius at the lesion, mm. When None the solver interpolates it
        from the radius at ``start_mm`` and ``end_mm`` (the QCA interpolated reference).
    """

    start_mm: float
    end_mm: float
    reference_radius_mm: float | None = None

    def to_dict(self) -> dict:
        d = {"start_mm": float(self.start_mm), "end_mm": float(self.end_mm)}
        if self.reference_radius_mm is not None:
            d["reference_radius_mm"] = float(self.reference_radius_mm)
        return d


@dataclass
class Vessel:
    """One vessel: a centerline polyline (world mm, LPS) with the lumen radius (mm) at each point."""

    id: str
    parent: str | None
    points_mm: np.ndarray
    radius_mm: np.ndarray
    name: str | None = None
    side: str | None = None
    lesions: list[Lesion] | None = None
    _s_mm: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    def __setattr__(self, name, value):
        if name == "points_mm":  # the cached arclength belongs to the old points
            object.__setattr__(self, "_s_mm", None)
        object.__setattr__(self, name, value)

    @property
    def arclength_mm(self) -> np.ndarray:
        """Cumulative arclength at each point from the vessel's first point, mm (cached; treat
        ``points_mm`` as immutable and assign a new array to change it)."""
        if self._s_mm is None:
            d = np.diff(self.points_mm, axis=0)
            seg = np.sqrt(np.einsum("ij,ij->i", d, d))
            s = np.empty(len(self.points_mm))
            s[0] = 0.0
            np.cumsum(seg, out=s[1:])
            object.__setattr__(self, "_s_mm", s)
        return self._s_mm

    @property
    def length_mm(self) -> float:
        """Centerline length, mm."""
        return float(self.arclength_mm[-1])

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"id": self.id, "parent": self.parent}
        if self.name is not None:
            d["name"] = self.name
        if self.side is not None:
            d["side"] = self.side
        d["points"] = [[round(float(c), 6) for c in p] for p in self.points_mm]
        d["radius"] = [round(float(r), 6) for r in self.radius_mm]
        if self.lesions is not None:
            d["lesions"] = [les.to_dict() for les in self.lesions]
        return d


@dataclass
class VesselNetwork:
    """A validated coronary vessel network (one or more trees).

    Build it with :meth:`from_dict` / :meth:`from_json` (which validate) rather than directly.

    Attributes
    ----------
    vessels : dict[str, Vessel]
        Vessels by id, in topological order (every parent before its children).
    boundary : Boundary
        Boundary conditions (mmHg, mL/s, ... as in the file).
    model : Model
        Blood and model parameters.
    meta : dict
        Free-form provenance (source file, what produced the network); ``units``: the length unit of
        the source and how it was decided (given, inferred or fixed by the format; see
        :mod:`ffrflow.plausibility`); ``warnings``: what the reader had to assume (a list of strings,
        listed in ``summary.json``).
    """

    vessels: dict[str, Vessel]
    boundary: Boundary = field(default_factory=Boundary)
    model: Model = field(default_factory=Model)
    meta: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ topology
    @property
    def ids(self) -> list[str]:
        """Vessel ids in topological order (parents first)."""
        return list(self.vessels)

    @property
    def roots(self) -> list[str]:
        """Ids of root vessels (ostia)."""
        return [v.id for v in self.vessels.values() if v.parent is None]

    def children(self, vessel_id: str) -> list[str]:
        """Ids of the children of ``vessel_id``, in file order."""
        return self._children().get(vessel_id, [])

    @property
    def outlets(self) -> list[str]:
        """Ids of vessels without children (each ends in an outlet)."""
        ch = self._children()
        return [vid for vid in self.vessels if not ch.get(vid)]

    def _children(self) -> dict[str, list[str]]:
        ch: dict[str, list[str]] = {}
        for v in self.vessels.values():
            if v.parent is not None:
                ch.setdefault(v.parent, []).append(v.id)
        return ch

    def root_of(self, vessel_id: str) -> str:
        """Id of the root (ostium vessel) of the tree holding ``vessel_id``."""
        vid = vessel_id
        while self.vessels[vid].parent is not None:
            vid = self.vessels[vid].parent
        return vid

    def path_from_root(self, vessel_id: str) -> list[str]:
        """Vessel ids from the root down to ``vessel_id`` (inclusive)."""
        path = [vessel_id]
        while self.vessels[path[-1]].parent is not None:
            path.append(self.vessels[path[-1]].parent)
        return path[::-1]

    def length_mm(self, vessel_id: str) -> float:
        """Centerline length of one vessel, mm."""
        return self.vessels[vessel_id].length_mm

    def offset_from_ostium_mm(self, vessel_id: str) -> float:
        """Arclength from the tree's ostium to the first point of ``vessel_id``, mm."""
        return float(sum(self.length_mm(v) for v in self.path_from_root(vessel_id)[:-1]))

    def root_to_outlet_paths(self) -> list[list[str]]:
        """Every path from a root to an outlet, as lists of vessel ids."""
        return [self.path_from_root(o) for o in self.outlets]

    def side_of_roots(self) -> tuple[dict[str, str], dict[str, str]]:
        """Side (``"left"``/``"right"``) of every root and how it was decided (docs/physics.md
        §Boundary conditions).

        Returns
        -------
        sides : dict
            ``{root_id: side}``.
        how : dict
            ``{root_id: "side field" | "name" | "larger ostium" | "smaller ostium" | "assumed left"}``.
        """
        sides: dict[str, str] = {}
        how: dict[str, str] = {}
        undecided = []
        for rid in self.roots:
            v = self.vessels[rid]
            if v.side is not None:
                sides[rid], how[rid] = v.side, "side field"
                continue
            for key in (v.name, v.id):
                if key is None:
                    continue
                token = str(key).split("_")[0].split("-")[0].split(" ")[0]
                if token in SIDE_BY_NAME or token.upper() in SIDE_BY_NAME:
                    sides[rid] = SIDE_BY_NAME.get(token, SIDE_BY_NAME.get(token.upper()))
                    how[rid] = "name"
                    break
            else:
                undecided.append(rid)
        if len(undecided) == 2 and len(self.roots) == 2:
            r = {rid: float(self.vessels[rid].radius_mm[0]) for rid in undecided}
            big, small = sorted(undecided, key=lambda k: -r[k])
            sides[big], how[big] = "left", "larger ostium"
            sides[small], how[small] = "right", "smaller ostium"
        else:
            for rid in undecided:
                taken = set(sides.values())
                sides[rid] = "left" if "left" not in taken or len(self.roots) == 1 else "right"
                how[rid] = "assumed " + sides[rid]
        return sides, how

    # ------------------------------------------------------------------ I/O
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> "VesselNetwork":
        """Parse and validate a network dict (the JSON document).

        Parameters
        ----------
        data : mapping
            The ``ffrflow-network/1`` document.
        source : str, optional
            File name used as the prefix of error messages.

        Raises
        ------
        InvalidInputError
            For every malformed input (docs/formats.md §Validation), naming the field and the vessel.
        """
        try:
            return _parse(data, source)
        except InvalidInputError as exc:
            if source and not str(exc).startswith(str(source)):
                raise InvalidInputError(f"{source}: {exc}") from None
            raise

    @classmethod
    def from_json(cls, path: str | Path) -> "VesselNetwork":
        """Read and validate a network JSON file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InvalidInputError(f"{path}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"{path}: cannot read as UTF-8 text ({exc})") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: "
                                    f"{exc.msg})") from None
        net = cls.from_dict(data, source=str(path))
        net.meta.setdefault("source", str(path))
        return net

    def to_dict(self, include_config: bool = True) -> dict:
        """The ``ffrflow-network/1`` document as a dict."""
        d: dict[str, Any] = {"format": FORMAT, "units": "mm",
                             "vessels": [v.to_dict() for v in self.vessels.values()]}
        if include_config:
            d["boundary"] = self.boundary.to_dict()
            d["model"] = self.model.to_dict()
        if self.meta:
            d["meta"] = _jsonable(self.meta)
        return d

    def to_json(self, path: str | Path, include_config: bool = True) -> Path:
        """Write the network as JSON (atomically). Returns the path."""
        path = Path(path)
        atomic_write_text(path, json.dumps(self.to_dict(include_config), indent=1) + "\n")
        return path

    def copy(self) -> "VesselNetwork":
        """A deep copy."""
        return copy.deepcopy(self)

    def replace_config(self, boundary: Boundary | None = None, model: Model | None = None) -> "VesselNetwork":
        """A copy with a new boundary and/or model block (outlet ids re-checked)."""
        net = self.copy()
        if boundary is not None:
            net.boundary = boundary
        if model is not None:
            net.model = model
        _check_outlet_bcs(net)
        return net

    def __repr__(self) -> str:
        return (f"VesselNetwork({len(self.vessels)} vessels, roots={self.roots}, "
                f"{len(self.outlets)} outlets)")


def _jsonable(v):
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _float_array(where: str, value: Any, ndim: int) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{where}: expected {'a list of [x, y, z]' if ndim == 2 else 'a list of numbers'}"
                                ) from None
    if ndim == 2 and (arr.ndim != 2 or arr.shape[1] != 3):
        raise InvalidInputError(f"{where}: expected a list of [x, y, z] points, got shape {arr.shape}")
    if ndim == 1 and arr.ndim != 1:
        raise InvalidInputError(f"{where}: expected a flat list of numbers, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = np.argwhere(bad)[0]
        raise InvalidInputError(f"{where}[{idx[0]}]: NaN or infinity is not allowed")
    return arr


def _parse(data: Mapping[str, Any], source: str | None) -> VesselNetwork:
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"expected a JSON object at the top level, got {type(data).__name__}")
    fmt = data.get("format")
    if fmt != FORMAT:
        raise InvalidInputError(f"format: expected {FORMAT!r}, got {fmt!r}")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise InvalidInputError(f"unknown top-level key(s) {unknown}; allowed: {sorted(_TOP_KEYS)}")
    units = data.get("units", "mm")
    if units != "mm":
        raise InvalidInputError(f"units: only 'mm' is supported, got {units!r}")
    raw = data.get("vessels")
    if not isinstance(raw, list) or not raw:
        raise InvalidInputError("vessels: expected a non-empty list of vessels")

    vessels: dict[str, Vessel] = {}
    for i, rv in enumerate(raw):
        if not isinstance(rv, Mapping):
            raise InvalidInputError(f"vessels[{i}]: expected an object")
        vid = rv.get("id")
        if not isinstance(vid, str) or not vid:
            raise InvalidInputError(f"vessels[{i}].id: expected a non-empty string, got {vid!r}")
        where = f"vessel {vid!r}"
        if vid in vessels:
            raise InvalidInputError(f"{where}: duplicate id")
        extra = sorted(set(rv) - _VESSEL_KEYS)
        if extra:
            raise InvalidInputError(f"{where}: unknown key(s) {extra}; allowed: {sorted(_VESSEL_KEYS)}")
        if "parent" not in rv:
            raise InvalidInputError(f"{where}.parent: missing (use null for a root)")
        parent = rv["parent"]
        if parent is not None and (not isinstance(parent, str) or not parent):
            raise InvalidInputError(f"{where}.parent: expected a vessel id or null, got {parent!r}")
        if "points" not in rv:
            raise InvalidInputError(f"{where}.points: missing")
        if "radius" not in rv:
            raise InvalidInputError(f"{where}.radius: missing")
        pts = _float_array(f"{where}.points", rv["points"], 2)
        rad = _float_array(f"{where}.radius", rv["radius"], 1)
        if len(pts) < 2:
            raise InvalidInputError(f"{where}.points: at least two points are needed, got {len(pts)}")
        if len(rad) != len(pts):
            raise InvalidInputError(f"{where}: lengths disagree: {len(pts)} points but {len(rad)} radii")
        if (rad <= 0).any():
            j = int(np.argmax(rad <= 0))
            raise InvalidInputError(f"{where}.radius[{j}]: radius must be > 0 mm, got {float(rad[j])!r}")
        seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
        if (seg <= 0).any():
            j = int(np.argmax(seg <= 0))
            raise InvalidInputError(f"{where}.points[{j}] and points[{j + 1}] coincide: consecutive points "
                                    f"must differ")
        side = rv.get("side")
        if side is not None and side not in _SIDES:
            raise InvalidInputError(f"{where}.side: expected 'left' or 'right', got {side!r}")
        name = rv.get("name")
        if name is not None and not isinstance(name, str):
            raise InvalidInputError(f"{where}.name: expected a string, got {name!r}")
        lesions = None
        if "lesions" in rv and rv["lesions"] is not None:
            lesions = _parse_lesions(where, rv["lesions"], float(seg.sum()))
        vessels[vid] = Vessel(vid, parent, pts, rad, name=name, side=side, lesions=lesions)

    # topology: unknown parents, cycles, touching
    for v in vessels.values():
        if v.parent is not None and v.parent not in vessels:
            raise InvalidInputError(f"vessel {v.id!r}.parent: unknown parent {v.parent!r}")
        if v.parent == v.id:
            raise InvalidInputError(f"vessel {v.id!r}.parent: a vessel cannot be its own parent (cycle)")
    order: list[str] = []
    children: dict[str | None, list[str]] = {}
    for v in vessels.values():
        children.setdefault(v.parent, []).append(v.id)
    stack = list(reversed(children.get(None, [])))
    while stack:
        vid = stack.pop()
        order.append(vid)
        stack.extend(reversed(children.get(vid, [])))
    if len(order) != len(vessels):
        cyc = sorted(set(vessels) - set(order))
        raise InvalidInputError(f"vessels {cyc}: their parents form a cycle (no path to a root)")
    for v in vessels.values():
        if v.parent is None:
            continue
        p = vessels[v.parent]
        gap = float(np.linalg.norm(v.points_mm[0] - p.points_mm[-1]))
        if gap > TOUCH_TOLERANCE_MM:
            raise InvalidInputError(
                f"vessel {v.id!r}.points[0]: does not touch its parent {p.id!r} (first point is {gap:.4g} mm "
                f"from the parent's last point; allowed {TOUCH_TOLERANCE_MM} mm)")

    boundary = Boundary.from_dict(data.get("boundary"), where="boundary")
    model = Model.from_dict(data.get("model"), where="model")
    meta = dict(data.get("meta") or {})
    if not isinstance(meta.get("warnings", []), list):
        raise InvalidInputError(f"meta.warnings: expected a list of strings, got {meta['warnings']!r}")
    origin = meta.get("units")
    meta["units"] = {"unit": "mm", "to_mm": 1.0, "decided_by": "format", "reason": f"{FORMAT} is in mm"}
    if isinstance(origin, Mapping) and origin.get("reason") == meta["units"]["reason"]:
        origin = origin.get("origin")  # a network written by ffrflow: keep where its geometry came from
    if isinstance(origin, Mapping):
        meta["units"]["origin"] = dict(origin)  # how the unit of the geometry this network came from was decided
    net = VesselNetwork({vid: vessels[vid] for vid in order}, boundary, model, meta)
    _check_outlet_bcs(net)
    if boundary.inlet_flow_ml_s is not None and len(net.roots) != 1:
        raise InvalidInputError(f"boundary.inlet_flow_ml_s: a prescribed inflow needs a single-root network, "
                                f"this one has {len(net.roots)} roots {net.roots}")
    return net


def _parse_lesions(where: str, raw: Any, length: float) -> list[Lesion]:
    if not isinstance(raw, list):
        raise InvalidInputError(f"{where}.lesions: expected a list")
    out: list[Lesion] = []
    for j, rl in enumerate(raw):
        w = f"{where}.lesions[{j}]"
        if not isinstance(rl, Mapping):
            raise InvalidInputError(f"{w}: expected an object")
        extra = sorted(set(rl) - _LESION_KEYS)
        if extra:
            raise InvalidInputError(f"{w}: unknown key(s) {extra}; allowed: {sorted(_LESION_KEYS)}")
        vals = {}
        for k in ("start_mm", "end_mm"):
            if k not in rl:
                raise InvalidInputError(f"{w}.{k}: missing")
            x = rl[k]
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
                raise InvalidInputError(f"{w}.{k}: expected a finite number, got {x!r}")
            vals[k] = float(x)
        tol = 1e-6 * max(1.0, length)
        if not (-tol <= vals["start_mm"] < vals["end_mm"] <= length + tol):
            raise InvalidInputError(f"{w}: expected 0 <= start_mm < end_mm <= vessel length {length:.3f} mm, got "
                                    f"start_mm={vals['start_mm']}, end_mm={vals['end_mm']}")
        ref = rl.get("reference_radius_mm")
        if ref is not None:
            if isinstance(ref, bool) or not isinstance(ref, (int, float)) or not math.isfinite(ref) or ref <= 0:
                raise InvalidInputError(f"{w}.reference_radius_mm: expected a number > 0, got {ref!r}")
            ref = float(ref)
        out.append(Lesion(min(max(vals["start_mm"], 0.0), length), min(vals["end_mm"], length), ref))
    out.sort(key=lambda les: les.start_mm)
    for a, b in zip(out, out[1:]):
        if b.start_mm < a.end_mm:
            raise InvalidInputError(f"{where}.lesions: lesions [{a.start_mm}, {a.end_mm}] and "
                                    f"[{b.start_mm}, {b.end_mm}] overlap")
    return out


def _check_outlet_bcs(net: VesselNetwork) -> None:
    outlets = set(net.outlets)
    for vid in net.boundary.outlets:
        if vid not in net.vessels:
            raise InvalidInputError(f"boundary.outlets.{vid}: no vessel with id {vid!r}")
        if vid not in outlets:
            raise InvalidInputError(f"boundary.outlets.{vid}: vessel {vid!r} is not an outlet (it has children "
                                    f"{net.children(vid)})")


def iter_points(net: VesselNetwork) -> Iterable[tuple[str, np.ndarray, np.ndarray]]:
    """Yield ``(vessel_id, points_mm, radius_mm)`` in topological order."""
    for v in net.vessels.values():
        yield v.id, v.points_mm, v.radius_mm


def interpolate_along(vessel: Vessel, s_mm) -> tuple[np.ndarray, np.ndarray]:
    """Point (mm) and radius (mm) at arclength(s) ``s_mm`` on the piecewise-linear centerline."""
    s = vessel.arclength_mm
    q = np.clip(np.atleast_1d(np.asarray(s_mm, dtype=np.float64)), s[0], s[-1])
    i = np.clip(np.searchsorted(s, q, side="right") - 1, 0, s.size - 2)
    t = (q - s[i]) / (s[i + 1] - s[i])
    p, r = vessel.points_mm, vessel.radius_mm
    xyz = p[i] + t[:, None] * (p[i + 1] - p[i])
    return xyz, r[i] + t * (r[i + 1] - r[i])


def lesion_geometry(net: VesselNetwork, vessel_id: str, lesion: Lesion) -> dict:
    """Grade one lesion on the piecewise-linear radius profile (docs/physics.md §Lesion detection).

    Returns
    -------
    dict
        ``vessel``, ``start_mm``, ``end_mm`` (along the vessel), ``position_mm`` (MLD, from the
        tree's ostium), ``mld_s_mm`` (MLD along the vessel), ``mld_xyz_mm`` (world, LPS),
        ``mld_mm`` (minimal lumen *diameter*), ``reference_diameter_mm``,
        ``reference_radius_mm``, ``diameter_stenosis_pct``, ``area_stenosis_pct``, ``length_mm``.
        The reference radius is the lesion's ``reference_radius_mm`` when given, else the mean of
        the radii at its two ends (interpolated reference).
    """
    v = net.vessels[vessel_id]
    s = v.arclength_mm
    inner = (s > lesion.start_mm) & (s < lesion.end_mm)
    cand_s = np.concatenate([[lesion.start_mm], s[inner], [lesion.end_mm]])
    _, cand_r = interpolate_along(v, cand_s)
    k = int(np.argmin(cand_r))
    r_min = float(cand_r[k])
    s_min = float(cand_s[k])
    xyz, _ = interpolate_along(v, s_min)
    ref = lesion.reference_radius_mm
    if ref is None:
        ref = float(0.5 * (cand_r[0] + cand_r[-1]))
    ratio = min(r_min / ref, 1.0)
    return {
        "vessel": vessel_id,
        "start_mm": float(lesion.start_mm),
        "end_mm": float(lesion.end_mm),
        "position_mm": net.offset_from_ostium_mm(vessel_id) + s_min,
        "mld_s_mm": s_min,
        "mld_xyz_mm": [float(c) for c in xyz[0]],
        "mld_mm": 2.0 * r_min,
        "reference_diameter_mm": 2.0 * float(ref),
        "reference_radius_mm": float(ref),
        "diameter_stenosis_pct": 100.0 * (1.0 - ratio),
        "area_stenosis_pct": 100.0 * (1.0 - ratio * ratio),
        "length_mm": float(lesion.end_mm - lesion.start_mm),
    }


def merge_serial_vessels(net: VesselNetwork) -> tuple[VesselNetwork, dict[str, tuple[str, float]]]:
    """Merge every chain of vessels joined end to end without a branch (a parent with exactly one
    child) into one vessel, e.g. the many short SEGMENTs of an svOneDSolver model.

    The merged vessel keeps the id of the chain's first vessel; its points are the chain's points
    (the shared joint point once, with the downstream radius), lesions are shifted to the new
    arclength, and ``boundary.outlets`` entries move to the merged id. Physically the same network:
    series resistances add, and the 1D equations run along one continuous vessel.

    Returns
    -------
    network : VesselNetwork
    mapping : dict
        ``{old_id: (new_id, offset_mm)}``: arclength ``s`` on an old vessel is ``offset_mm + s`` on
        the new one.
    """
    mapping: dict[str, tuple[str, float]] = {}
    new_vessels = []
    ch = net._children()
    for vid, v in net.vessels.items():
        if vid in mapping:
            continue
        chain = [vid]
        while len(ch.get(chain[-1], [])) == 1:
            chain.append(ch[chain[-1]][0])
        pts = [v.points_mm]
        rad = [v.radius_mm]
        lesions: list[Lesion] | None = None if all(net.vessels[c].lesions is None for c in chain) else []
        off = 0.0
        for c in chain:
            cv = net.vessels[c]
            mapping[c] = (vid, off)
            if c != vid:
                pts.append(cv.points_mm[1:])
                r = cv.radius_mm.copy()
                rad[-1] = rad[-1].copy()
                rad[-1][-1] = r[0]
                rad.append(r[1:])
            if lesions is not None:
                for les in cv.lesions or []:
                    lesions.append(Lesion(off + les.start_mm, off + les.end_mm, les.reference_radius_mm))
            off += cv.length_mm
        d = {"id": vid, "parent": None if v.parent is None else mapping[v.parent][0] if v.parent in mapping
             else v.parent, "points": np.concatenate(pts).tolist(), "radius": np.concatenate(rad).tolist()}
        if v.name is not None:
            d["name"] = v.name
        if v.side is not None:
            d["side"] = v.side
        if lesions is not None:
            d["lesions"] = [les.to_dict() for les in lesions]
        new_vessels.append(d)
    # parents refer to the last vessel of a chain: map to the chain's id
    for d in new_vessels:
        if d["parent"] is not None:
            d["parent"] = mapping[d["parent"]][0]
    b = net.boundary.to_dict()
    b["outlets"] = {mapping[k][0]: val for k, val in b["outlets"].items()}
    doc = {"format": FORMAT, "units": "mm", "vessels": new_vessels, "boundary": b, "model": net.model.to_dict(),
           "meta": {**net.meta, "merged_serial_vessels": len(net.vessels) - len(new_vessels)}}
    return VesselNetwork.from_dict(doc), mapping
