// The emulated GPU behind cuda_host.h: the launch scheduler (blocks in a shuffled order, a block's
// threads as fibers with real barriers), the CUDA runtime calls the cuda/ sources make, on
// host memory, cuBLAS's SGEMM with its argument checks, and stream capture into replayable graphs.
// The control functions at the end (extern "C") are what host_cupy.py calls through ctypes.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "cublas_v2.h"
#include "cuda_host.h"
#undef dlopen  // the real one, for every other library

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define AXONAL_EMU_ASAN 1
#else
#define AXONAL_EMU_ASAN 0
#endif

// switch_context(save, next): saves the callee-saved registers and the floating-point control words
// on the current stack, stores the stack pointer in *save and resumes the context whose stack
// pointer is `next` (x86-64 System V). A switch is a few instructions, where swapcontext makes two
// system calls (the signal mask) and, under AddressSanitizer, clears the shadow of the whole stack.
#if !defined(__x86_64__)
#error "the CUDA host emulation switches fibers with x86-64 assembly"
#endif
extern "C" void axonal_emu_switch_context(void** save, void* next);
asm(R"(
  .text
  .globl axonal_emu_switch_context
  .hidden axonal_emu_switch_context
  .type axonal_emu_switch_context, @function
axonal_emu_switch_context:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size axonal_emu_switch_context, .-axonal_emu_switch_context
)");

namespace axonal_emu {

thread_local dim3 thread_index, block_index, block_dim, grid_dim;

namespace {

// ---------------------------------------------------------------------------------------------
// Errors: what cudaGetLastError() returns, and uses of CUDA the hardware leaves undefined.

thread_local cudaError_t last_error = cudaSuccess;
std::string violations;  // reported by the launch that found them (std::runtime_error)

void set_error(cudaError_t error) {
  if (last_error == cudaSuccess) last_error = error;
}

// ---------------------------------------------------------------------------------------------
// Fibers: the threads of the block being run.

constexpr size_t kStackBytes = 128 << 10;

enum class Wait { none, block, warp };

struct Fiber {
  void* sp = nullptr;  // saved stack pointer while switched out
  dim3 index;
  int linear = 0;
  bool done = false;
  Wait waiting = Wait::none;
  uint64_t generation = 0;  // of the barrier it waits at
  void* fake_stack = nullptr;
};

struct WarpState {
  int arrived = 0;
  uint64_t generation = 0;
  uint64_t slots[32] = {};
  int lane_masks[32] = {};
};

struct BlockRun {
  const Grid* grid = nullptr;
  std::vector<Fiber> fibers;
  std::vector<WarpState> warps;
  int live = 0, current = -1;
  int arrived = 0;  // at the block barrier
  uint64_t generation = 0;
  void* scheduler_sp = nullptr;
  const void* scheduler_bottom = nullptr;
  size_t scheduler_size = 0;
};

BlockRun* block_run = nullptr;  // the block being run (launches run on one host thread at a time)
std::vector<std::unique_ptr<char[]>> stacks;

void note(const std::string& what) {
  if (violations.size() < 4000) violations += std::string(violations.empty() ? "" : "; ") + what;
}

std::string where() {
  const Fiber& f = block_run->fibers[block_run->current];
  return std::string(block_run->grid->kernel) + " block (" + std::to_string(block_index.x) + "," +
         std::to_string(block_index.y) + "," + std::to_string(block_index.z) + ") thread (" + std::to_string(f.index.x) +
         "," + std::to_string(f.index.y) + "," + std::to_string(f.index.z) + ")";
}

// From the running fiber back to the scheduler (the fiber resumes where it left).
void yield() {
  BlockRun& run = *block_run;
  Fiber& f = run.fibers[run.current];
#if AXONAL_EMU_ASAN
  __sanitizer_start_switch_fiber(&f.fake_stack, run.scheduler_bottom, run.scheduler_size);
#endif
  axonal_emu_switch_context(&f.sp, run.scheduler_sp);
#if AXONAL_EMU_ASAN
  __sanitizer_finish_switch_fiber(f.fake_stack, &run.scheduler_bottom, &run.scheduler_size);
#endif
}

void fiber_main() {
  BlockRun& run = *block_run;
#if AXONAL_EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &run.scheduler_bottom, &run.scheduler_size);
#endif
  run.grid->thread_main();
  Fiber& f = run.fibers[run.current];
  f.done = true;
  --run.live;
#if AXONAL_EMU_ASAN
  __sanitizer_start_switch_fiber(nullptr, run.scheduler_bottom, run.scheduler_size);
#endif
  static void* finished_sp;  // not a local: this frame never returns, so its locals would stay poisoned
  axonal_emu_switch_context(&finished_sp, run.scheduler_sp);  // never resumed
  __builtin_unreachable();
}

// A fresh fiber's stack, laid out as axonal_emu_switch_context leaves one: control words, six
// registers, then fiber_main as the return address, aligned so that fiber_main starts as if called.
void* initial_stack(char* stack, size_t bytes) {
  auto top = reinterpret_cast<uintptr_t>(stack + bytes) & ~uintptr_t{15};
#if AXONAL_EMU_ASAN
  // A finished fiber's frames all returned (and so unpoisoned themselves), but for fiber_main's at
  // the top; frames of fibers abandoned in a deadlock are cleared by run_block.
  ASAN_UNPOISON_MEMORY_REGION(stack + bytes - 4096, 4096);
#endif
  auto* frame = reinterpret_cast<uint64_t*>(top - 72);  // ≡ 8 (mod 16): after `ret`, rsp ≡ 8 as at a call
  uint32_t mxcsr = 0;
  uint16_t fpu = 0;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpu));
  frame[0] = mxcsr | (uint64_t{fpu} << 32);
  for (int r = 1; r <= 6; ++r) frame[r] = 0;
  frame[7] = reinterpret_cast<uint64_t>(&fiber_main);
  frame[8] = 0;
  return frame;
}

