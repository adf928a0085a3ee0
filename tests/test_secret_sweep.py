"""A planted-secret sweep: secret values placed everywhere a value can come from, then every CLI command,
every error path, every log line at DEBUG and every HTTP answer searched for them.

Only ``configsvc show --reveal`` and ``configsvc decrypt`` print secrets, on purpose; they are left out.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from app import create_app
from tests.support.reference import run_cli

PLANTED = "planted-3c7e9d"  # every secret below contains it


def good_file(tmp_path: Path) -> Path:
    path = tmp_path / "api-config.yaml"
    path.write_text(
        f"port: 8080\n"
        f"secret_key: key-{PLANTED}\n"
        f"admin_token: token-{PLANTED}\n"
        f"secret_key_fallbacks: [old-{PLANTED}]\n"
        f"own_service_url: https://svc:pw-{PLANTED}@svc.internal/api\n"
        # round 3: passwords a URL parser misreads (an unencoded '/', '#', '?', '@'; an unreadable host)
        f"odd_urls: ['amqp://u:PA/SS-{PLANTED}@h/v', 'redis://:{PLANTED}@[::1/0', "
        f"'amqp://u:a#{PLANTED}@h//', 'amqp://u:a?{PLANTED}@h//', 'amqp://u:p@{PLANTED}@h//']\n"
        f"config_reload_interval: 0\n"
        f"celery:\n"
        f"  broker_url: filesystem://\n"
        f"  broker_transport_options: {{data_folder_in: {tmp_path}/q, data_folder_out: {tmp_path}/q,"
        f" sasl_password: sasl-{PLANTED}}}\n"
        f"  result_backend: file://{tmp_path}/results\n")
    return path


BAD_FILES = [
    f"secret_key: !!int {PLANTED}\n",                 # a value in a tag's constructor error
    f"secret_key: !<{PLANTED}>\n",                    # a secret where a tag is read
    f"secret_key: [{PLANTED}]\n",                     # the wrong type
    f"port: {PLANTED}\n",                             # not even secret: still never quoted
    f"celery:\n  broker_url: [amqp://u:{PLANTED}@h//]\n",
    f"celery:\n  task_acks_late: {PLANTED}\n",
    f"secret_key: {PLANTED}\nsecret_key: twice\n",     # a duplicate key
    f"secret_key: '{PLANTED}\n",                      # an unclosed quote: the parser's own message
    f"a: *{PLANTED}\n",                               # an unknown alias, named in PyYAML's message
    f"secret_key: {PLANTED}\n\tbad: tab\n",
    f"configsvc_encryption: {{version: 1}}\nsecret_key: ENC[AES256_GCM,data:{PLANTED},iv:x,tag:y,type:str]\n",
    f"secret_key: ENC[AES256_GCM,data:{PLANTED},iv:x,tag:y,type:str]\n",
    f"secrt_key: {PLANTED}\n",                        # a near-miss
]

BAD_ENVIRONMENTS = [
    {"APP_PORT": PLANTED},
    {"APP_CELERY__BROKER_URL": f"amqp://u:{PLANTED}@h//", "APP_CELERY__WORKER_PREFETCH_MULTIPLIER": PLANTED},
    {"APP_CELERY__BROKER_TRANSPORT_OPTIONS": "{" + f'"password": "{PLANTED}"'},
    {"APP_CELERY__ACCEPT_CONTENT": "[" * 500 + PLANTED},
    {"APP_SECRET_KEY": PLANTED, "APP_ENV": "production"},
    {"APP_ENV": PLANTED},
]


def assert_clean(*outputs: str) -> None:
    for output in outputs:
        assert PLANTED not in output, output[:2000]


def test_every_cli_command_on_a_good_file(tmp_path: Path) -> None:
    env = {"FLASK_CONFIG": str(good_file(tmp_path)), "APP_CELERY__RESULT_EXTENDED": "true",
           "APP_EXTRA__TOKEN": f"env-{PLANTED}", "APP_MIRROR_URL": f"amqp://u:PA/{PLANTED}@h/v"}
    outputs = []
    for command in (["show"], ["show", "--json"], ["check"], ["explain", "secret_key"],
                    ["explain", "celery.broker_transport_options"], ["explain", "own_service_url"],
                    ["explain", "extra"], ["explain", "secret_key_fallbacks"], ["explain", "odd_urls"],
                    ["explain", "mirror_url"]):
        done = run_cli(*command, env=env)
        assert done.returncode == 0, (command, done.stderr)
        outputs += [done.stdout, done.stderr]
    assert_clean(*outputs)


def cli_in_process(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """The same commands through click's test runner, for the long tables (no process start each)."""
    from click.testing import CliRunner

    from configsvc.commands.cli import main

    result = CliRunner().invoke(main, ["--app", "app", *args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("content", BAD_FILES)
def test_every_error_path_of_a_bad_file(deployment_file, tmp_path: Path, content: str) -> None:
    path = deployment_file(content)
    outputs = []
    for command in (["check"], ["show"], ["explain", "secret_key"]):
        _, stdout, stderr = cli_in_process(*command, env={"FLASK_CONFIG": str(path)})
        assert "Traceback" not in stderr
        outputs += [stdout, stderr]
    assert_clean(*outputs)
    done = run_cli("check", env={"FLASK_CONFIG": str(path)})  # and once as the real console script
    assert_clean(done.stdout, done.stderr)


@pytest.mark.parametrize("environ", BAD_ENVIRONMENTS)
def test_every_error_path_of_bad_variables(environ: dict[str, str]) -> None:
    done = run_cli("check", env=environ)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert_clean(done.stdout, done.stderr)


def test_set_refusing_a_value_does_not_print_it(tmp_path: Path) -> None:
    path = good_file(tmp_path)
    done = run_cli("set", str(path), "celery.task_acks_late", PLANTED)
    assert done.returncode == 1
    assert_clean(done.stdout, done.stderr)


def test_logs_at_debug_and_every_http_answer(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = good_file(tmp_path)
    with caplog.at_level(logging.DEBUG):
        app = create_app(environ={"FLASK_CONFIG": str(path)})
        state = app.extensions["configsvc"]
        client = app.test_client()
        answers = [client.get("/healthz"), client.get("/config"),
                   client.get("/config", headers={"Authorization": "Bearer wrong"}),
                   client.get("/config", headers={"Authorization": f"Bearer token-{PLANTED}"}),
                   client.post("/task/", json={"seconds": PLANTED}), client.post("/task/", data=b"{nope"),
                   client.get("/task/not a task id"), client.get("/")]
        good = path.read_text()
        for content in BAD_FILES:  # each refused by the running app (a near-miss is only a warning)
            path.write_text(content)
            state.reload(force=True)
            answers.append(client.get("/healthz"))
        assert caplog.text.count("refused the new configuration") >= len(BAD_FILES) - 1
        path.write_text(good.replace(f"token-{PLANTED}", f"new-token-{PLANTED}"))
        assert state.reload(force=True)
        answers.append(client.get("/config", headers={"Authorization": f"Bearer new-token-{PLANTED}"}))
    assert answers[3].status_code == 200 and answers[-1].status_code == 200
    assert_clean(caplog.text, *(answer.get_data(as_text=True) for answer in answers),
                 *(repr(record.args) for record in caplog.records), repr(state), repr(state.config))
