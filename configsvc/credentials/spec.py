"""The ``credentials`` section, read and checked: which provider gives which URL its user and password.

Checked with every other rule of a resolution (``configsvc check`` reports it), each problem located at
the file line or variable that set the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from configsvc.core.layering import Merged, lookup
from configsvc.core.redaction import reveal, url_has_secret
from configsvc.credentials.base import (
    PROVIDED_SETTINGS,
    SECTION,
    CredentialProvider,
    missing_library,
    provider_class,
)
from configsvc.errors import ConfigError, Problem

#: The URL schemes a provided credential can be used with, per setting.
SCHEMES = {
    "broker_url": ("amqp", "amqps", "pyamqp", "redis", "rediss"),
    "result_backend": ("redis", "rediss"),
}
COMMON_OPTIONS = ("provider", "timeout")


@dataclass(frozen=True)
class ProviderSpec:
    """One entry of the section: the Celery setting, the provider's name and its options (secrets
    revealed: they go to the provider, never to a log)."""

    setting: str
    provider: str
    options: Mapping[str, Any]

    def build(self, environ: Mapping[str, str]) -> CredentialProvider:
        """The provider (ConfigError when it cannot be made here)."""
        cls = provider_class(self.provider, f"{SECTION}.{self.setting}")
        problem = missing_library(cls)
        if problem is not None:
            raise ConfigError(Problem(problem, kind="config", key=f"{SECTION}.{self.setting}.provider"))
        return cls(self.setting, self.options, environ)


def provider_specs(tree: Mapping[str, Any]) -> list[ProviderSpec]:
    """The section's entries, in setting order (the tree must have passed :func:`credential_problems`)."""
    section = tree.get(SECTION) or {}
    return [ProviderSpec(setting, str(reveal(entry)["provider"]), reveal(entry))
            for setting, entry in sorted(section.items())]


def credential_problems(merged: Merged) -> list[Problem]:
    """Every problem with the ``credentials`` section and the URLs it names."""
    present, section = lookup(merged.tree, (SECTION,))
    if not present or section is None:
        return []

    def at(path: tuple[str, ...], message: str) -> Problem:
        winner = merged.winners.get(path) or next(
            (w for p, w in merged.winners.items() if p[:len(path)] == path), None)
        if winner is None:
            return Problem(message, key=".".join(path))
        return winner.layer.problem(message, winner.written_path(path))

    if not isinstance(section, dict):
        return [at((SECTION,), "must be a mapping of Celery URL settings to providers")]
    problems: list[Problem] = []
    for setting, entry in section.items():
        path = (SECTION, setting)
        if setting not in PROVIDED_SETTINGS:
            allowed = " or ".join(PROVIDED_SETTINGS)
            problems.append(at(path, f"a provider can give the credentials of {allowed} only, not {setting}"))
            continue
        if not isinstance(entry, dict):
            problems.append(at(path, "must be a mapping with a provider: and its options"))
            continue
        entry = reveal(entry)
        name = entry.get("provider")
        if not isinstance(name, str) or not name:
            problems.append(at(path, "names no provider: set provider: command, oauth2, vault, aws_iam "
                                     "or python"))
            continue
        try:
            cls = provider_class(name, ".".join(path))
        except ConfigError as error:
            problems.extend(at((*path, "provider"), p.message) for p in error.problems)
            continue
        problems.extend(_option_problems(cls, entry, path, at))
        library = missing_library(cls)
        if library is not None:
            problems.append(at((*path, "provider"), library))
        problems.extend(_url_problems(merged, setting, at))
    return problems


def _option_problems(cls: type[CredentialProvider], entry: dict[str, Any], path: tuple[str, ...],
                     at: Any) -> list[Problem]:
    problems = []
    known = set(COMMON_OPTIONS) | set(cls.required) | set(cls.optional)
    for option in sorted(set(entry) - known):
        problems.append(at((*path, option), f"is not an option of the {cls.name} provider; it takes: "
                                            f"{', '.join(sorted(known - {'provider'}))}"))
    for option in cls.required:
        if entry.get(option) in (None, "", []):
            problems.append(at(path, f"the {cls.name} provider needs {option}"))
    timeout = entry.get("timeout")
    if timeout is not None:
        try:
            ok = float(timeout) > 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            problems.append(at((*path, "timeout"), "must be a number of seconds greater than 0"))
    return problems


def _url_problems(merged: Merged, setting: str, at: Any) -> list[Problem]:
    url_path = ("celery", setting)
    present, url = lookup(merged.tree, url_path)
    if not present or not url:
        return [at((SECTION, setting), f"names a provider for celery.{setting}, which is not set")]
    url = str(reveal(url))
    problems = []
    if url_has_secret(url):
        problems.append(at(url_path, f"carries a password and {SECTION}.{setting} names a provider too; "
                                     "remove the password from the URL (the provider gives it)"))
    scheme = urlsplit(url.split(";")[0]).scheme.lower()
    if scheme not in SCHEMES[setting]:
        allowed = " or ".join(f"{known}://" for known in SCHEMES[setting])
        problems.append(at(url_path, f"a provider's credentials work with {allowed} URLs, not "
                                     f"{scheme or 'this'}://"))
    return problems
