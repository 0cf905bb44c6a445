"""Two models trained in turn under one DataParallel, the second larger than the first, then the
first again (tests/test_distribution_mpi.py): the shared-memory window grows between them and the
first model's loop finds its buffers again. Saves every weight, flattened, per rank.

Usage: python growth_worker.py OUT
"""
from __future__ import annotations

import sys

import numpy as np


def main(out: str) -> None:
    import axonal
    from axonal import layers
    from axonal.distribution import DataParallel, set_distribution

    dp = DataParallel()
    set_distribution(dp)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 12)).astype(np.float32)
    y = rng.integers(0, 3, size=96)

    def make(width: int):
        axonal.set_seed(3)
        model = axonal.Sequential([layers.Input((12,)), layers.Dense(width, activation="relu"),
                                   layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return model

    small, large = make(8), make(300)
    small.fit(x, y, batch_size=32, epochs=1, verbose=0)
    large.fit(x, y, batch_size=32, epochs=1, verbose=0)
    small.fit(x, y, batch_size=32, epochs=2, verbose=0)
    weights = np.concatenate([w.ravel() for w in small.get_weights() + large.get_weights()])
    np.save(f"{out}.rank{dp.rank}.npy", weights)


if __name__ == "__main__":
    main(sys.argv[1])
