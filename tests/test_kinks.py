"""The test suite's own footing: random data kept clear of activation kinks (``kinks.py``), and
hypothesis derandomised in CI (``conftest.py``), so the README's test command passes on any
machine, every time."""
import os
import pathlib

import numpy as np
import pytest
from hypothesis import settings

from axonal.backend import reference
from conftest import hypothesis_profile
from kinks import KINKED, mask_kinks, near_kinks

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("activation", sorted(KINKED))
def test_gradients_on_a_tie_at_the_kink_are_masked(activation):
    z = np.array([[1.3e-8, -3.7e-9, 0.5, -2.0, 0.0]])
    dy = np.ones_like(z)
    np.testing.assert_array_equal(mask_kinks(dy, z, activation), [[0, 0, 1, 1, 0]])
    assert dy.all(), "the caller's array is left alone"


@pytest.mark.parametrize("activation", ["linear", "sigmoid", "tanh", "softplus", "softmax"])
def test_smooth_activations_mask_nothing(activation):
    z = np.array([[1e-9, 0.0, -1e-9]])
    assert not near_kinks(z, activation).any()


def test_masked_relu_gradients_agree_between_float32_and_float64():
    """The geometry of issue #18: a pre-activation of +1.3e-8 in float64 is -3.7e-9 in float32, so
    ReLU's derivative differed and so did dW; with the tie masked, both precisions agree."""
    rng = np.random.default_rng(2 * 1000 + 27 * 10 + 8)
    x = rng.standard_normal((2, 2, 27, 3))
    W = rng.standard_normal((5, 1, 3, 8)) / np.sqrt(15)
    b = rng.standard_normal(8)
    dy = rng.standard_normal((2, 1, 27, 8))  # (2 + 2 + 1 - 5 + 1) output rows
    padding = (2, 1, 0, 0)
    z = np.empty(dy.shape)
    reference.conv2d_forward(z, x, W, b, (1, 1), padding, "linear", 0.0)
    assert near_kinks(z, "relu").any(), "the case has its tie"
    masked = mask_kinks(dy, z, "relu")
    grads = {}
    for dtype in (np.float64, np.float32):
        args = [a.astype(dtype) for a in (x, W, b, masked)]
        y = np.empty(dy.shape, dtype)
        reference.conv2d_forward(y, *args[:3], (1, 1), padding, "relu", 0.0)
        dx, dW, db, dz = (np.empty_like(a) for a in (args[0], args[1], args[2], y))
        reference.conv2d_backward(dx, dW, db, dz, args[3], *args[:2], y, (1, 1), padding, "relu", 0.0)
        grads[dtype] = (dx, dW, db)
    for name, wide, narrow in zip(("dx", "dW", "db"), grads[np.float64], grads[np.float32]):
        np.testing.assert_allclose(narrow, wide, rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("environ, profile", [
    ({}, "dev"), ({"CI": "true"}, "ci"), ({"CI": "1"}, "ci"), ({"CI": "false"}, "dev"), ({"CI": ""}, "dev"),
    ({"CI": "true", "HYPOTHESIS_PROFILE": "dev"}, "dev"), ({"HYPOTHESIS_PROFILE": "ci"}, "ci")])
def test_the_hypothesis_profile_follows_the_environment(environ, profile):
    assert hypothesis_profile(environ) == profile


def test_the_ci_profile_is_derandomised_and_local_runs_explore():
    ci, dev = settings.get_profile("ci"), settings.get_profile("dev")
    assert ci.derandomize and ci.database is None
    assert not dev.derandomize and dev.database is not None  # failures found locally are replayed
    assert settings.default.derandomize == (hypothesis_profile(os.environ) == "ci")


def test_ci_script_selects_the_ci_profile_before_running_the_tests():
    script = (ROOT / ".ci" / "run").read_text()
    assert "export CI=true" in script
    assert script.index("export CI=true") < script.index("python -m pytest")
