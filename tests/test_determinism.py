"""Same seed, same thread count: the same bits. A different thread count: the same numbers within
float tolerance (MKL's GEMMs split their sums by thread; our reductions do not, docs/design.md).

Layers are wide enough (128 × 512) that every kernel runs threaded, and the model trains through
the native loop, dropout included."""
import numpy as np
import pytest

import axonal
from axonal.layers import Dense, Dropout, Input
from axonal.models import Sequential

native = pytest.importorskip("axonal._native")


def train_seed_mlp(threads: int) -> list[np.ndarray]:
    previous = native.get_num_threads()
    native.set_num_threads(threads)
    try:
        axonal.set_backend("cpu")
        axonal.set_seed(11)
        model = Sequential([Input(shape=(784,)), Dense(512, activation="relu"), Dropout(0.2),
                            Dense(512, activation="relu"), Dropout(0.2), Dense(10, activation="softmax")])
        model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        rng = np.random.default_rng(0)
        x = rng.random((1280, 784), dtype=np.float32)
        model.fit(x, rng.integers(0, 10, 1280), batch_size=128, epochs=1, verbose=0)
        return model.get_weights() + model.optimizer.variables
    finally:
        native.set_num_threads(previous)


def test_same_seed_and_thread_count_give_bit_identical_weights():
    first, second = train_seed_mlp(2), train_seed_mlp(2)
    for a, b in zip(first, second, strict=True):
        assert a.tobytes() == b.tobytes()


def test_another_thread_count_changes_results_only_within_float_tolerance():
    for one, two in zip(train_seed_mlp(1), train_seed_mlp(2), strict=True):
        np.testing.assert_allclose(one, two, rtol=1e-3, atol=1e-5)
