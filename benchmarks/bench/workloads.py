"""What is measured: the models, data, hyper-parameters and accuracy bands, the same for every framework.

Models are plain data (``ModelSpec``) so that each framework's runner builds them with its own one
model-building function, and so that a spec crosses to a child process as JSON. Only NumPy is
imported here: this module also runs inside the peers' interpreter.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

AXONAL = ("axonal", "axonal-numpy")
PEERS = ("torch", "keras-tensorflow", "keras-jax", "keras-torch", "jax-scan", "onnxruntime")
FRAMEWORKS = AXONAL + PEERS
# Run under the interpreter that runs run.py (axonal's): onnxruntime runs the file axonal exports.
THIS_INTERPRETER = AXONAL + ("onnxruntime",)
ON_CUDA = ("axonal", "torch")  # run.py --device cuda: axonal's cuda backend against PyTorch CUDA eager
WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "W6", "W7", "sweep")
# The reference backend is slow, jax-scan is hand-written per model, onnxruntime only runs an exported
# model: each covers only these.
COVERS = {"axonal-numpy": ("W1", "W4"), "jax-scan": ("W1", "W2"), "onnxruntime": ("W7",)}

QUICK_TRAIN_ROWS = 2560   # --quick: tiny subsets for smoke runs, never benchmarks
QUICK_TEST_ROWS = 2000
FASHION_TEST_ROWS = 10000


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A model: input shape and layers such as ``("dense", 512, "relu")``, ``("dropout", 0.2)``,
    ``("conv", 32, 3, "relu")`` (3x3, stride 1, valid), ``("maxpool", 2)``, ``("flatten",)``, and the
    residual block ``("residual", 512, "relu", 0.2)``: ``x + Dropout(0.2)(Dense(512, "relu")(x))``
    (a functional model's Add; the input width must be 512).

    The last layer is a Dense with softmax (categorical cross-entropy, integer labels) or sigmoid
    (binary cross-entropy, labels (N, 1)): the loss follows from it.
    """

    input_shape: tuple
    layers: tuple

    @property
    def binary(self) -> bool:
        return self.layers[-1][2] == "sigmoid"

    def dense_shapes(self) -> list[tuple[int, int]]:
        """(C, K) of every Dense of a flat-input model, in order."""
        shapes, width = [], int(np.prod(self.input_shape))
        for layer in self.layers:
            if layer[0] in ("dense", "residual"):
                shapes.append((width, layer[1]))
                width = layer[1]
        return shapes

    @property
    def functional(self) -> bool:
        """Whether the model is a graph (a residual block) rather than a stack."""
        return any(layer[0] == "residual" for layer in self.layers)


def mlp(inputs: int, widths: tuple, activation: str, outputs: int, output_activation: str,
        dropout: float = 0.0) -> ModelSpec:
    """An MLP spec: one Dense per width (each followed by Dropout when ``dropout`` > 0), then the output."""
    layers = []
    for width in widths:
        layers.append(("dense", width, activation))
        if dropout:
            layers.append(("dropout", dropout))
    layers.append(("dense", outputs, output_activation))
    return ModelSpec((inputs,), tuple(layers))


SEED_CNN = ModelSpec((28, 28, 1), (
    ("conv", 32, 3, "relu"), ("conv", 32, 3, "relu"), ("maxpool", 2),
    ("conv", 64, 3, "relu"), ("conv", 64, 3, "relu"), ("maxpool", 2), ("flatten",),
    ("dense", 1024, "sigmoid"), ("dropout", 0.2), ("dense", 1024, "sigmoid"), ("dropout", 0.2),
    ("dense", 10, "softmax"),
))


@dataclasses.dataclass(frozen=True)
class Workload:
    """One timed training workload: model, optimiser (Keras' defaults besides the rate), batch, data, band."""

    name: str
    title: str
    model: ModelSpec
    optimizer: str           # "rmsprop" (rho 0.9, eps 1e-7) or "adam" (0.9, 0.999, eps 1e-7)
    batch: int
    data: str                # "fashion-flat", "fashion-images" or "churn"
    min_accuracy: float      # test accuracy below this: FAILED, not used for ratios
    learning_rate: float = 0.001
    # Timed epochs at least (outside --quick): W2's epochs are short (a few tens of ms for axonal), so
    # one run's median needs more of them to be stable (the speed issue asks for >= 10).
    min_timed_epochs: int = 1


SEED_MLP = mlp(784, (512, 512), "relu", 10, "softmax", dropout=0.2)
# W1's GEMMs (784-512, 512-512, 512-10) with the second Dense as a residual block: the same FLOPs
# plus one Add, for the functional engine's cost per FLOP against W1's.
RESIDUAL_MLP = ModelSpec((784,), (("dense", 512, "relu"), ("dropout", 0.2), ("residual", 512, "relu", 0.2),
                                  ("dense", 10, "softmax")))
TRAINING = {
    "W1": Workload("W1", "seed MLP 784-512-512-10, Dropout 0.2, RMSprop, batch 128", SEED_MLP, "rmsprop",
                   128, "fashion-flat", 0.80),
    "W2": Workload("W2", "churn 11-6-6-1, Adam, batch 10, synthetic 8,000 rows", mlp(11, (6, 6), "relu", 1, "sigmoid"),
                   "adam", 10, "churn", 0.70, min_timed_epochs=10),
    "W3": Workload("W3", "sigmoid MLP 784-784-800-10, Adam, batch 64", mlp(784, (784, 800), "sigmoid", 10, "softmax"),
                   "adam", 64, "fashion-flat", 0.80),
    "W5": Workload("W5", "seed CNN (4 conv, 2 x Dense 1024 sigmoid), Adam, batch 32", SEED_CNN, "adam", 32,
                   "fashion-images", 0.75),
    "W6": Workload("W6", "functional residual MLP, W1's FLOPs (784-512, 512-512 + Add, 512-10), RMSprop, batch 128",
                   RESIDUAL_MLP, "rmsprop", 128, "fashion-flat", 0.80),
}
PREDICT_BATCH, PREDICT_CALLS, PREDICT_MIN_ACCURACY = 128, 5, 0.80   # W4: predict with W1's model

