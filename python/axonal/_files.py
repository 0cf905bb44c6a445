"""Files as a user expects them: what may be read, and how a file is replaced.

**Reading.** A loader must only open regular files (symbolic links to one are followed). Opening a
FIFO blocks until some other process writes to it, possibly forever; a device such as
``/dev/zero`` never ends and is read until memory runs out. :func:`special_file_problem` says what
a path is before anything opens it, so loaders refuse such paths with a message naming them.

**Writing.** :func:`atomic_write` writes a temporary file in the destination's folder, fsyncs it
and renames it over the destination (``os.replace``): a reader sees the old file or the complete
new one, never a partial file. Around that, it behaves like writing the file in place would:

- a path through a symbolic link writes the file the link points to (the link stays);
- an existing file keeps its permission bits (and owner, where the process may set it), instead
  of getting the defaults of a new file;
- a write-protected file (no write permission for this process, or no write bit at all, which
  root's permission checks would ignore) is refused, as are FIFOs and devices;
- a failed write (a full disk, a quota, a read-only file system) raises an ``OSError`` with the
  same ``errno`` whose message names the destination and the cause, and leaves the destination
  as it was.

A save killed midway (SIGKILL, power loss) cannot delete its temporary file. Temporary names
therefore carry the writer's host and process id, and :func:`remove_stale_temporaries` (run by
every save and load of a path) deletes those of that path whose writer is gone: a process of
this host that no longer exists, or a file untouched for an hour (another host's, or one
written by an earlier axonal, whose names did not record the writer).
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
import stat
import tempfile
import threading
import time
from typing import BinaryIO, Callable

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
# A temporary file nobody has written to for this long belongs to no running save.
STALE_SECONDS = 3600
_HOST = re.sub(r"\W", "_", socket.gethostname())[:32] or "host"
_in_flight: set[str] = set()  # this process's temporary files being written (several threads may save)
_in_flight_lock = threading.Lock()
# Why a write failed, and what to do about it, by errno.
_WRITE_FIXES = {
    errno.ENOSPC: ("the disk is full", "free space on that file system, or save to another one"),
    errno.EDQUOT: ("the disk quota is exhausted", "free space within your quota, or save elsewhere"),
    errno.EFBIG: ("the file is larger than the file system allows", "save to another file system"),
    errno.EROFS: ("the file system is read-only", "save to a writable folder"),
    errno.EACCES: ("permission denied", "save to a folder you may write to, or change its permissions"),
    errno.EPERM: ("operation not permitted", "save to a folder you may write to, or change its permissions"),
}


def special_file_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` must not be opened for reading as a file, or None for a regular file (also
    through symbolic links) and for a path that cannot be examined (its open reports that)."""
    what = _special_kind(path)
    return None if what is None else f"{what}, not a regular file (reading it could block forever or never end)"


