"""Keras' activation layers: ``ReLU``, ``LeakyReLU``, ``ELU`` and ``Softmax``.

Each is an :class:`~axonal.layers.Activation` with Keras 3's arguments and defaults, so it runs on
the same fused kernels, in the native loop and on every backend, and a loss can absorb a final
``Softmax()`` as it absorbs ``Activation("softmax")``. Arguments the kernels have no form for
(``ReLU(max_value=6)``, a ``threshold``, a softmax over another axis) are refused with the fix.

Example:
    >>> Sequential([Input(shape=(784,)), Dense(64), LeakyReLU(negative_slope=0.1), Dense(10), Softmax()])
"""
from __future__ import annotations

from numbers import Real

from axonal._legacy import renamed_arguments
from axonal.layers.core import Activation


def _number(layer: str, argument: str, value, low: float | None = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or (low is not None and not value >= low):
        bound = f" >= {low}" if low is not None else ""
        raise ValueError(f"{layer}: {argument} must be a number{bound}, received {value!r}.")
    return float(value)


class ReLU(Activation):
    """Rectified linear unit as a layer: ``max(x, 0)``, or ``negative_slope * x`` below 0.

    Args:
        max_value: must be None (a capped ReLU such as ReLU6 has no kernel here).
        negative_slope: slope below 0 (0: ReLU; above 0: the leaky form).
        threshold: must be 0.

    Shapes: any (N, ...) -> the same.
    """

    def __init__(self, max_value=None, negative_slope: float = 0.0, threshold: float = 0.0, **kwargs):
        if max_value is not None:
            raise ValueError(f"ReLU: max_value={max_value!r} is not supported (no capped-ReLU kernel). "
                             "Fix: leave max_value=None, or use Activation('sigmoid'/'tanh') for a bounded output.")
        if threshold != 0:
            raise ValueError(f"ReLU: threshold={threshold!r} is not supported. Fix: leave threshold=0.")
        slope = _number("ReLU", "negative_slope", negative_slope)
        super().__init__("leaky_relu" if slope else "relu", **kwargs)
        self.negative_slope = slope
        self.alpha = slope

    def get_config(self):
        config = super().get_config()
        del config["activation"]
        return {**config, "max_value": None, "negative_slope": self.negative_slope, "threshold": 0.0}


class LeakyReLU(Activation):
    """``x`` where positive, else ``negative_slope * x`` (Keras 3's default slope 0.3; Keras 2's
    ``alpha`` is accepted with a DeprecationWarning).

    Shapes: any (N, ...) -> the same.
    """

    @renamed_arguments(alpha="negative_slope")
    def __init__(self, negative_slope: float = 0.3, **kwargs):
        super().__init__("leaky_relu", **kwargs)
        self.negative_slope = _number("LeakyReLU", "negative_slope", negative_slope)
        self.alpha = self.negative_slope

    def get_config(self):
        config = super().get_config()
        del config["activation"]
        return {**config, "negative_slope": self.negative_slope}


class ELU(Activation):
    """Exponential linear unit: ``x`` where positive, else ``alpha * (exp(x) - 1)``.

    Shapes: any (N, ...) -> the same.
    """

    def __init__(self, alpha: float = 1.0, **kwargs):
        super().__init__("elu", **kwargs)
        self.alpha = _number("ELU", "alpha", alpha, low=None)

    def get_config(self):
        config = super().get_config()
        del config["activation"]
        return {**config, "alpha": self.alpha}


class Softmax(Activation):
    """Softmax over the last axis, as a layer (a loss such as categorical cross-entropy absorbs it
    exactly as it absorbs ``Activation("softmax")``).

    Args:
        axis: must be -1 (the kernels normalise over the last axis).

    Shapes: any (N, ..., K) -> the same.
    """

    def __init__(self, axis: int = -1, **kwargs):
        if axis != -1:
            raise ValueError(f"Softmax: axis={axis!r} is not supported; the kernels normalise over the last axis. "
                             "Fix: put the axis to normalise last (Reshape/Permute) and use axis=-1.")
        super().__init__("softmax", **kwargs)
        self.axis = -1

    def get_config(self):
        config = super().get_config()
        del config["activation"]
        return {**config, "axis": -1}
