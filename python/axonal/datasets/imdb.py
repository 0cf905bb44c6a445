"""IMDB movie reviews (Maas et al. 2011): 25000 training and 25000 test reviews labelled positive (1)
or negative (0), each a sequence of word indexes ranked by frequency.

Drop-in for ``keras.datasets.imdb``: the published ``imdb.npz`` and ``imdb_word_index.json`` are
looked for in ``$AXONAL_DATA/imdb/``, ``/usr/share/datasets/imdb/`` and the cache, then downloaded
(see :mod:`axonal.datasets`). The ``.npz`` stores the reviews as pickled lists; they are rebuilt by
a restricted unpickler that runs nothing (:mod:`axonal.datasets._pickles`).
"""
from __future__ import annotations

import numpy as np

from . import _sequences as seq
from ._fetch import locate
from ._pickles import read_npz_arrays
from ._published import IMDB

__all__ = ["get_word_index", "load_data"]


def load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2,
              index_from=3, *, download: bool = True, verify: bool = True):
    """Load the IMDB reviews as Keras does, with its options.

    Args:
        path: ``imdb.npz``, or a folder holding it, searched before ``$AXONAL_DATA/imdb/``, the
            system folder and the cache; Keras' default ``"imdb.npz"`` is ignored when no such file
            is in the working directory.
        num_words: keep the ``num_words`` most frequent words (indexes below it, after
            ``index_from``); the others become ``oov_char``. None keeps every word.
        skip_top: the most frequent ``skip_top`` indexes become ``oov_char`` too.
        maxlen: drop every review of ``maxlen`` indexes or more (``start_char`` counted). None keeps all.
        seed: seed of the shuffle of each split (``np.random.RandomState``, as Keras).
        start_char: index put first in every review (None: nothing added).
        oov_char: index of the words cut by ``num_words``/``skip_top`` (None: they are removed).
        index_from: added to every word index (0, 1, 2 are padding, start and out-of-vocabulary).
        download: fetch ``imdb.npz`` (17 MB) when no verified copy exists.
        verify: check its published sha256; pass False for your own file in the same format.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: object arrays of lists of int (one per review) and
        int64 label arrays of 0/1, 25000 each without ``maxlen``.

    Raises:
        ValueError: an option of the wrong type or sign, or a ``maxlen`` that leaves a split empty.
        DatasetNotFoundError, DatasetFormatError: see :mod:`axonal.datasets`.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=10000)   # doctest: +SKIP
        >>> max(max(review) for review in x_train)
        9999
    """
    seq.check_options("imdb.load_data", num_words, skip_top, maxlen, start_char, oov_char, index_from)
    source, _ = locate(IMDB, "data", path, keras_default="imdb.npz", download=download, verify=verify)
    arrays = read_npz_arrays(source, ("x_train", "y_train", "x_test", "y_test"))
    x_train = seq.check_sequences(arrays["x_train"], "x_train", source)
    x_test = seq.check_sequences(arrays["x_test"], "x_test", source)
    y_train = seq.check_labels(arrays["y_train"], "y_train", len(x_train), source)
    y_test = seq.check_labels(arrays["y_test"], "y_test", len(x_test), source)
    rng = np.random.RandomState(seed)
    x_train, y_train = seq.shuffled(rng, x_train, y_train)
    x_test, y_test = seq.shuffled(rng, x_test, y_test)
    x_train, x_test = seq.encode(x_train, start_char, index_from), seq.encode(x_test, start_char, index_from)
    if maxlen:
        x_train, y_train = seq.remove_long(maxlen, x_train, y_train)
        x_test, y_test = seq.remove_long(maxlen, x_test, y_test)
        if not x_train or not x_test:
            raise ValueError(f"imdb.load_data: no review shorter than maxlen={maxlen} is left in the "
                             f"{'training' if not x_train else 'test'} split. Fix: increase maxlen.")
    labels = np.concatenate([np.asarray(y_train, dtype=np.int64), np.asarray(y_test, dtype=np.int64)])
    xs = seq.limit_vocabulary(x_train + x_test, num_words, skip_top, oov_char)
    split = len(x_train)
    return ((seq.as_object_array(xs[:split]), labels[:split]), (seq.as_object_array(xs[split:]), labels[split:]))


def get_word_index(path="imdb_word_index.json", *, download: bool = True, verify: bool = True) -> dict[str, int]:
    """The ``{word: index}`` mapping of the reviews' word indexes (before ``index_from`` is added).

    Args:
        path: ``imdb_word_index.json``, or a folder holding it, searched first (Keras' default
            name is ignored when absent from the working directory).
        download: fetch it (1.6 MB) when no verified copy exists.
        verify: check its published md5 (the only digest Keras publishes for it).

    Example:
        >>> index = imdb.get_word_index()   # doctest: +SKIP
        >>> words = {i + 3: w for w, i in index.items()}   # index_from=3
    """
    source, _ = locate(IMDB, "word_index", path, keras_default="imdb_word_index.json", download=download,
                       verify=verify)
    return seq.read_word_index(source)
