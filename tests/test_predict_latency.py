"""The fast one-row ``predict`` (issue 21, point 5) gives the same bits as before, whatever changes.

``predict`` on ``cpu`` keeps its native inference loop per model and batch size
(``native_plan.inference_loop``), re-derives the output configuration only when the model changed
(``executors.configure_for_prediction``), skips the callback list when nothing observes the run,
and a repeated silent one-batch call reuses the first one's decisions (``quick_predict``). Each test changes the model between two predictions in a way that could leave something
kept stale, and compares the kept path with the layer-by-layer one (a fresh computation, and the
definition the native loop reproduces bit for bit). Timings are the benchmark's (W7), not tests'.
"""
from __future__ import annotations

import numpy as np
import pytest

import axonal
from axonal.callbacks import Callback
from axonal.layers import Activation, Concatenate, Conv2D, Dense, Dropout, Flatten, Input, Reshape
from axonal.models import Model, Sequential
from axonal.models import data
from axonal.models.executors import NativeExecutor, native_plan, quick_predict, support

pytestmark = pytest.mark.usefixtures("cpu_backend")  # the kept loop is the cpu backend's


def mlp(compile_loss="categorical_crossentropy"):
    axonal.set_seed(21)
    model = Sequential([Input(shape=(12,)), Dense(16, activation="relu"), Dropout(0.3),
                        Dense(16, activation="relu"), Dense(4, activation="softmax")])
    if compile_loss:
        model.compile(optimizer="adam", loss=compile_loss, metrics=["accuracy"])
    return model


X = np.random.default_rng(5).normal(size=(9, 12)).astype(np.float32)
Y = np.eye(4, dtype=np.float32)[np.arange(9) % 4]


def layer_by_layer(model, x, monkeypatch, **kwargs):
    """``predict`` through the layer-by-layer executor (the native one is told it cannot run it)."""
    with monkeypatch.context() as patch:
        patch.setattr(support, "inference_problem", lambda *args: "the test asks for Python")
        patch.setattr(quick_predict, "predict", lambda *args: None)
        return model.predict(x, verbose=0, **kwargs)


def assert_same_bits(model, x, monkeypatch, **kwargs):
    kept = model.predict(x, verbose=0, **kwargs)
    fresh = layer_by_layer(model, x, monkeypatch, **kwargs)
    assert kept.dtype == np.float32 and kept.tobytes() == fresh.tobytes()
    return kept


def kept_loops(model) -> dict:
    return model._inference_loops[3]


def test_one_row_predictions_reuse_one_loop_and_match_the_python_path(monkeypatch):
    model = mlp()
    first = assert_same_bits(model, X[:1], monkeypatch)
    loop = kept_loops(model)[1]
    assert_same_bits(model, X[1:2], monkeypatch)
    assert kept_loops(model)[1] is loop  # not rebuilt
    np.testing.assert_allclose(first.sum(), 1.0, rtol=1e-6)  # the absorbed softmax is applied


def test_training_set_weights_and_load_weights_are_seen_by_the_kept_loop(monkeypatch, tmp_path):
    model = mlp()
    before = assert_same_bits(model, X, monkeypatch)
    model.fit(X, Y, epochs=2, batch_size=4, verbose=0)
    trained = assert_same_bits(model, X, monkeypatch)
    assert trained.tobytes() != before.tobytes()
    model.save_weights(tmp_path / "trained.weights.axonal")
    model.set_weights([w * 0.5 for w in model.get_weights()])
    halved = assert_same_bits(model, X, monkeypatch)
    assert halved.tobytes() != trained.tobytes()
    model.load_weights(tmp_path / "trained.weights.axonal")
    assert assert_same_bits(model, X, monkeypatch).tobytes() == trained.tobytes()
    model.layers[0].kernel = np.zeros((12, 16), np.float32)  # copied into the layer's own array
    assert_same_bits(model, X, monkeypatch)


def test_batch_sizes_row_counts_and_evictions(monkeypatch):
    model = mlp()
    for batch_size in (1, 2, 3, 4, 5, 32, 2):  # more sizes than are kept: some are dropped and rebuilt
        for rows in (1, 5, 9):
            assert_same_bits(model, X[:rows], monkeypatch, batch_size=batch_size)
    assert len(kept_loops(model)) <= native_plan._KEPT_INFERENCE_LOOPS


