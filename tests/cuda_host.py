"""Build the CUDA headers as a plain C++ host library (g++) and call it through ctypes."""

from __future__ import annotations

import ctypes
import functools
import shutil
import subprocess
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CUDA_DIR = ROOT / "ffrflow" / "kernels" / "cuda"
CPP_DIR = Path(__file__).resolve().parent / "cpp"
BUILD = Path(__file__).resolve().parent / "_build"


def have_gxx() -> bool:
    return shutil.which("g++") is not None


@functools.lru_cache(maxsize=None)
def library(name: str) -> ctypes.CDLL:
    """Compile tests/cpp/<name>.cpp against kernels/cuda/*.cuh and load it."""
    BUILD.mkdir(exist_ok=True)
    src = CPP_DIR / f"{name}.cpp"
    so = BUILD / f"lib{name}.so"
    deps = [src, *CUDA_DIR.glob("*.cuh")]
    if not so.exists() or so.stat().st_mtime < max(p.stat().st_mtime for p in deps):
        subprocess.run(["g++", "-O2", "-std=c++14", "-shared", "-fPIC", "-Wall", "-Werror", "-I", str(CUDA_DIR),
                        str(src), "-o", str(so)], check=True, capture_output=True, text=True)
    return ctypes.CDLL(str(so))


def call(lib: ctypes.CDLL, fname: str, *args):
    """Call ``fname`` with NumPy arrays (passed as pointers), floats (double) and ints (int64)."""
    cargs = []
    keep = []
    for a in args:
        if isinstance(a, np.ndarray):
            assert a.flags.c_contiguous, fname
            assert a.dtype in (np.float64, np.int64), (fname, a.dtype)
            keep.append(a)
            cargs.append(a.ctypes.data_as(ctypes.c_void_p))
        elif isinstance(a, (float, np.floating)):
            cargs.append(ctypes.c_double(float(a)))
        else:
            cargs.append(ctypes.c_longlong(int(a)))
    getattr(lib, fname).restype = None
    getattr(lib, fname)(*cargs)
