"""Same seed, same thread count: the same bits. A different thread count: the same numbers within
float tolerance here; in fact the same bits too since MKL runs in strict CNR mode (that stronger
check is tests/test_thread_governor.py's; docs/design.md, "Threads when the machine is shared").

Layers are wide enough (128 × 512) that every kernel runs threaded, and the model trains through
the native loop, dropout included."""
import numpy as np
import pytest

import axonal
from axonal import optimizers
from axonal.layers import Dense, Dropout, Input
from axonal.models import Sequential

native = pytest.importorskip("axonal._native")


def train_seed_mlp(threads: int, optimizer="rmsprop") -> list[np.ndarray]:
    previous, previous_backend = native.get_num_threads(), axonal.backend.backend_name()
    native.set_num_threads(threads)
    try:
        axonal.set_backend("cpu")
        axonal.set_seed(11)
        model = Sequential([Input(shape=(784,)), Dense(512, activation="relu"), Dropout(0.2),
                            Dense(512, activation="relu"), Dropout(0.2), Dense(10, activation="softmax")])
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        rng = np.random.default_rng(0)
        x = rng.random((1280, 784), dtype=np.float32)
        model.fit(x, rng.integers(0, 10, 1280), batch_size=128, epochs=1, verbose=0)
        return model.get_weights() + model.optimizer.variables
    finally:
        native.set_num_threads(previous)
        axonal.set_backend(previous_backend)


def test_same_seed_and_thread_count_give_bit_identical_weights():
    first, second = train_seed_mlp(2), train_seed_mlp(2)
    for a, b in zip(first, second, strict=True):
        assert a.tobytes() == b.tobytes()


def test_another_thread_count_changes_results_only_within_float_tolerance():
    # SGD: its step is linear in the gradient, so a different summation order moves the weights by
    # float round-off. (RMSprop divides by the gradient's running RMS: where a gradient is ~0 a
    # round-off flips the sign of a whole learning-rate-sized step; that is the optimiser's nature.)
    sgd = optimizers.SGD(0.05, momentum=0.9)
    for one, two in zip(train_seed_mlp(1, sgd), train_seed_mlp(2, optimizers.SGD(0.05, momentum=0.9)), strict=True):
        np.testing.assert_allclose(one, two, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("padding", [(0, 0, 0, 0), (1, 1, 1, 1)])
def test_direct_convolutions_give_the_same_bits_on_any_thread_count(padding):
    # Stride 1 and 32 filters: the direct kernels (cpp/conv_direct.cpp), whose weight gradient sums
    # shares fixed by the batch size in a fixed order. The layer is large enough to run threaded.
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 16, 16, 32), dtype=np.float32)
    W = rng.standard_normal((3, 3, 32, 32), dtype=np.float32) * 0.1
    b = rng.standard_normal(32, dtype=np.float32)
    out_hw = 16 if padding[0] else 14
    dy = rng.standard_normal((8, out_hw, out_hw, 32), dtype=np.float32)

    def run(threads):
        previous = native.get_num_threads()
        native.set_num_threads(threads)
        try:
            y = np.empty_like(dy)
            native.conv2d_forward(y, x, W, b, (1, 1), padding, "relu", 0.0)
            dz, dx, dW, db = np.empty_like(dy), np.empty_like(x), np.empty_like(W), np.empty_like(b)
            native.conv2d_backward(dx, dW, db, dz, dy, x, W, y, (1, 1), padding, "relu", 0.0)
            return y, dz, dx, dW, db
        finally:
            native.set_num_threads(previous)

    for one, two in zip(run(1), run(2), strict=True):
        assert one.tobytes() == two.tobytes()
