"""``ImageDataGenerator``: Keras 2's image augmentation and normalisation, vectorised per batch.

``flow(x, y)`` returns a :class:`NumpyArrayIterator`, a :class:`~axonal.utils.PyDataset` that
``fit`` reads like any other: each batch draws every image's rotation, shifts, shear, zoom and
flips, builds one (N, 2, 3) matrix set and resamples the whole batch at once
(:mod:`axonal.layers._affine`), then :meth:`ImageDataGenerator.standardize` applies the
rescaling and normalisation to the batch as one array. The draws of batch ``i`` in epoch ``e`` come
from ``default_rng([seed, e, i])``, so a seeded run repeats whatever the number of workers.

Example:
    >>> datagen = ImageDataGenerator(rotation_range=15, width_shift_range=0.1, horizontal_flip=True,
    ...                              featurewise_center=True, featurewise_std_normalization=True)
    >>> datagen.fit(x_train)
    >>> model.fit(datagen.flow(x_train, y_train, batch_size=64), epochs=10)  # doctest: +SKIP
"""
from __future__ import annotations

import math
from numbers import Real

import numpy as np

from axonal.layers._affine import FILL_MODES, Resampling
from axonal.py_dataset import PyDataset

__all__ = ["ImageDataGenerator", "NumpyArrayIterator"]


