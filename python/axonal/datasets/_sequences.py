"""What imdb and reuters share: word-index sequences read from their ``.npz``, re-indexed, filtered
and cut down to a vocabulary exactly as Keras' loaders do, and the word index read from its JSON.

The steps, in Keras' order (``keras/src/datasets/imdb.py``, ``reuters.py``):

1. shuffle with ``np.random.RandomState(seed)`` (imdb: train then test, from one generator);
2. shift every word by ``index_from`` and put ``start_char`` first (when not None);
3. with ``maxlen``, drop (not truncate) every sequence of ``maxlen`` words or more, keeping those
   strictly shorter, as Keras' ``remove_long_seq`` does;
4. ``num_words`` defaults to the largest index present; words outside ``skip_top <= w < num_words``
   become ``oov_char``, or are removed when ``oov_char`` is None. (``start_char`` is a word like the
   others here: with ``skip_top > start_char`` it becomes ``oov_char``, as in Keras.)
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ._errors import DatasetFormatError
from ._formats import check_regular_file

__all__ = ["as_object_array", "check_labels", "check_sequences", "encode", "limit_vocabulary", "read_word_index",
           "remove_long", "shuffled"]


def check_sequences(array, key: str, source: Path) -> list[list[int]]:
    """The sequences of ``array`` (an object array of lists, or 2-D ints) as lists of Python ints."""
    if not isinstance(array, np.ndarray) or array.ndim not in (1, 2):
        raise DatasetFormatError(f"{key} must be an array of sequences, found {type(array).__name__} "
                                 f"{getattr(array, 'shape', '')}", source)
    sequences = []
    for i, sequence in enumerate(array):
        if isinstance(sequence, np.ndarray):
            sequence = sequence.tolist()
        if not isinstance(sequence, list) or not all(type(w) is int or isinstance(w, np.integer) for w in sequence):
            raise DatasetFormatError(f"{key}[{i}] must be a list of word indexes (integers), found "
                                     f"{type(sequence).__name__} {str(sequence)[:60]}", source)
        sequences.append([int(w) for w in sequence])
    return sequences


def check_labels(array, key: str, count: int, source: Path) -> np.ndarray:
    """``array`` checked to be ``count`` integer labels."""
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "iu" or array.shape != (count,):
        raise DatasetFormatError(f"{key} must be {count} integer labels (one per sequence), found "
                                 f"{getattr(array, 'dtype', type(array).__name__)} {getattr(array, 'shape', '')}",
                                 source)
    return array


def shuffled(rng: np.random.RandomState, sequences: list, labels: np.ndarray) -> tuple[list, np.ndarray]:
    """Both in the order of one ``rng.shuffle`` of their indices (Keras draws one shuffle per split)."""
    indices = np.arange(len(sequences))
    rng.shuffle(indices)
    return [sequences[i] for i in indices], labels[indices]


def encode(sequences: list, start_char: int | None, index_from: int) -> list[list[int]]:
    """Every word shifted by ``index_from``, with ``start_char`` first when it is not None."""
    head = [] if start_char is None else [start_char]
    return [head + [w + index_from for w in sequence] for sequence in sequences]


def remove_long(maxlen: int, sequences: list, labels) -> tuple[list, list]:
    """The sequences shorter than ``maxlen`` (strictly) and their labels."""
    kept = [(sequence, label) for sequence, label in zip(sequences, labels) if len(sequence) < maxlen]
    return [s for s, _ in kept], [label for _, label in kept]


def limit_vocabulary(sequences: list, num_words: int | None, skip_top: int, oov_char: int | None) -> list:
    """Words outside ``[skip_top, num_words)`` replaced by ``oov_char`` (or removed when it is None)."""
    if not num_words:
        num_words = max((max(s) for s in sequences if s), default=0)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in s] for s in sequences]
    return [[w for w in s if skip_top <= w < num_words] for s in sequences]


def as_object_array(sequences: list) -> np.ndarray:
    """A 1-D object array of the lists (always 1-D: ``np.array`` would make equal-length lists 2-D)."""
    array = np.empty(len(sequences), dtype=object)
    array[:] = sequences if sequences else []
    return array


def check_options(function: str, num_words, skip_top, maxlen, start_char, oov_char, index_from) -> None:
    """Refuse option values that Keras would turn into a wrong dataset or a bare TypeError."""
    def integer(value):
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool)

    for name, value, allow_none in (("num_words", num_words, True), ("skip_top", skip_top, False),
                                    ("maxlen", maxlen, True), ("start_char", start_char, True),
                                    ("oov_char", oov_char, True), ("index_from", index_from, False)):
        if (value is None and not allow_none) or (value is not None and (not integer(value) or value < 0)):
            allowed = "a non-negative integer" + (" or None" if allow_none else "")
            raise ValueError(f"{function}: {name} must be {allowed}, received {value!r}.")


def read_word_index(path: Path) -> dict[str, int]:
    """The ``{word: index}`` dict of a word-index JSON file, checked."""
    check_regular_file(path)
    try:
        with open(path, encoding="utf-8") as handle:
            index = json.load(handle)
    except (OSError, ValueError) as err:
        raise DatasetFormatError(f"not a readable JSON word index ({type(err).__name__}: {err})", path) from err
    if not isinstance(index, dict) or not all(isinstance(k, str) and type(v) is int for k, v in index.items()):
        raise DatasetFormatError("expected a JSON object mapping words to integer indexes", path)
    return index
