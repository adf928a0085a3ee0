"""Typing one layer by the schema: keys folded to lower case, old Celery names mapped, values cast.

The rule for every source is the same: a value of the right type is kept; a string is parsed as the
setting's type (``"4"`` for an int, ``"false"`` for a bool, ``"a,b"`` or ``'["a","b"]'`` for a list, a JSON
object for a mapping); a string setting keeps exactly the text it was given; anything else is a problem
naming the key and the source. Keys the schema does not know keep their values as the source gave them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from configsvc.core import schema
from configsvc.core.casts import (
    Mismatch,
    as_bool,
    as_float,
    as_int,
    as_list,
    as_str,
    check_range,
    json_object,
    kind_of,
)
from configsvc.core.keypath import KeyPath
from configsvc.core.layer import Layer
from configsvc.core.redaction import misread_url
from configsvc.core.schema import CELERY_SECTION, Schema, Setting
from configsvc.errors import Problem
from configsvc.formats import Plain
from configsvc.formats.limits import MAX_VALUES

MISREAD_URL = (
    "is a URL that kombu and redis-py will misread: its user or password holds an unencoded '/', '?', "
    "'#', '@' or ';' (or its host or port cannot be read); percent-encode them in the URL ('/' as %2F, "
    "'?' %3F, '#' %23, '@' %40, ';' %3B, ':' in the user %3A)"
)



@dataclass
class TypedLayer:
    """A layer's settings after typing, with the problems and warnings found on the way."""

    layer: Layer
    tree: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # final key path -> the path it was written under, where they differ (old Celery names)
    renamed: dict[KeyPath, KeyPath] = field(default_factory=dict)

    def written_path(self, path: KeyPath) -> KeyPath:
        """The path a final key was written under in this layer."""
        for length in range(len(path), 0, -1):
            written = self.renamed.get(path[:length])
            if written is not None:
                return written + path[length:]
        return path

    def origin(self, path: KeyPath) -> str:
        """Where the final key's value was written: file and line, variable, or source."""
        return self.layer.origin(self.written_path(path))


def coerce_layer(layer: Layer, schema: Schema | None = None, *, strict: bool = False,
                 env_prefix: str = "APP_") -> TypedLayer:
    """Type a layer by the schema, collecting every problem instead of stopping at the first.

    A key one typo away from a known key is a warning, or a problem when ``strict`` (production).
    ``env_prefix`` names variables in advice about old Celery names.
    """
    return _Walk(layer, schema or Schema(), strict, env_prefix).run()


