"""The classic programs in examples/, each run small through its ``main([...flags...])``.

Every example is loaded from its file and run on the cpu backend (the default of the project) with
flags that keep it short: few epochs, ``--limit`` subsets. The ones on synthetic data (XOR, the
single neuron, churn, the shallow net) always run; the ones on Fashion-MNIST or MNIST skip without
``AXONAL_DATA`` (the tests never download). Each assertion can fail: an accuracy above chance by a
margin, a confusion matrix that counts every test row, an early stop before the last epoch with
the best weights restored, frozen weights bit-identical after fine-tuning.
"""
import csv
import importlib.util
import os
import pathlib

import numpy as np
import pytest

import axonal

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"
needs_data = pytest.mark.skipif(not os.environ.get("AXONAL_DATA"),
                                reason="AXONAL_DATA is not set: no real Fashion-MNIST / MNIST")


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def cpu_backend():
    """Run on cpu (skipped where it is not built); put the previous backend back afterwards."""
    status = axonal.backends()["cpu"]
    if status != "available":
        pytest.skip(f"the cpu backend is not available: {status}")
    previous = axonal.backend.backend_name()
    yield "cpu"
    axonal.set_backend(previous)


# ----- synthetic data: always run ---------------------------------------------------------------

def test_xor_reaches_full_accuracy(capsys):
    result = load_example("xor").main(["--epochs", "300", "--backend", "cpu"])
    assert result["accuracy"] == 1.0
    np.testing.assert_array_equal(result["predictions"][:, 0] > 0.5, [False, True, True, False])
    assert "Accuracy: 100%" in capsys.readouterr().out


@pytest.mark.parametrize("gate", ["or", "and", "nand", "nor"])
def test_single_neuron_learns_separable_gates(gate):
    result = load_example("single_neuron").main(["--gate", gate, "--epochs", "100", "--backend", "cpu"])
    assert result["accuracy"] == 1.0


def test_single_neuron_cannot_learn_xor(capsys):
    result = load_example("single_neuron").main(["--gate", "xor", "--epochs", "100", "--backend", "cpu"])
    assert result["accuracy"] <= 0.75  # no line separates XOR's classes
    assert "not linearly separable" in capsys.readouterr().out


def test_churn_on_synthetic_data_beats_the_majority_class(capsys):
    result = load_example("churn").main(["--epochs", "10", "--backend", "cpu"])
    cm = result["confusion_matrix"]
    assert cm.shape == (2, 2) and cm.sum() == 2000  # every one of the 20% test customers, once
    majority = cm[0].sum() / cm.sum()  # always predicting "stayed"
    assert result["accuracy"] > majority + 0.015
    assert result["accuracy"] <= result["best_possible_accuracy"] + 0.02
    assert cm[1, 1] > 0  # some churners are found
    out = capsys.readouterr().out
    assert "11 features" in out and "Confusion matrix" in out


def write_churn_csv(path, table, n):
    churn = load_example("churn")
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(churn.COLUMNS)
        for i in range(n):
            writer.writerow([i + 1, 15600000 + i, f"Surname{i}"] + [table[c][i] for c in churn.COLUMNS[3:]])


def test_churn_reads_the_kaggle_csv_layout(tmp_path, capsys):
    churn = load_example("churn")
    table = churn.synthetic_churn_table(n=500, seed=3)
    path = tmp_path / "Churn_Modelling.csv"
    write_churn_csv(path, table, 500)

    X_file, y_file = churn.encode_features(churn.read_churn_csv(path))
    X_table, y_table = churn.encode_features(table)
    assert X_file.shape == (500, 11)
    np.testing.assert_allclose(X_file, X_table)
    np.testing.assert_array_equal(y_file, y_table)

    result = churn.main(["--csv", str(path), "--epochs", "1", "--backend", "cpu"])
    assert result["confusion_matrix"].sum() == 100
    assert "best_possible_accuracy" not in result  # unknown for a file
    assert f"Read 500 customers from {path}" in capsys.readouterr().out


def test_churn_preprocessing_matches_scikit_learn():
    """The NumPy preprocessing does what the tutorial's scikit-learn calls do."""
    pytest.importorskip("sklearn")
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelEncoder, OneHotEncoder

    churn = load_example("churn")
    table = churn.synthetic_churn_table(n=1000, seed=5)
    X, y = churn.encode_features(table)

    raw = np.column_stack([table[c] for c in churn.COLUMNS[3:13]]).astype(object)
    raw[:, 1] = LabelEncoder().fit_transform(raw[:, 1])
    raw[:, 2] = LabelEncoder().fit_transform(raw[:, 2])
    one_hot = OneHotEncoder().fit_transform(raw[:, [1]].astype(int)).toarray()
    expected = np.column_stack([one_hot, np.delete(raw, 1, axis=1)]).astype(float)[:, 1:]
    np.testing.assert_allclose(X, expected)

    split = churn.train_test_split(X, y, test_size=0.2, random_state=0)
    for ours, theirs in zip(split[:4], train_test_split(X, y, test_size=0.2, random_state=0)):
        np.testing.assert_array_equal(ours, theirs)


