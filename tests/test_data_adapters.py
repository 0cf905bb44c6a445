"""fit/evaluate/predict on data in batches: PyDataset/Sequence, generators, iterables (issue 19.4).

Batches from a source must give the bits of the same batches from arrays (same executor, same
kernels, same order), follow Keras 3's epoch rules, and refuse bad batches with the arrays'
messages plus the batch's index.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import axonal
from axonal import layers, models
from axonal.callbacks import Callback
from axonal.models import batch_loops
from axonal.models.data_adapters import RAN_OUT, is_batch_source
from axonal.models.executors import LayerwiseExecutor, NativeExecutor
from axonal.utils import Progbar, PyDataset, Sequence

ROWS, BATCH = 200, 16
RNG = np.random.default_rng(5)
X = RNG.random((ROWS, 6)).astype(np.float32)
Y = (X[:, :3].sum(axis=1) > X[:, 3:].sum(axis=1)).astype(np.float32)
W = RNG.random(ROWS).astype(np.float32) + 0.5


def make_model(metrics=("accuracy",)):
    axonal.set_seed(7)
    model = models.Sequential([layers.Input((6,)), layers.Dense(8, activation="relu"),
                               layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=list(metrics))
    return model


def batches(x=X, y=Y, w=None, size=BATCH):
    for start in range(0, len(x), size):
        rows = slice(start, start + size)
        yield (x[rows], y[rows]) if w is None else (x[rows], y[rows], w[rows])


def forever(**kwargs):
    while True:
        yield from batches(**kwargs)


class Batches(PyDataset):
    """The rows in order, batch ``i`` = rows ``i·size ..``; records what fit asked for."""

    def __init__(self, x=X, y=Y, size=BATCH, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.size = x, y, size
        self.asked, self.epochs_ended, self.epochs_begun = [], 0, 0

    def __len__(self):
        return math.ceil(len(self.x) / self.size)

    def __getitem__(self, index):
        self.asked.append(index)
        rows = slice(index * self.size, (index + 1) * self.size)
        return self.x[rows], self.y[rows]

    def on_epoch_begin(self):
        self.epochs_begun += 1

    def on_epoch_end(self):
        self.epochs_ended += 1


def same_weights(a, b):
    return all(np.array_equal(p, q) for p, q in zip(a.get_weights(), b.get_weights(), strict=True))


def test_a_generator_gives_the_bits_of_the_same_batches_from_arrays(backend):
    arrays = make_model()
    expected = arrays.fit(X, Y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0).history
    streamed = make_model()
    history = streamed.fit(forever(), steps_per_epoch=math.ceil(ROWS / BATCH), epochs=3, verbose=0).history
    assert history == expected
    assert same_weights(streamed, arrays)
    assert streamed.optimizer.iterations == arrays.optimizer.iterations


def test_every_kind_of_source_trains_alike():
    reference = make_model()
    expected = reference.fit(X, Y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0).history
    sources = {"PyDataset": lambda: Batches(), "threads": lambda: Batches(workers=3, max_queue_size=2),
               "list": lambda: list(batches()), "iterable": lambda: _Iterable()}
    for name, make in sources.items():
        model = make_model()
        assert model.fit(make(), epochs=2, shuffle=False, verbose=0).history == expected, name
        assert same_weights(model, reference), name


class _Iterable:
    """Re-iterable, no length: each iter() starts over."""

    def __iter__(self):
        return batches()


def test_the_native_loop_runs_the_batches_in_chunks(monkeypatch):
    axonal.set_backend("cpu")
    calls = []
    original = NativeExecutor.train_epoch

    def spy(self, xs, *args):
        calls.append(len(xs[0]))
        return original(self, xs, *args)
    monkeypatch.setattr(NativeExecutor, "train_epoch", spy)
    monkeypatch.setattr(batch_loops, "CHUNK_SECONDS", 60.0)
    monkeypatch.setattr(batch_loops, "CHUNK_BATCHES", 5)
    make_model().fit(Batches(), epochs=1, shuffle=False, verbose=0)
    assert calls == [80, 80, 40]  # 5 batches of 16, 5 more, then 2 batches of 16 and the last 8 rows


def test_a_pydataset_is_shuffled_by_batch_and_told_of_each_epoch():
    dataset = Batches()
    make_model().fit(dataset, epochs=3, verbose=0)
    count = len(dataset)
    assert dataset.epochs_begun == dataset.epochs_ended == 3
    epochs = [dataset.asked[i * count:(i + 1) * count] for i in range(3)]
    assert all(sorted(order) == list(range(count)) for order in epochs)
    assert epochs[0] != list(range(count)) and epochs[0] != epochs[1]  # shuffled, anew each epoch
    again = Batches()
    make_model().fit(again, epochs=3, verbose=0)
    assert again.asked == dataset.asked  # from the model's seeded generator
    in_order = Batches()
    make_model().fit(in_order, epochs=1, shuffle=False, verbose=0)
    assert in_order.asked == list(range(count))


def test_steps_per_epoch_goes_on_where_the_last_epoch_stopped():
    """Keras 3: with steps_per_epoch below the length, the next epoch continues the pass; the
    epoch that reaches the end stops there (with the warning), and the next starts over."""
    dataset = Batches()  # 13 batches
    with pytest.warns(UserWarning, match="ran out of data"):
        history = make_model().fit(dataset, epochs=4, steps_per_epoch=5, shuffle=False, verbose=0)
    assert dataset.asked == list(range(13)) + [0, 1, 2, 3, 4] and len(history.epoch) == 4


def test_a_source_shorter_than_steps_warns_as_keras_and_a_used_up_generator_stops_training():
    with pytest.warns(UserWarning, match="Your input ran out of data") as caught:
        history = make_model().fit(batches(), steps_per_epoch=20, epochs=3, verbose=0)
    assert len(history.epoch) == 1 and len(caught) == 1
    # A re-iterable source starts over: every epoch runs, each short of its steps.
    with pytest.warns(UserWarning, match="Your input ran out of data"):
        history = make_model().fit(Batches(), steps_per_epoch=20, epochs=3, verbose=0)
    assert len(history.epoch) == 3
    # Without steps a generator's end is its epoch's end; the next epoch has nothing.
    with pytest.warns(UserWarning, match="ran out of data"):
        history = make_model().fit(batches(), epochs=2, verbose=0)
    assert len(history.epoch) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(make_model().fit(forever(), steps_per_epoch=4, epochs=3, verbose=0).epoch) == 3


def test_sample_weights_and_class_weights_in_batches(backend):
    weighted = make_model()
    weighted.fit(X, Y, sample_weight=W, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    streamed = make_model()
    streamed.fit(batches(w=W), epochs=1, verbose=0)
    assert same_weights(streamed, weighted)
    by_class = make_model()
    by_class.fit(X, Y, class_weight={0: 1.0, 1: 3.0}, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    streamed = make_model()
    streamed.fit(batches(), class_weight={0: 1.0, 1: 3.0}, epochs=1, verbose=0)
    assert same_weights(streamed, by_class)


def test_functional_batches_keyed_by_input_and_output_name():
    axonal.set_seed(2)
    a, b = layers.Input((3,), name="left"), layers.Input((3,), name="right")
    merged = layers.Concatenate()([layers.Dense(4, name="da")(a), layers.Dense(4, name="db")(b)])
    model = models.Model([a, b], layers.Dense(1, activation="sigmoid", name="score")(merged))
    model.compile("sgd", "binary_crossentropy")
    first = model.get_weights()
    model.fit(({"left": x[:, :3], "right": x[:, 3:]}, {"score": y}) for x, y in batches())
    arrays = models.Model.from_config(model.get_config())
    arrays.compile("sgd", "binary_crossentropy")
    arrays.set_weights(first)
    arrays.fit([X[:, :3], X[:, 3:]], Y, batch_size=BATCH, shuffle=False, verbose=0)
    assert same_weights(model, arrays)
    predictions = model.predict(({"left": x[:, :3], "right": x[:, 3:]},) for x, _ in batches())
    np.testing.assert_array_equal(predictions, model.predict([X[:, :3], X[:, 3:]], verbose=0))


def test_evaluate_and_predict_take_sources_with_steps(backend):
    model = make_model(("accuracy", "mae"))
    model.fit(X, Y, epochs=1, verbose=0)
    expected = model.evaluate(X, Y, batch_size=BATCH, verbose=0)
    assert model.evaluate(Batches(), verbose=0) == pytest.approx(expected, rel=1e-12)
    assert model.evaluate(batches(), verbose=0, return_dict=True)["loss"] == pytest.approx(expected[0], rel=1e-12)
    np.testing.assert_array_equal(model.predict(Batches(), verbose=0), model.predict(X, verbose=0))
    firsts = model.predict((x for x, _ in forever()), steps=3, verbose=0)
    np.testing.assert_array_equal(firsts, model.predict(X[:3 * BATCH], verbose=0))
    part = model.evaluate(forever(), steps=2, verbose=0)
    assert part == pytest.approx(model.evaluate(X[:32], Y[:32], verbose=0), rel=1e-12)


def test_validation_from_a_source_or_arrays_beside_a_source(backend):
    arrays = make_model()
    expected = arrays.fit(X, Y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0,
                          validation_data=(X[:64], Y[:64])).history
    streamed = make_model()
    history = streamed.fit(Batches(), epochs=2, shuffle=False, verbose=0,
                           validation_data=forever(x=X[:64], y=Y[:64]), validation_steps=4).history
    assert history.keys() == expected.keys()
    for key in expected:
        np.testing.assert_allclose(history[key], expected[key], rtol=1e-12, err_msg=key)
    beside = make_model().fit(Batches(), epochs=2, shuffle=False, verbose=0, validation_data=(X[:64], Y[:64]))
    np.testing.assert_allclose(beside.history["val_loss"], expected["val_loss"], rtol=1e-12)
    arrays_and_source = make_model().fit(X, Y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0,
                                         validation_data=Batches(X[:64], Y[:64]))
    np.testing.assert_allclose(arrays_and_source.history["val_loss"], expected["val_loss"], rtol=1e-12)


def test_callbacks_see_batches_numbered_through_the_epoch_and_running_logs():
    class Record(Callback):
        def __init__(self):
            super().__init__()
            self.seen = []

        def on_train_batch_end(self, batch, logs=None):
            self.seen.append((batch, logs["loss"]))
    streamed, arrays = Record(), Record()
    make_model().fit(Batches(), epochs=1, shuffle=False, verbose=0, callbacks=[streamed])
    make_model().fit(X, Y, batch_size=BATCH, shuffle=False, verbose=0, callbacks=[arrays])
    assert [batch for batch, _ in streamed.seen] == list(range(13))
    np.testing.assert_allclose([loss for _, loss in streamed.seen], [loss for _, loss in arrays.seen], rtol=1e-12)


def test_an_unknown_length_shows_unknown_then_the_count(capsys):
    make_model().fit(batches(), epochs=1, verbose=1)
    out = capsys.readouterr().out
    assert "13/13" in out
    bar = Progbar(target=None, verbose=1)
    assert bar._count(12).strip() == "12/Unknown"


def test_arguments_keras_refuses_with_batches():
    model = make_model()
    for given, name in (({"y": Y}, "y"), ({"batch_size": 32}, "batch_size"), ({"sample_weight": W}, "sample_weight"),
                        ({"validation_split": 0.2}, "validation_split")):
        with pytest.raises(ValueError, match=f"so {name} must not be given"):
            model.fit(batches(), verbose=0, **given)
    with pytest.raises(ValueError, match="steps_per_epoch must be None or a positive integer"):
        model.fit(batches(), steps_per_epoch=0, verbose=0)
    with pytest.raises(ValueError, match="steps_per_epoch=3 counts batches"):
        model.fit(X, Y, steps_per_epoch=3, verbose=0)
    with pytest.raises(ValueError, match="gave no batch"):
        model.fit(iter([]), verbose=0)


@pytest.mark.parametrize("bad, message", [
    (lambda: [(X[:16], Y[:16]), (X[:16, :4], Y[:16])], r"batch 1: Input of layer .* expected shape \(None, 6\)"),
    (lambda: [(X[:16], Y[:16]), (X[:16], Y[:10])], r"batch 1: x and y must have the same number of samples"),
    (lambda: iter([(X[:16], Y[:16]), "rows"]), r"batch 1 must be a tuple \(inputs,\), \(inputs, targets\)"),
    (lambda: iter([(X[:16], Y[:16]), (X[:16],)]), r"batch 1 has no targets"),
    (lambda: iter([(X[:16], Y[:16]), (np.full((16, 6), "a"), Y[:16])]), r"batch 1: x must hold numbers"),
    (lambda: iter([(X[:16], Y[:16]), (X[:16], Y[:16], W[:16])]), r"batch 1 has sample weights but the first"),
    (lambda: iter([(X[:16], Y[:16]), (X[:16], Y[:16] * 3)]), r"batch 1: Loss 'binary_crossentropy' expects 0/1 labels or probabilities in \[0, 1\]"),
])
def test_bad_batches_get_the_arrays_messages_with_their_index(bad, message):
    with pytest.raises((ValueError, TypeError), match=message) as error:
        make_model().fit(bad(), verbose=0)
    assert str(error.value).startswith("fit(): x (")


def test_an_error_inside_getitem_names_the_batch():
    class Broken(Batches):
        def __getitem__(self, index):
            if index == 2:
                raise KeyError("missing file")
            return super().__getitem__(index)
    for workers in (1, 2):
        with pytest.raises(KeyError) as error:
            make_model().fit(Broken(workers=workers), shuffle=False, verbose=0)
        assert "Broken[2]" in "".join(error.value.__notes__)


def test_pydataset_settings_and_the_keras_2_name():
    dataset = Batches(workers=4, use_multiprocessing=True, max_queue_size=3)
    assert (dataset.workers, dataset.use_multiprocessing, dataset.max_queue_size) == (4, True, 3)
    assert dataset.num_batches == 13

    class NoSuper(PyDataset):
        def __init__(self):
            self.rows = 4

        def __len__(self):
            return 1

        def __getitem__(self, index):
            return X[:4], Y[:4]

    with pytest.warns(UserWarning, match="should call `super"):
        assert NoSuper().workers == 1

    class Legacy(Sequence):  # Keras 2 programs never called Sequence.__init__
        def __len__(self):
            return 2

        def __getitem__(self, index):
            return X[index * 8:(index + 1) * 8], Y[index * 8:(index + 1) * 8]

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_model().fit(Legacy(), epochs=1, verbose=0)
    assert issubclass(Sequence, PyDataset) and axonal.utils.Sequence is Sequence


def test_what_counts_as_batches():
    assert is_batch_source(batches()) and is_batch_source(Batches()) and is_batch_source([(X, Y)])
    assert is_batch_source(_Iterable())
    for arrays in (X, [X, X], (X, X), {"a": X}, [(0, 0), (0, 1)], [[0.0, 1.0]], None):
        assert not is_batch_source(arrays)


def test_a_reused_buffer_is_copied_before_the_next_batch_overwrites_it(monkeypatch):
    monkeypatch.setattr(batch_loops, "CHUNK_SECONDS", 60.0)

    def refilled():
        x_buffer, y_buffer = np.empty((BATCH, 6), np.float32), np.empty(BATCH, np.float32)
        for start in range(0, ROWS - ROWS % BATCH, BATCH):
            x_buffer[:], y_buffer[:] = X[start:start + BATCH], Y[start:start + BATCH]
            yield x_buffer, y_buffer
    rows = ROWS - ROWS % BATCH
    arrays = make_model()
    arrays.fit(X[:rows], Y[:rows], batch_size=BATCH, shuffle=False, verbose=0)
    streamed = make_model()
    streamed.fit(refilled(), verbose=0)
    assert same_weights(streamed, arrays)


def test_layer_by_layer_runs_sources_too(monkeypatch):
    """A callback with batch hooks sends the batches layer by layer; the result is the same."""
    class Hook(Callback):
        def on_train_batch_begin(self, batch, logs=None):
            pass
    calls = []
    original = LayerwiseExecutor.train_epoch
    monkeypatch.setattr(LayerwiseExecutor, "train_epoch", lambda self, *a: calls.append(1) or original(self, *a))
    axonal.set_backend("cpu")
    hooked = make_model()
    hooked.fit(Batches(), shuffle=False, verbose=0, callbacks=[Hook()])
    plain = make_model()
    plain.fit(X, Y, batch_size=BATCH, shuffle=False, verbose=0)
    assert calls and np.allclose(hooked.get_weights()[0], plain.get_weights()[0], rtol=1e-5)


def test_the_device_loop_runs_sources_with_the_hosts_numbers(monkeypatch):
    pytest.importorskip("axonal._native")
    from emulated_device import EmulatedDevice
    from axonal.models.executors import device as device_loop
    axonal.set_backend("cpu")
    monkeypatch.setattr(device_loop, "STEPS_PER_RUN", 3)
    host = make_model()
    expected = host.fit(Batches(), epochs=2, shuffle=False, verbose=0, validation_data=Batches(X[:64], Y[:64])).history
    device = make_model()
    device.device = EmulatedDevice()
    history = device.fit(Batches(), epochs=2, shuffle=False, verbose=0, validation_data=Batches(X[:64], Y[:64])).history
    assert history.keys() == expected.keys()
    for key in expected:
        np.testing.assert_allclose(history[key], expected[key], rtol=1e-6, err_msg=key)
    for ours, theirs in zip(device.get_weights(), host.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7)


def test_ran_out_message_is_keras_own():
    assert RAN_OUT.startswith("Your input ran out of data; interrupting training. Make sure that your dataset or "
                              "generator can generate at least `steps_per_epoch * epochs` batches.")
