// The machine's fp32 FMA peak, measured: the reference that benchmarks/run.py divides model
// FLOP rates by (docs/performance.md). Not an op; nothing in training calls it.
#pragma once

namespace axonal {

// GFLOP/s (2 per FMA lane) of a register-only FMA loop on `threads` threads for about `seconds`,
// using the widest vectors this CPU runs (AVX-512, else AVX2+FMA, else scalar fmaf).
double fma_peak_gflops(int threads, double seconds);

// "avx512f", "avx2" or "scalar": the width fma_peak_gflops used.
const char* fma_peak_isa();

}  // namespace axonal
