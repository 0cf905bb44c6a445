"""W5: seconds per epoch of the seed CNN on Fashion-MNIST, axonal against the installed peers.

The seed CNN: Conv2D(32, 3x3, relu) x2 -> MaxPooling2D(2) -> Conv2D(64, 3x3, relu) x2 ->
MaxPooling2D(2) -> Flatten -> Dense(1024, sigmoid) -> Dropout(0.2) -> Dense(1024, sigmoid) ->
Dropout(0.2) -> Dense(10, softmax); Adam (lr 0.001), batch 32, categorical cross-entropy.

Every framework runs in its own process (Keras picks its backend at import), on the same data and
hyper-parameters, for ``--epochs`` epochs on the first ``--limit`` training images; its test
accuracy on the 10k test images must reach ``--min-accuracy`` before its time counts. Peers that are
not installed are listed as such. Prints a table (with each framework's time relative to axonal)
and writes JSON.

Usage:
    AXONAL_DATA=../shared/data python benchmarks/cnn_epoch.py [--epochs 2] [--limit 60000]
        [--frameworks axonal,torch,keras-jax,keras-tensorflow,keras-torch] [--json out.json]
    A peer's interpreter can be given with --peer-python (e.g. a venv holding torch, jax, keras).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

FRAMEWORKS = ["axonal", "torch", "keras-jax", "keras-tensorflow", "keras-torch"]


def load_fashion_mnist(limit: int):
    """Float32 images (N, 28, 28, 1) in [0, 1] and int labels, read with axonal's loader."""
    import numpy as np

    try:
        from axonal.datasets import fashion_mnist
    except ImportError:  # a peer's interpreter: axonal's pure-Python loader from the checkout
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
        from axonal.datasets import fashion_mnist

    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    prepare = lambda images: (images.reshape(-1, 28, 28, 1).astype(np.float32) / 255.0)  # noqa: E731
    return prepare(x_train[:limit]), y_train[:limit].astype(np.int64), prepare(x_test), y_test.astype(np.int64)


def run_axonal(data, epochs, seed):
    import axonal
    from axonal.callbacks import EpochTimer
    from axonal.layers import Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D
    from axonal.models import Sequential
    from axonal.utils import to_categorical

    x_train, y_train, x_test, y_test = data
    axonal.set_seed(seed)
    model = Sequential([
        Input(shape=(28, 28, 1)),
        Conv2D(32, (3, 3), activation="relu"), Conv2D(32, (3, 3), activation="relu"), MaxPooling2D((2, 2)),
        Conv2D(64, (3, 3), activation="relu"), Conv2D(64, (3, 3), activation="relu"), MaxPooling2D((2, 2)),
        Flatten(), Dense(1024, activation="sigmoid"), Dropout(0.2), Dense(1024, activation="sigmoid"),
        Dropout(0.2), Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    timer = EpochTimer()
    model.fit(x_train, to_categorical(y_train, 10), batch_size=32, epochs=epochs, verbose=0, callbacks=[timer])
    _, accuracy = model.evaluate(x_test, to_categorical(y_test, 10), batch_size=256, verbose=0)
    return timer.seconds, accuracy


def run_keras(data, epochs, seed):
    import keras

    x_train, y_train, x_test, y_test = data
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, (3, 3), activation="relu"), layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"), layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(), layers.Dense(1024, activation="sigmoid"), layers.Dropout(0.2),
        layers.Dense(1024, activation="sigmoid"), layers.Dropout(0.2), layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    seconds = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            import time
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            import time
            seconds.append(time.perf_counter() - self.start)

    one_hot = keras.utils.to_categorical
    model.fit(x_train, one_hot(y_train, 10), batch_size=32, epochs=epochs, verbose=0, callbacks=[Timer()])
    _, accuracy = model.evaluate(x_test, one_hot(y_test, 10), batch_size=256, verbose=0)
    return seconds, float(accuracy)


def run_torch(data, epochs, seed):
    import time

    import torch
    from torch import nn

    x_train, y_train, x_test, y_test = data
    torch.manual_seed(seed)
    to_nchw = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).contiguous()  # noqa: E731
    x_train_t, x_test_t = to_nchw(x_train), to_nchw(x_test)
    y_train_t = torch.from_numpy(y_train)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1024, 1024), nn.Sigmoid(), nn.Dropout(0.2),
        nn.Linear(1024, 1024), nn.Sigmoid(), nn.Dropout(0.2), nn.Linear(1024, 10),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(x_train_t))
        for first in range(0, len(order), 32):
            rows = order[first:first + 32]
            optimizer.zero_grad()
            loss = loss_fn(model(x_train_t[rows]), y_train_t[rows])
            loss.backward()
            optimizer.step()
        seconds.append(time.perf_counter() - start)
    model.eval()
    with torch.no_grad():
        predicted = torch.cat([model(x_test_t[i:i + 256]).argmax(1) for i in range(0, len(x_test_t), 256)])
    return seconds, float((predicted.numpy() == y_test).mean())


def worker(args):
    """Run one framework in this process and print its result as one JSON line."""
    import resource

    if args.worker.startswith("keras-"):
        os.environ["KERAS_BACKEND"] = args.worker.split("-", 1)[1]
    runner = {"axonal": run_axonal, "torch": run_torch}.get(args.worker, run_keras)
    seconds, accuracy = runner(load_fashion_mnist(args.limit), args.epochs, args.seed)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"framework": args.worker, "epoch_seconds": seconds, "test_accuracy": accuracy,
                      "peak_rss_mb": peak_mb}))


def measure(framework, args):
    python = sys.executable if framework == "axonal" else (args.peer_python or sys.executable)
    command = [python, __file__, "--worker", framework, "--epochs", str(args.epochs), "--limit", str(args.limit),
               "--seed", str(args.seed)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"framework": framework, "error": last}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["seconds_per_epoch"] = statistics.median(result["epoch_seconds"])
    if result["test_accuracy"] < args.min_accuracy:
        result["error"] = f"test accuracy {result['test_accuracy']:.4f} below {args.min_accuracy}: not timed"
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=60000, help="train on the first N images")
    parser.add_argument("--min-accuracy", type=float, default=0.85)
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument("--peer-python", default="", help="interpreter with the peers installed")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", default="")
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    results = [measure(name, args) for name in args.frameworks.split(",")]
    reference = next((r["seconds_per_epoch"] for r in results if r["framework"] == "axonal" and "error" not in r), None)
    print(f"W5 seed CNN, Fashion-MNIST, {args.limit} training images, batch 32, {args.epochs} epochs, "
          f"{os.cpu_count()} cores")
    print(f"{'framework':18} {'s/epoch':>9} {'x axonal':>9} {'test acc':>9} {'peak RSS MB':>12}")
    for r in results:
        if "error" in r:
            print(f"{r['framework']:18} {'-':>9} {'-':>9} {'-':>9} {'-':>12}  ({r['error']})")
            continue
        ratio = f"{r['seconds_per_epoch'] / reference:8.2f}x" if reference else "-"
        print(f"{r['framework']:18} {r['seconds_per_epoch']:9.2f} {ratio:>9} {r['test_accuracy']:9.4f} "
              f"{r['peak_rss_mb']:12.0f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"workload": "W5_seed_cnn_epoch", "limit": args.limit, "epochs": args.epochs,
                       "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
