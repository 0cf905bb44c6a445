// Times cblas_sgemm (or dnnl_sgemm) of a dlopen'ed BLAS on the seed MLP's GEMM shapes.
// Usage: gemm_bench LIBRARY SYMBOL [MKL_THREADING_LAYER]   (see run.sh)
#include <dlfcn.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <algorithm>
typedef void (*cblas_sgemm_t)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
typedef int (*dnnl_sgemm_t)(char, char, long, long, long, float, const float*, long, const float*, long, float, float*, long);
struct Shape { int M, N, K; bool ta, tb; const char* what; };
int main(int argc, char** argv) {
  const char* lib = argv[1]; const char* sym = argv[2];
  void* h = dlopen(lib, RTLD_NOW | RTLD_GLOBAL);
  if (!h) { printf("dlopen failed %s\n", dlerror()); return 1; }
  if (argc > 3) { // MKL: set GNU threading layer
    typedef int (*setl_t)(int); setl_t f = (setl_t)dlsym(h, "MKL_Set_Threading_Layer"); if (f) f(atoi(argv[3]));
  }
  void* fn = dlsym(h, sym);
  if (!fn) { printf("no sym\n"); return 1; }
  bool dnnl = strstr(sym, "dnnl") != nullptr;
  Shape shapes[] = {{128,512,784,0,0,"fwd1 x@W1"},{128,512,512,0,0,"fwd2 h@W2"},{128,10,512,0,0,"fwd3 h@W3"},
    {784,512,128,1,0,"dW1 xT@dz"},{512,512,128,1,0,"dW2"},{512,10,128,1,0,"dW3"},
    {128,512,512,0,1,"dx2 dz@W2T"},{128,512,10,0,1,"dx3 dz@W3T"}};
  double total_flops=0,total_t=0;
  for (auto& s : shapes) {
    std::vector<float> A((size_t)s.M*s.K), B((size_t)s.K*s.N), C((size_t)s.M*s.N);
    for (auto& v : A) v = rand()/(float)RAND_MAX; for (auto& v : B) v = rand()/(float)RAND_MAX;
    int lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N;
    auto run = [&]() {
      if (dnnl) ((dnnl_sgemm_t)fn)(s.ta?'T':'N', s.tb?'T':'N', s.M, s.N, s.K, 1.f, A.data(), lda, B.data(), ldb, 0.f, C.data(), s.N);
      else ((cblas_sgemm_t)fn)(101, s.ta?112:111, s.tb?112:111, s.M, s.N, s.K, 1.f, A.data(), lda, B.data(), ldb, 0.f, C.data(), s.N);
    };
    for (int i=0;i<20;i++) run();
    std::vector<double> ts;
    for (int r=0;r<7;r++){ int reps=200; auto t0=std::chrono::steady_clock::now(); for(int i=0;i<reps;i++) run();
      ts.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now()-t0).count()/reps);}
    std::sort(ts.begin(), ts.end()); double t = ts[3];
    double fl = 2.0*s.M*s.N*s.K; total_flops += fl; total_t += t;
    printf("  %-12s %4dx%4dx%4d %7.1f GFLOP/s\n", s.what, s.M, s.N, s.K, fl/t/1e9);
  }
  printf("  ALL per-step GEMM time %.3f ms, %.1f GFLOP/s\n", total_t*1e3, total_flops/total_t/1e9);
}