// A barrier is complete when every thread it concerns has arrived; a thread that exited instead
// is a barrier the kernel does not reach uniformly: reported.
void release_barriers(BlockRun& run) {
  if (run.arrived > 0 && run.arrived == run.live) {
    if (run.live != static_cast<int>(run.fibers.size()))
      note(std::string(run.grid->kernel) + ": __syncthreads() reached by " + std::to_string(run.arrived) + " of " +
           std::to_string(run.fibers.size()) + " threads of block " + std::to_string(block_index.x) +
           " (the others had exited)");
    run.arrived = 0;
    ++run.generation;
  }
}

uint64_t next_seed() {
  static uint64_t launches = 0;
  static const uint64_t base = [] {
    const char* seed = std::getenv("AXONAL_CUDA_HOST_SEED");
    return seed ? std::strtoull(seed, nullptr, 10) : 0x5eedULL;
  }();
  return base * 0x9E3779B97F4A7C15ULL + ++launches;
}

void run_block(BlockRun& run, std::mt19937_64& rng) {
  const dim3 b = run.grid->block;
  const int threads = static_cast<int>(b.x * b.y * b.z);
  while (stacks.size() < static_cast<size_t>(threads)) stacks.emplace_back(new char[kStackBytes]);
  run.fibers.assign(threads, Fiber{});
  run.warps.assign((threads + 31) / 32, WarpState{});
  run.live = threads;
  run.arrived = 0;
  for (int t = 0; t < threads; ++t) {
    Fiber& f = run.fibers[t];
    f.linear = t;
    f.index = dim3(t % b.x, (t / b.x) % b.y, t / (b.x * b.y));
    f.sp = initial_stack(stacks[t].get(), kStackBytes);
  }
  std::vector<int> order(threads);
  for (int t = 0; t < threads; ++t) order[t] = t;
  while (run.live > 0) {
    std::shuffle(order.begin(), order.end(), rng);
    bool progressed = false;
    for (int t : order) {
      Fiber& f = run.fibers[t];
      if (f.done) continue;
      if (f.waiting == Wait::block && f.generation == run.generation) continue;
      if (f.waiting == Wait::warp && f.generation == run.warps[t / 32].generation) continue;
      f.waiting = Wait::none;
      run.current = t;
      thread_index = f.index;
#if AXONAL_EMU_ASAN
      void* fake = nullptr;
      __sanitizer_start_switch_fiber(&fake, stacks[t].get(), kStackBytes);
#endif
      axonal_emu_switch_context(&run.scheduler_sp, f.sp);
#if AXONAL_EMU_ASAN
      __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
      progressed = true;
      release_barriers(run);
    }
    if (!progressed) {
      note(std::string(run.grid->kernel) + ": block " + std::to_string(block_index.x) +
           " deadlocked (threads wait at barriers that the others never reach)");
#if AXONAL_EMU_ASAN
      for (int u = 0; u < threads; ++u) ASAN_UNPOISON_MEMORY_REGION(stacks[u].get(), kStackBytes);
#endif
      return;
    }
  }
}

