"""Closed lumen surface + centerline network → tetrahedra with labelled inlet, outlet and wall faces.

A flow solver on the 3D lumen needs flat inlet and outlet faces it can name, not the rounded ends
that contouring a mask leaves. The steps:

1. **End planes.** Every root of the network has an inlet at its first centerline point and every
   terminal vessel an outlet at its last. The plane of an end lies ``inset`` inside it (default one
   end radius: past the rounded tip of the mask, where the cross-section is the vessel's own),
   normal to the centerline there (the chord over ±½ radius), pointing out of the lumen.
2. **Cut.** Each end is cut off by its plane with VTK's :class:`vtkClipPolyData` on a scalar that is
   the signed distance to the plane near the end (within ``inset + 3 r`` of the plane's centre) and
   negative elsewhere, so a plane cuts its own end and no other part of the tree. The cut is exact
   (the new boundary lies on the plane). Each end must leave exactly one new boundary loop, on its
   plane, around its centerline point; anything else (an end too close to another vessel, a plane
   that misses the lumen) is a :class:`~ffrflow.errors.MeshQualityError` naming the vessel.
3. **Cap.** Each loop is closed by a fan of triangles from its centroid (the loop must be
   star-shaped about it; checked), giving a closed surface with one flat face per end.
4. **Tetrahedra (gmsh).** The capped surface goes to gmsh as one discrete surface (double
   precision), is split into patches at sharp edges and into pieces that a single map can
   parametrise (``classifySurfaces``, 40°: the wall meets a cap at ~90°), parametrised
   (``createGeometry``) and remeshed: triangles (2D Delaunay, 5 smoothing passes) and tetrahedra
   (HXT, gmsh's optimiser, then ``Relocate3D``) of size ``size_per_radius`` (0.3) times the
   radius of the nearest centerline point, bounded to [0.1, 1.0] mm (a size grid over the
   bounding box, gmsh's ``Structured`` field), one volume per closed shell (the left and right
   trees are two). A patch whose nodes all lie on an end plane, near its centre, is that end's
   cap; the others are wall.
5. **Labels.** Physical groups in the ``.msh`` file: a surface ``inlet_<vessel>`` per root,
   ``outlet_<vessel>`` per terminal vessel, ``wall``, and the volume ``lumen``.

The result is checked before it is written: every end has its cap (at least 90 % of the area
cut), no tetrahedron is inverted or flat (signed volume > 0), and the tetrahedra fill the capped
surface (their volume within 5 % of its enclosed volume, :class:`vtkMassProperties`; at the default
size they hold about 99 %: the remeshed wall's chords cut inside the curved surface). The summary
reports the smallest dihedral angle (on the phantom trees 6-12°) and both volumes.

References
----------
C. Geuzaine, J.-F. Remacle, "Gmsh: a 3-D finite element mesh generator with built-in pre- and
post-processing facilities", Int. J. Numer. Meth. Eng. 79 (2009) 1309-1331.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from ..errors import BackendUnavailableError, InvalidInputError, MeshQualityError
from .surface import require_watertight

log = logging.getLogger("ffrflow.meshing")

#: Sharp-edge angle for gmsh's surface classification, degrees (wall-cap edges are ~90°).
CLASSIFY_ANGLE_DEG = 40.0
#: Default element size: this fraction of the local vessel radius, bounded to [SIZE_MIN_MM, SIZE_MAX_MM].
SIZE_PER_RADIUS = 0.3
SIZE_MIN_MM, SIZE_MAX_MM = 0.1, 1.0
#: gmsh keeps one global model per process: one volume mesh at a time.
_GMSH_LOCK = threading.Lock()


@dataclass
class EndPlane:
    """Where the lumen is cut and capped at one inlet or outlet.

    Attributes
    ----------
    name : str
        ``inlet_<vessel>`` or ``outlet_<vessel>`` (the physical group's name).
    vessel : str
        Vessel id.
    kind : str
        ``"inlet"`` or ``"outlet"``.
    center_mm : ndarray (3,)
        Centerline point on the plane, mm.
    normal : ndarray (3,)
        Unit normal pointing out of the lumen.
    radius_mm : float
        Largest centerline radius within one radius of the end, mm.
    inset_mm : float
        Arc length from the end of the centerline to the plane, mm.
    """

    name: str
    vessel: str
    kind: str
    center_mm: np.ndarray
    normal: np.ndarray
    radius_mm: float
    inset_mm: float

    @property
    def reach_mm(self) -> float:
        """Radius of the neighbourhood of ``center_mm`` that the plane cuts, mm."""
        return self.inset_mm + 3.0 * self.radius_mm


def volume_mesh_available() -> tuple[bool, str]:
    """Whether gmsh is importable and its library loads: ``(available, reason)``."""
    try:
        import gmsh  # noqa: F401
    except ImportError:
        return False, ("no tetrahedral mesher: the volume mesh needs the `gmsh` Python package "
                       "(pip install 'ffrflow[meshing]' or pip install gmsh), which is not installed")
    except OSError as exc:      # the wheel's libgmsh needs a system library this machine lacks
        return False, (f"gmsh is installed but its library does not load ({exc}); it needs the system "
                       f"libraries libGLU, libXcursor, libXft and libXinerama (Debian/Ubuntu: apt-get install "
                       f"libglu1-mesa libxcursor1 libxft2 libxinerama1)")
    return True, "gmsh"


def end_planes(network, *, inset_radii: float = 1.0) -> list[EndPlane]:
    """The inlet plane of every root and the outlet plane of every terminal vessel.

    Parameters
    ----------
    network : VesselNetwork
        Centerlines and radii, mm.
    inset_radii : float
        Distance of each plane from its end of the centerline, in end radii (at most 40 % of the
        vessel's length).

    Returns
    -------
    list of EndPlane
        Inlets (roots, in network order) then outlets.
    """
    out = []
    for kind, ids in (("inlet", network.roots), ("outlet", network.outlets)):
        for vid in ids:
            v = network.vessels[vid]
            pts = np.asarray(v.points_mm, float)
            rad = np.asarray(v.radius_mm, float)
            if kind == "outlet":                     # walk from the end inwards
                pts, rad = pts[::-1], rad[::-1]
            seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
            s = np.concatenate([[0.0], np.cumsum(seg)])     # arc length from the end, mm
            length = float(s[-1])
            r_end = float(rad[s <= max(rad[0], 1e-9)].max())
            inset = min(inset_radii * r_end, 0.4 * length)
            center = np.array([np.interp(inset, s, pts[:, k]) for k in range(3)])
            h = 0.5 * r_end
            a = np.array([np.interp(max(inset - h, 0.0), s, pts[:, k]) for k in range(3)])
            b = np.array([np.interp(min(inset + h, length), s, pts[:, k]) for k in range(3)])
            normal = a - b                            # towards the end: out of the lumen
            nn = float(np.linalg.norm(normal))
            if not np.isfinite(nn) or nn == 0.0:
                raise MeshQualityError(f"volume mesh: vessel {vid}: cannot find the centerline direction at "
                                       f"its {kind}")
            out.append(EndPlane(name=f"{kind}_{vid}", vessel=vid, kind=kind, center_mm=center,
                                normal=normal / nn, radius_mm=r_end, inset_mm=inset))
    return out


def _arrays(poly):
    from vtkmodules.util.numpy_support import vtk_to_numpy

    pts = vtk_to_numpy(poly.GetPoints().GetData()).astype(np.float64)
    conn = vtk_to_numpy(poly.GetPolys().GetConnectivityArray()).astype(np.int64)
    offs = vtk_to_numpy(poly.GetPolys().GetOffsetsArray()).astype(np.int64)
    if len(offs) > 1 and not np.all(np.diff(offs) == 3):
        raise MeshQualityError("volume mesh: the surface must be made of triangles")
    return pts, conn.reshape(-1, 3)


def _polydata(points: np.ndarray, tris: np.ndarray):
    from vtkmodules.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray

    from .. import _vtk as vtk

    poly = vtk.vtkPolyData()
    vp = vtk.vtkPoints()
    vp.SetDataTypeToDouble()
    vp.SetData(numpy_to_vtk(np.ascontiguousarray(points, dtype=np.float64), deep=True))
    poly.SetPoints(vp)
    cells = vtk.vtkCellArray()
    offsets = np.arange(0, 3 * len(tris) + 1, 3, dtype=np.int64)
    cells.SetData(numpy_to_vtkIdTypeArray(offsets, deep=True),
                  numpy_to_vtkIdTypeArray(np.ascontiguousarray(tris.ravel(), dtype=np.int64), deep=True))
    poly.SetPolys(cells)
    return poly


def _boundary_loops(tris: np.ndarray) -> list[np.ndarray]:
    """Closed loops of boundary edges (edges of one triangle), each as point ids in the order of
    the triangles' own edges (so a cap closing it must run the other way)."""
    e = np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]])
    key = np.sort(e, axis=1)
    _, inv, cnt = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    bnd = e[cnt[inv.ravel()] == 1]
    nxt = {}
    for a, b in bnd:
        if a in nxt:
            raise MeshQualityError("volume mesh: the cut surface has a boundary vertex shared by two loops")
        nxt[int(a)] = int(b)
    loops, seen = [], set()
    for start in nxt:
        if start in seen:
            continue
        loop = [start]
        seen.add(start)
        cur = nxt[start]
        while cur != start:
            if cur in seen or cur not in nxt:
                raise MeshQualityError("volume mesh: the boundary of the cut surface is not made of closed loops")
            loop.append(cur)
            seen.add(cur)
            cur = nxt[cur]
        loops.append(np.array(loop, dtype=np.int64))
    return loops


