"""Embedding: integer ids (N, T) to learned vectors (N, T, D), as Keras' ``Embedding``.

The forward pass is a gather (``embedding_forward``), the backward pass a scatter-add of the output
gradient into the rows looked up (``embedding_backward``, deterministic on every backend: the
reference's order of sums). The ids are checked on the host, with the layer's name, before they
reach a kernel: by :func:`check_ids` when a model converts its data (once per ``fit``/``predict``
call, so the native loop and the device receive checked ids), and by the layer for each batch it
converts itself.
"""
from __future__ import annotations

import warnings

import numpy as np

from axonal import initializers, regularizers
from axonal._validation import as_array, check_not_empty, check_numeric, check_positive_int
from axonal.layers import graph
from axonal.layers.base import Layer

_INT32_MAX = np.iinfo(np.int32).max


def check_ids(layer, ids: np.ndarray, argument: str) -> None:
    """Raise ValueError unless every value of the host array ``ids`` is a whole number in
    [0, layer.input_dim), naming the layer, the first bad value and where it is."""
    ids = np.asarray(ids)
    if ids.dtype.kind == "f":
        bad = ~np.isfinite(ids) | (ids != np.floor(ids))
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"Layer {layer.name!r} (Embedding) takes whole-number ids, but {argument} holds "
                             f"{ids[where].item()!r} at index {where}. Fix: pass the token ids as integers, e.g. "
                             f"{argument}.astype('int32').")
    bad = (ids < 0) | (ids >= layer.input_dim)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"Layer {layer.name!r} (Embedding) has input_dim={layer.input_dim}, so ids must be in "
                         f"[0, {layer.input_dim}); {argument} holds the id {ids[where].item()!r} at index {where}. "
                         f"Fix: raise input_dim to at least {int(ids.max()) + 1} (the vocabulary size plus any "
                         "reserved ids), or map rare words to an out-of-vocabulary id below input_dim.")


def as_id_array(data, argument: str, layers: list) -> np.ndarray:
    """User data for a model input read only by Embedding ``layers``: checked (numbers, not empty,
    whole, in range of each layer) and returned as C-contiguous int32, exact (no float32 rounding)."""
    array = as_array(data, argument)
    check_numeric(array, argument)
    check_not_empty(array, argument)
    for layer in layers:
        check_ids(layer, array, argument)
    return np.ascontiguousarray(array, dtype=np.int32)


