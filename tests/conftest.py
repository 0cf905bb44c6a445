"""Shared fixtures: run a test once per backend that can be used on this machine."""
import atexit
import os
import shutil
import tempfile

import pytest

# axonal's cache folder (the GEMM measured faster, cpp/gemm_choice.h; downloaded datasets) is a
# folder of the tests' own, which their subprocesses inherit, not the user's ~/.cache/axonal.
if "AXONAL_HOME" not in os.environ:
    os.environ["AXONAL_HOME"] = tempfile.mkdtemp(prefix="axonal-tests-cache-")
    atexit.register(shutil.rmtree, os.environ["AXONAL_HOME"], True)

if os.environ.get("AXONAL_CUDA_HOST"):
    # The cuda tests against the host emulation of the GPU (tests/cuda_host/README.md): the
    # emulated axonal._cuda, and host_cupy as cupy. Set before anything asks which backends exist.
    from cuda_host import host_cupy
    host_cupy.install(os.environ["AXONAL_CUDA_HOST"])

from hypothesis import HealthCheck, settings

import axonal
from axonal.backend import backend_name

# Hypothesis: CI runs the same examples on every run and machine (derandomised: a red CI is
# reproducible, never a draw of the dice), while a local run explores new ones each time and keeps
# the failures it finds in .hypothesis/ to replay them first next time. `.ci/run` sets CI=true;
# HYPOTHESIS_PROFILE=ci (or dev) picks a profile explicitly.
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
# Recent hypothesis loads its own "ci" profile when CI is set: derive "dev" from its defaults.
settings.register_profile("dev", parent=settings.get_profile("default"))


def hypothesis_profile(environ) -> str:
    """The profile for an environment: ``HYPOTHESIS_PROFILE`` if set, else ``ci`` when ``CI`` is
    set to anything but an empty string, 0 or false (CI services set CI=true), else ``dev``."""
    if environ.get("HYPOTHESIS_PROFILE"):
        return environ["HYPOTHESIS_PROFILE"]
    return "ci" if environ.get("CI", "").strip().lower() not in ("", "0", "false", "no") else "dev"


settings.load_profile(hypothesis_profile(os.environ))

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


@pytest.fixture
def cpu_backend():
    """Make ``cpu`` the active backend (the native loop's; skipped where it is not built) and put
    the previous one back. A module that needs it throughout says
    ``pytestmark = pytest.mark.usefixtures("cpu_backend")``."""
    status = axonal.backends()["cpu"]
    if status != "available":
        pytest.skip(f"the cpu backend is not available: {status}")
    previous = backend_name()
    axonal.set_backend("cpu")
    yield "cpu"
    axonal.set_backend(previous)
