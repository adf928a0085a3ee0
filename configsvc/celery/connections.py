"""The broker and result backend connections of one process, and which settings each of them uses.

Every move to new broker or backend settings (a reload that changes them, or a provider's new user) is
a new :class:`Settings` version, numbered from 0 at binding. :meth:`Connections.move` retires what the
old settings opened — the publisher pool (idle connections close now, the ones in use when they come
back) and every result backend handed out — and tells whoever follows broker changes (the worker's
consumer, beat). Until they are closed, retired pools and backends are counted under the version they
were made for; the worker's consuming connection says which version it connected under. So a process can
say which configuration its connections really use (:meth:`Connections.fingerprint_in_use`, what the
status command reports to ``fleet``), and a credential of an old version is released only once no
connection of that version is left (:meth:`Connections.wait_until_unused`).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from configsvc.celery import retiring
from configsvc.metrics.recording import ConnectionKind, record

if TYPE_CHECKING:
    from celery import Celery


@dataclasses.dataclass(frozen=True)
class Settings:
    """One version of the broker and backend settings this process connects with."""

    #: 0 at binding, one more at each move.
    number: int
    #: The fingerprint of the configuration these settings came from (None without ``ConfigService``).
    fingerprint: str | None
    #: The number of the version whose broker settings these are (the last move that changed the broker).
    broker: int


class Connections:
    """The connections of one bound Celery app in this process (see the module's docstring)."""

    def __init__(self, celery: Celery, fingerprint: str | None) -> None:
        self.celery = celery
        self.current = Settings(0, fingerprint, 0)
        #: Every result backend handed out since the last backend change (one per thread for some).
        self.issued_backends: weakref.WeakSet[Any] = weakref.WeakSet()
        self._versions = {0: self.current}
        self._moved_at: dict[int, float] = {}  # monotonic time of each move, by the version it made
        self._open_retired: collections.Counter[int] = collections.Counter()
        self._consumer: Settings | None = None
        self._followers: list[Callable[[], None]] = []
        self._changed = threading.Condition()

    def __repr__(self) -> str:
        return f"<Connections version {self.current.number}>"

    def move(self, broker: bool, backend: bool, fingerprint: str | None = None) -> Settings:
        """Move the broker's and/or the backend's connections to the current settings and credentials:
        retire the old ones, make a new version, tell every follower of a broker change (a worker's
        consumer switches once its deliveries are settled). ``fingerprint``: the configuration's, when
        a reload made the move (a provider's new user keeps the one in use)."""
        with self._changed:
            number = self.current.number + 1
            if broker:
                retiring.retire_pool(self.celery, self._retired(self.current, "publisher"))
            if backend:
                issued, self.issued_backends = list(self.issued_backends), weakref.WeakSet()
                retiring.retire_backends(self.celery, issued,
                                         functools.partial(self._retired, self.current, "backend"))
            self.current = Settings(number, fingerprint or self.current.fingerprint,
                                    number if broker else self.current.broker)
            self._versions[number] = self.current
            self._moved_at[number] = time.monotonic()
        if broker:
            for follower in list(self._followers):
                follower()
        return self.current

    def reconfigured(self, fingerprint: str | None) -> None:
        """A new configuration that leaves the broker and backend settings as they are: the connections of
        the current version run it."""
        with self._changed:
            self.current = dataclasses.replace(self.current, fingerprint=fingerprint)
            self._versions[self.current.number] = self.current

    def follow_broker(self, follower: Callable[[], None]) -> Callable[[], None]:
        """Call ``follower()`` (in the thread that moved) after each move of the broker's connections;
        returns the function that stops it."""
        self._followers.append(follower)

        def stop() -> None:
            with contextlib.suppress(ValueError):
                self._followers.remove(follower)

        return stop

    def consumer_connected(self, settings: Settings) -> None:
        """The worker's consuming connection was made under ``settings`` (read before connecting: a move
        that lands while it connects is newer)."""
        with self._changed:
            previous, self._consumer = self._consumer, settings
            moved_at = self._moved_at.get(settings.broker)
            if previous is not None and previous.broker != settings.broker and moved_at is not None:
                record.switched("consumer", time.monotonic() - moved_at)
            self._changed.notify_all()

    def consumer_behind(self) -> bool:
        """True when the broker moved since the worker's consuming connection was made."""
        return self._consumer is not None and self._consumer.broker != self.current.broker

    def oldest_in_use(self) -> Settings:
        """The oldest settings a connection of this process may still use: the consumer's (while the
        broker did not move since it connected), or a retired pool's or backend's with connections open."""
        numbers = [self.current.number]
        if self.consumer_behind() and self._consumer is not None:
            numbers.append(self._consumer.number)
        numbers += [number for number, count in self._open_retired.items() if count > 0]
        return self._versions[min(numbers)]

    def fingerprint_in_use(self) -> str | None:
        """The fingerprint of the configuration this process's connections use."""
        return self.oldest_in_use().fingerprint

    def in_use(self, settings: Settings) -> bool:
        """True while a connection made under ``settings`` (or older ones) may still be open."""
        return self.oldest_in_use().number <= settings.number

    def wait_until_unused(self, settings: Settings, timeout: float | None) -> bool:
        """Wait until no connection made under ``settings`` (or older ones) is open; False on timeout
        (None: no timeout)."""
        with self._changed:
            return self._changed.wait_for(lambda: not self.in_use(settings), timeout)

    def _retired(self, settings: Settings, kind: ConnectionKind) -> retiring.Counted:
        """Count a retired pool or backend under ``settings`` until it is closed (the time that takes is
        the ``kind``'s switch)."""
        return retiring.Counted(self._open_retired, settings.number,
                                functools.partial(self._closed, kind, time.monotonic()))

    def _closed(self, kind: ConnectionKind, since: float, switched: bool) -> None:
        if switched:
            record.switched(kind, time.monotonic() - since)
        with self._changed:
            self._changed.notify_all()
