"""Exceptions raised by the dataset loaders.

Two families, so that callers can tell "the bytes are wrong" from "the bytes are nowhere":

- :class:`DatasetFormatError` (a ``ValueError``): a file was found but cannot be trusted — bad
  magic number, wrong dimensions, short read, broken gzip, labels out of range, image/label count
  mismatch, or (:class:`DatasetChecksumError`) content that differs from the canonical dataset.
  The message always names the file.
- :class:`DatasetNotFoundError` (a ``FileNotFoundError``, hence an ``OSError``): no complete copy
  was found anywhere and none could be downloaded. The message lists every place searched, the
  expected files with their checksums, and the one-line fix.
"""
from __future__ import annotations

__all__ = ["DatasetChecksumError", "DatasetFormatError", "DatasetNotFoundError"]


class DatasetFormatError(ValueError):
    """A dataset file exists but is truncated, corrupt or wrongly shaped.

    Attributes:
        path: the offending file (``str``), or ``None`` when not tied to one file.
    """

    def __init__(self, message: str, path: object = None) -> None:
        self.path = None if path is None else str(path)
        super().__init__(message if path is None else f"{path}: {message}")


class DatasetChecksumError(DatasetFormatError):
    """A well-formed dataset file whose content is not the canonical dataset.

    Attributes:
        path: the offending file.
        expected: the sha256 the code holds for it.
        actual: the sha256 that was computed.
    """

    def __init__(self, message: str, path: object, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(message, path)


class DatasetNotFoundError(FileNotFoundError):
    """No usable copy of a dataset was found locally and none could be downloaded.

    ``str(err)`` is the full report (places searched, expected files and checksums, the fix).
    """

    def __init__(self, message: str) -> None:
        # FileNotFoundError(msg) with a single argument keeps str(err) == msg (no errno prefix).
        super().__init__(message)
