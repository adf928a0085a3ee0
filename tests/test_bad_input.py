"""Bad input: every case gets one clear error naming the file, line where known, key and source."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from configsvc import ConfigError, FileError, ValidationError
from configsvc.formats import MAX_FILE_BYTES
from tests.support.reference import PROJECT, resolve, run_cli


def resolve_file(tmp_path: Path, path: Path | str) -> object:
    return resolve({"FLASK_CONFIG": str(path)}, instance_path=tmp_path)


@pytest.mark.parametrize(("name", "content", "line", "message"), [
    ("empty.yaml", "", None, "the file is empty"),
    ("blank.yaml", "  \n\n", None, "the file is empty"),
    ("comments.yaml", "# nothing here\n", None, "holds no settings"),
    ("null.json", "null", None, "holds no settings"),
    ("list.yaml", "- a\n- b\n", 1, "top level must be a mapping of settings, not a list"),
    ("scalar.yaml", "just text\n", 1, "top level must be a mapping of settings, not a single value"),
    ("list.json", "[1, 2]", 1, "top level must be a mapping of settings, not a list"),
    ("bad.yaml", "port: 1\ncelery:\n  broker_url: [unclosed\n", 4, "invalid YAML"),
    ("indent.yaml", "port: 1\n  bad: 2\n", 2, "invalid YAML: mapping values are not allowed in this context"),
    ("tab.yaml", "port: 1\n\tdebug: true\n", 2, "invalid YAML"),
    # Python 3.13's decoder names the trailing comma (line 3), earlier ones the closing brace (line 4)
    ("bad.json", '{\n  "port": 1,\n  "debug": true,\n}\n', 3 if sys.version_info >= (3, 13) else 4,
     "invalid JSON"),
    ("nan.json", '{"port": NaN}', None, "NaN is not a valid JSON number"),
    ("python.yaml", "port: !!python/object/apply:os.system ['echo pwned']\n", 1,
     "a YAML tag is not allowed here"),
    ("custom.yaml", "port: !env PORT\n", 1, "a YAML tag is not allowed here"),
    # The hardening run's findings: each a ConfigError, none quoting the value, none crashing.
    ("tagged-int.yaml", "secret_key: !!int sentinel-in-a-tag\n", 1,
     "a value tagged as an integer is not one"),
    ("tag-as-secret.yaml", "secret_key: !<sentinel-in-a-tag>\n", 1, "a YAML tag is not allowed here"),
    ("deep-flow.yaml", "a: " + "[" * 100_000, 1, "nest more than 64 levels deep"),
    ("deep-block.yaml", "a:\n  " + "- " * 5000 + "x\n", 2, "nest more than 64 levels deep"),
    ("deep.json", '{"a": ' + "[" * 3000 + "]" * 3000 + "}", 1, "nest more than 64 levels deep"),
    ("digits.json", '{"port": ' + "9" * 5000 + "}", None, "a number has too many digits"),
    ("alias-bomb.yaml", "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(6)), None,
     "expands to more than 100000 values"),
    ("self-alias.yaml", "a: &a [x, *a]\n", None, "refer to themselves"),
    ("binary.yaml", "secret_key: !!binary aGVsbG8=\n", 1, "is not allowed"),
    ("set.yaml", "hosts: !!set {a, b}\n", 1, "is not allowed"),
    ("dup.yaml", "port: 1\ndebug: true\nport: 2\n", 3, "key 'port' appears twice"),
    ("dup.json", '{"port": 1, "port": 2}', None, "key 'port' appears twice"),
    ("text.txt", "port: 1\n", None, "unknown file type '.txt'"),
])
def test_bad_files(tmp_path: Path, name: str, content: str, line: int | None, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        resolve_file(tmp_path, path)
    error = caught.value
    assert message in str(error)
    assert error.path == str(path)
    if line is not None:
        assert error.problems[0].line == line
        assert str(error).startswith(f"{path}:{line}: ")
    assert "Traceback" not in str(error)


def test_non_text_key_is_an_error(deployment_file, tmp_path: Path) -> None:
    path = deployment_file("port: 1\n? [a, b]\n: x\n")
    with pytest.raises(FileError, match="a key must be text"):
        resolve_file(tmp_path, path)


def test_yaml_merge_keys_work_and_may_be_overridden(deployment_file, tmp_path: Path) -> None:
    path = deployment_file("base: &base\n  a: 1\n  b: 2\nderived:\n  <<: *base\n  b: 3\n")
    config = resolve_file(tmp_path, path)
    assert config["derived"] == {"a": 1, "b": 3}  # type: ignore[index]


def test_alias_bomb_is_refused(deployment_file, tmp_path: Path) -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{', '.join(['*a' + str(i - 1)] * 10)}]" for i in range(1, 9)]
    path = deployment_file("\n".join(lines) + "\n", name="bomb.yaml")
    with pytest.raises(FileError, match=r"bomb.yaml: the file expands to more than 100000 values"):
        resolve_file(tmp_path, path)


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "api-config.yaml"
    with pytest.raises(FileError, match=r"api-config.yaml: the file does not exist") as caught:
        resolve_file(tmp_path, missing)
    assert caught.value.path == str(missing)
    assert caught.value.source == "deployment file"


def test_empty_flask_config(tmp_path: Path) -> None:
    with pytest.raises(FileError, match="FLASK_CONFIG is set but empty"):
        resolve_file(tmp_path, "  ")


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(FileError, match="this is a folder, not a file"):
        resolve_file(tmp_path, tmp_path)


def test_path_through_a_file(deployment_file, tmp_path: Path) -> None:
    deployment_file("x", name="plain")
    with pytest.raises(FileError, match=r"the file cannot be read \(Not a directory\)"):
        resolve_file(tmp_path, tmp_path / "plain" / "api-config.yaml")


def test_unreadable_file(deployment_file, tmp_path: Path) -> None:
    path = deployment_file("port: 1\n")
    path.chmod(0o000)
    tmp_path.chmod(0o755)
    if os.geteuid() != 0:
        with pytest.raises(FileError, match=r"cannot be read \(permission denied\)"):
            resolve_file(tmp_path, path)
        return
    # root reads anything; without the capability to override file modes it is refused like anyone
    code = (
        "import sys\n"
        "from configsvc import resolve, FileError\n"
        "try:\n"
        f"    resolve({{'FLASK_CONFIG': {str(path)!r}}}, instance_path={str(tmp_path)!r})\n"
        "except FileError as e:\n"
        "    print(e); sys.exit(3)\n"
    )
    done = subprocess.run(
        ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", sys.executable, "-c", code],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 3, done.stderr
    assert f"{path}: the file cannot be read (permission denied)" in done.stdout


def test_non_utf8_bytes_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "api-config.yaml"
    path.write_bytes(b"port: 1\nsecret_key: caf\xe9\n")
    with pytest.raises(FileError, match=r"api-config.yaml:2: the file is not valid UTF-8 \(byte 23\)"):
        resolve_file(tmp_path, path)


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "api-config.yaml"
    path.write_bytes(b"\xef\xbb\xbfport: 1234\n")
    assert resolve_file(tmp_path, path)["port"] == 1234  # type: ignore[index]


def test_file_over_the_size_limit(deployment_file, tmp_path: Path) -> None:
    path = deployment_file("port: 1\n" + "# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    with pytest.raises(FileError, match=r"over the 1048576 byte limit"):
        resolve_file(tmp_path, path)


def test_unknown_environment_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"environment variable APP_ENV: not a known environment; "
                                          r"use one of: development, testing, production"):
        resolve({"APP_ENV": "staging"}, instance_path=tmp_path)


@pytest.mark.parametrize(("variable", "message"), [
    ("APP_", "has an empty key part"),
    ("APP_CELERY____BROKER_URL", "has an empty key part"),
    ("APP_CELERY__", "has an empty key part"),
])
def test_malformed_variable_names(tmp_path: Path, variable: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        resolve({variable: "x"}, instance_path=tmp_path)


def test_variable_setting_inside_a_scalar(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="sets a key inside feature"):
        resolve({"APP_FEATURE": "on", "APP_FEATURE__LEVEL": "2"}, instance_path=tmp_path)


def test_reserved_dynaconf_keys(deployment_file, tmp_path: Path) -> None:
    path = deployment_file("dynaconf_merge: true\nport: 1\n")
    with pytest.raises(ValidationError, match=r"dynaconf_merge: is reserved"):
        resolve_file(tmp_path, path)


@pytest.mark.parametrize(("environ", "overrides", "messages"), [
    ({}, {}, ["secret_key: production needs a secret_key",
              "celery.broker_url: production needs celery.broker_url"]),
    ({"APP_SECRET_KEY": "development-only-not-secret"}, {"celery": {"broker_url": "amqp://r//"}},
     ["APP_SECRET_KEY: secret_key: production must not use a secret_key shipped with the code"]),
    ({"APP_SECRET_KEY": "change-me-to-a-long-random-string"}, {"celery": {"broker_url": "amqp://r//"}},
     ["APP_SECRET_KEY: secret_key: production must not use a secret_key shipped with the code "
      "(in the defaults file or an example file)"]),
    ({"APP_SECRET_KEY": ""}, {"celery": {"broker_url": ""}},
     ["production needs a secret_key", "production needs celery.broker_url"]),
])
def test_production_requirements(tmp_path: Path, environ: dict[str, str], overrides: dict[str, object],
                                 messages: list[str]) -> None:
    with pytest.raises(ValidationError) as caught:
        resolve({"APP_ENV": "production", **environ}, overrides, instance_path=tmp_path)
    text = str(caught.value)
    for message in messages:
        assert message in text
    assert len(caught.value.problems) == len(messages)


def test_production_never_falls_back_to_the_embedded_broker(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"production needs celery\.broker_url"):
        resolve({"APP_ENV": "production", "APP_SECRET_KEY": "k" * 32}, instance_path=tmp_path)
    config = resolve({"APP_ENV": "testing"}, instance_path=tmp_path)
    assert "celery.broker_url" not in config


def test_problems_from_several_sources_come_together(deployment_file, tmp_path: Path) -> None:
    path = deployment_file("port: [1]\n")
    with pytest.raises(ConfigError) as caught:
        resolve({"FLASK_CONFIG": str(path), "APP_DEBUG": "sometimes", "APP_ENV": "production"},
                {"celery": {"worker_concurrency": "lots"}}, instance_path=tmp_path)
    assert [p.source for p in caught.value.problems] == [
        "deployment file", "environment", "overrides", None, None]


def test_a_broken_file_and_bad_variables_are_reported_together(deployment_file, tmp_path: Path) -> None:
    path = deployment_file("port: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        resolve({"FLASK_CONFIG": str(path), "APP_PORT": "x"}, instance_path=tmp_path)
    assert type(caught.value) is ConfigError  # a file problem and a validation problem: the root class
    assert [p.kind for p in caught.value.problems] == ["file", "validation"]


@pytest.mark.parametrize(("kind", "message"), [("fifo", "this is not a regular file (a FIFO)"),
                                              ("device", "this is not a regular file (a device)")])
def test_a_deployment_file_that_is_not_a_regular_file_is_refused_at_once(tmp_path: Path, kind: str,
                                                                         message: str) -> None:
    path = tmp_path / "api-config.yaml"
    if kind == "fifo":
        os.mkfifo(path)  # a plain open() would wait for a writer forever
    else:
        path.symlink_to("/dev/zero")  # would be read until memory runs out
    with pytest.raises(FileError, match=re.escape(f"api-config.yaml: {message}")):
        resolve_file(tmp_path, path)


# Hardening round 3: the JSON nesting check restarted at every quote of an unterminated string full of
# escaped quotes (quadratic: 120 KB took 62 s, a megabyte about an hour). run_cli's 60 s time-out is the
# guard here; the scan itself takes a fraction of a second (benchmarks/bench_scan.py measures it).
NEAR_THE_LIMIT = MAX_FILE_BYTES - 64


@pytest.mark.parametrize("body", [
    '{"a": "' + '\\"' * (NEAR_THE_LIMIT // 2),
    '{"a": ["' + '\\"[' * (NEAR_THE_LIMIT // 3),
], ids=["escaped quotes", "escaped quotes in a list"])  # named: a test id is in every child's environment
def test_a_hostile_json_file_near_the_size_limit_is_refused_at_once(deployment_file, body: str) -> None:
    path = deployment_file(body, name="api-config.json")
    done = run_cli("check", env={"FLASK_CONFIG": str(path)})
    assert done.returncode == 1
    assert f"{path}:1: invalid JSON" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_hostile_json_value_is_refused_at_once() -> None:
    # in a child process, so that the time-out guards it; a megabyte, as an environment dict can hold
    code = (
        "from configsvc import ConfigError\n"
        "from tests.support.reference import resolve\n"
        "value = '{\"a\": \"' + '\\\\\"' * 500_000\n"
        "try:\n"
        "    resolve({'APP_CELERY__BROKER_TRANSPORT_OPTIONS': value})\n"
        "except ConfigError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True,
                          timeout=60)
    assert "APP_CELERY__BROKER_TRANSPORT_OPTIONS" in done.stdout, done.stderr[-2000:]
    assert "expected a mapping" in done.stdout
