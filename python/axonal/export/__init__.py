"""Exporting a model for inference elsewhere: ONNX, as Keras 3's ``model.export(path, format="onnx")``.

The file holds the inference graph (what ``predict`` computes) with the model's input and output
names and a dynamic batch dimension; onnxruntime, or any ONNX runtime, runs it without axonal.
The ``onnx`` package builds and checks it; it is an optional extra (``pip install 'axonal[onnx]'``,
which also installs onnxruntime), imported only when a model is exported. ``docs/onnx.md`` lists
how each layer and activation is written.

Example:
    >>> model.export("mlp.onnx", format="onnx")
    >>> import onnxruntime
    >>> session = onnxruntime.InferenceSession("mlp.onnx")
    >>> probabilities = session.run(None, {model.input_names[0]: x_test[:1]})[0]
"""
from __future__ import annotations

import os
from typing import Any

from axonal.export.onnx_export import DEFAULT_OPSET, build_onnx_model, export_onnx

__all__ = ["DEFAULT_OPSET", "FORMATS", "build_onnx_model", "export_model", "export_onnx"]

# The formats Model.export writes; Keras' others are named in the refusal.
FORMATS = ("onnx",)
_KERAS_ONLY_FORMATS = ("tf_saved_model", "openvino", "litert", "torch")


def export_model(model, filepath: str | os.PathLike, format: str | None = None, verbose: bool | None = None,
                 input_signature: Any = None, **kwargs) -> None:
    """``Model.export``: write ``model`` in ``format`` (Keras 3's arguments; ``"onnx"`` is the one
    axonal writes).

    Args:
        model: a built model.
        filepath: the file to write.
        format: ``"onnx"``; None takes it from a path ending in ``.onnx``.
        verbose: print a line when done (None: quiet).
        input_signature: must be None: the model's own input shapes are exported, with a dynamic batch.
        **kwargs: ``opset_version`` (int, default :data:`DEFAULT_OPSET`), as Keras takes it.

    Raises:
        ValueError: an unsupported format or argument, with the fix; see also :func:`export_onnx`.
    """
    chosen = _resolve_format(format, filepath)
    if input_signature is not None:
        raise ValueError(f"Model.export(input_signature=...) is not supported: axonal exports the model's own input "
                         f"shapes ({model.input_shape}) with a dynamic batch dimension. Fix: leave input_signature "
                         "out.")
    unknown = sorted(set(kwargs) - {"opset_version"})
    if unknown:
        raise TypeError(f"Model.export(format={chosen!r}) received unknown argument(s) {unknown}; it takes "
                        "opset_version. Fix: remove the others.")
    export_onnx(model, filepath, kwargs.get("opset_version"), bool(verbose))


def _resolve_format(format: Any, filepath) -> str:
    if format is None:
        if os.fspath(filepath).lower().endswith(".onnx"):
            return "onnx"
        raise ValueError(f"Model.export needs format='onnx' (the format axonal writes), or a path ending in "
                         f".onnx; received format=None and path {os.fspath(filepath)!r}. Fix: "
                         "model.export(path, format='onnx').")
    if format in FORMATS:
        return format
    if format in _KERAS_ONLY_FORMATS:
        raise ValueError(f"Model.export(format={format!r}) is a Keras format axonal does not write; axonal writes "
                         f"{', '.join(map(repr, FORMATS))}. Fix: export with format='onnx' and convert the ONNX "
                         "file with that format's tools (e.g. onnx2tf, OpenVINO's model converter).")
    raise ValueError(f"Model.export: unknown format {format!r}; axonal writes {', '.join(map(repr, FORMATS))}. "
                     "Fix: pass format='onnx'.")
