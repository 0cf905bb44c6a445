"""The functional API: Model(inputs, outputs) over Input tensors and layer calls, on one engine.

What is checked: the graph (inputs, outputs, layers, get_layer, naming, errors), training with
several inputs and outputs (dicts and lists, per-output losses, loss weights and metrics, Keras'
History keys and evaluate order), shared layers (gradients summed), merges, the native loop giving
the bits of the layer-by-layer path for every graph feature, the numpy reference agreeing with cpu,
configuration and save/load/resume, and freezing.
"""
import numpy as np
import pytest

import axonal
from axonal.layers import Add, Concatenate, Dense, Dropout, Flatten, Input, Maximum, Subtract
from axonal.models import Model, Sequential, load_model
from functional_models import BUILDERS, residual_mlp, shared_layer, two_inputs, two_outputs
from model_checks import check_step_against_finite_differences, fit_on_path

BATCH = 16


def fit(builder, use_native: bool, monkeypatch, epochs: int = 2, **fit_args):
    """Build and fit a model of ``builder`` in the native loop or layer by layer (checked)."""
    model, x, y = builder()
    return model, fit_on_path(model, x, y, use_native, monkeypatch, batch_size=BATCH, epochs=epochs, **fit_args)


@pytest.mark.parametrize("name", BUILDERS)
def test_native_loop_gives_the_bits_of_the_layer_by_layer_path(name, monkeypatch):
    python_model, python_history = fit(BUILDERS[name], False, monkeypatch)
    native_model, native_history = fit(BUILDERS[name], True, monkeypatch)
    assert native_history.history == python_history.history
    assert native_model.steps.value == python_model.steps.value == 2 * 4
    for ours, theirs in zip(native_model.get_weights() + native_model.optimizer.variables,
                            python_model.get_weights() + python_model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    x = BUILDERS[name]()[1]
    for ours, theirs in zip(_outputs(native_model.predict(x, verbose=0)), _outputs(python_model.predict(x, verbose=0))):
        np.testing.assert_array_equal(ours, theirs)


def _outputs(predictions):
    return predictions if isinstance(predictions, list) else [predictions]


@pytest.mark.parametrize("name", BUILDERS)
def test_the_numpy_reference_trains_the_same_model(name, monkeypatch):
    cpu_model, cpu_history = fit(BUILDERS[name], True, monkeypatch)
    axonal.set_backend("numpy")
    try:
        numpy_model, numpy_history = fit(BUILDERS[name], False, monkeypatch)
    finally:
        axonal.set_backend("cpu")
    for key, values in cpu_history.history.items():
        np.testing.assert_allclose(numpy_history.history[key], values, rtol=2e-4, atol=2e-5)
    for ours, theirs in zip(numpy_model.get_weights(), cpu_model.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=2e-3, atol=2e-4)


def test_graph_structure_and_names():
    model, _, _ = two_inputs()
    assert [t.name for t in model.inputs] == ["image", "numbers"] == model.input_names
    assert model.output_names == [model.layers[-1].name]
    # Keras' order: by depth from the deepest (the image's branch is longer than the numbers').
    assert [type(layer).__name__ for layer in model.layers] == [
        "InputLayer", "Conv2D", "MaxPooling2D", "Flatten", "InputLayer", "Concatenate", "Dense", "Dense"]
    assert type(model.get_layer("numbers")).__name__ == "InputLayer"
    assert model.get_layer(index=-1) is model.layers[-1]
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        model.get_layer("nope")
    assert model.name.startswith("functional")
    assert axonal.Model is Model and axonal.models.Model is Model
    assert model.count_params() == sum(w.size for w in model.get_weights())


def test_several_outputs_log_and_return_as_keras():
    model, x, y = two_outputs()
    history = model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    assert sorted(history.history) == ["box_loss", "label_accuracy", "label_loss", "loss"]
    logs = history.history
    assert logs["loss"][0] == pytest.approx(logs["label_loss"][0] + 0.25 * logs["box_loss"][0], rel=1e-6)
    results = model.evaluate(x, [y["label"], y["box"]], verbose=0)
    named = model.evaluate(x, y, verbose=0, return_dict=True)
    assert results == [named["loss"], named["label_loss"], named["box_loss"], named["label_accuracy"]]
    label, box = model.predict(x, verbose=0)
    assert label.shape == (len(x), 3) and box.shape == (len(x), 2)
    np.testing.assert_allclose(label.sum(axis=1), 1.0, rtol=1e-5)  # the absorbed softmax applied


def test_dict_and_list_inputs_agree():
    model, x, _ = two_inputs()
    by_list = model.predict(x, verbose=0)
    by_dict = model.predict({"numbers": x[1], "image": x[0]}, verbose=0)
    np.testing.assert_array_equal(by_list, by_dict)
    with pytest.raises(ValueError, match=r"keys \['image'\] but the model's inputs are \['image', 'numbers'\]"):
        model.predict({"image": x[0]}, verbose=0)
    with pytest.raises(ValueError, match="2 inputs"):
        model.predict(x[0], verbose=0)


def test_a_shared_layer_sums_the_gradients_of_its_calls():
    """One SGD step: the shared kernel moves by the sum of what two separate copies would move."""
    axonal.set_seed(0)
    left, right = Input(shape=(3,)), Input(shape=(3,))
    shared = Dense(2, name="shared")
    model = Model([left, right], Add()([shared(left), shared(right)]))
    first, second = Dense(2), Dense(2)
    twin = Model([left, right], Add()([first(left), second(right)]))
    for layer in (first, second):
        layer.set_weights(shared.get_weights())
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(8, 3)).astype(np.float32) for _ in range(2)]
    y = rng.normal(size=(8, 2)).astype(np.float32)
    start = shared.get_weights()
    for m in (model, twin):
        m.compile(optimizer=axonal.optimizers.SGD(learning_rate=0.1), loss="mse")
        m.train_on_batch(x, y)
    for after, before, one, two in zip(shared.get_weights(), start, first.get_weights(), second.get_weights()):
        np.testing.assert_allclose(after - before, (one - before) + (two - before), rtol=1e-5, atol=1e-7)


