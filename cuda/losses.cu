// Loss kernels. Each launch writes its gradient and reduces the batch's weighted loss on the device:
// every block tree-sums its threads' float64 shares, stores the block sum, and the last block to
// finish (an atomic ticket) adds the block sums in block order and writes the mean. No atomics touch
// the sum itself, so the loss has the same bits on every run for the same sizes, and nothing is
// copied to the host unless the caller asks for the value.
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>

#include "common.cuh"
#include "losses.cuh"

namespace axonal::cuda {

namespace {

constexpr int kMaxBlocks = 1024;  // the reduction's block sums fit one fixed workspace
constexpr int kRowsPerBlock = kThreads / kWarp;

// Device scratch of one (device, stream): the block sums, the ticket counting finished blocks (back
// to 0 after each launch) and a loss slot for callers that want the value on the host.
struct Workspace {
  double* block_sums = nullptr;
  double* loss = nullptr;
  unsigned* ticket = nullptr;
};

// The workspace of the current device and `stream`, made on first use. Launches on one stream run in
// order, so they can share it; cudaStreamPerThread names a different stream in every thread, hence
// the thread in its key. After the first loss on a stream nothing is allocated (a CUDA graph captured
// on that stream then holds only kernels; it must be replayed on that stream, which owns the ticket).
Workspace& workspace_for(cudaStream_t stream) {
  static std::mutex mutex;
  static std::map<std::tuple<int, uintptr_t, std::thread::id>, Workspace> workspaces;
  int device = 0;
  AXONAL_CUDA_CHECK(cudaGetDevice(&device));
  const std::thread::id thread = stream == cudaStreamPerThread ? std::this_thread::get_id() : std::thread::id();
  std::lock_guard<std::mutex> lock(mutex);
  Workspace& space = workspaces[{device, reinterpret_cast<uintptr_t>(stream), thread}];
  if (!space.block_sums) {
    double* memory = nullptr;
    AXONAL_CUDA_CHECK(cudaMalloc(&memory, sizeof(double) * (kMaxBlocks + 2)));
    space = {memory, memory + kMaxBlocks, reinterpret_cast<unsigned*>(memory + kMaxBlocks + 1)};
    AXONAL_CUDA_CHECK(cudaMemsetAsync(space.ticket, 0, sizeof(unsigned), stream));
  }
  return space;
}

// Where a launch's reduction goes: the caller's loss scalar and running sum, the workspace, and the
// count the weighted sum is divided by (N, or N·K).
struct LossOutput {
  double* loss;
  double* loss_sum;
  double* block_sums;
  unsigned* ticket;
  double count;
};

LossOutput output_for(double* loss, double* loss_sum, double count, cudaStream_t stream) {
  Workspace& space = workspace_for(stream);
  return {loss ? loss : space.loss, loss_sum, space.block_sums, space.ticket, count};
}

// The sum of `value` over the block, in thread 0 (a fixed tree: deterministic). All threads call it.
__device__ double block_sum(double value, double* shared) {
  shared[threadIdx.x] = value;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) shared[threadIdx.x] += shared[threadIdx.x + half];
    __syncthreads();
  }
  return shared[0];
}

// Every thread of every block calls this with its share of the weighted loss sum; the last block
// writes sum / count to *loss and adds it to *loss_sum.
__device__ void finish_loss(double value, const LossOutput& out) {
  __shared__ double shared[kThreads];
  __shared__ bool last;
  const double mine = block_sum(value, shared);
  if (threadIdx.x == 0) {
    out.block_sums[blockIdx.x] = mine;
    __threadfence();  // the block sum is visible device-wide before the ticket says so
    last = atomicAdd(out.ticket, 1u) == gridDim.x - 1;
  }
  __syncthreads();
  if (!last) return;
  double sum = 0.0;
  for (unsigned b = threadIdx.x; b < gridDim.x; b += kThreads) sum += __ldcg(out.block_sums + b);  // not L1
  const double total = block_sum(sum, shared);
  if (threadIdx.x == 0) {
    const double mean = total / out.count;
    *out.loss = mean;
    if (out.loss_sum) *out.loss_sum += mean;
    *out.ticket = 0;  // ready for the next launch on this stream
  }
}

