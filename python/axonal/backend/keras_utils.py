"""Keras' global settings and session helpers, as ``keras.backend`` offers them.

Keras programs read these to decide how to shape their data and to reset state between models::

    from axonal import backend as K
    if K.image_data_format() == "channels_first":
        x_train = x_train.reshape(-1, 1, 28, 28)
    else:
        x_train = x_train.reshape(-1, 28, 28, 1)

What each does here (the decisions are in ``docs/keras-surface.md``):

- :func:`image_data_format` / :func:`set_image_data_format`: the default ``data_format`` of image
  layers built afterwards (``Conv2D``, pooling, ``Flatten``) and the layout of
  ``cifar10``/``cifar100`` images; ``"channels_last"`` unless set.
- :func:`epsilon` / :func:`set_epsilon`: the fuzz factor for user code (custom metrics); axonal's
  own losses are exact (fused log-sum-exp), so none of them reads it.
- :func:`floatx` / :func:`set_floatx`: always ``"float32"``: the kernels compute in float32 only,
  so any other value is refused rather than silently ignored.
- :func:`clear_session`: restarts layer and model names (``dense``, ``dense_1``...), as Keras does;
  the seeded random stream goes on, as Keras' does (see the function).
- :func:`backend`: ``"axonal"``: not one of Keras' names, so a program's
  ``if K.backend() == "tensorflow":`` branch (which would reach into TensorFlow) is skipped.
"""
from __future__ import annotations

import gc
import math
import numbers

__all__ = ["backend", "clear_session", "epsilon", "floatx", "image_data_format", "set_epsilon", "set_floatx",
           "set_image_data_format", "standardize_data_format"]

DATA_FORMATS = ("channels_last", "channels_first")
_image_data_format = "channels_last"
_epsilon = 1e-7  # Keras' default
_FLOATX = "float32"


def image_data_format() -> str:
    """The default layout of image batches: ``"channels_last"`` (N, H, W, C) or ``"channels_first"``
    (N, C, H, W). Image layers whose ``data_format`` is None use it when they are created.

    Example:
        >>> axonal.backend.image_data_format()
        'channels_last'
    """
    return _image_data_format


def set_image_data_format(data_format: str) -> None:
    """Set the default layout of image batches for layers created from now on.

    Args:
        data_format: ``"channels_last"`` or ``"channels_first"`` (any case).

    Raises:
        ValueError: any other value.

    Example:
        >>> axonal.backend.set_image_data_format("channels_first")
    """
    global _image_data_format
    _image_data_format = _checked_format(data_format, "set_image_data_format: data_format")


def standardize_data_format(data_format, owner: str = "data_format") -> str:
    """``data_format`` checked and lower-cased; None gives :func:`image_data_format` (as Keras).

    Args:
        data_format: ``"channels_last"``, ``"channels_first"`` or None.
        owner: who received the value, for the message (e.g. ``"Layer 'conv2d' (Conv2D): data_format"``).
    """
    return _image_data_format if data_format is None else _checked_format(data_format, owner)


def _checked_format(data_format, owner: str) -> str:
    value = data_format.lower() if isinstance(data_format, str) else data_format
    if value not in DATA_FORMATS:
        raise ValueError(f"{owner} must be 'channels_last' (images (N, H, W, C)) or 'channels_first' (images "
                         f"(N, C, H, W)), received {data_format!r}. Fix: pass one of these two strings.")
    return value


def epsilon() -> float:
    """The fuzz factor Keras code adds to avoid dividing by zero (default 1e-7).

    Example:
        >>> axonal.backend.epsilon()
        1e-07
    """
    return _epsilon


def set_epsilon(value: float) -> None:
    """Set the fuzz factor :func:`epsilon` returns.

    Args:
        value: a finite number >= 0.

    Raises:
        ValueError: a negative, infinite or NaN value, or not a number.
    """
    global _epsilon
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"set_epsilon expects a finite number >= 0, received {value!r}. "
                         "Fix: e.g. set_epsilon(1e-7) (Keras' default).")
    _epsilon = float(value)


def floatx() -> str:
    """The float type of weights and computations: always ``"float32"`` in axonal."""
    return _FLOATX


def set_floatx(value) -> None:
    """Accept ``"float32"`` (a no-op); refuse every other type.

    axonal's kernels (C++, CUDA) compute in float32 only. Keras would switch to float16 or float64;
    pretending to do so and computing in float32 would be a silently different program.

    Raises:
        ValueError: for any value other than float32, with what to do instead.
    """
    if str(value) == _FLOATX or getattr(value, "__name__", None) == _FLOATX:  # "float32", numpy.float32
        return
    raise ValueError(f"set_floatx: axonal computes in float32 only, received {value!r}. Fix: remove the "
                     "set_floatx call (weights, activations and gradients are float32); inputs of other "
                     "types are converted to float32 when they reach a model.")


def clear_session(free_memory: bool = True) -> None:
    """Reset the global state Keras resets: automatic names start again (``dense``, ``dense_1``...).

    Models and layers that exist keep working. The seeded random stream is left alone: Keras drops
    its global seed generator, but the next one draws its seed from Python's seeded ``random``
    module, so ``set_random_seed(1); clear_session(); build()`` gives the same weights as without
    ``clear_session()``; axonal's stream (:func:`axonal.set_seed`) gives that too by continuing.

    Args:
        free_memory: run Python's garbage collector, as Keras does.

    Example:
        >>> Dense(3).name, Dense(3).name
        ('dense', 'dense_1')
        >>> axonal.backend.clear_session()
        >>> Dense(3).name
        'dense'
    """
    from axonal.layers import base  # layers import the backend: not at the top

    base._name_counters.clear()  # models take their names from the same counters
    if free_memory:
        gc.collect()


def backend() -> str:
    """``"axonal"``: the name Keras programs compare with ``"tensorflow"``, ``"jax"`` or ``"torch"``.

    A program that branches on it (``if K.backend() == "tensorflow": import tensorflow as tf``)
    takes its framework-neutral path. The kernels in use (``numpy``, ``cpu`` or ``cuda``) are
    :func:`axonal.backend.backend_name`.
    """
    return "axonal"
