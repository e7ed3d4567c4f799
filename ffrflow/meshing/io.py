"""Read lumen masks and surfaces with their geometry (docs/formats.md §Lumen masks and surfaces).

Masks are read with SimpleITK, which keeps the image geometry exactly: ``origin`` (mm), ``spacing``
(mm, anisotropic allowed) and the ``direction`` matrix (oblique allowed). World coordinates are LPS
millimetres as ITK reports them:

.. math::

    \\mathbf{x}_{world} = \\mathbf{o} + D \\, \\mathrm{diag}(\\mathbf{s}) \\, \\mathbf{i}

with :math:`\\mathbf{i} = (i, j, k)` the continuous voxel index (x fastest). A NIfTI's RAS affine is
converted to LPS by SimpleITK itself. Patient identifiers in DICOM headers are never read into the
returned objects.

The lumen is ``label > 0`` (or ``== label``); connected components (26-connectivity) are found, specks
are dropped (and counted), and at most ``max_trees`` trees are kept (left and right coronary trees).

A floating-point volume is told apart by its values (:func:`volume_kind`): only 0 and 1 is a binary
mask; values in [0, 1] are a lumen probability map (the soft output of nnU-Net, TotalSegmentator,
MONAI, or exact partial-volume fractions), whose lumen is ``p >= threshold`` (default
:data:`PROBABILITY_THRESHOLD`) and whose values around the kept trees are kept
(:attr:`LumenMask.probability`) for the sub-voxel iso-surface; integers >= 0 are a label volume
stored as floats; anything else (a CT in Hounsfield units, say) is refused.
"""

from __future__ import annotations

import gzip
import logging
import struct
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InvalidInputError
from ..network import VesselNetwork
from ..vtkio import read_centerline_file, read_polydata, read_vtk_file

log = logging.getLogger("ffrflow.meshing")

#: File name endings read as images by :func:`load_image`.
IMAGE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm", ".dicom", ".ima")
#: File name endings read as surfaces by :func:`load_surface`.
SURFACE_SUFFIXES = (".stl", ".vtp", ".obj", ".vtk")
#: A surface whose bounding-box diagonal is below this many units is taken to be in metres.
METRE_DIAGONAL_LIMIT = 1.0
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


# ---------------------------------------------------------------------------------------------- images
def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def read_image(path: str | Path):
    """Read an image file or a DICOM series folder with SimpleITK, geometry kept.

    Parameters
    ----------
    path : str or Path
        NIfTI, NRRD, MHA/MHD or a single DICOM file (DICOM-SEG included, read as a plain multi-frame
        image), or a folder holding one DICOM series (the series with the most files is read when
        there are several).

    Returns
    -------
    SimpleITK.Image

    Raises
    ------
    InvalidInputError
        Missing file, empty folder, unreadable or truncated file, not a 3D image.
    """
    import SimpleITK as sitk

    path = Path(path)
    if not path.exists():
        raise InvalidInputError(f"{path}: no such file or folder")
    try:
        if path.is_dir():
            reader = sitk.ImageSeriesReader()
            ids = reader.GetGDCMSeriesIDs(str(path))
            if not ids:
                raise InvalidInputError(f"{path}: folder holds no DICOM series")
            files = {sid: reader.GetGDCMSeriesFileNames(str(path), sid) for sid in ids}
            sid = max(files, key=lambda k: len(files[k]))
            if len(ids) > 1:
                log.warning("%s: %d DICOM series; reading the largest (%d files)", path, len(ids),
                            len(files[sid]))
            reader.SetFileNames(files[sid])
            reader.MetaDataDictionaryArrayUpdateOff()   # no header tags (patient identifiers) kept
            reader.LoadPrivateTagsOff()
            image = reader.Execute()
        else:
            if path.stat().st_size == 0:
                raise InvalidInputError(f"{path}: file is empty")
            if _suffix(path) in (".nii", ".nii.gz"):
                check_nifti_complete(path)
            reader = sitk.ImageFileReader()
            reader.SetFileName(str(path))
            reader.ReadImageInformation()
            if reader.HasMetaDataKey("0008|0060") and reader.GetMetaData("0008|0060").strip().upper() == "SEG":
                log.warning("%s: DICOM-SEG read as one multi-frame volume; segments are not told apart (pass "
                            "--label for a label value) and per-frame positions must be evenly spaced", path)
            image = reader.Execute()
    except InvalidInputError:
        raise
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = next((ln.strip() for ln in first if "rror" in ln or "nable" in ln), first[-1] if first else "")
        kind = "not a readable image (or truncated)"
        if "Unable to determine ImageIO reader" in str(exc):
            kind = "not an image format SimpleITK can read"
        raise InvalidInputError(f"{path}: {kind}: {detail[:300]}") from None
    if image.GetDimension() == 4 and image.GetSize()[3] == 1:
        image = image[:, :, :, 0]
    if image.GetDimension() != 3:
        raise InvalidInputError(f"{path}: expected a 3D volume, got a {image.GetDimension()}D image of size "
                                f"{image.GetSize()}")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InvalidInputError(f"{path}: expected a scalar label volume, got "
                                f"{image.GetNumberOfComponentsPerPixel()} components per voxel")
    return image


