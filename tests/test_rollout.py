"""Staged rollout: with ``rollout: {mode: staged}`` a valid new file is held, not applied, until the
rollout says so; a rejected one is never applied again."""

from __future__ import annotations

import collections
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app import create_app
from app.extensions import config
from configsvc import Config
from configsvc.celery.proof import proof_keys
from configsvc.commands.fleet import ask_workers
from configsvc.flask import ConfigState
from configsvc.options import clean_environ
from configsvc.rollout.messages import ROLLOUT_COMMAND, Checker, Message, message_keys, signed
from configsvc.rollout.settled import FOLDER_VARIABLE
from tests import catalog
from tests.catalog.tasks import checked
from tests.support.brokers import rabbitmq_account
from tests.support.processes import VENV_BIN, wait_for, web_process
from tests.support.prometheus import scrape_samples, total
from tests.support.reference import PROJECT, resolve, run_cli
from tests.support.staging import STAGED, change_token
from tests.support.staging import tell as tell_process


@pytest.fixture
def staged_file(deployment_file, tmp_path: Path) -> Path:
    return deployment_file(STAGED.format(queue=tmp_path / "q", results=tmp_path / "results"))


@pytest.fixture
def staged_app(staged_file: Path, tmp_path: Path) -> Iterator[Flask]:
    """An app on a staged-mode file that reloads when asked (no watching thread: rollout messages are
    taken in a thread of their own, which the tests wait for)."""
    app = create_app(environ={"FLASK_CONFIG": str(staged_file), FOLDER_VARIABLE: str(tmp_path / "rollout")})
    config.state(app).hears_rollout = True  # as in a Celery worker, which hears configsvc rollout
    yield app


def state_of(app: Flask) -> ConfigState:
    return config.state(app)


def tell(app: Flask, action: str, fingerprint: str) -> None:
    """Give the app's reloader a rollout message and wait until it was taken."""
    tell_process(state_of(app), action, fingerprint)


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


def test_a_process_that_does_not_hear_rollout_applies_a_change_as_it_reads_it(
        staged_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Beat, or a web process before its first request: staging there would strand it."""
    app = create_app(environ={"FLASK_CONFIG": str(staged_file), FOLDER_VARIABLE: str(tmp_path / "rollout")})
    change_token(staged_file, "token-two-sentinel")
    with caplog.at_level(logging.WARNING, logger="configsvc.reload"):
        assert state_of(app).reload()
    assert app.config["ADMIN_TOKEN"] == "token-two-sentinel" and state_of(app).pending is None
    assert any("does not hear configsvc rollout" in r.getMessage() for r in caplog.records)


def test_an_unknown_mode_is_named(deployment_file, tmp_path: Path) -> None:
    from configsvc.errors import ConfigError

    path = deployment_file(STAGED.format(queue=tmp_path / "q", results=tmp_path / "r")
                           .replace("mode: staged", "mode: canary"))
    with pytest.raises(ConfigError, match=r"rollout\.mode.*expected one of immediate, staged"):
        create_app(environ={"FLASK_CONFIG": str(path)})


def test_a_process_that_starts_no_worker_makes_no_shared_task_counts(tmp_path: Path) -> None:
    """Only a worker counts its tasks' outcomes (for rollout): a web process imports nothing for it."""
    code = ("import sys\nfrom app import create_app\ncreate_app()\n"
            "print(sorted(m for m in sys.modules if m.startswith(('ctypes', 'multiprocessing.shared'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True,
                         env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)}, check=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout


# -- the messages ----------------------------------------------------------------------------------

def message_for(*, pid: int = 42, issued_at: float | None = None,
                secret: str = "the-deployment-key") -> tuple[Message, list[bytes]]:
    keys = message_keys(resolve({"APP_ENV": "testing"}, {"secret_key": "the-deployment-key"}))
    signing = message_keys(resolve({"APP_ENV": "testing"}, {"secret_key": secret}))[0]
    message = signed(signing, Message("apply", "ab" * 16, "w1@h", pid, secrets.token_hex(16),
                                      time.time() if issued_at is None else issued_at))
    return message, keys


