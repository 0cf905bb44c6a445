"""Files as a user expects them (issue #18, points 2 and 5): loaders open regular files only (a FIFO
blocked forever, /dev/zero was read until memory ran out), and save() respects a write-protected
file, keeps a file's mode, writes through a symbolic link, leaves no orphan temporary files behind
once the next save or load of the path runs, and says which path a full disk refused."""
from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import threading

import numpy as np
import pytest

import axonal
from axonal._files import STALE_SECONDS, remove_stale_temporaries
from axonal.datasets import load_split
from axonal.datasets._errors import DatasetFormatError
from axonal.datasets._formats import read_csv, read_idx, read_npz
from axonal.layers import Dense, Input
from axonal.models import Sequential, load_model
from axonal.saving import SavedFileError


def small_model():
    axonal.set_seed(3)
    model = Sequential([Input(shape=(4,)), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def finishes(call, path, seconds=10.0):
    """Run ``call()`` in a thread; return its exception (None if it returned). A call still
    blocked after ``seconds`` fails the test; the FIFO at ``path`` is then opened for writing
    and closed, so that the blocked open() returns and the thread ends."""
    outcome = {}

    def run():
        try:
            call()
            outcome["error"] = None
        except BaseException as error:  # noqa: BLE001 - handed to the test
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # a writer that leaves at once
        thread.join(seconds)
        pytest.fail(f"the call blocked on {path} for {seconds} s")
    return outcome["error"]


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "m.axonal"
    os.mkfifo(path)
    return path


# ----- reading: regular files only ----------------------------------------------------------------

@pytest.mark.parametrize("load", [load_model, lambda path: small_model().load_weights(path)],
                         ids=["load_model", "load_weights"])
def test_loading_a_fifo_is_refused_before_opening_it(fifo, load):
    error = finishes(lambda: load(fifo), fifo)
    assert isinstance(error, SavedFileError)
    assert str(fifo) in str(error) and "FIFO" in str(error) and "not a regular file" in str(error)


@pytest.mark.parametrize("load", [load_model, lambda path: small_model().load_weights(path)],
                         ids=["load_model", "load_weights"])
def test_loading_a_link_to_a_device_is_refused(tmp_path, load):
    link = tmp_path / "m.axonal"
    link.symlink_to("/dev/zero")
    with pytest.raises(SavedFileError, match=r"symbolic link to '/dev/zero', which is a character device"):
        load(link)


@pytest.mark.parametrize("read", [read_idx, read_csv, lambda path: read_npz(path, "test")],
                         ids=["idx", "csv", "npz"])
@pytest.mark.parametrize("kind", ["fifo", "dev_zero"])
def test_dataset_readers_refuse_what_is_not_a_regular_file(tmp_path, read, kind):
    path = tmp_path / "t10k-images-idx3-ubyte"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    error = finishes(lambda: read(path), path)
    assert isinstance(error, DatasetFormatError), error
    assert str(path) in str(error) and "not a regular file" in str(error)


def test_load_split_names_a_fifo_among_the_dataset_files(tmp_path):
    os.mkfifo(tmp_path / "t10k-images-idx3-ubyte.gz")
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"")
    error = finishes(lambda: load_split("mnist", "test", path=tmp_path), tmp_path / "t10k-images-idx3-ubyte.gz")
    assert isinstance(error, DatasetFormatError) and "FIFO" in str(error), error


def test_load_split_refuses_a_fifo_given_as_path(tmp_path):
    os.mkfifo(tmp_path / "mnist.npz")
    error = finishes(lambda: load_split("mnist", "test", path=tmp_path / "mnist.npz"), tmp_path / "mnist.npz")
    assert isinstance(error, DatasetFormatError) and "mnist.npz" in str(error) and "FIFO" in str(error), error


# ----- writing: permissions, links, special files -------------------------------------------------

def test_save_refuses_a_write_protected_file_and_leaves_it_alone(tmp_path):
    path = tmp_path / "m.axonal"
    path.write_bytes(b"precious")
    path.chmod(0o444)
    with pytest.raises(PermissionError, match=r"write-protected \(mode 0444\).*chmod u\+w"):
        small_model().save(path)
    assert path.read_bytes() == b"precious" and stat.S_IMODE(path.stat().st_mode) == 0o444
    assert os.listdir(tmp_path) == ["m.axonal"]


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664])
def test_save_keeps_the_mode_of_the_file_it_replaces(tmp_path, mode):
    path = tmp_path / "m.axonal"
    small_model().save(path)
    path.chmod(mode)
    small_model().save(path)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    load_model(path)


