"""Helpers shared by the test modules: small networks, the data folders, random kernel inputs, lumped
models, centerline files. Test modules import them with ``from _helpers import ...`` (``tests`` is on
``sys.path``: ``pythonpath`` in pyproject.toml); fixtures and hooks stay in ``conftest.py``."""

from __future__ import annotations

import dataclasses
import math
import signal

import numpy as np
import pytest

from ffrflow import units
from ffrflow._datapaths import bluefern_dir, missing_reason, peers_dir
from ffrflow.cfd.boundary import outlet_resistances
from ffrflow.cfd.lumped import LumpedBC, LumpedElement, LumpedModel, Param, SimulationParameters
from ffrflow.cfd.pulsatile import KERNEL_ARGS, build_model
from ffrflow.cfd.steady import solve_steady
from ffrflow.config import Boundary, Model
from ffrflow.kernels import get_kernel
from ffrflow.network import VesselNetwork
from ffrflow.phantoms import LesionSpec, narrow, random_tree

#: The peers' cases kept in the repository (tests/data/peers): always there, so never a reason to skip.
PEERS = peers_dir()
ZEROD = PEERS / "svZeroDSolver"
ONED = PEERS / "svOneDSolver"
#: BlueFern coronary centrelines (GPL-2.0): external, tests that read them skip when absent.
BLUEFERN = bluefern_dir()
needs_bluefern = pytest.mark.skipif(not BLUEFERN.is_dir(),
                                    reason=missing_reason(BLUEFERN, "BlueFern coronary centrelines (GPL-2.0)"))


# ------------------------------------------------------------------------------------ small networks
def straight(vid, parent, start, direction, length_mm, radius, n=2):
    """A straight vessel from ``start`` along ``direction`` with radius constant or (r0, r1) linear."""
    start = np.asarray(start, float)
    d = np.asarray(direction, float)
    d = d / np.linalg.norm(d)
    t = np.linspace(0.0, length_mm, n)
    pts = start + t[:, None] * d
    if np.isscalar(radius):
        r = np.full(n, float(radius))
    else:
        r = np.linspace(radius[0], radius[1], n)
    return {"id": vid, "parent": parent, "points": pts.tolist(), "radius": r.tolist()}


def network(vessels, boundary=None, model=None) -> VesselNetwork:
    d = {"format": "ffrflow-network/1", "units": "mm", "vessels": vessels}
    if boundary is not None:
        d["boundary"] = boundary
    if model is not None:
        d["model"] = model
    return VesselNetwork.from_dict(d)


def poiseuille_r(mu, length_m, radius_m):
    """R = 8 μ L / (π r⁴), Pa·s/m³."""
    return 8.0 * mu * length_m / (math.pi * radius_m ** 4)


