"""examples/seed_cnn.py, the Keras seed CNN with only its imports changed, on real Fashion-MNIST.

It trains on the first 1,024 images for one epoch (32 Adam steps: with 512 the sigmoid layers have
not yet left chance level) and evaluates on the full test set, so it runs on the native backend
only: the NumPy reference would spend about 10 s on the two passes over the 10,000 test images.
"""
import importlib.util
import os
import pathlib

import pytest

import axonal

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "seed_cnn.py"
CONV_OPS = ("conv2d_forward", "conv2d_backward", "max_pool2d_forward", "max_pool2d_backward")


def load_example():
    spec = importlib.util.spec_from_file_location("seed_cnn", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cpu_lacks_conv() -> str:
    """Why the cpu backend cannot run the example here, or '' when it can."""
    status = axonal.backends()["cpu"]
    if status != "available":
        return f"the cpu backend is not available: {status}"
    from axonal.backend import cpu
    missing = [op for op in CONV_OPS if not hasattr(cpu, op)]
    return f"the cpu backend has no {', '.join(missing)} yet" if missing else ""


@pytest.mark.skipif(not os.environ.get("AXONAL_DATA"), reason="AXONAL_DATA is not set: no real Fashion-MNIST")
def test_seed_cnn_example_trains_on_real_fashion_mnist(capsys):
    if reason := cpu_lacks_conv():
        pytest.skip(reason)
    previous = axonal.backend.backend_name()
    axonal.set_seed(0)
    try:
        accuracy = load_example().main(["--limit", "1024", "--epochs", "1", "--backend", "cpu"])
    finally:
        axonal.set_backend(previous)
    out = capsys.readouterr().out
    assert "1024 train samples" in out and "10000 test samples" in out
    assert "Total params: 2,174,442" in out
    assert f"Test accuracy: {accuracy}" in out
    assert accuracy > 0.3  # chance is 0.1; this seed reaches about 0.48