def test_a_signed_fresh_message_for_this_process_is_taken_once() -> None:
    message, keys = message_for()
    checker = Checker()
    assert checker.problem(message, keys, "w1@h", 42) is None
    assert checker.problem(message, keys, "w1@h", 42) == "it was taken once already (a replay)"


@pytest.mark.parametrize(("change", "problem"), [
    ({"secret": "another-key"}, "its proof does not hold"),
    ({"pid": 43}, "it is for w1@h pid 43"),
    ({"issued_at": time.time() - 120}, "it is stale"),
    ({"issued_at": time.time() + 120}, "it is stale"),
])
def test_a_forged_misdirected_or_stale_message_changes_nothing(change: dict[str, Any], problem: str) -> None:
    message, keys = message_for(**change)
    assert (Checker().problem(message, keys, "w1@h", 42) or "").startswith(problem)


def test_a_changed_field_breaks_the_proof() -> None:
    message, keys = message_for()
    for change in ({"action": "roll back"}, {"fingerprint": "cd" * 16}, {"hostname": "w2@h"},
                   {"nonce": "n"}, {"issued_at": message.issued_at + 1}):
        changed = Message(**{**message.fields(), **change})
        assert Checker().problem(changed, keys, str(changed.hostname), changed.pid) is not None, change
    assert Message.from_fields({**message.fields(), "action": "delete"}) is None
    assert Message.from_fields({"action": "apply"}) is None


# -- a fleet of real workers -----------------------------------------------------------------------

WORKERS = {"a": ("--pool=solo",), "b": ("--pool=threads", "--concurrency=2"),
           "c": ("--pool=prefork", "--concurrency=2"), "d": ("--pool=solo",)}


def catalog_file(path: Path, broker: str, *, limit: int = 10, label: str = "standard",
                 extra: str = "") -> Path:
    path.write_text(
        "secret_key: rollout-test-secret-key-0123456789\nconfig_reload_interval: 0.05\n"
        "rollout: {mode: staged}\n" + extra +
        f"feature: {{limit: {limit}, label: {label}}}\n"
        f"celery:\n  broker_url: {broker}\n  task_ignore_result: true\n")
    return path


#: The four workers and the web process.
PROCESSES = len(WORKERS) + 1


def rollout_cli(path: Path, *args: str, expect: int = PROCESSES) -> subprocess.CompletedProcess[str]:
    return run_cli("--app", "tests.catalog:create_app()", "rollout", "--expect", str(expect), *args,
                   env={"CATALOG_CONFIG": str(path)})


def fleet_statuses(path: Path, expect: int = PROCESSES) -> list[dict[str, Any]]:
    done = rollout_cli(path, "--status", "--json", expect=expect)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def every_worker(path: Path, what: str, expect: int = PROCESSES) -> bool:
    """Every process (workers and web) answers, each in state ``what`` against the files: ``runs it``,
    ``has it staged`` or ``neither`` (asked in this process, as ``configsvc rollout --status`` asks:
    the catalog app must be bound here)."""
    files = resolve_catalog({"CATALOG_CONFIG": str(path)})
    replies = [status for status in ask_workers(catalog.extensions.celery, 2.0, expect, proof_keys(files))
               if status["counted"]]

    def state(status: dict[str, Any]) -> str:
        if status.get("fingerprint") == files.fingerprint:
            return "runs it"
        return "has it staged" if status.get("pending") == files.fingerprint else "neither"

    return len(replies) == expect and all(state(status) == what for status in replies)


def enter_together(stack: ExitStack, managers: list[AbstractContextManager[Any]]) -> None:
    """Enter ``managers`` at once (each waits until its own process is ready), each left by ``stack``."""
    with ThreadPoolExecutor(len(managers)) as pool:
        entering = [pool.submit(manager.__enter__) for manager in managers]
    failures = []
    for manager, entered in zip(managers, entering, strict=True):
        if entered.exception() is None:
            stack.push(manager)
        else:
            failures.append(entered.exception())
    if failures:
        raise failures[0]  # type: ignore[misc]


