"""The augmentation op family on first principles: the per-image draws (their documented Philox
mapping, ranges, independence of seed/layer/step/image, sin/cos without libm) and the reference
backward passes against float64 finite differences. Parity of every backend with the reference is
in ``augmentation_cases.py`` (run by test_parity.py and test_cuda_parity.py)."""
from __future__ import annotations

import numpy as np
import pytest

from axonal.backend import philox, reference as ops
from test_reference_gradients import numerical_gradient

H, W = 5, 6


def draw(kind, ranges=(0.0, 0.0, 0.0, 0.0), count=400, seed=11, layer_id=2, step=7, backend=ops):
    params = np.empty((count, 6))
    backend.augment_draw(params, kind, seed, layer_id, step, H, W, ranges)
    return params


def test_an_image_draws_the_first_two_words_of_its_dropout_block():
    """Image n uses Philox block n of (seed, layer_id, step): the uniforms of dropout elements 4n, 4n + 1."""
    uniforms = philox.augmentation_uniforms(9, 5, 3, 2**35 + 1)
    dropout = philox.dropout_uniforms(36, 5, 3, 2**35 + 1).reshape(9, 4)
    np.testing.assert_array_equal(uniforms, dropout[:, :2].astype(np.float64))


@pytest.mark.parametrize("kind", ["rotation", "translation", "contrast"])
def test_a_shard_draws_the_rows_of_its_images_global_places(kind):
    """A data-parallel shard of images 5..9 draws what the whole batch draws for them (first_image)."""
    ranges = (-0.2, 0.3, -0.1, 0.2)
    whole = draw(kind, ranges, count=12)
    for backend in available_backends():
        shard = np.empty((5, 6))
        backend.augment_draw(shard, kind, 11, 2, 7, H, W, ranges, first_image=5)
        np.testing.assert_array_equal(shard.view(np.int64), whole[5:10].view(np.int64))


def available_backends():
    """The reference, and the cpu backend where its extension is built."""
    from axonal import backend

    return [ops] + ([backend._try_import("cpu")[0]] if backend.backends()["cpu"] == "available" else [])


def test_sin_cos_needs_no_libm_and_is_accurate():
    angles = np.linspace(-8 * np.pi, 8 * np.pi, 200_001)
    sine, cosine = philox.sin_cos(angles)
    np.testing.assert_allclose(sine, np.sin(angles), rtol=0, atol=4e-16 * 8 * np.pi)
    np.testing.assert_allclose(cosine, np.cos(angles), rtol=0, atol=4e-16 * 8 * np.pi)
    assert philox.sin_cos(np.array([0.0])) == (np.array([0.0]), np.array([1.0]))


def test_rotations_are_rotations_about_the_centre_within_the_factor():
    params = draw("rotation", (-0.1, 0.25, 0.0, 0.0))
    linear = params[:, [0, 1, 3, 4]].reshape(-1, 2, 2)
    np.testing.assert_allclose(linear @ linear.transpose(0, 2, 1), np.broadcast_to(np.eye(2), linear.shape),
                               atol=1e-15)
    angles = np.arctan2(linear[:, 1, 0], linear[:, 0, 0]) / (2 * np.pi)
    assert angles.min() >= -0.1 - 1e-12 and angles.max() < 0.25 and angles.min() < -0.08 and angles.max() > 0.23
    centre = np.array([(H - 1) / 2, (W - 1) / 2])
    np.testing.assert_allclose(linear @ centre + params[:, [2, 5]], np.broadcast_to(centre, (400, 2)), atol=1e-12)


