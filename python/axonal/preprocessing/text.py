"""``Tokenizer``: Keras' text-to-integer vocabulary, for the classic text programs (IMDB, Reuters).

The behaviour is Keras' (``keras.src.legacy.preprocessing.text``), which the tests check on a
recorded fixture: words are counted over the texts, indexed from 1 by descending count (ties in
the order first seen; the ``oov_token`` first when given), and ``num_words`` keeps indices below it.
"""
from __future__ import annotations

import json
from collections import OrderedDict, defaultdict

import numpy as np

__all__ = ["Tokenizer", "text_to_word_sequence", "tokenizer_from_json"]

DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
MODES = ("binary", "count", "tfidf", "freq")


def text_to_word_sequence(input_text: str, filters: str = DEFAULT_FILTERS, lower: bool = True,
                          split: str = " ") -> list[str]:
    """The words of ``input_text``: lower-cased, each ``filters`` character made a separator, split
    on ``split``, empty words dropped."""
    if lower:
        input_text = input_text.lower()
    input_text = input_text.translate(str.maketrans({character: split for character in filters}))
    return [word for word in input_text.split(split) if word]


class Tokenizer:
    """Turns texts into sequences of word indices, or into (texts, num_words) matrices.

    Args:
        num_words: keep only words of index < num_words (the most frequent ``num_words - 1``).
        filters: characters removed from the texts.
        lower: lower-case the texts.
        split: the word separator.
        char_level: index characters instead of words.
        oov_token: a token (index 1) that replaces words outside the vocabulary.

    Example:
        >>> tokenizer = Tokenizer(num_words=1000)
        >>> tokenizer.fit_on_texts(["the cat sat", "the dog"])
        >>> tokenizer.texts_to_sequences(["the cat"])
        [[1, 2]]
        >>> tokenizer.texts_to_matrix(["the cat"], mode="tfidf").shape
        (1, 1000)
    """

    def __init__(self, num_words=None, filters=DEFAULT_FILTERS, lower=True, split=" ", char_level=False,
                 oov_token=None, document_count=0, **kwargs):
        if kwargs:
            raise TypeError(f"Tokenizer: unknown arguments {sorted(kwargs)}. Fix: use num_words, filters, lower, "
                            "split, char_level or oov_token.")
        if num_words is not None and (isinstance(num_words, bool) or not isinstance(num_words, (int, np.integer))
                                      or num_words < 1):
            raise ValueError(f"Tokenizer: num_words must be None or a positive integer, received {num_words!r}.")
        self.num_words, self.filters, self.lower, self.split = num_words, filters, lower, split
        self.char_level, self.oov_token, self.document_count = char_level, oov_token, document_count
        self.word_counts: OrderedDict = OrderedDict()
        self.word_docs: defaultdict = defaultdict(int)
        self.index_docs: defaultdict = defaultdict(int)
        self.word_index: dict = {}
        self.index_word: dict = {}

    def _words(self, text) -> list:
        if self.char_level or isinstance(text, list):
            if self.lower:
                text = [item.lower() for item in text] if isinstance(text, list) else text.lower()
            return text
        if not isinstance(text, str):
            raise TypeError(f"Tokenizer: texts must be strings (or lists of tokens), received "
                            f"{type(text).__name__} {text!r:.40}. Fix: decode bytes first, e.g. text.decode().")
        return text_to_word_sequence(text, self.filters, self.lower, self.split)

    def fit_on_texts(self, texts) -> None:
        """Count the words of ``texts`` (strings, or lists of tokens) and rebuild the index."""
        if isinstance(texts, str):
            raise TypeError("Tokenizer.fit_on_texts takes a list of texts, received one string. Fix: pass [text].")
        for text in texts:
            self.document_count += 1
            words = self._words(text)
            for word in words:
                self.word_counts[word] = self.word_counts.get(word, 0) + 1
            for word in set(words):
                self.word_docs[word] += 1
        # A stable sort: words of equal count keep the order they were first met in.
        ranked = sorted(self.word_counts.items(), key=lambda item: item[1], reverse=True)
        vocabulary = ([] if self.oov_token is None else [self.oov_token]) + [word for word, _ in ranked]
        self.word_index = {word: index for index, word in enumerate(vocabulary, start=1)}
        self.index_word = {index: word for word, index in self.word_index.items()}
        for word, count in self.word_docs.items():
            self.index_docs[self.word_index[word]] = count

    def fit_on_sequences(self, sequences) -> None:
        """Count in how many sequences each index occurs (what ``tfidf`` needs)."""
        self.document_count += len(sequences)
        for sequence in sequences:
            for index in set(sequence):
                self.index_docs[index] += 1

    def texts_to_sequences(self, texts) -> list[list[int]]:
        """Each text as the list of its words' indices (unknown words dropped, or ``oov_token``'s)."""
        return list(self.texts_to_sequences_generator(texts))

    def texts_to_sequences_generator(self, texts):
        oov_index = self.word_index.get(self.oov_token)
        for text in texts:
            sequence = []
            for word in self._words(text):
                index = self.word_index.get(word)
                if index is not None and not (self.num_words and index >= self.num_words):
                    sequence.append(index)
                elif oov_index is not None and (index is not None or self.oov_token is not None):
                    sequence.append(oov_index)
            yield sequence

    def sequences_to_texts(self, sequences) -> list[str]:
        """The words of each sequence joined by spaces (the inverse of :meth:`texts_to_sequences`)."""
        oov_index = self.word_index.get(self.oov_token)
        texts = []
        for sequence in sequences:
            words = []
            for index in sequence:
                word = self.index_word.get(index)
                if word is not None and not (self.num_words and index >= self.num_words):
                    words.append(word)
                elif oov_index is not None:
                    words.append(self.index_word[oov_index])
            texts.append(" ".join(words))
        return texts

    def texts_to_matrix(self, texts, mode: str = "binary") -> np.ndarray:
        """:meth:`sequences_to_matrix` of the texts' sequences."""
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    def sequences_to_matrix(self, sequences, mode: str = "binary") -> np.ndarray:
        """A (len(sequences), num_words) float64 matrix, Keras' modes: ``binary`` (1 where an index
        occurs), ``count``, ``freq`` (count / sequence length) and ``tfidf``:
        ``(1 + log count) · log(1 + documents / (1 + documents containing the index))``."""
        if mode not in MODES:
            raise ValueError(f"Tokenizer: unknown vectorization mode {mode!r}; expected one of {MODES}.")
        if self.num_words:
            width = self.num_words
        elif self.word_index:
            width = len(self.word_index) + 1
        else:
            raise ValueError("Specify a dimension (`num_words` argument), or fit on some text data first.")
        if mode == "tfidf" and not self.document_count:
            raise ValueError("Fit the Tokenizer on some data before using tfidf mode.")
        matrix = np.zeros((len(sequences), width))
        for row, sequence in enumerate(sequences):
            if not len(sequence):
                continue
            counts: dict = defaultdict(int)
            for index in sequence:
                if index < width:
                    counts[index] += 1
            for index, count in counts.items():
                if mode == "count":
                    matrix[row, index] = count
                elif mode == "freq":
                    matrix[row, index] = count / len(sequence)
                elif mode == "binary":
                    matrix[row, index] = 1
                else:
                    idf = np.log(1 + self.document_count / (1 + self.index_docs.get(index, 0)))
                    matrix[row, index] = (1 + np.log(count)) * idf
        return matrix

    def get_config(self) -> dict:
        """Keras' configuration: the settings and the counts (as JSON strings)."""
        return {"num_words": self.num_words, "filters": self.filters, "lower": self.lower, "split": self.split,
                "char_level": self.char_level, "oov_token": self.oov_token, "document_count": self.document_count,
                "word_counts": json.dumps(self.word_counts), "word_docs": json.dumps(self.word_docs),
                "index_docs": json.dumps(self.index_docs), "index_word": json.dumps(self.index_word),
                "word_index": json.dumps(self.word_index)}

    def to_json(self, **kwargs) -> str:
        """The tokenizer as Keras' JSON; :func:`tokenizer_from_json` reads it back."""
        return json.dumps({"class_name": type(self).__name__, "config": self.get_config()}, **kwargs)


def tokenizer_from_json(json_string: str) -> Tokenizer:
    """A :class:`Tokenizer` from :meth:`Tokenizer.to_json`'s output (Keras' files too)."""
    config = dict(json.loads(json_string).get("config") or {})
    try:
        counts = {name: json.loads(config.pop(name)) for name in
                  ("word_counts", "word_docs", "index_docs", "index_word", "word_index")}
    except KeyError as error:
        raise ValueError(f"tokenizer_from_json: the JSON lacks {error.args[0]!r}; it was not written by "
                         "Tokenizer.to_json(). Fix: pass the string to_json() returned.") from None
    tokenizer = Tokenizer(**config)
    tokenizer.word_counts = OrderedDict(counts["word_counts"])
    tokenizer.word_docs = defaultdict(int, counts["word_docs"])
    tokenizer.index_docs = defaultdict(int, {int(k): v for k, v in counts["index_docs"].items()})
    tokenizer.index_word = {int(k): v for k, v in counts["index_word"].items()}
    tokenizer.word_index = counts["word_index"]
    return tokenizer
