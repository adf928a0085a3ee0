"""One pre-flight per host, not one per process: a rotation is checked once and the verdict shared.

Every process that follows a deployment file (each gunicorn worker, each Celery worker and its pool
processes, beat) checks new credentials before switching. Without sharing, a rotation opens one broker
connection per process at the same moment. The first process on a host takes a lock, tries the broker,
and leaves its verdict (never a secret: the outcome and a masked message) for a few seconds; the others
read it. The folder is private to the user (0700) and names verdicts by a salted hash of the settings.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

VERDICT_SECONDS = 5.0
# Verdict and lock files untouched for this long are removed (by the next process that checks): every
# process that waited on them finished long ago.
SWEEP_SECONDS = 60.0
Verdict = dict[str, Any]


def shared_verdict(kind: str, material: Any, check: Callable[[], Verdict],
                   folder: Path | None = None) -> Verdict:
    """``check()``'s verdict for these settings, from this host's cache when another process just made
    it; ``check`` runs at most once per host within :data:`VERDICT_SECONDS`. ``folder``: where verdicts
    are shared (default: this user's private folder under the temporary directory)."""
    folder = folder or _folder()
    if folder is None:
        return check()
    digest = hashlib.sha256(_salt(folder) + json.dumps([kind, material], sort_keys=True, default=str)
                            .encode()).hexdigest()
    verdict_file = folder / digest
    with open(folder / f"{digest}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first process checks; the others wait for its verdict
        try:
            # A verdict from the future (the clock stepped back) is stale: taking it as fresh would
            # hold a refusal for as long as the step.
            if 0 <= time.time() - verdict_file.stat().st_mtime < VERDICT_SECONDS:
                cached: Verdict = json.loads(verdict_file.read_text())
                return cached
        except (OSError, ValueError):
            pass
        verdict = check()
        temporary = folder / f".{digest}.{os.getpid()}"
        temporary.write_text(json.dumps(verdict))
        os.replace(temporary, verdict_file)
    _sweep(folder, keep={digest, f"{digest}.lock"})
    return verdict


def _sweep(folder: Path, keep: set[str]) -> None:
    """Remove verdicts and locks nobody used for :data:`SWEEP_SECONDS` (or dated in the future)."""
    now = time.time()
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if entry.name == "salt" or entry.name in keep:
                continue
            with contextlib.suppress(OSError):
                age = now - entry.stat(follow_symlinks=False).st_mtime
                if not 0 <= age < SWEEP_SECONDS:
                    os.unlink(entry.path)


def _folder() -> Path | None:
    """This user's private verdict folder, or None when it cannot be trusted (then nothing is shared)."""
    folder = Path(tempfile.gettempdir()) / f"configsvc-preflight-{os.geteuid()}"
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    try:
        status = folder.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(status.st_mode) or status.st_uid != os.geteuid() or status.st_mode & 0o077:
        return None
    return folder


def _salt(folder: Path) -> bytes:
    path = folder / "salt"
    with contextlib.suppress(FileExistsError):
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(32))
    for _ in range(50):
        salt = path.read_bytes()
        if len(salt) == 32:
            return salt
        time.sleep(0.01)  # another process is writing it
    return salt
