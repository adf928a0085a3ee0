"""Where configuration comes from. The order of the sources is set here, and only here."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from configsvc.options import Options
from configsvc.sources.app_config import AppCelerySettings
from configsvc.sources.app_defaults import DEFAULT_SECTION, DefaultsFile, DefaultsSection
from configsvc.sources.base import Layer, Source
from configsvc.sources.deployment import DeploymentFile, deployment_path
from configsvc.sources.environ import EnvironmentVariables
from configsvc.sources.model_defaults import ModelDefaults
from configsvc.sources.overrides import Overrides
from configsvc.sources.package_defaults import PackageDefaults

__all__ = ["DefaultsFile", "Layer", "Source", "standard_sources"]


def standard_sources(
    options: Options,
    defaults: DefaultsFile,
    env: str,
    environ: Mapping[str, str],
    overrides: Mapping[str, Any] | None,
    cwd: Path | None = None,
    app_celery: Mapping[str, Any] | None = None,
    pinned: Mapping[str, bytes] | None = None,
) -> list[Source]:
    """The sources in precedence order, lowest first (the contract's table, with the defaults an app's
    settings model declares above configsvc's own, and the Celery settings an app set in
    ``app.config["CELERY"]`` before ``init_app`` between the defaults and the deployment file). ``pinned``:
    the files' bytes by role (as :attr:`Layer.file_bytes` names them), read instead of the files."""
    return [
        PackageDefaults(),
        ModelDefaults(options.settings_model),
        DefaultsSection(defaults, DEFAULT_SECTION),
        DefaultsSection(defaults, env),
        AppCelerySettings(app_celery),
        DeploymentFile(deployment_path(options, environ, cwd), environ, pinned),
        EnvironmentVariables(environ, options.env_prefix, pinned),
        Overrides(overrides),
    ]