def check_nifti_complete(path: str | Path) -> None:
    """Raise :class:`InvalidInputError` when a NIfTI file holds fewer voxel bytes than its header says.

    ITK reads a truncated NIfTI without complaint (the missing voxels come back as zeros), so the
    length is checked here: the header's ``vox_offset + prod(dim) * bitpix / 8`` against the file
    size (``.nii``) or the decompressed stream length (``.nii.gz``, which also catches a cut gzip).
    """
    path = Path(path)
    opener = gzip.open if _suffix(path) == ".nii.gz" else open
    try:
        with opener(path, "rb") as f:
            head = f.read(540)
            if len(head) < 348:
                raise InvalidInputError(f"{path}: truncated NIfTI: {len(head)} bytes, shorter than the header")
            for endian in "<>":
                n = struct.unpack(endian + "i", head[:4])[0]
                if n in (348, 540):
                    break
            else:
                return                      # not a NIfTI header; let SimpleITK say what it is
            if n == 348:
                dim = struct.unpack(endian + "8h", head[40:56])
                bitpix = struct.unpack(endian + "h", head[72:74])[0]
                offset = int(struct.unpack(endian + "f", head[108:112])[0])
            else:
                if len(head) < 540:
                    raise InvalidInputError(f"{path}: truncated NIfTI-2 header")
                dim = struct.unpack(endian + "8q", head[16:80])
                bitpix = struct.unpack(endian + "h", head[14:16])[0]
                offset = int(struct.unpack(endian + "q", head[168:176])[0])
            nd = int(dim[0])
            if not 1 <= nd <= 7 or any(int(d) < 1 for d in dim[1:nd + 1]) or bitpix <= 0:
                raise InvalidInputError(f"{path}: invalid NIfTI header (dim={list(dim)}, bitpix={bitpix})")
            need = max(offset, n) + int(np.prod([int(d) for d in dim[1:nd + 1]], dtype=np.int64)) * bitpix // 8
            if opener is open:
                have = path.stat().st_size
            else:
                have = len(head)
                while True:
                    chunk = f.read(1 << 22)
                    if not chunk:
                        break
                    have += len(chunk)
    except gzip.BadGzipFile:
        raise InvalidInputError(f"{path}: not an image: the file is not gzip-compressed NIfTI") from None
    except (EOFError, OSError, zlib.error) as exc:
        raise InvalidInputError(f"{path}: truncated or corrupt compressed NIfTI ({exc})") from None
    if have < need:
        raise InvalidInputError(f"{path}: truncated NIfTI: the header describes {need} bytes of data, the file "
                                f"holds {have}")


def image_geometry(image) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
    """``(origin_mm, spacing_mm, direction (3, 3), size)`` of a SimpleITK image."""
    origin = np.asarray(image.GetOrigin(), dtype=np.float64)
    spacing = np.asarray(image.GetSpacing(), dtype=np.float64)
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    return origin, spacing, direction, tuple(int(s) for s in image.GetSize())


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


