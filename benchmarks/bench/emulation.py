"""The GPU session's rehearsal (``tools/gpu_session.sh --rehearse``): with ``AXONAL_CUDA_HOST`` set
to the host emulation's extension (tests/cuda_host/README.md), a benchmark process loads it as
``axonal._cuda`` and the emulation's cupy as ``cupy``, exactly as the test suite does, so every
step of the GPU session runs here before a GPU is lent. Its timings mean nothing (the "device" is
the host running one block at a time); what it shows is that the script, the runners and their
result checks work end to end. Without the variable nothing happens.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path


def install_if_requested() -> bool:
    """Install the host emulation when ``AXONAL_CUDA_HOST`` names it; whether it did."""
    extension = os.environ.get("AXONAL_CUDA_HOST")
    if not extension:
        return False
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
    from cuda_host import host_cupy

    host_cupy.install(extension)
    return True
