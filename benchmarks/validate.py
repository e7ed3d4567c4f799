"""Validation suite: ffrflow against the peers' own cases, the hand-built references and analytic answers.

``python -m benchmarks validate [--backend cpu] [--no-save]`` runs, from the peers' cases kept in the
repository (``tests/data/peers``, or ``$FFRFLOW_PEERS_DIR``; resolved by :mod:`ffrflow._datapaths`):

- every svZeroDSolver test case that is not closed-loop, compared with the result that svZeroDSolver's
  own test suite stores (``tests_cases/results/result_*.json``): per quantity (pressure and flow at the
  inlet and outlet of every vessel) the largest error over the last cycle relative to the largest
  magnitude of that quantity over the last cycle, tolerance 1e-3. svZeroDSolver's own
  criterion is also checked on *every* stored point: ``|a - e| <= 1e-7 (1 + |e|)`` (``RTOL_PRES =
  RTOL_FLOW = 1e-7`` in its ``tests/utils.py``), column ``svzd 1e-7``;
- the hand-built steady cases against ``handmade_reference/`` (svZeroDSolver and svOneDSolver), 1e-6;
- analytic answers (those written in the peers' case files, an RCR steady state, the svOneD tube with
  a stenosis) and ffrflow's own consistency (a network exported to svZeroDSolver JSON and run by the
  lumped solver equals the steady solver);
- the Vascular Model Repository models (no stored result): run, mass balance over the last cycle;
- the closed-loop cases are listed with the reason they cannot run.

It prints a table (case, quantity, max relative error, tolerance, pass) and saves it as
``benchmarks/results/validate-<date>.json``.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np

from ffrflow._datapaths import peers_dir

from ._common import save

PEERS = peers_dir()
ZEROD = PEERS / "svZeroDSolver"
ONED = PEERS / "svOneDSolver"
TOL_PEER = 1e-3
TOL_HANDMADE = 1e-6
TOL_ANALYTIC = 1e-6
SVZD_RTOL = 1e-7
MMHG = 1333.22387415
QUANTITIES = ("pressure_in", "pressure_out", "flow_in", "flow_out")


def _row(case, quantity, err, tol, note="", svzd=None, group="peer"):
    return {"group": group, "case": case, "quantity": quantity, "max_rel_error": None if err is None else float(err),
            "tolerance": tol, "pass": bool(err is not None and err <= tol), "svzd_1e-7": svzd, "note": note}


def svzerod_case(path: Path, backend: str) -> list[dict]:
    """Rows for one svZeroDSolver test case compared with its stored result."""
    from ffrflow.cfd.lumped import solve_lumped
    from ffrflow.errors import InvalidInputError
    from ffrflow.formats.svzerod import read_svzerod, read_svzerod_result

    name = path.stem
    try:
        m = read_svzerod(path)
    except InvalidInputError as exc:
        msg = str(exc).split(": ", 1)[-1]
        return [{**_row(name, "-", None, TOL_PEER, f"cannot run: {msg}"), "pass": None}]
    t = time.perf_counter()
    r = solve_lumped(m, backend=backend, output="all" if m.sim.output_all_cycles else "last")
    elapsed = time.perf_counter() - t
    ref = read_svzerod_result(path.parent / "results" / f"result_{name}.json")
    tab = r.table()
    pts = int(m.sim.number_of_time_pts_per_cardiac_cycle)
    rows = []
    for q in QUANTITIES:
        errs, scale, svzd, note = [], 0.0, True, f"{elapsed:.2f} s, {r.cycles} cycles"
        for v in m.vessel_names:
            a = tab[q][tab["name"] == v]
            e = ref[q][ref["name"] == v]
            if a.size != e.size:
                rows.append(_row(name, q, None, TOL_PEER, f"{v}: {a.size} time points vs {e.size} stored"))
                break
            svzd &= bool(np.all(np.abs(a - e) <= SVZD_RTOL * (1.0 + np.abs(e))))
            errs.append(np.max(np.abs(a[-pts:] - e[-pts:])))
            scale = max(scale, float(np.max(np.abs(e[-pts:]))))
        else:
            err = max(errs) / scale if scale > 0 else max(errs)
            rows.append(_row(name, q, err, TOL_PEER, note, svzd))
    return rows


def svzerod_peer_rows(backend: str) -> list[dict]:
    rows = []
    for p in sorted((ZEROD / "tests_cases").glob("*.json")):
        rows += svzerod_case(p, backend)
    return rows


def _parse_zerod_handmade(text: str) -> dict:
    """ref_p*.txt: CASE A (single vessel) and CASE B (bifurcation) svZeroD values."""
    out = {}
    m = re.search(r"CASE A.*?svZeroD\s*:\s*Q=([\d.]+) mL/s\s+P_out=([\d.]+)", text, re.S)
    out["single"] = {"lad_stenosed": {"flow": float(m.group(1)), "pressure_out": float(m.group(2))}}
    out["bifurcation"] = {}
    for v, qi, qo, pi, po in re.findall(r"svZeroD (\w+)\s+Q_in=([\d.]+) Q_out=([\d.]+) P_in=([\d.]+) P_out=([\d.]+)",
                                        text):
        out["bifurcation"][v] = {"flow": float(qi), "pressure_in": float(pi), "pressure_out": float(po)}
    return out


def handmade_rows(backend: str) -> list[dict]:
    from ffrflow.cfd.lumped import solve_lumped
    from ffrflow.cfd.steady import solve_steady
    from ffrflow.formats.svoned import read_svoned
    from ffrflow.formats.svzerod import read_svzerod

    rows = []
    hm = ZEROD / "handmade_reference"
    for p_tag in ("13332", "133322"):
        ref = _parse_zerod_handmade((hm / f"ref_p{p_tag}.txt").read_text())
        for kind, fname in (("single", f"single_stenosis_steady_p{p_tag}.json"),
                            ("bifurcation", f"bifurcation_stenosis_steady_p{p_tag}.json")):
            r = solve_lumped(read_svzerod(hm / fname), backend=backend)
            for v, vals in ref[kind].items():
                y = r.vessel(v)
                for key, val in vals.items():
                    a = y["flow_in"][-1] if key == "flow" else y[key][-1]
                    rows.append(_row(f"{fname[:-5]}", f"{v} {key}", abs(a - val) / abs(val), TOL_HANDMADE,
                                     "lumped vs handmade_reference (svZeroDSolver)", group="handmade"))
    ref1 = (ONED / "handmade_reference" / "ref_oneD_single_sten.txt").read_text()
    for p_tag in ("13332", "133322"):
        net, _ = read_svoned(ONED / "handmade_reference" / f"single_sten_p{p_tag}.in")
        r = solve_steady(net, backend=backend)
        block = ref1.split(f"P_inlet = {p_tag}")[1].split("P_inlet")[0]
        for seg, q, p_in, p_out in re.findall(r"(seg\d): .*?Q_in=([\d.]+) .*?P_in=([\d.]+) P_out=([\d.]+)", block):
            v = r.vessel(seg)
            for key, a, e in (("flow", v["flow_ml_s"][0], float(q)), ("pressure_in", v["pressure_mmHg"][0] * MMHG,
                                                                      float(p_in)),
                              ("pressure_out", v["pressure_mmHg"][-1] * MMHG, float(p_out))):
                rows.append(_row(f"single_sten_p{p_tag}.in", f"{seg} {key}", abs(a - e) / abs(e), TOL_HANDMADE,
                                 "steady solver vs handmade_reference (svOneDSolver, 1D FEM at t = 1 s)",
                                 group="handmade"))
    return rows


def analytic_rows(backend: str) -> list[dict]:
    from ffrflow.cfd.lumped import LumpedModel, SimulationParameters, solve_lumped
    from ffrflow.cfd.steady import solve_steady
    from ffrflow.formats.svoned import read_svoned
    from ffrflow.formats.svzerod import read_svzerod, write_svzerod

    rows = []
    tc = ZEROD / "tests_cases"
    expected = {  # the analytic answers written in the svZeroDSolver case files
        "steadyFlow_stenosis_R": {"branch0_seg0": {"pressure_in": 3600.0, "pressure_out": 600.0, "flow_out": 5.0}},
        "steadyFlow_R_coronary": {"branch0_seg0": {"pressure_in": 2000.0, "pressure_out": 1500.0}},
        "steadyFlow_bifurcationR_R1": {"branch0_seg0": {"pressure_in": 1100.0, "pressure_out": 600.0},
                                       "branch1_seg0": {"pressure_out": 350.0, "flow_in": 2.5},
                                       "branch2_seg0": {"pressure_out": 350.0, "flow_in": 2.5}},
        "steadyFlow_blood_vessel_junction": {"branch0_seg0": {"pressure_in": 3462.5, "pressure_out": 1962.5},
                                             "branch1_seg0": {"pressure_in": 1580.0, "pressure_out": 432.5,
                                                              "flow_in": 3.825},
                                             "branch2_seg0": {"pressure_in": 1727.5, "pressure_out": 1375.0,
                                                              "flow_in": 1.175}},
    }
    for name, vessels in expected.items():
        r = solve_lumped(read_svzerod(tc / f"{name}.json"), backend=backend)
        for v, vals in vessels.items():
            y = r.vessel(v)
            for key, val in vals.items():
                rows.append(_row(name, f"{v} {key}", abs(y[key][-1] - val) / abs(val), TOL_ANALYTIC,
                                 "analytic answer in the case file", group="analytic"))
    r = solve_lumped(read_svzerod(tc / "pulsatileFlow_R_coronary.json"), backend=backend, output="all")
    y = r.vessel("branch0_seg0")
    for key, val in (("pressure_in", 880.0), ("pressure_out", 660.0), ("flow_in", 2.2)):
        rows.append(_row("pulsatileFlow_R_coronary", f"{key} at t = 0", abs(y[key][0] - val) / val, TOL_ANALYTIC,
                         "analytic answer in the case file", group="analytic"))
    sim = SimulationParameters(number_of_cardiac_cycles=3, number_of_time_pts_per_cardiac_cycle=51)
    m = LumpedModel.single_vessel(R=100.0, S=10.0, inflow=4.0, sim=sim,
                                  outlet=("RCR", {"Rp": 300.0, "C": 1e-4, "Rd": 2000.0, "Pd": 80.0}))
    y = solve_lumped(m, backend=backend).vessel("V0")
    val = 80.0 + 4.0 * 2300.0 + 4.0 * (100.0 + 10.0 * 4.0)
    rows.append(_row("RCR steady inflow", "pressure_in", float(np.max(np.abs(y["pressure_in"] - val))) / val,
                     TOL_ANALYTIC, "P = Q (R + S Q + Rp + Rd) + Pd", group="analytic"))
    net, _ = read_svoned(ONED / "tests_cases" / "tube_stenosis_r.in")
    rs = solve_steady(net, backend=backend)
    for key, a, e in (("pressure_in", rs.vessel("seg0")["pressure_mmHg"][0] * MMHG, 10150.68211),
                      ("pressure_out", rs.vessel("seg2")["pressure_mmHg"][-1] * MMHG, 10000.0)):
        rows.append(_row("tube_stenosis_r.in", key, abs(a - e) / e, TOL_ANALYTIC,
                         "steady solver vs the analytic answer in the svOneD file (Young-Tsai)", group="analytic"))
    # consistency: a network exported to svZeroDSolver JSON and run by the lumped solver == steady solver
    import tempfile

    from ffrflow.meshing.stenosis import detect_lesions
    from ffrflow.phantoms import demo_case

    dnet = detect_lesions(demo_case().network)
    st = solve_steady(dnet, backend=backend)
    with tempfile.TemporaryDirectory() as d:
        lm = read_svzerod(write_svzerod(dnet, Path(d) / "demo.json"))
    means = solve_lumped(lm, backend=backend).means()
    ep = max(abs(means[o["vessel"]]["pressure_out"] / MMHG - o["pressure_mmHg"]) / o["pressure_mmHg"]
             for o in st.outlets)
    eq = max(abs(means[o["vessel"]]["flow_out"] - o["flow_ml_s"]) / o["flow_ml_s"] for o in st.outlets)
    for key, err in (("outlet pressure", ep), ("outlet flow", eq)):
        rows.append(_row("demo phantom -> svZeroD JSON -> lumped", key, err, TOL_ANALYTIC,
                         "vs ffrflow's steady solver (same equations)", group="analytic"))
    return rows


def vmr_rows(backend: str) -> list[dict]:
    from ffrflow.cfd.lumped import solve_lumped
    from ffrflow.formats.svzerod import read_svzerod

    rows = []
    for p in sorted((ZEROD / "vmr_reference").glob("*.json")):
        m = read_svzerod(p)
        t = time.perf_counter()
        r = solve_lumped(m, backend=backend)
        el = time.perf_counter() - t
        means = r.means()
        qin = sum(means[m.elements[i].name]["flow_in"] for i in m.vessels if m.elements[i].inlet_bc)
        qout = sum(means[m.elements[i].name]["flow_out"] for i in m.vessels if m.elements[i].outlet_bc)
        rows.append(_row(p.stem, "mass balance (cycle means)", abs(qin - qout) / abs(qin), TOL_PEER,
                         f"no stored result in the peer data; {len(m.vessels)} vessels, {r.cycles} cycles, "
                         f"{el:.2f} s", group="vmr"))
    return rows


def closed_loop_rows() -> list[dict]:
    from ffrflow.errors import InvalidInputError
    from ffrflow.formats.svzerod import read_svzerod

    rows = []
    for p in sorted((ZEROD / "test_interface_02").glob("*.json")):
        try:
            read_svzerod(p)
        except InvalidInputError as exc:
            rows.append({**_row(p.stem, "-", None, TOL_PEER, "cannot run: " + str(exc).split(": ", 1)[-1],
                                group="peer"), "pass": None})
    return rows


def format_table(rows: list[dict]) -> str:
    """Fixed-width table: case, quantity, max relative error, tolerance, pass, svZeroDSolver's 1e-7 check."""
    wc = max([4] + [len(r["case"]) for r in rows])
    wq = max([8] + [len(r["quantity"]) for r in rows])
    head = f"{'case':<{wc}}  {'quantity':<{wq}}  {'max rel err':>11}  {'tol':>6}  {'pass':>4}  {'svzd 1e-7':>9}"
    out = [head, "-" * len(head)]
    for r in rows:
        err = "-" if r["err"] is None else f"{r['err']:.2e}"
        out.append(f"{r['case']:<{wc}}  {r['quantity']:<{wq}}  {err:>11}  {r['tolerance']:>6.0e}  {r['pass_s']:>4}  "
                   f"{r['svzd']:>9}")
    return "\n".join(out)