@contextmanager
def catalog_fleet(tmp_path: Path, celery_worker_process: Any) -> Iterator[tuple[Path, Path]]:
    """Four workers (solo, threads, prefork, solo) and a web process (gunicorn) on a vhost of their own,
    staged mode: the deployment file, and the folder each task run leaves a file in."""
    runs = tmp_path / "runs"
    runs.mkdir()
    with rabbitmq_account() as (user, password, vhost), ExitStack() as stack:
        path = catalog_file(tmp_path / "catalog.yaml", f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}")
        env = {"CATALOG_CONFIG": str(path), FOLDER_VARIABLE: str(tmp_path / "rollout")}
        processes: list[AbstractContextManager[Any]] = [celery_worker_process(
            "tests.catalog.worker.celery", env, cwd=Path("/"), name=f"worker-{name}.log",
            args=(*pool, "--without-gossip", "--without-mingle", "-n",
                  f"{name}-{os.getpid()}@%h")) for name, pool in WORKERS.items()]
        processes.append(web_process(env, cwd=PROJECT, log=tmp_path / "web.log", kind="gunicorn", workers=1,
                                     app_spec="tests.catalog:create_app()"))
        enter_together(stack, processes)
        catalog.create_app(env)
        wait_for(lambda: every_worker(path, "runs it"), 30, "four workers and the web process to answer")
        yield path, runs


def resolve_catalog(environ: dict[str, str], **overrides: Any) -> Config:
    """The catalog's configuration from its file, as ``configsvc rollout`` resolves it."""
    return catalog.extensions.config.resolve(environ, overrides or None)


def runs_of(runs: Path) -> collections.Counter[int]:
    return collections.Counter(int(p.name.split("-")[0]) for p in runs.iterdir())


def limits_read(runs: Path, numbers: range) -> set[int]:
    """The ``feature.limit`` the runs of tasks ``numbers`` read."""
    return {int(p.name.split("-")[1]) for p in runs.iterdir() if int(p.name.split("-")[0]) in numbers}


def fleet_states(path: Path, expect: int) -> collections.Counter[str]:
    """How many processes run the files' configuration (``runs it``), have it staged, or neither."""
    files = resolve_catalog({"CATALOG_CONFIG": str(path)})
    replies = [status for status in ask_workers(catalog.extensions.celery, 2.0, expect, proof_keys(files))
               if status["counted"]]
    return collections.Counter("runs it" if status.get("fingerprint") == files.fingerprint else
                               "has it staged" if status.get("pending") == files.fingerprint else "neither"
                               for status in replies)


