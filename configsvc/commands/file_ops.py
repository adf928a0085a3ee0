"""What the file commands do: encrypt, decrypt, set, rotate-key and edit a deployment file.

Every write is atomic and keeps the file's mode and owner. Plaintext never touches disk except in
``edit``, and there only in a private 0700 folder that is removed on every way out.
"""

from __future__ import annotations

import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from configsvc.commands.atomic import write_atomic
from configsvc.commands.locking import locked
from configsvc.commands.values import as_the_file_reads, check_edited, check_value
from configsvc.core.keypath import ValuePath
from configsvc.crypto import document as encryption
from configsvc.crypto import keys, opening, sops
from configsvc.errors import ConfigError, ConfigWarning, FileError, Problem
from configsvc.formats import FileProblem, ParsedFile, dump, parse, read_text
from configsvc.options import Options


def _read(path: Path) -> tuple[str, ParsedFile]:
    """The file's text and its parsed tree."""
    try:
        text = read_text(path)
        return text, parse(path, text)
    except FileProblem as problem:
        raise problem.as_error(path, "deployment file") from None


def _refuse_sops(path: Path, parsed: ParsedFile, command: str) -> None:
    """configsvc never writes a SOPS file: sops's MAC and layout are sops's to keep. The file is untouched."""
    if opening.file_format(parsed.data) == "sops":
        instead = sops.COMMANDS.get(command, "sops edit PATH").replace("PATH", shlex.quote(str(path)))
        raise ConfigError(Problem(
            f"this is a SOPS file; configsvc {command} does not change SOPS files (they would no longer "
            f"open in sops). Use sops instead: {instead}; the file is unchanged",
            kind="config", source=sops.SOURCE_NAME, path=str(path)))


def _open(path: Path, environ: Mapping[str, str], command: str) -> opening.OpenedFile:
    """An encrypted (configsvc) file opened for ``command``, which changes it."""
    text, parsed = _read(path)
    _refuse_sops(path, parsed, command)
    if opening.file_format(parsed.data) is None:
        raise ConfigError(Problem("the file is not encrypted; encrypt it with: configsvc encrypt PATH",
                                  kind="config", path=str(path)))
    return opening.open_file(path, text, parsed, environ)


def _write(path: Path, document: dict[str, Any], mode: int | None = None) -> None:
    fallback = _write_bytes(path, dump(path, document).encode("utf-8"), mode)
    if fallback is not None:  # a single-file bind mount: written in place
        warnings.warn(ConfigWarning(fallback), stacklevel=3)


def _write_bytes(path: Path, data: bytes, mode: int | None) -> str | None:
    """``write_atomic``, with a failed write (disk full, a read-only folder) as a FileError naming the
    file: the file is unchanged and no temporary file is left."""
    try:
        return write_atomic(path, data, mode)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise FileError(Problem(f"cannot be written ({reason.lower()}); the file is unchanged",
                                kind="file", path=str(path))) from None


def _reseal(path: Path, opened: encryption.Opened, tree: dict[str, Any], environ: Mapping[str, str],
            also_encrypt: set[ValuePath] | None = None) -> dict[str, Any]:
    """Encrypt ``tree`` again with the file's data key; its wrapped keys stay as they were."""
    primary = keys.load(environ, path)[0]
    still = {p for p in opened.encrypted if _exists(tree, p)} | (also_encrypt or set())
    document = encryption.seal(tree, primary, only=opened.only, data_key=opened.data_key, encrypted=still)
    original = _read(path)[1].data[encryption.METADATA_KEY]["keys"]
    document[encryption.METADATA_KEY]["keys"] = original
    return document


def _exists(tree: Any, path: ValuePath) -> bool:
    node = tree
    for part in path:
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                return False
        elif not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return not isinstance(node, dict | list)


def encrypt_file(path: Path, environ: Mapping[str, str], only: str | None, out: Path | None) -> None:
    """Encrypt a plaintext file's values (those whose dotted key matches ``only``, or all)."""
    if only is not None:
        try:
            re.compile(only)
        except re.error as error:
            raise ConfigError(Problem(f"--only is not a valid regular expression ({error.msg})",
                                      kind="config")) from None
    with locked(out or path):
        _, parsed = _read(path)
        _refuse_sops(path, parsed, "encrypt")
        if opening.file_format(parsed.data) is not None:
            raise ConfigError(Problem("the file is already encrypted; use configsvc edit, set or rotate-key",
                                      kind="config", path=str(path)))
        document = encryption.seal(parsed.data, keys.load(environ, out or path)[0], only=only)
        _write(out or path, document, path.stat().st_mode & 0o777)


def decrypt_file(path: Path, environ: Mapping[str, str]) -> str:
    """The file's plaintext, in its own format (a SOPS file as ``sops decrypt`` types its values)."""
    text, parsed = _read(path)
    if opening.file_format(parsed.data) is None:
        raise ConfigError(Problem("the file is not encrypted; encrypt it with: configsvc encrypt PATH",
                                  kind="config", path=str(path)))
    return dump(path, opening.open_file(path, text, parsed, environ).tree)


def write_plaintext(out: Path, text: str) -> None:
    """Write decrypted text to a file that only its owner may read (0600, whatever it was before)."""
    _write_bytes(out, text.encode("utf-8"), 0o600)
    out.chmod(0o600)


