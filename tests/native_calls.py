"""Valid calls of every ``axonal._native`` op on tiny arrays: the table ``test_native_bindings.py``
damages one argument at a time.

``VALID[op]`` is ``(builder, outputs, optional)``: ``builder(n, c, k)`` returns the keyword arguments
of a correct call for batch ``n``, ``c`` input features (or image channels) and ``k`` outputs;
``outputs`` names the arrays the op writes and ``optional`` those that may be None.
:data:`DAMAGES` are the ways an array argument is spoilt, :data:`SCALAR_CASES` the wrong values of
the other arguments, each with the exception and the word its message must contain.
"""
from __future__ import annotations

import numpy as np

N, C, K, H, W, F = 2, 3, 4, 5, 5, 3  # images (N, H, W, C); kernels 3x3xCxF; pools 2x2 stride 2


def rand(*shape):
    """Seeded normal float32 values (the same for the same shape)."""
    return np.random.default_rng(sum(shape) + len(shape)).normal(size=shape).astype(np.float32)


def zeros(*shape):
    return np.zeros(shape, np.float32)


def ones(*shape):
    return np.ones(shape, np.float32)


def _dense_backward(n, c, k):
    return dict(dx=zeros(n, c), dW=zeros(c, k), db=zeros(k), dz=zeros(n, k), dy=rand(n, k), x=rand(n, c),
                W=rand(c, k), y=rand(n, k), activation="relu", alpha=0.0)


def _conv2d_backward(n, c, k):
    return dict(dx=zeros(n, H, W, c), dW=zeros(3, 3, c, F), db=zeros(F), dz=zeros(n, H, W, F), dy=rand(n, H, W, F),
                x=rand(n, H, W, c), W=rand(3, 3, c, F), y=rand(n, H, W, F), strides=(1, 1), padding=(1, 1, 1, 1),
                activation="relu", alpha=0.0)


def _slots(c, k, *names):
    return {name: zeros(c, k) for name in names}


def _update(c, k, *slots, **hyper):
    return dict(param=rand(c, k), grad=rand(c, k), **_slots(c, k, *slots), **hyper, weight_decay=None)


_POOL = dict(pool=(2, 2), strides=(2, 2), padding=(0, 0, 0, 0))


def _params(n):
    """Per-image affine parameters: a small rotation about the centre (contrast reads column 0 as 0.9)."""
    turn = np.array([0.9, -0.1, 0.6, 0.1, 0.9, -0.4])
    return np.ascontiguousarray(np.broadcast_to(turn, (n, 6)))

