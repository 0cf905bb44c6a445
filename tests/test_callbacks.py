"""Callbacks with Keras 3 semantics: hooks, stop_training, EarlyStopping, ModelCheckpoint,
ReduceLROnPlateau, LearningRateScheduler, CSVLogger, TerminateOnNaN.

Most decisions are driven through a real ``fit`` whose monitored values are replaced by a
scripted sequence (the ``Script`` callback runs first and overwrites them), so each test states
the exact sequence Keras' rules are applied to.
"""
import csv
import os

import numpy as np
import pytest

import axonal
from axonal.callbacks import (Callback, CSVLogger, EarlyStopping, LearningRateScheduler, ModelCheckpoint,
                              ReduceLROnPlateau, TerminateOnNaN)
from axonal.layers import Dense, Dropout, Input
from axonal.models import Sequential, load_model
from axonal.optimizers import SGD


def data(samples=64, features=6, classes=3):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, classes, samples)
    x = rng.normal(0, 0.3, (samples, features)).astype(np.float32)
    x[np.arange(samples), labels] += 2.0
    return x, labels


def model(learning_rate=0.1):
    axonal.set_seed(3)
    net = Sequential([Input(shape=(6,)), Dense(8, activation="relu"), Dropout(0.1), Dense(3, activation="softmax")])
    net.compile(optimizer=SGD(learning_rate), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return net


class Script(Callback):
    """Overwrites ``logs[key]`` at each epoch end with the next scripted value, and keeps a copy
    of the weights at the end of every epoch."""

    def __init__(self, key, values):
        super().__init__()
        self.key, self.values, self.weights = key, list(values), []

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]
        self.weights.append(self.model.get_weights())


def fit(callback, values, key="val_loss", epochs=None, net=None, **kwargs):
    """Run fit with the scripted ``values`` for ``key`` before ``callback``; return (history, script)."""
    x, y = data()
    script = Script(key, values)
    net = net or model()
    history = net.fit(x, y, epochs=epochs or len(values), batch_size=16, verbose=0,
                      callbacks=[script, callback], **kwargs)
    return history, script


# ----- hooks and stop_training --------------------------------------------------------------------

def test_every_keras_hook_runs_in_order_and_old_batch_names_are_called(backend):
    calls = []

    class Recorder(Callback):
        def __getattribute__(self, name):
            if name.startswith("on_") and name not in ("on_batch_begin", "on_batch_end"):
                calls.append(name)
            return super().__getattribute__(name)

        def on_batch_end(self, batch, logs=None):  # the pre-Keras-3 name still fires
            calls.append(("legacy", batch, round(logs["loss"], 3) > 0))

    x, y = data(32)
    net = model()
    recorder = Recorder()
    net.fit(x, y, epochs=1, batch_size=16, verbose=0, validation_data=(x[:16], y[:16]), callbacks=[recorder])
    net.evaluate(x, y, batch_size=32, verbose=0, callbacks=[recorder])
    net.predict(x, batch_size=32, verbose=0, callbacks=[recorder])
    assert calls == ["on_train_begin", "on_epoch_begin",
                     "on_train_batch_begin", "on_train_batch_end", ("legacy", 0, True),
                     "on_train_batch_begin", "on_train_batch_end", ("legacy", 1, True),
                     "on_test_begin", "on_test_batch_begin", "on_test_batch_end", "on_test_end",
                     "on_epoch_end", "on_train_end",
                     "on_test_begin", "on_test_batch_begin", "on_test_batch_end", "on_test_end",
                     "on_predict_begin", "on_predict_batch_begin", "on_predict_batch_end", "on_predict_end"]


def test_stop_training_set_in_a_batch_ends_the_epoch_after_that_batch():
    batches, epochs = [], []

    class StopAtSecondBatch(Callback):
        def on_train_batch_end(self, batch, logs=None):
            batches.append(batch)
            if batch == 1:
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            epochs.append(sorted(logs))

    x, y = data()
    history = model().fit(x, y, epochs=3, batch_size=16, verbose=0, validation_split=0.25,
                          callbacks=[StopAtSecondBatch()])
    # As in Keras: the batch loop breaks, but validation and on_epoch_end still close the epoch.
    assert batches == [0, 1] and epochs == [["accuracy", "loss", "val_accuracy", "val_loss"]]
    assert len(history.history["loss"]) == 1


