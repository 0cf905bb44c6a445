// The launch scheduler of the emulated device (README.md here): a launch's blocks run one after
// another in a shuffled order, a block's threads as fibers on the calling host thread, started and
// resumed in shuffled orders; __syncthreads() and warp shuffles are barriers between the fibers.
#include <algorithm>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "device.h"
#undef dlopen  // the real one, for every library but the driver

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

std::string violations;  // found while a grid runs, thrown when it has run

// ---------------------------------------------------------------------------------------------
// Fibers: the threads of the block being run.

constexpr size_t kStackBytes = 128 << 10;

enum class Wait { none, block, warp };

struct Fiber {
  void* sp = nullptr;  // saved stack pointer while switched out
  dim3 index;
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
  auto text = [](const dim3& d) {
    return "(" + std::to_string(d.x) + "," + std::to_string(d.y) + "," + std::to_string(d.z) + ")";
  };
  return std::string(block_run->grid->kernel) + " block " + text(block_index) + " thread " + text(f.index);
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

}  // namespace

void run_grid(const Grid& grid) {
  static std::mutex one_launch_at_a_time;  // the scheduler's state is global; ops may come from several threads
  std::lock_guard<std::mutex> lock(one_launch_at_a_time);
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

void submit(const char* kernel, dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
            std::function<void()> thread_main) {
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  const bool valid = grid.x >= 1 && grid.y >= 1 && grid.z >= 1 && grid.x <= 0x7fffffffu && grid.y <= 65535 &&
                     grid.z <= 65535 && threads >= 1 && threads <= 1024 && block.x <= 1024 && block.y <= 1024 &&
                     block.z <= 64 && shared_bytes <= 48 * 1024;
  if (!valid) {
    set_error(cudaErrorInvalidConfiguration);
    return;
  }
  auto g = std::make_shared<Grid>(Grid{kernel, grid, block, std::move(thread_main)});
  const cudaError_t status = enqueue(stream, [g] { run_grid(*g); }, kernel);
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
    note(where() + ": __shfl_xor_sync with mask " + std::to_string(mask) + ", width " + std::to_string(width) +
         " in a warp of " + std::to_string(lanes) + " lanes (the emulation takes full warps only)");
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

void* dlopen_driver(const char* file, int mode) {
  if (file && std::string(file) == "libcuda.so.1") return reinterpret_cast<void*>(&dlopen_driver);
  return ::dlopen(file, mode);
}

}  // namespace axonal_emu
