"""Reading several files as one snapshot: the deployment file and its key file, as they were together.

Distribution tools swap files under a reader: kubelet points ``..data`` at a new folder holding every file
of a Secret, Vault Agent and consul-template rename a new file over the old one. Between reading the
deployment file and its key file, either may change, giving a false "stale" or a value decrypted with the
wrong key. So each file's identity (where its symlinks lead, device, inode, size, times) is taken before
and after reading them all; when anything moved, they are read again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from configsvc.formats.reading import FileProblem, read_with_status

ATTEMPTS = 5
_Identity = tuple[str, int, int, int, int, int] | None


@dataclass(frozen=True)
class FileRead:
    """One file of a snapshot: its bytes and status, or the problem reading it."""

    path: Path
    data: bytes | None = None
    status: os.stat_result | None = None
    problem: FileProblem | None = None


def read_together(files: Sequence[tuple[Path, int, str]]) -> list[FileRead]:
    """Read ``(path, byte limit, what it is)`` files so that none changed while the others were read."""
    reads: list[FileRead] = []
    for attempt in range(ATTEMPTS):
        before = [_identity(path) for path, _, _ in files]
        reads = [_read(path, limit, what) for path, limit, what in files]
        if [_identity(path) for path, _, _ in files] == before:
            break
        time.sleep(0.01 * (attempt + 1))  # a writer is switching them: let it finish
    return reads


def _read(path: Path, limit: int, what: str) -> FileRead:
    try:
        data, status = read_with_status(path, limit, what)
    except FileProblem as problem:
        return FileRead(path, problem=problem)
    return FileRead(path, data, status)


def _identity(path: Path) -> _Identity:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (os.path.realpath(path), status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns,
            status.st_ctime_ns)
