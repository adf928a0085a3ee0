"""Short-lived credentials without a broker: the section's checks, each provider's answers and failures,
the refresh schedule, what ``show``, ``explain`` and ``/healthz`` say — and that no value leaks."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import random
import re
import signal
import stat
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, quote

import pytest

from app import create_app
from configsvc import ConfigError
from configsvc.celery.renewal import ProvidedPassword
from configsvc.core.redaction import Secret
from configsvc.credentials import (
    Credential,
    CredentialExpired,
    CredentialProvider,
    FetchFailed,
    register_provider,
)
from configsvc.credentials.aws_iam import AwsIamProvider
from configsvc.credentials.base import PROVIDERS
from configsvc.credentials.command import CommandProvider
from configsvc.credentials.python import REDIS_PROVIDER_RECHECK, PythonProvider
from configsvc.credentials.redis_stream import RedisStreamingProvider
from configsvc.credentials.refresh import ManagedCredential, refresh_delay, retry_delay
from tests.support import providers
from tests.support.reference import resolve, run_cli

TOKEN = "token-sentinel-never-shown"


def issuer(tmp_path: Path, body: str, name: str = "issue-token", exit_status: int = 0) -> Path:
    """A ``command`` provider's program: prints ``body`` (and a secret on stderr), exits as told."""
    program = tmp_path / name
    program.write_text(f"#!/bin/sh\necho 'stderr-sentinel {TOKEN}' >&2\ncat <<'END'\n{body}\nEND\n"
                       f"exit {exit_status}\n")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return program


def provided_file(deployment_file, program: Path, broker: str = "amqp://worker@127.0.0.1:5672//",  # type: ignore[no-untyped-def]
                  extra: str = "") -> Path:
    return deployment_file(
        "secret_key: credentials-test-secret-key-0123456789\n"
        f"celery:\n  broker_url: {broker}\n"
        f"credentials:\n  broker_url:\n    provider: command\n    command: [{program}]\n    timeout: 2\n"
        + extra)


# -- the section is checked with every other rule ---------------------------------------------------

