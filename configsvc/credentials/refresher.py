"""The one thread per process that refreshes its credentials when each is due (see
:mod:`configsvc.credentials.refresh` for when that is and what a failed fetch does)."""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import TYPE_CHECKING

from configsvc.credentials import forks

if TYPE_CHECKING:
    from configsvc.credentials.refresh import ManagedCredential


class Refresher:
    """The thread that refreshes a process's credentials when each is due."""

    def __init__(self) -> None:
        self._managed: weakref.WeakSet[ManagedCredential] = weakref.WeakSet()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._following = False

    def add(self, managed: ManagedCredential) -> None:
        if not self._following:
            forks.follow(self, then=True)
            self._following = True
        with self._lock:
            self._managed.add(managed)
        self.start()
        self._wake.set()

    def remove(self, managed: ManagedCredential) -> None:
        with self._lock:
            self._managed.discard(managed)

    def start(self) -> None:
        """Start the thread in this process if it does not run here (a forked child starts its own)."""
        with self._lock:
            if self._pid != os.getpid():
                self._pid, self._thread, self._wake = os.getpid(), None, threading.Event()
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="configsvc-credentials", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                managed = list(self._managed)
            managed = [item for item in managed if not item.inherited]  # fetched at its first connect
            now = time.monotonic()
            for item in managed:
                if item.next_at <= now:
                    item.refresh()
                item.check_expiry()
            now = time.monotonic()
            expiries = [now + left for item in managed if (left := item.seconds_to_expiry()) is not None]
            wait = min([item.next_at for item in managed] + expiries, default=now + 60.0) - now
            self._wake.wait(max(min(wait, 60.0), 0.05))
            self._wake.clear()

    def wake(self) -> None:
        self._wake.set()

    def forked(self) -> None:
        """In a forked child (after every credential made its locks anew): the parent's thread is not
        here; start this process's own if it has credentials to refresh."""
        self._lock = threading.Lock()
        with self._lock:
            self._pid, self._thread, self._wake = os.getpid(), None, threading.Event()
            managed = list(self._managed)
        if managed:
            self.start()


#: The process's one refresher.
REFRESHER = Refresher()
