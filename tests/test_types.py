"""Types come from the schema, never from how a value looks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from configsvc import ValidationError
from tests.support.reference import resolve


def resolve_env(tmp_path: Path, **variables: str) -> Any:
    return resolve(variables, instance_path=tmp_path)


@pytest.mark.parametrize("text", ["1e3", "0123", "true", "null", "~", "0x1F", "1_000", "[1, 2]", "",
                                  "  padded  ", "@jinja {{ 1 + 1 }}", "@format {this}",
                                  "@read_file /etc/passwd", "@int 5", "@json {}"])
def test_string_settings_from_env_stay_exactly_as_given(tmp_path: Path, text: str) -> None:
    config = resolve_env(tmp_path, APP_SECRET_KEY=text, APP_ADMIN_TOKEN=text,
                         APP_CELERY__TASK_DEFAULT_QUEUE=text, APP_MY_OWN_SETTING=text)
    assert config.reveal("secret_key") == text
    assert config.reveal("admin_token") == text
    assert config["celery.task_default_queue"] == text
    assert config["my_own_setting"] == text  # unknown keys from env stay text too


@pytest.mark.parametrize(("written", "expected"), [
    ("0123", "0123"), ("1e3", "1e3"), ("true", "true"), ("yes", "yes"), ("0x1F", "0x1F"),
    ("1_000", "1_000"), ("12:30", "12:30"), ("2024-01-02", "2024-01-02"), ("3.10", "3.10"),
    ("'quoted 1'", "quoted 1"), ("\"@format {this}\"", "@format {this}"),
])
def test_string_settings_from_yaml_keep_the_text_written(deployment_file, tmp_path: Path, written: str,
                                                        expected: str) -> None:
    path = deployment_file(f"secret_key: {written}\ncelery:\n  task_default_queue: {written}\n")
    config = resolve({"FLASK_CONFIG": str(path)}, instance_path=tmp_path)
    assert config.reveal("secret_key") == expected
    assert config["celery.task_default_queue"] == expected


def test_string_settings_from_json_keep_the_text_written(deployment_file, tmp_path: Path) -> None:
    text = '{"secret_key": 1e3, "admin_token": 10.50, "celery": {"task_default_queue": true}}'
    path = deployment_file(text, name="api-config.json")
    config = resolve({"FLASK_CONFIG": str(path)}, instance_path=tmp_path)
    assert config.reveal("secret_key") == "1e3"
    assert config.reveal("admin_token") == "10.50"
    assert config["celery.task_default_queue"] == "true"


@pytest.mark.parametrize(("variable", "text", "key", "expected"), [
    ("APP_PORT", "8080", "port", 8080),
    ("APP_PORT", " 8080 ", "port", 8080),
    ("APP_CELERY__WORKER_PREFETCH_MULTIPLIER", "4", "celery.worker_prefetch_multiplier", 4),
    ("APP_CELERY__WORKER_CONCURRENCY", "2", "celery.worker_concurrency", 2),
    ("APP_CELERY__TASK_ACKS_LATE", "false", "celery.task_acks_late", False),
    ("APP_CELERY__TASK_ACKS_LATE", "No", "celery.task_acks_late", False),
    ("APP_CELERY__TASK_ACKS_LATE", "1", "celery.task_acks_late", True),
    ("APP_DEBUG", "on", "debug", True),
    ("APP_CELERY__RESULT_EXPIRES", "3600", "celery.result_expires", 3600.0),
    ("APP_CELERY__BROKER_POOL_LIMIT", "10", "celery.broker_pool_limit", 10),
    ("APP_CELERY__ACCEPT_CONTENT", "json, msgpack", "celery.accept_content", ["json", "msgpack"]),
    ("APP_CELERY__ACCEPT_CONTENT", '["json"]', "celery.accept_content", ["json"]),
    ("APP_SECRET_KEY_FALLBACKS", "old-1,old-2", "secret_key_fallbacks", ["old-1", "old-2"]),
    ("APP_CELERY__BROKER_TRANSPORT_OPTIONS", '{"visibility_timeout": 99}',
     "celery.broker_transport_options", {"visibility_timeout": 99}),
])
def test_env_values_are_cast_by_the_schema(tmp_path: Path, variable: str, text: str, key: str,
                                           expected: Any) -> None:
    config = resolve_env(tmp_path, **{variable: text, "APP_CELERY__BROKER_URL": "redis://x/0"})
    value = config.reveal(key)
    if isinstance(expected, dict):  # a mapping merges over the shipped defaults
        value = {k: v for k, v in value.items() if k in expected}
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(("variable", "text", "message"), [
    ("APP_PORT", "eighty", r"APP_PORT: port: expected an integer"),
    ("APP_PORT", "70000", r"APP_PORT: port: expected an integer from 1 to 65535"),
    ("APP_PORT", "8080.0", r"port: expected an integer"),
    ("APP_CELERY__TASK_ACKS_LATE", "maybe", r"celery.task_acks_late: expected true or false"),
    ("APP_CELERY__RESULT_EXPIRES", "soon", r"celery.result_expires: expected a number"),
    ("APP_CELERY__RESULT_EXPIRES", "nan", r"celery.result_expires: expected a finite number"),
    ("APP_CELERY__BROKER_TRANSPORT_OPTIONS", "[1]", r"broker_transport_options: expected a mapping"),
    ("APP_CELERY__ACCEPT_CONTENT", "[1, 2]", r"accept_content: expected a list of text"),
    ("APP_CELERY__ACCEPT_CONTENT", "[oops", r"accept_content: expected a list"),
])
def test_env_values_that_do_not_fit_name_variable_and_key(tmp_path: Path, variable: str, text: str,
                                                        message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        resolve_env(tmp_path, **{variable: text})
    assert f"environment variable {variable}" in str(caught.value)
    assert caught.value.problems[0].variable == variable
    assert caught.value.problems[0].source == "environment"


@pytest.mark.parametrize(("yaml_text", "line", "key", "message"), [
    ("port: eighty\n", 1, "port", "expected an integer"),
    ("port: true\n", 1, "port", "expected an integer, got true/false"),
    ("debug: 3\n", 1, "debug", "expected true or false, got a number"),
    ("secret_key: [a, b]\n", 1, "secret_key", "expected text, got a list"),
    ("celery:\n  broker_url: {a: 1}\n", 2, "celery.broker_url", "expected text, got a mapping"),
    ("celery:\n  worker_prefetch_multiplier: 1.5\n", 2, "celery.worker_prefetch_multiplier",
     "expected an integer, got a number"),
    ("celery: amqp://x\n", 1, "celery", "must be a mapping of Celery settings"),
])
def test_file_values_that_do_not_fit_name_file_line_and_key(
        deployment_file, tmp_path: Path, yaml_text: str, line: int,
                                                           key: str, message: str) -> None:
    path = deployment_file(yaml_text)
    with pytest.raises(ValidationError, match=message) as caught:
        resolve({"FLASK_CONFIG": str(path)}, instance_path=tmp_path)
    (problem,) = caught.value.problems
    assert (problem.path, problem.line, problem.key, problem.source) == (
        str(path), line, key, "deployment file")
    assert str(problem).startswith(f"{path}:{line}: {key}: ")


def test_overrides_are_typed_too(tmp_path: Path) -> None:
    config = resolve({}, {"port": "9000", "celery": {"task_acks_late": "off"}}, instance_path=tmp_path)
    assert config["port"] == 9000
    assert config["celery.task_acks_late"] is False
    with pytest.raises(ValidationError, match=r"overrides: port: expected an integer"):
        resolve({}, {"port": [1]}, instance_path=tmp_path)


def test_every_type_problem_is_reported_at_once(deployment_file, tmp_path: Path) -> None:
    path = deployment_file("port: x\ndebug: 7\ncelery:\n  task_acks_late: perhaps\n")
    with pytest.raises(ValidationError) as caught:
        resolve({"FLASK_CONFIG": str(path), "APP_CELERY__WORKER_PREFETCH_MULTIPLIER": "many"},
                {"max_content_length": "big"}, instance_path=tmp_path)
    keys = sorted(p.key or "" for p in caught.value.problems)
    assert keys == ["celery.task_acks_late", "celery.worker_prefetch_multiplier", "debug",
                    "max_content_length", "port"]
    assert str(caught.value).startswith("5 configuration problems:")


def test_unknown_keys_keep_the_file_types(deployment_file, tmp_path: Path) -> None:
    path = deployment_file("features:\n  Beta: true\n  limit: 10\n  ratio: 0.5\n  names: [a, b]\n")
    config = resolve({"FLASK_CONFIG": str(path)}, instance_path=tmp_path)
    assert config["features"] == {"beta": True, "limit": 10, "ratio": 0.5, "names": ["a", "b"]}


def test_no_token_in_any_source_is_evaluated(deployment_file, tmp_path: Path) -> None:
    path = deployment_file('admin_token: "@format {env[HOME]}"\nextra:\n  x: "@jinja {{ this.PORT }}"\n'
                    '  y: "@read_file /etc/hostname"\n  z: "@get port"\n')
    config = resolve({"FLASK_CONFIG": str(path), "APP_EXTRA__W": "@int 5"},
                     {"extra": {"v": "@del"}}, instance_path=tmp_path)
    assert config.reveal("admin_token") == "@format {env[HOME]}"
    assert config["extra"] == {"x": "@jinja {{ this.PORT }}", "y": "@read_file /etc/hostname",
                               "z": "@get port", "w": "@int 5", "v": "@del"}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text())
def test_any_string_for_a_string_setting_comes_back_unchanged_from_env(tmp_path: Path,
                                                                      text: str) -> None:
    config = resolve({"APP_SECRET_KEY": text, "APP_CELERY__TASK_DEFAULT_QUEUE": text},
                     instance_path=tmp_path)
    assert config.reveal("secret_key") == text
    assert config["celery.task_default_queue"] == text


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_any_string_round_trips_through_a_json_file(deployment_file, tmp_path: Path, text: str) -> None:
    path = deployment_file(json.dumps({"secret_key": text}), name="api-config.json")
    config = resolve({"FLASK_CONFIG": str(path)}, instance_path=tmp_path)
    assert config.reveal("secret_key") == text
