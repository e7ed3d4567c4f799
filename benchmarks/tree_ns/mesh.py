"""Exact lumen solid of a vessel network (gmsh/OpenCASCADE) and its tetrahedral mesh for OpenFOAM.

Why not ``ffrflow.meshing.surface.tube_surface`` + ``ffrflow.meshing.volume.tetrahedral_mesh``:
that path voxelises the swept tube and smooths the contour, which moves the wall by a fraction of
a voxel. At a 50 % DS throat of 0.75 mm radius a 0.03 mm radius error is a 17 % change of the
viscous drop (∝ r⁻⁴), so the 3D solution would no longer belong to the network the 1D model
solves. Here the solid is built from the network itself:

- each vessel is a loft (``addThruSections``, smooth B-spline) through circles of the network
  radius centred on the centerline (plus an optional offset: eccentric lumens), normal to the
  chord tangent, at every centerline point kept by :func:`stations` (all points inside lesions,
  every ``step_mm`` elsewhere);
- at every branch point a sphere of the parent's end radius closes the junction (the union of
  cones and spheres that ffrflow's own voxeliser sweeps), children start at the branch point,
  inside the sphere;
- the pieces are fused (``occ.fuse``); the flat end faces of the roots and of the terminal
  vessels are the ``inlet_<vessel>`` and ``outlet_<vessel>`` physical surfaces, the rest ``wall``;
  the volume is ``lumen``.

Elements: tetrahedra of size ``size_per_radius`` × the radius of the nearest centerline point,
graded down to ``wall_factor`` × that at the wall (bounded below by ``min_size_mm``), a mesh-size
callback, gmsh's Delaunay + Netgen optimiser (OpenFOAM turns them into polyhedra, see
:mod:`benchmarks.tree_ns.foamcase`). The
file is gmsh MSH 2.2 ASCII, the format ``gmshToFoam`` (OpenFOAM v1912) reads; physical names
become patch names.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("benchmarks.tree_ns")


def stations(vessel, step_mm: float = 1.0, lesion_margin_mm: float = 1.0) -> np.ndarray:
    """Indices of the centerline points used as loft sections.

    All points within ``lesion_margin_mm`` of a lesion (and the first and last point) are kept,
    elsewhere one every ``step_mm`` of arc length.
    """
    s = vessel.arclength_mm
    keep = np.zeros(len(s), bool)
    keep[0] = keep[-1] = True
    for les in vessel.lesions or []:
        keep |= (s >= les.start_mm - lesion_margin_mm) & (s <= les.end_mm + lesion_margin_mm)
    last = 0.0
    for i, si in enumerate(s):
        if si - last >= step_mm - 1e-9:
            keep[i] = True
        if keep[i]:
            last = si
    # drop a kept point that sits too close to the last one (a loft needs distinct sections)
    idx = np.nonzero(keep)[0]
    out = [idx[0]]
    for i in idx[1:]:
        if s[i] - s[out[-1]] > 0.2 * step_mm or i == idx[-1]:
            out.append(i)
    if len(out) >= 2 and s[out[-1]] - s[out[-2]] <= 0.2 * step_mm:
        out.pop(-2)
    return np.asarray(out)


def tangents(points: np.ndarray) -> np.ndarray:
    """Unit tangents of a polyline (central chords, one-sided at the ends)."""
    t = np.gradient(np.asarray(points, float), axis=0)
    return t / np.linalg.norm(t, axis=1)[:, None]


def build_solid(network, offsets_mm: dict | None = None, step_mm: float = 1.0):
    """Create the fused lumen solid in the current gmsh model; return ``(volume_tag, caps)``.

    ``caps`` maps each physical name (``inlet_<id>``, ``outlet_<id>``) to
    ``(centre_mm, unit outward normal, radius_mm)``. gmsh must be initialised by the caller.
    """
    import gmsh

    occ = gmsh.model.occ
    offsets_mm = offsets_mm or {}
    pieces, caps = [], {}
    for vid, v in network.vessels.items():
        P = np.asarray(v.points_mm, float)
        R = np.asarray(v.radius_mm, float)
        off = np.asarray(offsets_mm.get(vid, np.zeros_like(P)), float)
        T = tangents(P)
        wires = []
        for i in stations(v, step_mm):
            c = P[i] + off[i]
            circ = occ.addCircle(c[0], c[1], c[2], float(R[i]), zAxis=T[i].tolist())
            wires.append(occ.addWire([circ]))
        out = occ.addThruSections(wires, makeSolid=True, makeRuled=False)
        pieces += [e for e in out if e[0] == 3]
        if v.parent is None:
            caps[f"inlet_{vid}"] = (P[0] + off[0], -T[0], float(R[0]))
        kids = network.children(vid)
        if not kids:
            caps[f"outlet_{vid}"] = (P[-1] + off[-1], T[-1], float(R[-1]))
        else:
            pieces.append((3, occ.addSphere(*P[-1], float(R[-1]))))
    if len(pieces) > 1:
        fused, _ = occ.fuse(pieces[:1], pieces[1:])
    else:
        fused = pieces
    occ.synchronize()
    vols = [t for d, t in fused if d == 3]
    if len(vols) != 1:
        raise RuntimeError(f"the fused lumen has {len(vols)} volumes, expected one")
    return vols[0], caps


def label_faces(volume: int, caps: dict) -> dict:
    """Physical groups: each cap is the plane face whose centre of mass lies on its cap centre."""
    import gmsh

    faces = [t for d, t in gmsh.model.getBoundary([(3, volume)], oriented=False) if d == 2]
    owner = {}
    for name, (c, n, r) in caps.items():
        hits = []
        for f in faces:
            com = np.array(gmsh.model.occ.getCenterOfMass(2, f))
            if gmsh.model.getType(2, f) == "Plane" and np.linalg.norm(com - c) < 0.05 * r:
                hits.append(f)
        if len(hits) != 1:
            raise RuntimeError(f"{name}: found {len(hits)} flat faces at its centre, expected one")
        owner[name] = hits[0]
    wall = [f for f in faces if f not in owner.values()]
    for name, f in owner.items():
        gmsh.model.setPhysicalName(2, gmsh.model.addPhysicalGroup(2, [f]), name)
    gmsh.model.setPhysicalName(2, gmsh.model.addPhysicalGroup(2, wall), "wall")
    gmsh.model.setPhysicalName(3, gmsh.model.addPhysicalGroup(3, [volume]), "lumen")
    return owner


def size_function(network, size_per_radius: float, min_size_mm: float, max_size_mm: float = 2.0,
                  wall_factor: float = 1.0):
    """Element size (mm) at a point: ``size_per_radius`` × radius ``r`` of the nearest centerline
    point, graded linearly from the centerline (factor 1) to the wall (factor ``wall_factor`` at
    distance r; the wall shear sets the drop, and it is where a tetrahedral mesh is least accurate)."""
    from scipy.spatial import cKDTree

    pts, rad = [], []
    for v in network.vessels.values():
        s = v.arclength_mm
        sd = np.linspace(0.0, s[-1], max(2, int(np.ceil(s[-1] / 0.1)) + 1))
        pts.append(np.column_stack([np.interp(sd, s, v.points_mm[:, k]) for k in range(3)]))
        rad.append(np.interp(sd, s, v.radius_mm))
    tree = cKDTree(np.concatenate(pts))
    rad = np.concatenate(rad)

    def f(x, y, z):
        d, i = tree.query([x, y, z])
        grade = 1.0 + (wall_factor - 1.0) * min(d / rad[i], 1.0)
        return float(np.clip(size_per_radius * rad[i] * grade, min_size_mm, max_size_mm))

    return f


def mesh_network(network, path: Path, size_per_radius: float, *, offsets_mm: dict | None = None,
                 min_size_mm: float = 0.02, step_mm: float = 1.0, wall_factor: float = 1.0) -> dict:
    """Solid → tetrahedra → ``path`` (gmsh MSH 2.2 ASCII). Returns sizes and timings."""
    import gmsh

    t0 = time.perf_counter()
    path = Path(path)
    gmsh.initialize(interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("lumen")
        vol, caps = build_solid(network, offsets_mm, step_mm)
        label_faces(vol, caps)
        size = size_function(network, size_per_radius, min_size_mm, wall_factor=wall_factor)
        gmsh.model.mesh.setSizeCallback(lambda dim, tag, x, y, z, lc: size(x, y, z))
        for name, value in (("Mesh.MeshSizeExtendFromBoundary", 0), ("Mesh.MeshSizeFromPoints", 0),
                            ("Mesh.MeshSizeFromCurvature", 0), ("Mesh.Algorithm", 6), ("Mesh.Algorithm3D", 1),
                            ("Mesh.Optimize", 1), ("Mesh.OptimizeNetgen", 1),
                            ("Mesh.MshFileVersion", 2.2), ("Mesh.Binary", 0), ("Mesh.SaveAll", 0)):
            gmsh.option.setNumber(name, value)
        gmsh.model.mesh.generate(3)
        types, tags, _ = gmsh.model.mesh.getElements(3)
        n_tets = int(sum(len(t) for ty, t in zip(types, tags) if ty == 4))
        n_nodes = len(gmsh.model.mesh.getNodes()[0])
        mass = gmsh.model.occ.getMass(3, vol)
        tmp = path.with_name(path.stem + ".part.msh")
        gmsh.write(str(tmp))
        tmp.replace(path)
    finally:
        gmsh.finalize()
    info = {"tetrahedra": n_tets, "nodes": n_nodes, "solid_volume_mm3": float(mass),
            "size_per_radius": size_per_radius, "wall_factor": wall_factor, "min_size_mm": min_size_mm,
            "loft_step_mm": step_mm,
            "caps": {k: {"center_mm": c.tolist(), "normal": n.tolist(), "radius_mm": r} for k, (c, n, r) in caps.items()},
            "seconds": round(time.perf_counter() - t0, 2)}
    log.info("mesh %s: %d tetrahedra, %.1f s", path.name, n_tets, info["seconds"])
    return info