def cap_surface(poly, planes: list[EndPlane]):
    """Cut each end of a closed lumen surface at its plane and close it with a flat cap.

    Parameters
    ----------
    poly : vtkPolyData
        Watertight triangle surface, mm.
    planes : list of EndPlane
        From :func:`end_planes`.

    Returns
    -------
    (vtkPolyData, ndarray)
        The capped closed surface (mm) and, per triangle, its face: -1 wall, ``k`` the cap of ``planes[k]``.

    Raises
    ------
    MeshQualityError
        When an end does not leave exactly one loop on its plane around its centre, or a loop is
        not star-shaped about its centroid.
    """
    from vtkmodules.util.numpy_support import numpy_to_vtk

    from .. import _vtk as vtk

    require_watertight(poly, "volume mesh input")
    pts, tris = _arrays(poly)
    v = pts[tris]
    if np.einsum("ij,ij->i", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() < 0:   # inward normals: flip
        tris = tris[:, ::-1]
    cur = _polydata(pts, tris)
    for pl in planes:
        pts, _ = _arrays(cur)
        d = pts - pl.center_mm
        s = d @ pl.normal
        near = np.linalg.norm(d, axis=1) <= pl.reach_mm
        scal = np.where(near, s, -pl.reach_mm)
        if not (scal > 0).any():
            raise MeshQualityError(f"volume mesh: the {pl.kind} plane of vessel {pl.vessel} cuts nothing off the "
                                   f"surface (the centerline ends inside the lumen far from its tip)")
        arr = numpy_to_vtk(scal, deep=True)
        arr.SetName("cut")
        work = vtk.vtkPolyData()
        work.ShallowCopy(cur)
        work.GetPointData().SetScalars(arr)
        clip = vtk.vtkClipPolyData()
        clip.SetInputData(work)
        clip.SetValue(0.0)
        clip.InsideOutOn()                 # keep scalar <= 0: the lumen side of the plane
        clip.Update()
        tri = vtk.vtkTriangleFilter()      # the clip leaves quadrilaterals where it cuts a triangle
        tri.SetInputConnection(clip.GetOutputPort())
        clean = vtk.vtkCleanPolyData()     # merge the points that the clip made on shared edges
        clean.SetInputConnection(tri.GetOutputPort())
        clean.PointMergingOn()
        clean.SetTolerance(0.0)
        clean.Update()
        cur = vtk.vtkPolyData()
        cur.DeepCopy(clean.GetOutput())
        cur.GetPointData().Initialize()
    pts, tris = _arrays(cur)
    loops = _boundary_loops(tris)
    owner = []
    for loop in loops:
        lp = pts[loop]
        hit = [k for k, pl in enumerate(planes)
               if np.abs((lp - pl.center_mm) @ pl.normal).max() <= 1e-6 * max(1.0, pl.reach_mm)
               and np.linalg.norm(lp - pl.center_mm, axis=1).max() <= pl.reach_mm]
        owner.append(hit[0] if len(hit) == 1 else -1)
    for k, pl in enumerate(planes):
        n = owner.count(k)
        if n != 1:
            raise MeshQualityError(f"volume mesh: cutting the {pl.kind} of vessel {pl.vessel} left {n} boundary "
                                   f"loops on its plane (expected one: another vessel within "
                                   f"{pl.reach_mm:.1f} mm of the cut, or a cut through a bifurcation)")
    if -1 in owner:
        raise MeshQualityError("volume mesh: a cut left a boundary loop that lies on no end plane "
                               "(an end plane crosses another vessel)")
    new_pts = [pts]
    cap_tris, cap_face = [], []
    n_pts = len(pts)
    for loop, k in zip(loops, owner):
        pl = planes[k]
        lp = pts[loop]
        c = lp.mean(axis=0)
        # the loop must surround the centerline point and be star-shaped about its centroid
        a, b = lp, np.roll(lp, -1, axis=0)
        # the triangles' own edge order is a -> b; the cap runs b -> a with the centroid
        fan = np.stack([np.full(len(loop), n_pts), np.roll(loop, -1), loop], axis=1)
        nrm = np.cross(b - c, a - c)                  # normal of (c, b, a)
        if not (nrm @ pl.normal > 0).all():
            raise MeshQualityError(f"volume mesh: the cut at the {pl.kind} of vessel {pl.vessel} is not "
                                   f"star-shaped about its centroid; cannot cap it")
        new_pts.append(c[None, :])
        n_pts += 1
        cap_tris.append(fan)
        cap_face.append(np.full(len(loop), k))
    all_pts = np.concatenate(new_pts)
    all_tris = np.concatenate([tris] + cap_tris)
    face = np.concatenate([np.full(len(tris), -1)] + cap_face)
    capped = _polydata(all_pts, all_tris)
    require_watertight(capped, "capped surface")
    return capped, face


def dihedral_angles(points: np.ndarray, tets: np.ndarray) -> np.ndarray:
    """The six interior dihedral angles of each tetrahedron, degrees, shape ``(n, 6)``, along the
    edges (0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3) of ``tets``' vertex order.

    The angle along an edge is π minus the angle between the outward normals of the two faces that
    share it, the faces opposite the other two vertices (a regular tetrahedron: arccos(1/3) = 70.53°
    everywhere).
    """
    P = np.asarray(points, float)[np.asarray(tets, np.int64)]
    normals = []
    for i, (a, b, c) in enumerate(((1, 2, 3), (0, 2, 3), (0, 1, 3), (0, 1, 2))):   # face opposite vertex i
        n = np.cross(P[:, b] - P[:, a], P[:, c] - P[:, a])
        n *= np.sign(np.einsum("ij,ij->i", n, P[:, a] - P[:, i]))[:, None]         # away from vertex i
        normals.append(n / np.linalg.norm(n, axis=1)[:, None])
    ang = []
    for a in range(4):
        for b in range(a + 1, 4):
            i, j = (k for k in range(4) if k not in (a, b))      # the faces sharing edge (a, b)
            ang.append(np.pi - np.arccos(np.clip(np.einsum("ij,ij->i", normals[i], normals[j]), -1.0, 1.0)))
    return np.degrees(np.stack(ang, axis=1))


def signed_volumes(points: np.ndarray, tets: np.ndarray) -> np.ndarray:
    """Signed volume of each tetrahedron (positive for gmsh's orientation: vertex 3 on the side of
    the face (0, 1, 2) that its right-hand normal points to), in the points' units cubed."""
    P = np.asarray(points, float)[np.asarray(tets, np.int64)]
    return np.einsum("ij,ij->i", P[:, 1] - P[:, 0], np.cross(P[:, 2] - P[:, 0], P[:, 3] - P[:, 0])) / 6.0


def _triangle_areas(points, tris) -> np.ndarray:
    v = np.asarray(points, float)[np.asarray(tris, np.int64)]
    return 0.5 * np.linalg.norm(np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), axis=1)


