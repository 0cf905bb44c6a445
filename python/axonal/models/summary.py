"""The text of ``model.summary()``, laid out like Keras 3's table.

A model that is more than a chain (several inputs or outputs, merges, shared layers) gets Keras'
fourth column, "Connected to": each input of each call as ``layer[call][0]``.

Example output (80-column terminal)::

    Model: "sequential"
    ┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
    ┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
    ┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
    │ dense (Dense)                   │ (None, 512)            │       401,920 │
    └─────────────────────────────────┴────────────────────────┴───────────────┘
     Total params: 401,920 (1.53 MB)
     Trainable params: 401,920 (1.53 MB)
     Non-trainable params: 0 (0.00 B)
"""
from __future__ import annotations

import shutil
import textwrap
from typing import TextIO

from axonal.utils import can_encode

_HEADER = ("Layer (type)", "Output Shape", "Param #")
_GRAPH_HEADER = _HEADER + ("Connected to",)
# Where Keras asks its columns to end (fractions of the line), and how many characters its table
# renderer then takes back from each so that the border characters fit (measured on Keras 3.15).
_CHAIN_LAYOUT = ((0.45, 0.80, 1.0), (1, 2, 1), 88)
_GRAPH_LAYOUT = ((0.3, 0.56, 0.74, 1.0), (1, 1, 2, 1), 108)
_BYTES_PER_PARAM = 4  # float32

# Border characters: left, fill, junction, right for each kind of rule, then the cell bars.
_UNICODE = {"top": "┏━┳┓", "header": "┡━╇┩", "between": "├─┼┤", "bottom": "└─┴┘",
            "header_bar": "┃", "bar": "│"}
_ASCII = {"top": "+=++", "header": "+=++", "between": "+-++", "bottom": "+-++",
          "header_bar": "|", "bar": "|"}


def default_line_length(graph: bool = False) -> int:
    """Keras' width: 88 characters (108 with "Connected to"), or the terminal's width less 4 when
    narrower."""
    return min((_GRAPH_LAYOUT if graph else _CHAIN_LAYOUT)[2], shutil.get_terminal_size().columns - 4)


def summary_text(model, line_length: int | None, stream: TextIO) -> str:
    """The summary of ``model`` as one string, with box characters ``stream`` can encode."""
    graph = any(model.connections(layer) is not None for layer in model.layers[:1])
    header = _GRAPH_HEADER if graph else _HEADER
    widths = _column_widths(line_length or default_line_length(graph), _GRAPH_LAYOUT if graph else _CHAIN_LAYOUT)
    box = _UNICODE if can_encode(stream, "".join(_UNICODE.values())) else _ASCII
    lines = [f'Model: "{model.name}"', _rule(box["top"], widths),
             *_cells(header, widths, box["header_bar"]), _rule(box["header"], widths)]
    for index, layer in enumerate(model.layers):
        if index:
            lines.append(_rule(box["between"], widths))
        fields = _layer_fields(layer)
        if graph:
            fields += (", ".join(model.connections(layer)) or "-",)
        lines += _cells(fields, widths, box["bar"])
    lines.append(_rule(box["bottom"], widths))

    trainable = _count(model.trainable_weights)
    non_trainable = _count(model.non_trainable_weights)
    optimizer = model.optimizer
    optimizer_state = _count(optimizer.variables) if optimizer is not None and optimizer.built else None
    total = trainable + non_trainable + (optimizer_state or 0)
    lines += [_total_line("Total params", total), _total_line("Trainable params", trainable),
              _total_line("Non-trainable params", non_trainable)]
    if optimizer_state is not None:
        lines.append(_total_line("Optimizer params", optimizer_state))
    return "\n".join(lines)


def _column_widths(line_length: int, layout) -> list[int]:
    """Cell widths (padding included) of the columns for a table ``line_length`` wide."""
    fractions, cuts, _ = layout
    ends = [int(fraction * line_length) for fraction in fractions]
    requested = [end - start for start, end in zip([0] + ends[:-1], ends)]
    return [width - cut for width, cut in zip(requested, cuts)]


def _layer_fields(layer) -> tuple[str, str, str]:
    name = f"{layer.name} ({type(layer).__name__})"
    if not layer.built:
        return name, "?", "0 (unbuilt)"
    return name, str(layer.output_shape), f"{layer.count_params():,}"


def _rule(chars: str, widths: list[int]) -> str:
    left, fill, junction, right = chars
    return left + junction.join(fill * width for width in widths) + right


def _cells(fields: tuple, widths: list[int], bar: str) -> list[str]:
    """One or more text lines for a row; long fields wrap within their column as in Keras.
    Names, shapes and connections are left-aligned, parameter counts right-aligned."""
    wrapped = [textwrap.wrap(field, width - 2) or [""] for field, width in zip(fields, widths)]
    height = max(len(lines) for lines in wrapped)
    rows = []
    for line in range(height):
        texts = [lines[line] if line < len(lines) else "" for lines in wrapped]
        cells = [f" {text:>{width - 2}} " if column == 2 else f" {text:<{width - 2}} "
                 for column, (text, width) in enumerate(zip(texts, widths))]
        rows.append(bar + bar.join(cells) + bar)
    return rows


def _count(weights) -> int:
    return int(sum(w.size for w in weights))


def _total_line(label: str, count: int) -> str:
    return f" {label}: {count:,} ({_readable_size(count * _BYTES_PER_PARAM)})"


def _readable_size(size: float) -> str:
    """``1.55 MB`` for 1,628,200 bytes: powers of 1024, two decimals, as Keras prints it."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"
