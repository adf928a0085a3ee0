"""The ``configsvc_status`` remote-control command: which configuration a worker runs, asked over the
broker it consumes from, so it reaches every worker on every host (``configsvc fleet`` asks it).

Anyone who can use the vhost can answer a broadcast, and the fingerprint is shown unauthenticated on
``/healthz``; so every reply carries a proof that it comes from a process holding the deployment's
secrets: an HMAC over the request's nonce and the reply, keyed from the configuration's ``secret_key``
(which every process of the deployment has and no broker user needs). ``fleet`` checks it against the
``secret_key`` and ``secret_key_fallbacks`` the files hold now, so a worker that has not yet taken a new
secret key still proves itself while the old key is a fallback.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from configsvc.celery import celery_internals
from configsvc.celery.binding import Binding, Generations, binding_of
from configsvc.core.redaction import mask_url

if TYPE_CHECKING:
    from configsvc.core.config import Config

STATUS_COMMAND = "configsvc_status"
_PROOF_CONTEXT = b"configsvc fleet status proof v1"
_SIGNED = ("hostname", "pid", "fingerprint", "generation", "state", "broker")


def status_of(binding: Binding, hostname: str, nonce: str | None = None,
              consumer: Generations | None = None) -> dict[str, Any]:
    """What ``configsvc_status`` answers: hostname, pid, fingerprint, generation, state, masked broker,
    and the proof over them and ``nonce`` (None when the worker has no secret key to prove it with).

    The fingerprint is that of the configuration the process's connections use: while the consumer
    (connected under the broker and connection generations ``consumer``), a retired connection pool or
    a retired result backend still uses older settings, it is the older configuration's, so ``fleet``
    does not call revoking them safe."""
    live = binding.state
    status: dict[str, Any] = {
        "hostname": hostname,
        "pid": os.getpid(),
        "fingerprint": binding.fingerprint_in_use(consumer),
        "generation": live.generation if live is not None else None,
        "state": live.state if live is not None else None,
        "broker": mask_url(str(binding.celery.conf.broker_url or "")),
    }
    keys = proof_keys(live.config) if live is not None else []
    status["proof"] = sign(keys[0], nonce, status) if keys and nonce else None
    return status


def proof_keys(config: Config) -> list[bytes]:
    """The keys a status proof is made with: from ``secret_key`` first, then each of
    ``secret_key_fallbacks`` (a reply made with an older key still verifies during its rotation)."""
    secrets = [config.reveal("secret_key"), *(config.reveal("secret_key_fallbacks") or [])]
    return [hmac.new(_as_bytes(secret), _PROOF_CONTEXT, hashlib.sha256).digest()
            for secret in secrets if secret not in (None, "", b"")]


def sign(key: bytes, nonce: str, status: Mapping[str, Any]) -> str:
    """The proof of one reply to the request with ``nonce``."""
    message = json.dumps([nonce, *(status.get(field) for field in _SIGNED)], separators=(",", ":"),
                         default=str)
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def verified(keys: Iterable[bytes], nonce: str, status: Mapping[str, Any]) -> bool:
    """True when the reply's proof was made with one of ``keys`` for this ``nonce`` and these fields."""
    proof = status.get("proof")
    if not isinstance(proof, str):
        return False
    given = proof.encode("ascii", "replace")
    return any(hmac.compare_digest(sign(key, nonce, status).encode(), given) for key in keys)


def _as_bytes(secret: Any) -> bytes:
    return secret if isinstance(secret, bytes) else str(secret).encode("utf-8")


def register_status_command() -> None:
    """Register ``configsvc_status`` with Celery's remote control (its registry is per process)."""
    celery_internals.register_inspect_command(STATUS_COMMAND, configsvc_status, [("nonce", str)])


def configsvc_status(state: Any, nonce: str | None = None, **_: Any) -> dict[str, Any]:
    """configsvc: the fingerprint and state of the configuration this worker runs, with its proof."""
    consumer = state.consumer
    binding = binding_of(consumer.app)
    if binding is None:
        return {"hostname": state.hostname, "pid": os.getpid(), "fingerprint": None, "proof": None}
    return status_of(binding, state.hostname, nonce, getattr(consumer, "connected_generations", None))
