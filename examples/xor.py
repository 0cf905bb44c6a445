"""The XOR network of the Keras tutorials, run by axonal with only its imports changed.

XOR is the smallest problem a single neuron cannot solve (see ``single_neuron.py``): the two
classes are not separable by a line. The classic Keras program fixes that with one hidden layer,
2 inputs -> 4 tanh units -> 1 sigmoid output, written with separate ``Activation`` layers as the
old tutorials did, trained by plain SGD (learning rate 0.1) on the four rows one at a time
(``batch_size=1``) for 1,000 epochs, then prints the network's outputs for the four inputs.

Measured by hand (cpu backend, seed 1): **100% accuracy** (4/4), outputs 0.001, 0.993, 0.993,
0.010, final loss 0.007. Seeds 0 to 19 all reach 100% (checked on the cpu backend).

Run it from the repository root::

    python examples/xor.py
    python examples/xor.py --epochs 500 --backend numpy --seed 3

Options: ``--epochs`` (1000), ``--learning-rate`` (0.1), ``--backend cpu|cuda|numpy``, ``--seed``
(1). There is no ``--limit``: the four rows of the truth table are the whole task.
"""
import argparse

import numpy as np

import axonal
from axonal.layers import Activation, Dense, Input
from axonal.models import Sequential
from axonal.optimizers import SGD

# The truth table: inputs and the XOR of the two bits
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype="float32")
y = np.array([[0], [1], [1], [0]], dtype="float32")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Learn XOR with a 2-4-1 network.")
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--backend", choices=["cpu", "cuda", "numpy"], default=None)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.backend:
        axonal.set_backend(args.backend)
    axonal.set_seed(args.seed)

    model = Sequential()
    model.add(Input(shape=(2,)))
    model.add(Dense(4))
    model.add(Activation("tanh"))
    model.add(Dense(1))
    model.add(Activation("sigmoid"))

    sgd = SGD(learning_rate=args.learning_rate)
    model.compile(loss="binary_crossentropy", optimizer=sgd, metrics=["accuracy"])

    history = model.fit(X, y, batch_size=1, epochs=args.epochs, verbose=0)
    print(f"Final training loss after {args.epochs} epochs: {history.history['loss'][-1]:.4f}")

    predictions = model.predict(X, verbose=0)
    for inputs, output in zip(X.astype(int), predictions[:, 0]):
        print(f"{inputs[0]} XOR {inputs[1]} -> {output:.4f} ({int(output > 0.5)})")
    loss, accuracy = model.evaluate(X, y, verbose=0)
    print(f"Accuracy: {accuracy:.0%}")
    return {"accuracy": accuracy, "loss": loss, "predictions": predictions}


if __name__ == "__main__":
    main()
