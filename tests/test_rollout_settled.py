"""A process that starts while the files hold a change no rollout completed runs the settled configuration
(what ran before, or what the last rollout completed) and has the files' staged; never a half-rolled one."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest
from flask import Flask

from app import create_app
from app.extensions import config
from configsvc.crypto import document, keys
from configsvc.flask import ConfigState
from configsvc.rollout.settled import FOLDER_VARIABLE
from tests.support.staging import STAGED, tell
from tests.support.staging import change_token as change_file_token


@pytest.fixture
def records(tmp_path: Path) -> Path:
    """The folder this test's processes keep the settled configuration in."""
    return tmp_path / "rollout"


@pytest.fixture
def environ(deployment_file, tmp_path: Path, records: Path) -> dict[str, str]:
    path = deployment_file(STAGED.format(queue=tmp_path / "q", results=tmp_path / "results"))
    return {"FLASK_CONFIG": str(path), FOLDER_VARIABLE: str(records)}


def start(environ: dict[str, str], *, hears: bool = True) -> tuple[Flask, ConfigState]:
    """A process of the app (one that hears configsvc rollout, as a Celery worker does)."""
    app = create_app(environ=environ)
    state = config.state(app)
    state.hears_rollout = hears
    return app, state


def change_token(environ: dict[str, str], new: str) -> None:
    change_file_token(Path(environ["FLASK_CONFIG"]), new)


def kept_files(records: Path) -> list[Path]:
    return [path for path in records.rglob("*") if path.is_file() and path.name != ".lock"]


def test_a_process_that_starts_mid_rollout_runs_what_was_settled(environ: dict[str, str], records: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    _, running = start(environ)
    settled = running.fingerprint
    change_token(environ, "token-two-sentinel")
    running.reload()
    staged = running.pending
    assert staged is not None
    tell(running, "apply", staged)  # the canary runs it; the rollout goes on
    with caplog.at_level(logging.INFO, logger="configsvc.reload"):
        app, newcomer = start(environ)
    assert app.config["ADMIN_TOKEN"] == "token-one-sentinel"
    assert newcomer.fingerprint == settled and newcomer.pending == staged and newcomer.generation == 0
    line = next(r.getMessage() for r in caplog.records if "started on the configuration" in r.getMessage())
    assert settled[:12] in line and staged[:12] in line and "token-" not in line
    assert app.test_client().get("/healthz").get_json()["pending"] == staged
    # The rollout reaches it like any process that staged the change.
    tell(newcomer, "apply", staged)
    assert app.config["ADMIN_TOKEN"] == "token-two-sentinel" and newcomer.pending is None
    # It completed: the host keeps nothing, and a process that starts now runs the files.
    tell(running, "complete", staged)
    assert kept_files(records) == []
    app, later = start(environ)
    assert later.fingerprint == staged and later.pending is None
    assert app.config["ADMIN_TOKEN"] == "token-two-sentinel"


def test_a_change_rolled_back_is_not_staged_by_a_process_that_starts_later(
        environ: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    _, running = start(environ)
    settled = running.fingerprint
    change_token(environ, "token-two-sentinel")
    running.reload()
    rejected = running.pending
    assert rejected is not None
    tell(running, "roll back", rejected)
    with caplog.at_level(logging.INFO, logger="configsvc.reload"):
        app, newcomer = start(environ)
    assert newcomer.fingerprint == settled and newcomer.pending is None and rejected in newcomer.rejected
    assert app.config["ADMIN_TOKEN"] == "token-one-sentinel"
    assert any("one a rollout rejected" in r.getMessage() for r in caplog.records)


def test_the_files_back_to_the_settled_configuration_leave_nothing_kept(environ: dict[str, str],
                                                                       records: Path) -> None:
    _, running = start(environ)
    change_token(environ, "token-two-sentinel")
    running.reload()
    assert kept_files(records) != []
    path = Path(environ["FLASK_CONFIG"])
    path.write_text(path.read_text().replace("token-two-sentinel", "token-one-sentinel"))
    running.reload()
    assert running.pending is None and kept_files(records) == []


def test_a_rollout_completed_while_the_files_changed_again_keeps_what_it_completed(
        environ: dict[str, str]) -> None:
    _, running = start(environ)
    change_token(environ, "token-two-sentinel")
    running.reload()
    second = running.pending
    assert second is not None
    tell(running, "apply", second)
    path = Path(environ["FLASK_CONFIG"])
    path.write_text(path.read_text().replace("token-two-sentinel", "token-three-sentinel"))
    running.reload()
    third = running.pending
    tell(running, "complete", second)
    app, newcomer = start(environ)
    assert newcomer.fingerprint == second and newcomer.pending == third
    assert app.config["ADMIN_TOKEN"] == "token-two-sentinel"


def test_an_encrypted_file_is_kept_encrypted_and_private(deployment_file, tmp_path: Path,
                                                         records: Path) -> None:
    key = keys.generate()
    (tmp_path / "master.key").write_text(key + "\n")
    (tmp_path / "master.key").chmod(0o600)

    def write(token: str) -> Path:
        tree = json.loads(json.dumps({
            "secret_key": "first-secret-key", "admin_token": token, "config_reload_interval": 0,
            "rollout": {"mode": "staged"},
            "celery": {"broker_url": "filesystem://", "result_backend": f"file://{tmp_path / 'results'}",
                       "broker_transport_options": {"data_folder_in": str(tmp_path / "q"),
                                                    "data_folder_out": str(tmp_path / "q")}}}))
        sealed = document.seal(tree, keys.parse(key, "the test key"), only=r"secret_key|admin_token")
        return deployment_file(json.dumps(sealed), name="api-config.json")

    environ = {"FLASK_CONFIG": str(write("token-one-sentinel")), FOLDER_VARIABLE: str(records)}
    _, running = start(environ)
    write("token-two-sentinel")
    running.reload()
    assert running.pending is not None
    kept = kept_files(records)
    assert kept and not any(b"token-one-sentinel" in path.read_bytes() for path in kept)
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in kept)
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o700 for path in (records, kept[0].parent))
    app, newcomer = start(environ)
    assert app.config["ADMIN_TOKEN"] == "token-one-sentinel" and newcomer.pending == running.pending