# ----- EarlyStopping ------------------------------------------------------------------------------

@pytest.mark.parametrize("values, kwargs, stopped_epoch", [
    ([1.0, 0.9, 0.95, 0.96, 0.97, 0.98], {"patience": 2}, 3),          # 2 epochs after the best
    ([1.0, 0.9, 0.8, 0.7, 0.6, 0.5], {"patience": 0}, 0),              # always improving: runs out
    ([1.0, 0.95, 0.93, 0.92], {"patience": 1, "min_delta": 0.1}, 1),   # 0.05 is not enough
    ([1.0, 0.95, 0.93, 0.92], {"patience": 1, "min_delta": -0.1}, 1),  # the sign is ignored, as in Keras
    ([1.0, 0.8, 0.75, 0.9, 0.9, 0.9], {"patience": 2, "baseline": 0.5}, 3),  # never beats the baseline
    ([1.0, 0.8, 0.75, 0.9, 0.9, 0.9], {"patience": 2}, 4),                  # same values, no baseline
    ([5.0, 6.0, 7.0, 8.0, 9.0, 10.0], {"patience": 0, "start_from_epoch": 2}, 3),
])
def test_early_stopping_follows_keras_rules(values, kwargs, stopped_epoch):
    stop = EarlyStopping(**kwargs)
    history, _ = fit(stop, values)
    assert stop.stopped_epoch == stopped_epoch
    assert len(history.history["loss"]) == (stopped_epoch + 1 if stopped_epoch else len(values))


def test_early_stopping_mode_auto_maximises_accuracy_and_mode_max_is_explicit():
    values = [0.5, 0.6, 0.55, 0.58, 0.7]
    for stop in (EarlyStopping(monitor="val_accuracy", patience=1),
                 EarlyStopping(monitor="val_custom", mode="max", patience=1)):
        history, _ = fit(stop, values, key=stop.monitor)
        assert len(history.history["loss"]) == 3 and stop.best == 0.6


def test_early_stopping_mode_min_stops_a_rising_accuracy():
    stop = EarlyStopping(monitor="val_accuracy", mode="min", patience=0)
    history, _ = fit(stop, [0.5, 0.6, 0.7], key="val_accuracy")
    assert len(history.history["loss"]) == 2


@pytest.mark.parametrize("stops", [True, False])
def test_restore_best_weights_at_the_end_whether_or_not_it_stopped(stops):
    values = [1.0, 0.5, 0.7, 0.8] if stops else [1.0, 0.5, 0.7, 0.6]
    stop = EarlyStopping(patience=2 if stops else 10, restore_best_weights=True, verbose=1)
    net = model()
    history, script = fit(stop, values, net=net)
    assert len(history.history["loss"]) == 4
    assert stop.best_epoch == 1 and stop.stopped_epoch == (3 if stops else 0)
    for restored, best in zip(net.get_weights(), script.weights[1]):
        np.testing.assert_array_equal(restored, best)
    assert not np.array_equal(net.get_weights()[0], script.weights[-1][0])


def test_restore_best_weights_keeps_first_epoch_weights_when_baseline_is_never_beaten():
    stop = EarlyStopping(patience=2, baseline=0.1, restore_best_weights=True)
    net = model()
    _, script = fit(stop, [1.0, 1.2, 1.3, 1.4], net=net)
    assert stop.stopped_epoch == 1
    np.testing.assert_array_equal(net.get_weights()[0], script.weights[0][0])


def test_early_stopping_instance_can_be_reused_across_fits():
    stop = EarlyStopping(patience=0)
    fit(stop, [1.0, 2.0, 3.0])
    history, _ = fit(stop, [5.0, 4.0, 3.0])
    assert len(history.history["loss"]) == 3 and stop.stopped_epoch == 0


def test_early_stopping_warns_when_the_monitored_key_is_missing():
    x, y = data()
    with pytest.warns(UserWarning, match=r"'val_loss'.*available keys: accuracy, loss"):
        history = model().fit(x, y, epochs=2, verbose=0, callbacks=[EarlyStopping()])
    assert len(history.history["loss"]) == 2


