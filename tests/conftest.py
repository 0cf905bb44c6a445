"""Shared fixtures: run a test once per backend that can be used on this machine."""
import pytest

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
