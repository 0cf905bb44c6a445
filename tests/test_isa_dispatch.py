"""Run-time dispatch of the hand-vectorised loops (``cpp/cpu_features.h``).

The wheel targets baseline x86-64; the dropout mask has AVX-512, AVX2 and portable versions chosen
when it runs. Every version this CPU can run is forced in turn here, and each must draw exactly the
reference's mask: odd sizes around the vector widths (32 and 64 elements), every rate edge, and
step counters past 2^32 and 2^63 (the high counter words).
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from axonal.backend import reference

native = pytest.importorskip("axonal._native")

ORDER = ["portable", "avx2", "avx512"]
RUNNABLE = ORDER[:ORDER.index(native.best_isa()) + 1]


@pytest.fixture(params=RUNNABLE)
def isa(request):
    previous = native.get_isa()
    native.set_isa(request.param)
    assert native.get_isa() == request.param
    yield request.param
    native.set_isa(ORDER[-1] if previous == native.best_isa() else previous)


@pytest.mark.parametrize("size", [1, 3, 31, 32, 33, 63, 64, 65, 127, 4099, 65543])
@pytest.mark.parametrize("rate", [0.0, 0.2, 0.5, 0.999])
@pytest.mark.parametrize("step", [0, 5, 2**32 + 3, 2**63 + 11])
def test_every_instruction_set_draws_the_reference_mask(isa, size, rate, step):
    x = np.random.default_rng(size).normal(size=(1, size)).astype(np.float32)
    y, mask = np.empty_like(x), np.empty(x.shape, np.uint8)
    expected_y, expected_mask = np.empty_like(x), np.empty(x.shape, np.uint8)
    native.dropout_forward(y, mask, x, rate, 1234567, 3, step)
    reference.dropout_forward(expected_y, expected_mask, x, rate, 1234567, 3, step)
    np.testing.assert_array_equal(mask, expected_mask)
    np.testing.assert_allclose(y, expected_y, rtol=2e-5)  # the 1/(1 − rate) scale may round apart


def test_the_portable_path_trains_the_same_weights_as_the_widest(tmp_path):
    """A whole training run (dropout masks included) forced onto the portable path in a fresh
    process, through the AXONAL_ISA variable, ends with the bits of the default path."""
    script = (
        "import sys, numpy as np, axonal; from axonal import _native; "
        "from axonal.layers import Dense, Dropout, Input; from axonal.models import Sequential; "
        "axonal.set_seed(0); m = Sequential([Input(shape=(20,)), Dense(33, activation='relu'), Dropout(0.3), "
        "Dense(3, activation='softmax')]); m.compile(optimizer='rmsprop', loss='sparse_categorical_crossentropy'); "
        "x = np.random.default_rng(0).normal(size=(200, 20)).astype(np.float32); "
        "m.fit(x, np.arange(200) % 3, batch_size=16, epochs=2, verbose=0); "
        "np.savez(sys.argv[1], isa=_native.get_isa(), *m.get_weights())")
    results = {}
    for isa in ("portable", None):
        env = {**os.environ, "AXONAL_ISA": isa} if isa else {k: v for k, v in os.environ.items() if k != "AXONAL_ISA"}
        out = tmp_path / f"{isa}.npz"
        subprocess.run([sys.executable, "-c", script, str(out)], env=env, check=True, timeout=120)
        results[isa] = np.load(out)
    assert str(results["portable"]["isa"]) == "portable"
    assert str(results[None]["isa"]) == native.best_isa()
    for name in (name for name in results[None].files if name != "isa"):
        np.testing.assert_array_equal(results["portable"][name], results[None][name])


def test_an_unknown_instruction_set_is_refused():
    with pytest.raises(ValueError, match="unknown instruction set 'sse9'"):
        native.set_isa("sse9")


cpu = pytest.importorskip("axonal.backend.cpu")

UPDATES = {  # optimiser kernels (cpu backend ops), all vectorised through cpu_features
    "sgd_update": lambda p, g, s: cpu.sgd_update(p, g, s[0], 0.1, 0.9, True, 0.01),
    "rmsprop_update": lambda p, g, s: cpu.rmsprop_update(p, g, s[0], s[1], s[2], 0.01, 0.9, 0.5, 1e-7, True, 0.01),
    "rmsprop_update plain": lambda p, g, s: cpu.rmsprop_update(p, g, s[0], None, None, 0.01, 0.9, 0.0, 1e-7, False),
    "adagrad_update": lambda p, g, s: cpu.adagrad_update(p, g, s[0], 0.01, 1e-7, 0.01),
    "adadelta_update": lambda p, g, s: cpu.adadelta_update(p, g, s[0], s[1], 1.0, 0.95, 1e-7),
    "adam_update": lambda p, g, s: cpu.adam_update(p, g, s[0], s[1], s[2], 0.01, 0.9, 0.999, 1e-7, 3, True, 0.01),
    "lion_update": lambda p, g, s: cpu.lion_update(p, g, s[0], 0.01, 0.9, 0.99, 0.01),
    "adamax_update": lambda p, g, s: cpu.adamax_update(p, g, s[0], s[1], 0.01, 0.9, 0.999, 1e-7, 3, 0.01),
}


@pytest.mark.parametrize("op", UPDATES)
@pytest.mark.parametrize("size", [1, 15, 17, 100_003])
def test_optimizer_updates_round_alike_on_every_instruction_set(op, size):
    rng = np.random.default_rng(size)
    start = [rng.normal(size=size).astype(np.float32) for _ in range(2)] + \
            [np.abs(rng.normal(size=size)).astype(np.float32) for _ in range(3)]
    results = {}
    previous = native.get_isa()
    try:
        for isa in RUNNABLE:
            native.set_isa(isa)
            param, grad, *slots = (array.copy() for array in start)
            for _ in range(3):
                UPDATES[op](param, grad, slots)
            results[isa] = [param, *slots]
    finally:
        native.set_isa(previous)
    for isa in RUNNABLE[1:]:
        for ours, theirs in zip(results[isa], results["portable"]):
            np.testing.assert_array_equal(ours, theirs)