# ------------------------------------------------------------------------------------ kernel inputs (tree_newton)
def random_forest(n_cases, sizes, seed=0):
    """CSR-packed random trees with lesion coefficients and outlet resistances, SI magnitudes."""
    rng = np.random.default_rng(seed)
    parents, Rs, Ss, Routs, offs = [], [], [], [], [0]
    for c in range(n_cases):
        n = sizes[c % len(sizes)]
        base = offs[-1]
        par = np.full(n, -1, dtype=np.int64)
        for i in range(1, n):
            par[i] = base + rng.integers(0, i)
        if n > 3 and rng.random() < 0.5:
            par[n // 2] = -1  # a second root (left + right trees)
            par[n // 2 + 1:][par[n // 2 + 1:] < base + n // 2] = base + n // 2
        parents.append(par)
        Rs.append(rng.uniform(1e8, 5e9, n))
        Ss.append(np.where(rng.random(n) < 0.3, rng.uniform(1e12, 5e14, n), 0.0))
        has_child = np.zeros(n, bool)
        has_child[(par[par >= 0] - base)] = True
        Routs.append(np.where(has_child, 0.0, rng.uniform(1e9, 2e10, n)))
        offs.append(base + n)
    return (np.array(offs, dtype=np.int64), np.concatenate(parents), np.concatenate(Rs), np.concatenate(Ss),
            np.concatenate(Routs))


def run_tree_newton(backend, offsets, parent, R, S, R_out, flow_root=False, tol=1e-12):
    n = parent.size
    n_cases = offsets.size - 1
    root_p = np.full(n, 93.0 * 133.322387415)
    root_q = np.full(n, np.nan)
    if flow_root:
        root_q[parent < 0] = 3e-6
    pv = np.linspace(0.0, 500.0, n_cases)
    Q, Pu, Pd = np.zeros(n), np.zeros(n), np.zeros(n)
    work = np.zeros((6, n))
    it = np.zeros(n_cases, dtype=np.int64)
    res = np.zeros(n_cases)
    get_kernel("tree_newton", backend)(offsets, parent, R, S, R_out, root_p, root_q, pv, tol, 60,
                                       Q, Pu, Pd, work, it, res)
    return Q, Pu, Pd, it, res, pv


def hard_forest(n_cases, seed=0):
    """Trees of 2-40 vessels whose coefficients span the extremes an uncertainty study reaches: R from
    1e5 to 1e15 Pa·s/m³, S up to 1e24 Pa·s²/m⁶ (a throat of a few micrometres), and lesion vessels whose
    linear coefficient is negative (flow-dependent coefficients frozen at a flow: R_x = −S·Q_c)."""
    rng = np.random.default_rng(seed)
    offsets, parent, R, S, R_out = random_forest(n_cases, [2, 9, 40], seed=seed)
    n = parent.size
    R = 10.0 ** rng.uniform(5, 15, n)
    les = rng.random(n) < 0.4
    S = np.where(les, 10.0 ** rng.uniform(12, 24, n), 0.0)
    neg = les & (rng.random(n) < 0.5)
    R = np.where(neg, -S * 10.0 ** rng.uniform(-12, -8, n), R)    # −S·Q_c with Q_c 1e-12..1e-8 m³/s
    R_out = np.where(R_out > 0, 10.0 ** rng.uniform(9, 12, n), 0.0)
    return offsets, parent, R, S, R_out


# ------------------------------------------------------------------------------------ batched steady cases
def lesion_network(seed: int, kind: str, law: str) -> VesselNetwork:
    """A random tree with lesions: one per long vessel ("single"), two close ones in one vessel
    ("tandem"), two sharing a node ("touching") or one starting at the vessel's first point ("ostial")."""
    tree = random_tree(9, seed=seed)
    long = [v for v in tree.ids if tree.vessels[v].length_mm >= 14]
    v0 = long[0]
    L = tree.vessels[v0].length_mm
    if kind == "single":
        specs = [LesionSpec(v, tree.vessels[v].length_mm / 2, 4.0, ds) for v, ds in zip(long[:3], (70, 55, 85))]
    else:
        specs = [LesionSpec(v0, L / 2 - 3.0, 4.0, 75), LesionSpec(v0, L / 2 + 2.5, 4.0, 60)]
        if len(long) > 1:
            specs.append(LesionSpec(long[1], tree.vessels[long[1]].length_mm / 2, 5.0, 65))
    net = narrow(tree, specs).network_with_lesions()
    les = net.vessels[v0].lesions
    if kind == "touching":
        les[1] = dataclasses.replace(les[1], start_mm=les[0].end_mm)
    if kind == "ostial":
        les[0] = dataclasses.replace(les[0], start_mm=0.0)
    return net.replace_config(model=Model.from_dict({**net.model.to_dict(), "lesion": law}))


def sampled_params(net, tr, n: int, seed: int) -> dict:
    """Every perturbation: the bounded samples of ffrflow.uncertainty (radius errors of σ = 0.2 mm,
    truncated to their physical ranges), a stented lesion in every fourth case, density, venous
    pressure and outlet resistances on top."""
    from ffrflow.uncertainty import kernel_params, sample_inputs

    rng = np.random.default_rng(seed)
    big = {"dist": "normal", "mean": 0.0, "sd": 0.2}
    _, smp = sample_inputs(net, n, {"radius_vessel_mm": big, "radius_throat_mm": big}, seed=seed, method="mc",
                           tree=tr)
    p = kernel_params(tr, smp)
    p["lesion_severity"][::4, 0] = 0.0
    p.update({"venous_pressure_mmHg": rng.uniform(0.0, 8.0, n), "blood_density_kg_m3": rng.uniform(1040, 1070, n),
              "outlet_resistance_scale": rng.uniform(0.8, 1.25, (n, tr.n_outlets))})
    return p



def explicit_outlets(net):
    """The network with its outlet resistances written out (a radius error then leaves them as they are)."""
    r_out, _ = outlet_resistances(net)
    b = Boundary.from_dict({**net.boundary.to_dict(), "outlets": {
        o: {"resistance_mmHg_s_per_ml": units.resistance_from_si(r)} for o, r in r_out.items()}})
    return net.replace_config(boundary=b)


def solve_sample(net, tr, one):
    """solve_steady on one sample's own network: every node of the discretisation as a centerline
    point with the sample's radius r + (1 − severity)·d + offset, lesion references moved by the
    offset, the sample's Pa, viscosity and K_t (``one``: one case's row of the kernel parameters,
    ``tr``: the network's ``tree_arrays``)."""
    disc = tr.disc
    dr = one["radius_offset_mm"]
    sev = np.where(tr.node_les >= 0, one["lesion_severity"][np.maximum(tr.node_les, 0)], 1.0)
    rad = 1e3 * (tr.r_node_m + (1.0 - sev) * tr.d_node_m) + dr[disc.node_vessel]
    d = net.to_dict()
    for v in d["vessels"]:
        i = disc.vessel_ids.index(v["id"])
        sl = disc.nodes_of(i)
        v["points"], v["radius"] = disc.xyz_mm[sl].tolist(), rad[sl].tolist()
        for les in v.get("lesions") or []:
            les["reference_radius_mm"] += float(dr[i])
    d["boundary"]["inlet_pressure_mmHg"] = float(one["inlet_pressure_mmHg"])
    d["model"] = {**net.model.to_dict(), "blood_viscosity_pa_s": float(one["blood_viscosity_pa_s"]),
                  "kt": float(one["kt"])}
    return solve_steady(VesselNetwork.from_dict(d), backend="numpy")


# ------------------------------------------------------------------------------------ pulsatile kernel inputs
def pulsatile_kernel_inputs(net):
    """A fresh pulsatile model of ``net`` and the ``pulsatile_advance`` arguments after the step
    settings: the model's arrays in ``KERNEL_ARGS`` order, then zeroed accumulators (``acc``) and
    waveform buffers (``wf``). Returns ``(arrays, args, acc, wf)``; the kernel advances the arrays
    and fills ``acc`` and ``wf`` in place."""
    a = build_model(net, backend="numpy").arrays
    nc, nn, npt = a["A"].size, a["node_type"].size, a["port_piece"].size
    acc = [np.zeros(nc), np.zeros(nc), np.zeros(nn), np.zeros(npt), np.zeros(npt)]
    wf = [np.zeros((3, nc)), np.zeros((3, nc)), np.zeros((3, nn))]
    return a, [a[k] for k in KERNEL_ARGS] + acc + wf, acc, wf

# ------------------------------------------------------------------------------------ lumped models
LUMPED_FAST = SimulationParameters(number_of_cardiac_cycles=2, number_of_time_pts_per_cardiac_cycle=11)


def y_model(Q=5.0, R=(100.0, 200.0, 300.0), S=(0.0, 50.0, 0.0), Rout=(1000.0, 2000.0), Pd=(10.0, 20.0), C=0.0,
            sim=None):
    """Inflow -> vessel 0 -> junction -> vessels 1, 2 -> RESISTANCE outlets."""
    el = [LumpedElement("v0", -1, R[0], C, 0.0, S[0], inlet_bc="IN", junction="J0"),
          LumpedElement("v1", 0, R[1], C, 0.0, S[1], outlet_bc="O1"),
          LumpedElement("v2", 0, R[2], C, 0.0, S[2], outlet_bc="O2")]
    bcs = {"IN": LumpedBC("IN", "FLOW", {"Q": Param(np.array([Q, Q]), np.array([0.0, 1.0]))}),
           "O1": LumpedBC("O1", "RESISTANCE", {"R": Param.const(Rout[0]), "Pd": Param.const(Pd[0])}),
           "O2": LumpedBC("O2", "RESISTANCE", {"R": Param.const(Rout[1]), "Pd": Param.const(Pd[1])})}
    return LumpedModel(el, bcs, sim or LUMPED_FAST).validate()


def coronary_tree(n_cycles=2, pts=41):
    """Pulsatile FLOW inlet, a junction element, a CORONARY and an RCR outlet, stenosis terms."""
    t = np.linspace(0.0, 0.8, 17)
    q = 3.0 + 2.0 * np.sin(2 * np.pi * t / 0.8)
    el = [LumpedElement("a", -1, 50.0, 1e-5, 0.5, 0.0, inlet_bc="IN"),
          LumpedElement("b", 0, 300.0, 5e-6, 1.0, 20.0, outlet_bc="COR"),
          LumpedElement("j", 0, 10.0, 0.0, 0.1, 5.0, kind="junction"),
          LumpedElement("c", 2, 400.0, 4e-6, 1.0, 0.0, outlet_bc="RCR")]
    pim = Param(np.array([0.0, 2000.0, 500.0, 0.0]), np.array([0.0, 0.2, 0.5, 0.8]))
    bcs = {"IN": LumpedBC("IN", "FLOW", {"Q": Param(q, t)}),
           "COR": LumpedBC("COR", "CORONARY", {"Ra1": Param.const(1000.0), "Ra2": Param.const(1500.0),
                                               "Rv1": Param.const(500.0), "Ca": Param.const(2e-5),
                                               "Cc": Param.const(1e-4), "Pim": pim, "P_v": Param.const(100.0)}),
           "RCR": LumpedBC("RCR", "RCR", {"Rp": Param.const(800.0), "C": Param.const(1e-4), "Rd": Param.const(4000.0),
                                          "Pd": Param.const(0.0)})}
    return LumpedModel(el, bcs, SimulationParameters(number_of_cardiac_cycles=n_cycles,
                                                     number_of_time_pts_per_cardiac_cycle=pts)).validate()


# ------------------------------------------------------------------------------------ centerline files
def write_centerlines_vtp(path, lines, radii, point_name="MaximumInscribedSphereRadius", cell_arrays=None, legacy=False):
    import vtk
    from vtk.util import numpy_support as ns

    pts = vtk.vtkPoints()
    cells = vtk.vtkCellArray()
    rad = []
    for line, r in zip(lines, radii):
        ids = []
        for p, rr in zip(line, r):
            ids.append(pts.InsertNextPoint(*p))
            rad.append(rr)
        pl = vtk.vtkPolyLine()
        pl.GetPointIds().SetNumberOfIds(len(ids))
        for j, i in enumerate(ids):
            pl.GetPointIds().SetId(j, i)
        cells.InsertNextCell(pl)
    pd = vtk.vtkPolyData()
    pd.SetPoints(pts)
    pd.SetLines(cells)
    if point_name:
        a = ns.numpy_to_vtk(np.asarray(rad, float), deep=True)
        a.SetName(point_name)
        pd.GetPointData().AddArray(a)
    for name, vals in (cell_arrays or {}).items():
        a = ns.numpy_to_vtk(np.asarray(vals, dtype=np.int32), deep=True)
        a.SetName(name)
        pd.GetCellData().AddArray(a)
    w = vtk.vtkPolyDataWriter() if legacy else vtk.vtkXMLPolyDataWriter()
    w.SetFileName(str(path))
    w.SetInputData(pd)
    w.Write()
    return path


def y_centerlines(offset=0.0):
    """Two centerlines from one inlet: a 20 mm trunk, then +x / -x branches (0.5 mm spacing)."""
    trunk = np.stack([np.zeros(41), np.zeros(41), np.linspace(0, 20, 41)], axis=1)
    s = np.linspace(0.5, 15, 30)
    left = np.stack([s, np.zeros_like(s), 20 + 0.5 * s], axis=1)
    right = np.stack([-s, np.zeros_like(s), 20 + 0.5 * s], axis=1)
    l0 = np.concatenate([trunk, left])
    l1 = np.concatenate([trunk + [offset, 0, 0], right])
    r0 = np.concatenate([np.full(41, 2.0), np.full(30, 1.3)])
    r1 = np.concatenate([np.full(41, 2.0), np.full(30, 1.1)])
    return [l0, l1], [r0, r1]


def sigint_as_in_a_terminal():
    """``preexec_fn`` of a child that a test interrupts: Ctrl-C raises KeyboardInterrupt in it as under
    a terminal, even when the test process ignores SIGINT (a background job of a non-interactive
    shell does, and Python keeps an ignored SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def capsule(r_mm, length_mm, direction, start=(1.3, -2.1, 0.7), n=2):
    """A straight tube of constant radius with hemispherical ends (one vessel "A", ``n`` segments; the
    voxeliser's swept tube of a constant radius is exactly this capsule): ``(network, start, unit direction)``."""
    d = np.asarray(direction, float)
    d /= np.linalg.norm(d)
    p0 = np.asarray(start, float)
    pts = [p0 + d * length_mm * k / n for k in range(n + 1)]
    net = VesselNetwork.from_dict({"format": "ffrflow-network/1", "units": "mm", "vessels": [
        {"id": "A", "parent": None, "points": [list(p) for p in pts], "radius": [r_mm] * (n + 1)}]})
    return net, p0, d
