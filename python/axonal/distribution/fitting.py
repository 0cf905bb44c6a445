"""What ``fit``, ``evaluate`` and ``predict`` do differently under a :class:`DataParallel` of
several ranks (called from :mod:`axonal.models.training` and the executors).

- :func:`guarded`: a call that raises on one rank tells every other rank (the side channel), so
  they stop with that rank's message instead of waiting for it in a collective.
- :func:`check_agreement`: the start-of-fit check that every rank runs the same model, compile
  settings and data shapes; the differing fields are named with each rank's value.
- :func:`broadcast_state`: rank 0's weights (and optimiser slots) on every rank before the first step.
- :func:`shared_order`: rank 0's shuffle of the epoch (every rank draws one too, so the generators
  stay in step).
- :func:`reduce_metrics`, :func:`reduced_test_logs`: sums of the metrics' states and the losses
  over the ranks, in rank order, so logs and callbacks agree everywhere.
- :func:`average_batch_statistics`, :func:`reconcile_weights`: BatchNormalization's moving
  statistics (per-shard, as Keras' DataParallel) averaged after each epoch; the weights checked
  equal at the end of fit (and rank 0's broadcast, with a warning, if an MPI made them differ).
"""
from __future__ import annotations

import functools
import hashlib
import json
import warnings

import numpy as np

from axonal.distribution import active
from axonal.distribution.communicator import DistributedError
from axonal.distribution.sharding import shard_bounds

# The additive state of axonal's metrics: summing it over the ranks gives the state of the whole data.
METRIC_STATE = ("total", "count", "true_positives", "false_positives", "true_negatives", "false_negatives")


def guarded(method):
    """Decorate a model call: under a distribution, an exception raised on this rank is posted on
    the side channel before it propagates, so every other rank stops too, naming this rank."""
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        distribution = active()
        if distribution is None:
            return method(self, *args, **kwargs)
        try:
            return method(self, *args, **kwargs)
        except DistributedError:
            raise  # another rank's fault, already known everywhere
        except BaseException as error:  # KeyboardInterrupt too: the others must not wait for this rank
            distribution.communicator.notify_failure(error)
            raise
    return call


def quiet_unless_chief(verbose: int) -> int:
    """Only rank 0 prints progress (the logs are the same everywhere)."""
    distribution = active()
    return verbose if distribution is None or distribution.is_chief else 0


# ----- the start-of-fit check ---------------------------------------------------------------------

def _describe(model, xs, ys, weights, settings: dict) -> dict[str, str]:
    """The fields every rank must agree on, as short texts."""
    from axonal.saving.serialization import compile_config

    optimizer = model.optimizer
    try:
        compiled = json.dumps(compile_config(model), sort_keys=True, default=repr)
    except Exception as error:  # noqa: BLE001 - an unserialisable loss still gets compared by name
        compiled = f"{type(optimizer).__name__} {getattr(model, '_compile_args', None)!r} ({error})"
    fields = {
        "model configuration": json.dumps(model.get_config(), sort_keys=True, default=repr),
        "compile settings": compiled,
        "backend": str(getattr(model.ops, "NAME", "?")),
        "data shapes": repr([(tuple(a.shape), a.dtype.name) for a in xs] + [(tuple(a.shape), a.dtype.name) for a in ys]
                            + ([] if weights is None else [("sample_weight", tuple(weights.shape))])),
        "optimizer iterations": str(int(optimizer.iterations) if optimizer is not None else 0),
        "model step": str(int(model.steps.value)),
        "GEMM": _gemm(),
    }
    fields.update((name, repr(value)) for name, value in settings.items())
    distribution = active()
    if distribution is not None:  # ranks that reduce differently would wait on different collectives
        fields["distribution"] = (f"deterministic={distribution.deterministic}, bucket_bytes={distribution.bucket_bytes}, "
                                  f"shared_memory={distribution.shared_memory}")
    return fields


def _gemm() -> str:
    """The cpu backend's GEMM (distribution.initialize made the ranks agree; a later set_gemm on one
    rank would not): its bits differ from the other's."""
    try:
        from axonal import _native
    except ImportError:
        return "none"
    return _native.get_gemm()


