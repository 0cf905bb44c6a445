"""Helpers the model-level tests share: which executor ran a fit, and a model's one-step weight
change against finite differences of its loss."""
from __future__ import annotations

import numpy as np

from axonal.models.executors import NativeExecutor, support


def fit_on_path(model, x, y, use_native: bool, monkeypatch, **fit_args):
    """``model.fit(x, y, **fit_args)`` in the native loop or, with ``use_native`` False, layer by
    layer (forced); checks that the asked path is the one that ran. Returns the History."""
    calls = []
    with monkeypatch.context() as patch:
        if not use_native:
            patch.setattr(support, "training_problem", lambda *args: "the test asks for Python")
        native_epoch = NativeExecutor.train_epoch
        patch.setattr(NativeExecutor, "train_epoch", lambda *args: calls.append(1) or native_epoch(*args))
        history = model.fit(x, y, verbose=0, **fit_args)
    assert bool(calls) == use_native
    return history


def check_step_against_finite_differences(model, x, y, weight, rtol: float = 3e-2, atol: float = 2e-4):
    """For a model compiled with SGD at learning rate 1, one ``train_on_batch`` moves ``weight``
    (one of its arrays, changed in place) by minus its gradient: compare that move with central
    differences of the loss (float32 losses, steps of 1e-3)."""
    before = weight.astype(np.float64)
    numeric = np.zeros_like(before)
    for index in np.ndindex(weight.shape):
        losses = []
        for step in (1e-3, -1e-3):
            weight[index] = before[index] + step
            losses.append(model.test_on_batch(x, y))
        weight[index] = before[index]
        numeric[index] = (losses[0] - losses[1]) / 2e-3
    model.train_on_batch(x, y)
    np.testing.assert_allclose(before - weight, numeric, rtol=rtol, atol=atol)
