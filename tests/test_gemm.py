"""The two GEMMs the cpu backend can run (``cpp/gemm.h``): the BLAS library and axonal's own
AVX-512 kernels. Each must give the reference's dense and conv results, the own one on shapes that
cross its block edges (8-row tiles, 32-column panels and their 16-lane halves, 256-long k blocks,
256-row A blocks) and with the same bits on any thread count. The choice itself: ``set_gemm``
refuses unknown names and ``own`` where AVX-512 is not allowed, and ``AXONAL_GEMM`` sets it at
import; otherwise the first GEMM measures both and the faster is remembered in a file.
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


# ----- the default GEMM, chosen by measurement (cpp/gemm_choice.h) ------------------------------

OWN_AVAILABLE = native.get_isa() == "avx512"
CHOICE_CODE = "from axonal import _native; print(_native.get_gemm()); print(_native.gemm_choice())"


def _choose(cache, **environment) -> tuple[str, str]:
    """A fresh process's GEMM and how it was chosen, with its cache folder at ``cache``."""
    env = {key: value for key, value in os.environ.items() if key != "AXONAL_GEMM"}
    env.update(AXONAL_HOME=str(cache), **environment)
    out = subprocess.run([sys.executable, "-c", CHOICE_CODE], env=env, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    return out[0], out[1]


def test_the_first_gemm_measures_and_saves_the_faster(tmp_path):
    gemm, how = _choose(tmp_path / "cache")
    saved = list((tmp_path / "cache").glob("gemm-*.txt"))
    if not OWN_AVAILABLE:
        assert (gemm, saved) == ("blas", []) and "needs AVX-512" in how
        return
    assert how.startswith("measured in this process: own ") and "saved to" in how, how
    assert len(saved) == 1 and saved[0].read_text().splitlines()[0] == gemm
    own_ms, blas_ms = (float(how.split(word)[1].split(" ms")[0]) for word in ("own ", "blas "))
    assert gemm == native.pick_gemm(own_ms, blas_ms)


@pytest.mark.skipif(not OWN_AVAILABLE, reason="only the library runs without AVX-512: nothing to choose")
def test_a_saved_choice_is_read_back_not_measured_again(tmp_path):
    measured, _ = _choose(tmp_path)
    saved = next(tmp_path.glob("gemm-*.txt"))
    other = "own" if measured == "blas" else "blas"
    lines = saved.read_text().splitlines()
    saved.write_text("\n".join([other, *lines[1:]]) + "\n")  # as if the measurement had gone the other way
    gemm, how = _choose(tmp_path)
    assert gemm == other and how.startswith(f"read from {saved}"), how


@pytest.mark.skipif(not OWN_AVAILABLE, reason="only the library runs without AVX-512: nothing to choose")
def test_a_damaged_choice_file_is_measured_again_and_rewritten(tmp_path):
    _choose(tmp_path)
    saved = next(tmp_path.glob("gemm-*.txt"))
    saved.write_text("own-ish\n")
    gemm, how = _choose(tmp_path)
    assert how.startswith("measured in this process") and saved.read_text().splitlines()[0] == gemm


@pytest.mark.skipif(not OWN_AVAILABLE, reason="only the library runs without AVX-512: nothing to choose")
def test_a_folder_that_cannot_be_made_loses_only_the_memory(tmp_path):
    (tmp_path / "a-file").write_text("")
    gemm, how = _choose(tmp_path / "a-file" / "cache")
    assert gemm in ("own", "blas") and "not saved to" in how and "cannot create its folder" in how, how


def test_axonal_gemm_pins_without_measuring(tmp_path):
    gemm, how = _choose(tmp_path, AXONAL_GEMM="blas")
    assert (gemm, how) == ("blas", "pinned by AXONAL_GEMM=blas")
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_axonal_gemm_is_said_to_be_ignored(tmp_path):
    gemm, how = _choose(tmp_path, AXONAL_GEMM="fastest")
    assert gemm in ("own", "blas") and how.startswith("AXONAL_GEMM=fastest is neither blas nor own, so it was ignored")


def test_the_own_gemm_must_be_clearly_faster_to_be_chosen():
    assert native.pick_gemm(0.95, 1.0) == "own"
    assert native.pick_gemm(0.951, 1.0) == "blas"  # a near tie goes to the library
    assert native.pick_gemm(2.0, 1.0) == "blas"


@pytest.mark.skipif(not OWN_AVAILABLE, reason="the own GEMM needs AVX-512")
def test_the_measurement_times_both_gemms():
    own, blas = native.time_gemm_pair()
    assert 0 < own < 1 and 0 < blas < 1  # three GEMMs of 51 MFLOP each: well under a second


def test_set_gemm_pins_and_says_why():
    previous, previous_how = native.get_gemm(), native.gemm_choice()
    try:
        native.set_gemm("blas", "chosen by this test")
        assert (native.get_gemm(), native.gemm_choice()) == ("blas", "chosen by this test")
    finally:
        native.set_gemm(previous, previous_how)
