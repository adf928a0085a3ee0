"""The CLI through its real entry point, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support.reference import resolve, run_cli

SECRETS = {
    "secret_key": "sentinel-secret-key-7f3a",
    "admin_token": "sentinel-admin-token-91bc",
    "broker_password": "sentinel-broker-pass-55de",
    "backend_password": "sentinel-backend-pass-0c41",
    "env_password": "sentinel-env-pass-e2e2",
}


@pytest.fixture
def planted(deployment_file, tmp_path: Path) -> dict[str, str]:
    """A deployment file and environment holding secrets in every place a secret can be."""
    path = deployment_file(
        f"port: 8080\n"
        f"secret_key: {SECRETS['secret_key']}\n"
        f"admin_token: {SECRETS['admin_token']}\n"
        f"secret_key_fallbacks: [{SECRETS['secret_key']}-old]\n"
        f"celery:\n"
        f"  broker_url: amqp://app:{SECRETS['broker_password']}@rabbit:5672//\n"
        f"  result_backend: redis://:{SECRETS['backend_password']}@localhost:6379/0\n"
        f"  broker_transport_options:\n"
        f"    sasl_password: {SECRETS['broker_password']}\n"
    )
    return {"FLASK_CONFIG": str(path),
            "APP_EXTRA__DATABASE_URL": f"postgresql://u:{SECRETS['env_password']}@db/x"}


def assert_no_secret(*outputs: str) -> None:
    for output in outputs:
        for name, secret in SECRETS.items():
            assert secret not in output, f"{name} leaked"


def test_show_lists_every_value_with_its_source(planted: dict[str, str]) -> None:
    done = run_cli("show", env={**planted, "APP_CELERY__WORKER_PREFETCH_MULTIPLIER": "4", "COLUMNS": "400"})
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line.replace("configsvc defaults", "configsvc-defaults").split()
             for line in done.stdout.splitlines()[2:]}
    assert lines["port"][1:3] == ["8080", "deployment"]
    assert lines["port"][-1] == f"{planted['FLASK_CONFIG']}:1"
    assert lines["celery.broker_url"][1] == "amqp://app:***@rabbit:5672//"
    assert lines["celery.worker_prefetch_multiplier"][1:] == [
        "4", "environment", "APP_CELERY__WORKER_PREFETCH_MULTIPLIER"]
    assert lines["celery.task_acks_late"][1:3] == ["true", "configsvc-defaults"]
    assert lines["debug"][1:3] == ["true", "defaults[development]"]
    assert lines["secret_key"][1] == "***"
    assert_no_secret(done.stdout, done.stderr)


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_show_fits_the_terminal_and_wraps_values(planted: dict[str, str], columns: int) -> None:
    """The table used to be 208 columns wide whatever the terminal."""
    long_url = "amqp://app:secret@" + "rabbit-" * 12 + "host.internal:5672/production-vhost"
    done = run_cli("show", env={**planted, "COLUMNS": str(columns), "APP_CELERY__BROKER_URL": long_url})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines[1:]) <= columns, max(lines, key=len)
    start = next(i for i, line in enumerate(lines) if line.startswith("celery.broker_url "))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("    from "))
    block = "".join(lines[start:end])
    assert "".join(block.split()) == ("celery.broker_url" + "amqp://app:***@" + "rabbit-" * 12
                                      + "host.internal:5672/production-vhost")  # all of it, wrapped
    assert lines[end] == "    from environment, at APP_CELERY__BROKER_URL"


def test_show_json(planted: dict[str, str]) -> None:
    done = run_cli("show", "--json", env=planted)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["env"] == "development"
    assert document["deployment_file"] == planted["FLASK_CONFIG"]
    assert document["settings"]["port"] == {
        "value": 8080, "source": "deployment file", "origin": f"{planted['FLASK_CONFIG']}:1"}
    assert document["settings"]["celery.result_backend"]["value"] == "redis://:***@localhost:6379/0"
    assert document["settings"]["extra.database_url"]["value"] == "postgresql://u:***@db/x"
    assert document["settings"]["celery.broker_transport_options.sasl_password"]["value"] == "***"
    assert_no_secret(done.stdout, done.stderr)


def test_show_reveal_prints_the_secrets(planted: dict[str, str]) -> None:
    done = run_cli("show", "--json", "--reveal", env=planted)
    assert done.returncode == 0, done.stderr
    settings = json.loads(done.stdout)["settings"]
    assert settings["secret_key"]["value"] == SECRETS["secret_key"]
    assert SECRETS["broker_password"] in settings["celery.broker_url"]["value"]


def test_explain_shows_each_layer_and_the_winner(planted: dict[str, str]) -> None:
    env = {**planted, "APP_CELERY__BROKER_URL": f"amqp://app:{SECRETS['env_password']}@other//"}
    done = run_cli("explain", "celery.broker_url", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "celery.broker_url",
        "  configsvc defaults       (not set)",
        "  settings model Settings  (not set)",  # the reference app's model (app/settings.py)
        "  defaults                 (not set)",
        "  defaults[development]    (not set)",
        f"  deployment file          amqp://app:***@rabbit:5672//  [{planted['FLASK_CONFIG']}:6]",
        "  environment              amqp://app:***@other//  [APP_CELERY__BROKER_URL]  <- wins",
        "= amqp://app:***@other//  (from environment)",
    ]
    assert_no_secret(done.stdout, done.stderr)


def test_explain_a_mapping_and_an_unknown_key(planted: dict[str, str]) -> None:
    done = run_cli("explain", "CELERY.broker_transport_options", env=planted)
    assert done.returncode == 0, done.stderr
    assert "merged key by key from: configsvc defaults, deployment file" in done.stdout
    assert_no_secret(done.stdout)
    done = run_cli("explain", "celery.nothing_here", env=planted)
    assert done.returncode == 1
    assert done.stderr == "error: no source sets celery.nothing_here\n"


def test_check_ok(planted: dict[str, str]) -> None:
    done = run_cli("check", env=planted)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: ")
    assert "for env 'development'" in done.stdout


def test_check_lists_every_problem_without_traceback(planted: dict[str, str], tmp_path: Path) -> None:
    env = {**planted, "APP_ENV": "production", "APP_PORT": "http", "APP_CELERY__TASK_ACKS_LATE": "maybe",
           "APP_SECRET_KEY": "development-only-not-secret"}
    done = run_cli("check", env=env)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        "error: 3 configuration problems:",
        "  - environment variable APP_CELERY__TASK_ACKS_LATE: celery.task_acks_late: expected true or "
        "false (also yes/no, on/off, 1/0), got other text [source: environment]",
        "  - environment variable APP_PORT: port: expected an integer, got text that is not a whole "
        "number [source: environment]",
        "  - environment variable APP_SECRET_KEY: secret_key: production must not use a secret_key "
        "shipped with the code (in the defaults file or an example file); set your own in the deployment "
        "file or APP_SECRET_KEY "
        "[source: environment]",
    ]


@pytest.mark.parametrize("command", [["show"], ["show", "--json"], ["check"], ["explain", "port"]])
@pytest.mark.parametrize("breakage", [
    "celery:\n  broker_url: [unclosed\n",
    "port: !!python/object/apply:os.system ['true']\n",
    "port: 1\nport: 2\n",
    b"port: \xff\n",
])
def test_every_command_reports_a_broken_file_cleanly(tmp_path: Path, command: list[str],
                                                    breakage: str | bytes) -> None:
    path = tmp_path / "api-config.yaml"
    if isinstance(breakage, bytes):
        path.write_bytes(f"secret_key: {SECRETS['secret_key']}\n".encode() + breakage)
    else:
        path.write_text(f"secret_key: {SECRETS['secret_key']}\n" + breakage)
    done = run_cli(*command, env={"FLASK_CONFIG": str(path)})
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: {path}:")
    assert "Traceback" not in done.stderr
    assert_no_secret(done.stdout, done.stderr)


def test_warnings_go_to_stderr(deployment_file, tmp_path: Path) -> None:
    path = deployment_file(f"CELERY_BROKER_URL: amqp://u:{SECRETS['broker_password']}@h//\ncelery:\n"
                    "  broker_pool_limt: 3\n")
    done = run_cli("check", env={"FLASK_CONFIG": str(path)})
    assert done.returncode == 0
    assert done.stderr.splitlines() == [
        f"warning: {path}:1: CELERY_BROKER_URL is an old Celery setting name; use celery.broker_url "
        "instead (in a file under 'celery:', in the environment APP_CELERY__BROKER_URL) "
        "[source: deployment file]",
        f"warning: {path}:3: celery.broker_pool_limt is not a Celery setting; did you mean "
        "celery.broker_pool_limit? (an error in production) [source: deployment file]",
    ]
    assert_no_secret(done.stdout, done.stderr)


def test_cli_resolves_the_same_from_any_working_directory(planted: dict[str, str]) -> None:
    """Found in the checkout, or named by FLASK_APP or --app from anywhere: the same app, the same result."""
    here = run_cli("show", "--json", env=planted)
    root = run_cli("show", "--json", env={**planted, "FLASK_APP": "app"}, cwd=Path("/"))
    named = run_cli("--app", "app:create_app()", "show", "--json", env=planted, cwd=Path("/"))
    assert here.returncode == root.returncode == named.returncode == 0
    assert json.loads(here.stdout) == json.loads(root.stdout) == json.loads(named.stdout)
    assert json.loads(here.stdout)["settings"]["port"]["source"] == "deployment file"


def test_warnings_are_printed_when_the_resolution_fails(deployment_file, tmp_path: Path) -> None:
    path = deployment_file("CELERY_BROKER_URL: amqp://a//\ncelery:\n  broker_url: amqp://b//\n")
    done = run_cli("check", env={"FLASK_CONFIG": str(path)})
    assert done.returncode == 1
    warning, error = done.stderr.splitlines()
    assert warning.startswith(f"warning: {path}:1: CELERY_BROKER_URL is an old Celery setting name")
    assert error.startswith(f"error: {path}:1: celery.broker_url: is set twice in one source")


def test_set_refuses_a_value_that_does_not_fit_and_leaves_the_file(deployment_file, tmp_path: Path) -> None:
    path = deployment_file("port: 8080\ncelery:\n  task_acks_late: true\n")
    before = path.read_bytes()
    for key, value, message in [
        ("celery.task_acks_late", "maybe", "celery.task_acks_late: expected true or false"),
        ("port", "99999", "port: expected an integer from 1 to 65535"),  # the app's schema (found here)
        ("celery.worker_prefetch_multiplier", "many", "expected an integer"),
    ]:
        done = run_cli("set", str(path), key, value)
        assert done.returncode == 1, key
        assert message in done.stderr and f"{path} is unchanged" in done.stderr
        assert "Traceback" not in done.stderr
        assert path.read_bytes() == before
    assert run_cli("set", str(path), "celery.task_acks_late", "false").returncode == 0
    assert "task_acks_late: false" in path.read_text()


@pytest.mark.parametrize("name", ["api-config.yaml", "api-config.json"])
@pytest.mark.parametrize(("key", "value", "args", "read_back"), [
    ("port", "8081", (), 8081),                        # it used to write '8081': text to any app
    ("feature.limit", "8081", (), 8081),               # a key of no schema: as YAML (JSON) reads it
    ("feature.on", "true", (), True),
    ("feature.ratio", "0.5", (), 0.5),
    ("feature.nothing", "null", (), None),
    ("feature.name", "hello", (), "hello"),
    ("feature.limit", "8081", ("--string",), "8081"),   # forced text
    ("admin_token", "1234", (), "1234"),               # the schema says text
    ("feature.note", "pa #ss: x", (), "pa #ss: x"),    # what YAML would cut or refuse stays text
    ("feature.list", "[a, b]", (), "[a, b]"),
])
def test_set_writes_a_value_as_the_file_reads_it(tmp_path: Path, name: str, key: str, value: str,
                                                 args: tuple[str, ...], read_back: object) -> None:
    path = tmp_path / name
    path.write_text('{"port": 8080}' if name.endswith(".json") else "port: 8080\n")
    done = run_cli("set", str(path), key, value, *args)  # from the checkout: the reference app's schema
    assert done.returncode == 0, done.stderr
    shown = resolve({"FLASK_CONFIG": str(path)}, instance_path=tmp_path).reveal(key)
    assert shown == read_back and type(shown) is type(read_back), (path.read_text(), shown)


@pytest.mark.parametrize(("written", "meant"), [("secrt_key", "secret_key"),
                                                ("celery.borker_url", "celery.broker_url"),
                                                ("celery.task_ack_late", "celery.task_acks_late")])
def test_near_miss_keys_warn_and_fail_in_production(tmp_path: Path, written: str, meant: str) -> None:
    path = tmp_path / "api-config.yaml"
    top, _, inner = written.partition(".")
    path.write_text(f"{top}:\n  {inner}: x\n" if inner else f"{top}: x\n")
    done = run_cli("check", env={"FLASK_CONFIG": str(path)})
    assert done.returncode == 0
    assert f"did you mean {meant}? (an error in production)" in done.stderr
    production = run_cli("check", env={"FLASK_CONFIG": str(path), "APP_ENV": "production",
                                       "APP_SECRET_KEY": "k" * 32, "APP_CELERY__BROKER_URL": "amqp://r//"})
    assert production.returncode == 1
    assert f"{path}:{2 if inner else 1}: {written}: not a" in production.stderr
    assert f"did you mean {meant}?" in production.stderr


def test_version_is_the_package_metadata() -> None:
    from importlib.metadata import version

    import configsvc
    from configsvc.commands.cli import main

    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"configsvc {version('configsvc')}\n"
    assert configsvc.__version__ == version("configsvc")
