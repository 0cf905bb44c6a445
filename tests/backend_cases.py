"""A catalogue of backend op cases, for comparing any backend with the NumPy reference.

Each case is a function ``case(backend, sizes, dtype)`` that builds seeded random inputs for
``sizes = (N, C, K)`` (cases without a GEMM ignore C), runs one op (forward and backward, or a few
optimiser steps) on ``backend`` and returns its named outputs as host NumPy arrays: forward outputs,
every gradient, or the updated parameter and every slot. The same seed gives the same inputs on
every backend, so outputs can be compared one by one; :func:`assert_matches_reference` does that.
Convolution and pooling cases fix their image geometry in the case and run on ``WINDOW_SIZES``
(:func:`sizes_for`); a backend without their ops yet skips them (:func:`missing_ops`).
"""
from __future__ import annotations

import importlib
from functools import partial

import numpy as np

from axonal.activations import FROM_INPUT, derivative_source
from axonal.backend import reference
from axonal.backend.reference import ACTIVATIONS
from axonal.layers._window import explicit_padding, output_hw
from kinks import mask_kinks

SEED = 20240601
# Each of 1, 3, 17, 129 appears in each of the N, C and K positions; odd sizes catch tail loops.
SIZES = [(1, 1, 1), (3, 3, 3), (17, 17, 17), (129, 129, 129),
         (1, 3, 17), (3, 17, 129), (17, 129, 1), (129, 1, 3)]
# Non-default alphas, so that a backend ignoring alpha is caught.
ALPHAS = {"leaky_relu": 0.3, "elu": 0.7}
# The activations the fused dense and conv2d kernels take: all but those whose derivative needs the
# input z (the fused kernels keep only y, and refuse them: test_parity.py checks the message).
FUSED_ACTIVATIONS = [name for name in ACTIVATIONS if name not in FROM_INPUT]
OPTIONAL_BACKENDS = ("cpu", "cuda")


def _device(backend, array: np.ndarray):
    """``array`` in the memory ``backend`` works on (a cupy array for cuda, else NumPy itself)."""
    if getattr(backend, "NAME", "") == "cuda":
        import cupy  # only reached when the CUDA backend imported, so cupy is there
        return cupy.asarray(array)
    return np.ascontiguousarray(array)


def _host(array) -> np.ndarray:
    """A NumPy copy of a backend array (cupy arrays have ``.get()``)."""
    return np.array(array.get() if hasattr(array, "get") else array)


def _outputs(*shapes_dtypes, backend):
    """NaN-filled output buffers (integers: 0xAB): an op that reads instead of overwriting shows up."""
    buffers = []
    for shape, dtype in shapes_dtypes:
        fill = np.nan if np.dtype(dtype).kind == "f" else 0xAB
        buffers.append(_device(backend, np.full(shape, fill, dtype=dtype)))
    return buffers


# ---------------------------------------------------------------------------------------------
# Activations and dense

def activation_case(activation, backend, sizes, dtype):
    """activation_forward(x) and activation_backward(dy, y) with y from the reference forward (or
    with x itself for the activations whose derivative is taken from the input)."""
    n, _, k = sizes
    rng = np.random.default_rng(SEED)
    x = (3 * rng.standard_normal((n, k))).astype(dtype)
    dy = rng.standard_normal((n, k)).astype(dtype)
    alpha = ALPHAS.get(activation, 0.2)
    y_in = np.empty_like(x)
    reference.activation_forward(y_in, x, activation, alpha)  # the backward's input is shared
    y, dx = _outputs(((n, k), dtype), ((n, k), dtype), backend=backend)
    backend.activation_forward(y, _device(backend, x), activation, alpha)
    backward_input = derivative_source(activation, x, y_in)
    backend.activation_backward(dx, _device(backend, dy), _device(backend, backward_input), activation, alpha)
    return {"y": _host(y), "dx": _host(dx)}


