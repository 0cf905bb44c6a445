"""SpatialDropout2D: dropout of whole feature maps, as Keras' ``SpatialDropout2D``.

In training each image's channel is dropped (every pixel of it zeroed) with probability ``rate`` and
the kept channels are scaled by 1 / (1 - rate); at inference the layer is the identity. The (N, C)
keep-mask is the Dropout mask of an (N, C) activation (Philox, keyed on the seed, the layer's
position in the model and the model's training step: ``docs/design.md``, "Randomness"), so a seeded
run repeats exactly and every backend draws the same mask. The layer calls the backend's
``spatial_dropout_forward``/``spatial_dropout_backward`` (NumPy reference, C++, CUDA); it runs in the
native training loop and on the device like Dropout.

Example:
    >>> model = Sequential([Input(shape=(28, 28, 1)), Conv2D(32, 3, activation="relu"),
    ...                     SpatialDropout2D(0.2), Flatten(), Dense(10, activation="softmax")])
"""
from __future__ import annotations

import numpy as np

from axonal.layers._data_format import CHANNELS_FIRST, data_format_argument
from axonal.layers.base import Layer


class SpatialDropout2D(Layer):
    """Drops whole channels of images in training; the identity at inference.

    Args:
        rate: probability of dropping a channel, in [0, 1).
        data_format: ``'channels_last'`` (channels on the last axis), ``'channels_first'`` (axis 1)
            or None for :func:`axonal.backend.image_data_format`.
        seed: seed of the masks; drawn from the model's seed when None.
        **kwargs: ``name``, ``trainable``, ``input_shape`` (see :class:`Layer`).

    Shapes:
        x (N, H, W, C) -> y (N, H, W, C).
    """

    def __init__(self, rate: float, data_format: str | None = None, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(f"Layer {self.name!r} (SpatialDropout2D): rate must be a number in [0, 1), received "
                             f"rate={rate!r}. Fix: e.g. SpatialDropout2D(0.2).")
        self.rate = float(rate)
        self.data_format = data_format_argument(self, data_format)
        self.seed = seed
        self.active = False

    def attach(self, ops, position, seed, steps):
        super().attach(ops, position, seed, steps)
        self.mask_seed = self.seed if self.seed is not None else int(self.rng.integers(2**32))

    def check_input_shape(self, input_shape, sources=None):
        if len(input_shape) != 4:
            raise ValueError(f"Layer {self.name!r} (SpatialDropout2D) expects images of shape (batch, height, width, "
                             f"channels), received input shape {tuple(input_shape)}. Fix: put it after a Conv2D or "
                             "pooling layer, before Flatten.")

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        super().build(input_shape)

    def channel_view(self, shape: tuple) -> tuple:
        """The (N, A, C, B) view of an image batch of ``shape`` that the ops take: (N, H·W, C, 1) for
        channels_last, (N, 1, C, H·W) for channels_first."""
        if self.data_format == CHANNELS_FIRST:
            n, c, h, w = shape
            return (n, 1, c, h * w)
        n, h, w, c = shape
        return (n, h * w, c, 1)

    def forward(self, x, training):
        self.active = training and self.rate > 0
        if not self.active:
            return x
        view = self.channel_view(x.shape)
        y = self.buffers.get("y", x.shape, x.dtype)
        self.mask = self.buffers.get("mask", (view[0], view[2]), np.uint8)
        first_row = getattr(self.steps, "first_row", 0)  # a data-parallel shard's place in its global batch
        if first_row:  # its maps are numbered from there (docs/distributed.md)
            self.ops.spatial_dropout_forward(y.reshape(view), self.mask, x.reshape(view), self.rate, self.mask_seed,
                                             self.position, self.steps.value, first_element=first_row * view[2])
        else:
            self.ops.spatial_dropout_forward(y.reshape(view), self.mask, x.reshape(view), self.rate, self.mask_seed,
                                             self.position, self.steps.value)
        return y

    def backward(self, dy):
        if not self.active:
            return dy
        view = self.channel_view(dy.shape)
        dx = self.buffers.get("dx", dy.shape, dy.dtype)
        self.ops.spatial_dropout_backward(dx.reshape(view), dy.reshape(view), self.mask, self.rate)
        return dx

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "data_format": self.data_format, "seed": self.seed}
