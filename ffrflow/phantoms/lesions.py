"""What every phantom shares: lesion specifications and shapes, the :class:`Phantom` (a network with
the exact truth of its lesions), narrowing a given network (:func:`narrow`) and writing masks.

Units: mm, world LPS; percentages in %. The package docstring (:mod:`ffrflow.phantoms`) describes
the lesion profile.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .._atomic import atomic_write_text
from ..errors import InvalidInputError
from ..meshing.voxelize import PARTIAL_VOLUME_SUPERSAMPLE, voxelize
from ..network import Lesion, VesselNetwork

__all__ = ['LesionSpec', 'Phantom', 'narrow', 'write_mask', 'MURRAY_EXPONENT', 'POINT_SPACING_MM', 'LESION_POINT_SPACING_MM', 'LESION_END_CLEARANCE_MM', 'ASYMMETRIC_INLET_FRACTION', 'GAUSSIAN_SIGMA_FRACTION', 'LESION_SHAPES', 'TRUTH_FORMAT']

#: Exponent of the Murray-type branching law used for the phantoms (Huo & Kassab, 7/3).
MURRAY_EXPONENT = 7.0 / 3.0
#: Target spacing of centerline points, mm.
POINT_SPACING_MM = 0.5
#: Spacing of centerline points inside a lesion, mm. The phantom's lumen is the tube whose radius is
#: linear between points; at 0.5 mm a 3 mm cosine lesion would be a polygon whose throat is a kink (a V
#: that any imaging blurs by about half the slope change times the blur width: 0.04 mm at a 60 % ostial
#: throat), so the lesion is sampled finely enough for the tube to be the smooth profile it specifies.
LESION_POINT_SPACING_MM = 0.1
#: Least distance (mm) between a lesion and either end of its vessel.
LESION_END_CLEARANCE_MM = 2.0
#: Fraction of the lesion length before the throat for the ``asymmetric`` shape.
ASYMMETRIC_INLET_FRACTION = 0.3
#: Standard deviation of the ``gaussian`` shape's core, as a fraction of the lesion length.
GAUSSIAN_SIGMA_FRACTION = 0.2
LESION_SHAPES = ("cosine", "gaussian", "asymmetric")
TRUTH_FORMAT = "ffrflow-phantom-truth/1"
_MASK_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")


@dataclass
class LesionSpec:
    """A lesion to put into a phantom.

    Parameters
    ----------
    vessel : str
        Id of the vessel (segment) that holds the whole lesion, e.g. ``"LAD_p"``.
    center_mm : float
        Arclength of the minimal lumen diameter (MLD) from the vessel's first point, mm.
    length_mm : float
        Lesion length, mm (> 0).
    ds_pct : float
        Diameter stenosis, % (0 < ds_pct <= 99): MLD = (1 - ds_pct/100) × reference diameter.
    shape : {"cosine", "gaussian", "asymmetric"}
        Profile of the narrowing (see the module docstring).
    """

    vessel: str
    center_mm: float
    length_mm: float
    ds_pct: float
    shape: str = "cosine"

    def extent_mm(self) -> tuple[float, float]:
        """``(start_mm, end_mm)`` of the lesion along its vessel, mm."""
        if self.shape == "asymmetric":
            return (self.center_mm - ASYMMETRIC_INLET_FRACTION * self.length_mm,
                    self.center_mm + (1.0 - ASYMMETRIC_INLET_FRACTION) * self.length_mm)
        return self.center_mm - 0.5 * self.length_mm, self.center_mm + 0.5 * self.length_mm

    def validate(self) -> "LesionSpec":
        """Check the fields; return ``self``. Raises :class:`InvalidInputError`."""
        w = f"lesion on {self.vessel!r}"
        if not isinstance(self.vessel, str) or not self.vessel:
            raise InvalidInputError(f"lesion.vessel: expected a vessel id, got {self.vessel!r}")
        for name in ("center_mm", "length_mm", "ds_pct"):
            x = getattr(self, name)
            if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(float(x)):
                raise InvalidInputError(f"{w}.{name}: expected a finite number, got {x!r}")
            setattr(self, name, float(x))
        if self.length_mm <= 0:
            raise InvalidInputError(f"{w}.length_mm: expected > 0 mm, got {self.length_mm!r}")
        if not 0.0 < self.ds_pct <= 99.0:
            raise InvalidInputError(f"{w}.ds_pct: expected a diameter stenosis in (0, 99] %, got {self.ds_pct!r}")
        if self.shape not in LESION_SHAPES:
            raise InvalidInputError(f"{w}.shape: expected one of {LESION_SHAPES}, got {self.shape!r}")
        return self


def _as_spec(x: Any) -> LesionSpec:
    if isinstance(x, LesionSpec):
        return LesionSpec(**asdict(x)).validate()
    if isinstance(x, Mapping):
        try:
            return LesionSpec(**x).validate()
        except TypeError as exc:
            raise InvalidInputError(f"lesion {dict(x)!r}: {exc}") from None
    raise InvalidInputError(f"lesions: expected LesionSpec objects or dicts, got {type(x).__name__}")


def _bump(x: np.ndarray, shape: str) -> np.ndarray:
    """Lesion bump g(x), x = (s - c) / L; g(0) = 1, zero outside the support."""
    x = np.asarray(x, dtype=np.float64)
    g = np.zeros_like(x)
    if shape == "cosine":
        m = np.abs(x) < 0.5
        g[m] = 0.5 * (1.0 + np.cos(2.0 * np.pi * x[m]))
    elif shape == "gaussian":
        m = np.abs(x) < 0.5
        xm = x[m]
        g[m] = np.exp(-0.5 * (xm / GAUSSIAN_SIGMA_FRACTION) ** 2 + 1.0 - 1.0 / (1.0 - 4.0 * xm * xm))
    elif shape == "asymmetric":
        a = ASYMMETRIC_INLET_FRACTION
        y = np.where(x < 0.0, x / (2.0 * a), x / (2.0 * (1.0 - a)))
        m = np.abs(y) < 0.5
        g[m] = 0.5 * (1.0 + np.cos(2.0 * np.pi * y[m]))
    else:  # pragma: no cover - validated before
        raise InvalidInputError(f"unknown lesion shape {shape!r}")
    return g


def _check_lesions(vid: str, specs: list[LesionSpec], length_mm: float) -> None:
    cl = LESION_END_CLEARANCE_MM
    prev_end, prev = -math.inf, None
    for sp in specs:
        start, end = sp.extent_mm()
        if start < cl or end > length_mm - cl:
            raise InvalidInputError(
                f"lesion on {vid!r} at center_mm={sp.center_mm} (length {sp.length_mm} mm, spans {start:.2f} to "
                f"{end:.2f} mm): it must lie inside the vessel at least {cl} mm from both ends; vessel {vid!r} is "
                f"{length_mm:.2f} mm long")
        if start < prev_end:
            raise InvalidInputError(
                f"lesions on {vid!r} at center_mm={prev.center_mm} and center_mm={sp.center_mm} overlap")
        prev_end, prev = end, sp


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInputError(f"seed: expected an integer >= 0, got {seed!r}")
    return int(seed)


@dataclass
class Phantom:
    """A synthetic coronary network with the exact truth of its lesions.

    Attributes
    ----------
    network : VesselNetwork
        The network (mm, LPS), *without* a ``lesions`` block: the engine must detect the lesions.
        The lesions are in the radii.
    lesions : list of dict
        Truth per lesion, keys: ``vessel``; ``start_mm``, ``end_mm``, ``center_mm`` (arclength from
        the vessel's first point, mm; ``center_mm`` is the MLD); ``position_mm`` (arclength of the
        MLD from the tree's ostium, mm); ``mld_mm``, ``reference_diameter_mm``,
        ``reference_radius_mm``, ``length_mm`` (mm); ``diameter_stenosis_pct``,
        ``area_stenosis_pct`` (%); ``mld_xyz_mm`` (world LPS coordinates of the MLD point, mm);
        ``shape``.
    parameters : dict
        How the phantom was made (generator, seed, sides, lesion specs, heart geometry).
    """

    network: VesselNetwork
    lesions: list[dict]
    parameters: dict = field(default_factory=dict)

    def network_with_lesions(self) -> VesselNetwork:
        """A copy of the network whose vessels carry the true lesions.

        Every vessel gets a ``lesions`` list (``start_mm``, ``end_mm`` and ``reference_radius_mm``,
        mm); vessels without a lesion get an empty list, which in the network format means "no
        lesion here" (it replaces automatic detection).

        Returns
        -------
        VesselNetwork
        """
        net = self.network.copy()
        for v in net.vessels.values():
            v.lesions = []
        for les in self.lesions:
            net.vessels[les["vessel"]].lesions.append(
                Lesion(float(les["start_mm"]), float(les["end_mm"]), float(les["reference_radius_mm"])))
        for v in net.vessels.values():
            v.lesions.sort(key=lambda x: x.start_mm)
        return net

    def truth_dict(self) -> dict:
        """The truth document written to ``truth.json``: lesions and parameters (mm, %)."""
        return {"format": TRUTH_FORMAT, "units": "mm", "lesions": [dict(x) for x in self.lesions],
                "parameters": dict(self.parameters)}

    def write(self, folder: str | os.PathLike, mask: bool = True, spacing_mm: float | Sequence[float] = 0.4,
              probability: bool = False) -> dict[str, Path]:
        """Write ``network.json``, ``truth.json`` and optionally ``mask.nii.gz`` and ``probability.nii.gz``.

        Every file is written atomically; ``folder`` is created when missing.

        Parameters
        ----------
        folder : path
            Output folder.
        mask : bool
            Also voxelise the network (see :func:`voxelize`) and write ``mask.nii.gz``.
        spacing_mm : float or 3 floats
            Voxel spacing of the mask and the probability map, mm.
        probability : bool
            Also write ``probability.nii.gz``: the exact partial-volume fraction of every voxel
            (float32, 0–1; :func:`voxelize` with ``partial_volume=True``), a lumen probability map
            on the mask's grid.

        Returns
        -------
        dict
            ``{"network": Path, "truth": Path[, "mask": Path][, "probability": Path]}``.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"network": self.network.to_json(folder / "network.json")}
        doc = self.truth_dict()
        for key, wanted, name in (("mask", mask, "mask.nii.gz"), ("probability", probability, "probability.nii.gz")):
            if not wanted:
                continue
            img = voxelize(self.network, spacing_mm=spacing_mm, partial_volume=key == "probability")
            paths[key] = write_mask(img, folder / name)
            doc[key] = {"path": name, "spacing_mm": list(img.GetSpacing()), "origin_mm": list(img.GetOrigin()),
                        "size": list(img.GetSize())}
            if key == "probability":
                doc[key]["supersample"] = PARTIAL_VOLUME_SUPERSAMPLE
        paths["truth"] = folder / "truth.json"
        atomic_write_text(paths["truth"], json.dumps(doc, indent=1) + "\n")
        return paths