// Targets of softmax cross-entropy: (N, K) float rows, or class ids (N) read as one-hot rows.
struct DenseTargets {
  const float* targets;
  int64_t K;
  struct Row {
    const float* t;
    __device__ float operator()(int64_t k) const { return t[k]; }
  };
  __device__ Row row(int64_t n) const { return {targets + n * K}; }
  __device__ bool valid(int64_t) const { return true; }
};

template <typename Label>
struct SparseTargets {
  const Label* labels;
  int64_t K;
  struct Row {
    int64_t label;
    __device__ float operator()(int64_t k) const { return k == label ? 1.f : 0.f; }
  };
  __device__ Row row(int64_t n) const { return {static_cast<int64_t>(labels[n])}; }
  __device__ bool valid(int64_t n) const { return labels[n] >= 0 && static_cast<int64_t>(labels[n]) < K; }
};

// logits (N, K), targets -> dlogits (N, K) = w_n (softmax(z_n) − t_n)·scale and the weighted mean
// of logsumexp(z_n) − Σ t·z_n. One warp per row; dlogits may equal logits (each element is read
// before the same lane overwrites it, and the row's sums are complete first).
template <typename Targets>
__global__ void softmax_cross_entropy_kernel(LossOutput out, float* dlogits, const float* logits, Targets targets,
                                             const float* weights, int64_t N, int64_t K, float scale) {
  const int lane = threadIdx.x % kWarp;
  double share = 0.0;  // lane 0's: the weighted losses of its warp's rows
  for (int64_t n = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp; n < N;
       n += static_cast<int64_t>(gridDim.x) * kRowsPerBlock) {
    const float* z = logits + n * K;
    float* d = dlogits + n * K;
    const auto t = targets.row(n);
    float peak = -INFINITY;
    for (int64_t k = lane; k < K; k += kWarp) peak = fmaxf(peak, z[k]);
    peak = warp_max(peak);
    float total = 0.f;
    double target_dot = 0.0, target_sum = 0.0;
    for (int64_t k = lane; k < K; k += kWarp) {
      const float shifted = z[k] - peak;
      total += expf(shifted);
      target_dot += static_cast<double>(t(k)) * shifted;
      target_sum += t(k);
    }
    total = warp_sum(total);
    target_dot = warp_sum(target_dot);
    target_sum = warp_sum(target_sum);
    const float w = weights ? weights[n] : 1.f;
    const bool valid = targets.valid(n);
    const float step = valid ? w * scale : NAN;  // an out-of-range label poisons its row, visibly
    const float inv = 1.f / total;
    for (int64_t k = lane; k < K; k += kWarp) d[k] = (expf(z[k] - peak) * inv - t(k)) * step;
    // −Σ t log softmax = (Σ t)·log Σ e^(z−peak) − Σ t·(z − peak)
    if (lane == 0) share += valid ? w * (target_sum * log(static_cast<double>(total)) - target_dot) : NAN;
  }
  finish_loss(share, out);
}

// Elementwise losses over n = N·K outputs: Term writes one gradient element and returns its weighted
// loss term in double.
template <typename Term>
__global__ void elementwise_loss_kernel(LossOutput out, float* grad, const float* pred, const float* target,
                                        const float* weights, int64_t n, int64_t K, float scale, Term term) {
  double share = 0.0;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    share += term(grad + i, pred[i], target[i], weights ? weights[i / K] : 1.f, scale);
  finish_loss(share, out);
}

// softplus(z) − t·z = max(z, 0) − t·z + log1p(e^−|z|): finite for any z, as cpp/losses.cpp.
struct BinaryCrossEntropyTerm {
  __device__ double operator()(float* d, float z, float t, float w, float scale) const {
    const float e = expf(-fabsf(z));
    const float sigmoid = z >= 0.f ? 1.f / (1.f + e) : e / (1.f + e);
    *d = (sigmoid - t) * w * scale;
    return w * (static_cast<double>(fmaxf(z, 0.f) - t * z) + log1p(static_cast<double>(e)));
  }
};

