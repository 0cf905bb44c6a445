"""The normalization op family's cases for the backend catalogue (``backend_cases.py`` adds them to
``CASES``).

Each case has the catalogue's form ``case(backend, sizes, dtype)`` with ``sizes = (N, C, K)``:
BatchNormalization runs on N rows of K channels, LayerNormalization on N rows of K features (C is
unused). A batch-norm case runs the training forward (y, the batch statistics, the moved moving
statistics), its backward, the inference forward and its backward; a layer-norm case its forward
and backward. The backward passes take the statistics of the reference's forward, so every backend
differentiates the same point. ``variant`` drops gamma, beta or dx (None), or sets ``rms_scaling``.
"""
from __future__ import annotations

from functools import partial

import numpy as np

from axonal.backend import reference

EPSILON, MOMENTUM = 1e-3, 0.9


def _catalogue():
    """backend_cases, imported when a case runs: it imports this module while it is being built."""
    import backend_cases
    return backend_cases


def _parameters(rng, k, dtype, variant):
    gamma = None if variant in ("no_gamma", "plain") else rng.uniform(0.5, 2.0, k).astype(dtype)
    beta = None if variant in ("no_beta", "plain", "rms") else rng.standard_normal(k).astype(dtype)
    return gamma, beta


def batch_norm_case(variant, backend, sizes, dtype):
    """batch_norm_forward, _backward, _inference_forward and _inference_backward on (N, K)."""
    cases = _catalogue()
    n, _, k = sizes
    rng = np.random.default_rng(cases.SEED)
    x = (3 * rng.standard_normal((n, k)) + 2).astype(dtype)
    dy = rng.standard_normal((n, k)).astype(dtype)
    gamma, beta = _parameters(rng, k, dtype, variant)
    moving_mean = rng.standard_normal(k).astype(dtype)
    moving_variance = rng.uniform(0.2, 3.0, k).astype(dtype)
    ref_mean, ref_inv = np.empty(k, dtype), np.empty(k, dtype)  # the point every backend differentiates
    reference.batch_norm_forward(np.empty_like(x), ref_mean, ref_inv, moving_mean.copy(), moving_variance.copy(), x,
                                 gamma, beta, MOMENTUM, EPSILON)
    dev = partial(cases._device, backend)
    opt = lambda a: None if a is None else dev(a)  # noqa: E731
    y, mean, inv, dx, dgamma, dbeta, y_inf, dx_inf = cases._outputs(
        ((n, k), dtype), ((k,), dtype), ((k,), dtype), ((n, k), dtype), ((k,), dtype), ((k,), dtype),
        ((n, k), dtype), ((n, k), dtype), backend=backend)
    mm, mv = dev(moving_mean.copy()), dev(moving_variance.copy())  # moved in place; the originals stay
    backend.batch_norm_forward(y, mean, inv, mm, mv, dev(x), opt(gamma), opt(beta), MOMENTUM, EPSILON)
    dx = None if variant == "no_dx" else dx
    dgamma = None if gamma is None else dgamma
    dbeta = None if beta is None else dbeta
    backend.batch_norm_backward(dx, dgamma, dbeta, dev(dy), dev(x), dev(ref_mean), dev(ref_inv), opt(gamma))
    backend.batch_norm_inference_forward(y_inf, dev(x), dev(moving_mean), dev(moving_variance), opt(gamma), opt(beta),
                                         EPSILON)
    backend.batch_norm_inference_backward(dx_inf, dev(dy), dev(moving_variance), opt(gamma), EPSILON)
    named = {"y": y, "mean": mean, "inv_std": inv, "moving_mean": mm, "moving_variance": mv, "dx": dx,
             "dgamma": dgamma, "dbeta": dbeta, "y_inference": y_inf, "dx_inference": dx_inf}
    return {name: cases._host(array) for name, array in named.items() if array is not None}


def layer_norm_case(variant, backend, sizes, dtype):
    """layer_norm_forward and layer_norm_backward on (N, K)."""
    cases = _catalogue()
    n, _, k = sizes
    rng = np.random.default_rng(cases.SEED)
    x = (3 * rng.standard_normal((n, k)) + 2).astype(dtype)
    dy = rng.standard_normal((n, k)).astype(dtype)
    gamma, beta = _parameters(rng, k, dtype, variant)
    rms = variant == "rms"
    ref_mean, ref_inv = np.empty(n, dtype), np.empty(n, dtype)
    reference.layer_norm_forward(np.empty_like(x), ref_mean, ref_inv, x, gamma, beta, EPSILON, rms)
    dev = partial(cases._device, backend)
    opt = lambda a: None if a is None else dev(a)  # noqa: E731
    y, mean, inv, dx, dgamma, dbeta = cases._outputs(((n, k), dtype), ((n,), dtype), ((n,), dtype), ((n, k), dtype),
                                                     ((k,), dtype), ((k,), dtype), backend=backend)
    backend.layer_norm_forward(y, mean, inv, dev(x), opt(gamma), opt(beta), EPSILON, rms)
    dx = None if variant == "no_dx" else dx
    dgamma = None if gamma is None else dgamma
    dbeta = None if beta is None and not rms else dbeta  # rms: dbeta, when asked for, is 0
    backend.layer_norm_backward(dx, dgamma, dbeta, dev(dy), dev(x), dev(ref_mean), dev(ref_inv), opt(gamma), rms)
    named = {"y": y, "mean": mean, "inv_std": inv, "dx": dx, "dgamma": dgamma, "dbeta": dbeta}
    return {name: cases._host(array) for name, array in named.items() if array is not None}


NORMALIZATION_CASES = {}
# Column sums over the N rows: their rounding grows like sqrt(N) (the catalogue scales atol so).
NORMALIZATION_REDUCTIONS = {}
for _variant in ("affine", "no_gamma", "no_beta", "plain", "no_dx"):
    NORMALIZATION_CASES[f"batch_norm:{_variant}"] = partial(batch_norm_case, _variant)
    NORMALIZATION_REDUCTIONS[f"batch_norm:{_variant}"] = {"dgamma": 0, "dbeta": 0}
for _variant in ("affine", "plain", "no_beta", "rms", "no_dx"):
    NORMALIZATION_CASES[f"layer_norm:{_variant}"] = partial(layer_norm_case, _variant)
    NORMALIZATION_REDUCTIONS[f"layer_norm:{_variant}"] = {"dgamma": 0, "dbeta": 0}
