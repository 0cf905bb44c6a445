"""What ``data_format="channels_first"`` costs: the edge transposes of a Conv2D next to its kernels.

For a few classic CNN shapes, times one training step of a Conv2D layer (forward + backward) on
channels_last data, and the four transposing copies a channels_first Conv2D adds (input, output,
output gradient, input gradient), on the ``cpu`` backend. Checks first that the channels_first
layer gives the channels_last results transposed. Prints a table; the figures are quoted in
``docs/keras-surface.md``.

    PYTHONPATH=python python benchmarks/channels_first_edges.py
"""
from __future__ import annotations

import time

import numpy as np

from axonal.layers import Conv2D

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


def main() -> None:
    print(f"{'N, C, H, W -> F':24} {'channels_last step':>19} {'channels_first step':>20} {'4 transposes':>13} "
          f"{'share':>6}")
    for shape in SHAPES:
        t_last, t_first, t_edges = measure(*shape)
        label = f"{shape[:4]} -> {shape[4]}"
        print(f"{label:24} {t_last * 1e3:16.2f} ms {t_first * 1e3:17.2f} ms {t_edges * 1e3:10.2f} ms "
              f"{100 * t_edges / t_last:5.0f}%")


if __name__ == "__main__":
    main()