def _special_kind(path: str | os.PathLike) -> str | None:
    """``it is a FIFO (named pipe)``, ``it is a symbolic link to '/dev/zero', which is a character
    device``...; None for a regular file or a path that cannot be examined."""
    try:
        status = os.stat(path)
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(status.st_mode):
        return None
    kind = next((name for test, name in _KINDS if test(status.st_mode)), "a special file")
    link = f"a symbolic link to {os.path.realpath(path)!r}, which is " if os.path.islink(path) else ""
    return f"it is {link}{kind}"


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None], overwrite: bool = True) -> None:
    """Create or replace ``path`` from ``write(file)`` so that it appears complete or not at all.

    Args:
        path: destination; its folder must exist.
        write: writes the whole content to the binary file it receives.
        overwrite: replace an existing file (False raises FileExistsError instead).

    Raises:
        IsADirectoryError, FileNotFoundError, FileExistsError, PermissionError: the destination is
            a folder, its folder is missing, it exists (``overwrite=False``), or it is
            write-protected or not a regular file.
        OSError: the write failed (e.g. ``errno.ENOSPC``); the message names the path and the cause.
    """
    shown = os.fspath(path)
    target = os.path.realpath(shown) if os.path.islink(shown) else shown  # write through the link
    folder = os.path.dirname(os.path.abspath(target))
    existing = _check_destination(shown, target, folder, overwrite)
    remove_stale_temporaries(target)
    try:
        with _in_flight_lock:  # registered before another thread's cleanup can see it
            descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=f"{_temporary_prefix(target)}axtmp-"
                                                     f"{os.getpid()}-{_HOST}.", suffix=".tmp")
            _in_flight.add(temporary)
    except OSError as error:
        raise _write_error(shown, error) from error
    try:
        with os.fdopen(descriptor, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        _copy_mode(temporary, existing)
        os.replace(temporary, target)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise _write_error(shown, error) from error
        raise
    finally:
        with _in_flight_lock:
            _in_flight.discard(temporary)
    _fsync_folder(folder)


def remove_stale_temporaries(path: str | os.PathLike) -> list[str]:
    """Delete the temporary files left beside ``path`` by saves of it that were killed; return
    their paths. Files of saves still running are kept; errors (a read-only folder) are ignored."""
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    # New names: .<name>.axtmp-<pid>-<host>.<random>.tmp; older axonal: .<name>.<8 random>.tmp
    pattern = re.compile(re.escape(_temporary_prefix(target)) + r"(?:axtmp-(\d+)-(\w+)\.\w+|[a-z0-9_]{8})\.tmp")
    removed = []
    with _in_flight_lock, contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            match = pattern.fullmatch(entry.name)
            if match and _is_stale(entry, match.group(1), match.group(2)):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(entry.path)
    return removed


def _check_destination(shown: str, target: str, folder: str, overwrite: bool) -> os.stat_result | None:
    """The destination's current status (None when it does not exist yet), after refusing what
    cannot or must not be replaced."""
    if os.path.isdir(target):
        raise IsADirectoryError(f"Cannot save to {shown!r}: it is a folder. Fix: give a file path such as "
                                f"{os.path.join(shown, 'model.axonal')!r}.")
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot save to {shown!r}: the folder {folder!r} does not exist. "
                                "Fix: create it first, e.g. os.makedirs(folder, exist_ok=True).")
    try:
        existing = os.stat(target)
    except FileNotFoundError:
        return None
    if not overwrite:
        raise FileExistsError(f"Cannot save to {shown!r}: the file exists and overwrite=False. "
                              "Fix: pass overwrite=True, or choose another path.")
    if not stat.S_ISREG(existing.st_mode):  # replacing /dev/null with a model is never meant
        raise OSError(f"Cannot save to {shown!r}: {_special_kind(shown)}, not a regular file, and saving would "
                      "replace it. Fix: choose the path of a regular file.")
    mode = stat.S_IMODE(existing.st_mode)
    if not os.access(target, os.W_OK) or not mode & 0o222:
        raise PermissionError(f"Cannot save to {shown!r}: the file is write-protected (mode {mode:04o}). "
                              f"Fix: make it writable first (chmod u+w {shown!r}) if it may be replaced, "
                              "or save to another path.")
    return existing


def _copy_mode(temporary: str, existing: os.stat_result | None) -> None:
    """Give the new file the old one's permission bits and owner, or those open() would give a new
    file (mkstemp creates 0600)."""
    if existing is None:
        os.chmod(temporary, 0o666 & ~_umask())
        return
    if (existing.st_uid, existing.st_gid) != (os.getuid(), os.getgid()):
        with contextlib.suppress(OSError):  # only root may give a file away; others keep theirs
            os.chown(temporary, existing.st_uid, existing.st_gid)
    os.chmod(temporary, stat.S_IMODE(existing.st_mode))


def _temporary_prefix(target: str) -> str:
    return f".{os.path.basename(target)}."


def _is_stale(entry: os.DirEntry, pid: str | None, host: str | None) -> bool:
    if entry.path in _in_flight:
        return False
    if pid is not None and host == _HOST:
        return int(pid) == os.getpid() or not _process_exists(int(pid))  # our own: not in flight
    with contextlib.suppress(OSError):
        return time.time() - entry.stat().st_mtime > STALE_SECONDS
    return False


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # it exists (another user's), or cannot be ours: keep its file
    return True


def _write_error(shown: str, error: OSError) -> OSError:
    """``error`` told as what went wrong saving ``shown``, with the same errno (and type)."""
    cause, fix = _WRITE_FIXES.get(error.errno, (error.strerror or str(error), "check the destination"))
    message = (f"Cannot save to {shown!r}: {cause} ({error.strerror or error}); the file was not changed. "
               f"Fix: {fix}.")
    try:
        return type(error)(error.errno, message) if error.errno is not None else type(error)(message)
    except TypeError:  # a subclass with another constructor
        return OSError(error.errno, message)


def _umask() -> int:
    """The process umask, read without changing it where Linux allows."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere the only way to read it is to set it, then put it back
    os.umask(mask)
    return mask


def _fsync_folder(folder: str) -> None:
    """Persist the rename itself (POSIX); a no-op where folders cannot be opened (Windows)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
