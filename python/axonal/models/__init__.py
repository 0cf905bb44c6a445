"""Models. ``Sequential`` is a linear stack of layers with Keras' compile/fit/evaluate/predict;
``load_model`` reads a model written by ``model.save``.

Example:
    >>> from axonal.models import Sequential, load_model
"""
from axonal.models.numerics import NonFiniteError
from axonal.models.sequential import Sequential
from axonal.saving import load_model

__all__ = ["NonFiniteError", "Sequential", "load_model"]
