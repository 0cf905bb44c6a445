"""The native executor's half in Python: a model's plan as :class:`axonal._native.TrainingLoop`
takes it (``cpp/training_loop.h``).

Each call of the plan becomes one step tuple ``(kind, input tensors, output tensor, which inputs
need their gradient, whether backward runs it, the kind's own items...)`` over the model's current
arrays (weights, gradient buffers, optimiser slots, which the loop reads and writes in place); each
output its loss, loss weight and accuracy metrics; a shared layer's later calls the gradient sums
the loop adds after backward. The loop calls the kernels the layer-by-layer path calls, in the same
order, so both give the same bits (``tests/test_training_loop.py``, ``tests/test_functional.py``).
"""
from __future__ import annotations

import numpy as np

from axonal import losses, optimizers
from axonal.layers import (Activation, AveragePooling1D, AveragePooling2D, BatchNormalization, Concatenate, Conv1D,
                           Conv2D, Dense, Dropout, Embedding, GlobalAveragePooling1D, GlobalAveragePooling2D,
                           GlobalMaxPooling1D, GlobalMaxPooling2D, LayerNormalization, MaxPooling1D, MaxPooling2D,
                           Normalization, Rescaling, SpatialDropout2D, UpSampling2D, ZeroPadding2D)
from axonal.layers._data_format import CHANNELS_FIRST
from axonal.layers.augmentation import ImageAugmentationLayer
from axonal.layers.base import configuration_version
from axonal.layers.embedding import id_readers
from axonal.layers.merging import MERGE_LAYERS
from axonal.models.executors import support
from axonal.models.executors.native_layout import Layout
from axonal.models.executors.support import COUNTED_METRICS

SECONDS_PER_RUN = 0.05  # how long native code runs before Python sees the logs and Ctrl-C again


def build_loop(model, batch_size: int):
    """A :class:`axonal._native.TrainingLoop` over the model's plan and current arrays (weights,
    gradients, optimiser slots), for batches of at most ``batch_size`` rows."""
    from axonal._native import TrainingLoop

    if model._prepared_for != configuration_version():
        model._prepare_optimizer()
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model._parameters)
    row = optimizers.KERNELS[optimizer.kernel]
    hyper = {key: optimizer._argument(key) for key in row.hyper}
    hyper["weight_decay"] = optimizer.kernel_weight_decay
    # (param, grad, slot 0, 1, 2): the kernel uses the slots its configuration needs (centered,
    # amsgrad), as the Python update_step does.
    params = [(param, grad, *map(optimizer.slots_for(param).get, row.slots), *(None,) * (3 - len(row.slots)))
              for param, grad in zip(model._parameters, model._gradients)]
    specs, outputs = _layer_specs(model.plan, training=True)
    return TrainingLoop(specs, _input_widths(model), _outputs(model, outputs), row.op, hyper, params,
                        _gradient_sums(model.plan), batch_size, _id_inputs(model.plan))


def build_test_loop(model, batch_size: int):
    """A :class:`axonal._native.TrainingLoop` that computes the losses and metrics of batches in
    inference mode (``run(train=False)``) and updates nothing: no backward pass is set up and the
    optimiser is left alone (evaluating a model builds no optimiser slots)."""
    from axonal._native import TrainingLoop

    specs, outputs = _layer_specs(model.plan, training=False)
    return TrainingLoop(specs, _input_widths(model), _outputs(model, outputs), "none", {}, [], [], batch_size,
                        _id_inputs(model.plan))


def _outputs(model, tensors: list[int]) -> list[tuple]:
    """Per output: its loop tensor (``tensors``), its loss in the loop's name, the absorbed
    activation, its weight and its counted metrics."""
    objective = model.objective
    return [(tensor, losses.KERNELS[loss.table_name].loop, absorbed or "linear", weight,
             [(COUNTED_METRICS[type(m)], float(getattr(m, "threshold", 0.5))) for m in metrics])
            for tensor, loss, absorbed, weight, metrics in zip(tensors, objective.losses,
                                                               objective.absorbed, objective.weights,
                                                               objective.output_metrics)]


def _id_inputs(plan) -> list[bool]:
    """Per model input: whether it holds int32 ids (read only by Embedding layers: models/data.py
    converts such an input to exact int32, and the loop takes it as it is)."""
    return [bool(readers) for readers in id_readers(plan)]


def build_inference_loop(model, batch_size: int):
    """A :class:`axonal._native.TrainingLoop` that only predicts (loss and optimiser ``none``), for
    batches of at most ``batch_size`` rows; the model need not be compiled."""
    from axonal._native import TrainingLoop

    absorbed = model.objective.absorbed if model.objective is not None else [None] * len(model.plan.outputs)
    specs, tensors = _layer_specs(model.plan, training=False)
    outputs = [(tensor, "none", activation or "linear", 1.0, []) for tensor, activation in zip(tensors, absorbed)]
    return TrainingLoop(specs, _input_widths(model), outputs, "none", {}, [], [], batch_size, _id_inputs(model.plan))


