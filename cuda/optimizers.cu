// Optimiser kernels: each update is one elementwise pass over the parameter and its slots, applying
// the per-element maths cpp/optimizers.cpp applies (cpp/include/axonal/optimizer_functors.h); the
// build turns off fused multiply-add contraction (--fmad=false, cuda/CMakeLists.txt) as the C++
// build does (-ffp-contract=off), so an update rounds as the cpu backend's does.
//
// The per-update constants (a Step: decay factor, rate, Adam's bias-corrected alpha) come from the
// learning rate and the step. When both are host numbers the host builds the Step and every thread
// gets a copy (the bits of cpu). When either is a device scalar (a CUDA graph replayed step after
// step), each thread builds the Step from the values it reads when the kernel runs, once, before its
// grid-stride loop: the same double expressions, evaluated on the device. That is exact for every
// constant but Adam's alpha: CUDA's double pow() is not correctly rounded (its documented error
// bound is 2 ulp) where glibc's is, so alpha may differ from the host's in the last bits of a
// double, which on rare rounding boundaries moves the float alpha by one ulp.
#include <stdexcept>
#include <string>
#include <type_traits>

#include "optimizers.cuh"

namespace axonal::cuda {

namespace {

// n elements, one Step per thread: step = make() (a copy, or built from device values), then
// step.apply<Used>(...) for the thread's elements. (Every template argument is deduced: the host
// emulation's launch rewrite, tests/cuda_host/transform.py, takes a plain kernel name.)
template <typename Make, unsigned Used>
__global__ void update_kernel(int64_t n, Make make, std::integral_constant<unsigned, Used>, float* param,
                              SlotArrays slots, const float* grad) {
  const auto step = make();
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    step.template apply<Used>(param, slots, grad, i);
}

// The host-built Step, copied by every thread.
template <typename Step>
struct Prebuilt {
  Step step;
  __device__ Step operator()() const { return step; }
};

// The Step built on the device from the current learning rate and step.
template <typename Step>
struct BuiltOnDevice {
  HyperValues hyper;
  StepValue<double> lr;
  StepValue<int64_t> step;
  double weight_decay;
  __device__ Step operator()() const { return Step(hyper, lr.get(), step.get(), weight_decay); }
};

template <typename Step, typename Mask>
void launch(Mask mask, int64_t n, float* param, const SlotArrays& slots, const float* grad, const HyperValues& hyper,
            StepValue<double> lr, StepValue<int64_t> step, double weight_decay, cudaStream_t stream) {
  if (n <= 0) return;
  if (lr.on_device() || step.on_device())
    update_kernel<<<blocks_for(n), kThreads, 0, stream>>>(n, BuiltOnDevice<Step>{hyper, lr, step, weight_decay}, mask,
                                                          param, slots, grad);
  else
    update_kernel<<<blocks_for(n), kThreads, 0, stream>>>(
        n, Prebuilt<Step>{Step(hyper, lr.host, step.host, weight_decay)}, mask, param, slots, grad);
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void optimizer_update(int kind, float* param, const SlotArrays& slots, unsigned used, const float* grad, int64_t n,
                      const HyperValues& hyper, StepValue<double> lr, StepValue<int64_t> step, double weight_decay,
                      cudaStream_t stream) {
  visit_optimizer(kind, [&](auto tag) {
    using Step = std::remove_pointer_t<decltype(tag)>;
    const bool ran = with_used_slots<Step>(used, [&](auto mask) {
      launch<Step>(mask, n, param, slots, grad, hyper, lr, step, weight_decay, stream);
    });
    if (!ran) throw std::invalid_argument(std::string(Step::kInfo.op) + ": slot mask " + std::to_string(used) +
                                          " is not one use_slots() makes.");
  });
}

}  // namespace axonal::cuda