def test_compile_and_uncompiled_models(monkeypatch):
    model = mlp(compile_loss=None)  # nothing absorbed: the layer applies its softmax
    uncompiled = assert_same_bits(model, X, monkeypatch)
    model.compile(optimizer="sgd", loss="categorical_crossentropy")  # softmax absorbed by the loss
    assert model._inference_loops[1][1] is None
    assert assert_same_bits(model, X, monkeypatch).tobytes() == uncompiled.tobytes()
    assert model._inference_loops[1][1] == ("softmax",)
    model.compile(optimizer="sgd", loss="mse")  # not absorbed again
    assert model._inference_loops[1][1] == ("softmax",)  # not yet asked
    assert assert_same_bits(model, X, monkeypatch).tobytes() == uncompiled.tobytes()
    assert model._inference_loops[1][1] == (None,)


def test_freezing_and_adding_layers(monkeypatch):
    model = mlp(compile_loss="mse")
    assert_same_bits(model, X, monkeypatch)
    model.layers[0].trainable = False
    assert_same_bits(model, X, monkeypatch)
    model.add(Dense(3, activation="tanh"))
    assert assert_same_bits(model, X, monkeypatch).shape == (9, 3)


def test_a_forward_replaced_after_a_prediction_is_still_honoured():
    model = mlp(compile_loss=None)
    model.predict(X, verbose=0)
    layer = model.layers[-1]
    layer.forward = lambda x, training: np.zeros((len(x), 4), np.float32)
    with pytest.warns(UserWarning, match="has a method replaced"):
        assert not model.predict(X, verbose=0).any()


def test_a_silent_predict_and_one_with_a_progress_bar_or_callbacks_agree(monkeypatch, capsys):
    class Counter(Callback):
        def __init__(self):
            super().__init__()
            self.hooks = []

        def on_predict_begin(self, logs=None):
            self.hooks.append("begin")

        def on_predict_end(self, logs=None):
            self.hooks.append("end")

    model = mlp()
    silent = model.predict(X, verbose=0, batch_size=4)
    counter = Counter()
    assert model.predict(X, verbose=1, batch_size=4, callbacks=[counter]).tobytes() == silent.tobytes()
    assert counter.hooks == ["begin", "end"] and "3/3" in capsys.readouterr().out


def test_a_later_predict_leaves_the_metrics_of_an_evaluation_as_keras_does(monkeypatch):
    model = mlp()
    model.predict(X[:1], verbose=0)
    model.evaluate(X, Y, verbose=0)
    results = [metric.result() for metric in model.metrics]
    model.predict(X[:1], verbose=0)
    assert [metric.result() for metric in model.metrics] == results


def test_bad_rows_are_still_refused():
    model = mlp()
    model.predict(X[:1], verbose=0)
    bad = X[:2].copy()
    bad[1, 3] = np.nan
    message = r"x contains NaN or infinite values \(1 of 24; the first is nan at index \(1, 3\)\)"
    with pytest.raises(ValueError, match=message):
        model.predict(bad, verbose=0)
    with pytest.raises(ValueError, match="expected shape"):
        model.predict(X[:, :5], verbose=0)


# ----- the ticket of a repeated silent predict --------------------------------------------------------

def general_path_calls(monkeypatch) -> list:
    """Spies on the general path's argument check: one entry per predict that took it."""
    calls = []
    prepare = data.prepare_inputs
    monkeypatch.setattr(data, "prepare_inputs", lambda *args, **kw: calls.append(1) or prepare(*args, **kw))
    return calls


def test_a_repeated_silent_one_batch_predict_skips_the_general_path(monkeypatch):
    model = mlp()
    calls = general_path_calls(monkeypatch)
    model.predict(X[:1], verbose=0)
    for row in range(1, 4):
        kept = model.predict(X[row:row + 1], verbose=0)
        assert kept.tobytes() == layer_by_layer(model, X[row:row + 1], monkeypatch).tobytes()
    assert model.predict(X[2:5], verbose=0, batch_size=3).shape == (3, 4)  # another batch size: a new ticket
    model.predict(X[5:8], verbose=0, batch_size=3)
    assert len(calls) == 1 + 3 + 1  # the first call, the three layer-by-layer ones, the new size


