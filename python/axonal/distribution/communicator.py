"""The processes of a data-parallel job and their collectives, over MPI (mpi4py).

Every wait polls instead of blocking, so that no rank can hang for ever on a collective that
another rank will never join: while it waits, a rank also watches a *side channel* (a duplicate
communicator on which a failing rank posts "rank r failed: cause" to every other rank, see
:meth:`Communicator.notify_failure`) and a deadline (``AXONAL_DISTRIBUTED_TIMEOUT`` seconds,
default 300). Either ends the wait with a :class:`DistributedError` naming the rank and the cause.

The collectives of the job run on their own duplicate of the launcher's communicator, so that the
library's messages never match a user's own MPI calls on ``COMM_WORLD``.
"""
from __future__ import annotations

import atexit
import os
import sys
import time

import numpy as np

TIMEOUT_VARIABLE = "AXONAL_DISTRIBUTED_TIMEOUT"
DEFAULT_TIMEOUT = 300.0
FAULT_TAG = 7031  # the side channel's one tag


class DistributedError(RuntimeError):
    """A collective could not complete: another rank failed (its rank and cause are in the
    message), the ranks disagree about the run, or the timeout passed."""


def resolve_timeout(timeout: float | None) -> float:
    """``timeout`` seconds, else ``$AXONAL_DISTRIBUTED_TIMEOUT``, else 300."""
    if timeout is None:
        text = os.environ.get(TIMEOUT_VARIABLE)
        if text is None:
            return DEFAULT_TIMEOUT
        try:
            timeout = float(text)
        except ValueError:
            raise ValueError(f"{TIMEOUT_VARIABLE} must be a number of seconds, received {text!r}. "
                             f"Fix: export {TIMEOUT_VARIABLE}=300.") from None
    if isinstance(timeout, bool) or not timeout > 0:
        raise ValueError(f"the distributed timeout must be a positive number of seconds, received {timeout!r}. "
                         "Fix: e.g. DataParallel(timeout=300).")
    return float(timeout)


_REDUCTIONS = {"sum": np.add, "max": np.maximum, "min": np.minimum}


