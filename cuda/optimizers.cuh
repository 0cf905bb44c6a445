// Optimiser op family on the GPU: one fused, in-place kernel per parameter, running any optimiser of
// AXONAL_OPTIMIZERS (axonal/optimizer_functors.h) with the same float/double conventions as the cpu
// update (cpp/optimizers.h). The learning rate and the step are StepValues (common.cuh): host
// numbers, or device scalars read when the kernel runs (a replayed CUDA graph sees the current
// learning rate and step). A device step below 1 is not checked (that would need a copy): it makes
// Adam's update NaN.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

#include "axonal/optimizer_functors.h"
#include "common.cuh"

namespace axonal::cuda {

// param, the slots in the kernel's order (n each, bit k of `used` set for those in use; see
// use_slots()) updated in place from grad (n) by one step of optimiser `kind`
void optimizer_update(int kind, float* param, const SlotArrays& slots, unsigned used, const float* grad, int64_t n,
                      const HyperValues& hyper, StepValue<double> lr, StepValue<int64_t> step, double weight_decay,
                      cudaStream_t stream);

}  // namespace axonal::cuda