@pytest.mark.brokers
def test_a_harmless_change_rolls_out_in_steps(tmp_path: Path, celery_worker_process: Any) -> None:
    """In steps, every pool; a worker that starts during the rollout runs what was settled, has the change
    staged and is in the last step; once it completed, a process that starts runs it."""
    with catalog_fleet(tmp_path, celery_worker_process) as (path, runs), ExitStack() as newcomers:
        env = {"CATALOG_CONFIG": str(path), FOLDER_VARIABLE: str(tmp_path / "rollout")}
        settled = resolve_catalog(env).fingerprint
        catalog_file(path, path.read_text().split("broker_url: ")[1].split("\n")[0], limit=20)
        change = resolve_catalog(env).fingerprint
        wait_for(lambda: every_worker(path, "has it staged"), 15, "every worker to stage the change")
        # Staged is not applied: the tasks still read the old limit, in every pool.
        for number in range(8):
            checked.delay(str(runs), number)
        wait_for(lambda: len(runs_of(runs)) == 8, 30, "the tasks to run")
        assert limits_read(runs, range(8)) == {10}
        command = [str(VENV_BIN / "configsvc"), "--app", "tests.catalog:create_app()", "rollout", "--canary",
                   "1", "--steps", "50%,100%", "--bake", "1", "--expect", str(PROCESSES + 1)]
        with subprocess.Popen(command, env={**clean_environ(), **env}, cwd=PROJECT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) as rollout:
            assert rollout.stdout is not None
            canary = next(line for line in rollout.stdout if "canary: 1 process(es) run it" in line)
            os.kill(rollout.pid, signal.SIGSTOP)  # the rollout is under way, between its steps
            try:
                newcomers.enter_context(celery_worker_process(
                    "tests.catalog.worker.celery", env, cwd=Path("/"), name="worker-e.log",
                    args=("--pool=prefork", "--concurrency=1", "--without-gossip", "--without-mingle", "-n",
                          f"e-{os.getpid()}@%h")))
                wait_for(lambda: fleet_states(path, PROCESSES + 1) == {"runs it": 1, "has it staged": 5}, 15,
                         "the new worker to run what was settled, with the change staged")
                started = catalog.extensions.config.state(catalog.create_app(env))
                assert (started.fingerprint, started.pending) == (settled, change)
            finally:
                os.kill(rollout.pid, signal.SIGCONT)
            out, err = rollout.communicate(timeout=60)
        assert rollout.returncode == 0, canary + out + err
        assert "step 1: 2 process(es)" in out and "step 2: 3 process(es)" in out, out
        assert f"all {PROCESSES + 1} process(es) run fingerprint" in out and "web-" in canary + out
        assert every_worker(path, "runs it", expect=PROCESSES + 1)
        # Every process runs it, a prefork worker's pool processes too (they run the tasks).
        for number in range(8, 40):
            checked.delay(str(runs), number)
        wait_for(lambda: len(runs_of(runs)) == 40, 30, "the tasks to run")
        assert limits_read(runs, range(8, 40)) == {20}
        # Completed: the host keeps nothing, and a process that starts runs it.
        assert list((tmp_path / "rollout").rglob("settled.json")) == []
        started = catalog.extensions.config.state(catalog.create_app(env))
        assert (started.fingerprint, started.pending) == (change, None)
        fleet = run_cli("--app", "tests.catalog:create_app()", "fleet", "--expect", str(PROCESSES + 1),
                        env={"CATALOG_CONFIG": str(path)})
        assert fleet.returncode == 0, fleet.stdout + fleet.stderr


@pytest.mark.brokers
def test_a_harmful_change_fails_on_the_canary_only_and_is_rolled_back(tmp_path: Path,
                                                                     celery_worker_process: Any) -> None:
    with catalog_fleet(tmp_path, celery_worker_process) as (path, runs):
        before = [line["message"] for line in fleet_statuses(path)]
        broker = path.read_text().split("broker_url: ")[1].split("\n")[0]
        catalog_file(path, broker, label="broken")
        wait_for(lambda: every_worker(path, "has it staged"), 15, "every worker to stage the change")
        published = 0
        stop = threading.Event()

        def publish() -> None:
            nonlocal published
            while not stop.wait(0.05):
                checked.delay(str(runs), published)
                published += 1

        publisher = threading.Thread(target=publish, daemon=True)
        publisher.start()
        started = time.monotonic()
        done = rollout_cli(path, "--canary", "1", "--bake", "8", "--max-failure-ratio", "0.02")
        took = time.monotonic() - started
        print(done.stdout, done.stderr, f"rollout took {took:.2f} s")
        stop.set()
        publisher.join()
        assert done.returncode == 1, done.stdout + done.stderr
        assert "canary: tasks failed" in done.stderr and "Rolled back on 1 process(es)" in done.stderr
        assert took < 8 + 5, f"rollout took {took:.1f} s: the canary was not caught within its bake"
        wait_for(lambda: len(runs_of(runs)) == published, 30, "every published task to run")
        assert max(runs_of(runs).values()) == 1, "a task ran twice"
        # Everyone runs what ran before; the rejected configuration is staged nowhere, even when the
        # files are looked at again.
        path.touch()
        time.sleep(0.2)
        after = fleet_statuses(path)
        assert [line["message"] for line in after if "runs" in line["message"]] and \
            all("staged -" in line["message"] for line in after if line["processes"]), after
        assert all(line["message"].endswith("rejected it") for line in after if line["processes"]), after
        assert sorted(line["message"].split("  staged")[0] for line in after if line["processes"]) == \
            sorted(line.split("  staged")[0] for line in before if "pid" in line)


