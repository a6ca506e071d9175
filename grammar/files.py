"""What kvcal promises about the files it reads and writes (docs/files.md), in one place.

Reads: a file is opened only when it is a regular file (a FIFO, a device such as
``/dev/zero`` or ``/dev/stdin``, a socket or a directory is refused without a byte read
from it), never blocks (``O_NONBLOCK``, then ``fstat`` of what was opened), and at most
*limit* bytes are read. Messages name the path and what it is, never the file's bytes.

Writes: only regular files are written, always through a temporary file beside the target
and an atomic rename, so a reader never sees half a file and a kill leaves the old file.

- An *output* (a record, a report folder and the files kvcal names inside it) is written
  only where the path is missing or a regular file (a folder for a report folder): a
  symbolic link, a FIFO, a socket, a device node or a folder there is refused, never
  replaced or followed. The rename replaces the directory entry, so even a link planted
  between the check and the rename is replaced, not followed.
- A file edited *in place* (``kvcal format FILE``) is followed through symbolic links (the
  link stays a link, its target is rewritten, keeping its permissions), must be a regular
  file, and is replaced only if it still holds what was read (compare and swap): an edit
  saved while kvcal worked is never lost.

Pure standard library: the grammar, the engine and the front ends all use it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "CONFIG_LIMIT",
    "FileChanged",
    "FileRefused",
    "check_output",
    "check_report_dir",
    "describe",
    "open_regular",
    "output_dir",
    "read_regular",
    "read_stream",
    "rewrite_in_place",
    "write_output",
]

#: the largest config file read (a quant.cfg is a few kilobytes)
CONFIG_LIMIT = 16 * 1024 * 1024
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class FileRefused(OSError):
    """A path kvcal does not read or write: not a regular file, too large, a link where a
    file is due. ``strerror`` says what it is and what to do; ``filename`` is the path."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(errno.EINVAL, reason, os.fspath(path))

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


class FileChanged(FileRefused):
    """The file changed on disk between kvcal's read and its write: nothing was written."""


