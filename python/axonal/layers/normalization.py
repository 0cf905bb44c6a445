"""Normalization layers: BatchNormalization and LayerNormalization, with Keras 3.15's arguments,
defaults, weight names and order, running the ``batch_norm_*`` / ``layer_norm_*`` ops of the
backend (``backend/reference_normalization.py`` defines them; ``docs/normalization.md`` says why
each choice was made).

Both see their input as rows of features: BatchNormalization as M rows of C channels (its axis
last: M = N for (N, C), N·H·W for (N, H, W, C)) and normalises each channel over the rows;
LayerNormalization as R rows of the K values of its trailing axes and normalises each row.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from axonal import initializers, regularizers
from axonal.layers._data_format import move_channels
from axonal.layers.base import Layer

TRAINABLE = ("gamma", "beta")


def _no_constraint(layer: str, **constraints) -> None:
    """axonal has no weight constraints: only None is accepted, with the fix."""
    for argument, value in constraints.items():
        if value is not None:
            raise ValueError(f"{layer}: {argument}={value!r} is not supported (axonal has no weight constraints); "
                             f"received {value!r}, expected None. Fix: leave {argument} out.")


def _as_rows(array, width: int):
    """(rows, width) view of a C-contiguous batch."""
    return array.reshape(-1, width)


class _Normalization(Layer):
    """What both layers share: gamma and beta are trainable, other weights (BatchNormalization's
    moving statistics) never are, and they have no gradient arrays."""

    def _add_statistic(self, shape, initializer, name):
        """A non-trainable weight: saved, loaded and counted, never updated by the optimiser."""
        weight = self.add_weight(shape, initializer, name)
        del self._gradients[name]
        return weight

    @property
    def trainable_weights(self):
        return [w for name, w in self._weights.items() if name in TRAINABLE] if self.trainable else []

    @property
    def non_trainable_weights(self):
        return [w for name, w in self._weights.items() if not self.trainable or name not in TRAINABLE]

    def _serialized(self) -> dict:
        return {"beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
                "beta_constraint": None, "gamma_constraint": None}


class BatchNormalization(_Normalization):
    """Normalises each channel with the batch's statistics in training and moving averages of them
    at inference, then scales by ``gamma`` and shifts by ``beta`` (Keras 3).

    Training (``fit``, ``train_on_batch``, ``layer(x, training=True)``) uses the batch's mean and
    biased variance and moves ``moving = moving·momentum + batch·(1 − momentum)``; inference
    (``evaluate``, ``predict``, validation) uses the moving statistics. A layer with
    ``trainable=False`` always runs in inference mode, as in Keras 3 (the way to freeze it for
    fine-tuning).

    Args:
        axis: the channel axis (an int; -1, the default, is the last). Another axis (``axis=1`` after
            a channels_first convolution) is moved last and back around the kernels, and then runs
            layer by layer rather than in the native loop.
        momentum: of the moving averages (0.99).
        epsilon: added to the variance (1e-3).
        center, scale: whether to learn ``beta`` and ``gamma``.
        beta_initializer, gamma_initializer, moving_mean_initializer, moving_variance_initializer:
            initialisers (zeros, ones, zeros, ones).
        beta_regularizer, gamma_regularizer: penalties on beta and gamma, or None.
        beta_constraint, gamma_constraint: must be None (axonal has no constraints).
        **kwargs: ``name``, ``trainable``, ``input_shape`` (see :class:`Layer`).

    Weights, in Keras' order: ``gamma``, ``beta`` (trainable), ``moving_mean``, ``moving_variance``
    (non-trainable), each (C,).

    Shapes:
        x (N, ..., C) -> y of the same shape.

    Example:
        >>> model = Sequential([Input(shape=(28, 28, 1)), Conv2D(32, 3), BatchNormalization(), Activation("relu"),
        ...                     Flatten(), Dense(10, activation="softmax")])
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 renorm=False, renorm_clipping=None, renorm_momentum=0.99, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        where = f"Layer {self.name!r} (BatchNormalization)"
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"{where}: axis must be one int (the channel axis), received axis={axis!r}. "
                             "Fix: axis=-1 for channels_last data, axis=1 for channels_first images.")
        self.axis = int(axis)
        self.momentum, self.epsilon = _checked_number(where, "momentum", momentum, 0, 1), \
            _checked_number(where, "epsilon", epsilon, 0, math.inf, open_low=True)
        if renorm or synchronized:
            raise ValueError(f"{where}: renorm={renorm!r}, synchronized={synchronized!r} are not supported "
                             "(batch renormalisation, cross-replica statistics). Fix: leave them False.")
        _no_constraint(where, beta_constraint=beta_constraint, gamma_constraint=gamma_constraint)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None
        self.uses_batch_statistics = False  # what the last forward pass did (its backward follows it)

    # ----- shapes and weights ----------------------------------------------------------------

    def _channel_axis(self, input_shape) -> int:
        ndim = len(input_shape)
        if ndim < 2 or not -ndim <= self.axis < ndim or self.axis % ndim == 0:
            raise ValueError(f"Layer {self.name!r} (BatchNormalization) has axis={self.axis}, which is not a feature "
                             f"axis of its input shape {tuple(input_shape)} (axis 0 is the batch). Fix: axis=-1 "
                             "(the last axis: Dense outputs, channels_last images), or axis=1 for channels_first.")
        return self.axis % ndim

    def check_input_shape(self, input_shape, sources=None):
        self._channel_axis(input_shape)

    def build(self, input_shape):
        self.channel_axis = self._channel_axis(input_shape)
        channels = (input_shape[self.channel_axis],)
        if self.scale:
            self.gamma = self.add_weight(channels, self.gamma_initializer, "gamma", self.gamma_regularizer)
        if self.center:
            self.beta = self.add_weight(channels, self.beta_initializer, "beta", self.beta_regularizer)
        self.moving_mean = self._add_statistic(channels, self.moving_mean_initializer, "moving_mean")
        self.moving_variance = self._add_statistic(channels, self.moving_variance_initializer, "moving_variance")
        super().build(input_shape)

    @property
    def training_state(self) -> list:
        """The arrays a training forward pass changes besides its outputs: the moving statistics
        (a device warm-up step puts them back: models/executors/device_copy.py)."""
        return [self.moving_mean, self.moving_variance]

    @property
    def moves_channel_axis(self) -> bool:
        """Whether the channel axis is not the last, so that the layer moves it around the kernels
        (axis 1, channels_first: the native loop's transposes, models/executors/native_layout.py;
        another axis runs layer by layer: models/executors/support.py)."""
        return self.built and self.channel_axis != len(self.input_shape) - 1

    def _move(self, array, name: str, to_last: bool):
        """``array`` with the channel axis moved last (or back), in a kept buffer; itself when the
        channel axis is already last."""
        if not self.moves_channel_axis:
            return array
        ndim, axis = array.ndim, self.channel_axis
        if axis == 1:  # channels_first: one op, which a device step captures (the native loop's transpose)
            out = self.buffers.get(name, array.shape[:1] + array.shape[2:] + array.shape[1:2] if to_last
                                   else array.shape[:1] + array.shape[-1:] + array.shape[1:-1])
            move_channels(self.ops, out, array, to_last)
            return out
        order = ([i for i in range(ndim) if i != axis] + [axis]) if to_last else \
            (list(range(axis)) + [ndim - 1] + list(range(axis, ndim - 1)))
        out = self.buffers.get(name, tuple(array.shape[i] for i in order))
        out[...] = array.transpose(order)
        return out

    # ----- running -----------------------------------------------------------------------------

    def forward(self, x, training):
        x = self._move(x, "x_last", True)
        channels = x.shape[-1]
        self.x_rows = _as_rows(x, channels)
        y = self.buffers.get("y", x.shape)
        # Keras 3: a frozen layer normalises with its moving statistics even while the model trains.
        self.uses_batch_statistics = bool(training) and self.trainable
        if self.uses_batch_statistics:
            self.batch_mean = self.buffers.get("mean", (channels,))
            self.batch_inv_std = self.buffers.get("inv_std", (channels,))
            self.ops.batch_norm_forward(_as_rows(y, channels), self.batch_mean, self.batch_inv_std, self.moving_mean,
                                        self.moving_variance, self.x_rows, self.gamma, self.beta, self.momentum,
                                        self.epsilon)
        else:
            self.ops.batch_norm_inference_forward(_as_rows(y, channels), self.x_rows, self.moving_mean,
                                                  self.moving_variance, self.gamma, self.beta, self.epsilon)
        return self._move(y, "y_moved", False)

    def backward(self, dy):
        dy = self._move(dy, "dy_last", True)
        channels = dy.shape[-1]
        dx = self.buffers.get("dx", dy.shape) if self.needs_input_gradient else None
        dx_rows = None if dx is None else _as_rows(dx, channels)
        if self.uses_batch_statistics:
            self.ops.batch_norm_backward(dx_rows, self._gradient_buffer("gamma"), self._gradient_buffer("beta"),
                                         _as_rows(dy, channels), self.x_rows, self.batch_mean, self.batch_inv_std,
                                         self.gamma)
        elif dx is not None:
            self.ops.batch_norm_inference_backward(dx_rows, _as_rows(dy, channels), self.moving_variance, self.gamma,
                                                   self.epsilon)
        return None if dx is None else self._move(dx, "dx_moved", False)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, **self._serialized(),
                "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
                "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
                "synchronized": False}


