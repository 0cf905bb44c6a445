"""The single-neuron trainer of the Keras tutorials, run by axonal with only its imports changed.

The first network of many courses: one ``Dense(1, activation="sigmoid")`` unit -- logistic
regression, a smooth perceptron -- learns a logic gate from its truth table with plain SGD, and
the program prints its outputs and the line ``w1·x1 + w2·x2 + b = 0`` it learned to separate the
two classes. ``--gate`` picks OR (the default), AND, NAND or NOR, which one neuron learns, or XOR,
which it cannot: no line separates XOR's classes, so at most 3 of the 4 rows come out right (the
two-layer ``xor.py`` solves it).

Measured by hand (cpu backend, seed 1, 500 epochs of batch 1 at learning rate 0.5): **100%** on OR,
AND, NAND and NOR (OR learns the boundary 8.69·x1 + 8.69·x2 − 3.88 = 0); XOR stays at 50%, every output near 0.5.

Run it from the repository root::

    python examples/single_neuron.py
    python examples/single_neuron.py --gate and --epochs 300 --backend numpy

Options: ``--gate or|and|nand|nor|xor``, ``--epochs`` (500), ``--learning-rate`` (0.5),
``--backend cpu|cuda|numpy``, ``--seed`` (1). There is no ``--limit``: the four rows of the truth
table are the whole task.
"""
import argparse

import numpy as np

import axonal
from axonal.layers import Dense, Input
from axonal.models import Sequential
from axonal.optimizers import SGD

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype="float32")
GATES = {
    "or": np.array([0, 1, 1, 1]),
    "and": np.array([0, 0, 0, 1]),
    "nand": np.array([1, 1, 1, 0]),
    "nor": np.array([1, 0, 0, 0]),
    "xor": np.array([0, 1, 1, 0]),  # not linearly separable: one neuron cannot get it right
}


def signed(value: float) -> str:
    """``+ 1.50`` or ``- 1.50``, to print an equation as it is written by hand."""
    return f"{'-' if value < 0 else '+'} {abs(value):.2f}"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Train one sigmoid neuron on a logic gate.")
    parser.add_argument("--gate", choices=sorted(GATES), default="or")
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--learning-rate", type=float, default=0.5)
    parser.add_argument("--backend", choices=["cpu", "cuda", "numpy"], default=None)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.backend:
        axonal.set_backend(args.backend)
    axonal.set_seed(args.seed)
    y = GATES[args.gate]

    # One neuron: y = sigmoid(w1·x1 + w2·x2 + b)
    model = Sequential([Input(shape=(2,)), Dense(1, activation="sigmoid")])
    model.compile(optimizer=SGD(learning_rate=args.learning_rate), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit(X, y, batch_size=1, epochs=args.epochs, verbose=0)

    outputs = model.predict(X, verbose=0)[:, 0]
    for inputs, target, output in zip(X.astype(int), y, outputs):
        print(f"{inputs[0]} {args.gate.upper()} {inputs[1]} = {target}: neuron says {output:.3f}")
    kernel, bias = model.get_weights()
    w1, w2, b = float(kernel[0, 0]), float(kernel[1, 0]), float(bias[0])
    print(f"Learned boundary: {w1:.2f}·x1 {signed(w2)}·x2 {signed(b)} = 0")
    loss, accuracy = model.evaluate(X, y, verbose=0)
    print(f"Accuracy: {accuracy:.0%}")
    if args.gate == "xor":
        print("XOR is not linearly separable: one neuron can get at most 3 of the 4 rows right (see xor.py).")
    return {"accuracy": accuracy, "loss": loss, "weights": (w1, w2, b), "outputs": outputs}


if __name__ == "__main__":
    main()
