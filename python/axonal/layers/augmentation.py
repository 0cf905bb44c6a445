"""Image augmentation layers: RandomFlip and RandomTranslation, with Keras 3's arguments, and the
base class every random image layer shares (RandomRotation, RandomZoom and RandomContrast are in
:mod:`axonal.layers.random_transforms`).

They transform images of shape (N, H, W, C) or (N, H, W) in training only (``fit``,
``train_on_batch``); at inference (``evaluate``, ``predict``, validation) they pass the batch
through unchanged, as in Keras.

They run on the backend's ``augmentation`` ops (``backend/reference_augmentation.py``; C++ on
``cpu``, CUDA on ``cuda``), so a model holding them trains in the native loop and on the device.
Each training batch draws one set of parameters per image with ``augment_draw``: Philox keyed by
the layer's ``seed`` (else one drawn from the model's seed), its position in the model, the model's
training-step count and the image's index in the batch, the Dropout scheme (docs/design.md,
"Randomness"), so a seeded run repeats exactly on every backend, whatever ``evaluate`` or
``predict`` calls happen in between. Flips, translations, rotations and zooms are one affine
resampling per image (``affine_forward``); the backward pass is its transpose (``affine_backward``),
so the layers may sit anywhere in a model.

Example:
    >>> model = Sequential([Input(shape=(28, 28, 1)), RandomFlip("horizontal"),
    ...                     RandomTranslation(0.1, 0.1, fill_mode="constant"), Flatten(),
    ...                     Dense(10, activation="softmax")])
"""
from __future__ import annotations

from numbers import Real

import numpy as np

from axonal._validation import lookup
from axonal.layers.base import Layer

PARAMS = 6  # per image: a 2x3 matrix (row-major), or the contrast factor and five zeros
FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("bilinear", "nearest")


class ImageAugmentationLayer(Layer):
    """Base class: a subclass sets :attr:`kind` and :meth:`ranges` (what ``augment_draw`` draws per
    image) and, when it is not an affine resampling, :meth:`apply` and :meth:`apply_transpose`.

    Args:
        seed: seed of the random transformations; drawn from the model's seed when None.
        fill_mode, interpolation, fill_value: how the resampling reads outside and between pixels.
    """

    kind = ""  # augment_draw's kind

    def __init__(self, seed: int | None = None, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 fill_value: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.fill_mode = lookup("fill_mode", fill_mode, {name: name for name in FILL_MODES})
        self.interpolation = lookup("interpolation", interpolation, {name: name for name in INTERPOLATIONS})
        self.fill_value = float(fill_value)
        self.active = False

    def attach(self, ops, position, seed, steps):
        super().attach(ops, position, seed, steps)
        drawn = self.seed if self.seed is not None else int(self.rng.integers(2**32))
        self.augment_seed = int(drawn) % 2**32  # Philox keys are 32-bit words, as Dropout's

    def build(self, input_shape):
        if len(input_shape) not in (3, 4):
            raise ValueError(
                f"Layer {self.name!r} ({type(self).__name__}) transforms images of shape (batch, height, "
                f"width, channels) or (batch, height, width), received input shape {tuple(input_shape)}. "
                "Fix: put it before Flatten, or give the model Input(shape=(28, 28, 1)) or "
                "Reshape((28, 28, 1)) first.")
        super().build(input_shape)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of one image (C = 1 for (N, H, W) inputs)."""
        shape = tuple(int(n) for n in self.input_shape[1:])
        return shape if len(shape) == 3 else shape + (1,)

    def ranges(self) -> tuple[float, float, float, float]:
        """(low0, high0, low1, high1): the intervals of the layer's two uniform draws per image."""
        return (0.0, 0.0, 0.0, 0.0)

    def forward(self, x, training):
        self.active = training
        if not training:
            return x
        height, width, channels = self.image_shape
        self.params = self.buffers.get("params", (len(x), PARAMS), np.float64)
        # A data-parallel shard draws its images' global places, as the one-process run does.
        first_image = getattr(self.steps, "first_row", 0)
        self.ops.augment_draw(self.params, self.kind, self.augment_seed, self.position, self.steps.value, height,
                              width, self.ranges(), first_image=first_image)
        y = self.buffers.get("y", x.shape, x.dtype)
        self.apply(y.reshape(len(x), height, width, channels), x.reshape(len(x), height, width, channels))
        return y

    def backward(self, dy):
        if not self.active:
            return dy
        dx = self.buffers.get("dx", dy.shape, dy.dtype)
        images = (len(dy),) + self.image_shape
        self.apply_transpose(dx.reshape(images), dy.reshape(images))
        return dx

    def apply(self, out, images) -> None:
        """Write the drawn transformation of ``images`` (N, H, W, C) into ``out``."""
        self.ops.affine_forward(out, images, self.params, self.fill_mode, self.interpolation, self.fill_value)

    def apply_transpose(self, out, grad) -> None:
        """Write the transposed transformation of ``grad`` (the gradient of the images) into ``out``."""
        self.ops.affine_backward(out, grad, self.params, self.fill_mode, self.interpolation)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}

    def resampling_config(self) -> dict:
        """The resampling arguments, for the config of the layers that take them."""
        return {"fill_mode": self.fill_mode, "interpolation": self.interpolation, "fill_value": self.fill_value}


