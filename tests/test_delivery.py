"""How production delivers the files: ``*_FILE`` variables (Docker and Kubernetes secrets), Kubernetes
Secret volumes swapped by kubelet, bind mounts; every swap read as one snapshot."""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from app import create_app
from configsvc import ConfigError, FileError, Secret, ValidationError
from configsvc.crypto import keys as master_keys
from configsvc.formats.mounts import is_single_file_mount
from configsvc.options import clean_environ
from tests.support.reference import VENV_BIN, resolve, run_cli
from tests.support.writers import KubeletVolume, consul_template_write

PLAIN = b"port: 8080\nsecret_key: from-the-file\nadmin_token: token-one\ncelery:\n  broker_url: memory://\n"


# --- *_FILE variables ----------------------------------------------------------------------------------


def test_a_file_variable_reads_the_value_from_its_file(deployment_file, tmp_path: Path) -> None:
    deployment_file("from-a-docker-secret\n", name="secret_key")
    deployment_file("amqp://app:s3cret@rabbit//\n\n", name="broker")  # only one newline is dropped
    deployment_file("4\n", name="prefetch")
    config = resolve({"APP_SECRET_KEY_FILE": str(tmp_path / "secret_key"),
                      "APP_CELERY__BROKER_URL_FILE": str(tmp_path / "broker"),
                      "APP_CELERY__WORKER_PREFETCH_MULTIPLIER_FILE": str(tmp_path / "prefetch")},
                     instance_path=tmp_path)
    assert config.reveal("secret_key") == "from-a-docker-secret"
    assert config.reveal("celery.broker_url") == "amqp://app:s3cret@rabbit//\n"
    assert config.reveal("celery.worker_prefetch_multiplier") == 4  # typed by the schema
    assert isinstance(config["celery.worker_prefetch_multiplier"], Secret)  # secret, whatever its key
    (entry,) = [e for e in config.entries() if e.key == "secret_key"]
    assert (entry.source, entry.origin) == ("environment", "APP_SECRET_KEY_FILE")
    assert config.explain("secret_key").winner == "environment"
    assert tmp_path / "secret_key" in config.watched_files


@pytest.mark.parametrize(("environ", "error", "message"), [
    ({"APP_SECRET_KEY": "a", "APP_SECRET_KEY_FILE": "{tmp}/value"}, ValidationError,
     "both APP_SECRET_KEY and APP_SECRET_KEY_FILE are set; keep one"),
    ({"APP_SECRET_KEY_FILE": "{tmp}/missing"}, FileError,
     "environment variable APP_SECRET_KEY_FILE: secret_key: {tmp}/missing: the file does not exist"),
    ({"APP_SECRET_KEY_FILE": "{tmp}"}, FileError, "this is a folder, not a file"),
    ({"APP_PORT_FILE": "{tmp}/value"}, ValidationError, "APP_PORT_FILE: port: expected an integer"),
])
def test_bad_file_variables(
        deployment_file, tmp_path: Path, environ: dict[str, str], error: type[ConfigError],
                            message: str) -> None:
    deployment_file("not-a-port-sentinel\n", name="value")
    environ = {name: value.format(tmp=tmp_path) for name, value in environ.items()}
    with pytest.raises(error) as caught:
        resolve(environ, instance_path=tmp_path)
    assert message.format(tmp=tmp_path) in str(caught.value)
    assert "not-a-port-sentinel" not in str(caught.value)


@pytest.mark.parametrize(("content", "value"), [
    (b"a\r\n", "a"),          # hardening round 3: came back as "a\r"
    (b"a\n", "a"),
    (b"a", "a"),
    (b"a\r\n\r\n", "a\r\n"),  # only one line ending is dropped
    (b"a\n\r\n", "a\n"),
    (b"a\r", "a\r"),          # a lone carriage return is not a line ending here
    (b"\r\n", ""),
])
def test_a_file_variable_drops_one_trailing_line_ending(tmp_path: Path, content: bytes, value: str) -> None:
    (tmp_path / "token").write_bytes(content)
    config = resolve({"APP_ADMIN_TOKEN_FILE": str(tmp_path / "token")}, instance_path=tmp_path)
    assert config.reveal("admin_token") == value


def test_a_replaced_value_file_is_reloaded_and_changes_the_fingerprint(
        deployment_file, tmp_path: Path) -> None:
    deployment = tmp_path / "api-config.yaml"
    deployment.write_bytes(PLAIN.replace(b"secret_key: from-the-file\n", b"config_reload_interval: 0\n"))
    secret = deployment_file("first-key\n", name="secret_key")
    app = create_app(environ={"FLASK_CONFIG": str(deployment), "APP_SECRET_KEY_FILE": str(secret)})
    state = app.extensions["configsvc"]
    before = state.fingerprint
    consul_template_write(secret, b"second-key\n")
    assert state.reload(force=False)
    assert app.config["SECRET_KEY"] == "second-key" and state.fingerprint != before


