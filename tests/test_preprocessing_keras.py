"""Rescaling, Normalization, pad_sequences and Tokenizer give Keras 3.15's outputs, recorded in
tests/fixtures/preprocessing_keras.{npz,json} by tests/fixtures/make_preprocessing_fixtures.py."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from axonal import layers
from axonal.backend import host_backend
from axonal.preprocessing.sequence import pad_sequences
from axonal.preprocessing.text import Tokenizer, tokenizer_from_json
from axonal.utils import pad_sequences as utils_pad_sequences

FIXTURES = Path(__file__).parent / "fixtures"
KERAS = np.load(FIXTURES / "preprocessing_keras.npz")
RECORDS = json.loads((FIXTURES / "preprocessing_keras.json").read_text())


def run(layer, x):
    layer.attach(host_backend(), 0, 0, layer.steps)  # the kernels a model would call (cpu when built)
    layer.build((None,) + x.shape[1:])
    return layer.forward(x, training=False).copy()


def test_rescaling_equals_keras():
    images = KERAS["images"]
    np.testing.assert_allclose(run(layers.Rescaling(1 / 255, offset=-0.5), images), KERAS["rescaling"], rtol=1e-6)
    per_channel = layers.Rescaling([0.5, 1.0, 2.0], offset=[1.0, 0.0, -1.0])
    np.testing.assert_allclose(run(per_channel, images), KERAS["rescaling_channels"], rtol=1e-6)


def test_normalization_equals_keras():
    table, images = KERAS["table"], KERAS["images"]
    layer = layers.Normalization()
    layer.adapt(table)
    np.testing.assert_allclose(layer.mean, KERAS["normalization_mean"].reshape(-1), rtol=1e-5)
    np.testing.assert_allclose(layer.variance, KERAS["normalization_variance"].reshape(-1), rtol=1e-5)
    np.testing.assert_allclose(run(layer, table), KERAS["normalization_adapted"], rtol=1e-5, atol=1e-5)
    everything = layers.Normalization(axis=None)
    everything.adapt(table)
    np.testing.assert_allclose(run(everything, table), KERAS["normalization_all"], rtol=1e-5, atol=1e-5)
    per_channel = layers.Normalization()
    per_channel.adapt(images)
    np.testing.assert_allclose(run(per_channel, images), KERAS["normalization_images"], rtol=1e-5, atol=1e-5)
    given = layers.Normalization(mean=[1.0, 2.0, 3.0, 4.0], variance=[4.0, 1.0, 0.0, 9.0])  # 0: divided by 1e-7
    np.testing.assert_allclose(run(given, table), KERAS["normalization_given"], rtol=1e-6)
    inverted = layers.Normalization(mean=[1.0, 2.0, 3.0, 4.0], variance=[4.0, 1.0, 0.25, 9.0], invert=True)
    np.testing.assert_allclose(run(inverted, table), KERAS["normalization_invert"], rtol=1e-6)


def test_pad_sequences_equals_keras():
    sequences = RECORDS["sequences"]
    for padding in ("pre", "post"):
        for truncating in ("pre", "post"):
            ours = pad_sequences(sequences, maxlen=4, padding=padding, truncating=truncating)
            expected = KERAS[f"pad_{padding}_{truncating}"]
            np.testing.assert_array_equal(ours, expected)
            assert ours.dtype == expected.dtype
    np.testing.assert_array_equal(utils_pad_sequences(sequences), KERAS["pad_default"])
    floats = pad_sequences(sequences, maxlen=3, dtype="float32", value=-1.5)
    np.testing.assert_array_equal(floats, KERAS["pad_float"])
    assert floats.dtype == np.float32
    items = pad_sequences([np.ones((2, 3)), np.arange(9.0).reshape(3, 3)], maxlen=4, dtype="float64")
    np.testing.assert_array_equal(items, KERAS["pad_items"])


def test_pad_sequences_refuses_with_reasons():
    with pytest.raises(ValueError, match="padding must be 'pre' or 'post'"):
        pad_sequences([[1]], padding="middle")
    with pytest.raises(ValueError, match="item 1 is 5, which has no length"):
        pad_sequences([[1], 5])
    with pytest.raises(ValueError, match="cannot hold the string padding value"):
        pad_sequences([[1]], value="x")


@pytest.mark.parametrize("name", RECORDS["tokenizers"])
def test_tokenizer_equals_keras(name):
    record = RECORDS["tokenizers"][name]
    tokenizer = Tokenizer(**record["kwargs"])
    tokenizer.fit_on_texts(RECORDS["texts"])
    assert tokenizer.word_index == record["word_index"]
    assert list(tokenizer.word_index) == list(record["word_index"])  # the order of ties too
    assert dict(tokenizer.word_counts) == record["word_counts"]
    assert dict(tokenizer.word_docs) == record["word_docs"]
    assert tokenizer.document_count == record["document_count"]
    assert tokenizer.texts_to_sequences(record["queries"]) == record["sequences"]
    assert tokenizer.sequences_to_texts(record["sequences"]) == record["texts"]
    for mode in ("binary", "count", "tfidf", "freq"):
        np.testing.assert_allclose(tokenizer.texts_to_matrix(record["queries"], mode=mode),
                                   KERAS[f"tokenizer_{name}_{mode}"], rtol=1e-12, err_msg=mode)
    assert _decoded(tokenizer.to_json()) == _decoded(record["json"])
    restored = tokenizer_from_json(record["json"])  # Keras' own JSON
    assert restored.word_index == tokenizer.word_index and restored.index_docs == tokenizer.index_docs
    np.testing.assert_allclose(restored.texts_to_matrix(record["queries"], mode="tfidf"),
                               KERAS[f"tokenizer_{name}_tfidf"], rtol=1e-12)


def _decoded(text: str) -> dict:
    """A tokenizer's JSON with its inner JSON strings decoded (``word_docs`` follows a set's order,
    which changes with Python's string hashing)."""
    outer = json.loads(text)
    config = outer["config"]
    for key in ("word_counts", "word_docs", "index_docs", "index_word", "word_index"):
        config[key] = json.loads(config[key])
    return outer


def test_tokenizer_refuses_with_reasons():
    with pytest.raises(ValueError, match="Specify a dimension"):
        Tokenizer().sequences_to_matrix([[1]])
    with pytest.raises(ValueError, match="Fit the Tokenizer on some data before using tfidf"):
        Tokenizer(num_words=3).sequences_to_matrix([[1]], mode="tfidf")
    with pytest.raises(ValueError, match="unknown vectorization mode 'tf'"):
        Tokenizer(num_words=3).sequences_to_matrix([[1]], mode="tf")
    with pytest.raises(TypeError, match="takes a list of texts, received one string"):
        Tokenizer().fit_on_texts("one text")
    with pytest.raises(ValueError, match="lacks 'word_counts'"):
        tokenizer_from_json('{"config": {}}')
