"""Reuters newswires (the Reuters-21578 preprocessing Keras ships): 11228 newswires in 46 topics,
each a sequence of word indexes ranked by frequency.

Drop-in for ``keras.datasets.reuters``: the published ``reuters.npz`` and
``reuters_word_index.json`` are looked for in ``$AXONAL_DATA/reuters/``,
``/usr/share/datasets/reuters/`` and the cache, then downloaded (see :mod:`axonal.datasets`).
"""
from __future__ import annotations

import numbers

import numpy as np

from . import _sequences as seq
from ._fetch import locate
from ._pickles import read_npz_arrays
from ._published import REUTERS

__all__ = ["get_label_names", "get_word_index", "load_data"]

_LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply", "coffee", "sugar",
    "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi", "money-fx", "interest", "gnp",
    "meal-feed", "alum", "oilseed", "gold", "tin", "strategic-metal", "livestock", "retail", "ipi", "iron-steel",
    "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog", "lead")


def load_data(path="reuters.npz", num_words=None, skip_top=0, maxlen=None, test_split=0.2, seed=113, start_char=1,
              oov_char=2, index_from=3, *, download: bool = True, verify: bool = True):
    """Load the Reuters newswires as Keras does, with its options.

    Args:
        path: ``reuters.npz``, or a folder holding it, searched first (Keras' default is ignored
            when absent from the working directory).
        num_words, skip_top, maxlen, seed, start_char, oov_char, index_from: as
            :func:`axonal.datasets.imdb.load_data` (one shuffle of all newswires).
        test_split: fraction of the newswires (after ``maxlen``) that form the test split, the last
            ones after the shuffle: the first ``int(N * (1 - test_split))`` are for training.
        download: fetch ``reuters.npz`` (2 MB) when no verified copy exists.
        verify: check its published sha256.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: object arrays of lists of int and int64 topic
        labels 0..45 (8982 and 2246 newswires with the defaults).

    Raises:
        ValueError: an option of the wrong type or range, or a ``maxlen`` that leaves nothing.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = reuters.load_data(num_words=10000, test_split=0.2)  # doctest: +SKIP
    """
    seq.check_options("reuters.load_data", num_words, skip_top, maxlen, start_char, oov_char, index_from)
    if isinstance(test_split, bool) or not isinstance(test_split, numbers.Real) or not 0 <= test_split <= 1:
        raise ValueError(f"reuters.load_data: test_split must be a number in [0, 1] (the fraction kept for "
                         f"testing), received {test_split!r}.")
    source, _ = locate(REUTERS, "data", path, keras_default="reuters.npz", download=download, verify=verify)
    arrays = read_npz_arrays(source, ("x", "y"))
    xs = seq.check_sequences(arrays["x"], "x", source)
    labels = seq.check_labels(arrays["y"], "y", len(xs), source)
    xs, labels = seq.shuffled(np.random.RandomState(seed), xs, labels)
    xs = seq.encode(xs, start_char, index_from)
    if maxlen:
        xs, labels = seq.remove_long(maxlen, xs, labels)
        if not xs:
            raise ValueError(f"reuters.load_data: no newswire shorter than maxlen={maxlen}. Fix: increase maxlen.")
    labels = np.asarray(labels, dtype=np.int64)
    xs = seq.limit_vocabulary(xs, num_words, skip_top, oov_char)
    split = int(len(xs) * (1 - test_split))
    return ((seq.as_object_array(xs[:split]), labels[:split]), (seq.as_object_array(xs[split:]), labels[split:]))


def get_word_index(path="reuters_word_index.json", *, download: bool = True, verify: bool = True) -> dict[str, int]:
    """The ``{word: index}`` mapping of the newswires' word indexes (before ``index_from`` is added);
    its published md5 is checked (``verify``)."""
    source, _ = locate(REUTERS, "word_index", path, keras_default="reuters_word_index.json", download=download,
                       verify=verify)
    return seq.read_word_index(source)


def get_label_names() -> tuple[str, ...]:
    """The 46 topic names, indexed by label (Keras' list)."""
    return _LABEL_NAMES
