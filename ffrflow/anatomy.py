"""Anatomical names for the vessels of a coronary network, and the SCCT segment of every stretch.

A meshed case names its vessels ``LCA_1 …``, ``RCA_1 …``; a cardiologist reads "mid LAD" or "first
obtuse marginal". :func:`label_network` gives every vessel an anatomical name with a confidence in
[0, 1], from the geometry a CT gives (world millimetres, LPS: x towards the patient's left, y
posterior, z superior). A user's own names (``name`` in the network, or a ``names`` mapping of
vessel id to name, ``--names names.json``) always win.

Names
-----
``LM`` left main; ``LAD`` left anterior descending with its diagonals ``D1``, ``D2`` … (numbered
along the LAD from its origin); ``LCX`` left circumflex with its obtuse marginals ``OM1``, ``OM2`` …;
``RI`` ramus intermedius (the middle branch of a trifurcation of the LM); ``RCA`` with its right
ventricular branch(es) ``RV`` (``RV1``, ``RV2`` … when several), acute marginal(s) ``AM``, the
posterior descending artery ``PDA`` and, beyond the PDA's origin, the posterolateral branch ``PLV``.
A vessel of a named branch's own subtree that does not continue it is ``"<name> branch"`` (e.g. a
septal or a small side branch of the LAD: ``"LAD branch"``).

How (the rules, in order)
-------------------------
1. *Side.* A root's ``side`` field or a name that implies one (``LM``, ``RCA`` …) is taken as
   given. Otherwise a root whose trunk divides within :data:`LM_MAX_MM` of the ostium into two or
   three large branches (the smaller at least :data:`LM_SPLIT_RATIO` of the larger, in start radius
   and in subtree length) is a left tree (an LM); of two roots the one more to the patient's left (+x)
   is left; a single trunk without an LM is a right coronary artery when its course (rule 3) ends
   posterior to its ostium (the RCA ends at the crux), else an LAD traced on its own (it ends at the
   apex, anterior).
2. *Significant branches.* A child whose subtree holds at least :data:`MIN_BRANCH_MM` of centerline
   is a branch; smaller ones (meshing spurs, septals, twigs) are named after their parent.
3. *Continuation.* At a junction the vessel continues into the child that best keeps its
   direction, weighted with its radius and the size of its subtree (score
   ``cos(angle) + r/r_max + 0.5 L/L_max``; angle between the parent's last 8 mm and the child's
   first 10 mm). This follows the LCX along the atrioventricular groove past an obtuse marginal as
   large as itself, and the RCA past the PDA into the posterolateral branch.
4. *LM bifurcation.* The left trunk's first junction with two (or, within
   :data:`TRIFURCATION_MM`, three) large branches. The LAD is the branch that runs most anterior
   and apical over its first 30 mm (direction · normalize(anterior + apex), LPS: anterior −y, apex
   ≈ (0.62, −0.55, −0.56)) and reaches farthest from the bifurcation; the LCX the one that runs most
   posterior; a third, between them, is the ramus intermedius. The comparison is between branches of
   one tree, so a rotation of the scan frame by a few tens of degrees does not change it.
5. *Right tree.* The RCA is followed from its ostium (rule 3). The heart's long axis is estimated
   from the RCA itself: the normal of the plane that fits its course (it runs in the right
   atrioventricular groove, which circles the base), pointing to the side its branches run to; the
   centre of the groove is the circle fitted to the course in that plane. The angle θ swept round
   the axis from the ostium locates each branch: the PDA is the last large branch with
   θ ≥ :data:`PDA_MIN_DEG` (the crux lies ~150–180° round from the ostium), branches before it with
   θ ≥ :data:`AM_MIN_DEG` are acute marginals (the acute margin lies ~70–90° round), earlier ones
   right ventricular branches. The course beyond the PDA's origin is the PLV.
6. *A trunk without an LM* (a left tree whose first large division is farther than
   :data:`LM_MAX_MM` from the ostium, e.g. an LAD traced on its own) is named LAD with diagonals,
   at lower confidence.

Confidence: 1 for a user's name; otherwise the smallest of the confidences of the decisions that
led to the name, each ``0.5 + 0.5 tanh(margin / scale)`` (the score margin of a continuation or
LAD/LCX choice, the angular distance of θ from a threshold over 20°), times 0.9 where the side was
decided from geometry and 0.6 for a trunk without an LM.

SCCT segments
-------------
The 18-segment model of the Society of Cardiovascular Computed Tomography (Leipsic J et al., SCCT
guidelines for the interpretation and reporting of coronary CT angiography, J Cardiovasc Comput
Tomogr 2014;8:342–358), derived from the AHA model (Austen WG et al., A reporting system on
patients evaluated for coronary artery disease, Circulation 1975;51:5–40). The split points used:

==  ============  ===============================================================================
 1  pRCA          RCA ostium to half the distance (arclength) to the acute margin
 2  mRCA          to the acute margin: the origin of the first acute marginal, else the point
                  :data:`AM_MIN_DEG` round the long axis from the ostium
 3  dRCA          to the origin of the PDA (to the end of the RCA when there is none)
 4  R-PDA         the PDA from the RCA
 5  LM            ostium to the bifurcation (or trifurcation)
 6  pLAD          LM end to the origin of the first diagonal (the first large side branch)
 7  mLAD          to half the distance (arclength) from the end of pLAD to the apex; the apex is
                  the LAD point farthest from the LM ostium
 8  dLAD          the rest of the LAD
 9  D1            first diagonal
10  D2            second diagonal
11  pCx           LM end to the origin of the first obtuse marginal
12  OM1           first obtuse marginal
13  LCx           mid and distal LCX, beyond OM1
14  OM2           second obtuse marginal
15  L-PDA         a PDA from the LCX (from a user's name only)
16  R-PLB         the posterolateral branch from the RCA (PLV)
17  RI            ramus intermedius
18  L-PLB         a posterolateral branch from the LCX (from a user's name only)
==  ============  ===============================================================================

Other vessels (D3 and further diagonals, OM3…, RV and AM branches, unnamed side branches) have no
segment number in this model: their segment is ``None``. A vessel of the network can hold several
segments (a meshed vessel running from the LM bifurcation past D1 is segments 6 and 7): each
stretch is reported with its arclength interval along the vessel (mm).

Left dominance (a PDA from the LCX) is recognised only from a user's names; the geometry rules name
a right-dominant tree.

Examples
--------
>>> from ffrflow.phantoms import coronary_tree
>>> net = coronary_tree().network
>>> for v in net.vessels.values():
...     v.name = None
>>> an = label_network(net)
>>> an.name("LAD_m"), an.name("OM1"), an.name("PDA")
('LAD', 'OM1', 'PDA')
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .errors import InvalidInputError
from .network import VesselNetwork, interpolate_along

#: Least centerline length (mm) in a child's subtree for it to count as a branch.
MIN_BRANCH_MM = 15.0
#: Longest left main (mm, ostium to bifurcation) before the left trunk is taken for an LAD traced on its own.
LM_MAX_MM = 30.0
#: At an LM division the smaller of the two largest branches has at least this fraction of the larger's
#: start radius and of its subtree's centerline length (the LCX and the LAD are both large arteries).
LM_SPLIT_RATIO = 0.5
#: Two divisions closer than this (mm) along the LM are one trifurcation (LAD, ramus, LCX).
TRIFURCATION_MM = 5.0
#: Angle round the long axis from the RCA ostium (degrees) from which a branch is an acute marginal.
AM_MIN_DEG = 55.0
#: Angle round the long axis from the RCA ostium (degrees) from which a branch can be the PDA.
PDA_MIN_DEG = 110.0
#: Prior directions in LPS: anterior and base-to-apex of an average heart.
ANTERIOR_LPS = np.array([0.0, -1.0, 0.0])
APEX_LPS = np.array([0.62, -0.55, -0.56]) / np.linalg.norm([0.62, -0.55, -0.56])

#: SCCT 2014 segment numbers and their labels.
SEGMENTS = {1: "proximal RCA", 2: "mid RCA", 3: "distal RCA", 4: "R-PDA", 5: "LM", 6: "proximal LAD",
            7: "mid LAD", 8: "distal LAD", 9: "D1", 10: "D2", 11: "proximal LCX", 12: "OM1",
            13: "mid/distal LCX", 14: "OM2", 15: "L-PDA", 16: "R-PLB", 17: "RI", 18: "L-PLB"}

# user names → anatomical keys (the segment numbers need them); first match wins
_CANON = [
    (r"\b(lm|lmca|left main)\b", "LM"),
    (r"\bl-?pda\b|posterior descending.*(from|of) (the )?(lcx|circumflex)", "L-PDA"),
    (r"\bl-?plb?\b|posterolateral.*(from|of) (the )?(lcx|circumflex)", "L-PLB"),
    (r"\b(ri|ramus)\b|ramus intermedius|intermediate", "RI"),
    (r"\b(d|diag)\s*(\d+)\b|(first|second|third|fourth) diagonal", "D"),
    (r"\b(om)\s*(\d+)\b|(first|second|third|fourth) (obtuse )?marginal", "OM"),
    (r"\blad\b|left anterior descending", "LAD"),
    (r"\b(lcx|lcx|cx|circumflex)\b|left circumflex", "LCX"),
    (r"\b(r-?)?pda\b|posterior descending", "PDA"),
    (r"\b(r-?)?pl[bv]\b|posterolateral", "PLV"),
    (r"\bam\s*\d*\b|acute marginal", "AM"),
    (r"\brv\s*\d*\b|right ventricular", "RV"),
    (r"\brca\b|right coronary", "RCA"),
]
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4}


def canonical_key(name: str | None) -> str | None:
    """The anatomical key of a name (``"left anterior descending, mid"`` → ``"LAD"``, ``"D2"`` →
    ``"D2"``, ``"first obtuse marginal"`` → ``"OM1"``), or None for a name this module does not know."""
    if not name:
        return None
    text = str(name).strip().lower().replace("_", " ")
    for pat, key in _CANON:
        m = re.search(pat, text)
        if not m:
            continue
        if key in ("D", "OM"):
            nums = [g for g in m.groups() if g and g.isdigit()]
            words = [g for g in m.groups() if g in _ORDINALS]
            k = int(nums[0]) if nums else _ORDINALS[words[0]] if words else 1
            return f"{key}{k}"
        if key in ("AM", "RV"):
            nums = re.findall(r"\d+", m.group(0))
            return f"{key}{nums[0]}" if nums else key
        return key
    return None


@dataclass
class VesselLabel:
    """The anatomical name of one network vessel.

    Attributes
    ----------
    vessel : str
        Network vessel id.
    name : str
        Name to show: the user's name when given, else the anatomical name (``"LAD"``, ``"OM1"`` …).
    anatomy : str or None
        Anatomical key (``"LAD"``, ``"D1"``, ``"LAD branch"`` …) used for the segments; for a user's
        name the key it reads as (None when it reads as none).
    confidence : float
        In [0, 1] (1 for a user's name); see the module docstring.
    source : {"user", "geometry"}
    segments : list of dict
        ``{"segment": int or None, "label": str or None, "start_mm", "end_mm"}`` stretches along the
        vessel (mm from its first point).
    """

    vessel: str
    name: str
    anatomy: str | None
    confidence: float
    source: str
    segments: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"vessel": self.vessel, "name": self.name, "anatomy": self.anatomy,
                "confidence": round(float(self.confidence), 4), "source": self.source,
                "segments": [dict(s) for s in self.segments]}


@dataclass
class Anatomy:
    """Anatomical labels of a network: one :class:`VesselLabel` per vessel, and the trees' sides."""

    labels: dict
    sides: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def name(self, vessel_id: str) -> str:
        """Name of a vessel (the user's, else the anatomical one)."""
        return self.labels[vessel_id].name

    def segment_at(self, vessel_id: str, s_mm: float) -> tuple[int | None, str | None]:
        """SCCT segment number and label at arclength ``s_mm`` (mm) along a vessel."""
        segs = self.labels[vessel_id].segments
        for seg in segs:
            if seg["start_mm"] - 1e-9 <= s_mm <= seg["end_mm"] + 1e-9:
                return seg["segment"], seg["label"]
        return (segs[-1]["segment"], segs[-1]["label"]) if segs else (None, None)

    def to_dict(self) -> dict:
        """JSON-ready: ``vessels`` (one record per vessel, network order), ``sides``, ``notes``,
        ``method``."""
        return {"method": "ffrflow.anatomy geometry rules; SCCT 2014 segments (Leipsic et al.)",
                "sides": dict(self.sides), "notes": list(self.notes),
                "vessels": [lab.to_dict() for lab in self.labels.values()]}


def read_names(path: str | Path) -> dict[str, str]:
    """Read a ``names.json`` file: ``{"vessel id": "name", ...}``.

    Raises
    ------
    InvalidInputError
        A missing or malformed file, or a value that is not a non-empty string.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"{path}: not a JSON file of vessel names ({exc})") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path}: expected an object {{\"vessel id\": \"name\"}}, got {type(data).__name__}")
    for k, v in data.items():
        if not isinstance(v, str) or not v.strip():
            raise InvalidInputError(f"{path}: names.{k}: expected a non-empty string, got {v!r}")
    return {str(k): str(v) for k, v in data.items()}


def apply_names(net: VesselNetwork, names: Mapping[str, str] | None, source: str = "names") -> VesselNetwork:
    """A copy of ``net`` whose vessels carry the user's ``names`` (``{vessel id: name}``).

    Raises
    ------
    InvalidInputError
        A vessel id the network does not have (naming ``source`` and the ids it has).
    """
    if not names:
        return net
    unknown = sorted(set(names) - set(net.vessels))
    if unknown:
        raise InvalidInputError(f"{source}: no vessel {unknown} in this network; its vessels are {net.ids}")
    net = net.copy()
    for vid, nm in names.items():
        net.vessels[vid].name = str(nm)
    return net


# ====================================================================== geometry helpers
def _conf(margin: float, scale: float) -> float:
    return float(0.5 + 0.5 * math.tanh(max(margin, 0.0) / scale))


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


class _Geo:
    """Topology and direction helpers on one network."""

    def __init__(self, net: VesselNetwork, min_branch_mm: float):
        self.net = net
        self.ch = net._children()
        self.sub: dict[str, float] = {}
        for vid in reversed(net.ids):
            self.sub[vid] = net.length_mm(vid) + sum(self.sub[c] for c in self.ch.get(vid, []))
        self.min_branch_mm = min_branch_mm

    def children(self, vid):
        return self.ch.get(vid, [])

    def significant(self, vid):
        return [c for c in self.children(vid) if self.sub[c] >= self.min_branch_mm]

    def r0(self, vid) -> float:
        """Radius near the start of a vessel (median over 1.5–6 mm, past the junction's widening)."""
        v = self.net.vessels[vid]
        s = v.arclength_mm
        sel = (s >= min(1.5, 0.3 * s[-1])) & (s <= max(6.0, 0.0))
        return float(np.median(v.radius_mm[sel] if sel.any() else v.radius_mm))

    def biggest(self, vid) -> str | None:
        ch = self.children(vid)
        return max(ch, key=lambda c: self.sub[c]) if ch else None

    def point_along(self, vid, s_mm: float) -> np.ndarray:
        """Point ``s_mm`` down the path that starts at ``vid`` and follows the largest subtree."""
        cur, s = vid, float(s_mm)
        while True:
            v = self.net.vessels[cur]
            if s <= v.length_mm or not self.children(cur):
                return interpolate_along(v, min(s, v.length_mm))[0][0]
            s -= v.length_mm
            cur = self.biggest(cur)

    def point_before_end(self, vid, s_mm: float) -> np.ndarray:
        """Point ``s_mm`` upstream of the end of ``vid`` (through its parents)."""
        cur, s = vid, float(s_mm)
        while True:
            v = self.net.vessels[cur]
            if s <= v.length_mm or v.parent is None:
                return interpolate_along(v, max(v.length_mm - s, 0.0))[0][0]
            s -= v.length_mm
            cur = v.parent

    def start_dir(self, vid, length_mm: float) -> np.ndarray:
        v = self.net.vessels[vid]
        return _unit(self.point_along(vid, length_mm) - v.points_mm[0])

    def end_dir(self, vid, length_mm: float = 8.0) -> np.ndarray:
        v = self.net.vessels[vid]
        return _unit(v.points_mm[-1] - self.point_before_end(vid, length_mm))

    def continuation(self, vid) -> tuple[str | None, float]:
        """The child that continues ``vid`` and the confidence of the choice (rule 3)."""
        sig = self.significant(vid)
        if not sig:
            return None, 1.0
        if len(sig) == 1:
            return sig[0], 1.0
        d = self.end_dir(vid)
        rmax = max(self.r0(c) for c in sig)
        lmax = max(self.sub[c] for c in sig)
        score = {c: float(d @ self.start_dir(c, 10.0)) + self.r0(c) / rmax + 0.5 * self.sub[c] / lmax for c in sig}
        order = sorted(sig, key=lambda c: -score[c])
        return order[0], _conf(score[order[0]] - score[order[1]], 0.3)

    def subtree(self, vid) -> list[str]:
        out, stack = [], [vid]
        while stack:
            x = stack.pop()
            out.append(x)
            stack.extend(self.children(x))
        return out

    def subtree_points(self, vid) -> np.ndarray:
        return np.concatenate([self.net.vessels[x].points_mm for x in self.subtree(vid)])


# ====================================================================== labelling
class _Labeller:
    def __init__(self, net: VesselNetwork, min_branch_mm: float):
        self.net = net
        self.g = _Geo(net, min_branch_mm)
        self.key: dict[str, str] = {}
        self.conf: dict[str, float] = {}
        self.notes: list[str] = []
        self.trunks: dict[str, dict] = {}      # per root: LAD/LCX/RCA paths and split points

    # -------------------------------------------------------------- naming helpers
    def _set(self, vid, key, conf):
        self.key[vid] = key
        self.conf[vid] = float(min(max(conf, 0.0), 1.0))

    def _name_branch_subtree(self, vid, name, conf):
        """Name the continuation path from ``vid`` ``name`` and the rest of its subtree ``name branch``."""
        path = self._path(vid)
        for p in path:
            self._set(p, name, conf)
        for p in path:
            for c in self.g.children(p):
                if c not in path:
                    for x in self.g.subtree(c):
                        self._set(x, f"{name} branch", conf)
        return path

    def _path(self, vid) -> list[str]:
        path, cur = [vid], vid
        while True:
            nxt, _ = self.g.continuation(cur)
            if nxt is None:
                return path
            path.append(nxt)
            cur = nxt

    def _path_with_conf(self, vid, conf0):
        path, confs, cur, c = [vid], [conf0], vid, conf0
        while True:
            nxt, cc = self.g.continuation(cur)
            if nxt is None:
                return path, confs
            c = min(c, cc)
            path.append(nxt)
            confs.append(c)
            cur = nxt

    def _side_branches(self, path):
        """Children of a path that are not on it, with the arclength of their origin along the path."""
        out, off = [], 0.0
        for p in path:
            off += self.net.length_mm(p)
            for c in self.g.children(p):
                if c not in path:
                    out.append((c, off))
        return out

    # -------------------------------------------------------------- trees
    def lm_structure(self, root):
        """(LM vessels, major branches) when the root divides like a left main, else None."""
        g = self.g
        chain, cur, dist = [root], root, self.net.length_mm(root)
        while True:
            sig = g.significant(cur)
            if len(sig) >= 2:
                break
            if not sig:
                return None
            cur = sig[0]
            chain.append(cur)
            dist += self.net.length_mm(cur)
            if dist - self.net.length_mm(cur) > LM_MAX_MM:
                return None
        if dist > LM_MAX_MM:
            return None
        # an LM divides into two large arteries (LCX radius ~0.8 x LAD's); the RCA's first branches
        # (conus, right ventricular) are much smaller than the RCA that continues
        two = sorted(sig, key=lambda c: -g.sub[c])[:2]
        if g.sub[two[1]] < LM_SPLIT_RATIO * g.sub[two[0]] or \
                min(g.r0(c) for c in two) < LM_SPLIT_RATIO * max(g.r0(c) for c in two):
            return None
        branches = list(sig)
        connectors = []
        for c in list(branches):
            sub_sig = g.significant(c)
            if self.net.length_mm(c) < TRIFURCATION_MM and len(sub_sig) >= 2 and len(branches) == 2:
                branches.remove(c)
                branches += sub_sig
                connectors.append(c)
        return chain, branches, connectors

    def label_left(self, root, side_conf):
        g = self.g
        lm = self.lm_structure(root)
        if lm is None:      # an LAD traced on its own
            self.notes.append(f"tree {root}: no left main division within {LM_MAX_MM:g} mm of the ostium; "
                              f"its trunk is named LAD")
            path, confs = self._path_with_conf(root, 0.6 * side_conf)
            self._name_trunk(path, confs, "LAD", "D")
            self.trunks[root] = {"LAD": path, "lm_end": None}
            return
        chain, branches, connectors = lm
        for v in chain:
            self._set(v, "LM", side_conf)
        bif = self.net.vessels[chain[-1]].points_mm[-1]
        feats = {}
        for b in branches:
            d = g.start_dir(b, 30.0)
            reach = float(np.max(np.linalg.norm(g.subtree_points(b) - bif, axis=1)))
            feats[b] = (d, reach)
        rmax = max(f[1] for f in feats.values())
        prior = _unit(ANTERIOR_LPS + APEX_LPS)
        s_lad = {b: float(feats[b][0] @ prior) + 0.5 * feats[b][1] / rmax for b in branches}
        s_lcx = {b: float(feats[b][0] @ ANTERIOR_LPS) for b in branches}   # most posterior = smallest
        lad = max(branches, key=lambda b: s_lad[b])
        rest = [b for b in branches if b != lad]
        lcx = min(rest, key=lambda b: s_lcx[b])
        others = sorted(s_lad.values(), reverse=True)
        c_lad = min(side_conf, _conf(others[0] - others[1], 0.3))
        for v in connectors:
            self._set(v, "LM", c_lad)
        lad_path, lad_c = self._path_with_conf(lad, c_lad)
        lcx_path, lcx_c = self._path_with_conf(lcx, c_lad)
        self._name_trunk(lad_path, lad_c, "LAD", "D")
        self._name_trunk(lcx_path, lcx_c, "LCX", "OM")
        for b in rest:
            if b != lcx:
                self._name_branch_subtree(b, "RI", c_lad)
        self.trunks[root] = {"LAD": lad_path, "LCX": lcx_path}

    def _name_trunk(self, path, confs, trunk, prefix):
        for p, c in zip(path, confs):
            self._set(p, trunk, c)
        k = 0
        for c, _off in self._side_branches(path):
            parent_conf = self.conf[self.net.vessels[c].parent]
            if self.g.sub[c] >= self.g.min_branch_mm:
                k += 1
                self._name_branch_subtree(c, f"{prefix}{k}", parent_conf)
            else:
                for x in self.g.subtree(c):
                    self._set(x, f"{trunk} branch", parent_conf)

    def label_right(self, root, side_conf):
        g = self.g
        path, confs = self._path_with_conf(root, side_conf)
        pts = np.concatenate([self.net.vessels[p].points_mm for p in path])
        theta_of, frame_ok = self._rca_angles(path, pts)
        branches = self._side_branches(path)
        big = [(c, off) for c, off in branches if g.sub[c] >= g.min_branch_mm]
        # the PDA: the last large branch far enough round the heart
        pda = None
        for c, off in big:
            if theta_of(off) >= PDA_MIN_DEG:
                pda = (c, off)
        s_pda = pda[1] if pda else math.inf
        for p, c in zip(path, confs):
            self._set(p, "RCA", c)
        if pda is not None:
            c_pda = min(self.conf[self.net.vessels[pda[0]].parent], _conf(theta_of(pda[1]) - PDA_MIN_DEG, 20.0))
            # the path beyond the PDA's origin is the posterolateral branch
            off = 0.0
            for p in path:
                if off >= s_pda - 1e-6:
                    self._set(p, "PLV", min(self.conf[p], c_pda))
                off += self.net.length_mm(p)
        rv = [(c, off) for c, off in big if off < s_pda and theta_of(off) < AM_MIN_DEG]
        am = [(c, off) for c, off in big if off < s_pda and theta_of(off) >= AM_MIN_DEG]
        for group, nm in ((rv, "RV"), (am, "AM")):
            for k, (c, off) in enumerate(group, start=1):
                conf = min(self.conf[self.net.vessels[c].parent], _conf(abs(theta_of(off) - AM_MIN_DEG), 20.0))
                self._name_branch_subtree(c, nm if len(group) == 1 else f"{nm}{k}", conf)
        if pda is not None:
            self._name_branch_subtree(pda[0], "PDA", c_pda)
        for c, off in branches:
            if (c, off) in big:
                continue
            trunk = self.key[self.net.vessels[c].parent]
            for x in g.subtree(c):
                self._set(x, f"{trunk} branch", self.conf[self.net.vessels[c].parent])
        # extra large branches beyond the PDA (further posterolateral branches)
        for c, off in big:
            if off > s_pda + 1e-6 and c not in self.key:
                self._name_branch_subtree(c, "PLV branch", self.conf[self.net.vessels[c].parent])
        am_s = am[0][1] if am else self._rca_angle_point(path, theta_of, AM_MIN_DEG)
        self.trunks[root] = {"RCA": [p for p in path if self.key[p] == "RCA"], "acute_margin_mm": am_s,
                             "frame_ok": frame_ok}

    def _rca_angles(self, path, pts):
        """θ(s): angle (degrees) round the long axis from the ostium, at arclength s along the RCA path."""
        seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
        s = np.concatenate([[0.0], np.cumsum(seg)])
        keep = np.concatenate([[True], seg > 1e-9])
        pts, s = pts[keep], s[keep]
        if len(pts) < 5 or s[-1] < 20.0:
            return (lambda off: 0.0), False
        ctr = pts.mean(axis=0)
        _, _, vt = np.linalg.svd(pts - ctr)
        u = vt[2]
        # orient the axis towards the side the branches run to (the apex)
        ends = [self.g.subtree_points(c)[-1] for c, _ in self._side_branches(path)]
        if ends:
            if float(np.mean([(e - ctr) @ u for e in ends])) < 0:
                u = -u
        elif float(APEX_LPS @ u) < 0:
            u = -u
        e1 = vt[0]
        e2 = np.cross(u, e1)
        x, y = (pts - ctr) @ e1, (pts - ctr) @ e2
        # circle fit (Kasa): x² + y² = 2 a x + 2 b y + c
        A = np.column_stack([2 * x, 2 * y, np.ones_like(x)])
        sol, *_ = np.linalg.lstsq(A, x * x + y * y, rcond=None)
        a, b = sol[0], sol[1]
        ang = np.unwrap(np.arctan2(y - b, x - a))
        ang = np.degrees(ang - ang[0])
        if ang[-1] < 0:
            ang = -ang

        def theta_of(off):
            return float(np.interp(off, s, ang))

        self._rca_s, self._rca_ang = s, ang
        return theta_of, True

    def _rca_angle_point(self, path, theta_of, deg):
        s, ang = getattr(self, "_rca_s", None), getattr(self, "_rca_ang", None)
        if s is None:
            return None
        k = np.nonzero(ang >= deg)[0]
        return float(s[k[0]]) if k.size else None

    # -------------------------------------------------------------- sides
    def sides(self) -> tuple[dict, dict]:
        net = self.net
        sides, how = net.side_of_roots()
        conf = {}
        geo_roots = [r for r in net.roots if how[r] not in ("side field", "name")]
        for r in net.roots:
            conf[r] = 1.0 if r not in geo_roots else 0.9
        if not geo_roots:
            return sides, conf
        lm_like = {r: self.lm_structure(r) is not None for r in geo_roots}
        if len(net.roots) == 2 and len(geo_roots) == 2:
            a, b = geo_roots
            if lm_like[a] != lm_like[b]:
                left = a if lm_like[a] else b
            else:
                xa, xb = (float(net.vessels[r].points_mm[0][0]) for r in (a, b))
                left = a if xa > xb else b
            for r in geo_roots:
                sides[r] = "left" if r == left else "right"
            return sides, conf
        taken = {sides[r] for r in net.roots if r not in geo_roots}
        for r in geo_roots:
            if lm_like[r]:
                sides[r] = "left"
            elif taken == {"left"}:
                sides[r] = "right"
            elif taken == {"right"}:
                sides[r] = "left"
            else:   # one trunk on its own: an RCA ends posterior (the crux), an LAD anterior (the apex)
                path = self._path(r)
                e = _unit(self.net.vessels[path[-1]].points_mm[-1] - self.net.vessels[r].points_mm[0])
                a = float(e @ ANTERIOR_LPS)
                sides[r] = "right" if a < 0 else "left"
                conf[r] = _conf(abs(a), 0.3) * 0.9
        return sides, conf

    def run(self) -> tuple[dict, dict]:
        sides, conf = self.sides()
        for r in self.net.roots:
            if sides[r] == "left":
                self.label_left(r, conf[r])
            else:
                self.label_right(r, conf[r])
        for vid in self.net.ids:       # anything left (should not happen): after its parent
            if vid not in self.key:
                par = self.net.vessels[vid].parent
                self._set(vid, f"{self.key.get(par, 'vessel')} branch", 0.3)
        return sides, conf


# ====================================================================== segments
def _path_segments(net: VesselNetwork, path: list[str], cuts: list[tuple[float, int | None]]) -> dict[str, list]:
    """Split a path of vessels at arclengths ``cuts`` = [(s_from, segment), ...] (ascending)."""
    out, off = {}, 0.0
    for vid in path:
        L = net.length_mm(vid)
        segs = []
        for k, (s0, seg) in enumerate(cuts):
            s1 = cuts[k + 1][0] if k + 1 < len(cuts) else math.inf
            a, b = max(s0, off), min(s1, off + L)
            if b - a > 1e-9 or (L == 0 and s0 <= off < s1):
                segs.append({"segment": seg, "label": SEGMENTS.get(seg), "start_mm": float(round(a - off, 4)),
                             "end_mm": float(round(b - off, 4))})
        out[vid] = segs
        off += L
    return out


def _segments(net: VesselNetwork, keys: dict[str, str | None]) -> dict[str, list]:
    """SCCT segments of every vessel from the anatomical keys (see the module docstring)."""
    whole = {"LM": 5, "D1": 9, "D2": 10, "OM1": 12, "OM2": 14, "PDA": 4, "L-PDA": 15, "PLV": 16, "RI": 17,
             "L-PLB": 18}
    segs: dict[str, list] = {}
    ch = net._children()
    for vid in net.ids:
        k = keys.get(vid)
        seg = whole.get(k)
        segs[vid] = [{"segment": seg, "label": SEGMENTS.get(seg), "start_mm": 0.0,
                      "end_mm": round(net.length_mm(vid), 4)}]

    def chains(key):
        """Maximal parent→child chains of vessels keyed ``key``."""
        out = []
        for vid in net.ids:
            if keys.get(vid) != key:
                continue
            par = net.vessels[vid].parent
            if par is not None and keys.get(par) == key:
                continue
            path, cur = [vid], vid
            while True:
                nxt = [c for c in ch.get(cur, []) if keys.get(c) == key]
                if not nxt:
                    break
                cur = max(nxt, key=lambda c: net.length_mm(c))
                path.append(cur)
            out.append(path)
        return out

    def origin_along(path, key_prefix):
        """Arclength along ``path`` of the first child whose key starts with ``key_prefix``."""
        off = 0.0
        for p in path:
            off += net.length_mm(p)
            for c in ch.get(p, []):
                if c not in path and (keys.get(c) or "").startswith(key_prefix) and \
                        not (keys.get(c) or "").endswith("branch"):
                    return off
        return None

    for path in chains("LAD"):
        pts = np.concatenate([net.vessels[p].points_mm for p in path])
        total = sum(net.length_mm(p) for p in path)
        s1 = origin_along(path, "D")
        if s1 is None:
            s1 = min(total, max(0.0, total / 4.0))
        root_pt = net.vessels[net.root_of(path[0])].points_mm[0]
        s_pts = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
        far = s_pts[int(np.argmax(np.linalg.norm(pts - root_pt, axis=1)))]
        s2 = s1 + 0.5 * max(far - s1, 0.0)
        segs.update(_path_segments(net, path, [(0.0, 6), (s1, 7), (max(s2, s1), 8)]))
    for path in chains("LCX"):
        s1 = origin_along(path, "OM1")
        cuts = [(0.0, 11)] + ([(s1, 13)] if s1 is not None else [])
        segs.update(_path_segments(net, path, cuts))
    for path in chains("RCA"):
        total = sum(net.length_mm(p) for p in path)
        s_am = origin_along(path, "AM")
        if s_am is None:
            s_am = 0.6 * total
        segs.update(_path_segments(net, path, [(0.0, 1), (0.5 * s_am, 2), (s_am, 3)]))
    return segs


def label_network(net: VesselNetwork, names: Mapping[str, str] | None = None, *,
                  min_branch_mm: float = MIN_BRANCH_MM) -> Anatomy:
    """Anatomical names, confidences and SCCT segments for every vessel of a network.

    Parameters
    ----------
    net : VesselNetwork
        Centerlines in world mm (LPS).
    names : mapping, optional
        ``{vessel id: name}``: the user's names, which win over the network's ``name`` fields and
        over the geometry.
    min_branch_mm : float
        Least subtree centerline length (mm) of a branch (rule 2 of the module docstring).

    Returns
    -------
    Anatomy

    Raises
    ------
    InvalidInputError
        A name for a vessel id the network does not have.
    """
    if names:
        net = apply_names(net, names)
    lab = _Labeller(net, min_branch_mm)
    sides, _ = lab.run()
    keys: dict[str, str | None] = {}
    labels: dict[str, VesselLabel] = {}
    for vid, v in net.vessels.items():
        if v.name:
            keys[vid] = canonical_key(v.name)
        else:
            keys[vid] = lab.key[vid]
    segs = _segments(net, keys)
    for vid, v in net.vessels.items():
        if v.name:
            labels[vid] = VesselLabel(vid, v.name, keys[vid], 1.0, "user", segs[vid])
        else:
            labels[vid] = VesselLabel(vid, lab.key[vid], lab.key[vid], lab.conf[vid], "geometry", segs[vid])
    return Anatomy(labels, sides=sides, notes=lab.notes)


# ====================================================================== validation against a phantom
#: Phantom vessel ids (:mod:`ffrflow.phantoms`) → the anatomical name they are.
PHANTOM_NAMES = {"LM": "LM", "LAD_p": "LAD", "LAD_m": "LAD", "LAD_d": "LAD", "D1": "D1", "D2": "D2",
                 "LCX_p": "LCX", "LCX_m": "LCX", "LCX_d": "LCX", "OM1": "OM1", "OM2": "OM2", "RCA_p": "RCA",
                 "RCA_m": "RCA", "RCA_d": "RCA", "RV": "RV", "AM": "AM", "PDA": "PDA", "PLV": "PLV"}
#: The main trunks (goal: all of their length named right) and the side branches.
TRUNKS = ("LM", "LAD", "LCX", "RCA")


def rotate_network(net: VesselNetwork, angles_deg, center_mm=None) -> VesselNetwork:
    """A copy of ``net`` rotated rigidly (a change of the scan frame).

    Parameters
    ----------
    angles_deg : 3 floats
        Rotations about the x, y and z axes (degrees, extrinsic, applied in that order).
    center_mm : 3 floats, optional
        Centre of the rotation (mm; default the mean of all centerline points).
    """
    from scipy.spatial.transform import Rotation

    out = net.copy()
    R = Rotation.from_euler("xyz", list(angles_deg), degrees=True).as_matrix()
    c = np.mean(np.concatenate([v.points_mm for v in net.vessels.values()]), axis=0) if center_mm is None \
        else np.asarray(center_mm, dtype=np.float64)
    for v in out.vessels.values():
        v.points_mm = (v.points_mm - c) @ R.T + c
    return out


def naming_accuracy(anatomy: Anatomy, net: VesselNetwork, truth: VesselNetwork,
                    truth_names: Mapping[str, str] | None = None, junction_factor: float = 1.0) -> dict:
    """Fraction of the true vessels' length named as the truth.

    Every point of every ``truth`` vessel is projected onto the nearest centerline of ``net`` (the
    labelled network; the same network, rotated or meshed); the name there is compared with the true
    name (``truth_names``: ``{truth vessel id: name}``, default :data:`PHANTOM_NAMES`). Lengths
    are those of the truth polylines (mm). The stretches of a true vessel inside a junction (closer to
    the branch point than ``junction_factor`` × the lumen radius there), where the centerline point
    belongs to either vessel, are left out (``junction_mm`` says how much).

    Returns
    -------
    dict
        ``by_name``: ``{true name: fraction}``; ``trunks`` and ``branches``: length-weighted
        fractions over :data:`TRUNKS` and over the other names; ``overall``; ``wrong``:
        ``{true name: {given name: mm}}``; ``junction_mm``: length left out.
    """
    from .meshing.compare import project_onto

    truth_names = dict(PHANTOM_NAMES if truth_names is None else truth_names)
    poly = {vid: v.points_mm for vid, v in net.vessels.items()}
    rad = {vid: v.radius_mm for vid, v in net.vessels.items()}
    tot: dict[str, float] = {}
    good: dict[str, float] = {}
    wrong: dict[str, dict[str, float]] = {}
    tch = truth._children()
    skipped = 0.0
    for tid, tv in truth.vessels.items():
        name = truth_names.get(tid, tid)
        mid = 0.5 * (tv.points_mm[1:] + tv.points_mm[:-1])
        seg = np.linalg.norm(np.diff(tv.points_mm, axis=0), axis=1)
        # inside a junction (within the parent's lumen of a branch point) the owner is ambiguous
        near = np.zeros(len(mid), bool)
        if tv.parent is not None:
            r = float(truth.vessels[tv.parent].radius_mm[-1])
            near |= np.linalg.norm(mid - tv.points_mm[0], axis=1) < junction_factor * r
        if tch.get(tid):
            near |= np.linalg.norm(mid - tv.points_mm[-1], axis=1) < junction_factor * float(tv.radius_mm[-1])
        skipped += float(seg[near].sum())
        mid, seg = mid[~near], seg[~near]
        if not len(mid):
            continue
        _, _, owner = project_onto(mid, poly, rad)
        for o, ll in zip(owner, seg):
            got = anatomy.name(o)
            tot[name] = tot.get(name, 0.0) + float(ll)
            if got == name:
                good[name] = good.get(name, 0.0) + float(ll)
            else:
                wrong.setdefault(name, {})
                wrong[name][got] = wrong[name].get(got, 0.0) + float(ll)

    def frac(names):
        t = sum(tot[n] for n in names)
        return float(sum(good.get(n, 0.0) for n in names) / t) if t > 0 else None

    trunks = [n for n in tot if n in TRUNKS]
    branches = [n for n in tot if n not in TRUNKS]
    return {"by_name": {n: frac([n]) for n in tot}, "trunks": frac(trunks), "branches": frac(branches),
            "overall": frac(list(tot)), "junction_mm": round(skipped, 2), "wrong": {k: {g: round(x, 2) for g, x in v.items()} for k, v in wrong.items()}}


def stripped(net: VesselNetwork, keep_sides: bool = True, keep_ids: bool = True) -> VesselNetwork:
    """A copy without names (and, with ``keep_sides=False``, without the roots' ``side``; with
    ``keep_ids=False``, with the vessels renamed ``V1``, ``V2`` … in network order, so that no id such
    as ``RCA_p`` or ``LM`` tells a root's side: the geometry alone does)."""
    out = net.copy()
    for v in out.vessels.values():
        v.name = None
        if not keep_sides:
            v.side = None
    if keep_ids:
        return out
    d = out.to_dict()
    ids = {v["id"]: f"V{k + 1}" for k, v in enumerate(d["vessels"])}
    for v in d["vessels"]:
        v["id"] = ids[v["id"]]
        if v.get("parent") is not None:
            v["parent"] = ids[v["parent"]]
    outlets = d.get("boundary", {}).get("outlets")
    if isinstance(outlets, dict):
        d["boundary"]["outlets"] = {ids.get(k, k): x for k, x in outlets.items()}
    return VesselNetwork.from_dict(d)
