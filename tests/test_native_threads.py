"""Properties of the native calls that a parity test cannot see: the GIL is released while they run."""
import threading
import time

import numpy as np
import pytest

native = pytest.importorskip("axonal._native", reason="the native extension is not built")


def test_native_calls_release_the_gil():
    """While one thread is inside a long dense_forward, another runs Python code without stalling."""
    rng = np.random.default_rng(0)
    x = rng.random((1024, 2048), dtype=np.float32)
    W = rng.random((2048, 2048), dtype=np.float32)
    y = np.empty((1024, 2048), np.float32)
    previous_threads = native.get_num_threads()
    native.set_num_threads(1)  # leave a core to the Python thread
    try:
        start = time.perf_counter()
        native.dense_forward(y, x, W, None, "relu", 0.0)
        one_call = time.perf_counter() - start

        worker = threading.Thread(target=lambda: [native.dense_forward(y, x, W, None, "relu", 0.0) for _ in range(3)])
        worker.start()
        longest_gap, last = 0.0, time.perf_counter()
        while worker.is_alive():
            now = time.perf_counter()
            longest_gap, last = max(longest_gap, now - last), now
        worker.join()
    finally:
        native.set_num_threads(previous_threads)
    # Holding the GIL would freeze this loop for a whole call; released, it only yields briefly.
    assert one_call > 0.02, "the call is too short to tell"
    assert longest_gap < 0.5 * one_call, f"Python stalled {longest_gap:.3f} s during a {one_call:.3f} s native call"