def test_monitor_errors_show_the_value_and_a_fix():
    with pytest.raises(ValueError, match=r"mode='maximum'.*Fix"):
        EarlyStopping(mode="maximum")
    with pytest.raises(ValueError, match=r"cannot tell whether monitor='val_f1'.*mode='max'"):
        fit(EarlyStopping(monitor="val_f1"), [0.1, 0.2], key="val_f1")
    with pytest.raises(ValueError, match="patience must be a non-negative integer, received -1"):
        EarlyStopping(patience=-1)


# ----- ModelCheckpoint ----------------------------------------------------------------------------

def test_checkpoint_fills_the_template_from_epoch_and_logs(tmp_path):
    template = str(tmp_path / "model.{epoch:02d}-{val_loss:.2f}.axonal")
    checkpoint = ModelCheckpoint(template)
    history, _ = fit(checkpoint, [0.5, 0.25], validation_split=0.25)
    assert sorted(os.listdir(tmp_path)) == ["model.01-0.50.axonal", "model.02-0.25.axonal"]
    assert load_model(tmp_path / "model.02-0.25.axonal").optimizer.iterations == 6  # 48 samples / 16
    assert history.history["val_loss"] == [0.5, 0.25]


def test_checkpoint_save_best_only_saves_improvements_only(tmp_path):
    checkpoint = ModelCheckpoint(str(tmp_path / "e{epoch}.axonal"), save_best_only=True, verbose=1)
    fit(checkpoint, [1.0, 2.0, 0.5, 0.6])
    assert sorted(os.listdir(tmp_path)) == ["e1.axonal", "e3.axonal"] and checkpoint.best == 0.5


def test_checkpoint_to_one_path_keeps_the_best_model(tmp_path):
    path = tmp_path / "best.axonal"
    checkpoint = ModelCheckpoint(path, monitor="val_accuracy", save_best_only=True)
    _, script = fit(checkpoint, [0.5, 0.9, 0.7], key="val_accuracy")
    saved = load_model(path)
    for array, best in zip(saved.get_weights(), script.weights[1]):
        np.testing.assert_array_equal(array, best)


def test_checkpoint_weights_only_writes_weight_files(tmp_path):
    path = tmp_path / "w.weights.axonal"
    net = model()
    fit(ModelCheckpoint(path, save_weights_only=True), [1.0], net=net)
    with pytest.raises(ValueError, match="holds only weights"):
        load_model(path)
    fresh = model()
    fresh.load_weights(path)
    for loaded, trained in zip(fresh.get_weights(), net.get_weights()):
        np.testing.assert_array_equal(loaded, trained)


def test_checkpoint_save_freq_counts_batches_across_epochs(tmp_path):
    checkpoint = ModelCheckpoint(str(tmp_path / "{epoch}-{batch}.axonal"), save_freq=3, monitor="loss")
    fit(checkpoint, [1.0, 1.0])  # 4 batches per epoch
    assert sorted(os.listdir(tmp_path)) == ["1-3.axonal", "2-2.axonal"]


def test_checkpoint_creates_folders_and_reports_bad_templates(tmp_path):
    fit(ModelCheckpoint(tmp_path / "a" / "b" / "m.axonal"), [1.0])
    assert (tmp_path / "a" / "b" / "m.axonal").is_file()
    with pytest.raises(KeyError, match=r"\{val_acc\}.*available fields: accuracy, epoch, loss, val_loss"):
        fit(ModelCheckpoint(str(tmp_path / "{val_acc}.axonal")), [1.0])
    with pytest.raises(ValueError, match="save_freq=0"):
        ModelCheckpoint("m.axonal", save_freq=0)


def test_checkpoint_write_failure_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "m.axonal"
    checkpoint = ModelCheckpoint(path)
    fit(checkpoint, [1.0])
    before = path.read_bytes()
    real_write_array = np.lib.format.write_array

    def write_half_then_fail(file, array, **kwargs):
        real_write_array(file, array, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np.lib.format, "write_array", write_half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        fit(checkpoint, [0.5])
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.axonal"]


# ----- learning-rate callbacks --------------------------------------------------------------------

def test_learning_rate_set_between_steps_applies_from_the_next_step(backend):
    class FreezeAfterFirstBatch(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:
                self.model.optimizer.learning_rate = 0.0
                self.after_first = self.model.get_weights()

    x, y = data()
    net, freeze = model(), FreezeAfterFirstBatch()
    initial = net.get_weights()
    net.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[freeze])
    assert not np.array_equal(freeze.after_first[0], initial[0])
    for now, then in zip(net.get_weights(), freeze.after_first):
        np.testing.assert_array_equal(now, then)
    with pytest.raises(ValueError, match="learning_rate must be in >= 0.0, received -1"):
        net.optimizer.learning_rate = -1


def test_reduce_lr_on_plateau_reduces_after_patience_and_logs_the_rate():
    reduce = ReduceLROnPlateau(factor=0.5, patience=2)
    history, _ = fit(reduce, [1.0] * 6)
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.025])
    assert reduce.model.optimizer.learning_rate == pytest.approx(0.025)


