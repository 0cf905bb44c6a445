"""The tables declared once in Python against every place that must follow them.

``activations.TABLE`` (name -> kernel enum index, default alpha, derivative from output or input),
``optimizers.KERNELS`` (name -> op, slot names, scalar arguments, in the op's order) and
``losses.KERNELS`` (name -> fused op) are the declarations. The C++ and CUDA extensions report their
own tables (``activation_table()``: the names of the enum ``Act`` in order with where each
derivative comes from; ``optimizer_kernels()``: their optimiser list with each update's slots and hyper-parameters), and every backend module
must implement each op with the declared arguments. An entry missing or misplaced anywhere fails
here, naming it. The CUDA checks run where ``axonal._cuda`` imports (a CUDA build, or the host
emulation of tests/cuda_host); elsewhere they skip.
"""
from __future__ import annotations

import importlib
import inspect
import re

import numpy as np
import pytest

from axonal import activations, losses, optimizers
from axonal.backend import reference, reference_activations
from axonal.backend import reference_optimizers

native = pytest.importorskip("axonal._native")


def _cuda_extension():
    try:
        return importlib.import_module("axonal._cuda")
    except ImportError as error:
        pytest.skip(f"axonal._cuda does not import here: {error}")


def _cpu_or_cuda_extension(name):
    return native if name == "cpu" else _cuda_extension()


EXTENSIONS = ["cpu", "cuda"]


def _backend_modules():
    """The backend modules that import here (reference always; cpu; cuda with a GPU or the emulation)."""
    modules = [reference]
    for name in ("cpu", "cuda"):
        try:
            modules.append(importlib.import_module(f"axonal.backend.{name}"))
        except ImportError:
            pass
    return modules


# ----- activations ---------------------------------------------------------------------------------

def test_the_activation_table_is_in_kernel_order():
    assert [row.index for row in activations.TABLE.values()] == list(range(len(activations.TABLE)))
    assert {row.derivative_from for row in activations.TABLE.values()} <= {"output", "input"}
    assert set(activations.ALIASES.values()) <= set(activations.TABLE)
    assert activations.FROM_INPUT == {"gelu", "gelu_approximate", "silu", "mish"}
    assert activations.DEFAULT_ALPHA == {"leaky_relu": 0.2, "elu": 1.0}


def test_the_reference_derives_its_activations_from_the_table():
    assert reference.ACTIVATIONS == tuple(activations.TABLE)
    implemented = set(reference_activations._FORWARD) | {"softmax"}  # softmax is a row operation of its own
    assert implemented == set(activations.TABLE)
    assert set(reference_activations._BACKWARD) | {"softmax"} == set(activations.TABLE)


@pytest.mark.parametrize("extension", EXTENSIONS)
def test_the_kernels_activation_table_is_the_declared_one(extension):
    module = _cpu_or_cuda_extension(extension)
    declared = [(name, row.derivative_from) for name, row in activations.TABLE.items()]
    assert [tuple(entry) for entry in module.activation_table()] == declared


@pytest.mark.parametrize("extension", EXTENSIONS)
def test_every_declared_activation_runs_on_the_kernels(extension):
    """Each name of the table is taken by activation_forward/backward (no entry forgotten in a
    parser); an alias is not (activations.get resolves it first)."""
    module = _cpu_or_cuda_extension(extension)
    xp = np if extension == "cpu" else importlib.import_module("cupy")
    x = xp.asarray(np.linspace(-2, 2, 6, dtype=np.float32).reshape(2, 3))
    for name, row in activations.TABLE.items():
        y, dx = xp.empty_like(x), xp.empty_like(x)
        module.activation_forward(y, x, name, row.alpha)
        module.activation_backward(dx, x, x, name, row.alpha)
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        module.activation_forward(xp.empty_like(x), x, "swish", 0.0)


def test_activation_names_resolve_to_the_table():
    for name in activations.TABLE:
        assert activations.get(name) == name
    assert activations.get("Swish") == activations.get(activations.swish) == "silu"
    assert activations.get(activations.gelu) == "gelu" and activations.get(activations.mish) == "mish"
    with pytest.raises(TypeError, match="fused kernels"):
        activations.get(activations.default_alpha)  # a function of the module that is no activation


# ----- optimisers ----------------------------------------------------------------------------------

