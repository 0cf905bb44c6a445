"""Image augmentation layers: RandomFlip and RandomTranslation, with Keras 3's arguments.

They transform images of shape (N, H, W, C) or (N, H, W) in training only (``fit``,
``train_on_batch``); at inference (``evaluate``, ``predict``, validation) they pass the batch
through unchanged, as in Keras.

They are written in NumPy and run on the host whatever the backend: there is no backend op for
them, because the work is small next to a model's (a copy for a flip, two batched matrix products
for a translation) and NumPy keeps them identical on every backend. Each training batch draws its
transformations from ``numpy.random.default_rng([seed, position, step])`` — the layer's ``seed``
(else one drawn from the model's seed), its position in the model and the model's training-step
count, the scheme Dropout uses — so a seeded run repeats exactly, whatever ``evaluate`` or
``predict`` calls happen in between. The backward pass applies the transposed transformation, so
the layers may sit anywhere in a model.

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


class ImageAugmentationLayer(Layer):
    """Base class: subclasses implement :meth:`draw` (the batch's random transformation) and
    :meth:`transform` (apply it, or its transpose for the backward pass).

    Args:
        seed: seed of the random transformations; drawn from the model's seed when None.
    """

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.active = False

    def attach(self, ops, position, seed, steps):
        super().attach(ops, position, seed, steps)
        self.augment_seed = self.seed if self.seed is not None else int(self.rng.integers(2**32))

    def build(self, input_shape):
        if len(input_shape) not in (3, 4):
            raise ValueError(
                f"Layer {self.name!r} ({type(self).__name__}) transforms images of shape (batch, height, "
                f"width, channels) or (batch, height, width), received input shape {tuple(input_shape)}. "
                "Fix: put it before Flatten, or give the model Input(shape=(28, 28, 1)) or "
                "Reshape((28, 28, 1)) first.")
        super().build(input_shape)

    def forward(self, x, training):
        self.active = training
        if not training:
            return x
        self.draw(np.random.default_rng([self.augment_seed, self.position, self.steps.value]), len(x))
        y = self.buffers.get("y", x.shape)
        self.transform(y, x, transpose=False)
        return y

    def backward(self, dy):
        if not self.active:
            return dy
        dx = self.buffers.get("dx", dy.shape)
        self.transform(dx, dy, transpose=True)
        return dx

    def draw(self, rng: np.random.Generator, count: int) -> None:
        """Draw the random transformation of each of the ``count`` images of this batch."""
        raise NotImplementedError

    def transform(self, out: np.ndarray, images: np.ndarray, transpose: bool) -> None:
        """Write the drawn transformation of ``images`` (its transpose, for gradients) into ``out``."""
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


_FLIP_AXES = {"horizontal": (2,), "vertical": (1,), "horizontal_and_vertical": (1, 2)}


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
        super().__init__(seed=seed, **kwargs)
        self.mode = lookup("RandomFlip mode", mode, {name: name for name in _FLIP_AXES})

    def draw(self, rng, count):
        self.flips = rng.random(count) <= 0.5  # Keras 3: uniform <= 0.5 selects an image

    def transform(self, out, images, transpose):
        # A flip is its own transpose: gradients are flipped exactly like the images.
        np.copyto(out, images)
        selected = self.flips.reshape((-1,) + (1,) * (images.ndim - 1))
        np.copyto(out, np.flip(images, axis=_FLIP_AXES[self.mode]), where=selected)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


_FILL_MODES = ("reflect", "wrap", "constant", "nearest")
_INTERPOLATIONS = ("bilinear", "nearest")


class RandomTranslation(ImageAugmentationLayer):
    """Shifts each training image by a random fraction of its height and width.

    A factor ``f`` draws shifts uniformly from ``[-f, f]`` of the size (a pair ``(a, b)`` from
    ``[a, b]``); a positive shift moves the content down (right). Pixels that come from outside the
    image are filled as in Keras: ``"reflect"`` (d c b a | a b c d | d c b a), ``"wrap"``
    (a b c d | a b c d), ``"nearest"`` (a a | a b c d | d d) or ``"constant"`` (``fill_value``).
    Shifts are not rounded: ``"bilinear"`` interpolates between pixels, ``"nearest"`` takes the
    closest one. Each shift is a matrix acting on the rows (columns) of an image, so the forward
    pass is ``Rows @ image @ Columnsᵀ`` and the backward pass ``Rowsᵀ @ grad @ Columns``, one batched
    matrix product each; the cost per image is O(H²·W·C + H·W²·C), small for the image sizes of
    classic programs (28×28, 32×32).

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

    def __init__(self, height_factor, width_factor, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed: int | None = None, fill_value: float = 0.0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_range = _factor_range(height_factor, "height_factor")
        self.width_range = _factor_range(width_factor, "width_factor")
        self.fill_mode = lookup("fill_mode", fill_mode, {name: name for name in _FILL_MODES})
        self.interpolation = lookup("interpolation", interpolation, {name: name for name in _INTERPOLATIONS})
        self.fill_value = float(fill_value)

    def draw(self, rng, count):
        height, width = self.input_shape[1:3]
        self.rows = self.buffers.get("rows", (count, height, height))
        self.columns = self.buffers.get("columns", (count, width, width))
        _shift_matrices(self.rows, rng.uniform(*self.height_range, count) * height, self.fill_mode,
                        self.interpolation)
        _shift_matrices(self.columns, rng.uniform(*self.width_range, count) * width, self.fill_mode,
                        self.interpolation)

    def transform(self, out, images, transpose):
        count, height, width = images.shape[:3]
        rows, columns = self.rows, self.columns
        if transpose:
            rows, columns = rows.transpose(0, 2, 1), columns.transpose(0, 2, 1)
        shifted_rows = self.buffers.get("shifted_rows", images.shape)
        np.matmul(rows, images.reshape(count, height, -1), out=shifted_rows.reshape(count, height, -1))
        # Columns (W, W) act on each row (W, C) of every image: broadcast over the H rows.
        np.matmul(columns[:, None], shifted_rows.reshape(count, height, width, -1),
                  out=out.reshape(count, height, width, -1))
        if not transpose and self.fill_mode == "constant" and self.fill_value:
            self._add_fill(out)

    def _add_fill(self, out):
        """Pixel (i, j) drew a weight row_i·column_j from inside the image; the rest is fill_value."""
        count, height, width = out.shape[:3]
        inside = self.buffers.get("inside", (count, height, width))
        np.multiply(self.rows.sum(axis=2)[:, :, None], self.columns.sum(axis=2)[:, None, :], out=inside)
        np.subtract(1.0, inside, out=inside)
        inside *= self.fill_value
        out.reshape(count, height, width, -1)[...] += inside[..., None]

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor,
                "fill_mode": self.fill_mode, "interpolation": self.interpolation, "fill_value": self.fill_value}


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


def _shift_matrices(out: np.ndarray, shifts: np.ndarray, fill_mode: str, interpolation: str) -> None:
    """``out[n]`` (L, L) such that ``(out[n] @ v)[i]`` samples ``v`` at ``i - shifts[n]``.

    A sample between two pixels weighs them by distance (bilinear) or takes the closest (nearest,
    ``floor(s + 1/2)``); positions outside [0, L) read the pixel ``fill_mode`` maps them to, and
    for ``"constant"`` nothing (the fill value is added separately).
    """
    count, length = out.shape[:2]
    source = np.arange(length)[None, :] - shifts[:, None]
    if interpolation == "nearest":
        taps = [(np.floor(source + 0.5), 1.0)]
    else:
        low = np.floor(source)
        taps = [(low, 1.0 - (source - low)), (low + 1, source - low)]
    out.fill(0.0)
    images, positions = np.arange(count)[:, None], np.arange(length)[None, :]
    for index, weight in taps:
        pixel, inside = _extend(index.astype(np.int64), length, fill_mode)
        # Each (image, position) pair appears once per tap, so += adds both taps even when they
        # land on the same pixel (at an edge).
        out[images, positions, pixel] += weight * inside


def _extend(index: np.ndarray, length: int, fill_mode: str):
    """The pixel in [0, length) that an index anywhere reads under ``fill_mode``, and whether it
    reads the image at all (False only outside the image with ``"constant"``)."""
    if fill_mode == "reflect":
        folded = index % (2 * length)
        return np.where(folded < length, folded, 2 * length - 1 - folded), True
    if fill_mode == "wrap":
        return index % length, True
    inside = (index >= 0) & (index < length)
    return np.clip(index, 0, length - 1), (True if fill_mode == "nearest" else inside)
