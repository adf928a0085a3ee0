"""configsvc's metrics in prometheus_client: the only module that imports it.

Imported only when metrics are enabled, after :func:`configsvc.metrics.folder.server_folder` named the
server's folder: every value is then kept in that folder (multiprocess mode), so one scrape of any of the
server's processes answers for all of them. How each gauge adds up across processes:

- ``configsvc_config_stale``: the highest of the live processes (1 when any of them refused a change);
- ``configsvc_config_info`` and ``configsvc_config_last_applied_timestamp_seconds``: one series per live
  process (a ``pid`` label), the info 1 for the fingerprint it runs and 0 for one it ran before;
- ``configsvc_credential_expiry_timestamp_seconds``: the earliest of the live processes;
- counters and the histogram: the sum over every process the server had.
"""

from __future__ import annotations

from pathlib import Path

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from configsvc.metrics.folder import forget_dead_processes
from configsvc.metrics.recording import ROLLOUT_STEPS, ConnectionKind, Outcome, Renewal, RolloutStep

# From a connection switched at once (a pool with nothing in flight) to a consumer waiting for a long task.
SWITCH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


def multiprocess() -> bool:
    """True when prometheus_client keeps its values in files (it was first imported with the folder set)."""
    return bool(getattr(prometheus_client.values.ValueClass, "_multiprocess", False))


class PrometheusRecorder:
    """The :class:`~configsvc.metrics.recording.Recorder` that counts in prometheus_client's metrics."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # In multiprocess mode the values live in the folder, not in a registry: registry=None keeps them
        # out of prometheus_client's default one (a scrape reads the folder).
        self.reloads = Counter("configsvc_config_reloads", "Reloads of the configuration, by outcome",
                               ["outcome"], registry=registry)
        self.stale_gauge = Gauge("configsvc_config_stale", "1 while the last change was refused",
                                 registry=registry, multiprocess_mode="livemax")
        self.applied = Gauge("configsvc_config_last_applied_timestamp_seconds",
                             "When the running configuration was applied (Unix time)",
                             registry=registry, multiprocess_mode="liveall")
        self.info = Gauge("configsvc_config_info",
                          "1, labelled with the fingerprint of the running configuration", ["fingerprint"],
                          registry=registry, multiprocess_mode="liveall")
        self.expiry = Gauge("configsvc_credential_expiry_timestamp_seconds",
                            "When the held credential expires (Unix time)", ["setting", "provider"],
                            registry=registry, multiprocess_mode="livemin")
        self.failures = Counter("configsvc_credential_refresh_failures", "Failed fetches of a credential",
                                ["setting", "provider"], registry=registry)
        self.renewals = Counter("configsvc_credential_renewals", "New credentials applied to the connections",
                                ["setting", "provider", "how"], registry=registry)
        self.switch = Histogram("configsvc_rotation_switch_seconds",
                                "From new settings to the connection switched to them", ["connection"],
                                registry=registry, buckets=SWITCH_BUCKETS)
        self.rollout = Gauge("configsvc_rollout_step",
                             "1 for where the process is in a staged rollout: staged, applied, rolled_back",
                             ["state"], registry=registry, multiprocess_mode="liveall")
        for outcome in ("applied", "refused", "unchanged"):  # every outcome is a series from the start
            self.reloads.labels(outcome)
        for step in ROLLOUT_STEPS:
            self.rollout.labels(step).set(0)

    def __repr__(self) -> str:
        return "<PrometheusRecorder>"

    def reload(self, outcome: Outcome) -> None:
        self.reloads.labels(outcome).inc()

    def running(self, fingerprint: str, previous: str | None, applied_at: float) -> None:
        if previous is not None and previous != fingerprint:
            self.info.labels(previous).set(0)  # multiprocess mode cannot remove a series
        self.info.labels(fingerprint).set(1)
        self.applied.set(applied_at)

    def stale(self, stale: bool) -> None:
        self.stale_gauge.set(1 if stale else 0)

    def credential_expiry(self, setting: str, provider: str, expires_at: float | None) -> None:
        # A credential that never expires: +Inf, so "expires within 10 minutes" never fires for it.
        self.expiry.labels(setting, provider).set(float("inf") if expires_at is None else expires_at)

    def refresh_failed(self, setting: str, provider: str) -> None:
        self.failures.labels(setting, provider).inc()

    def renewed(self, setting: str, provider: str, how: Renewal) -> None:
        self.renewals.labels(setting, provider, how).inc()

    def switched(self, connection: ConnectionKind, seconds: float) -> None:
        self.switch.labels(connection).observe(seconds)

    def rollout_step(self, step: RolloutStep | None) -> None:
        for state in ROLLOUT_STEPS:
            self.rollout.labels(state).set(1 if state == step else 0)


def recorder() -> PrometheusRecorder:
    """The recorder for this process: its values in the server's folder in multiprocess mode, else in
    prometheus_client's default registry (this process's own)."""
    return PrometheusRecorder(None if multiprocess() else prometheus_client.REGISTRY)


def scrape(folder: Path | None, accept: str | None) -> tuple[bytes, str]:
    """The metrics of every process of the server (multiprocess mode: those in ``folder``, the dead ones'
    gauges dropped first), else this process's, in the format the scraper accepts: (body, content
    type)."""
    if multiprocess() and folder is not None:
        forget_dead_processes(folder)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(folder))  # type: ignore[no-untyped-call]
    else:
        registry = prometheus_client.REGISTRY
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type
