"""Merging typed layers, lowest precedence first, with dynaconf as the engine.

Dynaconf is configured so that none of its own behaviour reaches users: it reads no files, no ``.env``,
no ``DYNACONF_*`` or ``*_FOR_DYNACONF`` variables, evaluates no ``@`` tokens and casts nothing. Every
value is handed to it wrapped in :class:`_Leaf`, so it only ever merges mappings key by key; a leaf
(scalar or list) from a higher layer replaces the lower one whole, as the contract says lists do.
A mapping that only one layer has is handed over as a single leaf: nothing can merge into it, and
boxing its contents would cost time for nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from configsvc.core.coerce import TypedLayer
from configsvc.core.dynaconf_internals import fresh_settings
from configsvc.core.keypath import KeyPath

_ROOT = "CONFIGSVC"  # one top-level key: dynaconf upper-cases and scans top-level keys linearly


class _Leaf:
    """A value dynaconf must store as it is: never parsed, cast, evaluated or merged into."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


@dataclass(frozen=True)
class Merged:
    """The merged settings and, for every leaf, the layer it came from."""

    tree: dict[str, Any]
    winners: dict[KeyPath, TypedLayer]


def merge(layers: Sequence[TypedLayer]) -> Merged:
    """Merge layers (lowest precedence first); mappings merge key by key, everything else replaces."""
    shared = _shared_mappings(layers)
    settings = fresh_settings()
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