def check_agreement(model, xs, ys, weights, **settings) -> None:
    """Refuse to start when the ranks disagree on the model, compile settings, data shapes or the
    call's settings (batch size, epochs...): a :class:`DistributedError` on every rank naming each
    differing field with every rank's value (shortened)."""
    distribution = active()
    if distribution is None:
        return
    communicator = distribution.communicator
    fields = _describe(model, xs, ys, weights, settings)
    names = sorted(fields)
    digests = np.array([int.from_bytes(hashlib.sha256(fields[n].encode()).digest()[:8], "little") for n in names],
                       dtype=np.uint64)
    everyone = communicator.allgather(digests, "the start-of-fit check")
    differing = [i for i in range(len(names)) if not (everyone[:, i] == everyone[0, i]).all()]
    if not differing:
        return
    texts = [fields[names[i]] for i in differing]
    shown = [json.loads(text) for text in _gather_texts(communicator, json.dumps(texts))]
    lines = []
    for k, i in enumerate(differing):
        texts_k = [shown[r][k] for r in range(communicator.size)]
        other = next(text for text in texts_k if text != texts_k[0])
        at = next((j for j, (a, b) in enumerate(zip(texts_k[0], other)) if a != b), min(len(texts_k[0]), len(other)))
        values = "; ".join(f"rank {r}: {_around(text, at)}" for r, text in enumerate(texts_k))
        lines.append(f"{names[i]} differs ({values})")
    raise DistributedError("the ranks disagree, so data-parallel training cannot start: " + " | ".join(lines) +
                           ". Fix: run the same script with the same data on every rank (each rank must build "
                           "and compile the same model and pass arrays of the same shapes).")


def _around(text: str, at: int, width: int = 80) -> str:
    """``text`` shortened to the part around index ``at`` (where the ranks' texts first differ)."""
    if len(text) <= 2 * width:
        return text
    start = max(0, at - width)
    return ("..." if start else "") + text[start:at + width] + ("..." if at + width < len(text) else "")


def _gather_texts(communicator, text: str) -> list[str]:
    data = np.frombuffer(text.encode(), dtype=np.uint8)
    lengths = communicator.allgather(np.array([len(data)], dtype=np.int64), "the start-of-fit check")[:, 0]
    padded = np.zeros(int(lengths.max()), dtype=np.uint8)
    padded[:len(data)] = data
    everyone = communicator.allgather(padded, "the start-of-fit check")
    return [everyone[r, :lengths[r]].tobytes().decode() for r in range(communicator.size)]


def refuse_unsupported(model) -> None:
    """Say, before any step, what data parallelism cannot run yet."""
    distribution = active()
    if distribution is None:
        return
    for layer in model._layers:
        for name in ("kernel_regularizer", "bias_regularizer", "activity_regularizer"):
            if getattr(layer, name, None) is not None:
                raise NotImplementedError(
                    f"DataParallel: layer {layer.name!r} has a {name}; its penalty gradient would be summed over "
                    f"the {distribution.size} ranks. Fix: train without regularizers under a distribution (for now).")


# ----- state ------------------------------------------------------------------------------------

def _optimizer_slots(model) -> list[np.ndarray]:
    optimizer = model.optimizer
    if optimizer is None or not optimizer.built:
        return []
    return [array for weight in model.weights for array in (optimizer.existing_slots(weight) or {}).values()]


def broadcast_state(model) -> None:
    """Rank 0's weights (every layer's, moving statistics included) and optimiser slots, copied in
    place on every rank."""
    distribution = active()
    if distribution is None:
        return
    for array in [*model.weights, *_optimizer_slots(model)]:
        distribution.communicator.broadcast(_writable(array), 0, "the broadcast of the initial weights")


def _writable(array: np.ndarray) -> np.ndarray:
    if not (array.flags.c_contiguous and array.flags.writeable):
        raise DistributedError(f"a weight array of shape {array.shape} is not contiguous and writable; it cannot be "
                               "broadcast in place.")
    return array


def shared_order(order):
    """Rank 0's permutation of the epoch (None stays None: every rank sees the rows in order)."""
    distribution = active()
    if distribution is None or order is None:
        return order
    return distribution.communicator.broadcast(np.ascontiguousarray(order, dtype=np.int64), 0,
                                               "the broadcast of the epoch's shuffle")


def average_batch_statistics(model) -> None:
    """BatchNormalization's moving mean and variance averaged over the ranks (each rank updated
    them from its own shards, as Keras' DataParallel does), so every rank holds the same model."""
    distribution = active()
    if distribution is None:
        return
    from axonal.layers import BatchNormalization

    for layer in model._layers:
        if isinstance(layer, BatchNormalization) and getattr(layer, "moving_mean", None) is not None:
            for array in (layer.moving_mean, layer.moving_variance):
                array[...] = distribution.communicator.allreduce(array, "mean", "the batch statistics' average")


def reconcile_weights(model) -> None:
    """Check that every rank ends with the same weights; if the MPI's summation made them differ,
    take rank 0's (with a warning)."""
    distribution = active()
    if distribution is None:
        return
    digest = hashlib.sha256()
    for array in model.weights:
        digest.update(np.ascontiguousarray(array).tobytes())
    mine = np.frombuffer(digest.digest()[:8], dtype=np.uint64).copy()
    everyone = distribution.communicator.allgather(mine, "the end-of-fit weight check")
    if (everyone == everyone[0]).all():
        return
    warnings.warn("axonal.distribution: the ranks' weights differ after fit (the MPI's allreduce does not give "
                  "every rank the same bits); rank 0's weights were broadcast. DataParallel(deterministic=True) "
                  "avoids it.", RuntimeWarning, stacklevel=3)
    broadcast_state(model)


