"""Data-parallel training over processes and machines, in the shape of ``keras.distribution``.

A classic script becomes data-parallel with two lines, and is started by an MPI launcher::

    import axonal
    axonal.distribution.set_distribution(axonal.distribution.DataParallel())   # the two lines
    ...
    model.fit(x, y, batch_size=128, epochs=10)   # batch_size stays the *global* batch

    $ mpiexec -n 4 python train.py

Every rank runs the same script on the same data; ``fit`` then broadcasts rank 0's initial
weights, splits each global batch of one shared shuffle into contiguous shards, sums the
gradients inside the native training loop (MPI, in buckets, overlapping backward), and reduces the
loss, metrics and validation so that every rank logs the same numbers and every callback decides
alike; only rank 0 writes files. Without a launcher everything here is a no-op of one process
(rank 0 of 1) and MPI is never loaded. See ``docs/distributed.md``.

Functions for hand-written loops: :func:`rank`, :func:`size`, :func:`is_chief`,
:func:`allreduce`, :func:`broadcast`, :func:`barrier`.
"""
from __future__ import annotations

import contextlib

import numpy as np

from axonal.distribution.communicator import Communicator, DistributedError, resolve_timeout
from axonal.distribution.launcher import import_mpi, wants_mpi
from axonal.distribution.sharding import shard_bounds, shard_sizes
from axonal.distribution.single import SingleProcess

__all__ = ["DataParallel", "DistributedError", "allreduce", "barrier", "broadcast", "distribution", "initialize",
           "is_chief", "rank", "scope", "set_distribution", "shard_bounds", "shard_sizes", "size"]

_communicator = None   # set once by initialize()
_distribution = None   # set by set_distribution() / scope()


def initialize(timeout: float | None = None):
    """Join the job the MPI launcher started (once; later calls return the same communicator).

    Without a launcher (no ``PMI_SIZE``, ``OMPI_COMM_WORLD_SIZE``... in the environment, see
    :mod:`axonal.distribution.launcher`) this is a no-op that returns a one-process stand-in:
    mpi4py is not imported. Under a launcher mpi4py is imported (a clear ImportError names the
    launcher and the fix when it is missing), and, unless the thread count is pinned
    (``OMP_NUM_THREADS``, ``set_num_threads``), each rank's threads become its share of its host's
    cores (``mpiexec -n 2`` on 8 cores: 4 each).

    Args:
        timeout: seconds any collective may wait for the other ranks before raising
            :class:`DistributedError` (None: ``$AXONAL_DISTRIBUTED_TIMEOUT``, else 300).

    Returns:
        The communicator: ``rank``, ``size`` and the collectives.
    """
    global _communicator
    if _communicator is None:
        if wants_mpi():
            mpi = import_mpi()
            _communicator = Communicator(mpi, mpi.COMM_WORLD, timeout)
            if _communicator.size > 1:  # each rank's share of its host's cores, unless the user pinned a count
                from axonal.models.executors.threads import share_cores

                share_cores(_communicator.cores_per_rank())
                _agree_on_gemm(_communicator)
        else:
            resolve_timeout(timeout)  # a bad value is refused here too
            _communicator = SingleProcess()
    return _communicator


def _agree_on_gemm(communicator) -> None:
    """Every rank runs rank 0's GEMM (measured or read back there, or pinned by ``AXONAL_GEMM``),
    or the library everywhere if some rank cannot run the own one (no AVX-512): the two give
    different bits, and a run must not depend on what each host measured."""
    try:
        from axonal import _native
    except ImportError:  # a build without the cpu backend: no GEMM to agree on
        return
    chosen = communicator.broadcast_bytes(_native.get_gemm().encode() if communicator.rank == 0 else None, 0,
                                          "the choice of GEMM").decode()
    able = np.array([chosen == "blas" or _native.get_isa() == "avx512"], dtype=np.int64)
    if communicator.allreduce(able, "min", "the choice of GEMM")[0] == 0:
        _native.set_gemm("blas", "the library on every rank: a rank cannot run rank 0's own GEMM (no AVX-512)")
    else:
        _native.set_gemm(chosen, f"rank 0's choice, so that every rank gives the same bits (rank 0: "
                                 f"{_native.gemm_choice() if communicator.rank == 0 else 'see its show_config()'})")


def rank() -> int:
    """This process's rank in the job (0 without a launcher)."""
    return initialize().rank


def size() -> int:
    """The number of processes in the job (1 without a launcher)."""
    return initialize().size


def is_chief() -> bool:
    """Whether this is rank 0, the process that writes files and prints progress."""
    return initialize().rank == 0


def allreduce(x, op: str = "sum") -> np.ndarray:
    """The element-wise ``op`` (``"sum"``, ``"mean"``, ``"max"``, ``"min"``) of ``x`` over the ranks,
    on every rank; sums in rank order, so every rank gets the same bits.

    Example:
        >>> total = axonal.distribution.allreduce(np.array([local_loss * rows, rows]))
    """
    return initialize().allreduce(_array("allreduce", x), op)


def broadcast(x, root: int = 0) -> np.ndarray:
    """Rank ``root``'s ``x`` on every rank (same shape and dtype on every rank)."""
    communicator = initialize()
    if isinstance(root, bool) or not isinstance(root, (int, np.integer)) or not 0 <= root < communicator.size:
        raise ValueError(f"broadcast: root must be a rank in [0, {communicator.size}), received {root!r}.")
    return communicator.broadcast(_array("broadcast", x), int(root))