def test_a_tensor_read_by_two_layers_gets_both_gradients():
    """h feeds Dense a and Dense b: its gradient is the sum of both, so the first layer's update
    equals the one of a model where each branch has its own copy of the first layer... checked
    against float64 finite differences of the loss on the reference backend."""
    axonal.set_backend("numpy")
    try:
        axonal.set_seed(0)
        inputs = Input(shape=(3,))
        hidden = Dense(4, activation="tanh", name="hidden")(inputs)
        model = Model(inputs, Add()([Dense(2)(hidden), Dense(2)(hidden)]))
        model.compile(optimizer=axonal.optimizers.SGD(learning_rate=1.0), loss="mse")
        rng = np.random.default_rng(2)
        x, y = rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=(5, 2)).astype(np.float32)
        check_step_against_finite_differences(model, x, y, model.get_layer("hidden").kernel, 2e-2, 1e-4)
    finally:
        axonal.set_backend("cpu")


def test_graph_errors_name_the_layers_and_shapes():
    a, b = Input(shape=(4,), name="a"), Input(shape=(3,), name="b")
    da, db = Dense(5, name="left")(a), Dense(6, name="right")(b)
    with pytest.raises(ValueError, match=r"'left' gives \(None, 5\) and 'right' gives \(None, 6\)"):
        Add()([da, db])
    with pytest.raises(ValueError, match="merges at least 2 tensors"):
        Add()([da])
    with pytest.raises(TypeError, match="call it on a list"):
        Add()(da)
    with pytest.raises(ValueError, match="exactly 2"):
        Subtract()([da, da, da])
    with pytest.raises(ValueError, match="at most 8"):
        Maximum()([da] * 9)
    with pytest.raises(ValueError, match="not used by any of the outputs"):
        Model([a, b], da)
    with pytest.raises(ValueError, match="disconnected"):
        Model(a, Concatenate()([da, db]))
    with pytest.raises(ValueError, match="Flatten"):
        Dense(2)(Input(shape=(4, 4, 1)))
    with pytest.raises(ValueError, match="Input\\(\\) tensors"):
        Model(da, Dense(2)(da))
    with pytest.raises(TypeError, match="symbolic tensor"):
        np.asarray(da)


