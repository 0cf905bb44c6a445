// Dense op family on the GPU: y = act(x W + b), the GEMMs on cuBLAS and the bias and activation in
// one epilogue kernel. Same signatures as cpp/dense.h plus the stream every call is queued on.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "axonal/activation_functors.h"

namespace axonal::cuda {

// x (N, C), W (C, K), b (K) or null -> y (N, K)
void dense_forward(float* y, const float* x, const float* W, const float* b, int64_t N, int64_t C, int64_t K,
                   Act act, float alpha, cudaStream_t stream);

// dy, y (N, K), x (N, C), W (C, K) -> dz (N, K) = dy ⊙ act'(y), dW (C, K) = xᵀ dz (null: frozen),
// db (K) = Σ_n dz (null: no bias), dx (N, C) = dz Wᵀ (null: not needed, e.g. the first layer)
void dense_backward(float* dx, float* dW, float* db, float* dz, const float* dy, const float* x, const float* W,
                    const float* y, int64_t N, int64_t C, int64_t K, Act act, float alpha, cudaStream_t stream);

// Row-major C (M, N) = op(A) op(B) + beta C on cuBLAS (this thread's handle for the current device,
// in the TF32 mode below), A (M, K) or stored (K, M) when trans_a, B (K, N) or stored (N, K) when
// trans_b. The GEMM of the dense and conv families.
void gemm_row_major(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
                    float beta, float* C, cudaStream_t stream);

// dz (N, K) -> db (K) = Σ_n dz, summed in a fixed order (deterministic for given N and K).
void bias_gradient(float* db, const float* dz, int64_t N, int64_t K, cudaStream_t stream);

// TF32 tensor-core GEMMs (about 10 mantissa bits) are off by default, so that float32 results match
// the other backends; benchmarks may switch them on. Applies to the GEMMs of every thread.
void set_allow_tf32(bool allow);
bool get_allow_tf32();

// "cuBLAS <major>.<minor>.<patch>" of the library loaded at run time.
const char* cublas_version();

}  // namespace axonal::cuda
