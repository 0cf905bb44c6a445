// Dense kernels: the three GEMMs of a dense layer on cuBLAS (row-major arrays handled by swapping
// operands, no transposed copies), the bias+activation epilogue of activations.cu, and a
// deterministic column sum for the bias gradient.
#include <atomic>
#include <cstdio>
#include <mutex>
#include <unordered_map>

#include "activations.cuh"
#include "common.cuh"
#include "dense.cuh"

namespace axonal::cuda {

namespace {

std::atomic<bool> allow_tf32{false};

// The user workspace cuBLAS gets for each stream: its recommendation, 32 MiB on Hopper (compute
// capability 9) and newer, 4 MiB before.
size_t cublas_workspace_bytes(int device) {
  int major = 0;
  AXONAL_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  return (major >= 9 ? size_t{32} : size_t{4}) << 20;
}

// A cuBLAS handle per host thread and device: a handle must not be used by two threads at once, and
// it belongs to the device that was current when it was made. Handles live as long as the process
// (destroying one at exit can run after the driver has shut down).
//
// CUDA graphs: each handle runs its GEMMs in a user workspace (cublasSetWorkspace), one per stream,
// allocated by the first GEMM on that stream and kept for the process. Without one, cuBLAS takes
// scratch memory from its own pool, which may allocate while a graph is being captured (and again for
// every capture); with one, a captured GEMM only touches memory that existed before the capture (so
// warm a step up once before capturing it) and that stays valid for every replay. One per stream,
// because GEMMs queued on two streams may run at once and must not share scratch memory; the price is
// one workspace for every stream a thread runs GEMMs on. cublasSetStream resets the workspace to
// cuBLAS's pool, so it is set again after every cublasSetStream (host-side state: no allocation, no
// wait, and allowed during a capture).
cublasHandle_t handle_for(cudaStream_t stream) {
  struct DeviceState {
    cublasHandle_t handle = nullptr;
    size_t workspace_bytes = 0;
    std::unordered_map<uintptr_t, void*> workspaces;  // by stream
  };
  thread_local std::unordered_map<int, DeviceState> devices;
  int device = 0;
  AXONAL_CUDA_CHECK(cudaGetDevice(&device));
  DeviceState& state = devices[device];
  if (!state.handle) {
    state.workspace_bytes = cublas_workspace_bytes(device);
    AXONAL_CUDA_CHECK(cublasCreate(&state.handle));
  }
  void*& workspace = state.workspaces[reinterpret_cast<uintptr_t>(stream)];
  // cudaMalloc's 256-byte alignment is what cuBLAS requires of a workspace.
  if (!workspace) AXONAL_CUDA_CHECK(cudaMalloc(&workspace, state.workspace_bytes));
  AXONAL_CUDA_CHECK(cublasSetStream(state.handle, stream));
  AXONAL_CUDA_CHECK(cublasSetWorkspace(state.handle, workspace, state.workspace_bytes));
  // CUBLAS_DEFAULT_MATH keeps float32 GEMMs in float32 (no TF32) unless benchmarks asked otherwise.
  AXONAL_CUDA_CHECK(cublasSetMathMode(state.handle, allow_tf32.load(std::memory_order_relaxed)
                                                        ? CUBLAS_TF32_TENSOR_OP_MATH
                                                        : CUBLAS_DEFAULT_MATH));
  return state.handle;
}

constexpr int kColumns = 32;  // columns per block of the bias gradient: one warp-wide coalesced row read
constexpr int kRowPhases = 32;

// dz (N, K) -> db (K) = Σ_n dz. Thread (c, r) of a block sums rows r, r+32, … of column c in order,
// then the 32 partial sums of a column are added in order: the bits depend on N and K only.
__global__ void bias_gradient_kernel(float* db, const float* dz, int64_t N, int64_t K) {
  __shared__ float partial[kRowPhases][kColumns + 1];  // +1: no bank conflicts on the column read
  const int64_t k = static_cast<int64_t>(blockIdx.x) * kColumns + threadIdx.x;
  float sum = 0.f;
  if (k < K)
    for (int64_t n = threadIdx.y; n < N; n += kRowPhases) sum += dz[n * K + k];
  partial[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && k < K) {
    float total = 0.f;
    for (int r = 0; r < kRowPhases; ++r) total += partial[r][threadIdx.x];
    db[k] = total;
  }
}

}  // namespace

// Row-major C (M, N) = op(A) op(B) + beta C, A (M, K) or stored (K, M) when trans_a, B (K, N) or
// stored (N, K) when trans_b. cuBLAS is column-major, and a row-major matrix read column-major is its
// transpose, so it computes Cᵀ = op(B)ᵀ op(A)ᵀ: the operands swap places and keep their transpose
// flags.
void gemm_row_major(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
                    float beta, float* C, cudaStream_t stream) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {  // an empty sum: C = 0, or C unchanged when accumulating (cuBLAS is not asked)
    if (beta == 0.f) AXONAL_CUDA_CHECK(cudaMemsetAsync(C, 0, sizeof(float) * M * N, stream));
    return;
  }
  const float one = 1.f;
  const int lda = static_cast<int>(trans_a ? M : K), ldb = static_cast<int>(trans_b ? K : N);
  AXONAL_CUDA_CHECK(cublasSgemm(handle_for(stream), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(N), static_cast<int>(M),
                                static_cast<int>(K), &one, B, ldb, A, lda, &beta, C, static_cast<int>(N)));
}

void set_allow_tf32(bool allow) { allow_tf32.store(allow); }
bool get_allow_tf32() { return allow_tf32.load(); }

const char* cublas_version() {
  static char text[48];
  static std::once_flag once;
  std::call_once(once, [] {
    int major = 0, minor = 0, patch = 0;
    // cublasGetProperty needs no handle (and so no GPU): the version of the library that was loaded.
    AXONAL_CUDA_CHECK(cublasGetProperty(MAJOR_VERSION, &major));
    AXONAL_CUDA_CHECK(cublasGetProperty(MINOR_VERSION, &minor));
    AXONAL_CUDA_CHECK(cublasGetProperty(PATCH_LEVEL, &patch));
    std::snprintf(text, sizeof(text), "cuBLAS %d.%d.%d", major, minor, patch);
  });
  return text;
}

void dense_forward(float* y, const float* x, const float* W, const float* b, int64_t N, int64_t C, int64_t K,
                   Act act, float alpha, cudaStream_t stream) {
  gemm_row_major(false, false, N, K, C, x, W, 0.f, y, stream);
  bias_activation_inplace(y, b, N, K, act, alpha, stream);
}

void bias_gradient(float* db, const float* dz, int64_t N, int64_t K, cudaStream_t stream) {
  if (K <= 0) return;
  const unsigned blocks = static_cast<unsigned>((K + kColumns - 1) / kColumns);
  bias_gradient_kernel<<<blocks, dim3(kColumns, kRowPhases), 0, stream>>>(db, dz, N, K);
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

void dense_backward(float* dx, float* dW, float* db, float* dz, const float* dy, const float* x, const float* W,
                    const float* y, int64_t N, int64_t C, int64_t K, Act act, float alpha, cudaStream_t stream) {
  activation_backward(dz, dy, y, N, K, act, alpha, stream);
  if (dW) gemm_row_major(true, false, C, K, N, x, dz, 0.f, dW, stream);
  if (db) bias_gradient(db, dz, N, K, stream);
  if (dx) gemm_row_major(false, true, N, C, K, dz, W, 0.f, dx, stream);
}

}  // namespace axonal::cuda
