"""``data_format="channels_first"`` for the image layers, by transposing at the layer's edges.

The kernels (C++, CUDA, the NumPy reference) take channels_last images (N, H, W, C), as Keras'
default. A layer built with ``data_format="channels_first"`` receives (N, C, H, W): it copies its
input to (N, H, W, C), runs the same kernel, and copies the result back to (N, C', H', W'); its
backward pass does the same to the gradients, in reverse. Each copy is one ``transpose_samples``
op (every backend has it, so a device step captures it) into a buffer the layer keeps, so nothing
is allocated after the first batch; the cost next to the convolution is measured in
``docs/keras-surface.md``.

Channels_first models run in the native loop and on the device too: the loop transposes only
where the layout changes (``models/executors/native_layout.py``), with the same bits.

Example:
    >>> conv = Conv2D(8, 3, data_format="channels_first")
    >>> conv(np.zeros((2, 3, 32, 32), "float32")).shape
    (2, 8, 30, 30)
"""
from __future__ import annotations

from axonal.backend.keras_utils import standardize_data_format

CHANNELS_FIRST = "channels_first"
_TO_LAST = (0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C)
_TO_FIRST = (0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)


def data_format_argument(layer, data_format) -> str:
    """The layer's ``data_format``: checked, lower-cased; None gives ``image_data_format()``."""
    return standardize_data_format(data_format, f"Layer {layer.name!r} ({type(layer).__name__}): data_format")


def check_channels_first_shape(layer, input_shape: tuple) -> None:
    """Raise unless ``input_shape`` is (batch, channels, height, width)."""
    shape = tuple(input_shape)
    if len(shape) != 4:
        raise ValueError(f"Layer {layer.name!r} ({type(layer).__name__}) has data_format='channels_first' and "
                         f"expects images of shape (batch, channels, height, width), received input shape "
                         f"{shape}. Fix: reshape the data to (N, C, H, W), e.g. x.reshape(-1, 1, 28, 28) for "
                         "28x28 grey images, or use data_format='channels_last' for (N, H, W, C) data.")


def move_channels(ops, out, x, to_last: bool) -> None:
    """``out`` = ``x`` (N, C, d1, ...) with the channel axis moved last (``to_last``), or ``x``
    (N, d1, ..., C) with it moved to axis 1: one ``transpose_samples`` op over the (N, C, d1·...)
    view, so that a device step captures the copy with its kernels."""
    n = len(x)
    if to_last:
        channels = x.shape[1]
        ops.transpose_samples(out.reshape(n, -1, channels), x.reshape(n, channels, -1))
    else:
        channels = x.shape[-1]
        ops.transpose_samples(out.reshape(n, channels, -1), x.reshape(n, -1, channels))


class ChannelsFirstEdges:
    """For image layers with a ``data_format``: the shape conversions and the four edge copies.

    The layer sets ``self.data_format`` in ``__init__``; its ``build`` and ``compute_output_shape``
    work on :meth:`_last_shape` of the input shape, and its ``forward``/``backward`` wrap the
    channels_last kernel calls in :meth:`_enter`/:meth:`_leave` (the identity for channels_last).
    """

    data_format = "channels_last"

    @property
    def channels_first(self) -> bool:
        return self.data_format == CHANNELS_FIRST

    @property
    def transposes_channels(self) -> bool:
        """Whether the layer transposes at its edges (what the compiled executors cannot do)."""
        return self.channels_first

    def _last_shape(self, input_shape: tuple) -> tuple:
        """``input_shape`` as the kernels see it: (N, H, W, C)."""
        if not self.channels_first:
            return tuple(input_shape)
        check_channels_first_shape(self, input_shape)
        return tuple(input_shape[i] for i in _TO_LAST)

    def _first_shape(self, shape: tuple) -> tuple:
        """A channels_last image shape as this layer's callers see it."""
        return tuple(shape[i] for i in _TO_FIRST) if self.channels_first and len(shape) == 4 else tuple(shape)

    def _enter(self, x, name: str):
        """``x`` (the layer's layout) as a C-contiguous channels_last array (a kept buffer)."""
        if not self.channels_first:
            return x
        out = self.buffers.get(name, tuple(x.shape[i] for i in _TO_LAST))
        move_channels(self.ops, out, x, to_last=True)
        return out

    def _leave(self, y, name: str):
        """``y`` (channels_last, from a kernel) in the layer's layout (a kept buffer)."""
        if not self.channels_first or y is None or y.ndim != 4:
            return y
        out = self.buffers.get(name, tuple(y.shape[i] for i in _TO_FIRST))
        move_channels(self.ops, out, y, to_last=False)
        return out
