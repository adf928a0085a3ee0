"""``provider: vault`` — dynamic users from HashiCorp Vault or OpenBao, each process on a lease of its own.

Options: ``path`` (a dynamic-credentials endpoint that answers ``username`` and ``password`` with a lease:
``rabbitmq/creds/<role>``, ``database/creds/<role>``), ``address`` (else ``VAULT_ADDR``), ``ca_cert``
(else ``VAULT_CACERT``), ``namespace`` and ``auth``:

- ``{method: token}`` (the default): ``VAULT_TOKEN``, or ``token_file`` — a Vault Agent auto-auth sink —
  read again whenever it changes;
- ``{method: approle, role_id, secret_id | secret_id_file, mount}`` (``mount`` defaults to ``approle``):
  a login, and a login again when the token cannot be renewed any longer.

The auth token is renewed (``auth/token/renew-self``) once two thirds of its TTL have passed, while it is
renewable. The lease: renewed at two thirds of its duration (:attr:`VaultProvider.refresh_fraction`);
once Vault grants less than asked (the role's max TTL is near) or refuses the renewal, the refresher
fetches a new user instead and the process takes the live switch. A lease belongs to the process that
fetched it: a forked child (a prefork pool process, a gunicorn worker) fetches its own when it first
connects and never renews or revokes its parent's. :meth:`release` revokes a lease once no connection of
the process uses it, and at a clean exit.

Every request is bounded by ``timeout`` seconds; Vault's answer is never logged (a failure is one line
naming the address, the path and why).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from configsvc.core.redaction import Secret
from configsvc.credentials.base import Credential, CredentialProvider, FetchFailed
from configsvc.errors import ConfigError, Problem

logger = logging.getLogger("configsvc.credentials")

#: Renew the lease and the auth token once this much of their duration has passed.
RENEW_FRACTION = 2 / 3
AUTH_METHODS = ("token", "approle")


@dataclass(frozen=True)
class VaultLease:
    """A lease: its id (never shown), the duration it was granted for, and the process that holds it."""

    id: str
    duration: float
    renewable: bool
    pid: int

    def __repr__(self) -> str:
        return f"<VaultLease of process {self.pid}, {self.duration:g} s>"


class VaultProvider(CredentialProvider):
    name = "vault"
    required = ("path",)
    optional = ("address", "ca_cert", "namespace", "auth")
    library = "hvac"
    extra = "vault"
    refresh_fraction = RENEW_FRACTION
    per_process = True

    def __init__(self, setting: str, options: Mapping[str, Any], environ: Mapping[str, str]) -> None:
        super().__init__(setting, options, environ)
        self.path = str(self.options["path"]).strip("/")
        self.address = str(self.options.get("address") or environ.get("VAULT_ADDR") or "")
        self.ca_cert = self.options.get("ca_cert") or environ.get("VAULT_CACERT")
        self.namespace = self.options.get("namespace") or environ.get("VAULT_NAMESPACE")
        auth = self.options.get("auth") or {"method": "token"}
        problems = []
        if not self.address:
            problems.append("needs address (or VAULT_ADDR in the environment)")
        if not isinstance(auth, Mapping) or auth.get("method", "token") not in AUTH_METHODS:
            problems.append("auth must be {method: token} or {method: approle, role_id, secret_id}")
            auth = {"method": "token"}
        self.auth = dict(auth)
        self.method = str(self.auth.get("method", "token"))
        if self.method == "token" and not (self.auth.get("token_file") or environ.get("VAULT_TOKEN")):
            problems.append("auth method token needs auth.token_file or VAULT_TOKEN in the environment")
        if self.method == "approle":
            if not self.auth.get("role_id"):
                problems.append("auth method approle needs auth.role_id")
            if not (self.auth.get("secret_id") or self.auth.get("secret_id_file")):
                problems.append("auth method approle needs auth.secret_id or auth.secret_id_file")
        if problems:
            raise ConfigError([Problem(problem, kind="config", key=self.key, source=self.describe())
                               for problem in problems])
        self._lock = threading.RLock()
        self._client: Any = None
        self._token_source: tuple[str, float] | None = None  # (token file, its mtime) read last
        self._token_renew_at: float | None = None  # monotonic; None: the token does not expire
        self._token_renewable = False

    def describe(self) -> str:
        return f"provider vault ({self.path})"

    # -- the credential --------------------------------------------------------------------------

    def fetch(self) -> Credential:
        with self._lock:
            response = self._call(lambda client: client.read(self.path), f"read {self.path}")
        if not response:
            raise FetchFailed(f"Vault at {self.address} has nothing at {self.path}")
        data = response.get("data") or {}
        username, password = data.get("username"), data.get("password")
        if not isinstance(username, str) or not isinstance(password, str) or not password:
            raise FetchFailed(f"{self.path} at Vault {self.address} answered no username and password")
        duration = float(response.get("lease_duration") or 0)
        lease = None
        if response.get("lease_id"):
            lease = VaultLease(str(response["lease_id"]), duration, bool(response.get("renewable")),
                               os.getpid())
        expires_at = datetime.now(UTC) + timedelta(seconds=duration) if duration > 0 else None
        return Credential(Secret(password), username, expires_at, lease=lease)

    def renew(self, credential: Credential) -> Credential | None:
        """The same user on a renewed lease; None when this process does not hold the lease, it is not
        renewable, Vault refuses the renewal, or grants less than asked (the max TTL is near): the
        refresher then fetches a new user. Vault unreachable: FetchFailed (the current one is kept)."""
        lease = credential.lease
        if not isinstance(lease, VaultLease) or lease.pid != os.getpid() or not lease.renewable:
            return None
        import hvac.exceptions

        try:
            with self._lock:
                response = self._call(
                    lambda client: client.sys.renew_lease(lease.id, increment=int(lease.duration)),
                    "renew the lease", refused=(hvac.exceptions.InvalidRequest, hvac.exceptions.Forbidden))
        except _Refused:
            return None
        granted = float((response or {}).get("lease_duration") or 0)
        if granted < lease.duration:
            logger.info("configsvc: credentials for %s: the lease from %s nears its max TTL; fetching a "
                        "new user", self.setting, self.path)
            return None
        return Credential(credential.password, credential.username,
                          datetime.now(UTC) + timedelta(seconds=granted), lease=lease)

    def release(self, credential: Credential) -> None:
        """Revoke ``credential``'s lease when this process holds it (never a parent's); one log line when
        Vault cannot be asked (the lease then ends at its expiry)."""
        lease = credential.lease
        if not isinstance(lease, VaultLease) or lease.pid != os.getpid():
            return
        try:
            with self._lock:
                self._call(lambda client: client.sys.revoke_lease(lease.id), "revoke the lease")
        except FetchFailed as error:
            logger.warning("configsvc: credentials for %s: %s; it ends at its expiry", self.setting, error)

    # -- the client and its token ----------------------------------------------------------------

    def _call(self, request: Any, what: str, refused: tuple[type[BaseException], ...] = ()) -> Any:
        """``request(client)`` with an authenticated client: FetchFailed naming why (never a value);
        :class:`_Refused` for the ``refused`` errors. A token Vault no longer accepts is replaced once
        (a login again, or the token file read again)."""
        import hvac.exceptions
        import requests

        for attempt in (1, 2):
            try:
                return request(self._authenticated())
            except refused:
                raise _Refused() from None
            except hvac.exceptions.Forbidden:
                if attempt == 1 and self._can_log_in_again():
                    self._client = None
                    continue
                raise FetchFailed(f"Vault at {self.address} refused to {what} (permission denied)") \
                    from None
            except hvac.exceptions.VaultError as error:
                raise FetchFailed(f"Vault at {self.address} refused to {what} "
                                  f"({type(error).__name__}: {_first_error(error)})") from None
            except requests.exceptions.Timeout:
                raise FetchFailed(f"Vault at {self.address} did not answer within {self.timeout:g} s "
                                  f"({what})") from None
            except requests.exceptions.RequestException as error:
                raise FetchFailed(f"Vault at {self.address} cannot be reached "
                                  f"({type(error).__name__}; {what})") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _can_log_in_again(self) -> bool:
        return self.method == "approle" or self._token_file_changed()

    def forked(self) -> None:
        """A forked child: its own lock (the parent's refresher may have held it, waiting on Vault) and
        its own HTTP session and token, never the parent's."""
        self._lock = threading.RLock()
        self._client, self._token_source, self._token_renew_at = None, None, None

    def _authenticated(self) -> Any:
        if self._client is None or self._token_file_changed():
            self._client = self._log_in()
        elif self._token_renew_at is not None and time.monotonic() >= self._token_renew_at:
            self._renew_token()
        return self._client

    def _new_client(self, token: str) -> Any:
        """An hvac client with everything given: hvac falls back to ``VAULT_TOKEN``, ``VAULT_CACERT`` and
        ``VAULT_CLIENT_CERT`` of the process's own environment for what it is not given, and this
        provider reads the environment it was handed instead."""
        import hvac

        verify: Any = self.ca_cert or True
        return hvac.Client(url=self.address, token=token, verify=verify, cert=False, timeout=self.timeout,
                           namespace=self.namespace)

    def _log_in(self) -> Any:
        if self.method == "approle":
            client = self._new_client("")
            secret_id = self.auth.get("secret_id")
            if not secret_id:
                secret_id = _read_file(Path(str(self.auth["secret_id_file"])), "auth.secret_id_file")
            answer = client.auth.approle.login(role_id=str(self.auth["role_id"]), secret_id=str(secret_id),
                                               mount_point=str(self.auth.get("mount") or "approle"))
            self._schedule_token(answer.get("auth") or {})
            return client
        token_file = self.auth.get("token_file")
        if token_file:
            path = Path(str(token_file))
            token = _read_file(path, "auth.token_file")
            self._token_source = (str(path), _mtime(path))
        else:
            token = self.environ["VAULT_TOKEN"]
        client = self._new_client(token)
        self._schedule_token((client.auth.token.lookup_self() or {}).get("data") or {})
        return client

    def _schedule_token(self, auth: Mapping[str, Any]) -> None:
        ttl = float(auth.get("lease_duration") or auth.get("ttl") or 0)
        self._token_renewable = bool(auth.get("renewable"))
        self._token_renew_at = time.monotonic() + RENEW_FRACTION * ttl if ttl > 0 else None

    def _renew_token(self) -> None:
        """Renew the auth token while it is renewable; else log in again (AppRole), or keep it until a
        new token file appears (a sink)."""
        import hvac.exceptions

        if self._token_renewable:
            try:
                answer = self._client.auth.token.renew_self()
                self._schedule_token(answer.get("auth") or {})
                return
            except hvac.exceptions.VaultError:
                pass
        if self.method == "approle":
            self._client = self._log_in()
        else:
            self._token_renew_at = None  # Vault Agent renews the sink's token and rewrites the file

    def _token_file_changed(self) -> bool:
        if self._token_source is None:
            return False
        path, mtime = self._token_source
        return _mtime(Path(path)) != mtime


class _Refused(Exception):
    """Vault refused a renewal (the lease is gone or cannot be extended)."""


def _read_file(path: Path, option: str) -> str:
    try:
        text = path.read_text().strip()
    except OSError as error:
        raise FetchFailed(f"{option} {path} cannot be read ({error.strerror or type(error).__name__})") \
            from None
    if not text:
        raise FetchFailed(f"{option} {path} is empty")
    return text


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return -1.0


def _first_error(error: Exception) -> str:
    errors = getattr(error, "errors", None) or [str(error).split(", on ")[0]]
    return str(errors[0]).splitlines()[0][:200]
