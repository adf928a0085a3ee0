"""What a host keeps of the configuration a rollout settled, so a process that starts mid-rollout runs it.

In staged mode the files can hold a configuration no rollout has completed yet. A process that starts
then must not run it (it would be a step nobody took): it runs the *settled* one — what every process ran
before the change was staged, or what the last rollout completed — and stages the files'. Once the files
change, that configuration is nowhere on disk, so the first process on a host to stage a change keeps the
bytes it runs: the deployment file as it was (an encrypted file stays encrypted; its key file is read as
usual) and the files ``*_FILE`` variables named, with the fingerprints ``configsvc rollout`` rejected.

The record lives only while the files differ from the settled configuration: a completed rollout, or the
files going back to it, removes it. It is kept in a private folder of the user the processes run as:
``CONFIGSVC_ROLLOUT_DIR``, else ``configsvc-<uid>/rollout`` in the temporary folder (``TMPDIR``). A folder
another user owns or can enter, or a symbolic link, is refused (a record planted there would choose what
processes run); each record has a lock, its files are 0600 and each is checked against its SHA-256.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import stat
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from configsvc.core.fingerprint import fingerprint

if TYPE_CHECKING:
    from configsvc.core.config import Config

logger = logging.getLogger("configsvc.rollout")

#: Where records are kept, when set (a folder of the user the processes run as, mode 0700).
FOLDER_VARIABLE = "CONFIGSVC_ROLLOUT_DIR"
_RECORD = "settled.json"
_LOCK = ".lock"
_VERSION = 1


class UnsafeFolder(Exception):
    """The folder could hold records another user wrote: not used."""


@dataclass(frozen=True)
class Settled:
    """A host's record of the settled configuration: its fingerprint, the bytes it was read from (by
    role, as :attr:`configsvc.core.layer.Layer.file_bytes` names them) and the rejected fingerprints."""

    fingerprint: str
    files: Mapping[str, bytes]
    rejected: frozenset[str]


def folders(environ: Mapping[str, str]) -> tuple[Path, ...]:
    """The folders down to the one records are kept in (see the module), each to be this user's only."""
    named = environ.get(FOLDER_VARIABLE)
    if named:
        return (Path(named).expanduser(),)
    mine = Path(environ.get("TMPDIR") or tempfile.gettempdir()) / f"configsvc-{os.geteuid()}"
    return mine, mine / "rollout"


class Records:
    """The records of one deployment (its file, environment and prefix) on this host."""

    def __init__(self, folders: tuple[Path, ...], deployment: Path | None, env: str, prefix: str) -> None:
        identity = json.dumps([str(deployment or ""), env, prefix])
        #: This deployment's folder, and the ones above it that must be private too.
        self.path = folders[-1] / hashlib.sha256(identity.encode()).hexdigest()[:24]
        self._folders = (*folders, self.path)

    def __repr__(self) -> str:
        return f"<Records {self.path}>"

    @classmethod
    def of(cls, config: Config, environ: Mapping[str, str], prefix: str) -> Records:
        """The records of the deployment ``config`` was read for."""
        return cls(folders(environ), config.deployment_file, config.env, prefix)

    def load(self) -> Settled | None:
        """The settled configuration, or None when there is none (or it does not hold together)."""
        if not self.path.is_dir():
            return None
        with self._locked():
            try:
                record = json.loads((self.path / _RECORD).read_bytes())
            except FileNotFoundError:
                return None
            except (OSError, ValueError):
                logger.warning("configsvc: the settled-configuration record in %s cannot be read; "
                               "ignored", self.path)
                return None
            return self._checked(record)

    def keep(self, config: Config, *, rejected: frozenset[str] | None = None) -> None:
        """Record ``config`` as the settled configuration (``rejected``: the fingerprints to keep
        refusing; by default the record's own)."""
        files = config.file_bytes
        with self._locked():
            before = self._read()
            if rejected is None:
                rejected = frozenset(before.get("rejected", ())) if before is not None else frozenset()
            digests = {role: hashlib.sha256(data).hexdigest() for role, data in files.items()}
            for digest, data in zip(digests.values(), files.values(), strict=True):
                _write(self.path / digest, data)
            _write(self.path / _RECORD, json.dumps({
                "version": _VERSION, "fingerprint": config.fingerprint, "files": digests,
                "rejected": sorted(rejected)}).encode())
            for leftover in self.path.iterdir():
                if leftover.name not in {_RECORD, _LOCK, *digests.values()}:
                    leftover.unlink(missing_ok=True)

    def reject(self, rejected: str) -> None:
        """Add a fingerprint rollout rejected to the record (nothing without one)."""
        with self._locked():
            record = self._read()
            if record is None or rejected in record.get("rejected", ()):
                return
            record["rejected"] = sorted({*record.get("rejected", ()), rejected})
            _write(self.path / _RECORD, json.dumps(record).encode())

    def keep_unless_kept(self, config: Config) -> None:
        """Record ``config`` as settled unless a record is there (the first process to stage keeps it)."""
        if self.load() is None:
            self.keep(config)

    def remove(self) -> None:
        """Forget the record: the files hold the settled configuration."""
        if not self.path.is_dir():
            return
        with self._locked():
            for leftover in self.path.iterdir():
                if leftover.name != _LOCK:
                    leftover.unlink(missing_ok=True)

    # -- internals --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        for path in self._folders:
            _private_folder(path)
        descriptor = os.open(self.path / _LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)

    def _read(self) -> dict[str, Any] | None:
        try:
            record = json.loads((self.path / _RECORD).read_bytes())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def _checked(self, record: object) -> Settled | None:
        """The record, when every file it names is there with its digest and they make its fingerprint."""
        try:
            if not isinstance(record, dict) or record.get("version") != _VERSION:
                raise ValueError
            digests = {str(role): str(digest) for role, digest in dict(record["files"]).items()}
            files = {role: (self.path / digest).read_bytes() for role, digest in digests.items()
                     if len(digest) == 64 and digest.isalnum()}
            whole = len(files) == len(digests) and all(
                hashlib.sha256(files[role]).hexdigest() == digest for role, digest in digests.items())
            if not whole or fingerprint(digests) != record["fingerprint"]:
                raise ValueError
            return Settled(str(record["fingerprint"]), files, frozenset(map(str, record["rejected"])))
        except (KeyError, TypeError, ValueError, OSError):
            logger.warning("configsvc: the settled-configuration record in %s does not hold together "
                           "(a file missing or changed); ignored", self.path)
            return None


def _private_folder(path: Path) -> None:
    """Make ``path`` (mode 0700) unless it exists; refuse one that is not this user's own and private."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    status = os.lstat(path)
    if not stat.S_ISDIR(status.st_mode) or status.st_uid != os.geteuid() or status.st_mode & 0o077:
        raise UnsafeFolder(f"{path} is not a folder only this user ({os.geteuid()}) can use (mode 0700, "
                           "not a symbolic link)")


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all, readable by this user only."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
