"""The options an app passes: its variable prefix, defaults file, deployment file and typed keys.

``ConfigService(...)`` takes these as keyword arguments; :func:`configsvc.resolve` takes an
:class:`Options`. The defaults are the names the contract gives: ``APP_`` variables, ``FLASK_CONFIG``
naming the deployment file, ``secrets/api-config.yaml`` when it is unset, ``defaults.yaml`` beside the app.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from configsvc.core.keypath import KeyPath, parse_key
from configsvc.core.schema import Setting, TypeName
from configsvc.errors import ConfigUsageError
from configsvc.typed import SettingsModel, describe

#: What a schema entry may be: a type (``int``), its name (``"int"``), or a ``range`` (an int within it).
SchemaType = type | str | range

DEFAULTS_FILE = "defaults.yaml"
DEFAULT_PREFIX = "APP_"
DEFAULT_FILE_VARIABLE = "FLASK_CONFIG"
DEFAULT_DEPLOYMENT_FILE = "secrets/api-config.yaml"

_TYPES: dict[object, TypeName] = {
    str: "str", int: "int", float: "float", bool: "bool", list: "list", dict: "dict",
    "str": "str", "int": "int", "float": "float", "bool": "bool", "list": "list", "dict": "dict",
}
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY_PART = re.compile(r"[A-Za-z0-9_-]+")


def _schema_entry(key: str, spec: object) -> Setting:
    if isinstance(spec, range):
        if spec.step != 1 or len(spec) == 0:
            raise ConfigUsageError(f"schema key {key!r}: a range must be non-empty with step 1")
        return Setting("int", spec.start, spec.stop - 1)
    type_name = _TYPES.get(spec) if isinstance(spec, type | str) else None
    if type_name is None:
        raise ConfigUsageError(
            f"schema key {key!r}: {spec!r} is not a schema type; use int, float, bool, str, list, dict "
            "or a range of ints")
    return Setting(type_name)


@dataclass(frozen=True)
class Options:
    """How an app's configuration is found. Every field has the default the contract names."""

    #: The app's defaults file (sections ``default``, ``development``, ``testing``, ``production``, ...),
    #: relative to the app's root path unless absolute. ``None``: no defaults file. The default name is
    #: read only when the file exists; a name you pass must exist.
    defaults: str | os.PathLike[str] | None = DEFAULTS_FILE
    #: ``<prefix><KEY>`` variables set keys; ``<prefix>ENV`` selects the environment.
    env_prefix: str = DEFAULT_PREFIX
    #: The variable that names the deployment file.
    file_variable: str = DEFAULT_FILE_VARIABLE
    #: Read when ``file_variable`` is unset and this file exists (relative to the working directory).
    default_file: str | os.PathLike[str] | None = DEFAULT_DEPLOYMENT_FILE
    #: The app's own typed keys, dotted keys allowed: ``{"port": int, "features.beta": bool}``.
    schema: Mapping[str, SchemaType] = field(default_factory=dict)
    #: Example deployment files shipped with the code (relative like ``defaults``): production refuses
    #: a ``secret_key`` copied from one of them.
    example_files: Sequence[str | os.PathLike[str]] = ()
    #: The app's settings model instead of ``schema``: a pydantic model class or a dataclass (see
    #: :mod:`configsvc.typed`).
    settings: type | None = None
    #: The app's schema as key paths and entries (computed from ``schema`` or ``settings``).
    typed_schema: Mapping[KeyPath, Setting] = field(init=False, repr=False, compare=False)
    #: The settings model as read (None without ``settings``).
    settings_model: SettingsModel | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        prefix = self.env_prefix
        if not isinstance(prefix, str) or not _VARIABLE.fullmatch(prefix):
            raise ConfigUsageError(
                f"env_prefix {prefix!r} must be the start of a variable name, like 'APP_' or 'MYAPP_'")
        if not isinstance(self.file_variable, str) or not _VARIABLE.fullmatch(self.file_variable):
            raise ConfigUsageError(f"file_variable {self.file_variable!r} must be a variable name")
        if isinstance(self.example_files, str | os.PathLike):
            raise ConfigUsageError("example_files must be a list of paths, not one path")
        object.__setattr__(self, "example_files", tuple(self.example_files))
        typed: dict[KeyPath, Setting] = {}
        for key, spec in dict(self.schema).items():
            if not isinstance(key, str) or not all(_KEY_PART.fullmatch(p) for p in key.split(".")):
                raise ConfigUsageError(f"schema key {key!r} must be a dotted key like 'port' or 'mail.port'")
            typed[parse_key(key)] = _schema_entry(key, spec)
        model = None
        if self.settings is not None:
            if typed:
                raise ConfigUsageError(
                    "give schema= or settings=, not both: the settings model types the app's keys")
            model = describe(self.settings)
            typed = dict(model.schema)
        object.__setattr__(self, "typed_schema", typed)
        object.__setattr__(self, "settings_model", model)

    @property
    def environment_variable(self) -> str:
        """The variable that selects the environment: ``<prefix>ENV``."""
        return f"{self.env_prefix}ENV"

    def defaults_path(self, root_path: Path) -> tuple[Path | None, bool]:
        """The defaults file to read, and whether it must exist."""
        if self.defaults is None:
            return None, False
        path = Path(os.path.normpath(root_path / Path(self.defaults).expanduser()))
        return path, os.fspath(self.defaults) != DEFAULTS_FILE

    def example_paths(self, root_path: Path) -> list[Path]:
        """The example deployment files, resolved against the app's root path."""
        return [Path(os.path.normpath(root_path / Path(example).expanduser()))
                for example in self.example_files]


def reads_variable(name: str, options: Options | None = None) -> bool:
    """True for a variable that can change what configsvc resolves for an app with ``options``: its
    prefix and deployment-file variable, ``CONFIGSVC_*``, sops's age identity variables (``SOPS_AGE_*``),
    Celery's own connection variables (refused when set), and dynaconf's own (which configsvc ignores,
    but a test should not depend on that)."""
    options = options or Options()
    upper = name.upper()
    return (upper == options.file_variable.upper() or upper.startswith(options.env_prefix.upper())
            or upper.startswith(("CONFIGSVC_", "DYNACONF_", "SOPS_AGE_")) or upper.endswith("_FOR_DYNACONF")
            or upper in _CELERY_OWN)


# The variables Celery reads by itself that choose what it connects with (see
# configsvc.sources.celery_variables, which refuses them).
_CELERY_OWN = frozenset({"CELERY_BROKER_URL", "CELERY_BROKER_READ_URL", "CELERY_BROKER_WRITE_URL",
                         "CELERY_RESULT_BACKEND", "CELERY_CONFIG_MODULE", "CELERY_LOADER"})


def clean_environ(environ: Mapping[str, str] = os.environ, options: Options | None = None,
                  keep: tuple[str, ...] = ()) -> dict[str, str]:
    """A copy of ``environ`` without the variables that could change a resolution (``keep`` excepted)."""
    return {name: value for name, value in environ.items()
            if name in keep or not reads_variable(name, options)}