@pytest.mark.parametrize("change", ["compile", "freeze", "add", "replace forward", "float64", "fortran order",
                                    "smaller batch", "progress bar"])
def test_what_the_ticket_was_decided_from_sends_a_changed_call_the_general_way(monkeypatch, change, capsys):
    model = mlp()
    x, kwargs = X[:2], {"batch_size": 2}
    model.predict(x, verbose=0, **kwargs)
    if change == "compile":
        model.compile(optimizer="sgd", loss="mse")
    elif change == "freeze":
        model.layers[0].trainable = False
    elif change == "add":
        model.add(Dense(3))
    elif change == "replace forward":
        model.layers[-1].forward = lambda x, training: np.zeros((len(x), 4), np.float32)
    elif change == "float64":
        x = x.astype(np.float64)
    elif change == "fortran order":
        x = np.asfortranarray(X[:2])
    elif change == "smaller batch":
        kwargs = {"batch_size": 1}
    elif change == "progress bar":
        kwargs["verbose"] = 1
    if change != "progress bar":  # (a progress bar is decided by predict itself)
        assert quick_predict.predict(model, x, kwargs["batch_size"]) is None
    calls = general_path_calls(monkeypatch)
    kwargs.setdefault("verbose", 0)
    if change == "replace forward":
        with pytest.warns(UserWarning, match="has a method replaced"):
            np.testing.assert_array_equal(model.predict(x, **kwargs), 0.25)  # softmax(0), absorbed
    else:
        model.predict(x, **kwargs)
    assert calls == [1]


# ----- layers the native loop ran over whole samples ------------------------------------------------

def test_softmax_activation_and_concatenate_on_images_act_along_the_last_axis(monkeypatch):
    """The native loop takes a sample as one row: a softmax Activation or a Concatenate on rank-3+
    tensors would span the whole sample, so such models run layer by layer (said once)."""
    axonal.set_seed(22)
    image = Input(shape=(3, 3, 2), name="image")
    features = Conv2D(3, 2, padding="same")(image)
    joined = Concatenate()([features, image])
    probabilities = Activation("softmax", name="per_pixel")(joined)
    model = Model(image, [joined, probabilities])
    x = np.random.default_rng(3).normal(size=(4, 3, 3, 2)).astype(np.float32)
    with pytest.warns(UserWarning, match=r"'concatenate\w*' \(Concatenate\) works along the last axis of rank-4"):
        joined_out, probabilities_out = model.predict(x, verbose=0)
    np.testing.assert_array_equal(joined_out[..., 3:], x)
    np.testing.assert_allclose(probabilities_out.sum(axis=-1), 1.0, rtol=1e-6)


def test_a_softmax_activation_on_rows_still_runs_natively(monkeypatch):
    model = Sequential([Input(shape=(6,)), Reshape((6,)), Activation("softmax"), Flatten()])
    calls = []
    native_predict = NativeExecutor.predict
    monkeypatch.setattr(NativeExecutor, "predict", lambda *args: calls.append(1) or native_predict(*args))
    out = model.predict(X[:, :6], verbose=0)
    assert calls == [1]
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-6)


# ----- the benchmark workload --------------------------------------------------------------------------

def test_the_w7_benchmark_checks_outputs_and_times_both_sizes(tmp_path):
    """benchmarks/run.py W7 in quick mode for axonal and onnxruntime (the peers' numbers come from
    a full run by hand): every framework agrees with the float64 reference before it is timed."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    run_py = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"
    out = tmp_path / "w7.json"
    done = subprocess.run([sys.executable, str(run_py), "--quick", "--workloads", "W7", "--frameworks",
                           "axonal,onnxruntime", "--json", str(out)], env=dict(os.environ, AXONAL_OFFLINE="1"),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "goal: 1-row predict within 1.5x of onnxruntime" in done.stdout
    results = {r["framework"]: r for r in json.loads(out.read_text())["results"]}
    assert sorted(results) == ["axonal", "onnxruntime"]
    for result in results.values():
        assert result["status"] == "ok" and result["max_abs_difference"] <= 1e-4
        assert result["one_row_us"] > 0 and result["many_rows_median"] > 0 and result["rows"] == 2000
