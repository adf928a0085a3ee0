"""The resolved configuration: typed values, secrets wrapped, every value's source known."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from configsvc.core.coerce import TypedLayer
from configsvc.core.fingerprint import fingerprint
from configsvc.core.keypath import KeyPath, parse_key
from configsvc.core.layering import Merged, leaves, lookup
from configsvc.core.redaction import Secret, mask_url, masked, protect, reveal, url_has_secret
from configsvc.core.schema import CELERY_SECTION


@dataclass(frozen=True)
class Entry:
    """One resolved setting: its dotted key, value (secrets wrapped), winning source and where it was set."""

    key: str
    value: Any
    source: str
    origin: str


@dataclass(frozen=True)
class LayerValue:
    """What one layer says about a key: ``present`` False when the layer does not set it."""

    source: str
    origin: str | None
    present: bool
    value: Any = None


@dataclass(frozen=True)
class Explanation:
    """Every layer's value for one key, lowest precedence first, and which one wins."""

    key: str
    layers: tuple[LayerValue, ...]
    winner: str | None
    value: Any
    found: bool


class Config:
    """The outcome of one resolution. Secrets inside it are :class:`configsvc.Secret`; reprs are safe."""

    def __init__(
        self,
        env: str,
        merged: Merged,
        layers: Sequence[TypedLayer],
        deployment_file: Path | None,
        warnings: Sequence[str] = (),
        *,
        settings: object = None,
        secret_paths: frozenset[KeyPath] = frozenset(),
    ) -> None:
        self.env = env
        self.deployment_file = deployment_file
        self.warnings = tuple(warnings)
        #: The app's settings model instance for this configuration (frozen), or None without a model.
        self.settings = settings
        self._layers = tuple(layers)
        self._winners = merged.winners
        #: Keys secret whatever their name or source (the settings model's ``SecretStr`` fields).
        self._secret_paths = secret_paths
        self._tree: dict[str, Any] = {k: protect(k, v) for k, v in merged.tree.items()}
        for path, typed in merged.winners.items():
            if typed.written_path(path) in typed.layer.secret_paths or path in secret_paths:
                _wrap_leaf(self._tree, path)

    @cached_property
    def fingerprint(self) -> str:
        """What this configuration was made from, as far as it can change while a process runs (the
        deployment file and ``*_FILE`` files): equal for equal contents, revealing nothing of them."""
        digests: dict[str, str] = {}
        for typed in self._layers:
            digests.update(typed.layer.file_digests)
        return fingerprint(digests)

    @property
    def file_bytes(self) -> dict[str, bytes]:
        """The bytes the fingerprint was made from, by role (what a host keeps of a settled
        configuration in staged mode, :mod:`configsvc.rollout.settled`)."""
        return {role: data for typed in self._layers for role, data in typed.layer.file_bytes.items()}

    @property
    def watched_files(self) -> tuple[Path, ...]:
        """The files this configuration was read from that can change while a process runs: the
        deployment file, its key file (or a SOPS file's age identity files), the files ``*_FILE``
        variables name."""
        return tuple(dict.fromkeys(path for typed in self._layers for path in typed.layer.files))

    @property
    def encrypted_at_rest(self) -> bool:
        """True when the deployment file this came from was encrypted (configsvc's format or SOPS)."""
        return self.encryption is not None

    @property
    def encryption(self) -> str | None:
        """How the deployment file this came from was encrypted: ``"configsvc"``, ``"sops"``, or None."""
        return next((typed.layer.encryption for typed in self._layers if typed.layer.encryption), None)

    def __repr__(self) -> str:
        where = f" from {self.deployment_file}" if self.deployment_file else ""
        return f"<Config env={self.env!r}{where}: {len(self._winners)} settings>"

    def configured(self, key: str) -> bool:
        """True when a non-empty value at the dotted key comes from a source above the defaults (the
        deployment file, the environment, overrides), not from a defaults layer."""
        path = parse_key(key)
        winner = self._winners.get(path)
        return winner is not None and not winner.layer.defaults and self.reveal(key) not in (None, "")

    def get(self, key: str, default: Any = None) -> Any:
        """The value at a dotted key (secrets wrapped), or ``default``."""
        found, value = lookup(self._tree, parse_key(key))
        return value if found else default

    def __getitem__(self, key: str) -> Any:
        found, value = lookup(self._tree, parse_key(key))
        if not found:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and lookup(self._tree, parse_key(key))[0]

    def reveal(self, key: str, default: Any = None) -> Any:
        """The real value at a dotted key, secrets included. Hand it to code, never to output."""
        return reveal(self.get(key, default))

    def as_dict(self, *, reveal_secrets: bool = False) -> dict[str, Any]:
        """The whole configuration as nested plain data: secrets masked unless ``reveal_secrets``."""
        result: dict[str, Any] = reveal(self._tree) if reveal_secrets else masked(self._tree)
        return result

    def entries(self) -> Iterator[Entry]:
        """Every resolved setting with its source, in key order."""
        for path, value in sorted(leaves(self._tree)):
            winner = self._winners.get(path)
            yield Entry(
                ".".join(path),
                value,
                winner.layer.name if winner else "",
                winner.origin(path) if winner else "",
            )

    def explain(self, key: str) -> Explanation:
        """Each layer's (redacted-by-type) value for a dotted key, and the layer that wins."""
        path = parse_key(key)
        dotted = ".".join(path)
        found, value = lookup(self._tree, path)
        layers = []
        for typed in self._layers:
            present, layer_value = lookup(typed.tree, path)
            layers.append(LayerValue(
                typed.layer.name,
                typed.origin(path) if present else None,
                present,
                _protect_layer_value(typed, path, layer_value, self._secret_paths) if present else None,
            ))
        winner = self._winners.get(path)
        return Explanation(dotted, tuple(layers), winner.layer.name if winner else None, value, found)

    def changed_keys(self, other: Config) -> list[str]:
        """The dotted keys whose values differ between this configuration and ``other`` (secrets compared
        by their real values; a key only one of them has counts), sorted. Keys only: never values."""
        mine = {path: reveal(value) for path, value in leaves(self._tree)}
        theirs = {path: reveal(value) for path, value in leaves(other._tree)}
        return sorted(".".join(path) for path in mine.keys() | theirs.keys()
                      if mine.get(path, _ABSENT) != theirs.get(path, _ABSENT))

    def flask_mapping(self) -> dict[str, Any]:
        """The values for ``app.config``: top-level keys upper-cased, ``CELERY`` a dict, secrets revealed."""
        return {key.upper(): reveal(value) for key, value in self._tree.items()}

    @cached_property
    def flask_values(self) -> dict[str, Any]:
        """:meth:`flask_mapping`, made once: what a request or task pinned to this configuration reads
        (see :mod:`configsvc.flask.pinning`). Not to be changed."""
        return self.flask_mapping()

    @property
    def credentials(self) -> dict[str, dict[str, Any]]:
        """The ``credentials`` section: each Celery URL setting a provider gives its user and password,
        mapped to that provider's options (secrets revealed: for the provider, never for output)."""
        section = reveal(self._tree.get("credentials") or {})
        return {str(setting): dict(entry) for setting, entry in section.items() if isinstance(entry, dict)}

    def celery_settings(self) -> dict[str, Any]:
        """The ``celery`` section, secrets revealed, for the Celery app's ``conf``."""
        section = self._tree.get(CELERY_SECTION) or {}
        result: dict[str, Any] = reveal(section)
        return result


