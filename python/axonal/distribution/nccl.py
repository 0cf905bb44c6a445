"""Data parallelism on GPUs: the gradients of a ``cuda`` model summed over the ranks with NCCL, on
the step's stream, inside the captured CUDA graph (docs/distributed.md, "Several GPUs").

One rank per GPU. :func:`select_device` makes this rank's GPU current before the model's device
(its stream) is created. :func:`communicator` bootstraps NCCL over MPI: rank 0 draws the
``ncclUniqueId``, mpi4py broadcasts it, every rank joins (``ncclCommInitRank`` through cupy's
binding ``cupy.cuda.nccl``). :class:`GradientBuckets` lays the model's gradients out in one flat
device buffer in the order backward finishes them, cut into buckets of about ``bucket_bytes``,
and reduces each bucket **while backward goes on**: as soon as the layers whose gradients fill a
bucket are done, an event recorded on the step's stream forks a communication stream, which
queues that bucket's in-place ``ncclAllReduce`` (or, with ``deterministic=True``, an
``ncclAllGather`` followed by a sum in rank order by axonal's own kernels, so that every rank and
every rerun gets the same bits whatever NCCL's algorithm); before the optimiser's update the step's
stream waits on an event recorded on the communication stream after the last bucket (the join).
Inside a stream capture this fork/join is what CUDA graphs record across streams, so every replay
of the step's graph overlaps the reductions with the rest of backward again. :func:`wait` waits for the stream while watching the side channel and the deadline,
and aborts the NCCL communicator when another rank failed, so no rank hangs in a collective.

The library: cupy 14's ``cupy.cuda.nccl`` imports ``cupy_backends.cuda.libs.nccl``, which needs
``libnccl.so.2`` loadable by that name (else ``cupy.cuda.nccl.available`` is False). The
``nvidia-nccl-cu13`` wheel puts it in ``site-packages/nvidia/nccl/lib``, off the loader's path, so
:func:`load_nccl` opens that copy first (``RTLD_GLOBAL``): a library already loaded under its soname
satisfies the later lookup. ``pip install 'axonal[cuda13-nccl]'``: no system NCCL is needed.
"""
from __future__ import annotations

import ctypes
import importlib.util
import time
from pathlib import Path

import numpy as np

from axonal.distribution.communicator import DistributedError

NCCL_FLOAT32, NCCL_SUM = 7, 0  # ncclFloat32, ncclSum (nccl.h); cupy's constants are used when it has them


def load_nccl():
    """``cupy.cuda.nccl``, with the ``nvidia-nccl-cu13`` wheel's library loaded first if installed."""
    spec = importlib.util.find_spec("nvidia.nccl") if importlib.util.find_spec("nvidia") else None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        library = Path(folder) / "lib" / "libnccl.so.2"
        if library.exists():
            ctypes.CDLL(str(library), mode=ctypes.RTLD_GLOBAL)
            break
    import cupy

    try:
        from cupy.cuda import nccl
    except ImportError:
        nccl = getattr(cupy.cuda, "nccl", None)
    if nccl is None or not getattr(nccl, "available", True) or not hasattr(nccl, "NcclCommunicator"):
        raise ImportError("DataParallel on the cuda backend needs NCCL through cupy.cuda.nccl, which is not available. "
                          "Fix: pip install 'axonal[cuda13-nccl]' (the nvidia-nccl-cu13 wheel) or a cupy built with NCCL.")
    return nccl


def local_rank(communicator) -> int:
    """This rank's place among the ranks on its host (MPI's shared-memory split)."""
    return communicator.host().Get_rank()


def parse_devices(devices) -> list[int]:
    """GPU indices from Keras' device names ("gpu:0", "cuda:1") or integers."""
    if isinstance(devices, (str, int)) or not hasattr(devices, "__iter__"):
        devices = [devices]
    indices = []
    for device in devices:
        text = str(device).lower()
        kind, _, number = text.rpartition(":")
        if isinstance(device, bool) or kind not in ("", "gpu", "cuda") or not number.isdigit():
            raise ValueError(f"DataParallel: devices must name GPUs as 'gpu:0', 'gpu:1'... (or their indices), "
                             f"received {device!r}. Fix: e.g. DataParallel(devices=['gpu:0', 'gpu:1']).")
        indices.append(int(number))
    if not indices:
        raise ValueError("DataParallel: devices is empty. Fix: devices=None (one GPU per rank, by local rank) or "
                         "a list such as ['gpu:0', 'gpu:1'].")
    return indices


