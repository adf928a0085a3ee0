"""Each process watches for itself: after ``fork()`` (gunicorn and Celery prefork workers) the child gives
every reloader it inherited a watching thread of its own (the parent's thread did not come along)."""

from __future__ import annotations

import os
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from configsvc.flask.reloader import Reloader

_live: weakref.WeakSet[Reloader] = weakref.WeakSet()
_following_forks = False


def follow_forks(reloader: Reloader) -> None:
    """Call ``reloader.after_fork()`` in every forked child (the hook registered with the first reloader,
    not at import)."""
    global _following_forks
    _live.add(reloader)
    if not _following_forks and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _following_forks = True


def _after_fork_in_child() -> None:
    for reloader in list(_live):
        reloader.after_fork()
