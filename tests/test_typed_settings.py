"""Typed settings: an app's own pydantic model or dataclass as its configuration (``tests/catalog``).

The model types the app's keys in every layer, its defaults are the lowest app layer, its validators run
at start and on every reload; what does not fit is a configsvc problem without the value; a secret field
is redacted everywhere; a request and a task read one configuration from start to end.
"""

from __future__ import annotations

import dataclasses
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pydantic
import pytest

from configsvc import ConfigError, ConfigUsageError, Options, ValidationError, resolve
from configsvc.flask import ConfigService
from configsvc.options import clean_environ
from tests import catalog
from tests.catalog.extensions import config as catalog_config
from tests.catalog.settings import Settings
from tests.support.processes import wait_for
from tests.support.reference import PROJECT, run_cli


@dataclasses.dataclass
class Partner:
    token_for_partner: str
    url: str = "https://partner.example"

    def __post_init__(self) -> None:
        raise ValueError(f"{self.token_for_partner} does not work with {self.url}")


@dataclasses.dataclass
class Needs:
    endpoint: str
    retries: int = 3


@dataclasses.dataclass(frozen=True)
class Mail:
    port: int = 25
    tls: bool = False


@dataclasses.dataclass
class App:
    mail: Mail = dataclasses.field(default_factory=Mail)
    name: str = "app"

    def __post_init__(self) -> None:
        if self.mail.tls and self.mail.port == 25:
            raise ValueError("TLS is not offered on port 25")


@pytest.fixture
def configsvc_options() -> Options:
    return catalog_config.options


def resolved(path: Path | None = None, **variables: str) -> Any:
    environ = {f"CATALOG_{name.upper()}": value for name, value in variables.items()}
    if path is not None:
        environ["CATALOG_CONFIG"] = str(path)
    return catalog_config.resolve(environ)


def test_the_model_types_its_keys_in_every_layer(deployment_file) -> None:  # type: ignore[no-untyped-def]
    path = deployment_file("page_size: 50\nfeature:\n  label: wide\n")
    config = resolved(path, feature__limit="11")
    settings = config.settings
    assert isinstance(settings, Settings)
    assert settings.feature.limit == 11 and type(settings.feature.limit) is int  # from the variable's text
    assert (settings.page_size, settings.feature.label, settings.regions) == (50, "wide", ["eu"])
    assert config.explain("feature.limit").winner == "environment"
    assert config.explain("page_size").winner == "deployment file"
    assert config.explain("regions").winner == "settings model Settings"  # its defaults: the lowest layer
    # Types come from the model, never from how a value looks.
    assert resolved(feature__label="1e3").settings.feature.label == "1e3"
    assert resolved(regions='["eu", "us"]').settings.regions == ["eu", "us"]


def test_the_settings_are_frozen(deployment_file) -> None:  # type: ignore[no-untyped-def]
    settings = resolved().settings
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        settings.page_size = 1
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        settings.feature.limit = 1
    assert settings.feature.within_reason(5) == 5  # its own methods and validators are there


def test_every_problem_at_once_located_by_key_without_its_value(deployment_file) -> None:  # type: ignore[no-untyped-def]
    path = deployment_file("regions: {first: eu}\nfeature:\n  limit: 4321\n  label: [a, b]\n")
    with pytest.raises(ValidationError) as caught:
        resolved(path, page_size="many-7f3a")
    text = str(caught.value)
    assert text.startswith("4 configuration problems:"), text
    assert f"{path}:1: regions: expected a list" in text  # configsvc's own typing, by the model's types
    assert f"{path}:3: feature.limit: limit *** is out of range (1 to 1000)" in text  # the validator's words
    assert f"{path}:4: feature.label: expected text" in text
    assert "environment variable CATALOG_PAGE_SIZE: page_size: expected an integer" in text
    assert "4321" not in text and "first" not in text and "7f3a" not in text


def test_a_validator_that_quotes_a_secret_does_not_show_it(deployment_file) -> None:  # type: ignore[no-untyped-def]
    planted = "tok-" + secrets.token_hex(8)
    with pytest.raises(ConfigError) as caught:
        resolve({"APP_TOKEN_FOR_PARTNER": planted}, options=Options(settings=Partner, defaults=None))
    assert planted not in str(caught.value) and "partner.example" not in str(caught.value)
    assert "rejected by" in str(caught.value)


