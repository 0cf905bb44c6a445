"""Philox4x32-10 in vectorised NumPy, and the dropout keep-mask built from it.

This is the NumPy twin of ``cpp/include/axonal/philox.h``. Philox4x32-10 (Salmon et al., "Parallel
random numbers: as easy as 1, 2, 3", SC'11) maps a 128-bit counter and a 64-bit key to 128 random
bits with ten rounds of multiply-xor mixing. Every counter is independent of every other, so a whole
mask is drawn with array arithmetic: the only Python loop is over the ten rounds.

The dropout mapping (docs/design.md, "Randomness") for element ``i`` (flat row-major index) is::

    key     = (seed mod 2^32, layer_id mod 2^32)
    counter = (b mod 2^32, b >> 32, step mod 2^32, step >> 32)   with b = i >> 2
    word    = output[i & 3]
    u       = (word >> 8) * 2^-24            # exact float32 in [0, 1)
    keep    = u >= rate                      # rate rounded to float32, as the C++/CUDA kernels take it
"""
from __future__ import annotations

import numpy as np

ROUNDS = 10
_MASK32 = 0xFFFFFFFF
# Random123's multipliers (one per pair of words) and Weyl key increments (golden ratio, sqrt 3 - 1).
_MULTIPLIER_0 = np.uint64(0xD2511F53)
_MULTIPLIER_1 = np.uint64(0xCD9E8D57)
_WEYL_0 = 0x9E3779B9
_WEYL_1 = 0xBB67AE85


