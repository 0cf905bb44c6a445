"""The one-process stand-in for :class:`~axonal.distribution.communicator.Communicator`, used when
no MPI launcher started this process: rank 0 of 1, and every collective returns its input."""
from __future__ import annotations

import numpy as np


class SingleProcess:
    """Rank 0 of a job of one process; MPI is never loaded."""

    rank, size, failed = 0, 1, False

    def barrier(self) -> None:
        pass

    def allgather(self, array, what: str = "allgather") -> np.ndarray:
        return np.asarray(array)[None].copy()

    def allreduce(self, array, op: str = "sum", what: str = "allreduce") -> np.ndarray:
        if op not in ("sum", "mean", "max", "min"):
            raise ValueError(f"allreduce: op must be one of 'sum', 'mean', 'max', 'min', received {op!r}.")
        return np.array(array, copy=True)

    def broadcast(self, array, root: int = 0, what: str = "broadcast") -> np.ndarray:
        if root != 0:
            raise ValueError(f"broadcast: root must be a rank in [0, 1), received {root!r}.")
        return np.asarray(array)

    def allgather_rows(self, part, counts, what: str = "") -> np.ndarray:
        return np.asarray(part)

    def broadcast_bytes(self, data, root: int = 0, what: str = "broadcast") -> bytes:
        return data

    def check_side_channel(self, what: str = "") -> None:
        pass

    def notify_failure(self, cause) -> None:
        pass