def test_every_optimizer_class_has_its_row():
    classes = [cls for cls in vars(optimizers).values()
               if isinstance(cls, type) and issubclass(cls, optimizers.Optimizer) and cls is not optimizers.Optimizer]
    assert sorted(cls.kernel for cls in classes) == sorted(optimizers.KERNELS)
    for cls in classes:
        assert type(optimizers.get(cls.kernel)) is cls


# Options that make each optimiser create every slot its kernel can take.
ALL_SLOTS = {"sgd": dict(momentum=0.9), "rmsprop": dict(momentum=0.5, centered=True), "adam": dict(amsgrad=True)}


@pytest.mark.parametrize("name", optimizers.KERNELS)
def test_an_optimizer_builds_the_declared_slots(name):
    optimizer = type(optimizers.get(name))(**ALL_SLOTS.get(name, {}))
    optimizer.build([np.zeros(3, np.float32)])
    assert list(optimizer.slots[0]) == list(optimizers.KERNELS[name].slots)


@pytest.mark.parametrize("name", optimizers.KERNELS)
def test_the_reference_op_takes_the_declared_arguments(name):
    kernel = optimizers.KERNELS[name]
    parameters = list(inspect.signature(getattr(reference_optimizers, kernel.op)).parameters)
    assert parameters[:2] == ["param", "grad"]
    assert parameters[2 + len(kernel.slots):] == list(kernel.arguments)


@pytest.mark.parametrize("extension", EXTENSIONS)
def test_the_kernels_list_every_declared_update_with_its_arguments(extension):
    """The C++ list of optimisers (AXONAL_OPTIMIZERS) against KERNELS and the reference ops: the
    same ops, slots in the reference's order and names, the same hyper-parameters in order."""
    module = _cpu_or_cuda_extension(extension)
    table = {op: (slots, required, hyper, takes_step) for op, slots, required, hyper, takes_step in module.optimizer_kernels()}
    assert sorted(table) == sorted(kernel.op for kernel in optimizers.KERNELS.values())
    for kernel in optimizers.KERNELS.values():
        slots, required, hyper, takes_step = table[kernel.op]
        reference_names = list(inspect.signature(getattr(reference_optimizers, kernel.op)).parameters)
        assert slots == reference_names[2:2 + len(kernel.slots)], kernel.op
        assert 0 <= required <= len(slots)
        assert hyper == list(kernel.hyper), kernel.op
        assert takes_step == ("step" in kernel.arguments), kernel.op
    assert "stream" in module.optimizer_update.__doc__.splitlines()[0] or extension == "cpu"


def test_an_update_outside_the_table_is_refused():
    param = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="unknown optimizer update 'lamb_update'"):
        native.optimizer_update("lamb_update", param, np.zeros_like(param), [], 0.1, 0, [], None)
    with pytest.raises(ValueError, match="takes 1 slots"):
        native.optimizer_update("lion_update", param, np.zeros_like(param), [], 0.1, 0, [0.9, 0.99], None)
    with pytest.raises(ValueError, match="takes 2 hyper-parameters"):
        native.optimizer_update("lion_update", param, np.zeros_like(param), [np.zeros_like(param)], 0.1, 0, [0.9], None)


@pytest.mark.parametrize("module", _backend_modules(), ids=lambda module: module.NAME)
def test_every_backend_module_has_every_declared_op(module):
    ops = [kernel.op for kernel in optimizers.KERNELS.values()] + [kernel.op for kernel in losses.KERNELS.values()]
    assert [op for op in ops if not callable(getattr(module, op, None))] == []
    for kernel in optimizers.KERNELS.values():  # the Python wrappers keep the reference's argument names
        if module is not reference and not inspect.isbuiltin(getattr(module, kernel.op)):
            reference_names = list(inspect.signature(getattr(reference, kernel.op)).parameters)
            assert list(inspect.signature(getattr(module, kernel.op)).parameters) == reference_names


def test_optimizer_hyper_parameters_are_attributes():
    for name, kernel in optimizers.KERNELS.items():
        optimizer = optimizers.get(name)
        for argument in kernel.arguments:
            assert optimizer._argument(argument) is not None or argument == "weight_decay", (name, argument)


# ----- losses --------------------------------------------------------------------------------------

def test_every_loss_class_takes_its_row():
    for name, kernel in losses.KERNELS.items():
        loss = losses.get(name)
        assert (loss.table_name, loss.kernel, loss.fused_activation, loss.sparse_labels) == (
            name, kernel.op, kernel.fused_activation, kernel.sparse_labels)
        assert kernel.fused_activation is None or kernel.fused_activation in activations.TABLE
