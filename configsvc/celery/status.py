"""The ``configsvc_status`` remote-control command: which configuration a worker runs, asked over the
broker it consumes from, so it reaches every worker on every host (``configsvc fleet`` asks it). Every
reply carries the proof of :mod:`configsvc.celery.proof`.
"""

from __future__ import annotations

import collections
import os
import threading
from typing import TYPE_CHECKING, Any

from configsvc.celery import celery_internals, metrics_endpoint
from configsvc.celery.binding import Binding, binding_of
from configsvc.celery.proof import STATUS_COMMAND, proof_keys, sign
from configsvc.core.redaction import mask_url
from configsvc.rollout import outcomes

if TYPE_CHECKING:
    from celery.utils.collections import AttributeDict


def status_of(binding: Binding, hostname: str, nonce: str | None = None,
              requests: dict[str, int] | None = None) -> dict[str, Any]:
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
        # rollout.mode staged: the configuration read and waiting for configsvc rollout (None when none),
        # the fingerprints a rollout rejected here (None when none), and the tasks finished since the
        # start, which configsvc rollout compares.
        "pending": live.pending if live is not None else None,
        "rejected": sorted(live.rejected) or None if live is not None else None,
        "tasks": outcomes.snapshot(),
    }
    if requests is not None:  # a web process: the requests it served and how many got a 5xx
        status["requests"] = requests
    if metrics_endpoint.port is not None:
        status["metrics_port"] = metrics_endpoint.port
    keys = proof_keys(live.config) if live is not None else []
    status["proof"] = sign(keys[0], nonce, status) if keys and nonce else None
    return status


def register_status_command() -> None:
    """Register ``configsvc_status`` with Celery's remote control (its registry is per process)."""
    celery_internals.register_inspect_command(STATUS_COMMAND, configsvc_status, [("nonce", str)])


class _Answered:
    """The nonces of the requests this process answered lately: a request is answered once (one
    re-published by someone with access to the vhost gets no second reply)."""

    def __init__(self, size: int = 1024) -> None:
        self._order: collections.deque[str] = collections.deque(maxlen=size)
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def first(self, nonce: str) -> bool:
        with self._lock:
            if nonce in self._seen:
                return False
            if len(self._order) == self._order.maxlen:
                self._seen.discard(self._order[0])
            self._order.append(nonce)
            self._seen.add(nonce)
            return True


_ANSWERED = _Answered()


def configsvc_status(state: AttributeDict, nonce: str | None = None, **_: Any) -> dict[str, Any] | None:
    """configsvc: the fingerprint and state of the configuration this worker runs, with its proof; once
    per request (None for a request seen before)."""
    binding = binding_of(state.consumer.app)
    if binding is None:
        return {"hostname": state.hostname, "pid": os.getpid(), "fingerprint": None, "proof": None}
    return answer_status(binding, state.hostname, nonce)


def answer_status(binding: Binding, hostname: str, nonce: str | None,
                  requests: dict[str, int] | None = None) -> dict[str, Any] | None:
    """The reply to one status request: None for a request seen before (a worker's, or a web process's,
    :mod:`configsvc.celery.web_listener`)."""
    if nonce is not None and not _ANSWERED.first(str(nonce)):
        return None
    return status_of(binding, hostname, nonce, requests)
