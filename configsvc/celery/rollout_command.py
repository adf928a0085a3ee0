"""The ``configsvc_rollout`` remote-control command: ``configsvc rollout`` tells one worker to apply its
staged configuration or to roll one back (see :mod:`configsvc.rollout.messages` for what makes a
message count). The step itself is the reloader's (:meth:`~configsvc.flask.staging.Staging.told`),
taken in its thread, never in the consumer's: applying may switch the consumer's own connection.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from celery.signals import worker_init

from configsvc.celery import celery_internals
from configsvc.celery.binding import Binding, binding_of
from configsvc.celery.process_start import when_started
from configsvc.rollout import outcomes
from configsvc.rollout.messages import ROLLOUT_COMMAND, Checker, Message, message_keys

if TYPE_CHECKING:
    from celery import Celery
    from celery.utils.collections import AttributeDict

logger = logging.getLogger("configsvc.rollout")

_CHECKER = Checker()


def hear_rollout_when_started(celery: Celery) -> None:
    """A worker of ``celery`` hears configsvc rollout: its state says so from ``worker_init`` on, before
    the pool forks, so its pool processes stage a new configuration too; and the counts of its tasks'
    outcomes, which rollout compares, are made then, shared with those pool processes."""
    when_started(celery, worker_init, "hear configsvc rollout", _hears)


def _hears(binding: Binding, _: Any) -> None:
    outcomes.prepare()
    if binding.state is not None:
        binding.state.hears_rollout = True


def register_rollout_command() -> None:
    """Register ``configsvc_rollout`` with Celery's remote control (its registry is per process)."""
    celery_internals.register_control_command(ROLLOUT_COMMAND, configsvc_rollout, [("message", dict)])


def configsvc_rollout(state: AttributeDict, message: Any = None, **_: Any) -> dict[str, Any] | None:
    """configsvc: apply the staged configuration, or roll one back, when ``configsvc rollout`` says so
    (a signed, fresh message for this process, taken once)."""
    binding = binding_of(state.consumer.app)
    return take_message(binding, state.hostname, message) if binding is not None else None


def take_message(binding: Binding, hostname: str, message: Any) -> dict[str, Any] | None:
    """Act on one rollout message when it counts (a worker's, or a web process's,
    :mod:`configsvc.celery.web_listener`): None when it is for another process."""
    live = binding.state
    if live is None or live.reloader is None:
        return None
    told = Message.from_fields(message if isinstance(message, dict) else {})
    if told is None:
        logger.warning("configsvc: a rollout message changed nothing: it is not one")
        return {"taken": False, "reason": "not a rollout message"}
    if (told.hostname, told.pid) != (hostname, os.getpid()):
        return None  # for another process of this name
    problem = _CHECKER.problem(told, message_keys(live.config), hostname, os.getpid())
    if problem is not None:
        logger.warning("configsvc: a rollout message (%s fingerprint %s) changed nothing: %s", told.action,
                       told.fingerprint[:12], problem)
        return {"taken": False, "reason": problem}
    live.reloader.staging.told(told.action, told.fingerprint)
    return {"taken": True}
