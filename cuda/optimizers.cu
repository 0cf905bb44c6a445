// Optimiser kernels: each update is one elementwise pass over the parameter and its slots, applying
// the per-element maths cpp/optimizers.cpp applies (cpp/include/axonal/optimizer_functors.h); the
// build turns off fused multiply-add contraction (--fmad=false, cuda/CMakeLists.txt) as the C++
// build does (-ffp-contract=off), so an update rounds as the cpu backend's does.
#include "axonal/optimizer_functors.h"
#include "common.cuh"
#include "optimizers.cuh"

namespace axonal::cuda {

namespace {
// Each launch holds one Step (optimizer_functors.h, shared with cpp/) by value and applies it per
// element. The launches are templates, not generic lambdas: nvcc allows no __device__ lambda
// inside a generic lambda.
template <bool Momentum>
void sgd_launch(const SgdStep step, float* param, float* momentum_buf, const float* grad, int64_t n,
                cudaStream_t stream) {
  launch_elementwise(n, stream, [=] __device__(int64_t i) { step.apply<Momentum>(param, momentum_buf, grad, i); });
}

template <bool Centered, bool Momentum>
void rmsprop_launch(const RmspropStep step, float* param, float* velocity, float* momentum_buf, float* average_grad,
                    const float* grad, int64_t n, cudaStream_t stream) {
  launch_elementwise(n, stream, [=] __device__(int64_t i) {
    step.apply<Centered, Momentum>(param, velocity, momentum_buf, average_grad, grad, i);
  });
}

template <bool Amsgrad>
void adam_launch(const AdamStep step, float* param, float* m, float* v, float* v_hat, const float* grad, int64_t n,
                 cudaStream_t stream) {
  launch_elementwise(n, stream, [=] __device__(int64_t i) { step.apply<Amsgrad>(param, m, v, v_hat, grad, i); });
}
}  // namespace

void sgd_update(float* param, float* momentum_buf, const float* grad, int64_t n, double lr, double momentum,
                bool nesterov, double weight_decay, cudaStream_t stream) {
  const SgdStep step(lr, momentum, nesterov, weight_decay);
  if (momentum_buf) sgd_launch<true>(step, param, momentum_buf, grad, n, stream);
  else sgd_launch<false>(step, param, momentum_buf, grad, n, stream);
}

void rmsprop_update(float* param, float* velocity, float* momentum_buf, float* average_grad, const float* grad,
                    int64_t n, double lr, double rho, double momentum, double epsilon, bool centered,
                    double weight_decay, cudaStream_t stream) {
  const RmspropStep step(lr, rho, momentum, epsilon, weight_decay);
  with_flags(centered, momentum_buf != nullptr, [&](auto centered_flag, auto momentum_flag) {
    rmsprop_launch<decltype(centered_flag)::value, decltype(momentum_flag)::value>(
        step, param, velocity, momentum_buf, average_grad, grad, n, stream);
  });
}

void adagrad_update(float* param, float* accumulator, const float* grad, int64_t n, double lr, double epsilon,
                    double weight_decay, cudaStream_t stream) {
  const AdagradStep step(lr, epsilon, weight_decay);
  launch_elementwise(n, stream, [=] __device__(int64_t i) { step.apply(param, accumulator, grad, i); });
}

void adadelta_update(float* param, float* accum_grad, float* accum_delta, const float* grad, int64_t n, double lr,
                     double rho, double epsilon, double weight_decay, cudaStream_t stream) {
  const AdadeltaStep step(lr, rho, epsilon, weight_decay);
  launch_elementwise(n, stream, [=] __device__(int64_t i) { step.apply(param, accum_grad, accum_delta, grad, i); });
}

void adam_update(float* param, float* m, float* v, float* v_hat, const float* grad, int64_t n, double lr,
                 double beta_1, double beta_2, double epsilon, int64_t step_number, double weight_decay,
                 cudaStream_t stream) {
  const AdamStep step(lr, beta_1, beta_2, epsilon, step_number, weight_decay);
  if (v_hat) adam_launch<true>(step, param, m, v, v_hat, grad, n, stream);
  else adam_launch<false>(step, param, m, v, v_hat, grad, n, stream);
}

}  // namespace axonal::cuda
