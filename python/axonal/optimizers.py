"""Optimisers with Keras 3's maths and defaults (formulas in ``docs/design.md``).

Each parameter is updated in place by one fused backend kernel. :data:`KERNELS` declares, once,
how each optimiser calls its kernel: the op, the slot names in the op's order and its scalar
arguments in order; :meth:`Optimizer.update_step` makes every call from it, the native training
loop reads it, and ``tests/test_tables.py`` checks it against every backend (the C++ and CUDA
extensions list their updates in ``optimizer_kernels()``). An optimiser creates its slot arrays
(momenta, accumulators) in :meth:`Optimizer.build`. ``weight_decay`` is Keras' decoupled form,
``p ← p − p·wd·lr``, applied before the step.

Example:
    >>> model.compile(optimizer=RMSprop(learning_rate=0.001), loss="categorical_crossentropy")
    >>> model.compile(optimizer="adam", loss="mse")
"""
from __future__ import annotations

import inspect
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from axonal._legacy import renamed_arguments
from axonal._validation import resolve
from axonal import gradient_clipping
from axonal.backend import host_backend


class UpdateKernel(NamedTuple):
    """How an optimiser calls its backend op: ``op(param, grad, *slots, *arguments)``."""

    op: str                     # the backend op, e.g. "adam_update"
    slots: tuple[str, ...]      # slot names in the op's order (None passed for one the configuration lacks)
    arguments: tuple[str, ...]  # the op's scalar arguments in order: the optimiser's attribute of that
                                # name, except lr (learning_rate), step (iterations) and weight_decay (decay)

    @property
    def hyper(self) -> tuple[str, ...]:
        """The hyper-parameters among the arguments: all but lr, step and weight_decay."""
        return tuple(name for name in self.arguments if name not in ("lr", "step", "weight_decay"))


# The optimiser table, by the name optimizers.get takes (each class's ``kernel``).
KERNELS: dict[str, UpdateKernel] = {
    "sgd": UpdateKernel("sgd_update", ("momentum",), ("lr", "momentum", "nesterov", "weight_decay")),
    "rmsprop": UpdateKernel("rmsprop_update", ("velocity", "momentum", "average_gradient"),
                            ("lr", "rho", "momentum", "epsilon", "centered", "weight_decay")),
    "adagrad": UpdateKernel("adagrad_update", ("accumulator",), ("lr", "epsilon", "weight_decay")),
    "adadelta": UpdateKernel("adadelta_update", ("accumulated_grad", "accumulated_delta"),
                             ("lr", "rho", "epsilon", "weight_decay")),
    "adam": UpdateKernel("adam_update", ("momentum", "velocity", "velocity_hat"),
                         ("lr", "beta_1", "beta_2", "epsilon", "step", "amsgrad", "weight_decay")),
    "lion": UpdateKernel("lion_update", ("momentum",), ("lr", "beta_1", "beta_2", "weight_decay")),
    "adamax": UpdateKernel("adamax_update", ("momentum", "norm"),
                           ("lr", "beta_1", "beta_2", "epsilon", "step", "weight_decay")),
}


