"""An app's settings model — a pydantic model or a dataclass — as configsvc sees it.

:func:`describe` reads a model class once, when the service is made: the type of every field (the schema
that types the app's keys in every layer, so ``APP_FEATURE__LIMIT=11`` is the int 11), which fields are
secret (``SecretStr``, ``SecretBytes``), and the defaults it declares (the lowest of the app's layers).
:meth:`SettingsModel.build` makes the typed, frozen instance from a resolved configuration, or says what
does not fit — as configsvc problems, never carrying a value.

pydantic is imported only by :mod:`configsvc.typed.pydantic_models`, and only for a pydantic model.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import sys
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Literal

from configsvc.core.keypath import KeyPath
from configsvc.core.schema import CELERY_SECTION, METRICS_SECTION, ROLLOUT_SECTION, Setting, TypeName
from configsvc.errors import ConfigUsageError

#: Sections whose keys configsvc types itself: a model may not declare them.
RESERVED = (CELERY_SECTION, "credentials", METRICS_SECTION, ROLLOUT_SECTION)
_NAME = re.compile(r"[a-z0-9_]+")


@dataclass(frozen=True)
class Issue:
    """One way the resolved values do not fit the model: where (a path of keys and list positions) and
    what, in words that carry no value."""

    loc: tuple[str | int, ...]
    message: str
    missing: bool = False
    #: The model's own code said it (a validator, ``__post_init__``): it may quote any value.
    from_validator: bool = False


class Invalid(Exception):
    """The values do not fit the model; ``issues`` says where and why."""

    def __init__(self, issues: Iterable[Issue]) -> None:
        self.issues = tuple(issues)
        super().__init__(f"{len(self.issues)} issue(s)")


@dataclass(frozen=True)
class Field:
    """One field of a model: its name (the key), its annotation's setting, and a nested model if any."""

    name: str
    setting: Setting
    secret: bool
    nested: type | None
    default: Any  # plain data (see plain()), or MISSING
    required: bool


MISSING: Any = dataclasses.MISSING


class Adapter(typing.Protocol):
    """What a kind of model (pydantic, dataclasses) tells configsvc."""

    def fields(self, model: type) -> list[Field]: ...

    def build(self, model: type, values: Mapping[str, Any]) -> object: ...  # raises Invalid

    def freeze(self, instance: object) -> object: ...


@dataclass(frozen=True)
class SettingsModel:
    """A settings model class, read once: its schema, secret keys, defaults and how to build it."""

    model: type
    adapter: Adapter
    #: Every leaf field's key path and type (nested models are sections, not leaves).
    schema: Mapping[KeyPath, Setting]
    #: The key paths of ``SecretStr``/``SecretBytes`` fields.
    secret_paths: frozenset[KeyPath]
    #: The defaults the model declares, as nested plain data (the lowest app layer).
    defaults: Mapping[str, Any]
    #: The model's top-level keys.
    keys: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.model.__name__

    def build(self, tree: Mapping[str, Any]) -> object:
        """The frozen instance for a resolved configuration's plain values (secrets revealed); raises
        :class:`Invalid`. Keys the model does not declare (Flask's, ``celery``) are not given to it."""
        values = {key: tree[key] for key in self.keys if key in tree}
        return self.adapter.freeze(self.adapter.build(self.model, values))


def describe(model: object) -> SettingsModel:
    """Read a settings model class (raises :class:`configsvc.errors.ConfigUsageError` for anything that
    is not one)."""
    adapter = adapter_for(model)
    assert isinstance(model, type)
    schema: dict[KeyPath, Setting] = {}
    secrets: set[KeyPath] = set()
    defaults = _walk(adapter, model, (), schema, secrets, seen=())
    keys = tuple(field.name for field in adapter.fields(model))
    for reserved in RESERVED:
        if reserved in keys:
            raise ConfigUsageError(
                f"settings model {model.__qualname__} declares {reserved!r}: configsvc types the "
                f"{reserved} section itself; leave the field out")
    return SettingsModel(model, adapter, schema, frozenset(secrets), defaults, keys)


def adapter_for(model: object) -> Adapter:
    """The adapter for a pydantic model class or a dataclass."""
    if isinstance(model, type):
        pydantic = sys.modules.get("pydantic")  # a pydantic model's module imported it already
        if pydantic is not None and issubclass(model, pydantic.BaseModel):
            from configsvc.typed.pydantic_models import PydanticAdapter

            return PydanticAdapter()
        if dataclasses.is_dataclass(model):
            from configsvc.typed.dataclass_models import DataclassAdapter

            return DataclassAdapter()
    raise ConfigUsageError(
        f"settings={model!r} is not a settings model: give a pydantic model class (pip install "
        "'configsvc[pydantic]') or a dataclass")


def _walk(adapter: Adapter, model: type, prefix: KeyPath, schema: dict[KeyPath, Setting],
          secrets: set[KeyPath], seen: tuple[type, ...]) -> dict[str, Any]:
    if model in seen:
        raise ConfigUsageError(f"settings model {model.__qualname__} contains itself; a section cannot")
    defaults: dict[str, Any] = {}
    for field in adapter.fields(model):
        if not _NAME.fullmatch(field.name):
            raise ConfigUsageError(
                f"settings model {model.__qualname__}: field {field.name!r} must be a lower-case key "
                "(letters, digits, _): configuration keys are case-insensitive")
        path = (*prefix, field.name)
        if field.nested is not None:
            nested = _walk(adapter_for(field.nested), field.nested, path, schema, secrets,
                           (*seen, model))
            # A section's defaults: the nested model's own, under the field's own default if it has one.
            defaults[field.name] = _overlay(nested, field.default) if field.default is not MISSING \
                and isinstance(field.default, dict) else nested
            continue
        schema[path] = field.setting
        if field.secret:
            secrets.add(path)
        if field.default is not MISSING:
            defaults[field.name] = field.default
    return defaults