def _dense_inputs(activation, sizes, dtype, with_bias):
    """x, W, b (or None) and dy; hard_step gets inputs on a 1/16 grid so every z is exact, and dy is
    0 where z is within rounding of a kink (``kinks.mask_kinks``)."""
    n, c, k = sizes
    rng = np.random.default_rng(SEED)
    if activation == "hard_step":
        # Sums of multiples of 1/16 are exact in any order, and the 1/32 offset keeps z off 0: the
        # step's output cannot flip between backends that sum in different orders.
        x = rng.integers(-2, 3, (n, c)) / 4
        W = rng.integers(-2, 3, (c, k)) / 4
        b = rng.integers(-2, 3, k) / 4 + 1 / 32
    else:
        x = rng.standard_normal((n, c))
        W = rng.standard_normal((c, k)) / np.sqrt(c)  # keeps z of order 1 for every C
        b = 0.5 * rng.standard_normal(k)
    dy = rng.standard_normal((n, k))
    x, W, b = (a.astype(dtype).astype(np.float64) for a in (x, W, b))  # the values every backend sees
    b = b if with_bias else None
    dy = mask_kinks(dy, x @ W + (0 if b is None else b), activation)  # no gradient rides on a tie
    return [None if a is None else a.astype(dtype) for a in (x, W, b, dy)]


def dense_case(activation, backend, sizes, dtype, with_bias=True, with_dx=True):
    """dense_forward and dense_backward (dz, dW, db unless no bias, dx unless skipped)."""
    n, c, k = sizes
    x, W, b, dy = _dense_inputs(activation, sizes, dtype, with_bias)
    alpha = ALPHAS.get(activation, 0.2)
    y_in = np.empty((n, k), dtype=dtype)
    reference.dense_forward(y_in, x, W, b, activation, alpha)
    y, dz, dW, db, dx = _outputs(((n, k), dtype), ((n, k), dtype), ((c, k), dtype), ((k,), dtype),
                                 ((n, c), dtype), backend=backend)
    db, dx = (db if with_bias else None), (dx if with_dx else None)
    dev_x, dev_W = _device(backend, x), _device(backend, W)
    dev_b = None if b is None else _device(backend, b)
    backend.dense_forward(y, dev_x, dev_W, dev_b, activation, alpha)
    backend.dense_backward(dx, dW, db, dz, _device(backend, dy), dev_x, dev_W, _device(backend, y_in),
                           activation, alpha)
    named = {"y": y, "dz": dz, "dW": dW, "db": db, "dx": dx}
    return {name: _host(array) for name, array in named.items() if array is not None}


# ---------------------------------------------------------------------------------------------
# Losses and dropout

def _loss_labels(kind, rng, n, k, dtype):
    """Labels of each kind: one-hot, probability rows, int32/int64 class ids, binary, targets."""
    if kind == "one_hot":
        return np.eye(k, dtype=dtype)[rng.integers(0, k, n)]
    if kind == "probabilities":
        return rng.dirichlet(np.ones(k), size=n).astype(dtype)
    if kind in ("int32", "int64"):
        return rng.integers(0, k, n).astype(kind)
    if kind == "binary":
        return rng.integers(0, 2, (n, k)).astype(dtype)
    if kind == "soft":
        return rng.uniform(0, 1, (n, k)).astype(dtype)
    return rng.standard_normal((n, k)).astype(dtype)  # regression targets


def _sample_weights(rng, n, dtype):
    """Weights in [0, 2), every third one 0 (a sample that must not count at all)."""
    weights = rng.uniform(0, 2, n)
    weights[::3] = 0
    return weights.astype(dtype)


def loss_case(op_name, label_kind, backend, sizes, dtype, weighted=False):
    """A fused loss: its value and the gradient of its input (with per-sample weights when ``weighted``)."""
    n, _, k = sizes
    rng = np.random.default_rng(SEED)
    logits = (3 * rng.standard_normal((n, k))).astype(dtype)
    labels = _loss_labels(label_kind, rng, n, k, dtype)
    weights = _device(backend, _sample_weights(rng, n, dtype)) if weighted else None
    (grad,) = _outputs(((n, k), dtype), backend=backend)
    loss = getattr(backend, op_name)(grad, _device(backend, logits), _device(backend, labels), weights)
    return {"loss": np.array(loss), "grad": _host(grad)}


