"""The published files of the Keras datasets beyond MNIST: names, checksums, mirrors, and sources.

Every value here is a public fact copied from where it is published, never computed from a guess:

- **sha256 of each archive**, from Keras' own loaders (github.com/keras-team/keras,
  ``keras/src/datasets/{cifar10,cifar100,imdb,reuters,boston_housing}.py``, the ``file_hash=``
  argument of ``get_file``):
  ``cifar-10-python.tar.gz`` 6d958be0…c001ce, ``cifar-100-python.tar.gz`` 85cd44d0…a677a7,
  ``imdb.npz`` 69664113…676b9f, ``reuters.npz`` d6586e69…959916, ``boston_housing.npz``
  f553886a…947dff5 (also in Keras 2.3's ``keras/datasets/boston_housing.py``).
- **md5 of the word indexes**: Keras publishes only md5 for ``imdb_word_index.json``
  (bfafd718…2d397834f) and ``reuters_word_index.json`` (4d44cc38…5f11a921), in the same files
  (``get_word_index``), unchanged since Keras 2; md5 is what is checked for them.
- **md5 of the CIFAR archives and of each extracted batch file**, from torchvision
  (github.com/pytorch/vision, ``torchvision/datasets/cifar.py``: ``tgz_md5``, ``train_list``,
  ``test_list``): they let an already extracted ``cifar-10-batches-py/`` or ``cifar-100-python/``
  folder be verified file by file.
- **URLs**: ``https://www.cs.toronto.edu/~kriz/`` (the CIFAR authors' page, Keras' and torchvision's
  origin) and its ``http://`` form (torchvision's); ``https://storage.googleapis.com/tensorflow/
  tf-keras-datasets/`` (Keras 3) and the Amazon S3 buckets Keras 2.3 used,
  ``https://s3.amazonaws.com/text-datasets/`` (imdb, reuters) and
  ``https://s3.amazonaws.com/keras-datasets/`` (boston_housing). A mirror that serves other bytes
  fails the checksum and the next one is tried.

Mirrors are base URLs (``base + file name``) in :data:`axonal.datasets.MIRRORS`, keyed by the
dataset's folder name, editable in place; ``AXONAL_MIRRORS`` replaces them all.
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PUBLISHED_MIRRORS", "Extracted", "PublishedDataset", "PublishedFile", "get_published"]


@dataclass(frozen=True)
class PublishedFile:
    """One file as published: its name and the digests that identify it."""

    filename: str
    sha256: str | None = None
    md5: str | None = None

    def checksums(self) -> list[tuple[str, str]]:
        """``[(algorithm, hexdigest)]``, strongest first."""
        return [(name, value) for name, value in (("sha256", self.sha256), ("md5", self.md5)) if value]


@dataclass(frozen=True)
class Extracted:
    """An archive's content as a folder, each member with its published md5."""

    folder: str
    members: dict[str, str]  # file name inside the folder -> md5


@dataclass(frozen=True)
class PublishedDataset:
    """A dataset that is one published file (plus, for text, its word index)."""

    name: str  # folder name under path=, $AXONAL_DATA, /usr/share/datasets and the cache
    title: str
    files: dict[str, PublishedFile]  # role ("data", "word_index") -> file
    extracted: Extracted | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


_KRIZ = ("https://www.cs.toronto.edu/~kriz/", "http://www.cs.toronto.edu/~kriz/")
_TF_KERAS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

CIFAR10 = PublishedDataset(
    name="cifar10", title="CIFAR-10",
    files={"data": PublishedFile("cifar-10-python.tar.gz",
                                 sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
                                 md5="c58f30108f718f92721af3b95e74349a")},
    extracted=Extracted("cifar-10-batches-py", {
        "data_batch_1": "c99cafc152244af753f735de768cd75f", "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "data_batch_3": "54ebc095f3ab1f0389bbae665268c751", "data_batch_4": "634d18415352ddfa80567beed471001a",
        "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb", "test_batch": "40351d587109b95175f43aff81a1287e"}))

CIFAR100 = PublishedDataset(
    name="cifar100", title="CIFAR-100",
    files={"data": PublishedFile("cifar-100-python.tar.gz",
                                 sha256="85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
                                 md5="eb9058c3a382ffc7106e4002c42a8d85")},
    extracted=Extracted("cifar-100-python", {"train": "16019d7e3df5f24257cddd939b257f8d",
                                             "test": "f0ef6b0ae62326f3e7ffdfab6717acfc"}))

IMDB = PublishedDataset(
    name="imdb", title="IMDB reviews",
    files={"data": PublishedFile("imdb.npz",
                                 sha256="69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"),
           "word_index": PublishedFile("imdb_word_index.json", md5="bfafd718b763782e994055a2d397834f")})

REUTERS = PublishedDataset(
    name="reuters", title="Reuters newswires",
    files={"data": PublishedFile("reuters.npz",
                                 sha256="d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"),
           "word_index": PublishedFile("reuters_word_index.json", md5="4d44cc38712099c9e383dc6e5f11a921")})

BOSTON_HOUSING = PublishedDataset(
    name="boston_housing", title="Boston housing",
    files={"data": PublishedFile("boston_housing.npz",
                                 sha256="f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5")})

PUBLISHED_MIRRORS: dict[str, list[str]] = {
    "cifar10": list(_KRIZ),
    "cifar100": list(_KRIZ),
    "imdb": [_TF_KERAS, "https://s3.amazonaws.com/text-datasets/"],
    "reuters": [_TF_KERAS, "https://s3.amazonaws.com/text-datasets/"],
    "boston_housing": [_TF_KERAS, "https://s3.amazonaws.com/keras-datasets/"],
}

_DATASETS = {spec.name: spec for spec in (CIFAR10, CIFAR100, IMDB, REUTERS, BOSTON_HOUSING)}


def get_published(name: str) -> PublishedDataset:
    """The spec of ``cifar10``, ``cifar100``, ``imdb``, ``reuters`` or ``boston_housing``."""
    key = str(name).strip().lower().replace("-", "_")
    key = {"cifar_10": "cifar10", "cifar_100": "cifar100"}.get(key, key)
    try:
        return _DATASETS[key]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(_DATASETS)}") from None


def published_names() -> tuple[str, ...]:
    return tuple(_DATASETS)