def test_shallow_net_fit_and_hand_written_loop_both_learn(capsys):
    result = load_example("shallow_net").main(["--epochs", "3", "--limit", "1000", "--backend", "cpu"])
    # Balanced classes: chance is 0.5; 5% label noise caps the accuracy near 0.95.
    assert result["fit_accuracy"] > 0.8 and result["loop_accuracy"] > 0.8
    out = capsys.readouterr().out
    assert "Training with train_on_batch / test_on_batch:" in out and "Epoch 3/3 - loss:" in out


# ----- real data: skip without AXONAL_DATA ------------------------------------------------------

@needs_data
def test_mnist_mlp_on_fashion_mnist(capsys):
    accuracy = load_example("mnist_mlp").main(["--limit", "2000", "--epochs", "1", "--backend", "cpu"])
    out = capsys.readouterr().out
    assert "2000 train samples" in out and "10000 test samples" in out
    assert "Total params: 669,706" in out
    assert f"Test accuracy: {accuracy}" in out
    assert accuracy > 0.6  # chance is 0.1


@needs_data
def test_mnist_mlp_falls_back_on_the_mnist_test_split(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("AXONAL_OFFLINE", "1")        # never download in a test
    monkeypatch.setenv("AXONAL_HOME", str(tmp_path))  # an empty cache
    accuracy = load_example("mnist_mlp").main(["--dataset", "mnist", "--limit", "2000", "--epochs", "1",
                                               "--backend", "cpu"])
    out = capsys.readouterr().out
    if not pathlib.Path("/usr/share/datasets/mnist").exists():  # where a full MNIST could still be
        assert "Falling back on the MNIST test split" in out
        assert "2000 train samples" in out and "2000 test samples" in out
    assert accuracy > 0.6


def test_mnist_mlp_says_where_to_put_missing_data(monkeypatch, tmp_path):
    if pathlib.Path("/usr/share/datasets/fashion-mnist").exists():
        pytest.skip("a system copy of Fashion-MNIST would be found")
    monkeypatch.setenv("AXONAL_OFFLINE", "1")
    monkeypatch.setenv("AXONAL_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("AXONAL_DATA", str(tmp_path / "nothing-here"))
    with pytest.raises(SystemExit) as raised:
        load_example("mnist_mlp").main(["--epochs", "1", "--backend", "cpu"])
    assert "AXONAL_DATA" in str(raised.value) and "Fix:" in str(raised.value)


@needs_data
def test_sigmoid_mlp_on_fashion_mnist(capsys):
    accuracy = load_example("sigmoid_mlp").main(["--limit", "2000", "--epochs", "1", "--backend", "cpu"])
    assert "Total params: 1,251,450" in capsys.readouterr().out
    assert accuracy > 0.5


@needs_data
def test_dropout_sweep_prints_one_row_per_rate(capsys):
    results = load_example("dropout_sweep").main(["--units", "64", "--epochs", "2", "--limit", "3000",
                                                  "--backend", "cpu"])
    assert list(results) == [0.0, 0.2, 0.5]
    for result in results.values():
        assert result["val_accuracy"] > 0.55 and result["train_accuracy"] > 0.55
    out = capsys.readouterr().out
    assert "2700 training and 300 validation images" in out
    assert sum(line.lstrip().startswith(("0.00 ", "0.20 ", "0.50 ")) for line in out.splitlines()) == 3


@needs_data
def test_early_stopping_stops_and_restores_the_best_weights(capsys):
    result = load_example("early_stopping").main(["--limit", "1000", "--epochs", "30", "--backend", "cpu"])
    assert result["stopped_epoch"] is not None and result["stopped_epoch"] < 30
    assert result["epochs_run"] == result["stopped_epoch"]
    assert result["best_epoch"] == result["stopped_epoch"] - 2  # patience 2
    assert result["restored_val_loss"] == pytest.approx(result["best_val_loss"], rel=1e-5)
    assert f"Stopped at epoch {result['stopped_epoch']} of 30" in capsys.readouterr().out


@needs_data
def test_transfer_learning_keeps_the_frozen_base_bit_identical(capsys):
    result = load_example("transfer_learning").main(["--limit", "6000", "--epochs", "3", "--backend", "cpu"])
    assert result["frozen_unchanged"] is True
    assert len(result["frozen_before"]) == 4  # kernel and bias of hidden_1 and hidden_2
    for before, after in zip(result["frozen_before"], result["frozen_after"]):
        assert before.tobytes() == after.tobytes()
    assert result["accuracy_a"] > 0.7
    assert result["accuracy_b_after"] > result["accuracy_b_before"] + 0.2  # the new head learned task B
    out = capsys.readouterr().out
    assert "Trainable params: 645" in out and "Frozen weights unchanged: True" in out
