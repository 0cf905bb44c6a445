"""Early stopping: the MNIST MLP trained until its validation loss stops improving.

The callbacks lesson of the Keras tutorials: instead of guessing the number of epochs, ask for
many (``--epochs``, 50) and let ``EarlyStopping(monitor='val_loss', patience=2,
restore_best_weights=True)`` end training once the validation loss has failed to improve for 2
epochs in a row, then put back the weights of the best epoch. ``validation_split=0.2`` holds out
the last 20% of the training images (taken before shuffling) to measure that loss.

The program prints the epoch training stopped at, the best epoch, and checks what
``restore_best_weights`` promises: the restored model's loss on the validation rows is the best
``val_loss`` of the run. The test set is used once, at the end.

Fashion-MNIST is used because its training split ships with this project's data folder.

Measured by hand (cpu backend, seed 1, 48,000 training and 12,000 validation images): stopped at
**epoch 11** of 50, best epoch 9 (val_loss 0.3148), **0.8809 test accuracy** with the restored weights.

Run it from the repository root::

    python examples/early_stopping.py
    python examples/early_stopping.py --limit 2000 --backend numpy

Options: ``--epochs`` (50, the most it may run), ``--limit N`` (use the first N training images,
validation included), ``--backend cpu|cuda|numpy``, ``--seed`` (1).
"""
import argparse

import axonal
from axonal.callbacks import EarlyStopping
from axonal.datasets import fashion_mnist
from axonal.layers import Dense, Dropout, Input
from axonal.models import Sequential
from axonal.optimizers import RMSprop
from axonal.utils import to_categorical

num_classes = 10


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Train the MNIST MLP with early stopping.")
    parser.add_argument("--epochs", type=int, default=50, help="the most epochs to run")
    parser.add_argument("--limit", type=int, default=None, help="use the first N training images only")
    parser.add_argument("--backend", choices=["cpu", "cuda", "numpy"], default=None)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.backend:
        axonal.set_backend(args.backend)
    axonal.set_seed(args.seed)

    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    x_train = x_train.reshape(len(x_train), 784).astype("float32") / 255
    x_test = x_test.reshape(len(x_test), 784).astype("float32") / 255
    y_train = to_categorical(y_train, num_classes)
    y_test = to_categorical(y_test, num_classes)

    model = Sequential([
        Input(shape=(784,)),
        Dense(512, activation="relu"),
        Dropout(0.2),
        Dense(512, activation="relu"),
        Dropout(0.2),
        Dense(num_classes, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer=RMSprop(), metrics=["accuracy"])

    early_stopping = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True, verbose=1)
    history = model.fit(x_train, y_train, batch_size=128, epochs=args.epochs, validation_split=0.2,
                        callbacks=[early_stopping], verbose=2)

    epochs_run = len(history.history["loss"])
    best_epoch = early_stopping.best_epoch + 1  # the callback counts epochs from 0, the log from 1
    best_val_loss = min(history.history["val_loss"])
    if early_stopping.stopped_epoch > 0:
        print(f"Stopped at epoch {early_stopping.stopped_epoch + 1} of {args.epochs}: val_loss had not "
              f"improved for {early_stopping.patience} epochs.")
    else:
        print(f"Ran all {args.epochs} epochs: val_loss was still improving.")
    print(f"Best epoch: {best_epoch} (val_loss {best_val_loss:.4f})")

    # The rows validation_split held out: the last 20%, cut where fit cuts them.
    split_at = int(len(x_train) * (1 - 0.2))
    restored_val_loss, _ = model.evaluate(x_train[split_at:], y_train[split_at:], batch_size=128, verbose=0)
    print(f"val_loss of the restored weights: {restored_val_loss:.4f}")

    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    print("Test accuracy:", test_accuracy)
    stopped_epoch = early_stopping.stopped_epoch + 1 if early_stopping.stopped_epoch > 0 else None
    return {"epochs_run": epochs_run, "stopped_epoch": stopped_epoch, "best_epoch": best_epoch,
            "best_val_loss": best_val_loss, "restored_val_loss": restored_val_loss, "test_accuracy": test_accuracy}


if __name__ == "__main__":
    main()
