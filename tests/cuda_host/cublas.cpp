// cuBLAS on the emulated device: handles, and a column-major SGEMM with cuBLAS's argument checks,
// every sum in ascending k order (README.md here).
#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "cublas_v2.h"
#include "device.h"

namespace {

// A column-major matrix of `columns` columns of `rows` floats, `ld` apart, lies in memory the
// process owns (under AddressSanitizer: no byte of it is poisoned). The GEMM itself runs
// uninstrumented, for speed, so its operands are checked here, once per call.
void check_matrix(const char* what, const float* data, int64_t columns, int64_t ld, int64_t rows) {
#if AXONAL_EMU_ASAN
  if (columns <= 0 || rows <= 0) return;
  const size_t bytes = sizeof(float) * static_cast<size_t>((columns - 1) * ld + rows);
  if (__asan_region_is_poisoned(const_cast<float*>(data), bytes))
    throw std::runtime_error(std::string("emulated CUDA: ") + what + " reaches outside its allocation");
#else
  (void)what, (void)data, (void)columns, (void)ld, (void)rows;
#endif
}

// C = a op(A) op(B) + b C, column-major; every element's sum runs over k in ascending order.
// op(A) is packed column by column so that the inner loop runs down contiguous columns.
__attribute__((no_sanitize("address"), optimize("O3"))) void sgemm(bool ta, bool tb, int m, int n, int k, float a,
                                                                   const float* A, int lda, const float* B, int ldb,
                                                                   float b, float* C, int ldc) {
  std::vector<float> packed(static_cast<size_t>(m) * k), column(m);
  for (int p = 0; p < k; ++p)
    for (int i = 0; i < m; ++i)
      packed[i + static_cast<size_t>(p) * m] =
          ta ? A[p + static_cast<int64_t>(i) * lda] : A[i + static_cast<int64_t>(p) * lda];
  for (int j = 0; j < n; ++j) {
    std::fill(column.begin(), column.end(), 0.f);
    for (int p = 0; p < k; ++p) {
      const float bpj = tb ? B[j + static_cast<int64_t>(p) * ldb] : B[p + static_cast<int64_t>(j) * ldb];
      const float* ap = packed.data() + static_cast<size_t>(p) * m;
      for (int i = 0; i < m; ++i) column[i] += ap[i] * bpj;
    }
    float* c = C + static_cast<int64_t>(j) * ldc;
    for (int i = 0; i < m; ++i) c[i] = b == 0.f ? a * column[i] : a * column[i] + b * c[i];  // b == 0: C not read
  }
}

}  // namespace

// The GEMM computes in float32 whatever the math mode, and needs no workspace: a handle is its stream.
struct cublasContext {
  cudaStream_t stream = nullptr;
};

const char* cublasGetStatusString(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "the operation completed successfully";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
  }
  return "unknown error";
}

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  *handle = new cublasContext();
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void* workspace, size_t) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  return reinterpret_cast<uintptr_t>(workspace) % 256 == 0 ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  return mode == CUBLAS_DEFAULT_MATH || mode == CUBLAS_TF32_TENSOR_OP_MATH ? CUBLAS_STATUS_SUCCESS
                                                                          : CUBLAS_STATUS_INVALID_VALUE;
}

cublasStatus_t cublasGetProperty(libraryPropertyType type, int* value) {
  *value = type == MAJOR_VERSION ? 13 : 0;  // "cuBLAS 13.0.0"
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                           int k, const float* alpha, const float* A, int lda, const float* B, int ldb,
                           const float* beta, float* C, int ldc) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  const bool ta = transa != CUBLAS_OP_N, tb = transb != CUBLAS_OP_N;
  // cuBLAS's checks (cublas<t>gemm, "Return values"): sizes, and leading dimensions against the
  // stored shapes.
  if (m < 0 || n < 0 || k < 0 || lda < std::max(1, ta ? k : m) || ldb < std::max(1, tb ? n : k) ||
      ldc < std::max(1, m))
    return CUBLAS_STATUS_INVALID_VALUE;
  const float a = *alpha, b = *beta;  // host pointers: read at the call, as CUBLAS_POINTER_MODE_HOST
  const cudaError_t status = axonal_emu::enqueue(handle->stream, [=] {
    check_matrix("cublasSgemm A", A, ta ? m : k, lda, ta ? k : m);
    check_matrix("cublasSgemm B", B, tb ? k : n, ldb, tb ? n : k);
    check_matrix("cublasSgemm C", C, n, ldc, m);
    sgemm(ta, tb, m, n, k, a, A, lda, B, ldb, b, C, ldc);
  }, "cublasSgemm");
  return status == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}

