"""Length units of geometry files that do not state them, and whether a geometry's radii fit a coronary tree.

Two questions every input answers here, with the same numbers:

**Which unit?** SimVascular projects and VTK centerlines carry no length unit. :func:`resolve_units`
takes it from the caller (``units="mm" | "cm" | "m"``, the CLI's ``--units``) or infers it from the
median lumen radius of the file: a coronary lumen radius is about 0.3–3 mm (distal branches to the
left main), so the median radius of a coronary tree lies in :data:`INFER_MEDIAN_RADIUS_MM`
(0.25–4 mm, that range with some room). The unit that puts the file's median there is taken. The
window is wider than a factor 10, so a median in 0.25–0.4 file units fits both mm and cm: such a
file, and one whose median fits no unit, is refused with the radii found and a request for
``--units``. The decision and its reason go into ``network.meta["units"]``, the log and
``summary.json`` (``input.units``).

**Is it plausible?** :func:`radius_warnings` looks at the radii of a network as it is about to be
solved, whatever it was read from (network JSON, VTK centerlines, svOneDSolver, SimVascular,
meshing). Statistics are weighted by centerline length. It warns when

- the median radius lies outside :data:`INFER_MEDIAN_RADIUS_MM` (0.25–4 mm, the window the unit
  inference accepts): a wrong unit, or not a coronary tree;
- more than :data:`FAR_SHARE` (10 %) of the centerline length has a radius outside
  :data:`FAR_RADIUS_MM` (below 0.1 mm or above 5 mm): far from any coronary lumen. A severe
  stenosis narrows a few millimetres below 0.1 mm, which stays under that share.

For an svZeroDSolver model (no geometry) the radius is the Poiseuille radius of each vessel with
a ``vessel_length``: R = 8 μ L / (π r⁴), μ the file's ``simulation_parameters.viscosity`` or else
0.04 g/(cm·s), the blood viscosity SimVascular's reduced-order models write (r scales as μ^¼, so
±20 % in μ moves it by 5 %).

Warnings are logged and returned; :func:`ffrflow.solve` puts them, with those of the reader
(``network.meta["warnings"]``), into the result's ``warnings`` and ``summary.json``.

Examples
--------
>>> import numpy as np
>>> resolve_units(np.array([0.12, 0.15, 0.2]), None, "tree.vtp")["unit"]
'cm'
>>> radius_warnings(np.array([0.1, 0.2]), np.array([10.0, 10.0]), "tree")[0][:58]
'tree: median lumen radius 0.1 mm (length-weighted) is outs'
"""

from __future__ import annotations

import logging
import math

import numpy as np

from .errors import InvalidInputError
from .network import VesselNetwork

log = logging.getLogger("ffrflow")

__all__ = ["UNITS_TO_MM", "CORONARY_RADIUS_MM", "INFER_MEDIAN_RADIUS_MM", "FAR_RADIUS_MM", "FAR_SHARE",
           "GIVEN_MEDIAN_LIMITS_MM", "resolve_units", "fixed_units", "radius_warnings", "network_warnings",
           "lumped_warnings", "input_warnings"]

#: Length units a geometry file may be in, with their size in mm.
UNITS_TO_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0}
#: Typical coronary lumen radius, mm (distal branches to the left main).
CORONARY_RADIUS_MM = (0.3, 3.0)
#: Median radius (mm) that a unit must give a file for that unit to be inferred.
INFER_MEDIAN_RADIUS_MM = (0.25, 4.0)
#: A radius outside this range (mm) is far from any coronary lumen.
FAR_RADIUS_MM = (0.1, 5.0)
#: Share of the centerline length with a radius far outside the coronary range that gives a warning.
FAR_SHARE = 0.10
#: A unit given by the caller is refused when it makes the median radius leave this range (mm).
GIVEN_MEDIAN_LIMITS_MM = (0.02, 30.0)
#: Blood viscosity (g/(cm·s)) for the Poiseuille radius of an svZeroDSolver vessel whose file gives none.
SVZEROD_VISCOSITY_POISE = 0.04


def _units_arg(units):
    if units is not None and units not in UNITS_TO_MM:
        raise InvalidInputError(f"units (--units): expected one of {list(UNITS_TO_MM)}, got {units!r}")


