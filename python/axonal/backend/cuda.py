"""The ``cuda`` backend: the CUDA kernels of ``axonal._cuda`` on cupy arrays.

Same op list and signatures as :mod:`axonal.backend.reference` and :mod:`axonal.backend.cpu`
(``docs/design.md``), float32 only, every array a C-contiguous cupy array on the current device.
Each op is queued on cupy's current stream (``cupy.cuda.get_current_stream()``) and returns without
waiting for the GPU, except a loss called without ``loss_out``: it returns the mean loss as a float,
which waits for the stream. With ``loss_out`` (a float64 device scalar, e.g.
``cupy.zeros((), cupy.float64)``) the loss stays on the device and ``loss_out`` is returned;
``loss_sum`` (another one) accumulates it across calls, for an epoch's mean read once at its end.

CUDA graphs: every value that changes from one training step to the next can live on the device, so
that a step captured once (``stream.begin_capture()`` ... ``stream.end_capture()``) and replayed sees
the current values. The dropout ``step`` and Adam's ``step`` may be an int or an int64 device scalar
(``cupy.zeros((), cupy.int64)``), every optimiser's ``lr`` a float or a float64 device scalar; a
device scalar is read when the kernel runs, not when the op is called. :func:`increment` advances
such counters on the device, :func:`accuracy_count` counts right rows into one. No op allocates or
waits after its first call with the same shapes on the same stream (a loss only without
``loss_out``), so run a step once on the capturing stream before capturing it, and launch the graph
on that stream: its kernels use the workspaces of the stream they were captured on.

Importing this module raises ImportError, with the reason, when the backend cannot run here: the
extension was not built, cupy is missing, or no driver or GPU is usable. ``axonal.backends()``
reports that reason. See ``docs/cuda.md`` for the build and the design.
"""
from __future__ import annotations

import importlib.util

if importlib.util.find_spec("axonal._cuda") is None:
    raise ImportError("axonal was built without CUDA: pip install axonal-cuda13 (the CUDA wheel of the "
                      "same version), or rebuild with AXONAL_CUDA=1 (docs/install.md)")
try:
    import cupy
except ImportError as _error:
    raise ImportError(f"cupy is not installed (pip install cupy-cuda13x): {_error}") from None
try:
    from axonal import _cuda
except ImportError as _error:
    raise ImportError(f"axonal._cuda is built but does not load: {_error}") from None
if _problem := _cuda.device_problem():
    raise ImportError(_problem)

from axonal.backend.update_ops import named_updates  # noqa: E402  (after the checks above)

NAME = "cuda"


def _stream() -> int:
    """The handle of cupy's current stream on the current device, where every op is queued."""
    return cupy.cuda.get_current_stream().ptr


# --------------------------------------------------------------------------------------------------
# Activations and dense

def activation_forward(y, x, activation, alpha):
    """y = act(x) (row-wise softmax); x (N, K) -> y (N, K), y may be x."""
    _cuda.activation_forward(y, x, activation, alpha, stream=_stream())


def activation_backward(dx, dy, y, activation, alpha):
    """dx = dy * act'(z) from the output y (from the input z, passed as ``y``, for the activations
    of ``activations.FROM_INPUT``); dy, y (N, K) -> dx (N, K)."""
    _cuda.activation_backward(dx, dy, y, activation, alpha, stream=_stream())


def dense_forward(y, x, W, b, activation, alpha):
    """y = act(x @ W + b): one cuBLAS GEMM and one bias+activation kernel."""
    _cuda.dense_forward(y, x, W, b, activation, alpha, stream=_stream())


def dense_backward(dx, dW, db, dz, dy, x, W, y, activation, alpha):
    """dz = dy * act'(y); dW = x.T @ dz, db = dz.sum(0), dx = dz @ W.T (each skipped when None)."""
    _cuda.dense_backward(dx, dW, db, dz, dy, x, W, y, activation, alpha, stream=_stream())


# --------------------------------------------------------------------------------------------------
# Losses: a float (waits for the GPU) or, with loss_out, a device scalar (does not wait)

