"""A short soak in the suite: 30 epochs of a small model keep the resident memory flat.

The long runs (200 churn epochs, 20 seed-MLP epochs) are ``benchmarks/soak.py``, run by hand; this
test uses that script's RSS recorder so the script cannot rot. The model is sized so that a leak
of one activation buffer per step (64 x 128 float32 = 32 KiB, 240 steps: 7.5 MiB) would exceed the
bound, which is lenient enough for allocator noise.
"""
import importlib.util
import os
import pathlib

import numpy as np
import pytest

import axonal
from axonal.layers import Dense, Dropout, Input
from axonal.models import Sequential

SOAK = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "soak.py"
BOUND = 4 * 2**20  # bytes of RSS growth allowed between epoch 5 and epoch 30


def load_soak():
    spec = importlib.util.spec_from_file_location("soak", SOAK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                    reason="under AddressSanitizer freed memory stays resident in its quarantine")
def test_thirty_epochs_keep_resident_memory_flat(backend):
    soak = load_soak()
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(512, 64)).astype(np.float32), rng.integers(0, 10, 512)
    axonal.set_seed(0)
    model = Sequential([Input(shape=(64,)), Dense(128, activation="relu"), Dropout(0.2),
                        Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    recorder = soak.ResidentMemory()
    model.fit(x, y, batch_size=64, epochs=30, verbose=0, validation_split=0.1, callbacks=[recorder])
    assert len(recorder.rss) == 30 and all(rss > 0 for rss in recorder.rss)
    growth = recorder.rss[-1] - recorder.rss[4]  # after the first epochs' one-off allocations
    assert growth < BOUND, f"RSS grew {growth / 2**20:.1f} MiB over 25 epochs: {recorder.rss}"
    assert abs(soak.slope(recorder.rss)) < BOUND / 15
