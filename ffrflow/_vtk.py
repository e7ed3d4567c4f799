"""The VTK classes ffrflow uses, each imported from its own ``vtkmodules`` module on first use.

``import vtk`` loads every VTK module (1.6 s here, paid again by every batch worker and command);
the handful ffrflow needs take ~0.4 s. Use as ``from . import _vtk as vtk`` and then ``vtk.vtkPolyData``
as usual. A rendering class also loads ``vtkRenderingOpenGL2``, which registers the OpenGL
implementations (render window, mapper) behind VTK's abstract rendering classes.
"""

from __future__ import annotations

import importlib

from vtkmodules.vtkCommonCore import VTK_UNSIGNED_CHAR  # noqa: F401

_WHERE = {
    "vtkActor": "vtkmodules.vtkRenderingCore",
    "vtkCellArray": "vtkmodules.vtkCommonDataModel",
    "vtkCleanPolyData": "vtkmodules.vtkFiltersCore",
    "vtkClipPolyData": "vtkmodules.vtkFiltersCore",
    "vtkDiscreteFlyingEdges3D": "vtkmodules.vtkFiltersGeneral",
    "vtkFeatureEdges": "vtkmodules.vtkFiltersCore",
    "vtkFlyingEdges3D": "vtkmodules.vtkFiltersCore",
    "vtkGenericDataObjectReader": "vtkmodules.vtkIOLegacy",
    "vtkIdList": "vtkmodules.vtkCommonCore",
    "vtkImageData": "vtkmodules.vtkCommonDataModel",
    "vtkImageStencilToImage": "vtkmodules.vtkImagingStencil",
    "vtkLight": "vtkmodules.vtkRenderingCore",
    "vtkLineSource": "vtkmodules.vtkFiltersSources",
    "vtkMassProperties": "vtkmodules.vtkFiltersCore",
    "vtkOBJReader": "vtkmodules.vtkIOGeometry",
    "vtkObject": "vtkmodules.vtkCommonCore",
    "vtkPointData": "vtkmodules.vtkCommonDataModel",
    "vtkPoints": "vtkmodules.vtkCommonCore",
    "vtkPolyData": "vtkmodules.vtkCommonDataModel",
    "vtkPolyDataConnectivityFilter": "vtkmodules.vtkFiltersCore",
    "vtkPolyDataMapper": "vtkmodules.vtkRenderingCore",
    "vtkPolyDataNormals": "vtkmodules.vtkFiltersCore",
    "vtkPolyDataReader": "vtkmodules.vtkIOLegacy",
    "vtkPolyDataToImageStencil": "vtkmodules.vtkImagingStencil",
    "vtkPolyLine": "vtkmodules.vtkCommonDataModel",
    "vtkQuadricDecimation": "vtkmodules.vtkFiltersCore",
    "vtkRenderWindow": "vtkmodules.vtkRenderingCore",
    "vtkRenderer": "vtkmodules.vtkRenderingCore",
    "vtkReverseSense": "vtkmodules.vtkFiltersCore",
    "vtkSTLReader": "vtkmodules.vtkIOGeometry",
    "vtkSTLWriter": "vtkmodules.vtkIOGeometry",
    "vtkSphereSource": "vtkmodules.vtkFiltersSources",
    "vtkStringArray": "vtkmodules.vtkCommonCore",
    "vtkTriangleFilter": "vtkmodules.vtkFiltersCore",
    "vtkTubeFilter": "vtkmodules.vtkFiltersCore",
    "vtkWindowToImageFilter": "vtkmodules.vtkRenderingCore",
    "vtkWindowedSincPolyDataFilter": "vtkmodules.vtkFiltersCore",
    "vtkXMLPolyDataReader": "vtkmodules.vtkIOXML",
    "vtkXMLPolyDataWriter": "vtkmodules.vtkIOXML",
}


def __getattr__(name: str):
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"ffrflow._vtk has no {name!r}: add the class and its vtkmodules module to _WHERE")
    if where.startswith("vtkmodules.vtkRendering"):
        import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  (the OpenGL factory overrides)
    obj = getattr(importlib.import_module(where), name)
    globals()[name] = obj
    return obj