void run_grid(const Grid& grid) {
  BlockRun run;
  run.grid = &grid;
  BlockRun* outer = block_run;
  block_run = &run;
  std::mt19937_64 rng(next_seed());
  const dim3 g = grid.grid;
  const uint64_t blocks = uint64_t{g.x} * g.y * g.z;
  std::vector<uint64_t> order(blocks);
  for (uint64_t i = 0; i < blocks; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  block_dim = grid.block;
  grid_dim = g;
  for (uint64_t i : order) {
    block_index = dim3(static_cast<unsigned>(i % g.x), static_cast<unsigned>((i / g.x) % g.y),
                       static_cast<unsigned>(i / (uint64_t{g.x} * g.y)));
    run_block(run, rng);
  }
  block_run = outer;
  if (!violations.empty()) {
    const std::string message = "emulated CUDA: " + violations;
    violations.clear();
    throw std::runtime_error(message);
  }
}

// ---------------------------------------------------------------------------------------------
// Streams and capture: a stream being captured records its work instead of running it.

using Node = std::function<void()>;
struct Graph {
  std::vector<Node> nodes;
};

std::mutex capture_mutex;
std::map<uintptr_t, std::shared_ptr<Graph>> capturing;  // by stream
std::map<uintptr_t, bool> invalidated;

uintptr_t key(cudaStream_t stream) { return reinterpret_cast<uintptr_t>(stream); }

// Queues `node` on `stream`: runs it now, or records it into the stream's capture. Work on the
// legacy default stream while another stream is captured is an error that ends that capture, as
// on the GPU (cudaErrorStreamCaptureImplicit).
cudaError_t enqueue(cudaStream_t stream, Node node) {
  std::shared_ptr<Graph> graph;
  {
    std::lock_guard<std::mutex> lock(capture_mutex);
    auto found = capturing.find(key(stream));
    if (found != capturing.end()) graph = found->second;
    if (!graph && (stream == nullptr || stream == cudaStreamLegacy) && !capturing.empty()) {
      for (auto& [s, g] : capturing) invalidated[s] = true;
      return cudaErrorStreamCaptureImplicit;
    }
  }
  if (graph) {
    graph->nodes.push_back(std::move(node));
    return cudaSuccess;
  }
  node();
  return cudaSuccess;
}

bool is_capturing(cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(capture_mutex);
  return capturing.count(key(stream)) > 0;
}

// A call that may not happen while `stream` (or, for a call without a stream, any stream) is
// captured: it ends the capture with an error, as cudaStreamCaptureModeGlobal does.
cudaError_t forbidden_in_capture(cudaStream_t stream, bool any_stream) {
  std::lock_guard<std::mutex> lock(capture_mutex);
  if (capturing.empty()) return cudaSuccess;
  if (any_stream) {
    for (auto& [s, g] : capturing) invalidated[s] = true;
    return cudaErrorStreamCaptureUnsupported;
  }
  if (capturing.count(key(stream))) {
    invalidated[key(stream)] = true;
    return cudaErrorStreamCaptureUnsupported;
  }
  return cudaSuccess;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The device side of cuda_host.h.

void submit(const char* kernel, dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
            std::function<void(Grid&)> bind) {
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  const bool valid = grid.x >= 1 && grid.y >= 1 && grid.z >= 1 && grid.x <= 0x7fffffffu && grid.y <= 65535 &&
                     grid.z <= 65535 && threads >= 1 && threads <= 1024 && block.x <= 1024 && block.y <= 1024 &&
                     block.z <= 64 && shared_bytes <= 48 * 1024;
  if (!valid) {
    set_error(cudaErrorInvalidConfiguration);
    return;
  }
  auto g = std::make_shared<Grid>(Grid{kernel, grid, block, {}});
  bind(*g);
  const cudaError_t status = enqueue(stream, [g] { run_grid(*g); });
  if (status != cudaSuccess) set_error(status);
}

void syncthreads() {
  BlockRun& run = *block_run;
  Fiber& f = run.fibers[run.current];
  f.waiting = Wait::block;
  f.generation = run.generation;
  ++run.arrived;
  release_barriers(run);
  while (f.generation == run.generation) yield();
  f.waiting = Wait::none;
}

// All 32 lanes of the warp put their value down, wait for each other, take their partner's, and
// wait again before any lane may put the next one down.
uint64_t shuffle_xor(uint64_t bits, unsigned mask, int lane_mask, int width) {
  BlockRun& run = *block_run;
  const int t = run.current;
  Fiber& f = run.fibers[t];
  WarpState& warp = run.warps[t / 32];
  const int lane = t % 32;
  const int lanes = std::min(32, static_cast<int>(run.fibers.size()) - t / 32 * 32);
  if (mask != 0xffffffffu || width != 32 || lanes != 32) {
    note(where() + ": __shfl_xor_sync with mask " + std::to_string(mask) + ", width " + std::to_string(width) + " in a warp of " +
         std::to_string(lanes) + " lanes (the emulation takes full warps only)");
    return bits;
  }
  if (lane_mask < 0 || lane_mask >= 32) note(where() + ": __shfl_xor_sync lane mask " + std::to_string(lane_mask));
  auto arrive = [&] {
    f.waiting = Wait::warp;
    f.generation = warp.generation;
    if (++warp.arrived == 32) {
      warp.arrived = 0;
      ++warp.generation;
    }
    while (f.generation == warp.generation) yield();
    f.waiting = Wait::none;
  };
  warp.slots[lane] = bits;
  warp.lane_masks[lane] = lane_mask;
  arrive();
  const uint64_t value = warp.slots[(lane ^ lane_mask) & 31];
  if (warp.lane_masks[(lane ^ lane_mask) & 31] != lane_mask)
    note(where() + ": lanes of one warp shuffled with different lane masks");
  arrive();
  return value;
}

void report(const char* what) { note(where() + ": " + what); }

// A column-major matrix of `columns` columns of `rows` floats, `ld` apart, lies in memory the
// process owns (under AddressSanitizer: no byte of it is poisoned). The GEMM itself runs
// uninstrumented, for speed, so its operands are checked here, once per call.
void check_matrix(const char* what, const float* data, int64_t columns, int64_t ld, int64_t rows) {
#if AXONAL_EMU_ASAN
  if (columns <= 0 || rows <= 0) return;
  const size_t bytes = sizeof(float) * static_cast<size_t>((columns - 1) * ld + rows);
  if (__asan_region_is_poisoned(const_cast<float*>(data), bytes))
    throw std::runtime_error(std::string("emulated CUDA: ") + what + " reaches outside its allocation");
#else
  (void)what, (void)data, (void)columns, (void)ld, (void)rows;
#endif
}

// C = a op(A) op(B) + b C, column-major; every element's sum runs over k in ascending order.
// op(A) is packed column by column so that the inner loop runs down contiguous columns.
__attribute__((no_sanitize("address"), optimize("O3"))) void sgemm(bool ta, bool tb, int m, int n, int k, float a,
                                                                   const float* A, int lda, const float* B, int ldb,
                                                                   float b, float* C, int ldc) {
  std::vector<float> packed(static_cast<size_t>(m) * k), column(m);
  for (int p = 0; p < k; ++p)
    for (int i = 0; i < m; ++i)
      packed[i + static_cast<size_t>(p) * m] = ta ? A[p + static_cast<int64_t>(i) * lda] : A[i + static_cast<int64_t>(p) * lda];
  for (int j = 0; j < n; ++j) {
    std::fill(column.begin(), column.end(), 0.f);
    for (int p = 0; p < k; ++p) {
      const float bpj = tb ? B[j + static_cast<int64_t>(p) * ldb] : B[p + static_cast<int64_t>(j) * ldb];
      const float* ap = packed.data() + static_cast<size_t>(p) * m;
      for (int i = 0; i < m; ++i) column[i] += ap[i] * bpj;
    }
    float* c = C + static_cast<int64_t>(j) * ldc;
    for (int i = 0; i < m; ++i) c[i] = b == 0.f ? a * column[i] : a * column[i] + b * c[i];  // b == 0: C not read
  }
}

void* dlopen_driver(const char* file, int mode) {
  if (file && std::string(file) == "libcuda.so.1") return reinterpret_cast<void*>(&dlopen_driver);
  return ::dlopen(file, mode);
}

}  // namespace axonal_emu

using axonal_emu::enqueue;
using axonal_emu::forbidden_in_capture;

// -------------------------------------------------------------------------------------------------
// The CUDA runtime.

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureImplicit: return "operation would make the legacy stream depend on a capturing blocking stream";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
  }
  return "unknown error";
}

