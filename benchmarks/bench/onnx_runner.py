"""onnxruntime running the model axonal exports (``model.export(path, format="onnx")``): W7 only.

The runner builds the axonal model of the spec, gives it the weights, exports it to a temporary
file and opens an ``InferenceSession`` on it with onnxruntime's defaults (CPU provider, its own
intra-op thread pool), as a server would. It runs under the interpreter that has axonal (the
export needs it; launcher.py), and is "not installed" where onnx or onnxruntime is missing.
Interface: see ``keras_style`` (it only predicts: ``train`` and ``prepare`` are not offered).
"""
from __future__ import annotations

import os
import tempfile


class OnnxRuntimeRunner:
    def __init__(self, seed: int):
        import onnx  # noqa: F401  (an ImportError means "not installed" to the worker)
        import onnxruntime

        from bench.keras_style import AxonalRunner

        self.onnxruntime = onnxruntime
        self.axonal = AxonalRunner("cpu", seed)
        self.folder = tempfile.TemporaryDirectory(prefix="axonal-onnx-")

    def threads(self) -> int:
        """onnxruntime's default intra-op pool: one thread per available core."""
        return len(os.sched_getaffinity(0))

    def build(self, spec, optimizer: str, learning_rate: float, metrics: bool = True):
        return {"model": self.axonal.build(spec, optimizer, learning_rate, metrics), "session": None}

    def set_weights(self, holder: dict, weights: list) -> None:
        """Give the axonal model the weights, export it and open the session on the file."""
        model = holder["model"]
        self.axonal.set_weights(model, weights)
        path = os.path.join(self.folder.name, "model.onnx")
        model.export(path, format="onnx")
        holder["session"] = self.onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        holder["input"] = holder["session"].get_inputs()[0].name

    def predict(self, holder: dict, x, batch_size: int):
        """One ``run`` on all of ``x`` (the graph's batch dimension is dynamic)."""
        return holder["session"].run(None, {holder["input"]: x})[0]

    def prepare(self, spec, x, y):
        raise NotImplementedError("onnxruntime runs the exported model for inference only (W7)")

    def train(self, model, data, batch_size: int, epochs: int):
        raise NotImplementedError("onnxruntime runs the exported model for inference only (W7)")