def softmax_cross_entropy(dlogits, logits, labels, sample_weight=None, *, loss_out=None, loss_sum=None):
    """Softmax + categorical cross-entropy; labels (N, K) float or (N,) int32/int64 class ids.

    A class id outside [0, K) is not checked on the host (that would need a copy): it makes the
    loss and its row of ``dlogits`` NaN.
    """
    return _cuda.softmax_cross_entropy(dlogits, logits, labels, sample_weight, loss_out, loss_sum, stream=_stream())


def sigmoid_binary_cross_entropy(dlogits, logits, labels, sample_weight=None, *, loss_out=None, loss_sum=None):
    """Sigmoid + binary cross-entropy from logits, mean over all N*K outputs."""
    return _cuda.sigmoid_binary_cross_entropy(dlogits, logits, labels, sample_weight, loss_out, loss_sum,
                                              stream=_stream())


def mean_squared_error(dpred, pred, target, sample_weight=None, *, loss_out=None, loss_sum=None):
    """Mean squared error over all N*K outputs."""
    return _cuda.mean_squared_error(dpred, pred, target, sample_weight, loss_out, loss_sum, stream=_stream())


# --------------------------------------------------------------------------------------------------
# Dropout: the Philox mask of the cpu and numpy backends, bit for bit

def dropout_forward(y, mask, x, rate, seed, layer_id, step, first_element=0):
    """y = x * mask / (1 - rate), mask uint8 from (seed, layer_id, step).

    ``step`` is an int or an int64 device scalar (shape ``()``) read when the kernel runs, e.g. a
    step counter that a captured CUDA graph advances with :func:`increment`; the same value gives
    the same mask either way (a negative device value wraps modulo 2**64). ``first_element``: the
    mask of element ``i`` is element ``first_element + i``'s (a data-parallel shard's place in its
    global batch, as on cpu).
    """
    _cuda.dropout_forward(y, mask, x, rate, seed, layer_id, step, stream=_stream(), first_element=first_element)


def dropout_backward(dx, dy, mask, rate):
    """dx = dy * mask / (1 - rate)."""
    _cuda.dropout_backward(dx, dy, mask, rate, stream=_stream())


# --------------------------------------------------------------------------------------------------
# Convolution and pooling: channels_last images (N, H, W, C), explicit padding (top, bottom, left, right)

def conv2d_forward(y, x, W, b, strides, padding, activation, alpha):
    """y = act(conv(x, W) + b): im2col per chunk of images, one cuBLAS GEMM each, then the dense
    epilogue; x (N, H, W, C), W (KH, KW, C, F), b (F,) or None -> y (N, OH, OW, F)."""
    _cuda.conv2d_forward(y, x, W, b, strides, padding, activation, alpha, stream=_stream())


def conv2d_backward(dx, dW, db, dz, dy, x, W, y, strides, padding, activation, alpha):
    """dz = dy * act'(y); dW = cols.T @ dz, db = dz summed over pixels, dx = col2im(dz @ W.T)
    (dW, db, dx each skipped when None); sums in a fixed order, no atomics."""
    _cuda.conv2d_backward(dx, dW, db, dz, dy, x, W, y, strides, padding, activation, alpha, stream=_stream())


def max_pool2d_forward(y, argmax, x, pool, strides, padding):
    """y = each window's first maximum (padding and NaN never win); argmax int32 = h*W + w."""
    _cuda.max_pool2d_forward(y, argmax, x, pool, strides, padding, stream=_stream())


def max_pool2d_backward(dx, dy, argmax):
    """dx = zeros, then each dy added at its argmax, in output order.

    ``argmax`` is not range-checked on the host (that would need a copy): an index outside the
    image makes its (image, channel) plane of ``dx`` NaN, never a stray write.
    """
    _cuda.max_pool2d_backward(dx, dy, argmax, stream=_stream())


def avg_pool2d_forward(y, x, pool, strides, padding):
    """y = the mean of each window over its unpadded inputs."""
    _cuda.avg_pool2d_forward(y, x, pool, strides, padding, stream=_stream())


