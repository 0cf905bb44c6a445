"""Data-parallel training of ``cuda`` models over NCCL (docs/distributed.md, "Several GPUs"), on the
host emulation of the GPU: tests/distributed/worker.py with ``--backend cuda`` under ``mpiexec -n 2``
and ``-n 3`` (one emulated device per rank, NCCL's collectives carried between the ranks over MPI
and recorded into the captured graphs: tests/cuda_host/host_nccl.py), against the same script run
alone on the same global batches.

The ranks inherit ``AXONAL_CUDA_HOST`` (and the sanitizers' ``LD_PRELOAD``) from this process, as
the CUDA host run of ``.ci/run`` sets them. Skipped without them, or without mpi4py and mpiexec.
Also here, without MPI: the device dropout kernels' ``first_element`` against the cpu backend's,
and ``DataParallel(devices=...)``'s checks.
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

import axonal
from axonal.distribution.nccl import parse_devices

from test_distribution_mpi import MPIEXEC, assert_close, assert_same_on_every_rank, run, weights

ON_HOST_EMULATION = bool(os.environ.get("AXONAL_CUDA_HOST"))
needs_mpi = [
    pytest.mark.skipif(not ON_HOST_EMULATION, reason="the NCCL path runs on the CUDA host emulation "
                                                     "(AXONAL_CUDA_HOST, tests/cuda_host/README.md)"),
    pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None, reason="mpi4py is not installed (axonal[mpi])"),
    pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec on PATH or beside the interpreter (axonal[mpi])"),
]


def mpi(function):
    for mark in needs_mpi:
        function = mark(function)
    return function


def cuda(*options: str) -> tuple[str, ...]:
    return ("--backend", "cuda", *options)


@mpi
def test_one_sgd_step_on_two_gpus_matches_one(tmp_path):
    # One global batch of 64 rows: 2 ranks × 32 rows, gradients summed by NCCL inside the captured step.
    one = run(tmp_path, "one", 1, *cuda())[0]
    two = run(tmp_path, "two", 2, *cuda())
    assert_same_on_every_rank([{k: v for k, v in r.items() if k != "device"} for r in two])
    assert [int(r["device"]) for r in two] == [0, 1]  # one emulated GPU per rank (the local rank's)
    assert_close(one, two[0], 1e-6)
    assert not np.allclose(weights(one)[0], weights(two[0])[0] + 0.5)  # rank 1's own start was replaced


@mpi
def test_adam_dropout_an_uneven_last_batch_and_validation(tmp_path):
    # 100 rows in batches of 16 (the last has 4), runs of 3 captured steps (graphs replayed, the
    # epoch's last run another graph), dropout masks drawn at each row's global index.
    options = cuda("--optimizer", "adam", "--rows", "100", "--batch", "16", "--epochs", "2", "--dropout", "0.3",
                   "--validation", "--steps-per-run", "3", "--devices", "gpu:1,gpu:0")
    one = run(tmp_path, "one", 1, *options)[0]
    two = run(tmp_path, "two", 2, *options)
    assert [int(r["device"]) for r in two] == [1, 0]  # DataParallel(devices=[...]): local rank i takes entry i
    assert_same_on_every_rank([{k: v for k, v in r.items() if k != "device"} for r in two])
    assert_close(one, two[0], 2e-4)
    for key in one:
        if key.startswith("h_"):
            np.testing.assert_allclose(two[0][key], one[key], rtol=1e-5, err_msg=key)
    np.testing.assert_allclose(two[0]["evaluation"], one["evaluation"], rtol=1e-5)


@mpi
@pytest.mark.parametrize("rows, batch", [(33, 16), (7, 2)])
def test_three_ranks_and_a_rank_with_no_rows(tmp_path, rows, batch):
    # 33 in batches of 16: the last batch has 1 row (ranks 1 and 2 have none in it); 7 in batches
    # of 2: rank 2 never has a row, and joins every reduction with zeros.
    options = cuda("--rows", str(rows), "--batch", str(batch), "--epochs", "2", "--dropout", "0.2",
                   "--optimizer", "adam", "--steps-per-run", "2")
    one = run(tmp_path, "one", 1, *options)[0]
    three = run(tmp_path, "three", 3, *options)
    assert_same_on_every_rank([{k: v for k, v in r.items() if k != "device"} for r in three])
    assert_close(one, three[0], 2e-4)
    np.testing.assert_allclose(three[0]["h_loss"], one["h_loss"], rtol=1e-5)


@mpi
def test_a_cnn_with_spatial_dropout_matches_one_rank(tmp_path):
    # SpatialDropout2D and Dropout on the GPU draw their masks at the shard's global maps/elements.
    options = cuda("--model", "cnn", "--rows", "24", "--batch", "12", "--optimizer", "adam", "--dropout", "0.3")
    one = run(tmp_path, "one", 1, *options)[0]
    two = run(tmp_path, "two", 2, *options)
    assert_close(one, two[0], 2e-4)


@mpi
def test_batch_normalization_statistics_agree_across_gpus(tmp_path):
    # Per-shard statistics in the steps, averaged over the ranks after each epoch (as on the CPU).
    two = run(tmp_path, "two", 2, *cuda("--model", "bn", "--rows", "64", "--batch", "16", "--epochs", "2"))
    assert_same_on_every_rank([{k: v for k, v in r.items() if k != "device"} for r in two])


@mpi
def test_deterministic_mode_is_bit_identical_across_ranks_and_reruns(tmp_path):
    # Each bucket allgathered and summed in rank order on the device.
    options = cuda("--rows", "70", "--batch", "16", "--epochs", "2", "--optimizer", "adam", "--deterministic",
                   "--steps-per-run", "2")
    first = run(tmp_path, "first", 3, *options)
    again = run(tmp_path, "again", 3, *options)
    first = [{k: v for k, v in r.items() if k != "device"} for r in first]
    assert_same_on_every_rank(first)
    for a, b in zip(first, again):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@mpi
def test_a_rank_that_fails_stops_the_other_inside_its_nccl_collective(tmp_path):
    # Rank 1 raises after epoch 0; rank 0 (no shuffle: no collective before the next step) is then
    # in the next replayed graph's allreduce: rank 1's abort ends it, and rank 1's message is given.
    output = run(tmp_path, "fault", 2, *cuda("--rows", "64", "--batch", "8", "--epochs", "3", "--no-shuffle",
                                             "--raise-at-epoch-end", "1", "--steps-per-run", "2"),
                 expect_failure=True)
    assert "rank 1 failed: RuntimeError: boom after epoch 0" in output, output
    assert "rank 0 stopped while waiting for a data-parallel run of steps" in output, output
    assert "ncclRemoteError" in output  # it was inside the collective when the abort came


# ----- without MPI ----------------------------------------------------------------------------------

@pytest.mark.skipif(axonal.backends()["cuda"] != "available", reason="the cuda backend is not available here")
@pytest.mark.parametrize("first_element", [0, 1, 3, 4, 13, 64])
def test_device_dropout_draws_the_masks_of_global_elements(first_element):
    import cupy

    from axonal.backend import cpu, cuda as cuda_ops

    x = np.random.default_rng(0).normal(size=(5, 7)).astype(np.float32)
    y, mask = np.empty_like(x), np.empty(x.shape, np.uint8)
    cpu.dropout_forward(y, mask, x, 0.4, 11, 2, 5, first_element=first_element)
    dx = cupy.asarray(x)
    dy, dmask = cupy.empty(x.shape, np.float32), cupy.empty(x.shape, np.uint8)
    cuda_ops.dropout_forward(dy, dmask, dx, 0.4, 11, 2, 5, first_element=first_element)
    np.testing.assert_array_equal(cupy.asnumpy(dmask), mask)
    np.testing.assert_array_equal(cupy.asnumpy(dy), y)
    images = np.random.default_rng(1).normal(size=(3, 2, 5, 4)).astype(np.float32)  # (N, A, C, B)
    y4, mask4 = np.empty_like(images), np.empty((3, 5), np.uint8)
    cpu.spatial_dropout_forward(y4, mask4, images, 0.4, 11, 2, 5, first_element=first_element)
    dy4, dmask4 = cupy.empty(images.shape, np.float32), cupy.empty((3, 5), np.uint8)
    cuda_ops.spatial_dropout_forward(dy4, dmask4, cupy.asarray(images), 0.4, 11, 2, 5, first_element=first_element)
    np.testing.assert_array_equal(cupy.asnumpy(dmask4), mask4)
    np.testing.assert_array_equal(cupy.asnumpy(dy4), y4)


def test_device_names_are_parsed_and_bad_ones_refused():
    assert parse_devices(["gpu:0", "cuda:3", 2, "GPU:1"]) == [0, 3, 2, 1]
    assert parse_devices("gpu:5") == [5]
    for bad in (["cpu:0"], ["gpu:x"], [True], ["gpu:-1"]):
        with pytest.raises(ValueError, match="devices must name GPUs"):
            parse_devices(bad)
