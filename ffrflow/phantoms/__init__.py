"""Synthetic coronary trees with known lesions: networks, truth, voxel masks and batch manifests of them
(:func:`make_phantom_manifest`).

The phantoms are the project's ground truth: a :class:`Phantom` holds a vessel network in the
``ffrflow-network/1`` format (docs/formats.md §Network format) *without* a ``lesions`` block, so that the engine has to
find the stenoses itself, and the exact truth of every lesion (MLD, reference diameter, %DS, %AS,
length, position from the ostium, world coordinates of the MLD). :func:`voxelize`
(:mod:`ffrflow.meshing.voxelize`) turns any network into a binary lumen mask, or an exact
partial-volume lumen probability map, with a chosen image geometry (origin, anisotropic spacing, oblique direction), so that the whole pipeline, mask →
surface → centerline → network → FFR, can be checked against a known answer.

Units: lengths, coordinates and radii in mm, world coordinates LPS (as in DICOM and SimpleITK);
angles in degrees; percentages in %.

Anatomy
-------
The trees lie on an ellipsoidal "heart" (semi-axes 60 × 45 × 45 mm, long axis from base to apex
pointing left, anterior and inferior). A point on the surface is given by its polar angle
``alpha`` (degrees from the apex, 180 at the base) and its azimuth ``phi`` (degrees about the long
axis, 0 anterior, positive towards the patient's left). The LAD runs down the anterior
interventricular groove and wraps round the apex, the LCx follows the left atrioventricular groove,
the RCA the right atrioventricular groove to the crux, where it divides into the PDA (down the
posterior interventricular groove) and a posterolateral branch. Each centerline point sits at the
surface plus the healthy vessel radius along the surface normal.

Radii taper exponentially along each course (a run of segments of one artery) and step down at
every branch point by a Murray-type law with exponent :data:`MURRAY_EXPONENT` (n = 7/3, Huo &
Kassab): ``r_parent**n = sum(r_child**n)``.

Lesions
-------
A lesion of diameter stenosis ``d = ds_pct / 100``, centre ``c`` and length ``L`` narrows the healthy
radius ``r_ref(s)`` to

.. math::

    r(s) = r_{ref}(s) - g\\left(\\frac{s - c}{L}\\right)\\,\\bigl(r_{ref}(s) - (1 - d)\\,r_{ref}(c)\\bigr),

with a bump ``g`` (``g(0) = 1``, ``0 <= g < 1`` elsewhere, zero outside the support, decreasing
in ``|s - c|``). This is ``r_ref(s) (1 - d g)`` up to a second-order correction that accounts for the
taper of ``r_ref`` across the lesion, and it makes the minimal lumen radius exactly
``(1 - d) r_ref(c)`` at exactly ``s = c`` (where a centerline point is placed), whatever the taper.
Shapes:

``cosine``
    ``g(x) = (1 + cos 2 pi x) / 2`` on ``|x| <= 1/2``.
``gaussian``
    a Gaussian core (sigma = 0.2 L) truncated smoothly (C-infinity) by the bump
    ``exp(1 - 1 / (1 - 4 x^2))`` on ``|x| <= 1/2``.
``asymmetric``
    a cosine bump with a steep inlet (0.3 L before the throat) and a long outlet (0.7 L after it):
    the lesion spans ``[c - 0.3 L, c + 0.7 L]``, the MLD is still at ``c``.

Examples
--------
>>> from ffrflow.phantoms import LesionSpec, left_tree
>>> ph = left_tree([LesionSpec("LAD_p", center_mm=12.5, length_mm=10.0, ds_pct=70.0)])
>>> les = ph.lesions[0]
>>> round(les["diameter_stenosis_pct"], 6), round(les["area_stenosis_pct"], 6)
(70.0, 91.0)
>>> sorted(ph.network.roots)
['LM']
"""

from __future__ import annotations

from ..meshing.voxelize import voxelize
from .anatomy import (DEMO_LESIONS, HEART_CENTER_MM, HEART_LONG_AXIS, HEART_SEMI_AXES_MM, coronary_tree, demo_case,
                      left_tree, right_tree)
from .lesions import (ASYMMETRIC_INLET_FRACTION, GAUSSIAN_SIGMA_FRACTION, LESION_END_CLEARANCE_MM, LESION_SHAPES,
                      MURRAY_EXPONENT, POINT_SPACING_MM, TRUTH_FORMAT, LesionSpec, Phantom, narrow, write_mask)
from .manifest import make_phantom_manifest
from .random_trees import random_tree

__all__ = [
    "LesionSpec", "Phantom", "left_tree", "right_tree", "coronary_tree", "demo_case", "random_tree", "narrow",
    "voxelize", "write_mask", "MURRAY_EXPONENT", "HEART_SEMI_AXES_MM", "POINT_SPACING_MM",
    "HEART_CENTER_MM", "HEART_LONG_AXIS", "LESION_END_CLEARANCE_MM", "ASYMMETRIC_INLET_FRACTION",
    "GAUSSIAN_SIGMA_FRACTION", "LESION_SHAPES", "TRUTH_FORMAT", "DEMO_LESIONS", "make_phantom_manifest",
]
