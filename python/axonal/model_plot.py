"""A picture of a model's graph, as Keras' ``plot_model``: one box per layer, one arrow per tensor.

:func:`model_to_dot` writes the graph in Graphviz's DOT language (plain text, no dependency);
:func:`plot_model` renders it with Graphviz's ``dot`` program when it is installed (to the format
the file name asks for: ``.png``, ``.svg``, ``.pdf``...) and writes the DOT text itself for a ``.dot``
file. Without Graphviz it raises an ImportError that says how to install it.

Example:
    >>> axonal.utils.plot_model(model, "model.png", show_shapes=True)   # needs Graphviz's dot
    >>> axonal.utils.plot_model(model, "model.dot")                     # needs nothing
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from axonal._files import atomic_write

_RANKDIRS = ("TB", "LR", "BT", "RL")


def model_to_dot(model, show_shapes: bool = False, show_layer_names: bool = True, rankdir: str = "TB",
                 show_layer_activations: bool = False, dpi: int = 200) -> str:
    """The DOT source of ``model``'s graph (a built model: its layers and their connections)."""
    if rankdir not in _RANKDIRS:
        raise ValueError(f"rankdir must be one of {_RANKDIRS}, received {rankdir!r}.")
    if not getattr(model, "built", False):
        raise ValueError(f"Model {model.name!r} is not built yet, so it has no graph to draw. Fix: give its first "
                         "layer an input shape (Input(shape=...)) or call model.build(input_shape) first.")
    lines = [f'digraph "{_escape(model.name)}" {{', f'  graph [rankdir={rankdir}, dpi={int(dpi)}];',
             '  node [shape=record, fontname="Helvetica", fontsize=11];']
    ids = {}
    for index, layer in enumerate(model.layers):
        ids[id(layer)] = f"layer{index}"
        lines.append(f'  layer{index} [label="{_label(layer, show_shapes, show_layer_names, show_layer_activations)}"];')
    for source, target in _edges(model):
        lines.append(f"  {ids[id(source)]} -> {ids[id(target)]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def plot_model(model, to_file: str | os.PathLike = "model.png", show_shapes: bool = False, show_dtype: bool = False,
               show_layer_names: bool = True, rankdir: str = "TB", expand_nested: bool = False, dpi: int = 200,
               show_layer_activations: bool = False, show_trainable: bool = False) -> None:
    """Draw ``model``'s graph into ``to_file`` (Keras' arguments; ``show_dtype``, ``expand_nested``
    and ``show_trainable`` are accepted and change nothing: every tensor is float32 and models do
    not nest here).

    Raises:
        ImportError: when the format needs Graphviz's ``dot`` program and it is not installed.
    """
    source = model_to_dot(model, show_shapes, show_layer_names, rankdir, show_layer_activations, dpi)
    path = os.fspath(to_file)
    extension = os.path.splitext(path)[1].lower().lstrip(".") or "png"
    if extension in ("dot", "gv"):
        atomic_write(path, lambda file: file.write(source.encode()))
        return
    dot = shutil.which("dot")
    if dot is None:
        raise ImportError(f"plot_model needs Graphviz's 'dot' program to write {path!r}, and it is not on the PATH. "
                          "Fix: install Graphviz (apt install graphviz, brew install graphviz or conda install "
                          "graphviz), or write the DOT text with plot_model(model, 'model.dot').")
    with tempfile.TemporaryDirectory() as folder:
        rendered = os.path.join(folder, f"model.{extension}")
        result = subprocess.run([dot, f"-T{extension}", "-o", rendered], input=source.encode(), capture_output=True,
                                timeout=120)
        if result.returncode != 0 or not os.path.exists(rendered):
            raise RuntimeError(f"Graphviz's dot could not write a {extension!r} file: "
                               f"{result.stderr.decode(errors='replace').strip()[:500]}. Fix: use a format dot "
                               "supports (png, svg, pdf) or write 'model.dot'.")
        with open(rendered, "rb") as image:
            data = image.read()
    atomic_write(path, lambda file: file.write(data))


def _edges(model) -> list[tuple]:
    """(source layer, target layer) for every tensor a layer reads: from the graph's nodes, or
    between consecutive layers of a chain."""
    nodes = getattr(model, "_nodes", None)
    if nodes is None:
        layers = model.layers
        return list(zip(layers, layers[1:]))
    return [(tensor.node.layer, node.layer) for node in nodes for tensor in node.inputs]


def _label(layer, show_shapes: bool, show_names: bool, show_activations: bool) -> str:
    title = _escape(f"{layer.name} ({type(layer).__name__})" if show_names else type(layer).__name__)
    activation = getattr(layer, "activation", None)
    if show_activations and isinstance(activation, str) and activation != "linear":
        title += "\\n" + _escape(activation)  # a line break in the box
    if not show_shapes:
        return title
    shapes = [_shape_text(getattr(layer, "input_shape", None)), _shape_text(getattr(layer, "output_shape", None))]
    return f"{{{title}|{{input: {_escape(shapes[0])}|output: {_escape(shapes[1])}}}}}"


def _shape_text(shape) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return ", ".join(_shape_text(item) for item in shape)
    return "(" + ", ".join("None" if size is None else str(size) for size in shape) + ")"


def _escape(text: str) -> str:
    for character in '\\"{}|<>':
        text = text.replace(character, "\\" + character)
    return text
