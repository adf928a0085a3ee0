"""What the tests store in this machine's Redis (task results, and the Redis transport's queues and
bindings): under a key prefix of each test's own, removed when the test ends.

Every process a test starts through ``tests.support.processes`` (workers, web servers, beat) gets the
test's prefix as Celery's ``result_backend_transport_options.global_keyprefix`` and
``broker_transport_options.global_keyprefix``, through the environment (variables the test's own
environment may override). A test that publishes or reads results in its own process adds ``environ()``
to the environment it builds its app with: its app must use the same keys as the processes it talks to.
When the test ends, its keys are deleted from every database of the local Redis. ``tests/conftest.py``
also compares the local Redis' keys before and after the whole run: a run leaves none of its own behind
(a worker still storing after its test ended, a key the test did not remove). Each run has an id of its
own in every prefix (:func:`start_run`), so what else uses the machine's Redis meanwhile (another run, a
benchmark) is never taken for a leftover.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: The settings that carry the prefix, as the reference app's environment variables.
VARIABLES = ("APP_CELERY__RESULT_BACKEND_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX",
             "APP_CELERY__BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX")
#: Every test's prefix starts with this, then the run's id.
PREFIX = "configsvc-test-"
#: The run's id, set by the run's main process (:func:`start_run`) and inherited by its test processes.
RUN_VARIABLE = "CONFIGSVC_TEST_RUN"
_current: str | None = None


def start_run() -> None:
    """In a run's main process, before its test processes start: give the run its id."""
    os.environ.setdefault(RUN_VARIABLE, secrets.token_hex(3))


def run_prefix() -> str:
    """What every prefix of this run starts with."""
    return f"{PREFIX}{os.environ.get(RUN_VARIABLE, 'norun')}-"


def left_by_this_run(key: bytes) -> bool:
    """True for a key under one of this run's prefixes. Keys under no test prefix are not counted: the
    machine's Redis is shared (another run, a benchmark or soak beside the suite, a developer's app), and
    nothing tells whose they are."""
    return key.startswith(run_prefix().encode())


def environ() -> dict[str, str]:
    """The variables that give the running test's processes its prefix (empty outside a test)."""
    return dict.fromkeys(VARIABLES, _current) if _current else {}


def prefix() -> str:
    """The running test's prefix (empty outside a test): the keys it stores start with it."""
    return _current or ""


@contextmanager
def own_prefix() -> Iterator[str]:
    """A prefix for the test that runs in the block; its keys are deleted at the end."""
    global _current
    _current = f"{run_prefix()}{os.getpid()}-{secrets.token_hex(3)}-"
    try:
        yield _current
    finally:
        prefix, _current = _current, None
        remove(prefix)


def _client() -> Any:
    import redis

    return redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2, socket_timeout=5,
                       single_connection_client=True)


def databases(client: Any) -> list[int]:
    """The databases of the local Redis that hold keys now."""
    return sorted(int(name[2:]) for name in client.info("keyspace") if name.startswith("db"))


def remove(prefix: str) -> int:
    """Delete every key under ``prefix`` in every database of the local Redis; how many. Nothing when
    Redis is not running."""
    removed = 0
    try:
        client = _client()
        for number in databases(client):
            client.execute_command("SELECT", number)
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            for start in range(0, len(keys), 500):
                removed += int(client.delete(*keys[start:start + 500]))
        client.close()
    except OSError:
        return removed
    except Exception as error:  # redis-py's connection errors are not OSError
        if type(error).__name__ not in ("ConnectionError", "TimeoutError"):
            raise
    return removed


def all_keys() -> dict[int, set[bytes]] | None:
    """Every key of every database of the local Redis (None when it is not running)."""
    try:
        client = _client()
        found: dict[int, set[bytes]] = {}
        for number in databases(client):
            client.execute_command("SELECT", number)
            found[number] = set(client.scan_iter(count=1000))
        client.close()
        return found
    except Exception as error:
        if isinstance(error, OSError) or type(error).__name__ in ("ConnectionError", "TimeoutError"):
            return None
        raise
