"""Metrics against hand computations: accuracies (weighted), top-k, precision, recall, AUC, and
confusion_matrix; then by name and by class inside compiled models."""
import numpy as np
import pytest

import axonal
from axonal import metrics
from axonal.layers import Dense, Input
from axonal.models import Sequential
from axonal.utils import to_categorical


def result(metric, y_true, y_pred, sample_weight=None):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred, np.float32)
    weights = None if sample_weight is None else np.asarray(sample_weight, np.float32)
    metric.update_state(y_true, y_pred, weights)
    return metric.result()


PROBABILITIES = np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3], [0.2, 0.3, 0.5], [0.3, 0.3, 0.4]])
CLASSES = np.array([1, 2, 2, 0])  # right, wrong (2nd best), right, wrong (tied 2nd)


def test_accuracies_weighted_like_keras():
    one_hot = np.eye(3)[CLASSES]
    assert result(metrics.CategoricalAccuracy(), one_hot, PROBABILITIES) == 0.5
    assert result(metrics.SparseCategoricalAccuracy(), CLASSES, PROBABILITIES) == 0.5
    weights = [1.0, 3.0, 0.5, 0.0]  # Σ w·right / Σ w
    assert result(metrics.CategoricalAccuracy(), one_hot, PROBABILITIES, weights) == pytest.approx(1.5 / 4.5)
    assert result(metrics.SparseCategoricalAccuracy(), CLASSES, PROBABILITIES, weights) == pytest.approx(1.5 / 4.5)
    # Binary accuracy over two outputs: a sample counts the fraction of its outputs that are right.
    binary = metrics.BinaryAccuracy()
    assert result(binary, [[1, 0], [1, 1]], [[0.7, 0.6], [0.8, 0.9]], [2.0, 1.0]) == pytest.approx(2 / 3)


def test_accuracies_accumulate_over_batches_and_reset():
    metric = metrics.SparseCategoricalAccuracy()
    result(metric, CLASSES[:1], PROBABILITIES[:1])
    assert result(metric, CLASSES[1:], PROBABILITIES[1:]) == 0.5  # 2 right of 4
    metric.reset_state()
    assert metric.result() == 0.0


def test_top_k_counts_ties_as_found_like_keras_in_top_k():
    assert result(metrics.TopKCategoricalAccuracy(k=1), np.eye(3)[CLASSES], PROBABILITIES) == 0.5
    # k=2: sample 1's label is 2nd best and sample 3's is tied for 2nd: all four are found.
    assert result(metrics.SparseTopKCategoricalAccuracy(k=2), CLASSES, PROBABILITIES) == 1.0
    assert result(metrics.SparseTopKCategoricalAccuracy(k=1), [0], [[0.3, 0.3, 0.4]]) == 0.0
    assert result(metrics.SparseTopKCategoricalAccuracy(k=2), [0], [[0.3, 0.3, 0.4]]) == 1.0
    assert metrics.TopKCategoricalAccuracy().k == 5  # Keras' default


Y_BINARY = np.array([[1], [0], [1], [1], [0]])
P_BINARY = np.array([[0.9], [0.6], [0.4], [0.7], [0.2]])


def test_precision_and_recall_by_hand():
    # Above 0.5: 0.9 (TP), 0.6 (FP), 0.7 (TP); 0.4 is a FN.
    assert result(metrics.Precision(), Y_BINARY, P_BINARY) == pytest.approx(2 / 3)
    assert result(metrics.Recall(), Y_BINARY, P_BINARY) == pytest.approx(2 / 3)
    weights = [1.0, 2.0, 1.0, 3.0, 1.0]  # TP 1 + 3, FP 2, FN 1
    assert result(metrics.Precision(), Y_BINARY, P_BINARY, weights) == pytest.approx(4 / 6)
    assert result(metrics.Recall(), Y_BINARY, P_BINARY, weights) == pytest.approx(4 / 5)
    assert result(metrics.Precision(thresholds=0.8), Y_BINARY, P_BINARY) == 1.0
    assert result(metrics.Recall(thresholds=0.8), Y_BINARY, P_BINARY) == pytest.approx(1 / 3)
    assert metrics.Precision().result() == 0.0  # nothing predicted positive yet: 0, not NaN
    # (N, K) outputs are N·K decisions; a sample's weight covers all its outputs.
    precision = result(metrics.Precision(), [[1, 0], [0, 1]], [[0.9, 0.8], [0.1, 0.7]], [1.0, 3.0])
    assert precision == pytest.approx(4 / 5)  # TP 1 + 3, FP 1


