"""Staged rollout: with ``rollout: {mode: staged}`` a valid new file is held, not applied, until the
rollout says so; a rejected one is never applied again."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from app import create_app
from app.extensions import config
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


@pytest.fixture
def staged_file(deployment_file, tmp_path: Path) -> Path:
    return deployment_file(STAGED.format(queue=tmp_path / "q", results=tmp_path / "results"))


@pytest.fixture
def staged_app(staged_file: Path) -> Iterator[Flask]:
    """An app on a staged-mode file that reloads when asked (no watching thread: rollout messages are
    taken in a thread of their own, which the tests wait for)."""
    yield create_app(environ={"FLASK_CONFIG": str(staged_file)})


def state_of(app: Flask) -> ConfigState:
    return config.state(app)


def change_token(path: Path, new: str) -> None:
    path.write_text(path.read_text().replace("token-one-sentinel", new))


def tell(app: Flask, action: str, fingerprint: str) -> None:
    """Give the app's reloader a rollout message and wait until it was taken."""
    reloader = state_of(app).reloader
    assert reloader is not None
    assert reloader.told(action, fingerprint).wait(10)  # type: ignore[arg-type]


def test_a_valid_change_is_staged_not_applied(staged_app: Flask, staged_file: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    state = state_of(staged_app)
    running = state.fingerprint
    change_token(staged_file, "token-two-sentinel")
    with caplog.at_level(logging.INFO, logger="configsvc.reload"):
        assert state.reload() is False
    assert staged_app.config["ADMIN_TOKEN"] == "token-one-sentinel"
    assert state.fingerprint == running and state.generation == 0 and state.state == "ok"
    assert state.pending is not None and state.pending != running
    staged_line = next(r.getMessage() for r in caplog.records if "staged the configuration" in r.getMessage())
    assert "changed admin_token" in staged_line and "token-two-sentinel" not in staged_line
    body = staged_app.test_client().get("/healthz").get_json()
    assert body["pending"] == state.pending and body["fingerprint"] == running


def test_the_staged_configuration_runs_once_the_rollout_applies_it(staged_app: Flask,
                                                                   staged_file: Path) -> None:
    state = state_of(staged_app)
    before = state.fingerprint
    change_token(staged_file, "token-two-sentinel")
    state.reload()
    pending = state.pending
    assert pending is not None
    tell(staged_app, "apply", pending)
    assert staged_app.config["ADMIN_TOKEN"] == "token-two-sentinel"
    assert state.fingerprint == pending and state.pending is None and state.generation == 1
    assert "pending" not in staged_app.test_client().get("/healthz").get_json()
    # Rolled back: what ran before, and the rejected configuration is not staged again.
    tell(staged_app, "roll back", pending)
    assert staged_app.config["ADMIN_TOKEN"] == "token-one-sentinel"
    assert state.fingerprint == before and state.generation == 2
    staged_file.touch()
    state.reload()
    assert state.pending is None and state.fingerprint == before
    # A new version of the files is staged again.
    staged_file.write_text(staged_file.read_text().replace("token-two-sentinel", "token-three-sentinel"))
    state.reload()
    assert state.pending not in (None, pending)


def test_only_the_staged_fingerprint_is_applied(staged_app: Flask, staged_file: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    state = state_of(staged_app)
    change_token(staged_file, "token-two-sentinel")
    state.reload()
    with caplog.at_level(logging.WARNING, logger="configsvc.reload"):
        tell(staged_app, "apply", "0" * 64)
    assert staged_app.config["ADMIN_TOKEN"] == "token-one-sentinel" and state.pending is not None
    assert any("which is not staged here" in r.getMessage() for r in caplog.records)


def test_a_rejected_staged_configuration_is_dropped_where_it_never_ran(staged_app: Flask,
                                                                        staged_file: Path) -> None:
    state = state_of(staged_app)
    change_token(staged_file, "token-two-sentinel")
    state.reload()
    pending = state.pending
    assert pending is not None
    tell(staged_app, "roll back", pending)
    assert state.pending is None and state.generation == 0
    tell(staged_app, "apply", pending)
    assert staged_app.config["ADMIN_TOKEN"] == "token-one-sentinel"


def test_the_files_back_to_what_runs_leave_nothing_staged(staged_app: Flask, staged_file: Path) -> None:
    state = state_of(staged_app)
    change_token(staged_file, "token-two-sentinel")
    state.reload()
    assert state.pending is not None
    staged_file.write_text(staged_file.read_text().replace("token-two-sentinel", "token-one-sentinel"))
    state.reload()
    assert state.pending is None


def test_a_file_that_does_not_validate_is_refused_not_staged(staged_app: Flask, staged_file: Path) -> None:
    state = state_of(staged_app)
    staged_file.write_text(staged_file.read_text().replace("mode: staged", "mode: staged\nport: nope"))
    state.reload()
    assert state.pending is None and state.state == "stale"


def test_an_unknown_mode_is_named(deployment_file, tmp_path: Path) -> None:
    from configsvc.errors import ConfigError

    path = deployment_file(STAGED.format(queue=tmp_path / "q", results=tmp_path / "r")
                           .replace("mode: staged", "mode: canary"))
    with pytest.raises(ConfigError, match=r"rollout\.mode.*expected one of immediate, staged"):
        create_app(environ={"FLASK_CONFIG": str(path)})
