// Optimiser kernels: each update is one elementwise pass over the parameter and its slots, applying
// the per-element maths cpp/optimizers.cpp applies (cpp/include/axonal/optimizer_functors.h); the
// build turns off fused multiply-add contraction (--fmad=false, cuda/CMakeLists.txt) as the C++
// build does (-ffp-contract=off), so an update rounds as the cpu backend's does.
//
// The per-update constants (a Step: decay factor, rate, Adam's bias-corrected alpha) come from the
// learning rate and Adam's step. When both are host numbers the host builds the Step and every
// thread gets a copy (the bits of cpu). When either is a device scalar (a CUDA graph replayed step
// after step), each thread builds the Step from the values it reads when the kernel runs, once,
// before its grid-stride loop: the same double expressions, evaluated on the device. That is exact
// for every constant but Adam's alpha: CUDA's double pow() is not correctly rounded (its documented
// error bound is 2 ulp) where glibc's is, so alpha may differ from the host's in the last bits of a
// double, which on rare rounding boundaries moves the float alpha by one ulp.
#include "axonal/optimizer_functors.h"
#include "common.cuh"
#include "optimizers.cuh"

namespace axonal::cuda {

namespace {

// n elements, one Step per thread: step = make() (a copy, or built from device values), then
// apply(step, i) for the thread's elements.
template <typename Make, typename Apply>
__global__ void update_kernel(int64_t n, Make make, Apply apply) {
  const auto step = make();
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) apply(step, i);
}

template <typename Make, typename Apply>
void launch_update(int64_t n, Make make, Apply apply, cudaStream_t stream) {
  if (n <= 0) return;
  update_kernel<<<blocks_for(n), kThreads, 0, stream>>>(n, make, apply);
  AXONAL_CUDA_CHECK(cudaGetLastError());
}

// The host-built Step, copied by every thread.
template <typename Step>
struct Prebuilt {
  Step step;
  __device__ Step operator()() const { return step; }
};

// The launches are templates, not generic lambdas: nvcc allows no __device__ lambda inside a generic
// lambda. Each takes the Step maker (Prebuilt or a __device__ lambda) as a template argument.
template <bool Momentum, typename Make>
void sgd_launch(Make make, float* param, float* momentum_buf, const float* grad, int64_t n, cudaStream_t stream) {
  launch_update(n, make, [=] __device__(const SgdStep& step, int64_t i) {
    step.apply<Momentum>(param, momentum_buf, grad, i);
  }, stream);
}

template <bool Centered, bool Momentum, typename Make>
void rmsprop_launch(Make make, float* param, float* velocity, float* momentum_buf, float* average_grad,
                    const float* grad, int64_t n, cudaStream_t stream) {
  launch_update(n, make, [=] __device__(const RmspropStep& step, int64_t i) {
    step.apply<Centered, Momentum>(param, velocity, momentum_buf, average_grad, grad, i);
  }, stream);
}

template <typename Make>
void adagrad_launch(Make make, float* param, float* accumulator, const float* grad, int64_t n, cudaStream_t stream) {
  launch_update(n, make, [=] __device__(const AdagradStep& step, int64_t i) {
    step.apply(param, accumulator, grad, i);
  }, stream);
}

template <typename Make>
void adadelta_launch(Make make, float* param, float* accum_grad, float* accum_delta, const float* grad, int64_t n,
                     cudaStream_t stream) {
  launch_update(n, make, [=] __device__(const AdadeltaStep& step, int64_t i) {
    step.apply(param, accum_grad, accum_delta, grad, i);
  }, stream);
}

template <bool Amsgrad, typename Make>
void adam_launch(Make make, float* param, float* m, float* v, float* v_hat, const float* grad, int64_t n,
                 cudaStream_t stream) {
  launch_update(n, make, [=] __device__(const AdamStep& step, int64_t i) {
    step.apply<Amsgrad>(param, m, v, v_hat, grad, i);
  }, stream);
}

template <typename Make>
void lion_launch(Make make, float* param, float* m, const float* grad, int64_t n, cudaStream_t stream) {
  launch_update(n, make, [=] __device__(const LionStep& step, int64_t i) { step.apply(param, m, grad, i); }, stream);
}

}  // namespace

