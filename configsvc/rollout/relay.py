"""Rollout messages a process took, passed on to the processes it forked.

A prefork worker takes ``configsvc rollout``'s messages in its main process (remote control is
consumed there), but its pool processes run the tasks, each on its own copy of the configuration. The
main process writes the last message it took to a few bytes of shared memory, made before the pool
forks; each of its forked children reads them at its next look (the reloader's, every
``config_reload_interval``) and takes the same step. Only the process that made the memory writes it and
only its own children read it: gunicorn's workers, forked from one master, never follow one another.
"""

from __future__ import annotations

import mmap
import os
import struct

from configsvc.rollout.messages import ACTIONS, Action

# sequence number, writer pid, action index, fingerprint (ASCII, at most 64 bytes)
_LAYOUT = struct.Struct("<QiB64s")


class Relay:
    def __init__(self) -> None:
        self._memory = mmap.mmap(-1, _LAYOUT.size)  # anonymous and shared: inherited by a fork
        self._owner = os.getpid()
        self._written = 0
        self._seen = 0

    def publish(self, action: Action, fingerprint: str) -> None:
        """Pass a message this process took to its children (only in the process that made the memory)."""
        if os.getpid() != self._owner:
            return
        self._written += 1
        self._memory.seek(0)
        self._memory.write(_LAYOUT.pack(self._written, self._owner, ACTIONS.index(action),
                                        fingerprint.encode("ascii")[:64]))

    def after_fork(self) -> None:
        """In a child: what the parent wrote before the fork is not news (the child runs what it ran)."""
        self._seen = self._read()[0]

    def taken(self) -> tuple[Action, str] | None:
        """The parent's newest message, once, in a child forked by the process that made the memory."""
        if os.getpid() == self._owner:
            return None
        sequence, writer, action, fingerprint = self._read()
        if sequence <= self._seen or writer != os.getppid():
            return None
        self._seen = sequence
        return ACTIONS[action], fingerprint.rstrip(b"\0").decode("ascii")

    def _read(self) -> tuple[int, int, int, bytes]:
        for _ in range(3):  # a read racing the parent's write sees another sequence number: read again
            first = _LAYOUT.unpack(self._memory[:_LAYOUT.size])
            again = _LAYOUT.unpack(self._memory[:_LAYOUT.size])
            if first == again:
                return first
        return 0, 0, 0, b""
