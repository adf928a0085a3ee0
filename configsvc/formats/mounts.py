"""Recognising a single-file bind mount (``docker run -v /host/api-config.yaml:/app/api-config.yaml``, a
Kubernetes ``subPath``): the process sees the inode mounted at start, so a file *replaced* on the host (by
rename, as editors, ``configsvc set`` and every secret tool do) is never seen, and renaming onto the file
inside the container fails with EBUSY."""

from __future__ import annotations

import os
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")


def is_single_file_mount(path: Path, mountinfo: str | None = None) -> bool:
    """True when ``path`` (its real path) is itself a mount point: a file bind-mounted on its own.

    ``mountinfo`` is the text of ``/proc/self/mountinfo`` (read when not given; False where there is none).
    """
    if mountinfo is None:
        try:
            mountinfo = MOUNTINFO.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
    target = os.path.realpath(path)
    if os.path.isdir(target):
        return False
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        if len(fields) > 4 and _unescape(fields[4]) == target:
            return True
    return False


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash in paths as octal escapes (``\\040``)."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field
