"""Typed, validated configuration blocks of a case: ``boundary`` and ``model`` (docs/formats.md,
docs/physics.md).

Both blocks appear in the network file (``ffrflow-network/1``) and are written back, with every value
used, into ``summary.json``.  They live here, beside :mod:`ffrflow.network`, because both the
meshing and the cfd side read them.  Units are in the field names: the file-level units of the
format (mmHg, mL/s, L/min, g, mm) for ``Boundary``; SI for the blood properties in ``Model``.

Unknown keys are an error (a typo must never silently fall back to a default).

Examples
--------
>>> from ffrflow.config import Boundary, Model
>>> b = Boundary.from_dict({"inlet_pressure_mmHg": 90})
>>> b.inlet_pressure_mmHg, b.hyperemia_factor
(90.0, 0.24)
>>> Model.from_dict({"kt": 1.2}).kt
1.2
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import InvalidInputError

#: Lesion pressure-drop models understood by the solvers (``model.lesion``).
LESION_MODELS = ("poiseuille-kt", "young-tsai", "ns-calibrated")
#: Pulsatile inlet waveforms by name (``boundary.inlet_waveform``; a list of [t_s, p_mmHg] pairs is also accepted).
INLET_WAVEFORMS = ("aortic", "constant")
#: Pulsatile outlet models (``boundary.outlet_model``).
OUTLET_MODELS = ("coronary", "rcr", "resistance")


def _number(where: str, value: Any, *, positive: bool = False, nonnegative: bool = False,
            allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInputError(f"{where}: expected a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise InvalidInputError(f"{where}: expected a finite number, got {value!r}")
    if positive and v <= 0:
        raise InvalidInputError(f"{where}: expected a number > 0, got {value!r}")
    if nonnegative and v < 0:
        raise InvalidInputError(f"{where}: expected a number >= 0, got {value!r}")
    return v


def _check_keys(where: str, data: Mapping[str, Any], allowed) -> None:
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"{where}: expected an object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise InvalidInputError(
            f"{where}: unknown key(s) {', '.join(repr(k) for k in unknown)}; "
            f"allowed: {', '.join(sorted(allowed))}")


@dataclass(frozen=True)
class Boundary:
    """Boundary conditions of a case, in the units of the network file.

    Parameters
    ----------
    inlet_pressure_mmHg : float
        Mean aortic pressure Pa at every root (ostium), mmHg. Default 93.
    venous_pressure_mmHg : float
        Venous (outflow) pressure Pv, mmHg. Default 0.
    inlet_flow_ml_s : float or None
        Prescribed total inflow at the root of a single-root network, mL/s; replaces the inlet
        pressure (FFR is then reported relative to the computed root pressure).
    inlet_waveform : str or list
        Pulsatile inlet: ``"aortic"``, ``"constant"`` or a list of ``[t_s, p_mmHg]`` pairs.
    heart_rate_bpm : float
        Heart rate for the pulsatile solver, beats/min. Default 70.
    outlets : dict
        Explicit outlet conditions ``{vessel_id: {"resistance_mmHg_s_per_ml": R}}`` (hyperemic,
        mmHg·s/mL). Outlets not listed get morphometric resistances.
    cardiac_output_l_min : float
        Cardiac output, L/min. Default 5.0.
    coronary_flow_fraction : float
        Resting coronary flow as a fraction of cardiac output. Default 0.04.
    myocardial_mass_g : float or None
        Left-ventricular myocardial mass, g; when given, Q_rest = 200 mL/min × (M / 120 g)^0.75.
    tree_flow_fraction : dict
        Share of resting coronary flow per side. Default ``{"left": 0.7, "right": 0.3}``.
    murray_exponent : float
        Flow–radius exponent n of the outlet split Q_i ∝ r_i^n. Default 7/3 (Huo–Kassab).
    outlet_radius_window_mm : float
        Arclength at the end of an outlet vessel over which its radius is the median, mm. Default 3.
    hyperemia_factor : float
        Hyperemic / resting microvascular resistance ratio. Default 0.24.
    outlet_model : str
        Pulsatile outlets without an explicit resistance: ``"coronary"`` (Kim et al. lumped model:
        R_a = 0.32 R, R_am = 0.52 R, R_v = 0.16 R of the hyperemic resistance R, C_a = 0.11 C,
        C_im = 0.89 C, P_im = scale × LV pressure), ``"rcr"`` (R_p = 0.1 R, R_d = 0.9 R, C) or
        ``"resistance"``.
    coronary_compliance_ml_per_mmHg : dict
        Total outlet compliance C per side, split over outlets by flow share, mL/mmHg.
        Default ``{"left": 0.048, "right": 0.033}`` (3.6e-5 and 2.5e-5 cm⁵/dyn, Coro0D).
    intramyocardial_pressure_scale : dict
        P_im as a fraction of the LV pressure waveform per side. Default left 1.0, right 0.25.
    """

    inlet_pressure_mmHg: float = 93.0
    venous_pressure_mmHg: float = 0.0
    inlet_flow_ml_s: float | None = None
    inlet_waveform: Any = "aortic"
    heart_rate_bpm: float = 70.0
    outlets: dict = field(default_factory=dict)
    cardiac_output_l_min: float = 5.0
    coronary_flow_fraction: float = 0.04
    myocardial_mass_g: float | None = None
    tree_flow_fraction: dict = field(default_factory=lambda: {"left": 0.7, "right": 0.3})
    murray_exponent: float = 7.0 / 3.0
    outlet_radius_window_mm: float = 3.0
    hyperemia_factor: float = 0.24
    outlet_model: str = "coronary"
    coronary_compliance_ml_per_mmHg: dict = field(default_factory=lambda: {"left": 0.048, "right": 0.033})
    intramyocardial_pressure_scale: dict = field(default_factory=lambda: {"left": 1.0, "right": 0.25})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, where: str = "boundary") -> "Boundary":
        """Build and validate from a dict (the network file's ``boundary`` block)."""
        data = dict(data or {})
        _check_keys(where, data, {f.name for f in dataclasses.fields(cls)})
        b = cls(**data)
        return b.validate(where)

    def validate(self, where: str = "boundary") -> "Boundary":
        """Check every value; return a normalised copy (numbers as float). Raises InvalidInputError."""
        kw: dict[str, Any] = {}
        kw["inlet_pressure_mmHg"] = _number(f"{where}.inlet_pressure_mmHg", self.inlet_pressure_mmHg)
        kw["venous_pressure_mmHg"] = _number(f"{where}.venous_pressure_mmHg", self.venous_pressure_mmHg)
        kw["inlet_flow_ml_s"] = _number(f"{where}.inlet_flow_ml_s", self.inlet_flow_ml_s, allow_none=True)
        kw["heart_rate_bpm"] = _number(f"{where}.heart_rate_bpm", self.heart_rate_bpm, positive=True)
        kw["cardiac_output_l_min"] = _number(f"{where}.cardiac_output_l_min", self.cardiac_output_l_min,
                                             positive=True)
        kw["coronary_flow_fraction"] = _number(f"{where}.coronary_flow_fraction",
                                               self.coronary_flow_fraction, positive=True)
        kw["myocardial_mass_g"] = _number(f"{where}.myocardial_mass_g", self.myocardial_mass_g,
                                          positive=True, allow_none=True)
        kw["murray_exponent"] = _number(f"{where}.murray_exponent", self.murray_exponent, positive=True)
        kw["outlet_radius_window_mm"] = _number(f"{where}.outlet_radius_window_mm",
                                                self.outlet_radius_window_mm, positive=True)
        kw["hyperemia_factor"] = _number(f"{where}.hyperemia_factor", self.hyperemia_factor, positive=True)
        wf = self.inlet_waveform
        if isinstance(wf, str):
            if wf not in INLET_WAVEFORMS:
                raise InvalidInputError(f"{where}.inlet_waveform: expected one of {INLET_WAVEFORMS} or a "
                                        f"list of [t_s, p_mmHg] pairs, got {wf!r}")
        else:
            if not isinstance(wf, (list, tuple)) or len(wf) < 2:
                raise InvalidInputError(f"{where}.inlet_waveform: expected a name or a list of at least two "
                                        f"[t_s, p_mmHg] pairs, got {wf!r}")
            pairs = []
            for i, pair in enumerate(wf):
                if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                    raise InvalidInputError(f"{where}.inlet_waveform[{i}]: expected [t_s, p_mmHg], got {pair!r}")
                pairs.append([_number(f"{where}.inlet_waveform[{i}][0]", pair[0], nonnegative=True),
                              _number(f"{where}.inlet_waveform[{i}][1]", pair[1])])
            ts = [p[0] for p in pairs]
            if any(t1 <= t0 for t0, t1 in zip(ts, ts[1:])):
                raise InvalidInputError(f"{where}.inlet_waveform: times must increase strictly")
            wf = pairs
        kw["inlet_waveform"] = wf
        if not isinstance(self.outlets, Mapping):
            raise InvalidInputError(f"{where}.outlets: expected an object keyed by vessel id")
        outlets = {}
        for vid, spec in self.outlets.items():
            w = f"{where}.outlets.{vid}"
            _check_keys(w, spec, {"resistance_mmHg_s_per_ml"})
            if "resistance_mmHg_s_per_ml" not in spec:
                raise InvalidInputError(f"{w}: missing 'resistance_mmHg_s_per_ml'")
            outlets[str(vid)] = {"resistance_mmHg_s_per_ml": _number(
                f"{w}.resistance_mmHg_s_per_ml", spec["resistance_mmHg_s_per_ml"], positive=True)}
        kw["outlets"] = outlets
        tff = self.tree_flow_fraction
        _check_keys(f"{where}.tree_flow_fraction", tff, {"left", "right"})
        kw["tree_flow_fraction"] = {k: _number(f"{where}.tree_flow_fraction.{k}", v, nonnegative=True)
                                    for k, v in {"left": 0.7, "right": 0.3, **tff}.items()}
        if self.outlet_model not in OUTLET_MODELS:
            raise InvalidInputError(f"{where}.outlet_model: expected one of {OUTLET_MODELS}, got {self.outlet_model!r}")
        for name, default in (("coronary_compliance_ml_per_mmHg", {"left": 0.048, "right": 0.033}),
                              ("intramyocardial_pressure_scale", {"left": 1.0, "right": 0.25})):
            val = getattr(self, name)
            _check_keys(f"{where}.{name}", val, {"left", "right"})
            kw[name] = {k: _number(f"{where}.{name}.{k}", v, nonnegative=True)
                        for k, v in {**default, **val}.items()}
        if kw["inlet_flow_ml_s"] is not None and kw["inlet_flow_ml_s"] == 0.0:
            pass
        return dataclasses.replace(self, **kw)

    def to_dict(self) -> dict:
        """Plain dict in file units (JSON-ready)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class Model:
    """Physical and numerical model parameters.

    Parameters
    ----------
    blood_density_kg_m3 : float
        Blood density ρ, kg/m³. Default 1060.
    blood_viscosity_pa_s : float
        Blood dynamic viscosity μ, Pa·s. Default 0.0035.
    kt : float
        Young–Tsai expansion-loss coefficient K_t of ``poiseuille-kt`` and ``young-tsai``
        (dimensionless). Default 1.52. With ``ns-calibrated`` a changed ``kt`` scales the calibrated
        coefficient by ``kt / 1.52``.
    lesion : str
        Lesion pressure-drop model (:mod:`ffrflow.cfd.lesion`): ``"ns-calibrated"`` (the default:
        Poiseuille along the real radius + jet-mixing, throat-development and unrecovered-pressure
        terms that depend on the severity, the lesion's shape, its flow and the next lesion,
        calibrated on steady Navier–Stokes solutions and within 10 % of them on every case of
        50–90 % area stenosis, ``benchmarks/data/stenosis_ns``), ``"poiseuille-kt"``
        (docs/physics.md §Lesion laws: Poiseuille + the Young–Tsai expansion loss with ``kt``;
        over-predicts the Navier–Stokes drop by up to ~65 %) or ``"young-tsai"`` (full
        Young–Tsai: its K_v viscous term replaces the Poiseuille integral).
    max_element_mm : float
        Largest element length of the steady discretisation, mm. Default 1.0.
    stenosis_threshold_pct : float
        Diameter reduction at which a narrowing is detected as a lesion, %. Default 30.
    velocity_profile_zeta : float
        Pulsatile model: velocity-profile parameter ζ (α = (ζ+2)/(ζ+1), K_R = 2π(ζ+2)μ/ρ). Default 2
        (Poiseuille: α = 4/3, K_R = 8πμ/ρ).
    wall_k1_pa, wall_k2_per_m, wall_k3_pa : float
        Olufsen wall stiffness E h / r0 = k1 exp(k2 r0) + k3 (SI: 2e6 Pa, −2253 1/m, 8.65e4 Pa =
        svOneDSolver's 2e7 g/(s² cm), −22.53 1/cm, 8.65e5 g/(s² cm)).
    reference_pressure_mmHg : float or None
        Pressure P0 at which the lumen has its imaged radius; default the inlet pressure.
    max_cell_mm : float
        Largest 1D finite-volume cell, mm. Default 4 (the time step is set by the wave speed, ~10–20 m/s).
    cfl : float
        Courant number of the explicit time step (≤ 1). Default 0.8.
    lesion_ku : float
        Young–Tsai inertance coefficient: L = K_u ρ L_s / A0. Default 1.2.
    periodic_tol : float
        Cycles run until every outlet's mean pressure changes by less than this (relative). 1e-3.
    max_cycles : int
        Cycles allowed before the run is reported as not periodic. Default 40.
    readout : dict
        Where the standard FFR read-outs are taken (:mod:`ffrflow.readouts`; Nørgaard et al.,
        Radiology: Cardiothoracic Imaging 2021): ``distances_mm`` (distances distal to a lesion's
        lower border, mm, along the vessel; default [10, 20]), ``class_at_mm`` (the distance whose
        FFR sets the lesion's class, mm; default 20), ``positive_max`` (FFR ≤ this is positive;
        default 0.75), ``negative_above`` (FFR > this is negative, between the two the grey zone;
        default 0.80), ``min_diameter_mm`` (a named vessel's distal read-out is taken where its lumen
        diameter is still ≥ this, mm; default 1.8). Any subset may be given.
    convective : bool
        Steady model: add the convective (Bernoulli) term of the 1D momentum equation along every
        vessel outside lesions, ΔP = (ρα/2)(1/A_out² − 1/A_in²) Q|Q| (α from ζ). Off by default
        (docs/physics.md §Steady network); with it the steady model is the exact steady state of
        the rigid 1D model.
    """

    blood_density_kg_m3: float = 1060.0
    blood_viscosity_pa_s: float = 0.0035
    kt: float = 1.52
    lesion: str = "ns-calibrated"
    max_element_mm: float = 1.0
    stenosis_threshold_pct: float = 30.0
    velocity_profile_zeta: float = 2.0
    wall_k1_pa: float = 2.0e6
    wall_k2_per_m: float = -2253.0
    wall_k3_pa: float = 8.65e4
    reference_pressure_mmHg: float | None = None
    max_cell_mm: float = 4.0
    cfl: float = 0.8
    lesion_ku: float = 1.2
    periodic_tol: float = 1e-3
    max_cycles: int = 40
    convective: bool = False
    readout: dict = field(default_factory=lambda: dict(READOUT_DEFAULTS))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, where: str = "model") -> "Model":
        """Build and validate from a dict (the network file's ``model`` block)."""
        data = dict(data or {})
        _check_keys(where, data, {f.name for f in dataclasses.fields(cls)})
        return cls(**data).validate(where)

    def validate(self, where: str = "model") -> "Model":
        """Check every value; return a normalised copy. Raises InvalidInputError."""
        kw = {
            "blood_density_kg_m3": _number(f"{where}.blood_density_kg_m3", self.blood_density_kg_m3,
                                           positive=True),
            "blood_viscosity_pa_s": _number(f"{where}.blood_viscosity_pa_s", self.blood_viscosity_pa_s,
                                            positive=True),
            "kt": _number(f"{where}.kt", self.kt, nonnegative=True),
            "max_element_mm": _number(f"{where}.max_element_mm", self.max_element_mm, positive=True),
            "stenosis_threshold_pct": _number(f"{where}.stenosis_threshold_pct", self.stenosis_threshold_pct,
                                              positive=True),
        }
        kw["velocity_profile_zeta"] = _number(f"{where}.velocity_profile_zeta", self.velocity_profile_zeta,
                                              nonnegative=True)
        kw["wall_k1_pa"] = _number(f"{where}.wall_k1_pa", self.wall_k1_pa, nonnegative=True)
        kw["wall_k2_per_m"] = _number(f"{where}.wall_k2_per_m", self.wall_k2_per_m)
        kw["wall_k3_pa"] = _number(f"{where}.wall_k3_pa", self.wall_k3_pa, nonnegative=True)
        kw["reference_pressure_mmHg"] = _number(f"{where}.reference_pressure_mmHg", self.reference_pressure_mmHg,
                                                allow_none=True)
        kw["max_cell_mm"] = _number(f"{where}.max_cell_mm", self.max_cell_mm, positive=True)
        kw["cfl"] = _number(f"{where}.cfl", self.cfl, positive=True)
        if kw["cfl"] > 1.0:
            raise InvalidInputError(f"{where}.cfl: the explicit scheme needs cfl <= 1, got {self.cfl!r}")
        kw["lesion_ku"] = _number(f"{where}.lesion_ku", self.lesion_ku, nonnegative=True)
        kw["periodic_tol"] = _number(f"{where}.periodic_tol", self.periodic_tol, positive=True)
        mc = self.max_cycles
        if isinstance(mc, bool) or not isinstance(mc, (int, float)) or mc < 1 or int(mc) != mc:
            raise InvalidInputError(f"{where}.max_cycles: expected an integer >= 1, got {mc!r}")
        kw["max_cycles"] = int(mc)
        if not isinstance(self.convective, bool):
            raise InvalidInputError(f"{where}.convective: expected true or false, got {self.convective!r}")
        if kw["stenosis_threshold_pct"] >= 100:
            raise InvalidInputError(f"{where}.stenosis_threshold_pct: expected a value in (0, 100), "
                                    f"got {self.stenosis_threshold_pct!r}")
        if self.lesion not in LESION_MODELS:
            raise InvalidInputError(f"{where}.lesion: expected one of {LESION_MODELS}, got {self.lesion!r}")
        kw["readout"] = _readout(f"{where}.readout", self.readout)
        return dataclasses.replace(self, **kw)

    def to_dict(self) -> dict:
        """Plain dict (JSON-ready)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


#: Defaults of ``model.readout`` (see :class:`Model`): mm and FFR.
READOUT_DEFAULTS = {"distances_mm": [10.0, 20.0], "class_at_mm": 20.0, "positive_max": 0.75,
                    "negative_above": 0.80, "min_diameter_mm": 1.8}


def _readout(where: str, value: Any) -> dict:
    """Validate a ``readout`` block; missing keys take :data:`READOUT_DEFAULTS`."""
    if value is None:
        value = {}
    _check_keys(where, value, READOUT_DEFAULTS)
    out = {**READOUT_DEFAULTS, **dict(value)}
    d = out["distances_mm"]
    if isinstance(d, (str, bytes)) or not isinstance(d, (list, tuple)) or not d:
        raise InvalidInputError(f"{where}.distances_mm: expected a non-empty list of distances in mm, got {d!r}")
    out["distances_mm"] = [_number(f"{where}.distances_mm[{k}]", x, positive=True) for k, x in enumerate(d)]
    out["class_at_mm"] = _number(f"{where}.class_at_mm", out["class_at_mm"], nonnegative=True)
    out["positive_max"] = _number(f"{where}.positive_max", out["positive_max"], positive=True)
    out["negative_above"] = _number(f"{where}.negative_above", out["negative_above"], positive=True)
    if not out["positive_max"] <= out["negative_above"]:
        raise InvalidInputError(f"{where}: expected positive_max <= negative_above, got {out['positive_max']} and "
                                f"{out['negative_above']}")
    out["min_diameter_mm"] = _number(f"{where}.min_diameter_mm", out["min_diameter_mm"], nonnegative=True)
    return out


def _plain(v):
    if isinstance(v, Mapping):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def apply_overrides(boundary: Boundary, model: Model, overrides: Mapping[str, Any] | None):
    """Apply ``{"boundary.key": value, "model.key": value, "key": value}`` overrides.

    A bare key is looked up in ``boundary`` then ``model``; dotted keys may go one level deeper
    (``boundary.tree_flow_fraction.left``). Returns validated ``(boundary, model)``.
    Raises InvalidInputError naming the key when it matches neither block.
    """
    if not overrides:
        return boundary, model
    b = boundary.to_dict()
    m = model.to_dict()
    for key, value in overrides.items():
        parts = key.split(".")
        if parts[0] in ("boundary", "model"):
            target = b if parts[0] == "boundary" else m
            parts = parts[1:]
        elif parts[0] in b:
            target = b
        elif parts[0] in m:
            target = m
        else:
            raise InvalidInputError(f"--set {key}: no such option in 'boundary' or 'model'")
        if not parts or parts[0] not in target:
            raise InvalidInputError(f"--set {key}: no such option")
        node = target
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        node[parts[-1]] = value
    return Boundary.from_dict(b), Model.from_dict(m)
