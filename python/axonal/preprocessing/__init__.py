"""Preprocessing as the classic Keras programs import it: ``image.ImageDataGenerator``,
``text.Tokenizer``, ``sequence.pad_sequences`` (the modules load on first use).

Example:
    >>> from axonal.preprocessing.sequence import pad_sequences
    >>> from axonal.preprocessing.text import Tokenizer
"""
from __future__ import annotations

import importlib

__all__ = ["image", "sequence", "text"]


def __getattr__(name: str):
    if name in __all__:
        return importlib.import_module(f"axonal.preprocessing.{name}")
    raise AttributeError(f"module 'axonal.preprocessing' has no attribute {name!r}")
