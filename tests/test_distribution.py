"""axonal.distribution without a launcher (the one-process no-op), its argument checks, the
sharding arithmetic, the launcher detection and the global dropout numbering it relies on. The
runs under a real MPI are in tests/test_distribution_mpi.py."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import axonal
from axonal import distribution
from axonal.backend import reference
from axonal.distribution import launcher
from axonal.distribution.sharding import shard_bounds, shard_sizes

PYTHON_DIR = str(Path(axonal.__file__).parents[1])  # the axonal this test imported, for its subprocesses


@pytest.fixture(autouse=True)
def _no_distribution_left():
    yield
    distribution.set_distribution(None)


@pytest.mark.parametrize("rows", [0, 1, 2, 5, 16, 33, 100])
@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_shards_cover_every_row_once_and_differ_by_at_most_one(rows, size):
    bounds = [shard_bounds(rows, size, r) for r in range(size)]
    covered = [i for first, end in bounds for i in range(first, end)]
    assert covered == list(range(rows))  # contiguous, in rank order, no duplicate, no padding
    sizes = shard_sizes(rows, size)
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_a_tiny_last_batch_leaves_ranks_empty():
    assert shard_sizes(1, 3) == [1, 0, 0]
    assert shard_bounds(1, 3, 2) == (1, 1)


@pytest.mark.parametrize("environ, size", [
    ({}, 1), ({"PMI_SIZE": "4", "PMI_RANK": "1"}, 4), ({"OMPI_COMM_WORLD_SIZE": "2"}, 2),
    ({"MV2_COMM_WORLD_SIZE": "3"}, 3), ({"PMIX_RANK": "0", "SLURM_NTASKS": "8"}, 8), ({"PMI_SIZE": "x"}, 1),
])
def test_the_launcher_is_told_from_the_environment(environ, size):
    assert launcher.launched_size(environ) == size
    assert launcher.wants_mpi(environ) == (size > 1)


def test_the_environment_can_force_or_forbid_mpi():
    assert launcher.wants_mpi({"AXONAL_DISTRIBUTED": "1"})
    assert not launcher.wants_mpi({"AXONAL_DISTRIBUTED": "0", "PMI_SIZE": "4"})


def test_without_a_launcher_everything_is_one_process():
    assert (distribution.rank(), distribution.size(), distribution.is_chief()) == (0, 1, True)
    np.testing.assert_array_equal(distribution.allreduce([1.0, 2.0]), [1.0, 2.0])
    np.testing.assert_array_equal(distribution.allreduce(np.arange(3), "max"), [0, 1, 2])
    np.testing.assert_array_equal(distribution.broadcast(np.ones(2)), [1.0, 1.0])
    distribution.barrier()
    dp = distribution.DataParallel()
    assert (dp.rank, dp.size, dp.is_chief) == (0, 1, True)
    assert distribution.active() is None  # one process: fit runs as without a distribution


def test_data_parallel_shows_every_setting_the_ranks_must_share():
    shown = repr(distribution.DataParallel(deterministic=True, bucket_bytes=4096, shared_memory=False))
    assert shown == "DataParallel(rank=0, size=1, deterministic=True, bucket_bytes=4096, shared_memory=False)"


def test_set_distribution_and_scope():
    dp = distribution.DataParallel(deterministic=True)
    assert distribution.distribution() is None
    with dp.scope():
        assert distribution.distribution() is dp
    assert distribution.distribution() is None
    distribution.set_distribution(dp)
    assert distribution.distribution() is dp
    with distribution.scope():
        assert distribution.distribution() is dp
    distribution.set_distribution(None)
    with pytest.raises(ValueError, match="no distribution given"):
        distribution.scope()


@pytest.mark.parametrize("kwargs, error, text", [
    ({"devices": ["tpu:0"]}, ValueError, "devices must name GPUs"),
    ({"devices": []}, ValueError, "devices is empty"),
    ({"deterministic": "yes"}, TypeError, "deterministic"),
    ({"bucket_bytes": 0}, ValueError, "bucket_bytes"),
    ({"timeout": -1}, ValueError, "timeout"),
    ({"shared_memory": "auto"}, TypeError, "shared_memory must be True or False, received 'auto'"),
])
def test_data_parallel_refuses_bad_arguments(kwargs, error, text):
    with pytest.raises(error, match=text):
        distribution.DataParallel(**kwargs)


def test_bad_collective_arguments_are_refused():
    with pytest.raises(TypeError, match="numeric NumPy array"):
        distribution.allreduce(["a", "b"])
    with pytest.raises(ValueError, match="op must be one of"):
        distribution.allreduce([1.0], "product")
    with pytest.raises(ValueError, match="root must be a rank"):
        distribution.broadcast([1.0], root=1)
    with pytest.raises(TypeError, match="DataParallel or None"):
        distribution.set_distribution("data_parallel")


def test_a_one_process_distribution_trains_as_without_one():
    def train(distributed: bool):
        axonal.set_seed(3)
        model = axonal.Sequential([axonal.layers.Input((5,)), axonal.layers.Dense(4, activation="relu"),
                                   axonal.layers.Dropout(0.3), axonal.layers.Dense(2, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        x = np.random.default_rng(0).normal(size=(50, 5)).astype(np.float32)
        y = np.arange(50) % 2
        if distributed:
            distribution.set_distribution(distribution.DataParallel())
        history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        distribution.set_distribution(None)
        return model.get_weights(), history.history

    (w1, h1), (w2, h2) = train(False), train(True)
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    assert h1 == h2


@pytest.mark.parametrize("first_row, rows", [(0, 3), (1, 4), (3, 1), (5, 2)])
@pytest.mark.parametrize("width", [1, 3, 7, 8])
def test_a_shards_dropout_mask_is_that_part_of_the_global_mask(first_row, rows, width):
    # The mask of rows [first_row, first_row + rows) of a global batch, drawn with first_element,
    # is that slice of the global batch's mask: on the reference and on cpu (any alignment mod 4).
    from axonal.backend import cpu

    x = np.random.default_rng(1).normal(size=(8, width)).astype(np.float32)
    whole_y, whole_mask = np.empty_like(x), np.empty(x.shape, np.uint8)
    reference.dropout_forward(whole_y, whole_mask, x, 0.4, 11, 2, 5)
    part = np.ascontiguousarray(x[first_row:first_row + rows])
    for ops in (reference, cpu):
        y, mask = np.empty_like(part), np.empty(part.shape, np.uint8)
        ops.dropout_forward(y, mask, part, 0.4, 11, 2, 5, first_element=first_row * width)
        np.testing.assert_array_equal(mask, whole_mask[first_row:first_row + rows])
        np.testing.assert_array_equal(y, whole_y[first_row:first_row + rows])


def test_a_large_shard_uses_the_vector_paths_with_the_same_mask():
    from axonal.backend import cpu

    x = np.random.default_rng(2).normal(size=(300, 1001)).astype(np.float32)
    whole_y, whole_mask = np.empty_like(x), np.empty(x.shape, np.uint8)
    cpu.dropout_forward(whole_y, whole_mask, x, 0.3, 1, 2, 3)
    part = np.ascontiguousarray(x[151:])
    y, mask = np.empty_like(part), np.empty(part.shape, np.uint8)
    cpu.dropout_forward(y, mask, part, 0.3, 1, 2, 3, first_element=151 * 1001)
    np.testing.assert_array_equal(mask, whole_mask[151:])
    np.testing.assert_array_equal(y, whole_y[151:])


def _run(code: str, **environ) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "MV2_", "PMIX_"))}
    env.update(environ, PYTHONPATH=PYTHON_DIR + os.pathsep + env.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_import_axonal_never_loads_mpi():
    done = _run("import sys, axonal; axonal.distribution.rank(); print('mpi4py' in sys.modules)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_a_launch_without_mpi4py_says_how_to_install_it():
    # A launcher's variables, and mpi4py made unimportable: the error names both and the fix.
    done = _run("import sys; sys.modules['mpi4py'] = None\nimport axonal\naxonal.distribution.initialize()",
                PMI_SIZE="2", PMI_RANK="0")
    assert done.returncode != 0
    assert "PMI_SIZE=2" in done.stderr and "pip install 'axonal[mpi]'" in done.stderr


@pytest.mark.parametrize("first_row", [1, 3, 6])
def test_a_shards_spatial_dropout_mask_is_that_part_of_the_global_mask(first_row):
    from axonal.backend import cpu

    x = np.random.default_rng(3).normal(size=(8, 5, 3, 1)).astype(np.float32)  # (N, A, C, B)
    whole_y, whole_mask = np.empty_like(x), np.empty((8, 3), np.uint8)
    reference.spatial_dropout_forward(whole_y, whole_mask, x, 0.5, 4, 1, 2)
    part = np.ascontiguousarray(x[first_row:])
    for ops in (reference, cpu):
        y, mask = np.empty_like(part), np.empty((len(part), 3), np.uint8)
        ops.spatial_dropout_forward(y, mask, part, 0.5, 4, 1, 2, first_element=first_row * 3)
        np.testing.assert_array_equal(mask, whole_mask[first_row:])
        np.testing.assert_array_equal(y, whole_y[first_row:])
