"""Data-parallel training under a real MPI: tests/distributed/worker.py run by ``mpiexec -n 2`` /
``-n 3`` against the same script run alone (one rank), on the same global batches.

Skipped, with the reason, when mpi4py or mpiexec is missing (``pip install 'axonal[mpi]'``). The
ranks run with one thread each (ranks × threads never above the cores; ``-n 3`` oversubscribes a
2-core machine, which is fine for these logic checks and never used for timings).
"""
from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import axonal

WORKER = Path(__file__).parent / "distributed" / "worker.py"
MPIEXEC = shutil.which("mpiexec", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None, reason="mpi4py is not installed (axonal[mpi])"),
    pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec on PATH or beside the interpreter (axonal[mpi])"),
]


def _native_isa() -> str:
    """The vector width of the cpu backend's kernels here ("none" without the backend)."""
    try:
        from axonal import _native
    except ImportError:
        return "none"
    return _native.get_isa()


def _environment() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "MV2_", "PMIX_"))}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", AXONAL_DISTRIBUTED_TIMEOUT="60")
    # The ranks import the axonal this test imported (an installed wheel, or the checkout's python/).
    env["PYTHONPATH"] = str(Path(axonal.__file__).parents[1]) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run(tmp_path, name: str, ranks: int, *options: str, expect_failure: bool = False):
    """Run the worker on ``ranks`` ranks (1: alone, without mpiexec); each rank's results."""
    out = tmp_path / name
    command = [sys.executable, str(WORKER), str(out), *options]
    if ranks > 1:
        command = [MPIEXEC, "-n", str(ranks), *command]
    done = subprocess.run(command, env=_environment(), capture_output=True, text=True, timeout=240)
    if expect_failure:
        assert done.returncode != 0, done.stdout + done.stderr
        return done.stdout + done.stderr
    assert done.returncode == 0, done.stdout + done.stderr
    return [dict(np.load(f"{out}.rank{r}.npz")) for r in range(ranks)]


def weights(result: dict) -> list[np.ndarray]:
    return [result[f"w{i}"] for i in range(sum(k.startswith("w") for k in result))]


def assert_close(one: dict, many: dict, rtol: float) -> None:
    for a, b in zip(weights(one), weights(many)):
        np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol * max(1.0, float(np.abs(a).max())))


def assert_same_on_every_rank(results: list[dict]) -> None:
    for other in results[1:]:
        for key in results[0]:
            np.testing.assert_array_equal(other[key], results[0][key], err_msg=key)


