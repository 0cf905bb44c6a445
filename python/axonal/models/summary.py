"""The text of ``Sequential.summary()``, laid out like Keras 3's table.

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
_BYTES_PER_PARAM = 4  # float32

# Border characters: left, fill, junction, right for each kind of rule, then the cell bars.
_UNICODE = {"top": "┏━┳┓", "header": "┡━╇┩", "between": "├─┼┤", "bottom": "└─┴┘",
            "header_bar": "┃", "bar": "│"}
_ASCII = {"top": "+=++", "header": "+=++", "between": "+-++", "bottom": "+-++",
          "header_bar": "|", "bar": "|"}


def default_line_length() -> int:
    """Keras' width: 88 characters, or the terminal's width less 4 when narrower."""
    return min(88, shutil.get_terminal_size().columns - 4)


def summary_text(model, line_length: int, stream: TextIO) -> str:
    """The summary of ``model`` as one string, with box characters ``stream`` can encode."""
    widths = _column_widths(line_length)
    box = _UNICODE if can_encode(stream, "".join(_UNICODE.values())) else _ASCII
    lines = [f'Model: "{model.name}"', _rule(box["top"], widths),
             *_cells(_HEADER, widths, box["header_bar"]), _rule(box["header"], widths)]
    for index, layer in enumerate(model.layers):
        if index:
            lines.append(_rule(box["between"], widths))
        lines += _cells(_layer_fields(layer), widths, box["bar"])
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


def _column_widths(line_length: int) -> list[int]:
    """Cell widths (padding included) of the three columns for a table ``line_length`` wide.

    Keras asks for columns ending at 45%, 80% and 100% of the line; the four border characters
    then do not fit, and its table renderer takes them back 1, 2 and 1 from the columns.
    """
    ends = [int(0.45 * line_length), int(0.80 * line_length), line_length]
    requested = [ends[0], ends[1] - ends[0], ends[2] - ends[1]]
    return [width - cut for width, cut in zip(requested, (1, 2, 1))]


def _layer_fields(layer) -> tuple[str, str, str]:
    name = f"{layer.name} ({type(layer).__name__})"
    if not layer.built:
        return name, "?", "0 (unbuilt)"
    return name, str(layer.output_shape), f"{layer.count_params():,}"


def _rule(chars: str, widths: list[int]) -> str:
    left, fill, junction, right = chars
    return left + junction.join(fill * width for width in widths) + right


def _cells(fields: tuple[str, str, str], widths: list[int], bar: str) -> list[str]:
    """One or more text lines for a row; long fields wrap within their column as in Keras."""
    wrapped = [textwrap.wrap(field, width - 2) or [""] for field, width in zip(fields, widths)]
    height = max(len(lines) for lines in wrapped)
    rows = []
    for line in range(height):
        name, shape, params = (lines[line] if line < len(lines) else "" for lines in wrapped)
        # Names and shapes are left-aligned, parameter counts right-aligned, one space of padding.
        cells = [f" {name:<{widths[0] - 2}} ", f" {shape:<{widths[1] - 2}} ", f" {params:>{widths[2] - 2}} "]
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
