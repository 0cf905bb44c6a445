// Metric and counter op family on the GPU: what an on-device training loop needs besides the layer
// ops. The accuracy counts add the rows a batch gets right to an int64 device counter, by the rule
// of TrainingLoop::count_metrics (cpp/training_loop.cpp); increment advances the loop's step
// counters. All are queued on the stream, allocate nothing and never wait, so a CUDA graph can hold
// them; the counts use integer atomics, whose sums do not depend on the order (the same on every run).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

namespace axonal::cuda {

// predictions, targets (N, K) -> *total += the rows whose argmaxes agree. argmax is cpu's: the first
// of equal maxima, NaN never chosen, except that a NaN in column 0 gives 0.
void categorical_accuracy_count(int64_t* total, const float* predictions, const float* targets, int64_t N,
                                int64_t K, cudaStream_t stream);

// predictions (N, K), labels (N) class ids -> *total += the rows whose argmax is the label (a label
// outside [0, K) is simply wrong)
template <typename Label>
void sparse_accuracy_count(int64_t* total, const float* predictions, const Label* labels, int64_t N, int64_t K,
                           cudaStream_t stream);

// predictions, targets (N) (one output column) -> *total += the rows where
// target == (prediction > threshold ? 1 : 0), compared exactly as floats (a target of 0.7 is never right)
void binary_accuracy_count(int64_t* total, const float* predictions, const float* targets, int64_t N,
                           float threshold, cudaStream_t stream);

// counters (n) += 1
void increment(int64_t* counters, int64_t n, cudaStream_t stream);

}  // namespace axonal::cuda
