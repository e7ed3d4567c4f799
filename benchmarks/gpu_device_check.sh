#!/usr/bin/env bash
# One prepared script for a lent GPU machine (docs/benchmarks.md §On a GPU machine): installs nothing (CuPy,
# Numba, h5py, scipy, pytest are there), runs the gpu-marked tests, the cuda-parametrised kernel tests
# and the GPU benchmarks (CPU baseline side by side on the same machine), and writes under $OUT
# (default ./gpu-out) one log and one tarball of the benchmark result files (the device tool brings
# back at most 8 files). Every step has its own time limit so the script always ends and packs.
# Usage on the device:  bash benchmarks/gpu_device_check.sh [steps...]   (default: all steps; e.g. `info batch`
# for the --gpu batch row alone)
set -uo pipefail
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export PYTHONPATH=. PYTHONUNBUFFERED=1
LOG="$OUT/device-log.txt"
PY=${PY:-python3}
# the data folders come from ffrflow/_datapaths.py, as for the tests: the peers' cases travel with the
# working tree (tests/data/peers; $FFRFLOW_PEERS_DIR replaces them), external data is $FFRFLOW_DATA_DIR
{ echo "=== data folders:"; $PY -m ffrflow._datapaths; } >> "$LOG" 2>&1
STEPS=${*:-info tests lumped ensemble uq pulsatile peers batch}
rm -f benchmarks/results/*.json.gpu-new
step() {  # step NAME SECONDS command...
    local name=$1 limit=$2; shift 2
    echo "=== $name (limit ${limit}s): $*" >> "$LOG"
    local t0=$SECONDS
    timeout "$limit" "$@" >> "$LOG" 2>&1
    local rc=$?
    echo "=== $name rc=$rc in $((SECONDS - t0)) s" >> "$LOG"
    return $rc
}
for s in $STEPS; do
  case $s in
    info) step info 30 bash -c "nvidia-smi; $PY -c 'import cupy, numba; print(\"cupy\", cupy.__version__, cupy.cuda.runtime.getDeviceProperties(0)[\"name\"], \"numba\", numba.__version__)'; nproc" ;;
    tests) step gpu-tests 150 $PY -m pytest -q -m gpu tests/test_cuda.py -p no:cacheprovider
           step cuda-param-tests 120 $PY -m pytest -q -k cuda -p no:cacheprovider tests/test_kernels.py tests/test_ensemble.py \
                tests/test_steady.py tests/test_pulsatile.py tests/test_uq.py tests/test_lumped.py ;;
    ensemble) step ensemble 100 $PY -m benchmarks ensemble --backends cpu,cuda --batches 1,100,10000,1000000 ;;
    uq) step uq 45 $PY -m benchmarks uq --backends cpu,cuda --sizes 1000,10000,100000 ;;
    pulsatile) step pulsatile 100 $PY -m benchmarks pulsatile --backends cpu,cuda --batches 1,100,10000 --steps 2000 ;;
    lumped) step cuda-lumped-tests 90 $PY -m pytest -q -k cuda -p no:cacheprovider tests/test_lumped.py ;;
    peers) step peers 120 $PY -m benchmarks peers --backends cpu,cuda --copies 1000 --cuda-copies 1000,10000 --max-vessels 40
           step peers-vmr 75 $PY -m benchmarks peers --backends cpu,cuda --copies 1000 --repeats 1 --cases 0080_0001_optimal_from_0d --tag vmr215 ;;  # peer data: the folder under '=== data folders' in the log
    # batch: the --gpu graph (docs/architecture.md §Batches on a GPU node) on 60 phantom masks with 1e4 UQ
    # samples per case against the CPU-only batch without UQ, same machine, every core (--workers auto);
    # the gpu rows with 0 samples separate the graph's cost from the uncertainty run's. It needs dask,
    # distributed, dask-cuda and the meshing stack (SimpleITK, VTK, kimimaro, edt) on the device: the
    # first command names what is missing, and then the benchmark is not run (no figure is written).
    batch) step batch-prereq 30 $PY -c "import importlib.util as u, sys; m=[n for n in ('dask','distributed','dask_cuda','SimpleITK','vtk','kimimaro','edt','pandas') if u.find_spec(n) is None]; print('batch prerequisites missing:', m or 'none'); sys.exit(1 if m else 0)" \
             && step batch-emulated-tests 150 $PY -m pytest -q -p no:cacheprovider tests/test_batch_gpu_graph.py \
             && step batch-gpu 300 $PY -m benchmarks batch --cases 60 --graphs cpu,gpu --uq-samples 0,10000 --workers auto --tag gpu-node ;;
  esac
done
tar czf "$OUT/gpu-results.tar.gz" benchmarks/results/*.json 2>/dev/null
grep "^===" "$LOG"