def test_a_url_with_a_password_and_a_provider_is_refused(deployment_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = provided_file(deployment_file, issuer(tmp_path, "{}"), broker="amqp://worker:pw-sentinel@h:5672//")
    with pytest.raises(ConfigError) as caught:
        resolve({"FLASK_CONFIG": str(path)})
    message = str(caught.value)
    assert f"{path}:3: celery.broker_url: carries a password and credentials.broker_url names a provider" \
        in message
    assert "pw-sentinel" not in message


def test_unknown_provider_option_and_setting(deployment_file) -> None:  # type: ignore[no-untyped-def]
    path = deployment_file(
        "celery:\n  broker_url: amqp://h//\n  result_backend: db+sqlite:///r.db\n"
        "credentials:\n"
        "  broker_url: {provider: comand}\n"
        "  result_backend: {provider: oauth2, token_url: x, client_id: y, clientsecret: z}\n"
        "  beat_dburi: {provider: command, command: [x]}\n")
    with pytest.raises(ConfigError) as caught:
        resolve({"FLASK_CONFIG": str(path)})
    problems = [str(problem) for problem in caught.value.problems]
    assert any(":5: credentials.broker_url.provider: unknown provider 'comand'; use one of: aws_iam, "
               "command, oauth2, python" in p for p in problems), problems
    assert any(":6: credentials.result_backend.clientsecret: is not an option of the oauth2 provider" in p
               for p in problems), problems
    assert any("credentials.result_backend: the oauth2 provider needs client_secret" in p for p in problems)
    assert any(":3: celery.result_backend: a provider's credentials work with redis:// or rediss:// URLs, "
               "not db+sqlite://" in p for p in problems), problems
    assert any(":7: credentials.beat_dburi: a provider can give the credentials of broker_url or "
               "result_backend only" in p for p in problems), problems


def test_a_missing_extra_names_the_pip_install(deployment_file) -> None:  # type: ignore[no-untyped-def]
    class NeedsALibrary(CredentialProvider):
        name = "needs_library"
        library = "configsvc_test_no_such_library"
        extra = "no-such-extra"

        def fetch(self) -> Credential:
            raise AssertionError("never built")

    register_provider("needs_library", NeedsALibrary)
    try:
        path = deployment_file("celery:\n  broker_url: amqp://h//\n"
                               "credentials:\n  broker_url: {provider: needs_library}\n")
        with pytest.raises(ConfigError) as caught:
            resolve({"FLASK_CONFIG": str(path)})
        assert ("credentials.broker_url.provider: the needs_library provider needs "
                "configsvc_test_no_such_library, which is not installed; run: pip install "
                "'configsvc[no-such-extra]'") in str(caught.value)
    finally:
        del PROVIDERS["needs_library"]


def test_variables_configure_a_provider(tmp_path: Path) -> None:
    program = issuer(tmp_path, json.dumps({"password": TOKEN, "expires_in": 900}))
    config = resolve({"APP_CELERY__BROKER_URL": "amqp://w@h//",
                      "APP_CREDENTIALS__BROKER_URL__PROVIDER": "command",
                      "APP_CREDENTIALS__BROKER_URL__COMMAND": str(program)})
    entry = {e.key: e for e in config.entries()}["credentials.broker_url.provider"]
    assert (entry.value, entry.origin) == ("command", "APP_CREDENTIALS__BROKER_URL__PROVIDER")


# -- the command provider -----------------------------------------------------------------------------

def command(tmp_path: Path, body: str, exit_status: int = 0, timeout: float = 2) -> CommandProvider:
    return CommandProvider("broker_url", {"command": [str(issuer(tmp_path, body, exit_status=exit_status))],
                                          "timeout": timeout}, {"PATH": "/usr/bin:/bin"})


def test_command_reads_password_user_and_expiry(tmp_path: Path) -> None:
    got = command(tmp_path, json.dumps({"password": TOKEN, "username": "svc",
                                        "expires_at": "2030-01-02T03:04:05Z"})).fetch()
    assert (got.password.reveal(), got.username, got.expires_at) == (
        TOKEN, "svc", datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))
    got = command(tmp_path, json.dumps({"password": TOKEN, "expires_in": 60})).fetch()
    assert got.username is None and timedelta(seconds=59) < got.lifetime <= timedelta(seconds=60)
    assert command(tmp_path, json.dumps({"password": TOKEN})).fetch().expires_at is None
    assert TOKEN not in repr(got)


@pytest.mark.parametrize(("body", "exit_status", "reason"), [
    ("{}", 3, "exited with status 3"),
    (f"not json {TOKEN}", 0, "printed no JSON object"),
    (json.dumps([TOKEN]), 0, "printed JSON that is not an object"),
    (json.dumps({"username": "svc"}), 0, "printed no password"),
    (json.dumps({"password": TOKEN, "expires_at": "tomorrow"}), 0, "expires_at is not an ISO 8601 time"),
])
def test_command_failures_name_the_reason_never_the_value(tmp_path: Path, body: str, exit_status: int,
                                                          reason: str) -> None:
    with pytest.raises(FetchFailed) as caught:
        command(tmp_path, body, exit_status).fetch()
    assert reason in str(caught.value)
    assert TOKEN not in str(caught.value)


# Hardening round 4: what a hostile or broken program prints. Each was a traceback (RecursionError,
# ValueError, OverflowError) in `configsvc check`, create_app(), gunicorn and the worker.
def with_password(fields: str) -> str:
    """A JSON object with the test's password and ``fields`` as written (numbers JSON cannot hold)."""
    return '{"password": "' + TOKEN + '", ' + fields + "}"


HOSTILE_OUTPUT = [
    ("[" * 200_000, " printed JSON nested more than 4 levels deep"),
    (with_password('"x": ' + "[" * 3000 + "]" * 3000), " printed JSON nested more than 4 levels deep"),
    (with_password('"expires_in": NaN'), " printed no JSON object"),
    (with_password('"expires_in": Infinity'), " printed no JSON object"),
    (with_password('"expires_in": 1e300'), ": expires_in is not a number of seconds from 0"),
    (with_password('"expires_in": 1e12'), ": expires_in is not a number of seconds from 0"),
    (with_password('"expires_in": 1e400'), ": expires_in is not a number of seconds from 0"),
    (with_password('"expires_in": -5'), ": expires_in is not a number of seconds from 0"),
    (with_password('"expires_at": 1e20'), ": expires_at is not a time within 3650 days"),
    (with_password('"expires_at": -1e15'), ": expires_at is not a time within 3650 days"),
    (with_password('"expires_at": ' + "9" * 400), ": expires_at is not a time within 3650 days"),
    (with_password('"expires_at": "9999-12-31T23:59:59Z"'), ": expires_at is more than 3650 days ahead"),
    (with_password('"expires_in": ' + "9" * 5000), " printed no JSON object"),
]


