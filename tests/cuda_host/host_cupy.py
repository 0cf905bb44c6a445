"""The part of cupy that axonal's ``cuda`` backend and its tests use, on host memory, for the
emulated ``axonal._cuda`` (README.md here).

Arrays are NumPy arrays of a subclass, :class:`ndarray`, that carries a ``__cuda_array_interface__``
(so the real argument checks of ``axonal._cuda`` accept them, and reject plain NumPy arrays as they
would on a GPU). Streams are handles that the emulated runtime knows; capture and graphs are the
runtime's (``axonal_emu_*`` through ctypes). Work runs when it is queued, except while its stream is
captured. Where cupy would refuse something, this module refuses it too: mixing NumPy and device
arrays in one operation, ``set`` with another shape or dtype, reading a value back or running a
cupy operation while a stream is captured (cupy would capture the operation; axonal's steps queue
only their own kernels, so here it is an error that names the operation).

:func:`install` loads the emulated extension as ``axonal._cuda`` and this module as ``cupy``.
"""
from __future__ import annotations

import ctypes
import importlib.util
import itertools
import sys
import threading
import time
import types

import numpy as np

from . import host_nccl

FREE_BYTES = 16 << 30  # what memGetInfo reports as free (tests may lower it)
_emulation: ctypes.CDLL | None = None


class CaptureError(RuntimeError):
    """A use of the device that a stream capture does not allow."""


def _no_capture(what: str) -> None:
    if _emulation is not None and _emulation.axonal_emu_captures():
        raise CaptureError(f"host_cupy: {what} while a stream is being captured")


def _plain(value):
    """The NumPy view of a device array (for running the NumPy implementation on it)."""
    return value.view(np.ndarray) if isinstance(value, ndarray) else value


def _device(value):
    """NumPy results back as device arrays (scalars stay scalars)."""
    if isinstance(value, np.ndarray) and not isinstance(value, ndarray):
        return value.view(ndarray)
    if isinstance(value, tuple):
        return tuple(_device(v) for v in value)
    return value


def _reject_host_arrays(values, what: str) -> None:
    for value in values:
        if isinstance(value, np.ndarray) and not isinstance(value, ndarray):
            raise TypeError(f"host_cupy: {what} got a numpy.ndarray; cupy does not mix host and device arrays "
                            f"(Unsupported type {type(value)})")


