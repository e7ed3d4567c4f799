"""The lumen mask: what a volume's values say it is, its cleaning and its topology check
(docs/formats.md §Lumen masks and surfaces).

The lumen is ``label > 0`` (or ``== label``); connected components (26-connectivity) are found, specks
are dropped (and counted), and at most ``max_trees`` trees are kept (left and right coronary trees);
a kept tree whose Euler characteristic departs from a solid tree's is refused as noise.

A floating-point volume is told apart by its values (:func:`volume_kind`): only 0 and 1 is a binary
mask; values in [0, 1] are a lumen probability map (the soft output of nnU-Net, TotalSegmentator,
MONAI, or exact partial-volume fractions), whose lumen is ``p >= threshold`` (default
:data:`PROBABILITY_THRESHOLD`) and whose values around the kept trees are kept
(:attr:`LumenMask.probability`) for the sub-voxel iso-surface; integers >= 0 are a label volume
stored as floats; anything else (a CT in Hounsfield units, say) is refused.

Reading the files is :mod:`ffrflow.meshing.io` (:func:`~ffrflow.meshing.io.load_image`); a closed
surface becomes a mask through :func:`mask_from_surface`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidInputError

log = logging.getLogger("ffrflow.meshing")

#: Default lumen level of a probability map (the lumen is ``p >= threshold``).
PROBABILITY_THRESHOLD = 0.5
#: Values this far outside [0, 1] (float rounding of a resampled map) still count as a probability.
PROBABILITY_ROUNDING = 1e-6


@dataclass
class LumenMask:
    """A binary lumen mask cropped to its bounding box, with the full image's geometry.

    Attributes
    ----------
    labels : ndarray of uint8 or uint16, shape (nz, ny, nx)
        Tree (connected component) number of each voxel of the crop, 0 = background, 1 = the largest
        tree, 2 = the next, ... Array order is SimpleITK's (z, y, x).
    offset : ndarray of int, shape (3,)
        Voxel index (x, y, z) in the full image of ``labels[0, 0, 0]``.
    origin_mm, spacing_mm : ndarray, shape (3,)
        Image origin (world mm, LPS) and voxel spacing (mm) along x, y, z of the index grid.
    direction : ndarray, shape (3, 3)
        Direction cosines; column ``c`` is the world direction of index axis ``c``.
    size : tuple of int
        Full image size (nx, ny, nz).
    source : str
        The file or folder read (for messages).
    voxels_dropped : int
        Foreground voxels removed as specks or surplus components.
    components : list of dict
        Kept trees: ``{"label", "voxels", "volume_mm3"}``.
    probability : ndarray of float32, shape (nz + 2, ny + 2, nx + 2), or None
        For a probability-map input: the lumen probability (0–1) on the crop grown by one voxel on
        every side (so ``probability[1:-1, 1:-1, 1:-1]`` lies on ``labels``; 0 beyond the image),
        set to 0 outside the kept trees' 26-neighbourhood and nudged off the threshold so that
        ``probability >= threshold`` is exactly ``labels > 0``. None for a mask.
    threshold : float or None
        The lumen level of a probability map (``labels > 0`` is ``p >= threshold``); None for a mask.
    fractions : ndarray of float32 or None
        For a probability-map input: the map's own values on the grid of ``probability``, 0 outside the
        kept trees' 26-neighbourhood but not nudged (the lumen fractions whose sums give the area,
        :mod:`ffrflow.meshing.partial_volume`); None for a mask.
    """

    labels: np.ndarray
    offset: np.ndarray
    origin_mm: np.ndarray
    spacing_mm: np.ndarray
    direction: np.ndarray
    size: tuple
    source: str = ""
    voxels_dropped: int = 0
    components: list = field(default_factory=list)
    probability: np.ndarray | None = None
    threshold: float | None = None
    fractions: np.ndarray | None = None

    @property
    def n_trees(self) -> int:
        """Number of kept trees (connected components)."""
        return len(self.components)

    @property
    def voxel_volume_mm3(self) -> float:
        """Volume of one voxel, mm³."""
        return float(np.prod(self.spacing_mm))

    def index_to_world(self, ijk: np.ndarray) -> np.ndarray:
        """Continuous full-image voxel index (x, y, z), shape (..., 3) → world mm (LPS)."""
        ijk = np.asarray(ijk, dtype=np.float64)
        return self.origin_mm + (ijk * self.spacing_mm) @ self.direction.T

    def world_to_index(self, xyz_mm: np.ndarray) -> np.ndarray:
        """World mm (LPS), shape (..., 3) → continuous full-image voxel index (x, y, z)."""
        xyz_mm = np.asarray(xyz_mm, dtype=np.float64)
        return np.linalg.solve(self.direction, (xyz_mm - self.origin_mm).T).T / self.spacing_mm

    def info(self) -> dict:
        """Geometry and cleaning summary (JSON-able; no patient identifiers)."""
        return {"origin_mm": [float(v) for v in self.origin_mm],
                "spacing_mm": [float(v) for v in self.spacing_mm],
                "direction": [[float(v) for v in row] for row in self.direction],
                "size": [int(v) for v in self.size],
                "crop_offset": [int(v) for v in self.offset],
                "crop_size": [int(v) for v in self.labels.shape[::-1]],
                "trees": len(self.components),
                "components": [dict(c) for c in self.components],
                "voxels_dropped": int(self.voxels_dropped),
                "kind": "mask" if self.probability is None else "probability",
                **({} if self.threshold is None else {"threshold": float(self.threshold)})}

def _bbox(mask: np.ndarray) -> tuple[slice, ...] | None:
    """Tight bounding box of a boolean (z, y, x) array as slices, None when empty."""
    out = []
    for ax in range(3):
        other = tuple(a for a in range(3) if a != ax)
        hit = np.flatnonzero(mask.any(axis=other))
        if hit.size == 0:
            return None
        out.append(slice(int(hit[0]), int(hit[-1]) + 1))
    return tuple(out)


def euler_characteristic(mask: np.ndarray) -> int:
    """Euler characteristic of the union of closed voxel cubes (26-connected foreground).

    χ = V − E + F − C over the cubical complex; a solid tree (no tunnels, no cavities) has χ = 1 per
    connected component, whereas a mask of noise has |χ| of the order of its voxel count. Computed by
    the compiled window count of :mod:`ffrflow.meshing._topology` (cost follows the foreground);
    :func:`euler_characteristic_reference` is the NumPy count of the cells it is tested against.
    """
    from ._topology import WINDOW_TABLE, euler8

    eight = int(euler8(np.pad(np.asarray(mask, dtype=bool), 1), WINDOW_TABLE))
    if eight % 8:                               # pragma: no cover - a table error, never data
        raise AssertionError(f"8 chi = {eight} is not a multiple of 8")
    return eight // 8


def euler_characteristic_reference(mask: np.ndarray) -> int:
    """:func:`euler_characteristic` by counting vertices, edges, faces and cubes with array shifts (NumPy)."""
    m = np.pad(np.asarray(mask, dtype=bool), 1)
    cubes = int(m.sum())
    faces = 0
    edges = 0
    for ax in range(3):
        a = [slice(None)] * 3
        b = [slice(None)] * 3
        a[ax], b[ax] = slice(1, None), slice(None, -1)
        f = m[tuple(a)] | m[tuple(b)]           # faces normal to axis ax
        faces += int(f.sum())
    # edges parallel to axis ax: OR over the 4 voxels around the edge (shifts along the other two axes)
    for ax in range(3):
        o1, o2 = [x for x in range(3) if x != ax]
        acc = None
        for s1 in (0, 1):
            for s2 in (0, 1):
                sl = [slice(None)] * 3
                sl[o1] = slice(s1, m.shape[o1] - 1 + s1)
                sl[o2] = slice(s2, m.shape[o2] - 1 + s2)
                v = m[tuple(sl)]
                acc = v.copy() if acc is None else (acc | v)
        edges += int(acc.sum())
    acc = None
    for s0 in (0, 1):
        for s1 in (0, 1):
            for s2 in (0, 1):
                v = m[s0:m.shape[0] - 1 + s0, s1:m.shape[1] - 1 + s1, s2:m.shape[2] - 1 + s2]
                acc = v.copy() if acc is None else (acc | v)
    verts = int(acc.sum())
    return verts - edges + faces - cubes


def _components(mask: np.ndarray):
    """26-connected components: (labels uint32, voxel counts indexed by label)."""
    try:
        import cc3d  # ships with kimimaro; faster and lighter than SimpleITK here
        lab, n = cc3d.connected_components(mask, connectivity=26, return_N=True)
    except ImportError:   # pragma: no cover - cc3d comes with kimimaro
        import SimpleITK as sitk
        img = sitk.ConnectedComponent(sitk.GetImageFromArray(mask.astype(np.uint8)), True)
        lab = sitk.GetArrayFromImage(img)
        n = int(lab.max())
    counts = np.bincount(lab.ravel(), minlength=n + 1)
    return lab, counts


def _check_threshold(threshold) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.integer, np.floating)) \
            or not np.isfinite(threshold) or not 0.0 < float(threshold) < 1.0:
        raise InvalidInputError(f"threshold: expected a lumen probability level between 0 and 1 (exclusive), "
                                f"got {threshold!r}")
    return float(threshold)


def volume_kind(arr: np.ndarray, source: str = "<array>") -> str:
    """What a volume's voxel values say it is: ``"label"``, ``"mask"`` or ``"probability"``.

    An integer volume is a label volume (the lumen is > 0, or one label). A floating-point volume
    holding only 0 and 1 is a binary ``"mask"``; one with values in [0, 1] (to within
    :data:`PROBABILITY_ROUNDING`) and some strictly between is a lumen ``"probability"`` map; one of
    integers >= 0 is a label volume stored as floats (``"label"``).

    Raises
    ------
    InvalidInputError
        A floating-point volume with NaN or infinite values, or with values outside [0, 1] that are
        not all integers >= 0 (a CT in Hounsfield units, a distance map): the message names the
        source and the range found.
    """
    if not np.issubdtype(arr.dtype, np.floating):
        return "label"
    bad = int(np.count_nonzero(~np.isfinite(arr)))
    if bad:
        raise InvalidInputError(f"{source}: {bad} voxels are NaN or infinite; expected a binary or label mask or a "
                                f"lumen probability map in [0, 1]")
    lo, hi = float(arr.min()), float(arr.max())
    if lo >= -PROBABILITY_ROUNDING and hi <= 1.0 + PROBABILITY_ROUNDING:
        return "mask" if bool(np.all((arr == 0) | (arr == 1))) else "probability"
    if lo >= 0 and bool(np.all(arr == np.round(arr))):
        return "label"
    raise InvalidInputError(
        f"{source}: floating-point values from {lo:.6g} to {hi:.6g}; expected a binary or label mask (integers "
        f">= 0) or a lumen probability map in [0, 1] (a CT image, e.g. in Hounsfield units, must be segmented "
        f"first)")



#: A probability map's lumen components joined through voxels of ``p ≥ BRIDGE_LEVEL_FRACTION · threshold``
#: (at most :data:`BRIDGE_MAX_VOXELS` voxels apart) are joined (:func:`bridge_sub_threshold`).
BRIDGE_LEVEL_FRACTION = 0.5
BRIDGE_MAX_VOXELS = 6


def _geodesic_steps(src: np.ndarray, allowed: np.ndarray, k_max: int) -> np.ndarray:
    """26-connected steps from ``src`` through ``allowed`` voxels (``k_max + 1`` where not reached)."""
    from scipy.ndimage import binary_dilation

    d = np.full(src.shape, k_max + 1, dtype=np.int16)
    d[src] = 0
    front = src.copy()
    ball = np.ones((3, 3, 3), dtype=bool)
    for k in range(1, k_max + 1):
        front = binary_dilation(front, structure=ball) & allowed & (d > k_max)
        if not front.any():
            break
        d[front] = k
    return d


def bridge_sub_threshold(prob: np.ndarray, fg: np.ndarray, level: float,
                         low_fraction: float = BRIDGE_LEVEL_FRACTION, max_voxels: int = BRIDGE_MAX_VOXELS
                         ) -> tuple[np.ndarray, int]:
    """Join the pieces of a probability map's lumen that a sub-voxel throat cuts apart.

    Along the axis of a narrowing thinner than a voxel the partial-volume fractions stay below the
    threshold (a 0.24 mm throat radius at 0.45 × 0.45 × 0.625 mm voxels reads p ≈ 0.3–0.45), and
    ``p ≥ threshold`` splits the tree there: its distal part is dropped as a second tree or a speck.
    Components of ``fg`` that lie in one component of ``p ≥ low_fraction · level`` are joined by the
    voxels of that lower set on the shortest 26-connected paths between them (at most ``max_voxels``
    long); the paths' voxels are added to ``fg``. The radius there comes from the fractions themselves
    (:mod:`ffrflow.meshing.partial_volume`), not from the threshold.

    Returns the joined mask and the number of voxels added.
    """
    low = prob >= low_fraction * level
    lab_hi, cnt_hi = _components(fg)
    if len(cnt_hi) <= 2:
        return fg, 0
    lab_lo, _ = _components(low)
    pairs = np.unique(np.stack([lab_lo[fg], lab_hi[fg]]), axis=1)
    out = fg.copy()
    added = 0
    for lo_id in np.unique(pairs[0]):
        his = pairs[1][pairs[0] == lo_id]
        if len(his) < 2:
            continue
        box = _bbox(lab_lo == lo_id)
        allowed = lab_lo[box] == lo_id
        sub_hi = lab_hi[box]
        his = sorted(his.tolist(), key=lambda h: -int(cnt_hi[h]))
        union = sub_hi == his[0]
        for h in his[1:]:
            comp = sub_hi == h
            d_a = _geodesic_steps(union, allowed, max_voxels)
            d_b = _geodesic_steps(comp, allowed, max_voxels)
            tot = d_a.astype(np.int32) + d_b
            gap = allowed & ~union & ~comp
            if not gap.any() or int(tot[gap].min()) > max_voxels + 1:
                continue
            bridge = gap & (tot <= int(tot[gap].min()))
            sub = out[box]
            added += int((bridge & ~sub).sum())
            sub |= bridge
            union |= comp | bridge
    return out, added


def fraction_crop(prob_zyx: np.ndarray, labels: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """The probability map on the crop of ``labels`` grown by one voxel (0 beyond the image), 0 outside the
    26-neighbourhood of the kept trees (dropped specks and surplus components vanish): the lumen
    fractions of :attr:`LumenMask.fractions`, float32, shape ``labels.shape + 2``; ``offset`` is the voxel
    index (x, y, z) of ``labels[0, 0, 0]`` in ``prob_zyx`` (Z, Y, X)."""
    from scipy.ndimage import binary_dilation

    shape = np.asarray(labels.shape)
    lo = np.asarray(offset, dtype=np.int64)[::-1] - 1          # z, y, x
    hi = lo + shape + 2
    full = np.asarray(prob_zyx.shape)
    src_lo, src_hi = np.maximum(lo, 0), np.minimum(hi, full)
    out = np.zeros(tuple(shape + 2), dtype=np.float32)
    dst = tuple(slice(int(a - b), int(c - b)) for a, b, c in zip(src_lo, lo, src_hi))
    out[dst] = prob_zyx[tuple(slice(int(a), int(c)) for a, c in zip(src_lo, src_hi))]
    out[~binary_dilation(np.pad(labels > 0, 1), structure=np.ones((3, 3, 3), dtype=bool))] = 0.0
    return out


def nudge_to_labels(fractions: np.ndarray, labels: np.ndarray, threshold: float) -> np.ndarray:
    """A copy of :func:`fraction_crop`'s array with every value moved to the side of ``threshold`` that
    ``labels`` puts it on (by at most one float32 step; the voxels a bridge added are raised to it), so
    that the iso-surface encloses exactly the kept voxels' centres (:attr:`LumenMask.probability`)."""
    out = fractions.copy()
    inside = np.pad(labels > 0, 1)
    level = np.float32(threshold)
    up, down = np.nextafter(level, np.float32(2)), np.nextafter(level, np.float32(-1))
    out[inside] = np.maximum(out[inside], up)
    out[~inside] = np.minimum(out[~inside], down)
    return out