def dropout_case(rate, seed, layer_id, step, backend, sizes, dtype):
    """dropout_forward (mask and y) and dropout_backward given the reference mask."""
    n, _, k = sizes
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((n, k)).astype(dtype)
    dy = rng.standard_normal((n, k)).astype(dtype)
    mask_in = np.empty((n, k), dtype=np.uint8)
    reference.dropout_forward(np.empty_like(x), mask_in, x, rate, seed, layer_id, step)
    y, mask, dx = _outputs(((n, k), dtype), ((n, k), np.uint8), ((n, k), dtype), backend=backend)
    backend.dropout_forward(y, mask, _device(backend, x), rate, seed, layer_id, step)
    backend.dropout_backward(dx, _device(backend, dy), _device(backend, mask_in), rate)
    return {"mask": _host(mask), "y": _host(y), "dx": _host(dx)}


# ---------------------------------------------------------------------------------------------
# Optimisers: three steps from non-trivial slots, with hyper-parameters chosen so that every term
# (epsilon's placement included) moves the result well beyond float32 rounding.

STEPS = 3


def _slots(optimizer, options, rng, shape):
    """Initial slot arrays (float64) for one optimiser configuration; unused slots are None."""
    def positive():  # second-moment slots are never negative
        return rng.uniform(0.1, 1.0, shape)

    def small():
        return 0.1 * rng.standard_normal(shape)

    if optimizer == "sgd":
        return {"momentum_buf": small() if options["momentum"] else None}
    if optimizer == "rmsprop":
        average = small() if options["centered"] else None
        # velocity >= average^2 (as running means of g^2 and g guarantee) keeps the root real.
        velocity = positive() + (0 if average is None else average**2)
        return {"velocity": velocity, "momentum_buf": small() if options["momentum"] else None,
                "average_grad": average}
    if optimizer == "adagrad":
        return {"accumulator": positive()}
    if optimizer == "adadelta":
        return {"accum_grad": positive(), "accum_delta": positive()}
    if optimizer == "lion":
        return {"m": small()}
    if optimizer == "adamax":
        return {"m": small(), "u": positive()}
    v = positive()
    v_hat = None
    if options["amsgrad"]:
        # Half the elements start with v_hat above v, half equal to it: both sides of the max.
        v_hat = v + rng.uniform(-0.3, 0.3, shape).clip(0)
    return {"m": small(), "v": v, "v_hat": v_hat}


def optimizer_case(optimizer, options, backend, sizes, dtype):
    """``STEPS`` updates of a (N, K) parameter; returns the parameter and every slot used."""
    n, _, k = sizes
    rng = np.random.default_rng(SEED)
    param = _device(backend, rng.standard_normal((n, k)).astype(dtype))
    slots = {name: None if value is None else _device(backend, value.astype(dtype))
             for name, value in _slots(optimizer, options, rng, (n, k)).items()}
    update = getattr(backend, f"{optimizer}_update")
    for step in range(1, STEPS + 1):
        grad = _device(backend, rng.standard_normal((n, k)).astype(dtype))
        if optimizer in ("adam", "adamax"):
            update(param, grad, *slots.values(), **options, step=step)
        else:
            update(param, grad, *slots.values(), **options)
    named = {"param": param, **slots}
    return {name: _host(array) for name, array in named.items() if array is not None}


