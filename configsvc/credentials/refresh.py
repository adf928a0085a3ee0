"""When each credential is fetched again, and what a process does while its provider fails.

A credential is refreshed once 70% of its lifetime has passed — at the latest 3 minutes before it
expires, for lifetimes long enough to leave 3 minutes and half the lifetime — minus up to 10% jitter,
so a fleet started together does not ask its provider at the same instant. A failed fetch is retried
after 1, 2, 4 … s (at most 30 s, or 60 s once the credential has expired), each failure one log line
naming the provider and why, never a value. The current credential is kept until it expires; the
state is ``ok``, ``refresh failing`` or ``expired``.

One :class:`Refresher` thread per process serves every :class:`ManagedCredential` of it. After a fork
(a prefork pool child, a gunicorn worker) the child makes every lock and client anew (:mod:`.forks`)
and starts its own thread: it keeps the parent's credential, and refreshes it itself when due. A
provider whose credentials belong to one process (a Vault lease: ``per_process``) is different: the
child fetches its own credential when it first opens a connection, and until then holds none (a pool
process that never connects costs Vault nothing).
The thread is :class:`~configsvc.credentials.refresher.Refresher`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from configsvc.credentials import forks
from configsvc.credentials.base import Credential, CredentialExpired, CredentialProvider, FetchFailed
from configsvc.credentials.refresher import REFRESHER
from configsvc.metrics.recording import record

logger = logging.getLogger("configsvc.credentials")

CredentialState = Literal["ok", "refresh failing", "expired"]
REFRESH_FRACTION = 0.7
AT_LATEST_BEFORE_EXPIRY = 180.0
JITTER = 0.1
FIRST_RETRY = 1.0
MAX_RETRY = 30.0
MAX_RETRY_EXPIRED = 60.0

#: Called with the old and the new credential, in the refresher's thread, after each new one.
Listener = Callable[[Credential, Credential], None]
#: Called with the credential that expired, in the refresher's thread, when no new one came in time.
ExpiryListener = Callable[[Credential], None]
#: Why the server refuses a new credential (one line, no value), or None.
Check = Callable[[Credential], "str | None"]


def refresh_delay(lifetime: float, rng: random.Random | None = None,
                  fraction: float = REFRESH_FRACTION) -> float:
    """Seconds from receiving a credential of ``lifetime`` seconds to fetching the next one (or renewing
    it: ``fraction`` of a Vault lease is 2/3)."""
    delay = fraction * lifetime
    latest = lifetime - AT_LATEST_BEFORE_EXPIRY
    if latest >= lifetime / 2:
        delay = min(delay, latest)
    jitter = float((rng or random).random())
    return max(delay * (1 - JITTER * jitter), 0.0)


def retry_delay(failures: int, expired: bool) -> float:
    """Seconds before the next try after ``failures`` failed fetches in a row."""
    cap = MAX_RETRY_EXPIRED if expired else MAX_RETRY
    return min(FIRST_RETRY * 2.0 ** max(failures - 1, 0), cap)


class ManagedCredential:
    """One provider's current credential in this process, its state, and when it is fetched next."""

    def __init__(self, provider: CredentialProvider, credential: Credential) -> None:
        self.provider = provider
        self.current = credential
        self.failures = 0
        #: Why the last fetch failed (one line, no value), or None.
        self.problem: str | None = None
        self.next_at = self._due(credential)
        self._listeners: list[Listener] = []
        self._expiry_listeners: list[ExpiryListener] = []
        self._checks: list[Check] = []
        #: The credential whose expiry was announced, and the one a server refused last (or None).
        self._announced_expiry: Credential | None = None
        self.refused: Credential | None = None
        self._refusals = 0
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()
        #: True in a forked child until it fetched a credential of its own (``per_process`` providers).
        self.inherited = False
        forks.follow(self)
        self._record_expiry()

    def __repr__(self) -> str:
        return f"<ManagedCredential {self.provider.key} {self.state}>"

    @property
    def setting(self) -> str:
        return self.provider.setting

    @property
    def expires_at(self) -> datetime | None:
        return self.current.expires_at

    @property
    def state(self) -> CredentialState:
        if self.current.expired():
            return "expired"
        return "refresh failing" if self.failures else "ok"

    def forked(self) -> None:
        """In a forked child: a ``per_process`` provider's credential is the parent's; fetch one of this
        process's own at the first connect. The locks and what the provider holds are this process's
        own: a parent's thread may have held them at the fork."""
        self._lock, self._refreshing = threading.Lock(), threading.Lock()
        self.provider.forked()
        self.inherited = self.provider.per_process

    def losing_user(self, now: datetime | None = None) -> bool:
        """True when the current credential cannot be refreshed (the provider fails) and ends within one
        renewal interval: unless the provider answers soon, the process loses its user."""
        current = self.current
        lifetime = current.lifetime
        if not self.failures or current.expires_at is None or lifetime is None:
            return False
        interval = self.provider.refresh_fraction * lifetime.total_seconds()
        return (current.expires_at - (now or datetime.now(UTC))).total_seconds() < interval

    def usable(self) -> Credential:
        """The current credential, for a connection being opened now; :class:`CredentialExpired` when it
        has expired (no connection is opened with it). A forked child fetches its own first when the
        provider's credentials belong to one process; while it cannot, it uses its parent's."""
        if self.inherited:
            with self._refreshing:
                if self.inherited and self._refresh(announce=False):
                    self.inherited = False
                    REFRESHER.wake()
        current = self.current
        if current.expired():
            raise CredentialExpired(
                f"configsvc: the credential for {self.setting} from {self.provider.describe()} expired at "
                f"{iso(current.expires_at)} and the provider has not given a new one ({self.problem})")
        return current

    def listen(self, listener: Listener) -> None:
        """Call ``listener(old, new)`` after every new credential."""
        with self._lock:
            self._listeners.append(listener)

    def on_expiry(self, listener: ExpiryListener) -> None:
        """Call ``listener(expired)`` once when the current credential expires with no new one."""
        with self._lock:
            self._expiry_listeners.append(listener)

    def check_expiry(self) -> None:
        """Announce the current credential's expiry, once, when it has expired (the refresher's thread)."""
        current = self.current
        if not current.expired() or self._announced_expiry is current:
            return
        self._announced_expiry = current
        logger.warning("configsvc: credentials for %s from %s expired at %s with no new one (%s); the "
                       "connections that use it are closed until a fetch succeeds", self.setting,
                       self.provider.describe(), iso(current.expires_at), self.problem)
        with self._lock:
            listeners = list(self._expiry_listeners)
        for listener in listeners:
            try:
                listener(current)
            except Exception:
                logger.exception("configsvc: closing the connections of an expired credential failed")

    def seconds_to_expiry(self) -> float | None:
        """Seconds until the current credential expires (None: never, or it has and was announced)."""
        if self._announced_expiry is self.current:
            return None
        return self.current.seconds_left()

    def refuse(self, seen: Credential | None = None) -> None:
        """A server refused the current credential (``seen``, when the caller knows which it used): a user
        deleted or a lease revoked at the source. Fetch a new one now — once per refused credential, and
        after the first time with the retry backoff — instead of at the next scheduled refresh."""
        current = self.current
        if seen is not None and seen is not current:
            return  # refused an older one: the current one is already newer
        with self._lock:
            if self.refused is current:
                return
            self.refused = current
            self._refusals += 1
            delay = 0.0 if self._refusals == 1 else retry_delay(self._refusals - 1, current.expired())
            self.failures = max(self.failures, 1)
            self.problem = "the server refused the current credential"
            self.next_at = min(self.next_at, time.monotonic() + delay)
        logger.warning("configsvc: credentials for %s: the server refused the credential from %s; fetching "
                       "a new one%s", self.setting, self.provider.describe(),
                       " now" if not delay else f" in {delay:.0f} s")
        REFRESHER.wake()

    def check_with(self, check: Check) -> None:
        """Before a new credential is taken: ``check(new)`` returns why the server refuses it (the
        credential is then not taken: a failed refresh), or None."""
        with self._lock:
            self._checks.append(check)

    def refresh(self) -> bool:
        """Fetch now (a renewal first, for providers with leases); True when a new credential was
        taken. On failure: log one line, keep the current credential, schedule the retry."""
        with self._refreshing:
            return self._refresh()

    def _refresh(self, announce: bool = True) -> bool:
        old = self.current
        try:
            # A refused credential is not renewed (Vault may still renew a lease whose user is gone).
            new = (None if self.refused is old else self.provider.renew(old)) or self.provider.fetch()
            if new.expired():
                raise FetchFailed("the provider gave a credential that has already expired")
            if not new.same_secret(old):
                with self._lock:
                    checks = list(self._checks)
                for check in checks:
                    refused = check(new)
                    if refused is not None:
                        raise FetchFailed(refused)
        except FetchFailed as error:
            self._failed(str(error))
            return False
        except Exception as error:  # a provider's bug must not stop the refreshing thread
            self._failed(f"{type(error).__name__} in the provider")
            return False
        if self.failures:
            logger.warning("configsvc: credentials for %s: %s works again", self.setting,
                           self.provider.describe())
        self.current, self.failures, self.problem = new, 0, None
        self._record_expiry()
        if self.refused is not old:
            self._refusals = 0
        self.next_at = self._due(new)
        # A renewed lease (the same secret): the connections keep what they have — unless they were closed
        # for its expiry or refused with it: then they are told, to connect again now.
        if not announce or (new.same_secret(old) and not old.expired() and self.refused is not old):
            return True
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(old, new)
            except Exception:
                logger.exception("configsvc: applying new credentials for %s failed", self.setting)
        return True

    def _record_expiry(self) -> None:
        expires_at = self.current.expires_at
        record.credential_expiry(self.setting, self.provider.name,
                                 expires_at.timestamp() if expires_at is not None else None)

    def _failed(self, reason: str) -> None:
        self.failures += 1
        record.refresh_failed(self.setting, self.provider.name)
        self.problem = reason
        expired = self.current.expired()
        delay = retry_delay(self.failures, expired)
        self.next_at = time.monotonic() + delay
        until = self.current.expires_at
        keeping = ("the current credential has expired" if expired else
                   f"keeping the current one until {until:%Y-%m-%dT%H:%M:%SZ}" if until else
                   "keeping the current one")
        logger.warning("configsvc: credentials for %s: %s failed (%s); %s; next try in %.0f s",
                       self.setting, self.provider.describe(), reason, keeping, delay)

    def _due(self, credential: Credential) -> float:
        lifetime = credential.lifetime
        if lifetime is None:
            return time.monotonic() + self.provider.recheck_without_expiry
        age = (datetime.now(UTC) - credential.received_at).total_seconds()
        delay = refresh_delay(lifetime.total_seconds(), fraction=self.provider.refresh_fraction)
        return time.monotonic() + max(delay - age, 0.0)


def summary(managed: list[ManagedCredential]) -> tuple[CredentialState, datetime | None]:
    """The worst state of ``managed`` and the earliest expiry (what ``/healthz`` and fleet show)."""
    order: list[CredentialState] = ["ok", "refresh failing", "expired"]
    state: CredentialState = max((m.state for m in managed), key=order.index, default="ok")
    expiries = [m.expires_at for m in managed if m.expires_at is not None]
    return state, min(expiries, default=None)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
