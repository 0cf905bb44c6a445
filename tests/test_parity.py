"""Every native op against the NumPy reference, on odd sizes, for each backend that imports here.

The catalogue of cases lives in ``backend_cases.py``: each activation; dense with each fused activation,
with and without bias, with dx skipped; each loss (one-hot, probability and int32/int64 labels);
dropout (masks compared bit for bit); each optimiser with its options; conv2d with each activation
and max/avg pooling on small odd images (max-pool argmax compared exactly). float32 throughout, with
``atol`` scaled by the square root of the summed length for GEMM outputs.
"""
import numpy as np
import pytest

from axonal.activations import FROM_INPUT, FUSED_REFUSAL
from axonal.backend import reference
from backend_cases import (CASE_NAMES, FUSED_ACTIVATIONS, assert_matches_reference, available_backends,
                           compare_outputs, fused_refusals, missing_ops, run_case, size_id, sizes_for,
                           unavailable_backends)

RTOL, ATOL = 1e-4, 1e-5
BACKENDS = available_backends()
CASE_SIZES = [pytest.param(name, sizes, id=f"{name}-{size_id(name, sizes)}")
              for name in CASE_NAMES for sizes in sizes_for(name)]
NO_BACKEND_REASON = "no native backend imports here, nothing to compare with the reference (" + "; ".join(
    f"{name}: {reason}" for name, reason in unavailable_backends().items()) + ")"


if BACKENDS:
    @pytest.mark.parametrize("backend", BACKENDS, ids=lambda module: module.NAME)
    @pytest.mark.parametrize("case_name, sizes", CASE_SIZES)
    def test_matches_reference(backend, case_name, sizes):
        if missing := missing_ops(backend, case_name):
            pytest.skip(f"backend {backend.NAME!r} has no {', '.join(missing)} yet")
        assert_matches_reference(backend, case_name, sizes, rtol=RTOL, atol=ATOL)
else:
    def test_matches_reference():
        pytest.skip(NO_BACKEND_REASON)


@pytest.mark.parametrize("case_name, sizes", CASE_SIZES)
def test_reference_float32_agrees_with_float64(case_name, sizes):
    """The catalogue itself: every case runs on the reference, and the parity tolerances hold
    between its float32 and float64 runs (so they leave room for a native backend's rounding)."""
    float32 = run_case(reference, case_name, sizes, np.float32)
    float64 = run_case(reference, case_name, sizes, np.float64)
    compare_outputs(float64, float32, case_name, sizes, RTOL, ATOL, label="numpy float32")


@pytest.mark.parametrize("backend", [reference, *BACKENDS], ids=lambda module: module.NAME)
@pytest.mark.parametrize("activation", sorted(FROM_INPUT) + ["relu"])
def test_fused_kernels_refuse_activations_from_the_input(backend, activation):
    """dense and conv2d keep only y, so an activation whose derivative needs z is refused by each of
    their four ops, with the same message on every backend; the others are taken."""
    refused = activation in FROM_INPUT
    assert (activation in FUSED_ACTIVATIONS) != refused
    expected = {op: f"{op}: " + FUSED_REFUSAL.format(name=activation) if refused else ""
                for op in ("dense_forward", "dense_backward", "conv2d_forward", "conv2d_backward")}
    assert fused_refusals(backend, activation) == expected
