"""The part of ``cupy.cuda.nccl`` that axonal uses, for the host emulation of the GPU (README.md
here): one emulated device per ``mpiexec`` rank, the collectives carried between the ranks over
mpi4py.

A collective is queued on its stream as a host-function node (``axonal_emu_launch_host_func`` in
runtime_api.cpp, cudaLaunchHostFunc's node): it runs when the stream reaches it, and while the
stream is captured it is recorded into the graph, so every replay of the graph performs the
collective again, as NCCL's kernels in a captured CUDA graph do. The memory is the emulated
device's (host memory): the node reads and writes it at the pointers it was given.

NCCL's behaviour kept here: a communicator is made from one unique id by every rank
(``ncclCommInitRank``; ranks that pass different ids, or a wrong count, fail); ``allReduce`` may be
in place; ``allGather`` puts rank r's ``count`` elements at ``r * count``; ``abort`` ends the
communicator, and a peer blocked in a collective then fails with ncclRemoteError (a real NCCL peer
sees the connection close). Not emulated: NCCL's own algorithms and summation order (MPI's sum is
used: every rank gets the same bits, as with NCCL), asynchrony (a collective blocks the thread that
queued or replayed it, polling), and NCCL's environment variables.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import time

import numpy as np

# ncclDataType_t and ncclRedOp_t values (nccl.h)
NCCL_INT8, NCCL_UINT8, NCCL_INT32, NCCL_UINT32, NCCL_INT64, NCCL_UINT64 = 0, 1, 2, 3, 4, 5
NCCL_FLOAT16, NCCL_FLOAT32, NCCL_FLOAT64 = 6, 7, 8
NCCL_SUM, NCCL_PROD, NCCL_MAX, NCCL_MIN = 0, 1, 2, 3
_DTYPES = {NCCL_INT32: np.int32, NCCL_INT64: np.int64, NCCL_FLOAT32: np.float32, NCCL_FLOAT64: np.float64}
_ABORT_TAG = 7099
_TIMEOUT_VARIABLE = "AXONAL_EMU_NCCL_TIMEOUT"  # seconds a collective waits for its peers (default 60)

_HOST_FUNCTION = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
_emulation = None       # the emulated extension (ctypes), set by host_cupy.install
_pending: dict[int, tuple] = {}   # node id -> (communicator, operation): what each queued node runs
_ids = iter(range(1, 1 << 62))
last_error: BaseException | None = None  # the failure of the last node that failed (read by host_cupy)


class NcclError(RuntimeError):
    """cupy.cuda.nccl.NcclError: a failed NCCL call (``status``: ncclResult_t)."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{_RESULT_NAMES.get(status, 'ncclInternalError')}: {message}")
        self.status = status


_RESULT_NAMES = {1: "ncclUnhandledCudaError", 2: "ncclSystemError", 3: "ncclInternalError",
                 4: "ncclInvalidArgument", 5: "ncclInvalidUsage", 6: "ncclRemoteError"}


def get_version() -> int:
    return 22800  # NCCL 2.28, the nvidia-nccl-cu13 wheel's series


def get_unique_id() -> tuple:
    """ncclGetUniqueId: 128 signed bytes, as cupy returns them."""
    return tuple(np.frombuffer(os.urandom(128), dtype=np.int8).tolist())


def groupStart() -> None:  # noqa: N802 - cupy's name
    pass


def groupEnd() -> None:  # noqa: N802 - cupy's name
    pass


@_HOST_FUNCTION
def _run_node(data):
    """The host function of every queued collective: ``data`` is its id in ``_pending``."""
    global last_error
    communicator, operation = _pending[data]
    try:
        communicator._check_usable()
        operation()
        return 0
    except BaseException as error:  # noqa: BLE001 - reported through the launch that ran the node
        communicator.error = error if isinstance(error, NcclError) else NcclError(3, str(error))
        last_error = communicator.error
        return 1