def test_loss_and_metric_arguments_are_checked_at_compile():
    model, _, _ = two_outputs()
    with pytest.raises(ValueError, match="gives no loss for outputs \\['box'\\]"):
        model.compile(optimizer="sgd", loss={"label": "mse"})
    with pytest.raises(ValueError, match="names outputs \\['head'\\]"):
        model.compile(optimizer="sgd", loss={"label": "mse", "box": "mse", "head": "mse"})
    with pytest.raises(ValueError, match="list of 1 but the model has 2 outputs"):
        model.compile(optimizer="sgd", loss=["mse"])
    with pytest.raises(ValueError, match="dict keyed by output name"):
        model.compile(optimizer="sgd", loss="mse", metrics=["accuracy"])
    with pytest.raises(ValueError, match="class_weight is only supported for models of one output"):
        model.compile(optimizer="sgd", loss="mse")
        model.fit(np.zeros((4, 7), np.float32), [np.zeros((4, 3)), np.zeros((4, 2))], class_weight={0: 1.0}, verbose=0)


def test_fused_softmax_that_feeds_another_layer_is_refused():
    inputs = Input(shape=(4,))
    probabilities = Dense(3, activation="softmax", name="probs")(inputs)
    model = Model(inputs, [probabilities, Dense(1, name="more")(probabilities)])
    with pytest.raises(ValueError, match="'probs' ends in softmax and also feeds other layers"):
        model.compile(optimizer="sgd", loss=["categorical_crossentropy", "mse"])


