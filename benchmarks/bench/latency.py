"""W7, predict latency: the seed MLP's ``predict`` of 1 row and of 10,000 rows, where a model is served.

Every framework predicts with the same weights (drawn once by the parent, :func:`make_latency_data`)
on the same rows, so before anything is timed each child checks its probabilities against a
float64 NumPy forward pass of those weights (:func:`reference_probabilities`): a framework whose
outputs disagree is ``FAILED check`` and enters no ratio. Then, after warm-up calls:

- **1 row**: single-row ``predict`` calls, one at a time, for about :data:`ONE_ROW_SECONDS` (at
  least :data:`ONE_ROW_MIN_CALLS`, at most :data:`ONE_ROW_MAX_CALLS`); the median call.
- **10k rows**: :data:`MANY_ROWS_CALLS` calls on all rows as one batch; the median call.

The 10k rows go in as one batch everywhere (``batch_size`` = the rows for the Keras-style APIs, one
forward pass for PyTorch, one ``run`` for onnxruntime): a server predicts a request at once.
Only NumPy is imported here: this module also runs in the peers' interpreter.
"""
from __future__ import annotations

import statistics
import time

import numpy as np

from bench import workloads as wl

ROWS, QUICK_ROWS = 10000, 2000
ONE_ROW_SECONDS, ONE_ROW_MIN_CALLS, ONE_ROW_MAX_CALLS = 1.0, 20, 2000
QUICK_ONE_ROW_SECONDS = 0.05
WARMUP_CALLS, MANY_ROWS_CALLS = 10, 5
# Largest |difference| from the float64 reference a framework's float32 probabilities may show.
TOLERANCE = 1e-4


def make_latency_data(path, seed: int = 0) -> None:
    """Write W7's weights and rows to ``path`` (.npz): Glorot-uniform kernels and small random biases
    for the seed MLP 784-512-512-10 (NumPy seed ``seed``), and 10,000 rows of pixel-like values
    (multiples of 1/255 in [0, 1], as the scaled Fashion-MNIST images)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for index, (fan_in, fan_out) in enumerate(wl.SEED_MLP.dense_shapes()):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        arrays[f"kernel_{index}"] = rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32)
        arrays[f"bias_{index}"] = rng.uniform(-0.05, 0.05, fan_out).astype(np.float32)
    arrays["x"] = (rng.integers(0, 256, (ROWS, 784)) / 255.0).astype(np.float32)
    np.savez(path, **arrays)


def load_latency_data(path, quick: bool) -> tuple[list[np.ndarray], np.ndarray]:
    """The weights as Keras' ``get_weights`` lists them (kernel, bias per Dense) and the rows."""
    with np.load(path) as table:
        count = len(wl.SEED_MLP.dense_shapes())
        weights = [table[f"{kind}_{i}"] for i in range(count) for kind in ("kernel", "bias")]
        x = table["x"][:QUICK_ROWS if quick else ROWS]
    return weights, x


def reference_probabilities(weights: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """The seed MLP's softmax outputs in float64 (ReLU hidden layers; Dropout is the identity)."""
    h = x.astype(np.float64)
    pairs = list(zip(weights[::2], weights[1::2]))
    for kernel, bias in pairs[:-1]:
        h = np.maximum(h @ kernel + bias, 0.0)
    z = h @ pairs[-1][0] + pairs[-1][1]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _median_call(call, calls: int) -> tuple[float, list[float]]:
    seconds = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), seconds


def run_latency(runner, data_path: str, quick: bool) -> dict:
    """W7 for one framework: build, load the weights, check the outputs, time 1 row and all rows."""
    weights, x = load_latency_data(data_path, quick)
    model = runner.build(wl.SEED_MLP, "rmsprop", 0.001, metrics=False)
    runner.set_weights(model, weights)
    expected = reference_probabilities(weights, x)
    one = x[:1].copy()
    many = np.asarray(runner.predict(model, x, len(x)))
    first = np.asarray(runner.predict(model, one, 1))
    difference = max(float(np.abs(many - expected).max()), float(np.abs(first - expected[:1]).max()))
    result = {"rows": len(x), "max_abs_difference": difference, "unit": "s/predict"}
    if many.shape != expected.shape or not difference <= TOLERANCE:
        return dict(result, status=f"FAILED check (max |difference| {difference:.2e} > {TOLERANCE:g} "
                                   f"from the float64 reference, shape {many.shape})")
    for _ in range(WARMUP_CALLS):
        runner.predict(model, one, 1)
    runner.predict(model, x, len(x))
    budget = QUICK_ONE_ROW_SECONDS if quick else ONE_ROW_SECONDS
    probe, _ = _median_call(lambda: runner.predict(model, one, 1), ONE_ROW_MIN_CALLS)
    calls = int(min(ONE_ROW_MAX_CALLS, max(ONE_ROW_MIN_CALLS, budget / max(probe, 1e-7))))
    one_row, one_row_seconds = _median_call(lambda: runner.predict(model, one, 1), calls)
    many_rows, many_seconds = _median_call(lambda: runner.predict(model, x, len(x)), 2 if quick else MANY_ROWS_CALLS)
    return dict(result, status="ok", median=one_row, one_row_calls=calls, one_row_us=one_row * 1e6,
                one_row_quartiles_us=[q * 1e6 for q in statistics.quantiles(one_row_seconds, n=4)],
                many_rows_median=many_rows, many_rows_seconds=many_seconds, seconds=[one_row])
