// Gradient sums through an MPI shared-memory window, for ranks that share one host
// (docs/distributed.md, "On one host: a shared-memory window").
//
// MPI's allreduce between processes of one host copies each bucket several times (send buffer to
// receive buffer, the peer's half through the kernel's cross-memory attach, the halves back); on a
// host whose cores all compute, those copies cost a data-parallel CNN step a fifth of its time. Here
// the window (MPI_Win_allocate_shared on the node communicator) holds one slot per rank and two sum
// areas; the loop writes its gradients straight into its slot (shared_send_area), each rank sums
// its 1/P of every bucket over the slots in rank order as soon as every rank has marked the bucket
// ready, and every rank's update reads the whole sum where it was made (shared_sum_area): one read of
// each gradient and no copy. The sum is always taken in rank order, so it is deterministic whatever
// `deterministic` says. The step's losses still go through MPI (sum_doubles of the MPI reducer).
//
// Flags: per rank and bucket, `ready` and `done` hold the number of the last step the rank wrote or
// summed that bucket for (std::atomic in the window, one cache line each; step numbers only grow, so
// no flag is ever reset). A rank may run one step ahead of another: it can then write its slot
// (every rank has summed the previous step: its wait() saw all `done`) and its part of the other sum
// area (sum areas alternate by step parity), but not reach a third step before the slower rank has
// finished reading (that needs the slower rank's `ready` for the next step).
#pragma once
#include <sys/statvfs.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "mpi_api.h"

namespace axonal {

template <typename H>
class SharedMemoryReducer final : public GradientReducer {
 public:
  SharedMemoryReducer(const MpiConfig& config, void* library, std::unique_ptr<GradientReducer> mpi)
      : c_(config), library_(library), mpi_(std::move(mpi)), watch_(api_, c_, status_) {
    if (library_ == nullptr) throw CollectiveError("the MPI library is not loaded in this process");
    api_.load(library_);
    node_ = handle_of<H>(c_.node_comm), info_ = handle_of<H>(c_.info_null);
  }
  // The window is not freed here: MPI_Win_free is collective and the other ranks may be gone or past
  // MPI_Finalize when this object dies. The host frees the mapping when the process ends.
  ~SharedMemoryReducer() override { dlclose(library_); }

  int64_t bucket_bytes() const override { return c_.bucket_bytes; }

  float* shared_send_area(int64_t floats, int buckets) override {
    reserve(floats, buckets);
    return slot(c_.rank);
  }
  float* shared_sum_area() override { return capacity_ > 0 ? sum_area(current_) : nullptr; }

  void start(int bucket, const float* send, float* sum, int64_t count) override {
    if (bucket == 0) reserve(count, 1);  // a caller that did not ask for the areas: one bucket
    if (bucket != started_ || offset_ + count > capacity_ || bucket >= bucket_capacity_)
      throw CollectiveError("the shared-memory reducer got bucket " + std::to_string(bucket) + " of " +
                            std::to_string(count) + " floats at offset " + std::to_string(offset_) +
                            " beyond its reserved layout");
    buckets_.resize(std::max<size_t>(buckets_.size(), bucket + 1));
    buckets_[bucket] = {offset_, count, sum};
    float* mine = slot(c_.rank) + offset_;
    if (send != mine) std::memcpy(mine, send, count * sizeof(float));
    flag(kReady, c_.rank, bucket).store(current_, std::memory_order_release);
    offset_ += count;
    started_ = bucket + 1;
    poll();
  }

  // Sums this rank's part of every started bucket that every rank has marked ready, in order.
  void poll() override {
    while (summed_ < started_ && all_flags(kReady, summed_)) {
      sum_part(buckets_[summed_]);
      flag(kDone, c_.rank, summed_).store(current_, std::memory_order_release);
      summed_ += 1;
    }
  }

