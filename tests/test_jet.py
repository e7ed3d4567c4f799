"""The pressure inside a lesion's jet before it recovers (ffrflow.cfd.jet; docs/physics.md,
"Pressure inside the jet")."""

from __future__ import annotations

import math

import numpy as np

import ffrflow
from ffrflow import phantoms
from ffrflow.cfd.jet import jet_pressure_deficit
from ffrflow.cfd.lesion import NS_CALIBRATED as C
from ffrflow.network import VesselNetwork


def _tube_with_lesion(law="ns-calibrated"):
    dense = VesselNetwork.from_dict({"format": "ffrflow-network/1", "units": "mm", "vessels": [
        {"id": "A", "parent": None, "points": [[x, 0.0, 0.0] for x in np.arange(0.0, 60.01, 0.5)],
         "radius": [1.5] * 121}]})
    ph = phantoms.narrow(dense, [phantoms.LesionSpec("A", center_mm=15.0, length_mm=6.0, ds_pct=60.0)])
    net = ph.network_with_lesions()
    return net.replace_config(model=ffrflow.config.Model.from_dict({**net.model.to_dict(), "lesion": law}))


def test_deficit_is_the_laws_unrecovered_momentum():
    """Truth: the ns-calibrated law's recovery term, k_rec ρ u_s² σ(1−σ)(1 − x/L_j) less its value at the
    wire, at the throat exit (x = 0); it decreases along the jet, is zero upstream of the throat exit
    and from the wire on, and moves no flow."""
    net = _tube_with_lesion()
    res = ffrflow.solve(net, backend="numpy", detect=False)
    dp = jet_pressure_deficit(res)
    (les,) = res.disc.lesions
    sh = les["shape"]
    s = res.disc.s_mm
    m = net.model
    rs, r0 = 0.5e-3 * les["mld_mm"], 1e-3 * les["reference_radius_mm"]
    sigma = (rs / r0) ** 2
    q = abs(float(res.flow_m3_s[0]))
    us = q / (math.pi * rs * rs)
    re_s = m.blood_density_kg_m3 * us * 2 * rs / m.blood_viscosity_pa_s
    lj = C["c_jet"] * math.exp(-C["k_jet"] * sigma) * re_s * 2 * rs
    xw = 1e-3 * sh["wire_mm"]
    full = m.kt / 1.52 * C["k_rec"] * m.blood_density_kg_m3 * us * us * sigma * (1 - sigma)
    k0 = int(np.argmin(np.abs(s - sh["throat_exit_mm"])))
    assert abs(s[k0] - sh["throat_exit_mm"]) < 1e-9
    np.testing.assert_allclose(dp[k0], full * (1.0 - max(0.0, 1.0 - xw / lj)), rtol=1e-12)
    assert dp[k0] > 100.0                                  # about a mmHg at hyperemic flow: not negligible
    assert np.all(dp[s < sh["throat_exit_mm"] - 1e-9] == 0.0)
    assert np.all(dp[s >= sh["throat_exit_mm"] + sh["wire_mm"]] == 0.0)
    inside = (s >= sh["throat_exit_mm"]) & (s < sh["throat_exit_mm"] + sh["wire_mm"])
    assert np.all(np.diff(dp[inside]) <= 0.0)


def test_no_deficit_without_a_jet_law_or_a_lesion():
    """Truth: only the ns-calibrated law models the jet; a healthy vessel has none."""
    res = ffrflow.solve(_tube_with_lesion("poiseuille-kt"), backend="numpy", detect=False)
    assert not jet_pressure_deficit(res).any()
    healthy = VesselNetwork.from_dict({"format": "ffrflow-network/1", "units": "mm", "vessels": [
        {"id": "A", "parent": None, "points": [[0.0, 0.0, 0.0], [40.0, 0.0, 0.0]], "radius": [1.5, 1.5]}]})
    assert not jet_pressure_deficit(ffrflow.solve(healthy, backend="numpy")).any()