class Communicator:
    """``size`` processes of one job, this one ``rank``; collectives on NumPy arrays.

    Args:
        mpi: the ``mpi4py.MPI`` module.
        comm: the launcher's communicator (``MPI.COMM_WORLD``); duplicated, never used directly.
        timeout: seconds a wait may last (None: the environment's, else 300).
    """

    def __init__(self, mpi, comm, timeout: float | None = None):
        self.mpi = mpi
        self.comm = comm.Dup()   # the library's collectives
        self.side = comm.Dup()   # fault notices only
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.timeout = resolve_timeout(timeout)
        self.failed = False      # a fault was seen or sent: the process must not finalize MPI
        self.on_failure: list = []  # called when this rank fails (the NCCL communicator's abort)
        self._host = None          # host(): the ranks on this host
        atexit.register(self._exit_after_fault)

    # ----- waits, faults ---------------------------------------------------------------------

    def wait(self, request, what: str) -> None:
        """Wait for ``request`` while watching the side channel and the deadline."""
        self.wait_until(request.Test, what)

    def wait_until(self, done, what: str, unit: str = "a step") -> None:
        """Poll ``done()`` until it is true (an MPI request, a device stream), watching the side
        channel and the deadline; ``unit`` names, in the timeout's message, what may take long."""
        deadline = time.monotonic() + self.timeout
        pause = 0.0
        while not done():
            self.check_side_channel(what)
            if time.monotonic() > deadline:
                self.failed = True
                raise DistributedError(
                    f"rank {self.rank}: {what} did not complete within {self.timeout:g} s: another rank "
                    f"is stuck or gone. Fix: look at the other ranks' output; raise {TIMEOUT_VARIABLE} if "
                    f"{unit} legitimately takes longer.")
            time.sleep(pause)
            pause = min(pause * 2 + 1e-5, 2e-3)  # spin briefly, then yield the core to the other ranks

    def check_side_channel(self, what: str = "a collective") -> None:
        """Raise :class:`DistributedError` if another rank has posted a fault notice."""
        status = self.mpi.Status()
        if self.side.Iprobe(source=self.mpi.ANY_SOURCE, tag=FAULT_TAG, status=status):
            message = self.side.recv(source=status.Get_source(), tag=FAULT_TAG)
            self.failed = True
            raise DistributedError(f"rank {self.rank} stopped while waiting for {what}: {message}")

    def notify_failure(self, cause: BaseException | str) -> None:
        """Tell every other rank that this one failed (non-blocking; called once per fault)."""
        if self.failed:
            return  # the fault came from elsewhere: its rank has told everyone already
        self.failed = True
        text = cause if isinstance(cause, str) else f"{type(cause).__name__}: {cause}"
        message = f"rank {self.rank} failed: {text}"
        self._notices = [self.side.issend(message, dest=r, tag=FAULT_TAG) for r in range(self.size) if r != self.rank]
        for hook in self.on_failure:
            try:
                hook()
            except Exception:  # noqa: BLE001 - already failing; the notice above says why
                pass

    def _exit_after_fault(self) -> None:
        # After a fault, collectives are left pending on some ranks and MPI_Finalize (run by mpi4py
        # after the atexit handlers) could wait on them for ever: leave without it, as Horovod does.
        if not self.failed:
            return
        notices = getattr(self, "_notices", [])
        if notices:
            # The rank that failed: a launcher kills every rank once one exits with an error, so
            # first let the others receive the notice (a synchronous send completes when they have)
            # and print their own message.
            deadline = time.monotonic() + min(self.timeout, 30.0)
            while not all(notice.Test() for notice in notices) and time.monotonic() < deadline:
                time.sleep(1e-3)
            time.sleep(1.0)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)

    def host(self):
        """The ranks on this rank's host, in rank order (MPI's shared-memory split; made once, by
        every rank at the same call, and kept: the native reducer holds its handle)."""
        if self._host is None:
            self._host = self.comm.Split_type(self.mpi.COMM_TYPE_SHARED, key=self.rank)
        return self._host

    def cores_per_rank(self) -> int:
        """This rank's share of its host's cores: the cores it may run on divided among the ranks
        on its host, or, when the launcher bound each rank to cores of its own (an affinity smaller
        than the host), those cores."""
        usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return max(1, usable // self.host().Get_size()) if usable >= (os.cpu_count() or usable) else usable

    # ----- collectives -----------------------------------------------------------------------

    def barrier(self) -> None:
        self.wait(self.comm.Ibarrier(), "barrier")

    def allgather(self, array: np.ndarray, what: str = "allgather") -> np.ndarray:
        """Every rank's ``array`` (same shape and dtype everywhere), stacked: (size, ...)."""
        array = np.ascontiguousarray(array)
        out = np.empty((self.size, *array.shape), dtype=array.dtype)
        self.wait(self.comm.Iallgather(array, out), what)
        return out

    def allreduce(self, array: np.ndarray, op: str = "sum", what: str = "allreduce") -> np.ndarray:
        """The element-wise ``op`` ("sum", "mean", "max", "min") of every rank's ``array``.

        Sums are taken in rank order from an allgather, so they do not depend on the MPI's
        reduction algorithm: every rank gets the same bits, on every run."""
        if op not in (*_REDUCTIONS, "mean"):
            raise ValueError(f"allreduce: op must be one of 'sum', 'mean', 'max', 'min', received {op!r}.")
        gathered = self.allgather(array, what)
        out = gathered[0].copy()
        for part in gathered[1:]:
            _REDUCTIONS["sum" if op == "mean" else op](out, part, out=out)
        if op == "mean":
            out = out / self.size
        return out

    def broadcast(self, array: np.ndarray, root: int = 0, what: str = "broadcast") -> np.ndarray:
        """Rank ``root``'s ``array`` on every rank (in place when ``array`` is contiguous and writable)."""
        target = array if array.flags.c_contiguous and array.flags.writeable else np.ascontiguousarray(array).copy()
        self.wait(self.comm.Ibcast(target, root=root), what)
        return target

    def allgather_rows(self, part: np.ndarray, counts: list[int], what: str = "the gather of predictions") -> np.ndarray:
        """Every rank's rows, concatenated in rank order: rank r gives ``counts[r]`` rows of
        ``part``'s trailing shape and dtype."""
        part = np.ascontiguousarray(part)
        row_bytes = int(np.prod(part.shape[1:], dtype=np.int64)) * part.itemsize
        out = np.empty((sum(counts), *part.shape[1:]), dtype=part.dtype)
        sizes = [c * row_bytes for c in counts]
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64).tolist()
        send = part.reshape(-1).view(np.uint8)
        receive = out.reshape(-1).view(np.uint8)
        self.wait(self.comm.Iallgatherv([send, self.mpi.BYTE], [receive, (sizes, offsets), self.mpi.BYTE]), what)
        return out

    def broadcast_bytes(self, data: bytes | None, root: int = 0, what: str = "broadcast") -> bytes:
        """Rank ``root``'s bytes on every rank (``data`` is ignored elsewhere)."""
        length = np.array([len(data) if self.rank == root else 0], dtype=np.int64)
        self.broadcast(length, root, what)
        buffer = np.frombuffer(data, dtype=np.uint8).copy() if self.rank == root else np.empty(int(length[0]), np.uint8)
        return self.broadcast(buffer, root, what).tobytes()