def auc_from_thresholds(y, p, w, num_thresholds=200):
    """Keras' definition: counts of p > t at T thresholds, trapezoids over (FPR, TPR)."""
    thresholds = [-1e-7] + [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)] + [1 + 1e-7]
    tpr = np.array([w[(p > t) & (y == 1)].sum() for t in thresholds]) / w[y == 1].sum()
    fpr = np.array([w[(p > t) & (y == 0)].sum() for t in thresholds]) / w[y == 0].sum()
    return np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2)


def test_auc_follows_keras_thresholds_and_interpolation():
    rng = np.random.default_rng(4)
    y, p, w = rng.integers(0, 2, 300), rng.uniform(0, 1, 300), rng.uniform(0, 2, 300)
    metric = metrics.AUC()
    for rows in (slice(0, 100), slice(100, 300)):  # accumulated over two batches
        metric.update_state(y[rows, None], p[rows, None].astype(np.float32), w[rows].astype(np.float32))
    assert metric.result() == pytest.approx(auc_from_thresholds(y, p.astype(np.float32), w), rel=1e-6)
    assert result(metrics.AUC(num_thresholds=11), y[:, None], p[:, None]) == pytest.approx(
        auc_from_thresholds(y, p.astype(np.float32), np.ones(300), num_thresholds=11), rel=1e-6)


def test_auc_is_the_pair_ranking_probability_when_predictions_are_apart():
    """With every prediction in a bucket of its own, the ROC area is P(p_positive > p_negative)."""
    p = np.random.default_rng(5).permutation(np.linspace(0.02, 0.98, 24))
    y = np.arange(24) % 3 == 0
    w = 1.0 + np.arange(24) % 4
    pairs = [(i, j) for i in np.flatnonzero(y) for j in np.flatnonzero(~y)]
    expected = sum(w[i] * w[j] * (p[i] > p[j]) for i, j in pairs) / sum(w[i] * w[j] for i, j in pairs)
    assert result(metrics.AUC(), y[:, None], p[:, None], w) == pytest.approx(expected, rel=1e-6)
    assert result(metrics.AUC(), [[1], [0]], [[0.5], [0.5]]) == 0.5  # a tie counts half
    assert result(metrics.AUC(), [[1], [1]], [[0.2], [0.9]]) == 0.0  # no negatives: 0, not NaN


def test_confusion_matrix_rows_are_true_classes():
    matrix = metrics.confusion_matrix([0, 1, 2, 2, 1], [0, 2, 2, 2, 1])
    np.testing.assert_array_equal(matrix, [[1, 0, 0], [0, 1, 1], [0, 0, 2]])
    assert matrix.dtype == np.int32
    np.testing.assert_array_equal(metrics.confusion_matrix(np.array([[1], [0]]), [1, 1], num_classes=3),
                                  [[0, 1, 0], [0, 1, 0], [0, 0, 0]])
    with pytest.raises(ValueError, match=r"shape \(2, 3\).*np.argmax\(y_pred, axis=1\)"):
        metrics.confusion_matrix([0, 1], np.eye(3)[:2])
    with pytest.raises(ValueError, match="class id 3 with num_classes=3.*num_classes=4"):
        metrics.confusion_matrix([0, 3], [0, 1], num_classes=3)
    with pytest.raises(ValueError, match="integers >= 0"):
        metrics.confusion_matrix([0, -1], [0, 1])
    with pytest.raises(ValueError, match="received 2 and 3"):
        metrics.confusion_matrix([0, 1], [0, 1, 1])


# Keras 3.15's values for these labels and predictions (one 0.5 prediction: not above the threshold).
COUNT_LABELS = np.array([[1], [0], [1], [0], [1]])
COUNT_PREDICTIONS = np.array([[0.9], [0.8], [0.2], [0.1], [0.5]])


@pytest.mark.parametrize("cls, plain, weighted_at_0_3", [
    (metrics.TruePositives, 1.0, 6.0), (metrics.FalsePositives, 1.0, 2.0),
    (metrics.TrueNegatives, 1.0, 4.0), (metrics.FalseNegatives, 2.0, 3.0)])
