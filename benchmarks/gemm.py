"""axonal's own AVX-512 GEMM against the BLAS library (MKL) on the shapes the seed workloads run.

Each shape is run through the op that issues it (dense_forward for x·W, dense_backward for xᵀ·dz
and dz·Wᵀ, with a linear activation so the op is the GEMM plus one pass), first checked against a
float64 NumPy product, then timed: medians of --repeats timings of --seconds each, for each GEMM
(`axonal._native.set_gemm`), in alternation so that both see the same machine. Prints a table
and writes JSON.

    .venv/bin/python benchmarks/gemm.py [--threads 2] [--repeats 7] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from axonal import _native

# (workload, M = batch rows, C = inputs, K = outputs): one dense layer, three GEMMs each.
SHAPES = [
    ("W1 layer 1", 128, 784, 512),
    ("W1 layer 2", 128, 512, 512),
    ("W1 layer 3", 128, 512, 10),
    ("W3 layer 1", 64, 784, 784),
    ("W3 layer 2", 64, 784, 800),
    ("W5 dense", 32, 1600, 1024),
    ("sweep batch 16", 16, 512, 512),
    ("sweep batch 1024", 1024, 512, 512),
    ("sweep width 4096", 128, 4096, 4096),
]


def _ops(M: int, C: int, K: int, rng: np.random.Generator):
    x = rng.standard_normal((M, C), dtype=np.float32)
    W = rng.standard_normal((C, K), dtype=np.float32) * np.float32(C ** -0.5)
    dy = rng.standard_normal((M, K), dtype=np.float32)
    y, dz = np.empty((M, K), np.float32), np.empty((M, K), np.float32)
    dx, dW = np.empty((M, C), np.float32), np.empty((C, K), np.float32)
    return {
        "x·W": (lambda: _native.dense_forward(y, x, W, None, "linear", 0.0), y, x.astype(np.float64) @ W),
        "xᵀ·dz": (lambda: _native.dense_backward(None, dW, None, dz, dy, x, W, y, "linear", 0.0), dW,
                  x.T.astype(np.float64) @ dy),
        "dz·Wᵀ": (lambda: _native.dense_backward(dx, None, None, dz, dy, x, W, y, "linear", 0.0), dx,
                  dy.astype(np.float64) @ W.T),
    }


def _check(run, out, exact, what: str) -> None:
    run()
    error = float(np.abs(out - exact).max() / (np.abs(exact).max() + 1e-30))
    if not error < 1e-5:
        raise SystemExit(f"{what}: relative error {error:.2e} against float64: not timing a wrong result")


def _time(run, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        run()
    return (time.perf_counter() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.05, help="length of one timing")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.threads:
        _native.set_num_threads(args.threads)
    initial = _native.get_gemm()
    impls = ["blas"] + (["own"] if _native.best_isa() == "avx512" else [])
    rng = np.random.default_rng(0)
    rows = []
    print(f"threads {_native.get_num_threads()}, {_native.blas_version()}, FMA peak "
          f"{_native.fma_peak_gflops(_native.get_num_threads(), 0.5):.0f} GFLOP/s")
    print(f"{'shape':<18} {'GEMM':<7} {'M×N×K':>16} " + " ".join(f"{i + ' µs':>9} {i + ' GF/s':>9}" for i in impls)
          + "   own/blas")
    for name, M, C, K in SHAPES:
        for op, (run, out, exact) in _ops(M, C, K, rng).items():
            mnk = {"x·W": (M, K, C), "xᵀ·dz": (C, K, M), "dz·Wᵀ": (M, C, K)}[op]
            flops = 2.0 * mnk[0] * mnk[1] * mnk[2]
            for impl in impls:
                _native.set_gemm(impl)
                _check(run, out, exact, f"{name} {op} ({impl})")
            calls = max(1, int(args.seconds / max(_time(run, 3), 1e-7)))
            samples = {impl: [] for impl in impls}
            for _ in range(args.repeats):
                for impl in impls:
                    _native.set_gemm(impl)
                    samples[impl].append(_time(run, calls))
            med = {impl: statistics.median(samples[impl]) for impl in impls}
            row = {"shape": name, "gemm": op, "M": mnk[0], "N": mnk[1], "K": mnk[2],
                   **{f"{i}_s": med[i] for i in impls}, **{f"{i}_gflops": flops / med[i] / 1e9 for i in impls}}
            rows.append(row)
            ratio = f"{med['blas'] / med['own']:9.2f}×" if "own" in med else ""
            print(f"{name:<18} {op:<7} {'×'.join(map(str, mnk)):>16} "
                  + " ".join(f"{med[i] * 1e6:9.1f} {flops / med[i] / 1e9:9.0f}" for i in impls) + "  " + ratio)
    _native.set_gemm(initial)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