def test_reduce_lr_on_plateau_cooldown_min_delta_and_min_lr():
    reduce = ReduceLROnPlateau(factor=0.5, patience=2, cooldown=2)
    history, _ = fit(reduce, [1.0] * 7)
    # Reductions at epochs 2 and 5: after the first, two epochs of cooldown reset the wait.
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025])
    floor = ReduceLROnPlateau(factor=0.1, patience=1, min_lr=0.05, min_delta=0.5)
    fit(floor, [1.0, 0.8, 0.6, 0.4])  # improvements of 0.2 < min_delta: a plateau
    assert floor.model.optimizer.learning_rate == pytest.approx(0.05)
    with pytest.raises(ValueError, match=r"factor=1.5.*Fix"):
        ReduceLROnPlateau(factor=1.5)


def test_learning_rate_scheduler_sets_the_rate_each_epoch():
    history, _ = fit(LearningRateScheduler(lambda epoch, lr: lr * 0.5, verbose=1), [1.0, 1.0, 1.0])
    assert history.history["learning_rate"] == pytest.approx([0.05, 0.025, 0.0125])
    history, _ = fit(LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1)), [1.0, 1.0])
    assert history.history["learning_rate"] == pytest.approx([0.01, 0.02])
    with pytest.raises(ValueError, match=r"must return a number, received 'fast'"):
        fit(LearningRateScheduler(lambda epoch, lr: "fast"), [1.0])


# ----- CSVLogger and TerminateOnNaN ---------------------------------------------------------------

def test_csv_logger_writes_one_row_per_epoch_and_appends(tmp_path):
    path = tmp_path / "log.csv"
    x, y = data()
    net = model()
    history = net.fit(x, y, epochs=2, batch_size=16, verbose=0, validation_split=0.25,
                      callbacks=[CSVLogger(path)])
    rows = list(csv.DictReader(path.read_text().splitlines()))
    assert list(rows[0]) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [row["epoch"] for row in rows] == ["0", "1"]
    assert [float(row["val_loss"]) for row in rows] == history.history["val_loss"]
    net.fit(x, y, epochs=1, verbose=0, validation_split=0.25, callbacks=[CSVLogger(path, append=True)])
    lines = path.read_text().splitlines()
    assert len(lines) == 4 and lines[0].startswith("epoch,") and lines[3].startswith("0,")
    net.fit(x, y, epochs=1, verbose=0, callbacks=[CSVLogger(path, separator=";")])
    assert path.read_text().splitlines()[0] == "epoch;accuracy;loss"


def test_terminate_on_nan_stops_a_diverging_run(backend, capsys):
    axonal.set_seed(0)
    net = Sequential([Input(shape=(4,)), Dense(1)])
    net.compile(optimizer=SGD(1e3), loss="mse")
    losses = []

    class Losses(Callback):
        def on_train_batch_end(self, batch, logs=None):
            losses.append(logs["loss"])

    x, y = np.full((64, 4), 100.0, np.float32), np.full((64, 1), 1e3, np.float32)
    with np.errstate(over="ignore", invalid="ignore"):  # the reference backend warns on overflow
        history = net.fit(x, y, epochs=5, batch_size=8, verbose=0, callbacks=[Losses(), TerminateOnNaN()])
    assert not np.isfinite(losses[-1]) and np.isfinite(losses[:-1]).all() and len(losses) < 8
    assert len(history.history["loss"]) == 1
    assert f"Batch {len(losses) - 1}: Invalid loss, terminating training" in capsys.readouterr().out


def test_terminate_on_nan_can_raise():
    callback = TerminateOnNaN(raise_error=True)
    callback.on_train_batch_end(0, {"loss": 1.0})
    with pytest.raises(RuntimeError, match="Loss became nan at batch 3"):
        callback.on_train_batch_end(3, {"loss": float("nan")})
