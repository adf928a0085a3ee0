"""One app's provided credentials in one process: a :class:`ManagedCredential` per setting.

Made when the Celery placeholder is bound (``FlaskCelery.init_app``): each provider is built and asked
once, so a provider that cannot answer stops the start with a :class:`~configsvc.errors.ConfigError`
naming the key and the provider; from then on the process's refresher keeps each one fresh.
"""

from __future__ import annotations

import atexit
import signal
import threading
import weakref
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from configsvc.credentials.base import CredentialProvider, FetchFailed
from configsvc.credentials.refresh import CredentialState, ManagedCredential, iso, summary
from configsvc.credentials.refresher import REFRESHER
from configsvc.credentials.spec import ProviderSpec, provider_specs
from configsvc.errors import ConfigError, Problem

if TYPE_CHECKING:
    from configsvc.core.config import Config


class ProvidedCredentials:
    """The credentials a process got from providers for one app's Celery URLs."""

    def __init__(self, specs: list[ProviderSpec], environ: Mapping[str, str]) -> None:
        self.specs = specs
        self.managed: dict[str, ManagedCredential] = {}
        problems: list[Problem] = []
        for spec in specs:
            provider: CredentialProvider | None = None
            try:
                provider = spec.build(environ)
                credential = provider.fetch()
                if credential.expired():
                    raise FetchFailed("the provider gave a credential that has already expired")
            except ConfigError as error:
                problems.extend(error.problems)
                continue
            except FetchFailed as error:
                problems.append(Problem(f"could not get a credential: {error}", kind="config",
                                        key=f"credentials.{spec.setting}", source=_described(provider, spec)))
                continue
            except Exception as error:  # a provider's bug: its message may hold a value, so only its type
                problems.append(Problem(f"could not get a credential: {type(error).__name__} in the provider",
                                        kind="config", key=f"credentials.{spec.setting}",
                                        source=_described(provider, spec)))
                continue
            self.managed[spec.setting] = ManagedCredential(provider, credential)
        self._closed = False
        if problems:
            self.close()
            raise ConfigError(problems)
        for managed in self.managed.values():
            REFRESHER.add(managed)
        _OPEN.add(self)
        _install_exit_hooks()

    @classmethod
    def from_tree(cls, tree: Mapping[str, Any], environ: Mapping[str, str]) -> ProvidedCredentials | None:
        """The credentials of a resolved tree's ``credentials`` section, or None when it has none."""
        specs = provider_specs(tree)
        return cls(specs, environ) if specs else None

    @classmethod
    def from_config(cls, config: Config, environ: Mapping[str, str]) -> ProvidedCredentials | None:
        """The credentials a resolved configuration's providers give, or None when it names none."""
        return cls.from_tree({"credentials": config.credentials}, environ)

    def __repr__(self) -> str:
        return f"<ProvidedCredentials {', '.join(self.managed)}>"

    def __iter__(self) -> Iterator[ManagedCredential]:
        return iter(self.managed.values())

    def get(self, setting: str) -> ManagedCredential | None:
        return self.managed.get(setting)

    def summary(self) -> tuple[CredentialState, datetime | None]:
        return summary(list(self.managed.values()))

    def status(self) -> dict[str, Any]:
        """What ``/healthz`` and the status reply add: ``credentials`` (ok | refresh failing | expired)
        and ``credentials_expire_at`` (the earliest expiry, ISO 8601 UTC, or None); with a provider that
        holds leases (Vault), ``credentials_lease`` and ``credentials_losing_user`` (refreshing fails and
        the user ends within a renewal interval). Never a lease id, a user or a password."""
        state, expires_at = self.summary()
        status: dict[str, Any] = {"credentials": state, "credentials_expire_at": iso(expires_at)}
        if any(managed.provider.per_process for managed in self):
            status["credentials_lease"] = True
            status["credentials_losing_user"] = any(managed.losing_user() for managed in self)
        return status

    def stop(self) -> None:
        """Stop refreshing (what the providers hold is released by the caller)."""
        for managed in self.managed.values():
            REFRESHER.remove(managed)
        _OPEN.discard(self)

    def close(self) -> None:
        """Stop refreshing; each provider releases what this process holds (a clean exit: a Vault
        lease is revoked; a forked child never revokes its parent's)."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        for managed in self.managed.values():
            if not managed.inherited:
                managed.provider.release(managed.current)
            managed.provider.close()


#: The credentials of this process not closed yet (closed at a clean exit).
_OPEN: weakref.WeakSet[ProvidedCredentials] = weakref.WeakSet()
_hooks_installed = False


def close_all(*_: Any, **__: Any) -> None:
    """Close every open :class:`ProvidedCredentials` of this process (its exit)."""
    for credentials in list(_OPEN):
        credentials.close()


def _install_exit_hooks() -> None:
    """Release what the providers hold when this process exits cleanly: at interpreter exit (web
    processes, gunicorn workers, beat, the worker's main process), when a Celery pool process exits
    (billiard ends its children with ``os._exit``: no atexit there) and on SIGTERM where nothing else
    handles it (``flask run``; gunicorn and Celery install their own handlers, which exit cleanly)."""
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(close_all)
    try:
        from celery import signals
    except ImportError:  # pragma: no cover - celery is a dependency
        pass
    else:
        signals.worker_process_shutdown.connect(close_all, weak=False)
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_on_sigterm)


def _exit_on_sigterm(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def _described(provider: CredentialProvider | None, spec: ProviderSpec) -> str:
    return provider.describe() if provider is not None else f"provider {spec.provider}"
