"""axonal's own AVX-512 GEMM against the BLAS library (MKL) on the shapes the seed workloads run.

Each shape is run through the op that issues it (dense_forward for x·W, dense_backward for xᵀ·dz
and dz·Wᵀ, with a linear activation so the op is the GEMM plus one pass), first checked against a
float64 NumPy product, then timed: medians of --repeats timings of --seconds each, for each GEMM
(`axonal._native.set_gemm`), in alternation so that both see the same machine. Prints a table
and writes JSON.

Then the ceiling it implies for W1 and W3 (issue 22 asks for 80% of the FMA peak end to end): the
time of one training step's GEMMs alone (every layer's x·W and xᵀ·dz, and dz·Wᵀ but for the first
layer), with the faster GEMM, then with the optimiser's update added (one memory-bound pass over
the weights, their gradients and slots), against the FMA peak measured in the same run. A step
that did nothing else could not run at a larger share of the peak. ``AXONAL_ISA=avx2`` in front
measures the AVX2 case (the library only, against the AVX2 peak).

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
    ("W3 layer 3", 64, 800, 10),
    ("W5 dense", 32, 1024, 1024),  # both Dense(1024) layers: the flattened 4×4×64 maps and the second
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
    impls = ["blas"] + (["own"] if _native.get_isa() == "avx512" else [])
    rng = np.random.default_rng(0)
    rows = []
    peak = _native.fma_peak_gflops(_native.get_num_threads(), 0.5, _native.get_isa())
    print(f"threads {_native.get_num_threads()}, {_native.blas_version()}, FMA peak {peak:.0f} GFLOP/s "
          f"({_native.get_isa()} vectors)")
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
    bounds = [_step_bound(workload, rows, impls, peak, args.repeats) for workload in STEPS]
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"peak_gflops": peak, "isa": _native.get_isa(), "shapes": rows, "step_bounds": bounds}, f,
                      indent=1)


# The dense layers of one training step of each MLP workload (benchmarks/run.py), first to last,
# and its optimiser.
STEPS = {"W1": (["W1 layer 1", "W1 layer 2", "W1 layer 3"], "rmsprop"),
         "W3": (["W3 layer 1", "W3 layer 2", "W3 layer 3"], "adam")}


def _update_seconds(optimizer: str, layers: list[str], repeats: int) -> float:
    """Median seconds of one optimiser update of the layers' weights and biases (one memory pass),
    less the cost of the Python calls (one per array; the training loop makes one C++ call for all),
    measured on one-element arrays."""
    from axonal.backend import cpu

    def arrays_of(shapes):
        return [(np.ones(shape, np.float32), np.full(shape, 1e-3, np.float32), np.zeros(shape, np.float32),
                 np.zeros(shape, np.float32)) for shape in shapes]

    def update(arrays):
        for param, grad, a, b in arrays:
            if optimizer == "rmsprop":
                cpu.rmsprop_update(param, grad, a, None, None, 1e-3, 0.9, 0.0, 1e-7, False)
            else:
                cpu.adam_update(param, grad, a, b, None, 1e-3, 0.9, 0.999, 1e-7, 1, False)

    shapes = [s for name, _, C, K in SHAPES if name in layers for s in ((C, K), (K,))]
    seconds = []
    for arrays in (arrays_of(shapes), arrays_of([(1,)] * len(shapes))):
        update(arrays)
        seconds.append(statistics.median(_time(lambda: update(arrays), 20) for _ in range(repeats)))
    return max(0.0, seconds[0] - seconds[1])


def _step_bound(workload: str, rows: list[dict], impls: list[str], peak: float, repeats: int) -> dict:
    """The share of the FMA peak a step of `workload` could reach if its GEMMs and its optimiser's
    one pass over the weights were all it did."""
    layers, optimizer = STEPS[workload]
    gemms = [r for r in rows if r["shape"] in layers and not (r["shape"] == layers[0] and r["gemm"] == "dz·Wᵀ")]
    flops = sum(2.0 * r["M"] * r["N"] * r["K"] for r in gemms)
    seconds = {impl: sum(r[f"{impl}_s"] for r in gemms) for impl in impls}
    best = min(impls, key=seconds.get)
    update = _update_seconds(optimizer, layers, repeats)
    gemms_only, with_update = (flops / t / 1e9 / peak for t in (seconds[best], seconds[best] + update))
    print(f"{workload}: one step's {len(gemms)} GEMMs ({flops / 1e6:.0f} MFLOP) take "
          + ", ".join(f"{seconds[i] * 1e6:.0f} µs with {i}" for i in impls)
          + f", its {optimizer} update {update * 1e6:.0f} µs. A step doing nothing else would reach at most "
          f"{gemms_only:.0%} of the {peak:.0f} GFLOP/s peak ({_native.get_isa()}) with the GEMMs alone, "
          f"{with_update:.0%} with the update (issue 22's goals: 80%, 75% with AVX2)")
    return {"workload": workload, "gemms": len(gemms), "mflop": flops / 1e6, "best": best,
            **{f"{i}_us": seconds[i] * 1e6 for i in impls}, "update_us": update * 1e6,
            "bound_gemms": gemms_only, "bound_gemms_and_update": with_update}


if __name__ == "__main__":
    main()
