"""Small synthetic files in the published formats of Keras' datasets, made the same way by the tests
(``tests/test_datasets_keras.py``) and by the script that records Keras' outputs for them
(``tests/fixtures/make_keras_dataset_fixtures.py``). Everything is deterministic."""
from __future__ import annotations

import io
import json
import pickle
import tarfile
from pathlib import Path

import numpy as np

# imdb: word indexes as stored (before index_from), labels 0/1; several lengths, repeated words.
IMDB_TRAIN = [[1, 2, 3], [4, 5], [2, 2, 2, 2, 6], [7, 1, 1], [3], [9, 8, 7, 6, 5, 4]]
IMDB_TRAIN_LABELS = [0, 1, 0, 1, 1, 0]
IMDB_TEST = [[3, 1], [7], [5, 5, 5, 5], [2, 9]]
IMDB_TEST_LABELS = [1, 0, 0, 1]
# reuters: one pool of newswires with topic labels.
REUTERS_X = [[1, 2], [3, 4, 5], [6], [1, 1, 1, 1], [2, 7, 3], [8, 9, 10, 11, 12], [4, 4], [5, 6, 7], [9], [2, 3]]
REUTERS_Y = [3, 4, 3, 1, 19, 3, 4, 45, 3, 1]
WORD_INDEX = {"the": 1, "and": 2, "a": 3, "of": 4, "film": 5}

# Keras options exercised on the text datasets (and recorded from Keras by the fixture script).
IMDB_CASES = {
    "defaults": {},
    "num_words": {"num_words": 7},
    "skip_top": {"skip_top": 5},
    "maxlen": {"maxlen": 4},
    "index_from": {"index_from": 0, "start_char": None},
    "oov_none": {"num_words": 8, "skip_top": 4, "oov_char": None},
    "seed": {"seed": 1},
    "all": {"num_words": 9, "skip_top": 2, "maxlen": 6, "seed": 5, "start_char": 1, "oov_char": 2, "index_from": 2},
}
REUTERS_CASES = {**IMDB_CASES, "test_split": {"test_split": 0.35}, "no_test": {"test_split": 0.0},
                 "maxlen_split": {"maxlen": 4, "test_split": 0.5}}
BOSTON_CASES = {"defaults": {}, "test_split": {"test_split": 0.4, "seed": 3}, "no_test": {"test_split": 0.0}}


def _object_array(sequences):
    array = np.empty(len(sequences), dtype=object)
    array[:] = [list(s) for s in sequences]
    return array


def imdb_npz(folder: Path, name: str = "imdb.npz") -> Path:
    path = Path(folder) / name
    np.savez(path, x_train=_object_array(IMDB_TRAIN), y_train=np.array(IMDB_TRAIN_LABELS, np.int64),
             x_test=_object_array(IMDB_TEST), y_test=np.array(IMDB_TEST_LABELS, np.int64))
    return path


def reuters_npz(folder: Path, name: str = "reuters.npz") -> Path:
    path = Path(folder) / name
    np.savez(path, x=_object_array(REUTERS_X), y=np.array(REUTERS_Y, np.int64))
    return path


def boston_arrays():
    rng = np.random.default_rng(5)
    return rng.normal(size=(11, 13)) * 10, rng.uniform(5, 50, size=11)


def boston_npz(folder: Path, name: str = "boston_housing.npz") -> Path:
    path = Path(folder) / name
    x, y = boston_arrays()
    np.savez(path, x=x, y=y)
    return path


def word_index_json(folder: Path, name: str) -> Path:
    path = Path(folder) / name
    path.write_text(json.dumps(WORD_INDEX))
    return path


def cifar_images(count: int, seed: int) -> np.ndarray:
    """(count, 3, 32, 32) uint8 images whose planes are easy to tell apart."""
    return np.random.default_rng(seed).integers(0, 256, size=(count, 3, 32, 32), dtype=np.uint8)


def cifar_batch(images: np.ndarray, labels: dict[str, list[int]], *, numpy1_names: bool = False) -> bytes:
    """A batch pickled as the published files are: a dict with byte-string keys (Python 2's str)."""
    record = {b"batch_label": b"synthetic batch", b"data": images.reshape(len(images), -1),
              b"filenames": [b"img_%d.png" % i for i in range(len(images))]}
    record.update({key.encode(): value for key, value in labels.items()})
    # Protocol 3 (bytes as BINBYTES, globals as text): the same objects as the Python 2 originals give
    # with encoding="bytes"; protocol 2 would name _codecs.encode for each byte string.
    data = pickle.dumps(record, protocol=3)
    if numpy1_names:  # as the 2009 files name them (numpy 1): numpy.core.multiarray
        data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    return data


CIFAR10_COUNTS = {"data_batch_1": 2, "data_batch_2": 1, "data_batch_3": 2, "data_batch_4": 1, "data_batch_5": 2,
                  "test_batch": 3}


def cifar10_members(numpy1_names: bool = True) -> tuple[dict[str, bytes], dict[str, tuple[np.ndarray, list]]]:
    """The six batch files of a tiny CIFAR-10, and their (images, labels)."""
    members, content = {}, {}
    for i, (name, count) in enumerate(CIFAR10_COUNTS.items()):
        images, labels = cifar_images(count, seed=i), [(3 * i + j) % 10 for j in range(count)]
        members[name] = cifar_batch(images, {"labels": labels}, numpy1_names=numpy1_names)
        content[name] = (images, labels)
    return members, content


def cifar100_members() -> tuple[dict[str, bytes], dict[str, tuple[np.ndarray, list, list]]]:
    members, content = {}, {}
    for i, (name, count) in enumerate((("train", 4), ("test", 3))):
        images = cifar_images(count, seed=10 + i)
        fine, coarse = [(17 * (i + j) + 5) % 100 for j in range(count)], [(i + 3 * j) % 20 for j in range(count)]
        members[name] = cifar_batch(images, {"fine_labels": fine, "coarse_labels": coarse})
        content[name] = (images, fine, coarse)
    return members, content


def tar_gz(path: Path, folder: str, members: dict[str, bytes]) -> Path:
    """A .tar.gz holding ``folder/`` and its members, as the published archives are laid out."""
    with tarfile.open(path, "w:gz") as tar:
        directory = tarfile.TarInfo(folder)
        directory.type = tarfile.DIRTYPE
        tar.addfile(directory)
        for name, data in members.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path