def avg_pool2d_backward(dx, dy, pool, strides, padding):
    """dx: each input gathers dy / count of every window that covers it."""
    _cuda.avg_pool2d_backward(dx, dy, pool, strides, padding, stream=_stream())


# --------------------------------------------------------------------------------------------------
# Optimisers: one fused in-place kernel per parameter, Keras 3 maths. ``lr`` is a float or a float64
# device scalar (shape ``()``), Adam's ``step`` an int or an int64 device scalar, read when the kernel
# runs (a learning-rate schedule or step counter kept on the device, for CUDA graphs). The result is
# the same either way, bit for bit, except Adam's with a device ``step`` or ``lr``: its bias-corrected
# rate is then computed with the device's pow(), which may differ from the host's in the last bit of
# a double and so, rarely, move the float rate by one ulp. A device ``step`` below 1 is not checked
# (that would need a copy and a wait): it makes the update NaN.

# sgd_update, adam_update, ...: one per row of optimizers.KERNELS, with the reference's signatures,
# each queued on the current stream.
globals().update(named_updates(_cuda.optimizer_update, lambda: {"stream": _stream()}))


# --------------------------------------------------------------------------------------------------
# Merge layers and gradient sums (docs/design.md, "Merge and gradient sums"). The n-input ops carry
# their input pointers inside the launch's arguments, so they copy, allocate and wait for nothing
# (capturable in a CUDA graph); a merge takes 1 to 8 inputs, a concatenation any number.

def merge_forward(y, inputs, op):
    """y = op(inputs) elementwise over a list of (N, K) arrays: ``"add"``, ``"subtract"`` (two inputs,
    x0 - x1), ``"multiply"``, ``"average"``, ``"maximum"``, ``"minimum"`` (the first input holding
    the extreme; NaN wins)."""
    _cuda.merge_forward(y, inputs, op, stream=_stream())


def merge_backward(dxs, dy, inputs, op):
    """dxs[i] = the gradient of inputs[i] (None entries skipped); maximum/minimum send dy to the
    input the forward chose (the first of equal values), 0 to the others."""
    _cuda.merge_backward(dxs, dy, inputs, op, stream=_stream())


def concat_forward(y, inputs):
    """y (N, sum K_i) = the inputs (N, K_i) side by side, in order."""
    _cuda.concat_forward(y, inputs, stream=_stream())


def concat_backward(dxs, dy, widths=None):
    """dxs[i] (N, K_i) = input i's columns of dy (None entries skipped; ``widths``, every K_i, is
    needed only when two or more entries are None)."""
    _cuda.concat_backward(dxs, dy, widths, stream=_stream())


def accumulate(y, x):
    """y += x (any shape); y and x must not overlap."""
    _cuda.accumulate(y, x, stream=_stream())


def scale(y, x, factor):
    """y = factor * x (any shape) in float32; y may be x."""
    _cuda.scale(y, x, factor, stream=_stream())


# --------------------------------------------------------------------------------------------------
# Embedding lookups (docs/layers.md): a gather and a deterministic scatter-add, capturable. The index
# values are not checked on the device (that would wait for it): the model checks its data on the host.

def embedding_forward(y, indices, W):
    """y (M, D) = W[indices]: indices (M,) int32, W (V, D); an index outside [0, V) gives a row of zeros."""
    _cuda.embedding_forward(y, indices, W, stream=_stream())


def embedding_backward(dW, dy, indices):
    """dW (V, D) = zeros, then dW[indices[m]] += dy[m] in order of m (no atomics: the reference's bits)."""
    _cuda.embedding_backward(dW, dy, indices, stream=_stream())


# Image reshaping and spatial dropout (backend/reference_reshaping.py): images (M, H, W, B) for the
# reshapes, (N, A, C, B) for spatial dropout; the mask is Dropout's Philox mask of an (N, C) activation.

def zero_pad2d_forward(y, x, padding):
    """y (M, top + H + bottom, left + W + right, B) = x (M, H, W, B) with zeros around it."""
    _cuda.zero_pad2d_forward(y, x, padding, stream=_stream())