def test_the_fingerprint_depends_on_contents_not_paths(tmp_path: Path) -> None:
    for host in ("a", "b"):
        (tmp_path / host).mkdir()
        (tmp_path / host / "api-config.yaml").write_bytes(PLAIN)
        (tmp_path / host / "key").write_text("k\n")
    one, two = (resolve({"FLASK_CONFIG": str(tmp_path / host / "api-config.yaml"),
                         "APP_ADMIN_TOKEN_FILE": str(tmp_path / host / "key")}, instance_path=tmp_path)
                for host in ("a", "b"))
    assert one.fingerprint == two.fingerprint and len(one.fingerprint) == 32
    (tmp_path / "b" / "key").write_text("other\n")
    three = resolve({"FLASK_CONFIG": str(tmp_path / "b" / "api-config.yaml"),
                     "APP_ADMIN_TOKEN_FILE": str(tmp_path / "b" / "key")}, instance_path=tmp_path)
    assert three.fingerprint != one.fingerprint
    assert "other" not in three.fingerprint and "from-the-file" not in one.fingerprint


# --- Kubernetes Secret volumes: the file and its key swapped together -------------------------------------


def encrypted_pair(tmp_path: Path, token: str) -> dict[str, bytes]:
    """A deployment file encrypted under a new master key, and that key: one version of the Secret."""
    folder = tmp_path / f"make-{token}"
    folder.mkdir()
    (folder / "api-config.yaml").write_bytes(PLAIN.replace(b"token-one", token.encode()))
    master_keys.write_new_key_file(folder / "master.key")
    done = run_cli("encrypt", str(folder / "api-config.yaml"))
    assert done.returncode == 0, done.stderr
    files = {name: (folder / name).read_bytes() for name in ("api-config.yaml", "master.key")}
    shutil.rmtree(folder)
    return files


def test_a_kubelet_swap_of_file_and_key_together_is_never_refused(tmp_path: Path) -> None:
    """Each version is encrypted under its own master key: reading the file of one version with the key of
    the other would refuse it ("wrong master key"). Reads race the swaps; not one may be refused."""
    versions = [encrypted_pair(tmp_path, f"token-v{n}") for n in range(2)]
    volume = KubeletVolume(tmp_path / "secret", versions[0])
    environ = {"FLASK_CONFIG": str(volume.path("api-config.yaml"))}
    app = create_app(environ=environ)
    state = app.extensions["configsvc"]
    stop = threading.Event()

    def swap() -> None:
        number = 0
        while not stop.wait(0.02):  # kubelet swaps every minute or so; this is 3,000 times as often
            number += 1
            volume.update(versions[number % 2])

    swapper = threading.Thread(target=swap)
    swapper.start()
    try:
        seen = set()
        for _ in range(40):  # without snapshot reads, the first few already read a wrong pair
            state.reload(force=True)
            assert state.state == "ok", state.problem
            seen.add(app.config["ADMIN_TOKEN"])
    finally:
        stop.set()
        swapper.join()
    assert seen == {"token-v0", "token-v1"}


# --- bind mounts ------------------------------------------------------------------------------------------

MOUNTINFO = """\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
63 22 254:0 /srv/host/api-config.yaml /app/api-config.yaml rw,relatime - ext4 /dev/vda rw
64 22 254:0 /srv/host/with\\040space.yaml /app/with\\040space.yaml rw,relatime - ext4 /dev/vda rw
65 22 0:50 / /run/secrets rw,nosuid,nodev - tmpfs tmpfs rw
"""


@pytest.mark.parametrize(("path", "mounted"), [
    ("/app/api-config.yaml", True), ("/app/with space.yaml", True),
    ("/app/other.yaml", False), ("/run/secrets/broker", False),
])
def test_a_single_file_bind_mount_is_recognised_from_mountinfo(path: str, mounted: bool) -> None:
    assert is_single_file_mount(Path(path), MOUNTINFO) is mounted


