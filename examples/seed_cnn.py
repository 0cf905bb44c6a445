"""The seed CNN: a classic Keras convolutional network for Fashion-MNIST, run by axonal.

Apart from its imports this is the Keras program as it is usually written: two pairs of 3x3 ReLU
convolutions with 2x2 max pooling, two 1024-unit sigmoid layers with dropout, a softmax over the
10 classes, Adam, batches of 32, two epochs. About 0.90 test accuracy after the two epochs.

Run it from the repository root::

    python examples/seed_cnn.py                      # the full 60,000 training images
    python examples/seed_cnn.py --limit 512 --epochs 1 --backend numpy

Options: ``--epochs`` (2), ``--limit N`` (train on the first N images only; the test suite uses
it), ``--backend cpu|cuda|numpy`` (default: axonal's choice). The data is found as
:mod:`axonal.datasets` describes (``$AXONAL_DATA``, the system folder, the cache, a download).
"""
import argparse

import axonal
from axonal.datasets import fashion_mnist
from axonal.layers import Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D
from axonal.models import Sequential
from axonal.optimizers import Adam
from axonal.utils import to_categorical

num_classes = 10
input_shape = (28, 28, 1)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Train the seed CNN on Fashion-MNIST.")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    parser.add_argument("--backend", choices=["cpu", "cuda", "numpy"], default=None)
    return parser.parse_args(argv)


def main(argv=None) -> float:
    args = parse_args(argv)
    if args.backend:
        axonal.set_backend(args.backend)

    # The data, split between train and test sets
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    x_train, y_train = x_train[:args.limit], y_train[:args.limit]

    x_train = x_train.reshape(x_train.shape[0], 28, 28, 1).astype("float32") / 255
    x_test = x_test.reshape(x_test.shape[0], 28, 28, 1).astype("float32") / 255
    print("x_train shape:", x_train.shape)
    print(x_train.shape[0], "train samples")
    print(x_test.shape[0], "test samples")

    # Convert class vectors to binary class matrices
    y_train = to_categorical(y_train, num_classes)
    y_test = to_categorical(y_test, num_classes)

    model = Sequential([
        Input(shape=input_shape),
        Conv2D(32, kernel_size=(3, 3), activation="relu"),
        Conv2D(32, (3, 3), activation="relu"),
        MaxPooling2D(pool_size=(2, 2)),
        Conv2D(64, (3, 3), activation="relu"),
        Conv2D(64, (3, 3), activation="relu"),
        MaxPooling2D(pool_size=(2, 2)),
        Flatten(),
        Dense(1024, activation="sigmoid"),
        Dropout(0.2),
        Dense(1024, activation="sigmoid"),
        Dropout(0.2),
        Dense(num_classes, activation="softmax"),
    ])
    model.summary()

    model.compile(loss="categorical_crossentropy", optimizer=Adam(), metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=32, epochs=args.epochs, verbose=1, validation_data=(x_test, y_test))
    score = model.evaluate(x_test, y_test, verbose=0)
    print("Test loss:", score[0])
    print("Test accuracy:", score[1])
    return score[1]


if __name__ == "__main__":
    main()
