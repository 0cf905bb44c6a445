"""The demo: train the classic Keras MNIST MLP and show what axonal does.

Run ``python -m axonal.demo`` (options: ``--dataset mnist|fashion-mnist``, ``--epochs``,
``--backend``, ``--batch-size``, ``--out`` a .png path or a folder). It prints the model summary,
a progress bar per epoch, the seconds per epoch and the test accuracy, and writes a PNG with the
loss/accuracy curves and a grid of test images with their predicted labels (misclassified ones in
red) when matplotlib is installed. When no copy of the dataset can be found or downloaded it says
so in one line and trains on the 8×8 digits that ship inside scikit-learn instead, so it works on
any machine, offline too.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import axonal
from axonal.callbacks import EpochTimer
from axonal.layers import Dense, Dropout, Input
from axonal.models import Sequential
from axonal.optimizers import RMSprop
from axonal.utils import to_categorical

DEFAULT_FIGURE = "axonal-demo.png"
CLASS_NAMES = {
    "fashion-mnist": ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"],
}


def load_images(dataset: str):
    """(x_train, y_train), (x_test, y_test), image side and the name of what was loaded."""
    from axonal.datasets import fashion_mnist, mnist

    loader = {"mnist": mnist, "fashion-mnist": fashion_mnist}[dataset]
    try:
        (x_train, y_train), (x_test, y_test) = loader.load_data()
        return (x_train, y_train), (x_test, y_test), 28, dataset
    except Exception as error:  # any way of not having the data ends in the same fallback
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"{dataset} is not available here ({first_line}); using scikit-learn's 8x8 digits instead.")
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit("Neither the dataset nor scikit-learn is available: pip install 'axonal[demo]', "
                 "or point AXONAL_DATA at a folder holding the IDX files.")
    digits = load_digits()
    images = (digits.images * (255.0 / 16.0)).astype(np.uint8)
    order = np.random.default_rng(0).permutation(len(images))
    images, labels = images[order], digits.target[order]
    split = int(0.8 * len(images))
    return (images[:split], labels[:split]), (images[split:], labels[split:]), 8, "sklearn-digits"


def build_model(pixels: int) -> Sequential:
    """The classic Keras MNIST MLP: 512 relu, dropout 0.2, twice, then softmax over 10 classes."""
    model = Sequential([
        Input(shape=(pixels,)),
        Dense(512, activation="relu"),
        Dropout(0.2),
        Dense(512, activation="relu"),
        Dropout(0.2),
        Dense(10, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer=RMSprop(), metrics=["accuracy"])
    return model


def save_figure(path, history, x_test, y_test, predicted, side, names):
    """Loss/accuracy curves and a grid of 24 test images titled with their predicted labels."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no figure written (pip install 'axonal[demo]').")
        return
    figure = plt.figure(figsize=(12, 6))
    curves = figure.add_gridspec(2, 1, left=0.06, right=0.3, hspace=0.45)
    for row, metric in enumerate(["loss", "accuracy"]):
        axes = figure.add_subplot(curves[row])
        epochs = np.arange(1, len(history[metric]) + 1)
        axes.plot(epochs, history[metric], "o-", label="train")
        if "val_" + metric in history:
            axes.plot(epochs, history["val_" + metric], "s--", label="test")
        axes.set_xticks(epochs)
        axes.set_xlabel("epoch")
        axes.set_title(metric)
        axes.legend()
    grid = figure.add_gridspec(4, 6, left=0.36, right=0.98, wspace=0.1, hspace=0.5)
    for index in range(min(24, len(x_test))):
        axes = figure.add_subplot(grid[index // 6, index % 6])
        axes.imshow(x_test[index].reshape(side, side), cmap="gray")
        wrong = predicted[index] != y_test[index]
        label = names[predicted[index]] if names else str(predicted[index])
        axes.set_title(label + (f" ({names[y_test[index]] if names else y_test[index]})" if wrong else ""),
                       color="red" if wrong else "black", fontsize=8)
        axes.axis("off")
    figure.suptitle("Test images with predicted labels (red: wrong, true label in brackets)", x=0.67)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    print(f"Figure written to {path}")


def figure_path(out: str) -> str | None:
    """Where ``--out`` asks the figure to go: None for '', ``<folder>/axonal-demo.png`` for a folder,
    else the ``.png`` path itself. Checked before training, so a typo costs no training run.

    Raises:
        ValueError: a path that is not a .png file in an existing folder, naming it and the fix.
    """
    if not out:
        return None
    if os.path.isdir(out):
        return os.path.join(out, DEFAULT_FIGURE)
    if out.endswith(os.sep):
        raise ValueError(f"--out {out!r}: no such folder. Fix: create it first, or give a .png file path.")
    if not out.lower().endswith(".png"):
        raise ValueError(f"--out {out!r}: the figure is a PNG; give a path ending in .png (e.g. --out "
                         f"{os.path.splitext(out)[0] or 'figure'}.png), a folder to write {DEFAULT_FIGURE} in, or "
                         "'' for no figure.")
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise ValueError(f"--out {out!r}: the folder {folder!r} does not exist. Fix: create it first, or "
                         "choose another path.")
    return out


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(prog="python -m axonal.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["mnist", "fashion-mnist"], default="mnist")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--backend", choices=["cpu", "numpy", "cuda"], default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=DEFAULT_FIGURE,
                        help=f"PNG to write, or a folder to write {DEFAULT_FIGURE} in ('' for none)")
    args = parser.parse_args(argv)
    try:
        out = figure_path(args.out)
    except ValueError as error:
        parser.error(str(error))  # exits with the usage line and status 2, before any training

    if args.backend:
        axonal.set_backend(args.backend)
    axonal.set_seed(args.seed)
    (x_train, y_train), (x_test, y_test), side, source = load_images(args.dataset)
    pixels = side * side
    x_train = x_train.reshape(len(x_train), pixels).astype(np.float32) / 255.0
    x_test = x_test.reshape(len(x_test), pixels).astype(np.float32) / 255.0
    print(f"Training on {source}: {len(x_train)} training and {len(x_test)} test images, "
          f"backend '{axonal.backend.backend_name()}'.")

    model = build_model(pixels)
    model.summary()
    timer = EpochTimer()
    history = model.fit(x_train, to_categorical(y_train, 10), batch_size=args.batch_size, epochs=args.epochs,
                        verbose=1, validation_data=(x_test, to_categorical(y_test, 10)), callbacks=[timer])
    loss, accuracy = model.evaluate(x_test, to_categorical(y_test, 10), verbose=0)
    print(f"Seconds per epoch: {np.median(timer.seconds):.2f} (median of {len(timer.seconds)})")
    print(f"Test loss: {loss:.4f}")
    print(f"Test accuracy: {accuracy:.4f}")
    if out:
        predicted = model.predict(x_test[:24], verbose=0).argmax(axis=1)
        save_figure(out, history.history, x_test, y_test, predicted, side, CLASS_NAMES.get(source))
    return accuracy


if __name__ == "__main__":
    main()
