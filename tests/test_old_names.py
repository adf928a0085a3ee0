"""Old upper-case Celery names: accepted with a warning naming the new key; both forms at once: an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from configsvc import ConfigWarning, ValidationError
from tests.support.reference import resolve


@pytest.mark.parametrize(("yaml_text", "key", "new"), [
    ("CELERY_BROKER_URL: amqp://a//\n", "CELERY_BROKER_URL", "celery.broker_url"),
    ("BROKER_URL: amqp://a//\n", "BROKER_URL", "celery.broker_url"),
    ("CELERY_RESULT_BACKEND: redis://r/0\n", "CELERY_RESULT_BACKEND", "celery.result_backend"),
    ("CELERYD_PREFETCH_MULTIPLIER: 4\n", "CELERYD_PREFETCH_MULTIPLIER", "celery.worker_prefetch_multiplier"),
    ("celery:\n  CELERY_RESULT_BACKEND: redis://r/0\n", "celery.CELERY_RESULT_BACKEND",
     "celery.result_backend"),
    ("celery:\n  CELERYD_CONCURRENCY: 3\n", "celery.CELERYD_CONCURRENCY", "celery.worker_concurrency"),
])
def test_old_names_in_a_file_are_mapped_with_a_warning(
        deployment_file, tmp_path: Path, yaml_text: str, key: str,
                                                      new: str) -> None:
    path = deployment_file(yaml_text)
    with pytest.warns(ConfigWarning, match=rf"api-config.yaml:\d+: {key} is an old Celery setting name; "
                                           rf"use {new} instead"):
        config = resolve({"FLASK_CONFIG": str(path)}, instance_path=tmp_path)
    assert new in config
    (entry,) = [e for e in config.entries() if e.key == new]
    assert entry.source == "deployment file"
    assert entry.origin.startswith(f"{path}:")


def test_old_name_types_follow_the_new_setting(tmp_path: Path) -> None:
    with pytest.warns(ConfigWarning, match="APP_CELERY__WORKER_PREFETCH_MULTIPLIER"):
        config = resolve({"APP_CELERYD_PREFETCH_MULTIPLIER": "4"}, instance_path=tmp_path)
    assert config["celery.worker_prefetch_multiplier"] == 4


def test_single_underscore_env_var_is_caught(tmp_path: Path) -> None:
    """APP_CELERY_BROKER_URL (one underscore) is the classic typo that sends tasks to a default broker."""
    with pytest.warns(ConfigWarning, match=r"APP_CELERY_BROKER_URL: celery_broker_url is an old Celery "
                                           r"setting name; use celery.broker_url instead .* "
                                           r"APP_CELERY__BROKER_URL"):
        config = resolve({"APP_CELERY_BROKER_URL": "amqp://rabbit//"}, instance_path=tmp_path)
    assert config["celery.broker_url"] == "amqp://rabbit//"


def test_new_name_in_any_case_is_not_old(
        deployment_file, tmp_path: Path, recwarn: pytest.WarningsRecorder) -> None:
    path = deployment_file("celery:\n  BROKER_URL: amqp://a//\n")
    config = resolve({"FLASK_CONFIG": str(path)}, instance_path=tmp_path)
    assert config["celery.broker_url"] == "amqp://a//"
    assert not recwarn.list


def test_top_level_names_that_are_not_celery_ones_are_left_alone(tmp_path: Path,
                                                                recwarn: pytest.WarningsRecorder) -> None:
    config = resolve({"APP_SERVER_EMAIL": "ops@example.com", "APP_ENABLE_UTC": "yes"},
                     instance_path=tmp_path)
    assert config["server_email"] == "ops@example.com"
    assert config["enable_utc"] == "yes"
    assert not recwarn.list


@pytest.mark.parametrize("yaml_text", [
    "CELERY_BROKER_URL: amqp://a//\ncelery:\n  broker_url: amqp://b//\n",
    "BROKER_URL: amqp://a//\nCELERY_BROKER_URL: amqp://b//\n",
    "celery:\n  broker_url: amqp://b//\n  CELERY_BROKER_URL: amqp://a//\n",
])
def test_both_forms_in_one_source_are_an_error(deployment_file, tmp_path: Path, yaml_text: str) -> None:
    path = deployment_file(yaml_text)
    with pytest.warns(ConfigWarning), pytest.raises(
            ValidationError, match=r"celery.broker_url: is set twice in one source, as .* and as .*; "
                                   r"keep only celery.broker_url"):
        resolve({"FLASK_CONFIG": str(path)}, instance_path=tmp_path)


def test_same_key_in_two_cases_is_an_error(deployment_file, tmp_path: Path) -> None:
    path = deployment_file("port: 1\nPORT: 2\n")
    with pytest.raises(ValidationError, match=r"port: is set twice in one source, as 'port' and as 'PORT'"):
        resolve({"FLASK_CONFIG": str(path)}, instance_path=tmp_path)


def test_old_and_new_forms_in_different_sources_follow_precedence(deployment_file, tmp_path: Path) -> None:
    path = deployment_file("celery:\n  broker_url: amqp://file//\n")
    with pytest.warns(ConfigWarning):
        config = resolve({"FLASK_CONFIG": str(path), "APP_CELERY_BROKER_URL": "amqp://env//"},
                         instance_path=tmp_path)
    assert config["celery.broker_url"] == "amqp://env//"
    assert config.explain("celery.broker_url").layers[-1].origin == "APP_CELERY_BROKER_URL"


def test_unknown_celery_key_warns_with_a_suggestion(tmp_path: Path) -> None:
    with pytest.warns(ConfigWarning, match=r"celery.broker_ur is not a Celery setting; "
                                           r"did you mean celery.broker_url\?"):
        resolve({"APP_CELERY__BROKER_UR": "amqp://x//"}, instance_path=tmp_path)
