"""Subnormal numbers (cpp/denormals.h): the native kernels flush them to zero, as TensorFlow and
XLA do, because each one costs ~100 cycles on x86 and RMSprop's velocities decay into them; the
Python thread that called a kernel keeps IEEE behaviour for everything else."""
import numpy as np
import pytest

native = pytest.importorskip("axonal._native")
cpu = pytest.importorskip("axonal.backend.cpu")

SUBNORMAL = np.float32(1e-39)


def test_a_decaying_velocity_is_flushed_instead_of_turning_subnormal():
    size = 100_000  # above the threading threshold: workers flush too
    param, grad = np.ones(size, np.float32), np.zeros(size, np.float32)
    velocity = np.full(size, 2e-38, np.float32)  # one step of ρ = 0.1 from subnormal
    cpu.rmsprop_update(param, grad, velocity, None, None, 0.001, 0.1, 0.0, 1e-7, False)
    assert not np.any(velocity), "0.1 · 2e-38 is subnormal: flushed to zero"
    np.testing.assert_array_equal(param, 1.0)


def test_subnormal_inputs_read_as_zero():
    x = np.full((3, 5), SUBNORMAL, np.float32)
    y = np.empty_like(x)
    native.activation_forward(y, x, "relu", 0.0)
    assert not np.any(y)


def test_numpy_keeps_subnormals_after_a_native_call():
    x = np.ones((3, 5), np.float32)
    native.activation_forward(np.empty_like(x), x, "relu", 0.0)
    assert np.float32(1e-38) * np.float32(0.01) == np.float32(1e-40) != 0
