#!/usr/bin/env bash
# Everything a GPU machine is lent for, in one call (docs/cuda.md, "On a GPU machine"): build axonal
# with its CUDA extension, run the CUDA tests, the GPU benchmark (W1, W2, W4 against PyTorch CUDA
# eager) and the large-GEMM check against cuBLAS; every log and JSON goes to $OUT.
#
# The machine has nvcc, cupy, cuBLAS, PyTorch, pybind11, scikit-build-core and pytest, but no
# network and no MKL (its wheel is too large to carry), so the CPU extension is built on OpenBLAS
# from a carried scipy-openblas32 wheel. Prepare here, then call the device tool with
# carry [".whl", ".data"] and the command `bash tools/gpu_session.sh`:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 -d .whl scipy-openblas32
#   mkdir -p .data && cp -r ../shared/data/fashion-mnist .data/      # W1's data
set -uo pipefail
OUT="${OUT:-/tmp/axonal-gpu}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
python=python3
# Into the interpreter's own site-packages: _native finds libscipy_openblas.so through its run
# path $ORIGIN/../scipy_openblas32/lib, i.e. next to axonal.
if compgen -G ".whl/*.whl" > /dev/null; then
  $python -m pip install -q --no-index --no-deps --no-compile .whl/*.whl || exit 1
fi
[ -d .data ] && export AXONAL_DATA="$PWD/.data"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1

echo "== build (CUDA on, OpenBLAS)"
$python -m pip install -q --no-build-isolation --no-deps --no-index -Cbuild-dir=/tmp/axonal-build \
  -Ccmake.define.AXONAL_CUDA=ON -Ccmake.define.AXONAL_BLAS=openblas . > "$OUT/build.log" 2>&1 \
  || { tail -40 "$OUT/build.log"; exit 1; }
(cd /tmp && $python -c "import axonal; print(axonal.__file__); print(axonal.backends())") | tee "$OUT/backends.txt"

echo "== CUDA tests"
$python -m pytest -q -p no:cacheprovider -x tests/test_cuda_parity.py tests/test_cuda_fit.py \
  tests/test_device_loop.py 2>&1 | tee "$OUT/tests.log" | tail -25

echo "== GPU benchmark: axonal cuda against PyTorch CUDA eager"
$python benchmarks/run.py --device cuda --workloads W1,W2,W4 --json "$OUT/bench.json" 2>&1 \
  | tee "$OUT/bench.log" | tail -30

echo "== fp32 GEMM 8192^3 against cuBLAS"
$python benchmarks/cuda_gemm.py --json "$OUT/gemm.json" 2>&1 | tee "$OUT/gemm.log"