void sgd_update(float* param, float* momentum_buf, const float* grad, int64_t n, StepValue<double> lr,
                double momentum, bool nesterov, double weight_decay, cudaStream_t stream) {
  auto run = [&](auto make) {
    if (momentum_buf) sgd_launch<true>(make, param, momentum_buf, grad, n, stream);
    else sgd_launch<false>(make, param, momentum_buf, grad, n, stream);
  };
  if (lr.on_device())
    run([=] __device__() -> SgdStep { return SgdStep(lr.get(), momentum, nesterov, weight_decay); });
  else run(Prebuilt<SgdStep>{SgdStep(lr.host, momentum, nesterov, weight_decay)});
}

void rmsprop_update(float* param, float* velocity, float* momentum_buf, float* average_grad, const float* grad,
                    int64_t n, StepValue<double> lr, double rho, double momentum, double epsilon, bool centered,
                    double weight_decay, cudaStream_t stream) {
  auto run = [&](auto make) {
    with_flags(centered, momentum_buf != nullptr, [&](auto centered_flag, auto momentum_flag) {
      rmsprop_launch<decltype(centered_flag)::value, decltype(momentum_flag)::value>(
          make, param, velocity, momentum_buf, average_grad, grad, n, stream);
    });
  };
  if (lr.on_device())
    run([=] __device__() -> RmspropStep { return RmspropStep(lr.get(), rho, momentum, epsilon, weight_decay); });
  else run(Prebuilt<RmspropStep>{RmspropStep(lr.host, rho, momentum, epsilon, weight_decay)});
}

void adagrad_update(float* param, float* accumulator, const float* grad, int64_t n, StepValue<double> lr,
                    double epsilon, double weight_decay, cudaStream_t stream) {
  if (lr.on_device())
    adagrad_launch([=] __device__() -> AdagradStep { return AdagradStep(lr.get(), epsilon, weight_decay); }, param,
                   accumulator, grad, n, stream);
  else adagrad_launch(Prebuilt<AdagradStep>{AdagradStep(lr.host, epsilon, weight_decay)}, param, accumulator, grad, n,
                      stream);
}

void adadelta_update(float* param, float* accum_grad, float* accum_delta, const float* grad, int64_t n,
                     StepValue<double> lr, double rho, double epsilon, double weight_decay, cudaStream_t stream) {
  if (lr.on_device())
    adadelta_launch([=] __device__() -> AdadeltaStep { return AdadeltaStep(lr.get(), rho, epsilon, weight_decay); },
                    param, accum_grad, accum_delta, grad, n, stream);
  else adadelta_launch(Prebuilt<AdadeltaStep>{AdadeltaStep(lr.host, rho, epsilon, weight_decay)}, param, accum_grad,
                       accum_delta, grad, n, stream);
}

void adam_update(float* param, float* m, float* v, float* v_hat, const float* grad, int64_t n, StepValue<double> lr,
                 double beta_1, double beta_2, double epsilon, StepValue<int64_t> step, double weight_decay,
                 cudaStream_t stream) {
  auto run = [&](auto make) {
    if (v_hat) adam_launch<true>(make, param, m, v, v_hat, grad, n, stream);
    else adam_launch<false>(make, param, m, v, v_hat, grad, n, stream);
  };
  if (lr.on_device() || step.on_device())
    run([=] __device__() -> AdamStep {
      return AdamStep(lr.get(), beta_1, beta_2, epsilon, step.get(), weight_decay);
    });
  else run(Prebuilt<AdamStep>{AdamStep(lr.host, beta_1, beta_2, epsilon, step.host, weight_decay)});
}

void lion_update(float* param, float* m, const float* grad, int64_t n, StepValue<double> lr, double beta_1,
                 double beta_2, double weight_decay, cudaStream_t stream) {
  if (lr.on_device())
    lion_launch([=] __device__() -> LionStep { return LionStep(lr.get(), beta_1, beta_2, weight_decay); }, param, m,
                grad, n, stream);
  else lion_launch(Prebuilt<LionStep>{LionStep(lr.host, beta_1, beta_2, weight_decay)}, param, m, grad, n, stream);
}

}  // namespace axonal::cuda
