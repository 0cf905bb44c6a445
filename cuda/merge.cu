// Merge kernels. One thread per element (grid-stride), reading each input once into registers: the
// n-input ops are memory-bound, and a thread's arithmetic over its n values is that of
// cpp/merge.cpp term for term (left-to-right folds, the others' product then times dy, merge_takes
// for the extremes), so both backends give the same bits (neither contracts a multiply-add).
#include "common.cuh"
#include "merge.cuh"

namespace axonal::cuda {

namespace {

// The pointer lists, by value in the launch's arguments (a graph node keeps its own copy).
struct InputPointers {
  const float* x[kMaxMergeInputs];
};
struct OutputPointers {
  float* dx[kMaxMergeInputs];
};

// Up to kMaxMergeInputs parts of a concatenation, each with its width and its first column in the
// concatenated array; `columns` is their total width.
struct ConcatGroup {
  float* part[kMaxMergeInputs];
  int64_t width[kMaxMergeInputs];
  int64_t first_column[kMaxMergeInputs];
  int64_t columns;
};

// Loops of the constant length kMaxMergeInputs, guarded by i < n: nvcc unrolls them, so the
// values stay in registers (an array indexed by a run-time bound would go to local memory).
__device__ __forceinline__ void load_inputs(float (&v)[kMaxMergeInputs], const InputPointers& in, int n, int64_t e) {
  for (int i = 0; i < kMaxMergeInputs; ++i) v[i] = i < n ? in.x[i][e] : 0.f;
}

// The index of the input a maximum (minimum) picks, and its value in *best.
template <MergeOp Op>
__device__ __forceinline__ int chosen_input(const float (&v)[kMaxMergeInputs], int n, float* best) {
  int chosen = 0;
  *best = v[0];
  for (int i = 1; i < kMaxMergeInputs; ++i) {
    if (i < n && merge_takes<Op>(v[i], *best)) {
      *best = v[i];
      chosen = i;
    }
  }
  return chosen;
}

// inputs[i] (count) -> y (count)
__global__ void merge_forward_kernel(float* y, InputPointers in, int n, int64_t count, MergeOp op) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < count; e += stride) {
    float v[kMaxMergeInputs];
    load_inputs(v, in, n, e);
    float result = v[0];
    switch (op) {  // the same for every thread: no divergence
      case MergeOp::add:
      case MergeOp::average:
        for (int i = 1; i < kMaxMergeInputs; ++i)
          if (i < n) result = result + v[i];
        if (op == MergeOp::average) result = result / static_cast<float>(n);  // a division, as on cpu
        break;
      case MergeOp::subtract: result = v[0] - v[1]; break;
      case MergeOp::multiply:
        for (int i = 1; i < kMaxMergeInputs; ++i)
          if (i < n) result = result * v[i];
        break;
      case MergeOp::maximum: chosen_input<MergeOp::maximum>(v, n, &result); break;
      case MergeOp::minimum: chosen_input<MergeOp::minimum>(v, n, &result); break;
    }
    y[e] = result;
  }
}

// dy (count), inputs[i] (count) -> dxs[i] (count), null dxs[i] skipped
__global__ void merge_backward_kernel(OutputPointers out, const float* dy, InputPointers in, int n, int64_t count,
                                      MergeOp op) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < count; e += stride) {
    const float g = dy[e];
    float v[kMaxMergeInputs], best = 0.f;
    int chosen = 0;
    switch (op) {
      case MergeOp::add:
      case MergeOp::average: {
        const float share = op == MergeOp::average ? g / static_cast<float>(n) : g;
        for (int i = 0; i < kMaxMergeInputs; ++i)
          if (i < n && out.dx[i]) out.dx[i][e] = share;
        break;
      }
      case MergeOp::subtract:
        if (out.dx[0]) out.dx[0][e] = g;
        if (out.dx[1]) out.dx[1][e] = -g;
        break;
      case MergeOp::multiply:
        load_inputs(v, in, n, e);
        for (int i = 0; i < kMaxMergeInputs; ++i) {
          if (i >= n || !out.dx[i]) continue;
          float others = 1.f;  // 1 · x is exact: cpu's product that starts from the first other input
          for (int j = 0; j < kMaxMergeInputs; ++j)
            if (j < n && j != i) others = others * v[j];
          out.dx[i][e] = g * others;
        }
        break;
      case MergeOp::maximum:
      case MergeOp::minimum:
        load_inputs(v, in, n, e);
        chosen = op == MergeOp::maximum ? chosen_input<MergeOp::maximum>(v, n, &best)
                                        : chosen_input<MergeOp::minimum>(v, n, &best);
        for (int i = 0; i < kMaxMergeInputs; ++i)
          if (i < n && out.dx[i]) out.dx[i][e] = i == chosen ? g : 0.f;
        break;
    }
  }
}

