"""The ``configsvc_status`` remote-control command: which configuration a worker runs, asked over the
broker it consumes from, so it reaches every worker on every host (``configsvc fleet`` asks it)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from configsvc.core.redaction import mask_url

if TYPE_CHECKING:
    from celery import Celery

STATUS_COMMAND = "configsvc_status"


def status_of(app: Celery, hostname: str) -> dict[str, Any]:
    """What ``configsvc_status`` answers: hostname, pid, fingerprint, generation, state, masked broker."""
    live = getattr(app, "config_state", None)
    return {
        "hostname": hostname,
        "pid": os.getpid(),
        "fingerprint": live.fingerprint if live is not None else None,
        "generation": live.generation if live is not None else None,
        "state": live.state if live is not None else None,
        "broker": mask_url(str(app.conf.broker_url or "")),
    }


def register_status_command() -> None:
    """Register ``configsvc_status`` with Celery's remote control (its registry is per process)."""
    from celery.worker.control import Panel, inspect_command

    if STATUS_COMMAND in Panel.data:
        return

    @inspect_command(name=STATUS_COMMAND)  # type: ignore[untyped-decorator]
    def configsvc_status(state: Any, **_: Any) -> dict[str, Any]:
        """configsvc: the fingerprint and state of the configuration this worker runs."""
        return status_of(state.consumer.app, state.hostname)
