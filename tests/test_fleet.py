"""The fleet: several hosts, each with its own copy of the secret, switched at different moments; beat;
and ``configsvc fleet`` saying when every worker runs what the files hold now."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.support.brokers import delete_rabbitmq_user, rabbitmq_user, rabbitmq_vhost
from tests.support.http import http
from tests.support.load import Load, assert_every_task_ran_once
from tests.support.processes import celery_beat, celery_worker, wait_for, web_process
from tests.support.reference import run_cli
from tests.support.writers import KubeletVolume
from tests.test_delivery import BEAT_TICK

pytestmark = pytest.mark.brokers


def secret_files(tmp_path: Path, broker: str, name: str) -> dict[str, bytes]:
    """One version of the Secret: the deployment file, encrypted under a master key of its own."""
    folder = tmp_path / f"make-{name}"
    folder.mkdir()
    path = folder / "api-config.yaml"
    path.write_text(f"secret_key: fleet-secret-key\nconfig_reload_interval: 0.1\ncelery:\n"
                    f"  broker_url: {broker}\n  result_backend: file://{tmp_path / 'results'}\n{BEAT_TICK}")
    assert run_cli("keygen", "--out", str(folder / "master.key")).returncode == 0
    assert run_cli("encrypt", str(path)).returncode == 0
    return {"api-config.yaml": path.read_bytes(), "master.key": (folder / "master.key").read_bytes()}


def fleet(volume: KubeletVolume, *args: str) -> tuple[int, dict[str, object]]:
    done = run_cli("fleet", "--json", *args, env={"FLASK_CONFIG": str(volume.path("api-config.yaml")),
                                                  "APP_ENV": "production"})
    return done.returncode, json.loads(done.stdout or "{}")


def test_two_hosts_switched_at_different_moments_under_load(tmp_path: Path) -> None:
    """Host A runs gunicorn -w 2, a worker and beat; host B a worker; each reads its own Secret volume,
    which kubelet swaps (file and key together) at a different moment. While B lags, ``configsvc fleet``
    says so (exit 1); ``--wait`` returns once B has switched; then the old user is revoked, and beat and the
    web processes keep publishing. Every accepted task runs once."""
    with rabbitmq_vhost() as vhost, rabbitmq_user(vhost) as (old, old_pw), \
            rabbitmq_user(vhost) as (new, new_pw):
        before = secret_files(tmp_path, f"amqp://{old}:{old_pw}@127.0.0.1:5672/{vhost}", "before")
        after = secret_files(tmp_path, f"amqp://{new}:{new_pw}@127.0.0.1:5672/{vhost}", "after")
        hosts = {name: KubeletVolume(tmp_path / f"host-{name}" / "secret", before) for name in ("a", "b")}
        envs = {name: {"FLASK_CONFIG": str(volume.path("api-config.yaml")), "APP_ENV": "production"}
                for name, volume in hosts.items()}
        logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
        with celery_worker(envs["a"], cwd=Path("/"), log=logs[0], pool=("--concurrency=2",),
                           default_startup=True, name="host-a"), \
                celery_worker(envs["b"], cwd=Path("/"), log=logs[1], default_startup=True, name="host-b"), \
                celery_beat(envs["a"], cwd=tmp_path / "host-a", log=tmp_path / "beat.log"), \
                web_process(envs["a"], cwd=tmp_path / "host-a", log=tmp_path / "web.log",
                            kind="gunicorn") as (url, _):
            code, report = fleet(hosts["a"])
            assert code == 0 and len(report["workers"]) == 2, report  # type: ignore[arg-type]
            with Load(url) as load:
                load.more(40)
                hosts["a"].update(after)  # kubelet on host A
                code, report = fleet(hosts["a"])
                assert code == 1, report  # host B still runs the old Secret
                lagging = [w["hostname"] for w in report["workers"] if not w["current"]]  # type: ignore[union-attr,index]
                assert len(lagging) == 1 and lagging[0].startswith("host-b-"), lagging
                load.more(80)
                hosts["b"].update(after)  # kubelet on host B, later
                started = time.monotonic()
                code, report = fleet(hosts["a"], "--wait", "30")
                assert code == 0, report
                print(f"\nfleet --wait returned {time.monotonic() - started:.2f} s after host B's swap")
                delete_rabbitmq_user(old)  # now safe: no worker uses it
                ticks = sum(log.read_text().count("beat-tick") for log in logs)
                wait_for(lambda: sum(log.read_text().count("beat-tick") for log in logs) > ticks + 3, 15,
                         "beat's tasks after the old user was revoked")
                load.more(40)
            assert_every_task_ran_once(load, logs, "two hosts, kubelet swaps, fleet, beat")
            assert http("GET", url + "/healthz")[1]["config"] == "ok"
        for log in [*logs, tmp_path / "beat.log", tmp_path / "web.log"]:
            text = log.read_text()
            assert old_pw not in text and new_pw not in text and "Traceback" not in text, log.name


def test_a_forged_reply_does_not_make_fleet_say_it_is_safe(tmp_path: Path, deployment_file) -> None:
    """Hardening round 3: a second Celery app on the same vhost answers ``configsvc_status`` with the
    fingerprint the files hold now while the real worker still runs the old ones. ``fleet --expect 1``
    said "safe to revoke"; now the forged reply is listed as unverified and does not count."""
    from configsvc.testing import run_celery_worker
    from tests.support.reference import PROJECT, resolve

    with rabbitmq_vhost() as vhost, rabbitmq_user(vhost) as (user, password):
        broker = f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}"
        content = {"secret_key": "fleet-secret-key", "admin_token": "one", "config_reload_interval": 0,
                   "celery": {"broker_url": broker, "result_backend": f"file://{tmp_path / 'results'}"}}
        path = deployment_file(content)
        env = {"FLASK_CONFIG": str(path)}
        with celery_worker(env, cwd=Path("/"), log=tmp_path / "worker.log", name="real"):
            code, report = fleet_of(env)
            assert code == 0 and [w["verified"] for w in report["workers"]] == [True], report
            path.write_text(path.read_text().replace("admin_token: one", "admin_token: two"))
            now = resolve(env, instance_path=tmp_path).fingerprint  # the real worker does not follow
            rogue_env = {"ROGUE_BROKER": broker, "ROGUE_FINGERPRINT": now, "PYTHONPATH": str(PROJECT)}
            with run_celery_worker("tests.rogue_worker", rogue_env, tmp_path / "rogue.log", cwd=PROJECT,
                                   args=("--pool=solo", "--without-mingle", "--without-gossip", "-n",
                                         "rogue@%h")):
                # The rogue answers once its control consumer is up (moments after "ready" under load):
                # until its reply is in, fleet asks again; none of the answers may say "safe".
                for _attempt in range(5):
                    done = run_cli("fleet", "--expect", "1", "--wait", "5", env=env)
                    assert done.returncode == 1, done.stdout + done.stderr
                    if "rogue@" in done.stderr:
                        break
                assert "1 reply could not be verified" in done.stderr and "rogue@" in done.stderr
                assert "UNVERIFIED" in done.stdout and "fleet: not yet: 1 of 1 verified" in done.stderr
                for _attempt in range(5):
                    code, report = fleet_of(env)
                    by_name = {w["hostname"].split("@")[0]: w for w in report["workers"]}
                    if "rogue" in by_name:
                        break
                assert by_name["rogue"]["verified"] is False and by_name["rogue"]["current"] is False
                assert by_name["rogue"]["fingerprint"] == now  # it claims the right fingerprint...
                assert by_name[next(n for n in by_name if n != "rogue")]["verified"] is True
                assert "proof" not in by_name["rogue"]  # ...and --json never prints proofs


def test_a_replayed_request_is_answered_once_and_counted_once(tmp_path: Path, deployment_file) -> None:
    """Hardening round 4: a client with access to the vhost only re-published fleet's broadcast; the live
    worker answered twice with valid proofs and ``fleet --expect 2`` said "all 2 verified worker(s)" while
    the other worker was hung. A worker answers a request once, and fleet counts one reply per process."""
    import os
    import signal

    from tests.support.amqp_frames import Replayer

    with rabbitmq_vhost() as vhost, rabbitmq_user(vhost) as (user, password), \
            rabbitmq_user(vhost) as (outsider, outsider_pw):
        broker = f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}"
        path = deployment_file({"secret_key": "fleet-secret-key", "config_reload_interval": 0,
                                "celery": {"broker_url": broker,
                                           "result_backend": f"file://{tmp_path / 'results'}"}})
        env = {"FLASK_CONFIG": str(path)}
        with celery_worker(env, cwd=Path("/"), log=tmp_path / "live.log", name="live"), \
                celery_worker(env, cwd=Path("/"), log=tmp_path / "hung.log", name="hung") as hung:
            code, report = fleet_of(env, "--expect", "2", "--wait", "10")
            assert code == 0 and len(report["workers"]) == 2, report
            os.killpg(hung.pid, signal.SIGSTOP)
            try:
                with Replayer(f"amqp://{outsider}:{outsider_pw}@127.0.0.1:5672/{vhost}", count=3) as replayer:
                    done = run_cli("fleet", "--expect", "2", env=env)
                    answered = run_cli("fleet", "--json", "--expect", "2", env=env)
            finally:
                os.killpg(hung.pid, signal.SIGCONT)
        assert replayer.replayed >= 3, replayer.replayed
        assert done.returncode == 1, done.stdout + done.stderr
        assert "1 verified worker(s) answered, 2 expected" in done.stderr, done.stderr
        workers = json.loads(answered.stdout)["workers"]
        assert [w["hostname"].split("@")[0].rpartition("-")[0] for w in workers] == ["live"], workers


def fleet_of(env: dict[str, str], *args: str) -> tuple[int, dict[str, list[dict[str, object]]]]:
    done = run_cli("fleet", "--json", *args, env=env)
    return done.returncode, json.loads(done.stdout or "{}")


@pytest.mark.parametrize("problem", ["down", "refused"])
def test_fleet_against_a_broker_it_cannot_use_says_so_in_one_line(tmp_path: Path, problem: str) -> None:
    """Hardening/real deployments: a broker that is down, or refuses the credentials, is exactly when a
    rotation went wrong; fleet used to end in a 60-line traceback."""
    from tests.support.processes import free_port

    broker = (f"amqp://fleet-user:not-the-password@127.0.0.1:{free_port()}//" if problem == "down"
              else "amqp://fleet-user:not-the-password@127.0.0.1:5672//")
    env = {"APP_CELERY__BROKER_URL": broker, "APP_SECRET_KEY": "fleet-secret-key"}
    done = run_cli("fleet", "--wait", "1", env=env)
    assert done.returncode == 1 and done.stdout == ""
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    expected = ("cannot be reached (connection refused)" if problem == "down"
                else "refused the credentials")
    assert "the broker at amqp://fleet-user:***@127.0.0.1:" in line and expected in line, done.stderr
    assert "Traceback" not in done.stderr and "not-the-password" not in done.stderr


def test_fleet_without_expect_says_what_it_expected(tmp_path: Path) -> None:
    with rabbitmq_vhost() as vhost, rabbitmq_user(vhost) as (user, password):
        env = {"APP_CELERY__BROKER_URL": f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}",
               "APP_SECRET_KEY": "fleet-secret-key"}
        done = run_cli("fleet", env=env)
        assert done.returncode == 1
        assert "no verified worker answered; without --expect at least one must" in done.stderr
        done = run_cli("fleet", "--expect", "2", env=env)
        assert "0 verified worker(s) answered, 2 expected (--expect 2)" in done.stderr


def test_fleet_watch_stays_through_a_rotation_and_returns_once_every_worker_switched(
        tmp_path: Path, deployment_file) -> None:
    """``fleet --watch``, started before the change, is connected already when the worker switches: it
    returns once the files changed and every worker runs them (and not before the files change)."""
    import subprocess

    from configsvc.options import clean_environ
    from tests.support.reference import PROJECT, VENV_BIN

    with rabbitmq_vhost() as vhost, rabbitmq_user(vhost) as (old, old_pw), \
            rabbitmq_user(vhost) as (new, new_pw):
        def settings(user: str, password: str) -> dict[str, object]:
            return {"secret_key": "fleet-secret-key", "config_reload_interval": 0.1,
                    "celery": {"broker_url": f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}",
                               "result_backend": f"file://{tmp_path / 'results'}"}}

        path = deployment_file(settings(old, old_pw))
        env = {"FLASK_CONFIG": str(path)}
        with celery_worker(env, cwd=Path("/"), log=tmp_path / "worker.log"):
            assert run_cli("fleet", "--expect", "1", "--wait", "10", env=env).returncode == 0
            unchanged = run_cli("fleet", "--watch", "--expect", "1", "--wait", "1", env=env)
            assert unchanged.returncode == 1, unchanged.stderr  # all current, but the files did not change
            watching = subprocess.Popen([str(VENV_BIN / "configsvc"), "fleet", "--watch", "--json",
                                         "--expect", "1", "--wait", "30"], cwd=PROJECT, text=True,
                                        env={**clean_environ(), **env}, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE)
            assert watching.stderr is not None
            assert "fleet: watching: the files hold" in watching.stderr.readline()  # connected, asking
            time.sleep(0.5)
            assert watching.poll() is None  # nothing changed yet: still watching
            deployment_file(settings(new, new_pw))
            out, err = watching.communicate(timeout=60)
            assert watching.returncode == 0, err
            (worker,) = json.loads(out)["workers"]
            assert worker["current"] and worker["fingerprint"] == json.loads(out)["fingerprint"]
            assert f"amqp://{new}:" in worker["broker"]
