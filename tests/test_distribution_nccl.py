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
import types

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
    # Buckets of 64 bytes: three, each reduced on the communication stream while backward goes on.
    options = cuda("--optimizer", "adam", "--rows", "100", "--batch", "16", "--epochs", "2", "--dropout", "0.3",
                   "--validation", "--steps-per-run", "3", "--devices", "gpu:1,gpu:0", "--bucket-bytes", "64")
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
@pytest.mark.parametrize("rows, batch, bucket_bytes", [(33, 16, 1 << 20), (7, 2, 64)])
def test_three_ranks_and_a_rank_with_no_rows(tmp_path, rows, batch, bucket_bytes):
    # 33 in batches of 16: the last batch has 1 row (ranks 1 and 2 have none in it); 7 in batches
    # of 2: rank 2 never has a row, and joins every bucket's reduction with zeros (its steps have no
    # backward: every bucket is launched at the step's end, in the order the other ranks launch them).
    options = cuda("--rows", str(rows), "--batch", str(batch), "--epochs", "2", "--dropout", "0.2",
                   "--optimizer", "adam", "--steps-per-run", "2", "--bucket-bytes", str(bucket_bytes))
    one = run(tmp_path, "one", 1, *options)[0]
    three = run(tmp_path, "three", 3, *options)
    assert_same_on_every_rank([{k: v for k, v in r.items() if k != "device"} for r in three])
    assert_close(one, three[0], 2e-4)
    np.testing.assert_allclose(three[0]["h_loss"], one["h_loss"], rtol=1e-5)


@mpi
def test_a_cnn_with_spatial_dropout_matches_one_rank(tmp_path):
    # SpatialDropout2D and Dropout on the GPU draw their masks at the shard's global maps/elements.
    options = cuda("--model", "cnn", "--rows", "24", "--batch", "12", "--optimizer", "adam", "--dropout", "0.3",
                   "--bucket-bytes", "64")
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
def test_deterministic_sums_do_not_depend_on_the_buckets_or_when_they_start(tmp_path):
    # One bucket reduced after the whole backward against three of 64 bytes reduced during it (the
    # graph replays them in a different valid order each time): each element is summed in rank
    # order either way, so the weights and logs are the same bits.
    options = cuda("--rows", "40", "--batch", "16", "--optimizer", "adam", "--deterministic", "--dropout", "0.2",
                   "--steps-per-run", "2")
    whole = run(tmp_path, "whole", 2, *options)
    buckets = run(tmp_path, "buckets", 2, *options, "--bucket-bytes", "64")
    for a, b in zip(whole, buckets):
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


# ----- where the buckets start: one process, a communicator of one rank, one captured step ----------

class _OneRank:
    """What GradientBuckets needs of a DataParallel and its MPI side, for one rank (tests)."""

    def __init__(self, deterministic: bool, bucket_bytes: int):
        self.size, self.rank, self.deterministic, self.bucket_bytes = 1, 0, deterministic, bucket_bytes
        self.communicator = types.SimpleNamespace(rank=0, size=1, on_failure=[],
                                                  broadcast_bytes=lambda data, root, what: data)


def emulated(function):
    """Skip without the CUDA host emulation or mpi4py (one process: no mpiexec needed)."""
    return needs_mpi[1](needs_mpi[0](function))


@pytest.fixture
def cuda_backend():
    """The cuda backend (the emulated device) for the test; the previous backend put back."""
    from axonal.backend import backend_name

    previous = backend_name()
    axonal.set_backend("cuda")
    yield
    axonal.set_backend(previous)


