"""One writer at a time: the file commands take an exclusive lock for their read-change-write.

Two ``configsvc set`` run at once each read the file, change one key and replace it: without a lock the
second replacement drops the first one's key. The lock is ``flock`` on the folder that holds the file (the
target's, through a symlink: that is what is replaced). The file itself cannot carry it, since every
write replaces it with a new inode, and a lock file would be left in the deployment's folder. So writers
of any file in one folder take turns; each holds it for milliseconds, an ``edit`` session for as long as
its editor is open. The lock is advisory: it orders configsvc's own writers, not other programs.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from configsvc.errors import FileError, Problem

#: How long a command waits for another configsvc command that holds the file (an ``edit`` session).
WAIT_SECONDS = 30.0
_POLL_SECONDS = 0.05


@contextmanager
def locked(path: Path, wait: float = WAIT_SECONDS) -> Iterator[None]:
    """Hold the exclusive lock of ``path`` (through a symlink, its target's) for the block; wait up to
    ``wait`` seconds for another holder, then raise :class:`FileError` naming the file."""
    descriptor = os.open(Path(os.path.realpath(path)).parent, os.O_RDONLY | os.O_CLOEXEC)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise FileError(Problem(
                        f"another configsvc command has been changing the file for {wait:g} s (an edit "
                        "session?); the file is unchanged: try again when it is done",
                        kind="file", path=str(path))) from None
                time.sleep(_POLL_SECONDS)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock

