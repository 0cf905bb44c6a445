"""Shared fixtures: run a test once per backend that can be used on this machine."""
import os

import pytest

if os.environ.get("AXONAL_CUDA_HOST"):
    # The cuda tests against the host emulation of the GPU (tests/cuda_host/README.md): the
    # emulated axonal._cuda, and host_cupy as cupy. Set before anything asks which backends exist.
    from cuda_host import host_cupy
    host_cupy.install(os.environ["AXONAL_CUDA_HOST"])

import axonal
from axonal.backend import backend_name

# Model-level tests run on the backends whose arrays are numpy arrays. `cuda` has its own tests:
# op parity in test_cuda_parity.py, training against cpu in test_cuda_fit.py (both on a GPU), and
# the device loop's logic on a host-emulated device in test_device_loop.py (everywhere).
AVAILABLE_BACKENDS = [name for name, status in axonal.backends().items() if status == "available" and name != "cuda"]


@pytest.fixture(params=AVAILABLE_BACKENDS)
def backend(request):
    """Make each available backend active in turn (its name is the value); restore the previous one."""
    previous = backend_name()
    axonal.set_backend(request.param)
    yield request.param
    axonal.set_backend(previous)