class ndarray(np.ndarray):  # noqa: N801 - cupy's name
    """A device array: host memory, with the interface of a cupy array where axonal uses it."""

    @property
    def __cuda_array_interface__(self):
        contiguous = self.flags.c_contiguous
        return {"shape": self.shape, "typestr": self.dtype.str, "version": 3,
                "data": (self.ctypes.data if self.size else 0, not self.flags.writeable),
                "strides": None if contiguous else self.strides}

    def get(self, stream=None, out=None):
        _no_capture("ndarray.get()")
        if out is None:
            return np.array(self.view(np.ndarray), copy=True)
        if out.shape != self.shape or out.dtype != self.dtype:
            raise ValueError(f"Shape or dtype mismatch: {out.dtype}{out.shape} out, {self.dtype}{self.shape} array")
        np.copyto(out, self.view(np.ndarray))
        return out

    def set(self, array, stream=None):
        _no_capture("ndarray.set()")
        if not isinstance(array, np.ndarray) or isinstance(array, ndarray):
            raise TypeError(f"Only numpy.ndarray can be set to cupy.ndarray; received {type(array)}")
        if array.shape != self.shape or array.dtype != self.dtype:
            raise ValueError(f"Shape or dtype mismatch: {self.dtype}{self.shape} array, "
                             f"{array.dtype}{array.shape} source")
        np.copyto(self.view(np.ndarray), array)

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        _no_capture(f"cupy.{ufunc.__name__}")
        _reject_host_arrays(inputs + (out or ()), f"cupy.{ufunc.__name__}")
        if out is not None:
            kwargs["out"] = tuple(_plain(o) for o in out)
        result = getattr(ufunc, method)(*(_plain(i) for i in inputs), **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _device(result)

    def __array_function__(self, function, types_, args, kwargs):
        _no_capture(f"cupy.{function.__name__}")
        flat = list(args) + list(kwargs.values())
        _reject_host_arrays(flat, f"cupy.{function.__name__}")
        out = kwargs.get("out")
        result = super().__array_function__(function, types_, args, kwargs)  # NumPy's code, no re-dispatch
        return out if out is not None else _device(result)

    def __getitem__(self, index):
        # cupy indexes a single element as a 0-d device array (reading it is a copy to the host, and
        # refused during a capture); NumPy would hand out a host scalar at once.
        result = super().__getitem__(index)
        if isinstance(result, np.generic):
            result = super().__getitem__((index if isinstance(index, tuple) else (index,)) + (Ellipsis,))
        return result

    def __setitem__(self, index, value):
        _no_capture("ndarray.__setitem__")
        if isinstance(value, np.ndarray) and not isinstance(value, ndarray) and value.ndim > 0:
            _reject_host_arrays([value], "ndarray.__setitem__")
        self.view(np.ndarray)[index] = _plain(value)

    def fill(self, value):
        _no_capture("ndarray.fill()")
        self.view(np.ndarray).fill(value)

    def __float__(self):
        _no_capture("float(ndarray)")
        return float(self.view(np.ndarray))

    def __int__(self):
        _no_capture("int(ndarray)")
        return int(self.view(np.ndarray))

    def __bool__(self):
        _no_capture("bool(ndarray)")
        return bool(self.view(np.ndarray))

    def item(self, *args):
        _no_capture("ndarray.item()")
        return self.view(np.ndarray).item(*args)


def asarray(a, dtype=None, order=None):
    """A device copy of ``a`` (``a`` itself when it is a device array of that dtype already)."""
    if isinstance(a, ndarray) and (dtype is None or np.dtype(dtype) == a.dtype):
        return a
    _no_capture("cupy.asarray")
    return np.array(_plain(a), dtype=dtype, order=order or "C", copy=True).view(ndarray)


def asnumpy(a, stream=None, out=None):
    return a.get(stream=stream, out=out) if isinstance(a, ndarray) else np.asarray(a)


def ascontiguousarray(a, dtype=None):
    return np.ascontiguousarray(_plain(a), dtype=dtype).view(ndarray)


def _creator(name):
    numpy_function = getattr(np, name)

    def create(*args, **kwargs):
        _no_capture(f"cupy.{name}")
        return numpy_function(*(_plain(a) for a in args), **kwargs).view(ndarray)
    create.__name__ = name
    return create


zeros, ones, full, arange = (_creator(n) for n in ("zeros", "ones", "full", "arange"))
zeros_like, ones_like = (_creator(n) for n in ("zeros_like", "ones_like"))


def _uninitialised(array):
    """cupy.empty's memory holds whatever was there: all-ones bytes here (NaN floats, -1 integers),
    so that reading an output before writing it shows, where a fresh NumPy buffer is often zero."""
    if array.nbytes:
        ctypes.memset(array.ctypes.data, 0xFF, array.nbytes)
    return array


_empty, _empty_like = _creator("empty"), _creator("empty_like")


def empty(shape, dtype=float, order="C"):
    return _uninitialised(_empty(shape, dtype=dtype, order=order))


def empty_like(a, dtype=None, order="K", shape=None):
    return _uninitialised(_empty_like(a, dtype=dtype, order=order, shape=shape))


def __getattr__(name):
    """dtypes and other NumPy names, the functions among them returning device arrays."""
    value = getattr(np, name)
    if isinstance(value, type) or not callable(value):
        return value
    def function(*args, **kwargs):
        _no_capture(f"cupy.{name}")
        _reject_host_arrays(list(args) + list(kwargs.values()), f"cupy.{name}")
        out = kwargs.get("out")
        result = value(*(_plain(a) for a in args), **{k: _plain(v) for k, v in kwargs.items()})
        return out if out is not None else _device(result)
    return function


# --------------------------------------------------------------------------------------------------
# cupy.cuda: streams, graphs, memory facts

class _Stream:
    """cupy.cuda.Stream: a handle the emulated runtime captures on; a context that makes it current."""

    _handles = itertools.count(0x1000, 0x10)
    _current = threading.local()

    def __init__(self, null=False, non_blocking=False, ptr=None):
        self.ptr = 0 if null else (ptr if ptr is not None else next(self._handles))

    def __enter__(self):
        stack = self._stack()
        stack.append(self)
        return self

    def __exit__(self, *exc):
        self._stack().pop()

    @classmethod
    def _stack(cls):
        if not hasattr(cls._current, "stack"):
            cls._current.stack = []
        return cls._current.stack

    def use(self):
        self._stack()[:] = [self]
        return self

    def synchronize(self):
        if self.is_capturing():
            raise CaptureError("host_cupy: Stream.synchronize() while it is being captured "
                               "(cudaErrorStreamCaptureUnsupported)")

    def begin_capture(self, mode=None):
        status = _emulation.axonal_emu_begin_capture(self.ptr)
        if status:
            raise CaptureError(f"host_cupy: cannot capture stream {self.ptr:#x} (error {status})")

    def end_capture(self):
        handle = _emulation.axonal_emu_end_capture(self.ptr)
        if not handle:
            problem = ctypes.create_string_buffer(2048)
            _emulation.axonal_emu_capture_problem(problem, len(problem))
            raise CaptureError("host_cupy: the capture was invalidated (cudaErrorStreamCaptureInvalidated)"
                               + (f": {problem.value.decode()}" if problem.value else ""))
        return _Graph(handle)

    def record(self, event=None):
        """Record ``event`` (a new one when None) on this stream; returns it."""
        event = _Event() if event is None else event
        event.record(self)
        return event

    def wait_event(self, event):
        """Make this stream's later work wait for ``event``'s: inside a capture, the fork of a stream
        into it (or a join of the captured streams), as cudaStreamWaitEvent."""
        _check(_emulation.axonal_emu_stream_wait_event(self.ptr, event.ptr), "Stream.wait_event")

    def is_capturing(self):
        return bool(self.ptr and _emulation.axonal_emu_is_capturing(self.ptr))

    @property
    def done(self):
        """Whether the queued work has run: always, as work runs when it is queued (cupy reads
        cudaStreamQuery; a stream being captured cannot be queried)."""
        if self.is_capturing():
            raise CaptureError("host_cupy: Stream.done while it is being captured (cudaErrorStreamCaptureUnsupported)")
        return True


class _Graph:
    """A captured graph; ``launch`` replays its kernels with their captured arguments."""

    def __init__(self, handle):
        self.handle = handle

    def launch(self, stream=None):
        stream = stream or get_current_stream()
        message = ctypes.create_string_buffer(4096)
        if _emulation.axonal_emu_launch_graph(self.handle, stream.ptr, message, len(message)):
            error, host_nccl.last_error = host_nccl.last_error, None
            raise error if error is not None else RuntimeError(message.value.decode())

    @property
    def nodes(self) -> int:
        return _emulation.axonal_emu_graph_nodes(self.handle)

    def describe(self) -> list[tuple[str, int, tuple[int, ...]]]:
        """The graph's nodes in capture order (the emulation's, for tests): (label: a kernel's name,
        "memset", an NCCL collective's name..., the stream it was captured on, the indices of the
        nodes it depends on)."""
        size = _emulation.axonal_emu_graph_describe(self.handle, None, 0)
        text = ctypes.create_string_buffer(size + 1)
        _emulation.axonal_emu_graph_describe(self.handle, text, len(text))
        nodes = []
        for line in text.value.decode().splitlines():
            label, stream, dependencies = line.split("\t")
            nodes.append((label, int(stream), tuple(int(d) for d in dependencies.split(",") if d)))
        return nodes

    def __del__(self):
        if _emulation is not None and self.handle:
            _emulation.axonal_emu_destroy_graph(self.handle)
            self.handle = None


_null_stream = _Stream(null=True)


def get_current_stream():
    stack = _Stream._stack()
    return stack[-1] if stack else _null_stream


class _MemoryPool:
    def free_bytes(self):
        return 0

    def used_bytes(self):
        return 0


_pool = _MemoryPool()


def get_default_memory_pool():
    return _pool


class _Event:
    """cupy.cuda.Event: a handle the emulated runtime knows (recorded on a captured stream, it
    stands for that stream's captured work: what a fork or a join waits for), and the host clock
    when recorded outside a capture (work has run by then)."""

    _handles = itertools.count(0xE000, 0x10)

    def __init__(self, block=False, disable_timing=False, interprocess=False):
        if interprocess and not disable_timing:
            raise ValueError("Timing must be disabled for interprocess events")
        self.ptr = next(self._handles)
        self.disable_timing = disable_timing
        self.time = None

    def record(self, stream=None):
        stream = get_current_stream() if stream is None else stream
        _check(_emulation.axonal_emu_event_record(self.ptr, stream.ptr), "Event.record")
        self.time = None if stream.is_capturing() else time.perf_counter()

    @property
    def done(self):
        _check(_emulation.axonal_emu_event_wait_on_host(self.ptr), "Event.done")
        return True

    def synchronize(self):
        _check(_emulation.axonal_emu_event_wait_on_host(self.ptr), "Event.synchronize")


def _elapsed_ms(start: _Event, stop: _Event) -> float:
    if start.disable_timing or stop.disable_timing or start.time is None or stop.time is None:
        raise RuntimeError("cudaErrorInvalidResourceHandle: get_elapsed_time needs two timing events recorded "
                           "outside a capture")
    return (stop.time - start.time) * 1e3


_ERRORS = {900: "cudaErrorStreamCaptureUnsupported", 901: "cudaErrorStreamCaptureInvalidated",
           902: "cudaErrorStreamCaptureMerge", 903: "cudaErrorStreamCaptureUnmatched",
           904: "cudaErrorStreamCaptureUnjoined", 905: "cudaErrorStreamCaptureIsolation",
           906: "cudaErrorStreamCaptureImplicit"}


def _check(status: int, what: str) -> None:
    """A runtime call's status as cupy reports it: a CaptureError naming the CUDA error."""
    if status:
        problem = ctypes.create_string_buffer(2048)
        _emulation.axonal_emu_capture_problem(problem, len(problem))
        raise CaptureError(f"host_cupy: {what}: {_ERRORS.get(status, status)}"
                           + (f" ({problem.value.decode()})" if problem.value else ""))


class _Generator:
    """cupy.random.Generator: NumPy's, drawing device arrays."""

    def __init__(self, seed=None):
        self._numpy = np.random.default_rng(seed)

    def standard_normal(self, size=None, dtype=np.float64):
        return self._numpy.standard_normal(size, dtype=dtype).view(ndarray)

    def random(self, size=None, dtype=np.float64):
        return self._numpy.random(size, dtype=dtype).view(ndarray)


random = types.SimpleNamespace(default_rng=_Generator)

DEVICE_COUNT = 8  # emulated devices: one per rank of an mpiexec run on one host


class _Device:
    """cupy.cuda.Device: which emulated device is current (all share the host's memory)."""

    _current = 0

    def __init__(self, device=None):
        self.id = _Device._current if device is None else int(device)
        if not 0 <= self.id < DEVICE_COUNT:
            raise RuntimeError(f"cudaErrorInvalidDevice: invalid device ordinal {self.id}")

    def use(self):
        _no_capture("Device.use()")
        _Device._current = self.id

    def __enter__(self):
        self._previous = _Device._current
        self.use()
        return self

    def __exit__(self, *exc):
        _Device._current = self._previous


def capture_nodes(stream) -> int:
    """How many nodes the capture ``stream`` takes part in holds so far (-1: not captured); for tests."""
    return _emulation.axonal_emu_capture_nodes(stream.ptr)


def _memset_async(pointer, value, size, stream):
    """cupy.cuda.runtime.memsetAsync: queued (captured like a kernel) on ``stream`` (a handle)."""
    status = _emulation.axonal_emu_memset_async(pointer, value, size, stream)
    if status:
        raise CaptureError(f"host_cupy: memsetAsync failed (error {status})")


cuda = types.SimpleNamespace(
    Stream=_Stream, Graph=_Graph, Event=_Event, Device=_Device, get_elapsed_time=_elapsed_ms,
    get_current_stream=get_current_stream, nccl=host_nccl,
    runtime=types.SimpleNamespace(memGetInfo=lambda: (FREE_BYTES, 2 * FREE_BYTES),
                                  getDeviceProperties=lambda device: {"name": b"axonal host emulation"},
                                  getDeviceCount=lambda: DEVICE_COUNT, getDevice=lambda: _Device._current,
                                  memsetAsync=_memset_async),
)


def install(extension_path: str) -> None:
    """Load the emulated extension at ``extension_path`` as ``axonal._cuda`` and this module as ``cupy``."""
    global _emulation
    spec = importlib.util.spec_from_file_location("axonal._cuda", extension_path)
    extension = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(extension)
    sys.modules["axonal._cuda"] = extension
    import axonal
    axonal._cuda = extension
    _emulation = ctypes.CDLL(extension_path)
    _emulation.axonal_emu_end_capture.restype = ctypes.c_void_p
    _emulation.axonal_emu_begin_capture.argtypes = [ctypes.c_size_t]
    _emulation.axonal_emu_end_capture.argtypes = [ctypes.c_size_t]
    _emulation.axonal_emu_is_capturing.argtypes = [ctypes.c_size_t]
    _emulation.axonal_emu_captures.argtypes = []
    _emulation.axonal_emu_launch_graph.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    _emulation.axonal_emu_graph_nodes.argtypes = [ctypes.c_void_p]
    _emulation.axonal_emu_graph_describe.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    _emulation.axonal_emu_graph_describe.restype = ctypes.c_size_t
    _emulation.axonal_emu_capture_problem.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    _emulation.axonal_emu_capture_problem.restype = None
    _emulation.axonal_emu_capture_nodes.argtypes = [ctypes.c_size_t]
    _emulation.axonal_emu_event_record.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
    _emulation.axonal_emu_stream_wait_event.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
    _emulation.axonal_emu_event_wait_on_host.argtypes = [ctypes.c_size_t]
    _emulation.axonal_emu_destroy_graph.argtypes = [ctypes.c_void_p]
    host_nccl.install(_emulation)
    sys.modules["cupy"] = sys.modules[__name__]
