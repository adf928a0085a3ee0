"""Resolving configuration: read every source, type each layer, merge, validate — all problems at once."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from configsvc.core.coerce import TypedLayer, coerce_layer
from configsvc.core.config import Config
from configsvc.core.layer import Layer
from configsvc.core.layering import Merged, can_go_under, lookup, merge
from configsvc.core.redaction import reveal
from configsvc.core.schema import CELERY_SECTION, Schema
from configsvc.core.validation import PRODUCTION, validate
from configsvc.credentials.spec import credential_problems
from configsvc.errors import ConfigError, ConfigWarning, Problem, raise_for
from configsvc.formats import read_parsed
from configsvc.options import Options
from configsvc.sources import DefaultsFile, standard_sources
from configsvc.sources.celery_variables import celery_variable_problems
from configsvc.sources.deployment import DeploymentFile
from configsvc.sources.model_defaults import ModelDefaults
from configsvc.typed.model import Invalid
from configsvc.typed.problems import model_problems

DEFAULT_ENV = "development"
EMBEDDED_SOURCE = "embedded default"
INSTANCE_FOLDER = "instance"


def resolve(
    environ: Mapping[str, str] = os.environ,
    overrides: Mapping[str, Any] | None = None,
    *,
    options: Options | None = None,
    root_path: str | os.PathLike[str] | None = None,
    instance_path: str | os.PathLike[str] | None = None,
    cwd: Path | None = None,
    emit_warnings: bool = True,
    app_celery: Mapping[str, Any] | None = None,
    pinned: Mapping[str, bytes] | None = None,
) -> Config:
    """Resolve the configuration from every source, lowest precedence first.

    ``options`` says where the app's files and variables are (the defaults when not given); ``environ``
    supplies ``<prefix>ENV``, the deployment file variable and the ``<prefix>*`` variables. ``root_path``
    is where the app's defaults file is found (the app's ``root_path``; default: the working directory),
    ``instance_path`` where development's embedded broker keeps its folders (default: ``./instance``).
    ``app_celery``: the Celery settings the app put in ``app.config["CELERY"]`` before ``init_app`` (a layer
    above the defaults files, below the deployment file). Raises one :class:`ConfigError` listing every
    problem found. Warnings (old Celery names, unknown Celery
    keys, near-misses) are issued as :class:`ConfigWarning` unless ``emit_warnings`` is False; they are
    on the result too. ``pinned``: the bytes of the files that can change, by role (a rollout's settled
    configuration, :mod:`configsvc.rollout.settled`), read instead of those files.
    """
    options = options or Options()
    base = Path(cwd or Path.cwd())
    root = base / Path(root_path) if root_path is not None else base
    defaults = _defaults_file(options, root)
    env = _environment(options, environ, defaults)
    schema = Schema(options.typed_schema)
    problems: list[Problem] = []
    typed_layers: list[TypedLayer] = []
    deployment_file: Path | None = None
    model_layer: TypedLayer | None = None
    for source in standard_sources(options, defaults, env, environ, overrides, base, app_celery,
                                   pinned):
        if isinstance(source, DeploymentFile):
            deployment_file = source.path
        try:
            layer = source.load()
        except ConfigError as error:
            problems.extend(error.problems)
            continue
        if layer is not None:
            typed = coerce_layer(layer, schema, strict=env == PRODUCTION, env_prefix=options.env_prefix)
            problems.extend(typed.problems)
            typed_layers.append(typed)
            if isinstance(source, ModelDefaults):
                model_layer = typed
    if env == DEFAULT_ENV and not _sets_broker(typed_layers):
        instance = base / Path(instance_path) if instance_path is not None else base / INSTANCE_FOLDER
        typed_layers.insert(0, coerce_layer(embedded_broker_layer(instance), schema))

    merged = _merge_layers(typed_layers, model_layer)
    celery_section = merged.tree.get(CELERY_SECTION)
    broker_url = celery_section.get("broker_url") if isinstance(celery_section, dict) else None
    problems.extend(celery_variable_problems(environ, options.env_prefix, broker_url))
    # Rules across settings are checked even when some values were bad, so that one run reports
    # everything; a key that already has a problem is not reported again as missing.
    # A file that could not be read may hold the missing values, so the rules wait for it.
    if not any(problem.kind == "file" for problem in problems):
        flagged = {problem.key for problem in problems}
        shipped = _shipped_secret_keys(defaults, options.example_paths(root))
        problems.extend(problem for problem in validate(merged, env, shipped, options.env_prefix)
                        if problem.key not in flagged)
        problems.extend(credential_problems(merged))
    settings = None
    model = options.settings_model
    if model is not None and not any(problem.kind == "file" for problem in problems):
        flagged = {problem.key for problem in problems}
        values = reveal(merged.tree)
        try:
            settings = model.build(values)
        except Invalid as invalid:
            problems.extend(problem for problem in model_problems(invalid, model, values, merged.winners,
                                                                  options.env_prefix)
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
    return Config(env, merged, typed_layers, deployment_file, found, settings=settings,
                  secret_paths=model.secret_paths if model is not None else frozenset())


def _merge_layers(layers: list[TypedLayer], model_layer: TypedLayer | None) -> Merged:
    """Merge the layers; a settings model's defaults are filled in under the rest when no layer below
    them sets their keys (the same result, without merging every app key once more)."""
    if model_layer is not None:
        position = layers.index(model_layer)
        if can_go_under(model_layer, layers[:position]):
            return merge(layers[:position] + layers[position + 1:], under=model_layer)
    return merge(layers)


def _defaults_file(options: Options, root: Path) -> DefaultsFile:
    path, required = options.defaults_path(root)
    if path is not None and not required and not path.exists():
        path = None  # the default name, and the app has no such file: nothing to read
    return DefaultsFile(path)


def _environment(options: Options, environ: Mapping[str, str], defaults: DefaultsFile) -> str:
    variable = options.environment_variable
    env = environ.get(variable) or DEFAULT_ENV
    known = defaults.environments()
    if env not in known:
        where = f" (sections of {defaults.path})" if defaults.path is not None else ""
        raise ConfigError(Problem(
            f"not a known environment; use one of: {', '.join(known)}{where}",
            kind="config", key=None, source="environment", variable=variable,
        ))
    return env


def _shipped_secret_keys(defaults: DefaultsFile, examples: list[Path]) -> list[Any]:
    """Every ``secret_key`` shipped with the code: in the defaults file, or in an example file."""
    values = defaults.shipped_values("secret_key")
    for example in examples:
        data = read_parsed(example, "example file", "the example file cannot be read: ").data
        values.extend(getattr(v, "raw", v) for k, v in data.items() if str(k).lower() == "secret_key")
    return values


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
    }, defaults=True)
