"""cifar10, cifar100, imdb, reuters and boston_housing with Keras' signatures, on small synthetic files
in the published formats (``tests/keras_dataset_files.py``): every option against hand-computed
values and against what Keras' own loaders returned for the same files
(``tests/fixtures/keras_datasets.json``); the search order, checksums, atomic downloads from
several mirrors; and pickles that could run code refused."""
import hashlib
import http.server
import json
import os
import pickle
import threading
from pathlib import Path

import numpy as np
import pytest

import keras_dataset_files as files
from axonal import backend as K
from axonal.datasets import (DatasetChecksumError, DatasetFormatError, DatasetNotFoundError, _published,
                             boston_housing, cifar10, cifar100, imdb, reuters)
from axonal.datasets.__main__ import main as cli_main

KERAS = json.loads((Path(__file__).parent / "fixtures" / "keras_datasets.json").read_text())


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No real data folder, cache or network: AXONAL_DATA points at an empty folder per test."""
    monkeypatch.setenv("AXONAL_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("AXONAL_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("AXONAL_OFFLINE", "1")
    monkeypatch.delenv("AXONAL_MIRRORS", raising=False)
    monkeypatch.setattr("axonal.datasets._locations.SYSTEM_DATA_DIR", str(tmp_path / "system"))
    monkeypatch.setattr("axonal.datasets._fetch.SYSTEM_DATA_DIR", str(tmp_path / "system"))
    monkeypatch.chdir(tmp_path)
    yield
    K.set_image_data_format("channels_last")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _elsewhere(tmp_path: Path) -> Path:
    """A folder outside every search place (the working directory is searched for Keras' file names)."""
    folder = tmp_path / "elsewhere"
    folder.mkdir(exist_ok=True)
    return folder


def _data_dir(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / "data" / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def published(monkeypatch):
    def make(spec, path, role="data", **extra):
        for name, value in ({"files": {**spec.files, role: _published.PublishedFile(
                spec.files[role].filename, **({"sha256": _sha256(path)} if spec.files[role].sha256
                                              else {"md5": _md5(path)}))}} | extra).items():
            monkeypatch.setitem(vars(spec), name, value)
        return path
    return make


def _as_lists(array):
    return [list(s) for s in array]


def _check_against_keras(result, recorded):
    (x_train, y_train), (x_test, y_test) = result
    for name, array in (("x_train", x_train), ("y_train", y_train), ("x_test", x_test), ("y_test", y_test)):
        expected = recorded[name]
        shape = expected["shape"]
        if array.dtype == object:
            # Keras' np.array(list_of_lists, dtype=object) turns a split whose sequences all have one
            # length into a 2-D array; axonal always returns one sequence per row of a 1-D array.
            shape = shape[:1]
        assert list(array.shape) == shape, name
        assert str(array.dtype) == expected["dtype"], name
        values = _as_lists(array) if array.dtype == object else array.tolist()
        assert values == expected["values"], name


# ----- imdb --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", files.IMDB_CASES)
def test_imdb_returns_what_keras_returns_for_each_option(case, tmp_path, published):
    published(_published.IMDB, files.imdb_npz(_data_dir(tmp_path, "imdb")))
    _check_against_keras(imdb.load_data(**files.IMDB_CASES[case]), KERAS["imdb"][case])


def _pairs(x, y):
    return sorted((tuple(s), int(label)) for s, label in zip(x, y))


def test_imdb_options_against_hand_computed_values(tmp_path, published):
    """Order aside (the shuffle), each option's effect computed by hand from the stored indexes."""
    published(_published.IMDB, files.imdb_npz(_data_dir(tmp_path, "imdb")))
    (x, y), (xt, yt) = imdb.load_data()  # start_char 1, index_from 3
    # Keras' quirk, kept: num_words=None means "the largest index", and only indexes *below*
    # num_words are kept, so the largest index (12 here) becomes oov_char 2.
    assert _pairs(x, y) == sorted([((1, 4, 5, 6), 0), ((1, 7, 8), 1), ((1, 5, 5, 5, 5, 9), 0), ((1, 10, 4, 4), 1),
                                   ((1, 6), 1), ((1, 2, 11, 10, 9, 8, 7), 0)])
    assert _pairs(xt, yt) == sorted([((1, 6, 4), 1), ((1, 10), 0), ((1, 8, 8, 8, 8), 0), ((1, 5, 2), 1)])
    (x, y), _ = imdb.load_data(num_words=7)  # indexes >= 7 become oov_char 2
    assert _pairs(x, y) == sorted([((1, 4, 5, 6), 0), ((1, 2, 2), 1), ((1, 5, 5, 5, 5, 2), 0), ((1, 2, 4, 4), 1),
                                   ((1, 6), 1), ((1, 2, 2, 2, 2, 2, 2), 0)])
    (x, y), _ = imdb.load_data(skip_top=5)  # indexes < 5 (start_char too) become 2
    assert ((2, 2, 5, 6), 0) in _pairs(x, y) and ((2, 10, 2, 2), 1) in _pairs(x, y)
    (x, y), (xt, yt) = imdb.load_data(maxlen=4)  # only sequences of fewer than 4 indexes remain
    assert _pairs(x, y) == [((1, 6), 1), ((1, 7, 8), 1)]
    assert _pairs(xt, yt) == [((1, 5, 2), 1), ((1, 6, 4), 1), ((1, 10), 0)]  # 12, the largest, is oov
    (x, y), _ = imdb.load_data(index_from=0, start_char=None)  # the stored indexes unchanged
    assert _pairs(x, y) == _pairs([[w if w < 9 else 2 for w in s] for s in files.IMDB_TRAIN],  # 9: largest
                                  files.IMDB_TRAIN_LABELS)
    (x, y), _ = imdb.load_data(num_words=8, skip_top=4, oov_char=None)  # out-of-range words removed
    assert _pairs(x, y) == sorted([((4, 5, 6), 0), ((7,), 1), ((5, 5, 5, 5), 0), ((4, 4), 1), ((6,), 1),
                                   ((7,), 0)])


def test_imdb_seed_changes_the_order_only(tmp_path, published):
    published(_published.IMDB, files.imdb_npz(_data_dir(tmp_path, "imdb")))
    (x1, y1), _ = imdb.load_data(seed=1)
    (x2, y2), _ = imdb.load_data(seed=2)
    (x3, y3), _ = imdb.load_data(seed=1)
    assert _pairs(x1, y1) == _pairs(x2, y2) and _as_lists(x1) != _as_lists(x2)
    assert _as_lists(x1) == _as_lists(x3) and y1.tolist() == y3.tolist()
    assert x1.dtype == object and x1.ndim == 1 and y1.dtype == np.int64
    assert all(type(w) is int for s in x1 for w in s)


def test_imdb_maxlen_that_empties_a_split_is_explained(tmp_path, published):
    published(_published.IMDB, files.imdb_npz(_data_dir(tmp_path, "imdb")))
    with pytest.raises(ValueError, match="no review shorter than maxlen=2 .*Fix: increase maxlen"):
        imdb.load_data(maxlen=2)


@pytest.mark.parametrize("option", [{"num_words": -1}, {"skip_top": None}, {"maxlen": 2.5}, {"index_from": "3"},
                                    {"start_char": True}])
def test_imdb_refuses_options_of_the_wrong_kind(option):
    with pytest.raises(ValueError, match=f"imdb.load_data: {next(iter(option))} must be"):
        imdb.load_data(**option)


def test_word_indexes_are_read_and_their_md5_checked(tmp_path, published):
    path = published(_published.IMDB, files.word_index_json(_data_dir(tmp_path, "imdb"), "imdb_word_index.json"),
                     role="word_index")
    assert imdb.get_word_index() == files.WORD_INDEX
    published(_published.REUTERS, files.word_index_json(_data_dir(tmp_path, "reuters"), "reuters_word_index.json"),
              role="word_index")
    assert reuters.get_word_index() == files.WORD_INDEX
    path.write_text(json.dumps({**files.WORD_INDEX, "extra": 9}))
    with pytest.raises(DatasetChecksumError, match="md5 .* is not the published md5 of imdb_word_index.json"):
        imdb.get_word_index()


# ----- reuters -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", files.REUTERS_CASES)
def test_reuters_returns_what_keras_returns_for_each_option(case, tmp_path, published):
    published(_published.REUTERS, files.reuters_npz(_data_dir(tmp_path, "reuters")))
    _check_against_keras(reuters.load_data(**files.REUTERS_CASES[case]), KERAS["reuters"][case])


def test_reuters_test_split_by_hand(tmp_path, published):
    published(_published.REUTERS, files.reuters_npz(_data_dir(tmp_path, "reuters")))
    for split, train in ((0.2, 8), (0.35, 6), (0.0, 10), (1.0, 0)):  # int(10 * (1 - split)) train
        (x, y), (xt, yt) = reuters.load_data(test_split=split)
        assert (len(x), len(xt), len(y), len(yt)) == (train, 10 - train, train, 10 - train)
        largest = max(w + 3 for s in files.REUTERS_X for w in s)  # becomes oov_char 2, as in Keras
        assert _pairs(np.concatenate([x, xt]), np.concatenate([y, yt])) == _pairs(
            [[1] + [w + 3 if w + 3 < largest else 2 for w in s] for s in files.REUTERS_X], files.REUTERS_Y)
    assert reuters.get_label_names()[:3] == ("cocoa", "grain", "veg-oil") and len(reuters.get_label_names()) == 46
    with pytest.raises(ValueError, match=r"test_split must be a number in \[0, 1\]"):
        reuters.load_data(test_split=1.5)


# ----- boston_housing ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", files.BOSTON_CASES)
def test_boston_housing_returns_what_keras_returns(case, tmp_path, published):
    published(_published.BOSTON_HOUSING, files.boston_npz(_data_dir(tmp_path, "boston_housing")))
    (x, y), (xt, yt) = boston_housing.load_data(**files.BOSTON_CASES[case])
    recorded = KERAS["boston_housing"][case]
    for name, array in (("x_train", x), ("y_train", y), ("x_test", xt), ("y_test", yt)):
        assert list(array.shape) == recorded[name]["shape"] and str(array.dtype) == recorded[name]["dtype"]
        np.testing.assert_array_equal(array, np.array(recorded[name]["values"]).reshape(array.shape))


def test_boston_housing_split_by_hand(tmp_path, published):
    published(_published.BOSTON_HOUSING, files.boston_npz(_data_dir(tmp_path, "boston_housing")))
    (x, y), (xt, yt) = boston_housing.load_data(test_split=0.4)
    assert x.shape == (6, 13) and xt.shape == (5, 13) and y.shape == (6,)  # int(11 * 0.6) = 6
    stored_x, stored_y = files.boston_arrays()
    rows = {tuple(r): t for r, t in zip(stored_x, stored_y)}
    assert all(rows[tuple(r)] == t for r, t in zip(np.concatenate([x, xt]), np.concatenate([y, yt])))
    with pytest.raises(ValueError, match=r"test_split must be a number in \[0, 1\)"):
        boston_housing.load_data(test_split=1.0)


# ----- cifar -------------------------------------------------------------------------------------


def _cifar10_archive(tmp_path, published, numpy1_names=True):
    members, content = files.cifar10_members(numpy1_names)
    path = files.tar_gz(_data_dir(tmp_path, "cifar10") / "cifar-10-python.tar.gz", "cifar-10-batches-py", members)
    published(_published.CIFAR10, path)
    return path, members, content


@pytest.mark.parametrize("numpy1_names", [True, False])
def test_cifar10_layout_by_hand(tmp_path, published, numpy1_names):
    _, _, content = _cifar10_archive(tmp_path, published, numpy1_names)
    (x, y), (xt, yt) = cifar10.load_data()
    train = [content[f"data_batch_{i}"] for i in range(1, 6)]
    expected_images = np.concatenate([images for images, _ in train])
    assert x.shape == (8, 32, 32, 3) and x.dtype == np.uint8 and x.flags.c_contiguous
    np.testing.assert_array_equal(x, expected_images.transpose(0, 2, 3, 1))  # channels_last
    assert y.shape == (8, 1) and y.dtype == np.uint8
    assert y[:, 0].tolist() == [label for _, labels in train for label in labels]
    assert xt.shape == (3, 32, 32, 3) and yt.tolist() == [[label] for label in content["test_batch"][1]]
    # pixel (row 0, column 1) of the first image: its red, green and blue planes' values
    assert x[0, 0, 1].tolist() == [int(expected_images[0, c, 0, 1]) for c in range(3)]


def test_cifar10_under_channels_first_keeps_the_planes(tmp_path, published):
    _, _, content = _cifar10_archive(tmp_path, published)
    K.set_image_data_format("channels_first")
    (x, _), (xt, _) = cifar10.load_data()
    assert x.shape == (8, 3, 32, 32) and xt.shape == (3, 3, 32, 32)
    np.testing.assert_array_equal(xt, content["test_batch"][0])


def test_cifar10_reads_an_extracted_folder_verified_member_by_member(tmp_path, monkeypatch):
    members, content = files.cifar10_members()
    folder = _data_dir(tmp_path, "cifar10") / "cifar-10-batches-py"
    folder.mkdir()
    for name, data in members.items():
        (folder / name).write_bytes(data)
    extracted = _published.Extracted("cifar-10-batches-py", {n: _md5(folder / n) for n in members})
    monkeypatch.setitem(vars(_published.CIFAR10), "extracted", extracted)
    (x, y), _ = cifar10.load_data()
    assert x.shape == (8, 32, 32, 3)
    (folder / "test_batch").write_bytes(files.cifar_batch(files.cifar_images(3, 99), {"labels": [0, 1, 2]}))
    with pytest.raises(DatasetChecksumError, match="test_batch.*not the published md5"):
        cifar10.load_data()
    (x2, _), (xt2, _) = cifar10.load_data(verify=False)  # your own files, on purpose
    assert xt2.shape == (3, 32, 32, 3)


@pytest.mark.parametrize("mode, classes", [("fine", 100), ("coarse", 20)])
def test_cifar100_label_modes_by_hand_and_as_keras(mode, classes, tmp_path, published):
    members, content = files.cifar100_members()
    path = files.tar_gz(_data_dir(tmp_path, "cifar100") / "cifar-100-python.tar.gz", "cifar-100-python", members)
    published(_published.CIFAR100, path)
    (x, y), (xt, yt) = cifar100.load_data(label_mode=mode)
    column = 1 if mode == "fine" else 2
    assert y[:, 0].tolist() == content["train"][column] and yt[:, 0].tolist() == content["test"][column]
    np.testing.assert_array_equal(x, content["train"][0].transpose(0, 2, 3, 1))
    recorded = KERAS["cifar100"][mode]
    for name, array in (("x_train", x), ("y_train", y), ("x_test", xt), ("y_test", yt)):
        assert list(array.shape) == recorded[name]["shape"] and str(array.dtype) == recorded[name]["dtype"]
    assert y.tolist() == recorded["y_train"]["values"]
    with pytest.raises(ValueError, match="label_mode must be 'fine' .* or 'coarse'"):
        cifar100.load_data(label_mode="medium")


def test_cifar_labels_out_of_range_are_refused(tmp_path, published):
    members, _ = files.cifar10_members()
    members["test_batch"] = files.cifar_batch(files.cifar_images(2, 1), {"labels": [3, 10]})
    published(_published.CIFAR10, files.tar_gz(_data_dir(tmp_path, "cifar10") / "cifar-10-python.tar.gz",
                                               "cifar-10-batches-py", members))
    with pytest.raises(DatasetFormatError, match=r"labels must lie in 0\.\.9, found 3\.\.10"):
        cifar10.load_data()


# ----- pickles that could run code ---------------------------------------------------------------


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_a_pickle_that_would_run_code_in_an_npz_is_refused(tmp_path, published):
    marker = tmp_path / "pwned"
    evil = np.empty(2, dtype=object)
    evil[:] = [[1, 2], _Exploit(marker)]
    path = _data_dir(tmp_path, "imdb") / "imdb.npz"
    np.savez(path, x_train=evil, y_train=np.zeros(2, np.int64), x_test=evil, y_test=np.zeros(2, np.int64))
    published(_published.IMDB, path)
    with pytest.raises(DatasetFormatError, match=r"refused to unpickle posix\.mkdir.*tampered"):
        imdb.load_data()
    assert not marker.exists()
    with pytest.raises(DatasetFormatError, match="refused to unpickle"):  # also when not verifying
        imdb.load_data(verify=False)
    assert not marker.exists()


def test_a_pickle_that_would_run_code_in_a_cifar_archive_is_refused(tmp_path, published):
    marker = tmp_path / "pwned"
    members, _ = files.cifar10_members()
    members["data_batch_3"] = pickle.dumps({b"data": _Exploit(marker), b"labels": [1]}, protocol=3)
    published(_published.CIFAR10, files.tar_gz(_data_dir(tmp_path, "cifar10") / "cifar-10-python.tar.gz",
                                               "cifar-10-batches-py", members))
    with pytest.raises(DatasetFormatError, match="refused to unpickle posix.mkdir"):
        cifar10.load_data()
    assert not marker.exists()


def test_builtins_and_other_numpy_functions_are_refused_too(tmp_path):
    from axonal.datasets._pickles import load_pickle

    for module, name in (("builtins", "eval"), ("numpy", "load"), ("numpy.lib.npyio", "load"), ("os", "system")):
        data = b"\x80\x03c" + f"{module}\n{name}\n".encode() + b"X\x01\x00\x00\x001\x85R."
        with pytest.raises(DatasetFormatError, match=f"refused to unpickle {module}.{name}"):
            load_pickle(data, "test")


def test_damaged_files_name_the_file(tmp_path, published):
    path = _data_dir(tmp_path, "imdb") / "imdb.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(DatasetFormatError, match="imdb.npz: not a readable .npz"):
        imdb.load_data(verify=False)
    archive = _data_dir(tmp_path, "cifar10") / "cifar-10-python.tar.gz"
    archive.write_bytes(b"\x1f\x8b broken")
    with pytest.raises(DatasetFormatError, match="not a readable .tar.gz"):
        cifar10.load_data(verify=False)


# ----- where files are found, checksums, downloads -----------------------------------------------


def test_a_checksum_mismatch_is_refused_and_says_what_to_do(tmp_path):
    files.imdb_npz(_data_dir(tmp_path, "imdb"))  # not the published imdb.npz
    with pytest.raises(DatasetChecksumError, match=r"sha256 [0-9a-f]{64} is not the published sha256 of imdb.npz, "
                                                   r"69664113.*verify=False") as caught:
        imdb.load_data()
    assert caught.value.expected == _published.IMDB.files["data"].sha256
    assert len(imdb.load_data(verify=False)[0][0]) == 6


def test_search_order_path_then_data_then_system_then_cache(tmp_path, published, monkeypatch):
    other = _elsewhere(tmp_path)
    given = files.boston_npz(other)
    published(_published.BOSTON_HOUSING, given)
    # the same file in every place; only the place searched first may be opened
    for folder in (tmp_path / "data" / "boston_housing", tmp_path / "system" / "boston_housing",
                   tmp_path / "cache" / "boston_housing"):
        folder.mkdir(parents=True)
        files.boston_npz(folder)
    opened = []
    from axonal.datasets import _fetch

    real = _fetch._check_file
    monkeypatch.setattr(_fetch, "_check_file", lambda path, spec: opened.append(path) or real(path, spec))
    boston_housing.load_data(path=str(given))
    boston_housing.load_data(path=str(other))
    boston_housing.load_data()
    (tmp_path / "data" / "boston_housing" / "boston_housing.npz").unlink()
    boston_housing.load_data()
    (tmp_path / "system" / "boston_housing" / "boston_housing.npz").unlink()
    boston_housing.load_data()
    assert opened == [given, given, tmp_path / "data" / "boston_housing" / "boston_housing.npz",
                      tmp_path / "system" / "boston_housing" / "boston_housing.npz",
                      tmp_path / "cache" / "boston_housing" / "boston_housing.npz"]


def test_keras_default_path_argument_is_ignored_when_absent_but_other_missing_paths_are_errors():
    with pytest.raises(DatasetNotFoundError, match="(?s)imdb.npz was not found.*AXONAL_OFFLINE"):
        imdb.load_data(path="imdb.npz")
    with pytest.raises(DatasetNotFoundError, match="path='nowhere.npz' does not exist"):
        imdb.load_data(path="nowhere.npz")


def test_not_found_lists_every_place_and_the_fix():
    with pytest.raises(DatasetNotFoundError) as caught:
        cifar100.load_data()
    text = str(caught.value)
    for expected in ("$AXONAL_DATA", "system folder", "cache", "disabled by AXONAL_OFFLINE=1",
                     "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7", "cifar-100-python/",
                     "python -m axonal.datasets cifar100"):
        assert expected in text


class _Server:
    """A local HTTP server: ``routes[path] = body``, anything else 404."""

    def __init__(self):
        self.routes, self.requests = {}, []
        routes, requests = self.routes, self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                requests.append(self.path)
                body = routes.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch):
    running = _Server()
    monkeypatch.delenv("AXONAL_OFFLINE")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    yield running
    running.close()


def test_download_tries_each_mirror_verifies_and_writes_atomically(tmp_path, published, server, monkeypatch):
    source = files.reuters_npz(_elsewhere(tmp_path))
    published(_published.REUTERS, source)
    good = source.read_bytes()
    server.routes["/bad/reuters.npz"] = good[:-10] + b"0123456789"  # a mirror serving other bytes
    server.routes["/good/reuters.npz"] = good
    from axonal.datasets import _catalog

    monkeypatch.setitem(_catalog.MIRRORS, "reuters", [f"{server.url}/missing/", f"{server.url}/bad/",
                                                      f"{server.url}/good/"])
    (x, y), _ = reuters.load_data()
    assert server.requests == ["/missing/reuters.npz", "/bad/reuters.npz", "/good/reuters.npz"]
    cached = tmp_path / "cache" / "reuters" / "reuters.npz"
    assert cached.read_bytes() == good and len(x) == 8
    assert [p.name for p in cached.parent.iterdir()] == ["reuters.npz"]  # no .part file left
    reuters.load_data()  # from the cache now
    assert len(server.requests) == 3


def test_every_mirror_failing_leaves_no_file_and_lists_each_attempt(tmp_path, published, server, monkeypatch):
    published(_published.IMDB, files.imdb_npz(_elsewhere(tmp_path)))
    server.routes["/a/imdb.npz"] = b"something else"
    monkeypatch.setenv("AXONAL_MIRRORS", f"{server.url}/a/ {server.url}/b/")
    with pytest.raises(DatasetNotFoundError, match=r"(?s)/a/imdb.npz: ValueError: checksum mismatch.*/b/imdb.npz: "
                                                   r"HTTPError"):
        imdb.load_data()
    cache = tmp_path / "cache" / "imdb"
    assert not cache.exists() or list(cache.iterdir()) == []


def test_a_bad_cached_copy_is_replaced_by_a_fresh_download(tmp_path, published, server, monkeypatch):
    source = files.boston_npz(_elsewhere(tmp_path))
    published(_published.BOSTON_HOUSING, source)
    cached = tmp_path / "cache" / "boston_housing" / "boston_housing.npz"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"damaged")
    server.routes["/m/boston_housing.npz"] = source.read_bytes()
    monkeypatch.setenv("AXONAL_MIRRORS", f"{server.url}/m/")
    (x, _), _ = boston_housing.load_data()
    assert x.shape == (8, 13) and cached.read_bytes() == source.read_bytes()


