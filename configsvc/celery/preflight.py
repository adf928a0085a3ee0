"""Before switching: does the broker (or a Redis result backend) accept the new credentials?

One connection is tried with the new settings. An explicit refusal, or a URL that cannot work, refuses
the new configuration (the process keeps the last good one); a server that cannot be reached is not a
refusal: the switch is deferred while the current broker can be reached.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from configsvc.celery import acceptance
from configsvc.celery.settings_groups import backend_settings, broker_settings
from configsvc.celery.verdicts import Verdict, shared_verdict
from configsvc.core.redaction import mask_url
from configsvc.errors import CeleryNotConfigured, Problem
from configsvc.flask.state import ACCEPT, Decision, defer, refuse

if TYPE_CHECKING:
    from celery import Celery

def preflight(celery: Celery, new: Mapping[str, Any], current: Mapping[str, Any],
              timeout: float = 2.0, *, forced: bool = False) -> Decision:
    """Refuse when the broker or a Redis result backend refuses the credentials in ``new``; defer when
    the new broker cannot be reached while the current one can (a half-written host name, a broker not up
    yet) and the switch is not ``forced``; else accept. Settings equal to ``current`` are not tried
    again."""
    problems = []
    broker_url = new.get("broker_url")
    if broker_url and broker_settings(new) != broker_settings(current):
        options = dict(new.get("broker_transport_options") or {})
        verdict = shared_verdict("broker", [str(broker_url), options], lambda: _verdict(
            *_try_broker(celery, str(broker_url), options, timeout)))
        problem, reached = _from_verdict(verdict, "celery.broker_url", "broker")
        if problem is not None:
            problems.append(problem)
        elif not reached and not forced and broker_reachable(celery, timeout=timeout):
            return defer(Problem(
                f"the new broker ({mask_url(str(broker_url))}) cannot be reached while the current one "
                "can; staying on the current one", kind="config", key="celery.broker_url", source="broker"))
    backend = new.get("result_backend")
    if isinstance(backend, str) and backend.startswith(("redis://", "rediss://")) and \
            backend_settings(new) != backend_settings(current):
        verdict = shared_verdict("redis", backend, lambda: _verdict(_try_redis(backend, timeout), True))
        problem, _ = _from_verdict(verdict, "celery.result_backend", "result backend")
        if problem is not None:
            problems.append(problem)
    return refuse(*problems) if problems else ACCEPT


def broker_reachable(celery: Celery, timeout: float = 1.5) -> bool:
    """True when the bound broker accepts a connection within ``timeout`` seconds (one attempt)."""
    try:
        with celery.connection_for_write(connect_timeout=timeout) as connection:
            connection.ensure_connection(max_retries=0, timeout=timeout)
    except CeleryNotConfigured:
        raise
    except Exception:  # any transport's failure to connect means "not reachable"
        return False
    return True


def _verdict(problem: Problem | None, reached: bool) -> Verdict:
    """What is shared with the host's other processes: the outcome and the (masked) message."""
    return {"problem": problem.message if problem is not None else None, "reached": reached}


def _from_verdict(verdict: Verdict, key: str, source: str) -> tuple[Problem | None, bool]:
    message = verdict.get("problem")
    problem = Problem(str(message), kind="config", key=key, source=source) if message else None
    return problem, bool(verdict.get("reached"))


def _try_broker(celery: Celery, url: str, transport_options: dict[str, Any],
                timeout: float) -> tuple[Problem | None, bool]:
    """(a refusal, or None; whether the broker answered)."""
    try:
        connection = celery.connection_for_write(url=url, connect_timeout=timeout)
    except Exception as error:
        answer = acceptance.answer_of(error)
    else:
        connection.transport_options = transport_options
        answer = acceptance.broker(connection, timeout)
    if answer.refused:
        return Problem(f"the broker refused the new credentials ({mask_url(url)})",
                       kind="config", key="celery.broker_url", source="broker"), True
    if answer.outcome == "unusable":
        return Problem(f"the new broker URL cannot be used ({answer.reason})",
                       kind="config", key="celery.broker_url", source="broker"), False
    return None, answer.reached


def _try_redis(url: str, timeout: float) -> Problem | None:
    if acceptance.redis(url, timeout).refused:
        return Problem(f"the result backend refused the new credentials ({mask_url(url)})",
                       kind="config", key="celery.result_backend", source="result backend")
    return None
