#include "gemm_choice.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "blas_backend.h"
#include "cpu_features.h"

#if AXONAL_X86
#include <cpuid.h>
#endif

#ifndef AXONAL_VERSION
#define AXONAL_VERSION "unknown"
#endif

namespace axonal {
namespace {

// The measured shapes: W1's first layer, the largest of the seed workloads' dense GEMMs.
constexpr int64_t kRows = 128, kInputs = 784, kOutputs = 512;
constexpr int kRounds = 5;
// Bump when the own GEMM's kernels change, so that old measurements are not reused.
constexpr const char* kChoiceFormat = "gemm-choice-1";

// The three GEMMs of one dense layer's training step, timed with either GEMM on the OpenMP team:
// x (rows, inputs), W (inputs, outputs), dz (rows, outputs) -> y = x·W, dW = xᵀ·dz, dx = dz·Wᵀ.
struct Trio {
  std::vector<float> x, W, dz, y, dW, dx;
  Trio()
      : x(kRows * kInputs), W(kInputs * kOutputs), dz(kRows * kOutputs), y(kRows * kOutputs), dW(kInputs * kOutputs),
        dx(kRows * kInputs) {
    uint32_t state = 12345;  // values in [-0.5, 0.5) in steps of 2^-24: no subnormal products
    for (auto* v : {&x, &W, &dz})
      for (float& e : *v) e = static_cast<float>((state = state * 1664525u + 1013904223u) >> 8) * 0x1p-24f - 0.5f;
  }
  double seconds(GemmImpl impl) {
    const auto gemm = [impl](bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
      if (impl == GemmImpl::own) own_sgemm(ta, tb, M, N, K, A, B, 0.f, C, true);
      else blas_backend::sgemm(ta, tb, M, N, K, A, B, 0.f, C);
    };
    const auto start = std::chrono::steady_clock::now();
    gemm(false, false, kRows, kOutputs, kInputs, x.data(), W.data(), y.data());
    gemm(true, false, kInputs, kOutputs, kRows, x.data(), dz.data(), dW.data());
    gemm(false, true, kRows, kInputs, kOutputs, dz.data(), W.data(), dx.data());
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string cpu_name() {
#if AXONAL_X86
  unsigned int words[12] = {};
  for (unsigned int leaf = 0; leaf < 3; ++leaf)
    if (!__get_cpuid(0x80000002u + leaf, &words[4 * leaf], &words[4 * leaf + 1], &words[4 * leaf + 2],
                     &words[4 * leaf + 3]))
      return "unknown x86-64 CPU";
  char brand[49] = {};
  std::memcpy(brand, words, 48);
  return brand;
#else
  return "non-x86 CPU";
#endif
}

// The file that remembers the choice for this CPU, vector width, BLAS and axonal build, in axonal's
// cache folder (the datasets' too: $AXONAL_HOME, else $XDG_CACHE_HOME/axonal, else
// ~/.cache/axonal); empty when neither AXONAL_HOME, XDG_CACHE_HOME nor HOME is set.
std::string cache_path() {
  std::string folder;
  if (const char* own = std::getenv("AXONAL_HOME"); own && *own) folder = own;
  else if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) folder = std::string(xdg) + "/axonal";
  else if (const char* home = std::getenv("HOME"); home && *home) folder = std::string(home) + "/.cache/axonal";
  else return "";
  const std::string key = cpu_name() + "|" + isa_name(active_isa()) + "|" + blas_backend::version() + "|" +
                          AXONAL_VERSION + "|" + kChoiceFormat;
  uint64_t hash = 1469598103934665603ull;  // FNV-1a: a short, stable file name for the key
  for (unsigned char c : key) hash = (hash ^ c) * 1099511628211ull;
  char name[40];
  std::snprintf(name, sizeof name, "/gemm-%016llx.txt", static_cast<unsigned long long>(hash));
  return folder + name;
}

// mkdir -p of the file's folder; false when it cannot be made.
bool make_folder_of(const std::string& path) {
  for (size_t at = path.find('/', 1); at != std::string::npos; at = path.find('/', at + 1)) {
    const std::string folder = path.substr(0, at);
    if (mkdir(folder.c_str(), 0755) != 0 && errno != EEXIST) return false;
  }
  return true;
}

// The saved choice and its timings, if the file holds one.
bool read_choice(const std::string& path, GemmChoice* choice) {
  std::ifstream file(path);
  std::string first, second;
  if (!std::getline(file, first) || !parse_gemm_impl(first.c_str(), &choice->impl)) return false;
  std::getline(file, second);
  const size_t at = second.find("own ");
  double own_ms = 0, blas_ms = 0;
  if (at != std::string::npos && std::sscanf(second.c_str() + at, "own %lf ms, blas %lf ms", &own_ms, &blas_ms) == 2) {
    choice->own_s = own_ms * 1e-3;
    choice->blas_s = blas_ms * 1e-3;
  }
  return true;
}

std::string timings(const GemmChoice& c) {
  char text[96];
  std::snprintf(text, sizeof text, "own %.3f ms, blas %.3f ms", c.own_s * 1e3, c.blas_s * 1e3);
  return text;
}

// Written to a temporary file and renamed over the path: a reader sees a whole file or none.
std::string write_choice(const std::string& path, const GemmChoice& choice) {
  if (!make_folder_of(path)) return std::string("cannot create its folder: ") + std::strerror(errno);
  const std::string temporary = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream file(temporary);
    file << gemm_impl_name(choice.impl) << "\n# " << cpu_name() << ", " << isa_name(active_isa()) << ": "
         << timings(choice) << " (medians of " << kRounds << " alternating runs of x·W, xᵀ·dz and dz·Wᵀ at "
         << kRows << " rows, " << kInputs << " inputs, " << kOutputs << " outputs; delete this file to measure "
         << "again)\n";
    if (!file.flush()) {
      std::remove(temporary.c_str());
      return "cannot write it";
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(temporary.c_str());
    return "cannot rename into it: " + why;
  }
  return "";
}
}  // namespace

GemmImpl pick_gemm(double own_s, double blas_s) { return own_s <= kOwnMargin * blas_s ? GemmImpl::own : GemmImpl::blas; }

void time_gemm_pair(double* own_s, double* blas_s) {
  Trio trio;
  trio.seconds(GemmImpl::own), trio.seconds(GemmImpl::blas);  // warm: packing buffers, the thread team
  std::vector<double> own, blas;
  for (int round = 0; round < kRounds; ++round) {  // alternating who goes first: both see the same machine
    if (round % 2 == 0) own.push_back(trio.seconds(GemmImpl::own)), blas.push_back(trio.seconds(GemmImpl::blas));
    else blas.push_back(trio.seconds(GemmImpl::blas)), own.push_back(trio.seconds(GemmImpl::own));
  }
  *own_s = median(own);
  *blas_s = median(blas);
}

GemmChoice choose_gemm_by_measurement() {
  GemmChoice choice;
  if (!own_gemm_available()) {
    choice.how = std::string("the library: the own GEMM needs AVX-512, and the kernels run ") + isa_name(active_isa());
    return choice;
  }
  choice.path = cache_path();
  if (!choice.path.empty() && read_choice(choice.path, &choice)) {
    choice.how = "read from " + choice.path + " (measured there earlier: " + timings(choice) + ")";
    return choice;
  }
  time_gemm_pair(&choice.own_s, &choice.blas_s);
  choice.impl = pick_gemm(choice.own_s, choice.blas_s);
  choice.how = "measured in this process: " + timings(choice) + " for W1's three GEMMs";
  if (choice.path.empty()) {
    choice.how += "; not saved (no AXONAL_HOME, XDG_CACHE_HOME or HOME)";
  } else if (const std::string failure = write_choice(choice.path, choice); failure.empty()) {
    choice.how += "; saved to " + choice.path;
  } else {
    choice.how += "; not saved to " + choice.path + " (" + failure + "), so the next process measures again";
    choice.path.clear();
  }
  return choice;
}

}  // namespace axonal