@pytest.mark.parametrize(("body", "reason"), HOSTILE_OUTPUT, ids=range(len(HOSTILE_OUTPUT)))
def test_any_output_is_a_credential_or_a_failed_fetch(deployment_file, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                      body: str, reason: str) -> None:
    """At start (`configsvc check`, `create_app()`) and at a refresh alike: one line naming the setting,
    the provider and why; never a traceback, never a value."""
    output = tmp_path / "output"
    output.write_bytes(body.encode())
    program = tmp_path / "issue-token"
    program.write_text(f"#!/bin/sh\nexec cat {output}\n")
    program.chmod(0o700)
    path = provided_file(deployment_file, program)
    done = run_cli("check", env={"FLASK_CONFIG": str(path)})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and TOKEN not in done.stdout + done.stderr
    assert f"credentials.broker_url: could not get a credential: {program}{reason}" in done.stderr, \
        done.stderr
    with pytest.raises(ConfigError, match="could not get a credential"):
        create_app(environ={"FLASK_CONFIG": str(path)})
    # The same output at a refresh: the current credential is kept, the reason named.
    managed = ManagedCredential(CommandProvider("broker_url", {"command": [str(program)]}, {}),
                                Credential(Secret("kept"), "svc", None))
    assert managed.refresh() is False
    assert reason in str(managed.problem) and managed.current.password.reveal() == "kept"


def test_command_past_its_timeout(tmp_path: Path) -> None:
    program = tmp_path / "hangs"
    program.write_text("#!/bin/sh\nsleep 30\n")
    program.chmod(0o700)
    started = time.monotonic()
    with pytest.raises(FetchFailed, match=r"did not answer within 0\.5 s"):
        CommandProvider("broker_url", {"command": [str(program)], "timeout": 0.5}, {}).fetch()
    assert time.monotonic() - started < 5


def running(marker: str) -> list[str]:
    """The processes whose command line holds ``marker``."""
    lines = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
    return [line for line in lines.splitlines() if marker in line and "ps -eo" not in line]


def test_a_provider_past_its_timeout_is_ended_with_its_helpers(tmp_path: Path) -> None:
    """Hardening round 4: only the program was killed; a wrapper's own ``sleep`` lived on after each
    timed-out fetch (up to 60 an hour)."""
    marker = f"31.{os.getpid()}"  # a sleep of its own, findable with ps
    program = tmp_path / "wrapper"
    program.write_text(f"#!/bin/sh\nsleep {marker} &\nsleep {marker}\n")
    program.chmod(0o700)
    with pytest.raises(FetchFailed, match=r"did not answer within 0\.5 s"):
        CommandProvider("broker_url", {"command": [str(program)], "timeout": 0.5}, {}).fetch()
    assert running(f"sleep {marker}") == []


def test_a_helper_holding_the_output_open_does_not_hold_the_fetch(tmp_path: Path) -> None:
    """Hardening round 4: a program that printed its credential and left a helper holding its output
    failed every fetch after the full timeout. The helper leaves the group (setsid), so only the read
    stopping at the program's exit can save the fetch."""
    marker = f"32.{os.getpid()}"
    program = tmp_path / "leaves-a-daemon"
    program.write_text(f"#!/bin/sh\nsetsid sleep {marker} &\necho '{json.dumps({'password': TOKEN})}'\n")
    program.chmod(0o700)
    try:
        got = CommandProvider("broker_url", {"command": [str(program)], "timeout": 10}, {}).fetch()
        assert got.password.reveal() == TOKEN
    finally:
        for line in running(f"sleep {marker}"):
            os.kill(int(line.split()[0]), signal.SIGKILL)