def clean_mask(fg: np.ndarray, offset: np.ndarray, origin: np.ndarray, spacing: np.ndarray, direction: np.ndarray,
               size: tuple, path: str, *, min_component_mm3: float = 5.0, min_component_fraction: float = 0.02,
               max_trees: int | None = 2, max_defect_fraction: float = 2e-3) -> LumenMask:
    """Connected components of a cropped boolean (z, y, x) mask → :class:`LumenMask` (the cleaning of
    :func:`ffrflow.meshing.io.load_image`, whose parameters these are)."""
    voxel_mm3 = float(np.prod(spacing))

    lab, counts = _components(fg)
    total = int(counts[1:].sum())
    order = np.argsort(counts[1:])[::-1] + 1
    largest = int(counts[order[0]])
    keep = [int(c) for c in order
            if counts[c] * voxel_mm3 >= min_component_mm3 and counts[c] >= min_component_fraction * largest]
    if not keep:
        raise InvalidInputError(
            f"{path}: the mask looks like noise: all {len(order)} connected components are specks (the largest "
            f"has {largest} voxels = {largest * voxel_mm3:.3g} mm³; at least {min_component_mm3} mm³ needed)")
    if max_trees is not None and len(keep) > max_trees:
        surplus = keep[max_trees:]
        log.warning("%s: %d components besides the %d largest are dropped (voxels %s)", path, len(surplus),
                    max_trees, [int(counts[c]) for c in surplus[:10]])
        keep = keep[:max_trees]
    lut = np.zeros(len(counts), dtype=np.uint16 if len(keep) > 255 else np.uint8)
    for i, c in enumerate(keep):
        lut[c] = i + 1
    labels = lut[lab]
    del lab
    box2 = _bbox(labels > 0)
    labels = np.ascontiguousarray(labels[box2])
    offset = offset + np.array([box2[2].start, box2[1].start, box2[0].start])
    kept_voxels = int(sum(int(counts[c]) for c in keep))
    dropped = total - kept_voxels
    if dropped:
        log.info("%s: dropped %d foreground voxels in %d small or surplus components", path, dropped,
                 len(order) - len(keep))

    components = []
    for i, c in enumerate(keep):
        n = int(counts[c])
        comp = labels == (i + 1)
        chi = euler_characteristic(comp) if n < 5e7 else 1
        defects = abs(chi - 1)
        if defects > max(50, max_defect_fraction * n):
            raise InvalidInputError(
                f"{path}: the mask looks like noise, not a vessel tree: component {i + 1} ({n} voxels) has "
                f"Euler characteristic {chi} (a solid tree has 1): it is riddled with holes and tunnels")
        components.append({"label": i + 1, "voxels": n, "volume_mm3": round(n * voxel_mm3, 3),
                           "euler_characteristic": int(chi)})
    return LumenMask(labels=labels, offset=offset, origin_mm=np.asarray(origin, float),
                     spacing_mm=np.asarray(spacing, float), direction=np.asarray(direction, float),
                     size=tuple(int(x) for x in size), source=str(path), voxels_dropped=int(dropped),
                     components=components)