# Inference loops a model keeps, per batch size (predict with batch 1, then the test set with 32...).
_KEPT_INFERENCE_LOOPS = 4


def inference_loop(model, batch_size: int) -> tuple:
    """:func:`build_inference_loop`'s loop, kept on the model and reused by later ``predict`` calls,
    with the per-sample shape of each output.

    Building one costs more than a one-row prediction itself, so it is made once per plan, absorbed
    output activations, layer configuration and batch size, as Keras keeps its predict function
    until the model changes. The loop reads the weights in place, so training, ``set_weights`` and
    ``load_weights`` (which copy into the same arrays) need no new loop; anything that makes new
    arrays (``build``, ``compile``, ``add``) makes a new plan, and so a new loop. The cache holds
    the plan it was made for, so that plan cannot be freed and its id reused by another.

    Returns:
        ``(loop, output shapes without the batch)``.
    """
    key = support.configuration_key(model)
    cache = getattr(model, "_inference_loops", None)
    if cache is None or cache[0] is not model.plan or cache[1] != key:
        shapes = tuple(tuple(shape[1:]) for shape in model.output_shapes)
        cache = model._inference_loops = (model.plan, key, shapes, {})
    loops = cache[3]
    loop = loops.get(batch_size)
    if loop is None:
        if len(loops) >= _KEPT_INFERENCE_LOOPS:
            loops.clear()
        loop = loops[batch_size] = build_inference_loop(model, batch_size)
    return loop, cache[2]


def _layer_specs(plan, training: bool) -> tuple[list[tuple], list[int]]:
    """The plan's calls as the native loop takes them: (kind, input tensors, output tensor, which
    inputs need their gradient, whether backward runs it, the kind's own items...), with the
    transposes of channels_first layers (:mod:`.native_layout`); and the loop tensors of the
    model's outputs."""
    specs: list[tuple] = []
    layout = Layout(plan, specs)
    for call in plan.calls:
        layer = call.layer
        reached = training and call.backprop
        needs = tuple(call.needs_input_gradients) if training else (False,) * len(call.inputs)
        if isinstance(layer, Embedding):
            needs = (False,)  # ids take no gradient
        head, last = layout.head(call, needs, reached)
        image = tuple(layer._last_shape(layer.input_shape)[1:]) if hasattr(layer, "_last_shape") else None
        if isinstance(layer, (Dense, Conv2D, Conv1D)):
            # Gradients only where the backward pass reaches (a frozen layer's buffers are None).
            dkernel = layer._gradient_buffer("kernel") if reached else None
            dbias = layer._gradient_buffer("bias") if reached else None
            weights = (layer.kernel, layer.bias, dkernel, dbias, layer.applied_activation, float(layer.alpha),
                       layer.separate_activation or "linear")
            if isinstance(layer, Dense):
                specs.append(("dense", *head, *weights))
            elif isinstance(layer, Conv1D):  # a Conv2D over the (1, T, C) image, with (1, K, C, F) views
                weights = (layer.image_kernel(layer.kernel), layer.bias, layer.image_kernel(dkernel), *weights[3:])
                specs.append(("conv2d", *head, *weights, layer.image, layer.image_strides, layer.explicit_padding))
            else:
                specs.append(("conv2d", *head, *weights, image, layer.strides, layer.explicit_padding))
        elif isinstance(layer, (MaxPooling2D, AveragePooling2D)):
            kind = "max_pool2d" if isinstance(layer, MaxPooling2D) else "avg_pool2d"
            specs.append((kind, *head, layer.pool_size, image, layer.strides, layer.explicit_padding))
        elif isinstance(layer, (GlobalAveragePooling2D, GlobalMaxPooling2D)):  # a pool whose window is the image
            kind = "max_pool2d" if isinstance(layer, GlobalMaxPooling2D) else "avg_pool2d"
            specs.append((kind, *head, layer.window, image, (1, 1), (0, 0, 0, 0)))
        elif isinstance(layer, (MaxPooling1D, AveragePooling1D, GlobalMaxPooling1D, GlobalAveragePooling1D)):
            # pooling over the (1, T, C) image: a (1, P) window, or the whole sequence for the global ones
            kind = "max_pool2d" if isinstance(layer, (MaxPooling1D, GlobalMaxPooling1D)) else "avg_pool2d"
            specs.append((kind, *head, layer.window, layer.image, layer.image_strides, layer.explicit_padding))
        elif isinstance(layer, Dropout):
            specs.append(("dropout", *head, layer.rate, layer.mask_seed, layer.position))
        elif isinstance(layer, Activation):
            specs.append(("activation", *head, layer.applied_activation, float(layer.alpha)))
        elif isinstance(layer, (BatchNormalization, LayerNormalization)):
            specs.append(_normalization_spec(layer, head, reached))
        elif isinstance(layer, (ZeroPadding2D, UpSampling2D, SpatialDropout2D, Embedding)):
            specs.append(_reshaping_spec(layer, head, last, reached))
        elif isinstance(layer, (ImageAugmentationLayer, Rescaling, Normalization)):
            specs.append(_preprocessing_spec(layer, head))
        elif isinstance(layer, Concatenate):
            specs.append(("concat", *head))
        elif isinstance(layer, MERGE_LAYERS):
            specs.append(("merge", *head, layer.op))
        else:  # InputLayer, Flatten, Reshape: the same values, C-contiguous rows as they are (a
            # channels_first Flatten reads the last form, which is what it flattens)
            specs.append(("identity", *head))
        layout.place_output(call, last, reached)
    return specs, layout.outputs()


