"""Resolving configuration: read every source, type each layer, merge, validate — all problems at once."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from configsvc import locations
from configsvc.core.coerce import TypedLayer, coerce_layer
from configsvc.core.config import Config
from configsvc.core.layering import lookup, merge
from configsvc.core.schema import CELERY_SECTION
from configsvc.core.validation import validate
from configsvc.errors import ConfigError, ConfigWarning, Problem, raise_for
from configsvc.sources import SettingsFile, standard_sources
from configsvc.sources.base import Layer
from configsvc.sources.deployment import DeploymentFile
from configsvc.sources.environ import ENVIRONMENT_VARIABLE
from configsvc.sources.settings_file import SETTINGS_FILE_NAME

DEFAULT_ENV = "development"
EMBEDDED_SOURCE = "embedded default"


def resolve(
    environ: Mapping[str, str] = os.environ,
    overrides: Mapping[str, Any] | None = None,
    *,
    settings_dir: Path | None = None,
    instance_path: Path | None = None,
    cwd: Path | None = None,
    emit_warnings: bool = True,
) -> Config:
    """Resolve the configuration from every source, lowest precedence first.

    ``environ`` supplies ``APP_ENV``, ``FLASK_CONFIG`` and the ``APP_*`` variables. Raises one
    :class:`ConfigError` listing every problem found. Warnings (old Celery names, unknown Celery keys)
    are issued as :class:`ConfigWarning` unless ``emit_warnings`` is False; they are on the result too.
    """
    settings = SettingsFile(Path(settings_dir or locations.settings_dir()) / SETTINGS_FILE_NAME)
    env = _environment(environ, settings)
    problems: list[Problem] = []
    typed_layers: list[TypedLayer] = []
    deployment_file: Path | None = None
    for source in standard_sources(settings, env, environ, overrides, cwd):
        if isinstance(source, DeploymentFile):
            deployment_file = source.path
        try:
            layer = source.load()
        except ConfigError as error:
            problems.extend(error.problems)
            continue
        if layer is not None:
            typed = coerce_layer(layer)
            problems.extend(typed.problems)
            typed_layers.append(typed)
    if env == DEFAULT_ENV and not _sets_broker(typed_layers):
        typed_layers.insert(0, coerce_layer(embedded_broker_layer(
            Path(instance_path or locations.instance_dir()))))

    merged = merge(typed_layers)
    # Rules across settings are checked even when some values were bad, so that one run reports
    # everything; a key that already has a problem is not reported again as missing.
    # A file that could not be read may hold the missing values, so the rules wait for it.
    if not any(problem.kind == "file" for problem in problems):
        flagged = {problem.key for problem in problems}
        problems.extend(problem for problem in validate(merged, env, settings.shipped_values("secret_key"))
                        if problem.key not in flagged)
    found = [message for typed in typed_layers for message in typed.warnings]
    if emit_warnings:  # before raising: a warning may explain the error (an old name set twice)
        for message in found:
            warnings.warn(ConfigWarning(message), stacklevel=2)
    try:
        raise_for(problems)
    except ConfigError as error:
        error.warnings = tuple(found)
        raise
    return Config(env, merged, typed_layers, deployment_file, found)


def _environment(environ: Mapping[str, str], settings: SettingsFile) -> str:
    env = environ.get(ENVIRONMENT_VARIABLE) or DEFAULT_ENV
    known = settings.environments()
    if env not in known:
        raise ConfigError(Problem(
            f"unknown environment {env!r}; use one of: {', '.join(known)} "
            f"(sections of {settings.path})",
            kind="config", key=None, source="environment", variable=ENVIRONMENT_VARIABLE,
        ))
    return env


def _sets_broker(layers: list[TypedLayer]) -> bool:
    return any(lookup(typed.tree, (CELERY_SECTION, "broker_url"))[1] for typed in layers)


def embedded_broker_layer(instance_path: Path) -> Layer:
    """Development's broker when none is configured: kombu's ``filesystem://`` and a ``file://`` backend.

    Both live under the Flask instance folder, which web and worker find the same way.
    """
    root = instance_path / "celery"
    queue = str(root / "queue")
    return Layer(EMBEDDED_SOURCE, {
        CELERY_SECTION: {
            "broker_url": "filesystem://",
            "broker_transport_options": {
                "data_folder_in": queue,
                "data_folder_out": queue,
                "processed_folder": str(root / "processed"),
                "control_folder": str(root / "control"),
                "store_processed": False,
            },
            "result_backend": f"file://{root / 'results'}",
        }
    })
