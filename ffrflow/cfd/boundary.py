"""Hyperemic outlet boundary conditions: explicit resistances or morphometry (docs/physics.md
§Boundary conditions).

Morphometric outlets, in this exact order:

1. total resting coronary flow ``Q_rest = f_c · CO`` (f_c = 4 %, CO = 5 L/min → 200 mL/min); with a
   myocardial mass M, ``Q_rest = 200 mL/min · (M / 120 g)^0.75``;
2. each tree gets its side's share of Q_rest (left 0.7, right 0.3). The side comes from the root's
   ``side`` field, else its name (LM, LAD, LCX → left; RCA → right); with two roots and no sides the
   larger ostium is left; a single root without a side is taken as left. The decision is reported;
3. within a side, outlet i gets ``Q_i = Q_side · r_i^n / Σ_j r_j^n`` (n = 7/3, Huo–Kassab), with r_i
   the median radius over the last 3 mm of arclength of the outlet vessel;
4. resting resistance ``R_i = (Pa − Pv) / Q_i`` (epicardial loss at rest neglected);
5. hyperemic resistance ``h · R_i`` with the hyperemia factor h = 0.24.

Every number is an option of :class:`ffrflow.config.Boundary`; the values used are returned in a
report that goes into ``summary.json``.

Examples
--------
>>> from ffrflow.network import VesselNetwork
>>> net = VesselNetwork.from_dict({"format": "ffrflow-network/1", "vessels": [
...     {"id": "LAD", "parent": None, "points": [[0, 0, 0], [0, 0, 30]], "radius": [1.5, 1.5]}]})
>>> r, rep = outlet_resistances(net)
>>> round(rep["q_rest_ml_min"], 3), round(rep["outlets"]["LAD"]["rest_flow_ml_min"], 3)
(200.0, 140.0)
"""

from __future__ import annotations

import numpy as np

from .. import units
from ..errors import InvalidInputError
from ..network import VesselNetwork


def outlet_radius_mm(net: VesselNetwork, vessel_id: str, window_mm: float) -> float:
    """Median radius over the last ``window_mm`` of arclength of an outlet vessel, mm."""
    v = net.vessels[vessel_id]
    s = v.arclength_mm
    sel = s >= s[-1] - window_mm - 1e-9 * max(1.0, s[-1])
    r = np.sort(v.radius_mm[sel])
    m = r.size // 2
    return float(r[m]) if r.size % 2 else float(0.5 * (r[m - 1] + r[m]))


def resting_coronary_flow_ml_min(net: VesselNetwork) -> float:
    """Total resting coronary flow Q_rest, mL/min (step 1 above)."""
    b = net.boundary
    if b.myocardial_mass_g is not None:
        return 200.0 * (b.myocardial_mass_g / 120.0) ** 0.75
    return b.coronary_flow_fraction * b.cardiac_output_l_min * 1000.0


def outlet_resistances(net: VesselNetwork) -> tuple[dict[str, float], dict]:
    """Hyperemic resistance of every outlet, Pa·s/m³, and a report of how each was obtained.

    Returns
    -------
    resistance : dict
        ``{outlet_vessel_id: R_out}`` in Pa·s/m³.
    report : dict
        ``q_rest_ml_min``, ``sides`` (side of each root and how it was decided), ``side_flow_ml_min``,
        and per outlet: ``side``, ``source`` ("explicit"/"morphometric"), ``radius_mm``,
        ``rest_flow_ml_min``, ``resistance_mmHg_s_per_ml`` (hyperemic).

    Raises
    ------
    InvalidInputError
        When a morphometric outlet is needed but ``inlet_pressure_mmHg <= venous_pressure_mmHg``.
    """
    b = net.boundary
    sides, how = net.side_of_roots()
    q_rest = resting_coronary_flow_ml_min(net)
    outlets = net.outlets
    side_of_outlet = {o: sides[net.root_of(o)] for o in outlets}
    radius = {o: outlet_radius_mm(net, o, b.outlet_radius_window_mm) for o in outlets}
    n = b.murray_exponent
    side_flow = {s: b.tree_flow_fraction.get(s, 0.0) * q_rest for s in ("left", "right")}
    weight_sum = {s: sum(radius[o] ** n for o in outlets if side_of_outlet[o] == s) for s in side_flow}
    drive_mmhg = b.inlet_pressure_mmHg - b.venous_pressure_mmHg
    res: dict[str, float] = {}
    per: dict[str, dict] = {}
    for o in outlets:
        s = side_of_outlet[o]
        q_i = side_flow[s] * radius[o] ** n / weight_sum[s] if weight_sum[s] > 0 else 0.0
        entry = {"side": s, "radius_mm": radius[o], "rest_flow_ml_min": q_i}
        if o in b.outlets:
            r_mmhg = b.outlets[o]["resistance_mmHg_s_per_ml"]
            entry["source"] = "explicit"
        else:
            if drive_mmhg <= 0:
                raise InvalidInputError(
                    f"boundary: morphometric outlet resistance for {o!r} needs inlet_pressure_mmHg > "
                    f"venous_pressure_mmHg (got {b.inlet_pressure_mmHg} and {b.venous_pressure_mmHg}); give "
                    f"boundary.outlets.{o}.resistance_mmHg_s_per_ml instead")
            if q_i <= 0:
                raise InvalidInputError(f"boundary.tree_flow_fraction.{s}: is 0, so outlet {o!r} gets no flow; "
                                        f"give it an explicit resistance")
            r_rest = drive_mmhg / (q_i / 60.0)  # mmHg·s/mL
            r_mmhg = b.hyperemia_factor * r_rest
            entry["source"] = "morphometric"
            entry["rest_resistance_mmHg_s_per_ml"] = r_rest
        entry["resistance_mmHg_s_per_ml"] = r_mmhg
        res[o] = units.resistance_to_si(r_mmhg)
        per[o] = entry
    report = {
        "q_rest_ml_min": q_rest,
        "q_rest_from": "myocardial_mass_g" if b.myocardial_mass_g is not None else "cardiac_output_l_min",
        "sides": {rid: {"side": sides[rid], "decided_by": how[rid]} for rid in net.roots},
        "side_flow_ml_min": {s: f for s, f in side_flow.items()
                             if any(side_of_outlet[o] == s for o in outlets)},
        "outlets": per,
    }
    return res, report