_SGD = dict(lr=0.1, momentum=0.0, nesterov=False, weight_decay=0.0)
_RMSPROP = dict(lr=0.05, rho=0.8, momentum=0.0, epsilon=1e-2, centered=False, weight_decay=0.0)
_ADAM = dict(lr=0.1, beta_1=0.8, beta_2=0.95, epsilon=1e-2, amsgrad=False, weight_decay=0.0)
_LION = dict(lr=0.1, beta_1=0.8, beta_2=0.95, weight_decay=0.0)
OPTIMIZER_VARIANTS = {
    "sgd:plain": ("sgd", _SGD),
    "sgd:momentum": ("sgd", {**_SGD, "momentum": 0.7}),
    "sgd:nesterov": ("sgd", {**_SGD, "momentum": 0.7, "nesterov": True}),
    "sgd:weight_decay": ("sgd", {**_SGD, "momentum": 0.7, "weight_decay": 0.05}),
    "rmsprop:plain": ("rmsprop", _RMSPROP),
    "rmsprop:momentum": ("rmsprop", {**_RMSPROP, "momentum": 0.6}),
    "rmsprop:centered": ("rmsprop", {**_RMSPROP, "centered": True}),
    "rmsprop:centered_momentum": ("rmsprop", {**_RMSPROP, "centered": True, "momentum": 0.6}),
    "adagrad": ("adagrad", dict(lr=0.1, epsilon=1e-2, weight_decay=0.0)),
    "adadelta": ("adadelta", dict(lr=1.0, rho=0.8, epsilon=1e-2, weight_decay=0.0)),
    "adam:plain": ("adam", _ADAM),
    "adam:amsgrad": ("adam", {**_ADAM, "amsgrad": True}),
    "adam:weight_decay": ("adam", {**_ADAM, "weight_decay": 0.05}),
    "lion": ("lion", _LION),
    "lion:weight_decay": ("lion", {**_LION, "weight_decay": 0.05}),
    "adamax": ("adamax", dict(lr=0.1, beta_1=0.8, beta_2=0.95, epsilon=1e-2, weight_decay=0.0)),
    "adamax:weight_decay": ("adamax", dict(lr=0.1, beta_1=0.8, beta_2=0.95, epsilon=1e-2, weight_decay=0.05)),
}

# ---------------------------------------------------------------------------------------------
# Convolution and pooling: each case fixes its geometry (image, window, strides, padding 'valid',
# 'same' or explicit); ``sizes`` = (N, C, F) from WINDOW_SIZES, and pooling runs over K = F channels.

WINDOW_SIZES = [(1, 1, 1), (2, 3, 4), (3, 1, 4), (2, 3, 1)]
# Convolutions also run with F a multiple of 8 and 16, where the cpu backend's direct kernels take
# stride-1 geometries (dx too when C is one): with AVX-512 (16 lanes) blocks of two vectors and an odd
# last one (48, 80), with AVX2 (8 lanes) the same (24); 24 with AVX-512 and 3 channels take the GEMMs.
CONV_SIZES = WINDOW_SIZES + [(2, 16, 32), (1, 3, 48), (3, 32, 80), (2, 8, 24)]
WINDOW_OPS = {"conv2d": ("conv2d_forward", "conv2d_backward"),
              "max_pool2d": ("max_pool2d_forward", "max_pool2d_backward"),
              "avg_pool2d": ("avg_pool2d_forward", "avg_pool2d_backward")}


def _explicit(image, window, strides, padding):
    """(top, bottom, left, right) for 'valid', 'same' (converted as the layers do) or a 4-tuple."""
    return padding if isinstance(padding, tuple) else explicit_padding(padding, image, window, strides)


def conv_case(activation, geometry, backend, sizes, dtype, with_bias=True, with_dx=True):
    """conv2d_forward and conv2d_backward (dz, dW, db unless no bias, dx unless skipped)."""
    (n, c, f), (image, kernel, strides, padding) = sizes, geometry
    padding = _explicit(image, kernel, strides, padding)
    rng = np.random.default_rng(SEED)
    if activation == "hard_step":  # exact sums that stay off 0, as in _dense_inputs
        x, W = rng.integers(-2, 3, (n, *image, c)) / 4, rng.integers(-2, 3, (*kernel, c, f)) / 4
        b = rng.integers(-2, 3, f) / 4 + 1 / 32
    else:
        x = rng.standard_normal((n, *image, c))
        W = rng.standard_normal((*kernel, c, f)) / np.sqrt(kernel[0] * kernel[1] * c)
        b = 0.5 * rng.standard_normal(f)
    x, W, b = (a.astype(dtype) for a in (x, W, b))
    b = b if with_bias else None
    alpha = ALPHAS.get(activation, 0.2)
    y_in = np.empty((n, *output_hw(image, kernel, strides, padding), f), dtype=dtype)
    reference.conv2d_forward(y_in, x, W, b, strides, padding, activation, alpha)
    z = np.empty(y_in.shape)  # the exact pre-activation, to keep gradients off its ties
    reference.conv2d_forward(z, *(None if a is None else a.astype(np.float64) for a in (x, W, b)), strides,
                             padding, "linear", 0.0)
    dy = mask_kinks(rng.standard_normal(y_in.shape), z, activation).astype(dtype)
    y, dz, dW, db, dx = _outputs((y_in.shape, dtype), (y_in.shape, dtype), (W.shape, dtype), ((f,), dtype),
                                 (x.shape, dtype), backend=backend)
    db, dx = (db if with_bias else None), (dx if with_dx else None)
    dev_x, dev_W, dev_b = (None if a is None else _device(backend, a) for a in (x, W, b))
    backend.conv2d_forward(y, dev_x, dev_W, dev_b, strides, padding, activation, alpha)
    backend.conv2d_backward(dx, dW, db, dz, _device(backend, dy), dev_x, dev_W, _device(backend, y_in),
                            strides, padding, activation, alpha)
    named = {"y": y, "dz": dz, "dW": dW, "db": db, "dx": dx}
    return {name: _host(array) for name, array in named.items() if array is not None}


