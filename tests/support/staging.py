"""The reference app on a staged-mode deployment file, for the rollout tests that run in the test process."""

from __future__ import annotations

from pathlib import Path

from configsvc.flask import ConfigState

STAGED = """\
secret_key: first-secret-key
admin_token: token-one-sentinel
config_reload_interval: 0
rollout:
  mode: staged
celery:
  broker_url: filesystem://
  broker_transport_options: {{data_folder_in: {queue}, data_folder_out: {queue}}}
  result_backend: file://{results}
"""


def change_token(path: Path, new: str) -> None:
    """Give the file's admin_token another value (a valid change)."""
    path.write_text(path.read_text().replace("token-one-sentinel", new))


def tell(state: ConfigState, action: str, fingerprint: str) -> None:
    """Give the process's reloader a rollout message and wait until it was taken."""
    assert state.reloader is not None
    assert state.reloader.staging.told(action, fingerprint).wait(10)  # type: ignore[arg-type]
