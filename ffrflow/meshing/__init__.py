"""Geometry in, network out: lumen masks and surfaces → 3D artery model → centerline network → lesions.

Runs on the CPU. Heavy libraries (SimpleITK, VTK, kimimaro) are imported lazily where they are used.
"""