def test_the_command_line_fetches_and_reports_the_new_datasets(tmp_path, published, capsys):
    published(_published.BOSTON_HOUSING, files.boston_npz(_data_dir(tmp_path, "boston_housing")))
    assert cli_main(["boston-housing", "--offline"]) == 0
    assert "boston_housing: verified" in capsys.readouterr().out
    assert cli_main(["imdb", "--offline"]) == 1
    assert "imdb.npz was not found" in capsys.readouterr().err


def test_builtin_catalog_values_are_the_published_ones():
    """The values from Keras' and torchvision's sources (see _published.py), pinned."""
    assert _published.CIFAR10.files["data"].sha256.startswith("6d958be0")
    assert _published.CIFAR100.files["data"].sha256.startswith("85cd44d0")
    assert _published.IMDB.files["data"].sha256.startswith("69664113")
    assert _published.REUTERS.files["data"].sha256.startswith("d6586e69")
    assert _published.BOSTON_HOUSING.files["data"].sha256.startswith("f553886a")
    assert _published.IMDB.files["word_index"].md5 == "bfafd718b763782e994055a2d397834f"
    assert _published.REUTERS.files["word_index"].md5 == "4d44cc38712099c9e383dc6e5f11a921"
    from axonal.datasets import MIRRORS

    for name in ("cifar10", "cifar100", "imdb", "reuters", "boston_housing"):
        assert len(MIRRORS[name]) >= 2, name