def metric_state(metric) -> list[str]:
    return [name for name in METRIC_STATE if hasattr(metric, name)]


def metric_snapshot(metrics) -> list:
    """The metrics' states now (for :func:`reduce_metrics`' ``since``)."""
    return [[np.array(getattr(metric, name), dtype=np.float64) for name in metric_state(metric)] for metric in metrics]


def reduce_metrics(metrics, since: list | None = None) -> None:
    """Each metric's state summed over the ranks (in rank order), in place. ``since``: a
    :func:`metric_snapshot` of states already common to every rank; only what each rank added
    after it is summed (so a state reduced before is not counted once per rank again)."""
    distribution = active()
    if distribution is None:
        return
    values, layout = [], []
    for m, metric in enumerate(metrics):
        for s, name in enumerate(metric_state(metric)):
            state = np.asarray(getattr(metric, name), dtype=np.float64)
            base = since[m][s] if since is not None else np.zeros_like(state)
            layout.append((metric, name, state.size, state.ndim, base))
            values.append(np.atleast_1d(state - base).ravel())
    if not values:
        return
    summed = distribution.communicator.allreduce(np.concatenate(values), "sum", "the metrics' reduction")
    start = 0
    for metric, name, length, ndim, base in layout:
        part = summed[start:start + length] + np.atleast_1d(base).ravel()
        setattr(metric, name, part.reshape(base.shape).copy() if ndim else float(part[0]))
        start += length


def agree_on_chunk(rows: int, batch_size: int) -> None:
    """Before each chunk of a batch source's epoch (and with zeros at its end): every rank must
    hold the same number of rows in batches of the same size, or the ranks' collectives would pair
    up wrongly; a difference stops every rank, naming what each rank's source gave."""
    distribution = active()
    if distribution is None:
        return
    everyone = distribution.communicator.allgather(np.array([rows, batch_size], dtype=np.int64),
                                                   "the batch sources' check")
    if (everyone == everyone[0]).all():
        return
    described = "; ".join(f"rank {r}: " + (f"{n} rows in batches of {b}" if n else "its epoch ended")
                          for r, (n, b) in enumerate(everyone.tolist()))
    raise DistributedError(f"the ranks' batch sources disagree ({described}). Fix: every rank must yield the same "
                           "batches (same data and order: a PyDataset's shuffle is drawn from rank 0's generator; "
                           "a generator must yield the same batches on every rank).")


def share_generator(model) -> None:
    """Rank 0's shuffling generator state on every rank (a PyDataset's batch order is drawn from it)."""
    distribution = active()
    if distribution is None:
        return
    state = json.dumps(model.shuffle_rng.bit_generator.state).encode()
    state = distribution.communicator.broadcast_bytes(state, 0, "the broadcast of the shuffle state")
    model.shuffle_rng.bit_generator.state = json.loads(state)


# ----- evaluate, validation, predict --------------------------------------------------------------

def local_rows(count: int) -> slice:
    """This rank's contiguous block of ``count`` rows (evaluate and predict shard the data, not batches)."""
    distribution = active()
    if distribution is None:
        return slice(0, count)
    first, end = shard_bounds(count, distribution.size, distribution.rank)
    return slice(first, end)


def reduced_test_logs(model, local_logs: dict | None, rows: int) -> dict:
    """The logs of a test pass over every rank's rows: the loss (and per-output losses) as
    Σ loss·rows / Σ rows, the metrics from their summed states. ``local_logs`` None: this rank had
    no rows."""
    from axonal.models.executors.layerwise import make_logs

    distribution = active()
    loss = 0.0 if local_logs is None else float(local_logs["loss"])
    if local_logs is None:
        model.reset_metrics()
    totals = distribution.communicator.allreduce(np.array([loss * rows, float(rows)]), "sum",
                                                 "the evaluation's reduction")
    reduce_metrics(model.metrics)
    return make_logs(totals[0] / totals[1] if totals[1] else 0.0, model.metrics)


def gather_rows(parts: list[np.ndarray], count: int) -> list[np.ndarray]:
    """Each output's rows from every rank's block, in order (the whole predictions on every rank)."""
    distribution = active()
    communicator = distribution.communicator
    sizes = [shard_bounds(count, communicator.size, r) for r in range(communicator.size)]
    return [communicator.allgather_rows(part, [end - first for first, end in sizes]) for part in parts]
