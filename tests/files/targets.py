"""Filesystem targets of every kind, for the adversarial read and write tests."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

#: what a path can be when kvcal is asked to read or write it
KINDS = (
    "regular",
    "missing",
    "missing_parent",
    "link_to_regular",
    "link_to_dir",
    "dangling_link",
    "fifo",
    "socket",
    "device",
    "dir",
    "link_to_fifo",
)
#: the kinds that are not a regular file where the path is, nor missing
SPECIAL = frozenset(KINDS) - {"regular", "missing", "missing_parent"}
OUTSIDE_TEXT = "precious: do not overwrite\n"


def make(kind: str, folder: Path, name: str = "target") -> Path | None:
    """Make *name* in *folder* as *kind*; None when this machine cannot (a device node
    needs CAP_MKNOD). Links point at ``folder/outside*``, a file the test checks is intact."""
    path = folder / name
    outside = folder / "outside.txt"
    outside.write_text(OUTSIDE_TEXT)
    if kind == "regular":
        path.write_text(OUTSIDE_TEXT)
    elif kind == "missing":
        pass
    elif kind == "missing_parent":
        path = folder / "no" / "such" / name
    elif kind == "link_to_regular":
        path.symlink_to(outside)
    elif kind == "link_to_dir":
        (folder / "outside_dir").mkdir(exist_ok=True)
        path.symlink_to(folder / "outside_dir")
    elif kind == "dangling_link":
        path.symlink_to(folder / "outside_missing")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "link_to_fifo":
        os.mkfifo(folder / "outside_fifo")
        path.symlink_to(folder / "outside_fifo")
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        try:
            sock.bind(str(path))
        finally:
            sock.close()
    elif kind == "device":
        try:  # a null device of our own, never /dev/null itself
            os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        except (PermissionError, OSError):
            return None
    elif kind == "dir":
        path.mkdir()
    else:  # pragma: no cover
        raise ValueError(kind)
    return path


def snapshot(folder: Path) -> dict[str, tuple[int, bytes | str | None]]:
    """Every entry under *folder*: its file type and its content (files), link target
    (links) or nothing, so a test can assert that nothing it did not ask for changed."""
    out: dict[str, tuple[int, bytes | str | None]] = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            p = Path(root, name)
            st = os.lstat(p)
            kind = stat.S_IFMT(st.st_mode)
            content: bytes | str | None = None
            if stat.S_ISREG(st.st_mode):
                content = p.read_bytes()
            elif stat.S_ISLNK(st.st_mode):
                content = os.readlink(p)
            out[str(p.relative_to(folder))] = (kind, content)
    return out


def temporaries(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob("*.tmp")]
