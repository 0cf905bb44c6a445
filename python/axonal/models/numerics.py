"""``check_numerics``: stop training where NaN or inf first appears, and say where.

A debug option, off by default because it reads every activation, gradient and weight once more
per step: ``model.compile(..., check_numerics=True)``, or ``AXONAL_CHECK_NUMERICS=1`` in the
environment for models compiled without the argument. Each training step then checks, in the
order they are computed,

1. every layer's output in the forward pass (the layer whose output is the first non-finite one
   is named, with what its input and its weights looked like, which tells overflow from a bad
   weight);
2. the loss and its gradient;
3. every layer's weight gradients and input gradient in the backward pass;
4. every updated weight after the optimiser step. Its weights and slots are copied first, so a
   step whose update overflows is undone before the error is raised.

A failed check raises :class:`NonFiniteError` (a ``FloatingPointError``) before anything of the
step is kept: the model holds the weights, optimiser state and step count of its last good step,
ready to be saved, inspected or trained on with a smaller learning rate. Inference (``evaluate``,
``predict``, validation) is not checked.
"""
from __future__ import annotations

import os

import numpy as np

from axonal._buffers import BufferCache

ENVIRONMENT_VARIABLE = "AXONAL_CHECK_NUMERICS"
_ON, _OFF = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


class NonFiniteError(FloatingPointError):
    """NaN or inf appeared during a training step checked by ``check_numerics``.

    Attributes:
        layer: the name of the layer where it first appeared (None when it was the loss).
        stage: ``"forward"``, ``"loss"``, ``"backward"`` or ``"update"``.
        step: the model's training step (``model.steps.value``) that failed, not applied.
    """

    def __init__(self, message: str, layer: str | None, stage: str, step: int):
        super().__init__(message)
        self.layer, self.stage, self.step = layer, stage, step

    def locate(self, epoch: int, batch: int) -> None:
        """Prefix the message with the epoch (1-based, as printed) and batch of ``fit``."""
        self.args = (f"Epoch {epoch + 1}, batch {batch}: {self.args[0]}",)


def resolve(check_numerics: bool | None) -> bool:
    """The argument of ``compile``; None reads ``$AXONAL_CHECK_NUMERICS`` (unset: off)."""
    if check_numerics is not None:
        return bool(check_numerics)
    value = os.environ.get(ENVIRONMENT_VARIABLE, "").strip().lower()
    if value not in _ON + _OFF:
        raise ValueError(f"{ENVIRONMENT_VARIABLE}={value!r} is not understood. Fix: set it to 1 (check every "
                         "training step for NaN/inf) or 0.")
    return value in _ON


def _finite(array: np.ndarray | None) -> bool:
    # A sum is finite only if every term is (NaN and inf propagate), and summing allocates
    # nothing; a non-finite sum may be an overflow of finite terms, so that case is decided exactly.
    return array is None or bool(np.isfinite(array.sum())) or bool(np.isfinite(array).all())


def _census(array: np.ndarray) -> str:
    """``"3 NaN and 2 inf among 640 values"``."""
    return (f"{int(np.isnan(array).sum())} NaN and {int(np.isinf(array).sum())} inf among "
            f"{array.size} values")


def _largest(array: np.ndarray) -> str:
    finite = np.abs(array[np.isfinite(array)])
    return f"{finite.max():.3g}" if finite.size else "none finite"