def _reshaping_spec(layer, head: tuple, last: bool, reached: bool) -> tuple:
    """A ZeroPadding2D, UpSampling2D, SpatialDropout2D or Embedding step. The first three take a
    sample as the ops do (``backend/reference_reshaping.py``): channels_last, or the last form of a
    channels_first tensor (``last``), as (1, H, W, C); a channels_first one as (C, H, W, 1)."""
    if isinstance(layer, Embedding):
        return ("embedding", *head, layer.embeddings, layer._gradient_buffer("embeddings") if reached else None)
    shape = tuple(int(d) for d in layer.input_shape[1:])
    first = layer.data_format == CHANNELS_FIRST  # the tensor as the layer sees it
    if first:
        channels, rows, columns = shape
    else:
        rows, columns, channels = shape
    as_first = first and not last  # the step computes on the channels_first layout itself
    sample = (channels, rows, columns, 1) if as_first else (1, rows, columns, channels)
    if isinstance(layer, ZeroPadding2D):
        return ("zero_pad2d", *head, sample, layer.explicit_padding)
    if isinstance(layer, UpSampling2D):
        return ("upsample2d", *head, sample, layer.size)
    pixels = rows * columns
    spatial = (1, channels, pixels) if as_first else (pixels, channels, 1)
    return ("spatial_dropout", *head, spatial, layer.rate, layer.mask_seed, layer.position)


def _normalization_spec(layer, head: tuple, reached: bool) -> tuple:
    """A BatchNormalization step (its channel axis last: rows of C channels; batch statistics in
    training steps unless frozen, as Keras 3) or a LayerNormalization step (rows of its K
    normalised values); gamma and beta flat, their gradients None where backward does not reach."""
    def flat(array):
        return None if array is None else array.reshape(-1)

    grads = tuple(flat(layer._gradient_buffer(name)) if reached else None for name in ("gamma", "beta"))
    weights = (flat(layer.gamma), flat(layer.beta), *grads)
    if isinstance(layer, BatchNormalization):
        return ("batch_norm", *head, *weights, layer.moving_mean, layer.moving_variance,
                int(layer.input_shape[layer.channel_axis]), layer.momentum, layer.epsilon, bool(layer.trainable))
    return ("layer_norm", *head, *weights, int(layer.width), layer.epsilon, layer.rms_scaling)


def _preprocessing_spec(layer, head: tuple) -> tuple:
    """An ``augment`` step (the layer's draws and map: identity at inference), or a ``rescale`` /
    ``normalize`` step over the layer's per-feature rows (Normalization(invert=True) is a rescale)."""
    if isinstance(layer, ImageAugmentationLayer):
        value_range = tuple(float(v) for v in layer.value_range) if layer.kind == "contrast" else (0.0, 0.0)
        return ("augment", *head, layer.kind, layer.augment_seed, layer.position % 2**32, layer.image_shape,
                tuple(layer.ranges()), layer.fill_mode, layer.interpolation, layer.fill_value, *value_range)
    rows = layer.feature_rows()
    if isinstance(layer, Rescaling):
        return ("rescale", *head, rows["scale_row"], rows["offset_row"])
    if layer.invert:
        return ("rescale", *head, rows["deviation_row"], rows["mean_row"])
    return ("normalize", *head, rows["mean_row"], rows["deviation_row"])


def _gradient_sums(plan) -> list[tuple]:
    """(the layer's gradient, a later call's own) per weight of each shared layer's later calls, in
    call order: what :meth:`PlanRunner.backward` adds after the backward pass."""
    return [(call.owner._gradients[name], call.layer._gradients[name])
            for call in plan.calls if call.is_clone and call.backprop and call.owner.trainable
            for name in call.owner._gradients]


def add_totals(model, totals, rows_seen: int) -> None:
    """Add a native run's metric totals (every output's metrics, in order) to the model's metrics."""
    counted = [metric for metrics in model.objective.output_metrics for metric in metrics]
    for metric, total in zip(counted, totals):
        metric.total += total
        metric.count += rows_seen


def _input_widths(model) -> list[int]:
    """Values per sample of each model input (the loop sees every sample as one row)."""
    return [int(np.prod(tensor_shape[1:])) for tensor_shape in
            (model.input_shape if len(model.input_names) > 1 else [model.input_shape])]

