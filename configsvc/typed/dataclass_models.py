"""Dataclasses as settings models: fields from their annotations, validation by ``__post_init__``.

configsvc has already typed every value whose annotation it knows (int, float, bool, str, list, dict,
nested dataclasses as sections); what ``__post_init__`` raises is the model's verdict, its message passed
through :func:`configsvc.typed.model.without_values`. The instance an app gets is frozen: a dataclass that
is not ``frozen=True`` is swapped for a subclass of the same name that refuses assignment.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any

from configsvc.errors import ConfigUsageError
from configsvc.typed.model import (
    MISSING,
    Field,
    Invalid,
    Issue,
    annotation_setting,
    frozen_class,
    plain,
    without_values,
)

_frozen: dict[type, type] = {}


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and dataclasses.is_dataclass(annotation)


def _never(annotation: Any) -> bool:
    return False


def _refuse(self: object, name: str, value: Any = None) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}: settings are read-only")


def _equal(self: object, other: object) -> Any:
    """Equal to an instance of the model with the same fields, frozen or not (the dataclass's own
    ``__eq__`` wants the very same class)."""
    model = type(self).__mro__[1]
    if type(other) is not model and type(other) is not type(self):
        return NotImplemented
    return all(getattr(self, field.name) == getattr(other, field.name)
               for field in dataclasses.fields(model) if field.compare)


class DataclassAdapter:
    """Fields, validation and freezing for dataclasses."""

    def fields(self, model: type) -> list[Field]:
        try:
            hints = typing.get_type_hints(model, include_extras=True)
        except NameError as error:  # a string annotation naming something its module does not have
            raise ConfigUsageError(f"settings model {model.__name__}: its annotations cannot be read "
                                   f"({error}); define the classes it names at module level") from None
        fields = []
        for field in dataclasses.fields(model):
            if not field.init:
                continue
            setting, secret, nested = annotation_setting(hints.get(field.name, Any), _is_model, _never)
            if field.default is not dataclasses.MISSING:
                default = plain(field.default)
            elif field.default_factory is not dataclasses.MISSING:
                default = plain(field.default_factory())
            else:
                default = MISSING
            fields.append(Field(field.name, setting, secret, nested, default, default is MISSING))
        return fields

    def build(self, model: type, values: Mapping[str, Any], loc: tuple[str | int, ...] = ()) -> object:
        issues: list[Issue] = []
        arguments: dict[str, Any] = {}
        for field in self.fields(model):
            here = (*loc, field.name)
            if field.name not in values:
                if field.required:
                    issues.append(Issue(here, "missing", missing=True))
                continue
            value = values[field.name]
            if field.nested is not None:
                if not isinstance(value, Mapping):
                    issues.append(Issue(here, "must be a mapping (a section of keys)"))
                    continue
                try:
                    value = self.build(field.nested, value, here)
                except Invalid as invalid:
                    issues.extend(invalid.issues)
                    continue
            arguments[field.name] = value
        if issues:
            raise Invalid(issues)
        try:
            return model(**arguments)
        except (TypeError, ValueError, AssertionError) as error:
            message = without_values(f"{type(error).__name__}: {error}", values.values())
            raise Invalid([Issue(loc, f"rejected by {model.__qualname__}: {message}", from_validator=True)]) \
                from None

    def freeze(self, instance: object) -> object:
        if not dataclasses.is_dataclass(instance) or isinstance(instance, type):
            return instance
        cls = type(instance)
        params = getattr(cls, "__dataclass_params__", None)
        for field in dataclasses.fields(instance):
            self.freeze(getattr(instance, field.name))
        if params is not None and not params.frozen:
            namespace = {"__slots__": (), "__setattr__": _refuse, "__delattr__": _refuse,
                         "__hash__": cls.__hash__}
            if getattr(params, "eq", False):
                namespace["__eq__"] = _equal
            frozen = frozen_class(cls, namespace, _frozen)
            object.__setattr__(instance, "__class__", frozen)
        return instance
