"""The ``configsvc_status`` remote-control command: which configuration a worker runs, asked over the
broker it consumes from, so it reaches every worker on every host (``configsvc fleet`` asks it). Every
reply carries the proof of :mod:`configsvc.celery.proof`.
"""

from __future__ import annotations

import os
from typing import Any

from configsvc.celery import celery_internals
from configsvc.celery.binding import Binding, binding_of
from configsvc.celery.proof import STATUS_COMMAND, proof_keys, sign
from configsvc.core.redaction import mask_url


def status_of(binding: Binding, hostname: str, nonce: str | None = None) -> dict[str, Any]:
    """What ``configsvc_status`` answers: hostname, pid, fingerprint, generation, state, masked broker,
    and the proof over them and ``nonce`` (None when the worker has no secret key to prove it with).

    The fingerprint is that of the configuration the process's connections use
    (:meth:`~configsvc.celery.connections.Connections.fingerprint_in_use`): while the consumer, a
    retired connection pool or a retired result backend still uses older settings, it is the older
    configuration's, so ``fleet`` does not call revoking them safe."""
    live = binding.state
    status: dict[str, Any] = {
        "hostname": hostname,
        "pid": os.getpid(),
        "fingerprint": binding.connections.fingerprint_in_use() if live is not None else None,
        "generation": live.generation if live is not None else None,
        "state": live.state if live is not None else None,
        "broker": mask_url(str(binding.celery.conf.broker_url or "")),
        **binding.credentials_status(),
    }
    keys = proof_keys(live.config) if live is not None else []
    status["proof"] = sign(keys[0], nonce, status) if keys and nonce else None
    return status


def register_status_command() -> None:
    """Register ``configsvc_status`` with Celery's remote control (its registry is per process)."""
    celery_internals.register_inspect_command(STATUS_COMMAND, configsvc_status, [("nonce", str)])


def configsvc_status(state: Any, nonce: str | None = None, **_: Any) -> dict[str, Any]:
    """configsvc: the fingerprint and state of the configuration this worker runs, with its proof."""
    consumer = state.consumer
    binding = binding_of(consumer.app)
    if binding is None:
        return {"hostname": state.hostname, "pid": os.getpid(), "fingerprint": None, "proof": None}
    return status_of(binding, state.hostname, nonce)
