"""Staged rollout in one process: a valid new configuration held until ``configsvc rollout`` says to apply
it, and what rollout tells the process (apply it; reject one and go back to what ran before; it completed).

The host's record of the settled configuration (:mod:`configsvc.rollout.settled`) is kept here too: written
when a process running the settled configuration first stages a change, rejections added, removed once a
rollout completed (or the files hold the settled configuration again). A process that starts while it
exists runs it (:func:`start_settled`).

The :class:`~configsvc.flask.reloader.Reloader` hands a new configuration here instead of switching to it
when :func:`staged_mode` says so and the process hears rollout; the steps rollout tells are taken in the
reloader's thread, under its lock, through its switch (the same one a reload takes).
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from configsvc.core.config import Config
from configsvc.errors import ConfigError
from configsvc.metrics.recording import record
from configsvc.rollout.messages import Action
from configsvc.rollout.relay import Relay
from configsvc.rollout.settled import Records, UnsafeFolder

if TYPE_CHECKING:
    from configsvc.flask.reloader import Reloader

logger = logging.getLogger("configsvc.reload")


def staged_mode(config: Config) -> bool:
    """True when ``config`` says a new configuration waits for ``configsvc rollout`` (``rollout.mode``:
    the running configuration decides, so a file that turns staged mode off is itself rolled out)."""
    return bool(config.get("rollout.mode") == "staged")



class Staging:
    """What one process's reloader holds for a rollout, and what rollout told it."""

    def __init__(self, reloader: Reloader) -> None:
        self._reloader = reloader
        self._told: collections.deque[tuple[Action, str, threading.Event]] = collections.deque()
        self._said_rejected = False
        self._relay = Relay()  # what this process is told, passed on to the processes it forks
        state = reloader.state
        self._records = Records.of(state.config, state.inputs.environ, state.service.options.env_prefix)

    def after_fork(self) -> None:
        self._told = collections.deque()  # the parent's messages are the parent's to take
        self._relay.after_fork()

    def told(self, action: Action, fingerprint: str) -> threading.Event:
        """What ``configsvc rollout`` told this process (a message already verified): taken in the
        watching thread (or a thread of its own), never in the caller's, a worker's consumer. The event
        is set once it was taken."""
        taken = threading.Event()
        self._told.append((action, fingerprint, taken))
        if self._reloader.watching:
            self._reloader.wake()
        else:
            threading.Thread(target=self.take_told, name="configsvc-rollout", daemon=True).start()
        return taken

    def holds(self, old: Config, new: Config) -> bool:
        """Stage ``new`` instead of switching to it when ``old`` runs in staged mode and this process
        hears rollout (True: held); a process that does not hear it switches, and says so."""
        if not staged_mode(old):
            return False
        if self._reloader.state.hears_rollout:
            self.stage(old, new)
            return True
        logger.warning("configsvc: rollout.mode is staged, but this process does not hear configsvc "
                       "rollout (beat, or a web process before its first request): it applies the "
                       "change as it reads it")
        return False

    def never_hears(self) -> None:
        """This process never hears rollout (beat): a configuration it staged at start (the files held a
        change no rollout completed) is applied now, as it would be had it been read later."""
        with self._reloader.lock:
            state = self._reloader.state
            if state.staged is None or state.hears_rollout:
                return
            logger.warning("configsvc: rollout.mode is staged, but this process does not hear configsvc "
                           "rollout (beat): it applies the files' configuration now")
            staged, state.staged = state.staged, None
            self._reloader.switch_to(state.config, staged, forced=False)

    def stage(self, old: Config, new: Config) -> None:
        """Hold ``new`` until a rollout applies it (one log line, once per staged configuration)."""
        state = self._reloader.state
        if new.fingerprint in state.rejected:
            if state.staged is not None or not self._said_rejected:
                logger.warning("configsvc: %s holds a configuration a rollout rejected (fingerprint %s); "
                               "not staged, still running %s", self._reloader.where(), new.fingerprint[:12],
                               self._reloader.running())
            state.staged, self._said_rejected = None, True
            return
        if state.pending == new.fingerprint:
            return
        state.staged = new
        if state.fingerprint == state.settled:  # the first to stage a change keeps what was settled
            self._keep(lambda records: records.keep_unless_kept(old))
        record.rollout_step("staged")
        logger.info("configsvc: staged the configuration in %s (fingerprint %s): changed %s; it runs when "
                    "configsvc rollout applies it (running %s)", self._reloader.where(), new.fingerprint[:12],
                    ", ".join(new.changed_keys(old)) or "nothing", self._reloader.running())

    def unstage(self) -> None:
        if self._reloader.state.fingerprint == self._reloader.state.settled:
            self._keep(Records.remove)  # the files hold the settled configuration again
        if self._reloader.state.staged is not None:
            record.rollout_step(None)
            logger.info("configsvc: %s holds the running configuration again; nothing is staged",
                        self._reloader.where())
        self._reloader.state.staged = None
        self._said_rejected = False

    def take_told(self) -> None:
        """Take what this process was told, and what its parent passed on (a forked pool process)."""
        relayed = self._relay.taken()
        if relayed is not None:
            self._told.append((*relayed, threading.Event()))
        while self._told:
            try:
                action, fingerprint, taken = self._told.popleft()
            except IndexError:  # another thread took it
                return
            try:
                with self._reloader.lock:
                    if action == "apply":
                        self._apply_staged(fingerprint)
                    elif action == "roll back":
                        self._roll_back(fingerprint)
                    else:
                        self._complete(fingerprint)
            finally:
                if action != "complete":  # a pool process keeps no record: its worker does
                    self._relay.publish(action, fingerprint)
                taken.set()

    def _apply_staged(self, fingerprint: str) -> None:
        state, staged = self._reloader.state, self._reloader.state.staged
        if state.fingerprint == fingerprint:
            return  # applied already (the message came twice, or the files changed to it in immediate mode)
        if staged is None or staged.fingerprint != fingerprint or fingerprint in state.rejected:
            logger.warning("configsvc: configsvc rollout said to apply fingerprint %s, which is not staged "
                           "here; nothing changed (%s)", fingerprint[:12], self._reloader.running())
            return
        old = state.config
        how = "applied the staged configuration (configsvc rollout)"
        if self._reloader.switch_to(old, staged, forced=False, how=how):
            state.before_rollout, state.staged = old, None
            record.rollout_step("applied")

    def _roll_back(self, fingerprint: str) -> None:
        """Reject ``fingerprint``: not staged or applied again; a process running it goes back to what it
        ran before."""
        state = self._reloader.state
        state.rejected.add(fingerprint)
        self._keep(lambda records: records.reject(fingerprint))
        if state.pending == fingerprint:
            state.staged = None
            record.rollout_step(None)
        before = state.before_rollout
        if state.fingerprint != fingerprint or before is None:
            logger.info("configsvc: configsvc rollout rejected fingerprint %s (%s)", fingerprint[:12],
                        self._reloader.running())
            return
        if self._reloader.switch_to(state.config, before, forced=True,
                        how="rolled back to the configuration it ran before (configsvc rollout)"):
            state.before_rollout = None
            record.rollout_step("rolled_back")

    def _complete(self, fingerprint: str) -> None:
        """A rollout of ``fingerprint`` completed: it is settled. A process running it updates the host's
        record: gone when the files hold it, else (the files changed again meanwhile) this one."""
        state = self._reloader.state
        state.settled = fingerprint
        if state.fingerprint != fingerprint:
            return  # it missed the rollout: it keeps what it runs, and keeps no record
        running = state.config
        self._keep(Records.remove if state.staged is None else lambda records: records.keep(running))

    def _keep(self, change: Callable[[Records], object]) -> None:
        """Change the host's record; a folder that cannot be used is logged, and the process goes on."""
        try:
            change(self._records)
        except (UnsafeFolder, OSError) as error:
            logger.warning("configsvc: the settled-configuration record cannot be kept (%s): a process "
                           "that starts during a rollout runs the files as they are", _why(error))