def test_translations_zooms_flips_and_contrasts_stay_in_their_ranges():
    shifts = -draw("translation", (-0.2, 0.4, 0.0, 0.1))[:, [2, 5]] / [H, W]
    assert shifts[:, 0].min() >= -0.2 and shifts[:, 0].max() < 0.4 and shifts[:, 1].min() >= 0
    zoom = draw("zoom", (-0.3, 0.2, 0.1, 0.5))
    assert 0.7 <= zoom[:, 0].min() and zoom[:, 0].max() < 1.2 and 1.1 <= zoom[:, 4].min() < zoom[:, 4].max() < 1.5
    keep = draw("zoom_keep_aspect", (-0.3, 0.2, 0.0, 0.0))
    np.testing.assert_array_equal(keep[:, 0], keep[:, 4])
    flips = draw("flip_horizontal")
    flipped = flips[:, 4] == -1
    assert 150 < flipped.sum() < 250 and set(flips[:, 4]) == {-1.0, 1.0}
    np.testing.assert_array_equal(flips[flipped, 5], W - 1)
    both = draw("flip_both")
    np.testing.assert_array_equal(both[:, 0], both[:, 4])  # Keras 3: one draw flips both axes
    factors = draw("contrast", (0.6, 1.3, 0.0, 0.0))[:, 0]
    assert 0.6 <= factors.min() and factors.max() <= 1.3
    np.testing.assert_array_equal(factors, factors.astype(np.float32))


@pytest.mark.parametrize("changed", ["seed", "layer_id", "step"])
def test_draws_depend_on_seed_layer_step_and_image(changed):
    first = draw("rotation", (-0.5, 0.5, 0.0, 0.0), count=8)
    assert len(np.unique(first[:, 0])) == 8  # each image its own angle
    other = draw("rotation", (-0.5, 0.5, 0.0, 0.0), count=8, **{changed: 1000})
    assert not np.any(first[:, 0] == other[:, 0])


def test_draws_of_a_batch_are_a_prefix_of_a_larger_batch():
    """A batch of 3 images gets the first 3 draws of a batch of 10: the last, smaller batch of an
    epoch is drawn like the others."""
    np.testing.assert_array_equal(draw("zoom", (-0.2, 0.2, -0.1, 0.3), count=3),
                                  draw("zoom", (-0.2, 0.2, -0.1, 0.3), count=10)[:3])


@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "constant", "nearest"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("kind", ["rotation", "zoom", "translation"])
def test_affine_backward_matches_finite_differences(kind, fill_mode, interpolation):
    rng = np.random.default_rng(3)
    params = draw(kind, (-0.4, 0.4, -0.3, 0.3), count=2)
    x = rng.standard_normal((2, H, W, 2))
    weights = rng.standard_normal(x.shape)

    def loss():
        y = np.empty_like(x)
        ops.affine_forward(y, x, params, fill_mode, interpolation, 0.7)
        return np.sum(weights * y)

    dx = np.empty_like(x)
    ops.affine_backward(dx, weights, params, fill_mode, interpolation)
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), rtol=1e-7, atol=1e-8)


def test_contrast_backward_matches_finite_differences_inside_and_at_the_clip():
    rng = np.random.default_rng(4)
    params = draw("contrast", (0.5, 1.8, 0.0, 0.0), count=3)
    x = rng.uniform(0, 1, (3, H, W, 2))
    weights = rng.standard_normal(x.shape)
    inside = np.empty(x.shape, np.uint8)

    def loss():
        y = np.empty_like(x)
        ops.contrast_forward(y, np.empty(x.shape, np.uint8), x, params, 0.1, 0.9)
        return np.sum(weights * y)

    y = np.empty_like(x)
    ops.contrast_forward(y, inside, x, params, 0.1, 0.9)
    assert 0 < inside.sum() < inside.size  # some values clipped, some not
    dx = np.empty_like(x)
    ops.contrast_backward(dx, weights, inside, params)
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("op", ["rescale", "normalize"])
def test_feature_maps_backward_matches_finite_differences(op):
    rng = np.random.default_rng(5)
    x, weights = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    a, b = rng.uniform(0.5, 2.0, 4), rng.standard_normal(4)
    forward = getattr(ops, f"{op}_forward")

    def loss():
        y = np.empty_like(x)
        forward(y, x, a, b) if op == "rescale" else forward(y, x, b, a)
        return np.sum(weights * y)

    dx = np.empty_like(x)
    getattr(ops, f"{op}_backward")(dx, weights, a)
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), rtol=1e-7, atol=1e-8)


def test_unknown_names_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="unknown kind 'shear'.*rotation"):
        draw("shear")
    with pytest.raises(ValueError, match="unknown fill_mode 'mirror'"):
        ops.affine_forward(np.empty((1, H, W, 1)), np.zeros((1, H, W, 1)), np.zeros((1, 6)), "mirror", "nearest", 0.0)
