"""Data-parallel training steps for the layer-by-layer executor (the ``numpy`` reference backend,
and models the native loop cannot run): the same sharding and reduction as the native loop
(``cpp/training_loop.cpp``), written in Python.

Each global batch of the shared order is split with :func:`~axonal.distribution.sharding.shard_bounds`;
a rank runs forward and backward on its shard with the loss gradient scaled by ``shard rows /
global rows``, the ranks' gradients are summed (in rank order) and every rank applies the same
update. Dropout masks are drawn at each row's global index (``StepCounter.first_row``).
"""
from __future__ import annotations

import numpy as np

from axonal.distribution.sharding import shard_bounds
from axonal.layers.base import configuration_version


def train_step(model, distribution, xs, ys, weights, first_row: int, total_rows: int) -> float:
    """One data-parallel step on this rank's shard (``first_row`` is its place in the global batch
    of ``total_rows``); returns the global batch's loss."""
    communicator = distribution.communicator
    if model._prepared_for != configuration_version():
        model._prepare_optimizer()
    rows = len(xs[0])
    outputs, loss = None, 0.0
    if rows:
        model.steps.first_row = first_row
        try:
            outputs = model.runner.forward(xs, True)
        finally:
            model.steps.first_row = 0
        doutputs = [model.buffers.get(f"doutputs/{k}", output.shape) for k, output in enumerate(outputs)]
        loss = model.objective.compute(model.ops, doutputs, outputs, ys, weights) + model._regularization_loss()
        share = rows / total_rows
        for d in doutputs:  # the shard's mean loss weighs its share of the global batch
            np.multiply(d, d.dtype.type(share), out=d)
        model.runner.backward(doutputs, None)
    else:  # no rows here in this batch: zero gradients, but the reduction is joined all the same
        for gradient in model._gradients:
            gradient[...] = 0
    gradients = model._gradients
    if gradients:
        flat = np.concatenate([g.reshape(-1) for g in gradients])
        summed = communicator.allreduce(flat, "sum", "the gradient reduction")
        start = 0
        for gradient in gradients:
            gradient.reshape(-1)[...] = summed[start:start + gradient.size]
            start += gradient.size
    total = communicator.allreduce(np.array([loss * rows]), "sum", "the loss reduction")[0]
    model._apply_update(None)
    if rows:
        model._update_metrics(ys, outputs, weights)
    return float(total) / total_rows


def train_on_batch(model, xs, ys, weights) -> dict:
    """``train_on_batch`` under a distribution: the batch is the global batch; the first call
    checks that the ranks agree and takes rank 0's weights. Returns the logs (global loss, reduced
    metrics)."""
    from axonal.distribution import active, fitting
    from axonal.models.executors.layerwise import make_logs

    distribution = active()
    _synchronise(model, distribution, xs, ys, weights)
    total = len(xs[0])
    first, end = shard_bounds(total, distribution.size, distribution.rank)
    model.reset_metrics()
    loss = train_step(model, distribution, [x[first:end] for x in xs], [y[first:end] for y in ys],
                      None if weights is None else weights[first:end], first, total)
    fitting.reduce_metrics(model.metrics)
    return make_logs(loss, model.metrics)


def test_on_batch(model, xs, ys, weights) -> dict:
    """``test_on_batch`` under a distribution: each rank tests its shard of the global batch."""
    from axonal.distribution import active, fitting

    distribution = active()
    fitting.refuse_unsupported(model)
    total = len(xs[0])
    first, end = shard_bounds(total, distribution.size, distribution.rank)
    model.reset_metrics()
    local = None
    if end > first:
        local = {"loss": model.test_step([x[first:end] for x in xs], [y[first:end] for y in ys],
                                         None if weights is None else weights[first:end])}
    return fitting.reduced_test_logs(model, local, end - first)


def _synchronise(model, distribution, xs, ys, weights) -> None:
    from axonal.distribution import fitting

    if getattr(model, "_synchronised_with", None) is distribution:
        return
    fitting.refuse_unsupported(model)
    fitting.check_agreement(model, xs, ys, weights, method="train_on_batch")
    fitting.broadcast_state(model)
    model._synchronised_with = distribution


def shard_of(index: np.ndarray, distribution) -> tuple[np.ndarray, int]:
    """This rank's rows of a global batch (its row indices) and the first one's place in it."""
    first, end = shard_bounds(len(index), distribution.size, distribution.rank)
    return index[first:end], first
