"""axonal: Keras-style deep learning with fused C++ (and CUDA) kernels and a NumPy reference.

Example:
    >>> import axonal
    >>> from axonal.models import Model, Sequential
    >>> from axonal.layers import Dense, Input
    >>> model = Sequential([Input(shape=(4,)), Dense(8, activation="relu"), Dense(1, activation="sigmoid")])
    >>> model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
"""
from axonal._version import __version__
from axonal.backend import backends, get_backend, set_backend
from axonal.config import show_config
from axonal.random import set_seed
from axonal import activations, callbacks, initializers, layers, losses, metrics, models, optimizers, saving, utils
from axonal.layers import Input
from axonal.models import Model, Sequential

__all__ = [
    "__version__", "activations", "backends", "callbacks", "get_backend", "initializers", "Input", "layers",
    "losses", "metrics", "models", "optimizers", "saving", "Model", "Sequential", "set_backend", "set_seed",
    "show_config", "utils",
]
