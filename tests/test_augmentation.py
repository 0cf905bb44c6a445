"""RandomFlip and RandomTranslation: Keras 3's transformations, training only, seeded, with exact
transposes for the backward pass, inside models on every backend."""
import numpy as np
import pytest

import axonal
from axonal.layers import Dense, Flatten, Input, RandomFlip, RandomTranslation, Reshape, deserialize, serialize
from axonal.models import Sequential

IMAGES = np.random.default_rng(0).standard_normal((64, 5, 4, 2)).astype(np.float32)


def test_augmentation_is_the_identity_at_inference():
    for layer in (RandomFlip(seed=1), RandomTranslation(0.5, 0.5, seed=1)):
        np.testing.assert_array_equal(layer(IMAGES, training=False), IMAGES)


@pytest.mark.parametrize("mode, axes", [("horizontal", (2,)), ("vertical", (1,)),
                                        ("horizontal_and_vertical", (1, 2))])
def test_random_flip_flips_about_half_the_images(mode, axes):
    flipped = RandomFlip(mode, seed=3)(IMAGES, training=True)
    was_flipped = [np.array_equal(out, image) for out, image in zip(flipped, np.flip(IMAGES, axes))]
    unchanged = [np.array_equal(out, image) for out, image in zip(flipped, IMAGES)]
    assert all(a != b for a, b in zip(was_flipped, unchanged))  # each image is one or the other
    assert 16 < sum(was_flipped) < 48  # binomial(64, 1/2)
    # Keras 3 draws once per image, so the two flips of "horizontal_and_vertical" go together.


def test_random_flip_accepts_images_without_a_channel_axis():
    gray = IMAGES[..., 0]
    np.testing.assert_array_equal(RandomFlip("vertical", seed=3)(gray, training=True),
                                  RandomFlip("vertical", seed=3)(IMAGES, training=True)[..., 0])


def shifted(height_factor, width_factor, images, **kwargs):
    return RandomTranslation(height_factor, width_factor, seed=0, **kwargs)(images, training=True)


# One image (4, 3, 1): a pair factor (f, f) makes the shift exactly f times the size.
IMAGE = np.arange(1, 13, dtype=np.float32).reshape(1, 4, 3, 1)


@pytest.mark.parametrize("fill_mode, first_row", [
    ("reflect", [1, 2, 3]),      # d c b a | a b c d: the row above row 0 is row 0
    ("wrap", [10, 11, 12]),      # the last row comes round
    ("nearest", [1, 2, 3]),
    ("constant", [-1, -1, -1]),  # fill_value
])
def test_translation_by_one_row_fills_as_keras(fill_mode, first_row):
    out = shifted((0.25, 0.25), 0.0, IMAGE, fill_mode=fill_mode, fill_value=-1.0)[0, :, :, 0]
    np.testing.assert_allclose(out[0], first_row)
    np.testing.assert_allclose(out[1:], IMAGE[0, :3, :, 0])  # the content moved down by one row


def test_translation_left_by_a_column_and_by_half_a_row():
    left = shifted(0.0, (-1 / 3, -1 / 3), IMAGE, fill_mode="constant")[0, :, :, 0]
    np.testing.assert_allclose(left, [[2, 3, 0], [5, 6, 0], [8, 9, 0], [11, 12, 0]], atol=1e-6)
    half = shifted((0.125, 0.125), 0.0, IMAGE, fill_mode="nearest")[0, :, :, 0]
    # Bilinear: each row is the mean of itself and the row above (row 0 of the image repeats).
    np.testing.assert_allclose(half, [[1, 2, 3], [2.5, 3.5, 4.5], [5.5, 6.5, 7.5], [8.5, 9.5, 10.5]], atol=1e-6)
    # Nearest takes the pixel at floor(s + 1/2): a shift of 3/4 row moves by one, 1/2 by none.
    nearest = shifted((0.1875, 0.1875), 0.0, IMAGE, fill_mode="nearest", interpolation="nearest")
    np.testing.assert_allclose(nearest[0, :, :, 0], [[1, 2, 3], [1, 2, 3], [4, 5, 6], [7, 8, 9]])
    np.testing.assert_allclose(shifted((0.125, 0.125), 0.0, IMAGE, interpolation="nearest"), IMAGE)


