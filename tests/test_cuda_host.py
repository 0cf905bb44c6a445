"""The host emulation of a GPU (tests/cuda_host/README.md) reports each misuse of CUDA that the
hardware leaves undefined, and runs a correct kernel correctly: kernels in
tests/cuda_host/self_test.cpp misuse CUDA on purpose. Runs where the CUDA tests run on the
emulation (``AXONAL_CUDA_HOST`` set, as in CI), and is skipped elsewhere."""
import ctypes
import os

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("AXONAL_CUDA_HOST"),
                                reason="AXONAL_CUDA_HOST is not set: the CUDA host emulation is not built here")


def self_test(name: str) -> str:
    library = ctypes.CDLL(os.environ["AXONAL_CUDA_HOST"])
    library.axonal_emu_self_test.restype = ctypes.c_char_p
    return library.axonal_emu_self_test(name.encode()).decode()


def test_a_warp_shuffle_reduction_is_right_in_every_lane():
    assert self_test("warp_sum") == ",".join(["496"] * 64)


@pytest.mark.parametrize("name, message", [
    ("divergent_barrier", r"__syncthreads() reached by 32 of 64 threads"),
    ("partial_warp", r"in a warp of 16 lanes"),
    ("deadlock", r"deadlocked"),
    ("too_many_threads", r"invalid configuration argument"),
    ("sgemm_bad_lda", r"an invalid numeric value"),
])
def test_a_misuse_is_reported(name, message):
    assert message in self_test(name)


def test_threads_run_in_shuffled_orders():
    # Without the barrier, thread 0 sums what the others have written so far: with the threads
    # started in a new shuffled order at every launch, the sums differ and some are short of 64.
    sums = [int(value) for value in self_test("missing_barrier").split()]
    assert len(sums) == 20 and min(sums) < 64 and len(set(sums)) > 1


@pytest.mark.parametrize("use", ["fill", "float of an element", "synchronize", "arithmetic", "get"])
def test_host_cupy_refuses_what_a_capture_does_not_allow(use):
    # Every cupy call on the capturing stream would be captured or would wait; axonal's steps queue
    # only their own kernels, so each is an error that names it.
    from cuda_host import host_cupy
    array = host_cupy.zeros(3, np.float32)
    calls = {"fill": lambda: array.fill(1), "float of an element": lambda: float(array[0]),
             "synchronize": lambda: stream.synchronize(), "arithmetic": lambda: array + 1,
             "get": lambda: array.get()}
    stream = host_cupy.cuda.Stream(non_blocking=True)
    stream.begin_capture()
    try:
        with pytest.raises(host_cupy.CaptureError, match="while"):
            calls[use]()
    finally:
        stream.end_capture()
    assert float(array[0]) == 0.0  # allowed again once the capture has ended