def select_device(communicator, devices) -> int:
    """Make this rank's GPU current: ``devices[local rank]`` (None: the local rank, modulo the GPUs
    visible), so that the ranks on one host take one GPU each. Returns the GPU index."""
    import cupy

    place = local_rank(communicator)
    if devices is None:
        index = place % max(1, int(cupy.cuda.runtime.getDeviceCount()))
    else:
        listed = parse_devices(devices)
        if place >= len(listed):
            raise ValueError(f"DataParallel(devices={devices!r}): rank {communicator.rank} is rank {place} on its host, "
                             f"but only {len(listed)} device(s) are listed. Fix: list one GPU per rank on the host, "
                             "or start fewer ranks per host.")
        index = listed[place]
    cupy.cuda.Device(index).use()
    return index


def communicator(distribution, device):
    """The job's NCCL communicator (made once per distribution, on the current GPU): rank 0's
    unique id broadcast over MPI, then every rank joins."""
    comm = getattr(distribution, "_nccl", None)
    if comm is not None:
        return comm
    mpi_side = distribution.communicator
    nccl = load_nccl()
    identity = np.asarray(nccl.get_unique_id(), dtype=np.int8).tobytes() if mpi_side.rank == 0 else None
    identity = mpi_side.broadcast_bytes(identity, 0, "the broadcast of NCCL's unique id")
    comm = nccl.NcclCommunicator(mpi_side.size, tuple(np.frombuffer(identity, dtype=np.int8).tolist()), mpi_side.rank)
    distribution._nccl = comm
    mpi_side.on_failure.append(comm.abort)  # a failing rank ends its NCCL communicator: peers stop waiting
    return comm


def pointer(array) -> int:
    """The device address of a (cupy) array."""
    return int(array.__cuda_array_interface__["data"][0])


