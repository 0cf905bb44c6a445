// Collectives of the native training loop: how the ranks of a data-parallel job sum their weight
// gradients between backward and update (docs/distributed.md).
//
// GradientReducer is the loop's only view of the engine: it takes raw float buffers, so an MPI
// reducer (below, CPU processes) and a NCCL reducer on a CUDA stream can both implement it. The
// loop starts one non-blocking reduction per bucket as soon as backward has written the bucket's
// gradients, polls between kernels so the engine makes progress, and waits before the update.
//
// MpiReducer drives MPI without axonal being built against any MPI: it finds MPI_Iallreduce,
// MPI_Test... with dlsym in the libmpi that mpi4py has already loaded, and receives the
// communicator, datatype and operation handles from mpi4py (MPI._handleof). The handles' C type is
// the one ABI fact that differs between MPI families: `int` for MPICH and its derivatives (Intel
// MPI, MVAPICH, Cray), a pointer for Open MPI and the MPI-5 standard ABI; the caller says which by
// the handle size (MPI._sizeof(MPI.Comm)), and the reducer calls the functions through pointer
// types of that handle type.
#pragma once
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace axonal {

// A collective did not complete: another rank reported a fault on the side channel, or the deadline
// passed. The bindings turn it into axonal.distribution.DistributedError.
class CollectiveError : public std::runtime_error {
 public:
  explicit CollectiveError(const std::string& what) : std::runtime_error(what) {}
};

class GradientReducer {
 public:
  virtual ~GradientReducer() = default;
  // Target bucket size in bytes: the loop groups consecutive gradients into buckets of about this size.
  virtual int64_t bucket_bytes() const = 0;
  // Start summing send[0, count) over the ranks into sum[0, count). `bucket` numbers the step's buckets
  // from 0 in the order they are started (the same on every rank), each following the previous one
  // in a step's flat layout; neither buffer is touched by the caller until wait(). Two buffers, not
  // one in place: MPI_IN_PLACE's value differs between ABIs.
  virtual void start(int bucket, const float* send, float* sum, int64_t count) = 0;
  // A reducer that owns the buffers (shared memory every rank on the host sees) gives them here, so
  // that the loop writes its gradients where the other ranks read them and its update reads the sum
  // where it was made: the step's send area for `floats` in `buckets` (collective when it must grow:
  // every rank calls it at the same step) and this step's sum area. nullptr: the caller's buffers.
  virtual float* shared_send_area(int64_t /*floats*/, int /*buckets*/) { return nullptr; }
  virtual float* shared_sum_area() { return nullptr; }
  // Let the engine progress the started reductions (cheap; called between kernels).
  virtual void poll() = 0;
  // Until every started bucket holds the sum; throws CollectiveError on a fault or the deadline.
  virtual void wait() = 0;
  // values[0, count) summed over the ranks in rank order (blocking): the step's loss, identical on every rank.
  virtual void sum_doubles(double* values, int64_t count) = 0;
  // Seconds spent blocked in wait() and sum_doubles() so far: the reduction time the step could not hide.
  virtual double waited_seconds() const = 0;
};

// The handles and settings an MpiReducer needs, as mpi4py gives them (MPI._handleof, MPI._sizeof).
struct MpiConfig {
  int64_t comm = 0, float_type = 0, double_type = 0, sum_op = 0;
  int64_t side_comm = 0;   // the fault side channel's communicator
  int side_tag = 0, any_source = 0;
  int handle_bytes = 4;    // 4: MPICH-family int handles; 8: pointer handles (Open MPI, MPI-5 ABI)
  int rank = 0, size = 1;
  bool deterministic = false;  // allgather each bucket and sum in rank order instead of MPI_Iallreduce
  int64_t bucket_bytes = 1 << 20;
  double timeout_seconds = 300;
  // Every rank on one host: sum through an MPI shared-memory window on node_comm (mpi4py's
  // Split_type(COMM_TYPE_SHARED), ranks in the same order), made with the info_null handle.
  bool shared_memory = false;
  int64_t node_comm = 0, info_null = 0;
  std::string library;     // the libmpi path; empty: the loaded object that exports MPI_Iallreduce
};

// Where the MPI library is: the path of the loaded object that exports MPI_Iallreduce (empty if none).
std::string find_loaded_mpi();

// An MPI_Iallreduce (or, deterministic, allgather) reducer; with config.shared_memory, the
// shared-memory reducer of shared_memory_reducer.h over it.
std::unique_ptr<GradientReducer> make_mpi_reducer(const MpiConfig& config);

}  // namespace axonal
