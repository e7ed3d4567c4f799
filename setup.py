"""Packaging for ffrflow (metadata lives here; pyproject.toml only names the build backend)."""

import pathlib
import re

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "ffrflow" / "_version.py").read_text()).group(1)

setup(
    name="ffrflow",
    version=VERSION,
    description="Coronary CT geometry to reduced-order blood flow and FFR, on CPU (Numba) and GPU (CuPy)",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    python_requires=">=3.10",
    packages=find_packages(include=["ffrflow", "ffrflow.*"]),
    package_data={"ffrflow": ["data/*", "kernels/cuda/*.cu", "kernels/cuda/*.cuh", "report/*.js"]},
    install_requires=[
        "numpy>=1.24",
        "scipy>=1.10",
        "numba>=0.58",
        "h5py>=3.8",
        "vtk>=9.2",
        "SimpleITK>=2.2",
        "networkx>=3.0",
        "matplotlib>=3.7",
        "pillow>=9.1",          # pictures: composing ffr.png (also a matplotlib dependency)
        "tqdm>=4.64",
    ],
    extras_require={
        # batch --gpu: CUDA kernels through CuPy, GPU workers through dask-cuda (docs/architecture.md §Batches)
        "gpu": ["cupy-cuda12x>=13.0", "dask-cuda>=23.6"],
        "cluster": ["dask[distributed]>=2023.6", "pandas>=2.0", "pyarrow>=12.0"],
        "gpu-cluster": ["dask-cuda>=23.6"],     # kept for existing install lines; "gpu" now includes it
        # gmsh: the tetrahedral volume mesh (mesh --volume-mesh); its PyPI wheel bundles libgmsh, which
        # loads libGLU, libXcursor, libXft and libXinerama from the system
        "meshing": ["kimimaro>=4.0", "edt>=2.3", "gmsh>=4.13"],
        # playwright drives the system's Chromium in the interactive browser test (no browser download)
        "test": ["pytest>=7.4", "pandas>=2.0", "pyarrow>=12.0", "nbformat>=5.9", "nbclient>=0.8", "ipykernel>=6.25",
                 "playwright>=1.40"],
    },
    entry_points={"console_scripts": ["ffrflow=ffrflow.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Medical Science Apps.",
        "Topic :: Scientific/Engineering :: Physics",
    ],
)
