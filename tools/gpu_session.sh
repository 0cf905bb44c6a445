#!/usr/bin/env bash
# Everything a GPU machine is lent for, in one call (docs/cuda.md, "On a GPU machine"): build axonal
# with its CUDA extension, run the CUDA tests, the GPU benchmark (W1, W2, W4 against PyTorch CUDA
# eager) and the large-GEMM check against cuBLAS; every log and JSON goes to $OUT, and the last
# lines say what passed (tools/gpu_summary.py, also $OUT/summary.txt).
#
# Time: a lent machine gives 15 minutes in all, start-up included, so each stage runs under its own
# budget (seconds; GPU_SESSION_SCALE multiplies them all) and the script ends within 9 minutes:
# build 210, tests 150, benchmark 100, GEMM 40. A stage past its budget is stopped and reported
# "timed out"; the stages after it still run where they can. GPU_SESSION_STAGES="bench gemm" runs
# only those (a rerun on a machine still warm from the first call).
#
# The machine has nvcc, cupy, cuBLAS, PyTorch, pybind11, scikit-build-core and pytest, but no
# network and no MKL (its wheel is too large to carry), so the CPU extension is built on OpenBLAS
# from a carried scipy-openblas32 wheel. Prepare here, then call the device tool with
# carry [".whl", ".data"] and the command `bash tools/gpu_session.sh`:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 -d .whl scipy-openblas32
#   mkdir -p .data && cp -r ../shared/data/fashion-mnist .data/      # W1's data
#
# `bash tools/gpu_session.sh --rehearse` runs the same stages here, without a GPU: the build is the
# host emulation of the GPU (tests/cuda_host/), the tests and the benchmark (in --quick mode) run on
# it, and the GEMM check uses a small size. It shows the script and every runner work end to end.
set -uo pipefail
OUT="${OUT:-/tmp/axonal-gpu}"
mkdir -p "$OUT"
[ -z "${GPU_SESSION_STAGES:-}" ] && : > "$OUT/stages.tsv"
rm -f "$OUT/REHEARSAL" "$OUT/bench.json" "$OUT/gemm.json" "$OUT"/*.note
export OUT PYTHONUNBUFFERED=1
scale="${GPU_SESSION_SCALE:-1}"
rehearse=0
[ "${1:-}" = "--rehearse" ] && rehearse=1

# stage NAME BUDGET_SECONDS: runs the shell function NAME (in a child bash, which `timeout` can stop)
# under its budget, and records the outcome.
stage() {
  local name=$1 budget=$(( $2 * scale )) start=$SECONDS status note=""
  case " ${GPU_SESSION_STAGES:-build tests bench gemm} " in *" $name "*) ;; *) return 0 ;; esac
  echo "== $name (budget ${budget} s)"
  export -f "$name"
  timeout --kill-after=10 "$budget" bash -c "$name"
  local rc=$?
  case $rc in
    0) status=ok ;;
    124|137) status="timed out" ;;
    *) status=FAILED; note="exit $rc" ;;
  esac
  [ -s "$OUT/$name.note" ] && note="${note:+$note; }$(cat "$OUT/$name.note")"
  printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$(( SECONDS - start ))" "$note" >> "$OUT/stages.tsv"
}

if [ $rehearse = 1 ]; then
  touch "$OUT/REHEARSAL"
  scale="${GPU_SESSION_SCALE:-6}"  # the emulated device runs one block at a time
  python="${PYTHON:-.venv/bin/python}"
  export python
  build() {
    "$python" -m pip install -q pybind11 cmake > /dev/null &&
    "$(dirname "$python")/cmake" -S tests/cuda_host -B build/cuda-host -DPython_EXECUTABLE="$(command -v "$python")" \
      -Dpybind11_DIR="$("$python" -m pybind11 --cmakedir)" > "$OUT/build.log" 2>&1 &&
    "$(dirname "$python")/cmake" --build build/cuda-host -j2 >> "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; return 1; }
  }
  stage build 100
  export AXONAL_CUDA_HOST="$(ls "$PWD"/build/cuda-host/_cuda*.so 2>/dev/null | head -1)"
  export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" ASAN_OPTIONS=detect_leaks=0
  bench_flags="--quick"
  [ -z "${AXONAL_DATA:-}" ] && [ -d ../shared/data ] && export AXONAL_DATA="$(cd ../shared/data && pwd)"
  gemm_flags="--size 192 --calls 2 --repeats 2"
else
  python=python3
  export python
  # Into the interpreter's own site-packages: _native finds libscipy_openblas.so through its run
  # path $ORIGIN/../scipy_openblas32/lib, i.e. next to axonal.
  if compgen -G ".whl/*.whl" > /dev/null; then
    $python -m pip install -q --no-index --no-deps --no-compile .whl/*.whl || exit 1
  fi
  nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
  build() {
    $python -m pip install -q --no-build-isolation --no-deps --no-index -Cbuild-dir=/tmp/axonal-build \
      -Ccmake.define.AXONAL_CUDA=ON -Ccmake.define.AXONAL_BLAS=openblas . > "$OUT/build.log" 2>&1 \
      || { tail -40 "$OUT/build.log"; return 1; }
    (cd /tmp && $python -c "import axonal; print(axonal.__file__); print(axonal.backends())") | tee "$OUT/backends.txt"
  }
  stage build 210
  bench_flags=""
  gemm_flags=""
fi
[ -d .data ] && export AXONAL_DATA="$PWD/.data"
export bench_flags gemm_flags

tests() {
  # test_distribution_nccl.py: on one GPU, its one-rank NCCL step (the other tests need mpiexec
  # ranks on the emulation and skip).
  $python -m pytest -q -p no:cacheprovider -rs tests/test_cuda_parity.py tests/test_cuda_fit.py \
    tests/test_device_loop.py tests/test_distribution_nccl.py > "$OUT/tests.log" 2>&1
  local rc=$?
  tail -1 "$OUT/tests.log" | tr -d '=' | sed 's/^ *//; s/ *$//' > "$OUT/tests.note"
  tail -3 "$OUT/tests.log"
  return $rc
}
stage tests 150

bench() {
  $python benchmarks/run.py --device cuda --workloads W1,W2,W4 $bench_flags --json "$OUT/bench.json" \
    > "$OUT/bench.log" 2>&1
  local rc=$?
  tail -25 "$OUT/bench.log"
  # A run whose axonal results are not all "ok" (a failed accuracy band, an error) fails the stage.
  [ $rc = 0 ] && $python -c "import json, sys; sys.exit(any(r['framework'] == 'axonal' and r['status'] != 'ok'
                                                           for r in json.load(open('$OUT/bench.json'))['results']))"
}
stage bench 100

gemm() { $python benchmarks/cuda_gemm.py $gemm_flags --json "$OUT/gemm.json" 2>&1 | tee "$OUT/gemm.log"; }
stage gemm 40

$python tools/gpu_summary.py "$OUT"
! grep -qv "	ok	" "$OUT/stages.tsv"
