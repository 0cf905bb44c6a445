// The machine's fp32 FMA peak, measured: the reference that benchmarks/run.py divides model
// FLOP rates by (docs/performance.md). Not an op; nothing in training calls it.
#pragma once

#include "cpu_features.h"

namespace axonal {

// GFLOP/s (2 per FMA lane) of a register-only FMA loop on `threads` threads for about `seconds`,
// using the vectors of `isa` (AVX-512, AVX2+FMA, or scalar fmaf for portable), which this CPU must
// run: the peak of the instruction set the kernels use (AXONAL_ISA), not only the machine's widest.
double fma_peak_gflops(int threads, double seconds, Isa isa);

// "avx512f", "avx2" or "scalar": the widest vectors this CPU runs (fma_peak_gflops's default isa).
const char* fma_peak_isa();

}  // namespace axonal
