"""A model's inference graph as an ONNX model, built with the ``onnx`` package and written atomically.

The graph follows the model's plan (:mod:`axonal.models.plan`), the calls ``predict`` runs, in
the same order: one converter per call (:mod:`axonal.export.onnx_layers`). Its inputs and outputs
carry the model's names (``model.input_names`` / ``output_names``, the keys ``predict`` takes and
returns), float32, with a dynamic batch dimension named ``batch``; every tensor goes in and comes
out in the model's own axis order (channels_last images, unless the layers say channels_first). The model is checked with ``onnx.checker`` (with shape inference)
before anything is written.

Example:
    >>> proto = build_onnx_model(model)                  # an onnx.ModelProto
    >>> export_onnx(model, "mlp.onnx")                   # the same, checked and written atomically
"""
from __future__ import annotations

import os
from types import ModuleType

from axonal._files import atomic_write
from axonal._version import __version__
from axonal.export.onnx_graph import OnnxGraph, Value
from axonal.export.onnx_layers import converter_for
from axonal.layers.embedding import id_readers

# Opset 20 is the first with Gelu (exact and tanh forms), which GELU activations need; every other
# operator used here is older. onnxruntime runs it from 1.17 on; later opsets change nothing here.
DEFAULT_OPSET = 20
MIN_OPSET = 20
# A serialised protobuf message cannot exceed 2 GiB; keep room for the graph around the weights.
MAX_WEIGHT_BYTES = 2**31 - 2**24
BATCH_DIMENSION = "batch"


def import_onnx() -> ModuleType:
    """The ``onnx`` package, or an ImportError that says how to install it."""
    try:
        import onnx
    except ImportError as error:
        raise ImportError("Exporting to ONNX needs the 'onnx' package, which is not installed. Fix: "
                          "pip install 'axonal[onnx]' (it installs onnx, and onnxruntime to run the file).") from error
    return onnx


def check_opset(onnx: ModuleType, opset_version) -> int:
    """``opset_version`` (None: :data:`DEFAULT_OPSET`) as an int the installed onnx knows, >= :data:`MIN_OPSET`."""
    if opset_version is None:
        return DEFAULT_OPSET
    newest = onnx.defs.onnx_opset_version()
    valid = isinstance(opset_version, int) and not isinstance(opset_version, bool)
    if not valid or not MIN_OPSET <= opset_version <= newest:
        raise ValueError(f"opset_version must be an integer from {MIN_OPSET} (the first opset with Gelu) to {newest} "
                         f"(the newest this onnx {onnx.__version__} knows), received {opset_version!r}. Fix: leave "
                         f"it out for opset {DEFAULT_OPSET}, which onnxruntime 1.17 and later run.")
    return opset_version


def build_onnx_model(model, opset_version: int | None = None):
    """The ``onnx.ModelProto`` of ``model``'s inference graph (not yet checked or written).

    Args:
        model: a built :class:`~axonal.models.Model` or :class:`~axonal.models.Sequential`.
        opset_version: the ONNX opset to target; None for :data:`DEFAULT_OPSET`.

    Raises:
        ImportError: onnx is not installed.
        ValueError: the model is not built, has a layer without an ONNX mapping (naming it and
            its class), repeats an output, or has weights beyond protobuf's 2 GiB.
    """
    onnx = import_onnx()
    opset = check_opset(onnx, opset_version)
    _check_exportable(model)
    helper, graph = onnx.helper, OnnxGraph(onnx)
    plan = model.plan
    output_names = model.output_names
    for name in output_names:
        graph.reserve(name)
    # A graph input and output cannot share a name (a one-layer Sequential names both after its layer).
    input_names = [graph.fresh(f"{name}_input" if name in output_names else name) for name in model.input_names]
    input_shapes = _shapes(model.input_shape, len(input_names))
    values: list[Value | None] = [None] * plan.tensor_count
    for tensor, name, shape in zip(plan.inputs, input_names, input_shapes):
        values[tensor] = Value(name, len(shape))
    for call in plan.calls:
        convert = converter_for(call.owner)
        values[call.output] = convert(graph, call.layer, [values[tensor] for tensor in call.inputs])
    for tensor, name in zip(plan.outputs, output_names):
        graph.output_node("Identity", [graph.keras_order(values[tensor]).name], name)
    # An input only Embedding layers read holds int32 ids, as predict takes it (layers/embedding.py).
    kinds = [onnx.TensorProto.INT32 if readers else onnx.TensorProto.FLOAT for readers in id_readers(plan)]
    inputs = [_tensor_info(helper, onnx, name, shape, kind)
              for name, shape, kind in zip(input_names, input_shapes, kinds)]
    outputs = [_tensor_info(helper, onnx, name, shape) for name, shape in zip(output_names, model.output_shapes)]
    proto_graph = helper.make_graph(graph.nodes, model.name, inputs, outputs, graph.initializers,
                                    doc_string=f"axonal model {model.name!r}: inference graph (Dropout and "
                                               "augmentation omitted), tensors in the model's axis order")
    opsets = [helper.make_opsetid("", opset)]
    # The oldest IR version that carries this opset, so older runtimes load the file too.
    return helper.make_model(proto_graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets),
                             producer_name="axonal", producer_version=__version__)