def tetrahedral_mesh(poly, network, path: str | Path, *, size_per_radius: float = SIZE_PER_RADIUS,
                     size_mm: float | None = None, inset_radii: float = 1.0) -> dict:
    """Fill a closed lumen surface with tetrahedra, with a labelled flat face at every inlet and outlet.

    See the module docstring for the method. gmsh keeps global state: this initialises and
    finalises it, so it must not be called while the caller has its own gmsh session open.

    Parameters
    ----------
    poly : vtkPolyData
        Watertight triangle surface of the lumen, mm.
    network : VesselNetwork
        Its centerlines and radii (mm): the ends to cap and the local element size.
    path : str or Path
        Output mesh, gmsh ``.msh`` (format 4.1), written atomically. Physical groups: surfaces
        ``inlet_<vessel>``, ``outlet_<vessel>``, ``wall``; volume ``lumen``.
    size_per_radius : float
        Element size as a fraction of the radius of the nearest centerline point (bounded to
        [0.1, 1.0] mm).
    size_mm : float, optional
        A uniform element size, mm, instead.
    inset_radii : float
        Distance of each cap from its end of the centerline, in end radii (see :func:`end_planes`).

    Returns
    -------
    dict
        ``path``; ``tetrahedra``, ``nodes``; ``min_dihedral_deg`` and ``max_dihedral_deg``;
        ``min_signed_volume_mm3``; ``volume_mm3`` (sum over the tetrahedra) and
        ``surface_volume_mm3`` (enclosed by the capped surface, vtkMassProperties);
        ``wall_area_mm2``; ``caps``: per end ``name``, ``vessel``, ``kind``, ``center_mm``, ``normal``,
        ``radius_mm``, ``area_mm2``, ``triangles``; ``seconds``.

    Raises
    ------
    BackendUnavailableError
        When gmsh is not installed or does not load.
    InvalidInputError
        A path that is not ``.msh``; a gmsh session already open; a bad size.
    MeshQualityError
        A surface that is not closed, an end that cannot be capped (see :func:`cap_surface`), gmsh
        failing, an inverted tetrahedron, a cap lost in the remeshing, or tetrahedra whose volume
        differs from the capped surface's by more than 5 %.
    """
    ok, why = volume_mesh_available()
    if not ok:
        raise BackendUnavailableError(why)
    path = Path(path)
    if path.suffix.lower() != ".msh":
        raise InvalidInputError(f"{path}: the volume mesh is written as gmsh .msh (its labelled faces need it)")
    if size_mm is not None and not (np.isfinite(size_mm) and size_mm > 0):
        raise InvalidInputError(f"volume mesh: size_mm must be a positive number of mm, got {size_mm!r}")
    if not (np.isfinite(size_per_radius) and size_per_radius > 0):
        raise InvalidInputError(f"volume mesh: size_per_radius must be positive, got {size_per_radius!r}")
    import gmsh
    from scipy.spatial import cKDTree

    from .. import _vtk as vtk

    t0 = time.perf_counter()
    planes = end_planes(network, inset_radii=inset_radii)
    capped, face = cap_surface(poly, planes)
    cpts, ctris = _arrays(capped)
    tri_area = _triangle_areas(cpts, ctris)
    cap_area_in = np.bincount(face[face >= 0], weights=tri_area[face >= 0], minlength=len(planes))
    mp = vtk.vtkMassProperties()
    mp.SetInputData(capped)
    mp.Update()
    surface_volume = float(mp.GetVolume())
    n_shells, component = _shells(cpts, ctris)
    shell_tree = cKDTree(cpts)

    with _GMSH_LOCK, tempfile.TemporaryDirectory() as tmpdir:
        if gmsh.isInitialized():
            raise InvalidInputError("volume mesh: a gmsh session is already open in this process; finalise it first")
        size_file = Path(tmpdir) / "size.bin"
        if size_mm is None:
            _write_size_grid(size_file, network, cpts, size_per_radius)
        gmsh.initialize(interruptible=False)   # interruptible would replace Python's SIGINT handler
        try:
            gmsh.option.setNumber("General.Terminal", 0)
            try:
                # the capped surface as one discrete surface, in double precision (an STL would round to float32)
                gmsh.model.addDiscreteEntity(2, 1)
                gmsh.model.mesh.addNodes(2, 1, np.arange(1, len(cpts) + 1), cpts.ravel())
                gmsh.model.mesh.addElementsByType(1, 2, np.arange(1, len(ctris) + 1), (ctris + 1).ravel())
                gmsh.model.mesh.classifySurfaces(np.radians(CLASSIFY_ANGLE_DEG), True, True, np.pi)
                gmsh.model.mesh.createGeometry()
            except Exception as exc:       # gmsh raises a plain Exception with its last error
                raise MeshQualityError(f"volume mesh: gmsh could not parametrise the capped surface: {exc}") from exc
            surfaces = [tag for _, tag in gmsh.model.getEntities(2)]
            owner, shell = {}, {}
            for tag in surfaces:
                _, xyz, _ = gmsh.model.mesh.getNodes(2, tag, includeBoundary=True)
                xyz = xyz.reshape(-1, 3)
                shell[tag] = int(component[shell_tree.query(xyz[0])[1]])
                owner[tag] = -1
                for k, pl in enumerate(planes):
                    d = xyz - pl.center_mm
                    if (np.abs(d @ pl.normal).max() <= 1e-6 * max(1.0, pl.reach_mm)
                            and np.linalg.norm(d, axis=1).max() <= pl.reach_mm):
                        owner[tag] = k
                        break
            # one volume per closed shell (one per tree): a second loop in one volume would be a hole
            volumes = [gmsh.model.geo.addVolume([gmsh.model.geo.addSurfaceLoop(
                [t for t in surfaces if shell[t] == c])]) for c in range(n_shells)]
            gmsh.model.geo.synchronize()
            for k, pl in enumerate(planes):
                tags = [t for t in surfaces if owner[t] == k]
                if not tags:
                    raise MeshQualityError(f"volume mesh: the {pl.kind} cap of vessel {pl.vessel} merged into the wall "
                                           f"when gmsh classified the surface")
                gmsh.model.setPhysicalName(2, gmsh.model.addPhysicalGroup(2, tags), pl.name)
            gmsh.model.setPhysicalName(2, gmsh.model.addPhysicalGroup(2, [t for t in surfaces if owner[t] < 0]),
                                       "wall")
            gmsh.model.setPhysicalName(3, gmsh.model.addPhysicalGroup(3, volumes), "lumen")
            if size_mm is None:            # the size grid, trilinearly interpolated by gmsh
                field = gmsh.model.mesh.field.add("Structured")
                gmsh.model.mesh.field.setString(field, "FileName", str(size_file))
                gmsh.model.mesh.field.setNumber(field, "TextFormat", 0)
                gmsh.model.mesh.field.setNumber(field, "SetOutsideValue", 1)
                gmsh.model.mesh.field.setNumber(field, "OutsideValue", SIZE_MAX_MM)
                gmsh.model.mesh.field.setAsBackgroundMesh(field)
            else:
                gmsh.option.setNumber("Mesh.MeshSizeMin", float(size_mm))
                gmsh.option.setNumber("Mesh.MeshSizeMax", float(size_mm))
            for name, value in (("Mesh.MeshSizeExtendFromBoundary", 0), ("Mesh.MeshSizeFromPoints", 0),
                                ("Mesh.MeshSizeFromCurvature", 0), ("Mesh.Algorithm", 5),   # 2D Delaunay
                                ("Mesh.Smoothing", 5),       # 5 smoothing passes over the surface triangles
                                ("Mesh.Algorithm3D", 10), ("Mesh.Optimize", 1)):            # HXT, optimised
                gmsh.option.setNumber(name, value)
            try:
                gmsh.model.mesh.generate(2)
                gmsh.model.mesh.generate(3)
                gmsh.model.mesh.optimize("Relocate3D")     # moves interior nodes off slivers
            except Exception as exc:
                raise MeshQualityError(f"volume mesh: gmsh could not mesh the lumen: {exc}") from exc
            node_tags, xyz, _ = gmsh.model.mesh.getNodes()
            index = np.zeros(int(node_tags.max()) + 1, dtype=np.int64)
            index[node_tags.astype(np.int64)] = np.arange(len(node_tags))
            X = xyz.reshape(-1, 3)
            tets = [np.zeros((0, 4), np.int64)]
            for vol_tag in volumes:
                types, _, conn = gmsh.model.mesh.getElements(3, vol_tag)
                tets += [index[c.astype(np.int64)].reshape(-1, 4) for t, c in zip(types, conn) if t == 4]
            tets = np.concatenate(tets)
            area_out = np.zeros(len(planes))
            cap_tris = np.zeros(len(planes), dtype=np.int64)
            wall_area = 0.0
            for tag in surfaces:
                types, _, conn = gmsh.model.mesh.getElements(2, tag)
                tri = np.concatenate([index[c.astype(np.int64)].reshape(-1, 3) for t, c in zip(types, conn) if t == 2])
                a = float(_triangle_areas(X, tri).sum())
                if owner[tag] >= 0:
                    area_out[owner[tag]] += a
                    cap_tris[owner[tag]] += len(tri)
                else:
                    wall_area += a
            _check_volume_mesh(X, tets, planes, cap_area_in, area_out, surface_volume)
            with atomic_path(path) as tmp:
                out = tmp.with_suffix(".msh")      # gmsh picks the format by the suffix
                try:
                    gmsh.write(str(out))
                    out.replace(tmp)
                finally:
                    out.unlink(missing_ok=True)
        finally:
            gmsh.finalize()
    vol = signed_volumes(X, tets)
    ang = dihedral_angles(X, tets)
    info = {"path": str(path), "tetrahedra": int(len(tets)), "nodes": int(len(X)),
            "min_dihedral_deg": float(ang.min()), "max_dihedral_deg": float(ang.max()),
            "min_signed_volume_mm3": float(vol.min()), "volume_mm3": float(vol.sum()),
            "surface_volume_mm3": surface_volume, "wall_area_mm2": wall_area,
            "size": {"size_mm": size_mm} if size_mm is not None else {"size_per_radius": size_per_radius},
            "caps": [{"name": pl.name, "vessel": pl.vessel, "kind": pl.kind, "center_mm": pl.center_mm.tolist(),
                      "normal": pl.normal.tolist(), "radius_mm": pl.radius_mm, "area_mm2": float(area_out[k]),
                      "triangles": int(cap_tris[k])} for k, pl in enumerate(planes)],
            "seconds": time.perf_counter() - t0}
    log.info("volume mesh: %d tetrahedra, %d caps, min dihedral %.1f deg, volume %.1f mm3 (surface %.1f), %.1f s",
             info["tetrahedra"], len(planes), info["min_dihedral_deg"], info["volume_mm3"], surface_volume,
             info["seconds"])
    return info


