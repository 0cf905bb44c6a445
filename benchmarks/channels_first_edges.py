"""What ``data_format="channels_first"`` costs: the edge transposes of a Conv2D next to its kernels.

For a few classic CNN shapes, times one training step of a Conv2D layer (forward + backward) on
channels_last data, and the four transposing copies a channels_first Conv2D adds (input, output,
output gradient, input gradient), on the ``cpu`` backend. Checks first that the channels_first
layer gives the channels_last results transposed. Prints a table; the figures are quoted in
``docs/keras-surface.md``.

With ``--epoch``: one training epoch of the Keras mnist_cnn model (synthetic 28x28 data) with
channels_first layers, layer by layer (how it ran before the native loop took channels_first
models) and in the native loop (with its transposes only where the layout changes), next to the
channels_last model in the native loop; medians of a few epochs, after checking that the two
channels_first paths give the same weights.

    PYTHONPATH=python python benchmarks/channels_first_edges.py [--epoch]
"""
from __future__ import annotations

import statistics
import sys
import time

import numpy as np

import axonal
from axonal.layers import Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D
from axonal.models import Sequential
from axonal.models.executors import support

SHAPES = [  # (batch, channels, height, width, filters): mnist_cnn, cifar10_cnn layers
    (128, 1, 28, 28, 32), (128, 32, 26, 26, 64), (32, 3, 32, 32, 32), (32, 32, 32, 32, 32), (32, 64, 16, 16, 64)]


def _best(fn, repeats: int = 7) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(n, c, h, w, f):
    rng = np.random.default_rng(0)
    x_first = rng.normal(size=(n, c, h, w)).astype(np.float32)
    x_last = np.ascontiguousarray(x_first.transpose(0, 2, 3, 1))
    last, first = Conv2D(f, 3, activation="relu"), Conv2D(f, 3, activation="relu", data_format="channels_first")
    last(x_last[:1]), first(x_first[:1])
    first.set_weights(last.get_weights())
    y_last = last.forward(x_last, True).copy()
    dy_last = rng.normal(size=y_last.shape).astype(np.float32)
    dy_first = np.ascontiguousarray(dy_last.transpose(0, 3, 1, 2))
    np.testing.assert_allclose(first.forward(x_first, True), y_last.transpose(0, 3, 1, 2), rtol=1e-6)

    def step_last():
        last.forward(x_last, True)
        last.backward(dy_last)

    def step_first():
        first.forward(x_first, True)
        first.backward(dy_first)

    def edges():  # the four copies alone, into the layer's kept buffers
        first._enter(x_first, "x_channels_last")
        first._leave(y_last, "y_channels_first")
        first._enter(dy_first, "dy_channels_last")
        first._leave(x_last, "dx_channels_first")

    return _best(step_last), _best(step_first), _best(edges)


ROWS, BATCH = 2048, 128


def _mnist_cnn(data_format: str):
    shape = (1, 28, 28) if data_format == "channels_first" else (28, 28, 1)
    axonal.set_seed(1)
    model = Sequential([Input(shape=shape), Conv2D(32, 3, activation="relu", data_format=data_format),
                        Conv2D(64, 3, activation="relu", data_format=data_format),
                        MaxPooling2D(2, data_format=data_format), Dropout(0.25), Flatten(data_format=data_format),
                        Dense(128, activation="relu"), Dropout(0.5), Dense(10, activation="softmax")])
    model.compile(optimizer="adadelta", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _epochs(data_format: str, layer_by_layer: bool, epochs: int) -> tuple[list[float], list]:
    rng = np.random.default_rng(0)
    x = rng.random((ROWS, 28, 28, 1), dtype=np.float32)
    if data_format == "channels_first":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    y = rng.integers(0, 10, ROWS)
    model = _mnist_cnn(data_format)
    original = support.training_problem
    if layer_by_layer:
        support.training_problem = lambda *args: "the benchmark asks for the layer-by-layer executor"
    try:
        times = []
        for _ in range(epochs):
            start = time.perf_counter()
            model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
            times.append(time.perf_counter() - start)
    finally:
        support.training_problem = original
    return times, model.get_weights()


def epoch_table(epochs: int = 3) -> None:
    import warnings

    warnings.simplefilter("ignore", UserWarning)  # the fast-path note of the forced layer-by-layer runs
    axonal.set_backend("cpu")
    before, before_weights = _epochs("channels_first", True, epochs)
    after, after_weights = _epochs("channels_first", False, epochs)
    for a, b in zip(before_weights, after_weights, strict=True):  # same bits, so a fair comparison
        np.testing.assert_array_equal(a, b)
    last, _ = _epochs("channels_last", False, epochs)
    print(f"mnist_cnn epoch, {ROWS} rows, batch {BATCH}, cpu backend (median of {epochs})")
    for label, times in (("channels_first, layer by layer (before)", before),
                         ("channels_first, native loop (after)", after), ("channels_last, native loop", last)):
        print(f"  {label:42} {statistics.median(times):7.3f} s   {', '.join(f'{t:.3f}' for t in times)}")


def main() -> None:
    if "--epoch" in sys.argv:
        epoch_table()
        return
    print(f"{'N, C, H, W -> F':24} {'channels_last step':>19} {'channels_first step':>20} {'4 transposes':>13} "
          f"{'share':>6}")
    for shape in SHAPES:
        t_last, t_first, t_edges = measure(*shape)
        label = f"{shape[:4]} -> {shape[4]}"
        print(f"{label:24} {t_last * 1e3:16.2f} ms {t_first * 1e3:17.2f} ms {t_edges * 1e3:10.2f} ms "
              f"{100 * t_edges / t_last:5.0f}%")


if __name__ == "__main__":
    main()