def lesion_positions(spec: LesionSpec, spacing_mm: float = LESION_POINT_SPACING_MM) -> np.ndarray:
    """Arclengths (mm) every ``spacing_mm`` across a lesion's extent, centred on its throat."""
    start, end = spec.extent_mm()
    k0 = int(math.ceil((start - spec.center_mm) / spacing_mm - 1e-9))
    k1 = int(math.floor((end - spec.center_mm) / spacing_mm + 1e-9))
    return spec.center_mm + spacing_mm * np.arange(k0, k1 + 1)


def narrow(network: VesselNetwork, lesions: Iterable[LesionSpec],
           lesion_spacing_mm: float | None = LESION_POINT_SPACING_MM) -> Phantom:
    """Put lesions into an existing network (e.g. :func:`random_tree`), with their exact truth.

    Each :class:`LesionSpec` narrows its vessel's radius profile (taken as the healthy reference
    r_ref(s)) with the profile of the module docstring; a centerline point is inserted at the
    centre (interpolated on the polyline) so that the MLD is exactly (1 − d)·r_ref(c). Lesions must
    lie at least 2 mm from their vessel's ends and not overlap (several on one vessel are lesions in
    tandem).

    Parameters
    ----------
    network : VesselNetwork
        The healthy network (it is not modified).
    lesions : sequence of LesionSpec (or dicts with its fields)
    lesion_spacing_mm : float or None
        Spacing (mm) of the points inserted across every lesion (:data:`LESION_POINT_SPACING_MM`);
        None inserts only the throat point (the sampling of the network is kept elsewhere).

    Returns
    -------
    Phantom
        The narrowed network (without a ``lesions`` block: :meth:`Phantom.network_with_lesions`
        gives it with the true lesions) and the truth of every lesion.
    """
    if isinstance(lesions, (LesionSpec, Mapping, str)):
        raise InvalidInputError("lesions: expected a list of LesionSpec (or dicts), not a single one")
    specs = [_as_spec(x) for x in lesions]
    net = network.copy()
    by_vessel: dict[str, list[LesionSpec]] = {}
    for sp in specs:
        if sp.vessel not in net.vessels:
            raise InvalidInputError(f"lesion on {sp.vessel!r}: no such vessel; the network has {net.ids}")
        by_vessel.setdefault(sp.vessel, []).append(sp)
    truth = []
    for vid, vs in by_vessel.items():
        v = net.vessels[vid]
        vs.sort(key=lambda x: x.center_mm)
        s0 = v.arclength_mm
        _check_lesions(vid, vs, float(s0[-1]))
        marks = np.array([sp.center_mm for sp in vs])
        fine = [lesion_positions(sp, lesion_spacing_mm) for sp in vs] if lesion_spacing_mm else []
        s = np.unique(np.concatenate([s0, marks] + fine))
        s = s[np.concatenate([[True], np.diff(s) > 1e-6])]
        pts = np.column_stack([np.interp(s, s0, v.points_mm[:, i]) for i in range(3)])
        r_ref = np.interp(s, s0, v.radius_mm)
        rad = r_ref.copy()
        for sp in vs:
            ic = int(np.argmin(np.abs(s - sp.center_mm)))
            r_c = float(r_ref[ic])
            r_mld = (1.0 - sp.ds_pct / 100.0) * r_c
            start, end = sp.extent_mm()
            if float(np.interp(end, s, r_ref)) <= r_mld * (1.0 + 1e-9):
                raise InvalidInputError(f"lesion on {vid!r} at center_mm={sp.center_mm}: a {sp.ds_pct} % stenosis is "
                                        f"milder than the vessel's own taper across it; use a larger ds_pct")
            rad = rad - _bump((s - sp.center_mm) / sp.length_mm, sp.shape) * (r_ref - r_mld)
            rad[ic] = r_mld
            truth.append({"vessel": vid, "start_mm": start, "end_mm": end, "center_mm": float(s[ic]),
                          "position_mm": net.offset_from_ostium_mm(vid) + float(s[ic]), "mld_mm": 2.0 * r_mld,
                          "reference_diameter_mm": 2.0 * r_c, "reference_radius_mm": r_c,
                          "diameter_stenosis_pct": 100.0 * (1.0 - r_mld / r_c),
                          "area_stenosis_pct": 100.0 * (1.0 - (r_mld / r_c) ** 2), "length_mm": float(sp.length_mm),
                          "mld_xyz_mm": [float(x) for x in pts[ic]], "shape": sp.shape})
        v.points_mm = pts
        v.radius_mm = rad
        v.lesions = None
    order = {vid: i for i, vid in enumerate(net.ids)}
    truth.sort(key=lambda t: (order[t["vessel"]], t["center_mm"]))
    params = {"generator": "ffrflow.phantoms.narrow", "base": dict(network.meta),
              "lesion_specs": [asdict(x) for x in specs],
              "lesion_profile": "r(s) = r_ref(s) - g((s-c)/L) * (r_ref(s) - (1-d) r_ref(c))"}
    return Phantom(net, truth, params)


def write_mask(image, path: str | os.PathLike) -> Path:
    """Write a mask or probability image atomically with SimpleITK (``.nii.gz``, ``.nii``, ``.nrrd`` or ``.mha``).

    Parameters
    ----------
    image : SimpleITK.Image
        The image (its origin, spacing in mm and direction are written with it; its voxel type kept).
    path : path
        Output file; the format follows the extension.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InvalidInputError
        For an unsupported extension.
    """
    import SimpleITK as sitk

    path = Path(path)
    name = path.name.lower()
    if not name.endswith(_MASK_SUFFIXES):
        raise InvalidInputError(f"{path}: unsupported mask format; use one of {list(_MASK_SUFFIXES)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    # SimpleITK picks the writer by extension, so write under the final name in a sibling temp folder
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        tmp = tmpdir / path.name
        sitk.WriteImage(image, str(tmp), True)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return path