class Optimizer:
    """Base class.

    Args:
        learning_rate: step size, a non-negative number (a callback may change it between steps).
        weight_decay: decoupled weight decay, or None.
        name: a label for the optimiser.
        clipnorm, global_clipnorm, clipvalue: Keras' gradient clipping (at most one; see
            :mod:`axonal.gradient_clipping`).
        decay: Keras 2's time-based learning-rate decay, accepted with a DeprecationWarning.

    Attributes:
        iterations: number of update steps applied so far.
        slots: one dict of named slot arrays per parameter, created by :meth:`build` (and by
            :meth:`apply` for a parameter it meets for the first time, e.g. an unfrozen layer's).
        ops: the backend module running the updates; a model sets its own when it compiles.

    The legacy spelling ``lr`` is accepted for ``learning_rate`` by every optimiser, with a
    DeprecationWarning.
    """

    kernel: str  # the name of this optimiser's row of KERNELS (each subclass sets it)

    def __init__(self, learning_rate: float, weight_decay: float | None = None, name: str | None = None,
                 **options):
        options = gradient_clipping.check_options(type(self).__name__, options)
        self.clipnorm, self.global_clipnorm, self.clipvalue = (options[key] for key in gradient_clipping.CLIPPING)
        self.legacy_decay = options["decay"]  # Keras 2's time-based learning-rate decay, or None
        self.learning_rate = learning_rate
        if weight_decay is not None:
            weight_decay = _check_range("weight_decay", weight_decay, 0.0, None)
        self.weight_decay = weight_decay
        self.name = name or type(self).__name__.lower()
        self.iterations = 0
        self.ops: ModuleType | None = None
        self.slots: list[dict[str, np.ndarray]] = []
        self.built = False
        self._params: list[np.ndarray] = []
        self._slot_specs: dict[str, float] = {}
        self._slots_by_param: dict[int, dict[str, np.ndarray]] = {}

    @property
    def learning_rate(self) -> "LearningRate":
        """The step size. It is read at every step, so a new value (from a callback, or
        ``model.optimizer.learning_rate = 1e-4`` between ``fit`` calls) applies from the next step.
        It reads as a float, and also as Keras' variable does: ``.numpy()``, ``.assign(1e-4)``."""
        rate = self._learning_rate
        # A device executor's clone reads it from a device scalar (device_copy.py): left as it is.
        return LearningRate(rate, self) if isinstance(rate, float) else rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self._learning_rate = _check_range("learning_rate", value, 0.0, None)

    def build(self, params: list[np.ndarray]) -> None:
        """Prepare to update ``params``; subclasses call this, then :meth:`add_slot` for each slot."""
        self.ops = self.ops or host_backend()
        self._params, self.slots, self._slot_specs, self._slots_by_param = [], [], {}, {}
        for param in params:
            self._track(param)
        self.built = True

    def add_slot(self, name: str, initial_value: float = 0.0) -> None:
        """Give every parameter a slot array ``name`` of its shape, filled with ``initial_value``
        (parameters tracked later get it too)."""
        self._slot_specs[name] = initial_value
        for param, slots in zip(self._params, self.slots):
            slots[name] = np.full_like(param, initial_value)

    def retain(self, params: list[np.ndarray]) -> None:
        """Forget the slots of every parameter not in ``params`` (the weights of removed layers);
        frozen weights passed here keep theirs, so unfreezing resumes from their state."""
        keep = {id(param) for param in params}
        kept = [(param, slots) for param, slots in zip(self._params, self.slots) if id(param) in keep]
        self._params, self.slots = [param for param, _ in kept], [slots for _, slots in kept]
        self._slots_by_param = {id(param): slots for param, slots in kept}

    def apply(self, grads: list[np.ndarray], params: list[np.ndarray]) -> None:
        """Apply one update step to every parameter, in place (building the slots on first use)."""
        if not self.built:
            self.build(params)
        self.iterations += 1
        grads = gradient_clipping.clip_gradients(grads, self.clipnorm, self.global_clipnorm, self.clipvalue)
        for param, grad in zip(params, grads):
            self.update_step(param, grad, self.slots_for(param))

    def slots_for(self, param: np.ndarray) -> dict[str, np.ndarray]:
        """The slots of ``param``, created at their initial values when it has none yet.

        Parameters are known by identity: the trainable set may shrink or grow between steps
        (layers frozen or unfrozen), and a frozen parameter keeps its slots for when it thaws.
        """
        slots = self._slots_by_param.get(id(param))
        return self._track(param) if slots is None else slots

    def existing_slots(self, param: np.ndarray) -> dict[str, np.ndarray] | None:
        """The slots of ``param``, or None when this optimiser never updated it."""
        return self._slots_by_param.get(id(param))

    def _track(self, param: np.ndarray) -> dict[str, np.ndarray]:
        """Create the slots of a parameter not seen before (kept in ``_params`` so its id stays unique)."""
        slots = {name: np.full_like(param, value) for name, value in self._slot_specs.items()}
        self._params.append(param)
        self.slots.append(slots)
        self._slots_by_param[id(param)] = slots
        return slots

    def update_step(self, param: np.ndarray, grad: np.ndarray, slots: dict[str, np.ndarray]) -> None:
        """Update one parameter in place from its gradient and its slots: the call KERNELS declares."""
        kernel = KERNELS[self.kernel]
        getattr(self.ops, kernel.op)(param, grad, *map(slots.get, kernel.slots), *map(self._argument, kernel.arguments))

    def _argument(self, name: str) -> Any:
        """The value of the kernel argument ``name`` (KERNELS) for the next step."""
        if name == "lr":
            return gradient_clipping.decayed_learning_rate(self.learning_rate, self.legacy_decay, self.iterations)
        if name == "step":
            return self.iterations  # 1-based: apply() counts the step before making it
        if name == "weight_decay":
            return self.kernel_weight_decay
        return getattr(self, name)

    @property
    def kernel_weight_decay(self) -> float:
        """The weight decay as the kernels take it (0 for none)."""
        return self.weight_decay or 0.0

    @property
    def runs_in_python(self) -> str | None:
        """What this optimiser does outside its fused kernel (gradient clipping, Keras 2's decay),
        which the compiled executors do not run, or None."""
        for name in (*gradient_clipping.CLIPPING, "legacy_decay"):
            if getattr(self, name):
                return f"{'decay' if name == 'legacy_decay' else name}={getattr(self, name)}"
        return None

    @property
    def variables(self) -> list[np.ndarray]:
        """Every slot array, for counting the optimiser's state."""
        return [array for slots in self.slots for array in slots.values()]

    def get_config(self) -> dict:
        """The constructor arguments (every subclass keeps each argument under the same name)."""
        arguments = inspect.signature(type(self).__init__).parameters
        config = {name: getattr(self, name) for name in arguments if name not in ("self", "options")}
        config.update({name: getattr(self, name) for name in gradient_clipping.CLIPPING if getattr(self, name)})
        if self.legacy_decay:
            config["decay"] = self.legacy_decay
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Optimizer":
        return cls(**config)