def _conv_reductions(geometry):
    """Output -> function of the sizes (N, C, F) giving the length of the sum behind that output."""
    image, (kh, kw), strides, padding = geometry
    oh, ow = output_hw(image, (kh, kw), strides, _explicit(image, (kh, kw), strides, padding))

    def pixels(sizes):  # dW and db sum over every output pixel of the batch
        return sizes[0] * oh * ow

    def window_inputs(sizes):  # y sums a window of C channels
        return kh * kw * sizes[1]

    def window_outputs(sizes):  # dx sums the F channels of every window that read the pixel
        return kh * kw * sizes[2]

    return {"y": window_inputs, "dW": pixels, "db": pixels, "dx": window_outputs}


def _pool_inputs(values, rng, shape, dtype):
    """Distinct values (no ties), small integers (many ties: the first maximum must win) or
    negative ones (a padded zero must never win)."""
    if values == "ties":
        return rng.integers(-1, 2, shape).astype(dtype)
    distinct = (rng.permutation(int(np.prod(shape))).reshape(shape) + 1) / 8  # exact in float32
    return (-distinct if values == "negative" else distinct - distinct.mean()).astype(dtype)


def pool_case(kind, geometry, values, backend, sizes, dtype):
    """{max,avg}_pool2d forward and backward; max pooling's backward gets the reference argmax."""
    (n, _, k), (image, pool, strides, padding) = sizes, geometry
    strides = strides or pool
    padding = _explicit(image, pool, strides, padding)
    rng = np.random.default_rng(SEED)
    x = _pool_inputs(values, rng, (n, *image, k), dtype)
    out_shape = (n, *output_hw(image, pool, strides, padding), k)
    dy = rng.standard_normal(out_shape).astype(dtype)
    y, dx = _outputs((out_shape, dtype), (x.shape, dtype), backend=backend)
    if kind == "avg_pool2d":
        backend.avg_pool2d_forward(y, _device(backend, x), pool, strides, padding)
        backend.avg_pool2d_backward(dx, _device(backend, dy), pool, strides, padding)
        return {"y": _host(y), "dx": _host(dx)}
    argmax_in = np.empty(out_shape, dtype=np.int32)
    reference.max_pool2d_forward(np.empty(out_shape, dtype=dtype), argmax_in, x, pool, strides, padding)
    (argmax,) = _outputs((out_shape, np.int32), backend=backend)
    backend.max_pool2d_forward(y, argmax, _device(backend, x), pool, strides, padding)
    backend.max_pool2d_backward(dx, _device(backend, dy), _device(backend, argmax_in))
    return {"y": _host(y), "argmax": _host(argmax), "dx": _host(dx)}


