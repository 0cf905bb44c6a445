// The Python signatures of the optimiser updates, one list for the bindings of cpp/ and cuda/, so
// both extensions take the same arguments (tests/test_tables.py checks them against the reference
// and optimizers.KERNELS). Each module passes its own binding functions and its own def(), which
// adds what it needs (the CUDA module: the stream argument).
#pragma once
#include <pybind11/pybind11.h>

namespace axonal {

template <typename Def, typename Sgd, typename Rmsprop, typename Adagrad, typename Adadelta, typename Adam,
          typename Lion>
void define_optimizer_updates(Def&& def, Sgd sgd, Rmsprop rmsprop, Adagrad adagrad, Adadelta adadelta, Adam adam,
                              Lion lion) {
  using pybind11::arg;
  const auto weight_decay = arg("weight_decay").none(true) = pybind11::none();
  def("sgd_update", sgd, arg("param"), arg("grad"), arg("momentum_buf").none(true), arg("lr"), arg("momentum"),
      arg("nesterov"), weight_decay);
  def("rmsprop_update", rmsprop, arg("param"), arg("grad"), arg("velocity"), arg("momentum_buf").none(true),
      arg("average_grad").none(true), arg("lr"), arg("rho"), arg("momentum"), arg("epsilon"), arg("centered"),
      weight_decay);
  def("adagrad_update", adagrad, arg("param"), arg("grad"), arg("accumulator"), arg("lr"), arg("epsilon"),
      weight_decay);
  def("adadelta_update", adadelta, arg("param"), arg("grad"), arg("accum_grad"), arg("accum_delta"), arg("lr"),
      arg("rho"), arg("epsilon"), weight_decay);
  def("adam_update", adam, arg("param"), arg("grad"), arg("m"), arg("v"), arg("v_hat").none(true), arg("lr"),
      arg("beta_1"), arg("beta_2"), arg("epsilon"), arg("step"), arg("amsgrad"), weight_decay);
  def("lion_update", lion, arg("param"), arg("grad"), arg("m"), arg("lr"), arg("beta_1"), arg("beta_2"), weight_decay);
}

}  // namespace axonal