def _captured_step(deterministic: bool, mistake=None, trace: bool = True):
    """A 3-Dense MLP's training step with buckets of 64 bytes, captured on the device (``mistake(buckets)``
    may break the buckets first), and, with ``trace`` (the emulated device only), where each layer's
    backward lies among the capture's nodes: (graph, device copy, {layer name: (first node, end)},
    (model, xs, ys))."""
    import cupy

    from axonal import layers
    from axonal.models.executors.device_copy import FULL, DeviceModel

    axonal.set_seed(5)
    model = axonal.Sequential([layers.Input((12,)), layers.Dense(16, activation="relu", name="d1"),
                               layers.Dense(8, activation="relu", name="d2"),
                               layers.Dense(3, activation="softmax", name="d3")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(8, 12)).astype(np.float32)
    y = np.arange(8) % 3
    device = model.device
    with device.activate():
        copy = DeviceModel(model, training=True, distribution=_OneRank(deterministic, 64))
        xs, ys = [cupy.asarray(x)], [cupy.asarray(y)]
        copy.warm_up(xs, ys)
        spans = {}
        for layer in copy.layers if trace else ():
            from cuda_host import host_cupy

            def traced(dy, backward=layer.backward, name=layer.name):
                before = host_cupy.capture_nodes(device.stream)
                result = backward(dy)
                spans[name] = (before, host_cupy.capture_nodes(device.stream))
                return result
            layer.backward = traced
        if mistake is not None:
            mistake(copy.gradients)
        graph = device.capture(lambda: copy.train_step(xs, ys, FULL, shard=(0, 8)))
    return graph, copy, spans, (model, xs, ys)


def _ancestors(nodes, index: int) -> set[int]:
    seen, todo = set(), list(nodes[index][2])
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(nodes[node][2])
    return seen


@emulated
@pytest.mark.parametrize("deterministic", [False, True])
def test_each_bucket_starts_on_the_communication_stream_as_backward_completes_it(cuda_backend, deterministic):
    graph, copy, spans, _ = _captured_step(deterministic)
    buckets = copy.gradients
    # Flat order d3 kernel (24), d3 bias (3), d2 kernel (128), d2 bias (8), d1 kernel (192), d1 bias
    # (16); buckets of 16 floats closed at array boundaries: [d3k] [d3b d2k] [d2b d1k] [d1b].
    assert [len(members) for members in buckets.members] == [1, 2, 2, 1]
    nodes = graph.describe()
    collective = "ncclAllGather" if deterministic else "ncclAllReduce"
    comm, step = buckets.stream.ptr, copy.device.stream.ptr
    launches = [i for i, (label, stream, _) in enumerate(nodes) if label == collective]
    assert len(launches) == 4 and all(nodes[i][1] == comm for i in launches)
    # Bucket 0 after d3's backward and before d2's, bucket 1 after d2's, buckets 2 and 3 after d1's.
    assert spans["d3"][1] <= launches[0] < spans["d2"][0]
    assert spans["d2"][1] <= launches[1] < spans["d1"][0]
    assert spans["d1"][1] <= launches[2] < launches[3]
    completing = {0: "d3", 1: "d2", 2: "d1", 3: "d1"}
    for k, index in enumerate(launches):
        before = _ancestors(nodes, index)
        assert spans[completing[k]][1] - 1 in before  # waits for the last kernel that wrote the bucket
        later = [i for name, (a, b) in spans.items() for i in range(a, b) if a >= index]
        for i in later:  # concurrent with the backward queued after it: the overlap
            assert i not in before and index not in _ancestors(nodes, i), (k, i)
    # The update waits for every bucket (the join), and the collectives keep their order.
    updates = [i for i, (label, stream, _) in enumerate(nodes) if stream == step and i > launches[-1]]
    assert updates and all(set(launches) <= _ancestors(nodes, i) for i in updates)
    assert all(launches[k] in _ancestors(nodes, launches[k + 1]) for k in range(3))
    if deterministic:  # the rank-order sum (one rank: a copy per bucket) runs on the communication stream too
        sums = [i for i, (label, stream, _) in enumerate(nodes) if stream == comm and label != collective]
        assert len(sums) == 4 and all(launches[k] in _ancestors(nodes, i) for k, i in enumerate(sums))


def _nccl_or_skip():
    from axonal.distribution.nccl import load_nccl

    try:
        load_nccl()
    except ImportError as error:
        pytest.skip(f"NCCL is not available through cupy here: {error}")


@pytest.mark.skipif(axonal.backends()["cuda"] != "available", reason="the cuda backend is not available here")
def test_the_replayed_overlapped_step_trains_as_a_plain_step(cuda_backend):
    # One rank: the sums are the gradients themselves, so the replayed graph (its forked nodes run
    # in a random valid order on the emulation, concurrently on a GPU) must give the weights an
    # eager step without a distribution gives. On a GPU machine (tools/gpu_session.sh) this is the
    # one-GPU NCCL path: cupy finding the nvidia-nccl wheel's library, a one-rank communicator, and
    # the communication stream forked and joined inside a real captured graph.
    from axonal.models.executors.device_copy import FULL, DeviceModel

    _nccl_or_skip()
    graph, copy, _, (model, xs, ys) = _captured_step(False, trace=False)
    device = model.device
    with device.activate():
        plain = DeviceModel(model, training=True)
        for _ in range(3):
            device.launch(graph)
            plain.train_step(xs, ys, FULL)
        assert copy._mirrors.keys() == plain._mirrors.keys()  # the same host arrays: weights, slots, gradients
        for key, (host, mirror) in copy._mirrors.items():
            np.testing.assert_array_equal(device.download(mirror), device.download(plain._mirrors[key][1]))
        for param in model._parameters:  # three steps moved every weight from its start (still the host's)
            assert not np.array_equal(device.download(copy._mirror(param)), param)


@emulated
@pytest.mark.parametrize("mistake, message", [
    ("no join", "not joined before end_capture"),
    ("no fork", "not part of the open capture"),
])
def test_the_emulation_refuses_a_fork_or_join_left_out(cuda_backend, mistake, message):
    from cuda_host.host_cupy import CaptureError

    def break_it(buckets):
        if mistake == "no join":  # the step's stream never waits for the communication stream
            buckets.device.stream.wait_event = lambda event: None
        else:  # the communication stream never waits for the step's stream
            buckets.stream.wait_event = lambda event: None
    with pytest.raises((CaptureError, RuntimeError), match=message):
        _captured_step(False, mistake=break_it)