struct SquaredErrorTerm {
  __device__ double operator()(float* d, float p, float t, float w, float scale) const {
    const float diff = p - t;
    *d = diff * w * scale;
    return static_cast<double>(w) * diff * diff;
  }
};

template <typename Targets>
void launch_softmax_cross_entropy(double* loss, double* loss_sum, float* dlogits, const float* logits,
                                  Targets targets, const float* weights, int64_t N, int64_t K, cudaStream_t stream) {
  if (N <= 0 || K <= 0) throw std::invalid_argument("softmax_cross_entropy: empty logits");
  const LossOutput out = output_for(loss, loss_sum, static_cast<double>(N), stream);
  softmax_cross_entropy_kernel<<<blocks_for(N, kRowsPerBlock, kMaxBlocks), kThreads, 0, stream>>>(
      out, dlogits, logits, targets, weights, N, K, 1.f / static_cast<float>(N));
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

template <typename Term>
void launch_elementwise_loss(double* loss, double* loss_sum, float* grad, const float* pred, const float* target,
                             const float* weights, int64_t N, int64_t K, float numerator, cudaStream_t stream) {
  const int64_t n = N * K;
  if (n <= 0) throw std::invalid_argument("loss of an empty batch");
  const LossOutput out = output_for(loss, loss_sum, static_cast<double>(n), stream);
  elementwise_loss_kernel<<<blocks_for(n, kThreads, kMaxBlocks), kThreads, 0, stream>>>(
      out, grad, pred, target, weights, n, K, numerator / static_cast<float>(n), Term{});
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void softmax_cross_entropy(double* loss, double* loss_sum, float* dlogits, const float* logits,
                           const float* targets, const float* weights, int64_t N, int64_t K, cudaStream_t stream) {
  launch_softmax_cross_entropy(loss, loss_sum, dlogits, logits, DenseTargets{targets, K}, weights, N, K, stream);
}

template <typename Label>
void softmax_cross_entropy_sparse(double* loss, double* loss_sum, float* dlogits, const float* logits,
                                  const Label* labels, const float* weights, int64_t N, int64_t K,
                                  cudaStream_t stream) {
  launch_softmax_cross_entropy(loss, loss_sum, dlogits, logits, SparseTargets<Label>{labels, K}, weights, N, K,
                               stream);
}

template void softmax_cross_entropy_sparse<int32_t>(double*, double*, float*, const float*, const int32_t*,
                                                    const float*, int64_t, int64_t, cudaStream_t);
template void softmax_cross_entropy_sparse<int64_t>(double*, double*, float*, const float*, const int64_t*,
                                                    const float*, int64_t, int64_t, cudaStream_t);

void sigmoid_binary_cross_entropy(double* loss, double* loss_sum, float* dlogits, const float* logits,
                                  const float* targets, const float* weights, int64_t N, int64_t K,
                                  cudaStream_t stream) {
  launch_elementwise_loss<BinaryCrossEntropyTerm>(loss, loss_sum, dlogits, logits, targets, weights, N, K, 1.f,
                                                  stream);
}

void mean_squared_error(double* loss, double* loss_sum, float* dpred, const float* pred, const float* target,
                        const float* weights, int64_t N, int64_t K, cudaStream_t stream) {
  launch_elementwise_loss<SquaredErrorTerm>(loss, loss_sum, dpred, pred, target, weights, N, K, 2.f, stream);
}

double* default_loss_slot(cudaStream_t stream) { return workspace_for(stream).loss; }

double fetch_loss(const double* loss, cudaStream_t stream) {
  double value = 0.0;
  AXONAL_CUDA_CHECK(cudaMemcpyAsync(&value, loss, sizeof(double), cudaMemcpyDeviceToHost, stream));
  AXONAL_CUDA_CHECK(cudaStreamSynchronize(stream));
  return value;
}

}  // namespace axonal::cuda