def load_image(path: str | Path, label: int | None = None, *, threshold: float | None = None,
               min_component_mm3: float = 5.0, min_component_fraction: float = 0.02, max_trees: int | None = 2,
               max_defect_fraction: float = 2e-3) -> LumenMask:
    """Read a lumen mask, label volume or lumen probability map and keep its coronary trees.

    Parameters
    ----------
    path : str or Path
        ``.nii``/``.nii.gz``/``.nrrd``/``.mha``/``.mhd``/DICOM file, or a DICOM series folder.
    label : int, optional
        Lumen label; default: every voxel > 0 is lumen. Not for a probability map.
    threshold : float, optional
        Lumen level of a probability map, in (0, 1): the lumen is ``p >= threshold`` (default
        :data:`PROBABILITY_THRESHOLD`) and the surface is the iso-surface of ``p`` at that level. A
        binary mask stored as floats (only 0 and 1) accepts it and is unchanged by it; an integer
        label volume refuses it.
    min_component_mm3 : float
        Components smaller than this volume (mm³) are specks and dropped.
    min_component_fraction : float
        Components smaller than this fraction of the largest one are dropped too.
    max_trees : int or None
        Keep at most this many components (the largest; default 2: left and right trees).
    max_defect_fraction : float
        A kept component whose topology departs from a solid tree (|χ − 1|, tunnels and cavities)
        by more than this fraction of its voxels (and more than 50) is rejected as noise.

    Returns
    -------
    LumenMask
        With :attr:`~LumenMask.probability` and :attr:`~LumenMask.threshold` for a probability map.

    Raises
    ------
    InvalidInputError
        Missing file, non-image file, truncated file, a label that is not present, an empty mask,
        a mask of noise (only specks, or a component riddled with holes), a floating-point volume
        that is neither a mask nor a probability map (:func:`volume_kind`), ``label`` or ``threshold``
        where they do not apply, or both at once.

    Examples
    --------
    >>> m = load_image("case.nii.gz")                           # doctest: +SKIP
    >>> m.n_trees, m.voxels_dropped                              # doctest: +SKIP
    (2, 17)
    >>> load_image("lumen_probability.nii.gz", threshold=0.4).threshold   # doctest: +SKIP
    0.4
    """
    import SimpleITK as sitk

    path = Path(path)
    if label is not None and threshold is not None:
        raise InvalidInputError(f"{path}: --label and --threshold exclude each other: --label picks one label of a "
                                f"label volume, --threshold the lumen level of a probability map")
    if threshold is not None:
        threshold = _check_threshold(threshold)
    image = read_image(path)
    origin, spacing, direction, size = image_geometry(image)
    if (spacing <= 0).any() or not np.isfinite(spacing).all():
        raise InvalidInputError(f"{path}: invalid voxel spacing {tuple(spacing)}")
    if abs(np.linalg.det(direction)) < 1e-6:
        raise InvalidInputError(f"{path}: singular direction matrix {direction.tolist()}")
    arr = sitk.GetArrayViewFromImage(image)
    kind = volume_kind(arr, str(path))
    if kind == "probability":
        if label is not None:
            raise InvalidInputError(f"{path}: --label {label} picks a label of a label volume, but this is a lumen "
                                    f"probability map (floating-point values in [0, 1], not only 0 and 1); leave "
                                    f"--label out (--threshold sets the lumen level, default "
                                    f"{PROBABILITY_THRESHOLD})")
        level = PROBABILITY_THRESHOLD if threshold is None else threshold
        fg = arr >= level
    else:
        if threshold is not None:
            if kind == "label":
                raise InvalidInputError(f"{path}: --threshold {threshold} applies to a lumen probability map "
                                        f"(floating-point values in [0, 1]); this is a label volume "
                                        f"({arr.dtype} values {float(arr.min()):.6g} to {float(arr.max()):.6g})")
            log.info("%s: a binary mask stored as floats (only 0 and 1): threshold %g selects the same voxels",
                     path, threshold)
        fg = arr > 0 if label is None else arr == label
    box = _bbox(fg)
    if box is None:
        if kind == "probability":
            raise InvalidInputError(f"{path}: empty mask: no voxel of the probability map reaches the threshold "
                                    f"{level} (largest value {float(arr.max()):.6g})")
        if label is not None:
            present = np.unique(arr)[:20].tolist()
            raise InvalidInputError(f"{path}: label {label} is not present in the volume (values present: "
                                    f"{present})")
        raise InvalidInputError(f"{path}: empty mask: no voxel is > 0")
    fg = np.ascontiguousarray(fg[box])
    offset = np.array([box[2].start, box[1].start, box[0].start], dtype=np.int64)
    mask = clean_mask(fg, offset, origin, spacing, direction, size, str(path),
                      min_component_mm3=min_component_mm3, min_component_fraction=min_component_fraction,
                      max_trees=max_trees, max_defect_fraction=max_defect_fraction)
    if kind == "probability":
        mask.probability = probability_crop(arr, mask.labels, mask.offset, level)
        mask.threshold = level
        log.info("%s: lumen probability map, lumen at p >= %g", path, level)
    del arr, image          # the array view must not outlive the image
    return mask


