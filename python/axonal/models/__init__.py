"""Models. ``Sequential`` is a linear stack of layers with Keras' compile/fit/evaluate/predict.

Example:
    >>> from axonal.models import Sequential
"""
from axonal.models.sequential import Sequential

__all__ = ["Sequential"]
