"""Reloading a changed deployment file in a running app: good changes switch, bad ones are refused."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from app import create_app
from app.extensions import config
from configsvc import Config
from configsvc.flask import ConfigService, ConfigState
from configsvc.flask.reloader import Reloader
from tests.support.brokers import rabbitmq_account
from tests.support.rabbitmq_control import machine_node
from tests.support.reference import run_cli

GOOD = """\
port: 8080
secret_key: first-secret-key
admin_token: token-one-sentinel
config_reload_interval: {interval}
celery:
  broker_url: filesystem://
  broker_transport_options: {{data_folder_in: {queue}, data_folder_out: {queue}}}
  result_backend: file://{results}
"""


@pytest.fixture
def config_file(deployment_file, tmp_path: Path) -> Path:
    path = deployment_file(GOOD.format(interval=0, queue=tmp_path / "q", results=tmp_path / "results"))
    return path


@pytest.fixture
def live_app(config_file: Path) -> Iterator[Flask]:
    """An app built from ``config_file`` that only reloads when asked (interval 0: no thread)."""
    yield create_app(environ={"FLASK_CONFIG": str(config_file)})


def state_of(app: Flask) -> ConfigState:
    """The app's configsvc state, through the public accessor."""
    return config.state(app)


def reloader_of(app: Flask) -> Reloader:
    reloader = state_of(app).reloader
    assert reloader is not None
    return reloader


def edit(path: Path, old: str, new: str) -> None:
    """Change the file in place, as an editor without atomic saves does."""
    path.write_text(path.read_text().replace(old, new))


