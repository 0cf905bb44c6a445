"""The ``cpu`` backend: the C++ kernels of ``axonal._native``.

Same op list and signatures as :mod:`axonal.backend.reference` (see ``docs/design.md``), float32
only. Every call checks its arguments (a wrong dtype, shape, layout or an output that aliases an
input raises ``ValueError`` naming the op and the argument), then releases the GIL; kernels
allocate nothing. GEMMs go to Intel MKL, linked statically; elementwise kernels use OpenMP.
"""
from axonal._native import (  # noqa: F401  (re-exported op list)
    accumulate,
    affine_backward,
    affine_forward,
    augment_draw,
    contrast_backward,
    contrast_forward,
    activation_backward,
    activation_forward,
    avg_pool2d_backward,
    batch_norm_backward,
    batch_norm_forward,
    batch_norm_inference_backward,
    batch_norm_inference_forward,
    avg_pool2d_forward,
    conv2d_backward,
    conv2d_forward,
    blas_version,
    concat_backward,
    concat_forward,
    dense_backward,
    dense_forward,
    dropout_backward,
    dropout_forward,
    embedding_backward,
    embedding_forward,
    get_num_threads,
    layer_norm_backward,
    layer_norm_forward,
    max_pool2d_backward,
    max_pool2d_forward,
    mean_squared_error,
    merge_backward,
    merge_forward,
    normalize_backward,
    normalize_forward,
    rescale_backward,
    rescale_forward,
    scale,
    set_num_threads,
    sigmoid_binary_cross_entropy,
    softmax_cross_entropy,
    spatial_dropout_backward,
    spatial_dropout_forward,
    transpose_samples,
    upsample2d_backward,
    upsample2d_forward,
    zero_pad2d_backward,
    zero_pad2d_forward,
)
from axonal._native import optimizer_update
from axonal.backend.update_ops import named_updates

# sgd_update, adam_update, ...: one per row of optimizers.KERNELS, with the reference's signatures.
globals().update(named_updates(optimizer_update))

NAME = "cpu"
