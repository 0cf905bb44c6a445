"""Runners for the two Keras-style APIs: axonal (``cpu`` or ``numpy`` backend) and Keras 3.

Both are driven through what their users write: ``Sequential``, ``compile``, ``fit``, ``predict``.
The APIs agree, so one class holds the model builder and the training calls, and the subclasses
only say where the classes come from. Every runner (also ``torch_runner``, ``jax_scan_runner``)
offers the interface that ``worker`` drives for all workloads:

* ``build(spec, optimizer, learning_rate, metrics)`` -> a model compiled with the spec's loss (and
  the accuracy metric when ``metrics``: the seed programs track it; the sweep times bare steps);
* ``prepare(spec, x, y)`` -> training data in the framework's form (outside any timing);
* ``train(model, data, batch_size, epochs)`` -> (seconds of each epoch, loss of the last epoch);
* ``predict(model, x, batch_size)`` -> probabilities as a NumPy array;
* ``set_weights(model, weights)`` -> the weights in Keras' ``get_weights`` order (W7);
* ``threads()`` -> the thread count the framework computes with.
"""
from __future__ import annotations

import os
import time


class KerasStyleRunner:
    """Shared by axonal and Keras. Subclasses set ``Sequential``, ``Input``, ``layers``, ``optimizers``,
    ``to_categorical`` and ``Callback`` from their package."""

    def build(self, spec, optimizer: str, learning_rate: float, metrics: bool = True):
        """The one model builder for every workload. Optimisers keep Keras' defaults besides the rate:
        RMSprop rho 0.9, Adam betas 0.9/0.999, epsilon 1e-7 for both."""
        layers = self.layers
        if spec.functional:
            return self._compile(self._functional(spec), spec, optimizer, learning_rate, metrics)
        model = [self.Input(shape=tuple(spec.input_shape))]
        for layer in spec.layers:
            kind = layer[0]
            if kind == "dense":
                model.append(layers.Dense(layer[1], activation=layer[2]))
            elif kind == "dropout":
                model.append(layers.Dropout(layer[1]))
            elif kind == "conv":
                model.append(layers.Conv2D(layer[1], (layer[2], layer[2]), activation=layer[3]))
            elif kind == "maxpool":
                model.append(layers.MaxPooling2D((layer[1], layer[1])))
            elif kind == "flatten":
                model.append(layers.Flatten())
            else:
                raise ValueError(f"unknown layer {layer!r}")
        return self._compile(self.Sequential(model), spec, optimizer, learning_rate, metrics)

    def _functional(self, spec):
        """An MLP spec with residual blocks, in the functional API."""
        layers = self.layers
        inputs = x = self.Input(shape=tuple(spec.input_shape))
        for layer in spec.layers:
            if layer[0] == "dense":
                x = layers.Dense(layer[1], activation=layer[2])(x)
            elif layer[0] == "dropout":
                x = layers.Dropout(layer[1])(x)
            elif layer[0] == "residual":
                x = layers.Add()([x, layers.Dropout(layer[3])(layers.Dense(layer[1], activation=layer[2])(x))])
            else:
                raise ValueError(f"unknown layer {layer!r} in a functional spec")
        return self.Model(inputs, x)

    def _compile(self, model, spec, optimizer: str, learning_rate: float, metrics: bool):
        opt = {"rmsprop": self.optimizers.RMSprop, "adam": self.optimizers.Adam}[optimizer](learning_rate=learning_rate)
        loss = "binary_crossentropy" if spec.binary else "categorical_crossentropy"
        model.compile(optimizer=opt, loss=loss, metrics=["accuracy"] if metrics else None)
        return model

    def prepare(self, spec, x, y):
        """One-hot labels for categorical cross-entropy, as the Keras programs being compared use."""
        return x, (y if spec.binary else self.to_categorical(y, spec.layers[-1][1]))

    def train(self, model, data, batch_size: int, epochs: int):
        seconds = []

        class EpochTimer(self.Callback):
            """Wall-clock seconds of each epoch (``fit`` shuffles; no validation)."""

            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                seconds.append(time.perf_counter() - self.start)

        history = model.fit(*data, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[EpochTimer()])
        return seconds, float(history.history["loss"][-1])

    def predict(self, model, x, batch_size: int):
        return model.predict(x, batch_size=batch_size, verbose=0)

    def set_weights(self, model, weights: list) -> None:
        """Weights in Keras' ``get_weights`` order (W7 gives every framework the same ones)."""
        model.set_weights(weights)


class AxonalRunner(KerasStyleRunner):
    """axonal on one backend: ``"cpu"`` (the native kernels), ``"numpy"`` (the reference) or ``"cuda"``
    (the GPU; ``fit`` returns once the weights are back on the host, so epoch times are complete)."""

    def __init__(self, backend: str, seed: int):
        import axonal  # an ImportError means "not installed" to the worker
        from axonal import callbacks, layers, optimizers, utils

        axonal.set_backend(backend)  # raises when the native extension is missing: reported as an error
        axonal.set_seed(seed)
        self.backend = backend
        self.Sequential, self.Input, self.layers, self.optimizers = axonal.Sequential, layers.Input, layers, optimizers
        self.Model = axonal.Model
        self.to_categorical, self.Callback = utils.to_categorical, callbacks.Callback

    def threads(self) -> int:
        if self.backend == "cuda":
            return 0  # not a CPU thread count
        if self.backend == "cpu":
            from axonal import _native
            return _native.get_num_threads()
        return len(os.sched_getaffinity(0))  # the reference computes through NumPy's BLAS


class KerasRunner(KerasStyleRunner):
    """Keras 3 on ``backend`` (tensorflow, jax or torch), which must be chosen before ``keras`` is first
    imported: each Keras backend runs in its own process."""

    def __init__(self, backend: str, seed: int):
        os.environ["KERAS_BACKEND"] = backend
        import keras  # an ImportError means "not installed" to the worker

        if keras.backend.backend() != backend:
            raise RuntimeError(f"keras runs on {keras.backend.backend()!r}, not {backend!r}: set KERAS_BACKEND "
                               "before the first import")
        keras.utils.set_random_seed(seed)
        self.keras, self.backend = keras, backend
        self.Sequential, self.Input, self.layers, self.optimizers = keras.Sequential, keras.Input, keras.layers, \
            keras.optimizers
        self.Model = keras.Model
        self.to_categorical, self.Callback = keras.utils.to_categorical, keras.callbacks.Callback

    def build(self, spec, optimizer: str, learning_rate: float, metrics: bool = True):
        self.keras.utils.clear_session()  # the sweep builds a dozen models in one process: free the old graphs
        return super().build(spec, optimizer, learning_rate, metrics)

    def threads(self) -> int:
        """Intra-op threads of the backend (their default, 0, means one per available core)."""
        cores = len(os.sched_getaffinity(0))
        if self.backend == "tensorflow":
            import tensorflow as tf
            return tf.config.threading.get_intra_op_parallelism_threads() or cores
        if self.backend == "torch":
            import torch
            return torch.get_num_threads()
        return cores  # XLA's CPU client sizes its thread pool to the cores
