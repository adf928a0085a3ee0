"""Atomic file writes: a temporary file in the same folder, fsync, then rename; mode and owner kept.
Through a symlink, the target is what is replaced.

A file that is a single-file bind mount cannot be renamed onto (EBUSY): it is then written in place, and
the caller is told so it can warn (readers may see it half-written; mount its folder instead).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

IN_PLACE_WARNING = ("{path} could not be replaced atomically (it is a single-file bind mount: rename "
                    "fails with EBUSY), so it was written in place; a process reading it at that moment "
                    "may see it half-written. Mount its folder instead of the file")


def write_atomic(path: Path, data: bytes, mode: int | None = None) -> str | None:
    """Replace ``path`` with ``data`` in one step; readers see the old file or the new, never half.

    The new file keeps the existing file's mode and owner (``mode`` for a new file, 0600 by default).
    Through a symlink the target is replaced, in the target's folder, and the link kept (replacing the
    link would cut a symlinked deployment file off from its target for good).
    Returns a warning when the file had to be written in place (a bind mount), else None.
    """
    path = Path(os.path.realpath(path))
    folder = path.parent
    try:
        existing = path.stat()
    except FileNotFoundError:
        existing = None
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if existing is not None:
            os.chmod(temporary, existing.st_mode & 0o7777)
            with contextlib.suppress(PermissionError):  # only root may give a file to someone else
                os.chown(temporary, existing.st_uid, existing.st_gid)
        else:
            os.chmod(temporary, 0o600 if mode is None else mode)
        try:
            os.replace(temporary, path)
        except OSError as error:
            if error.errno != errno.EBUSY:
                raise
            _write_in_place(path, data)
            os.unlink(temporary)
            return IN_PLACE_WARNING.format(path=path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return None


def _write_in_place(path: Path, data: bytes) -> None:
    """Overwrite the file's contents through its own inode (what a bind mount shows), then sync."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.ftruncate(descriptor, 0)
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view):]
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
