"""The two GEMMs the cpu backend can run (``cpp/gemm.h``): the BLAS library and axonal's own
AVX-512 kernels. Each must give the reference's dense and conv results, the own one on shapes that
cross its block edges (8-row tiles, 32-column panels and their 16-lane halves, 256-long k blocks,
256-row A blocks) and with the same bits on any thread count. The choice itself: ``set_gemm``
refuses unknown names and ``own`` where AVX-512 is not allowed, and ``AXONAL_GEMM`` sets it at
import.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from backend_cases import CASE_NAMES, assert_matches_reference, sizes_for

native = pytest.importorskip("axonal._native")
from axonal.backend import cpu  # noqa: E402

GEMMS = ["blas"] + (["own"] if native.best_isa() == "avx512" else [])
GEMM_CASES = [name for name in CASE_NAMES if name.startswith(("dense:relu", "dense:linear", "conv2d:relu"))]


@pytest.fixture(params=GEMMS)
def gemm(request):
    previous = native.get_gemm()
    native.set_gemm(request.param)
    yield request.param
    native.set_gemm(previous)


@pytest.mark.parametrize("case_name, sizes", [(name, s) for name in GEMM_CASES for s in sizes_for(name)])
def test_each_gemm_matches_the_reference(gemm, case_name, sizes):
    assert_matches_reference(cpu, case_name, sizes)


# (M rows, C inputs, K outputs): every GEMM of a dense layer on each; 300 rows cross the 256-row A
# block, 257 and 513 the k blocks, 33/47/65 columns the panel halves.
EDGE_SHAPES = [(1, 1, 1), (7, 300, 40), (9, 257, 33), (33, 65, 47), (300, 513, 17), (129, 16, 65), (64, 784, 800)]


def _dense_gemms(M, C, K, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((M, C), dtype=np.float32)
    W = rng.standard_normal((C, K), dtype=np.float32)
    dy = rng.standard_normal((M, K), dtype=np.float32)
    y, dz = np.empty((M, K), np.float32), np.empty((M, K), np.float32)
    dx, dW = np.full((M, C), np.nan, np.float32), np.full((C, K), np.nan, np.float32)
    native.dense_forward(y, x, W, None, "linear", 0.0)
    native.dense_backward(dx, dW, None, dz, dy, x, W, y, "linear", 0.0)
    exact = {"y": x.astype(np.float64) @ W, "dx": dy.astype(np.float64) @ W.T, "dW": x.T.astype(np.float64) @ dy}
    return {"y": y, "dx": dx, "dW": dW}, exact, {"y": C, "dx": K, "dW": M}


@pytest.mark.parametrize("M, C, K", EDGE_SHAPES)
def test_every_transposition_on_block_edges(gemm, M, C, K):
    got, exact, lengths = _dense_gemms(M, C, K)
    for name in got:  # the inputs are N(0, 1): a length-L sum is about sqrt(L) in size
        np.testing.assert_allclose(got[name], exact[name], rtol=1e-4, atol=1e-5 * lengths[name],
                                   err_msg=f"{gemm} GEMM, output {name} of ({M}, {C}, {K})")


@pytest.mark.skipif("own" not in GEMMS, reason="the own GEMM needs an AVX-512 CPU")
@pytest.mark.parametrize("M, C, K", [(128, 784, 512), (784, 128, 64), (200, 300, 10)])
def test_own_gemm_bits_do_not_depend_on_the_thread_count(M, C, K):
    """Threads split columns (x·W, dz·Wᵀ here) or rows (xᵀ·dz with 784 rows): each element is
    still one chain over k in order."""
    previous_gemm, previous_threads = native.get_gemm(), native.get_num_threads()
    native.set_gemm("own")
    try:
        runs = []
        for threads in (1, 2, 3):
            native.set_num_threads(threads)
            runs.append(_dense_gemms(M, C, K)[0])
    finally:
        native.set_num_threads(previous_threads)
        native.set_gemm(previous_gemm)
    for other in runs[1:]:
        for name in runs[0]:
            np.testing.assert_array_equal(other[name], runs[0][name], err_msg=name)


def test_set_gemm_refuses_an_unknown_name():
    with pytest.raises(ValueError, match="unknown GEMM 'mkl'; expected blas or own"):
        native.set_gemm("mkl")


@pytest.mark.skipif("own" not in GEMMS, reason="the own GEMM needs an AVX-512 CPU")
def test_own_gemm_follows_the_instruction_set_cap():
    previous_gemm, previous_isa = native.get_gemm(), native.get_isa()
    native.set_gemm("own")
    try:
        native.set_isa("avx2")
        assert native.get_gemm() == "blas"  # capped below AVX-512: the library runs
        with pytest.raises(ValueError, match="'own' needs AVX-512"):
            native.set_gemm("own")
        native.set_isa("avx512")
        assert native.get_gemm() == "own"
    finally:
        native.set_isa(previous_isa)
        native.set_gemm(previous_gemm)


@pytest.mark.parametrize("name", GEMMS)
def test_axonal_gemm_environment_variable_chooses_at_import(name):
    env = {**os.environ, "AXONAL_GEMM": name}
    out = subprocess.run([sys.executable, "-c", "from axonal import _native; print(_native.get_gemm())"],
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert out == name