def _overlay(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in top.items():
        result[key] = _overlay(result[key], value) if isinstance(value, Mapping) and \
            isinstance(result.get(key), dict) else value
    return result


# -- annotations --------------------------------------------------------------------------------------

_PLAIN: dict[object, TypeName] = {str: "str", int: "int", float: "float", bool: "bool", bytes: "str"}
_LISTS = {list, tuple, set, frozenset}


def annotation_setting(annotation: Any, is_model: Callable[[Any], bool],
                       is_secret: Callable[[Any], bool]) -> tuple[Setting, bool, type | None]:
    """The setting a field's annotation types its key as, whether it is secret, and the nested model it
    names (a section) — ``None`` allowed (``X | None`` is ``X``); anything configsvc has no type for is
    ``any``, left for the model to validate."""
    bounds = _range_in(annotation)
    annotation = _strip(annotation)
    if bounds is not None and annotation is int:  # Annotated[int, range(1, 65536)], as schema= takes it
        return Setting("int", bounds.start, bounds.stop - 1), False, None
    if is_model(annotation):
        return Setting("section"), False, annotation
    if is_secret(annotation):
        return Setting("str"), True, None
    if annotation in _PLAIN:
        return Setting(_PLAIN[annotation]), False, None
    origin = typing.get_origin(annotation)
    if origin in _LISTS or annotation in _LISTS or origin in (typing.Sequence, list) or \
            _is_abc(origin, ("Sequence", "MutableSequence", "Set", "MutableSet")):
        return Setting("list"), False, None
    if origin is dict or annotation is dict or _is_abc(origin, ("Mapping", "MutableMapping")):
        return Setting("dict"), False, None
    if origin is Literal:
        kinds = {type(value) for value in typing.get_args(annotation)}
        if len(kinds) == 1 and (kind := kinds.pop()) in _PLAIN:
            return Setting(_PLAIN[kind]), False, None
        return Setting("any"), False, None
    if isinstance(annotation, type) and issubclass(annotation, PurePath):
        return Setting("str"), False, None
    return Setting("any"), False, None


def _range_in(annotation: Any) -> range | None:
    """The ``range`` an ``Annotated[int, range(...)]`` (possibly ``| None``) carries, if any."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            found = [item for item in annotation.__metadata__ if isinstance(item, range)]
            if found and found[0].step == 1 and len(found[0]) > 0:
                return found[0]
            annotation = typing.get_args(annotation)[0]
        elif origin is typing.Union or origin is types.UnionType:
            members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(members) != 1:
                return None
            annotation = members[0]
        else:
            return None


def _strip(annotation: Any) -> Any:
    """``X`` for ``Annotated[X, ...]``, ``X | None`` and ``Optional[X]``; unions of more stay."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin is typing.Union or origin is types.UnionType:
            members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation


def _is_abc(origin: Any, names: tuple[str, ...]) -> bool:
    module, name = getattr(origin, "__module__", None), getattr(origin, "__name__", "")
    return module == "collections.abc" and name in names


def plain(value: Any, reveal: Callable[[Any], Any] | None = None) -> Any:
    """A declared default as configuration data: nested containers as dicts and lists, paths and enums by
    value, secrets revealed (``reveal`` unwraps the model kind's secret type)."""
    if reveal is not None:
        value = reveal(value)
    if isinstance(value, Mapping):
        return {str(key): plain(item, reveal) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(item, reveal) for item in value]
    if isinstance(value, enum.Enum):
        return plain(value.value, reveal)
    if isinstance(value, PurePath):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: plain(getattr(value, field.name), reveal) for field in dataclasses.fields(value)}
    return value


# -- messages without values ----------------------------------------------------------------------------

def without_values(message: str, values: Iterable[Any]) -> str:
    """``message`` with every given value's text replaced by ``***`` (a validator's message, or a library's,
    may quote the input)."""
    texts = sorted({text for value in values for text in _texts(value) if text}, key=len, reverse=True)
    for text in texts:
        message = re.sub(rf"(?<![\w]){re.escape(text)}(?![\w])" if text[:1].isalnum() and text[-1:].isalnum()
                         else re.escape(text), "***", message)
    return message


def _texts(value: Any) -> Iterable[str]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _texts(item)
        yield str(value)
        yield repr(value)
    elif value is not None and not isinstance(value, bool):
        yield str(value)
        yield repr(value)


def frozen_class(cls: type, namespace: dict[str, Any], cache: dict[type, type]) -> type:
    """A subclass of ``cls`` with ``namespace`` added and the same name, made once per class."""
    made = cache.get(cls)
    if made is None:
        made = cache[cls] = type(cls.__name__, (cls,), {
            "__module__": cls.__module__, "__qualname__": cls.__qualname__, **namespace})
    return made
