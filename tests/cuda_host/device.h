// What the parts of the emulated device share: scheduler.cpp runs launches, runtime_api.cpp holds
// the streams, their captures and the CUDA runtime calls, cublas.cpp the GEMM (README.md here).
#pragma once
#include <functional>

#include "cuda_host.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define AXONAL_EMU_ASAN 1
#else
#define AXONAL_EMU_ASAN 0
#endif

namespace axonal_emu {

using Node = std::function<void()>;  // a launch, memset or copy queued on a stream

// Runs `node` now, or records it when `stream` is being captured (runtime_api.cpp); `label` names
// it in a captured graph's description (the kernel's name, "memset"...).
cudaError_t enqueue(cudaStream_t stream, Node node, const char* label = "work");
bool is_capturing(cudaStream_t stream);
// An error, and the end of the capture, when a call that a capture forbids comes while `stream`
// (any stream when `any_stream`) is captured; cudaSuccess otherwise.
cudaError_t forbidden_in_capture(cudaStream_t stream, bool any_stream);
void set_error(cudaError_t error);  // what cudaGetLastError() returns next

// Runs the grid of a launch; throws std::runtime_error naming what the hardware would leave
// undefined, after the grid has run (scheduler.cpp).
void run_grid(const Grid& grid);

}  // namespace axonal_emu