def _range(value, argument: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or value < 0:
        raise ValueError(f"ImageDataGenerator: {argument} must be a number >= 0, received {value!r}. "
                         f"Fix: e.g. {argument}=0.1.")
    return float(value)


class ImageDataGenerator:
    """Random transformations and normalisation of image batches (N, H, W, C), as Keras 2's.

    Args:
        featurewise_center: subtract the per-channel mean found by :meth:`fit`.
        samplewise_center: subtract each image's mean.
        featurewise_std_normalization: divide by the per-channel std found by :meth:`fit`.
        samplewise_std_normalization: divide each image by its std.
        rotation_range: degrees; each image turns by a uniform draw in [-r, r].
        width_shift_range, height_shift_range: a fraction of the size (< 1) or pixels (>= 1);
            each image moves by a uniform draw in [-s, s].
        shear_range: degrees of shear, drawn in [-s, s].
        zoom_range: a number z ([1 - z, 1 + z]) or a pair [low, high]; rows and columns scale
            independently, as in Keras (a draw above 1 zooms out).
        fill_mode: ``"nearest"`` (default), ``"constant"``, ``"reflect"`` or ``"wrap"``.
        cval: the value of ``"constant"`` fill.
        horizontal_flip, vertical_flip: flip half of the images.
        rescale: multiply every value by this (before the other normalisation, as Keras).
        preprocessing_function: called on each image (H, W, C) after the transformations.
        data_format: ``"channels_last"`` only (None means it).
        dtype: of the batches, float32 by default.
    """

    def __init__(self, featurewise_center=False, samplewise_center=False, featurewise_std_normalization=False,
                 samplewise_std_normalization=False, rotation_range=0, width_shift_range=0.0,
                 height_shift_range=0.0, shear_range=0.0, zoom_range=0.0, fill_mode="nearest", cval=0.0,
                 horizontal_flip=False, vertical_flip=False, rescale=None, preprocessing_function=None,
                 data_format=None, dtype="float32"):
        if data_format not in (None, "channels_last"):
            raise ValueError(f"ImageDataGenerator: data_format={data_format!r} is not supported; images are "
                             "(N, H, W, C). Fix: pass data_format='channels_last' and transpose the images, e.g. "
                             "x.transpose(0, 2, 3, 1).")
        if fill_mode not in FILL_MODES:
            raise ValueError(f"ImageDataGenerator: fill_mode must be one of {FILL_MODES}, received {fill_mode!r}.")
        self.featurewise_center, self.samplewise_center = bool(featurewise_center), bool(samplewise_center)
        self.featurewise_std_normalization = bool(featurewise_std_normalization)
        self.samplewise_std_normalization = bool(samplewise_std_normalization)
        self.rotation_range = _range(rotation_range, "rotation_range")
        self.width_shift_range = _range(width_shift_range, "width_shift_range")
        self.height_shift_range = _range(height_shift_range, "height_shift_range")
        self.shear_range = _range(shear_range, "shear_range")
        if isinstance(zoom_range, (list, tuple)) and len(zoom_range) == 2:
            self.zoom_range = [float(zoom_range[0]), float(zoom_range[1])]
        elif isinstance(zoom_range, Real) and not isinstance(zoom_range, bool):
            self.zoom_range = [1.0 - zoom_range, 1.0 + zoom_range]
        else:
            raise ValueError(f"ImageDataGenerator: zoom_range must be a number or a pair [low, high], received "
                             f"{zoom_range!r}. Fix: e.g. zoom_range=0.1 or zoom_range=[0.9, 1.2].")
        self.fill_mode, self.cval = fill_mode, float(cval)
        self.horizontal_flip, self.vertical_flip = bool(horizontal_flip), bool(vertical_flip)
        self.rescale, self.preprocessing_function = rescale, preprocessing_function
        self.dtype = np.dtype(dtype)
        self.mean = self.std = None

    # ----- statistics ---------------------------------------------------------------------------

    def fit(self, x, augment: bool = False, rounds: int = 1, seed: int | None = None) -> None:
        """Find the per-channel mean and std of ``x`` (N, H, W, C) for the featurewise options (on
        the raw values, before ``rescale``, as Keras does); ``augment`` uses ``rounds`` augmented copies."""
        x = _images(x, "ImageDataGenerator.fit: x").astype(self.dtype)
        if augment:
            rng = np.random.default_rng(seed)
            x = np.concatenate([self.apply_transform(x, self.draw(rng, x.shape)) for _ in range(rounds)])
        if self.featurewise_center:
            self.mean = x.mean(axis=(0, 1, 2), keepdims=True)[0].astype(self.dtype)
            x = x - self.mean
        if self.featurewise_std_normalization:
            self.std = x.std(axis=(0, 1, 2), keepdims=True)[0].astype(self.dtype)

    def standardize(self, x: np.ndarray) -> np.ndarray:
        """Apply ``preprocessing_function``, ``rescale`` and the normalisation options to a batch
        (N, H, W, C) or one image (H, W, C), in place when ``x`` has the generator's dtype."""
        x = np.asarray(x, dtype=self.dtype)
        single = x.ndim == 3
        batch = x[None] if single else x
        if self.preprocessing_function is not None:
            batch = np.stack([np.asarray(self.preprocessing_function(image), dtype=self.dtype) for image in batch])
        if self.rescale:
            batch *= self.dtype.type(self.rescale)
        axes = tuple(range(1, batch.ndim))
        if self.samplewise_center:
            batch -= batch.mean(axis=axes, keepdims=True)
        if self.samplewise_std_normalization:
            batch /= batch.std(axis=axes, keepdims=True) + 1e-6
        if self.featurewise_center:
            if self.mean is None:
                raise ValueError("ImageDataGenerator: featurewise_center=True needs the mean of the data. Fix: call "
                                 "datagen.fit(x_train) before flow().")
            batch -= self.mean
        if self.featurewise_std_normalization:
            if self.std is None:
                raise ValueError("ImageDataGenerator: featurewise_std_normalization=True needs the std of the data. "
                                 "Fix: call datagen.fit(x_train) before flow().")
            batch /= self.std + 1e-6
        return batch[0] if single else batch

    # ----- random transformations ---------------------------------------------------------------

    def draw(self, rng: np.random.Generator, shape: tuple) -> dict:
        """One random transformation per image of a batch of ``shape`` (N, H, W, C): arrays keyed as
        Keras' ``get_random_transform`` names them (``theta``, ``tx``, ``ty``, ``shear``, ``zx``,
        ``zy``, ``flip_horizontal``, ``flip_vertical``)."""
        count, height, width = shape[:3]

        def uniform(limit):
            return rng.uniform(-limit, limit, count) if limit else np.zeros(count)
        tx = uniform(self.height_shift_range) * (height if self.height_shift_range < 1 else 1)
        ty = uniform(self.width_shift_range) * (width if self.width_shift_range < 1 else 1)
        if self.zoom_range[0] == 1 and self.zoom_range[1] == 1:
            zx = zy = np.ones(count)
        else:
            zx, zy = rng.uniform(self.zoom_range[0], self.zoom_range[1], (2, count))
        return {"theta": uniform(self.rotation_range), "tx": tx, "ty": ty, "shear": uniform(self.shear_range),
                "zx": zx, "zy": zy,
                "flip_horizontal": (rng.random(count) < 0.5) & self.horizontal_flip,
                "flip_vertical": (rng.random(count) < 0.5) & self.vertical_flip}

    def apply_transform(self, x: np.ndarray, transform: dict) -> np.ndarray:
        """Apply drawn transformations to a batch (N, H, W, C) (or ``transform`` of scalars to one
        image (H, W, C)): one affine resampling for the batch, then the flips."""
        x = np.asarray(x, dtype=self.dtype)
        single = x.ndim == 3
        batch = x[None] if single else x
        params = {key: np.atleast_1d(np.asarray(value, dtype=np.float64)) for key, value in transform.items()}
        count, height, width = batch.shape[:3]

        def param(key, default):
            value = params.get(key)
            return np.full(count, default, dtype=np.float64) if value is None else np.broadcast_to(value, (count,))
        theta, shear = np.deg2rad(param("theta", 0.0)), np.deg2rad(param("shear", 0.0))
        tx, ty, zx, zy = param("tx", 0.0), param("ty", 0.0), param("zx", 1.0), param("zy", 1.0)
        if np.any(theta) or np.any(shear) or np.any(tx) or np.any(ty) or np.any(zx != 1) or np.any(zy != 1):
            # Keras' composition, rotation · shift · shear · zoom, about the image's centre.
            cos, sin = np.cos(theta), np.sin(theta)
            rotation = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], 1)
            shearing = np.stack([np.stack([np.ones(count), -np.sin(shear)], -1),
                                 np.stack([np.zeros(count), np.cos(shear)], -1)], 1)
            zoom = np.stack([np.stack([zx, np.zeros(count)], -1), np.stack([np.zeros(count), zy], -1)], 1)
            linear = rotation @ shearing @ zoom
            shift = (rotation @ np.stack([tx, ty], -1)[:, :, None])[:, :, 0]
            centre = np.array([(height - 1) / 2.0, (width - 1) / 2.0])
            offset = centre - linear @ centre + shift
            matrices = np.concatenate([linear, offset[:, :, None]], axis=2)
            batch = Resampling(matrices, height, width, self.fill_mode).apply(batch, self.cval).astype(self.dtype)
        else:
            batch = batch.copy()
        horizontal = param("flip_horizontal", 0.0).astype(bool)
        vertical = param("flip_vertical", 0.0).astype(bool)
        batch[horizontal] = batch[horizontal, :, ::-1]
        batch[vertical] = batch[vertical, ::-1]
        return batch[0] if single else batch

    def random_transform(self, x: np.ndarray, seed: int | None = None) -> np.ndarray:
        """One image (H, W, C), or a batch (N, H, W, C), randomly transformed."""
        x = np.asarray(x, dtype=self.dtype)
        batch = x[None] if x.ndim == 3 else x
        result = self.apply_transform(batch, self.draw(np.random.default_rng(seed), batch.shape))
        return result[0] if x.ndim == 3 else result

    def flow(self, x, y=None, batch_size: int = 32, shuffle: bool = True, sample_weight=None, seed: int | None = None,
             **kwargs) -> "NumpyArrayIterator":
        """Batches of ``x`` (and ``y``, ``sample_weight``), transformed and standardised, as a PyDataset."""
        return NumpyArrayIterator(x, y, self, batch_size=batch_size, shuffle=shuffle, sample_weight=sample_weight,
                                  seed=seed, **kwargs)


