"""Random test data that stays clear of the activations' kinks.

relu, leaky_relu and elu (alpha != 1) change their derivative at z = 0, and hard_step its output.
Two computations of one pre-activation (float32 and float64, or two summation orders) may land on
either side of 0 when it lies within their rounding error of it: one says the derivative is 1,
the other 0 (or alpha), and every gradient fed by that element differs by a whole term. The kernels
are right then; a test comparing them on random data is not. Tests that draw random inputs for a
kinked activation therefore pass their upstream gradient through :func:`mask_kinks`: where the
exact (float64) pre-activation is within ``margin`` of a kink, ``dy`` is set to 0, so the one
ambiguous factor is multiplied by 0 on every side and dz, dW, db and dx agree. For hard_step's
forward, where the output itself jumps, tests use inputs on an exact grid instead
(``backend_cases._dense_inputs``).
"""
from __future__ import annotations

import numpy as np

# Activations whose derivative (or, for hard_step, output) is discontinuous at z = 0.
KINKED = frozenset({"relu", "leaky_relu", "elu", "hard_step"})
# A rounding error of a float32 sum of a few thousand N(0, 1) products is ~1e-6 of its scale; the
# margin leaves a factor of 100 and masks about 0.04% of the elements.
RELATIVE_MARGIN = 1e-4


def near_kinks(z: np.ndarray, activation: str, margin: float | None = None) -> np.ndarray:
    """Boolean mask of the pre-activations ``z`` within ``margin`` of a kink of ``activation``
    (all False for smooth activations). ``margin`` defaults to RELATIVE_MARGIN times max |z|."""
    z = np.asarray(z, dtype=np.float64)
    if activation not in KINKED or z.size == 0:
        return np.zeros(z.shape, dtype=bool)
    if margin is None:
        margin = RELATIVE_MARGIN * max(float(np.abs(z).max()), 1.0)
    return np.abs(z) < margin


def mask_kinks(dy: np.ndarray, z: np.ndarray, activation: str, margin: float | None = None) -> np.ndarray:
    """A copy of the upstream gradient ``dy`` with 0 where the exact pre-activation ``z`` (same
    shape) is within ``margin`` of a kink, so no backward pass depends on which side rounding put it."""
    masked = np.array(dy, copy=True)
    masked[near_kinks(z, activation, margin)] = 0
    return masked


def clear_of_kinks(z: np.ndarray, activation: str, margin: float) -> bool:
    """Whether every pre-activation is at least ``margin`` from a kink (finite differences of step
    ``h`` need ``margin`` well above ``h``: the difference quotient must not straddle the kink)."""
    return not near_kinks(z, activation, margin).any()
