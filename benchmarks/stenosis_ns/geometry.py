"""Radius profiles of the stenosis families and the axial/radial node layout of the wedge mesh.

All lengths here are in metres (SI inside); the JSON tables carry millimetres.

Shapes (``lesion_radius_m``), each with ``r(0) = r(L) = r0`` and ``min r = r0 sqrt(1 - AS)``
exactly, where AS is the area stenosis as a fraction:

- ``cosine``: :math:`r = r_0 - d\\,(1 - \\cos(2\\pi z/L))/2`, throat at ``L/2``;
- ``gaussian``: :math:`r = r_0 - d\\,(g(z) - g_e)/(1 - g_e)`, :math:`g = \\exp(-(z - L/2)^2/(2\\sigma^2))`,
  :math:`\\sigma = L/6`, :math:`g_e = g(0)`, so the radius returns to ``r0`` exactly at both ends;
- ``asymmetric``: steep half-cosine inlet ramp over ``0.2 L``, a straight throat over ``0.1 L``
  (throat centre at ``0.25 L``), long half-cosine outlet ramp over ``0.7 L``;
- ``diffuse``: smooth-step ramps (half-cosine) over ``0.35 L`` each side and a flat narrowed
  plateau over the middle ``0.3 L``;
- ``tandem``: two cosine lesions of lengths ``L1`` and ``L2`` (area stenoses ``as1``, ``as2``)
  separated by a straight gap; the stated area stenosis is that of the tighter one.

Here ``d = r0 - r_min``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

SHAPES = ("tube", "cosine", "gaussian", "asymmetric", "diffuse", "tandem")


@dataclass(frozen=True)
class Geometry:
    """One rigid axisymmetric geometry: reference radius, lesion shape and its length.

    Parameters
    ----------
    shape : str
        One of :data:`SHAPES`.
    r0_m : float
        Reference (healthy) radius in m.
    area_stenosis : float
        Area stenosis as a fraction, ``1 - (r_min/r0)^2`` (0 for ``tube``).
    length_m : float
        Lesion length in m, from its start (z = 0) to its end (z = L). For ``tandem`` it is the
        total ``L1 + gap + L2``.
    extra : dict
        Shape parameters: for ``tandem`` ``{"l1_m", "gap_m", "l2_m", "as1", "as2"}`` with
        ``area_stenosis == max(as1, as2)`` and ``length_m == l1 + gap + l2``.
    """

    shape: str
    r0_m: float
    area_stenosis: float
    length_m: float
    extra: dict = field(default_factory=dict)

    @property
    def r_min_m(self) -> float:
        return self.r0_m * math.sqrt(1.0 - self.area_stenosis)

    def radius_m(self, z_m):
        """Wall radius (m) at axial positions ``z_m`` (m); ``r0`` outside ``[0, L]``."""
        z = np.asarray(z_m, dtype=float)
        r = np.full_like(z, self.r0_m)
        if self.shape == "tube":
            return r
        inside = (z > 0.0) & (z < self.length_m)
        r[inside] = lesion_radius_m(self, z[inside])
        return r

    def throat_z_m(self) -> float:
        """Axial position (m) of the narrowest section (first one for tandem/plateaus)."""
        z = np.linspace(0.0, self.length_m, 20001)
        return float(z[np.argmin(self.radius_m(z))])


def _cos_bump(t):
    """0 at t = 0 and 1, 1 at t = 1/2: (1 - cos 2 pi t)/2."""
    return 0.5 * (1.0 - np.cos(2.0 * np.pi * t))


def _ramp(t):
    """Smooth step 0 → 1 for t in [0, 1]: (1 - cos pi t)/2."""
    return 0.5 * (1.0 - np.cos(np.pi * np.clip(t, 0.0, 1.0)))


def lesion_radius_m(g: Geometry, z):
    """Radius (m) inside the lesion ``0 <= z <= L`` for the shape of ``g`` (see module docstring)."""
    z = np.asarray(z, dtype=float)
    r0, L = g.r0_m, g.length_m
    d = r0 - g.r_min_m
    if g.shape == "cosine":
        return r0 - d * _cos_bump(z / L)
    if g.shape == "gaussian":
        sig = L / 6.0
        ge = math.exp(-((L / 2) ** 2) / (2 * sig**2))
        gz = np.exp(-((z - L / 2) ** 2) / (2 * sig**2))
        return r0 - d * (gz - ge) / (1.0 - ge)
    if g.shape == "asymmetric":
        a, b = 0.2 * L, 0.3 * L  # inlet ramp end, throat end
        s = np.where(z < a, _ramp(z / a), np.where(z <= b, 1.0, 1.0 - _ramp((z - b) / (L - b))))
        return r0 - d * s
    if g.shape == "diffuse":
        a, b = 0.35 * L, 0.65 * L
        s = np.where(z < a, _ramp(z / a), np.where(z <= b, 1.0, 1.0 - _ramp((z - b) / (L - b))))
        return r0 - d * s
    if g.shape == "tandem":
        l1, gap, l2, as1, as2 = (g.extra[k] for k in ("l1_m", "gap_m", "l2_m", "as1", "as2"))
        d1 = r0 - r0 * math.sqrt(1.0 - as1)
        d2 = r0 - r0 * math.sqrt(1.0 - as2)
        r = np.full_like(z, r0)
        m1 = z < l1
        r[m1] = r0 - d1 * _cos_bump(z[m1] / l1)
        m2 = z > l1 + gap
        r[m2] = r0 - d2 * _cos_bump((z[m2] - l1 - gap) / l2)
        return r
    raise ValueError(f"unknown shape {g.shape!r}; expected one of {SHAPES}")


@dataclass(frozen=True)
class MeshSpec:
    """Resolution of the structured wedge mesh (all spacings relative to ``r0``).

    Parameters
    ----------
    n_radial : int
        Least number of cells from the axis to the wall (the same at every z, so the throat is
        refined too); see :meth:`radial_cells`.
    throat_cells : float
        Severe lesions get more radial cells: ``max(n_radial, ceil(throat_cells r0 / r_min))``,
        so that the jet leaving the throat (radius ``r_min``) is always crossed by about
        ``throat_cells`` cells; the mesh-convergence study showed the drop of a 90 % stenosis at
        high flow to depend mostly on this radial resolution.
    radial_grading : float
        Ratio of the wall cell to the axis cell height (< 1 refines toward the wall).
    dz_lesion : float
        Axial spacing over the lesion and its immediate surroundings, in units of ``r0``; it is
        further capped at ``dz_throat * r_min``.
    dz_throat : float
        Cap of the lesion spacing relative to the throat radius.
    dz_max : float
        Largest axial spacing far from the lesion, in units of ``r0``.
    growth : float
        Rate at which the axial spacing grows away from the lesion (per unit ``z/r0``, in units of
        ``r0``): ``dz(z) = dz_lesion + growth * distance``, capped at ``dz_max``.
    dz_far : float
        Largest axial spacing (units of ``r0``) in the tail beyond ``2 r0`` past the downstream
        sampling plane, reached with slope ``growth_far``.
    growth_far : float
        Growth rate of the spacing in that tail.
    """

    n_radial: int = 30
    throat_cells: float = 16.0
    radial_grading: float = 0.5
    dz_lesion: float = 0.05
    dz_throat: float = 0.2
    dz_max: float = 0.2
    growth: float = 0.03
    dz_far: float = 0.5
    growth_far: float = 0.05

    def refined(self, factor: float = 2.0) -> "MeshSpec":
        """The same mesh with every cell size divided by ``factor`` in each direction."""
        return MeshSpec(n_radial=int(round(self.n_radial * factor)), throat_cells=self.throat_cells * factor,
                        radial_grading=self.radial_grading,
                        dz_lesion=self.dz_lesion / factor, dz_throat=self.dz_throat / factor,
                        dz_max=self.dz_max / factor, growth=self.growth / factor,
                        dz_far=self.dz_far / factor, growth_far=self.growth_far / factor)

    def radial_cells(self, g: "Geometry") -> int:
        """Radial cell count used for geometry ``g`` (see ``throat_cells``)."""
        if g.shape == "tube" or g.area_stenosis <= 0:
            return self.n_radial
        return max(self.n_radial, math.ceil(self.throat_cells * g.r0_m / g.r_min_m - 1e-9))

    def to_dict(self) -> dict:
        return {"n_radial_min": self.n_radial, "throat_cells": self.throat_cells, "radial_grading": self.radial_grading, "dz_lesion_r0": self.dz_lesion,
                "dz_throat_rmin": self.dz_throat, "dz_max_r0": self.dz_max, "growth": self.growth,
                "dz_far_r0": self.dz_far, "growth_far": self.growth_far}


def axial_nodes_m(g: Geometry, z_in_m: float, z_out_m: float, planes_m, spec: MeshSpec, extra_fixed_m=(),
                  far_start_m: float | None = None):
    """Axial node positions (m) from ``z_in`` to ``z_out``.

    The spacing is ``h_l = min(dz_lesion r0, dz_throat r_min)`` over the lesion and grows linearly
    with the distance from it (``growth``) up to ``dz_max r0``. Each sampling plane in ``planes_m``
    lies exactly at the centre of one cell (nodes at ``z_s ± h(z_s)/2``), so the cross-section
    average of that column of cells is the plane average. Within each segment between fixed nodes
    the nodes equidistribute ``1/h``. ``extra_fixed_m`` (throats, plateau ends) are nodes too.
    Beyond ``far_start_m`` the spacing keeps growing (``growth_far``) up to ``dz_far r0``.
    """
    r0, L = g.r0_m, g.length_m
    h_l = min(spec.dz_lesion * r0, spec.dz_throat * g.r_min_m) if g.shape != "tube" else spec.dz_lesion * r0
    h_max = max(spec.dz_max * r0, h_l)
    slope = spec.growth  # dimensionless: dh/dz

    zf = z_out_m if far_start_m is None else far_start_m
    h_far = max(spec.dz_far * r0, h_max)

    def h_near(z):
        dist = np.where(z < 0.0, -z, np.where(z > L, z - L, 0.0))
        return np.minimum(h_l + slope * dist, h_max)

    def h(z):
        z = np.asarray(z, dtype=float)
        return np.where(z > zf, np.minimum(h_near(zf) + spec.growth_far * (z - zf), h_far), h_near(z))

    fixed = [z_in_m, z_out_m, 0.0, L, *extra_fixed_m] if g.shape != "tube" else [z_in_m, z_out_m]
    for zs in planes_m:
        hs = float(h(np.array(zs)))
        fixed += [zs - hs / 2, zs + hs / 2]
    fixed = np.unique(np.round(np.array(fixed), 12))
    nodes = [fixed[0]]
    for a, b in zip(fixed[:-1], fixed[1:]):
        zz = np.linspace(a, b, 2001)
        inv = 1.0 / h(zz)
        cum = np.concatenate([[0.0], np.cumsum(0.5 * (inv[1:] + inv[:-1]) * np.diff(zz))])
        n = max(1, int(round(cum[-1])))
        targets = np.linspace(0.0, cum[-1], n + 1)[1:]
        nodes.extend(np.interp(targets, cum, zz))
        nodes[-1] = b
    return np.array(nodes)


def radial_fractions(n: int, grading: float):
    """Node positions as fractions of the local wall radius, 0 (axis) to 1 (wall), blockMesh
    ``simpleGrading`` convention: geometric cell sizes, last/first = ``grading``."""
    if n == 1 or abs(grading - 1.0) < 1e-12:
        return np.linspace(0.0, 1.0, n + 1)
    q = grading ** (1.0 / (n - 1))
    sizes = q ** np.arange(n)
    return np.concatenate([[0.0], np.cumsum(sizes) / sizes.sum()])
