"""Image reshaping layers: ZeroPadding2D and UpSampling2D, with Keras 3's arguments.

They call the backend's image reshaping ops (``zero_pad2d_*``, ``upsample2d_*``: the NumPy
reference, C++ and CUDA), with exact backward passes: the gradient of a padding is the interior of
the output gradient, that of a nearest-neighbour upsampling the sum of each block of the output
gradient (in a fixed order, so every backend gives the same bits). The ops take images as
(M, H, W, B), so a channels_first batch (N, C, H, W) is passed as its (N·C, H, W, 1) view and needs
no transpose. Both run in the native training loop and on the device.

Example:
    >>> ZeroPadding2D(1)(np.ones((1, 2, 2, 1), "float32"))[0, :, :, 0]
    array([[0., 0., 0., 0.],
           [0., 1., 1., 0.],
           [0., 1., 1., 0.],
           [0., 0., 0., 0.]], dtype=float32)
"""
from __future__ import annotations

from typing import Any

import numpy as np

from axonal.layers._data_format import CHANNELS_FIRST, data_format_argument
from axonal.layers._window import as_pair
from axonal.layers.base import Layer


def _padding_pairs(padding: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    """Keras' padding forms as ((top, bottom), (left, right)) of ints >= 0."""
    def whole(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0

    if whole(padding):
        return (int(padding),) * 2, (int(padding),) * 2
    try:
        first, second = padding
        if whole(first) and whole(second):
            return (int(first),) * 2, (int(second),) * 2
        (top, bottom), (left, right) = first, second
        if all(whole(v) for v in (top, bottom, left, right)):
            return (int(top), int(bottom)), (int(left), int(right))
    except (TypeError, ValueError):
        pass
    raise ValueError(f"ZeroPadding2D padding must be an int, a pair (rows, columns) or ((top, bottom), (left, "
                     f"right)) of ints >= 0, received {padding!r}. Fix: e.g. padding=1, (1, 2) or ((1, 0), (2, 2)).")


class _ImageLayer(Layer):
    """Shared by the two: the data format and the positions of the height and width axes."""

    def __init__(self, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format_argument(self, data_format)
        self.rows_axis = 2 if self.data_format == CHANNELS_FIRST else 1  # the width axis follows it

    def check_input_shape(self, input_shape, sources=None):
        if len(input_shape) != 4:
            layout = "channels, height, width" if self.data_format == CHANNELS_FIRST else "height, width, channels"
            raise ValueError(f"Layer {self.name!r} ({type(self).__name__}) expects images of shape (batch, {layout}), "
                             f"received input shape {tuple(input_shape)}. Fix: reshape the data, e.g. "
                             "x.reshape(-1, 28, 28, 1), or put Reshape((28, 28, 1)) before this layer.")

    def image_view(self, shape: tuple) -> tuple:
        """The (M, H, W, B) view of an image batch of ``shape`` that the ops take."""
        if self.data_format == CHANNELS_FIRST:
            n, c, h, w = shape
            return (n * c, h, w, 1)
        return tuple(shape)

    def _resized(self, input_shape, rows, columns) -> tuple:
        """``input_shape`` with the height and width mapped by ``rows`` and ``columns`` (functions)."""
        self.check_input_shape(input_shape)
        shape = list(input_shape)
        a = self.rows_axis
        shape[a] = None if shape[a] is None else rows(shape[a])
        shape[a + 1] = None if shape[a + 1] is None else columns(shape[a + 1])
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class ZeroPadding2D(_ImageLayer):
    """Adds rows and columns of zeros around each image.

    Args:
        padding: an int (the same on all four sides), a pair (rows above and below, columns left and
            right) or ((top, bottom), (left, right)).
        data_format: ``'channels_last'``, ``'channels_first'`` or None for
            :func:`axonal.backend.image_data_format`.
        **kwargs: ``name``, ``trainable``, ``input_shape`` (see :class:`Layer`).

    Shapes:
        x (N, H, W, C) -> y (N, top + H + bottom, left + W + right, C).
    """

    def __init__(self, padding=(1, 1), data_format: str | None = None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.padding = _padding_pairs(padding)

    def compute_output_shape(self, input_shape):
        (top, bottom), (left, right) = self.padding
        return self._resized(input_shape, lambda h: top + h + bottom, lambda w: left + w + right)

    @property
    def explicit_padding(self) -> tuple[int, int, int, int]:
        """(top, bottom, left, right), as the ops take it."""
        (top, bottom), (left, right) = self.padding
        return top, bottom, left, right

    def forward(self, x, training):
        self.input_batch_shape = x.shape
        y = self.buffers.get("y", (len(x), *self.compute_output_shape(x.shape)[1:]), x.dtype)
        self.ops.zero_pad2d_forward(y.reshape(self.image_view(y.shape)), x.reshape(self.image_view(x.shape)),
                                    self.explicit_padding)
        return y

    def backward(self, dy):
        dx = self.buffers.get("dx", self.input_batch_shape, dy.dtype)
        self.ops.zero_pad2d_backward(dx.reshape(self.image_view(dx.shape)), dy.reshape(self.image_view(dy.shape)),
                                     self.explicit_padding)
        return dx

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


class UpSampling2D(_ImageLayer):
    """Repeats each row ``size[0]`` times and each column ``size[1]`` times (nearest neighbour).

    Args:
        size: the factors (rows, columns), or one int for both.
        data_format: ``'channels_last'``, ``'channels_first'`` or None for
            :func:`axonal.backend.image_data_format`.
        interpolation: ``"nearest"``; ``"bilinear"`` and Keras' other modes are refused with a fix
            (their backward passes are weighted scatters that no kernel of axonal computes yet).
        **kwargs: ``name``, ``trainable``, ``input_shape`` (see :class:`Layer`).

    Shapes:
        x (N, H, W, C) -> y (N, H·size[0], W·size[1], C).

    Example:
        >>> UpSampling2D(2)(np.arange(4, dtype="float32").reshape(1, 2, 2, 1))[0, :, :, 0]
        array([[0., 0., 1., 1.],
               [0., 0., 1., 1.],
               [2., 2., 3., 3.],
               [2., 2., 3., 3.]], dtype=float32)
    """

    def __init__(self, size=(2, 2), data_format: str | None = None, interpolation: str = "nearest", **kwargs):
        super().__init__(data_format, **kwargs)
        self.size = as_pair(size, "size")
        if interpolation != "nearest":
            raise ValueError(f"Layer {self.name!r} (UpSampling2D): interpolation={interpolation!r} is not supported; "
                             "axonal implements 'nearest' only. Fix: use interpolation='nearest', or learn the "
                             "upsampling with a Conv2D after it.")
        self.interpolation = interpolation

    def compute_output_shape(self, input_shape):
        return self._resized(input_shape, lambda h: h * self.size[0], lambda w: w * self.size[1])

    def forward(self, x, training):
        self.input_batch_shape = x.shape
        y = self.buffers.get("y", (len(x), *self.compute_output_shape(x.shape)[1:]), x.dtype)
        self.ops.upsample2d_forward(y.reshape(self.image_view(y.shape)), x.reshape(self.image_view(x.shape)),
                                    self.size)
        return y

    def backward(self, dy):
        dx = self.buffers.get("dx", self.input_batch_shape, dy.dtype)
        self.ops.upsample2d_backward(dx.reshape(self.image_view(dx.shape)), dy.reshape(self.image_view(dy.shape)),
                                     self.size)
        return dx

    def get_config(self):
        return {**super().get_config(), "size": self.size, "interpolation": self.interpolation}
