"""ImageDataGenerator: Keras 2's transformations, one resampling per batch, checked against scipy's
affine_transform (the function Keras' apply_affine_transform calls), and its flow() in fit."""
from __future__ import annotations

import numpy as np
import pytest

import axonal
from axonal import layers, models
from axonal.layers._affine import Resampling
from axonal.preprocessing.image import ImageDataGenerator
from axonal.utils import PyDataset

RNG = np.random.default_rng(3)
IMAGES = RNG.uniform(0, 255, (6, 9, 11, 2)).astype(np.float32)
LABELS = np.arange(6) % 3


@pytest.mark.parametrize("fill_mode", ["nearest", "reflect", "constant"])
def test_the_batch_resampling_equals_scipy_image_by_image(fill_mode):
    """scipy's order-1 affine_transform, with "grid-constant" for "constant": a point beyond the
    last pixel centre blends the edge with cval (Keras 3's layers do so too; docs/data-feeding.md)."""
    ndimage = pytest.importorskip("scipy.ndimage")
    generator = ImageDataGenerator(rotation_range=40, width_shift_range=0.2, height_shift_range=2, shear_range=15,
                                   zoom_range=(0.7, 1.3), fill_mode=fill_mode, cval=7.0)
    transform = generator.draw(np.random.default_rng(1), IMAGES.shape)
    ours = generator.apply_transform(IMAGES, transform)
    height, width = IMAGES.shape[1:3]
    for n in range(len(IMAGES)):
        theta, shear = np.deg2rad(transform["theta"][n]), np.deg2rad(transform["shear"][n])
        rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        shearing = np.array([[1, -np.sin(shear)], [0, np.cos(shear)]])
        zoom = np.diag([transform["zx"][n], transform["zy"][n]])
        linear = rotation @ shearing @ zoom
        centre = np.array([(height - 1) / 2, (width - 1) / 2])
        offset = centre - linear @ centre + rotation @ np.array([transform["tx"][n], transform["ty"][n]])
        for channel in range(2):
            expected = ndimage.affine_transform(IMAGES[n, :, :, channel].astype(np.float64), linear, offset, order=1,
                                                mode={"constant": "grid-constant"}.get(fill_mode, fill_mode), cval=7.0)
            np.testing.assert_allclose(ours[n, :, :, channel], expected, rtol=1e-4, atol=1e-3)


def test_simple_transformations_are_exact():
    generator = ImageDataGenerator()
    square = IMAGES[:, :9, :9]
    turned = generator.apply_transform(square, {"theta": np.full(6, 90.0)})
    np.testing.assert_allclose(turned, np.rot90(square, k=-1, axes=(1, 2)), atol=1e-3)
    shifted = generator.apply_transform(IMAGES, {"ty": np.full(6, 2.0)})  # reads 2 columns to the right
    np.testing.assert_array_equal(shifted[:, :, :-2], IMAGES[:, :, 2:])
    np.testing.assert_array_equal(shifted[:, :, -2:], np.repeat(IMAGES[:, :, -1:], 2, axis=2))  # "nearest" fill
    flipped = generator.apply_transform(IMAGES, {"flip_horizontal": [1, 0, 1, 0, 0, 0], "flip_vertical": np.zeros(6)})
    np.testing.assert_array_equal(flipped[0], IMAGES[0, :, ::-1])
    np.testing.assert_array_equal(flipped[1], IMAGES[1])
    np.testing.assert_array_equal(generator.random_transform(IMAGES[0], seed=1), IMAGES[0])  # no options: identity


def test_featurewise_and_samplewise_normalisation_follow_keras():
    generator = ImageDataGenerator(featurewise_center=True, featurewise_std_normalization=True, rescale=0.5)
    generator.fit(IMAGES)
    mean = IMAGES.mean(axis=(0, 1, 2))
    np.testing.assert_allclose(generator.mean.reshape(-1), mean, rtol=1e-5)
    np.testing.assert_allclose(generator.std.reshape(-1), IMAGES.std(axis=(0, 1, 2)), rtol=1e-5)
    # Keras rescales first and subtracts the mean of the raw values (its documented quirk).
    expected = (IMAGES * 0.5 - generator.mean) / (generator.std + 1e-6)
    np.testing.assert_allclose(generator.standardize(IMAGES.copy()), expected, rtol=1e-5)
    samplewise = ImageDataGenerator(samplewise_center=True, samplewise_std_normalization=True)
    out = samplewise.standardize(IMAGES.copy())
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=(1, 2, 3)), 1, rtol=1e-4)
    with pytest.raises(ValueError, match=r"call datagen.fit\(x_train\) before flow"):
        ImageDataGenerator(featurewise_center=True).standardize(IMAGES.copy())


def test_flow_is_a_pydataset_of_seeded_batches():
    generator = ImageDataGenerator(rotation_range=20, horizontal_flip=True)
    flow = generator.flow(IMAGES, LABELS, batch_size=4, seed=5, sample_weight=np.ones(6))
    assert isinstance(flow, PyDataset) and len(flow) == 2
    x, y, w = flow[1]
    assert x.shape == (2, 9, 11, 2) and x.dtype == np.float32 and y.shape == (2,) and w.shape == (2,)
    again = generator.flow(IMAGES, LABELS, batch_size=4, seed=5, sample_weight=np.ones(6))
    np.testing.assert_array_equal(again[1][0], x)  # batch i of epoch e draws from (seed, e, i)
    first_order = flow.order.copy()
    flow.on_epoch_end()
    assert sorted(flow.order) == list(range(6)) and not np.array_equal(flow.order, first_order)
    only_x = generator.flow(IMAGES, batch_size=6, shuffle=False, seed=1)
    assert only_x[0].shape == IMAGES.shape and next(only_x).shape == IMAGES.shape  # Keras 2's next()
    with pytest.raises(ValueError, match="x and y must have the same number of samples"):
        generator.flow(IMAGES, LABELS[:3])
    with pytest.raises(ValueError, match=r"add the channel axis of grey images with x\[\.\.\., None\]"):
        generator.flow(IMAGES[..., 0], LABELS)


def test_fit_on_a_flow_with_workers_repeats_exactly(backend):
    generator = ImageDataGenerator(rotation_range=10, width_shift_range=0.1, zoom_range=0.1, rescale=1 / 255)

    def train(workers):
        axonal.set_seed(4)
        model = models.Sequential([layers.Input((9, 11, 2)), layers.Flatten(), layers.Dense(3, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(generator.flow(IMAGES, LABELS, batch_size=4, seed=2, workers=workers), epochs=2,
                            verbose=0)
        return model, history.history
    (one, history_one), (three, history_three) = train(1), train(3)
    assert history_one == history_three and len(history_one["loss"]) == 2
    assert all(np.array_equal(a, b) for a, b in zip(one.get_weights(), three.get_weights()))


def test_resampling_backward_is_the_transpose():
    matrices = np.array([[[0.9, -0.3, 1.2], [0.2, 1.1, -0.7]], [[1.0, 0.0, 0.5], [0.0, 1.0, 0.0]]])
    for mode in ("reflect", "wrap", "constant", "nearest"):
        resampling = Resampling(matrices, 5, 7, mode)
        x, g = RNG.normal(size=(2, 5, 7, 3)).astype(np.float32), RNG.normal(size=(2, 5, 7, 3)).astype(np.float32)
        assert np.vdot(resampling.apply(x), g) == pytest.approx(np.vdot(x, resampling.transpose(g)), rel=1e-4)
