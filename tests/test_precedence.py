"""Which layer wins: the contract's table, for every pair of layers, as a parametrized matrix."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

import configsvc
from configsvc import Config, Options
from tests.support.reference import resolve

LAYERS = ["defaults", "defaults[development]", "deployment file", "environment", "overrides"]


def nested(key: str, value: Any) -> dict[str, Any]:
    """``{"a": {"b": value}}`` for the dotted key ``a.b``."""
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


def resolve_with(tmp_path: Path, values: dict[str, Any], key: str = "port") -> Config:
    """Resolve an app's options with the dotted ``key`` set in the given layers only (value per layer)."""
    default = nested(key, values["defaults"]) if "defaults" in values else {}
    development = nested(key, values["defaults[development]"]) if "defaults[development]" in values else {}
    defaults = tmp_path / "defaults.yaml"
    defaults.write_text(yaml.safe_dump({"default": default, "development": development}))
    environ = {}
    if "deployment file" in values:
        path = tmp_path / "api-config.yaml"
        path.write_text(yaml.safe_dump(nested(key, values["deployment file"])))
        environ["FLASK_CONFIG"] = str(path)
    if "environment" in values:
        environ["APP_" + key.upper().replace(".", "__")] = str(values["environment"])
    overrides = nested(key, values["overrides"]) if "overrides" in values else None
    return configsvc.resolve(environ, overrides, options=Options(schema={"port": int}), root_path=tmp_path,
                             instance_path=tmp_path / "instance")


@pytest.mark.parametrize(("lower", "higher"), list(itertools.combinations(LAYERS, 2)))
def test_higher_layer_wins(tmp_path: Path, lower: str, higher: str) -> None:
    values = {lower: 1000 + LAYERS.index(lower), higher: 1000 + LAYERS.index(higher)}
    config = resolve_with(tmp_path, values)
    assert config["port"] == values[higher]
    assert config.explain("port").winner == higher
    assert [layer.source for layer in config.explain("port").layers if layer.present] == [lower, higher]


@pytest.mark.parametrize("only", LAYERS)
def test_a_single_layer_is_used(tmp_path: Path, only: str) -> None:
    config = resolve_with(tmp_path, {only: 4242})
    assert config["port"] == 4242
    (entry,) = [e for e in config.entries() if e.key == "port"]
    assert entry.source == only


@pytest.mark.parametrize("layer", LAYERS)
def test_configsvc_defaults_are_the_lowest_layer(tmp_path: Path, layer: str) -> None:
    key = "celery.worker_prefetch_multiplier"
    assert resolve_with(tmp_path, {})[key] == 1  # configsvc's own production-safe default
    config = resolve_with(tmp_path, {layer: 7}, key=key)
    assert config[key] == 7
    assert [entry.source for entry in config.explain(key).layers if entry.present] == [
        "configsvc defaults", layer]


def test_nested_mappings_merge_across_layers(tmp_path: Path, write_file) -> None:  # type: ignore[no-untyped-def]
    path = write_file("api-config.yaml", {"celery": {"broker_url": "amqp://rabbit//"}})
    config = resolve(
        {"FLASK_CONFIG": str(path), "APP_CELERY__RESULT_BACKEND": "redis://localhost/1"},
        {"celery": {"task_default_queue": "from-overrides"}},
        instance_path=tmp_path,
    )
    assert config["celery.broker_url"] == "amqp://rabbit//"
    assert config["celery.result_backend"] == "redis://localhost/1"
    assert config["celery.task_default_queue"] == "from-overrides"
    assert config["celery.task_acks_late"] is True  # from the shipped defaults, still there
    sources = {e.key: e.source for e in config.entries()}
    assert sources["celery.broker_url"] == "deployment file"
    assert sources["celery.result_backend"] == "environment"
    assert sources["celery.task_default_queue"] == "overrides"
    assert sources["celery.task_acks_late"] == "configsvc defaults"


