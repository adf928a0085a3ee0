"""The messages ``configsvc rollout`` sends a process: apply the staged configuration, roll one back, or
know that a rollout completed (the configuration is settled: :mod:`configsvc.rollout.settled`).

Anyone who can use the vhost can publish a broadcast, so a message proves it comes from someone holding
the deployment's secrets, as a fleet reply does (:mod:`configsvc.celery.proof`): an HMAC keyed from
``secret_key`` (a context of its own: a status proof is never a valid message) over the action, the
fingerprint, the process it is for, a fresh nonce and when it was made. A process acts on a message
only when the HMAC holds for one of its keys, the message is for it, is at most :data:`FRESH_SECONDS`
old (and not from the future), and its nonce is new to it: a forged, replayed or stale message changes
nothing, and is logged once. Nothing here imports Celery.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from configsvc.core.config import Config

#: The remote-control command a worker takes rollout messages with.
ROLLOUT_COMMAND = "configsvc_rollout"
_CONTEXT = b"configsvc rollout message v1"
#: How old a message may be when it arrives (clocks of one deployment agree within seconds).
FRESH_SECONDS = 30.0

Action = Literal["apply", "roll back", "complete"]
ACTIONS: tuple[Action, ...] = ("apply", "roll back", "complete")


@dataclass(frozen=True)
class Message:
    """One instruction for one process (``hostname`` and ``pid``, as fleet lists it)."""

    action: Action
    fingerprint: str
    hostname: str
    pid: int
    nonce: str
    issued_at: float
    proof: str = ""

    def fields(self) -> dict[str, Any]:
        return {"action": self.action, "fingerprint": self.fingerprint, "hostname": self.hostname,
                "pid": self.pid, "nonce": self.nonce, "issued_at": self.issued_at, "proof": self.proof}

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> Message | None:
        """The message in a command's arguments, or None when they are not one."""
        try:
            action = fields["action"]
            if action not in ACTIONS:
                return None
            return cls(action, str(fields["fingerprint"]), str(fields["hostname"]), int(fields["pid"]),
                       str(fields["nonce"]), float(fields["issued_at"]), str(fields["proof"]))
        except (KeyError, TypeError, ValueError):
            return None


def message_keys(config: Config) -> list[bytes]:
    """The keys a message is signed with: from ``secret_key`` first, then ``secret_key_fallbacks``."""
    secrets = [config.reveal("secret_key"), *(config.reveal("secret_key_fallbacks") or [])]
    return [hmac.new(_as_bytes(secret), _CONTEXT, hashlib.sha256).digest()
            for secret in secrets if secret not in (None, "", b"")]


def signed(key: bytes, message: Message) -> Message:
    return Message(**{**message.fields(), "proof": _mac(key, message)})


def _mac(key: bytes, message: Message) -> str:
    body = json.dumps([message.action, message.fingerprint, message.hostname, message.pid, message.nonce,
                       repr(float(message.issued_at))], separators=(",", ":"))
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


class Checker:
    """Whether a process should act on a message: signed, for it, fresh, and seen once."""

    def __init__(self, size: int = 1024) -> None:
        self._order: collections.deque[str] = collections.deque(maxlen=size)
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def problem(self, message: Message, keys: Iterable[bytes], hostname: str, pid: int,
                now: float | None = None) -> str | None:
        """Why the message changes nothing here (one line, no value), or None to act on it."""
        given = message.proof.encode("ascii", "replace")
        if not any(hmac.compare_digest(_mac(key, message).encode(), given) for key in keys):
            return "its proof does not hold (not made with the deployment's secret_key)"
        if (message.hostname, message.pid) != (hostname, pid):
            return f"it is for {message.hostname} pid {message.pid}"
        age = (time.time() if now is None else now) - message.issued_at
        if not -FRESH_SECONDS / 6 <= age <= FRESH_SECONDS:
            return f"it is stale (made {age:.0f} s ago)"
        with self._lock:
            if message.nonce in self._seen:
                return "it was taken once already (a replay)"
            if len(self._order) == self._order.maxlen:
                self._seen.discard(self._order[0])
            self._order.append(message.nonce)
            self._seen.add(message.nonce)
        return None


def _as_bytes(secret: Any) -> bytes:
    return secret if isinstance(secret, bytes) else str(secret).encode("utf-8")
