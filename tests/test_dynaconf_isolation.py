"""Dynaconf is the layering engine, but none of its own behaviour reaches users.

These tests set variables in the real process environment on purpose: dynaconf reads ``os.environ``
itself, and the point is to show it is not allowed to.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.reference import resolve


@pytest.fixture
def booby_trapped(deployment_file, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory and process environment full of things dynaconf would load by default."""
    evil = deployment_file("port: 6666\nsecret_key: from-dynaconf\n", name="evil.yaml")
    work = tmp_path / "deep" / "work"
    work.mkdir(parents=True)
    for folder in (tmp_path, tmp_path / "deep", work):
        (folder / "settings.yaml").write_text("default:\n  port: 6661\nport: 6661\n")
        (folder / "settings.local.yaml").write_text("port: 6662\n")
        (folder / ".env").write_text("APP_PORT=6663\nDYNACONF_PORT=6664\nexport APP_DEBUG=false\n")
        (folder / ".secrets.yaml").write_text("port: 6665\n")
    for name, value in {
        "DYNACONF_PORT": "6667",
        "DYNACONF_SECRET_KEY": "from-dynaconf",
        "SETTINGS_FILE_FOR_DYNACONF": str(evil),
        "SETTINGS_FILES_FOR_DYNACONF": str(evil),
        "INCLUDES_FOR_DYNACONF": str(evil),
        "PRELOAD_FOR_DYNACONF": str(evil),
        "SECRETS_FOR_DYNACONF": str(evil),
        "ROOT_PATH_FOR_DYNACONF": str(tmp_path),
        "ENVVAR_PREFIX_FOR_DYNACONF": "DYNACONF",
        "LOAD_DOTENV_FOR_DYNACONF": "true",
        "ENVIRONMENTS_FOR_DYNACONF": "true",
        "ENV_FOR_DYNACONF": "production",
        "MERGE_ENABLED_FOR_DYNACONF": "false",
        "AUTO_CAST_FOR_DYNACONF": "true",
        "REDIS_ENABLED_FOR_DYNACONF": "true",
        "VAULT_ENABLED_FOR_DYNACONF": "true",
        "DOTTED_LOOKUP_FOR_DYNACONF": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(work)
    return work


def test_dynaconf_reads_nothing_behind_the_users_back(booby_trapped: Path, tmp_path: Path) -> None:
    config = resolve({"APP_CELERY__RESULT_BACKEND": "@format {env[HOME]}"}, instance_path=tmp_path)
    assert config["port"] == 5000  # the shipped default, from settings/ beside the package
    assert config.reveal("secret_key") == "development-only-not-secret"
    assert config["debug"] is True
    assert config["celery.result_backend"] == "@format {env[HOME]}"
    sources = {entry.source for entry in config.entries()}
    assert sources == {"configsvc defaults", "settings model Settings", "defaults", "defaults[development]",
                       "environment", "embedded default"}


def test_merging_still_merges_with_dynaconf_variables_set(
        deployment_file, booby_trapped: Path, tmp_path: Path) -> None:
    path = deployment_file("celery:\n  broker_url: amqp://a//\n  accept_content: [json, yaml]\n")
    config = resolve({"FLASK_CONFIG": str(path), "APP_CELERY__RESULT_BACKEND": "redis://r/0"},
                     instance_path=tmp_path)
    assert config["celery.broker_url"] == "amqp://a//"
    assert config["celery.result_backend"] == "redis://r/0"
    assert config["celery.task_acks_late"] is True
    assert config["celery.accept_content"] == ["json", "yaml"]  # replaced, not appended to ["json"]


def test_dynaconf_markers_in_values_are_plain_data(deployment_file, tmp_path: Path) -> None:
    path = deployment_file("celery:\n  accept_content: [dynaconf_merge, json]\n"
                           "extra:\n  list: ['@merge', x]\n")
    config = resolve({"FLASK_CONFIG": str(path)}, {"extra": {"list": ["dynaconf_merge_unique"]}},
                     instance_path=tmp_path)
    assert config["celery.accept_content"] == ["dynaconf_merge", "json"]
    assert config["extra.list"] == ["dynaconf_merge_unique"]
