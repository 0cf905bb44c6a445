"""Seconds per epoch of the seed MLP on Fashion-MNIST, per axonal backend.

The seed MLP is 784-512-512-10 (ReLU, Dropout 0.2, softmax), RMSprop, batch 128. Each backend
trains from the same seed for ``--epochs`` epochs; its test accuracy must land in the expected band
before its times are reported (a fast wrong answer is not a result). Prints a table and writes JSON.

Usage:
    AXONAL_DATA=../shared/data python benchmarks/mlp_epoch.py [--epochs 3] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics

import numpy as np

import axonal
from axonal.callbacks import EpochTimer
from axonal.datasets import fashion_mnist
from axonal.layers import Dense, Dropout, Input
from axonal.models import Sequential
from axonal.utils import to_categorical

MIN_TEST_ACCURACY = 0.80  # after one epoch the seed MLP reaches about 0.83-0.85 on Fashion-MNIST


def seed_mlp() -> Sequential:
    model = Sequential([Input(shape=(784,)), Dense(512, activation="relu"), Dropout(0.2),
                        Dense(512, activation="relu"), Dropout(0.2), Dense(10, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def run_backend(name, data, epochs):
    (x_train, y_train), (x_test, y_test) = data
    axonal.set_backend(name)
    axonal.set_seed(7)
    model = seed_mlp()
    timer = EpochTimer()
    model.fit(x_train, y_train, batch_size=128, epochs=epochs, verbose=0, callbacks=[timer])
    _, accuracy = model.evaluate(x_test, y_test, batch_size=1024, verbose=0)
    if accuracy < MIN_TEST_ACCURACY:
        raise SystemExit(f"{name}: test accuracy {accuracy:.4f} is below {MIN_TEST_ACCURACY}: not timing a wrong result")
    return {"backend": name, "seconds_per_epoch": statistics.median(timer.seconds),
            "epoch_seconds": timer.seconds, "test_accuracy": accuracy}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--backends", default="numpy,cpu")
    parser.add_argument("--json", default="")
    args = parser.parse_args()

    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    data = ((x_train.reshape(-1, 784).astype(np.float32) / 255, to_categorical(y_train, 10)),
            (x_test.reshape(-1, 784).astype(np.float32) / 255, to_categorical(y_test, 10)))
    results = [run_backend(name, data, args.epochs) for name in args.backends.split(",")]

    baseline = results[0]["seconds_per_epoch"]
    print(f"seed MLP, Fashion-MNIST, batch 128, {args.epochs} epochs each, {os.cpu_count()} cores, "
          f"{platform.processor() or platform.machine()}")
    print(f"{'backend':8} {'s/epoch (median)':>17} {'speed-up':>9} {'test acc':>9}")
    for result in results:
        print(f"{result['backend']:8} {result['seconds_per_epoch']:17.3f} "
              f"{baseline / result['seconds_per_epoch']:8.1f}x {result['test_accuracy']:9.4f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"workload": "seed_mlp_epoch", "epochs": args.epochs, "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
