"""Keras 3's ``RandomRotation``, ``RandomZoom`` and ``RandomContrast``: training-only image
augmentation on the backend's ``augmentation`` ops, like ``RandomFlip``/``RandomTranslation`` (see
:mod:`axonal.layers.augmentation`: per-image Philox draws from (seed, position, step, image),
identity at inference, exact backward passes).

Rotation and zoom are one affine resampling per image (``affine_forward``: a gather forward, its
transpose, a scatter-add, backward) about the pixel centre ((H - 1) / 2, (W - 1) / 2); contrast is a
per-image scale about the image's mean, clipped to ``value_range`` (``contrast_forward``).
"""
from __future__ import annotations

from numbers import Real

import numpy as np

from axonal.layers.augmentation import ImageAugmentationLayer, _factor_range


class _Resampled(ImageAugmentationLayer):
    """A random affine map per image (``augment_draw`` of :attr:`kind`), resampled with Keras'
    fill modes and interpolations."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0, **kwargs):
        super().__init__(seed=seed, fill_mode=fill_mode, interpolation=interpolation, fill_value=fill_value, **kwargs)

    def get_config(self):
        return {**super().get_config(), **self.resampling_config()}


class RandomRotation(_Resampled):
    """Turns each training image by a random angle: ``factor`` is a fraction of a full turn, drawn
    from [-factor, factor] (a pair (a, b): from [a, b]), as in Keras 3.

    Args:
        factor: a number in [0, 1] or a pair in [-1, 1] (0.1: up to ±36 degrees).
        fill_mode: ``"reflect"`` (Keras' default), ``"wrap"``, ``"constant"`` or ``"nearest"``.
        interpolation: ``"bilinear"`` or ``"nearest"``.
        seed: seed of the draws; from the model's seed when None.
        fill_value: the value outside the image with ``fill_mode="constant"``.
        value_range: accepted for Keras' sake (the rotation does not change the values' range).

    Shapes:
        x (N, H, W, C) or (N, H, W) -> y of the same shape.

    Example:
        >>> RandomRotation(0.1, fill_mode="constant", seed=1)
    """

    kind = "rotation"

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 value_range=(0, 255), **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.factor, self.value_range = factor, tuple(value_range)
        self.factor_range = _factor_range(factor, "factor")

    def ranges(self):
        return (*self.factor_range, 0.0, 0.0)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": list(self.value_range)}


class RandomZoom(_Resampled):
    """Zooms each training image in or out: a factor draw ``z`` reads a region ``1 + z`` times the
    image's size, so a positive draw zooms out and a negative one in, as in Keras 3.

    Args:
        height_factor: a number in [0, 1] (draws in [-f, f]) or a pair in [-1, 1].
        width_factor: the same for the width; None keeps the aspect ratio (the height's draw).
        fill_mode, interpolation, seed, fill_value: as :class:`RandomRotation`.

    Shapes:
        x (N, H, W, C) or (N, H, W) -> y of the same shape.

    Example:
        >>> RandomZoom(0.2, seed=1)
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_range = _factor_range(height_factor, "height_factor")
        self.width_range = None if width_factor is None else _factor_range(width_factor, "width_factor")
        self.kind = "zoom_keep_aspect" if width_factor is None else "zoom"

    def ranges(self):
        return (*self.height_range, *(self.width_range or (0.0, 0.0)))

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomContrast(ImageAugmentationLayer):
    """Scales each training image's contrast: ``y = (x - m) · c + m`` with ``m`` the image's mean
    per channel, clipped to ``value_range``. ``c`` is drawn as Keras 3.15 draws it: from
    ``[1 - lower, 1 + upper]`` where a number ``f`` gives ``lower = 0, upper = f`` (Keras'
    ``_set_factor`` with bounds [0, 1]) and a pair gives ``(lower, upper)``.

    Args:
        factor: a number in [0, 1], or a pair.
        value_range: (low, high) of the values, (0, 255) by default.
        seed: seed of the draws; from the model's seed when None.

    Shapes:
        x (N, H, W, C) or (N, H, W) -> y of the same shape.

    Example:
        >>> RandomContrast(0.2, value_range=(0, 1), seed=1)
    """

    kind = "contrast"

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        values = tuple(factor) if isinstance(factor, (list, tuple)) else (factor,)
        if len(values) not in (1, 2) or not all(isinstance(v, Real) and not isinstance(v, bool) for v in values) or (
                len(values) == 1 and not 0 <= values[0] <= 1):
            raise ValueError(f"RandomContrast: factor must be a number in [0, 1] or a pair of numbers, received "
                             f"{factor!r}. Fix: e.g. factor=0.2.")
        self.factor, self.value_range = factor, tuple(float(v) for v in value_range)
        self.bounds = (0.0, float(values[0])) if len(values) == 1 else tuple(sorted(float(v) for v in values))

    def ranges(self):
        return (1.0 - self.bounds[0], 1.0 + self.bounds[1], 0.0, 0.0)

    def apply(self, out, images):
        self.inside = self.buffers.get("inside", images.shape, np.uint8)
        self.ops.contrast_forward(out, self.inside, images, self.params, *self.value_range)

    def apply_transpose(self, out, grad):  # y = c·x + (1 - c)·mean(x) inside the range, flat where clipped
        self.ops.contrast_backward(out, grad, self.inside, self.params)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": list(self.value_range)}
