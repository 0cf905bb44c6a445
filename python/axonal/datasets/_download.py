"""Downloading dataset files from the mirrors, verified and written atomically.

Each file is tried on every mirror in turn until one copy passes all checks:

- the bytes received match ``Content-Length`` (a dropped connection is caught even before hashing);
- the .gz digest (sha256, else md5) matches the published one, for the built-in mirrors only —
  mirrors given through ``AXONAL_MIRRORS`` may legitimately recompress;
- the decompressed IDX payload matches ``payload_sha256`` (always).

The file is streamed into a temporary file in the destination folder, fsync'ed, verified, then
renamed over the final name with ``os.replace``; on any failure or interruption the temporary file
is removed, so the cache never holds a partial or unverified file.

Environment:
    AXONAL_OFFLINE=1             never download (also ``load_data(download=False)``).
    AXONAL_MIRRORS="URL [URL]"   base URLs replacing the built-in mirrors (spaces or commas).
    AXONAL_DOWNLOAD_TIMEOUT=30   seconds a connect or a read may block before the mirror is dropped.
    http_proxy / https_proxy / no_proxy   honoured, through urllib's default proxy handling.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import re
import sys
import tempfile
import time
import urllib.request
import zlib
from pathlib import Path

from . import _catalog
from ._catalog import DatasetSpec, FileSpec

__all__ = ["DEFAULT_TIMEOUT", "download_file", "downloads_disabled", "mirrors_for"]

DEFAULT_TIMEOUT = 30.0
_CHUNK = 1 << 16
_TRUE = {"1", "true", "yes", "on"}
# Everything a bad mirror can throw at us; anything else is a bug and should propagate.
_FETCH_ERRORS = (OSError, http.client.HTTPException, ValueError, EOFError, zlib.error)


def downloads_disabled(download: bool = True) -> str:
    """The reason downloads are off (``""`` when they are allowed)."""
    if not download:
        return "disabled by download=False"
    if os.environ.get("AXONAL_OFFLINE", "").strip().lower() in _TRUE:
        return "disabled by AXONAL_OFFLINE=1"
    return ""


def mirrors_for(spec: DatasetSpec) -> list[tuple[str, bool]]:
    """``(base_url, is_builtin)`` pairs in the order they are tried."""
    override = os.environ.get("AXONAL_MIRRORS", "").strip()
    if override:
        bases, builtin = re.split(r"[\s,]+", override), False
    else:
        bases, builtin = list(_catalog.MIRRORS.get(spec.name, [])), True
    return [(base if base.endswith("/") else base + "/", builtin) for base in bases if base]


def _timeout() -> float:
    try:
        return float(os.environ.get("AXONAL_DOWNLOAD_TIMEOUT", DEFAULT_TIMEOUT))
    except ValueError:
        return DEFAULT_TIMEOUT


class _Progress:
    """A one-line bar on a terminal; a start line and an end line otherwise (logs, CI)."""

    def __init__(self, url: str, total: int | None, stream=None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.name, self.total = url.rsplit("/", 1)[-1], total
        self.start = self.last = time.monotonic()
        size = f" ({total / 1e6:.1f} MB)" if total else ""
        if not self.tty:
            self._write(f"Downloading {url}{size}\n")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def update(self, done: int) -> None:
        now = time.monotonic()
        if not self.tty or now - self.last < 0.1:  # redraw at most ten times a second
            return
        self.last = now
        if self.total:
            filled = int(30 * done / self.total)
            bar = f"[{'#' * filled}{'.' * (30 - filled)}] {100 * done / self.total:5.1f}%"
        else:
            bar = f"{done / 1e6:.1f} MB"
        self._write(f"\r{self.name} {bar} {done / 1e6:6.1f} MB")

    def close(self, done: int, outcome: str) -> None:
        seconds = time.monotonic() - self.start
        prefix = "\r" if self.tty else "  "
        self._write(f"{prefix}{self.name}: {outcome}, {done / 1e6:.1f} MB in {seconds:.1f} s\n")


def _payload_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with gzip.open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _stream_to(url: str, out, timeout: float, progress_stream) -> tuple[int, dict]:
    """Copy ``url`` into the open file ``out``; return (bytes, {algorithm: hexdigest})."""
    digests = {"sha256": hashlib.sha256(), "md5": hashlib.md5()}
    request = urllib.request.Request(url, headers={"User-Agent": "axonal-datasets"})
    # A fresh opener per download: its ProxyHandler reads *_proxy/no_proxy from the environment
    # now, whereas urlopen's global opener froze them at the process's first request.
    with urllib.request.build_opener().open(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        bar, done = _Progress(url, total, progress_stream), 0
        try:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                for digest in digests.values():
                    digest.update(chunk)
                done += len(chunk)
                bar.update(done)
            if total is not None and done != total:
                raise OSError(f"connection closed after {done} of {total} bytes")
        except BaseException as err:
            bar.close(done, f"failed ({err})")
            raise
        bar.close(done, "done")
    return done, {name: digest.hexdigest() for name, digest in digests.items()}


def _check(file: FileSpec, tmp: Path, digests: dict, builtin: bool) -> None:
    if builtin:  # published .gz digests describe the built-in mirrors' files only
        for name, expected in (("sha256", file.gz_sha256), ("md5", file.gz_md5)):
            if expected and digests[name] != expected:
                raise ValueError(f"checksum mismatch: .gz {name} {digests[name]}, "
                                 f"expected {expected}")
    actual = _payload_sha256(tmp)
    if actual != file.payload_sha256:
        raise ValueError(f"checksum mismatch: uncompressed sha256 {actual}, "
                         f"expected {file.payload_sha256}")


def _fsync_dir(directory: Path) -> None:
    try:  # makes the rename itself durable; not possible on every OS/filesystem
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def download_file(spec: DatasetSpec, file: FileSpec, dest_dir: Path,
                  progress_stream=None) -> tuple[Path | None, list[str]]:
    """Fetch ``file`` (its .gz) into ``dest_dir`` from the first mirror that serves a good copy.

    Returns:
        ``(path, failures)``: the verified file (``None`` if every mirror failed) and one line per
        failed attempt (``"URL: reason"``) for the error report.
    """
    return fetch_verified(mirrors_for(spec), file.filename + ".gz", dest_dir, progress_stream,
                          lambda tmp, digests, builtin: _check(file, tmp, digests, builtin))


def fetch_verified(mirrors: list[tuple[str, bool]], name: str, dest_dir: Path, progress_stream,
                   verify) -> tuple[Path | None, list[str]]:
    """Download ``name`` from the first of ``mirrors`` (``(base URL, built in)`` pairs) whose copy
    passes ``verify(tmp_path, digests, built_in)`` (which raises ValueError otherwise), into
    ``dest_dir`` atomically: a ``.part`` file, fsynced, renamed into place, never left behind.

    Returns:
        ``(path, failures)``: the verified file (``None`` if every mirror failed) and one line per
        failed attempt (``"URL: reason"``).
    """
    failures: list[str] = []
    if not mirrors:
        return None, ["no mirrors configured"]
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        return None, [f"cannot create {dest_dir}: {err}"]
    for base, builtin in mirrors:
        url = base + name
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=dest_dir)
        except OSError as err:  # e.g. a read-only cache: no mirror can help
            return None, failures + [f"cannot write in {dest_dir}: {err}"]
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                _, digests = _stream_to(url, out, _timeout(), progress_stream)
                out.flush()
                os.fsync(out.fileno())
            verify(tmp, digests, builtin)
            os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide a shared cache from other users
            os.replace(tmp, dest_dir / name)
            _fsync_dir(dest_dir)
            return dest_dir / name, failures
        except _FETCH_ERRORS as err:
            failures.append(f"{url}: {type(err).__name__}: {err}")
        finally:  # also on KeyboardInterrupt: never leave a .part file behind
            if tmp.exists():
                tmp.unlink()
    return None, failures