def _images(x, argument: str) -> np.ndarray:
    array = np.asarray(x)
    if array.ndim != 4 or array.dtype.kind not in "biuf":
        raise ValueError(f"{argument} must be a numeric array of images (N, height, width, channels), received "
                         f"shape {array.shape} of dtype {array.dtype}. Fix: add the channel axis of grey images with "
                         "x[..., None].")
    return array


class NumpyArrayIterator(PyDataset):
    """The batches of :meth:`ImageDataGenerator.flow`: ``(x, y)``, ``(x, y, w)`` or ``x`` alone.

    Batch ``i`` takes rows ``order[i·B : (i+1)·B]`` of this epoch's order (a permutation drawn from
    ``seed`` and the epoch when ``shuffle``); ``on_epoch_end`` moves to the next epoch. Keras 2's
    ``next()`` (and ``next(iterator)``) serve the batches one after the other, endlessly.
    """

    def __init__(self, x, y, image_data_generator: ImageDataGenerator, batch_size: int = 32, shuffle: bool = True,
                 sample_weight=None, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.x = _images(x, "ImageDataGenerator.flow: x")
        for name, values in (("y", y), ("sample_weight", sample_weight)):
            if values is not None and len(values) != len(self.x):
                raise ValueError(f"ImageDataGenerator.flow: x and {name} must have the same number of samples, "
                                 f"received {len(self.x)} and {len(values)}.")
        self.y = None if y is None else np.asarray(y)
        self.sample_weight = None if sample_weight is None else np.asarray(sample_weight)
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"ImageDataGenerator.flow: batch_size must be a positive integer, received {batch_size!r}.")
        self.generator, self.batch_size, self.shuffle = image_data_generator, int(batch_size), bool(shuffle)
        self.seed = int(np.random.SeedSequence().entropy % (2**32)) if seed is None else int(seed)
        self.epoch, self.served = 0, 0
        self._order()

    def _order(self) -> None:
        count = len(self.x)
        self.order = (np.random.default_rng([self.seed, self.epoch]).permutation(count) if self.shuffle
                      else np.arange(count))

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch index {index} is out of range: this iterator has {len(self)} batches.")
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        generator = self.generator
        images = self.x[rows].astype(generator.dtype)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        images = generator.standardize(generator.apply_transform(images, generator.draw(rng, images.shape)))
        if self.y is None:
            return images
        if self.sample_weight is None:
            return images, self.y[rows]
        return images, self.y[rows], self.sample_weight[rows]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._order()

    def __iter__(self):
        return self

    def __next__(self):
        if self.served == len(self):
            self.served = 0
            self.on_epoch_end()
        self.served += 1
        return self[self.served - 1]

    next = __next__
