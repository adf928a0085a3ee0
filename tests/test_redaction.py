"""Secrets print as *** in reprs, errors, warnings and output; only reveal() hands them out."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest

from configsvc import ConfigError, ConfigWarning, Secret, is_secret_key, mask_url, redact
from tests.support.reference import resolve


@pytest.mark.parametrize(("url", "masked"), [
    ("amqp://app:pw@rabbit:5672//", "amqp://app:***@rabbit:5672//"),
    ("redis://:pw@localhost:6379/0", "redis://:***@localhost:6379/0"),
    ("rediss://u:p%40ss@h:6380/1?ssl_cert_reqs=required", "rediss://u:***@h:6380/1?ssl_cert_reqs=required"),
    ("amqp://a:p1@h1//;amqp://a:p2@h2//", "amqp://a:***@h1//;amqp://a:***@h2//"),
    ("sqla+postgresql://u:p@db/x", "sqla+postgresql://u:***@db/x"),
    ("redis://h/0?password=pw&db=1", "redis://h/0?password=***&db=1"),
    ("amqp://rabbit//", "amqp://rabbit//"),
    ("amqp://user@rabbit//", "amqp://user@rabbit//"),
    ("filesystem://", "filesystem://"),
    ("not a url", "not a url"),
    # round 3: fail closed. Everything between the scheme and the last '@' is credentials; a URL that
    # cannot be parsed is masked whole.
    ("amqp://u:PA/SS@h/v", "amqp://u:***@h/v"),
    ("amqp://u:PA#SS@h/v", "amqp://u:***@h/v"),
    ("amqp://u:PA?SS@h/v", "amqp://u:***@h/v"),
    ("amqp://u:PA@SS@h/v", "amqp://u:***@h/v"),
    ("amqp://u:pa;ss@h//", "amqp://u:***@h//"),
    ("amqp://u/x:y@h//", "amqp://***@h//"),
    ("redis://:pw@[::1/0", "redis://***"),
    ("redis://[::1/0", "redis://***"),
    ("amqp://h:notaport//", "amqp://***"),
    ("amqp://a:p/1@h1//;amqp://a:p2@h2//", "amqp://a:***@h1//;amqp://a:***@h2//"),
])
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


@pytest.mark.parametrize("url", [
    "amqp://u:PA/SS@h/v", "redis://:pw@[::1/0", "amqp://u:p@ss@h//", "amqp://u:pa;ss@h//",
    "amqp://h:notaport//",
])
def test_a_url_kombu_would_misread_gets_a_warning_naming_the_key(tmp_path: Path, url: str) -> None:
    with pytest.warns(ConfigWarning) as caught:
        resolve({"APP_CELERY__BROKER_URL": url}, instance_path=tmp_path)
    messages = [str(w.message) for w in caught if "misread" in str(w.message)]
    assert len(messages) == 1
    assert messages[0].startswith("APP_CELERY__BROKER_URL: celery.broker_url is a URL that kombu")
    assert "percent-encode" in messages[0] and "%2F" in messages[0]
    assert "pw" not in messages[0].replace("password", "") and "SS" not in messages[0]


def test_a_well_formed_url_gets_no_warning(tmp_path: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resolve({"APP_CELERY__BROKER_URL": "amqp://u:PA%2FSS@h/v"}, instance_path=tmp_path)


def test_every_view_of_a_misread_url_is_masked(tmp_path: Path) -> None:
    from configsvc import masked

    with pytest.warns(ConfigWarning):
        config = resolve({"APP_CELERY__BROKER_URL": "amqp://u:PA/SS-hunter2@h/v"}, instance_path=tmp_path)
    views = [repr(config), str(config.as_dict()), repr(list(config.entries())),
             repr(config.explain("celery.broker_url")),
             repr([masked(entry.value) for entry in config.entries()])]
    assert all("hunter2" not in view for view in views)
    assert config.reveal("celery.broker_url") == "amqp://u:PA/SS-hunter2@h/v"


@pytest.mark.parametrize(("key", "secret"), [
    ("secret_key", True), ("admin_token", True), ("celery.broker_transport_options.sasl_password", True),
    ("db_passwd", True), ("AWS_CREDENTIALS.id", True), ("api_KEY", True), ("port", False),
    ("celery.broker_url", False), ("debug", False),
])
def test_is_secret_key(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


def test_secret_hides_its_value() -> None:
    secret = Secret("hunter2")
    assert repr(secret) == "Secret('***')"
    assert str(secret) == "***"
    assert f"{secret}" == "***"
    assert "hunter2" not in repr({"k": [secret]})
    assert secret.reveal() == "hunter2"
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(secret)


def test_redact() -> None:
    assert redact("secret_key", "abc") == "***"
    assert redact("celery.broker_url", "amqp://u:p@h//") == "amqp://u:***@h//"
    assert redact("celery.broker_url", ["amqp://u:p@h1//", "amqp://h2//"]) == ["amqp://u:***@h1//",
                                                                             "amqp://h2//"]
    assert redact("extra", {"token": "t", "n": 1}) == {"token": "***", "n": 1}


def test_config_repr_and_values_are_safe(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = resolve({"APP_SECRET_KEY": "hunter2-key", "APP_CELERY__BROKER_URL": "amqp://u:hunter2@h//"},
                     instance_path=tmp_path)
    logging.getLogger("test").warning("config %s %r %s", config, config.get("secret_key"),
                                      config.get("celery"))
    assert "hunter2" not in caplog.text
    assert "hunter2" not in repr(config) + str(config.as_dict()) + repr(list(config.entries()))
    assert "hunter2" not in repr(config.explain("secret_key")) + repr(config.explain("celery"))
    assert config.reveal("secret_key") == "hunter2-key"
    assert config.as_dict(reveal_secrets=True)["celery"]["broker_url"] == "amqp://u:hunter2@h//"
    assert config.flask_mapping()["SECRET_KEY"] == "hunter2-key"


def test_errors_never_contain_values(deployment_file, tmp_path: Path) -> None:
    path = deployment_file("secret_key: [hunter2]\nport: hunter2\ncelery:\n  broker_url: {x: hunter2}\n"
                    "  task_acks_late: hunter2\n")
    with pytest.raises(ConfigError) as caught:
        resolve({"FLASK_CONFIG": str(path), "APP_DEBUG": "hunter2", "APP_ENV": "production"},
                {"max_content_length": "hunter2"}, instance_path=tmp_path)
    assert len(caught.value.problems) == 6
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(caught.value.problems)