cudaError_t cudaGetLastError() {
  const cudaError_t error = axonal_emu::last_error;
  axonal_emu::last_error = cudaSuccess;
  return error;
}

cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int* version) {
  *version = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attribute, int device) {
  if (device != 0) return cudaErrorInvalidDevice;
  if (attribute == cudaDevAttrComputeCapabilityMajor) *value = 9;
  else if (attribute == cudaDevAttrComputeCapabilityMinor) *value = 0;
  else return cudaErrorInvalidValue;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** pointer, size_t bytes) {
  if (const cudaError_t e = forbidden_in_capture(nullptr, true)) return e;
  *pointer = std::aligned_alloc(256, (std::max<size_t>(bytes, 1) + 255) / 256 * 256);
  return *pointer ? cudaSuccess : cudaErrorMemoryAllocation;
}

// axonal's design allocates nothing while a step is captured (docs/cuda.md), so an allocation during
// a capture is reported, although the GPU would record it as a memory node.
cudaError_t cudaMallocAsync(void** pointer, size_t bytes, cudaStream_t stream) {
  if (const cudaError_t e = forbidden_in_capture(stream, false)) return e;
  return cudaMalloc(pointer, bytes);
}

cudaError_t cudaFreeAsync(void* pointer, cudaStream_t stream) {
  if (const cudaError_t e = forbidden_in_capture(stream, false)) return e;
  std::free(pointer);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* pointer, int value, size_t bytes, cudaStream_t stream) {
  return enqueue(stream, [=] { std::memset(pointer, value, bytes); });
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind, cudaStream_t stream) {
  return enqueue(stream, [=] { std::memcpy(dst, src, bytes); });
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  return forbidden_in_capture(stream, false);
}