def describe(mode: int) -> str:
    """What a file of mode *mode* is, as a message says it (``a FIFO (named pipe)``)."""
    for test, what in (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return what
    return "not a regular file"


def _not_regular(path: str | os.PathLike[str], mode: int, purpose: str) -> FileRefused:
    return FileRefused(path, f"is {describe(mode)}, not a regular file (kvcal {purpose} regular files only)")


def open_regular(path: str | os.PathLike[str], *, purpose: str = "reads") -> int:
    """A read-only descriptor of *path* (symbolic links followed) if it is a regular file.

    Checked before opening (a FIFO or a device is never opened) and again on what was
    opened, with ``O_NONBLOCK`` so that nothing swapped in between can block the open.
    Raises :class:`FileRefused` (not regular) or the OSError of the open itself."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise _not_regular(path, st.st_mode, purpose)
    fd = os.open(path, os.O_RDONLY | _O_NONBLOCK | _O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(path, st.st_mode, purpose)
        if _O_NONBLOCK:  # (no effect on a regular file; cleared for whoever reads on)
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _too_large(path: str | os.PathLike[str], limit: int) -> FileRefused:
    return FileRefused(path, f"is larger than {_size(limit)}: not read")


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 else f"{n} bytes"


def read_regular(path: str | os.PathLike[str], limit: int = CONFIG_LIMIT) -> bytes:
    """All of *path* if it is a regular file of at most *limit* bytes (see open_regular)."""
    fd = open_regular(path)
    with os.fdopen(fd, "rb") as fh:
        return _read_bounded(fh, path, limit)


def read_stream(stream: BinaryIO, name: str, limit: int = CONFIG_LIMIT) -> bytes:
    """All of *stream* (standard input) up to *limit* bytes; FileRefused beyond that."""
    return _read_bounded(stream, name, limit)


def _read_bounded(fh: BinaryIO, path: str | os.PathLike[str], limit: int) -> bytes:
    data = fh.read(limit + 1)
    if len(data) > limit:
        raise _too_large(path, limit)
    return data


# -- writing ------------------------------------------------------------------------------------


def check_output(path: str | os.PathLike[str], *, directory: bool = False) -> bool:
    """Whether *path* exists, after checking it may be written as an output: it is missing
    or a regular file (a directory when *directory*), never a symbolic link, FIFO, socket
    or device. Raises :class:`FileRefused` otherwise. Its parent folders may be links."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    want, test = ("a directory", stat.S_ISDIR) if directory else ("a regular file", stat.S_ISREG)
    if test(st.st_mode):
        return True
    if stat.S_ISLNK(st.st_mode):
        target = os.readlink(path)
        raise FileRefused(
            path,
            f"is a symbolic link (to {target}): kvcal writes its outputs only as {want}, "
            "never through a link; name the target itself or remove the link",
        )
    raise FileRefused(
        path,
        f"is {describe(st.st_mode)}: kvcal writes its outputs only as {want}, "
        "it does not replace anything else; choose another path",
    )


def output_dir(path: str | os.PathLike[str]) -> Path:
    """*path* as a folder to write outputs into: created if missing (with its parents), a
    directory otherwise (not a link to one: see check_output)."""
    if not check_output(path, directory=True):
        os.makedirs(path, exist_ok=True)
        check_output(path, directory=True)  # (something else may have been made there meanwhile)
    return Path(path)


def check_report_dir(path: str | os.PathLike[str]) -> None:
    """check_output for a report folder and the files kvcal writes in it (``report.md``,
    ``*.png``): FileRefused names the first that is not what it should be."""
    if check_output(path, directory=True):
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.name == "report.md" or entry.name.endswith(".png"):
                    check_output(entry.path)


def write_output(
    path: str | os.PathLike[str], data: bytes | str, *, mode: int = 0o644, make_parents: bool = False
) -> None:
    """Write the output *path* atomically (a temporary file beside it, fsync, rename).

    *path* must be missing or a regular file (check_output); an existing file keeps its
    permissions, a new one gets *mode*. The rename replaces the directory entry: it never
    follows a link, and a link or FIFO that appeared since the check is refused just before."""
    path = os.fspath(path)
    exists = check_output(path)
    parent = os.path.dirname(path) or "."
    if make_parents:
        os.makedirs(parent, exist_ok=True)
    if exists:
        with contextlib.suppress(OSError):
            mode = os.lstat(path).st_mode & 0o7777
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        check_output(path)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def rewrite_in_place(path: str | os.PathLike[str], text: str, original: bytes) -> None:
    """Replace the file *path* names (through symbolic links: a link stays a link) with
    *text*, atomically, keeping its permissions and, where allowed, its owner.

    Refused (:class:`FileRefused`, nothing written) when the target is not a regular file or
    is read-only (as an editor refuses it); :class:`FileChanged` when it no longer holds
    *original*, the bytes the new text was made from (an edit saved meanwhile is kept)."""
    target = os.path.realpath(path)
    st = os.stat(target)
    if not stat.S_ISREG(st.st_mode):
        raise _not_regular(path, st.st_mode, "rewrites")
    if not os.access(target, os.W_OK) or not st.st_mode & 0o222:
        raise FileRefused(path, "the file is read-only")
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".kvcal-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(OSError):
            os.chmod(tmp, st.st_mode & 0o7777)
        with contextlib.suppress(OSError, AttributeError):
            os.chown(tmp, st.st_uid, st.st_gid)  # only root may; others own the file anyway
        _unchanged(path, target, original)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _unchanged(path: str | os.PathLike[str], target: str, original: bytes) -> None:
    """Raise FileChanged unless *target* is still the regular file holding *original*."""
    changed = FileChanged(
        path, "changed on disk while kvcal was formatting it: left as it is (with the new edit); run kvcal format again"
    )
    try:
        now = read_regular(target, max(len(original), 1))
    except FileRefused:
        raise changed from None
    except FileNotFoundError:
        raise FileChanged(path, "was removed while kvcal was formatting it: not written again") from None
    if now != original or os.path.realpath(path) != target:
        raise changed