_ABSENT = object()


def _protect_layer_value(typed: TypedLayer, path: KeyPath, value: Any,
                         secret_paths: frozenset[KeyPath] = frozenset()) -> Any:
    """One layer's value for display: secret by name or URL, by the settings model's type, and wherever
    it was encrypted at rest."""
    protected = {"v": protect(".".join(path), value)}
    for secret in secret_paths:
        if secret[: len(path)] == path:
            inner = ("v", *secret[len(path):])
            if lookup(protected, inner)[0]:
                _wrap_leaf(protected, inner)
    for secret in typed.layer.secret_paths:
        written = typed.written_path(path)
        if secret[: len(written)] == written:
            inner = ("v", *secret[len(written):])
            found, _ = lookup(protected, inner)
            if found:
                _wrap_leaf(protected, inner)
    return protected["v"]


def _wrap_leaf(tree: dict[str, Any], path: KeyPath) -> None:
    """Wrap the value at ``path`` as a secret (it was encrypted at rest)."""
    node = tree
    for part in path[:-1]:
        node = node[part]
    value = node[path[-1]]
    if value is None or isinstance(value, Secret):
        return
    if isinstance(value, str) and url_has_secret(value):
        node[path[-1]] = Secret(value, mask_url(value))
    else:
        node[path[-1]] = Secret(reveal(value))
