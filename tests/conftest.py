"""Shared fixtures: run a test once per backend that can be used on this machine."""
import pytest

import axonal
from axonal.backend import backend_name

# Model-level tests run on the backends whose arrays are numpy arrays; `cuda` (cupy arrays, no fit
# integration yet, docs/cuda.md) has its own op-level tests in test_cuda_parity.py.
AVAILABLE_BACKENDS = [name for name, status in axonal.backends().items() if status == "available" and name != "cuda"]


@pytest.fixture(params=AVAILABLE_BACKENDS)
def backend(request):
    """Make each available backend active in turn (its name is the value); restore the previous one."""
    previous = backend_name()
    axonal.set_backend(request.param)
    yield request.param
    axonal.set_backend(previous)