# name -> (image (H, W), window (KH, KW), strides (None: the pool size), padding)
CONV_GEOMETRIES = {
    "9x7:k3x3:s1:valid": ((9, 7), (3, 3), (1, 1), "valid"),
    "7x9:k3x3:s2:same": ((7, 9), (3, 3), (2, 2), "same"),
    "9x9:k2x3:s2x1:same": ((9, 9), (2, 3), (2, 1), "same"),  # top 0, bottom 1: the extra row below
    "3x3:k3x3:s1:valid": ((3, 3), (3, 3), (1, 1), "valid"),  # one window, one output pixel
    "1x1:k3x3:s1:same": ((1, 1), (3, 3), (1, 1), "same"),  # one pixel inside its padding
    "7x7:k1x1:s2:valid": ((7, 7), (1, 1), (2, 2), "valid"),
    "1x3:k1x3:s2:same": ((1, 3), (1, 3), (2, 2), "same"),
    "9x7:k3x2:s2:explicit": ((9, 7), (3, 2), (2, 2), (2, 0, 0, 1)),  # lopsided, as no mode makes it
    "11x29:k3x3:s1:same": ((11, 29), (3, 3), (1, 1), "same"),  # rows of 29: full register tiles and a tail
    "5x20:k3x3:s1:valid": ((5, 20), (3, 3), (1, 1), "valid"),  # wide enough for the cpu's direct dx
    "6x9:k5x2:s1:explicit": ((6, 9), (5, 2), (1, 1), (3, 0, 0, 1)),  # lopsided, stride 1
    "5x6:k2x3:s1:explicit": ((5, 6), (2, 3), (1, 1), (1, 0, 2, 0)),  # the widest padding a window allows
}
POOL_GEOMETRIES = {
    "9x7:p2:valid": ((9, 7), (2, 2), None, "valid"),  # the odd last row and column are dropped
    "7x9:p3:s2:same": ((7, 9), (3, 3), (2, 2), "same"),
    "7x7:p2:same": ((7, 7), (2, 2), None, "same"),  # bottom/right padding only
    "3x3:p3:valid": ((3, 3), (3, 3), None, "valid"),
    "1x1:p2:same": ((1, 1), (2, 2), None, "same"),
    "9x9:p3:s1:same": ((9, 9), (3, 3), (1, 1), "same"),  # overlapping windows share maxima
    "3x3:p2:s1:valid": ((3, 3), (2, 2), (1, 1), "valid"),
}

# ---------------------------------------------------------------------------------------------
# The catalogue

CASES = {}
GEMM_REDUCTIONS = {}  # case -> {output: index into sizes of the dimension summed, or a function of sizes}
for _act in ACTIVATIONS:
    CASES[f"activation:{_act}"] = partial(activation_case, _act)
for _act in FUSED_ACTIVATIONS:
    for _suffix, _options in (("", {}), (":no_bias", {"with_bias": False}), (":no_dx", {"with_dx": False})):
        CASES[f"dense:{_act}{_suffix}"] = partial(dense_case, _act, **_options)
        GEMM_REDUCTIONS[f"dense:{_act}{_suffix}"] = {"y": 1, "dW": 0, "db": 0, "dx": 2}
for _suffix, _weighted in (("", False), ("_weighted", True)):
    for _kind in ("one_hot", "probabilities", "int32", "int64"):
        CASES[f"softmax_cross_entropy:{_kind}{_suffix}"] = partial(loss_case, "softmax_cross_entropy", _kind,
                                                                   weighted=_weighted)
    for _kind in ("binary", "soft"):
        CASES[f"sigmoid_binary_cross_entropy:{_kind}{_suffix}"] = partial(
            loss_case, "sigmoid_binary_cross_entropy", _kind, weighted=_weighted)
    CASES[f"mean_squared_error{_suffix}"] = partial(loss_case, "mean_squared_error", "targets", weighted=_weighted)
CASES["dropout:rate_0"] = partial(dropout_case, 0.0, 7, 1, 0)
CASES["dropout:rate_0.5"] = partial(dropout_case, 0.5, 1234, 2, 17)
# Seed and layer id above 2^32 (taken mod 2^32), a step that uses the counter's high word.
CASES["dropout:rate_0.3:large_ids"] = partial(dropout_case, 0.3, 2**40 + 5, 2**33 + 3, 2**35 + 11)
for _name, (_optimizer, _options) in OPTIMIZER_VARIANTS.items():
    CASES[_name] = partial(optimizer_case, _optimizer, _options)
