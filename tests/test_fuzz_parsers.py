"""Short, derandomised fuzzing of every file parser, and one regression test per bug it found.

The targets (``fuzz_datasets.py``, ``fuzz_models.py``) feed damaged IDX, CSV and .npz files, dataset
folders and saved models to ``read_idx``, ``read_csv``, ``read_npz``, ``load_split``, ``load_model``
and ``load_weights``. Each input must end in the parser's result or in one of its documented
exceptions — nothing else:

=============  ===========================================================================
target         allowed exceptions
=============  ===========================================================================
idx, csv, npz  ``DatasetFormatError`` (a ``ValueError``)
load_split     ``DatasetFormatError`` (incl. ``DatasetChecksumError``), ``DatasetNotFoundError``
load_model     ``SavedFileError`` (a ``ValueError``)
load_weights   ``SavedFileError``
=============  ===========================================================================

and within 10 s and 256 MiB of traced allocations per input (the inputs are a few KiB). The long
campaign over the same targets is ``benchmarks/fuzz_parsers.py``; its figures are in
docs/reliability.md.
"""
from __future__ import annotations

import gzip
import json
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from axonal.datasets import DatasetChecksumError, DatasetFormatError, load_split
from axonal.datasets._formats import read_idx, read_npz
from axonal.layers import Dense, Input
from axonal.models import Sequential, load_model
from axonal.saving import SavedFileError

import fuzz_datasets
import fuzz_models
from fuzz_datasets import isolated_search
from fuzz_harness import Limits, run_one
from fuzz_mutators import read_members, zip_bytes

EXAMPLES = 200  # per target; the campaign script runs 10,000+

TARGETS = {target.name: target for target in fuzz_datasets.TARGETS + fuzz_models.TARGETS}


@pytest.mark.parametrize("name", list(TARGETS))
def test_parser_survives_damaged_files(name, tmp_path):
    target = TARGETS[name]

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(target.inputs)
    def fuzz(fuzz_input):
        run_one(target, fuzz_input, tmp_path / "input", Limits(seconds=10.0))

    fuzz()


# ----- regressions: one per bug the fuzzing found ------------------------------------------------

