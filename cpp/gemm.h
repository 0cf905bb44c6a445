// axonal's own single-precision GEMM for AVX-512 CPUs, used by sgemm() (blas.h) where it beats the
// BLAS library: on AMD Zen 5, MKL runs its AVX2 code (~90 GFLOP/s a core where AVX-512 FMAs allow
// ~220; docs/performance-history.md, "What changed: a GEMM of our own").
//
// Row-major C (M, N) = op(A) · op(B) + beta · C. k is cut into blocks of at most 256 set by K alone;
// each element's block sum is one chain of fused multiply-adds in k order, added to the blocks
// before it (or to beta · C) in block order. So the bits depend on the shapes only: never on the
// thread count, the split between threads or the arrays' alignment.
#pragma once
#include <cstdint>
#include <string>

namespace axonal {

enum class GemmImpl : int { blas = 0, own = 1 };

// The GEMM sgemm() calls now. Default: chosen by measurement at the first call that asks
// (gemm_choice.h: the faster of the two on this CPU, remembered in a file). AXONAL_GEMM=blas|own at
// import and set_gemm_impl() pin it instead; `own` needs AVX-512 and the ISA cap (AXONAL_ISA) to
// allow it, and acts as `blas` whenever they do not (the binding refuses to set it then).
GemmImpl gemm_impl();
void set_gemm_impl(GemmImpl impl, const std::string& why = "pinned by set_gemm()");
// How the current GEMM was chosen, one line (measuring first if nothing has asked yet).
std::string gemm_choice_text();
bool own_gemm_available();
const char* gemm_impl_name(GemmImpl impl);
bool parse_gemm_impl(const char* name, GemmImpl* impl);  // false for an unknown name

// The product on the OpenMP team when `parallel` (and not already in a parallel region), else on
// the calling thread. M, N, K ≥ 1; A is (M, K), or (K, M) when trans_a; B is (K, N), or (N, K)
// when trans_b; C is (M, N), not aliased with A or B.
void own_sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
               float beta, float* C, bool parallel);

}  // namespace axonal