def test_config_round_trip_and_save_load_resume_bit_identical(tmp_path):
    model, x, y = shared_layer()
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    copy = Model.from_config(model.get_config())
    assert [layer.name for layer in copy.layers] == [layer.name for layer in model.layers]
    assert copy.get_config()["nodes"] == model.get_config()["nodes"]
    assert copy.count_params() == model.count_params()
    model.save(tmp_path / "shared.axonal")
    loaded = load_model(tmp_path / "shared.axonal")
    assert loaded.name == model.name and loaded.output_names == model.output_names
    first = model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0)
    second = loaded.fit(x, y, batch_size=BATCH, epochs=2, verbose=0)
    assert first.history == second.history
    for ours, theirs in zip(model.get_weights() + model.optimizer.variables,
                            loaded.get_weights() + loaded.optimizer.variables, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_two_outputs_save_their_losses_weights_and_metrics(tmp_path):
    model, x, y = two_outputs()
    model.save(tmp_path / "heads.axonal")
    loaded = load_model(tmp_path / "heads.axonal")
    assert loaded.evaluate(x, y, verbose=0, return_dict=True) == model.evaluate(x, y, verbose=0, return_dict=True)


def test_freezing_a_layer_of_a_graph(monkeypatch):
    model, x, y = residual_mlp()
    first = model.layers[1]
    first.trainable = False
    before = first.get_weights()
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    for ours, theirs in zip(first.get_weights(), before):
        np.testing.assert_array_equal(ours, theirs)
    assert model.summary is not None
    model.trainable = False
    frozen = model.get_weights()
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    for ours, theirs in zip(model.get_weights(), frozen):
        np.testing.assert_array_equal(ours, theirs)


def test_sequential_accepts_input_tensors_and_stays_a_chain():
    model = Sequential([Input(shape=(4,)), Dense(3), Dropout(0.1), Dense(2)])
    assert [call.inputs for call in model.plan.calls] == [[0], [1], [2]]
    assert model.connections(model.layers[0]) is None
    chain = Model(inputs := Input(shape=(4,)), Dense(2)(Flatten()(inputs)))
    assert chain.connections(chain.layers[1]) is None  # Keras prints a chain without "Connected to"


@pytest.mark.parametrize("damage, word", [
    (lambda record: record.update(class_name=["Model"]), "class"),
    (lambda record: record.update(class_name="Graph"), "class 'Graph'"),
    (lambda record: record["config"].update(nodes="all"), "layer calls"),
    (lambda record: record["config"]["nodes"][0].__setitem__(1, [["nowhere", 0]]), "cannot be rebuilt"),
    (lambda record: record["config"].update(output_layers=[[["dense"], 0, 0]]), "cannot be rebuilt"),
])
def test_a_damaged_functional_config_is_refused_with_the_file_named(damage, word, tmp_path):
    """Found by the file fuzzer on a fresh-clone run: a class name that is a list made load_model
    raise TypeError instead of the file error."""
    import json
    import zipfile

    from axonal.saving.archive import SavedFileError

    model, _, _ = residual_mlp()
    path, edited = tmp_path / "m.axonal", tmp_path / "edited.axonal"
    model.save(path)
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(edited, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "config.json":
                config = json.loads(data)
                damage(config["model_config"])
                data = json.dumps(config)
            target.writestr(name, data)
    with pytest.raises(SavedFileError, match=word):
        load_model(edited)


@pytest.mark.parametrize("function, cls, kwargs", [
    ("add", "Add", {}), ("subtract", "Subtract", {}), ("multiply", "Multiply", {}), ("average", "Average", {}),
    ("maximum", "Maximum", {}), ("minimum", "Minimum", {}), ("concatenate", "Concatenate", {"axis": -1})])
def test_keras_functional_merge_helpers_call_their_layer(function, cls, kwargs):
    a, b = Input(shape=(4,)), Input(shape=(4,))
    merged = getattr(axonal.layers, function)([a, b], name=f"joined_{function}", **kwargs)
    model = Model([a, b], merged)
    layer = model.get_layer(f"joined_{function}")
    assert type(layer).__name__ == cls
    x = [np.full((2, 4), 3.0, np.float32), np.full((2, 4), 2.0, np.float32)]
    expected = {"add": 5.0, "subtract": 1.0, "multiply": 6.0, "average": 2.5, "maximum": 3.0, "minimum": 2.0}
    out = model.predict(x, verbose=0)
    if function == "concatenate":
        np.testing.assert_array_equal(out, np.concatenate(x, axis=-1))
    else:
        np.testing.assert_array_equal(out, np.full((2, 4), expected[function], np.float32))


def test_keras_other_layer_names_are_the_same_classes():
    layers = axonal.layers
    pairs = [("MaxPool1D", "MaxPooling1D"), ("AvgPool1D", "AveragePooling1D"),
             ("GlobalAvgPool1D", "GlobalAveragePooling1D"), ("GlobalMaxPool1D", "GlobalMaxPooling1D"),
             ("GlobalMaxPool2D", "GlobalMaxPooling2D"), ("Convolution1D", "Conv1D"), ("MaxPool2D", "MaxPooling2D"),
             ("AvgPool2D", "AveragePooling2D"), ("GlobalAvgPool2D", "GlobalAveragePooling2D"),
             ("Convolution2D", "Conv2D")]
    for alias, name in pairs:
        assert getattr(layers, alias) is getattr(layers, name) and alias in layers.__all__


def test_feature_extraction_from_layer_outputs_of_a_functional_and_a_sequential_model(tmp_path):
    x = np.random.default_rng(0).random((5, 4), dtype=np.float32)
    axonal.set_seed(3)
    inputs = Input(shape=(4,))
    hidden = Dense(3, activation="relu", name="hidden")(inputs)
    functional = Model(inputs, Dense(2, name="head")(hidden))
    sequential = Sequential([Input(shape=(4,)), Dense(3, activation="relu"), Dense(2)])
    built_by_fit = Sequential([Dense(3, activation="relu"), Dense(2)])
    built_by_fit.compile(optimizer="sgd", loss="mse")
    built_by_fit.fit(x, np.zeros((5, 2), np.float32), verbose=0)
    functional.save(tmp_path / "f.keras")
    loaded = load_model(tmp_path / "f.keras")
    for model in (functional, sequential, built_by_fit, loaded):
        layers = [layer for layer in model.layers if layer.weights]
        features = Model(inputs=model.inputs, outputs=[layer.output for layer in layers])
        first, last = features.predict(x, verbose=0)
        kernel, bias = layers[0].get_weights()
        np.testing.assert_allclose(first, np.maximum(x @ kernel + bias, 0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(last, model.predict(x, verbose=0), rtol=1e-6)
        assert model.input is model.inputs[0] and model.output is model.outputs[0]
    assert functional.get_layer("head").input is hidden and hidden.node.layer.output is hidden


def test_layer_input_and_output_before_any_symbolic_call_say_what_to_do():
    with pytest.raises(AttributeError, match="never been called on symbolic tensors.*Fix:"):
        Dense(2).output
    with pytest.raises(AttributeError, match="is not built, so it has no symbolic tensors.*Fix:"):
        Sequential([Dense(2)]).inputs
    merge = Add()
    a, b = Input(shape=(2,)), Input(shape=(2,))
    merge([a, b])
    assert merge.input == [a, b] and a.node.layer.input is a


def test_several_outputs_list_their_losses_then_the_metrics_by_name_as_keras_3(tmp_path):
    model, x, y = two_outputs()
    model.compile(optimizer="sgd", loss={"label": "sparse_categorical_crossentropy", "box": "mse"},
                  metrics={"label": [axonal.metrics.SparseCategoricalAccuracy(name="hits")], "box": ["mae"]},
                  weighted_metrics={"box": ["mae"]})
    expected = ["loss", "label_loss", "box_loss", "box_mae", "box_weighted_mae", "label_hits"]
    for _ in range(2):  # a Metric object passed to compile keeps its name across fits
        model.fit(x, y, epochs=1, verbose=0)
        assert model.metrics_names == expected
    values = model.evaluate(x, y, verbose=0)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert values == [logs[name] for name in expected]
    for suffix in ("axonal", "keras"):
        model.save(tmp_path / f"m.{suffix}")
        loaded = load_model(tmp_path / f"m.{suffix}")
        loaded.evaluate(x, y, verbose=0)
        assert loaded.metrics_names == expected


def test_outputs_given_as_a_dict_are_named_and_returned_by_its_keys(tmp_path):
    axonal.set_seed(7)
    inputs = Input(shape=(4,))
    hidden = Dense(8, activation="relu")(inputs)
    model = Model(inputs, {"score": Dense(1, name="regression")(hidden),
                           "klass": Dense(3, activation="softmax", name="classes")(hidden)})
    assert model.output_names == ["klass", "score"]  # the keys, sorted: Keras 3's flat order
    assert list(model.output) == ["score", "klass"]
    model.compile(optimizer="adam", loss={"klass": "sparse_categorical_crossentropy", "score": "mse"},
                  metrics={"klass": ["accuracy"]})
    rng = np.random.default_rng(0)
    x = rng.random((32, 4), dtype=np.float32)
    y = {"klass": np.arange(32) % 3, "score": rng.random((32, 1), dtype=np.float32)}
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert set(history.history) == {"loss", "klass_loss", "score_loss", "klass_accuracy"}
    predictions = model.predict(x, verbose=0)
    assert list(predictions) == ["score", "klass"] and predictions["klass"].shape == (32, 3)
    np.testing.assert_allclose(predictions["klass"].sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(model(x)["score"], predictions["score"])
    for suffix in ("axonal", "keras", "h5"):
        model.save(tmp_path / f"m.{suffix}")
        loaded = load_model(tmp_path / f"m.{suffix}")
        again = loaded.predict(x, verbose=0)
        assert loaded.output_names == ["klass", "score"] and set(again) == {"score", "klass"}
        for key in predictions:
            np.testing.assert_array_equal(again[key], predictions[key])
    with pytest.raises(TypeError, match="string keys"):
        Model(inputs, {1: hidden})


def test_dict_outputs_keep_their_order_in_files_and_list_losses_as_keras(tmp_path):
    inputs = Input(shape=(3,))
    model = Model(inputs, {"z": Dense(1, kernel_initializer="ones")(inputs),
                           "a": Dense(1, kernel_initializer="zeros")(inputs)})
    model.compile(optimizer="sgd", loss={"z": "mse", "a": "mse"})
    x = np.random.default_rng(0).random((8, 3), dtype=np.float32)
    y = {"z": np.zeros((8, 1), np.float32), "a": np.ones((8, 1), np.float32)}
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    # Keras 3 lists a dict-output model's losses in the loss dict's order (z, then a)
    assert model.evaluate(x, y, verbose=0) == [logs["loss"], logs["z_loss"], logs["a_loss"]]
    for suffix in ("axonal", "keras", "h5"):
        model.save(tmp_path / f"m.{suffix}")
        assert list(load_model(tmp_path / f"m.{suffix}").predict(x, verbose=0)) == ["z", "a"]
