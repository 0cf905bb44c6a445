"""axonal: Keras-style deep learning with fused C++ (and CUDA) kernels and a NumPy reference.

The modules a Keras program reaches through ``keras.`` are attributes here too: ``layers``,
``models``, ``utils``, ``callbacks``, ``optimizers``, ``losses``, ``metrics``, ``initializers``,
``regularizers``, ``activations``, ``backend`` and ``saving`` load with the package (a model
needs them anyway); ``datasets`` and ``preprocessing`` load on first use, so ``import axonal``
stays fast (``tests/test_import_surface.py`` holds it under a bound).

Example:
    >>> import axonal
    >>> from axonal.models import Model, Sequential
    >>> from axonal.layers import Dense, Input
    >>> model = Sequential([Input(shape=(4,)), Dense(8, activation="relu"), Dense(1, activation="sigmoid")])
    >>> model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    >>> (x_train, y_train), _ = axonal.datasets.mnist.load_data()   # doctest: +SKIP
"""
from __future__ import annotations

import importlib

from axonal._version import __version__
from axonal.backend import backends, get_backend, set_backend
from axonal.config import get_num_threads, set_num_threads, show_config
from axonal.random import set_seed
from axonal import (activations, backend, callbacks, distribution, initializers, layers, losses, metrics, models,
                    optimizers, regularizers, saving, utils)
from axonal.layers import Input
from axonal.models import Model, Sequential

# Submodules imported on first attribute access: reading files (datasets) or image/text tools
# (preprocessing) is not needed to build and train a model, and costs import time.
_LAZY_MODULES = ("datasets", "preprocessing")

__all__ = [
    "__version__", "activations", "backend", "backends", "callbacks", "datasets", "distribution", "get_backend", "initializers",
    "Input", "layers", "losses", "metrics", "models", "optimizers", "preprocessing", "regularizers", "saving",
    "Model", "Sequential", "set_backend", "set_seed", "show_config", "utils", "version", "get_num_threads",
    "set_num_threads",
]


def version() -> str:
    """The installed axonal version, as ``keras.version()`` returns Keras'.

    Example:
        >>> axonal.version() == axonal.__version__
        True
    """
    return __version__


def __getattr__(name: str):
    """Import a lazy submodule (``axonal.datasets``, ``axonal.preprocessing``) on first access."""
    if name in _LAZY_MODULES:
        qualified = f"{__name__}.{name}"
        try:
            module = importlib.import_module(qualified)
        except ModuleNotFoundError as error:
            if error.name != qualified:  # the module exists but something it imports is missing
                raise
            raise AttributeError(f"module 'axonal' has no attribute {name!r}: this installation has no "
                                 f"{qualified} package") from error
        globals()[name] = module  # later accesses find it without calling __getattr__
        return module
    raise AttributeError(f"module 'axonal' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_MODULES))