@pytest.mark.brokers
def test_a_canary_that_hangs_during_its_bake_stops_the_rollout(tmp_path: Path,
                                                                celery_worker_process: Any) -> None:
    with catalog_fleet(tmp_path, celery_worker_process) as (path, _):
        broker = path.read_text().split("broker_url: ")[1].split("\n")[0]
        catalog_file(path, broker, limit=30)
        wait_for(lambda: every_worker(path, "has it staged"), 15, "every worker to stage the change")
        command = [str(VENV_BIN / "configsvc"), "--app", "tests.catalog:create_app()", "rollout", "--expect",
                   str(PROCESSES), "--canary", "1", "--bake", "20"]
        with subprocess.Popen(command, env={**clean_environ(), "CATALOG_CONFIG": str(path)}, cwd=PROJECT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as rollout:
            assert rollout.stdout is not None
            applied = next(line for line in rollout.stdout if "canary: 1 process(es) run it" in line)
            canary = int(applied.rsplit("pid ", 1)[1])
            os.kill(canary, signal.SIGSTOP)  # hung: it neither answers nor works
            try:
                out, err = rollout.communicate(timeout=60)
            finally:
                os.kill(canary, signal.SIGCONT)
        assert rollout.returncode == 1, applied + out + err
        assert "1 process(es) stopped answering" in err and f"pid {canary}" in err, err
        # Back from its pause, the canary takes the rollback it was sent (fresh still) like the others.
        wait_for(lambda: every_worker(path, "neither"), 30, "the canary to roll back")


@pytest.mark.brokers
def test_gunicorn_workers_built_without_preload_hear_rollout_from_their_start(tmp_path: Path) -> None:
    with rabbitmq_account() as (user, password, vhost):
        path = catalog_file(tmp_path / "catalog.yaml", f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}")
        env = {"CATALOG_CONFIG": str(path), FOLDER_VARIABLE: str(tmp_path / "rollout")}
        catalog.create_app(env)  # only to ask the processes
        with web_process(env, cwd=PROJECT, log=tmp_path / "web.log", kind="gunicorn", workers=2,
                         app_spec="tests.catalog:create_app()", preload=False):
            wait_for(lambda: every_worker(path, "runs it", expect=2), 30, "both web processes to answer")


@pytest.mark.brokers
def test_web_processes_take_part_and_a_5xx_canary_is_rolled_back(tmp_path: Path) -> None:
    """Two gunicorn processes, no worker: a change that makes a page fail is caught on the canary by its
    5xx answers, against the other process's, and rolled back; the page works again there."""
    with rabbitmq_account() as (user, password, vhost):
        broker = f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}"
        metrics = "metrics: {enabled: true}\n"
        path = catalog_file(tmp_path / "catalog.yaml", broker, extra=metrics)
        env = {"CATALOG_CONFIG": str(path), FOLDER_VARIABLE: str(tmp_path / "rollout")}
        catalog.create_app({**env, "CATALOG_METRICS__ENABLED": "false"})  # only to ask the processes
        with web_process(env, cwd=PROJECT, log=tmp_path / "web.log", kind="gunicorn", workers=2,
                         app_spec="tests.catalog:create_app()") as (url, _):
            def load(count: int) -> collections.Counter[int]:
                answers: collections.Counter[int] = collections.Counter()
                for _ in range(count):
                    try:
                        answers[urllib.request.urlopen(url + "/feature", timeout=5).status] += 1
                    except urllib.error.HTTPError as error:
                        answers[error.code] += 1
                return answers

            # A gunicorn worker hears rollout from its start (here forked from a --preload master), not
            # from its first request: both answer, one of them before serving anything.
            wait_for(lambda: every_worker(path, "runs it", expect=2), 30, "both web processes to answer")
            files = resolve_catalog({"CATALOG_CONFIG": str(path)})
            served = [status["requests"]["served"] for status in
                      ask_workers(catalog.extensions.celery, 2.0, 2, proof_keys(files)) if status["counted"]]
            assert len(served) == 2 and min(served) == 0, served
            assert load(4)
            catalog_file(path, broker, label="broken", extra=metrics)
            wait_for(lambda: every_worker(path, "has it staged", expect=2), 15, "both to stage the change")
            assert total(scrape_samples(url + "/metrics")[0], "configsvc_rollout_step", state="staged") == 2
            assert load(20) == {200: 20}  # staged is not applied
            stop = threading.Event()
            threading.Thread(target=lambda: [load(1) for _ in iter(stop.is_set, True)], daemon=True).start()
            try:
                done = rollout_cli(path, "--canary", "1", "--bake", "8", expect=2)
            finally:
                stop.set()
            print(done.stdout, done.stderr)
            assert done.returncode == 1, done.stdout + done.stderr
            assert "canary: requests answered 5xx" in done.stderr, done.stderr
            assert load(20) == {200: 20}
            # The canary went back, the other one dropped what it had staged (one scrape, both processes).
            samples = scrape_samples(url + "/metrics")[0]
            assert [total(samples, "configsvc_rollout_step", state=state)
                    for state in ("staged", "applied", "rolled_back")] == [0, 0, 1]