  void wait() override {
    const auto start = std::chrono::steady_clock::now();
    int64_t spins = 0;
    for (int checked = 0;;) {
      poll();
      while (checked < summed_ && all_flags(kDone, checked)) checked += 1;
      if (checked == started_) break;
      watch_(start, ++spins, "the gradient reduction");
    }
    const float* sums = sum_area(current_);
    for (int b = 0; b < started_; ++b) {  // callers that passed their own sum buffer
      const Bucket& k = buckets_[b];
      if (k.sum != sums + k.offset) std::memcpy(k.sum, sums + k.offset, k.count * sizeof(float));
    }
    current_ += 1, started_ = 0, summed_ = 0, offset_ = 0;
    waited_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  void sum_doubles(double* values, int64_t count) override { mpi_->sum_doubles(values, count); }

  double waited_seconds() const override { return waited_ + mpi_->waited_seconds(); }

 private:
  struct Bucket {
    int64_t offset = 0, count = 0;  // floats, in the step's flat layout
    float* sum = nullptr;           // where the caller wants the sum
  };
  enum FlagKind { kReady = 0, kDone = 1 };
  static constexpr int64_t kLine = 64;        // bytes: one flag per cache line, no false sharing
  static constexpr int64_t kAlign = 16;       // floats: parts and slots start on cache lines
  static constexpr int64_t kBlock = 2048;     // floats summed over the slots while they sit in L1
  static_assert(std::atomic<int64_t>::is_always_lock_free, "flags shared between processes must be lock-free");

  static int64_t round_up(int64_t value, int64_t to) { return (value + to - 1) / to * to; }

  std::atomic<int64_t>& flag(FlagKind kind, int rank, int bucket) const {
    const int64_t line = (static_cast<int64_t>(kind) * c_.size + rank) * bucket_capacity_ + bucket;
    return *reinterpret_cast<std::atomic<int64_t>*>(base_ + line * kLine);
  }
  bool all_flags(FlagKind kind, int bucket) const {
    for (int r = 0; r < c_.size; ++r)
      if (flag(kind, r, bucket).load(std::memory_order_acquire) < current_) return false;
    return true;
  }
  float* slot(int rank) const { return slots_ + rank * capacity_; }
  float* sum_area(int64_t step) const { return slots_ + (c_.size + step % 2) * capacity_; }

  // This rank's part of a bucket (parts of whole cache lines, in rank order), summed over the slots
  // in rank order: ((g0 + g1) + g2) + ..., the bits of MpiReducer's deterministic mode.
  void sum_part(const Bucket& k) const {
    const int64_t chunk = round_up((k.count + c_.size - 1) / c_.size, kAlign);
    const int64_t lo = std::min(k.count, c_.rank * chunk), hi = std::min(k.count, lo + chunk);
    float* out = sum_area(current_) + k.offset;
    for (int64_t i0 = lo; i0 < hi; i0 += kBlock) {
      const int64_t i1 = std::min(hi, i0 + kBlock);
      const float* first = slot(0) + k.offset;
      for (int64_t i = i0; i < i1; ++i) out[i] = first[i];
      for (int r = 1; r < c_.size; ++r) {
        const float* part = slot(r) + k.offset;
        for (int64_t i = i0; i < i1; ++i) out[i] += part[i];
      }
    }
  }

  // Grows the window to `floats` per slot and `buckets` flags per rank (collective: every rank asks
  // for the same layout at the same step, between steps). The old window's contents are not needed:
  // every earlier step has been summed and read.
  void reserve(int64_t floats, int buckets) {
    if (floats <= capacity_ && buckets <= bucket_capacity_) return;
    if (started_ != 0) throw CollectiveError("the shared-memory window cannot grow in the middle of a step");
    barrier("the shared-memory window's growth");
    const int64_t capacity = round_up(std::max({floats, capacity_, kAlign}), kAlign);
    const int bucket_capacity = std::max({buckets, bucket_capacity_, 8});
    const int64_t flag_bytes = round_up(2 * c_.size * static_cast<int64_t>(bucket_capacity) * kLine, 4096);
    const int64_t bytes = flag_bytes + (c_.size + 2) * capacity * static_cast<int64_t>(sizeof(float));
    check_room(bytes);
    H window{};
    void* base = nullptr;
    check_mpi(api_.win_allocate_shared(c_.rank == 0 ? bytes : 0, 1, info_, node_, &base, &window),
              "MPI_Win_allocate_shared");
    MpiAint size = 0;
    int unit = 0;
    check_mpi(api_.win_shared_query(window, 0, &size, &unit, &base), "MPI_Win_shared_query");
    if (size < bytes || base == nullptr) throw CollectiveError("the shared-memory window is smaller than asked for");
    if (has_window_) check_mpi(api_.win_free(&window_), "MPI_Win_free");
    window_ = window, has_window_ = true;
    base_ = static_cast<char*>(base);
    capacity_ = capacity, bucket_capacity_ = bucket_capacity;
    slots_ = reinterpret_cast<float*>(base_ + flag_bytes);
    for (int kind = 0; kind < 2; ++kind)  // this rank's flags start at step 0 in the new window
      for (int b = 0; b < bucket_capacity_; ++b) new (&flag(static_cast<FlagKind>(kind), c_.rank, b)) std::atomic<int64_t>(0);
    current_ = 1;
    barrier("the shared-memory window's growth");  // nobody reads a flag before its rank has set it
  }

  // MPICH and Open MPI back the window with a file in /dev/shm. A window larger than its free space
  // (Docker gives containers 64 MB) is allocated all the same, and the process dies of SIGBUS when
  // it first touches a page past the end: refuse it, with the fix, on every rank (rank 0 allocates
  // and looks; the losses' reduction tells the others).
  void check_room(int64_t bytes) {
    double seen[2] = {0, 0};  // rank 0: bytes free, and 1 if too few
    struct statvfs fs {};
    if (c_.rank == 0 && statvfs("/dev/shm", &fs) == 0) {
      seen[0] = static_cast<double>(fs.f_bavail) * static_cast<double>(fs.f_frsize);
      seen[1] = seen[0] < static_cast<double>(bytes) ? 1 : 0;
    }
    mpi_->sum_doubles(seen, 2);
    if (seen[1] > 0)
      throw CollectiveError("the shared-memory gradient window needs " + std::to_string(bytes >> 20) +
                            " MiB in /dev/shm, which has " + std::to_string(static_cast<int64_t>(seen[0]) >> 20) +
                            " MiB free. Fix: give /dev/shm more room (docker run --shm-size=1g) or sum through "
                            "MPI instead: DataParallel(shared_memory=False)");
  }

  void barrier(const char* what) {
    H request{};
    check_mpi(api_.ibarrier(node_, &request), "MPI_Ibarrier");
    watch_.until_done(&request, what);
  }

  MpiConfig c_;
  void* library_;
  std::unique_ptr<GradientReducer> mpi_;  // the losses' reduction, and the plain path's handles
  MpiApi<H> api_;
  StatusSpace status_{};
  WaitWatch<H> watch_;
  H node_{}, info_{}, window_{};
  bool has_window_ = false;
  char* base_ = nullptr;
  float* slots_ = nullptr;
  int64_t capacity_ = 0;  // floats per slot and per sum area
  int bucket_capacity_ = 0;
  int64_t current_ = 1;   // the step being reduced
  std::vector<Bucket> buckets_;
  int started_ = 0, summed_ = 0;
  int64_t offset_ = 0;
  double waited_ = 0;
};

}  // namespace axonal