@pytest.mark.parametrize("backend, path", [("cpu", "shared"), ("cpu", "mpi"), ("numpy", "")])
def test_one_sgd_step_matches_one_rank(tmp_path, backend, path):
    # One global batch of 64 rows: 2 ranks × 32 rows must give the 1-rank step's weights, through the
    # shared-memory window and through MPI's allreduce.
    one = run(tmp_path, "one", 1, "--backend", backend)[0]
    two = run(tmp_path, "two", 2, "--backend", backend, *(["--mpi-allreduce"] if path == "mpi" else []))
    assert_same_on_every_rank(two)
    assert int(two[0]["shared_window"]) == {"shared": 1, "mpi": 0, "": -1}[path]  # the path asked for ran
    assert_close(one, two[0], 1e-6)
    assert not np.allclose(weights(one)[0], weights(two[0])[0] + 0.5)  # rank 1's own start was replaced


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop", "adam"])
def test_an_epoch_with_dropout_and_an_uneven_last_batch(tmp_path, optimizer):
    # 100 rows in batches of 16: the last batch has 4 rows (2 per rank); dropout masks at global rows.
    options = ("--optimizer", optimizer, "--rows", "100", "--batch", "16", "--epochs", "2", "--dropout", "0.3",
               "--validation")
    one = run(tmp_path, "one", 1, *options)[0]
    two = run(tmp_path, "two", 2, *options)
    assert_same_on_every_rank(two)
    assert_close(one, two[0], 2e-4)
    for key in one:
        if key.startswith("h_"):
            np.testing.assert_allclose(two[0][key], one[key], rtol=1e-4, err_msg=key)
    np.testing.assert_allclose(two[0]["evaluation"], one["evaluation"], rtol=1e-4)
    np.testing.assert_allclose(two[0]["predictions"], one["predictions"], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("path", ["shared", "mpi"])
def test_three_ranks_and_a_rank_with_no_rows(tmp_path, path):
    # 33 rows in batches of 16: the last batch has 1 row, so ranks 1 and 2 have none in it.
    options = ("--rows", "33", "--batch", "16", "--epochs", "2", "--dropout", "0.2", "--optimizer", "adam")
    one = run(tmp_path, "one", 1, *options)[0]
    three = run(tmp_path, "three", 3, *options, *(["--mpi-allreduce"] if path == "mpi" else []))
    assert_same_on_every_rank(three)
    assert int(three[0]["shared_window"]) == (path == "shared")
    assert_close(one, three[0], 2e-4)
    np.testing.assert_allclose(three[0]["h_loss"], one["h_loss"], rtol=1e-4)


def test_three_ranks_layer_by_layer(tmp_path):
    options = ("--rows", "33", "--batch", "16", "--backend", "numpy", "--dropout", "0.2")
    one = run(tmp_path, "one", 1, *options)[0]
    three = run(tmp_path, "three", 3, *options)
    assert_same_on_every_rank(three)
    assert_close(one, three[0], 2e-5)


@pytest.mark.parametrize("backend", ["cpu", "numpy"])
def test_train_on_batch_loops_shard_each_global_batch(tmp_path, backend):
    options = ("--on-batch", "--rows", "50", "--batch", "16", "--dropout", "0.3", "--optimizer", "rmsprop",
               "--backend", backend)
    one = run(tmp_path, "one", 1, *options)[0]
    three = run(tmp_path, "three", 3, *options)
    assert_same_on_every_rank(three)
    assert_close(one, three[0], 2e-5)
    np.testing.assert_allclose(three[0]["h_loss"], one["h_loss"], rtol=1e-5)
    np.testing.assert_allclose(three[0]["evaluation"], one["evaluation"], rtol=1e-5)


@pytest.mark.parametrize("backend", ["cpu", "numpy"])
def test_a_pydataset_feeds_global_batches(tmp_path, backend):
    # Each PyDataset batch (shuffled batch order, drawn from rank 0's generator) is a global batch.
    options = ("--pydataset", "--rows", "70", "--batch", "16", "--epochs", "2", "--dropout", "0.2",
               "--optimizer", "adam", "--validation", "--backend", backend)
    one = run(tmp_path, "one", 1, *options)[0]
    three = run(tmp_path, "three", 3, *options)
    assert_same_on_every_rank(three)
    assert_close(one, three[0], 1e-4)
    for key in one:
        if key.startswith("h_"):
            np.testing.assert_allclose(three[0][key], one[key], rtol=1e-4, err_msg=key)


def test_generators_that_yield_different_batches_are_stopped(tmp_path):
    output = run(tmp_path, "short", 2, "--short-generator", "1", "--rows", "2000", "--batch", "16",
                 expect_failure=True)
    # Rank 1's last chunk is a batch short (or its epoch has ended): said, with what each rank had.
    assert "the ranks' batch sources disagree (rank 0: " in output and "rank 1: " in output, output


def test_cnn_matches_one_rank(tmp_path):
    options = ("--model", "cnn", "--rows", "40", "--batch", "16", "--optimizer", "adam", "--dropout", "0.3")
    one = run(tmp_path, "one", 1, *options)[0]
    two = run(tmp_path, "two", 2, *options)
    assert_same_on_every_rank(two)
    assert_close(one, two[0], 2e-4)


def test_augmentation_draws_each_image_at_its_global_place(tmp_path):
    """Two ranks augment the images of a global batch exactly as one rank does (a shard draws from its
    first image's place), so the weights match the one-rank run; shards drawing from image 0 would not."""
    options = ("--model", "augmented", "--rows", "40", "--batch", "16", "--optimizer", "adam")
    one = run(tmp_path, "one", 1, *options)[0]
    two = run(tmp_path, "two", 2, *options)
    assert_same_on_every_rank(two)
    assert_close(one, two[0], 2e-4)


def test_batch_normalization_statistics_agree_across_ranks(tmp_path):
    # Per-shard statistics (as Keras' DataParallel): not the 1-rank numbers, but the same on every rank.
    two = run(tmp_path, "two", 2, "--model", "bn", "--rows", "64", "--batch", "16", "--epochs", "2")
    assert_same_on_every_rank(two)


def test_deterministic_mode_is_bit_identical_across_reruns(tmp_path):
    options = ("--rows", "70", "--batch", "16", "--epochs", "2", "--optimizer", "adam", "--deterministic")
    first = run(tmp_path, "first", 3, *options)
    again = run(tmp_path, "again", 3, *options)
    assert_same_on_every_rank(first)
    for a, b in zip(first, again):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_a_rank_that_fails_stops_every_rank_with_its_message(tmp_path):
    output = run(tmp_path, "fault", 2, "--fault", "1", expect_failure=True)
    assert "rank 1 failed" in output
    assert "rank 0 stopped while waiting for the start-of-fit check" in output
    assert "NaN" in output  # the cause, as rank 1 saw it


def test_ranks_with_different_data_shapes_are_refused(tmp_path):
    output = run(tmp_path, "mismatch", 2, "--mismatch", "1", expect_failure=True)
    assert "the ranks disagree" in output and "data shapes differs" in output
    assert "rank 0: [((64, 12), 'float32')" in output and "rank 1: [((64, 11), 'float32')" in output


def test_ranks_with_different_compile_settings_are_refused(tmp_path):
    output = run(tmp_path, "compile", 3, "--other-optimizer", "2", expect_failure=True)
    assert "the ranks disagree" in output and "compile settings differs" in output
    assert "data shapes" not in output.split("the ranks disagree")[1].split("Fix:")[0]


def test_ranks_that_would_reduce_differently_are_refused(tmp_path):
    output = run(tmp_path, "reduction", 2, "--mpi-allreduce-on", "1", expect_failure=True)
    assert "the ranks disagree" in output and "distribution differs" in output
    assert "shared_memory=True" in output and "shared_memory=False" in output


def test_a_rank_that_fails_mid_epoch_stops_the_others(tmp_path):
    # Rank 1 raises from a batch hook; rank 0 is waiting in the next step's gradient reduction.
    output = run(tmp_path, "midway", 2, "--rows", "200", "--batch", "8", "--raise-in-batch", "1",
                 expect_failure=True)
    assert "rank 1 failed: RuntimeError: boom at batch 0" in output
    assert "rank 0 stopped while waiting" in output


def test_only_rank_zero_writes_files_and_load_model_reads_once(tmp_path):
    base = tmp_path / "model"
    run(tmp_path, "files", 2, "--checkpoint", str(base), "--epochs", "2")
    assert sorted(p.name for p in tmp_path.glob("model.*")) == ["model.r0.axonal", "model.r0.csv"]
    assert len((tmp_path / "model.r0.csv").read_text().splitlines()) == 3  # header and two epochs


def _reducer_case(case: str, path: str, ranks: int = 2) -> str:
    command = [MPIEXEC, "-n", str(ranks), sys.executable,
               str(Path(__file__).parent / "distributed" / "reducer_worker.py"), case, path]
    done = subprocess.run(command, env=_environment(), capture_output=True, text=True, timeout=120)
    return done.stdout + done.stderr


@pytest.mark.parametrize("path", ["mpi", "shared"])
@pytest.mark.parametrize("case", ["sums", "deterministic"])
def test_native_reducer_sums_over_the_ranks(case, path):
    output = _reducer_case(case, path, ranks=3)
    assert all(f"rank {r} sums ok" in output for r in range(3)), output


@pytest.mark.parametrize("path", ["mpi", "shared"])
def test_native_wait_ends_with_the_failing_ranks_message(path):
    output = _reducer_case("fault", path)
    assert "caught: rank 0 stopped while waiting for a test reduction: rank 1 failed: ValueError: bad input on " \
           "rank one" in output, output


def test_models_trained_in_turn_grow_the_window(tmp_path):
    worker = str(Path(__file__).parent / "distributed" / "growth_worker.py")
    for ranks in (1, 2):
        command = [sys.executable, worker, str(tmp_path / f"n{ranks}")]
        done = subprocess.run([MPIEXEC, "-n", str(ranks), *command] if ranks > 1 else command, env=_environment(),
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
    one = np.load(tmp_path / "n1.rank0.npy")
    two = [np.load(tmp_path / f"n2.rank{r}.npy") for r in range(2)]
    np.testing.assert_array_equal(two[1], two[0])
    np.testing.assert_allclose(two[0], one, rtol=1e-5, atol=1e-6)


THREADS_CODE = ("import os, sys, axonal; from axonal import _native; from axonal.models.executors import threads; "
                "c = axonal.distribution.initialize(); now = _native.get_num_threads(); "
                "axonal.set_num_threads(1); axonal.set_num_threads(None); "
                "open(f'{sys.argv[1]}.{c.rank}', 'w').write(f'{now} {threads.default_threads()} '"
                "f'{len(os.sched_getaffinity(0))} {_native.get_num_threads()}')")


@pytest.mark.parametrize("ranks, pinned", [(2, False), (3, False), (2, True)])
def test_each_rank_takes_its_share_of_the_hosts_cores(tmp_path, ranks, pinned):
    # Without OMP_NUM_THREADS every rank would start a team for every core (ranks x cores threads);
    # a pinned count is the user's and stays.
    env = _environment()
    if not pinned:
        del env["OMP_NUM_THREADS"], env["MKL_NUM_THREADS"]
    done = subprocess.run([MPIEXEC, "-n", str(ranks), sys.executable, "-c", THREADS_CODE, str(tmp_path / "threads")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    for rank in range(ranks):
        now, default, usable, unpinned = map(int, (tmp_path / f"threads.{rank}").read_text().split())
        expected = 1 if pinned else max(1, usable // ranks)
        assert now == expected, (rank, now, default, usable)
        if not pinned:
            assert default == expected  # the governors' ceiling too
            assert unpinned == expected  # set_num_threads(None) goes back to the share, not every core


def test_a_window_larger_than_dev_shm_is_refused_with_the_fix():
    # Docker's default /dev/shm of 64 MB, in a private mount namespace (needs root; skipped without):
    # a 192 MiB window would otherwise be allocated and end the process with SIGBUS at its first touch.
    if shutil.which("unshare") is None:
        pytest.skip("no unshare here to give the ranks a small /dev/shm")
    worker = Path(__file__).parent / "distributed" / "reducer_worker.py"
    script = (f"mount -t tmpfs -o size=64m tmpfs /dev/shm || exit 99\n"
              f"exec {shlex.quote(MPIEXEC)} -n 2 {shlex.quote(sys.executable)} {shlex.quote(str(worker))} room shared\n")
    done = subprocess.run(["unshare", "-m", "bash", "-c", script], env=_environment(), capture_output=True, text=True,
                          timeout=120)
    if done.returncode == 99 or "unshare failed" in done.stderr or "Operation not permitted" in done.stderr:
        pytest.skip(f"a private /dev/shm cannot be mounted here: {done.stderr.strip()[:200]}")
    output = done.stdout + done.stderr
    for rank in range(2):
        assert f"rank {rank} caught: rank {rank}: a test reduction: the shared-memory gradient window needs 192 MiB " \
               f"in /dev/shm" in output, output
    assert "docker run --shm-size=1g" in output and "DataParallel(shared_memory=False)" in output


@pytest.mark.parametrize("path", ["mpi", "shared"])
def test_native_wait_ends_at_the_timeout(path):
    output = _reducer_case("timeout", path)
    assert "caught: rank 0: a test reduction: the gradient reduction did not complete within 3" in output, output


GEMM_CODE = ("import os, sys; rank = os.environ.get('PMI_RANK') or os.environ['OMPI_COMM_WORLD_RANK']; "
             "os.environ['AXONAL_HOME'] = os.path.join(sys.argv[1], rank); "
             "import axonal; from axonal import _native; c = axonal.distribution.initialize(); "
             "open(os.path.join(sys.argv[1], f'out.{c.rank}'), 'w').write(_native.get_gemm() + '\\n' + _native.gemm_choice())")


@pytest.mark.skipif(_native_isa() != "avx512", reason="without AVX-512 every rank runs the library: nothing to agree on")
def test_every_rank_runs_rank_zeros_gemm(tmp_path):
    # Each rank's file remembers a different GEMM (as on two hosts that measured apart); the ranks
    # must still run one, rank 0's, or a run's bits would depend on which host measured what.
    env = _environment()
    probe = subprocess.run([sys.executable, "-c", "from axonal import _native; print(_native.get_gemm())"],
                           env={**env, "AXONAL_HOME": str(tmp_path / "0")}, capture_output=True, text=True,
                           check=True).stdout.strip()
    saved = next((tmp_path / "0").glob("gemm-*.txt"))
    other = "own" if probe == "blas" else "blas"
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / saved.name).write_text(other + "\n")
    done = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-c", GEMM_CODE, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    ranks = [(tmp_path / f"out.{r}").read_text().splitlines() for r in range(2)]
    assert ranks[0][0] == ranks[1][0] == probe, ranks
    assert ranks[1][1].startswith("rank 0's choice") and f"read from {saved}" in ranks[0][1], ranks
