"""Weight initialisers, with Keras' names, defaults and formulas.

An initialiser is called with a shape and a NumPy ``Generator``. Inside a model the generator is
seeded from the model's seed and the layer's position, so the same seed gives the same weights on
every backend. An initialiser given its own ``seed`` uses that instead.

Example:
    >>> init = initializers.get("he_normal")
    >>> kernel = init((784, 512), rng=np.random.default_rng(0))
    >>> initializers.serialize(init)
    {'class_name': 'HeNormal', 'config': {'seed': None}}
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from axonal._validation import lookup, resolve

# Keras' truncated normal keeps draws within two standard deviations; this is the standard
# deviation of a unit normal truncated that way, used to rescale so the variance comes out right.
_TRUNCATED_STDDEV = 0.87962566103423978


class Initializer:
    """Base class: ``initializer(shape, dtype, rng)`` returns a new array of that shape."""

    def __call__(self, shape: tuple, dtype: Any = "float32",
                 rng: np.random.Generator | None = None) -> np.ndarray:
        generator = self._generator(rng)
        return np.ascontiguousarray(self.sample(tuple(shape), generator), dtype=dtype)

    def sample(self, shape: tuple, rng: np.random.Generator) -> np.ndarray:
        """Draw the values (float64 is fine; ``__call__`` casts)."""
        raise NotImplementedError

    def _generator(self, rng: np.random.Generator | None) -> np.random.Generator:
        seed = getattr(self, "seed", None)
        if seed is not None:
            return np.random.default_rng(seed)
        return rng if rng is not None else np.random.default_rng()

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> "Initializer":
        return cls(**config)


class Zeros(Initializer):
    """All zeros."""

    def sample(self, shape, rng):
        return np.zeros(shape)


class Ones(Initializer):
    """All ones."""

    def sample(self, shape, rng):
        return np.ones(shape)


class Constant(Initializer):
    """Every element equal to ``value``."""

    def __init__(self, value: float = 0.0):
        self.value = float(value)

    def sample(self, shape, rng):
        return np.full(shape, self.value)

    def get_config(self):
        return {"value": self.value}


class RandomUniform(Initializer):
    """Uniform on ``[minval, maxval)``."""

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def sample(self, shape, rng):
        return rng.uniform(self.minval, self.maxval, size=shape)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(Initializer):
    """Normal with the given ``mean`` and ``stddev``."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def sample(self, shape, rng):
        return rng.normal(self.mean, self.stddev, size=shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(Initializer):
    """Normal with the given ``mean`` and ``stddev``, redrawn beyond two standard deviations (as Keras)."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def sample(self, shape, rng):
        return self.mean + _truncated_normal(rng, shape, self.stddev)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class VarianceScaling(Initializer):
    """Variance ``scale / n`` where ``n`` is fan-in, fan-out or their mean (``mode``).

    ``distribution`` is ``"uniform"`` (on ``±sqrt(3·scale/n)``), ``"untruncated_normal"`` or
    ``"truncated_normal"`` (redrawn beyond two standard deviations, rescaled to keep the variance).
    """

    def __init__(self, scale: float = 1.0, mode: str = "fan_in",
                 distribution: str = "truncated_normal", seed: int | None = None):
        if scale <= 0:
            raise ValueError(f"VarianceScaling scale must be positive, received {scale!r}.")
        self.scale = scale
        self.mode = lookup("mode", mode, {m: m for m in ("fan_in", "fan_out", "fan_avg")})
        self.distribution = lookup("distribution", distribution,
                                   {d: d for d in ("uniform", "truncated_normal", "untruncated_normal")})
        self.seed = seed

    def sample(self, shape, rng):
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, fan)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, size=shape)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(variance), size=shape)
        return _truncated_normal(rng, shape, math.sqrt(variance) / _TRUNCATED_STDDEV)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


class _NamedVarianceScaling(VarianceScaling):
    """A VarianceScaling with fixed parameters (``PRESET``); its config holds only the seed, as in Keras."""

    PRESET: tuple[float, str, str]

    def __init__(self, seed: int | None = None):
        scale, mode, distribution = self.PRESET
        super().__init__(scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}


class GlorotUniform(_NamedVarianceScaling):
    """Uniform on ±sqrt(6 / (fan_in + fan_out)); the Dense default."""

    PRESET = (1.0, "fan_avg", "uniform")


class GlorotNormal(_NamedVarianceScaling):
    """Truncated normal with stddev sqrt(2 / (fan_in + fan_out))."""

    PRESET = (1.0, "fan_avg", "truncated_normal")


class HeUniform(_NamedVarianceScaling):
    """Uniform on ±sqrt(6 / fan_in); suits ReLU layers."""

    PRESET = (2.0, "fan_in", "uniform")


class HeNormal(_NamedVarianceScaling):
    """Truncated normal with stddev sqrt(2 / fan_in); suits ReLU layers."""

    PRESET = (2.0, "fan_in", "truncated_normal")


class LecunUniform(_NamedVarianceScaling):
    """Uniform on ±sqrt(3 / fan_in)."""

    PRESET = (1.0, "fan_in", "uniform")


class LecunNormal(_NamedVarianceScaling):
    """Truncated normal with stddev sqrt(1 / fan_in)."""

    PRESET = (1.0, "fan_in", "truncated_normal")


def compute_fans(shape: tuple) -> tuple[float, float]:
    """(fan_in, fan_out) of a weight: (rows, columns) for a matrix; kernels multiply by their window."""
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    receptive_field = math.prod(shape[:-2])
    return float(shape[-2] * receptive_field), float(shape[-1] * receptive_field)


def _truncated_normal(rng: np.random.Generator, shape: tuple, stddev: float) -> np.ndarray:
    """Normal(0, stddev) with every draw beyond two standard deviations redrawn."""
    values = rng.normal(0.0, stddev, size=shape)
    outside = np.abs(values) > 2 * stddev
    while outside.any():
        values[outside] = rng.normal(0.0, stddev, size=int(outside.sum()))
        outside = np.abs(values) > 2 * stddev
    return values


_CLASSES = {cls.__name__: cls for cls in (Zeros, Ones, Constant, RandomUniform, RandomNormal, TruncatedNormal,
                                          VarianceScaling, GlorotUniform, GlorotNormal, HeUniform, HeNormal,
                                          LecunUniform, LecunNormal)}
_BY_NAME = {
    **{name.lower(): cls for name, cls in _CLASSES.items()},
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_uniform": RandomUniform,
    "random_normal": RandomNormal, "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal, "he_uniform": HeUniform,
    "he_normal": HeNormal, "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
    # Keras' aliases, common in Keras 1 tutorials (Dense(64, init="uniform")): ±0.05 and stddev 0.05.
    "uniform": RandomUniform, "normal": RandomNormal, "zero": Zeros, "one": Ones,
}


def get(identifier: str | dict | Initializer) -> Initializer:
    """An initialiser from its name (``"glorot_uniform"``, ``"HeNormal"``), a serialized dict, or itself.

    Raises:
        ValueError: for an unknown name.
        TypeError: for anything else.
    """
    return resolve("initializer", identifier, Initializer, _BY_NAME,
                   "a name such as 'glorot_uniform' or an instance such as initializers.RandomNormal(stddev=0.01)")


def serialize(initializer: Initializer) -> dict:
    """``{"class_name": ..., "config": ...}``; :func:`get` turns it back into an initialiser."""
    return {"class_name": type(initializer).__name__, "config": initializer.get_config()}
