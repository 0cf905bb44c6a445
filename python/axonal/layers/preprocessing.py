"""Keras 3's numeric preprocessing layers: ``Rescaling`` and ``Normalization`` (with ``adapt``).

Both are exact, deterministic per-feature maps with trivial backward passes, on the backend's
``rescale_*``/``normalize_*`` ops (``backend/reference_augmentation.py``; C++ on ``cpu``, CUDA on
``cuda``), so models holding them train in the native loop and on the device. Each sample is one
row of K values; the layer keeps its scale and offset (mean and deviation) broadcast to those K
values (:meth:`feature_rows`), which the compiled loops read in place and the device copy uploads
with the weights. Normalization's statistics are configuration, not weights: the optimiser never
sees them, and ``get_config`` carries them (as Keras does for a ``mean``/``variance`` given to the
constructor).
"""
from __future__ import annotations

from numbers import Real

import numpy as np

from axonal.layers.base import Layer


def _flat_rows(x):
    """(N, K): each sample of a batch as one row (a view of the C-contiguous batch)."""
    return x.reshape(len(x), -1)

EPSILON = 1e-7  # Keras' backend.epsilon(): the smallest standard deviation Normalization divides by


class Rescaling(Layer):
    """``y = x · scale + offset`` (Keras 3), e.g. ``Rescaling(1 / 255)`` for pixel values.

    Args:
        scale: a number, or one per channel (the last axis).
        offset: a number, or one per channel.

    Shapes:
        x (N, ...) -> y of the same shape.

    Example:
        >>> Sequential([Input(shape=(28, 28, 1)), Rescaling(1 / 255), Flatten(), Dense(10)])
    """

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = _number_or_list(scale, "scale"), _number_or_list(offset, "offset")

    def feature_rows(self) -> dict:
        """``{"scale_row": (K,), "offset_row": (K,)}`` float32: scale and offset for each of a
        sample's K values (the arrays the kernels read; made when the layer is built)."""
        shape = tuple(self.input_shape[1:])
        if getattr(self, "scale_row", None) is None or self.scale_row.size != int(np.prod(shape)):
            self.scale_row = _broadcast_row(self.scale, shape, self.name, "scale")
            self.offset_row = _broadcast_row(self.offset, shape, self.name, "offset")
        return {"scale_row": self.scale_row, "offset_row": self.offset_row}

    def build(self, input_shape):
        super().build(input_shape)
        self.scale_row = None
        self.feature_rows()

    def forward(self, x, training):
        y = self.buffers.get("y", x.shape, x.dtype)
        self.ops.rescale_forward(_flat_rows(y), _flat_rows(x), self.scale_row, self.offset_row)
        return y

    def backward(self, dy):
        dx = self.buffers.get("dx", dy.shape, dy.dtype)
        self.ops.rescale_backward(_flat_rows(dx), _flat_rows(dy), self.scale_row)
        return dx

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


