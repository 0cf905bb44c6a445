"""Files under a distribution: only rank 0 writes, and a file is read once, by rank 0, and its
bytes broadcast (the other ranks need no shared file system, and never read a file while rank 0
may be replacing it)."""
from __future__ import annotations

import contextlib
import os

import numpy as np

from axonal.distribution import active


def writes_files() -> bool:
    """Whether this process writes files: always without a distribution, else rank 0 only."""
    distribution = active()
    return distribution is None or distribution.is_chief


@contextlib.contextmanager
def chief_copy(filepath):
    """A path to read ``filepath`` from: itself without a distribution; under one, a private copy
    of the bytes rank 0 read (an error reading it is raised on every rank, with rank 0's message)."""
    distribution = active()
    if distribution is None:
        yield filepath
        return
    import tempfile  # here, not at import: `import axonal` stays fast (tests/test_import_surface.py)
    from pathlib import Path

    communicator = distribution.communicator
    data, problem = None, ""
    if distribution.is_chief:
        try:
            data = Path(os.fspath(filepath)).read_bytes()
        except OSError as error:
            problem = f"{type(error).__name__}: {error}"
    problem = communicator.broadcast_bytes(problem.encode(), 0, "the broadcast of a file").decode()
    if problem:
        raise OSError(f"rank 0 could not read {os.fspath(filepath)!r} for every rank: {problem}")
    data = communicator.broadcast_bytes(data, 0, "the broadcast of a file")
    if distribution.is_chief:
        yield filepath
        return
    with tempfile.TemporaryDirectory(prefix="axonal-rank-") as folder:
        copy = Path(folder) / Path(os.fspath(filepath)).name
        copy.write_bytes(np.frombuffer(data, dtype=np.uint8).tobytes())
        yield copy