def _shells(points: np.ndarray, tris: np.ndarray) -> tuple[int, np.ndarray]:
    """Connected pieces of a triangle surface: their number and, per point, its piece."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    e = np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]]])
    adj = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(len(points), len(points)))
    return connected_components(adj, directed=False)


def _write_size_grid(path: Path, network, points: np.ndarray, size_per_radius: float,
                     max_nodes: int = 500_000) -> None:
    """The element size on a regular grid over the surface's bounding box, for gmsh's "Structured"
    field: at each grid node ``size_per_radius`` times the radius of the nearest centerline point,
    bounded to [SIZE_MIN_MM, SIZE_MAX_MM]. Binary file: origin (3 float64), spacing (3 float64),
    node counts (3 int32), then the values with x slowest and z fastest (float64)."""
    from scipy.spatial import cKDTree

    centers = np.concatenate([np.asarray(v.points_mm, float) for v in network.vessels.values()])
    radii = np.concatenate([np.asarray(v.radius_mm, float) for v in network.vessels.values()])
    lo = points.min(axis=0) - 1.0
    hi = points.max(axis=0) + 1.0
    h = max(1.0, float(np.cbrt(np.prod(hi - lo) / max_nodes)))
    n = np.floor((hi - lo) / h).astype(np.int64) + 2
    axes = [lo[k] + h * np.arange(n[k]) for k in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    _, nearest = cKDTree(centers).query(grid, workers=-1)
    size = np.clip(size_per_radius * radii[nearest], SIZE_MIN_MM, SIZE_MAX_MM)
    with open(path, "wb") as f:
        f.write(lo.astype("<f8").tobytes())
        f.write(np.full(3, h).astype("<f8").tobytes())
        f.write(n.astype("<i4").tobytes())
        f.write(size.astype("<f8").tobytes())


def _check_volume_mesh(X, tets, planes, cap_area_in, cap_area_out, surface_volume) -> None:
    """Refuse (before the file is kept) a mesh with an inverted or flat tetrahedron, a cap that lost
    area to the wall, or a volume that does not fill the capped surface."""
    if len(tets) == 0:
        raise MeshQualityError("volume mesh: gmsh produced no tetrahedra")
    vol = signed_volumes(X, tets)
    if not (vol > 0).all():
        raise MeshQualityError(f"volume mesh: {(vol <= 0).sum()} of {len(vol)} tetrahedra are inverted or flat")
    for k, pl in enumerate(planes):
        if not cap_area_out[k] >= 0.9 * cap_area_in[k]:
            raise MeshQualityError(f"volume mesh: the {pl.kind} cap of vessel {pl.vessel} has "
                                   f"{cap_area_out[k]:.2f} mm2 after remeshing, of {cap_area_in[k]:.2f} mm2 cut")
    if abs(vol.sum() / surface_volume - 1.0) > 0.05:
        raise MeshQualityError(f"volume mesh: the tetrahedra hold {vol.sum():.1f} mm3 but the capped surface encloses "
                               f"{surface_volume:.1f} mm3")


def read_volume_mesh(path: str | Path) -> dict:
    """Read a volume mesh written by :func:`tetrahedral_mesh` (any gmsh ``.msh`` with named
    physical groups of triangles and tetrahedra).

    Returns
    -------
    dict
        ``points`` (n, 3) mm; ``tetrahedra`` (m, 4) point indices (0-based) of the volume groups;
        ``faces``: physical surface name → (k, 3) point indices of its triangles; ``volumes``:
        physical volume names.

    Raises
    ------
    BackendUnavailableError
        When gmsh is not installed or does not load.
    InvalidInputError
        A file that is missing or that gmsh cannot read.
    """
    ok, why = volume_mesh_available()
    if not ok:
        raise BackendUnavailableError(why)
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such volume mesh")
    import gmsh

    with _GMSH_LOCK:
        if gmsh.isInitialized():
            raise InvalidInputError("volume mesh: a gmsh session is already open in this process; finalise it first")
        gmsh.initialize(interruptible=False)
        try:
            gmsh.option.setNumber("General.Terminal", 0)
            try:
                gmsh.open(str(path))
            except Exception as exc:
                raise InvalidInputError(f"{path}: gmsh cannot read it: {exc}") from exc
            node_tags, xyz, _ = gmsh.model.mesh.getNodes()
            index = np.zeros(int(node_tags.max()) + 1, dtype=np.int64)
            index[node_tags.astype(np.int64)] = np.arange(len(node_tags))
            out = {"points": xyz.reshape(-1, 3).copy(), "faces": {}, "volumes": []}
            tets = []
            for dim, ptag in gmsh.model.getPhysicalGroups():
                name = gmsh.model.getPhysicalName(dim, ptag)
                etype, width = (2, 3) if dim == 2 else (4, 4) if dim == 3 else (None, None)
                if etype is None:
                    continue
                cells = []
                for ent in gmsh.model.getEntitiesForPhysicalGroup(dim, ptag):
                    _, conn = gmsh.model.mesh.getElementsByType(etype, int(ent))
                    cells.append(index[conn.astype(np.int64)].reshape(-1, width))
                cells = np.concatenate(cells) if cells else np.zeros((0, width), np.int64)
                if dim == 2:
                    out["faces"][name] = cells
                else:
                    out["volumes"].append(name)
                    tets.append(cells)
            out["tetrahedra"] = np.concatenate(tets) if tets else np.zeros((0, 4), np.int64)
        finally:
            gmsh.finalize()
    return out