SWEEP_BATCHES, SWEEP_WIDTHS = (16, 32, 64, 128, 256, 512, 1024), (128, 256, 512, 1024, 2048, 4096)
QUICK_SWEEP_BATCHES, QUICK_SWEEP_WIDTHS = (32, 256), (256, 1024)
SWEEP_WIDTH, SWEEP_BATCH = 512, 128     # the fixed width of the batch axis, the batch of the width axis


def sweep_configs(quick: bool) -> list[dict]:
    """The sweep's configurations, each measured once (batch 128 x width 512 sits on both axes)."""
    batches, widths = (QUICK_SWEEP_BATCHES, QUICK_SWEEP_WIDTHS) if quick else (SWEEP_BATCHES, SWEEP_WIDTHS)
    configs = [{"batch": b, "width": SWEEP_WIDTH} for b in batches]
    configs += [{"batch": SWEEP_BATCH, "width": w} for w in widths if {"batch": SWEEP_BATCH, "width": w} not in configs]
    return configs


def sweep_model(width: int) -> ModelSpec:
    return mlp(784, (width, width), "relu", 10, "softmax")


def frameworks_for(workload: str) -> tuple:
    """The frameworks that run ``workload``."""
    return tuple(f for f in FRAMEWORKS if workload in COVERS.get(f, WORKLOADS))


def training_flops(model: ModelSpec, rows: int) -> float:
    """FLOPs of one epoch of a Dense-only model: forward, weight gradients, and input gradients of all
    but the first layer (2·C·K each); elementwise work and the optimiser are not counted."""
    shapes = model.dense_shapes()
    per_row = sum(4 * c * k for c, k in shapes) + sum(2 * c * k for c, k in shapes[1:])
    return float(rows) * per_row


# ----- data -------------------------------------------------------------------------------------

def make_churn(path: str | os.PathLike) -> None:
    """Write the W2 table to ``path`` (.npz): a deterministic synthetic stand-in for the bank-churn data.

    10,000 rows of 11 columns shaped like the tutorial's features (flags, skewed and zero-inflated
    amounts, counts), standardised with the training rows' statistics; the label is drawn from a
    fixed logistic rule with a non-linear term (the product count, squared), so the hidden layers
    matter. The best possible test accuracy is about 0.84 and the classes are near balance (45%),
    so a model that learns nothing cannot pass the 0.70 band.
    """
    rng = np.random.default_rng(0)
    n, n_train = 10000, 8000
    raw = np.column_stack([
        rng.random(n) < 0.25, rng.random(n) < 0.25, rng.normal(650, 95, n), rng.random(n) < 0.55,
        rng.gamma(9.0, 4.4, n), rng.integers(0, 11, n),
        np.where(rng.random(n) < 0.35, 0.0, rng.normal(1.2e5, 3e4, n)), rng.integers(1, 5, n),
        rng.random(n) < 0.7, rng.random(n) < 0.5, rng.uniform(0, 2e5, n),
    ]).astype(np.float64)
    z = (raw - raw[:n_train].mean(0)) / raw[:n_train].std(0)
    weights = np.array([0.9, 0.1, -0.2, -0.5, 1.6, -0.1, 0.5, 0.0, -0.1, -1.0, 0.05])
    logit = 1.3 * (z @ weights + 1.2 * (z[:, 7] ** 2 - 1.0) - 0.3)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float32).reshape(-1, 1)
    x = z.astype(np.float32)
    np.savez(path, x_train=x[:n_train], y_train=y[:n_train], x_test=x[n_train:], y_test=y[n_train:])


def _fashion_mnist():
    """Fashion-MNIST through axonal's loader: installed axonal, else the checkout's pure-Python one
    (a peer's interpreter has no axonal; the loader needs only NumPy)."""
    try:
        from axonal.datasets import fashion_mnist
    except ImportError:
        sys.path.insert(0, str(ROOT / "python"))
        from axonal.datasets import fashion_mnist
    return fashion_mnist.load_data()


def load_data(kind: str, train_rows: int | None, test_rows: int, churn_npz: str | None):
    """``x_train, y_train, x_test, y_test`` as float32 inputs and int64 class ids (float32 (N, 1) for churn).

    ``kind`` is ``"fashion-flat"`` (N, 784), ``"fashion-images"`` (N, 28, 28, 1) or ``"churn"``;
    pixels are scaled to [0, 1]. ``train_rows`` keeps the first rows (None: all).
    """
    if kind == "churn":
        with np.load(churn_npz) as table:
            x_train, y_train, x_test, y_test = (table[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    else:
        (x_train, y_train), (x_test, y_test) = _fashion_mnist()
        shape = (-1, 784) if kind == "fashion-flat" else (-1, 28, 28, 1)
        x_train, x_test = (a.reshape(shape).astype(np.float32) / 255.0 for a in (x_train, x_test))
        y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)
    return x_train[:train_rows], y_train[:train_rows], x_test[:test_rows], y_test[:test_rows]


def accuracy(model: ModelSpec, probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Test accuracy from predicted probabilities: argmax for softmax outputs, p > 0.5 for sigmoid."""
    if model.binary:
        return float(((probabilities > 0.5) == (labels > 0.5)).mean())
    return float((probabilities.argmax(axis=1) == labels).mean())