def test_a_missing_field_names_the_key_and_where_to_set_it() -> None:
    with pytest.raises(ValidationError) as caught:
        resolve({}, options=Options(settings=Needs, defaults=None))
    assert str(caught.value) == ("settings model Needs: endpoint: missing: Needs requires it (set it in a "
                                 "defaults or deployment file, or APP_ENDPOINT)")
    config = resolve({"APP_ENDPOINT": "https://x", "APP_RETRIES": "5"}, options=Options(settings=Needs,
                                                                                          defaults=None))
    assert config.settings == Needs("https://x", 5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.settings.retries = 1  # type: ignore[misc]


def test_dataclass_models_nest_and_validate() -> None:
    options = Options(settings=App, defaults=None)
    config = resolve({"APP_MAIL__PORT": "587", "APP_MAIL__TLS": "true"}, options=options)
    assert config.settings == App(Mail(587, True)) and config.explain("mail.port").winner == "environment"
    with pytest.raises(ValidationError, match=r"rejected by App: ValueError: TLS is not offered"):
        resolve({"APP_MAIL__TLS": "true"}, options=options)


def test_schema_and_settings_together_are_refused_and_a_model_may_not_type_celery() -> None:
    with pytest.raises(ConfigUsageError, match="give schema= or settings=, not both"):
        ConfigService(schema={"port": int}, settings=Settings)

    class Retyped(pydantic.BaseModel):
        celery: dict[str, Any] = {}

    with pytest.raises(ConfigUsageError, match="declares 'celery'"):
        ConfigService(settings=Retyped)
    with pytest.raises(ConfigUsageError, match="is not a settings model"):
        ConfigService(settings=dict)


def test_a_secret_field_is_redacted_in_every_output(deployment_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    planted = "sig-" + secrets.token_hex(8)
    path = deployment_file(f"partner_signature: {planted}\nadmin_token: t\n")
    config = resolved(path)
    assert config.settings.partner_signature.get_secret_value() == planted
    assert planted not in repr(config.settings) and planted not in str(config.as_dict())
    assert planted not in repr(config.explain("partner_signature"))
    app_env = {"CATALOG_CONFIG": str(path)}
    for args in (["show"], ["show", "--json"], ["explain", "partner_signature"]):
        done = run_cli("--app", "tests.catalog:create_app()", *args, env=app_env)
        assert done.returncode == 0, done.stderr
        assert planted not in done.stdout + done.stderr and "partner_signature" in done.stdout, args
    revealed = run_cli("--app", "tests.catalog:create_app()", "show", "--reveal", env=app_env)
    assert planted in revealed.stdout
    # In an error: a value of the wrong type is named by key only.
    bad = deployment_file(f"partner_signature: [{planted}]\n", name="bad.yaml")
    done = run_cli("--app", "tests.catalog:create_app()", "check", env={"CATALOG_CONFIG": str(bad)})
    assert done.returncode == 1 and "partner_signature" in done.stderr
    assert planted not in done.stdout + done.stderr and "Traceback" not in done.stderr


def test_a_request_reads_one_configuration_from_start_to_end(deployment_file) -> None:  # type: ignore[no-untyped-def]
    path = deployment_file("feature: {limit: 10}\n")
    app = catalog.create_app({"CATALOG_CONFIG": str(path)})
    state = app.extensions["configsvc"]
    catalog.between_reads.clear()
    catalog.reads_done.clear()
    answers: list[Any] = []
    request = threading.Thread(target=lambda: answers.append(app.test_client().get("/twice").json))
    request.start()
    assert catalog.reads_done.wait(10)
    deployment_file("feature: {limit: 20}\n")
    assert state.reload() and app.config["FEATURE"]["limit"] == 20  # applied while the request runs
    catalog.between_reads.set()
    request.join(10)
    assert answers == [{"first": [10, 10], "second": [10, 10]}]
    assert app.test_client().get("/limit").json == {"limit": 20}  # the next request reads the new one
    with app.app_context():  # outside a request: live
        assert catalog_config.settings.feature.limit == 20


def test_a_reload_the_request_makes_itself_is_what_it_reads_next(deployment_file) -> None:  # type: ignore[no-untyped-def]
    path = deployment_file("feature: {limit: 10}\n")
    app = catalog.create_app({"CATALOG_CONFIG": str(path)})
    with app.test_request_context("/"):
        assert catalog_config.settings.feature.limit == 10
        deployment_file("feature: {limit: 30}\n")
        assert app.extensions["configsvc"].reload()
        assert catalog_config.settings.feature.limit == 30 and app.config["FEATURE"]["limit"] == 30
        app.config["PAGE_SIZE"] = 99  # a key the request writes is read back as written
        assert app.config["PAGE_SIZE"] == 99 and app.config.get("PAGE_SIZE") == 99


def test_on_change_fires_only_for_its_keys(deployment_file) -> None:  # type: ignore[no-untyped-def]
    service: ConfigService[Settings] = ConfigService(settings=Settings, defaults=None, env_prefix="CATALOG_",
                                                     file_variable="CATALOG_CONFIG", default_file=None)
    calls: list[tuple[str, Any, Any]] = []

    @service.on_change("feature")
    def feature(old: Any, new: Any) -> None:
        calls.append(("feature", old.settings.feature.limit, new.settings.feature.limit))

    @service.on_change("page_size", "regions")
    def paging(old: Any, new: Any) -> None:
        calls.append(("paging", old["page_size"], new["page_size"]))

    from flask import Flask

    path = deployment_file("feature: {limit: 10}\n")
    app = Flask(__name__)
    service.init_app(app, environ={"CATALOG_CONFIG": str(path)})
    state = app.extensions["configsvc"]
    deployment_file("feature: {limit: 11}\n")
    assert state.reload()
    assert calls == [("feature", 10, 11)]
    deployment_file("feature: {limit: 11}\npage_size: 5\n")
    assert state.reload()
    assert calls == [("feature", 10, 11), ("paging", 20, 5)]
    deployment_file("feature: {limit: 11}\npage_size: 5\nother: 1\n")
    assert state.reload()
    assert len(calls) == 2  # a key nobody follows
    deployment_file("feature: {limit: 5000}\npage_size: 5\n")
    assert not state.reload()  # refused by the model's validator: nothing applied, nothing called
    assert state.state == "stale" and "feature.limit" in (state.problem or "") and "5000" not in state.problem
    assert len(calls) == 2


@pytest.mark.brokers
def test_a_task_reads_one_configuration_while_the_worker_reloads(  # type: ignore[no-untyped-def]
        tmp_path: Path, deployment_file, celery_worker_process) -> None:
    def settings(limit: int, label: str) -> dict[str, Any]:
        queue = tmp_path / "queue"
        return {"config_reload_interval": 0.05, "feature": {"limit": limit, "label": label}, "celery": {
            "broker_url": "filesystem://", "result_backend": f"file://{tmp_path / 'results'}",
            "broker_transport_options": {"data_folder_in": str(queue), "data_folder_out": str(queue)}}}

    path = deployment_file(settings(10, "old"))
    env = {"CATALOG_CONFIG": str(path)}
    from tests.catalog.tasks import read_twice

    with celery_worker_process("tests.catalog.worker.celery", env, cwd=Path("/")) as worker:
        catalog.create_app(env)
        marker = tmp_path / "first-read"
        running = read_twice.delay(str(marker), 2.0)
        wait_for(marker.exists, 30, "the task's first read")
        deployment_file(settings(20, "new"))
        wait_for(lambda: "reloaded the configuration" in worker.log(), 10, "the worker to reload")
        assert running.get(timeout=30) == {"first": [10, 10, "old"], "second": [10, 10, "old"]}
        started = time.monotonic()
        assert read_twice.delay(str(marker), 0).get(timeout=30) == {"first": [20, 20, "new"],
                                                                    "second": [20, 20, "new"]}
        assert time.monotonic() - started < 30


def test_pydantic_is_imported_only_for_a_pydantic_model() -> None:
    code = ("import sys\nfrom tests.inventory import create_app\ncreate_app({})\n"  # schema=, not a model
            "print('pydantic' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True,
                          timeout=60, env=clean_environ())
    assert done.stdout.strip() == "False", done.stderr[-2000:]


@dataclasses.dataclass
class Tuned:
    config_reload_interval: float = 1.5  # configsvc's own defaults set it too (0.25)
    limits: dict[str, int] = dataclasses.field(default_factory=lambda: {"a": 1, "b": 2})


def test_the_models_defaults_sit_above_configsvcs_and_below_everything_else(deployment_file) -> None:  # type: ignore[no-untyped-def]
    options = Options(settings=Tuned, defaults=None)
    config = resolve({}, options=options)
    assert config["config_reload_interval"] == 1.5  # the model's default is above configsvc's own
    assert config.explain("config_reload_interval").winner == "settings model Tuned"
    path = deployment_file("limits: {b: 20, c: 30}\n")
    config = resolve({"FLASK_CONFIG": str(path), "APP_CONFIG_RELOAD_INTERVAL": "2"}, options=options)
    assert config.settings == Tuned(2.0, {"a": 1, "b": 20, "c": 30})  # mappings merge key by key
    assert config.explain("limits.a").winner == "settings model Tuned"
    assert config.explain("limits.b").winner == "deployment file"
