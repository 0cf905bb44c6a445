// Which GEMM runs by default, chosen by measurement (issue 22, point 5): the first GEMM of a
// process times axonal's own AVX-512 GEMM and the BLAS library on W1's first layer (x·W, xᵀ·dz,
// dz·Wᵀ at 128 rows, 784 inputs, 512 outputs) and keeps the faster, the library unless the own one
// is at least kOwnMargin faster. The answer is saved in a small file per CPU and build, so that every
// later process on the machine takes the same GEMM (and gives the same bits) without measuring.
#pragma once
#include <string>

#include "gemm.h"

namespace axonal {

// The own GEMM must take at most this share of the library's time to be chosen: a near tie goes
// to the library, and two machines of one model do not flip between the two on noise.
constexpr double kOwnMargin = 0.95;

struct GemmChoice {
  GemmImpl impl = GemmImpl::blas;
  std::string how;       // one line for show_config: measured, read from the cache, pinned...
  double own_s = 0.0;    // the medians measured (or read back), seconds for the three GEMMs; 0: none
  double blas_s = 0.0;
  std::string path;      // the cache file read or written; empty when none
};

// Measure (or read the cache) and return the choice; never throws: a cache that cannot be read or
// written only loses the memory of the measurement (said in `how`).
GemmChoice choose_gemm_by_measurement();

// The pure policy: own when own_s <= kOwnMargin · blas_s.
GemmImpl pick_gemm(double own_s, double blas_s);

// The median seconds of the three GEMMs above with each GEMM, on the current thread count, timed
// in alternation so that both see the same machine.
void time_gemm_pair(double* own_s, double* blas_s);

}  // namespace axonal