def start_settled(files: Config, environ: Mapping[str, str], prefix: str,
                  resolve_kept: Callable[[Mapping[str, bytes]], Config]) -> tuple[Config, Config | None,
                                                                                frozenset[str]]:
    """What a process that starts runs: ``files`` (the configuration the files hold), unless the host
    keeps a settled configuration the files differ from; then that one (resolved from the kept bytes by
    ``resolve_kept``) and ``files`` staged, unless a rollout rejected it. Returns what runs, what is
    staged and the rejected fingerprints."""
    records = Records.of(files, environ, prefix)
    try:
        settled = records.load()
        if settled is not None and settled.fingerprint == files.fingerprint:
            records.remove()  # the files hold it: nothing is staged
            return files, None, settled.rejected
    except (UnsafeFolder, OSError) as error:
        logger.warning("configsvc: the settled-configuration record cannot be read (%s); starting on the "
                       "files", _why(error))
        return files, None, frozenset()
    if settled is None:
        return files, None, frozenset()
    try:
        kept = resolve_kept(settled.files)
    except ConfigError as error:
        logger.warning("configsvc: the configuration the last rollout settled (fingerprint %s) does not "
                       "resolve now (%s); starting on the files", settled.fingerprint[:12],
                       "; ".join(str(problem) for problem in error.problems))
        return files, None, settled.rejected
    if kept.fingerprint != settled.fingerprint or not staged_mode(kept):
        logger.warning("configsvc: the configuration the last rollout settled (fingerprint %s) is not what "
                       "this process would read from it (another environment?); starting on the files",
                       settled.fingerprint[:12])
        return files, None, settled.rejected
    staged = files if files.fingerprint not in settled.rejected else None
    what = "staged until configsvc rollout applies it" if staged is not None else "one a rollout rejected"
    logger.info("configsvc: started on the configuration the last rollout settled (fingerprint %s, kept in "
                "%s); the files' (fingerprint %s) is %s", kept.fingerprint[:12], records.path,
                files.fingerprint[:12], what)
    return kept, staged, settled.rejected


def _why(error: Exception) -> str:
    if isinstance(error, OSError) and error.strerror:
        return f"{error.filename}: {error.strerror}"
    return str(error)
