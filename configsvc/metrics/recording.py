"""What configsvc records for Prometheus, as calls any part of the library makes: ``record.reload(...)``.

``record`` is the process's one :class:`Record`. Until metrics are enabled (:func:`configsvc.metrics.
enable`) it records nothing and imports nothing: every call is one attribute lookup and an empty method.
Enabling gives it a :class:`Recorder` (:class:`configsvc.metrics.prometheus.PrometheusRecorder`), which
the calls reach from then on, in this process and in every process forked from it.

No argument is ever a configuration value: outcomes, setting names, provider names, fingerprints (which
reveal nothing) and times.
"""

from __future__ import annotations

from typing import Literal, Protocol

Outcome = Literal["applied", "refused", "unchanged"]
ConnectionKind = Literal["consumer", "publisher", "backend"]
Renewal = Literal["in_place", "switch"]
#: Where a process is in a staged rollout (``None``: nothing staged, nothing applied by a rollout).
RolloutStep = Literal["staged", "applied", "rolled_back"]
ROLLOUT_STEPS: tuple[RolloutStep, ...] = ("staged", "applied", "rolled_back")


class Recorder(Protocol):
    """Where the records go (see the table in docs/metrics.md)."""

    def reload(self, outcome: Outcome) -> None: ...

    def running(self, fingerprint: str, previous: str | None, applied_at: float) -> None: ...

    def stale(self, stale: bool) -> None: ...

    def credential_expiry(self, setting: str, provider: str, expires_at: float | None) -> None: ...

    def refresh_failed(self, setting: str, provider: str) -> None: ...

    def renewed(self, setting: str, provider: str, how: Renewal) -> None: ...

    def switched(self, connection: ConnectionKind, seconds: float) -> None: ...

    def rollout_step(self, step: RolloutStep | None) -> None: ...


class Record:
    """The calls the library makes; each goes to the recorder once metrics are enabled."""

    def __init__(self) -> None:
        self.recorder: Recorder | None = None

    def __repr__(self) -> str:
        return f"<Record to {self.recorder!r}>" if self.recorder is not None else "<Record: off>"

    @property
    def enabled(self) -> bool:
        return self.recorder is not None

    def reload(self, outcome: Outcome) -> None:
        """A reload ended: the new configuration applied, refused, or the same values (unchanged)."""
        if self.recorder is not None:
            self.recorder.reload(outcome)

    def running(self, fingerprint: str, previous: str | None, applied_at: float) -> None:
        """This process runs the configuration ``fingerprint`` since ``applied_at`` (Unix time)."""
        if self.recorder is not None:
            self.recorder.running(fingerprint, previous, applied_at)

    def stale(self, stale: bool) -> None:
        """The last change was refused (True) or the running configuration is the files' (False)."""
        if self.recorder is not None:
            self.recorder.stale(stale)

    def credential_expiry(self, setting: str, provider: str, expires_at: float | None) -> None:
        """The credential held for ``setting`` expires at ``expires_at`` (Unix time; None: never)."""
        if self.recorder is not None:
            self.recorder.credential_expiry(setting, provider, expires_at)

    def refresh_failed(self, setting: str, provider: str) -> None:
        if self.recorder is not None:
            self.recorder.refresh_failed(setting, provider)

    def renewed(self, setting: str, provider: str, how: Renewal) -> None:
        """A new credential reached the connections: in place (update-secret, AUTH) or by a switch."""
        if self.recorder is not None:
            self.recorder.renewed(setting, provider, how)

    def switched(self, connection: ConnectionKind, seconds: float) -> None:
        """A connection of ``connection``'s kind moved to new settings, ``seconds`` after they came."""
        if self.recorder is not None:
            self.recorder.switched(connection, seconds)


    def rollout_step(self, step: RolloutStep | None) -> None:
        """Staged rollout: a configuration waits (staged), runs since a rollout applied it (applied), or
        a rollout rejected it and the process went back (rolled_back); None: nothing of the kind."""
        if self.recorder is not None:
            self.recorder.rollout_step(step)


#: The process's record (see the module's docstring).
record = Record()
