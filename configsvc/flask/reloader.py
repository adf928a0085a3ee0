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
Each process watches for itself: after ``fork()`` (gunicorn and Celery prefork workers) the child gets
its own watching thread.
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from configsvc import metrics
from configsvc.core.config import Config
from configsvc.errors import ConfigError
from configsvc.flask.state import ConfigState
from configsvc.metrics.recording import record
from configsvc.rollout.messages import Action
from configsvc.rollout.relay import Relay

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

_live: weakref.WeakSet[Reloader] = weakref.WeakSet()
_following_forks = False


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
        self._told: collections.deque[tuple[Action, str, threading.Event]] = collections.deque()
        self._said_rejected = False
        self._relay = Relay()  # what this process is told, passed on to the processes it forks
        self._seen = self._signature()
        _live.add(self)
        _follow_forks()

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
                self._unstage()  # the files hold what runs again: nothing is pending
                if new.fingerprint != old.fingerprint:  # same values, other bytes (a comment): adopt it
                    self.state.config = new
                self._recover(old, new, changed=False)
                return False
            if staged_mode(old):
                if self.state.hears_rollout:
                    self._stage(old, new)
                    return False
                logger.warning("configsvc: rollout.mode is staged, but this process does not hear configsvc "
                               "rollout (beat, or a web process before its first request): it applies the "
                               "change as it reads it")
            return self._switch(old, new, forced=force, recheck=recheck)

    def _switch(self, old: Config, new: Config, *, forced: bool, recheck: bool = False,
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

    # -- staged rollout ---------------------------------------------------------------------------

    def told(self, action: Action, fingerprint: str) -> threading.Event:
        """What ``configsvc rollout`` told this process (a message already verified): taken in the
        watching thread (or a thread of its own), never in the caller's, a worker's consumer. The event
        is set once it was taken."""
        taken = threading.Event()
        self._told.append((action, fingerprint, taken))
        if self.watching:
            self._wake.set()
        else:
            threading.Thread(target=self._take_told, name="configsvc-rollout", daemon=True).start()
        return taken

    def _stage(self, old: Config, new: Config) -> None:
        """Hold ``new`` until a rollout applies it (one log line, once per staged configuration)."""
        state = self.state
        if new.fingerprint in state.rejected:
            if state.staged is not None or not self._said_rejected:
                logger.warning("configsvc: %s holds a configuration a rollout rejected (fingerprint %s); "
                               "not staged, still running %s", self._where(), new.fingerprint[:12],
                               self._running())
            state.staged, self._said_rejected = None, True
            return
        if state.pending == new.fingerprint:
            return
        state.staged = new
        record.rollout_step("staged")
        logger.info("configsvc: staged the configuration in %s (fingerprint %s): changed %s; it runs when "
                    "configsvc rollout applies it (running %s)", self._where(), new.fingerprint[:12],
                    ", ".join(new.changed_keys(old)) or "nothing", self._running())

    def _unstage(self) -> None:
        if self.state.staged is not None:
            record.rollout_step(None)
            logger.info("configsvc: %s holds the running configuration again; nothing is staged",
                        self._where())
        self.state.staged = None
        self._said_rejected = False

    def _take_told(self) -> None:
        while self._told:
            try:
                action, fingerprint, taken = self._told.popleft()
            except IndexError:  # another thread took it
                return
            try:
                with self._lock:
                    if action == "apply":
                        self._apply_staged(fingerprint)
                    else:
                        self._roll_back(fingerprint)
            finally:
                self._relay.publish(action, fingerprint)
                taken.set()

    def _apply_staged(self, fingerprint: str) -> None:
        state, staged = self.state, self.state.staged
        if state.fingerprint == fingerprint:
            return  # applied already (the message came twice, or the files changed to it in immediate mode)
        if staged is None or staged.fingerprint != fingerprint or fingerprint in state.rejected:
            logger.warning("configsvc: configsvc rollout said to apply fingerprint %s, which is not staged "
                           "here; nothing changed (%s)", fingerprint[:12], self._running())
            return
        old = state.config
        how = "applied the staged configuration (configsvc rollout)"
        if self._switch(old, staged, forced=False, how=how):
            state.before_rollout, state.staged = old, None
            record.rollout_step("applied")

    def _roll_back(self, fingerprint: str) -> None:
        """Reject ``fingerprint``: not staged or applied again; a process running it goes back to what it
        ran before."""
        state = self.state
        state.rejected.add(fingerprint)
        if state.pending == fingerprint:
            state.staged = None
            record.rollout_step(None)
        before = state.before_rollout
        if state.fingerprint != fingerprint or before is None:
            logger.info("configsvc: configsvc rollout rejected fingerprint %s (%s)", fingerprint[:12],
                        self._running())
            return
        if self._switch(state.config, before, forced=True,
                        how="rolled back to the configuration it ran before (configsvc rollout)"):
            state.before_rollout = None
            record.rollout_step("rolled_back")

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
            relayed = self._relay.taken()
            if relayed is not None:
                self._told.append((*relayed, threading.Event()))
            self._take_told()
            force, self._force = self._force, False
            recheck = self._recheck_at is not None and time.monotonic() >= self._recheck_at
            try:
                self.check(force, recheck)
            except Exception as error:  # keep watching whatever happens
                logger.error("configsvc: reload check failed (%s)", type(error).__name__)

    def _signature(self) -> Signature:
        return tuple(_stat(path) for path in self.watched)

    def _where(self) -> str:
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
                         "(%s)", self._where(), problem, self._running())

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
            logger.info("configsvc: %s from %s (%s): changed %s", how, self._where(), self._running(),
                        ", ".join(keys) or "nothing")
            for message in new.warnings:
                logger.warning("configsvc: %s", message)
            at_start = [key for key in keys if key.startswith("metrics.") and key != "metrics.token"]
            if at_start:
                logger.warning("configsvc: %s changed: read when the process starts, so it applies at "
                               "the next start (metrics.token applies at once)", ", ".join(at_start))
        elif was_stale:
            logger.info("configsvc: %s is good again (unchanged from the configuration in use; %s)",
                        self._where(), self._running())
        else:
            logger.info("configsvc: %s changed, its values did not (%s)", self._where(), self._running())

    def _running(self) -> str:
        """``generation N, fingerprint F``: what this process runs (the fingerprint shortened)."""
        return f"generation {self.state.generation}, fingerprint {self.state.fingerprint[:12]}"

    def _after_fork(self) -> None:
        # The parent's lock may have been held by its watching thread at fork time; the thread is gone.
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._told = collections.deque()  # the parent's messages are the parent's to take
        self._relay.after_fork()
        was_watching = self._thread is not None
        self._thread = None
        if was_watching:
            self.start()


def staged_mode(config: Config) -> bool:
    """True when ``config`` says a new configuration waits for ``configsvc rollout`` (``rollout.mode``:
    the running configuration decides, so a file that turns staged mode off is itself rolled out)."""
    return bool(config.get("rollout.mode") == "staged")


def _stat(path: Path) -> tuple[int, int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _one_line(error: ConfigError) -> str:
    return "; ".join(str(problem) for problem in error.problems)


def _reinit_after_fork() -> None:
    for reloader in list(_live):
        reloader._after_fork()


def _follow_forks() -> None:
    """Give every reloader a watching thread of its own in a forked child (registered with the first
    reloader, not at import)."""
    global _following_forks
    if not _following_forks and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_reinit_after_fork)
        _following_forks = True
