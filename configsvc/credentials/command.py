"""``provider: command`` — run a program (never a shell) and read one JSON object from its stdout.

``{"password": "...", "username": "...", "expires_at": "2026-12-02T10:00:00Z"}``; ``username`` is optional
(the URL's user is kept), ``expires_in`` (seconds) may replace ``expires_at``, and with neither the
credential does not expire. A non-zero exit, no JSON object, or no answer within ``timeout`` seconds is
a failed fetch. How the program is run (its own process group, its output and time bounded, its stderr
never read) is :mod:`configsvc.credentials.program`.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import Any

from configsvc.core.redaction import Secret
from configsvc.credentials.base import Credential, CredentialProvider, FetchFailed, expiry_from
from configsvc.credentials.program import ProgramFailed, run_program
from configsvc.formats.limits import json_too_deep


class CommandProvider(CredentialProvider):
    name = "command"
    required = ("command",)
    optional = ("cwd",)

    def __init__(self, setting: str, options: Mapping[str, Any], environ: Mapping[str, str]) -> None:
        super().__init__(setting, options, environ)
        command = self.options["command"]
        self.argv = shlex.split(command) if isinstance(command, str) else [str(part) for part in command]
        self.cwd = self.options.get("cwd")

    def describe(self) -> str:
        return f"provider command ({self.argv[0]})"

    def fetch(self) -> Credential:
        program = self.argv[0]
        try:
            done = run_program(self.argv, timeout=self.timeout, cwd=self.cwd, environ=self.environ)
        except ProgramFailed as error:
            raise FetchFailed(f"{program} {error}") from None
        if done.returncode != 0:
            raise FetchFailed(f"{program} exited with status {done.returncode}")
        return credential_from_json(done.output, program)


#: How deep the JSON a program prints may nest: a credential is one flat object.
MAX_NESTING = 4


def credential_from_json(output: bytes | str, what: str) -> Credential:
    """The credential in one JSON object; FetchFailed naming ``what`` (never a value) otherwise. The
    output is untrusted: any size, nesting, encoding or number is a credential or a failed fetch."""
    try:
        text = output.decode("utf-8") if isinstance(output, bytes) else output
    except UnicodeDecodeError:
        raise FetchFailed(f"{what} printed text that is not UTF-8") from None
    if json_too_deep(text, MAX_NESTING) is not None:  # the decoder recurses once per level
        raise FetchFailed(f"{what} printed JSON nested more than {MAX_NESTING} levels deep")
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except ValueError:  # not JSON, NaN or Infinity, an integer with too many digits
        raise FetchFailed(f"{what} printed no JSON object") from None
    except RecursionError:  # pragma: no cover - bounded above
        raise FetchFailed(f"{what} printed JSON nested too deep") from None
    if not isinstance(data, dict):
        raise FetchFailed(f"{what} printed JSON that is not an object")
    password, username = data.get("password"), data.get("username")
    if not isinstance(password, str) or not password:
        raise FetchFailed(f"{what} printed no password")
    if username is not None and (not isinstance(username, str) or not username):
        raise FetchFailed(f"{what} printed a username that is not a string")
    expires_at = expiry_from(data.get("expires_at"), data.get("expires_in"), what=what)
    return Credential(Secret(password), username, expires_at)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