class _Walk:
    def __init__(self, layer: Layer, known: Schema, strict: bool, env_prefix: str) -> None:
        self.layer = layer
        self.schema = known
        self.strict = strict
        self.env_prefix = env_prefix
        self.typed = TypedLayer(layer, {})
        self.count = 0
        self.spelled: dict[KeyPath, str] = {}

    def run(self) -> TypedLayer:
        for raw_key, value in self.layer.data.items():
            key = self.key(raw_key, ())
            if key is None:
                continue
            new = schema.old_celery_name_at_top_level(key)
            if new is not None:
                self.old_name(str(raw_key), (key,), (CELERY_SECTION, new), value)
            elif key == CELERY_SECTION:
                self.celery_section(value)
            else:
                self.check_spelling((key,))
                self.put((key,), str(raw_key), self.value((key,), value))
        return self.typed

    def check_spelling(self, path: KeyPath) -> bool:
        """Report a key one typo away from a known key; True when it was one."""
        meant = self.schema.near_miss(path)
        if meant is None:
            return False
        full = ".".join((*path[:-1], meant))
        what = "a Celery setting" if path[:-1] == (CELERY_SECTION,) else "a known setting"
        if self.strict:
            self.problem(path, f"not {what}; did you mean {full}? (production refuses near-misses of "
                               "known keys: fix the name, or declare your own key in the app's schema)")
        else:
            self.warn(path, f"is not {what}; did you mean {full}? (an error in production)")
        return True

    def celery_section(self, section: Any) -> None:
        path = (CELERY_SECTION,)
        if section is None:
            return
        if not isinstance(section, dict):
            self.problem(path, f"must be a mapping of Celery settings, not {kind_of(section)}")
            return
        self.typed.tree.setdefault(CELERY_SECTION, {})
        known = schema.celery_settings()
        for raw_key, value in section.items():
            key = self.key(raw_key, path)
            if key is None:
                continue
            new = schema.old_celery_name_in_section(key)
            if new is not None:
                self.old_name(f"celery.{raw_key}", (*path, key), (*path, new), value)
                continue
            if key not in known and self.schema.setting_for((*path, key)) is None \
                    and not self.check_spelling((*path, key)):
                hint = schema.suggest_celery_key(key)
                self.warn(
                    (*path, key),
                    "is not a Celery setting"
                    + (f"; did you mean celery.{hint}?" if hint else "; Celery will ignore it"),
                )
            self.put((*path, key), f"celery.{raw_key}", self.value((*path, key), value))

    def old_name(self, spelled: str, written: KeyPath, path: KeyPath, value: Any) -> None:
        self.typed.renamed[path] = written
        new = ".".join(path)
        variable = self.env_prefix + "__".join(p.upper() for p in path)
        self.warn(
            written,
            f"is an old Celery setting name; use {new} instead "
            f"(in a file under 'celery:', in the environment {variable})",
            spelled,
        )
        self.put(path, spelled, self.value(path, value))

    def put(self, path: KeyPath, spelled: str, value: Any) -> None:
        if value is _SKIP:
            return
        earlier = self.spelled.get(path)
        if earlier is not None:
            self.problem(
                path,
                f"is set twice in one source, as {earlier!r} and as {spelled!r}; "
                f"keep only {'.'.join(path)}",
            )
            return
        self.spelled[path] = spelled
        node = self.typed.tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value

    def key(self, raw_key: Any, parent: KeyPath) -> str | None:
        if not isinstance(raw_key, str) or not raw_key.strip():
            self.problem(parent, "has a key that is not a non-empty name")
            return None
        key = raw_key.lower()
        if key.startswith("dynaconf"):
            self.problem((*parent, key), "is reserved (keys starting with 'dynaconf' are not allowed)")
            return None
        return key

    def value(self, path: KeyPath, value: Any) -> Any:
        setting = self.schema.setting_for(path)
        try:
            if setting is None:
                typed = self.free(value, path, fold_case=True)
            else:
                typed = self.cast(setting, value, path)
        except Mismatch as mismatch:
            self.problem(path, mismatch.message)
            return _SKIP
        if isinstance(typed, str) and "://" in typed and misread_url(typed):
            self.warn(path, MISREAD_URL)
        return typed

    def cast(self, setting: Setting, value: Any, path: KeyPath) -> Any:
        if value is None:
            return None
        if setting.type == "str":
            return as_str(value)
        if isinstance(value, Plain):
            value = value.value
        if setting.type == "int":
            number = as_int(value)
            check_range(setting, number)
            return number
        if setting.type == "float":
            return as_float(value)
        if setting.type == "bool":
            return as_bool(value)
        if setting.type == "list":
            return as_list(value)
        if setting.type == "dict":
            if isinstance(value, str):
                value = json_object(value)
            if not isinstance(value, dict):
                raise Mismatch(f"expected a mapping, got {kind_of(value)}")
            # keys inside a mapping-valued setting are data (queue names, schedule names): case kept
            return self.free(value, path, fold_case=False)
        return self.free(value, path, fold_case=False)

    def free(self, value: Any, path: KeyPath, fold_case: bool) -> Any:
        """A value the schema does not type: numbers from files unwrapped, everything else as given."""
        self.count += 1
        if self.count > MAX_VALUES:
            raise Mismatch(f"holds more than {MAX_VALUES} values (YAML aliases expanding?)")
        if isinstance(value, Plain):
            return value.value
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for raw_key, item in value.items():
                if not isinstance(raw_key, str):
                    raise Mismatch("has a key that is not text")
                key = raw_key.lower() if fold_case else raw_key
                if key in out:
                    raise Mismatch(f"has the key {key!r} twice (keys are case-insensitive)")
                child = (*path, key)
                setting = self.schema.setting_for(child) if fold_case else None
                if setting is not None:  # a dotted key of the app's schema
                    cast = self.value(child, item)
                    if cast is not _SKIP:
                        out[key] = cast
                    continue
                if fold_case:
                    self.check_spelling(child)
                out[key] = self.free(item, child, fold_case)
            return out
        if isinstance(value, list | tuple):
            return [self.free(item, path, fold_case) for item in value]
        return value

    def problem(self, path: KeyPath, message: str) -> None:
        problem = self.layer.problem(message, self.typed.written_path(path))
        key = ".".join(path) or None
        if problem.key != key:  # name the setting as it is now, located where it was written
            problem = Problem(problem.message, kind=problem.kind, key=key, source=problem.source,
                              path=problem.path, line=problem.line, variable=problem.variable)
        self.typed.problems.append(problem)

    def warn(self, written: KeyPath, message: str, spelled: str | None = None) -> None:
        where = self.layer.origin(written)
        name = spelled or ".".join(written)
        self.typed.warnings.append(f"{where}: {name} {message} [source: {self.layer.name}]")


_SKIP: Any = object()