def probability_crop(prob_zyx: np.ndarray, labels: np.ndarray, offset: np.ndarray, threshold: float) -> np.ndarray:
    """The probability around the kept trees, ready for the iso-surface (see :attr:`LumenMask.probability`).

    Parameters
    ----------
    prob_zyx : ndarray, shape (Z, Y, X)
        The whole probability map (values 0–1).
    labels : ndarray, shape (nz, ny, nx)
        The kept trees (> 0) on the crop.
    offset : (3,) int
        Voxel index (x, y, z) of ``labels[0, 0, 0]`` in ``prob_zyx``.
    threshold : float
        Lumen level.

    Returns
    -------
    ndarray of float32, shape (nz + 2, ny + 2, nx + 2)
        ``prob_zyx`` on the crop grown by one voxel (0 beyond the image), 0 outside the 26-neighbourhood
        of the kept trees (dropped specks and surplus components vanish from the surface), and every
        value moved to the side of ``threshold`` that ``labels`` puts it on (by at most one float32 step),
        so that the iso-surface encloses exactly the kept voxels' centres.
    """
    from scipy.ndimage import binary_dilation

    shape = np.asarray(labels.shape)
    lo = np.asarray(offset, dtype=np.int64)[::-1] - 1          # z, y, x
    hi = lo + shape + 2
    full = np.asarray(prob_zyx.shape)
    src_lo, src_hi = np.maximum(lo, 0), np.minimum(hi, full)
    out = np.zeros(tuple(shape + 2), dtype=np.float32)
    dst = tuple(slice(int(a - b), int(c - b)) for a, b, c in zip(src_lo, lo, src_hi))
    out[dst] = prob_zyx[tuple(slice(int(a), int(c)) for a, c in zip(src_lo, src_hi))]
    inside = np.pad(labels > 0, 1)
    out[~binary_dilation(inside, structure=np.ones((3, 3, 3), dtype=bool))] = 0.0
    level = np.float32(threshold)
    up, down = np.nextafter(level, np.float32(2)), np.nextafter(level, np.float32(-1))
    out[inside] = np.maximum(out[inside], up)
    out[~inside] = np.minimum(out[~inside], down)
    return out


def clean_mask(fg: np.ndarray, offset: np.ndarray, origin: np.ndarray, spacing: np.ndarray, direction: np.ndarray,
               size: tuple, path: str, *, min_component_mm3: float = 5.0, min_component_fraction: float = 0.02,
               max_trees: int | None = 2, max_defect_fraction: float = 2e-3) -> LumenMask:
    """Connected components of a cropped boolean (z, y, x) mask → :class:`LumenMask` (see :func:`load_image`)."""
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


def mask_from_array(labels_zyx: np.ndarray, *, spacing_mm: Sequence[float] = (1.0, 1.0, 1.0),
                    origin_mm: Sequence[float] = (0.0, 0.0, 0.0), direction: np.ndarray | None = None,
                    source: str = "<array>", **kwargs) -> LumenMask:
    """Build a :class:`LumenMask` from an in-memory (z, y, x) array (same cleaning as :func:`load_image`).

    The array is written to a temporary MHA file and read back, so that both paths share one code.
    """
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(np.asarray(labels_zyx).astype(np.uint8))
    img.SetSpacing([float(s) for s in spacing_mm])
    img.SetOrigin([float(o) for o in origin_mm])
    if direction is not None:
        img.SetDirection([float(v) for v in np.asarray(direction, dtype=float).ravel()])
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "mask.mha"
        sitk.WriteImage(img, str(p), True)
        m = load_image(p, **kwargs)
    m.source = source
    return m


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