VALID = {
    "activation_forward": (lambda n, c, k: dict(y=zeros(n, k), x=rand(n, k), activation="relu", alpha=0.0), "y", ""),
    "activation_backward": (lambda n, c, k: dict(dx=zeros(n, k), dy=rand(n, k), y=rand(n, k), activation="relu",
                                                 alpha=0.0), "dx", ""),
    "dense_forward": (lambda n, c, k: dict(y=zeros(n, k), x=rand(n, c), W=rand(c, k), b=rand(k), activation="relu",
                                           alpha=0.0), "y", "b"),
    "dense_backward": (_dense_backward, "dx dW db dz", "dx dW db"),
    "softmax_cross_entropy": (lambda n, c, k: dict(dlogits=zeros(n, k), logits=rand(n, k),
                                                   labels=np.arange(n, dtype=np.int32) % max(k, 1),
                                                   sample_weight=ones(n)), "dlogits", "sample_weight"),
    "sigmoid_binary_cross_entropy": (lambda n, c, k: dict(dlogits=zeros(n, k), logits=rand(n, k), labels=ones(n, k),
                                                          sample_weight=ones(n)), "dlogits", "sample_weight"),
    "mean_squared_error": (lambda n, c, k: dict(dpred=zeros(n, k), pred=rand(n, k), target=rand(n, k),
                                                sample_weight=ones(n)), "dpred", "sample_weight"),
    "dropout_forward": (lambda n, c, k: dict(y=zeros(n, k), mask=np.zeros((n, k), np.uint8), x=rand(n, k), rate=0.5,
                                             seed=1, layer_id=0, step=0), "y mask", ""),
    "dropout_backward": (lambda n, c, k: dict(dx=zeros(n, k), dy=rand(n, k), mask=np.ones((n, k), np.uint8),
                                              rate=0.5), "dx", ""),
    "sgd_update": (lambda n, c, k: _update(c, k, "momentum_buf", lr=0.1, momentum=0.9, nesterov=False),
                   "param momentum_buf", "momentum_buf"),
    "rmsprop_update": (lambda n, c, k: _update(c, k, "velocity", "momentum_buf", "average_grad", lr=0.1, rho=0.9,
                                               momentum=0.5, epsilon=1e-7, centered=True),
                       "param velocity momentum_buf average_grad", ""),
    "adagrad_update": (lambda n, c, k: _update(c, k, "accumulator", lr=0.1, epsilon=1e-7), "param accumulator", ""),
    "adadelta_update": (lambda n, c, k: _update(c, k, "accum_grad", "accum_delta", lr=1.0, rho=0.95, epsilon=1e-7),
                        "param accum_grad accum_delta", ""),
    "adam_update": (lambda n, c, k: _update(c, k, "m", "v", "v_hat", lr=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                                            step=1, amsgrad=True), "param m v v_hat", ""),
    "lion_update": (lambda n, c, k: _update(c, k, "m", lr=0.1, beta_1=0.9, beta_2=0.99), "param m", ""),
    "adamax_update": (lambda n, c, k: _update(c, k, "m", "u", lr=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-7, step=2),
                      "param m u", ""),
    "conv2d_forward": (lambda n, c, k: dict(y=zeros(n, H, W, F), x=rand(n, H, W, c), W=rand(3, 3, c, F), b=rand(F),
                                            strides=(1, 1), padding=(1, 1, 1, 1), activation="relu", alpha=0.0),
                       "y", "b"),
    "conv2d_backward": (_conv2d_backward, "dx dW db dz", "dx db"),
    "max_pool2d_forward": (lambda n, c, k: dict(y=zeros(n, 2, 2, c), argmax=np.zeros((n, 2, 2, c), np.int32),
                                                x=rand(n, H, W, c), **_POOL), "y argmax", ""),
    "max_pool2d_backward": (lambda n, c, k: dict(dx=zeros(n, H, W, c), dy=rand(n, 2, 2, c),
                                                 argmax=np.full((n, 2, 2, c), 6, np.int32)), "dx", ""),
    "avg_pool2d_forward": (lambda n, c, k: dict(y=zeros(n, 2, 2, c), x=rand(n, H, W, c), **_POOL), "y", ""),
    "avg_pool2d_backward": (lambda n, c, k: dict(dx=zeros(n, H, W, c), dy=rand(n, 2, 2, c), **_POOL), "dx", ""),
    # n lookups of ids in [0, c + 1) into a (c + 1, k) matrix
    "embedding_forward": (lambda n, c, k: dict(y=zeros(n, k), indices=np.arange(n, dtype=np.int32) % (c + 1),
                                               W=rand(c + 1, k)), "y", ""),
    "embedding_backward": (lambda n, c, k: dict(dW=zeros(c + 1, k), dy=rand(n, k),
                                                indices=np.arange(n, dtype=np.int32) % (c + 1)), "dW", ""),
    # Image reshaping on (n, H, W, c) images; spatial dropout on (n, 3, c, 2) (A = 3 pixels, B = 2).
    "zero_pad2d_forward": (lambda n, c, k: dict(y=zeros(n, H + 3, W + 1, c), x=rand(n, H, W, c), padding=(1, 2, 0, 1)),
                           "y", ""),
    "zero_pad2d_backward": (lambda n, c, k: dict(dx=zeros(n, H, W, c), dy=rand(n, H + 3, W + 1, c),
                                                 padding=(1, 2, 0, 1)), "dx", ""),
    "upsample2d_forward": (lambda n, c, k: dict(y=zeros(n, 2 * H, 3 * W, c), x=rand(n, H, W, c), size=(2, 3)), "y", ""),
    "upsample2d_backward": (lambda n, c, k: dict(dx=zeros(n, H, W, c), dy=rand(n, 2 * H, 3 * W, c), size=(2, 3)),
                            "dx", ""),
    "transpose_samples": (lambda n, c, k: dict(y=zeros(n, k, c), x=rand(n, c, k)), "y", ""),
    "spatial_dropout_forward": (lambda n, c, k: dict(y=zeros(n, 3, c, 2), mask=np.zeros((n, c), np.uint8),
                                                     x=rand(n, 3, c, 2), rate=0.5, seed=1, layer_id=2, step=3),
                                "y mask", ""),
    "spatial_dropout_backward": (lambda n, c, k: dict(dx=zeros(n, 3, c, 2), dy=rand(n, 3, c, 2),
                                                      mask=np.ones((n, c), np.uint8), rate=0.5), "dx", ""),
    # Normalization: batch norm over n rows of k channels, layer norm over n rows of k features.
    "batch_norm_forward": (lambda n, c, k: dict(y=zeros(n, k), mean=zeros(k), inv_std=zeros(k), moving_mean=zeros(k),
                                                moving_variance=ones(k), x=rand(n, k), gamma=ones(k), beta=zeros(k),
                                                momentum=0.99, epsilon=1e-3),
                           "y mean inv_std moving_mean moving_variance", "gamma beta"),
    "batch_norm_backward": (lambda n, c, k: dict(dx=zeros(n, k), dgamma=zeros(k), dbeta=zeros(k), dy=rand(n, k),
                                                 x=rand(n, k), mean=zeros(k), inv_std=ones(k), gamma=ones(k)),
                            "dx dgamma dbeta", "dx dgamma dbeta gamma"),
    "batch_norm_inference_forward": (lambda n, c, k: dict(y=zeros(n, k), x=rand(n, k), moving_mean=zeros(k),
                                                          moving_variance=ones(k), gamma=ones(k), beta=zeros(k),
                                                          epsilon=1e-3), "y", "gamma beta"),
    "batch_norm_inference_backward": (lambda n, c, k: dict(dx=zeros(n, k), dy=rand(n, k), moving_variance=ones(k),
                                                           gamma=ones(k), epsilon=1e-3), "dx", "gamma"),
    "layer_norm_forward": (lambda n, c, k: dict(y=zeros(n, k), mean=zeros(n), inv_std=zeros(n), x=rand(n, k),
                                                gamma=ones(k), beta=zeros(k), epsilon=1e-3, rms_scaling=False),
                           "y mean inv_std", "gamma beta"),
    "layer_norm_backward": (lambda n, c, k: dict(dx=zeros(n, k), dgamma=zeros(k), dbeta=zeros(k), dy=rand(n, k),
                                                 x=rand(n, k), mean=zeros(n), inv_std=ones(n), gamma=ones(k),
                                                 rms_scaling=False), "dx dgamma dbeta", "dx dgamma dbeta gamma"),
    # Augmentation: n images (H, W, c) with per-image params (n, 6); rescale/normalize on (n, k).
    "augment_draw": (lambda n, c, k: dict(params=np.zeros((n, 6)), kind="rotation", seed=1, layer_id=2, step=3,
                                          height=H, width=W, ranges=(-0.2, 0.2, 0.0, 0.0)), "params", ""),
    "affine_forward": (lambda n, c, k: dict(y=zeros(n, H, W, c), x=rand(n, H, W, c), params=_params(n),
                                            fill_mode="constant", interpolation="bilinear", fill_value=0.5), "y", ""),
    "affine_backward": (lambda n, c, k: dict(dx=zeros(n, H, W, c), dy=rand(n, H, W, c), params=_params(n),
                                             fill_mode="reflect", interpolation="nearest"), "dx", ""),
    "contrast_forward": (lambda n, c, k: dict(y=zeros(n, H, W, c), inside=np.zeros((n, H, W, c), np.uint8),
                                              x=rand(n, H, W, c), params=_params(n), low=-1.0, high=1.0),
                         "y inside", ""),
    "contrast_backward": (lambda n, c, k: dict(dx=zeros(n, H, W, c), dy=rand(n, H, W, c),
                                               inside=np.ones((n, H, W, c), np.uint8), params=_params(n)), "dx", ""),
    "rescale_forward": (lambda n, c, k: dict(y=zeros(n, k), x=rand(n, k), scale=rand(k), offset=rand(k)), "y", ""),
    "rescale_backward": (lambda n, c, k: dict(dx=zeros(n, k), dy=rand(n, k), scale=rand(k)), "dx", ""),
    "normalize_forward": (lambda n, c, k: dict(y=zeros(n, k), x=rand(n, k), mean=rand(k), deviation=ones(k)), "y", ""),
    "normalize_backward": (lambda n, c, k: dict(dx=zeros(n, k), dy=rand(n, k), deviation=ones(k)), "dx", ""),
}


