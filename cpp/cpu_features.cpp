#include "cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace axonal {
namespace {

// AVX2 is taken together with FMA (every AVX2 CPU has it; the FMA peak probe in peak.cpp uses it).
Isa detect() {
#if AXONAL_X86
  if (__builtin_cpu_supports("avx512f")) return Isa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
#endif
  return Isa::portable;
}

Isa initial_limit() {
  Isa limit = Isa::avx512;
  const char* requested = std::getenv("AXONAL_ISA");
  if (requested != nullptr && !parse_isa(requested, &limit)) limit = Isa::avx512;  // unknown: no cap
  return limit;
}

std::atomic<int> limit{static_cast<int>(initial_limit())};

}  // namespace

bool parse_isa(const char* name, Isa* isa) {
  for (Isa candidate : {Isa::portable, Isa::avx2, Isa::avx512})
    if (std::strcmp(name, isa_name(candidate)) == 0) {
      *isa = candidate;
      return true;
    }
  return false;
}

Isa best_isa() {
  static const Isa best = detect();
  return best;
}

Isa active_isa() {
  const int best = static_cast<int>(best_isa()), cap = limit.load(std::memory_order_relaxed);
  return static_cast<Isa>(best < cap ? best : cap);
}

void set_isa_limit(Isa new_limit) { limit.store(static_cast<int>(new_limit), std::memory_order_relaxed); }

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "portable";
  }
}

}  // namespace axonal