class Normalization(Layer):
    """``y = (x - mean) / max(sqrt(variance), 1e-7)`` per feature (Keras 3); ``invert=True`` maps back.

    Args:
        axis: the axis (or axes) that keep their own statistics; -1: one per feature of the last
            axis; None: one mean and variance for everything.
        mean, variance: the statistics, when known (else call :meth:`adapt`).
        invert: compute ``mean + x · sqrt(variance)`` instead.

    Shapes:
        x (N, ...) -> y of the same shape.

    Example:
        >>> norm = Normalization()
        >>> norm.adapt(x_train)
        >>> model = Sequential([Input(shape=(13,)), norm, Dense(1)])
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            self.axis = ()
        elif isinstance(axis, (list, tuple)):
            self.axis = tuple(int(a) for a in axis)
        elif isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
            self.axis = (int(axis),)
        else:
            raise ValueError(f"Normalization: axis must be an int, a tuple of ints or None, received {axis!r}.")
        if (mean is None) != (variance is None):
            raise ValueError("Normalization: give both mean and variance, or neither (then call adapt(data)). "
                             f"Received mean={mean!r:.40}, variance={variance!r:.40}.")
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float32)
        self.variance = None if variance is None else np.asarray(variance, dtype=np.float32)
        self.invert = bool(invert)

    def _kept_axes(self, ndim: int) -> tuple:
        kept = tuple(a % ndim for a in self.axis)
        if any(a == 0 for a in kept) or len(set(kept)) != len(kept):
            raise ValueError(f"Normalization: axis={self.axis} must name distinct feature axes (not the batch axis "
                             f"0) of {ndim}-D inputs. Fix: e.g. axis=-1.")
        return kept

    def adapt(self, data) -> None:
        """Set the mean and (population) variance from ``data``: an array (N, ...) or an iterable of
        such batches; the statistics are taken over every axis but ``axis``."""
        if isinstance(data, np.ndarray) or not hasattr(data, "__iter__") or isinstance(data, list):
            batches = [np.asarray(data, dtype=np.float64)]
        else:
            batches = [np.asarray(batch[0] if isinstance(batch, tuple) else batch, dtype=np.float64) for batch in data]
        if not batches or batches[0].ndim < 1 or batches[0].size == 0:
            raise ValueError("Normalization.adapt: data is empty. Fix: pass the training samples, e.g. "
                             "norm.adapt(x_train).")
        kept = self._kept_axes(max(batches[0].ndim, 1))
        reduce = tuple(a for a in range(batches[0].ndim) if a not in kept)
        total = sum(b.sum(axis=reduce, keepdims=True) for b in batches)
        count = sum(np.prod([b.shape[a] for a in reduce]) for b in batches)
        mean = total / count
        variance = sum(((b - mean) ** 2).sum(axis=reduce, keepdims=True) for b in batches) / count
        self.mean, self.variance = mean[0].astype(np.float32), variance[0].astype(np.float32)
        self.buffers.clear()
        if self.built:  # in place: compiled loops and device copies read these arrays
            self.feature_rows(refresh=True)

    def _statistics(self, x):
        if self.mean is None:
            raise ValueError(f"Layer {self.name!r} (Normalization) has no statistics yet. Fix: call "
                             "layer.adapt(x_train) before training, or pass mean= and variance=.")
        kept = self._kept_axes(x.ndim)
        shape = [1] * (x.ndim - 1)
        for a in kept:
            shape[a - 1] = x.shape[a]
        mean = np.asarray(self.mean, dtype=x.dtype).reshape(shape) if self.mean.size > 1 else self.mean.astype(x.dtype)
        deviation = np.maximum(np.sqrt(np.asarray(self.variance, dtype=x.dtype)), x.dtype.type(EPSILON))
        deviation = deviation.reshape(shape) if deviation.size > 1 else deviation
        return mean, deviation

    def feature_rows(self, refresh: bool = False) -> dict:
        """``{"mean_row": (K,), "deviation_row": (K,)}`` float32: the statistics for each of a
        sample's K values (the arrays the kernels read), rewritten in place when ``refresh``."""
        shape = tuple(int(n) for n in self.input_shape[1:])
        probe = np.empty((1,) + shape, np.float32)
        mean, deviation = self._statistics(probe)
        rows = {"mean_row": np.broadcast_to(mean, shape).reshape(-1),
                "deviation_row": np.broadcast_to(deviation, shape).reshape(-1)}
        for name, values in rows.items():
            kept = getattr(self, name, None)
            if kept is None or kept.shape != values.shape:
                setattr(self, name, np.array(values, dtype=np.float32))
            elif refresh:
                kept[...] = values
        return {name: getattr(self, name) for name in rows}

    def build(self, input_shape):
        super().build(input_shape)
        self.mean_row = self.deviation_row = None
        if self.mean is not None:
            self.feature_rows()

    def forward(self, x, training):
        rows = self.feature_rows()  # raises the fix when the layer has no statistics yet
        y = self.buffers.get("y", x.shape, x.dtype)
        if self.invert:  # mean + x·deviation: a rescale
            self.ops.rescale_forward(_flat_rows(y), _flat_rows(x), rows["deviation_row"], rows["mean_row"])
        else:
            self.ops.normalize_forward(_flat_rows(y), _flat_rows(x), rows["mean_row"], rows["deviation_row"])
        return y

    def backward(self, dy):
        deviation = self.deviation_row
        dx = self.buffers.get("dx", dy.shape, dy.dtype)
        if self.invert:
            self.ops.rescale_backward(_flat_rows(dx), _flat_rows(dy), deviation)
        else:
            self.ops.normalize_backward(_flat_rows(dx), _flat_rows(dy), deviation)
        return dx

    def get_config(self):
        axis = None if self.axis == () else (self.axis[0] if len(self.axis) == 1 else list(self.axis))
        return {**super().get_config(), "axis": axis, "invert": self.invert,
                "mean": None if self.mean is None else self.mean.tolist(),
                "variance": None if self.variance is None else self.variance.tolist()}


def _broadcast_row(value, shape: tuple, name: str, argument: str) -> np.ndarray:
    """A number or one value per channel (the last axis), as (K,) float32 for samples of ``shape``."""
    values = np.asarray(value, dtype=np.float32)
    if values.ndim == 1 and values.shape[0] != shape[-1]:
        raise ValueError(f"Layer {name!r} (Rescaling): {argument} has {values.shape[0]} values but the input has "
                         f"{shape[-1]} channels (last axis of {shape}). Fix: one number, or one per channel.")
    return np.array(np.broadcast_to(values, shape).reshape(-1), dtype=np.float32)


def _number_or_list(value, argument: str):
    if isinstance(value, Real) and not isinstance(value, bool):
        return float(value)
    values = np.asarray(value, dtype=np.float64)
    if values.ndim != 1 or not np.isfinite(values).all():
        raise ValueError(f"Rescaling: {argument} must be a number or one number per channel, received {value!r}. "
                         f"Fix: e.g. {argument}=1/255.")
    return values.tolist()
