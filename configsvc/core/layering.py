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


def merge(layers: Sequence[TypedLayer], under: TypedLayer | None = None) -> Merged:
    """Merge layers (lowest precedence first); mappings merge key by key, everything else replaces.

    ``under`` is a layer below all of them, filled in where they set nothing: the same result as merging
    it first, without a merge pass over its keys (a settings model's defaults: every app key, once more).
    """
    merged = _merge(layers)
    if under is None:
        return merged
    _fill(merged.tree, under.tree)
    return Merged(merged.tree, _winners(merged.tree, [under, *layers]))


def can_go_under(layer: TypedLayer, below: Sequence[TypedLayer]) -> bool:
    """True when no layer of ``below`` sets a key ``layer`` sets, or one inside or around it: then
    ``layer`` may be filled in under them all (:func:`merge`'s ``under``) instead of merged above them."""
    taken: set[KeyPath] = set()
    for typed in below:
        for path, _ in leaves(typed.tree):
            taken.update(path[:length] for length in range(1, len(path) + 1))
    return not any(path[:length] in taken for path, _ in leaves(layer.tree)
                   for length in range(1, len(path) + 1))


def _fill(tree: dict[str, Any], lower: dict[str, Any]) -> None:
    for key, value in lower.items():
        if key not in tree:
            tree[key] = _copy(value)
        elif isinstance(tree[key], dict) and isinstance(value, dict):
            _fill(tree[key], value)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def _merge(layers: Sequence[TypedLayer]) -> Merged:
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
