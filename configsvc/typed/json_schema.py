"""The JSON Schema of an app's deployment file (``configsvc schema``): for editors and for checking
deployment files in CI.

It is made of what types the keys when configsvc resolves: Flask's settings and configsvc's own, the
``celery`` section from Celery's settings table (each with its default), the ``credentials`` section
per provider, and the app's own keys (its settings model, or ``schema=``). Unknown keys are allowed, as
configsvc allows them (a near-miss is a warning, not an error); ``null`` is allowed everywhere (it means
unset), and so is an encrypted value (``ENC[...]``) in place of any value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from configsvc.core.keypath import KeyPath
from configsvc.core.schema import (
    CELERY_SECTION,
    FLASK_SETTINGS,
    METRICS_SECTION,
    METRICS_SETTINGS,
    OWN_SETTINGS,
    ROLLOUT_MODES,
    ROLLOUT_SECTION,
    Setting,
    celery_settings,
)
from configsvc.credentials.base import PROVIDERS, provider_class
from configsvc.credentials.spec import COMMON_OPTIONS, SCHEMES
from configsvc.options import Options

METRICS_DESCRIPTIONS = {
    "enabled": "serve Prometheus metrics (off by default)",
    "path": "the web app's metrics route (default /metrics)",
    "token": "when set, a scrape needs Authorization: Bearer <token>",
    "worker_port": "a worker's metrics port, or a range (9800-9809): the first free one is taken",
    "beat_port": "beat's metrics port, or a range",
}
DIALECT = "https://json-schema.org/draft/2020-12/schema"
ENCRYPTED = {"$ref": "#/$defs/encrypted"}
_JSON_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "list": "array",
               "dict": "object"}


def deployment_schema(options: Options, title: str = "configsvc deployment file") -> dict[str, Any]:
    """The JSON Schema (2020-12) of a deployment file for an app with ``options``."""
    properties: dict[str, Any] = {name: leaf(setting) for name, setting in FLASK_SETTINGS.items()}
    properties.update({name: leaf(setting) for name, setting in OWN_SETTINGS.items()
                       if name not in (CELERY_SECTION, "credentials", METRICS_SECTION, ROLLOUT_SECTION)})
    properties[CELERY_SECTION] = _section(celery_section(), "Celery's settings, by their lower-case names")
    properties["credentials"] = credentials_section()
    properties[METRICS_SECTION] = _section(
        {name: leaf(setting, METRICS_DESCRIPTIONS.get(name)) for name, setting in METRICS_SETTINGS.items()},
        "Prometheus metrics (pip install 'configsvc[metrics]')")
    properties[ROLLOUT_SECTION] = _section(
        {"mode": {"enum": list(ROLLOUT_MODES), "description": "immediate: a valid new file is applied when "
                  "read; staged: held until `configsvc rollout` applies it"}},
        "How a new deployment file is applied (staged rollout)")
    defs: dict[str, Any] = {"encrypted": {"type": "string", "pattern": r"^ENC\[",
                                          "description": "a value encrypted at rest (configsvc or SOPS)"}}
    model = options.settings_model
    if model is not None and _is_pydantic(model.model):
        app_schema = model.model.model_json_schema(mode="validation")  # type: ignore[attr-defined]
        defs.update(app_schema.pop("$defs", {}))
        for name, schema in app_schema.get("properties", {}).items():
            properties[name] = _nullable_or_encrypted(schema)
    else:
        properties.update(_tree(options.typed_schema))
    return {"$schema": DIALECT, "title": title, "type": "object", "properties": properties,
            "additionalProperties": True, "$defs": defs}


def dumps(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=False) + "\n"


def leaf(setting: Setting, description: str | None = None) -> dict[str, Any]:
    """One setting: its type (with an int's bounds), or null, or an encrypted value."""
    typed: dict[str, Any] = {}
    if setting.type in _JSON_TYPES:
        typed["type"] = _JSON_TYPES[setting.type]
    if setting.minimum is not None:
        typed["minimum"] = setting.minimum
    if setting.maximum is not None:
        typed["maximum"] = setting.maximum
    result = _nullable_or_encrypted(typed) if typed else {}
    if description:
        result["description"] = description
    return result


def _nullable_or_encrypted(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}, ENCRYPTED]}


def celery_section() -> dict[str, Any]:
    from celery.app import defaults

    table = {name: option for name, option in defaults.flatten(defaults.NAMESPACES)}
    section = {}
    for name, setting in sorted(celery_settings().items()):
        option = table.get(name)
        default = getattr(option, "default", None)
        described = f"Celery's {name}" + (f" (Celery's default: {json.dumps(default)})"
                                          if _plain(default) and default is not None else "")
        section[name] = leaf(setting, described)
    return section


def credentials_section() -> dict[str, Any]:
    providers = []
    for name in sorted(PROVIDERS):
        cls = provider_class(name, "credentials")
        names = (*COMMON_OPTIONS, *cls.required, *cls.optional)
        properties: dict[str, Any] = {option: {} for option in names}
        properties["provider"] = {"const": name}
        properties["timeout"] = {"type": "number", "exclusiveMinimum": 0}
        providers.append({"type": "object", "properties": properties, "required": ["provider", *cls.required],
                          "additionalProperties": False, "title": f"the {name} provider"})
    entry = {"oneOf": providers}
    return {"type": "object",
            "description": "which provider gives a Celery URL setting its user and password",
            "properties": {setting: entry for setting in SCHEMES}, "additionalProperties": False}


def _section(properties: dict[str, Any], description: str) -> dict[str, Any]:
    return {"type": "object", "description": description, "properties": properties,
            "additionalProperties": True}


def _tree(typed: Mapping[KeyPath, Setting]) -> dict[str, Any]:
    """Dotted keys (``schema=``, a dataclass model) as nested sections."""
    root: dict[str, Any] = {}
    for path, setting in sorted(typed.items()):
        node = root
        for part in path[:-1]:
            node = node.setdefault(part, _section({}, f"the app's {part} section"))["properties"]
        node[path[-1]] = leaf(setting)
    return root


def _plain(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _is_pydantic(model: type) -> bool:
    import sys

    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and issubclass(model, pydantic.BaseModel)