def test_mappings_merge_at_every_depth(tmp_path: Path, write_file) -> None:  # type: ignore[no-untyped-def]
    path = write_file("api-config.yaml", {"celery": {"broker_url": "redis://localhost/0",
                                                     "broker_transport_options": {
                                                         "visibility_timeout": 10, "max_retries": 3}}})
    config = resolve(
        {"FLASK_CONFIG": str(path), "APP_CELERY__BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "99"},
        instance_path=tmp_path,
    )
    # broker_transport_options is a mapping whose contents the schema does not type: env text stays text
    assert config["celery.broker_transport_options"] == {
        "visibility_timeout": "99", "max_retries": 3,  # file and environment ...
        "socket_timeout": 0.5, "socket_connect_timeout": 0.5}  # ... merged over the shipped defaults


def test_lists_replace_rather_than_append(tmp_path: Path, write_file) -> None:  # type: ignore[no-untyped-def]
    path = write_file("api-config.yaml", {"celery": {"accept_content": ["json", "msgpack"]}})
    config = resolve({"FLASK_CONFIG": str(path)}, instance_path=tmp_path)
    assert config["celery.accept_content"] == ["json", "msgpack"]  # shipped default was ["json"]
    config = resolve({"FLASK_CONFIG": str(path), "APP_CELERY__ACCEPT_CONTENT": "yaml"},
                     instance_path=tmp_path)
    assert config["celery.accept_content"] == ["yaml"]


def test_scalar_replaces_a_mapping_of_a_lower_layer(tmp_path: Path, write_file) -> None:  # type: ignore[no-untyped-def]
    path = write_file("api-config.yaml", {"feature": {"enabled": True, "level": 3}})
    config = resolve({"FLASK_CONFIG": str(path)}, {"feature": "off"}, instance_path=tmp_path)
    assert config["feature"] == "off"


def test_keys_are_case_insensitive(tmp_path: Path, write_file) -> None:  # type: ignore[no-untyped-def]
    path = write_file("api-config.yaml", {"PORT": 8000, "Celery": {"Broker_URL": "amqp://a//"}})
    config = resolve({"FLASK_CONFIG": str(path), "app_celery__RESULT_BACKEND": "redis://x/0"},
                     {"Port": 9000}, instance_path=tmp_path)
    assert config["port"] == 9000
    assert config["CELERY.BROKER_URL"] == "amqp://a//"
    assert config["celery.result_backend"] == "redis://x/0"


def test_default_deployment_file_is_used_when_flask_config_is_unset(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "api-config.yaml").write_text("port: 7777\n")
    config = resolve({}, cwd=tmp_path, instance_path=tmp_path)
    assert config["port"] == 7777
    assert config.deployment_file == tmp_path / "secrets" / "api-config.yaml"
    assert resolve({}, cwd=tmp_path / "secrets", instance_path=tmp_path).deployment_file is None


def test_defaults_file_found_from_the_app_not_the_working_directory(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "settings").mkdir()
    (tmp_path / "settings" / "settings.yaml").write_text("default: {port: 1}\ndevelopment: {}\n")
    monkeypatch.chdir(tmp_path)
    assert resolve({}, instance_path=tmp_path)["port"] == 5000  # the app's defaults file, not ./settings


@pytest.mark.parametrize("env", ["development", "testing", "production"])
def test_app_env_selects_the_section(tmp_path: Path, env: str, write_file) -> None:  # type: ignore[no-untyped-def]
    path = write_file("api-config.yaml", {"secret_key": "a-real-production-key",
                                          "celery": {"broker_url": "amqp://rabbit//"}})
    config = resolve({"APP_ENV": env, "FLASK_CONFIG": str(path)}, instance_path=tmp_path)
    assert config.env == env
    assert config.get("testing") is (True if env == "testing" else None)
    assert config.get("debug") is {"development": True, "testing": None, "production": False}[env]
