"""What a forked child makes anew before anything else runs in it.

A fork copies one thread — the one that called it — and every lock as it was at that instant. A lock
another thread of the parent held (the refresher in the middle of a Vault request, when billiard forks a
replacement pool process or gunicorn a new worker) stays held in the child for good: nothing there will
ever release it. So each object that keeps a lock, a client with open sockets or a thread says so with
:func:`follow`, and its ``forked()`` runs in every forked child, right after the fork, while the child
still runs one thread. Objects followed with ``then=True`` run after all the others (the refresher, which
starts a thread that uses them).

The hook is registered with ``os.register_at_fork`` when the first object is followed, never at import.
"""

from __future__ import annotations

import os
import weakref
from typing import Protocol


class FollowsForks(Protocol):
    def forked(self) -> None:
        """In a forked child: replace every lock, client and thread inherited from the parent."""


_first: list[weakref.ref[FollowsForks]] = []
_then: list[weakref.ref[FollowsForks]] = []
_registered = False


def follow(item: FollowsForks, *, then: bool = False) -> None:
    """Call ``item.forked()`` in every child forked from now on (held weakly: a collected item is
    dropped)."""
    global _registered
    if not _registered:  # registered hooks are inherited: once per program
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _registered = True
    (_then if then else _first).append(weakref.ref(item))


def _after_fork_in_child() -> None:
    for refs in (_first, _then):
        alive = [ref for ref in refs if ref() is not None]
        refs[:] = alive
        for ref in alive:
            item = ref()
            if item is not None:
                item.forked()