def _peak_while(call) -> tuple[BaseException | None, int]:
    """(the exception ``call`` raised or None, its peak traced allocation in bytes)."""
    tracemalloc.start()
    try:
        call()
        return None, tracemalloc.get_traced_memory()[1]
    except Exception as error:  # noqa: BLE001 - returned for the test to check
        return error, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _npy(header_text: str, data: bytes = b"") -> bytes:
    padded = header_text + " " * ((-(len(header_text) + 11)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(padded)) + padded.encode("latin-1") + data


def test_idx_with_more_dimensions_than_numpy_allows_is_a_format_error(tmp_path):
    # Was a bare ValueError from numpy ("maximum supported dimension ... found 100").
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(bytes((0, 0, 8, 100)) + struct.pack(">100I", 0, *[1] * 99))
    with pytest.raises(DatasetFormatError, match="100 dimensions"):
        read_idx(path)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_header_claiming_a_gigabyte_allocates_nothing_of_it(tmp_path, gz):
    # Was np.empty(claimed size) before reading: 1 GiB for a 20-byte file, a MemoryError where
    # address space is capped although read_idx promises none escapes.
    data = bytes((0, 0, 8, 3)) + struct.pack(">3I", 1024, 1024, 1000) + b"x" * 8
    path = tmp_path / ("images.gz" if gz else "images")
    path.write_bytes(gzip.compress(data) if gz else data)
    error, peak = _peak_while(lambda: read_idx(path))
    assert isinstance(error, DatasetFormatError) and "promises 10485760" in str(error), error
    assert peak < 8 * 2**20, peak


@pytest.mark.parametrize("shape", [(10**6, 10**6), (2**31, 2**31 + 1), (2**32, 2**32)])
def test_npz_header_claiming_huge_arrays_is_refused_before_allocating(tmp_path, shape):
    # Was a MemoryError (numpy allocates what an .npy header in a zip says) or an overflowed count.
    header = repr({"descr": "|u1", "fortran_order": False, "shape": shape})
    (tmp_path / "mnist.npz").write_bytes(zip_bytes([("x_test.npy", _npy(header, b"abc"), zipfile.ZIP_STORED),
                                                    ("y_test.npy", _npy(header), zipfile.ZIP_STORED)]))
    error, peak = _peak_while(lambda: read_npz(tmp_path / "mnist.npz", "test"))
    assert isinstance(error, DatasetFormatError) and "byte limit" in str(error), error
    assert peak < 8 * 2**20, peak


def test_npz_header_numpy_cannot_tokenize_is_a_format_error(tmp_path):
    # An unclosed brace made numpy's header parser raise tokenize.TokenError, which escaped.
    bad = _npy("{'descr': '|u1', 'fortran_order': False, 'shape': (3,)", b"abc")
    (tmp_path / "mnist.npz").write_bytes(zip_bytes([("x_test.npy", bad, zipfile.ZIP_DEFLATED),
                                                    ("y_test.npy", bad, zipfile.ZIP_DEFLATED)]))
    with pytest.raises(DatasetFormatError, match="no valid .npy header"):
        read_npz(tmp_path / "mnist.npz", "test")


def _zip_version_too_new(data: bytes) -> bytes:
    """``data`` with each central-directory entry claiming to need zip version 14.8 to extract."""
    data, start = bytearray(data), 0
    while (start := data.find(b"PK\x01\x02", start)) >= 0:
        data[start + 6:start + 8] = struct.pack("<H", 148)
        start += 4
    return bytes(data)


def test_npz_needing_a_newer_zip_version_is_a_format_error_on_the_loading_path(tmp_path):
    # zipfile raises NotImplementedError("zip file version 14.8"); the folder search let it escape.
    archive = zip_bytes([("x_test.npy", b"", zipfile.ZIP_STORED), ("y_test.npy", b"", zipfile.ZIP_STORED)])
    (tmp_path / "mnist.npz").write_bytes(_zip_version_too_new(archive))
    with isolated_search(tmp_path), pytest.raises(DatasetFormatError, match="zip file version"):
        load_split("mnist", "test", path=tmp_path, download=False)


def test_empty_split_is_checked_against_its_checksum(tmp_path):
    # idx_sha256 cast a memoryview of a (0, 28, 28) array, a TypeError, when verify=True.
    for name, shape in (("t10k-images-idx3-ubyte", (0, 28, 28)), ("t10k-labels-idx1-ubyte", (0,))):
        (tmp_path / name).write_bytes(bytes((0, 0, 8, len(shape))) + struct.pack(f">{len(shape)}I", *shape))
    with isolated_search(tmp_path), pytest.raises(DatasetChecksumError):
        load_split("mnist", "test", path=tmp_path, download=False, verify=True)


def _edited_model_file(tmp_path, seed="mlp", edit=None, members=None) -> str:
    """A seed model file with its config.json changed by ``edit(config)`` or members by ``members``."""
    entries = read_members(fuzz_models.seed_files()[seed])
    if edit is not None:
        config = json.loads(dict((n, c) for n, c, _ in entries)["config.json"])
        edit(config)
        entries = [(n, json.dumps(config).encode() if n == "config.json" else c, z) for n, c, z in entries]
    path = tmp_path / "model.axonal"
    path.write_bytes(zip_bytes(members(entries) if members else entries))
    return str(path)


def test_model_file_with_a_damaged_deflate_stream_is_a_saved_file_error(tmp_path):
    path = tmp_path / "model.axonal"
    data = bytearray(fuzz_models.seed_files()["mlp"])
    start = data.find(b"config.json") + len("config.json")  # the deflated config follows its name
    data[start + 2:start + 10] = b"\xff" * 8  # zipfile then raises zlib.error, which escaped
    path.write_bytes(bytes(data))
    with pytest.raises(SavedFileError, match="decompressing"):
        load_model(path)


def test_model_file_needing_a_newer_zip_version_is_a_saved_file_error(tmp_path):
    path = tmp_path / "model.axonal"
    path.write_bytes(_zip_version_too_new(fuzz_models.seed_files()["mlp"]))
    with pytest.raises(SavedFileError, match="zip file version"):
        load_model(path)


def test_model_member_name_flagged_utf8_but_not_is_a_saved_file_error(tmp_path):
    # Found by atheris: zipfile.open decodes a local header's name as UTF-8 when its flag says so,
    # and the UnicodeDecodeError escaped load_model and load_weights.
    data = bytearray(fuzz_models.seed_files()["mlp"])
    header = data.find(b"PK\x03\x04")  # config.json's local header comes first
    data[header + 6:header + 8] = struct.pack("<H", struct.unpack("<H", data[header + 6:header + 8])[0] | 0x800)
    data[header + 30] = 0xFF  # first byte of the name: never valid UTF-8
    path = tmp_path / "model.axonal"
    path.write_bytes(bytes(data))
    with pytest.raises(SavedFileError, match="cannot be read"):
        load_model(path)
    with pytest.raises(SavedFileError, match="cannot be read"):
        Sequential([Input(shape=(8,)), Dense(16), Dense(3)]).load_weights(path)


def test_model_npy_header_numpy_cannot_tokenize_is_a_saved_file_error(tmp_path):
    bad = _npy("{'descr': '<f4', 'fortran_order': False, 'shape': (8, 16)")
    path = _edited_model_file(tmp_path, members=lambda entries: [
        (n, bad if n == "weights/0.npy" else c, z) for n, c, z in entries])
    with pytest.raises(SavedFileError, match="not a valid .npy array"):
        load_model(path)


@pytest.mark.parametrize("edit", [
    lambda c: c["model_config"]["config"]["layers"][0]["config"].update(units=10**9),
    lambda c: c["model_config"]["config"].update(build_input_shape=[None, 10**12]),
], ids=["units", "input_shape"])
def test_config_asking_for_huge_weights_is_refused_before_allocating(tmp_path, edit):
    # Layers were built from the config before the file's arrays were looked at: gigabytes of
    # weights were allocated and initialised for a 3 KiB file.
    path = _edited_model_file(tmp_path, edit=edit)
    error, peak = _peak_while(lambda: load_model(path))
    assert isinstance(error, SavedFileError) and "values still allowed" in str(error), error
    assert peak < 8 * 2**20, peak


def test_compile_config_asking_for_billions_of_auc_thresholds_is_refused(tmp_path):
    # AUC(num_thresholds=2**31) allocated 4 x 16 GiB of counts while the optimiser was restored.
    path = _edited_model_file(tmp_path, "cnn", edit=lambda c: c["compile_config"]["metrics"][0]["config"]
                              .update(num_thresholds=2**31))
    error, peak = _peak_while(lambda: load_model(path))
    assert isinstance(error, SavedFileError) and "num_thresholds" in str(error), error
    assert peak < 8 * 2**20, peak


@pytest.mark.parametrize("key, value", [("step", 2**64), ("optimizer_iterations", 2**63)])
def test_training_counters_too_large_for_the_kernels_are_refused(tmp_path, key, value):
    # Such a file loaded, then fit() failed inside a binding with "incompatible function arguments".
    path = _edited_model_file(tmp_path, edit=lambda c: c["training_state"].update({key: value}))
    with pytest.raises(SavedFileError, match=key):
        load_model(path)


@pytest.mark.parametrize("shape", [[None, "8"], [None], "8", [None, 8.0], [None, -8], [None, 10**12]])
def test_load_weights_refuses_a_damaged_input_shape_for_an_unbuilt_model(tmp_path, shape):
    # model.build(tuple(shape)) raised whatever the layers raise (TypeError, ValueError...) or
    # allocated what the shape asked for.
    path = _edited_model_file(tmp_path, "weights",
                              edit=lambda c: c["model_config"]["config"].update(build_input_shape=shape))
    model = Sequential([Dense(16, activation="relu"), Dense(3)])
    error, peak = _peak_while(lambda: model.load_weights(path))
    assert isinstance(error, SavedFileError), error
    assert peak < 8 * 2**20, peak


def test_load_weights_refuses_a_model_config_that_is_not_an_object(tmp_path):
    # (model_config.config or {}).get(...) raised AttributeError on a list.
    path = _edited_model_file(tmp_path, "weights", edit=lambda c: c["model_config"].update(config=[1, 2]))
    with pytest.raises(SavedFileError, match="no input shape"):
        Sequential([Dense(16), Dense(3)]).load_weights(path)


def _with_dropout_layers(count: int):
    def edit(config):
        layers = config["model_config"]["config"]["layers"]
        dropout = next(layer for layer in layers if layer["class_name"] == "Dropout")
        layers[1:2] = [{**dropout, "config": {**dropout["config"], "name": f"d{i}"}} for i in range(count)]
    return edit


def test_model_with_many_layers_is_not_rebuilt_per_layer(tmp_path, monkeypatch):
    # Each add() rebuilt the whole model: 3,000 Dropout layers in a damaged config took a minute.
    path, builds, original = _edited_model_file(tmp_path, edit=_with_dropout_layers(998)), [], Sequential.build
    monkeypatch.setattr(Sequential, "build", lambda self, *a: (builds.append(1), original(self, *a))[1])
    model = load_model(path)
    assert len(model.layers) == 1000 and len(builds) <= 2  # ours, and compile's; not one per layer


def test_model_config_with_more_layers_than_any_model_is_refused(tmp_path):
    with pytest.raises(SavedFileError, match="1001 layers"):
        load_model(_edited_model_file(tmp_path, edit=_with_dropout_layers(999)))


def test_valid_files_still_load(tmp_path):
    """The refusals above are not paid for by a legitimate file."""
    for name, data in fuzz_models.seed_files().items():
        (tmp_path / f"{name}.axonal").write_bytes(data)
    assert load_model(tmp_path / "cnn.axonal").count_params() > 0
    model = Sequential([Input(shape=(8,)), Dense(16), Dense(3)])
    model.load_weights(tmp_path / "weights.axonal")
    assert np.isfinite(model.get_weights()[0]).all()
