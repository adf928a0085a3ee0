"""End to end as a user runs it: the web app and a worker as separate processes, real HTTP.

The worker is started from another working directory than the web app; both read the same
deployment file named by FLASK_CONFIG.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support import redis_keys
from tests.support.brokers import rabbitmq_account, redis_account
from tests.support.http import http
from tests.support.processes import celery_worker, web_server


def run_two_tasks(url: str) -> None:
    status, body, headers = http("POST", url + "/task/", {"seconds": 0})
    assert status == 202, body
    assert headers["Location"] == f"/task/{body['task_id']}"
    second, body2, _ = http("POST", url + "/task/", {"seconds": 1})
    assert second == 202
    for task_id in (body["task_id"], body2["task_id"]):
        deadline = time.monotonic() + 40
        while True:
            status, state, _ = http("GET", f"{url}/task/{task_id}")
            assert status == 200
            if state["state"] == "SUCCESS":
                assert state["result"].startswith("20") and "T" in state["result"]
                break
            assert state["state"] in ("PENDING", "STARTED", "RECEIVED"), state
            assert time.monotonic() < deadline, state
            time.sleep(0.2)
    health = http("GET", url + "/healthz")[1]
    assert health == {"status": "ok", "broker": "ok", "config": "ok", "fingerprint": health["fingerprint"]}


def assert_no_secret_in_logs(tmp_path: Path, *secrets: str) -> None:
    for log in tmp_path.glob("*.log"):
        text = log.read_text()
        for secret in secrets:
            assert secret not in text, f"{secret[:4]}… in {log.name}"


def deployment(tmp_path: Path, celery_lines: str, secret_key: str = "e2e-secret-key-sentinel") -> Path:
    path = tmp_path / "api-config.yaml"
    path.write_text(f"secret_key: {secret_key}\nadmin_token: e2e-admin-sentinel\ncelery:\n{celery_lines}")
    return path


def test_end_to_end_on_the_embedded_default(tmp_path: Path) -> None:
    queue = tmp_path / "queue"
    path = deployment(tmp_path, (
        f"  broker_url: filesystem://\n  broker_transport_options:\n    data_folder_in: {queue}\n"
        f"    data_folder_out: {queue}\n  result_backend: file://{tmp_path / 'results'}\n"))
    (tmp_path / "web").mkdir()
    env = {"FLASK_CONFIG": str(path)}
    with celery_worker(env, cwd=Path("/"), log=tmp_path / "worker.log"), \
            web_server(env, cwd=tmp_path / "web", log=tmp_path / "web.log", kind="flask") as url:
        run_two_tasks(url)
    assert_no_secret_in_logs(tmp_path, "e2e-secret-key-sentinel", "e2e-admin-sentinel")


@pytest.mark.brokers
def test_end_to_end_on_rabbitmq_and_redis_with_gunicorn(tmp_path: Path) -> None:
    with rabbitmq_account() as (user, password, vhost), redis_account() as (r_user, r_password):
        path = deployment(tmp_path, (
            f"  broker_url: amqp://{user}:{password}@127.0.0.1:5672/{vhost}\n"
            f"  result_backend: redis://{r_user}:{r_password}@127.0.0.1:6379/13\n"))
        env = {"FLASK_CONFIG": str(path)}
        with celery_worker(env, cwd=Path("/"), log=tmp_path / "worker.log"), \
                web_server(env, cwd=tmp_path, log=tmp_path / "web.log", kind="gunicorn") as url:
            run_two_tasks(url)
            status, _body, _ = http("GET", url + "/config")
            assert status == 401
        assert_no_secret_in_logs(tmp_path, password, r_password, "e2e-secret-key-sentinel",
                                 "e2e-admin-sentinel")


@pytest.mark.brokers
def test_end_to_end_on_redis_alone(tmp_path: Path) -> None:
    with redis_account() as (user, password):
        url_ = f"redis://{user}:{password}@127.0.0.1:6379/14"
        path = deployment(tmp_path, f"  broker_url: {url_}\n  result_backend: {url_}\n")
        env = {"FLASK_CONFIG": str(path)}
        with celery_worker(env, cwd=Path("/"), log=tmp_path / "worker.log"), \
                web_server(env, cwd=tmp_path, log=tmp_path / "web.log", kind="flask") as url:
            run_two_tasks(url)
        assert_no_secret_in_logs(tmp_path, password, "e2e-secret-key-sentinel")


@pytest.mark.brokers
def test_broker_down_gets_503_and_the_service_recovers(tmp_path: Path) -> None:
    from tests.support.http import Forwarder

    with rabbitmq_account() as (user, password, vhost), redis_account() as (r_user, r_password):
        proxy = Forwarder(5672)
        proxy.start()
        path = deployment(tmp_path, (
            f"  broker_url: amqp://{user}:{password}@127.0.0.1:{proxy.port}/{vhost}\n"
            f"  result_backend: redis://{r_user}:{r_password}@127.0.0.1:6379/13\n"))
        env = {"FLASK_CONFIG": str(path)}
        try:
            with celery_worker(env, cwd=Path("/"), log=tmp_path / "worker.log"), \
                    web_server(env, cwd=tmp_path, log=tmp_path / "web.log", kind="flask") as url:
                run_two_tasks(url)
                proxy.stop()
                # A pooled connection cut under the web process can take one publish into the kernel's
                # buffer before the reset shows (publisher confirms are off: README "HTTP"); the
                # request after it must get 503.
                status, body, _ = http("POST", url + "/task/", {"seconds": 0}, timeout=10)
                if status == 202:
                    status, body, _ = http("POST", url + "/task/", {"seconds": 0}, timeout=10)
                assert status == 503, body
                assert body == {"error": "the task broker is unavailable; try again shortly"}
                assert http("GET", url + "/healthz", timeout=10)[0] == 503
                proxy.start()
                deadline = time.monotonic() + 60  # the worker reconnects on its own, with backoff
                while http("GET", url + "/healthz")[0] != 200:
                    assert time.monotonic() < deadline
                    time.sleep(0.5)
                run_two_tasks(url)
        finally:
            proxy.stop()
        assert_no_secret_in_logs(tmp_path, password, r_password)


@pytest.mark.brokers
def test_a_worker_killed_mid_task_loses_nothing(tmp_path: Path) -> None:
    """Late acks + reject on worker lost: SIGKILL the worker during a task; a new worker completes it."""
    import os
    import signal

    from app import create_app
    from app.tasks import sleep_then_now

    with rabbitmq_account() as (user, password, vhost), redis_account() as (r_user, r_password):
        path = deployment(tmp_path, (
            f"  broker_url: amqp://{user}:{password}@127.0.0.1:5672/{vhost}\n"
            f"  result_backend: redis://{r_user}:{r_password}@127.0.0.1:6379/13\n"
            "  task_track_started: true\n"))
        env = {"FLASK_CONFIG": str(path), **redis_keys.environ()}
        create_app(environ=env)
        with celery_worker(env, cwd=Path("/"), log=tmp_path / "worker1.log") as first:
            result = sleep_then_now.delay(4)
            deadline = time.monotonic() + 30
            while result.state != "STARTED":
                assert time.monotonic() < deadline
                time.sleep(0.1)
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
        with celery_worker(env, cwd=Path("/"), log=tmp_path / "worker2.log"):
            assert result.get(timeout=60).startswith("20")
        completed = f"Task app.tasks.sleep_then_now[{result.id}] succeeded"
        assert completed in (tmp_path / "worker2.log").read_text()


def test_python_m_app_serves_on_the_configured_port(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    from tests.support.processes import free_port, stop_process_group

    port = free_port()
    path = deployment(tmp_path, "  broker_url: memory://\n")
    path.write_text(path.read_text() + f"port: {port}\n")
    server = subprocess.Popen([sys.executable, "-m", "app"], env={**os.environ, "FLASK_CONFIG": str(path)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    assert b"<form" in response.read()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        # development says debug: true, but the debugger is only ever on with --debug
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/console", timeout=5)
            raise AssertionError("the Werkzeug debugger console answered")
        except urllib.error.HTTPError as error:
            assert error.code == 404
    finally:
        stop_process_group(server)


def test_python_m_app_refuses_the_debugger_on_a_public_address() -> None:
    from app.__main__ import is_loopback, main

    assert main(["--host", "0.0.0.0", "--debug"]) == 2
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1") and not is_loopback("example.com")


def test_beat_schedule_comes_from_the_configuration(tmp_path: Path) -> None:
    from tests.support.reference import PROJECT, probe_config

    path = probe_config(tmp_path, (
        f"  beat_schedule_filename: {tmp_path / 'beat-schedule'}\n"
        "  beat_schedule:\n    probe-every-second:\n      task: probes.config_value\n      schedule: 1.0\n"))
    env = {"FLASK_CONFIG": str(path), "PYTHONPATH": str(PROJECT)}
    with celery_worker(env, cwd=Path("/"), log=tmp_path / "worker.log", extra=("-B",)):
        deadline = time.monotonic() + 40
        log = tmp_path / "probe.log"
        while not log.exists() or log.read_text().count("success probes.config_value") < 2:
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-2000:]
            time.sleep(0.2)


def test_flask_run_reports_a_bad_configuration_without_traceback(tmp_path: Path) -> None:
    import os
    import subprocess

    from tests.support.processes import VENV_BIN

    done = subprocess.run([str(VENV_BIN / "flask"), "--app", "app", "run", "--port", "1"], cwd=tmp_path,
                          env={**os.environ, "APP_PORT": "x"}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "error: environment variable APP_PORT: port: expected an integer, got text that is not a whole "
        "number [source: environment]")
    assert "Traceback" not in done.stderr


def test_make_run_shows_each_process_the_url_and_the_task_log(tmp_path: Path) -> None:
    """``make run`` (scripts/run_dev.py): one line per process once it started, the URL once the web app
    answers it — the one the README names — then the task log; no banner, no colour codes, and one warm
    shutdown on Ctrl-C."""
    import os
    import re
    import signal
    import subprocess

    from configsvc.options import clean_environ
    from tests.support.processes import VENV_BIN, free_port
    from tests.support.reference import PROJECT, probe_config

    port = free_port()
    env = {**clean_environ(), "FLASK_CONFIG": str(probe_config(tmp_path)), "APP_PORT": str(port)}
    run = subprocess.Popen([str(VENV_BIN / "python"), "scripts/run_dev.py"], cwd=PROJECT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    shown: list[str] = []
    try:
        assert run.stdout is not None
        for line in iter(run.stdout.readline, b""):
            shown.append(line.decode())
            if "open: " in shown[-1]:
                url = shown[-1].split("open: ", 1)[1].split()[0]
                status, _, _ = http("GET", url + "healthz", timeout=2)  # at once: it must answer
                assert url == f"http://127.0.0.1:{port}/" and status == 200
                break
        else:
            raise AssertionError("".join(shown)[-2000:])
        readme_url = re.search(r"It prints the URL \(`(http://[^`]+)`\)", (PROJECT / "README.md").read_text())
        assert readme_url is not None and readme_url[1] == url.replace(f":{port}/", ":5000/"), readme_url
        status, body, _ = http("POST", url + "task/", {"seconds": 0}, timeout=10)
        assert status == 202, body
        for line in iter(run.stdout.readline, b""):
            shown.append(line.decode())
            if f"{body['task_id']}] succeeded" in shown[-1]:
                break
    finally:
        os.killpg(run.pid, signal.SIGINT)  # the terminal's Ctrl-C: this script's process group
        try:
            rest, _ = run.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(run.pid, signal.SIGUSR1)  # scripts/run_dev.py prints where each thread is
            time.sleep(1)
            tree = subprocess.run(["ps", "-o", "pid,stat,etime,wchan:24,args", "-g", str(run.pid)],
                                  capture_output=True, text=True).stdout
            os.killpg(run.pid, signal.SIGKILL)
            raise AssertionError(f"make run did not stop in 30 s after Ctrl-C:\n{tree}\n"
                                 + "".join(shown)[-4000:]) from None
    text = "".join(shown) + rest.decode()
    ours = [line for line in text.splitlines() if line.startswith(("configsvc:", "  open:"))]
    expected = ["configsvc: worker started", "configsvc: web app started", f"  open: {url}"]
    assert [line.split(" (")[0].rstrip() for line in ours] == expected, ours
    assert re.search(rf"Task app\.tasks\.sleep_then_now\[{body['task_id']}\] received", text), text
    assert "\x1b[" not in text and "Serving Flask app" not in text and "development server" not in text
    assert " -------------- celery@" not in text  # Celery's banner
    assert text.count("Warm shutdown") <= 1 and "Traceback" not in text, text[-3000:]