_CONV_NAMES = list(CONV_GEOMETRIES)
for _index, _act in enumerate(FUSED_ACTIVATIONS):  # every fused activation, each on another geometry
    _geometry = _CONV_NAMES[_index % len(_CONV_NAMES)]
    CASES[f"conv2d:{_act}:{_geometry}"] = partial(conv_case, _act, CONV_GEOMETRIES[_geometry])
for _geometry in _CONV_NAMES:  # every geometry at least once with a kinked activation
    CASES[f"conv2d:relu:{_geometry}"] = partial(conv_case, "relu", CONV_GEOMETRIES[_geometry])
for _suffix, _options in ((":no_bias", {"with_bias": False}), (":no_dx", {"with_dx": False})):
    CASES[f"conv2d:elu:9x9:k2x3:s2x1:same{_suffix}"] = partial(
        conv_case, "elu", CONV_GEOMETRIES["9x9:k2x3:s2x1:same"], **_options)
for _name, _case in CASES.items():
    if _name.startswith("conv2d:"):  # sums over KH·KW·C (y), N·OH·OW (dW, db) and KH·KW·F (dx)
        GEMM_REDUCTIONS[_name] = _conv_reductions(_case.args[1])
for _geometry, _spec in POOL_GEOMETRIES.items():
    CASES[f"max_pool2d:{_geometry}"] = partial(pool_case, "max_pool2d", _spec, "distinct")
    CASES[f"avg_pool2d:{_geometry}"] = partial(pool_case, "avg_pool2d", _spec, "distinct")
for _geometry in ("9x9:p3:s1:same", "3x3:p2:s1:valid"):
    CASES[f"max_pool2d:{_geometry}:ties"] = partial(pool_case, "max_pool2d", POOL_GEOMETRIES[_geometry], "ties")
for _geometry in ("7x7:p2:same", "1x1:p2:same", "7x9:p3:s2:same"):
    CASES[f"max_pool2d:{_geometry}:negative"] = partial(pool_case, "max_pool2d", POOL_GEOMETRIES[_geometry],
                                                        "negative")
from merge_cases import MERGE_CASES  # noqa: E402  (merge, concat, accumulate, scale)
CASES.update(MERGE_CASES)
from embedding_cases import EMBEDDING_CASES  # noqa: E402  (gather and scatter-add)
CASES.update(EMBEDDING_CASES)
from reshaping_cases import RESHAPING_CASES, RESHAPING_REDUCTIONS  # noqa: E402  (padding, upsampling, spatial dropout)
CASES.update(RESHAPING_CASES)
GEMM_REDUCTIONS.update(RESHAPING_REDUCTIONS)
from normalization_cases import NORMALIZATION_CASES, NORMALIZATION_REDUCTIONS  # noqa: E402  (batch and layer norm)
CASES.update(NORMALIZATION_CASES)
GEMM_REDUCTIONS.update(NORMALIZATION_REDUCTIONS)
from augmentation_cases import AUGMENTATION_CASES  # noqa: E402  (draws, resampling, contrast, rescale/normalize)
CASES.update(AUGMENTATION_CASES)
CASE_NAMES = list(CASES)


def fused_refusals(backend, activation) -> dict[str, str]:
    """The ValueError message of each fused op (dense and conv2d, forward and backward) of
    ``backend`` given ``activation``, or "" where an op accepts it."""
    def zeros(*shape):
        return _device(backend, np.zeros(shape, np.float32))

    x, W, images, kernel = zeros(2, 3), zeros(3, 4), zeros(1, 4, 4, 2), zeros(3, 3, 2, 2)
    window = ((1, 1), (0, 0, 0, 0))
    calls = {
        "dense_forward": lambda: backend.dense_forward(zeros(2, 4), x, W, None, activation, 0.0),
        "dense_backward": lambda: backend.dense_backward(None, None, None, zeros(2, 4), zeros(2, 4), x, W,
                                                         zeros(2, 4), activation, 0.0),
        "conv2d_forward": lambda: backend.conv2d_forward(zeros(1, 2, 2, 2), images, kernel, None, *window,
                                                         activation, 0.0),
        "conv2d_backward": lambda: backend.conv2d_backward(None, None, None, zeros(1, 2, 2, 2), zeros(1, 2, 2, 2),
                                                           images, kernel, zeros(1, 2, 2, 2), *window, activation,
                                                           0.0),
    }
    messages = {}
    for op, call in calls.items():
        try:
            call()
            messages[op] = ""
        except ValueError as error:
            messages[op] = str(error)
    return messages


