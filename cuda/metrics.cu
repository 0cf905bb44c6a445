// Metric kernels: one warp per row for the argmax accuracies (a row's maximum found by shuffles, as
// the softmax kernels do), one thread per row for binary accuracy. Each thread counts its right rows,
// each block sums its threads' counts and adds them to the total with one integer atomic: the sum of
// integers is exact in any order, so the count is the same on every run and nothing is allocated.
#include <cmath>

#include "common.cuh"
#include "metrics.cuh"

namespace axonal::cuda {

namespace {

constexpr int kRowsPerBlock = kThreads / kWarp;  // one warp per row
constexpr int kMaxBlocks = 1024;                 // at most this many atomics per call

// The column of a row's maximum as cpu's argmax finds it: it scans from column 0 and keeps the first
// strictly greater value, so it returns the first of equal maxima, never picks a NaN, and stays at 0
// when column 0 is NaN (nothing compares greater). Here each lane keeps the first maximum of its
// columns (k = lane, lane + 32, ...), then the lanes' candidates are merged by value, ties to the
// lower column: the same answer whatever the merge order. All lanes of the warp call it; all get it.
__device__ int64_t warp_argmax(const float* row, int64_t K, int lane) {
  float best = -INFINITY;
  int64_t where = K;  // K: no candidate yet (every value so far NaN)
  for (int64_t k = lane; k < K; k += kWarp) {
    const float value = row[k];
    if (where == K ? !isnan(value) : value > best) {
      best = value;
      where = k;
    }
  }
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    const float other = __shfl_xor_sync(0xffffffffu, best, offset);
    const int64_t other_at = __shfl_xor_sync(0xffffffffu, where, offset);
    if (other_at < K && (where == K || other > best || (other == best && other_at < where))) {
      best = other;
      where = other_at;
    }
  }
  return where < K && !isnan(row[0]) ? where : 0;
}

// Adds the block's right rows to *total: warp sums by shuffles, the warps' sums in order by thread 0,
// then one atomic. Every thread of the block calls it.
__device__ void add_block_count(unsigned long long* total, unsigned long long right) {
  __shared__ unsigned long long warps[kThreads / kWarp];
  right = warp_sum(right);
  if (threadIdx.x % kWarp == 0) warps[threadIdx.x / kWarp] = right;
  __syncthreads();
  if (threadIdx.x == 0) {
    unsigned long long sum = 0;
    for (int w = 0; w < kThreads / kWarp; ++w) sum += warps[w];
    if (sum) atomicAdd(total, sum);
  }
}

// The class a target row names: the argmax of a (N, K) float row, or a class id.
struct DenseTarget {
  const float* targets;
  int64_t K;
  __device__ int64_t label(int64_t n, int lane) const { return warp_argmax(targets + n * K, K, lane); }
};

template <typename Label>
struct SparseTarget {
  const Label* labels;
  __device__ int64_t label(int64_t n, int) const { return static_cast<int64_t>(labels[n]); }
};

// predictions (N, K), targets -> *total += rows where argmax(prediction row) == target label. One warp
// per row (grid-stride over rows, so every lane of a warp holds the same row).
template <typename Target>
__global__ void argmax_accuracy_kernel(unsigned long long* total, const float* predictions, Target target, int64_t N,
                                       int64_t K) {
  const int lane = threadIdx.x % kWarp;
  unsigned long long right = 0;
  for (int64_t n = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp; n < N;
       n += static_cast<int64_t>(gridDim.x) * kRowsPerBlock) {
    const int64_t predicted = warp_argmax(predictions + n * K, K, lane);
    const int64_t expected = target.label(n, lane);
    if (lane == 0 && predicted == expected) ++right;
  }
  add_block_count(total, right);
}

// predictions, targets (N) -> *total += rows where target == (prediction > threshold ? 1 : 0)
__global__ void binary_accuracy_kernel(unsigned long long* total, const float* predictions, const float* targets,
                                       int64_t N, float threshold) {
  unsigned long long right = 0;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t n = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; n < N; n += stride)
    right += targets[n] == (predictions[n] > threshold ? 1.f : 0.f) ? 1 : 0;
  add_block_count(total, right);
}

// The int64 counter as the unsigned type of atomicAdd: two's complement, so the same bits.
unsigned long long* as_counter(int64_t* total) { return reinterpret_cast<unsigned long long*>(total); }

template <typename Target>
void launch_argmax_accuracy(int64_t* total, const float* predictions, Target target, int64_t N, int64_t K,
                            cudaStream_t stream) {
  if (N <= 0 || K <= 0) return;
  argmax_accuracy_kernel<<<blocks_for(N, kRowsPerBlock, kMaxBlocks), kThreads, 0, stream>>>(
      as_counter(total), predictions, target, N, K);
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void categorical_accuracy_count(int64_t* total, const float* predictions, const float* targets, int64_t N,
                                int64_t K, cudaStream_t stream) {
  launch_argmax_accuracy(total, predictions, DenseTarget{targets, K}, N, K, stream);
}

template <typename Label>
void sparse_accuracy_count(int64_t* total, const float* predictions, const Label* labels, int64_t N, int64_t K,
                           cudaStream_t stream) {
  launch_argmax_accuracy(total, predictions, SparseTarget<Label>{labels}, N, K, stream);
}

template void sparse_accuracy_count<int32_t>(int64_t*, const float*, const int32_t*, int64_t, int64_t, cudaStream_t);
template void sparse_accuracy_count<int64_t>(int64_t*, const float*, const int64_t*, int64_t, int64_t, cudaStream_t);

void binary_accuracy_count(int64_t* total, const float* predictions, const float* targets, int64_t N,
                           float threshold, cudaStream_t stream) {
  if (N <= 0) return;
  binary_accuracy_kernel<<<blocks_for(N, kThreads, kMaxBlocks), kThreads, 0, stream>>>(as_counter(total), predictions,
                                                                                        targets, N, threshold);
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

void increment(int64_t* counters, int64_t n, cudaStream_t stream) {
  // counters (n) += 1
  launch_elementwise(n, stream, [=] __device__(int64_t i) { counters[i] += 1; });
}

}  // namespace axonal::cuda