class SGD(Optimizer):
    """Gradient descent, with optional (Nesterov) momentum.

    ``m ← momentum·m − lr·g``, then ``p ← p + m`` (Nesterov: ``p ← p + momentum·m − lr·g``);
    without momentum ``p ← p − lr·g``.

    Example:
        >>> SGD(learning_rate=0.1, momentum=0.9, nesterov=True)
    """

    kernel = "sgd"

    @renamed_arguments(lr="learning_rate")
    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float | None = None, name: str = "SGD", **options):
        super().__init__(learning_rate, weight_decay, name, **options)
        self.momentum = _check_range("momentum", momentum, 0.0, 1.0)
        self.nesterov = bool(nesterov)

    def build(self, params):
        super().build(params)
        if self.momentum > 0:
            self.add_slot("momentum")



class RMSprop(Optimizer):
    """Divides the step by a running root mean square of the gradients.

    ``v ← ρv + (1−ρ)g²``; ``p ← p − lr·g/√(v + ε)``; ``centered`` subtracts the squared running
    mean of the gradients inside the root; ``momentum`` accumulates the steps.

    Example:
        >>> RMSprop(learning_rate=0.001, rho=0.9)
    """

    kernel = "rmsprop"

    @renamed_arguments(lr="learning_rate")
    def __init__(self, learning_rate: float = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, weight_decay: float | None = None,
                 name: str = "rmsprop", **options):
        super().__init__(learning_rate, weight_decay, name, **options)
        self.rho = _check_range("rho", rho, 0.0, 1.0)
        self.momentum = _check_range("momentum", momentum, 0.0, 1.0)
        self.epsilon = epsilon
        self.centered = bool(centered)

    def build(self, params):
        super().build(params)
        self.add_slot("velocity")
        if self.momentum > 0:
            self.add_slot("momentum")
        if self.centered:
            self.add_slot("average_gradient")



class Adagrad(Optimizer):
    """Divides the step by the root of the sum of all squared gradients so far.

    ``acc ← acc + g²``; ``p ← p − lr·g/√(acc + ε)``.

    Example:
        >>> Adagrad(learning_rate=0.01)
    """

    kernel = "adagrad"

    @renamed_arguments(lr="learning_rate")
    def __init__(self, learning_rate: float = 0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, weight_decay: float | None = None, name: str = "adagrad", **options):
        super().__init__(learning_rate, weight_decay, name, **options)
        self.initial_accumulator_value = _check_range("initial_accumulator_value",
                                                      initial_accumulator_value, 0.0, None)
        self.epsilon = epsilon

    def build(self, params):
        super().build(params)
        self.add_slot("accumulator", self.initial_accumulator_value)



class Adadelta(Optimizer):
    """Scales each step by the ratio of running RMS of past steps to running RMS of gradients.

    Example:
        >>> Adadelta(learning_rate=1.0, rho=0.95)
    """

    kernel = "adadelta"

    @renamed_arguments(lr="learning_rate")
    def __init__(self, learning_rate: float = 0.001, rho: float = 0.95, epsilon: float = 1e-7,
                 weight_decay: float | None = None, name: str = "adadelta", **options):
        super().__init__(learning_rate, weight_decay, name, **options)
        self.rho = _check_range("rho", rho, 0.0, 1.0)
        self.epsilon = epsilon

    def build(self, params):
        super().build(params)
        self.add_slot("accumulated_grad")
        self.add_slot("accumulated_delta")



class Adam(Optimizer):
    """Adaptive moment estimation with bias correction, optionally AMSGrad.

    ``m ← β1·m + (1−β1)g``; ``v ← β2·v + (1−β2)g²``;
    ``p ← p − lr·√(1−β2^t)/(1−β1^t) · m/(√v + ε)`` with ``t`` the 1-based step.

    Example:
        >>> Adam(learning_rate=0.001, amsgrad=True)
    """

    kernel = "adam"

    @renamed_arguments(lr="learning_rate")
    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, weight_decay: float | None = None,
                 name: str = "adam", **options):
        super().__init__(learning_rate, weight_decay, name, **options)
        self.beta_1 = _check_range("beta_1", beta_1, 0.0, 1.0)
        self.beta_2 = _check_range("beta_2", beta_2, 0.0, 1.0)
        self.epsilon = epsilon
        self.amsgrad = bool(amsgrad)

    def build(self, params):
        super().build(params)
        self.add_slot("momentum")
        self.add_slot("velocity")
        if self.amsgrad:
            self.add_slot("velocity_hat")



