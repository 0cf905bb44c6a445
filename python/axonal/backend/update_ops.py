"""The named optimiser ops of the compiled backends, made from the one table.

The C++ and CUDA extensions each bind a single ``optimizer_update(op, param, grad, slots, lr, step,
hyper, weight_decay)`` that runs any optimiser of their list (``AXONAL_OPTIMIZERS`` in
``cpp/include/axonal/optimizer_functors.h``). The rest of axonal calls named ops with the reference
backend's signatures (``adam_update(param, grad, m, v, v_hat, lr, beta_1, ...)``): this module makes
them, for every row of :data:`axonal.optimizers.KERNELS`, so a new optimiser needs no code here.

Example:
    >>> from axonal import _native
    >>> ops = named_updates(_native.optimizer_update)
    >>> ops["lion_update"](param, grad, m, 0.01, 0.9, 0.99)   # as reference_optimizers.lion_update
"""
from __future__ import annotations

import inspect
from numbers import Real
from typing import Any, Callable

from axonal.backend import reference_optimizers
from axonal.optimizers import KERNELS, UpdateKernel


def named_updates(update: Callable, extra: Callable[[], dict[str, Any]] | None = None) -> dict[str, Callable]:
    """``{op: function}`` for every optimiser of KERNELS, each calling ``update``.

    Args:
        update: the extension's ``optimizer_update``.
        extra: returns keyword arguments added to every call when it is made (the CUDA backend's
            current stream), or None.
    """
    return {kernel.op: _named_update(update, kernel, extra) for kernel in KERNELS.values()}


def _named_update(update: Callable, kernel: UpdateKernel, extra: Callable[[], dict[str, Any]] | None) -> Callable:
    reference = getattr(reference_optimizers, kernel.op)
    signature = inspect.signature(reference)
    names = list(signature.parameters)
    slot_names = names[2:2 + len(kernel.slots)]
    positional_count = len(names)

    def op(*args, **kwargs):
        if len(args) == positional_count and not kwargs:  # the common call: every argument in order
            values = dict(zip(names, args))
        else:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            values = bound.arguments
        hyper = [values[name] for name in kernel.hyper]
        for name, value in zip(kernel.hyper, hyper):
            if not isinstance(value, Real):  # the binding takes a list of floats: name the argument here
                raise TypeError(f"{kernel.op}(): '{name}' must be a number; received {value!r} "
                                f"({type(value).__name__}).")
        try:
            update(kernel.op, values["param"], values["grad"], [values[name] for name in slot_names], values["lr"],
                   values.get("step", 0), hyper, values["weight_decay"], **(extra() if extra is not None else {}))
        except TypeError as error:  # pybind11's own message shows the generic signature: say which op it was
            if str(error).startswith(kernel.op):
                raise
            raise TypeError(f"{kernel.op}(): {error}") from None

    op.__name__ = op.__qualname__ = kernel.op
    op.__doc__ = reference.__doc__
    op.__signature__ = signature
    return op
