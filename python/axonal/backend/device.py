"""The GPU as a model's device: what training on the ``cuda`` backend needs from cupy.

A model built while ``cuda`` is the backend keeps its weights on the host and trains on a copy of
them on the GPU (:mod:`axonal.models.executors.device_copy`). That copy needs only the few things defined
here: the array module and the op list, one stream on which every op of the model is queued,
host/device copies, the free memory (to decide whether a dataset can stay on the device) and CUDA
graph capture. The layers' own Python code (the per-step path used when the device cannot run a
model) runs on the host backend (:func:`axonal.backend.host_backend`).

``tests/emulated_device.py`` implements the same interface on the host, with recorded "graphs"
that replay their calls with the arguments they were captured with, as CUDA graphs do; the device
loop's logic is tested against it on machines without a GPU.
"""
from __future__ import annotations

from types import ModuleType

import numpy as np


class CudaDevice:
    """cupy arrays on the current GPU, with every op queued on one non-blocking stream.

    Args:
        ops: the ``cuda`` backend module (:mod:`axonal.backend.cuda`).
    """

    name = "cuda"

    def __init__(self, ops: ModuleType):
        import cupy

        self.ops = ops
        self.xp = cupy
        # Graph capture is not allowed on the legacy default stream, and a stream of its own keeps
        # the model's work ordered without waiting for unrelated work on the default stream.
        self.stream = cupy.cuda.Stream(non_blocking=True)

    def activate(self):
        """A context in which cupy's current stream, where the ops queue their kernels, is ours."""
        return self.stream

    def upload(self, host: np.ndarray, out=None):
        """Copy a host array into ``out`` (a new device array when None), ordered on our stream."""
        host = np.require(host, requirements="C")  # keeps 0-d arrays 0-d
        if out is None:
            out = self.xp.empty(host.shape, host.dtype)
        out.set(host, stream=self.stream)
        return out

    def download(self, array, out: np.ndarray | None = None) -> np.ndarray:
        """The values of a device array on the host, once the work queued before has run."""
        return array.get(stream=self.stream, out=out)

    def gather(self, out, source, rows) -> None:
        """``out[i] = source[rows[i]]`` on the device (rows a device int64 array)."""
        with self.stream:
            self.xp.take(source, rows, axis=0, out=out)

    def free_bytes(self) -> int:
        """Device memory free for new arrays: the driver's free memory plus cupy's pooled blocks."""
        free, _ = self.xp.cuda.runtime.memGetInfo()
        return int(free) + int(self.xp.get_default_memory_pool().free_bytes())

    def capture(self, record):
        """A CUDA graph of the work ``record()`` queues on our stream; nothing runs now.

        Every buffer the work uses must exist before (an op's first call allocates its
        workspaces): the caller runs the step eagerly once before capturing it.
        """
        self.stream.begin_capture()
        try:
            record()
        except BaseException:
            try:
                self.stream.end_capture()
            except Exception:  # noqa: BLE001 - the capture is invalid anyway; report the cause
                pass
            raise
        return self.stream.end_capture()

    def launch(self, graph) -> None:
        """Replay a captured graph on our stream (returns at once)."""
        graph.launch(stream=self.stream)

    def synchronize(self) -> None:
        """Wait until everything queued on our stream has run."""
        self.stream.synchronize()


def device_for(backend: ModuleType):
    """The device a model built on ``backend`` trains on (None: it runs on the host)."""
    return CudaDevice(backend) if getattr(backend, "NAME", None) == "cuda" else None