// -------------------------------------------------------------------------------------------------
// cuBLAS: column-major C = alpha op(A) op(B) + beta C, each sum in ascending k order.

struct cublasContext {
  cudaStream_t stream = nullptr;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  cublasMath_t math = CUBLAS_DEFAULT_MATH;
};

const char* cublasGetStatusString(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "the operation completed successfully";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
  }
  return "unknown error";
}

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  *handle = new cublasContext();
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  handle->workspace = nullptr;  // as cuBLAS: setting the stream resets the workspace to its own pool
  handle->workspace_bytes = 0;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void* workspace, size_t bytes) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (reinterpret_cast<uintptr_t>(workspace) % 256 != 0) return CUBLAS_STATUS_INVALID_VALUE;
  handle->workspace = workspace;
  handle->workspace_bytes = bytes;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->math = mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetProperty(libraryPropertyType type, int* value) {
  *value = type == MAJOR_VERSION ? 13 : type == MINOR_VERSION ? 0 : 0;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                           int k, const float* alpha, const float* A, int lda, const float* B, int ldb,
                           const float* beta, float* C, int ldc) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  const bool ta = transa != CUBLAS_OP_N, tb = transb != CUBLAS_OP_N;
  // cuBLAS's checks (cublas<t>gemm, "Return values"): sizes, and leading dimensions against the
  // stored shapes.
  if (m < 0 || n < 0 || k < 0 || lda < std::max(1, ta ? k : m) || ldb < std::max(1, tb ? n : k) ||
      ldc < std::max(1, m))
    return CUBLAS_STATUS_INVALID_VALUE;
  const float a = *alpha, b = *beta;  // host pointers: read at the call, as CUBLAS_POINTER_MODE_HOST
  const cudaError_t status = enqueue(handle->stream, [=] {
    axonal_emu::check_matrix("cublasSgemm A", A, ta ? m : k, lda, ta ? k : m);
    axonal_emu::check_matrix("cublasSgemm B", B, tb ? k : n, ldb, tb ? n : k);
    axonal_emu::check_matrix("cublasSgemm C", C, n, ldc, m);
    axonal_emu::sgemm(ta, tb, m, n, k, a, A, lda, B, ldb, b, C, ldc);
  });
  return status == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}