def test_save_through_a_symbolic_link_replaces_the_file_it_points_to(tmp_path):
    target, link = tmp_path / "real.axonal", tmp_path / "latest.axonal"
    small_model().save(target)
    link.symlink_to(target.name)
    model = small_model()
    model.fit(np.ones((4, 4), np.float32), np.zeros(4), verbose=0)
    model.save(link)
    assert link.is_symlink() and os.readlink(link) == target.name
    np.testing.assert_array_equal(load_model(target).get_weights()[0], model.get_weights()[0])


def test_save_refuses_to_replace_a_device(tmp_path):
    link = tmp_path / "m.axonal"
    link.symlink_to("/dev/null")
    with pytest.raises(OSError, match=r"'/dev/null', which is a character device.*would replace it"):
        small_model().save(link)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.parametrize("code, cause", [(errno.ENOSPC, "the disk is full"), (errno.EDQUOT, "quota"),
                                         (errno.EROFS, "read-only")])
def test_a_failed_write_names_the_path_and_the_cause(tmp_path, monkeypatch, code, cause):
    path = tmp_path / "m.axonal"
    small_model().save(path)
    before = path.read_bytes()

    def fail(descriptor):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match=cause) as raised:
        small_model().save(path)
    assert raised.value.errno == code and repr(str(path)) in str(raised.value)
    assert "was not changed" in str(raised.value) and "Fix:" in str(raised.value)
    assert os.listdir(tmp_path) == ["m.axonal"] and path.read_bytes() == before


# ----- saves killed midway ------------------------------------------------------------------------

_KILLED_SAVE = """
import os, signal, sys
import numpy as np
import axonal
from axonal.layers import Dense, Input
from axonal.models import Sequential
model = Sequential([Input(shape=(512,)), Dense(2048), Dense(10)])
os.fsync = lambda descriptor: os.kill(os.getpid(), signal.SIGKILL)  # killed with the data written
model.save(sys.argv[1])
"""


def kill_saves(path, count):
    for _ in range(count):
        result = subprocess.run([sys.executable, "-c", _KILLED_SAVE, str(path)], timeout=120)
        assert result.returncode == -signal.SIGKILL


def temporaries(folder):
    return sorted(name for name in os.listdir(folder) if name.endswith(".tmp"))


@pytest.mark.parametrize("then", ["save", "load"])
def test_the_next_save_or_load_removes_what_killed_saves_left(tmp_path, then):
    path = tmp_path / "m.axonal"
    small_model().save(path)
    kill_saves(path, 3)
    assert len(temporaries(tmp_path)) == 1  # each killed save removed its predecessor's (4 MiB each)
    other = tmp_path / "other.axonal"
    kill_saves(other, 1)
    if then == "save":
        small_model().save(path)
    else:
        load_model(path)
    assert temporaries(tmp_path) == [name for name in temporaries(tmp_path) if name.startswith(".other.axonal.")]
    assert len(temporaries(tmp_path)) == 1  # another path's leftovers wait for that path


def test_temporaries_of_running_saves_are_kept(tmp_path):
    """A save still running (this process's, another live process's, or one of another host or an
    older axonal written to recently) keeps its file; one untouched for an hour goes."""
    path = tmp_path / "m.axonal"
    live = tmp_path / f".m.axonal.axtmp-{os.getppid()}-elsewhere.abcdefgh.tmp"
    other_host_old = tmp_path / ".m.axonal.axtmp-1-elsewhere.abcdefgh.tmp"
    legacy_recent, legacy_old = tmp_path / ".m.axonal.k2j4_8sd.tmp", tmp_path / ".m.axonal.q0w9e8r7.tmp"
    for file in (live, other_host_old, legacy_recent, legacy_old):
        file.write_bytes(b"partial")
    old = os.stat(legacy_old).st_mtime - STALE_SECONDS - 60
    for file in (other_host_old, legacy_old):
        os.utime(file, (old, old))
    removed = remove_stale_temporaries(path)
    assert sorted(map(os.path.basename, removed)) == sorted([other_host_old.name, legacy_old.name])
    assert live.exists() and legacy_recent.exists()