class GradientBuckets:
    """A model's trainable gradients as views of one flat float32 device buffer, and the reduction of
    that buffer in buckets on a communication stream, each started as soon as backward has
    finished its gradients.

    A step calls :meth:`start` before backward, :meth:`layer_done` after each layer's backward (the
    plan runner's ``after_layer`` hook: that layer's gradients are final), then :meth:`finish`
    before the update. Buckets are launched in order (every rank issues the same collectives in
    the same order, as NCCL requires), each once all of its gradients and the earlier buckets' are
    final; :meth:`finish` launches the rest and joins the communication stream back.

    Args:
        distribution: the :class:`~axonal.distribution.DataParallel` (rank, size, bucket size, mode).
        device: the model's device (array module, ops, stream).
        gradients: the host gradient arrays in the order backward finishes them.

    Example (what ``DeviceModel.train_step`` does)::

        buckets.start()
        runner.backward(doutputs, after_layer=buckets.layer_done)
        buckets.finish()   # the step's stream now waits for every bucket's sum
    """

    def __init__(self, distribution, device, gradients: list[np.ndarray]):
        self.device, self.size = device, distribution.size
        self.deterministic = distribution.deterministic
        self.comm = communicator(distribution, device)
        self.nccl = load_nccl()
        total = sum(int(g.size) for g in gradients)
        xp = device.xp
        self.flat = xp.empty(max(total, 1), dtype=np.float32)
        self.views, offset = [], 0
        for gradient in gradients:
            self.views.append(self.flat[offset:offset + gradient.size].reshape(gradient.shape))
            offset += int(gradient.size)
        # Buckets: consecutive arrays up to about bucket_bytes (closed at array boundaries, as the cpu
        # path); members[k]: the gradient arrays (indices into views) bucket k holds.
        limit = max(1, distribution.bucket_bytes // 4)
        self.buckets, self.members, start, offset, arrays = [], [], 0, 0, []
        for index, gradient in enumerate(gradients):
            offset += int(gradient.size)
            arrays.append(index)
            if offset - start >= limit:
                self.buckets.append((start, offset - start))
                self.members.append(arrays)
                start, arrays = offset, []
        if offset > start or arrays:
            self.buckets.append((start, offset - start))
            self.members.append(arrays)
        self.bucket_of = {id(view): k for k, arrays in enumerate(self.members) for view in
                          (self.views[i] for i in arrays)}
        widest = max((count for _, count in self.buckets), default=0)
        # Deterministic mode's scratch: ncclAllGather puts rank r's `count` values at r * count, so a
        # bucket's view of it is the first size * count values as (size, count), not rows of `widest`.
        self.gathered = xp.empty(self.size * max(widest, 1), dtype=np.float32) if self.deterministic else None
        # The communication stream and the events that fork it from the step's stream (one per
        # bucket) and join it back; made once, so a capture allocates nothing.
        self.stream = xp.cuda.Stream(non_blocking=True)
        self.forks = [xp.cuda.Event(disable_timing=True) for _ in self.buckets]
        self.joined = xp.cuda.Event(disable_timing=True)
        self.launched: list[int] = []  # the buckets launched in the step being queued, in order
        self._pending: list[int] = []  # per bucket: its arrays not final yet in this step

    def zero(self) -> None:
        """Queue a zeroing of every gradient (a rank with no rows in a step contributes zeros)."""
        self.device.xp.cuda.runtime.memsetAsync(pointer(self.flat), 0, self.flat.nbytes, self.device.stream.ptr)

    # ----- one step: start, layer_done after each layer's backward, finish --------------------

    def start(self) -> None:
        """A step's backward is about to be queued: no gradient is final yet."""
        self.launched = []
        self._pending = [len(arrays) for arrays in self.members]

    def layer_done(self, layer, dx=None) -> None:
        """``layer``'s backward is queued: its gradients are final; launch the buckets now complete."""
        for gradient in getattr(layer, "_gradients", {}).values():
            bucket = self.bucket_of.get(id(gradient))
            if bucket is not None:
                self._pending[bucket] -= 1
        while len(self.launched) < len(self.buckets) and self._pending[len(self.launched)] <= 0:
            self._launch(len(self.launched))

    def finish(self) -> None:
        """Launch the buckets not launched yet (all of them on a rank with no rows), then make the
        step's stream wait for the communication stream's work (the join, before the update)."""
        while len(self.launched) < len(self.buckets):
            self._launch(len(self.launched))
        self.joined.record(self.stream)
        self.device.stream.wait_event(self.joined)

    def _launch(self, k: int) -> None:
        """Bucket ``k``'s sum over the ranks, in place, on the communication stream, after the work
        queued so far on the step's stream (the backward kernels that wrote the bucket)."""
        nccl, stream = self.nccl, self.stream
        dtype, op = getattr(nccl, "NCCL_FLOAT32", NCCL_FLOAT32), getattr(nccl, "NCCL_SUM", NCCL_SUM)
        self.forks[k].record(self.device.stream)
        stream.wait_event(self.forks[k])
        self.launched.append(k)
        start, count = self.buckets[k]
        if count == 0:
            return
        address = pointer(self.flat) + 4 * start
        if not self.deterministic:
            self.comm.allReduce(address, address, count, dtype, op, stream.ptr)
            return
        # Every rank's bucket side by side, then summed in rank order by axonal's kernels:
        # ((g0 + g1) + g2) + ..., the same order, so the same bits, on every rank and rerun.
        self.comm.allGather(address, pointer(self.gathered), count, dtype, stream.ptr)
        bucket, parts = self.flat[start:start + count], self.gathered[:self.size * count].reshape(self.size, count)
        ops = self.device.ops
        with stream:  # the ops queue on cupy's current stream
            ops.scale(bucket, parts[0], 1.0)
            for r in range(1, self.size):
                ops.accumulate(bucket, parts[r])


def wait(distribution, device, what: str) -> None:
    """Wait until the device's stream has run what was queued (its collectives included), watching
    the side channel and the deadline: a notice from a failed rank, or the timeout, aborts the
    NCCL communicator (its pending collectives end) and raises :class:`DistributedError`."""
    stream = device.stream
    try:
        distribution.communicator.wait_until(lambda: stream.done, what, "a run of steps")
        comm = getattr(distribution, "_nccl", None)
        if comm is not None and hasattr(comm, "check_async_error"):
            comm.check_async_error()
    except DistributedError:
        _abort(distribution)
        raise
    except Exception as error:  # noqa: BLE001 - NCCL's asynchronous error: said with the other ranks' word
        raise device_failure(distribution, error, what) from error


def _abort(distribution) -> None:
    comm = getattr(distribution, "_nccl", None)
    if comm is not None:
        try:
            comm.abort()
        except Exception:  # noqa: BLE001 - already failing; the DistributedError says why
            pass


def device_failure(distribution, error: BaseException, what: str) -> DistributedError:
    """The error to raise when the device failed during a data-parallel run (an NCCL collective
    ended because a peer aborted, say): the failing rank's own message when it posted one on the
    side channel (waited for a few seconds: it may still be on its way), else this error."""
    mpi_side = distribution.communicator
    mpi_side.failed = True
    _abort(distribution)
    deadline = time.monotonic() + min(5.0, mpi_side.timeout)
    while True:
        try:
            mpi_side.check_side_channel(what)
        except DistributedError as notice:
            return notice
        if time.monotonic() > deadline:
            return DistributedError(f"rank {mpi_side.rank}: {what} failed on the device: {type(error).__name__}: {error}")
        time.sleep(1e-3)

