#include "optimizers.h"

#include <stdexcept>
#include <string>
#include <type_traits>

#include "parallel.h"

// Each update is one pass over memory: the per-element maths of optimizer_functors.h, run by
// `elementwise` (parallel.h), which threads large parameters and vectorises for the widest
// instruction set the CPU runs.
namespace axonal {

void optimizer_update(int kind, const HyperValues& hyper, double lr, int64_t step, double weight_decay,
                      const ParamUpdate* params, size_t count) {
  visit_optimizer(kind, [&](auto tag) {
    using Step = std::remove_pointer_t<decltype(tag)>;
    const Step constants(hyper, lr, step, weight_decay);
    for (size_t j = 0; j < count; ++j) {
      const ParamUpdate& p = params[j];
      const bool ran = with_used_slots<Step>(p.used, [&](auto mask) {
        constexpr unsigned Used = decltype(mask)::value;
        float* const param = p.param;
        const float* const grad = p.grad;
        const SlotArrays slots = p.slots;
        elementwise(p.n, [&](int64_t i) { constants.template apply<Used>(param, slots, grad, i); });
      });
      if (!ran) throw std::invalid_argument(std::string(Step::kInfo.op) + ": slot mask " + std::to_string(p.used) +
                                            " is not one use_slots() makes.");
    }
  });
}

}  // namespace axonal