class LayerNormalization(_Normalization):
    """Normalises each sample over its last axis (or trailing axes) with its own mean and variance,
    then scales by ``gamma`` and shifts by ``beta`` (Keras 3); the same in training and inference.

    Args:
        axis: -1 (the default), or a list of trailing axes normalised together (``[1, 2, 3]`` for
            a whole (H, W, C) image); axes that do not end the shape are refused.
        epsilon: added to the variance (1e-3).
        center, scale: whether to learn ``beta`` and ``gamma``.
        rms_scaling: Keras 3.15's deprecated option: y = x / sqrt(variance + epsilon) · gamma (no
            centring, no beta), with Keras' warning.
        beta_initializer, gamma_initializer, beta_regularizer, gamma_regularizer: as in Keras.
        beta_constraint, gamma_constraint: must be None (axonal has no constraints).
        **kwargs: ``name``, ``trainable``, ``input_shape`` (see :class:`Layer`).

    Weights: ``gamma``, ``beta``, each shaped like the normalised axes.

    Shapes:
        x (N, ..., K) -> y of the same shape.

    Example:
        >>> Sequential([Input(shape=(16,)), Dense(32), LayerNormalization(), Dense(1)])
    """

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, rms_scaling=False, **kwargs):
        super().__init__(**kwargs)
        where = f"Layer {self.name!r} (LayerNormalization)"
        axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if not axes or any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axes):
            raise ValueError(f"{where}: axis must be an int or a list of ints, received axis={axis!r}. "
                             "Fix: axis=-1.")
        self.axis = [int(a) for a in axes] if isinstance(axis, (list, tuple)) else int(axis)
        self.epsilon = _checked_number(where, "epsilon", epsilon, 0, math.inf, open_low=True)
        _no_constraint(where, beta_constraint=beta_constraint, gamma_constraint=gamma_constraint)
        if rms_scaling:
            warnings.warn("You passed `rms_scaling=True`, which is deprecated. This argument incorrectly scales the "
                          "input by the variance, not the root mean square. To correctly use RMS Normalization, "
                          "please use `keras.layers.RMSNormalization` instead.", UserWarning, stacklevel=2)
        self.center, self.scale, self.rms_scaling = bool(center), bool(scale), bool(rms_scaling)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.gamma = self.beta = None

    def _first_axis(self, input_shape) -> int:
        """The first normalised axis; the normalised axes must run from it to the last."""
        ndim = len(input_shape)
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        resolved = sorted({a % ndim for a in axes if -ndim <= a < ndim})
        if (ndim < 2 or len(resolved) != len(axes) or not resolved or resolved[0] == 0
                or resolved != list(range(resolved[0], ndim))):
            raise ValueError(f"Layer {self.name!r} (LayerNormalization) has axis={self.axis}, which is not the last "
                             f"axis (or a run of trailing axes) of its input shape {tuple(input_shape)}. Fix: axis=-1, "
                             f"or e.g. axis={list(range(1, ndim)) if ndim > 1 else -1} for every axis but the batch.")
        return resolved[0]

    def check_input_shape(self, input_shape, sources=None):
        self._first_axis(input_shape)

    def build(self, input_shape):
        first = self._first_axis(input_shape)
        shape = tuple(input_shape[first:])
        self.width = math.prod(shape)
        if self.scale or self.rms_scaling:
            self.gamma = self.add_weight(shape, self.gamma_initializer, "gamma", self.gamma_regularizer)
        if self.center and not self.rms_scaling:
            self.beta = self.add_weight(shape, self.beta_initializer, "beta", self.beta_regularizer)
        super().build(input_shape)

    def forward(self, x, training):
        self.x_rows = _as_rows(x, self.width)
        rows = len(self.x_rows)
        y = self.buffers.get("y", x.shape)
        self.row_mean, self.row_inv_std = self.buffers.get("mean", (rows,)), self.buffers.get("inv_std", (rows,))
        self.ops.layer_norm_forward(_as_rows(y, self.width), self.row_mean, self.row_inv_std, self.x_rows,
                                    _flat(self.gamma), _flat(self.beta), self.epsilon, self.rms_scaling)
        return y

    def backward(self, dy):
        dx = self.buffers.get("dx", dy.shape) if self.needs_input_gradient else None
        self.ops.layer_norm_backward(None if dx is None else _as_rows(dx, self.width),
                                     _flat(self._gradient_buffer("gamma")), _flat(self._gradient_buffer("beta")),
                                     _as_rows(dy, self.width), self.x_rows, self.row_mean, self.row_inv_std,
                                     _flat(self.gamma), self.rms_scaling)
        return dx

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "rms_scaling": self.rms_scaling, **self._serialized()}


def _flat(array):
    """A weight (any shape) as the (K,) vector the kernels take; None stays None."""
    return None if array is None else array.reshape(-1)


def _checked_number(where: str, argument: str, value, low: float, high: float, open_low: bool = False) -> float:
    """``value`` as a float in [low, high] ((low, high] with ``open_low``), else ValueError with a fix."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.floating, np.integer))
    number = float(value) if ok else math.nan
    if not ok or not (low < number if open_low else low <= number) or not number <= high:
        interval = f"({low}, {high}]" if open_low else f"[{low}, {high}]"
        raise ValueError(f"{where}: {argument} must be a number in {interval}, received {argument}={value!r}. "
                         f"Fix: e.g. Keras' default ({'momentum=0.99' if argument == 'momentum' else 'epsilon=1e-3'}).")
    return number
