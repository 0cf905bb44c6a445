"""Threads: models trained in parallel threads end as when trained alone; calls on one model from
several threads are serialised by the model's lock, so they never mix each other's buffers."""
import threading

import numpy as np

import axonal
from axonal.layers import Dense, Dropout, Input
from axonal.models import Sequential


def mlp(seed):
    # Wide enough that the native kernels use their threads (and MKL its GEMM threads).
    axonal.set_seed(seed)
    model = Sequential([Input(shape=(64,)), Dense(256, activation="relu"), Dropout(0.2),
                        Dense(256, activation="relu"), Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def data(seed, samples=256):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(samples, 64)).astype(np.float32), rng.integers(0, 10, samples)


def run_in_threads(*functions):
    """Start every function at the same moment in its own thread; re-raise the first error."""
    barrier, errors = threading.Barrier(len(functions)), []

    def run(function):
        barrier.wait()
        try:
            function()
        except BaseException as error:  # noqa: B036 -- handed to the main thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(function,)) for function in functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def test_two_models_trained_in_two_threads_end_as_when_trained_alone(backend):
    datasets = [data(1), data(2)]
    alone = [mlp(seed) for seed in (3, 4)]
    for model, (x, y) in zip(alone, datasets):
        model.fit(x, y, batch_size=64, epochs=2, verbose=0)
    together = [mlp(seed) for seed in (3, 4)]  # created here: seeds come from the global generator
    run_in_threads(*[lambda model=model, xy=xy: model.fit(*xy, batch_size=64, epochs=2, verbose=0)
                     for model, xy in zip(together, datasets)])
    for a, b in zip(alone, together):
        assert all(np.array_equal(p, q) for p, q in zip(a.get_weights(), b.get_weights()))


def test_predict_from_eight_threads_on_one_model_matches_single_threaded_predict(backend):
    model = mlp(5)
    inputs = [data(10 + i, samples=300)[0] for i in range(8)]
    expected = [model.predict(x, batch_size=64, verbose=0) for x in inputs]
    results = [None] * 8

    def predict(i):
        results[i] = model.predict(inputs[i], batch_size=64, verbose=0)

    run_in_threads(*[lambda i=i: predict(i) for i in range(8)])
    for result, reference in zip(results, expected):
        np.testing.assert_array_equal(result, reference)


def test_predict_during_fit_on_the_same_model_sees_it_before_or_after_the_fit(backend):
    """The lock makes calls whole: a predict from another thread runs before fit or after it,
    never on weights or buffers half-way through it."""
    model = mlp(6)
    x, y = data(7)
    before = model.predict(x, verbose=0)
    results = []
    run_in_threads(lambda: model.fit(x, y, batch_size=64, epochs=2, verbose=0),
                   lambda: results.extend(model.predict(x, verbose=0) for _ in range(3)))
    after = model.predict(x, verbose=0)
    assert all(np.array_equal(r, before) or np.array_equal(r, after) for r in results)
    assert not np.array_equal(before, after)
