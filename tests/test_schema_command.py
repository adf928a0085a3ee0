"""``configsvc schema``: the deployment file's JSON Schema, checked against the repository's own files."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.support.reference import PROJECT, run_cli


@pytest.fixture(scope="module")
def schema() -> dict[str, object]:
    done = run_cli("schema")
    assert done.returncode == 0, done.stderr
    document: dict[str, object] = json.loads(done.stdout)
    jsonschema.Draft202012Validator.check_schema(document)
    return document


def problems(schema: dict[str, object], text: str) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return sorted(".".join(str(part) for part in error.absolute_path)
                  for error in validator.iter_errors(yaml.safe_load(text)))


def test_the_repositorys_own_deployment_files_are_valid(schema: dict[str, object], tmp_path: Path) -> None:
    example = PROJECT / "secrets.example" / "api-config.yaml"
    assert problems(schema, example.read_text()) == []
    encrypted = tmp_path / "api-config.yaml"
    encrypted.write_text(example.read_text())
    key = tmp_path / "master.key"
    assert run_cli("keygen", "--out", str(key)).returncode == 0
    done = run_cli("encrypt", str(encrypted), env={"CONFIGSVC_KEY_FILE": str(key)})
    assert done.returncode == 0, done.stderr
    assert "ENC[" in encrypted.read_text()
    assert problems(schema, encrypted.read_text()) == []  # an encrypted value fits any key
    assert problems(schema, "port: null\ncelery: {broker_url: null}\nsomething_of_ours: 1\n") == []


@pytest.mark.parametrize(("text", "where"), [
    ("port: 99999\n", "port"),                                    # the app's model: 1 to 65535
    ("admin_token: [a]\n", "admin_token"),                        # the app's model: text
    ("celery:\n  worker_prefetch_multiplier: many\n", "celery.worker_prefetch_multiplier"),  # Celery's table
    ("debug: perhaps\n", "debug"),                                # Flask's
    ("credentials:\n  broker_url: {provider: nope}\n", "credentials.broker_url"),
    ("credentials:\n  broker_url: {provider: command}\n", "credentials.broker_url"),  # command is required
])
def test_a_broken_file_is_rejected_at_the_key(schema: dict[str, object], text: str, where: str) -> None:
    assert problems(schema, text) == [where]


def test_the_schema_names_celerys_defaults_and_the_models_keys(schema: dict[str, object],
                                                               tmp_path: Path) -> None:
    properties = schema["properties"]
    assert isinstance(properties, dict)
    celery = properties["celery"]["properties"]
    assert celery["worker_prefetch_multiplier"]["description"] == \
        "Celery's worker_prefetch_multiplier (Celery's default: 4)"
    assert properties["port"]["anyOf"][0] == {"type": "integer", "minimum": 1, "maximum": 65535}
    catalog = run_cli("--app", "tests.catalog:create_app()", "schema")
    assert catalog.returncode == 0, catalog.stderr
    feature = json.loads(catalog.stdout)["$defs"]["FeatureSettings"]["properties"]["limit"]
    assert feature == {"default": 10, "title": "Limit", "type": "integer"}  # pydantic's schema of its model
    out = tmp_path / "deployment.schema.json"
    done = run_cli("schema", "--out", str(out))
    assert done.returncode == 0 and json.loads(out.read_text()) == schema
