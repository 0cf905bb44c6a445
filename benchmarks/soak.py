"""Soak test: does memory stay flat over long training runs?

Two runs, each recording the resident set size (RSS, from ``/proc/self/statm``) after every epoch:

* the churn tutorial's model (11-6-6-1, ReLU, sigmoid, Adam, batch 10) on the synthetic churn
  table of ``examples/churn.py``: 8,000 training rows, 800 steps per epoch, 200 epochs -- many
  small steps, where a per-step leak of a few bytes adds up;
* the seed MLP (784-512-512-10, Dropout 0.2, RMSprop, batch 128) on Fashion-MNIST (found through
  ``AXONAL_DATA`` etc.; random data of the same shape when absent), 20 epochs -- large buffers,
  where one leaked activation per step would be megabytes.

For each it prints the epochs, seconds, RSS after the first and the last epoch, the peak, and the
slope of a least-squares line through the second half of the epochs (bytes per epoch: the first
epochs include one-off allocations such as the buffers and the optimiser slots). Writes JSON.
Slow (minutes): run it by hand, on an otherwise idle machine, not in the test suite.

Usage:
    AXONAL_DATA=../shared/data python benchmarks/soak.py [--churn-epochs 200] [--mlp-epochs 20]
        [--backend cpu] [--json soak.json]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import platform
import time

import numpy as np

import axonal
from axonal.callbacks import Callback
from axonal.layers import Dense, Dropout, Input
from axonal.models import Sequential

ROOT = pathlib.Path(__file__).resolve().parents[1]
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int:
    """The process's resident set size now (Linux ``/proc``; elsewhere the peak from ``resource``)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except OSError:
        import resource  # the peak, not the current size: still flat when nothing leaks
        scale = 1 if platform.system() == "Darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


class ResidentMemory(Callback):
    """Records RSS (bytes) and elapsed seconds after every epoch."""

    def on_train_begin(self, logs=None):
        self.rss: list[int] = []
        self.seconds: list[float] = []
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.rss.append(resident_bytes())
        self.seconds.append(time.perf_counter() - self._start)


def slope(values: list[int]) -> float:
    """Bytes per epoch of a least-squares line through the second half of ``values``."""
    half = np.asarray(values[len(values) // 2:], dtype=np.float64)
    if len(half) < 2:
        return 0.0
    return float(np.polyfit(np.arange(len(half)), half, 1)[0])


def summary(name: str, recorder: ResidentMemory, steps_per_epoch: int, **extra) -> dict:
    return {"run": name, "epochs": len(recorder.rss), "steps_per_epoch": steps_per_epoch,
            "seconds": recorder.seconds[-1], "rss_first_epoch": recorder.rss[0], "rss_last_epoch": recorder.rss[-1],
            "rss_peak": max(recorder.rss), "slope_bytes_per_epoch": slope(recorder.rss),
            "rss_per_epoch": recorder.rss, **extra}


def churn_data():
    """The training rows of examples/churn.py's synthetic table, encoded and scaled as there."""
    spec = importlib.util.spec_from_file_location("churn_example", ROOT / "examples" / "churn.py")
    churn = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(churn)
    x, y = churn.encode_features(churn.synthetic_churn_table(seed=0))
    x_train, _, y_train, _, _ = churn.train_test_split(x, y, test_size=0.2, random_state=0)
    x_train = (x_train - x_train.mean(axis=0)) / x_train.std(axis=0)
    return x_train.astype(np.float32), y_train.astype(np.float32)


def soak_churn(epochs: int) -> dict:
    x, y = churn_data()
    axonal.set_seed(1)
    model = Sequential([Input(shape=(11,)), Dense(6, kernel_initializer="uniform", activation="relu"),
                        Dense(6, kernel_initializer="uniform", activation="relu"),
                        Dense(1, kernel_initializer="uniform", activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    recorder = ResidentMemory()
    history = model.fit(x, y, batch_size=10, epochs=epochs, verbose=0, callbacks=[recorder])
    return summary("churn 11-6-6-1", recorder, -(-len(x) // 10), final_accuracy=history.history["accuracy"][-1])


def fashion_mnist_or_synthetic():
    from axonal.datasets import fashion_mnist
    from axonal.utils import to_categorical
    try:
        (x, y), _ = fashion_mnist.load_data()
        source = "Fashion-MNIST"
    except Exception as error:  # noqa: BLE001 -- any reason the data is missing: fall back
        print(f"Fashion-MNIST not found ({type(error).__name__}); using random data of the same shape")
        rng = np.random.default_rng(0)
        x, y = rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8), rng.integers(0, 10, 60000)
        source = "synthetic"
    return x.reshape(len(x), 784).astype(np.float32) / 255, to_categorical(y, 10), source


def soak_mlp(epochs: int) -> dict:
    x, y, source = fashion_mnist_or_synthetic()
    axonal.set_seed(7)
    model = Sequential([Input(shape=(784,)), Dense(512, activation="relu"), Dropout(0.2),
                        Dense(512, activation="relu"), Dropout(0.2), Dense(10, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    recorder = ResidentMemory()
    history = model.fit(x, y, batch_size=128, epochs=epochs, verbose=0, callbacks=[recorder])
    return summary(f"seed MLP 784-512-512-10 ({source})", recorder, -(-len(x) // 128),
                   final_accuracy=history.history["accuracy"][-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--churn-epochs", type=int, default=200)
    parser.add_argument("--mlp-epochs", type=int, default=20)
    parser.add_argument("--backend", default="cpu")
    parser.add_argument("--json", default="soak.json")
    args = parser.parse_args()
    axonal.set_backend(args.backend)

    rss_at_start = resident_bytes()
    results = []
    for run, epochs in ((soak_churn, args.churn_epochs), (soak_mlp, args.mlp_epochs)):
        results.append(run(epochs))
        print(f"{results[-1]['run']}: {epochs} epochs in {results[-1]['seconds']:.0f} s", flush=True)
    mib = 2**20
    print(f"backend {args.backend}, {platform.processor() or platform.machine()}, RSS at start "
          f"{rss_at_start / mib:.1f} MiB")
    print(f"{'run':<44} {'epochs':>6} {'steps/ep':>8} {'seconds':>8} {'RSS 1st':>9} {'RSS last':>9} "
          f"{'peak':>9} {'slope (2nd half)':>17}")
    for r in results:
        print(f"{r['run']:<44} {r['epochs']:>6} {r['steps_per_epoch']:>8} {r['seconds']:>8.1f} "
              f"{r['rss_first_epoch'] / mib:>5.1f} MiB {r['rss_last_epoch'] / mib:>5.1f} MiB "
              f"{r['rss_peak'] / mib:>5.1f} MiB {r['slope_bytes_per_epoch']:>+10.0f} B/epoch")
    with open(args.json, "w") as file:
        json.dump({"backend": args.backend, "rss_at_start": rss_at_start, "runs": results}, file, indent=1)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
