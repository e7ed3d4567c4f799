"""The pressure inside a lesion's jet, before it has recovered (an analysis of a steady solution).

The ``ns-calibrated`` law lumps a lesion's whole loss at its end: the node pressures downstream are
what a wire reads once the jet has re-attached (at the law's wire position, 20 r₀ past the lesion).
Between the throat exit and the re-attachment the section-averaged pressure is lower: the jet has not
yet given back the momentum of the sudden expansion. With the law's own jet length and momentum
recovery (docs/physics.md, ``ns-calibrated``; no constant fitted here), at a distance ``x`` past the
throat exit

.. math::

    \\delta p(x) = k_{rec}\\,\\rho\\,u_s^2\\,\\sigma(1-\\sigma)
        \\left[\\max\\left(0, 1 - \\frac{x}{L_j}\\right) - \\max\\left(0, 1 - \\frac{x_w}{L_j}\\right)\\right],
    \\qquad 0 \\le x < x_w,

(``u_s = Q/A_s``, ``σ = A_s/A_0``, ``L_j = c_{jet} e^{-k_{jet}σ} Re_s D_s``, ``x_w`` the wire's distance
from the throat exit), zero from the wire on; the pressure there is ``p(x) − δp(x)``. It moves no flow
(the network's flows follow the lumped drops) and is reported apart: :func:`jet_pressure_deficit`.
Only a vessel's last lesion, not inside the jet of a tighter lesion upstream, is treated (as the law
gives only that lesion the recovery term). A jet longer than the rest of its vessel goes on into the
branches, ``x`` counted along each path, except into a branch with lesions of its own, whose jets take
over (the law's rule for lesions in tandem: the recovery follows the last lesion).

Checked against the 3D Navier–Stokes sub-trees (``python -m benchmarks.tree_ns.compare``: the
``dffr_jet`` column), where a point 5 mm past a lesion read up to 0.034 higher in 1D than in 3D. The
continuation into the branches and its stop at a branch with lesions were chosen on two of those
sub-trees (Medina 1,0,0 and 1,1,1: continuing everywhere took the second 0.024 too low); the other
sub-trees of that table still have to check it.
"""

from __future__ import annotations

import math

import numpy as np

from .lesion import KT_YOUNG_TSAI, NS_CALIBRATED


def jet_pressure_deficit(result, c: dict = NS_CALIBRATED) -> np.ndarray:
    """δp (Pa, ≥ 0) at every node of a steady ``ns-calibrated`` solution (zeros for the other laws).

    Parameters
    ----------
    result : ffrflow.cfd.result.Result
        A steady solution (``disc``, ``flow_m3_s`` and the network's model are read).
    c : dict
        The law's constants.

    Returns
    -------
    ndarray (n_nodes,)
        How much lower the section-averaged pressure is than the node pressure, Pa.
    """
    d = result.disc
    out = np.zeros(d.n_nodes)
    m = result.network.model
    if m.lesion != "ns-calibrated":
        return out
    rho, mu = float(m.blood_density_kg_m3), float(m.blood_viscosity_pa_s)
    scale = float(m.kt) / KT_YOUNG_TSAI
    lesions = list(d.lesions)
    has_lesion = {int(d.node_vessel[x["node_end"]]) for x in lesions}
    for j, les in enumerate(lesions):
        shape = les.get("shape")
        if not shape or math.isfinite(shape["gap_mm"]):
            continue                                   # not its vessel's last lesion
        prev = [x for x in lesions if x.get("next_lesion") == j]
        if prev and prev[0]["mld_mm"] < les["mld_mm"]:
            continue                                   # inside a tighter jet: the law's inherited case
        i = int(d.node_vessel[les["node_end"]])
        q = abs(float(result.flow_m3_s[i]))
        r0 = 1e-3 * float(les["reference_radius_mm"])
        rs = 0.5e-3 * float(les["mld_mm"])
        sigma = min((rs / r0) ** 2, 1.0)
        if sigma >= 1.0 or q == 0.0:
            continue
        a_s = math.pi * rs * rs
        u_s = q / a_s
        lj = c["c_jet"] * math.exp(-c["k_jet"] * sigma) * rho * u_s * (2.0 * rs) ** 2 / mu
        xw = 1e-3 * float(shape["wire_mm"])
        full = scale * c["k_rec"] * rho * u_s * u_s * sigma * (1.0 - sigma)
        todo = [(i, -1e-3 * float(shape["throat_exit_mm"]))]   # (vessel, x at its first node minus s)
        while todo:
            v, x0 = todo.pop()
            sl = d.nodes_of(v)
            x = x0 + 1e-3 * d.s_mm[sl]
            inside = (x >= 0.0) & (x < xw)
            dp = full * (np.maximum(0.0, 1.0 - x / lj) - max(0.0, 1.0 - xw / lj))
            out[sl] += np.where(inside, np.maximum(dp, 0.0), 0.0)
            if x[-1] < xw:                          # the jet goes on into the branches
                todo += [(int(k), x[-1] - 1e-3 * d.s_mm[d.nodes_of(int(k))][0]) for k in np.flatnonzero(d.parent == v)
                         if int(k) not in has_lesion]
    return out
