"""The direct convolution kernels (``cpp/conv_direct.cpp``) on random stride-1 geometries.

The parity catalogue (``backend_cases.py``) fixes a few geometries; here hypothesis draws many:
image sizes around the register tiles (12 pixels with AVX-512, 6 with AVX2), every padding a window
allows, 1 to 5 kernel rows and columns, channel counts that do and do not fill vectors (so the
direct forward/dW may run with the GEMM dx, or not at all). Every instruction set this CPU runs is
forced in turn, and each must match the float64 reference.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from axonal.backend import reference
from kinks import mask_kinks

native = pytest.importorskip("axonal._native")

ORDER = ["portable", "avx2", "avx512"]
RUNNABLE = ORDER[:ORDER.index(native.best_isa()) + 1]


@st.composite
def geometries(draw):
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    padding = (draw(st.integers(0, kh - 1)), draw(st.integers(0, kh - 1)),
               draw(st.integers(0, kw - 1)), draw(st.integers(0, kw - 1)))
    h = draw(st.integers(max(1, kh - padding[0] - padding[1]), 15))
    w = draw(st.integers(max(1, kw - padding[2] - padding[3]), 30))
    return (draw(st.integers(1, 3)), h, w, draw(st.sampled_from([1, 3, 8, 16, 32])), (kh, kw), padding,
            draw(st.sampled_from([8, 16, 24, 32, 48, 64, 80])), draw(st.sampled_from(["linear", "relu", "tanh"])))


def conv(ops, x, W, b, padding, activation, dy):
    y = np.empty(dy.shape, dtype=x.dtype)
    ops.conv2d_forward(y, x, W, b, (1, 1), padding, activation, 0.0)
    dz, dx, dW, db = np.empty_like(y), np.empty_like(x), np.empty_like(W), np.empty_like(b)
    ops.conv2d_backward(dx, dW, db, dz, dy, x, W, y, (1, 1), padding, activation, 0.0)
    return {"y": y, "dx": dx, "dW": dW, "db": db}


@pytest.mark.parametrize("isa", RUNNABLE)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(geometry=geometries())
@example(geometry=(2, 2, 27, 3, (5, 1), (2, 1, 0, 0), 8, "relu"))  # a pre-activation of +1.3e-8, -3.7e-9 in float32
@example(geometry=(3, 9, 26, 1, (3, 3), (0, 0, 0, 0), 48, "relu"))  # one channel, 3×3: the all-rows dW tile
@example(geometry=(1, 7, 13, 1, (3, 3), (1, 1, 1, 1), 16, "linear"))  # ... padded, one vector of channels
@example(geometry=(2, 5, 26, 32, (3, 3), (1, 1, 1, 1), 32, "tanh"))  # rows of 26: tiles of 9, 9, 8
def test_direct_convolutions_match_the_reference(isa, geometry):
    n, h, w, c, (kh, kw), padding, f, activation = geometry
    oh, ow = h + padding[0] + padding[1] - kh + 1, w + padding[2] + padding[3] - kw + 1
    rng = np.random.default_rng(h * 1000 + w * 10 + f)
    x = rng.standard_normal((n, h, w, c))
    W = rng.standard_normal((kh, kw, c, f)) / np.sqrt(kh * kw * c)
    b = rng.standard_normal(f)
    dy = rng.standard_normal((n, oh, ow, f))
    z = np.empty(dy.shape)
    reference.conv2d_forward(z, x, W, b, (1, 1), padding, "linear", 0.0)
    # float32 and float64 may put a pre-activation within rounding of 0 on opposite sides of ReLU's
    # kink: no gradient may depend on which (kinks.py).
    dy = mask_kinks(dy, z, activation)
    expected = conv(reference, x, W, b, padding, activation, dy)
    previous = native.get_isa()
    native.set_isa(isa)
    try:
        got = conv(native, *(a.astype(np.float32) for a in (x, W, b)), padding, activation, dy.astype(np.float32))
    finally:
        native.set_isa(previous)
    for name, want in expected.items():
        summed = {"y": kh * kw * c, "dx": kh * kw * f}.get(name, n * oh * ow)  # the length behind each output
        np.testing.assert_allclose(got[name], want, rtol=1e-4, atol=2e-6 * np.sqrt(summed) * np.abs(want).max(),
                                   err_msg=f"{name} on {isa}")