class Lion(Optimizer):
    """Evolved sign momentum: every coordinate moves by ``learning_rate`` in the direction of the
    sign of a blend of the momentum and the gradient.

    ``p ← p − lr·sign(β1·m + (1−β1)·g)``, then ``m ← β2·m + (1−β2)·g``. The step has the same size
    in every coordinate, so Lion wants a learning rate 3–10 times smaller than Adam's (and a weight
    decay as many times larger for the same effect). Keras refuses ``beta_1 = 0`` (the update would
    be plain sign SGD), and so does axonal.

    Example:
        >>> Lion(learning_rate=1e-4, weight_decay=0.01)
    """

    kernel = "lion"

    @renamed_arguments(lr="learning_rate")
    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.99,
                 weight_decay: float | None = None, name: str = "lion", **options):
        super().__init__(learning_rate, weight_decay, name, **options)
        self.beta_1 = _check_range("beta_1", beta_1, 0.0, 1.0)
        if self.beta_1 == 0:
            raise ValueError("beta_1 must be in (0, 1], received 0: Lion would then be sign SGD. "
                             "Fix: keep the default 0.9.")
        self.beta_2 = _check_range("beta_2", beta_2, 0.0, 1.0)

    def build(self, params):
        super().build(params)
        self.add_slot("momentum")


class Adamax(Optimizer):
    """Adam with the infinity norm: the second moment is a running maximum of ``|g|``.

    ``m ← m + (g − m)(1−β1)``; ``u ← max(β2·u, |g|)``; ``p ← p − lr/(1−β1^t) · m/(u + ε)`` with ``t``
    the 1-based step (Keras 3's form; the bias correction is folded into the rate, as for Adam).

    Example:
        >>> Adamax(learning_rate=0.002)
    """

    kernel = "adamax"

    @renamed_arguments(lr="learning_rate")
    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, weight_decay: float | None = None, name: str = "adamax", **options):
        super().__init__(learning_rate, weight_decay, name, **options)
        self.beta_1 = _check_range("beta_1", beta_1, 0.0, 1.0)
        if self.beta_1 == 1:
            raise ValueError("beta_1 must be in [0, 1), received 1: the bias correction 1 − β1^t would be 0. "
                             "Fix: keep the default 0.9.")
        self.beta_2 = _check_range("beta_2", beta_2, 0.0, 1.0)
        self.epsilon = _check_range("epsilon", epsilon, 0.0, None)

    def build(self, params):
        super().build(params)
        self.add_slot("momentum")
        self.add_slot("norm")


class LearningRate(float):
    """An optimiser's learning rate as a float that also answers what Keras programs call on the
    variable Keras keeps it in: ``numpy()`` and ``assign(value)`` (which sets the optimiser's rate).

    Example:
        >>> model.optimizer.learning_rate.assign(1e-5)   # fine-tuning, as keras.io's guides write it
    """

    __slots__ = ("_optimizer",)

    def __new__(cls, value: float, optimizer: "Optimizer"):
        rate = super().__new__(cls, value)
        rate._optimizer = optimizer
        return rate

    def numpy(self) -> float:
        return float(self)

    def assign(self, value: float) -> "LearningRate":
        self._optimizer.learning_rate = value
        return self._optimizer.learning_rate


def _check_range(argument: str, value: Any, low: float, high: float | None) -> float:
    """``value`` as a float, or a ValueError when it is not a number in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{argument} must be a number, received {value!r}.")
    if not np.isfinite(value) or value < low or (high is not None and value > high):
        interval = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{argument} must be in {interval}, received {value!r}.")
    return float(value)


_BY_NAME = {cls.kernel: cls for cls in (SGD, RMSprop, Adagrad, Adadelta, Adam, Lion, Adamax)}


def get(identifier: str | dict | Optimizer) -> Optimizer:
    """An optimiser from its name (``"sgd"``, ``"rmsprop"``, ``"adagrad"``, ``"adadelta"``,
    ``"adam"``, ``"lion"``, ``"adamax"``, with default settings), a ``{"class_name", "config"}`` dict, or itself.

    Raises:
        ValueError: for an unknown name.
        TypeError: for anything else.
    """
    return resolve("optimizer", identifier, Optimizer, _BY_NAME,
                   "a name such as 'rmsprop' or an instance such as optimizers.Adam(learning_rate=1e-3)")