class NumericsChecker:
    """The checks of one model; :meth:`Steps.train_step` calls them when the option is on."""

    def __init__(self, model):
        self.model = model
        self._saved = BufferCache()  # copies of the weights and slots, reused from step to step

    def forward(self, xs: list) -> list:
        """The model's training forward pass, checking each layer's output as it is produced."""
        return self.model.runner.forward(xs, True, self._check_forward)

    def _check_forward(self, layer, x, y) -> None:
        if not _finite(y):
            self._fail_forward(layer, x if not isinstance(x, list) else np.concatenate([a.ravel() for a in x]), y)

    def check_loss(self, loss: float, outputs: list, doutputs: list) -> None:
        if np.isfinite(loss) and all(_finite(d) for d in doutputs):
            return
        bad = next((d for d in doutputs if not _finite(d)), doutputs[0])
        what = f"the loss ({loss})" if not np.isfinite(loss) else f"the loss gradient ({_census(bad)})"
        names = ", ".join(repr(output_loss.name) for output_loss in self.model.objective.losses)
        largest = _largest(np.concatenate([output.ravel() for output in outputs]))
        self._raise(f"{what} of {names} is non-finite although the model's outputs are finite "
                    f"(largest |output| {largest}). Fix: scale the targets, or lower the learning rate "
                    "if the outputs are huge.", None, "loss")

    def check_backward(self, layer, dx: np.ndarray | None) -> None:
        """After ``layer.backward``: its weight gradients (regularisation included), then its dx."""
        gradients = layer._gradients if layer.trainable else {}
        for name, gradient in gradients.items():
            if not _finite(gradient):
                self._raise(f"the gradient of weight {layer.name}/{name} ({_census(gradient)}) became "
                            f"non-finite in the backward pass of layer {self._describe(layer)}, from a finite "
                            "output gradient. Fix: lower the learning rate, or clip the inputs.",
                            layer.name, "backward")
        if not _finite(dx):
            self._raise(f"the input gradient of layer {self._describe(layer)} ({_census(dx)}) became non-finite "
                        "in the backward pass, from a finite output gradient. Fix: lower the learning rate.",
                        layer.name, "backward")

    def save_state(self) -> None:
        """Copy the trainable weights and their optimiser slots, to undo an update that overflows."""
        optimizer = self.model.optimizer
        for index, param in enumerate(self.model._parameters):
            np.copyto(self._saved.get(f"{index}", param.shape), param)
            for name, slot in optimizer.slots_for(param).items():
                np.copyto(self._saved.get(f"{index}/{name}", slot.shape, slot.dtype), slot)

    def check_update(self) -> None:
        """After the optimiser step: undo it and raise if any weight is no longer finite."""
        model = self.model
        for layer in model._layers:
            for name, weight in (layer._weights.items() if layer.trainable else ()):
                if not _finite(weight):
                    census = _census(weight)
                    self._restore()
                    optimizer = model.optimizer
                    self._raise(f"the {type(optimizer).__name__} update (learning_rate="
                                f"{optimizer.learning_rate:g}) made weight {layer.name}/{name} of layer "
                                f"{self._describe(layer)} non-finite ({census}) although every gradient was "
                                "finite: the step overflowed float32. The update was undone. Fix: lower the "
                                "learning rate.", layer.name, "update")

    # ----- internals ---------------------------------------------------------------------------

    def _restore(self) -> None:
        optimizer = self.model.optimizer
        for index, param in enumerate(self.model._parameters):
            np.copyto(param, self._saved.get(f"{index}", param.shape))
            for name, slot in optimizer.slots_for(param).items():
                np.copyto(slot, self._saved.get(f"{index}/{name}", slot.shape, slot.dtype))
        optimizer.iterations -= 1

    def _fail_forward(self, layer, x: np.ndarray, y: np.ndarray) -> None:
        bad = [name for name, weight in layer._weights.items() if not _finite(weight)]
        if bad:
            cause = (f"its weights {', '.join(bad)} already hold NaN/inf (set by set_weights or by hand; "
                     "training updates are checked). Fix: reload good weights.")
        else:
            weights = np.concatenate([w.ravel() for w in layer._weights.values()]) if layer._weights else None
            largest = f", largest |weight| {_largest(weights)}" if weights is not None else ""
            cause = (f"its input and weights are finite (largest |input| {_largest(x)}{largest}): the values "
                     "overflowed float32. Fix: lower the learning rate, or scale the inputs.")
        self._raise(f"the output of layer {self._describe(layer)} is non-finite ({_census(y)}) in the forward "
                    f"pass; {cause}", layer.name, "forward")

    def _describe(self, layer) -> str:
        layers = self.model._layers
        return f"{layer.name!r} ({type(layer).__name__}, layer {layers.index(layer) + 1} of {len(layers)})"

    def _raise(self, detail: str, layer: str | None, stage: str) -> None:
        step = self.model.steps.value
        raise NonFiniteError(f"check_numerics: NaN/inf first appeared at training step {step + 1} of model "
                             f"{self.model.name!r}: {detail} The model keeps the state of its last good step.",
                             layer, stage, step)
