"""Global seeding. ``set_seed(n)`` makes weight initialisation, shuffling and dropout repeatable."""
from __future__ import annotations

import numpy as np

_global_seed: int | None = None


def set_seed(seed: int) -> None:
    """Seed everything axonal draws at random (weights, shuffling, dropout masks).

    Args:
        seed: a non-negative integer; models built after this call start from it.

    Example:
        >>> axonal.set_seed(42)
    """
    global _global_seed
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"set_seed expects a non-negative integer, received {seed!r}.")
    _global_seed = int(seed)
    np.random.seed(_global_seed % 2**32)


def global_seed() -> int | None:
    """The seed given to :func:`set_seed`, or None when it was never called."""
    return _global_seed


def draw_seed() -> int:
    """A fresh 32-bit seed: derived from the global seed when set, else from OS entropy."""
    if _global_seed is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    return int(np.random.randint(0, 2**32 - 1, dtype=np.uint64))
