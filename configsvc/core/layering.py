"""Merging typed layers, lowest precedence first, with dynaconf as the engine.

Dynaconf is configured so that none of its own behaviour reaches users: it reads no files, no ``.env``,
no ``DYNACONF_*`` or ``*_FOR_DYNACONF`` variables, evaluates no ``@`` tokens and casts nothing. Every
value is handed to it wrapped in :class:`_Leaf`, so it only ever merges mappings key by key; a leaf
(scalar or list) from a higher layer replaces the lower one whole, as the contract says lists do.
A mapping that only one layer has is handed over as a single leaf: nothing can merge into it, and
boxing its contents would cost time for nothing.
"""

from __future__ import annotations

import copy
import functools
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from dynaconf import Dynaconf
from dynaconf.base import Settings as DynaconfSettings

from configsvc.core.coerce import TypedLayer
from configsvc.core.keypath import KeyPath

_ROOT = "CONFIGSVC"  # one top-level key: dynaconf upper-cases and scans top-level keys linearly


class _Leaf:
    """A value dynaconf must store as it is: never parsed, cast, evaluated or merged into."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _NoEnvironSettings(DynaconfSettings):  # type: ignore[misc]
    """Dynaconf settings that see an empty environment.

    Dynaconf's first loader re-reads every ``*_FOR_DYNACONF`` variable from ``environ`` after the
    keyword arguments, so arguments alone cannot stop ``VAULT_ENABLED_FOR_DYNACONF=true`` or
    ``SETTINGS_FILE_FOR_DYNACONF=...`` in the process environment from taking effect.
    """

    @property
    def environ(self) -> dict[str, str]:
        return {}


@functools.cache
def _template() -> Any:
    """One isolated dynaconf, set up once: each merge works on a copy (setting dynaconf up takes ~20x
    as long as copying it). The template itself is never changed, so copies may be taken from any thread."""
    settings = _isolated_dynaconf()
    settings.as_dict()  # the lazy settings are set up now
    return settings._wrapped


def _isolated_dynaconf() -> Any:
    # Every setting that dynaconf would otherwise take from the process environment is given here.
    return Dynaconf(
        _wrapper_class=_NoEnvironSettings,
        settings_files=[],
        preload=[],
        includes=[],
        secrets=None,
        environments=False,
        load_dotenv=False,
        envvar_prefix=False,
        envvar="CONFIGSVC_UNUSED_SETTINGS_MODULE",
        loaders=[],
        core_loaders=[],
        redis_enabled=False,
        vault_enabled=False,
        merge_enabled=True,
        auto_cast=False,
        dotted_lookup=False,
        sysenv_fallback=False,
        root_path="/nonexistent-configsvc-root",
        fresh_vars=[],
        validate_on_update=False,
        apply_default_on_none=False,
        lowercase_read=False,
        skip_files=[],
    )


@dataclass(frozen=True)
class Merged:
    """The merged settings and, for every leaf, the layer it came from."""

    tree: dict[str, Any]
    winners: dict[KeyPath, TypedLayer]


def merge(layers: Sequence[TypedLayer]) -> Merged:
    """Merge layers (lowest precedence first); mappings merge key by key, everything else replaces."""
    shared = _shared_mappings(layers)
    settings = copy.deepcopy(_template())
    for typed in layers:
        settings.update(
            {_ROOT: _wrap(typed.tree, (), shared)},
            loader_identifier=typed.layer.name,
            tomlfy=False,
            validate=False,
            dotted_lookup=False,
        )
    stored = settings.as_dict().get(_ROOT, {})
    tree = _unwrap(stored)
    return Merged(tree, _winners(tree, layers))


def _mapping_paths(tree: dict[str, Any], prefix: KeyPath = ()) -> Iterator[KeyPath]:
    for key, value in tree.items():
        if isinstance(value, dict):
            path = (*prefix, key)
            yield path
            yield from _mapping_paths(value, path)


def _shared_mappings(layers: Sequence[TypedLayer]) -> set[KeyPath]:
    counts = Counter(path for typed in layers for path in _mapping_paths(typed.tree))
    return {path for path, count in counts.items() if count > 1}


def _wrap(tree: dict[str, Any], prefix: KeyPath, shared: set[KeyPath]) -> dict[str, Any]:
    wrapped: dict[str, Any] = {}
    for key, value in tree.items():
        path = (*prefix, key)
        if isinstance(value, dict) and path in shared:
            wrapped[key] = _wrap(value, path, shared)
        else:
            wrapped[key] = _Leaf(value)
    return wrapped


def _unwrap(stored: Any) -> Any:
    if isinstance(stored, _Leaf):
        return stored.value
    if isinstance(stored, dict):
        return {key: _unwrap(value) for key, value in stored.items()}
    return stored


def leaves(tree: dict[str, Any], prefix: KeyPath = ()) -> Iterator[tuple[KeyPath, Any]]:
    """Every (path, value) whose value is not a non-empty mapping."""
    for key, value in tree.items():
        path = (*prefix, key)
        if isinstance(value, dict) and value:
            yield from leaves(value, path)
        else:
            yield path, value


def lookup(tree: dict[str, Any], path: KeyPath) -> tuple[bool, Any]:
    """(found, value) for a key path in a nested tree."""
    node: Any = tree
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _winners(tree: dict[str, Any], layers: Sequence[TypedLayer]) -> dict[KeyPath, TypedLayer]:
    winners: dict[KeyPath, TypedLayer] = {}
    for path, _ in leaves(tree):
        for typed in reversed(layers):
            found, value = lookup(typed.tree, path)
            if found and not (isinstance(value, dict) and value):
                winners[path] = typed
                break
    return winners
