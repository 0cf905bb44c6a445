"""axonal: Keras-style deep learning with fused C++/CUDA kernels.

Example:
    >>> import axonal
    >>> from axonal.models import Sequential
    >>> from axonal.layers import Dense
    >>> model = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(1, activation="sigmoid")])
    >>> model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
"""
from axonal._version import __version__
from axonal.backend import backends, get_backend, set_backend
from axonal.random import set_seed

__all__ = ["__version__", "backends", "get_backend", "set_backend", "set_seed"]
