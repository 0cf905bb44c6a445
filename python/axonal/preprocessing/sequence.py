"""``pad_sequences``: lists of sequences of different lengths as one array, as Keras pads them."""
from __future__ import annotations

import numpy as np

__all__ = ["pad_sequences"]


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0) -> np.ndarray:
    """Pad (or cut) each sequence to ``maxlen`` and stack them: ``keras.utils.pad_sequences``.

    Args:
        sequences: a list of sequences (lists or arrays; their items may themselves be arrays of
            one shape).
        maxlen: the length of every row (None: the longest sequence's).
        dtype: of the result (``"int32"``; a string dtype or ``object`` allows string values).
        padding: ``"pre"`` puts the padding before each sequence, ``"post"`` after.
        truncating: ``"pre"`` drops the start of longer sequences, ``"post"`` their end.
        value: the padding value.

    Returns:
        An array (len(sequences), maxlen, *item shape).

    Example:
        >>> pad_sequences([[1, 2, 3], [4]], maxlen=2)
        array([[2, 3],
               [0, 4]], dtype=int32)
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError(f"pad_sequences: sequences must be a list of sequences, received {type(sequences).__name__}. "
                         "Fix: pass e.g. list(sequences).")
    for name, given in (("padding", padding), ("truncating", truncating)):
        if given not in ("pre", "post"):
            raise ValueError(f"pad_sequences: {name} must be 'pre' or 'post', received {given!r}.")
    lengths, item_shape = [], None
    for position, sequence in enumerate(sequences):
        try:
            lengths.append(len(sequence))
        except TypeError as error:
            raise ValueError(f"pad_sequences: sequences must be a list of sequences; item {position} is "
                             f"{sequence!r:.40}, which has no length. Fix: wrap single values in lists.") from error
        if item_shape is None and len(sequence):
            item_shape = np.asarray(sequence).shape[1:]
    item_shape = item_shape or ()
    if maxlen is None:
        maxlen = max(lengths, default=0)
    elif isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 0:
        raise ValueError(f"pad_sequences: maxlen must be None or an integer >= 0, received {maxlen!r}.")
    string_dtype = np.issubdtype(np.dtype(dtype), np.str_)
    if isinstance(value, str) and dtype is not object and not string_dtype:
        raise ValueError(f"pad_sequences: dtype {dtype!r} cannot hold the string padding value {value!r}. Fix: pass "
                         "dtype=object (or a string dtype), or a numeric value.")
    result = np.full((len(sequences), maxlen) + tuple(item_shape), value, dtype=dtype)
    for row, sequence in enumerate(sequences):
        if not len(sequence) or maxlen == 0:
            continue
        kept = sequence[-maxlen:] if truncating == "pre" else sequence[:maxlen]
        kept = np.asarray(kept, dtype=dtype)
        if kept.shape[1:] != tuple(item_shape):
            raise ValueError(f"pad_sequences: item {row} has items of shape {kept.shape[1:]}, unlike the first "
                             f"sequence's {tuple(item_shape)}. Fix: give every item the same shape.")
        if padding == "post":
            result[row, :len(kept)] = kept
        else:
            result[row, maxlen - len(kept):] = kept
    return result