# ---------------------------------------------------------------------------------------------- surfaces
def load_surface(path: str | Path, *, metre_limit: float = METRE_DIAGONAL_LIMIT) -> tuple:
    """Read a triangle surface (STL, VTP, OBJ, legacy VTK) in world millimetres.

    Parameters
    ----------
    path : str or Path
        Surface file.
    metre_limit : float
        A surface whose bounding-box diagonal is below this value is taken to be in metres and
        scaled by 1000 (a warning is logged): a coronary tree in mm spans tens of millimetres.

    Returns
    -------
    polydata : vtkPolyData
        Triangulated surface, mm.
    info : dict
        ``{"source", "points", "triangles", "scaled_from_m": bool, "bounds_mm"}``.

    Raises
    ------
    InvalidInputError
        Missing file, unknown suffix, unreadable or empty surface.
    """
    from .. import _vtk as vtk

    path = Path(path)
    suf = path.suffix.lower()
    readers = {".stl": vtk.vtkSTLReader, ".vtp": vtk.vtkXMLPolyDataReader, ".obj": vtk.vtkOBJReader,
               ".vtk": vtk.vtkPolyDataReader}
    poly = read_vtk_file(path, readers, f"unknown surface format {suf!r}; expected one of {sorted(readers)}")
    if poly is None or poly.GetNumberOfPoints() == 0 or poly.GetNumberOfPolys() == 0:
        raise InvalidInputError(f"{path}: not a readable {suf[1:].upper()} surface (no triangles read)")
    tri = vtk.vtkTriangleFilter()
    tri.SetInputData(poly)
    tri.PassVertsOff()
    tri.PassLinesOff()
    clean = vtk.vtkCleanPolyData()
    clean.SetInputConnection(tri.GetOutputPort())
    clean.Update()
    out = vtk.vtkPolyData()
    out.ShallowCopy(clean.GetOutput())
    from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy

    pts = vtk_to_numpy(out.GetPoints().GetData()).astype(np.float64)
    if not np.isfinite(pts).all():
        raise InvalidInputError(f"{path}: surface has NaN or infinite coordinates")
    diag = float(np.linalg.norm(pts.max(axis=0) - pts.min(axis=0)))
    scaled = False
    if diag < metre_limit:
        log.warning("%s: surface spans only %.4g units; taking it to be in metres and scaling to mm", path, diag)
        pts = pts * 1000.0
        p = vtk.vtkPoints()
        p.SetData(numpy_to_vtk(pts, deep=True))
        out.SetPoints(p)
        scaled = True
    info = {"source": str(path), "points": int(out.GetNumberOfPoints()), "triangles": int(out.GetNumberOfPolys()),
            "scaled_from_m": scaled, "bounds_mm": [float(b) for b in out.GetBounds()]}
    return out, info


# ---------------------------------------------------------------------------------------------- centerlines
def polydata_kind(path: str | Path) -> str:
    """``"surface"`` or ``"centerlines"``: what a ``.vtp``/``.vtk`` file holds.

    A file with polygons (triangles) is a surface; one with polylines and no polygons is a set of
    centerlines. Raises :class:`InvalidInputError` for a file with neither.
    """
    path = Path(path)
    poly = read_polydata(path)
    if poly.GetNumberOfPolys() > 0 or poly.GetNumberOfStrips() > 0:
        return "surface"
    if poly.GetNumberOfLines() > 0:
        return "centerlines"
    raise InvalidInputError(f"{path}: holds neither triangles (a surface) nor polylines (centerlines)")