def resolve_units(radii, units: str | None, where: str, what: str = "radius") -> dict:
    """The length unit of a file without one: given, or inferred from its radii.

    Parameters
    ----------
    radii : array_like
        Lumen radii as written in the file (its own unit), > 0.
    units : {"mm", "cm", "m"} or None
        The unit the caller gives (``--units``); None infers it.
    where : str
        The file or folder, for the log and the errors.
    what : str
        What the radii are (e.g. ``"contour radius"``), for the messages.

    Returns
    -------
    dict
        ``{"unit", "to_mm" (mm per file unit), "decided_by" ("given" | "inferred"), "reason",
        "median_radius_in_file"}``; ``network.meta["units"]`` holds it.

    Raises
    ------
    InvalidInputError
        An unknown unit; a given unit that puts the median radius outside
        :data:`GIVEN_MEDIAN_LIMITS_MM`; a unit that cannot be told (no unit or more than one puts the
        median radius in :data:`INFER_MEDIAN_RADIUS_MM`), naming the file and the radii found.
    """
    _units_arg(units)
    r = np.asarray(radii, dtype=np.float64).ravel()
    r = r[np.isfinite(r) & (r > 0)]
    if r.size == 0:
        raise InvalidInputError(f"{where}: no positive {what} to tell the length unit from")
    med = float(np.median(r))
    lo, hi = float(r.min()), float(r.max())
    found = f"median {what} {med:.4g} in the file (range {lo:.4g}–{hi:.4g})"
    as_mm = ", ".join(f"{med * f:.4g} mm in {u}" for u, f in UNITS_TO_MM.items())
    if units is not None:
        med_mm = med * UNITS_TO_MM[units]
        if not GIVEN_MEDIAN_LIMITS_MM[0] <= med_mm <= GIVEN_MEDIAN_LIMITS_MM[1]:
            fits = [u for u, f in UNITS_TO_MM.items()
                    if INFER_MEDIAN_RADIUS_MM[0] <= med * f <= INFER_MEDIAN_RADIUS_MM[1]]
            hint = f" (the radii fit units={fits[0]!r})" if len(fits) == 1 else ""
            raise InvalidInputError(f"{where}: the {found} is {med_mm:.4g} mm with units={units!r}, not a plausible "
                                    f"vessel radius{hint}")
        out = {"unit": units, "to_mm": UNITS_TO_MM[units], "decided_by": "given",
               "reason": f"given (--units {units}, units={units!r}): the {found} is {med_mm:.4g} mm",
               "median_radius_in_file": med}
    else:
        fits = [u for u, f in UNITS_TO_MM.items() if INFER_MEDIAN_RADIUS_MM[0] <= med * f <= INFER_MEDIAN_RADIUS_MM[1]]
        if len(fits) != 1:
            why = ("fits no unit" if not fits else f"fits {' and '.join(fits)} alike")
            raise InvalidInputError(
                f"{where}: cannot tell the length unit (the file does not state it): the {found} is {as_mm}, which "
                f"{why} (a coronary tree's median lumen radius is {INFER_MEDIAN_RADIUS_MM[0]:g}–"
                f"{INFER_MEDIAN_RADIUS_MM[1]:g} mm); give the unit with --units mm|cm|m (units=...)")
        u = fits[0]
        out = {"unit": u, "to_mm": UNITS_TO_MM[u], "decided_by": "inferred",
               "reason": f"inferred: the {found} is {med * UNITS_TO_MM[u]:.3g} mm in {u}, a coronary lumen radius "
                         f"({as_mm}); --units overrides",
               "median_radius_in_file": med}
    log.info("%s: length unit %s, %s", where, out["unit"], out["reason"])
    return out


def fixed_units(unit: str, fmt: str, units: str | None = None, where: str = "") -> dict:
    """The unit record of a format that fixes its unit (``ffrflow-network/1`` mm, svOneDSolver/svZeroDSolver cm).

    A ``units`` given by the caller must agree with it (InvalidInputError otherwise: ``--units``
    applies to files without a unit: SimVascular projects and VTK centerlines).
    """
    _units_arg(units)
    if units is not None and units != unit:
        raise InvalidInputError(f"{where + ': ' if where else ''}--units {units}: the lengths of {fmt} are in {unit} "
                                f"by definition; --units applies to SimVascular projects and VTK centerlines, whose "
                                f"files do not state a unit")
    return {"unit": unit, "to_mm": UNITS_TO_MM[unit], "decided_by": "format", "reason": f"{fmt} is in {unit}"}


