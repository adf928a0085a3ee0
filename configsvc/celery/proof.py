"""The proof on each ``configsvc_status`` reply: an HMAC over the request's nonce and the reply's fields.

Anyone who can use the vhost can answer a broadcast, and the fingerprint is shown unauthenticated on
``/healthz``; so a reply proves it comes from a process holding the deployment's secrets: the HMAC is
keyed from the configuration's ``secret_key`` (which every process of the deployment has and no broker
user needs). ``configsvc fleet`` checks it against the ``secret_key`` and ``secret_key_fallbacks`` the
files hold now, so a worker that has not yet taken a new secret key still proves itself while the old key
is a fallback. Nothing here imports Celery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from configsvc.core.config import Config

#: The remote-control command workers answer (:mod:`configsvc.celery.status`) and fleet asks.
STATUS_COMMAND = "configsvc_status"
_PROOF_CONTEXT = b"configsvc fleet status proof v2"
#: Every field a reply shows (``fleet`` prints them all): a field outside the proof could be changed.
SIGNED = ("hostname", "pid", "fingerprint", "generation", "state", "broker", "credentials",
          "credentials_expire_at", "credentials_lease", "credentials_losing_user", "metrics_port", "pending",
          "tasks", "requests", "rejected")


def proof_keys(config: Config) -> list[bytes]:
    """The keys a status proof is made with: from ``secret_key`` first, then each of
    ``secret_key_fallbacks`` (a reply made with an older key still verifies during its rotation)."""
    secrets = [config.reveal("secret_key"), *(config.reveal("secret_key_fallbacks") or [])]
    return [hmac.new(_as_bytes(secret), _PROOF_CONTEXT, hashlib.sha256).digest()
            for secret in secrets if secret not in (None, "", b"")]


def sign(key: bytes, nonce: str, status: Mapping[str, Any]) -> str:
    """The proof of one reply to the request with ``nonce``."""
    message = json.dumps([nonce, *(status.get(field) for field in SIGNED)], separators=(",", ":"),
                         default=str)
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def verified(keys: Iterable[bytes], nonce: str, status: Mapping[str, Any]) -> bool:
    """True when the reply's proof was made with one of ``keys`` for this ``nonce`` and these fields."""
    proof = status.get("proof")
    if not isinstance(proof, str):
        return False
    given = proof.encode("ascii", "replace")
    return any(hmac.compare_digest(sign(key, nonce, status).encode(), given) for key in keys)


def shown(status: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a reply that its proof covers (what fleet prints and counts), and the proof."""
    return {field: status[field] for field in (*SIGNED, "proof") if field in status}


def _as_bytes(secret: Any) -> bytes:
    return secret if isinstance(secret, bytes) else str(secret).encode("utf-8")