@pytest.mark.brokers
def test_a_forged_or_replayed_message_changes_nothing_in_a_worker(tmp_path: Path,
                                                                   celery_worker_process: Any) -> None:
    with rabbitmq_account() as (user, password, vhost):
        broker = f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}"
        path = catalog_file(tmp_path / "catalog.yaml", broker)
        env = {"CATALOG_CONFIG": str(path), FOLDER_VARIABLE: str(tmp_path / "rollout")}
        with celery_worker_process("tests.catalog.worker.celery", env, cwd=Path("/"),
                                   args=("--pool=solo", "--without-gossip", "--without-mingle", "-n",
                                         f"solo-{os.getpid()}@%h")) as worker:
            app = catalog.create_app(env)
            wait_for(lambda: every_worker(path, "runs it", expect=1), 30, "the worker to answer")
            catalog_file(path, broker, limit=40)
            wait_for(lambda: every_worker(path, "has it staged", expect=1), 15, "the worker to stage it")
            (status,) = [line for line in fleet_statuses(path, expect=1) if line["processes"]]
            hostname, pid = status["processes"][0]["hostname"], status["processes"][0]["pid"]
            fingerprint = resolve_catalog(env).fingerprint

            def send(message: Message) -> None:
                catalog.extensions.celery.control.broadcast(
                    ROLLOUT_COMMAND, arguments={"message": message.fields()}, destination=[hostname])

            def made(action: str, secret: str) -> Message:
                key = message_keys(resolve_catalog(env, secret_key=secret))[0]
                return signed(key, Message(action, fingerprint, hostname, pid,  # type: ignore[arg-type]
                                           secrets.token_hex(16), time.time()))

            send(made("apply", "not-the-deployment-key"))
            wait_for(lambda: "changed nothing: its proof does not hold" in worker.log(), 10,
                     "the forgery logged")
            assert every_worker(path, "has it staged", expect=1)
            genuine = made("apply", "rollout-test-secret-key-0123456789")
            send(genuine)
            wait_for(lambda: every_worker(path, "runs it", expect=1), 10, "the genuine message applied")
            send(made("roll back", "rollout-test-secret-key-0123456789"))
            wait_for(lambda: every_worker(path, "neither", expect=1), 10, "the rollback")
            send(genuine)  # replayed: would apply it again, were it not rejected and seen
            wait_for(lambda: "taken once already (a replay)" in worker.log(), 10, "the replay logged")
            assert every_worker(path, "neither", expect=1)
            # A process that does not answer (one more is expected than runs) is named, not waited for.
            catalog_file(path, broker, limit=50)
            wait_for(lambda: every_worker(path, "has it staged", expect=1), 15, "the worker to stage it")
            done = rollout_cli(path, "--bake", "0", expect=2)
            assert done.returncode == 0, done.stdout + done.stderr
            assert "1 of the 2 expected processes answered" in done.stderr
            assert "all 1 process(es) run fingerprint" in done.stdout
            del app
