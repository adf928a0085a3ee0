"""The one thing configsvc reads from gunicorn: which server a process belongs to.

A gunicorn worker installs its own ``SIGQUIT`` handler, a bound method of its ``Worker`` object, before it
loads the app (``Worker.init_process``: ``init_signals`` then ``load_wsgi``, gunicorn 22 to 25), and that
object knows its arbiter's pid (``Worker.ppid``). An app built in the arbiter itself (``--preload``) or
outside gunicorn finds no such handler.
"""

from __future__ import annotations

import signal


def arbiter_pid() -> int | None:
    """The pid of the gunicorn arbiter this process is a worker of, or None."""
    handler = signal.getsignal(signal.SIGQUIT)
    worker = getattr(handler, "__self__", None)
    if worker is None or not type(worker).__module__.startswith("gunicorn."):
        return None
    ppid = getattr(worker, "ppid", None)
    return ppid if isinstance(ppid, int) and ppid > 0 else None
