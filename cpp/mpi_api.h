// The MPI functions the native reducers call (collectives.cpp, shared_memory_reducer.h), found with
// dlsym in the libmpi that mpi4py loaded, and typed for handles of type H: `int` (MPICH family) or
// a pointer (Open MPI, the MPI-5 ABI). Internal to the collectives; the loop sees GradientReducer.
#pragma once
#include <dlfcn.h>
#include <sched.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <type_traits>

#include "collectives.h"

namespace axonal {

// MPI_Status is at most a few dozen bytes in every ABI; the reducers never read it.
struct alignas(16) StatusSpace {
  unsigned char bytes[256];
};

// MPI_Aint: a signed integer of pointer width in every ABI.
using MpiAint = intptr_t;

template <typename H>
struct MpiApi {
  int (*iallreduce)(const void*, void*, int, H, H, H, H*) = nullptr;
  int (*iallgather)(const void*, int, H, void*, int, H, H, H*) = nullptr;
  int (*ibarrier)(H, H*) = nullptr;
  int (*test)(H*, int*, void*) = nullptr;
  int (*iprobe)(int, int, H, int*, void*) = nullptr;
  int (*win_allocate_shared)(MpiAint, int, H, H, void*, H*) = nullptr;
  int (*win_shared_query)(H, int, MpiAint*, int*, void*) = nullptr;
  int (*win_free)(H*) = nullptr;

  void load(void* library) {
    resolve(library, "MPI_Iallreduce", iallreduce);
    resolve(library, "MPI_Iallgather", iallgather);
    resolve(library, "MPI_Ibarrier", ibarrier);
    resolve(library, "MPI_Test", test);
    resolve(library, "MPI_Iprobe", iprobe);
    resolve(library, "MPI_Win_allocate_shared", win_allocate_shared);
    resolve(library, "MPI_Win_shared_query", win_shared_query);
    resolve(library, "MPI_Win_free", win_free);
  }
  template <typename F>
  static void resolve(void* library, const char* name, F& function) {
    void* symbol = dlsym(library, name);
    if (symbol == nullptr) throw CollectiveError(std::string("the MPI library does not export ") + name);
    function = reinterpret_cast<F>(symbol);
  }
};

template <typename H>
H handle_of(int64_t value) {
  if constexpr (std::is_pointer_v<H>) return reinterpret_cast<H>(static_cast<intptr_t>(value));
  else return static_cast<H>(value);
}

inline void check_mpi(int code, const char* call) {
  if (code != 0) throw CollectiveError(std::string(call) + " failed with MPI error code " + std::to_string(code));
}

// What a reducer does while it waits for other ranks: about every thousandth spin it looks at the
// fault side channel and the deadline; every spin it gives the core away (ranks may outnumber cores).
template <typename H>
class WaitWatch {
 public:
  WaitWatch(const MpiApi<H>& api, const MpiConfig& config, StatusSpace& status)
      : api_(api), side_(handle_of<H>(config.side_comm)), tag_(config.side_tag), any_source_(config.any_source),
        timeout_(config.timeout_seconds), status_(status) {}

  void operator()(std::chrono::steady_clock::time_point start, int64_t spins, const char* what) const {
    if (spins % 1024 == 0) {
      int flag = 0;
      check_mpi(api_.iprobe(any_source_, tag_, side_, &flag, &status_), "MPI_Iprobe");
      if (flag) throw CollectiveError(std::string("another rank reported a fault during ") + what);
      const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (waited > timeout_)
        throw CollectiveError(std::string(what) + " did not complete within " + std::to_string(timeout_) +
                              " s: another rank is stuck or gone");
    }
    sched_yield();
  }

  // Until `request` completes, watching.
  void until_done(H* request, const char* what) const {
    const auto start = std::chrono::steady_clock::now();
    int64_t spins = 0;
    for (int flag = 0;;) {
      check_mpi(api_.test(request, &flag, &status_), "MPI_Test");
      if (flag) return;
      (*this)(start, ++spins, what);
    }
  }

 private:
  const MpiApi<H>& api_;
  H side_;
  int tag_, any_source_;
  double timeout_;
  StatusSpace& status_;
};

}  // namespace axonal