class NcclCommunicator:
    """ncclComm_t of ``ndev`` ranks made from ``commId`` (:func:`get_unique_id` of one rank,
    passed to every rank); this process is ``rank``."""

    def __init__(self, ndev: int, commId, rank: int):  # noqa: N803 - cupy's names
        from mpi4py import MPI

        self._mpi = MPI
        identity = np.asarray(commId, dtype=np.int8).tobytes()
        if len(identity) != 128:
            raise NcclError(4, f"commId must be 128 bytes, received {len(identity)}")
        color = int.from_bytes(hashlib.sha256(identity).digest()[:4], "little") & 0x3FFFFFFF
        self.comm = MPI.COMM_WORLD.Split(color, rank)  # the ranks that passed this id
        if self.comm.Get_size() != ndev or self.comm.Get_rank() != rank:
            raise NcclError(5, f"ncclCommInitRank: {self.comm.Get_size()} ranks joined id {identity[:4].hex()}... "
                               f"for a communicator of {ndev} (this rank {rank}, placed {self.comm.Get_rank()})")
        self.side = self.comm.Dup()  # abort notices
        self.ndev, self.rank = ndev, rank
        self.aborted, self.error = False, None
        self.timeout = float(os.environ.get(_TIMEOUT_VARIABLE, "60"))

    def rank_id(self) -> int:
        return self.rank

    def size(self) -> int:
        return self.ndev

    # ----- collectives (queued on `stream`, a stream handle) --------------------------------------

    def allReduce(self, sendbuf: int, recvbuf: int, count: int, datatype: int, op: int, stream: int) -> None:  # noqa: N802
        dtype = _dtype(datatype)
        if op != NCCL_SUM:
            raise NcclError(4, "the emulation implements ncclSum only")

        def operation():
            send = _array(sendbuf, count, dtype).copy()  # in place is allowed: read before writing
            self._wait(self.comm.Iallreduce(send, _array(recvbuf, count, dtype), op=self._mpi.SUM), "ncclAllReduce")
        self._queue(stream, operation, "ncclAllReduce")

    def allGather(self, sendbuf: int, recvbuf: int, count: int, datatype: int, stream: int) -> None:  # noqa: N802
        dtype = _dtype(datatype)

        def operation():
            send = _array(sendbuf, count, dtype).copy()
            self._wait(self.comm.Iallgather(send, _array(recvbuf, count * self.ndev, dtype)), "ncclAllGather")
        self._queue(stream, operation, "ncclAllGather")

    def bcast(self, buff: int, count: int, datatype: int, root: int, stream: int) -> None:
        dtype = _dtype(datatype)
        self._queue(stream, lambda: self._wait(self.comm.Ibcast(_array(buff, count, dtype), root=root), "ncclBcast"),
                    "ncclBcast")

    # ----- state ---------------------------------------------------------------------------------

    def abort(self) -> None:
        """ncclCommAbort: this communicator ends; its peers' pending and later collectives fail."""
        if self.aborted:
            return
        self.aborted = True
        self._notices = [self.side.issend(b"abort", dest=r, tag=_ABORT_TAG) for r in range(self.ndev) if r != self.rank]

    def destroy(self) -> None:
        self.aborted = True

    def check_async_error(self) -> None:
        if self.error is not None:
            raise self.error

    def _check_usable(self) -> None:
        if self.aborted:
            raise NcclError(5, "the communicator was aborted")
        if self.error is not None:
            raise self.error

    def _queue(self, stream: int, operation, label: str) -> None:
        global last_error
        self._check_usable()
        node = next(_ids)
        _pending[node] = (self, operation)
        captured = bool(_emulation.axonal_emu_is_capturing(stream))
        message = ctypes.create_string_buffer(1024)
        failed = _emulation.axonal_emu_launch_host_func(stream, _run_node, node, label.encode(), message, len(message))
        if not captured:  # it has run: a captured node stays for the graph's replays
            del _pending[node]
        if failed:
            error, last_error = last_error, None
            raise error if error is not None else RuntimeError(message.value.decode())

    def _wait(self, request, what: str) -> None:
        """Wait for an MPI request, failing when a peer aborts or the emulation's timeout passes."""
        deadline = time.monotonic() + self.timeout
        while not request.Test():
            if self.side.Iprobe(source=self._mpi.ANY_SOURCE, tag=_ABORT_TAG):
                self.error = NcclError(6, f"{what}: a remote rank aborted the communicator")
                raise self.error
            if time.monotonic() > deadline:
                self.error = NcclError(6, f"{what}: no peer answered within {self.timeout:g} s "
                                          f"(${_TIMEOUT_VARIABLE})")
                raise self.error
            time.sleep(1e-4)


def _dtype(datatype: int):
    if datatype not in _DTYPES:
        raise NcclError(4, f"datatype {datatype} is not emulated (int32, int64, float32, float64 are)")
    return _DTYPES[datatype]


def _array(pointer: int, count: int, dtype) -> np.ndarray:
    """``count`` elements of ``dtype`` of emulated device memory at ``pointer``."""
    if count == 0:
        return np.empty(0, dtype)
    buffer = (ctypes.c_char * (count * np.dtype(dtype).itemsize)).from_address(pointer)
    return np.frombuffer(buffer, dtype=dtype)


def install(emulation) -> None:
    """Bind to the emulated extension (ctypes) that queues the host functions."""
    global _emulation
    _emulation = emulation
    emulation.axonal_emu_launch_host_func.argtypes = [ctypes.c_size_t, _HOST_FUNCTION, ctypes.c_void_p,
                                                      ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
    emulation.axonal_emu_memset_async.argtypes = [ctypes.c_size_t, ctypes.c_int, ctypes.c_size_t, ctypes.c_size_t]