// -------------------------------------------------------------------------------------------------
// Control of the emulated device from Python (host_cupy.py, through ctypes).

extern "C" {

__attribute__((visibility("default"))) int axonal_emu_begin_capture(uintptr_t stream) {
  std::lock_guard<std::mutex> lock(axonal_emu::capture_mutex);
  if (stream == 0 || stream == 1 || axonal_emu::capturing.count(stream)) return cudaErrorStreamCaptureUnsupported;
  axonal_emu::capturing[stream] = std::make_shared<axonal_emu::Graph>();
  axonal_emu::invalidated[stream] = false;
  return cudaSuccess;
}

// The captured graph (a handle for launch/destroy), or 0 when the capture was invalidated.
__attribute__((visibility("default"))) void* axonal_emu_end_capture(uintptr_t stream) {
  std::lock_guard<std::mutex> lock(axonal_emu::capture_mutex);
  auto found = axonal_emu::capturing.find(stream);
  if (found == axonal_emu::capturing.end()) return nullptr;
  auto graph = found->second;
  axonal_emu::capturing.erase(found);
  const bool bad = axonal_emu::invalidated[stream];
  axonal_emu::invalidated.erase(stream);
  if (bad) return nullptr;
  return new std::shared_ptr<axonal_emu::Graph>(graph);
}

__attribute__((visibility("default"))) int axonal_emu_is_capturing(uintptr_t stream) {
  return axonal_emu::is_capturing(reinterpret_cast<cudaStream_t>(stream)) ? 1 : 0;
}

// Replays a graph on `stream`. Returns 0, or 1 with the reason in `message` (a violation found by a
// kernel of the graph).
__attribute__((visibility("default"))) int axonal_emu_launch_graph(void* graph, uintptr_t stream, char* message,
                                                                    size_t size) {
  auto& nodes = (*static_cast<std::shared_ptr<axonal_emu::Graph>*>(graph))->nodes;
  try {
    for (auto& node : nodes) {
      const cudaError_t status = enqueue(reinterpret_cast<cudaStream_t>(stream), node);
      if (status != cudaSuccess) throw std::runtime_error(cudaGetErrorString(status));
    }
  } catch (const std::exception& error) {
    std::snprintf(message, size, "%s", error.what());
    return 1;
  }
  return 0;
}

__attribute__((visibility("default"))) int axonal_emu_graph_nodes(void* graph) {
  return static_cast<int>((*static_cast<std::shared_ptr<axonal_emu::Graph>*>(graph))->nodes.size());
}

__attribute__((visibility("default"))) void axonal_emu_destroy_graph(void* graph) {
  delete static_cast<std::shared_ptr<axonal_emu::Graph>*>(graph);
}

}  // extern "C"
