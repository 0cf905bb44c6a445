"""Coverage-guided fuzzing of the file parsers with atheris (libFuzzer for Python).

Where ``benchmarks/fuzz_parsers.py`` generates structured damage with hypothesis, this harness lets
libFuzzer mutate raw bytes, steered by line coverage of axonal's own modules, starting from a
corpus of valid files. An input passes when the parser returns or raises one of its documented
exceptions; anything else is a crash that libFuzzer saves as ``crash-<sha1>`` in the working
folder (``-artifact_prefix`` moves it) and that ends the run with a non-zero status.

Targets: ``idx`` (raw IDX), ``idx_gz``, ``csv``, ``npz`` (read_npz), ``model`` (load_model),
``weights`` (load_weights into a built MLP).

Usage (from the repository root; arguments after the target go to libFuzzer):
    pip install atheris
    python benchmarks/fuzz_atheris.py npz -runs=20000 -timeout=10 -rss_limit_mb=3072
"""
from __future__ import annotations

import gzip
import sys
import tempfile
from pathlib import Path

import atheris
import numpy as np

from axonal.datasets import DatasetFormatError
from axonal.datasets._formats import read_csv, read_idx, read_npz
from axonal.layers import Dense, Dropout, Input
from axonal.models import Sequential, load_model
from axonal.saving import SavedFileError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

SCRATCH = Path(tempfile.mkdtemp(prefix="atheris-"))


def _seed_split() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (3, 28, 28), dtype=np.uint8), rng.integers(0, 10, 3, dtype=np.uint8)


def _idx(array: np.ndarray) -> bytes:
    header = bytes((0, 0, 8, array.ndim)) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.tobytes()


def seeds(target: str) -> list[bytes]:
    """Valid files the fuzzer starts from."""
    images, labels = _seed_split()
    if target in ("idx", "idx_gz"):
        raw = [_idx(images), _idx(labels)]
        return raw if target == "idx" else [gzip.compress(data, mtime=0) for data in raw]
    if target == "csv":
        rows = np.concatenate([labels[:, None], images.reshape(3, -1)], axis=1)
        return ["\n".join(",".join(map(str, row)) for row in rows).encode()]
    if target == "npz":
        path = SCRATCH / "seed.npz"
        np.savez(path, x_train=images, y_train=labels, x_test=images, y_test=labels)
        return [path.read_bytes()]
    import fuzz_models  # the same seed models as the hypothesis campaign
    files = fuzz_models.seed_files()
    return [files["weights"], files["mlp"]] if target == "weights" else list(files.values())


def _weights_model() -> Sequential:
    return Sequential([Input(shape=(8,)), Dense(16), Dropout(0.25), Dense(3)])


# target -> (file name, call, allowed exceptions)
TARGETS = {
    "idx": ("t10k-images-idx3-ubyte", read_idx, (DatasetFormatError,)),
    "idx_gz": ("t10k-images-idx3-ubyte.gz", read_idx, (DatasetFormatError,)),
    "csv": ("mnist_test.csv", read_csv, (DatasetFormatError,)),
    "npz": ("mnist.npz", lambda path: read_npz(path, "test"), (DatasetFormatError,)),
    "model": ("model.axonal", load_model, (SavedFileError,)),
    "weights": ("model.axonal", lambda path: _weights_model().load_weights(path), (SavedFileError,)),
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(TARGETS)}}} [libFuzzer arguments]")
    target, libfuzzer_args = sys.argv[1], sys.argv[2:]
    name, call, allowed = TARGETS[target]
    path = SCRATCH / name
    corpus = SCRATCH / f"corpus-{target}"
    corpus.mkdir()
    for number, data in enumerate(seeds(target)):
        (corpus / f"seed-{number}").write_bytes(data)

    def test_one_input(data: bytes) -> None:
        path.write_bytes(data)
        try:
            call(path)
        except allowed:
            pass  # documented refusal; any other exception propagates and is a crash

    # instrument_all, not instrument_imports: an editable install loads axonal through a custom
    # loader, whose modules instrument_imports leaves without coverage (libFuzzer then sees none).
    atheris.instrument_all()
    atheris.Setup([sys.argv[0], *libfuzzer_args, str(corpus)], test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
