"""Prometheus metrics from the processes users run: one answer for all of a gunicorn server's processes, a
prefork worker's endpoint covering its pool processes, beat's endpoint, a provider credential's expiry —
and no secret in any metric or log line."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.http import http
from tests.support.processes import (
    celery_beat,
    celery_worker,
    free_port,
    process_group,
    wait_for,
    web_process,
)
from tests.support.prometheus import Samples, scrape_samples, total

TOKEN = "metrics-token-sentinel-4d1c"
PLANTED = "planted-secret-sentinel-9e2b"


def settings_file(deployment_file, extra: str = "", port_key: str = "", port: int = 0) -> Path:  # type: ignore[no-untyped-def]
    ports = f"  {port_key}: {port}\n" if port_key else ""
    return deployment_file(
        f"secret_key: {PLANTED}-secret-key\n"
        f"api_password: {PLANTED}\n"
        f"metrics:\n  enabled: true\n  token: {TOKEN}\n{ports}" + extra)


def scrape(url: str, token: str | None = TOKEN) -> tuple[Samples, str]:
    return scrape_samples(url, token)


def pids_running(samples: Samples, fingerprint: str) -> set[str]:
    """The processes whose info says they run ``fingerprint``."""
    return {dict(labels)["pid"] for (name, labels), value in samples.items()
            if name == "configsvc_config_info" and dict(labels).get("fingerprint") == fingerprint
            and value == 1}


def reload_counts(server_pid: int) -> dict[str, list[tuple[str, float]]]:
    """The reload counters each process's file in a server's metrics folder holds (what a failure shows)."""
    from prometheus_client.mmap_dict import MmapedDict

    base = Path(tempfile.gettempdir()) / f"configsvc-metrics-{os.getuid()}"
    counts: dict[str, list[tuple[str, float]]] = {}
    for path in sorted(base.glob(f"{server_pid}-*/counter_*.db")):
        counts[path.name] = [(entry[0], entry[1]) for entry in MmapedDict.read_all_values_from_file(str(path))
                             if "reloads" in entry[0]]
    return counts


def answers(url: str) -> bool:
    try:
        scrape(url)
    except OSError:
        return False
    return True


def unauthorized(url: str, token: str | None) -> bool:
    try:
        scrape(url, token)
    except urllib.error.HTTPError as error:
        return error.code == 401
    return False


def refused_and_applied_again(url: str, path: Path, processes: int, good_again: str) -> None:
    """A bad file: every process refuses it (stale 1, the refusals of all of them summed); a good one:
    every process applies it (stale 0, each on the new fingerprint)."""
    before, _ = scrape(url)
    refused_before = total(before, "configsvc_config_reloads_total", outcome="refused")
    path.write_text(path.read_text() + "port: 99999\n")  # the reference app's port is 1 to 65535
    wait_for(lambda: total(scrape(url)[0], "configsvc_config_reloads_total", outcome="refused")
             == refused_before + processes, 15,
             lambda: f"{processes} refusals in one scrape: {scrape(url)[1]}")
    assert total(scrape(url)[0], "configsvc_config_stale") == 1
    path.write_text(good_again)
    wait_for(lambda: total(scrape(url)[0], "configsvc_config_stale") == 0, 15, "stale to go back to 0")


# -- the web app: one answer for every process of a gunicorn server -----------------------------------

@pytest.mark.parametrize("preload", [True, False], ids=["preload", "no-preload"])
def test_one_scrape_of_gunicorn_answers_for_all_its_processes(
        deployment_file, tmp_path: Path, preload: bool) -> None:
    path = settings_file(deployment_file)
    with web_process({"FLASK_CONFIG": str(path)}, cwd=tmp_path, log=tmp_path / "web.log", kind="gunicorn",
                     preload=preload) as (url, server):
        metrics = url + "/metrics"
        assert unauthorized(metrics, None) and unauthorized(metrics, "wrong-token")
        # --preload builds the app in the arbiter, which follows the file too; else each worker builds it.
        processes = len(process_group(server)) if preload else len(process_group(server)) - 1
        fingerprint = http("GET", url + "/healthz")[1]["fingerprint"]
        wait_for(lambda: len(pids_running(scrape(metrics)[0], fingerprint)) == processes, 15,
                 lambda: f"{processes} processes on {fingerprint}: {scrape(metrics)[1]}")

        good_again = path.read_text() + "# a comment: other bytes, a new fingerprint\nport: 8081\n"
        refused_and_applied_again(metrics, path, processes, good_again)
        samples, text = scrape(metrics)
        new = http("GET", url + "/healthz")[1]["fingerprint"]
        assert new != fingerprint
        assert len(pids_running(samples, new)) == processes
        assert not pids_running(samples, fingerprint)  # 0 for the one each ran before
        assert total(samples, "configsvc_config_reloads_total", outcome="applied") == processes, \
            f"{processes} processes; the reload counts in each file: {reload_counts(server.pid)}"
        assert PLANTED not in text and TOKEN not in text
    log = (tmp_path / "web.log").read_text()
    assert "refused the new configuration" in log and "changed port" in log
    assert PLANTED not in log and TOKEN not in log


# -- a worker: its main process answers for its pool processes ----------------------------------------

def test_a_prefork_worker_serves_the_metrics_of_its_pool_processes(deployment_file, tmp_path: Path) -> None:
    port = free_port()
    path = settings_file(deployment_file, port_key="worker_port", port=port)
    log = tmp_path / "worker.log"
    with celery_worker({"FLASK_CONFIG": str(path)}, cwd=tmp_path, log=log,
                       pool=("--pool=prefork", "--concurrency=2")):
        url = f"http://127.0.0.1:{port}/metrics"
        wait_for(lambda: answers(url), 20, "the worker's metrics endpoint")
        assert unauthorized(url, None)
        wait_for(lambda: len({dict(labels).get("pid") for (name, labels), _ in scrape(url)[0].items()
                              if name == "configsvc_config_info"}) == 3, 20,
                 lambda: f"the main process and 2 pool processes: {scrape(url)[1]}")
        refused_and_applied_again(url, path, 3, path.read_text() + "port: 8082\n")
        samples, text = scrape(url)
        assert total(samples, "configsvc_config_reloads_total", outcome="applied") == 3
        assert PLANTED not in text
    text = log.read_text()
    assert f"metrics on port {port}" in text
    assert PLANTED not in text and TOKEN not in text


@pytest.mark.parametrize("pool", ["solo", "threads", "gevent", "eventlet"])
def test_a_worker_serves_its_metrics_in_every_pool(deployment_file, tmp_path: Path, pool: str) -> None:
    port = free_port()
    path = settings_file(deployment_file, port_key="worker_port", port=port)
    with celery_worker({"FLASK_CONFIG": str(path)}, cwd=tmp_path, log=tmp_path / "worker.log",
                       pool=(f"--pool={pool}", "--concurrency=2")) as worker:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_for(lambda: answers(url), 20, "the worker's metrics endpoint")
        samples, _ = scrape(url)
        assert {dict(labels)["pid"] for (name, labels), _ in samples.items()
                if name == "configsvc_config_info"} == {str(worker.pid)}  # one process: the worker
        refused_and_applied_again(url, path, 1, path.read_text() + "port: 8084\n")


def test_workers_on_one_host_take_the_next_free_port_of_the_range(deployment_file, tmp_path: Path) -> None:
    taken = free_port()
    path = settings_file(deployment_file, port_key="worker_port", port=0).read_text()
    path_file = deployment_file(path.replace("worker_port: 0", f"worker_port: {taken}-{taken + 1}"))
    import socket

    with socket.socket() as holder:  # another worker's endpoint
        holder.bind(("", taken))
        holder.listen()
        with celery_worker({"FLASK_CONFIG": str(path_file)}, cwd=tmp_path, log=tmp_path / "worker.log"):
            wait_for(lambda: answers(f"http://127.0.0.1:{taken + 1}/"), 20, "the endpoint on the next port")
        with celery_worker({"FLASK_CONFIG": str(deployment_file(
                path.replace("worker_port: 0", f"worker_port: {taken}"), name="one-port.yaml"))},
                cwd=tmp_path, log=tmp_path / "busy.log", name="busy"):
            wait_for(lambda: "metrics not served: port" in (tmp_path / "busy.log").read_text(), 20,
                     "one error line")
    assert f"metrics on port {taken + 1}" in (tmp_path / "worker.log").read_text()


# -- beat ---------------------------------------------------------------------------------------------

def test_beat_serves_its_metrics(deployment_file, tmp_path: Path) -> None:
    port = free_port()
    path = settings_file(deployment_file, port_key="beat_port", port=port)
    with celery_beat({"FLASK_CONFIG": str(path)}, cwd=tmp_path, log=tmp_path / "beat.log") as beat:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_for(lambda: answers(url), 20, "beat's metrics endpoint")
        samples, _ = scrape(url)
        assert {dict(labels)["pid"] for (name, labels), _ in samples.items()
                if name == "configsvc_config_info"} == {str(beat.pid)}
        refused_and_applied_again(url, path, 1, path.read_text() + "port: 8083\n")


# -- a provider's credential --------------------------------------------------------------------------

def test_a_provider_credential_expiry_is_a_timestamp(deployment_file, tmp_path: Path) -> None:
    program = tmp_path / "issue"
    program.write_text(f"#!/bin/sh\necho '{json.dumps({'password': PLANTED, 'expires_in': 900})}'\n")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    path = settings_file(deployment_file, extra=(
        "celery:\n  broker_url: amqp://worker@127.0.0.1:5672//\n"
        f"credentials:\n  broker_url:\n    provider: command\n    command: [{program}]\n"))
    asked = time.time()
    with web_process({"FLASK_CONFIG": str(path)}, cwd=tmp_path, log=tmp_path / "web.log") as (url, _):
        samples, text = scrape(url + "/metrics")
    expires = total(samples, "configsvc_credential_expiry_timestamp_seconds", setting="broker_url",
                    provider="command")
    assert asked + 900 - 5 < expires < time.time() + 900 + 5
    assert total(samples, "configsvc_credential_refresh_failures_total") == 0
    assert PLANTED not in text and PLANTED not in (tmp_path / "web.log").read_text()


# -- off, and on without the extra --------------------------------------------------------------------

def test_disabled_metrics_import_nothing(tmp_path: Path) -> None:
    code = ("import sys\nfrom app import create_app\ncreate_app()\n"
            "print(sorted(m for m in sys.modules\n"
            "             if m.startswith(('prometheus_client', 'configsvc.metrics.'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)}, check=True, timeout=60)
    assert out.stdout.strip() == "['configsvc.metrics.recording']"


def test_enabled_without_the_extra_says_what_to_install(deployment_file, tmp_path: Path) -> None:
    path = settings_file(deployment_file)
    # As on a machine without the extra: Python finds no prometheus_client (None in sys.modules).
    code = ("import sys\nsys.modules['prometheus_client'] = None\n"
            "from configsvc.commands.cli import main\nmain(['check'])\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "FLASK_CONFIG": str(path),
                              "FLASK_APP": "app"}, timeout=60)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "metrics.enabled: metrics need the Prometheus client: pip install 'configsvc[metrics]'" in \
        out.stdout + out.stderr
    assert "Traceback" not in out.stderr and PLANTED not in out.stderr + out.stdout


def test_a_server_folder_goes_with_its_server_and_a_reused_pid_does_not_inherit_it(tmp_path: Path) -> None:
    from configsvc.metrics.folder import remove_gone_servers, server_name

    running = server_name(os.getpid())
    assert running.startswith(f"{os.getpid()}-")  # Linux: with the start time
    exited = subprocess.Popen(["true"])
    exited.wait()
    for name in (running, f"{exited.pid}-1", f"{os.getpid()}-1", "not-a-server"):
        (tmp_path / name).mkdir()
    remove_gone_servers(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([running, "not-a-server"])
