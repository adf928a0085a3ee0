"""``provider: command`` — run a program (never a shell) and read one JSON object from its stdout.

``{"password": "...", "username": "...", "expires_at": "2026-12-02T10:00:00Z"}``; ``username`` is optional
(the URL's user is kept), ``expires_in`` (seconds) may replace ``expires_at``, and with neither the
credential does not expire. A non-zero exit, no JSON object, or no answer within ``timeout`` seconds is
a failed fetch. The program's stderr is never read, so it is never logged.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Mapping
from typing import Any

from configsvc.core.redaction import Secret
from configsvc.credentials.base import Credential, CredentialProvider, FetchFailed, expiry_from

#: The most a program may print: a credential is a few kilobytes at most.
MAX_OUTPUT = 1 << 20


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
            done = subprocess.run(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, timeout=self.timeout, check=False,
                                  cwd=self.cwd, env=dict(self.environ))
        except subprocess.TimeoutExpired:
            raise FetchFailed(f"{program} did not answer within {self.timeout:g} s") from None
        except OSError as error:
            raise FetchFailed(f"{program} could not be run ({error.strerror or type(error).__name__})") \
                from None
        if done.returncode != 0:
            raise FetchFailed(f"{program} exited with status {done.returncode}")
        return credential_from_json(done.stdout[:MAX_OUTPUT], program)


def credential_from_json(output: bytes | str, what: str) -> Credential:
    """The credential in one JSON object; FetchFailed naming ``what`` (never a value) otherwise."""
    try:
        data = json.loads(output)
    except (ValueError, UnicodeDecodeError):
        raise FetchFailed(f"{what} printed no JSON object") from None
    if not isinstance(data, dict):
        raise FetchFailed(f"{what} printed JSON that is not an object")
    password, username = data.get("password"), data.get("username")
    if not isinstance(password, str) or not password:
        raise FetchFailed(f"{what} printed no password")
    if username is not None and (not isinstance(username, str) or not username):
        raise FetchFailed(f"{what} printed a username that is not a string")
    expires_at = expiry_from(data.get("expires_at"), data.get("expires_in"), what=what)
    return Credential(Secret(password), username, expires_at)