_FLIP_AXES = {"horizontal": (2,), "vertical": (1,), "horizontal_and_vertical": (1, 2)}
_FLIP_KINDS = {"horizontal": "flip_horizontal", "vertical": "flip_vertical",
               "horizontal_and_vertical": "flip_both"}


class RandomFlip(ImageAugmentationLayer):
    """Flips each training image with probability 1/2.

    As in Keras 3, one draw decides per image: ``"horizontal_and_vertical"`` flips both axes of
    the images it selects (a half turn) and leaves the others unchanged.

    Args:
        mode: ``"horizontal"`` (left-right), ``"vertical"`` (up-down) or ``"horizontal_and_vertical"``.
        seed: seed of the draws; from the model's seed when None.

    Shapes:
        x (N, H, W, C) or (N, H, W) -> y of the same shape.

    Example:
        >>> RandomFlip("horizontal", seed=1)(images, training=True)
    """

    def __init__(self, mode: str = "horizontal_and_vertical", seed: int | None = None, **kwargs):
        # A flip reads whole pixels inside the image: nearest taps copy them exactly.
        super().__init__(seed=seed, fill_mode="reflect", interpolation="nearest", **kwargs)
        self.mode = lookup("RandomFlip mode", mode, {name: name for name in _FLIP_AXES})
        self.kind = _FLIP_KINDS[self.mode]

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class RandomTranslation(ImageAugmentationLayer):
    """Shifts each training image by a random fraction of its height and width.

    A factor ``f`` draws shifts uniformly from ``[-f, f]`` of the size (a pair ``(a, b)`` from
    ``[a, b]``); a positive shift moves the content down (right). Pixels that come from outside the
    image are filled as in Keras: ``"reflect"`` (d c b a | a b c d | d c b a), ``"wrap"``
    (a b c d | a b c d), ``"nearest"`` (a a | a b c d | d d) or ``"constant"`` (``fill_value``).
    Shifts are not rounded: ``"bilinear"`` interpolates between pixels, ``"nearest"`` takes the
    closest one (``floor(s + 1/2)``). A shift is the affine map ``(i, j) -> (i - s_h, j - s_w)``
    of the ``affine_forward`` op.

    Args:
        height_factor: a number in [0, 1] or a pair in [-1, 1], fraction of the height.
        width_factor: the same for the width.
        fill_mode: ``"reflect"`` (Keras' default), ``"wrap"``, ``"constant"`` or ``"nearest"``.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        seed: seed of the draws; from the model's seed when None.
        fill_value: the value of pixels from outside with ``fill_mode="constant"``.

    Shapes:
        x (N, H, W, C) or (N, H, W) -> y of the same shape.

    Example:
        >>> RandomTranslation(0.1, 0.1, fill_mode="constant", seed=3)
    """

    kind = "translation"

    def __init__(self, height_factor, width_factor, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed: int | None = None, fill_value: float = 0.0, **kwargs):
        super().__init__(seed=seed, fill_mode=fill_mode, interpolation=interpolation, fill_value=fill_value, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_range = _factor_range(height_factor, "height_factor")
        self.width_range = _factor_range(width_factor, "width_factor")

    def ranges(self):
        return (*self.height_range, *self.width_range)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor,
                **self.resampling_config()}


def _factor_range(factor, argument: str) -> tuple[float, float]:
    """Keras' factor rule: ``f`` means [-|f|, |f|], a pair (a, b) means [min, max]; all within [-1, 1]."""
    values = tuple(factor) if isinstance(factor, (tuple, list)) else (factor,)
    if len(values) not in (1, 2) or not all(isinstance(v, Real) and not isinstance(v, bool) and -1 <= v <= 1
                                             for v in values):
        raise ValueError(f"{argument} must be a number or a pair of numbers in [-1, 1] (fractions of the image "
                         f"size), received {argument}={factor!r}. Fix: e.g. {argument}=0.1 or (-0.2, 0.1).")
    if len(values) == 1:
        return -abs(float(values[0])), abs(float(values[0]))
    low, high = sorted(float(v) for v in values)
    return low, high