def mask_from_surface(poly, *, voxel_mm: float = 0.3, margin_mm: float = 1.0, source: str = "<surface>",
                      **kwargs) -> LumenMask:
    """Voxelise a closed surface (world mm) into a :class:`LumenMask` on an axis-aligned grid.

    A voxel is lumen when its centre is inside the surface (``vtkPolyDataToImageStencil``).

    Parameters
    ----------
    poly : vtkPolyData
        Closed triangle surface, mm.
    voxel_mm : float
        Isotropic voxel size, mm.
    margin_mm : float
        Background margin around the surface's bounding box, mm.
    """
    from .. import _vtk as vtk
    from vtkmodules.util.numpy_support import vtk_to_numpy

    b = np.asarray(poly.GetBounds(), dtype=np.float64).reshape(3, 2)
    origin = b[:, 0] - margin_mm
    dims = np.ceil((b[:, 1] + margin_mm - origin) / voxel_mm).astype(int) + 1
    n = int(np.prod(dims))
    if n > 1_500_000_000:
        raise InvalidInputError(f"{source}: voxelising the surface at {voxel_mm} mm needs {n} voxels; use a "
                                f"coarser voxel size")
    stencil = vtk.vtkPolyDataToImageStencil()
    stencil.SetInputData(poly)
    stencil.SetOutputOrigin(*origin)
    stencil.SetOutputSpacing(voxel_mm, voxel_mm, voxel_mm)
    stencil.SetOutputWholeExtent(0, int(dims[0]) - 1, 0, int(dims[1]) - 1, 0, int(dims[2]) - 1)
    stencil.SetTolerance(0.0)
    to_img = vtk.vtkImageStencilToImage()
    to_img.SetInputConnection(stencil.GetOutputPort())
    to_img.SetInsideValue(1)
    to_img.SetOutsideValue(0)
    to_img.SetOutputScalarTypeToUnsignedChar()
    to_img.Update()
    arr = vtk_to_numpy(to_img.GetOutput().GetPointData().GetScalars()).reshape(dims[::-1]) > 0
    box = _bbox(arr)
    if box is None:
        raise InvalidInputError(f"{source}: the surface encloses no voxel at {voxel_mm} mm (open or too small)")
    fg = np.ascontiguousarray(arr[box])
    offset = np.array([box[2].start, box[1].start, box[0].start], dtype=np.int64)
    return clean_mask(fg, offset, origin, np.full(3, float(voxel_mm)), np.eye(3), tuple(int(x) for x in dims),
                      source, **kwargs)