def _can_bind_mount() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-m", "true"], capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(not _can_bind_mount(), reason="needs root (unshare -m) to make a real bind mount")
def test_a_real_bind_mount_warns_at_start_and_set_writes_in_place(deployment_file, tmp_path: Path) -> None:
    """A private mount namespace (``unshare -m``) with the deployment file bind-mounted onto itself from
    elsewhere, as ``docker run -v host-file:container-file`` does."""
    host = tmp_path / "host.yaml"
    host.write_bytes(PLAIN)
    mounted = deployment_file("")
    python = str(Path(VENV_BIN) / "python")
    script = (f"mount --bind {host} {mounted} && "
              f"{python} -c 'import logging; logging.basicConfig(); from app import create_app; "
              f"create_app(environ={{\"FLASK_CONFIG\": \"{mounted}\"}})' && "
              # the same app with the warning turned off says nothing
              f"{python} -c 'import logging; logging.basicConfig(); from flask import Flask; "
              "from configsvc.flask import ConfigService; "
              "ConfigService(defaults=None, warn_about_bind_mounts=False, reload_on_sighup=False).init_app("
              f"Flask(\"quiet\"), environ={{\"FLASK_CONFIG\": \"{mounted}\"}})' && "
              f"{VENV_BIN}/configsvc set {mounted} admin_token token-two")
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=60,
                          env=clean_environ(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(f"{mounted} is a single-file bind mount") == 1  # the app's one warning at start
    assert f"warning: {mounted} could not be replaced atomically" in done.stderr  # set fell back
    assert b"token-two" in host.read_bytes()  # written through the mount, in place


# --- every writer, followed by web, worker and beat -------------------------------------------------------

BEAT_TICK = "  beat_schedule:\n    tick: {task: app.tasks.echo, schedule: 0.5, args: [beat-tick]}\n"


def deployment_text(broker: str, tmp_path: Path, token: str) -> bytes:
    return (f"secret_key: conformance-secret-key\nadmin_token: {token}\nconfig_reload_interval: 0.1\n"
            f"celery:\n  broker_url: {broker}\n  result_backend: file://{tmp_path / 'results'}\n"
            + BEAT_TICK).encode()


def fleet_agrees(env: dict[str, str], wait: float = 15) -> bool:
    done = run_cli("fleet", "--wait", str(wait), env=env)
    return done.returncode == 0


@pytest.mark.brokers
def test_every_writer_is_followed_by_web_worker_and_beat(deployment_file, tmp_path: Path) -> None:
    """One running service (gunicorn -w 2, a prefork worker, beat) on a plain folder, its broker credential
    rotated by each writer in turn: consul-template's rename, an editor writing in place, ``configsvc set``;
    then its secret key rotated through an ``APP_SECRET_KEY_FILE`` file replaced. After each: the worker
    runs the files' configuration (``configsvc fleet``), the web processes publish with the new user (the
    old one revoked), and beat publishes with it too (the worker receives beat's tasks)."""
    from tests.support.brokers import delete_rabbitmq_user, rabbitmq_user, rabbitmq_vhost
    from tests.support.processes import celery_beat, celery_worker, wait_for, web_process
    from tests.support.writers import configsvc_set, edit_in_place

    with rabbitmq_vhost() as vhost:
        users = [stack_user for stack_user in [rabbitmq_user(vhost) for _ in range(4)]]
        accounts = [user.__enter__() for user in users]
        try:
            urls = [f"amqp://{name}:{password}@127.0.0.1:5672/{vhost}" for name, password in accounts]
            path = tmp_path / "api-config.yaml"
            path.write_bytes(deployment_text(urls[0], tmp_path, "token-0"))
            secret = deployment_file("first-secret-key\n", name="secret_key")
            env = {"FLASK_CONFIG": str(path), "APP_SECRET_KEY_FILE": str(secret)}
            with celery_worker(env, cwd=Path("/"), log=tmp_path / "worker.log",
                               pool=("--pool=prefork", "--concurrency=2"), default_startup=True), \
                    celery_beat(env, cwd=tmp_path, log=tmp_path / "beat.log"), \
                    web_process(env, cwd=tmp_path, log=tmp_path / "web.log", kind="gunicorn") as (url, _):
                from tests.support.http import http

                writers = [
                    ("consul-template", lambda new: consul_template_write(
                        path, deployment_text(new, tmp_path, "token-1"))),
                    ("in place", lambda new: edit_in_place(path, deployment_text(new, tmp_path, "token-2"))),
                    ("configsvc set", lambda new: configsvc_set(path, "celery.broker_url", new)),
                ]
                for number, (label, write) in enumerate(writers, start=1):
                    old_user = accounts[number - 1][0]
                    write(urls[number])
                    assert fleet_agrees(env), f"{label}: the worker did not follow"
                    beat_switches = (tmp_path / "beat.log").read_text().count("beat publishes with them")
                    wait_for(lambda n=number: (tmp_path / "beat.log").read_text().count(
                        "beat publishes with them") >= n, 10, f"{label}: beat to switch ({beat_switches})")
                    delete_rabbitmq_user(old_user)
                    for _ in range(6):  # both gunicorn workers, whichever answers
                        status, body, _ = http("POST", url + "/task/", {"seconds": 0})
                        assert status == 202, (label, body)
                    ticks = (tmp_path / "worker.log").read_text().count("beat-tick")
                    wait_for(lambda t=ticks: (tmp_path / "worker.log").read_text().count("beat-tick") > t + 2,
                             10, f"{label}: beat's tasks to arrive after the old user was revoked")

                before = http("GET", url + "/healthz")[1]["fingerprint"]
                consul_template_write(secret, b"second-secret-key\n")  # a Docker secret file replaced
                assert fleet_agrees(env), "the worker did not follow the *_FILE file"
                wait_for(lambda: http("GET", url + "/healthz")[1]["fingerprint"] != before
                         and http("GET", url + "/healthz")[1]["fingerprint"] != before, 10,
                         "the web processes to follow the *_FILE file")
                wait_for(lambda: (tmp_path / "beat.log").read_text().count("reloaded the configuration") >= 4,
                         10, "beat to follow the *_FILE file")
            for log in ("worker.log", "beat.log", "web.log"):
                text = (tmp_path / log).read_text()
                assert "Traceback" not in text and "second-secret-key" not in text, log
                assert all(password not in text for _, password in accounts), log
        finally:
            for user in users:
                user.__exit__(None, None, None)