def load_centerlines(path: str | Path, *, radius_array: str | None = None, ostia=None,
                     tolerance_mm: float = 1e-3, units: str | None = None):
    """Read centerline polylines with a radius array (legacy VTK or VTP) as a :class:`VesselNetwork`.

    Polylines that meet at their end points (or end on another polyline, which is then split
    there) form the branch graph; pass-through nodes (two segments) are merged; each connected
    tree is oriented from its ostium: the end nearest a given ostium point, else the free end with
    the largest radius. Vessel ids are ``T<tree>V<n>`` in breadth-first order from the ostium
    (``V1`` is the root); the side of two trees is decided by the network (larger ostium = left).

    Parameters
    ----------
    path : str or Path
        ``.vtk`` (legacy) or ``.vtp`` file of polylines with a radius array, coordinates and radius
        in one length unit.
    radius_array : str, optional
        Name of the point array holding the radius; default: the first of
        :data:`ffrflow.vtkio.RADIUS_ARRAY_NAMES` present (case-insensitive; the file is read by
        :func:`ffrflow.vtkio.read_centerline_file`).
    ostia : sequence of (x, y, z), optional
        Ostium points, mm, at most one per tree.
    tolerance_mm : float
        Points closer than this are the same node.
    units : {"mm", "cm", "m"} or None
        Length unit of the file; None (default) infers it from the radii
        (:func:`ffrflow.plausibility.resolve_units`).

    Returns
    -------
    VesselNetwork
        With ``meta["source"]``, ``meta["produced_by"] = "ffrflow.meshing.io.load_centerlines"`` and
        ``meta["units"]`` (the unit used and why).

    Raises
    ------
    InvalidInputError
        No polylines, no radius array, a radius ≤ 0 or not finite, a closed loop (not a tree), a
        unit that cannot be told.

    Examples
    --------
    >>> net = load_centerlines("227A_Centreline.vtk")                 # doctest: +SKIP
    >>> len(net.vessels), len(net.outlets)                            # doctest: +SKIP
    (7, 4)
    """
    import networkx as nx
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    cl = read_centerline_file(path, radius_array, units)
    path, pts, rad, decision, radius_array = cl.path, cl.points_mm, cl.radius_mm, cl.units, cl.radius_array
    # merge coincident points into node ids (the smallest point index of each cluster)
    pairs = cKDTree(pts).query_pairs(tolerance_mm, output_type="ndarray")
    _, comp = connected_components(coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])),
                                              shape=(len(pts), len(pts))), directed=False)
    first = np.full(comp.max() + 1, len(pts))
    np.minimum.at(first, comp, np.arange(len(pts)))
    node = first[comp]
    lines = []
    for _, ids in cl.lines:
        seq = [int(node[i]) for i in ids]
        seq = [p for k, p in enumerate(seq) if k == 0 or p != seq[k - 1]]
        if len(seq) >= 2:
            lines.append(seq)
    if not lines:
        raise InvalidInputError(f"{path}: every polyline has fewer than two distinct points")
    ends = {ln[0] for ln in lines} | {ln[-1] for ln in lines}
    # split polylines at interior points where another polyline ends
    pieces = []
    for ln in lines:
        cut = [0] + [k for k in range(1, len(ln) - 1) if ln[k] in ends] + [len(ln) - 1]
        pieces += [ln[a:b + 1] for a, b in zip(cut[:-1], cut[1:])]
    g = nx.MultiGraph()
    for k, pc in enumerate(pieces):
        g.add_edge(pc[0], pc[-1], key=k)
    if any(pc[0] == pc[-1] for pc in pieces) or not nx.is_forest(nx.Graph(g)) or g.number_of_edges() != \
            nx.Graph(g).number_of_edges():
        raise InvalidInputError(f"{path}: the polylines form a closed loop; a coronary network must be a tree")
    seeds = [np.asarray(o, dtype=np.float64) for o in (ostia or [])]
    vessels: list[dict] = []
    comps = sorted(nx.connected_components(g), key=lambda c: -sum(len(pieces[k]) for _, _, k in g.edges(c, keys=True)))
    for t, comp in enumerate(comps, start=1):
        leaves = [n for n in comp if g.degree(n) == 1]
        near = [(float(np.linalg.norm(pts[n] - s)), n) for s in seeds for n in leaves]
        if near and min(near)[0] < 10.0 * float(rad[leaves].max()):
            root = min(near)[1]
        else:
            root = max(leaves, key=lambda n: rad[n])
        # walk from the root; merge chains through degree-2 nodes into one vessel
        count = 0
        queue = [(root, None)]
        used = set()
        while queue:
            start, parent_id = queue.pop(0)
            for _, nb, k in sorted(g.edges(start, keys=True), key=lambda e: e[2]):
                if k in used:
                    continue
                chain = []
                cur, key = start, k
                while True:
                    used.add(key)
                    pc = pieces[key]
                    seq = pc if pc[0] == cur else pc[::-1]
                    chain += seq if not chain else seq[1:]
                    cur = seq[-1]
                    nxt = [e for e in g.edges(cur, keys=True) if e[2] not in used]
                    if g.degree(cur) != 2 or len(nxt) != 1:
                        break
                    key = nxt[0][2]
                count += 1
                vid = f"T{t}V{count}"
                vessels.append({"id": vid, "parent": parent_id, "points": pts[chain].tolist(),
                                "radius": rad[chain].tolist()})
                queue.append((cur, vid))
    net = VesselNetwork.from_dict({"format": "ffrflow-network/1", "units": "mm", "vessels": vessels},
                                  source=str(path))
    net.meta.update({"source": str(path), "produced_by": "ffrflow.meshing.io.load_centerlines",
                     "radius_array": radius_array, "units": decision})
    return net
