"""Models. ``Model(inputs, outputs)`` is Keras' functional API over ``Input`` tensors and layer
calls; ``Sequential`` is a linear stack of layers (the one-chain case of ``Model``); both have
Keras' compile/fit/evaluate/predict. ``load_model`` reads a model written by ``model.save``.

Example:
    >>> from axonal.models import Model, Sequential, load_model
"""
from axonal.models.model import Model
from axonal.models.numerics import NonFiniteError
from axonal.models.sequential import Sequential
from axonal.saving import load_model, model_from_json

__all__ = ["Model", "NonFiniteError", "Sequential", "load_model", "model_from_json"]
