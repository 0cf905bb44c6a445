"""The arguments of ``fit``/``evaluate``/``predict`` when data comes in batches: Keras' rules
checked once, then the loops of :mod:`axonal.models.batch_loops`.

Arrays never come here: :class:`~axonal.models.trainer.Trainer` asks
:func:`~axonal.models.data_adapters.is_batch_source` first and keeps its arrays' path otherwise.
"""
from __future__ import annotations

from typing import Any

from axonal._validation import check_positive_int
from axonal.models import batch_loops, data
from axonal.models.data_adapters import BatchSource, check_arguments, check_steps, is_batch_source, prepare_batch


def is_validation_source(validation_data: Any) -> bool:
    """Whether ``fit(validation_data=...)`` is a batch source: a PyDataset, a generator or iterable,
    anything but the pair or triple of arrays Keras also takes."""
    return not isinstance(validation_data, (tuple, list)) and is_batch_source(validation_data)


def validation_source(model, validation_data: Any, validation_steps: Any) -> BatchSource:
    """``validation_data`` given as batches, served with ``validation_steps`` per evaluation."""
    steps = check_steps(validation_steps, "validation_steps")
    return BatchSource(validation_data, steps, False, model.shuffle_rng, "validation_data")


def check_array_steps(method: str, **steps: Any) -> None:
    """``steps``-like arguments are for batch sources: with arrays, ``batch_size`` makes the batches."""
    for name, value in steps.items():
        if value is not None:
            raise ValueError(f"{method}(): {name}={value!r} counts batches of data that comes in batches (a "
                             "PyDataset or a generator); with arrays the batches come from batch_size. Fix: leave "
                             f"{name} out and set batch_size, or pass the data as a generator.")


def fit(model, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data, shuffle,
        class_weight, sample_weight, initial_epoch, steps_per_epoch, validation_steps, schedule):
    """``fit`` when ``x`` is a batch source (arguments as :meth:`Trainer.fit` takes them)."""
    check_arguments("fit", x, y=y, sample_weight=sample_weight, batch_size=batch_size,
                    validation_split=validation_split or None)
    verbose = data.resolve_verbose(verbose)
    epochs = check_positive_int(epochs, "epochs")
    initial_epoch = data.check_initial_epoch(initial_epoch)
    source = BatchSource(x, check_steps(steps_per_epoch, "steps_per_epoch"), shuffle, model.shuffle_rng, "x")
    validation = None
    if is_validation_source(validation_data):
        validation = validation_source(model, validation_data, validation_steps)
    elif validation_data is not None:
        check_array_steps("fit", validation_steps=validation_steps)
        validation = _array_validation(model, x, source, validation_data)
    elif validation_steps is not None:
        raise ValueError(f"fit(): validation_steps={validation_steps!r} was given without validation_data. Fix: "
                         "pass validation_data too, or leave validation_steps out.")
    return batch_loops.fit(model, source, epochs, initial_epoch, verbose, data.check_callbacks(callbacks),
                           validation, class_weight, schedule)


def _array_validation(model, x, source: BatchSource, validation_data):
    """Validation arrays beside training batches: prepared once the first batch has built the model."""
    x_val, y_val, weights_val = data.unpack_validation_data(validation_data)
    first = source.peek()
    if first is not None and not model.built:
        prepare_batch(model, first, 0, f"fit(): x ({source.description})", True, first=True)
    inputs = data.prepare_inputs(model, x_val, "validation_data[0]")
    model._configure_output()
    targets = data.prepare_targets(model, y_val, inputs, "validation_data[1]", "validation_data[0]")
    return inputs, targets, data.sample_weights(weights_val, None, targets, "validation_data[2]")


def evaluate(model, x, y, batch_size, verbose, sample_weight, steps, callbacks) -> dict:
    """``evaluate`` when ``x`` is a batch source: the logs."""
    check_arguments("evaluate", x, y=y, sample_weight=sample_weight, batch_size=batch_size)
    source = BatchSource(x, check_steps(steps, "steps"), False, model.shuffle_rng, "x")
    return batch_loops.evaluate(model, source, data.resolve_verbose(verbose), data.check_callbacks(callbacks))


def predict(model, x, batch_size, verbose, steps, callbacks):
    """``predict`` when ``x`` is a batch source: the array of a one-output model, else the list."""
    check_arguments("predict", x, batch_size=batch_size)
    source = BatchSource(x, check_steps(steps, "steps"), False, model.shuffle_rng, "x")
    outputs = batch_loops.predict(model, source, data.resolve_verbose(verbose), data.check_callbacks(callbacks))
    return data.per_output(model, outputs)
