#!/usr/bin/env bash
# One prepared script for a lent GPU machine (see DEVELOPERS.md, `device`): installs nothing (CuPy,
# Numba, h5py, scipy, pytest are there), runs the gpu-marked tests and the GPU benchmarks, and
# writes everything under $OUT (default ./gpu-out). Usage on the device:  bash benchmarks/gpu_device_check.sh
set -uo pipefail
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export PYTHONPATH=.
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
python -c "import cupy; print(cupy.__version__, cupy.cuda.runtime.getDeviceProperties(0)['name'])" > "$OUT/cupy.txt" 2>&1
python -m pytest -q -m gpu tests/test_cuda.py > "$OUT/gpu-tests.txt" 2>&1; echo "gpu tests rc=$?" >> "$OUT/gpu-tests.txt"
python -m benchmarks ensemble --backends cpu,cuda --batches 1,100,10000,1000000 > "$OUT/ensemble.txt" 2>&1
python -m benchmarks uq --backends cpu,cuda > "$OUT/uq.txt" 2>&1
python -m benchmarks pulsatile --backends cpu,cuda --batches 1,100,10000 --steps 2000 > "$OUT/pulsatile.txt" 2>&1
cp benchmarks/results/*.json "$OUT/" 2>/dev/null
tail -n 3 "$OUT"/*.txt