def valid(op: str, n: int = N, c: int = C, k: int = K) -> dict:
    """Fresh keyword arguments of a correct call of ``op``."""
    return VALID[op][0](n, c, k)


def outputs(op: str) -> list[str]:
    return VALID[op][1].split()


def optional(op: str) -> list[str]:
    return VALID[op][2].split()


def _strided(a):
    return np.repeat(a, 2, axis=-1)[..., ::2]  # same shape and dtype, every other element


# Damages applied to each array argument in turn; each must be refused with a ValueError.
DAMAGES = {
    "float64": lambda a: a.astype(np.float32 if a.dtype == np.float64 else np.float64),  # the other float width
    "other_dtype": lambda a: a.astype(np.float32 if a.dtype.kind in "iu" else np.int32),
    "big_endian": lambda a: a.astype(a.dtype.newbyteorder(">")),
    "wrong_shape": lambda a: np.zeros(a.shape[:-1] + (a.shape[-1] + 1,), a.dtype),
    "extra_dim": lambda a: a[None],
    "strided_view": _strided,
    "fortran_order": lambda a: np.asfortranarray(np.concatenate([a, a])[:a.shape[0]]),
    "none": lambda a: None,
    "list": lambda a: a.tolist(),
    "numpy_scalar": lambda a: a.dtype.type(1),
}