def run(backend: str = "cpu") -> list[dict]:
    return (svzerod_peer_rows(backend) + closed_loop_rows() + handmade_rows(backend) + analytic_rows(backend)
            + vmr_rows(backend))


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks validate", description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="cpu", help="kernel backend (numpy is slow on the 30-cycle cases)")
    p.add_argument("--no-save", action="store_true")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    rows = run(a.backend)
    shown = [{**r, "pass_s": "-" if r["pass"] is None else ("yes" if r["pass"] else "NO"),
              "svzd": "-" if r["svzd_1e-7"] is None else ("yes" if r["svzd_1e-7"] else "no"),
              "err": r["max_rel_error"]} for r in rows]
    print(format_table(shown))
    skipped = [r for r in rows if r["pass"] is None]
    for r in skipped:
        print(f"not run: {r['case']}: {r['note']}")
    n_fail = sum(1 for r in rows if r["pass"] is False)
    print(f"{len(rows) - len(skipped)} checks, {n_fail} failed, {len(skipped)} cases not run "
          f"({time.perf_counter() - t0:.1f} s, backend {a.backend})")
    if not a.no_save:
        path = save("validate", {"backend": a.backend, "tolerances": {"peer": TOL_PEER, "handmade": TOL_HANDMADE,
                                                                     "analytic": TOL_ANALYTIC,
                                                                     "svzerod_own_rtol": SVZD_RTOL},
                                 "rows": rows})
        print(f"saved {path}")
    return 1 if n_fail else 0


if __name__ == "__main__":
    raise SystemExit(main())