def test_a_value_file_is_kept_with_the_deployment_file(environ: dict[str, str], tmp_path: Path) -> None:
    token = tmp_path / "admin-token"
    token.write_text("token-from-file-one\n")
    environ = {**environ, "APP_ADMIN_TOKEN_FILE": str(token)}
    _, running = start(environ)
    token.write_text("token-from-file-two\n")
    running.reload()
    assert running.pending is not None
    app, newcomer = start(environ)
    assert app.config["ADMIN_TOKEN"] == "token-from-file-one" and newcomer.pending == running.pending


@pytest.mark.parametrize("unsafe", ["shared", "link"])
def test_a_folder_others_could_write_is_not_used(environ: dict[str, str], records: Path, tmp_path: Path,
                                                 unsafe: str, caplog: pytest.LogCaptureFixture) -> None:
    if unsafe == "shared":
        records.mkdir(mode=0o700)
        os.chmod(records, 0o770)
    else:
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        records.symlink_to(tmp_path / "elsewhere")
    _, running = start(environ)
    with caplog.at_level(logging.WARNING, logger="configsvc.rollout"):
        change_token(environ, "token-two-sentinel")
        running.reload()
    assert running.pending is not None  # staging goes on; nothing is kept
    assert any("cannot be kept" in r.getMessage() and "mode 0700" in r.getMessage() for r in caplog.records)
    assert kept_files(tmp_path / "elsewhere" if unsafe == "link" else records) == []
    app, newcomer = start(environ)
    assert app.config["ADMIN_TOKEN"] == "token-two-sentinel" and newcomer.pending is None


def test_a_record_that_does_not_hold_together_is_ignored(environ: dict[str, str], records: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    _, running = start(environ)
    change_token(environ, "token-two-sentinel")
    running.reload()
    for path in kept_files(records):
        if path.name != "settled.json":
            path.write_bytes(path.read_bytes().replace(b"token-one", b"token-six"))
    with caplog.at_level(logging.WARNING, logger="configsvc.rollout"):
        app, _ = start(environ)
    assert app.config["ADMIN_TOKEN"] == "token-two-sentinel"
    assert any("does not hold together" in r.getMessage() for r in caplog.records)


def test_beat_which_never_hears_rollout_applies_what_it_staged_at_start(environ: dict[str, str]) -> None:
    _, running = start(environ)
    change_token(environ, "token-two-sentinel")
    running.reload()
    app, beat = start(environ, hears=False)
    assert beat.pending is not None and beat.reloader is not None
    beat.reloader.staging.never_hears()
    assert app.config["ADMIN_TOKEN"] == "token-two-sentinel" and beat.pending is None