def test_output_past_one_mebibyte_ends_the_provider(tmp_path: Path) -> None:
    """Hardening round 4: 100 MB of output was read whole before the 1 MiB limit was applied."""
    program = tmp_path / "floods"
    program.write_text("#!/bin/sh\nexec yes 0123456789abcdef\n")
    program.chmod(0o700)
    with pytest.raises(FetchFailed, match=r"printed more than 1 MiB"):
        CommandProvider("broker_url", {"command": [str(program)], "timeout": 30}, {}).fetch()
    assert running("yes 0123456789abcdef") == []


def test_a_failing_provider_stops_the_start_naming_key_and_provider(
        deployment_file, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from app.extensions import celery

    before = celery.conf.broker_url
    path = provided_file(deployment_file, issuer(tmp_path, "{}", exit_status=7))
    with pytest.raises(ConfigError) as caught:
        create_app(environ={"FLASK_CONFIG": str(path)})
    assert celery.conf.broker_url == before  # refused before anything of the Celery app was changed
    program = tmp_path / "issue-token"
    assert f"provider command ({program}): credentials.broker_url: could not get a credential: {program} " \
        "exited with status 7" in str(caught.value)
    assert "exited with status 7" in str(caught.value)
    for command in ("fleet", "check"):
        done = run_cli("--app", "app:create_app", command, env={"FLASK_CONFIG": str(path)})
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert "exited with status 7" in done.stderr, done.stderr
        assert TOKEN not in done.stderr + done.stdout
    assert TOKEN not in done.stderr + done.stdout + capsys.readouterr().err


def test_check_asks_each_provider_once(deployment_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    program = issuer(tmp_path, json.dumps({"password": TOKEN, "expires_at": "2031-05-06T07:08:09Z"}))
    done = run_cli("check", env={"FLASK_CONFIG": str(provided_file(deployment_file, program))})
    assert done.returncode == 0, done.stderr
    assert f"ok: credentials.broker_url from provider command ({program}), valid until " \
           "2031-05-06T07:08:09Z" in done.stdout
    assert TOKEN not in done.stdout + done.stderr


def test_a_token_already_expired_is_refused(deployment_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = provided_file(deployment_file, issuer(tmp_path, json.dumps(
        {"password": TOKEN, "expires_at": "2001-01-01T00:00:00Z"})))
    with pytest.raises(ConfigError, match="gave a credential that has already expired"):
        create_app(environ={"FLASK_CONFIG": str(path)})


# -- refreshing ---------------------------------------------------------------------------------------

def test_refresh_at_seventy_percent_at_the_latest_three_minutes_before_expiry() -> None:
    never_jitter = random.Random(0)
    never_jitter.random = lambda: 0.0  # type: ignore[method-assign]
    assert refresh_delay(900, never_jitter) == pytest.approx(630)      # 15 min: 70%
    assert refresh_delay(3600, never_jitter) == pytest.approx(2520)    # 1 h: 70%
    assert refresh_delay(400, never_jitter) == pytest.approx(220)      # 3 min before expiry comes first
    assert refresh_delay(20, never_jitter) == pytest.approx(14)        # too short for 3 min: 70%
    delays = [refresh_delay(900, random.Random(seed)) for seed in range(50)]
    assert min(delays) >= 630 * 0.9 and max(delays) <= 630 and len(set(delays)) > 40  # jittered, earlier
    assert [retry_delay(n, False) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert retry_delay(10, True) == 60


class Scripted(CredentialProvider):
    """A provider that answers from a list: a Credential, or an exception to raise."""

    name = "scripted"

    def __init__(self, answers: list[object]) -> None:
        super().__init__("broker_url", {}, {})
        self.answers = answers

    def fetch(self) -> Credential:
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        assert isinstance(answer, Credential)
        return answer


def test_failing_refresh_keeps_the_credential_logs_once_each_then_expires(
        caplog: pytest.LogCaptureFixture) -> None:
    now = datetime.now(UTC)
    first = Credential(Secret(TOKEN), "svc", now + timedelta(seconds=0.8), now)
    provider = Scripted([FetchFailed("the endpoint could not be reached (ConnectTimeout)"),
                         FetchFailed("the endpoint could not be reached (ConnectTimeout)"),
                         Credential(Secret("token-two"), "svc", now + timedelta(hours=1))])
    managed = ManagedCredential(provider, first)
    seen: list[tuple[str, str]] = []
    managed.listen(lambda old, new: seen.append((old.password.reveal(), new.password.reveal())))
    with caplog.at_level(logging.WARNING, "configsvc.credentials"):
        assert managed.refresh() is False
        assert (managed.state, managed.current) == ("refresh failing", first)
        time.sleep(0.9)
        assert managed.refresh() is False
        assert managed.state == "expired"
        # No connection is opened with it: kombu's password and redis-py's provider refuse as a broker
        # that is down would (a connection error kombu retries), naming why.
        for connect in (ProvidedPassword(managed), RedisStreamingProvider(managed, None).get_credentials):
            with pytest.raises(CredentialExpired, match=r"credential for broker_url from provider "
                                                        r"scripted expired at .* \(the endpoint could"):
                connect()
        assert managed.refresh() is True
        assert ProvidedPassword(managed)() == "token-two"
    assert managed.state == "ok" and seen == [(TOKEN, "token-two")]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines  # one per failure, one when it works again
    assert "credentials for broker_url: provider scripted failed (the endpoint could not be reached " \
           "(ConnectTimeout)); keeping the current one until" in lines[0]
    assert "the current credential has expired" in lines[1]
    assert all(TOKEN not in line and "token-two" not in line for line in lines)


def test_a_leased_credential_whose_renewals_fail_is_about_to_lose_its_user(
        capsys: pytest.CaptureFixture[str]) -> None:
    from configsvc.commands.fleet import _print
    from configsvc.credentials.provided import ProvidedCredentials

    class Leased(Scripted):
        name = "leased"
        per_process = True
        refresh_fraction = 2 / 3

    now = datetime.now(UTC)
    # 20 s lease, 9 s left: its renewal is due (2/3 of it has passed) and fails.
    first = Credential(Secret(TOKEN), "svc", now + timedelta(seconds=9), now - timedelta(seconds=11))
    managed = ManagedCredential(Leased([FetchFailed("Vault at http://vault:8200 did not answer")]), first)
    assert managed.losing_user() is False  # nothing has failed yet
    assert managed.refresh() is False
    assert managed.losing_user() is True  # failing, and 9 s left is less than a renewal interval (13 s)
    assert managed.losing_user(now - timedelta(seconds=30)) is False  # 39 s left: more than one interval

    credentials = ProvidedCredentials.__new__(ProvidedCredentials)
    credentials.managed = {"broker_url": managed}
    status = credentials.status()
    assert status["credentials"] == "refresh failing" and status["credentials_lease"] is True
    assert status["credentials_losing_user"] is True and TOKEN not in json.dumps(status)
    _print([{"hostname": "w1@h", "pid": 7, "generation": 0, "state": "ok", "fingerprint": "f", "broker":
             "amqp://h//", "verified": True, "counted": True, **status}], "f", as_json=False)
    out = capsys.readouterr().out
    assert "credentials refresh failing, lease until " in out and "LOSING ITS USER" in out
    assert "# 1 process(es) within a renewal interval of losing their user: w1@h pid 7" in out


# -- what the commands and /healthz say ---------------------------------------------------------------

def test_show_and_explain_name_the_provider(deployment_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = provided_file(deployment_file, issuer(tmp_path, json.dumps({"password": TOKEN})))
    env = {"FLASK_CONFIG": str(path), "COLUMNS": "300"}
    shown = run_cli("show", env=env)
    assert shown.returncode == 0, shown.stderr
    row = next(line for line in shown.stdout.splitlines() if "(user, password)" in line)
    assert row.split() == ["celery.broker_url", "(user,", "password)", "from", "the", "provider,", "in",
                           "each", "process", "provider", "command", f"{path}:6"]
    explained = run_cli("explain", "celery.broker_url", env=env)
    assert f"user and password: provider command, in each process  [{path}:6]" in explained.stdout
    document = json.loads(run_cli("show", "--json", env=env).stdout)
    assert document["credentials_from"] == {"celery.broker_url": {"source": "provider command",
                                                                  "origin": f"{path}:6"}}
    for output in (shown, explained):
        assert TOKEN not in output.stdout + output.stderr


@pytest.mark.parametrize(("provider", "options", "shown_key", "secret_key"), [
    ("oauth2", {"TOKEN_URL": "http://127.0.0.1:1/token", "CLIENT_ID": "worker", "CLIENT_SECRET": TOKEN},
     "client_id", "client_secret"),
    ("vault", {"PATH": "rabbitmq/creds/celery", "AUTH__METHOD": "approle", "AUTH__ROLE_ID": "worker",
               "AUTH__SECRET_ID": TOKEN}, "auth.role_id", "auth.secret_id"),
])
def test_secret_options_are_masked(provider: str, options: dict[str, str], shown_key: str,
                                   secret_key: str) -> None:
    config = resolve({"APP_CELERY__BROKER_URL": "amqp://h//",
                      "APP_CREDENTIALS__BROKER_URL__PROVIDER": provider,
                      **{f"APP_CREDENTIALS__BROKER_URL__{name}": value for name, value in options.items()}})
    shown = {e.key: e.value for e in config.entries()}
    assert shown[f"credentials.broker_url.{shown_key}"] == "worker"
    assert repr(shown[f"credentials.broker_url.{secret_key}"]) == "Secret('***')"
    assert TOKEN not in json.dumps(config.as_dict())


def test_healthz_says_ok_and_when_it_expires(deployment_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = provided_file(deployment_file, issuer(tmp_path, json.dumps(
        {"password": TOKEN, "expires_at": "2031-05-06T07:08:09Z"})), broker="filesystom://")
    path.write_text(path.read_text().replace("filesystom://", "amqp://worker@127.0.0.1:1//"))
    app = create_app(environ={"FLASK_CONFIG": str(path)})
    body = app.test_client().get("/healthz").get_json()
    assert (body["credentials"], body["credentials_expire_at"]) == ("ok", "2031-05-06T07:08:09Z")
    assert TOKEN not in json.dumps(body)


# -- oauth2: client credentials against a token endpoint of the test's own ------------------------------

def oauth2_provider(url: str, secret: str) -> CredentialProvider:
    from configsvc.credentials.oauth2 import OAuth2Provider

    return OAuth2Provider("broker_url", {"token_url": url, "client_id": "configsvc-worker",
                                         "client_secret": secret, "timeout": 2}, {})


def test_oauth2_token_is_the_password_until_it_expires() -> None:
    from tests.support.oauth import TokenEndpoint

    with TokenEndpoint(lifetime=20) as endpoint:
        got = oauth2_provider(endpoint.url, endpoint.client_secret).fetch()
    assert got.username is None and got.password.reveal().count(".") == 2  # a JWT
    assert got.lifetime is not None and abs(got.lifetime.total_seconds() - 20) <= 1.5
    assert endpoint.issued == 1


def test_oauth2_failures_name_the_endpoint_and_reason_never_the_secret() -> None:
    from tests.support.oauth import TokenEndpoint

    with TokenEndpoint(lifetime=20) as endpoint, pytest.raises(FetchFailed) as refused:
        oauth2_provider(endpoint.url, "wrong-" + TOKEN).fetch()
    assert str(refused.value) == f"{endpoint.url} refused the client (invalid_client)"
    with pytest.raises(FetchFailed) as unreachable:
        oauth2_provider(endpoint.url, TOKEN).fetch()  # the endpoint has stopped
    assert str(unreachable.value) == f"{endpoint.url} could not be reached (ConnectionError)"
    assert TOKEN not in str(refused.value) + str(unreachable.value)


# -- python: the app's own factory --------------------------------------------------------------------

def python_provider(factory: str, **options: object) -> PythonProvider:
    return PythonProvider("result_backend", {"factory": f"tests.support.providers:{factory}",
                                             "options": options, "timeout": 0.5}, {})


def test_python_provider_with_a_callable() -> None:
    provider = python_provider("callable_credentials", user="app")
    first, second = provider.fetch(), provider.fetch()
    assert (first.username, first.password.reveal(), second.password.reveal()) == \
        ("app", "password-1", "password-2")
    assert first.lifetime is not None and timedelta(minutes=9) < first.lifetime <= timedelta(minutes=10)


def test_python_provider_with_a_redis_py_provider() -> None:
    got = python_provider("redis_credentials", user="app", password=TOKEN).fetch()
    assert (got.username, got.password.reveal(), got.expires_at) == ("app", TOKEN, None)


def test_a_streaming_provider_is_asked_again_and_its_renewed_token_carries_its_expiry() -> None:
    """redis-entraid's way: the provider renews on its own schedule and announces each token."""
    provider = python_provider("renewing", lifetime=600)
    source = providers.made[-1]
    managed = ManagedCredential(provider, provider.fetch())
    assert managed.expires_at is None  # the first token is not announced: asked for again soon
    assert managed.next_at - time.monotonic() <= REDIS_PROVIDER_RECHECK
    source.renew()
    seen: list[str] = []
    managed.listen(lambda old, new: seen.append(new.password.reveal()))
    assert managed.refresh() and seen == ["token-2"] and managed.current.username == "entra-user"
    assert managed.expires_at is not None
    assert abs(managed.expires_at.timestamp() - source.token.get_expires_at_ms() / 1000) < 0.01


@pytest.mark.parametrize(("factory", "options", "problem"), [
    ("nowhere", {}, "cannot import tests.support.providers:nowhere (AttributeError)"),
    ("failing", {}, "tests.support.providers:failing failed (RuntimeError)"),
    ("neither", {}, "returned neither a redis-py CredentialProvider nor a callable"),
])
def test_python_provider_factory_problems(factory: str, options: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(problem)) as caught:
        python_provider(factory, **options)
    assert "credentials.result_backend.factory" in str(caught.value)


def test_python_provider_past_its_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(FetchFailed, match=r"hanging did not answer within 0\.5 s"):
        python_provider("hanging", seconds=3).fetch()
    assert time.monotonic() - started < 2


# -- aws_iam: the token is SigV4 as AWS specifies it -------------------------------------------------

def test_aws_iam_token_is_a_sigv4_presigned_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    """Signed by botocore with fixed credentials and time, checked against the signature computed here
    from the SigV4 specification (canonical request, string to sign, derived key)."""
    import botocore.auth
    from botocore.credentials import Credentials

    moment = datetime(2026, 12, 2, 10, 0, 0)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: moment)
    provider = AwsIamProvider("result_backend", {"user_id": "app-user", "cache_name": "my-cache",
                                                 "region": "eu-west-1", "serverless": True}, {})
    token = provider.token(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"))

    host, _, query = token.partition("/?")
    assert host == "my-cache"
    params = dict(parse_qsl(query, keep_blank_values=True))
    assert params["Action"] == "connect" and params["User"] == "app-user"
    assert params["ResourceType"] == "ServerlessCache" and params["X-Amz-Expires"] == "900"
    assert params["X-Amz-Credential"] == "AKIDEXAMPLE/20261202/eu-west-1/elasticache/aws4_request"
    assert params["X-Amz-Date"] == "20261202T100000Z"
    unsigned = sorted((k, v) for k, v in params.items() if k != "X-Amz-Signature")
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in unsigned)
    canonical = "\n".join(["GET", "/", canonical_query, "host:my-cache", "", "host",
                           hashlib.sha256(b"").hexdigest()])
    scope = "20261202/eu-west-1/elasticache/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", "20261202T100000Z", scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    for part in ("20261202", "eu-west-1", "elasticache", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    assert params["X-Amz-Signature"] == hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def test_aws_iam_credential_is_the_user_for_fifteen_minutes() -> None:
    environ = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret-example"}
    options = {"user_id": "u1", "cache_name": "c1", "region": "us-east-1"}
    got = AwsIamProvider("broker_url", options, environ).fetch()
    assert got.username == "u1" and got.lifetime == timedelta(minutes=15)
    assert got.password.reveal().startswith(
        "c1/?Action=connect&User=u1&X-Amz-Algorithm=AWS4-HMAC-SHA256")
    assert "X-Amz-Credential=AKIDEXAMPLE%2F" in got.password.reveal()