def radius_warnings(radius_mm, weight, where: str, vessel_of=None) -> list[str]:
    """Warnings for radii that do not fit a coronary tree (module docstring): median, far-off share.

    Parameters
    ----------
    radius_mm : (n,) array_like
        Lumen radii, mm.
    weight : (n,) array_like
        Centerline length each radius stands for, mm (any positive weights).
    where : str
        The input, prefixing each warning.
    vessel_of : (n,) sequence of str, optional
        The vessel of each radius, to name the vessels far outside the range.

    Returns
    -------
    list of str
        Empty when the radii are plausible.
    """
    r = np.asarray(radius_mm, dtype=np.float64).ravel()
    w = np.asarray(weight, dtype=np.float64).ravel()
    ok = np.isfinite(r) & np.isfinite(w) & (w > 0)
    if not ok.any():
        return []
    r, w = r[ok], w[ok]
    order = np.argsort(r, kind="stable")
    cw = np.cumsum(w[order])
    med = float(r[order][np.searchsorted(cw, 0.5 * cw[-1])])
    out = []
    lo, hi = INFER_MEDIAN_RADIUS_MM
    if not lo <= med <= hi:
        names = {10.0: "cm", 1000.0: "m"}
        alt = [f"{f:g}x larger ({med * f:.3g} mm: a geometry in {names[f]} read as mm)" for f in names
               if lo <= med * f <= hi]
        alt += [f"{f:g}x smaller ({med / f:.3g} mm: a geometry in mm read as {names[f]})" for f in names
                if lo <= med / f <= hi]
        out.append(f"{where}: median lumen radius {med:.3g} mm (length-weighted) is outside {lo:g}–{hi:g} mm, the "
                   f"median radius of a coronary tree{'; radii ' + ' or '.join(alt) + ' would fit' if alt else ''}: "
                   f"check the length unit and that this is a coronary tree")
    flo, fhi = FAR_RADIUS_MM
    far = (r < flo) | (r > fhi)
    share = float(w[far].sum() / w.sum())
    if share > FAR_SHARE:
        names = ""
        if vessel_of is not None:
            v = np.asarray(vessel_of, dtype=object).ravel()[ok]
            vs = list(dict.fromkeys(v[order][far[order]]))
            names = f" (vessels {', '.join(map(str, vs[:6]))}{', ...' if len(vs) > 6 else ''})"
        out.append(f"{where}: {100 * share:.0f} % of the centerline length has a radius below {flo:g} mm or above "
                   f"{fhi:g} mm{names}, far outside a coronary lumen (radii {float(r.min()):.3g}–{float(r.max()):.3g} "
                   f"mm); results for such a geometry are not physiological")
    return out


def network_warnings(net) -> list[str]:
    """:func:`radius_warnings` for a :class:`~ffrflow.network.VesselNetwork` (each point weighted by half
    the centerline length of its two neighbouring segments)."""
    rs, ws, vs = [], [], []
    for vid, v in net.vessels.items():
        s = v.arclength_mm
        seg = np.diff(s)
        w = np.zeros(len(s))
        w[:-1] += 0.5 * seg
        w[1:] += 0.5 * seg
        rs.append(v.radius_mm)
        ws.append(w)
        vs += [vid] * len(s)
    where = str(net.meta.get("source") or "network")
    return radius_warnings(np.concatenate(rs), np.concatenate(ws), where, vs)


def lumped_warnings(model) -> list[str]:
    """:func:`radius_warnings` for an svZeroDSolver model: the Poiseuille radius of every vessel with a
    ``vessel_length`` and R_poiseuille > 0 (CGS; module docstring), weighted by its length."""
    mu = float(model.meta.get("viscosity", SVZEROD_VISCOSITY_POISE))
    rs, ws, vs = [], [], []
    for e in model.elements:
        if e.kind != "vessel" or not e.length or not e.R > 0:
            continue
        r_cm = (8.0 * mu * e.length / (math.pi * e.R)) ** 0.25
        rs.append(10.0 * r_cm)
        ws.append(e.length)
        vs.append(e.name)
    where = str(model.meta.get("source") or model.name)
    if not rs:
        log.info("%s: no vessel has a vessel_length: radii cannot be checked", where)
        return []
    return [w.replace("median lumen radius", "median Poiseuille radius (from R_poiseuille, vessel_length and "
                      f"mu = {mu:g} P)", 1)
            for w in radius_warnings(rs, ws, where, vs)]


def input_warnings(obj) -> list[str]:
    """Every warning about an input about to be solved: the reader's (``meta["warnings"]``, already
    logged when it was read) and the radius check (logged here)."""
    found = network_warnings(obj) if isinstance(obj, VesselNetwork) else lumped_warnings(obj)
    for w in found:
        log.warning("%s", w)
    return [str(w) for w in obj.meta.get("warnings", [])] + found
