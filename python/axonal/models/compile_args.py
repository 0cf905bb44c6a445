"""What ``compile`` sets, resolved and checked before anything of the model changes.

``compile`` used to set the optimiser, then look the loss up, then resolve the metrics while
configuring the output layer: an unknown metric name or a loss that does not fit the output
layer raised with the new optimiser and loss already in place and the output layer
reconfigured. :func:`resolve` does every lookup and check first, so a refused ``compile`` leaves
the model as it was (compiled as before, or not at all).
"""
from __future__ import annotations

from typing import Any

from axonal import losses, metrics as metrics_module, optimizers
from axonal.models import numerics

__all__ = ["check_output_activation", "resolve"]


def resolve(model, optimizer: Any, loss: Any, metrics: Any, check_numerics: bool | None):
    """``(optimizer, loss, check_numerics)`` as ``compile`` will set them, after checking that the
    loss fits the model's output layer and that the metrics resolve for it.

    Raises:
        ValueError, TypeError: for the first argument that cannot be used, as ``compile`` would.
    """
    optimizer = optimizers.get(optimizer)
    loss = losses.get(loss)
    check_numerics = numerics.resolve(check_numerics)
    layers = model.layers
    if layers:
        check_output_activation(loss, layers[-1])
    # The output width decides what "accuracy" means; before the model is built, any width but 1
    # checks the names and label forms (a width-1 mismatch is then found by fit, as before).
    width = model.output_shape[-1] if model.built else 2
    metrics_module.get_list(metrics, loss.sparse_labels, width)
    return optimizer, loss, check_numerics


def check_output_activation(loss: losses.Loss, output_layer) -> None:
    """Refuse a cross-entropy that absorbs an activation (softmax, sigmoid) the output layer does
    not end in, unless the loss was told it receives logits."""
    fused = loss.fused_activation
    if fused is None or loss.from_logits or output_layer.output_activation == fused:
        return
    ending = output_layer.output_activation or "no activation"
    raise ValueError(
        f"Loss {loss.name!r} expects the output layer {output_layer.name!r} to end in a "
        f"{fused} activation, but it ends in {ending}. "
        f"Fix: use activation='{fused}' on the last layer, or pass "
        f"{type(loss).__name__}(from_logits=True) if it outputs logits.")
