"""A repeated one-batch ``predict``, as a server calls it: the first call's decisions kept.

A one-row ``predict`` of the seed MLP on the native loop runs ~26 µs of kernels and, before them,
~13 µs of Python (measured, docs/performance.md "One-row predict"): converting and checking the
argument, configuring the output, choosing the executor, finding the kept loop. When such a call
(one batch, nothing watching: ``verbose=0``, no callbacks, no steps) ran on the native loop, it
leaves a :class:`Ticket` on the model: the loop and what it was chosen from. The next such call
with a C-contiguous float32 array of the same per-sample shape checks that nothing it was chosen
from has changed (plan, compile, backend, the layers' configuration, a method replaced since) and
that the values are finite, then calls that loop: the same kernels, the same bits. Anything else
(another dtype, layout or shape, a bad value, a change) takes the general path, which checks,
explains and issues a new ticket.
"""
from __future__ import annotations

import numpy as np

from axonal._validation import check_finite
from axonal.layers.embedding import id_readers
from axonal.models.executors import native_plan, support


class Ticket:
    """What one-batch predictions of a model may reuse, and what it was decided from."""

    __slots__ = ("plan", "layers", "key", "compile_args", "objective", "ops", "loop", "batch_size",
                 "feature_shape", "output_shape")

    def __init__(self, model, loop, batch_size: int, output_shape: tuple):
        self.plan, self.layers, self.key = model.plan, tuple(model._layers), support.configuration_key(model)
        self.compile_args, self.objective, self.ops = _compile_args(model), model.objective, model.ops
        self.loop, self.batch_size = loop, batch_size
        self.feature_shape, self.output_shape = tuple(model.input_shape[1:]), output_shape

    def valid_for(self, model) -> bool:
        return (self.plan is model.plan and self.objective is model.objective and self.ops is model.ops
                and model.device is None and self.compile_args is _compile_args(model)
                and self.key == support.configuration_key(model) and support.replaced_method(self.layers) is None)


def issue(model, loop, batch_size: int, output_shapes: tuple) -> None:
    """Leave a ticket after a one-batch prediction of a one-input, one-output model on ``loop``.
    Not for an input of Embedding ids: the loop takes those as checked int32, which only the
    general path makes (layers/embedding.py, ``as_id_array``)."""
    if len(output_shapes) == 1 and len(model.input_names) == 1 and not any(id_readers(model.plan)):
        model._predict_ticket = Ticket(model, loop, batch_size, output_shapes[0])


def predict(model, x, batch_size: int | None) -> np.ndarray | None:
    """The predictions of ``x`` through the model's ticket, or None where the general path must run."""
    ticket = getattr(model, "_predict_ticket", None)
    if (ticket is None or type(x) is not np.ndarray or x.dtype != np.float32 or not x.flags.c_contiguous
            or x.shape[1:] != ticket.feature_shape or not 0 < len(x) <= ticket.batch_size
            or min(32 if batch_size is None else batch_size, len(x)) != ticket.batch_size
            or not ticket.valid_for(model)):
        return None
    check_finite(x, "x")
    predictions = np.empty((len(x), *ticket.output_shape), dtype=np.float32)
    model._interrupts.check()
    ticket.loop.predict([x.reshape(len(x), -1)], [predictions.reshape(len(x), -1)], ticket.batch_size, 0, 1,
                        native_plan.SECONDS_PER_RUN)
    return predictions


def _compile_args(model):
    return getattr(model, "_compile_args", None)