def export_onnx(model, filepath: str | os.PathLike, opset_version: int | None = None, verbose: bool = False) -> None:
    """Write ``model``'s inference graph to ``filepath`` as an ONNX model, atomically.

    ``model.export(filepath, format="onnx")`` calls this. The file computes what ``predict``
    computes (Dropout and augmentation are the identity; a softmax or sigmoid a loss absorbed
    during training is applied), for any batch size, under onnxruntime or any ONNX runtime.

    Args:
        model: a built Model or Sequential.
        filepath: the file to write (conventionally ``*.onnx``); its folder must exist. An
            existing file is replaced only once the new one is complete.
        opset_version: the ONNX opset (default :data:`DEFAULT_OPSET`).
        verbose: print the path and the graph's size when done.

    Shapes:
        each input (batch, *model input shape[1:]) float32 -> each output (batch, *output shape[1:]).

    Example:
        >>> export_onnx(model, "mlp.onnx")
        >>> import onnxruntime
        >>> session = onnxruntime.InferenceSession("mlp.onnx")
        >>> probabilities = session.run(None, {model.input_names[0]: x[:1]})[0]

    Raises:
        ImportError, ValueError: see :func:`build_onnx_model`.
        OSError: the file could not be written (the destination is left as it was).
    """
    onnx = import_onnx()
    proto = build_onnx_model(model, opset_version)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as error:  # a mapping of ours is wrong: say so, write nothing
        raise RuntimeError(f"The ONNX graph of model {model.name!r} failed onnx.checker ({error}); this is a bug "
                           "in axonal.export, and no file was written. Please report it with the model's "
                           "summary().") from error
    content = proto.SerializeToString()
    atomic_write(filepath, lambda file: file.write(content))
    if verbose:
        print(f"Saved ONNX model {model.name!r} to {os.fspath(filepath)!r}: opset {proto.opset_import[0].version}, "
              f"{len(proto.graph.node)} nodes, {len(content):,} bytes.")


def _check_exportable(model) -> None:
    """Refuse, with the fix, a model ONNX cannot describe yet."""
    if not getattr(model, "built", False) or model.plan is None:
        raise ValueError(f"Model {model.name!r} is not built, so its input shape is unknown and it cannot be "
                         "exported. Fix: start it with Input(shape=...), or call model.build((None, 784)) "
                         "(your input shape) or predict once first.")
    for call in model.plan.calls:
        converter_for(call.owner)  # refuses, naming the layer, before any node is made
    names = model.output_names
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"Model {model.name!r} lists output(s) {repeated} more than once, but an ONNX graph's "
                         "outputs need distinct names. Fix: list each output tensor once.")
    size = sum(weight.nbytes for weight in model.weights)
    if size > MAX_WEIGHT_BYTES:
        raise ValueError(f"Model {model.name!r} has {size:,} bytes of weights, more than the {MAX_WEIGHT_BYTES:,} "
                         "a single ONNX file can hold (protobuf's 2 GiB limit). axonal does not write ONNX "
                         "external data files. Fix: export a smaller model.")


def _shapes(shape, count: int) -> list[tuple]:
    """One shape per input (``model.input_shape`` is a list only for several inputs)."""
    return [tuple(s) for s in shape] if count > 1 else [tuple(shape)]


def _tensor_info(helper, onnx: ModuleType, name: str, shape: tuple, kind: int | None = None):
    """A graph input or output of ``shape`` (float32 unless ``kind``) with the dynamic batch dimension."""
    kind = onnx.TensorProto.FLOAT if kind is None else kind
    return helper.make_tensor_value_info(name, kind, [BATCH_DIMENSION, *shape[1:]])
