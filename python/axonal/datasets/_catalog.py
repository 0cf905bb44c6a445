"""What each dataset is made of: file names, sizes, checksums and download mirrors.

Checksums (all public facts, none computed from guesses):

- ``payload_sha256`` is the sha256 of the *uncompressed* IDX file (``zcat FILE | sha256sum``). It is
  the authority for every copy, whatever its container: a Debian-recompressed .gz, a raw IDX, a CSV
  or an .npz all decode to the same IDX bytes, so the loader rebuilds those bytes from the arrays
  and compares. Sources: Fashion-MNIST (all four) and MNIST t10k-* computed from the files in
  ``shared/data`` (Debian's ``dataset-fashion-mnist`` copies); MNIST train-* from the values
  published alongside the ossci/cvdf mirrors in several public projects, which give the same t10k
  values as our local copy.
- ``gz_sha256`` / ``gz_md5`` identify the .gz exactly as the built-in mirrors serve it, and are
  checked only on downloads from those mirrors (Debian's .gz files differ byte-wise from
  upstream's).
  MNIST: sha256 of the original LeCun .gz files (as served by cvdf/ossci). Fashion-MNIST: only the
  md5 is published (torchvision's ``FashionMNIST.resources``), so md5 is what we check.

Mirrors: ``MIRRORS[name]`` is a list of base URLs tried in turn (``base + file name``). Tests and
air-gapped sites replace them with the environment variable ``AXONAL_MIRRORS`` (base URLs separated
by spaces or commas, tried in order for every dataset) or by assigning to this dict.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ._published import PUBLISHED_MIRRORS

__all__ = ["MIRRORS", "SPLITS", "DatasetSpec", "FileSpec", "get_spec"]

SPLITS = ("train", "test")


@dataclass(frozen=True)
class FileSpec:
    """One canonical IDX file: its standard name, content and checksums."""

    filename: str  # uncompressed name; the .gz adds ".gz"
    split: str  # "train" or "test"
    kind: str  # "images" or "labels"
    count: int  # number of samples
    payload_sha256: str
    gz_sha256: str | None = None
    gz_md5: str | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.count, 28, 28) if self.kind == "images" else (self.count,)


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: its folder name, files, other accepted layouts and how to get it."""

    name: str  # folder name under $AXONAL_DATA, /usr/share/datasets and the cache
    title: str
    files: tuple[FileSpec, ...]
    csv_names: dict[str, tuple[str, ...]] = field(default_factory=dict)  # split -> accepted names
    npz_name: str = ""
    install_hint: str = ""  # a package manager command, when one exists

    def file(self, split: str, kind: str) -> FileSpec:
        for spec in self.files:
            if spec.split == split and spec.kind == kind:
                return spec
        raise KeyError((split, kind))


MNIST = DatasetSpec(
    name="mnist",
    title="MNIST",
    files=(
        FileSpec("train-images-idx3-ubyte", "train", "images", 60000,
                 "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                 gz_sha256="440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                 gz_md5="f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        FileSpec("train-labels-idx1-ubyte", "train", "labels", 60000,
                 "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                 gz_sha256="3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                 gz_md5="d53e105ee54ea40749a09fcbcd1e9432"),
        FileSpec("t10k-images-idx3-ubyte", "test", "images", 10000,
                 "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                 gz_sha256="8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                 gz_md5="9fb629c4189551a2d022fa330f9573f3"),
        FileSpec("t10k-labels-idx1-ubyte", "test", "labels", 10000,
                 "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
                 gz_sha256="f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                 gz_md5="ec29112dd5afa0611ce80d1b7f02629c"),
    ),
    # The widespread CSV export (label, then 784 pixels), with or without a header row.
    csv_names={"train": ("mnist_train.csv",), "test": ("mnist_test.csv",)},
    npz_name="mnist.npz",  # Keras' file: x_train, y_train, x_test, y_test
)

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    title="Fashion-MNIST",
    files=(
        FileSpec("train-images-idx3-ubyte", "train", "images", 60000,
                 "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                 gz_md5="8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        FileSpec("train-labels-idx1-ubyte", "train", "labels", 60000,
                 "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                 gz_md5="25c81989df183df01b3e8a0aad5dffbe"),
        FileSpec("t10k-images-idx3-ubyte", "test", "images", 10000,
                 "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                 gz_md5="bef4ecab320f06d8554ea6380940ec79"),
        FileSpec("t10k-labels-idx1-ubyte", "test", "labels", 10000,
                 "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
                 gz_md5="bb300cfdad3c16e7a12a480ee83cd310"),
    ),
    # Kaggle's export uses these names and a "label,pixel1,..." header; ours is accepted too.
    csv_names={"train": ("fashion-mnist_train.csv", "mnist_train.csv"),
               "test": ("fashion-mnist_test.csv", "mnist_test.csv")},
    npz_name="fashion-mnist.npz",
    install_hint="apt install dataset-fashion-mnist",  # installs /usr/share/datasets/fashion-mnist/
)

# Base URLs tried in order. torchvision's S3 mirror and Google's CVDF copy serve the original
# LeCun .gz files; Zalando's own bucket and its GitHub repository serve Fashion-MNIST's.
MIRRORS: dict[str, list[str]] = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ],
    **PUBLISHED_MIRRORS,  # cifar10, cifar100, imdb, reuters, boston_housing: see _published.py
}

_SPECS = {spec.name: spec for spec in (MNIST, FASHION_MNIST)}


def get_spec(name: str) -> DatasetSpec:
    """Return the spec for ``"mnist"`` or ``"fashion-mnist"`` (``fashion_mnist`` also accepted)."""
    key = str(name).strip().lower().replace("_", "-")
    try:
        return _SPECS[key]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(_SPECS)}") from None
