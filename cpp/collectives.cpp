#include "collectives.h"

#include <dlfcn.h>
#include <link.h>

#include <chrono>
#include <cstring>

#include "mpi_api.h"
#include "shared_memory_reducer.h"
#include "training_loop.h"  // AlignedBuffer

namespace axonal {

namespace {

struct Search {
  std::string found;
};

int visit(struct dl_phdr_info* info, size_t, void* data) {
  auto* search = static_cast<Search*>(data);
  if (info->dlpi_name == nullptr || info->dlpi_name[0] == '\0') return 0;
  void* handle = dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD);
  if (handle == nullptr) return 0;
  const bool exports = dlsym(handle, "MPI_Iallreduce") != nullptr;
  dlclose(handle);  // RTLD_NOLOAD took a reference: give it back (the object stays loaded)
  if (!exports) return 0;
  search->found = info->dlpi_name;
  return 1;
}

template <typename H>
class MpiReducer final : public GradientReducer {
 public:
  MpiReducer(const MpiConfig& config, void* library) : c_(config), library_(library), watch_(api_, c_, status_) {
    api_.load(library);
    comm_ = handle_of<H>(c_.comm);
    float_ = handle_of<H>(c_.float_type), double_ = handle_of<H>(c_.double_type), sum_ = handle_of<H>(c_.sum_op);
  }
  ~MpiReducer() override {
    if (library_ != nullptr) dlclose(library_);
  }

  int64_t bucket_bytes() const override { return c_.bucket_bytes; }

  void start(int bucket, const float* send, float* sum, int64_t count) override {
    if (static_cast<size_t>(bucket) >= pending_.size()) pending_.resize(bucket + 1);
    Pending& p = pending_[bucket];
    p.sum = sum, p.count = count, p.done = false;
    if (c_.deterministic) {
      // Every rank's bucket, then the sum in rank order (in wait()): the same bits on every rank
      // and every rerun, whatever algorithm the MPI picks. The scratch is sized once per bucket.
      if (p.capacity < count * c_.size) {
        p.gathered.allocate(count * c_.size);
        p.capacity = count * c_.size;
      }
      check_mpi(api_.iallgather(send, static_cast<int>(count), float_, p.gathered.get(), static_cast<int>(count), float_,
                            comm_, &p.request),
            "MPI_Iallgather");
    } else {
      check_mpi(api_.iallreduce(send, sum, static_cast<int>(count), float_, sum_, comm_, &p.request), "MPI_Iallreduce");
    }
    started_ = bucket + 1;
  }

  void poll() override {
    for (int b = 0; b < started_; ++b) progress(pending_[b]);
  }

  void wait() override {
    const auto start = std::chrono::steady_clock::now();
    int64_t spins = 0;
    for (int b = 0; b < started_; ++b) {
      Pending& p = pending_[b];
      while (!progress(p)) watch_(start, ++spins, "the gradient reduction");
      if (c_.deterministic) sum_in_rank_order(p.sum, p.gathered.get(), p.count);
    }
    started_ = 0;
    waited_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  double waited_seconds() const override { return waited_; }

  void sum_doubles(double* values, int64_t count) override {
    if (scalars_capacity_ < count * c_.size) {
      scalars_.allocate(count * c_.size);
      scalars_capacity_ = count * c_.size;
    }
    H request{};
    check_mpi(api_.iallgather(values, static_cast<int>(count), double_, scalars_.get(), static_cast<int>(count),
                              double_, comm_, &request),
              "MPI_Iallgather");
    const auto start = std::chrono::steady_clock::now();
    watch_.until_done(&request, "the loss reduction");
    waited_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double* all = scalars_.get();
    for (int64_t i = 0; i < count; ++i) {
      double total = all[i];
      for (int r = 1; r < c_.size; ++r) total += all[r * count + i];
      values[i] = total;
    }
  }

 private:
  struct Pending {
    H request{};
    float* sum = nullptr;
    int64_t count = 0, capacity = 0;
    bool done = true;
    AlignedBuffer<float> gathered;  // deterministic: (size, count)
  };

  bool progress(Pending& p) {
    if (p.done) return true;
    int flag = 0;
    check_mpi(api_.test(&p.request, &flag, &status_), "MPI_Test");
    p.done = flag != 0;
    return p.done;
  }

  void sum_in_rank_order(float* sum, const float* gathered, int64_t count) const {
    std::memcpy(sum, gathered, count * sizeof(float));
    for (int r = 1; r < c_.size; ++r) {
      const float* part = gathered + r * count;
      for (int64_t i = 0; i < count; ++i) sum[i] += part[i];
    }
  }

  MpiConfig c_;
  void* library_;
  MpiApi<H> api_;
  StatusSpace status_{};
  WaitWatch<H> watch_;
  H comm_{}, float_{}, double_{}, sum_{};
  std::vector<Pending> pending_;
  int started_ = 0;
  AlignedBuffer<double> scalars_;
  int64_t scalars_capacity_ = 0;
  double waited_ = 0;
};

template <typename H>
std::unique_ptr<GradientReducer> make(const MpiConfig& config, void* library, const std::string& path) {
  auto mpi = std::make_unique<MpiReducer<H>>(config, library);
  if (!config.shared_memory) return mpi;
  // The window's reducer keeps its own reference to the library (the MPI one closes its own).
  void* again = dlopen(path.c_str(), RTLD_LAZY | RTLD_NOLOAD);
  return std::make_unique<SharedMemoryReducer<H>>(config, again, std::move(mpi));
}

}  // namespace

std::string find_loaded_mpi() {
  Search search;
  dl_iterate_phdr(visit, &search);
  return search.found;
}

std::unique_ptr<GradientReducer> make_mpi_reducer(const MpiConfig& config) {
  const std::string path = config.library.empty() ? find_loaded_mpi() : config.library;
  if (path.empty())
    throw CollectiveError("no loaded library exports MPI_Iallreduce: import mpi4py (axonal.distribution.initialize()) "
                          "before building an MPI reducer");
  void* library = dlopen(path.c_str(), RTLD_LAZY | RTLD_NOLOAD);
  if (library == nullptr) throw CollectiveError("the MPI library " + path + " is not loaded in this process");
  if (config.size < 1 || config.rank < 0 || config.rank >= config.size)
    throw CollectiveError("rank and size of the MPI reducer are inconsistent");
  if (config.handle_bytes == static_cast<int>(sizeof(int))) return make<int>(config, library, path);
  if (config.handle_bytes == static_cast<int>(sizeof(void*))) return make<void*>(config, library, path);
  dlclose(library);
  throw CollectiveError("MPI handles of " + std::to_string(config.handle_bytes) +
                        " bytes: only int (MPICH family) and pointer (Open MPI, MPI-5 ABI) handles are known");
}

}  // namespace axonal
