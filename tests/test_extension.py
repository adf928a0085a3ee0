"""ConfigService.init_app: one thing in four steps, the optional steps an app can turn off, and its errors."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from configsvc import ConfigError, ConfigUsageError, FileError
from configsvc.flask import ConfigService


@pytest.fixture
def sighup_free() -> Iterator[None]:
    """SIGHUP with its default handler for the test, as a process that nobody else set up has it."""
    previous = signal.getsignal(signal.SIGHUP)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_the_optional_steps_are_on_by_default(deployment_file, sighup_free: None) -> None:
    environ = {"FLASK_CONFIG": str(deployment_file({"secret_key": "s", "config_reload_interval": 0}))}
    app = Flask("steps-on")
    ConfigService(defaults=None).init_app(app, environ=environ)
    assert type(app.session_interface).__name__ == "ReusingCookieSessionInterface"
    assert getattr(signal.getsignal(signal.SIGHUP), "configsvc_reload", False)


def test_the_optional_steps_can_be_turned_off(deployment_file, sighup_free: None) -> None:
    environ = {"FLASK_CONFIG": str(deployment_file({"secret_key": "s", "config_reload_interval": 0}))}
    app = Flask("steps-off")
    service = ConfigService(defaults=None, reuse_sessions=False, reload_on_sighup=False,
                            warn_about_bind_mounts=False)
    service.init_app(app, environ=environ)
    assert type(app.session_interface) is SecureCookieSessionInterface  # Flask's own
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL
    state = service.state(app)
    assert state.config.reveal("secret_key") == "s"
    assert state.sighup_handler() is not None  # a server that owns signals can still install it


def test_state_of_an_app_without_the_service_is_a_usage_error() -> None:
    service = ConfigService(defaults=None)
    with pytest.raises(ConfigUsageError, match=r"is not registered on .*; call init_app"):
        service.state(Flask("bare"))


def test_the_flask_commands_are_not_added_by_init_app(deployment_file) -> None:
    environ = {"FLASK_CONFIG": str(deployment_file({"secret_key": "s", "config_reload_interval": 0}))}
    app = Flask("no-commands")
    ConfigService(defaults=None, reload_on_sighup=False).init_app(app, environ=environ)
    assert "configsvc" not in app.cli.commands  # the flask.commands entry point adds them to every app


def test_a_bad_configuration_outside_a_command_line_is_a_plain_config_error(deployment_file) -> None:
    environ = {"FLASK_CONFIG": str(deployment_file("port: [\n"))}
    with pytest.raises(FileError) as caught:
        ConfigService(defaults=None).init_app(Flask("plain"), environ=environ)
    assert not isinstance(caught.value, click.ClickException)


def test_a_bad_configuration_under_a_click_command_prints_one_line(deployment_file) -> None:
    environ = {"FLASK_CONFIG": str(deployment_file("port: [\n"))}
    raised: list[BaseException] = []

    @click.command()
    def serve() -> None:  # as flask run builds the app inside its command
        try:
            ConfigService(defaults=None).init_app(Flask("served"), environ=environ)
        except ConfigError as error:
            raised.append(error)
            raise

    result = CliRunner().invoke(serve, [])
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and "invalid YAML" in result.output
    assert "Traceback" not in result.output
    assert isinstance(raised[0], FileError) and isinstance(raised[0], click.ClickException)