def run_case(backend, case_name, sizes, dtype=np.float32):
    """The named outputs of ``case_name`` on ``backend`` for ``sizes`` (N, C, K)."""
    return CASES[case_name](backend, tuple(sizes), np.dtype(dtype))


def sizes_for(case_name) -> list:
    """The sizes a case runs on: WINDOW_SIZES (N, C, F) for convolution and pooling, else SIZES."""
    op = case_name.split(":")[0]
    return CONV_SIZES if op == "conv2d" else WINDOW_SIZES if op in WINDOW_OPS else SIZES


def missing_ops(backend, case_name) -> list[str]:
    """The ops of ``case_name`` that ``backend`` lacks (a backend still without them skips the case)."""
    return [op for op in WINDOW_OPS.get(case_name.split(":")[0], ()) if not hasattr(backend, op)]


def size_id(case_name, sizes) -> str:
    """A readable test id: C is shown only for the cases that use it."""
    n, c, k = sizes
    return f"N{n}-C{c}-K{k}" if case_name in GEMM_REDUCTIONS else f"N{n}-K{k}"


def compare_outputs(expected, actual, case_name, sizes, rtol, atol, label="backend") -> None:
    """Assert that two output dicts of ``case_name`` agree.

    Integer outputs (dropout masks) must be identical. GEMM outputs get ``atol`` scaled by the
    square root of the summed length (an index into ``sizes``, or a function of them): rounding
    errors of a length-L sum grow like sqrt(L).
    """
    assert sorted(actual) == sorted(expected), f"{label} returned {sorted(actual)}, expected {sorted(expected)}"
    reductions = GEMM_REDUCTIONS.get(case_name, {})
    for name, want in expected.items():
        got = actual[name]
        context = f"{case_name} {size_id(case_name, sizes)}: output {name!r} of {label}"
        assert got.shape == want.shape and got.dtype.kind == want.dtype.kind, \
            f"{context} is {got.dtype}{got.shape}, expected {want.dtype}{want.shape}"
        assert np.all(np.isfinite(want)), f"{context}: the reference itself is not finite"
        if want.dtype.kind in "iub":
            np.testing.assert_array_equal(got, want, err_msg=context)
            continue
        length = reductions.get(name)
        length = length(sizes) if callable(length) else 1 if length is None else sizes[length]
        scaled_atol = atol * np.sqrt(length)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=scaled_atol, err_msg=context)


def assert_matches_reference(backend_module, case_name, sizes, rtol=1e-4, atol=1e-5) -> None:
    """Run ``case_name`` in float32 on ``backend_module`` and on the reference, and compare."""
    expected = run_case(reference, case_name, sizes)
    actual = run_case(backend_module, case_name, sizes)
    compare_outputs(expected, actual, case_name, sizes, rtol, atol, label=getattr(backend_module, "NAME", "?"))


def available_backends() -> list:
    """The backend modules other than the reference that import on this machine."""
    return [module for module in map(_import_backend, OPTIONAL_BACKENDS) if not isinstance(module, str)]


def unavailable_backends() -> dict[str, str]:
    """Backend name -> why it does not import, for the backends that do not."""
    return {name: result for name in OPTIONAL_BACKENDS if isinstance(result := _import_backend(name), str)}


def _import_backend(name):
    """The module ``axonal.backend.<name>``, or a string saying why it does not import."""
    try:
        return importlib.import_module(f"axonal.backend.{name}")
    except ImportError as error:
        return f"{type(error).__name__}: {error}"