// The part holding column c (0 ≤ c < group.columns) of a group, and c's column inside that part.
__device__ __forceinline__ int part_of(const ConcatGroup& group, int64_t* c) {
  int part = 0;
  while (*c >= group.width[part]) *c -= group.width[part++];
  return part;
}

// group.part[j] (rows, width[j]) -> y (rows, total) at columns first_column[j] …; one thread per
// element of the group's parts, consecutive threads along a row: coalesced on both sides
__global__ void concat_forward_kernel(float* y, ConcatGroup group, int64_t rows, int64_t total) {
  const int64_t cells = rows * group.columns, stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < cells; t += stride) {
    const int64_t row = t / group.columns;
    int64_t c = t % group.columns;
    const int j = part_of(group, &c);
    y[row * total + group.first_column[j] + c] = group.part[j][row * group.width[j] + c];
  }
}

// dy (rows, total) -> group.part[j] (rows, width[j]) from columns first_column[j] …
__global__ void concat_backward_kernel(ConcatGroup group, const float* dy, int64_t rows, int64_t total) {
  const int64_t cells = rows * group.columns, stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < cells; t += stride) {
    const int64_t row = t / group.columns;
    int64_t c = t % group.columns;
    const int j = part_of(group, &c);
    group.part[j][row * group.width[j] + c] = dy[row * total + group.first_column[j] + c];
  }
}

// Runs `launch(group)` for each run of up to kMaxMergeInputs parts that are present (non-null) and
// non-empty, in order; a concatenation of any length is a few launches, each with its pointers in
// its arguments.
template <typename Launch>
void for_each_group(float* const* parts, const int64_t* widths, int n, Launch launch) {
  ConcatGroup group{};
  int in_group = 0;
  int64_t column = 0;
  for (int i = 0; i < n; ++i) {
    if (parts[i] && widths[i] > 0) {
      group.part[in_group] = parts[i];
      group.width[in_group] = widths[i];
      group.first_column[in_group] = column;
      group.columns += widths[i];
      if (++in_group == kMaxMergeInputs) {
        launch(group);
        group = ConcatGroup{};
        in_group = 0;
      }
    }
    column += widths[i];
  }
  if (in_group > 0) launch(group);
}

int64_t total_width(const int64_t* widths, int n) {
  int64_t total = 0;
  for (int i = 0; i < n; ++i) total += widths[i];
  return total;
}

}  // namespace

void merge_forward(float* y, const float* const* inputs, int n, int64_t count, MergeOp op, cudaStream_t stream) {
  if (count <= 0) return;
  InputPointers in{};
  for (int i = 0; i < n; ++i) in.x[i] = inputs[i];
  merge_forward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(y, in, n, count, op);
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

void merge_backward(float* const* dxs, const float* dy, const float* const* inputs, int n, int64_t count,
                    MergeOp op, cudaStream_t stream) {
  OutputPointers out{};
  InputPointers in{};
  bool any = false;
  for (int i = 0; i < n; ++i) {
    out.dx[i] = dxs[i];
    in.x[i] = inputs[i];
    any |= dxs[i] != nullptr;
  }
  if (count <= 0 || !any) return;
  merge_backward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(out, dy, in, n, count, op);
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

void concat_forward(float* y, const float* const* inputs, const int64_t* widths, int n, int64_t rows,
                    cudaStream_t stream) {
  if (rows <= 0) return;
  const int64_t total = total_width(widths, n);
  // The group type holds writable pointers for both directions; the forward kernel only reads them.
  for_each_group(const_cast<float* const*>(inputs), widths, n, [&](const ConcatGroup& group) {
    concat_forward_kernel<<<blocks_for(rows * group.columns), kThreads, 0, stream>>>(y, group, rows, total);
    AXONAL_CUDA_CHECK(cudaGetLastError());
  });
}

void concat_backward(float* const* dxs, const float* dy, const int64_t* widths, int n, int64_t rows,
                     cudaStream_t stream) {
  if (rows <= 0) return;
  const int64_t total = total_width(widths, n);
  for_each_group(dxs, widths, n, [&](const ConcatGroup& group) {
    concat_backward_kernel<<<blocks_for(rows * group.columns), kThreads, 0, stream>>>(group, dy, rows, total);
    AXONAL_CUDA_CHECK(cudaGetLastError());
  });
}

void accumulate(float* y, const float* x, int64_t count, cudaStream_t stream) {
  // y (count) += x (count)
  launch_elementwise(count, stream, [=] __device__(int64_t i) { y[i] = y[i] + x[i]; });
}

void scale(float* y, const float* x, int64_t count, float factor, cudaStream_t stream) {
  // x (count) -> y (count) = factor · x; each element is read before it is written, so y may be x
  launch_elementwise(count, stream, [=] __device__(int64_t i) { y[i] = factor * x[i]; });
}

}  // namespace axonal::cuda