def zero_pad2d_backward(dx, dy, padding):
    """dx (M, H, W, B) = the interior of dy."""
    _cuda.zero_pad2d_backward(dx, dy, padding, stream=_stream())


def upsample2d_forward(y, x, size):
    """Nearest upsampling: x (M, H, W, B) -> y (M, H·SH, W·SW, B)."""
    _cuda.upsample2d_forward(y, x, size, stream=_stream())


def upsample2d_backward(dx, dy, size):
    """dx (M, H, W, B) = each SH x SW block of dy summed in row-major order (the reference's)."""
    _cuda.upsample2d_backward(dx, dy, size, stream=_stream())


def transpose_samples(y, x):
    """y (N, C, R) = each sample of x (N, R, C) transposed (channels_first edges)."""
    _cuda.transpose_samples(y, x, stream=_stream())


def spatial_dropout_forward(y, mask, x, rate, seed, layer_id, step, first_element=0):
    """y = x * mask[n, c] / (1 - rate) over (N, A, C, B); ``step`` an int or an int64 device scalar;
    map (n, c) draws the mask of map ``first_element + n * C + c`` (a data-parallel shard's place)."""
    _cuda.spatial_dropout_forward(y, mask, x, rate, seed, layer_id, step, stream=_stream(),
                                  first_element=first_element)


def spatial_dropout_backward(dx, dy, mask, rate):
    """dx = dy * mask[n, c] / (1 - rate) over (N, A, C, B)."""
    _cuda.spatial_dropout_backward(dx, dy, mask, rate, stream=_stream())


# Normalization (docs/normalization.md): column statistics one block per 32 channels, row statistics
# one warp per row, sums in double in a fixed order; nothing allocated or waited for (capturable).

def batch_norm_forward(y, mean, inv_std, moving_mean, moving_variance, x, gamma, beta, momentum, epsilon):
    """Training mode: y (M, C) normalised with the batch's statistics (kept in mean, inv_std (C,));
    the moving statistics move in place (moving·momentum + batch·(1 − momentum))."""
    _cuda.batch_norm_forward(y, mean, inv_std, moving_mean, moving_variance, x, gamma, beta, momentum, epsilon,
                             stream=_stream())


def batch_norm_backward(dx, dgamma, dbeta, dy, x, mean, inv_std, gamma):
    """Gradients of batch_norm_forward (each output skipped when None)."""
    _cuda.batch_norm_backward(dx, dgamma, dbeta, dy, x, mean, inv_std, gamma, stream=_stream())


def batch_norm_inference_forward(y, x, moving_mean, moving_variance, gamma, beta, epsilon):
    """Inference mode: y (M, C) normalised with the moving statistics."""
    _cuda.batch_norm_inference_forward(y, x, moving_mean, moving_variance, gamma, beta, epsilon, stream=_stream())


def batch_norm_inference_backward(dx, dy, moving_variance, gamma, epsilon):
    """dx = dy · gamma / sqrt(moving_variance + epsilon)."""
    _cuda.batch_norm_inference_backward(dx, dy, moving_variance, gamma, epsilon, stream=_stream())


def layer_norm_forward(y, mean, inv_std, x, gamma, beta, epsilon, rms_scaling):
    """Each row of x (R, K) normalised over its features; mean, inv_std (R,) kept for the backward."""
    _cuda.layer_norm_forward(y, mean, inv_std, x, gamma, beta, epsilon, rms_scaling, stream=_stream())


def layer_norm_backward(dx, dgamma, dbeta, dy, x, mean, inv_std, gamma, rms_scaling):
    """Gradients of layer_norm_forward (each output skipped when None)."""
    _cuda.layer_norm_backward(dx, dgamma, dbeta, dy, x, mean, inv_std, gamma, rms_scaling, stream=_stream())


# --------------------------------------------------------------------------------------------------
# Augmentation and preprocessing (docs/layers.md, "Augmentation in native code"): per-image draws
# from the shared Philox header (the step may be a device counter), resampling one thread per output
# pixel, backward and contrast one thread per (image, channel) in pixel order: deterministic, capturable.

