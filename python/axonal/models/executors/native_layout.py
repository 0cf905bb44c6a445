"""channels_first models in the native loop: where the loop's steps transpose images.

The kernels take channels_last images. A layer built with ``data_format="channels_first"``
transposes at its edges on the layer-by-layer path (``layers/_data_format.py``): (N, C, H, W) in,
a channels_last copy to its kernel, the result copied back to (N, C', H', W'). The native loop does
the same with ``transpose`` steps (each sample a (rows, columns) matrix written as (columns, rows)),
but skips the pairs that cancel: a tensor that a channels_first layer writes and only channels_first
layers read stays channels_last (its *last form*) between them, so a channels_first CNN transposes
once at its input and once before its Flatten (which moves the channels last itself), as a
channels_last one would not at all.

Three kinds of layers (:func:`layout_kind`):

* ``NEEDS_LAST``: Conv2D, the 2-D poolings and global poolings with channels_first, a Flatten that
  moves the channel axis, a BatchNormalization on axis 1 of a rank-3+ tensor: their step computes on
  the last form of their input and writes the last form of their output (an image), or a plain
  tensor (Flatten, a global pool without keepdims);
* ``EITHER``: ZeroPadding2D, UpSampling2D, SpatialDropout2D with channels_first, whose ops take
  either layout (``backend/reference_reshaping.py``): they compute on the form they are given and
  write the same form;
* every other layer reads and writes tensors as the model defines them.

Where a last form is written, the tensor stays in that form only when every reader takes it
(``NEEDS_LAST`` or ``EITHER``) and it is not a model output; otherwise a transpose back follows at
once and the readers that need the last form transpose it again themselves, exactly as their
layer-by-layer calls do. The gradients a tensor receives therefore arrive in the same order as on
the layer-by-layer path, so the weights are the same bits (``tests/test_training_loop.py``).
"""
from __future__ import annotations

import math

from axonal.layers import BatchNormalization, Flatten, SpatialDropout2D, UpSampling2D, ZeroPadding2D
from axonal.layers._data_format import CHANNELS_FIRST, ChannelsFirstEdges

NEEDS_LAST, EITHER = "needs_last", "either"


def layout_kind(layer) -> str | None:
    """How ``layer`` takes channels_first tensors in the native loop: NEEDS_LAST, EITHER or None."""
    if isinstance(layer, ChannelsFirstEdges) and layer.channels_first:
        return NEEDS_LAST
    if isinstance(layer, Flatten) and layer.transposes_channels:
        return NEEDS_LAST
    if isinstance(layer, BatchNormalization) and layer.moves_channel_axis and layer.channel_axis == 1:
        return NEEDS_LAST
    if isinstance(layer, (ZeroPadding2D, UpSampling2D, SpatialDropout2D)) and layer.data_format == CHANNELS_FIRST:
        return EITHER
    return None


def _channels_and_rest(shape) -> tuple[int, int]:
    """(C, values per channel) of a channels_first tensor shape (N, C, d1, ...)."""
    return int(shape[1]), math.prod(int(d) for d in shape[2:])


class Layout:
    """The loop's tensors for a plan's tensors, with the transposes a channels_first model needs.

    Usage, per call in plan order: :meth:`head` (the step's wiring, after any transposes it needs to
    read its input), append the step, then :meth:`place_output`. :meth:`outputs` gives the loop
    tensors of the model's outputs.
    """

    def __init__(self, plan, specs: list):
        self.plan, self.specs = plan, specs
        self.held = {tensor: tensor for tensor in plan.inputs}  # plan tensor -> loop tensor, as the model has it
        self.last: dict[int, int] = {}                           # plan tensor -> loop tensor of its last form
        self.readers: dict[int, list] = {}
        for call in plan.calls:
            for tensor in call.inputs:
                self.readers.setdefault(tensor, []).append(call)
        self.model_outputs = set(plan.outputs)

    def _next(self) -> int:
        return len(self.plan.inputs) + len(self.specs)

    def _transpose(self, source: int, needs: bool, reached: bool, rows: int, columns: int) -> int:
        self.specs.append(("transpose", (source,), self._next(), (needs,), reached and needs, rows, columns))
        return self._next() - 1

    def head(self, call, needs: tuple, reached: bool) -> tuple[tuple, bool]:
        """``((inputs, output, needs, reached), last)``: the step's wiring over loop tensors, and
        whether it computes on the last form of its input."""
        kind = layout_kind(call.owner)
        inputs, last = [], False
        for j, tensor in enumerate(call.inputs):
            if kind == NEEDS_LAST or (kind == EITHER and tensor in self.last):
                last = True
                if tensor in self.last:
                    inputs.append(self.last[tensor])
                else:  # the layer's own edge copy to channels_last
                    channels, rest = _channels_and_rest(call.owner.input_shape)
                    inputs.append(self._transpose(self.held[tensor], needs[j], reached, channels, rest))
            else:
                inputs.append(self.held[tensor])
        return (tuple(inputs), self._next(), needs, reached), last

    def place_output(self, call, last: bool, reached: bool) -> None:
        """Record where the step just appended left the call's output (its last form when ``last``
        and the output is an image), adding the transpose back where a reader needs it."""
        tensor, written = call.output, self._next() - 1
        shape = call.owner.output_shape
        if not last or len(shape) < 3:
            self.held[tensor] = written
            return
        readers = self.readers.get(tensor, [])
        if readers and tensor not in self.model_outputs and all(layout_kind(r.owner) for r in readers):
            self.last[tensor] = written
            return
        channels, rest = _channels_and_rest(shape)
        self.held[tensor] = self._transpose(written, reached, reached, rest, channels)

    def outputs(self) -> list[int]:
        return [self.held[tensor] for tensor in self.plan.outputs]
