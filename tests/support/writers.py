"""The ways deployment files change in production, replayed exactly as each tool does it."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from tests.support.reference import run_cli

DATA = "..data"


class KubeletVolume:
    """A Kubernetes Secret/ConfigMap volume as kubelet's AtomicWriter keeps it: each update in a new
    ``..<timestamp>`` folder, ``..data`` a symlink to the current one (switched by renaming a
    ``..data_tmp`` symlink over it), every visible file a symlink ``name -> ..data/name``; the old folder is
    removed after the switch, so all files of the volume change together."""

    def __init__(self, root: Path, files: Mapping[str, bytes], mode: int = 0o400) -> None:
        self.root = root
        self.mode = mode
        root.mkdir(parents=True, exist_ok=True)
        self.update(files)
        for name in files:
            (root / name).symlink_to(Path(DATA) / name)

    def path(self, name: str) -> Path:
        return self.root / name

    def update(self, files: Mapping[str, bytes]) -> None:
        stamp = datetime.now(UTC).strftime("..%Y_%m_%d_%H_%M_%S.") + f"{time.time_ns() % 10**9:09d}"
        folder = self.root / stamp
        folder.mkdir()
        for name, content in files.items():
            (folder / name).write_bytes(content)
            (folder / name).chmod(self.mode)
        old = os.readlink(self.root / DATA) if (self.root / DATA).is_symlink() else None
        (self.root / "..data_tmp").symlink_to(stamp)
        os.rename(self.root / "..data_tmp", self.root / DATA)  # the one atomic switch
        if old is not None:
            shutil.rmtree(self.root / old)


def consul_template_write(path: Path, content: bytes) -> None:
    """Vault Agent / consul-template: a temporary file in the same folder, renamed over the file."""
    temporary = path.with_name(f".{path.name}.ctmpl.tmp")
    temporary.write_bytes(content)
    temporary.chmod(path.stat().st_mode & 0o777 if path.exists() else 0o600)
    os.replace(temporary, path)


def edit_in_place(path: Path, content: bytes) -> None:
    """An editor without atomic saves: the same inode, truncated and rewritten."""
    with open(path, "r+b") as handle:
        handle.truncate(0)
        handle.write(content)


def configsvc_set(path: Path, key: str, value: str, env: Mapping[str, str] | None = None) -> None:
    done = run_cli("set", str(path), key, "-", stdin=value, env=dict(env or {}))
    assert done.returncode == 0, done.stderr
