"""Backend op cases of the augmentation family (``backend_cases.CASES`` takes them).

``sizes = (N, C, K)`` reads as N images of 5×7 pixels with 1 + C mod 3 channels for the image ops,
and N rows of K features for rescale/normalize. Each image case draws its parameters with
``augment_draw`` on the backend under test (compared bit for bit, as int64 views of the float64
values), then runs the forward and backward of its map; fills and interpolations vary by case.
"""
from __future__ import annotations

from functools import partial

import numpy as np

SEED = 20240612
HEIGHT, WIDTH = 5, 7
RANGES = {"flip_both": (0.0, 0.0, 0.0, 0.0), "flip_horizontal": (0.0, 0.0, 0.0, 0.0),
          "translation": (-0.3, 0.4, -0.5, 0.2), "rotation": (-0.5, 0.5, 0.0, 0.0),
          "zoom": (-0.4, 0.3, -0.2, 0.5), "zoom_keep_aspect": (-0.3, 0.3, 0.0, 0.0), "contrast": (0.4, 1.7, 0.0, 0.0)}


def image_case(kind, fill_mode, interpolation, backend, sizes, dtype, first_image=0):
    from backend_cases import _device, _host, _outputs

    n, c, _ = sizes
    shape = (n, HEIGHT, WIDTH, 1 + c % 3)
    rng = np.random.default_rng(SEED)
    x = rng.uniform(-1.0, 2.0, shape).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    params, y, dx = _outputs(((n, 6), np.float64), (shape, dtype), (shape, dtype), backend=backend)
    backend.augment_draw(params, kind, SEED, 3, 2**33 + 5, HEIGHT, WIDTH, RANGES[kind], first_image=first_image)
    if kind == "contrast":
        inside = _outputs((shape, np.uint8), backend=backend)[0]
        backend.contrast_forward(y, inside, _device(backend, x), params, -0.5, 1.5)
        backend.contrast_backward(dx, _device(backend, dy), inside, params)
        extra = {"inside": _host(inside)}
    else:
        backend.affine_forward(y, _device(backend, x), params, fill_mode, interpolation, 0.25)
        backend.affine_backward(dx, _device(backend, dy), params, fill_mode, interpolation)
        extra = {}
    return {"params_bits": _host(params).view(np.int64), "y": _host(y), "dx": _host(dx), **extra}


def feature_case(op, backend, sizes, dtype):
    from backend_cases import _device, _host, _outputs

    n, _, k = sizes
    rng = np.random.default_rng(SEED)
    x, dy = rng.standard_normal((n, k)).astype(dtype), rng.standard_normal((n, k)).astype(dtype)
    a = rng.uniform(0.3, 2.0, k).astype(dtype)  # the scale, or the deviation
    b = rng.standard_normal(k).astype(dtype)    # the offset, or the mean
    y, dx = _outputs(((n, k), dtype), ((n, k), dtype), backend=backend)
    if op == "rescale":
        backend.rescale_forward(y, _device(backend, x), _device(backend, a), _device(backend, b))
        backend.rescale_backward(dx, _device(backend, dy), _device(backend, a))
    else:
        backend.normalize_forward(y, _device(backend, x), _device(backend, b), _device(backend, a))
        backend.normalize_backward(dx, _device(backend, dy), _device(backend, a))
    return {"y": _host(y), "dx": _host(dx)}


AUGMENTATION_CASES = {
    "augment:flip_both": partial(image_case, "flip_both", "reflect", "nearest"),
    "augment:flip_horizontal:bilinear": partial(image_case, "flip_horizontal", "constant", "bilinear"),
    "augment:translation:reflect": partial(image_case, "translation", "reflect", "bilinear"),
    "augment:translation:wrap:nearest": partial(image_case, "translation", "wrap", "nearest"),
    "augment:rotation:constant": partial(image_case, "rotation", "constant", "bilinear"),
    "augment:rotation:nearest": partial(image_case, "rotation", "nearest", "nearest"),
    "augment:rotation:shard": partial(image_case, "rotation", "reflect", "bilinear", first_image=2**32 + 3),
    "augment:zoom:wrap": partial(image_case, "zoom", "wrap", "bilinear"),
    "augment:zoom_keep_aspect:constant:nearest": partial(image_case, "zoom_keep_aspect", "constant", "nearest"),
    "augment:contrast": partial(image_case, "contrast", "reflect", "bilinear"),
    "rescale": partial(feature_case, "rescale"),
    "normalize": partial(feature_case, "normalize"),
}