def barrier() -> None:
    """Wait until every rank has reached this call."""
    initialize().barrier()


def _array(where: str, x) -> np.ndarray:
    array = np.asarray(x)
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise TypeError(f"{where}: x must be a numeric NumPy array (or convertible to one), received "
                        f"{type(x).__name__} of dtype {array.dtype}. Fix: pass np.asarray(values, np.float64).")
    return np.ascontiguousarray(array)


class DataParallel:
    """Data parallelism: every rank holds the whole model and trains on its shard of each batch.

    Args:
        devices: Keras' argument, for ``cuda`` models (one rank per GPU, gradients summed by
            NCCL): the GPUs of a host, ``["gpu:0", "gpu:1", ...]``, of which the rank with local
            rank ``i`` takes entry ``i``. None: on the ``cuda`` backend, the local rank's GPU
            (modulo the GPUs visible); on the CPU backends, none.
        deterministic: sum the gradients in rank order from an allgather of each bucket instead
            of MPI's allreduce, so the weights are bit-identical across reruns whatever the MPI's
            algorithm (slower on many ranks: each receives every rank's gradients).
        bucket_bytes: gradients are reduced in buckets of about this many bytes, each started as
            soon as backward has finished its gradients (default 1 MiB).
        shared_memory: when every rank runs on one host, sum the CPU gradients through an MPI
            shared-memory window (each rank writes its gradients once and sums its share of
            every bucket, always in rank order) instead of MPI's allreduce, which copies each
            bucket several times. False: always MPI's allreduce. Ranks on several hosts always
            use MPI's allreduce.
        timeout: seconds a collective may wait for another rank (None:
            ``$AXONAL_DISTRIBUTED_TIMEOUT``, else 300).

    Example:
        >>> axonal.distribution.set_distribution(axonal.distribution.DataParallel())
    """

    def __init__(self, devices=None, deterministic: bool = False, bucket_bytes: int = 1 << 20,
                 timeout: float | None = None, shared_memory: bool = True):
        if devices is not None:
            from axonal.distribution.nccl import parse_devices

            parse_devices(devices)  # a bad name is refused before anything starts
        if not isinstance(deterministic, (bool, np.bool_)):
            raise TypeError(f"DataParallel: deterministic must be True or False, received {deterministic!r}.")
        if isinstance(bucket_bytes, bool) or not isinstance(bucket_bytes, (int, np.integer)) or bucket_bytes < 4:
            raise ValueError(f"DataParallel: bucket_bytes must be an integer >= 4, received {bucket_bytes!r}. "
                             "Fix: e.g. bucket_bytes=1 << 20.")
        if not isinstance(shared_memory, (bool, np.bool_)):
            raise TypeError(f"DataParallel: shared_memory must be True or False, received {shared_memory!r}.")
        resolved = resolve_timeout(timeout)  # a bad value is refused before anything starts
        self.deterministic, self.bucket_bytes = bool(deterministic), int(bucket_bytes)
        self.shared_memory = bool(shared_memory)
        self.communicator = initialize(timeout)
        if timeout is not None and isinstance(self.communicator, Communicator):
            self.communicator.timeout = resolved
        self.devices, self.device_index = devices, None
        if isinstance(self.communicator, Communicator) and (devices is not None or _backend_is_cuda()):
            # One GPU per rank, made current now: the model's device (its stream) is created on it.
            from axonal.distribution.nccl import select_device

            self.device_index = select_device(self.communicator, devices)

    @property
    def rank(self) -> int:
        return self.communicator.rank

    @property
    def size(self) -> int:
        return self.communicator.size

    @property
    def is_chief(self) -> bool:
        return self.communicator.rank == 0

    @contextlib.contextmanager
    def scope(self):
        """Make this the distribution inside a ``with`` block (the previous one is restored)."""
        global _distribution
        previous, _distribution = _distribution, self
        try:
            yield self
        finally:
            _distribution = previous

    def __repr__(self) -> str:
        return (f"DataParallel(rank={self.rank}, size={self.size}, deterministic={self.deterministic}, "
                f"bucket_bytes={self.bucket_bytes}, shared_memory={self.shared_memory})")


def _backend_is_cuda() -> bool:
    from axonal.backend import backend_name

    return backend_name() == "cuda"


def set_distribution(value: DataParallel | None) -> None:
    """Make ``value`` the distribution ``fit``, ``evaluate`` and ``predict`` obey (None: none)."""
    global _distribution
    if value is not None and not isinstance(value, DataParallel):
        raise TypeError(f"set_distribution: expected a DataParallel or None, received {type(value).__name__}. "
                        "Fix: set_distribution(axonal.distribution.DataParallel()).")
    _distribution = value


def distribution() -> DataParallel | None:
    """The distribution set by :func:`set_distribution` or the current :meth:`DataParallel.scope`."""
    return _distribution


def scope(value: DataParallel | None = None):
    """``value.scope()`` (or the current distribution's): ``with axonal.distribution.scope(dp): ...``."""
    value = value if value is not None else _distribution
    if value is None:
        raise ValueError("scope(): no distribution given and none is set. Fix: scope(DataParallel()).")
    return value.scope()


def active() -> DataParallel | None:
    """The distribution when it spans more than one process (what the model calls act on), else None."""
    value = _distribution
    return value if value is not None and value.size > 1 else None
