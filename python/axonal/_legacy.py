"""Keras 1/2 argument spellings that tutorials still use, accepted with a DeprecationWarning.

A function decorated with :func:`renamed_arguments` takes each old keyword, warns with the modern
spelling and the value it stands for, and calls the function with the modern keyword instead.
Passing both spellings is refused, so a script never silently loses one of them.

Example:
    >>> class Dense(Layer):
    ...     @renamed_arguments(output_dim="units", init="kernel_initializer")
    ...     def __init__(self, units, kernel_initializer="glorot_uniform", **kwargs): ...
    >>> Dense(output_dim=10)  # DeprecationWarning: use units=10 instead
"""
from __future__ import annotations

import functools
import inspect
import os
import sys
import warnings
from typing import Any, Callable

_PACKAGE_FOLDER = os.path.dirname(os.path.abspath(__file__))


def renamed_arguments(**renames: str | tuple[str, Callable[[Any], Any]]) -> Callable:
    """Decorator: accept each keyword ``old`` of ``renames`` as the modern keyword it maps to.

    Args:
        **renames: ``old="new"``, or ``old=("new", convert)`` when the value changes form too
            (``input_dim=8`` becomes ``input_shape=(8,)``).
    """
    table = {old: (new, None) if isinstance(new, str) else new for old, new in renames.items()}

    def decorate(function: Callable) -> Callable:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            used = [old for old in table if old in kwargs]
            if not used:
                return function(*args, **kwargs)
            owner = _owner(function, args)
            for old in used:
                new, convert = table[old]
                value = kwargs.pop(old)
                modern = convert(value) if convert is not None else value
                if new in signature.bind_partial(*args, **kwargs).arguments:
                    raise TypeError(f"{owner} received both {old}={value!r} and {new}=...; {old} is the "
                                    f"legacy spelling of {new}. Fix: pass only {new}={modern!r}.")
                warnings.warn(f"{owner}: argument {old}={value!r} is a legacy Keras spelling; use "
                              f"{new}={modern!r} instead.", DeprecationWarning, stacklevel=_user_stacklevel())
                kwargs[new] = modern
            return function(*args, **kwargs)

        return wrapper

    return decorate


def _owner(function: Callable, args: tuple) -> str:
    """``Dense`` for a constructor, ``Sequential.fit`` for a method, as the user wrote the call."""
    if function.__name__ == "__init__" and args:
        return type(args[0]).__name__
    if args and hasattr(args[0], function.__name__):
        return f"{type(args[0]).__name__}.{function.__name__}"
    return function.__name__


def _user_stacklevel() -> int:
    """The stack level of the first caller outside axonal, so that the warning points at the script
    line with the old spelling however deep the constructor chain (Dense -> Layer) is."""
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_FOLDER):
        frame, level = frame.f_back, level + 1
    return level