def test_confusion_counts_as_keras_counts_them(cls, plain, weighted_at_0_3):
    assert result(cls(), COUNT_LABELS, COUNT_PREDICTIONS) == plain
    assert result(cls(thresholds=0.3), COUNT_LABELS, COUNT_PREDICTIONS, [1, 2, 3, 4, 5]) == weighted_at_0_3
    assert metrics.get(cls().name, sparse_labels=False, output_width=1).name == cls().name


@pytest.mark.parametrize("metric", [metrics.BinaryAccuracy(threshold=0.7), metrics.TopKCategoricalAccuracy(k=3),
                                    metrics.Precision(thresholds=0.3, name="p"), metrics.Recall(),
                                    metrics.AUC(num_thresholds=50), metrics.SparseTopKCategoricalAccuracy(),
                                    metrics.TruePositives(thresholds=0.2), metrics.FalseNegatives(name="misses")])
def test_config_round_trip(metric):
    assert type(metric).from_config(metric.get_config()).get_config() == metric.get_config()


def binary_problem():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((200, 4)).astype(np.float32)
    return x, (x[:, 0] - x[:, 1] > 0).astype(np.float32)


def test_binary_metrics_by_name_and_class_in_a_model(backend):
    x, y = binary_problem()
    axonal.set_seed(2)
    model = Sequential([Input(shape=(4,)), Dense(8, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=["accuracy", "binary_accuracy", "precision", metrics.Recall(), "auc"])
    history = model.fit(x, y, epochs=3, batch_size=50, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "binary_accuracy", "precision", "recall", "auc"}
    logs = model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    predictions = model.predict(x, verbose=0)
    assert logs["accuracy"] == logs["binary_accuracy"] == pytest.approx(np.mean((predictions[:, 0] > 0.5) == y))
    assert logs["auc"] == pytest.approx(result(metrics.AUC(), y[:, None], predictions), rel=1e-6)
    assert logs["precision"] == pytest.approx(result(metrics.Precision(), y[:, None], predictions), rel=1e-6)


def test_categorical_metrics_by_name_in_a_model(backend):
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 6, 120)
    x = rng.standard_normal((120, 6)).astype(np.float32) + 2 * np.eye(6, dtype=np.float32)[labels]
    axonal.set_seed(3)
    for loss, names, y in [("categorical_crossentropy", ["categorical_accuracy", "top_k_categorical_accuracy"],
                            to_categorical(labels, 6)),
                           ("sparse_categorical_crossentropy",
                            ["sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy"], labels)]:
        model = Sequential([Input(shape=(6,)), Dense(6, activation="softmax")])
        model.compile(optimizer="adam", loss=loss, metrics=names)
        model.fit(x, y, epochs=2, verbose=0)
        logs = model.evaluate(x, y, verbose=0, return_dict=True)
        predictions = model.predict(x, verbose=0)
        assert logs[names[0]] == pytest.approx(np.mean(predictions.argmax(axis=1) == labels))
        top5 = (predictions > predictions[np.arange(120), labels][:, None]).sum(axis=1) < 5
        assert logs[names[1]] == pytest.approx(np.mean(top5))


def test_a_metric_that_cannot_read_the_labels_says_what_to_do():
    model = Sequential([Input(shape=(4,)), Dense(3, activation="softmax")])
    with pytest.raises(ValueError, match="one-hot rows with loss='categorical_crossentropy'"):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["precision"])


@pytest.mark.parametrize("metric, expected", [  # Keras 3.15's values for the same calls
    (metrics.FalseNegatives(), 4.0), (metrics.Precision(), 0.5), (metrics.Recall(), 0.33333334),
    (metrics.AUC(), 0.58333331), (metrics.BinaryAccuracy(), 0.4)])
def test_metrics_called_by_a_program_take_one_value_a_sample_and_lists(metric, expected):
    labels, predictions = [1, 0, 1, 1, 0, 1], [0.9, 0.8, 0.3, 0.6, 0.2, 0.4]
    metric.update_state(labels, predictions, sample_weight=[1, 2, 3, 1, 2, 1])
    assert metric.result() == pytest.approx(expected, rel=1e-6)