def augment_draw(params, kind, seed, layer_id, step, height, width, ranges, first_image=0):
    """params (N, 6) float64 <- the draws of images first_image.. of (seed, layer_id, step) (docs/design.md,
    "Randomness")."""
    _cuda.augment_draw(params, kind, seed, layer_id, step, height, width, tuple(ranges), first_image=first_image,
                       stream=_stream())


def affine_forward(y, x, params, fill_mode, interpolation, fill_value):
    """y (N, H, W, C) = x resampled by each image's 2x3 matrix in params (N, 6)."""
    _cuda.affine_forward(y, x, params, fill_mode, interpolation, fill_value, stream=_stream())


def affine_backward(dx, dy, params, fill_mode, interpolation):
    """dx (N, H, W, C) = the transposed resampling of dy."""
    _cuda.affine_backward(dx, dy, params, fill_mode, interpolation, stream=_stream())


def contrast_forward(y, inside, x, params, low, high):
    """y = clip((x - mean)·c + mean, low, high) per image and channel; inside (uint8) = not clipped."""
    _cuda.contrast_forward(y, inside, x, params, low, high, stream=_stream())


def contrast_backward(dx, dy, inside, params):
    """dx = c·g + (1 - c)·mean(g), g = dy where the forward did not clip."""
    _cuda.contrast_backward(dx, dy, inside, params, stream=_stream())


def rescale_forward(y, x, scale, offset):
    """y (N, K) = x·scale + offset per column."""
    _cuda.rescale_forward(y, x, scale, offset, stream=_stream())


def rescale_backward(dx, dy, scale):
    """dx (N, K) = dy·scale."""
    _cuda.rescale_backward(dx, dy, scale, stream=_stream())


def normalize_forward(y, x, mean, deviation):
    """y (N, K) = (x - mean) / deviation per column."""
    _cuda.normalize_forward(y, x, mean, deviation, stream=_stream())


def normalize_backward(dx, dy, deviation):
    """dx (N, K) = dy / deviation."""
    _cuda.normalize_backward(dx, dy, deviation, stream=_stream())


# --------------------------------------------------------------------------------------------------
# Metrics and counters of an on-device training loop: queued, never waiting, no allocation

def accuracy_count(total, predictions, targets, kind, threshold=0.5):
    """Adds to ``total`` (an int64 device scalar, ``cupy.zeros((), cupy.int64)``) the number of rows
    of the batch that are right, by the rule of the native training loop:

    - ``"categorical"``: predictions, targets (N, K) float32; right when the rows' argmaxes agree
      (argmax: the first of equal maxima, as ``np.argmax``; unlike it, a NaN is never the maximum,
      and a NaN in column 0 gives 0).
    - ``"sparse"``: targets (N,) int32 or int64 class ids; right when the label is the argmax (a label
      outside [0, K) is wrong).
    - ``"binary"``: predictions (N, 1), targets (N, 1) or (N,) float32; right when
      ``target == (prediction > threshold ? 1 : 0)``, compared exactly (a target of 0.7 is never
      right); ``threshold`` is rounded to float32.

    The count uses integer atomics: exact, the same on every run. Read ``int(total)`` once an epoch.
    """
    _cuda.accuracy_count(total, predictions, targets, kind, threshold, stream=_stream())


def increment(counters):
    """Adds 1 to every element of ``counters``, an int64 device array of shape () or (n,): the step
    counters a captured training step advances at its end."""
    _cuda.increment(counters, stream=_stream())


# --------------------------------------------------------------------------------------------------
# Settings and facts

def set_allow_tf32(allow: bool) -> None:
    """Let float32 GEMMs use TF32 tensor cores (about 10 mantissa bits). Off by default, so that
    results match the other backends; benchmarks may turn it on."""
    _cuda.set_allow_tf32(bool(allow))


def get_allow_tf32() -> bool:
    """Whether float32 GEMMs may use TF32 tensor cores."""
    return _cuda.get_allow_tf32()


def blas_version() -> str:
    """The cuBLAS that was loaded, e.g. ``'cuBLAS 13.1.1'``."""
    return _cuda.cublas_version()
