// Run-time choice of instruction set for the hot loops written with intrinsics (the dropout mask
// today). The wheel is built for baseline x86-64; each such loop has an AVX-512, an AVX2 and a
// portable version that give the same bits, and `active_isa()` picks the widest this CPU runs,
// capped by `set_isa_limit` (tests, and the AXONAL_ISA environment variable: "portable", "avx2"
// or "avx512") so the narrower paths can be checked on a machine that would never take them.
#pragma once

// 1 where the AVX2/AVX-512 versions exist (x86-64); elsewhere only the portable ones are built.
#if defined(__x86_64__) || defined(_M_X64)
#define AXONAL_X86 1
#else
#define AXONAL_X86 0
#endif

namespace axonal {

enum class Isa : int { portable = 0, avx2 = 1, avx512 = 2 };

Isa best_isa();    // the widest this CPU supports
Isa active_isa();  // what the kernels use now
void set_isa_limit(Isa limit);
const char* isa_name(Isa isa);
bool parse_isa(const char* name, Isa* isa);  // false for an unknown name

}  // namespace axonal
