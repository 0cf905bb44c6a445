"""axonal's cuda dense layer against cuBLAS' own rate, on one large fp32 GEMM (the CUDA issue: at
least 80% of it).

``dense_forward`` (no bias, linear) on an M×K input and a K×N kernel is timed against
``cupy.matmul`` of the same arrays, which calls cuBLAS directly; TF32 is off on both (cupy uses it
only when ``CUPY_TF32=1``). The results are compared before anything is timed. Each figure is the
median of ``--repeats`` timings of ``--calls`` back-to-back calls, measured with CUDA events.

Usage (on a GPU, with axonal's CUDA extension built): ``python benchmarks/cuda_gemm.py [--size 8192]``
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys


def timed(call, stream, calls: int, repeats: int) -> float:
    """Median seconds of one call, from CUDA events around ``calls`` consecutive calls."""
    import cupy

    call()
    stream.synchronize()
    seconds = []
    for _ in range(repeats):
        start, stop = cupy.cuda.Event(), cupy.cuda.Event()
        start.record(stream)
        for _ in range(calls):
            call()
        stop.record(stream)
        stop.synchronize()
        seconds.append(cupy.cuda.get_elapsed_time(start, stop) / 1e3 / calls)
    return statistics.median(seconds)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8192, help="M = K = N")
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default="", help="also write the figures here")
    args = parser.parse_args(argv)
    if os.environ.get("CUPY_TF32", "0") != "0":
        sys.exit("unset CUPY_TF32: the comparison is fp32 without TF32")

    from bench import emulation

    emulation.install_if_requested()  # the GPU session's rehearsal on the host emulation
    import cupy

    from axonal.backend import cuda as ops  # ImportError with the reason when cuda is unusable

    ops.set_allow_tf32(False)
    n = args.size
    rng = cupy.random.default_rng(0)
    x = rng.standard_normal((n, n), dtype=cupy.float32)
    kernel = rng.standard_normal((n, n), dtype=cupy.float32)
    ours, theirs = cupy.empty((n, n), cupy.float32), cupy.empty((n, n), cupy.float32)
    with cupy.cuda.Stream(non_blocking=True) as stream:
        ops.dense_forward(ours, x, kernel, None, "linear", 0.0)
        cupy.matmul(x, kernel, out=theirs)
        scale = float(cupy.abs(theirs).max())
        error = float(cupy.abs(ours - theirs).max()) / scale
        if not error < 1e-5:
            sys.exit(f"results differ: max |ours - cuBLAS| / max |cuBLAS| = {error:.2e}")
        flops = 2.0 * n ** 3
        axonal_s = timed(lambda: ops.dense_forward(ours, x, kernel, None, "linear", 0.0), stream, args.calls,
                         args.repeats)
        cublas_s = timed(lambda: cupy.matmul(x, kernel, out=theirs), stream, args.calls, args.repeats)
    figures = {"size": n, "device": cupy.cuda.runtime.getDeviceProperties(0)["name"].decode(),
               "axonal_tflops": flops / axonal_s / 1e12, "cublas_tflops": flops / cublas_s / 1e12,
               "axonal_share_of_cublas": cublas_s / axonal_s, "max_relative_difference": error}
    print(f"{figures['device']}: fp32 GEMM {n}^3, TF32 off: axonal dense_forward {figures['axonal_tflops']:.1f} "
          f"TFLOP/s, cuBLAS (cupy.matmul) {figures['cublas_tflops']:.1f} TFLOP/s: "
          f"{100 * figures['axonal_share_of_cublas']:.0f}% of cuBLAS (target 80%); results agree to {error:.1e}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(figures, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
