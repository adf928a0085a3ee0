"""Live reload: watch the deployment file (and its key file), switch only to a configuration that resolves.

A :class:`Reloader` polls the files it watches with ``os.stat`` (a few microseconds per file), and on a
change resolves and validates the whole configuration again. Only a configuration without problems is
handed to ``apply``; anything else (a half-written file, a parse error, a wrong key, a tampered value, an
invalid setting) is refused: the last good configuration stays, one log line names the file and the
problem (never a value), and the app's state says ``"stale"`` until a good version arrives.

A reload that would drop the broker, the result backend or the secret key the running configuration has
(see :data:`KEPT_ON_RELOAD`) is refused as incomplete, so a file caught half-written is never applied
however long its writer pauses; the next change of the files is read again.

``SIGHUP`` forces a reload in processes where :meth:`Reloader.install_sighup` could take the signal.
Each process watches for itself (:mod:`~configsvc.flask.forks`); staged rollout: :mod:`.staging`.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from configsvc import metrics
from configsvc.core.config import Config
from configsvc.errors import ConfigError
from configsvc.flask.forks import follow_forks
from configsvc.flask.staging import Staging
from configsvc.flask.state import ConfigState
from configsvc.metrics.recording import record

logger = logging.getLogger("configsvc.reload")

DEFAULT_INTERVAL = 0.25
# A changed file is read once two looks this far apart see the same size and times (a writer is done).
SETTLE_SECONDS = 0.03
SETTLE_LIMIT_SECONDS = 2.0
# How often a deferred switch (a new broker that cannot be reached yet) is tried again.
RECHECK_SECONDS = 2.0
# Settings a running process needs: a reload that would drop one the running configuration has (back to
# a default, or to nothing) is taken as a file caught half-written, not as meant. Refused until the files
# change again; SIGHUP applies it as it is.
KEPT_ON_RELOAD = ("celery.broker_url", "celery.result_backend", "secret_key")
Signature = tuple[tuple[int, int, int, int, int] | None, ...]


class Reloader:
    """Keeps one process on its last good configuration and moves it to a new one when that resolves.

    On a change it asks ``state`` to resolve again (:meth:`ConfigState.resolve`, raising
    :class:`ConfigError`) and to switch (:meth:`ConfigState.switch`, which answers with a
    :class:`~configsvc.flask.state.Decision`); the outcome is written to ``state``. The watching thread
    ends when the app is gone.
    """

    def __init__(self, state: ConfigState, *, watched: Sequence[Path] = (),
                 interval: float = DEFAULT_INTERVAL) -> None:
        self.state = state
        self.interval = interval
        self.watched = tuple(watched)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._force = False
        self._recheck_at: float | None = None
        self._thread: threading.Thread | None = None
        #: Staged rollout: what this process holds and what configsvc rollout told it.
        self.staging = Staging(self)
        self._seen = self._signature()
        follow_forks(self)

    def __repr__(self) -> str:
        files = ", ".join(str(path) for path in self.watched) or "nothing"
        return f"<Reloader watching {files}: {self.state.state}, generation {self.state.generation}>"

    @property
    def watching(self) -> bool:
        """True while this process has a thread polling the watched files."""
        return self._thread is not None and self._thread.is_alive()

    def check(self, force: bool = False, recheck: bool = False) -> bool:
        """Reload when a watched file changed, or on ``force`` (SIGHUP, a refused publish: the new
        configuration is applied even if its broker cannot be reached) or ``recheck`` (a deferred switch is
        tried again). True when a new configuration was applied."""
        with self._lock:
            seen = self._signature()
            if seen == self._seen and not force and not recheck:
                return False
            if seen != self._seen and not force:
                seen = self._settled(seen)  # a file still being written is read once it is complete
            self._seen = seen
            self._recheck_at = None
            try:
                new = self.state.resolve()
            except ConfigError as error:
                self._refuse(_one_line(error))
                return False
            except Exception as error:  # a bug must not take the process down, nor print a value
                self._refuse(f"unexpected {type(error).__name__} while resolving")
                return False
            old = self.state.config
            dropped = [key for key in KEPT_ON_RELOAD if old.configured(key) and not new.configured(key)]
            if dropped and not force:
                self._refuse(f"it has no {' or '.join(dropped)}, which the running configuration has: "
                             "taken as incomplete (a file still being written?) until the files change "
                             "again (SIGHUP applies it as it is)")
                return False
            if new.flask_mapping() == old.flask_mapping():
                self.staging.unstage()  # the files hold what runs again: nothing is pending
                if new.fingerprint != old.fingerprint:  # same values, other bytes (a comment): adopt it
                    self.state.config = new
                self._recover(old, new, changed=False)
                return False
            if self.staging.holds(old, new):  # rollout.mode staged: until configsvc rollout says so
                return False
            return self.switch_to(old, new, forced=force, recheck=recheck)

    def switch_to(self, old: Config, new: Config, *, forced: bool, recheck: bool = False,
                how: str = "reloaded the configuration") -> bool:
        """Move to ``new`` unless a participant defers or refuses it; True when it was applied."""
        try:
            decision = self.state.switch(new, forced=forced)
        except Exception as error:
            logger.debug("applying the new configuration failed", exc_info=True)
            self._refuse(f"applying it failed ({type(error).__name__})")
            return False
        if decision.outcome == "defer":  # e.g. the new broker cannot be reached while the current one can
            self._recheck_at = time.monotonic() + RECHECK_SECONDS
            self._refuse(f"{decision} and trying again every {RECHECK_SECONDS:g} s (SIGHUP switches "
                         "anyway)", quiet=recheck)
            return False
        if decision.outcome == "refuse":  # e.g. the broker refuses the new credentials
            self._refuse(str(decision))
            return False
        self.state.config = new
        self.state.generation += 1
        self._recover(old, new, changed=True, how=how)
        self._changed.notify_all()
        return True

    def wait_for_change(self, generation: int, timeout: float) -> bool:
        """Wait until a configuration newer than ``generation`` is applied; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self.state.generation > generation, timeout)

    def request(self) -> None:
        """Ask the watching thread to reload now, changed or not (safe in a signal handler)."""
        self._force = True
        self._wake.set()

    def start(self) -> None:
        """Start polling the watched files in a daemon thread (nothing to do when nothing is watched)."""
        if not self.watched or self.interval <= 0 or self.watching:
            return
        thread = threading.Thread(target=self._run, name="configsvc-reload", daemon=True)
        self._thread = thread
        thread.start()

    def stop(self) -> None:
        """Stop the watching thread (it ends at its next poll)."""
        thread, self._thread = self._thread, None
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def install_sighup(self) -> bool:
        """Make SIGHUP force a reload, unless another handler owns the signal or this is not the main
        thread. True when installed."""
        if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGHUP"):
            return False
        current = signal.getsignal(signal.SIGHUP)
        if current not in (signal.SIG_DFL, None) and not getattr(current, "configsvc_reload", False):
            return False
        signal.signal(signal.SIGHUP, self.sighup_handler())
        return True

    def sighup_handler(self) -> Callable[..., None]:
        """A signal handler that asks for a reload; for frameworks that own signal installation."""

        def on_sighup(*_: Any) -> None:
            if self.watching:
                self.request()
            else:  # no thread (nothing watched): the handler runs between bytecodes, reload here
                threading.Thread(target=self.check, args=(True,), daemon=True).start()

        on_sighup.configsvc_reload = True  # type: ignore[attr-defined]
        return on_sighup

    # -- internals --------------------------------------------------------------------------------

    def _run(self) -> None:
        me = threading.current_thread()
        while self._thread is me:
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._thread is not me or self.state.app is None:
                return
            self.staging.take_told()
            force, self._force = self._force, False
            recheck = self._recheck_at is not None and time.monotonic() >= self._recheck_at
            try:
                self.check(force, recheck)
            except Exception as error:  # keep watching whatever happens
                logger.error("configsvc: reload check failed (%s)", type(error).__name__)

    def _signature(self) -> Signature:
        return tuple(_stat(path) for path in self.watched)

    def where(self) -> str:
        fallback = self.watched[0] if self.watched else "configuration"
        return str(self.state.config.deployment_file or fallback)

    def _settled(self, seen: Signature) -> Signature:
        """Wait until the watched files stop changing: the same size and times on two looks
        :data:`SETTLE_SECONDS` apart (at most :data:`SETTLE_LIMIT_SECONDS`)."""
        deadline = time.monotonic() + SETTLE_LIMIT_SECONDS
        while time.monotonic() < deadline:
            time.sleep(SETTLE_SECONDS)
            again = self._signature()
            if again == seen:
                break
            seen = again
        return seen

    def _refuse(self, problem: str, quiet: bool = False) -> None:
        """Stay on the last good configuration; one log line, unless it repeats a retry's problem."""
        repeated = quiet and self.state.state == "stale" and self.state.problem == problem
        self.state.state = "stale"
        self.state.problem = problem
        if not repeated:
            record.reload("refused")
            metrics.stale(True)
            logger.error("configsvc: refused the new configuration in %s: %s; keeping the last good one "
                         "(%s)", self.where(), problem, self.running())

    def _recover(self, old: Config, new: Config, *, changed: bool,
                 how: str = "reloaded the configuration") -> None:
        """One log line for a reload that applied ``new`` (``changed``) or found the values of ``old``."""
        was_stale = self.state.state == "stale"
        self.state.state = "ok"
        self.state.problem = None
        record.reload("applied" if changed else "unchanged")
        metrics.running(self.state.fingerprint, old.fingerprint, stale=False)
        if changed:  # planned, not an incident: INFO (refusals and failures are ERROR)
            keys = new.changed_keys(old)
            logger.info("configsvc: %s from %s (%s): changed %s", how, self.where(), self.running(),
                        ", ".join(keys) or "nothing")
            for message in new.warnings:
                logger.warning("configsvc: %s", message)
            at_start = [key for key in keys if key.startswith("metrics.") and key != "metrics.token"]
            if at_start:
                logger.warning("configsvc: %s changed: read when the process starts, so it applies at "
                               "the next start (metrics.token applies at once)", ", ".join(at_start))
        elif was_stale:
            logger.info("configsvc: %s is good again (unchanged from the configuration in use; %s)",
                        self.where(), self.running())
        else:
            logger.info("configsvc: %s changed, its values did not (%s)", self.where(), self.running())

    def running(self) -> str:
        """``generation N, fingerprint F``: what this process runs (the fingerprint shortened)."""
        return f"generation {self.state.generation}, fingerprint {self.state.fingerprint[:12]}"

    @property
    def lock(self) -> threading.RLock:
        """Held while a reload or a rollout step runs."""
        return self._lock

    def wake(self) -> None:
        """Make the watching thread look now (what it was told, the files)."""
        self._wake.set()

    def after_fork(self) -> None:
        # The parent's lock may have been held by its watching thread at fork time; the thread is gone.
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._wake = threading.Event()
        self.staging.after_fork()
        was_watching = self._thread is not None
        self._thread = None
        if was_watching:
            self.start()


def _stat(path: Path) -> tuple[int, int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _one_line(error: ConfigError) -> str:
    return "; ".join(str(problem) for problem in error.problems)