def set_value(path: Path, environ: Mapping[str, str], key: str, value: str,
              options: Options | None = None, *, as_text: bool = False) -> list[str]:
    """Set one dotted key; in an encrypted file the value is encrypted.

    The value is written as YAML reads it (``8081`` a number, ``true`` a boolean, with the text as given),
    unless the schema says the key is text or ``as_text``. It must fit the schema (configsvc's, and the
    app's own from ``options``): one that does not is refused with a :class:`ValidationError` and the file
    is left unchanged. Returns warnings (a key one typo away from a known key).
    """
    options = options or Options()
    written: Any = value if as_text else as_the_file_reads(path, key, value, options)
    with locked(path):  # read, change and write as one: a concurrent set must not be lost
        _, parsed = _read(path)
        _refuse_sops(path, parsed, "set")
        warnings = check_value(path, key, written, options)
        encrypted = opening.file_format(parsed.data) == "configsvc"
        if not encrypted and opening.unprotected_refusal(None, environ, path) is not None:
            where = keys.configured_key(environ, path)
            raise ConfigError(Problem(
                f"the file is not encrypted, but a master key is configured ({where}): "
                "the services refuse such a file, so set does not write one. Encrypt it first (configsvc "
                f"encrypt PATH), or accept plaintext on purpose with {keys.ALLOW_PLAINTEXT_VARIABLE}=1; the "
                "file is unchanged", kind="config", path=str(path)))
        opened = None
        if encrypted:
            opened = _open(path, environ, "set").sealed
            assert opened is not None  # a configsvc file
            tree = opened.tree
        else:
            tree = parsed.data
        at = _assign(tree, key, written, str(path))
        if opened is None:
            _write(path, tree)
        else:
            _write(path, _reseal(path, opened, tree, environ, also_encrypt={at}))
    return warnings


def _assign(tree: dict[str, Any], key: str, value: Any, where: str) -> tuple[str, ...]:
    parts = [part for part in key.split(".")]
    if not all(part.strip() for part in parts) or parts[0].lower() == encryption.METADATA_KEY:
        raise ConfigError(Problem("not a settable dotted key", kind="config", key=key, path=where))
    node = tree
    written: list[str] = []
    for index, part in enumerate(parts):
        # keys are case-insensitive: reuse the spelling already in the file
        existing = next((k for k in node if isinstance(k, str) and k.lower() == part.lower()), part)
        written.append(existing)
        if index == len(parts) - 1:
            node[existing] = value
            break
        child = node.setdefault(existing, {})
        if not isinstance(child, dict):
            raise ConfigError(Problem(f"{'.'.join(written)} holds a single value, not a mapping",
                                      kind="config", key=key, path=where))
        node = child
    return tuple(written)


def rotate_file(path: Path, environ: Mapping[str, str], new_data_key: bool) -> None:
    """Wrap the data key for the primary master key only; or re-encrypt everything under a new one."""
    with locked(path):
        opened = _open(path, environ, "rotate-key")  # all of it verified before anything changes
        master_keys = keys.load(environ, path)
        if new_data_key and opened.sealed is not None:
            document = encryption.seal(opened.tree, master_keys[0], only=opened.sealed.only,
                                       encrypted=opened.encrypted)
        else:
            document = encryption.rewrap(opened.parsed.data, master_keys, master_keys[0], str(path))
        _write(path, document)


@contextmanager
def _private_folder() -> Iterator[Path]:
    """A 0700 temporary folder, removed on every way out: return, error, Ctrl-C, SIGTERM or SIGHUP.

    SIGINT is taken here too: a process started with SIGINT ignored (a background job) gets no
    KeyboardInterrupt from Python, and an interrupted edit must still clean up and say so.
    """
    folder = Path(tempfile.mkdtemp(prefix="configsvc-edit-"))

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, interrupt) for sig in handled}
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def edit_file(path: Path, environ: Mapping[str, str], editor: str,
              reopen: Callable[[list[str]], bool], say: Callable[[str], None],
              options: Options | None = None) -> bool:
    """Edit an encrypted file through a private plaintext copy; True when the file was changed.

    The file stays locked for the whole session: a ``configsvc set`` meanwhile waits (and gives up after
    a while, leaving the file unchanged) instead of being overwritten by the edit."""
    with locked(path):
        return _edit_locked(path, environ, editor, reopen, say, options)


def _edit_locked(path: Path, environ: Mapping[str, str], editor: str,
                 reopen: Callable[[list[str]], bool], say: Callable[[str], None],
                 options: Options | None) -> bool:
    opened = _open(path, environ, "edit").sealed
    assert opened is not None  # a configsvc file
    original = dump(path, opened.tree)
    with _private_folder() as folder:
        plaintext = folder / f"plaintext{path.suffix}"
        _write_bytes(plaintext, original.encode("utf-8"), 0o600)
        while True:
            done = subprocess.run([*shlex.split(editor), str(plaintext)], check=False)
            if done.returncode != 0:
                raise ConfigError(Problem(f"the editor exited with status {done.returncode}; "
                                          "the file is unchanged", kind="config", path=str(path)))
            text = plaintext.read_text(encoding="utf-8")
            if text == original:
                say(f"no changes; {path} is unchanged")
                return False
            problems = check_edited(path, text, options or Options())
            if not problems:
                break
            if not reopen(problems):
                raise ConfigError(Problem("the edit was not saved (it did not pass the check); the file "
                                          "is unchanged", kind="config", path=str(path)))
        tree = parse(path, text).data
        _write(path, _reseal(path, opened, tree, environ))
    say(f"{path} re-encrypted")
    return True
