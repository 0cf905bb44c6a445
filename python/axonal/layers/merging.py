"""Merge layers: combine several tensors of a functional model into one, as Keras' do.

``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum`` and ``Minimum`` act element by
element on inputs of one shape; ``Concatenate`` joins inputs along the last axis. Each is one
backend op forward (``merge_forward`` / ``concat_forward``) and one backward, over the inputs
viewed as rows of their last axis. ``Maximum``/``Minimum`` send the gradient to the first input
holding the extreme value (TensorFlow's rule for ties).

Example:
    >>> inputs = Input(shape=(32,))
    >>> hidden = Dense(32, activation="relu")(inputs)
    >>> outputs = Add()([inputs, hidden])  # a residual connection
"""
from __future__ import annotations

from axonal.layers.base import Layer, as_rows

# The kernels take up to 8 inputs at once (a product's gradient needs all of them in one pass).
MAX_MERGE_INPUTS = 8


class _Merge(Layer):
    """Elementwise merge of n >= 2 inputs of one shape (``op`` names the backend's operation)."""

    takes_several_inputs = True
    op = ""
    exact_inputs: int | None = None  # Subtract takes exactly two

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # Set per input by the model: False where nothing before the input needs its gradient.
        self.needs_input_gradients: list[bool] | None = None

    def check_input_shape(self, input_shape, sources: list[str] | None = None):
        kind = type(self).__name__
        count = self.exact_inputs
        if len(input_shape) < 2 or (count is not None and len(input_shape) != count):
            wanted = f"exactly {count}" if count else "at least 2"
            raise ValueError(f"Layer {self.name!r} ({kind}) merges {wanted} tensors, received {len(input_shape)}. "
                             f"Fix: call it on a list, e.g. {kind}()([a, b]).")
        if len(input_shape) > MAX_MERGE_INPUTS and not isinstance(self, Concatenate):
            raise ValueError(f"Layer {self.name!r} ({kind}) merges at most {MAX_MERGE_INPUTS} tensors, received "
                             f"{len(input_shape)}. Fix: merge in stages, e.g. {kind}()([{kind}()(first_8), rest]).")
        sources = sources or [f"input {i}" for i in range(len(input_shape))]
        self._check_shapes(input_shape, sources)

    def _check_shapes(self, shapes, sources):
        for shape, source in zip(shapes[1:], sources[1:]):
            if tuple(shape[1:]) != tuple(shapes[0][1:]):
                raise ValueError(
                    f"Layer {self.name!r} ({type(self).__name__}) needs inputs of one shape, but {sources[0]!r} "
                    f"gives {tuple(shapes[0])} and {source!r} gives {tuple(shape)}. Fix: make them agree, e.g. "
                    f"with a Dense({shapes[0][-1]}) on {source!r}, or use Concatenate() to join them.")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def forward(self, xs, training):
        self.xs = xs
        y = self.buffers.get("y", xs[0].shape)
        self.ops.merge_forward(as_rows(y), [as_rows(x) for x in xs], self.op)
        return y

    def backward(self, dy):
        dxs = self._input_gradient_buffers()
        self.ops.merge_backward([None if dx is None else as_rows(dx) for dx in dxs], as_rows(dy),
                                [as_rows(x) for x in self.xs], self.op)
        return dxs

    def _input_gradient_buffers(self) -> list:
        needs = self.needs_input_gradients or [True] * len(self.xs)
        return [self.buffers.get(f"dx{i}", x.shape) if need else None for i, (x, need) in enumerate(zip(self.xs, needs))]


class Add(_Merge):
    """``x0 + x1 + ...``. Shapes: n inputs (N, ...) of one shape -> (N, ...)."""
    op = "add"


class Subtract(_Merge):
    """``x0 - x1``. Shapes: two inputs (N, ...) of one shape -> (N, ...)."""
    op = "subtract"
    exact_inputs = 2


class Multiply(_Merge):
    """``x0 * x1 * ...``, element by element. Shapes: n inputs (N, ...) of one shape -> (N, ...)."""
    op = "multiply"


class Average(_Merge):
    """``(x0 + x1 + ...) / n``. Shapes: n inputs (N, ...) of one shape -> (N, ...)."""
    op = "average"


class Maximum(_Merge):
    """Element-wise maximum; the gradient goes to the first input holding it."""
    op = "maximum"


class Minimum(_Merge):
    """Element-wise minimum; the gradient goes to the first input holding it."""
    op = "minimum"


class Concatenate(_Merge):
    """Joins n inputs along the last axis: (N, ..., K_i) -> (N, ..., Σ K_i).

    Args:
        axis: the axis to join along; only the last (``-1``, Keras' default) is supported.

    Example:
        >>> image, numbers = Input(shape=(64,)), Input(shape=(3,))
        >>> joined = Concatenate()([image, numbers])   # (None, 67)
    """

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def _check_shapes(self, shapes, sources):
        rank = len(shapes[0])
        if self.axis not in (-1, rank - 1):
            raise ValueError(f"Layer {self.name!r} (Concatenate) joins along the last axis only, received "
                             f"axis={self.axis} for inputs of rank {rank}. Fix: use axis=-1 (channels_last "
                             "images join their channels), or Reshape/Flatten the inputs first.")
        for shape, source in zip(shapes[1:], sources[1:]):
            if tuple(shape[1:-1]) != tuple(shapes[0][1:-1]):
                raise ValueError(
                    f"Layer {self.name!r} (Concatenate) joins along the last axis, so the other axes must agree, "
                    f"but {sources[0]!r} gives {tuple(shapes[0])} and {source!r} gives {tuple(shape)}. Fix: "
                    "Flatten() both first, or make their leading axes equal.")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:-1]) + (sum(shape[-1] for shape in input_shape),)

    def forward(self, xs, training):
        self.xs = xs
        y = self.buffers.get("y", xs[0].shape[:-1] + (sum(x.shape[-1] for x in xs),))
        self.ops.concat_forward(as_rows(y), [as_rows(x) for x in xs])
        return y

    def backward(self, dy):
        dxs = self._input_gradient_buffers()
        self.ops.concat_backward([None if dx is None else as_rows(dx) for dx in dxs], as_rows(dy),
                                 [x.shape[-1] for x in self.xs])
        return dxs

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


MERGE_LAYERS = (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate)



# Keras' functional forms: ``add([a, b])`` is ``Add()([a, b])``.
def add(inputs: list, **kwargs):
    """``Add(**kwargs)(inputs)``: the element-wise sum of the tensors in ``inputs``.

    Example:
        >>> summed = add([Input(shape=(4,)), Input(shape=(4,))])
    """
    return Add(**kwargs)(inputs)


def subtract(inputs: list, **kwargs):
    """``Subtract(**kwargs)(inputs)``: the first of two tensors minus the second."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs: list, **kwargs):
    """``Multiply(**kwargs)(inputs)``: the element-wise product."""
    return Multiply(**kwargs)(inputs)


def average(inputs: list, **kwargs):
    """``Average(**kwargs)(inputs)``: the element-wise mean."""
    return Average(**kwargs)(inputs)


def maximum(inputs: list, **kwargs):
    """``Maximum(**kwargs)(inputs)``: the element-wise maximum."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs: list, **kwargs):
    """``Minimum(**kwargs)(inputs)``: the element-wise minimum."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs: list, axis: int = -1, **kwargs):
    """``Concatenate(axis=axis, **kwargs)(inputs)``: the tensors joined along ``axis``."""
    return Concatenate(axis=axis, **kwargs)(inputs)