class Embedding(Layer):
    """Turns integer ids into dense vectors: row ``id`` of an (input_dim, output_dim) matrix.

    Args:
        input_dim: size of the vocabulary: ids are in [0, input_dim).
        output_dim: length D of each vector.
        embeddings_initializer: initialiser of the matrix; Keras' ``"uniform"`` (±0.05) by default.
        embeddings_regularizer: penalty on the matrix, or None.
        mask_zero: False only. Keras' masking (id 0 as padding, skipped by later layers) is not
            implemented: True is refused with a fix.
        input_length: Keras 2's fixed sequence length, accepted for Keras 2 programs with a
            DeprecationWarning; it gives ``input_shape=(input_length,)`` when no input shape is set.
        **kwargs: ``name``, ``trainable``, ``input_shape`` (see :class:`Layer`).

    Ids may be any integer type, or floats holding whole numbers; a model keeps an input that only
    Embedding layers read as int32, so ids above 2**24 stay exact. No gradient flows to the ids.

    Shapes:
        x (N, T) -> y (N, T, D) (any (N, ...) -> (N, ..., D)).

    Example:
        >>> model = Sequential([Input(shape=(200,)), Embedding(10000, 16), GlobalAveragePooling1D(),
        ...                     Dense(1, activation="sigmoid")])
    """

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer="uniform",
                 embeddings_regularizer=None, mask_zero: bool = False, input_length: int | None = None, **kwargs):
        if input_length is not None:
            check_positive_int(input_length, "input_length")
            warnings.warn("Embedding(input_length=...) is Keras 2's argument: use Input(shape=(input_length,)) "
                          "before the layer (axonal takes it as input_shape=(input_length,)).", DeprecationWarning,
                          stacklevel=2)
            kwargs.setdefault("input_shape", (int(input_length),))
        super().__init__(**kwargs)
        if mask_zero is not False:
            raise ValueError(f"Layer {self.name!r} (Embedding): mask_zero={mask_zero!r} is not supported (axonal has "
                             "no masks). Fix: use mask_zero=False; padded positions (id 0) then get a learned vector "
                             "of their own, which GlobalAveragePooling1D averages in with the others.")
        self.input_dim = check_positive_int(input_dim, "input_dim")
        self.output_dim = check_positive_int(output_dim, "output_dim")
        if self.input_dim > _INT32_MAX:
            raise ValueError(f"Layer {self.name!r} (Embedding): input_dim={input_dim} is above 2**31 - 1, the "
                             "largest id the int32 kernels take. Fix: use a smaller vocabulary.")
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)

    def build(self, input_shape):
        self.embeddings = self.add_weight((self.input_dim, self.output_dim), self.embeddings_initializer,
                                          "embeddings", self.embeddings_regularizer)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape), self.output_dim)

    def __call__(self, x, training: bool = False):
        """As :meth:`Layer.__call__`, but an array keeps its integer ids (they are not made float32)."""
        if graph.is_symbolic(x):
            return super().__call__(x, training)
        ids = as_id_array(x, "x", [self])
        if not self.built:
            return super().__call__(ids, training)  # builds the layer; ids are whole, so float32 is fine here
        return self.forward(ids, training).copy()

    def _ids(self, x):
        """The batch's ids as an int32 (M,) array: ``x`` itself (a view) when it is C-contiguous
        int32, else a converted copy in a buffer, checked first when it is a host array."""
        if x.dtype == np.int32 and x.flags.c_contiguous:
            ids = x
        else:
            if isinstance(x, np.ndarray):
                check_ids(self, x, "the input")
            ids = self.buffers.get("ids", x.shape, np.int32)
            ids[...] = x
        return ids.reshape(-1)

    def forward(self, x, training):
        self.input_batch_shape = x.shape
        self.ids = self._ids(x)
        y = self.buffers.get("y", (len(self.ids), self.output_dim))
        self.ops.embedding_forward(y, self.ids, self.embeddings)
        return y.reshape(*x.shape, self.output_dim)

    def backward(self, dy):
        gradient = self._gradient_buffer("embeddings")
        if gradient is not None:
            self.ops.embedding_backward(gradient, dy.reshape(-1, self.output_dim), self.ids)
        if not self.needs_input_gradient:
            return None
        dx = self.buffers.get("dx", self.input_batch_shape)  # ids have no gradient: zeros for a float producer
        dx[...] = 0
        return dx

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
                "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
                "mask_zero": False}


def id_readers(plan) -> list[list]:
    """Per model input of ``plan``: the Embedding layers reading it (through InputLayers) when
    nothing else reads it, else an empty list. Such an input is kept as exact int32 ids.

    Kept on the plan (a new structure makes a new plan): every ``predict`` asks, and the walk is
    a tenth of a one-row ``predict``'s Python time."""
    kept = getattr(plan, "_id_readers", None)
    if kept is None:
        kept = plan._id_readers = _find_id_readers(plan)
    return kept


def _find_id_readers(plan) -> list[list]:
    from axonal.layers.core import InputLayer

    readers: list[list] = []
    for tensor in plan.inputs:
        found, only_ids, frontier = [], True, [tensor]
        while frontier:
            current = frontier.pop()
            if current in plan.outputs:
                only_ids = False
            for call in plan.calls:
                if current not in call.inputs:
                    continue
                if isinstance(call.owner, InputLayer):
                    frontier.append(call.output)
                elif isinstance(call.owner, Embedding):
                    found.append(call.owner)
                else:
                    only_ids = False
        readers.append(found if only_ids and found else [])
    return readers