def _mulhilo32(multiplier: np.uint64, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The high and low 32 bits of the 64-bit products ``multiplier * words`` (uint64 arrays)."""
    product = words * multiplier  # < 2^64: both factors are below 2^32, so no wrap-around
    return product >> np.uint64(32), product & np.uint64(_MASK32)


def philox4x32_10(counters, key) -> np.ndarray:
    """Philox4x32-10 of every counter under one key.

    Args:
        counters: array-like of unsigned 32-bit words, shape (..., 4); the last axis is the counter
            (c0, c1, c2, c3), c0 the least significant word.
        key: the pair (k0, k1) of 32-bit integers.

    Returns:
        uint32 array of the same shape as ``counters``: the four output words of each counter.

    Example:
        >>> [hex(word) for word in philox4x32_10([0, 0, 0, 0], (0, 0))]  # Random123's first vector
        ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    counters = np.asarray(counters)
    if counters.shape[-1:] != (4,):
        raise ValueError(f"counters must have shape (..., 4), received {counters.shape}")
    # Work in uint64 so that the 32x32 -> 64 bit products fit; every value stays below 2^32 between rounds.
    c0, c1, c2, c3 = (counters[..., j].astype(np.uint64) for j in range(4))
    k0, k1 = int(key[0]) & _MASK32, int(key[1]) & _MASK32
    for _ in range(ROUNDS):
        hi0, lo0 = _mulhilo32(_MULTIPLIER_0, c0)
        hi1, lo1 = _mulhilo32(_MULTIPLIER_1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ np.uint64(k0), lo1, hi0 ^ c3 ^ np.uint64(k1), lo0
        # The key schedule is two scalars: plain Python ints, wrapped to 32 bits by hand.
        k0 = (k0 + _WEYL_0) & _MASK32
        k1 = (k1 + _WEYL_1) & _MASK32
    return np.stack([c0, c1, c2, c3], axis=-1).astype(np.uint32)


def dropout_uniforms(count: int, seed: int, layer_id: int, step: int, first_element: int = 0) -> np.ndarray:
    """The float32 uniforms u in [0, 1) of elements ``first_element .. first_element + count - 1``
    of a dropout mask.

    Element ``i`` uses word ``i & 3`` of the Philox output for block ``b = i >> 2``, so one Philox
    call serves four consecutive elements (see the module docstring for the full mapping).
    """
    if step < 0:
        raise ValueError(f"step must be a non-negative batch count, received {step}")
    step %= 2**64
    if first_element < 0:
        raise ValueError(f"first_element must be a non-negative element index, received {first_element}")
    skip = first_element % 4  # elements of the first block that come before first_element
    blocks = np.arange(first_element // 4, (first_element + count + 3) // 4, dtype=np.uint64)
    counters = np.empty(blocks.shape + (4,), dtype=np.uint64)
    counters[:, 0] = blocks & np.uint64(_MASK32)
    counters[:, 1] = blocks >> np.uint64(32)
    counters[:, 2] = step & _MASK32
    counters[:, 3] = step >> 32
    words = philox4x32_10(counters, (seed % 2**32, layer_id % 2**32)).reshape(-1)[skip:skip + count]
    # 24 high bits -> a float32 multiple of 2^-24: exactly representable, so every backend agrees.
    return (words >> np.uint32(8)).astype(np.float32) * np.float32(2.0**-24)


def dropout_keep_mask(shape, rate: float, seed: int, layer_id: int, step: int, first_element: int = 0) -> np.ndarray:
    """The dropout keep-mask (1 = keep, 0 = drop) of an activation of ``shape``.

    Args:
        shape: shape of the layer's activation, e.g. (N, K); elements are numbered row-major.
        rate: probability of dropping an element, in [0, 1). Compared in float32, like the kernels.
        seed: the Dropout layer's seed (taken mod 2^32).
        layer_id: the layer's position in the model (taken mod 2^32).
        step: the model's count of training batches so far (0-based, up to 2^64 - 1).
        first_element: the index of the first element in the numbering (a data-parallel shard's
            place in its global batch: its mask is that part of the one-process mask).

    Returns:
        uint8 array of ``shape``; an element is kept with probability 1 - rate.

    Example:
        >>> dropout_keep_mask((2, 3), 0.0, seed=1, layer_id=0, step=0)
        array([[1, 1, 1],
               [1, 1, 1]], dtype=uint8)
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout rate must be in [0, 1), received {rate!r}")
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(n) for n in shape)
    count = int(np.prod(shape, dtype=np.int64))
    uniforms = dropout_uniforms(count, seed, layer_id, step, first_element)
    return (uniforms >= np.float32(rate)).astype(np.uint8).reshape(shape)


# ----- Per-image draws of the augmentation layers (docs/design.md, "Randomness") -------------------

def augmentation_uniforms(count: int, seed: int, layer_id: int, step: int) -> np.ndarray:
    """(count, 2) float64 uniforms in [0, 1): row n holds words 0 and 1 of Philox block n of
    (seed, layer_id, step), each mapped like a dropout element (24 bits, exact).

    Image n of a batch draws from the block a dropout mask would use for elements 4n .. 4n+3, so a
    layer's images are independent draws, and C++/CUDA (``augmentation_functors.h``) get the same
    values. Two words serve the layers with two parameters (translation, zoom).
    """
    if step < 0:
        raise ValueError(f"step must be a non-negative batch count, received {step}")
    step %= 2**64
    blocks = np.arange(count, dtype=np.uint64)
    counters = np.empty(blocks.shape + (4,), dtype=np.uint64)
    counters[:, 0] = blocks & np.uint64(_MASK32)
    counters[:, 1] = blocks >> np.uint64(32)
    counters[:, 2] = step & _MASK32
    counters[:, 3] = step >> 32
    words = philox4x32_10(counters, (seed % 2**32, layer_id % 2**32))[:, :2]
    return ((words >> np.uint32(8)).astype(np.float32) * np.float32(2.0**-24)).astype(np.float64)


_HALF_PI_HI = 1.5707963267341256  # pi/2 to 33 bits, so k * hi is exact for the small k met here
_HALF_PI_LO = 6.077100506506192e-11
_TWO_OVER_PI = 0.6366197723675814
# Taylor coefficients, highest degree first, each an exact integer ratio rounded once.
_SINE = (-1.0 / 355687428096000.0, 1.0 / 1307674368000.0, -1.0 / 6227020800.0, 1.0 / 39916800.0,
         -1.0 / 362880.0, 1.0 / 5040.0, -1.0 / 120.0, 1.0 / 6.0)
_COSINE = (1.0 / 20922789888000.0, -1.0 / 87178291200.0, 1.0 / 479001600.0, -1.0 / 3628800.0, 1.0 / 40320.0,
           -1.0 / 720.0, 1.0 / 24.0)


def sin_cos(angles) -> tuple[np.ndarray, np.ndarray]:
    """sin and cos of float64 ``angles`` (|a| <= 8*pi) with only +, -, * and floor, in the order of
    ``augment_sin_cos`` in ``cpp/include/axonal/augmentation_functors.h``: the same bits in NumPy,
    C++ and CUDA (libm's and NumPy's own sin/cos differ in their last bits). A quadrant reduction,
    then Taylor polynomials of degree 17 and 16 on |r| <= pi/4 (error below 1e-16).

    Example:
        >>> sin_cos(np.array([0.0]))
        (array([0.]), array([1.]))
    """
    a = np.asarray(angles, dtype=np.float64)
    k = np.floor(a * _TWO_OVER_PI + 0.5)
    r = (a - k * _HALF_PI_HI) - k * _HALF_PI_LO
    r2 = r * r
    ps = np.full_like(r, _SINE[0])
    for coefficient in _SINE[1:]:
        ps = ps * r2 + coefficient
    s = r - (r * r2) * ps
    pc = np.full_like(r, _COSINE[0])
    for coefficient in _COSINE[1:]:
        pc = pc * r2 + coefficient
    c = (1.0 - 0.5 * r2) + (r2 * r2) * pc
    quadrant = k.astype(np.int64) % 4
    sine = np.select([quadrant == 0, quadrant == 1, quadrant == 2], [s, c, -s], -c)
    cosine = np.select([quadrant == 0, quadrant == 1, quadrant == 2], [c, -s, -c], s)
    return sine, cosine