SCALAR_CASES = [  # (op, overrides, exception, word the message must contain)
    ("activation_forward", dict(activation="bogus"), ValueError, "activation"),
    ("activation_backward", dict(activation=""), ValueError, "activation"),
    ("activation_forward", dict(activation=3), TypeError, "activation"),
    ("activation_forward", dict(activation="swish"), ValueError, "activation"),  # an alias: activations.get's
    ("dense_forward", dict(activation="gelu"), ValueError, "activation 'gelu' takes its derivative from its input"),
    ("dense_backward", dict(activation="mish"), ValueError, "activation 'mish'"),
    ("conv2d_forward", dict(activation="silu"), ValueError, "activation 'silu'"),
    ("conv2d_backward", dict(activation="gelu_approximate"), ValueError, "activation 'gelu_approximate'"),
    ("dense_forward", dict(alpha="0.2"), TypeError, "alpha"),
    ("dense_forward", dict(alpha=None), TypeError, "alpha"),
    ("dense_forward", dict(W=rand(C + 1, K)), ValueError, "W"),
    ("embedding_forward", dict(indices=np.array([0, C + 1], np.int32)), ValueError, "index 4 at position 1"),
    ("embedding_backward", dict(indices=np.array([-1, 0], np.int32)), ValueError, "index -1 at position 0"),
    ("softmax_cross_entropy", dict(labels=np.array([0, -1], np.int32)), ValueError, "label"),
    ("softmax_cross_entropy", dict(labels=np.array([0, K], np.int32)), ValueError, "label"),
    ("softmax_cross_entropy", dict(labels=np.array([0, 2**40], np.int64)), ValueError, "label"),
    ("softmax_cross_entropy", dict(labels=np.array([0, 1], np.uint8)), ValueError, "labels"),
    ("dropout_forward", dict(rate=1.0), ValueError, "rate"),
    ("dropout_forward", dict(rate=-0.1), ValueError, "rate"),
    ("dropout_forward", dict(rate=float("nan")), ValueError, "rate"),
    ("dropout_backward", dict(rate=float("inf")), ValueError, "rate"),
    ("dropout_forward", dict(rate="0.5"), TypeError, "rate"),
    ("dropout_forward", dict(seed=-1), TypeError, "seed"),
    ("dropout_forward", dict(step=2**64), TypeError, "step"),
    ("sgd_update", dict(momentum_buf=None), ValueError, "momentum_buf"),
    ("sgd_update", dict(weight_decay="1e-4"), TypeError, "weight_decay"),
    ("adam_update", dict(step=0), ValueError, "step"),
    ("adam_update", dict(step=-5), ValueError, "step"),
    ("adam_update", dict(step=2**63), TypeError, "step"),
    ("adam_update", dict(param=np.float32(1.0)), ValueError, "param"),
    ("lion_update", dict(m=None), ValueError, "'m' is required"),
    ("lion_update", dict(beta_1="0.9"), TypeError, "beta_1"),
    ("adamax_update", dict(step=0), ValueError, "step"),
    ("adamax_update", dict(u=None), ValueError, "'u' is required"),
    ("conv2d_forward", dict(strides=(0, 1)), ValueError, "strides"),
    ("conv2d_backward", dict(strides=(1, -1)), ValueError, "strides"),
    ("conv2d_forward", dict(strides=(1,)), TypeError, "strides"),
    ("conv2d_forward", dict(strides=(2**64, 1)), TypeError, "strides"),
    ("conv2d_forward", dict(padding=(-1, 1, 1, 1)), ValueError, "padding"),
    ("conv2d_backward", dict(padding=(3, 1, 1, 1)), ValueError, "padding"),
    ("conv2d_forward", dict(padding=(1, 1)), TypeError, "padding"),
    ("conv2d_forward", dict(padding="same"), TypeError, "padding"),
    ("conv2d_forward", dict(W=rand(3, 3, C + 1, F)), ValueError, "W"),
    ("conv2d_forward", dict(W=rand(9, 9, C, F), padding=(0, 0, 0, 0)), ValueError, "window"),
    ("conv2d_forward", dict(W=rand(0, 3, C, F), padding=(0, 0, 0, 0)), ValueError, "window"),
    ("max_pool2d_forward", dict(pool=(0, 2)), ValueError, "pool"),
    ("max_pool2d_forward", dict(pool=(9, 9)), ValueError, "window"),
    ("avg_pool2d_forward", dict(strides=(0, 2)), ValueError, "strides"),
    ("avg_pool2d_backward", dict(padding=(0, 0, 5, 0)), ValueError, "padding"),
    ("max_pool2d_forward", dict(padding=(2, 0, 0, 0)), ValueError, "padding"),
    ("max_pool2d_backward", dict(argmax=np.full((N, 2, 2, C), -1, np.int32)), ValueError, "argmax"),
    ("max_pool2d_backward", dict(argmax=np.full((N, 2, 2, C), H * W, np.int32)), ValueError, "argmax"),
    ("max_pool2d_backward", dict(argmax=np.full((N, 2, 2, C), 2**31 - 1, np.int32)), ValueError, "argmax"),
    ("max_pool2d_backward", dict(dx=zeros(N + 1, H, W, C)), ValueError, "dx"),
    ("zero_pad2d_forward", dict(padding=(-1, 0, 0, 0)), ValueError, "padding"),
    ("zero_pad2d_backward", dict(padding=(1, 1)), TypeError, "padding"),
    ("zero_pad2d_forward", dict(padding=(0, 0, 0, 0)), ValueError, "y"),
    ("upsample2d_forward", dict(size=(0, 2)), ValueError, "size"),
    ("upsample2d_backward", dict(size=(2,)), TypeError, "size"),
    ("upsample2d_backward", dict(size=(3, 3)), ValueError, "dy"),
    ("spatial_dropout_forward", dict(rate=1.0), ValueError, "rate"),
    ("spatial_dropout_backward", dict(rate=float("nan")), ValueError, "rate"),
    ("spatial_dropout_forward", dict(step=2**64), TypeError, "step"),
    ("batch_norm_forward", dict(momentum=1.5), ValueError, "momentum"),
    ("batch_norm_forward", dict(momentum=float("nan")), ValueError, "momentum"),
    ("batch_norm_forward", dict(epsilon=0.0), ValueError, "epsilon"),
    ("batch_norm_inference_forward", dict(epsilon=float("inf")), ValueError, "epsilon"),
    ("batch_norm_inference_backward", dict(epsilon=-1e-3), ValueError, "epsilon"),
    ("layer_norm_forward", dict(epsilon=float("nan")), ValueError, "epsilon"),
    ("batch_norm_forward", dict(momentum="0.99"), TypeError, "momentum"),
    ("layer_norm_forward", dict(rms_scaling="yes"), TypeError, "rms_scaling"),
    ("augment_draw", dict(kind="shear"), ValueError, "kind"),
    ("augment_draw", dict(ranges=(0.0, float("inf"), 0.0, 0.0)), ValueError, "ranges"),
    ("augment_draw", dict(ranges=(0.0, 1.0)), TypeError, "ranges"),
    ("augment_draw", dict(height=0), ValueError, "height"),
    ("augment_draw", dict(step=-1), TypeError, "step"),
    ("affine_forward", dict(fill_mode="mirror"), ValueError, "fill_mode"),
    ("affine_backward", dict(interpolation="cubic"), ValueError, "interpolation"),
    ("affine_forward", dict(params=np.full((N, 6), np.nan)), ValueError, "params"),
    ("affine_backward", dict(params=np.full((N, 6), 1e9)), ValueError, "params"),
    ("contrast_forward", dict(low=2.0), ValueError, "low"),
    ("contrast_forward", dict(params=np.full((N, 6), np.inf)), ValueError, "params"),
]
