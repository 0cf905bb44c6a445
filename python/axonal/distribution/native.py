"""The native loop's gradient reducer for a :class:`~axonal.distribution.DataParallel`: an
``axonal._native.MpiReducer`` made from mpi4py's handles (``cpp/collectives.h``). When every rank
runs on one host (and ``shared_memory`` is on), it sums through an MPI shared-memory window on the
host's communicator (``cpp/shared_memory_reducer.h``) rather than MPI's allreduce.

The C++ side calls MPI without axonal having been built against any MPI: it finds the functions
with ``dlsym`` in the libmpi that mpi4py loaded, and takes the communicator, ``MPI_FLOAT``,
``MPI_DOUBLE`` and ``MPI_SUM`` handles as mpi4py holds them (``MPI._handleof``) together with
their size (``MPI._sizeof(MPI.Comm)``: 4 for MPICH's ``int`` handles, 8 for Open MPI's and the
MPI-5 ABI's pointers). Native collective failures (a fault notice from another rank, the
deadline) come back as ``_native.CollectiveError`` and are turned into :class:`DistributedError`
with the failing rank's own message, read from the side channel.
"""
from __future__ import annotations

import contextlib

import numpy as np

from axonal.distribution.communicator import FAULT_TAG, DistributedError


def make_reducer(distribution):
    """An ``MpiReducer`` over the distribution's communicator (kept on it: one per job)."""
    reducer = getattr(distribution, "_native_reducer", None)
    if reducer is not None:
        return reducer
    from axonal import _native

    communicator = distribution.communicator
    mpi = communicator.mpi
    def handle(obj) -> int:
        # mpi4py gives the handle as an unsigned integer: MPICH's negative int handles (a dup'd
        # communicator's, say) arrive sign-extended to 64 bits; the C++ side takes a signed one.
        value = int(mpi._handleof(obj))
        return value - (1 << 64) if value >= 1 << 63 else value

    node = host_communicator(communicator) if distribution.shared_memory else None
    reducer = _native.MpiReducer(
        comm=handle(communicator.comm), float_type=handle(mpi.FLOAT), double_type=handle(mpi.DOUBLE),
        sum_op=handle(mpi.SUM), side_comm=handle(communicator.side), side_tag=FAULT_TAG,
        any_source=int(mpi.ANY_SOURCE), handle_bytes=int(mpi._sizeof(mpi.Comm)), rank=communicator.rank,
        size=communicator.size, deterministic=distribution.deterministic, bucket_bytes=distribution.bucket_bytes,
        timeout_seconds=communicator.timeout, shared_memory=node is not None,
        node_comm=handle(node) if node is not None else 0, info_null=handle(mpi.INFO_NULL))
    distribution._native_reducer = reducer
    return reducer


def host_communicator(communicator):
    """The host's communicator (``Communicator.host``) if every rank runs on this host, else None
    (ranks on several hosts: MPI's allreduce)."""
    if communicator.size < 2:
        return None
    node = communicator.host()
    whole = communicator.allgather(np.array([node.Get_size()], dtype=np.int64), "the host check")
    return node if int(whole.min()) == communicator.size else None


@contextlib.contextmanager
def collective_errors(communicator, what: str):
    """Turn a native ``CollectiveError`` into :class:`DistributedError`, with the failing rank's
    message when one was posted on the side channel."""
    from axonal import _native

    try:
        yield
    except _native.CollectiveError as error:
        communicator.failed = True
        communicator.check_side_channel(what)  # raises with the other rank's own message, if it sent one
        raise DistributedError(f"rank {communicator.rank}: {what}: {error}") from None
