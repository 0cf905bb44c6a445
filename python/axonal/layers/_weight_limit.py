"""A bound on the weights layers may create, for code that builds models from untrusted files.

Loading a saved model rebuilds its layers from ``config.json`` before any array of the file is
read. A damaged or hostile config can ask for ``Dense(units=10**9)``; without a bound the layer
would allocate and initialise gigabytes before the loader finds that the file holds no such
weights. The loader therefore runs the build inside :func:`weight_limit`, sized from the arrays
the file really holds, and :meth:`Layer.add_weight` calls :func:`charge_weight` before it
allocates anything. Outside such a block nothing is limited.
"""
from __future__ import annotations

import contextlib
import contextvars
import math

__all__ = ["WeightLimitError", "charge_weight", "weight_limit"]

# The weight values still allowed in the current context (a one-item list, so charges update it in
# place), or None when no limit is set. A ContextVar keeps threads and nested loads apart.
_allowance: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("weight_allowance", default=None)


class WeightLimitError(ValueError):
    """A layer asked for more weight values than the enclosing :func:`weight_limit` allows."""


@contextlib.contextmanager
def weight_limit(values: int):
    """Within the block, layers may create at most ``values`` weight values in all.

    Example:
        >>> with weight_limit(100):
        ...     Dense(1000).build((None, 784))  # doctest: +SKIP
        WeightLimitError: Layer 'dense' would create weight 'kernel' of shape (784, 1000) ...
    """
    token = _allowance.set([int(values)])
    try:
        yield
    finally:
        _allowance.reset(token)


def charge_weight(layer: str, name: str, shape) -> None:
    """Count a weight of ``shape`` against the current limit, or raise :class:`WeightLimitError`."""
    allowance = _allowance.get()
    if allowance is None:
        return
    count = math.prod(int(size) for size in shape)
    if count > allowance[0]:
        raise WeightLimitError(f"Layer {layer!r} would create weight {name!r} of shape {tuple(shape)} "
                               f"({count} values), more than the {allowance[0]} values still allowed here")
    allowance[0] -= count