def replace(path: Path, old: str, new: str) -> None:
    """Write a changed copy beside the file and rename it over the file."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(path.read_text().replace(old, new))
    os.replace(temporary, path)


def set_with_cli(path: Path, old: str, new: str) -> None:
    assert old == "token-one-sentinel"
    done = run_cli("set", str(path), "admin_token", new)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("change", [edit, replace, set_with_cli],
                         ids=["in place", "replaced", "configsvc set"])
def test_a_changed_file_is_picked_up(live_app: Flask, config_file: Path,
                                     change: Callable[[Path, str, str], None]) -> None:
    state = state_of(live_app)
    assert state.reload(force=False) is False  # nothing changed yet
    change(config_file, "token-one-sentinel", "token-two-sentinel")
    assert state.reload(force=False) is True
    assert live_app.config["ADMIN_TOKEN"] == "token-two-sentinel"
    assert state_of(live_app).config.reveal("admin_token") == "token-two-sentinel"
    assert state.state == "ok" and state.generation == 1


def test_the_watching_thread_picks_up_a_change_on_its_own(tmp_path: Path, config_file: Path) -> None:
    edit(config_file, "config_reload_interval: 0", "config_reload_interval: 0.05")
    app = create_app(environ={"FLASK_CONFIG": str(config_file)})
    state = state_of(app)
    assert state.reloader.watching
    replace(config_file, "token-one-sentinel", "token-two-sentinel")
    assert state.wait_for_change(0, timeout=5)
    assert app.config["ADMIN_TOKEN"] == "token-two-sentinel"
    state.reloader.stop()
    assert not state.reloader.watching


def test_a_new_broker_retires_the_old_pool_and_rebinds_celery(live_app: Flask, config_file: Path,
                                                                tmp_path: Path) -> None:
    celery = live_app.extensions["celery"]
    old_pool = celery.pool
    edit(config_file, f"data_folder_in: {tmp_path / 'q'}", f"data_folder_in: {tmp_path / 'q2'}")
    assert state_of(live_app).reload(force=False)
    assert celery.conf.broker_transport_options["data_folder_in"] == str(tmp_path / "q2")
    assert celery.pool is not old_pool
    assert celery.binding.connections.current.broker == 1


BAD_CHANGES: list[tuple[str, Callable[[Path], None], str]] = [
    ("half-written", lambda p: p.write_text(p.read_text()[: len(p.read_text()) // 2 + 7]), "api-config.yaml"),
    ("malformed YAML", lambda p: p.write_text(p.read_text() + "celery: [\n"), "api-config.yaml:"),
    ("invalid value", lambda p: edit(p, "port: 8080", "port: 99999"), "port"),
    ("wrong type", lambda p: edit(p, "secret_key: first-secret-key", "secret_key: [a, b]"), "secret_key"),
    ("removed", lambda p: p.unlink(), "api-config.yaml"),
    ("empty", lambda p: p.write_text(""), "api-config.yaml"),
]


@pytest.mark.parametrize(("label", "spoil", "named"), BAD_CHANGES, ids=[c[0] for c in BAD_CHANGES])
def test_a_bad_change_is_refused_and_the_last_good_configuration_stays(
        live_app: Flask, config_file: Path, caplog: pytest.LogCaptureFixture,
        label: str, spoil: Callable[[Path], None], named: str) -> None:
    edit(config_file, "token-one-sentinel", "token-two-sentinel")
    state = state_of(live_app)
    assert state.reload(force=False)
    good = config_file.read_text()
    caplog.clear()
    spoil(config_file)
    with caplog.at_level(logging.WARNING, logger="configsvc.reload"):
        assert state.reload(force=False) is False
    assert state.state == "stale"
    assert live_app.config["ADMIN_TOKEN"] == "token-two-sentinel"  # the last good one
    lines = [record.getMessage() for record in caplog.records if record.name == "configsvc.reload"]
    assert len(lines) == 1, lines
    assert str(config_file) in lines[0] and named in lines[0] and "\n" not in lines[0]
    assert "sentinel" not in lines[0] and "first-secret-key" not in lines[0]
    client = live_app.test_client()
    assert client.get("/healthz").get_json()["config"] == "stale"
    assert state.reload(force=False) is False  # unchanged bad file: refused once, not logged again
    assert len([r for r in caplog.records if r.name == "configsvc.reload"]) == 1

    config_file.write_text(good)  # fixed
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="configsvc.reload"):
        state.reload(force=False)
    assert state.state == "ok"
    assert client.get("/healthz").get_json()["config"] == "ok"
    (recovered,) = [r for r in caplog.records if r.name == "configsvc.reload"]
    assert recovered.levelno == logging.INFO and "is good again" in recovered.getMessage()  # not an alert


def test_encrypted_file_wrong_key_and_tampering_are_refused(tmp_path: Path, config_file: Path) -> None:
    assert run_cli("keygen", "--out", str(tmp_path / "master.key")).returncode == 0
    done = run_cli("encrypt", str(config_file), "--only", r"secret_key|admin_token|celery\.result_backend")
    assert done.returncode == 0, done.stderr
    app = create_app(environ={"FLASK_CONFIG": str(config_file)})
    state = state_of(app)
    assert state.reloader.watched == (config_file, tmp_path / "master.key")
    good_key = (tmp_path / "master.key").read_bytes()
    good_file = config_file.read_text()

    assert run_cli("keygen", "--out", str(tmp_path / "other.key")).returncode == 0
    os.replace(tmp_path / "other.key", tmp_path / "master.key")  # the wrong key
    assert state.reload(force=False) is False and state.state == "stale"
    assert "master key" in (state.problem or "") or "decrypt" in (state.problem or "").lower()
    (tmp_path / "master.key").write_bytes(good_key)
    state.reload(force=False)
    assert state.state == "ok"

    start = good_file.index("ENC[AES256_GCM,") + len("ENC[AES256_GCM,") + 3
    flipped = "A" if good_file[start] != "A" else "B"
    config_file.write_text(good_file[:start] + flipped + good_file[start + 1:])  # tampered
    assert state.reload(force=False) is False and state.state == "stale"
    config_file.write_text(good_file)
    state.reload(force=False)
    assert state.state == "ok"
    assert app.config["ADMIN_TOKEN"] == "token-one-sentinel"


def test_sighup_forces_a_reload(live_app: Flask, config_file: Path) -> None:
    state = state_of(live_app)
    previous = signal.getsignal(signal.SIGHUP)
    try:
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        assert state.reloader.install_sighup()
        edit(config_file, "token-one-sentinel", "token-two-sentinel")
        os.kill(os.getpid(), signal.SIGHUP)
        assert state.wait_for_change(0, timeout=5)
        assert live_app.config["ADMIN_TOKEN"] == "token-two-sentinel"
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_sighup_is_left_alone_when_someone_else_handles_it(live_app: Flask) -> None:
    previous = signal.getsignal(signal.SIGHUP)
    try:
        signal.signal(signal.SIGHUP, lambda *_: None)
        assert reloader_of(live_app).install_sighup() is False
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_a_forked_child_watches_for_itself(tmp_path: Path, config_file: Path) -> None:
    edit(config_file, "config_reload_interval: 0", "config_reload_interval: 0.05")
    app = create_app(environ={"FLASK_CONFIG": str(config_file)})
    state = state_of(app)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its own thread must see a change the parent does not make
        try:
            watching = state.reloader.watching
            seen = state.wait_for_change(0, timeout=10)
            os.write(write, f"{watching} {seen} {app.config['ADMIN_TOKEN']}".encode())
        finally:
            os._exit(0)
    os.close(write)
    time.sleep(0.3)
    replace(config_file, "token-one-sentinel", "token-two-sentinel")
    os.waitpid(pid, 0)
    answer = os.read(read, 200).decode()
    os.close(read)
    assert answer == "True True token-two-sentinel"
    state.reloader.stop()


def test_secret_key_rotation_keeps_sessions_signed_with_the_old_key(live_app: Flask,
                                                                     config_file: Path) -> None:
    client = live_app.test_client()
    response = client.post("/", data={"message": "hello"})
    assert response.status_code == 303
    task_id = response.headers["Location"].rsplit("/", 1)[1]
    assert task_id.encode() in client.get("/").data  # the session names the last task

    edit(config_file, "secret_key: first-secret-key",
         "secret_key: second-secret-key\nsecret_key_fallbacks: [first-secret-key]")
    assert state_of(live_app).reload(force=False)
    assert live_app.config["SECRET_KEY"] == "second-secret-key"
    assert task_id.encode() in client.get("/").data  # the old cookie is still accepted

    edit(config_file, "secret_key_fallbacks: [first-secret-key]", "secret_key_fallbacks: []")
    assert state_of(live_app).reload(force=False)
    fresh = live_app.test_client()
    fresh.set_cookie("session", client.get_cookie("session").value)  # type: ignore[union-attr]
    assert task_id.encode() not in fresh.get("/").data  # without the fallback it is not


def rabbitmq_app(tmp_path: Path, broker_url: str) -> tuple[Path, Flask]:
    """An app on a real broker from a deployment file that only reloads when asked: (file, app)."""
    path = tmp_path / "api-config.yaml"
    path.write_text(f"config_reload_interval: 0\ncelery:\n  broker_url: {broker_url}\n")
    return path, create_app(environ={"FLASK_CONFIG": str(path)})


@pytest.mark.brokers
def test_refused_credentials_are_not_switched_to(tmp_path: Path) -> None:
    with rabbitmq_account() as (user, password, vhost):
        path, app = rabbitmq_app(tmp_path, f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}")
        state = state_of(app)
        edit(path, password, "wrong-password-sentinel")
        assert state.reload(force=False) is False and state.state == "stale"
        assert "refused" in (state.problem or "") and "wrong-password-sentinel" not in state.problem
        assert password in app.config["CELERY"]["broker_url"]
        assert app.test_client().post("/task/", json={"seconds": 0}).status_code == 202


@pytest.mark.brokers
def test_a_publish_refused_for_credentials_rereads_the_file_and_retries(tmp_path: Path) -> None:
    with rabbitmq_account() as (user, password, vhost):
        path, app = rabbitmq_app(tmp_path, f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}")
        new_password = "p" + os.urandom(12).hex()
        machine_node().change_password(user, new_password)
        edit(path, password, new_password)  # no watcher: only the refusal makes the app look
        response = app.test_client().post("/task/", json={"seconds": 0})
        assert response.status_code == 202, response.get_json()
        assert state_of(app).generation == 1


def test_a_reload_keeps_what_the_app_set_in_code(config_file: Path) -> None:
    """``flask run`` sets app.debug from its own flag; code sets Celery settings YAML cannot express."""
    from celery.schedules import crontab
    from flask.cli import ScriptInfo

    info = ScriptInfo(create_app=lambda: create_app(environ={"FLASK_CONFIG": str(config_file)}))
    app = info.load_app()  # as `flask run` loads it: debug from FLASK_DEBUG (unset: off)
    assert app.debug is False and state_of(app).config["debug"] is True  # development says true
    celery = app.extensions["celery"]
    celery.conf.task_default_queue = "set-in-code"
    celery.conf.beat_schedule = {"nightly": {"task": "app.tasks.echo", "schedule": crontab(hour=3)}}
    app.config["OWN_SETTING"] = "set-in-code"

    edit(config_file, "token-one-sentinel", "token-two-sentinel")
    assert state_of(app).reload(force=False)
    assert app.config["ADMIN_TOKEN"] == "token-two-sentinel"
    assert app.debug is False
    assert celery.conf.task_default_queue == "set-in-code"
    assert celery.conf.beat_schedule["nightly"]["schedule"] == crontab(hour=3)
    assert app.config["OWN_SETTING"] == "set-in-code"

    edit(config_file, "celery:\n", "celery:\n  task_default_queue: from-the-file\n")
    assert state_of(app).reload(force=False)
    assert celery.conf.task_default_queue == "from-the-file"  # the file now says something: it wins
    edit(config_file, "  task_default_queue: from-the-file\n", "")
    assert state_of(app).reload(force=False)
    assert celery.conf.task_default_queue == "celery"  # removed from the file: Celery's default again


def test_on_reload_hooks_run_after_a_change_is_applied(config_file: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    service = ConfigService(schema={"admin_token": str})
    seen: list[tuple[str, str]] = []

    @service.on_reload
    def broken(old: Config, new: Config) -> None:
        raise RuntimeError("a hook that fails")

    @service.on_reload
    def remember(old: Config, new: Config) -> None:
        seen.append((old.reveal("admin_token"), new.reveal("admin_token")))

    app = Flask("hooked")
    service.init_app(app, environ={"FLASK_CONFIG": str(config_file)})
    edit(config_file, "token-one-sentinel", "token-two-sentinel")
    with caplog.at_level(logging.ERROR, logger="configsvc.reload"):
        assert service.state(app).reload(force=False)
    assert seen == [("token-one-sentinel", "token-two-sentinel")]
    assert app.config["ADMIN_TOKEN"] == "token-two-sentinel"  # applied, whatever a hook did
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("configsvc: the on_reload hook ")
    assert line.endswith(".broken failed (RuntimeError)")
    assert not service.state(app).reload(force=True)  # nothing changed: no hook runs
    assert len(seen) == 1


def test_a_reload_never_goes_from_encrypted_to_plaintext_on_its_own(tmp_path: Path, config_file: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """Someone who can write the folder removes the key and writes plaintext values of their choice."""
    assert run_cli("keygen", "--out", str(tmp_path / "master.key")).returncode == 0
    plaintext = config_file.read_text()
    assert run_cli("encrypt", str(config_file)).returncode == 0
    app = create_app(environ={"FLASK_CONFIG": str(config_file)})
    assert state_of(app).config.encrypted_at_rest
    (tmp_path / "master.key").unlink()
    config_file.write_text(plaintext.replace("token-one-sentinel", "chosen-by-an-attacker"))
    with caplog.at_level(logging.ERROR, logger="configsvc.reload"):
        assert not state_of(app).reload(force=False)
    assert state_of(app).state == "stale" and app.config["ADMIN_TOKEN"] == "token-one-sentinel"
    assert "the deployment file was encrypted (configsvc) and is now plaintext: refused" in caplog.text

    opted_out = create_app(environ={"FLASK_CONFIG": str(config_file), "CONFIGSVC_ALLOW_PLAINTEXT": "1"})
    assert opted_out.config["ADMIN_TOKEN"] == "chosen-by-an-attacker"  # only where the deployment said so


def test_a_file_written_in_two_parts_is_read_once_complete(tmp_path: Path, config_file: Path) -> None:
    edit(config_file, "config_reload_interval: 0", "config_reload_interval: 0.05")
    app = create_app(environ={"FLASK_CONFIG": str(config_file)})
    full = config_file.read_text().replace("token-one-sentinel", "token-two-sentinel")
    cut = full[: full.index("token-two-sentinel") + len("token-two")]  # valid YAML, wrong value
    with open(config_file, "w") as handle:  # a writer that pauses between two writes
        handle.write(cut)
        handle.flush()
        time.sleep(0.02)
        handle.write(full[len(cut):])
    assert state_of(app).wait_for_change(0, timeout=5)
    time.sleep(0.3)
    assert app.config["ADMIN_TOKEN"] == "token-two-sentinel" and state_of(app).generation == 1


@pytest.mark.brokers
def test_a_new_broker_that_cannot_be_reached_is_not_switched_to(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """The half-written host (``...@127.0.0``, completed a second later): the working broker stays,
    /healthz says stale, the switch is tried again, and SIGHUP (a forced reload) switches anyway."""
    with rabbitmq_account() as (user, password, vhost):
        good = f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}"
        path, app = rabbitmq_app(tmp_path, good)
        edit(path, "127.0.0.1:5672", "127.0.0:5672")
        with caplog.at_level(logging.ERROR, logger="configsvc.reload"):
            assert not state_of(app).reload(force=False)
        assert state_of(app).state == "stale" and "cannot be reached while the current one can" in (
            state_of(app).problem or "")
        assert password not in caplog.text
        client = app.test_client()
        assert client.get("/healthz").get_json()["config"] == "stale"
        assert client.post("/task/", json={"seconds": 0}).status_code == 202  # still on the working one
        assert reloader_of(app).check(recheck=True) is False  # the retry: still unreachable, not logged again
        assert caplog.text.count("cannot be reached") == 1

        edit(path, "127.0.0:5672", "127.0.0.1:5672")  # completed: the same as the one in use
        assert not state_of(app).reload(force=False)
        assert state_of(app).state == "ok"

        edit(path, "127.0.0.1:5672", "127.0.0.1:9")  # a real move to a broker that is down: SIGHUP
        assert state_of(app).reload(force=True)
        assert app.config["CELERY"]["broker_url"].endswith("127.0.0.1:9/" + vhost)


# Hardening round 3: a file rewritten in place whose writer paused after broker_url was applied after the
# settle time, and the worker ran without its result backend (21 of 200 results lost).
@pytest.mark.parametrize(("cut_after", "dropped"), [
    ("broker_url:", "celery.result_backend"),
    ("celery:", "celery.broker_url or celery.result_backend"),
    ("port: 8080", "celery.broker_url or celery.result_backend or secret_key"),
])
def test_a_reload_that_drops_a_setting_the_process_needs_waits_for_the_file_to_change(
        live_app: Flask, config_file: Path, caplog: pytest.LogCaptureFixture, cut_after: str,
        dropped: str) -> None:
    full = config_file.read_text().replace("token-one-sentinel", "token-two-sentinel")
    cut = full[: full.index("\n", full.index(cut_after)) + 1]  # a writer that stopped at a line's end
    config_file.write_text(cut)
    with caplog.at_level(logging.INFO, logger="configsvc.reload"):
        assert not state_of(live_app).reload(force=False)
        assert not state_of(live_app).reload(force=False)  # unchanged since: not read again, not logged
    assert state_of(live_app).state == "stale"
    assert live_app.config["ADMIN_TOKEN"] == "token-one-sentinel"
    (line,) = [record.getMessage() for record in caplog.records]
    assert f"it has no {dropped}, which the running configuration has: taken as incomplete" in line
    config_file.write_text(full)  # the writer finishes
    assert state_of(live_app).reload(force=False)
    assert state_of(live_app).state == "ok" and live_app.config["ADMIN_TOKEN"] == "token-two-sentinel"


def test_sighup_applies_a_file_that_drops_a_setting_on_purpose(live_app: Flask, config_file: Path) -> None:
    text = config_file.read_text()
    config_file.write_text(text[: text.index("  result_backend")])  # no result backend any more, meant
    assert not state_of(live_app).reload(force=False)
    assert state_of(live_app).reload(force=True)  # what SIGHUP does
    assert state_of(live_app).state == "ok"
    assert live_app.config["CELERY"].get("result_backend") in (None, "")


def test_a_setting_that_only_came_from_defaults_is_not_kept(deployment_file, tmp_path: Path) -> None:
    """Only what a source above the defaults configured is kept: a file that never had a result
    backend reloads as usual."""
    path = deployment_file("secret_key: first\nconfig_reload_interval: 0\n")
    app = create_app(environ={"FLASK_CONFIG": str(path), "APP_ENV": "testing"})
    path.write_text("secret_key: second\nconfig_reload_interval: 0\nport: 8081\n")
    assert state_of(app).reload(force=False) and app.config["PORT"] == 8081


def test_every_reload_outcome_is_one_line_with_generation_fingerprint_and_changed_keys(
        live_app: Flask, config_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    state = state_of(live_app)

    def lines_of(change: Callable[[], None]) -> list[str]:
        caplog.clear()
        change()
        with caplog.at_level(logging.INFO, logger="configsvc.reload"):
            state.reload(force=False)
        return [r.getMessage() for r in caplog.records if r.name == "configsvc.reload"]

    first = state.fingerprint
    (applied,) = lines_of(lambda: edit(config_file, "token-one-sentinel", "token-two-sentinel"))
    assert f"generation 1, fingerprint {state.fingerprint[:12]}" in applied and state.fingerprint != first
    assert applied.endswith("changed admin_token")  # the key, never its value
    (unchanged,) = lines_of(lambda: config_file.write_text(config_file.read_text() + "# a comment\n"))
    assert "changed, its values did not (generation 1, fingerprint" in unchanged
    (refused,) = lines_of(lambda: edit(config_file, "port: 8080", "port: 99999"))
    assert "refused the new configuration" in refused and "port" in refused
    assert f"(generation 1, fingerprint {state.fingerprint[:12]})" in refused
    for line in (applied, unchanged, refused):
        assert "sentinel" not in line and "first-secret-key" not in line and "\n" not in line


def test_a_metrics_setting_read_at_start_says_so_when_it_changes(
        live_app: Flask, config_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    config_file.write_text(config_file.read_text() + "metrics: {path: /scrape-me}\n")
    with caplog.at_level(logging.INFO, logger="configsvc.reload"):
        assert state_of(live_app).reload(force=False)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith("configsvc: metrics.path changed: read when the process starts")
