"""A host stand-in for the GPU device of the ``cuda`` backend, for testing the device loop anywhere.

:class:`EmulatedDevice` has the interface of :class:`axonal.backend.device.CudaDevice`, with NumPy
arrays and the ``cpu`` kernels. What makes it a faithful stand-in is its graph capture: while
capturing, op calls are recorded, not run, and a launch replays them with the very arguments they
were captured with — as a CUDA graph replays its kernels with their captured parameters. A step
that passed a host value that changes between steps (a Python int step, a float learning rate)
would therefore replay a stale value here too, and a step that read a result during capture would
read garbage. Device scalars (0-d arrays) are read when a call runs, as a kernel reads them.
"""
from __future__ import annotations

import contextlib

import numpy as np

from axonal.backend import cpu

_LOSSES = ("softmax_cross_entropy", "sigmoid_binary_cross_entropy", "mean_squared_error")


def _value(argument):
    """A device scalar's current value; any other argument as it is."""
    return argument.item() if isinstance(argument, np.ndarray) and argument.ndim == 0 else argument


def accuracy_count(total, predictions, targets, kind, threshold=0.5):
    """The device metric kernel's rule (cpp/training_loop.cpp), in NumPy."""
    if kind == "categorical":
        right = np.argmax(targets, axis=1) == np.argmax(predictions, axis=1)
    elif kind == "sparse":
        right = targets.reshape(-1) == np.argmax(predictions, axis=1)
    else:
        right = targets.reshape(-1) == (predictions.reshape(-1) > np.float32(threshold)).astype(np.float32)
    total += int(right.sum())


def _copy(out, source):
    """A copy between host and device, as strict as cupy's ``set``/``get``: same shape and dtype."""
    if out.shape != source.shape or out.dtype != source.dtype:
        raise ValueError(f"copy of {source.dtype}{source.shape} into {out.dtype}{out.shape}")
    np.copyto(out, source)


class EmulatedOps:
    """The cpu op list plus the device-only ops, recording calls instead of running them while a
    graph is being captured."""

    NAME = "emulated"

    def __init__(self):
        self.recording: list | None = None
        self.executed = 0

    def __getattr__(self, name):
        def op(*args, **kwargs):
            if self.recording is not None:
                self.recording.append((name, args, kwargs))
                return None
            return self.execute(name, args, kwargs)
        return op

    def execute(self, name, args, kwargs):
        self.executed += 1
        if name == "increment":
            counters = args[0]
            counters += 1
            return None
        if name == "accuracy_count":
            return accuracy_count(*args, **kwargs)
        args = [_value(argument) for argument in args]
        if name in _LOSSES:
            loss_out, loss_sum = kwargs.pop("loss_out", None), kwargs.pop("loss_sum", None)
            loss = getattr(cpu, name)(*args, **kwargs)
            if loss_out is not None:
                loss_out[...] = loss
            if loss_sum is not None:
                loss_sum += loss
            return loss
        return getattr(cpu, name)(*args, **{key: _value(value) for key, value in kwargs.items()})


class EmulatedDevice:
    """The device interface of ``axonal.backend.device`` on the host (see the module docstring)."""

    name = "emulated"

    def __init__(self, free_bytes: int = 1 << 40):
        self.ops = EmulatedOps()
        self.xp = np
        self.free = free_bytes
        self.captures = 0
        self.launches = 0

    def activate(self):
        return contextlib.nullcontext()

    def upload(self, host, out=None):
        host = np.require(host, requirements="C")  # keeps 0-d arrays 0-d
        if out is None:
            return host.copy()
        _copy(out, host)
        return out

    def download(self, array, out=None):
        if out is None:
            return array.copy()
        _copy(out, array)
        return out

    def gather(self, out, source, rows):
        np.take(source, rows, axis=0, out=out)

    def free_bytes(self) -> int:
        return self.free

    def capture(self, record):
        self.ops.recording = []
        try:
            record()
            return self.ops.recording
        finally:
            self.ops.recording = None
            self.captures += 1

    def launch(self, graph) -> None:
        self.launches += 1
        for name, args, kwargs in graph:
            self.ops.execute(name, args, dict(kwargs))

    def synchronize(self) -> None:
        pass