def test_translations_stay_within_the_factors():
    gray = np.zeros((200, 20, 10), np.float32)
    gray[:, 10, 5] = 1.0  # one bright pixel in the middle of each image
    out = shifted(0.2, (0.0, 0.3), gray, fill_mode="constant", interpolation="nearest")
    rows, columns = np.nonzero(out.max(axis=2))[1], np.nonzero(out.max(axis=1))[1]
    assert rows.min() >= 10 - 4 and rows.max() <= 10 + 4 and rows.min() < 8 and rows.max() > 12
    assert columns.min() >= 5 and columns.max() <= 5 + 3 and columns.max() > 6


@pytest.mark.parametrize("layer", [RandomFlip(seed=2), RandomTranslation(0.4, (-0.3, 0.5), seed=2),
                                   RandomTranslation(0.7, 0.7, fill_mode="wrap", seed=2),
                                   RandomTranslation(0.7, 0.7, fill_mode="nearest", seed=2),
                                   RandomTranslation(0.7, 0.7, fill_mode="constant", seed=2)],
                         ids=["flip", "reflect", "wrap", "nearest", "constant"])
def test_backward_is_the_transpose_of_forward(layer):
    """<T x, dy> = <x, Tᵀ dy> for the transformation T drawn for the batch."""
    dy = np.random.default_rng(1).standard_normal(IMAGES.shape).astype(np.float32)
    forward = layer(IMAGES, training=True).astype(np.float64)
    dx = layer.backward(dy).astype(np.float64)
    assert np.vdot(forward, dy) == pytest.approx(np.vdot(IMAGES.astype(np.float64), dx), rel=1e-5)


def test_constant_fill_value_is_added_outside_the_image_only():
    ones = np.ones((8, 6, 6, 3), np.float32)
    np.testing.assert_allclose(shifted(0.5, 0.5, ones, fill_mode="constant", fill_value=1.0), 1.0, rtol=1e-6)
    zero_filled = shifted(0.5, 0.5, ones, fill_mode="constant")
    assert zero_filled.min() == 0.0 and zero_filled.max() == pytest.approx(1.0)


def test_invalid_arguments_say_what_to_do():
    with pytest.raises(ValueError, match=r"height_factor=1.5.*Fix"):
        RandomTranslation(1.5, 0.1)
    with pytest.raises(ValueError, match="Unknown fill_mode 'mirror'"):
        RandomTranslation(0.1, 0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match="Unknown RandomFlip mode 'diagonal'"):
        RandomFlip("diagonal")
    with pytest.raises(ValueError, match=r"received input shape \(None, 784\).*Reshape"):
        Sequential([Input(shape=(784,)), RandomFlip()])


@pytest.mark.parametrize("layer", [RandomFlip("vertical", seed=4, name="flip"),
                                   RandomTranslation((-0.2, 0.1), 0.3, fill_mode="constant",
                                                     interpolation="nearest", seed=5, fill_value=0.5, name="shift"),
                                   Reshape((-1, 4), name="reshape")])
def test_get_config_round_trip(layer):
    restored = deserialize(serialize(layer))
    assert type(restored) is type(layer) and restored.get_config() == layer.get_config()


def augmented_model(seed=5):
    axonal.set_seed(seed)
    model = Sequential([Input(shape=(6, 6)), RandomFlip("horizontal"), RandomTranslation(0.2, 0.2),
                        Flatten(), Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_augmented_model_trains_repeatably_and_predicts_without_augmentation(backend):
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 128)
    x = rng.normal(0, 0.2, (128, 6, 6)).astype(np.float32)
    x[:, 1:5, 1:5] += np.where(labels == 1, 1.0, -1.0)[:, None, None]  # a centred blob, bright or dark
    runs = []
    for _ in range(2):
        model = augmented_model()
        model.fit(x, labels, epochs=8, batch_size=16, verbose=0)
        runs.append(model.get_weights())
    for first, second in zip(*runs):
        np.testing.assert_array_equal(first, second)
    assert model.evaluate(x, labels, verbose=0)[1] > 0.9
    plain = Sequential([Input(shape=(6, 6)), Flatten(), Dense(2, activation="softmax")])
    plain.set_weights(model.get_weights())
    np.testing.assert_array_equal(model.predict(x, verbose=0), plain.predict(x, verbose=0))


def test_gradients_flow_through_augmentation_between_trainable_layers(backend):
    axonal.set_seed(8)
    model = Sequential([Input(shape=(4,)), Dense(16), Reshape((4, 4)), RandomTranslation(0.25, 0.25),
                        RandomFlip(), Flatten(), Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    first = model.layers[0].get_weights()[0]
    model.train_on_batch(np.ones((8, 4), np.float32), np.ones(8, np.float32))
    assert not np.array_equal(first, model.layers[0].get_weights()[0])
