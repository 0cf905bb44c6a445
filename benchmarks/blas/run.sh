#!/usr/bin/env bash
# Times sgemm of each BLAS candidate on the seed MLP's GEMM shapes (docs/design.md, "Choice of BLAS").
# Installs the candidates' wheels into a throw-away venv, dlopens each library and prints GFLOP/s.
# Usage: bash benchmarks/blas/run.sh        (needs network access to PyPI; about 1.5 GB of wheels)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q mkl scipy-openblas32 onednn
g++ -O2 -o "$work/gemm_bench" "$here/gemm_bench.cpp" -ldl
lib="$work/venv/lib"
openblas="$(ls "$lib"/python3*/site-packages/scipy_openblas32/lib/libscipy_openblas*.so)"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}"
for run in 1 2 3; do
  echo "== run $run"
  echo "MKL (GNU OpenMP layer)"; LD_LIBRARY_PATH="$lib" "$work/gemm_bench" "$lib/libmkl_rt.so.3" cblas_sgemm 3
  echo "MKL (Intel OpenMP layer)"; LD_LIBRARY_PATH="$lib" "$work/gemm_bench" "$lib/libmkl_rt.so.3" cblas_sgemm 0
  echo "OpenBLAS (scipy-openblas32)"; "$work/gemm_bench" "$openblas" scipy_cblas_sgemm
  echo "oneDNN (dnnl_sgemm)"; LD_LIBRARY_PATH="$lib" "$work/gemm_bench" "$lib/libdnnl.so.3" dnnl_sgemm
done
