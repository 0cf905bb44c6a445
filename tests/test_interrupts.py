"""Ctrl-C (SIGINT) during fit lands between whole steps, and a run resumed from its ModelCheckpoint
with initial_epoch is bit-identical to an uninterrupted one."""
import signal
import threading

import numpy as np
import pytest

import axonal
from axonal.callbacks import Callback, ModelCheckpoint
from axonal.layers import Dense, Dropout, Input
from axonal.models import Sequential, load_model

STEPS_PER_EPOCH = 5  # 72 training rows (96 less the validation quarter) in batches of 16


def data():
    rng = np.random.default_rng(2)
    return rng.normal(size=(96, 20)).astype(np.float32), rng.integers(0, 3, 96)


def model():
    axonal.set_seed(9)
    net = Sequential([Input(shape=(20,)), Dense(32, activation="relu"), Dropout(0.25), Dense(3, activation="softmax")])
    net.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return net


def fit(net, epochs=4, **kwargs):
    x, y = data()
    return net.fit(x, y, batch_size=16, epochs=epochs, validation_split=0.25, verbose=0, **kwargs)


class At(Callback):
    """Runs ``action(model)`` in hook ``hook`` at (epoch, batch)."""

    def __init__(self, hook, epoch, batch, action):
        super().__init__()
        self.where, self.action, self.epoch = (epoch, batch), action, None
        setattr(self, hook, self.fire)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def fire(self, batch, logs=None):
        if (self.epoch, batch) == self.where:
            self.action(self.model)


def sigint(_model=None):
    signal.raise_signal(signal.SIGINT)


def stopped_after(steps):
    """A model trained the same way and stopped cleanly after ``steps`` steps."""
    net = model()
    fit(net, callbacks=[At("on_train_batch_end", (steps - 1) // STEPS_PER_EPOCH, (steps - 1) % STEPS_PER_EPOCH,
                           lambda m: setattr(m, "stop_training", True))])
    assert net.steps.value == steps
    return net


def assert_same_state(a, b):
    assert all(np.array_equal(p, q) for p, q in zip(a.get_weights(), b.get_weights()))
    assert all(np.array_equal(p, q) for p, q in zip(a.optimizer.variables, b.optimizer.variables))
    assert a.steps.value == b.steps.value == a.optimizer.iterations == b.optimizer.iterations


@pytest.mark.parametrize("hook, completed", [("on_train_batch_begin", 2 * STEPS_PER_EPOCH + 3),
                                             ("on_train_batch_end", 2 * STEPS_PER_EPOCH + 4)])
def test_sigint_leaves_the_model_at_its_last_completed_step(backend, hook, completed):
    net = model()
    with pytest.raises(KeyboardInterrupt):
        fit(net, callbacks=[At(hook, 2, 3, sigint)])
    # Sent before batch 3 of epoch 3, that batch is never applied; sent after it, it is.
    clean = stopped_after(completed)
    assert_same_state(net, clean)
    assert net.history.epoch == [0, 1]  # the interrupted epoch is not recorded
    assert net.history.history["loss"] == clean.history.history["loss"][:2]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigint_inside_the_optimizer_update_waits_until_every_parameter_is_updated(backend):
    net = model()
    optimizer, update_step = net.optimizer, net.optimizer.update_step
    sent = []

    def update_then_interrupt(param, grad, slots):
        update_step(param, grad, slots)
        if optimizer.iterations == 7 and not sent:  # after the first of four parameters of step 7
            sent.append(param)
            sigint()

    optimizer.update_step = update_then_interrupt
    with pytest.raises(KeyboardInterrupt):
        fit(net)
    assert_same_state(net, stopped_after(7))


def test_a_second_sigint_stops_at_once_and_outside_any_update(backend):
    reached = []

    def press_twice(_model):
        sigint()
        sigint()  # the user insists: this one raises here, inside the callback
        reached.append(True)

    net = model()
    with pytest.raises(KeyboardInterrupt):
        fit(net, callbacks=[At("on_train_batch_end", 1, 2, press_twice)])
    assert not reached
    assert_same_state(net, stopped_after(STEPS_PER_EPOCH + 3))


def test_a_users_own_sigint_handler_is_called_between_steps_and_training_goes_on():
    calls = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: calls.append(signum))
    try:
        history = fit(model(), callbacks=[At("on_train_batch_end", 1, 1, sigint)])
        assert calls == [signal.SIGINT] and len(history.epoch) == 4
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler  # the user's, put back
    finally:
        signal.signal(signal.SIGINT, previous)


def test_training_in_a_worker_thread_leaves_signals_alone():
    histories = []
    worker = threading.Thread(target=lambda: histories.append(fit(model(), epochs=1)))
    worker.start()
    worker.join()
    assert len(histories[0].epoch) == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_resuming_from_a_model_checkpoint_is_bit_identical(backend, tmp_path):
    straight = model()
    history = fit(straight, callbacks=[ModelCheckpoint(tmp_path / "epoch-{epoch}.axonal")])
    resumed = load_model(tmp_path / "epoch-2.axonal")
    resumed_history = fit(resumed, initial_epoch=2)
    assert_same_state(resumed, straight)
    assert resumed_history.epoch == [2, 3]
    assert resumed_history.history["val_loss"] == history.history["val_loss"][2:]


def test_an_interrupted_run_resumes_from_its_last_checkpoint_to_the_same_bits(backend, tmp_path):
    path = tmp_path / "last.axonal"
    interrupted = model()
    with pytest.raises(KeyboardInterrupt):
        fit(interrupted, callbacks=[ModelCheckpoint(path), At("on_train_batch_begin", 3, 2, sigint)])
    resumed = load_model(path)  # saved at the end of epoch 3 (index 2)
    assert resumed.steps.value == 3 * STEPS_PER_EPOCH
    fit(resumed, initial_epoch=len(interrupted.history.epoch))
    straight = model()
    fit(straight)
    assert_same_state(resumed, straight)
