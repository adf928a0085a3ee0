"""pydantic (v2) models as settings models: the only module that imports pydantic.

A field's key is its alias when it has a plain one, else its name. pydantic's own messages can quote the
input; every one is passed through :func:`configsvc.typed.model.without_values` with the input it names.
The instance an app gets is frozen: each model class in it is swapped for a subclass of the same name with
``frozen=True`` (validators, methods and ``isinstance`` unchanged).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pydantic

from configsvc.core.schema import Setting
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

_SECRET_TYPES = (pydantic.SecretStr, pydantic.SecretBytes)
_frozen: dict[type, type] = {}


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and (issubclass(annotation, pydantic.BaseModel)
                                             or dataclasses.is_dataclass(annotation))


def _is_secret(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, _SECRET_TYPES)


def _reveal(value: Any) -> Any:
    if isinstance(value, pydantic.SecretStr | pydantic.SecretBytes):
        secret = value.get_secret_value()
        return secret.decode(errors="replace") if isinstance(secret, bytes) else secret
    if isinstance(value, pydantic.BaseModel):
        return {key: getattr(value, name) for name, key in _keys(type(value)).items()}
    return value


def _keys(model: type[pydantic.BaseModel]) -> dict[str, str]:
    """Field name -> the key it is read from."""
    return {name: info.alias if isinstance(info.alias, str) and info.alias else name
            for name, info in model.model_fields.items()}


def _equal(self: pydantic.BaseModel, other: object) -> Any:
    """Equal to an instance of the model with the same values, frozen or not (pydantic's ``__eq__``
    wants the very same class)."""
    model = type(self).__mro__[1]
    if type(other) is not model and type(other) is not type(self):
        return NotImplemented
    assert isinstance(other, pydantic.BaseModel)
    return (self.__dict__ == other.__dict__ and self.__pydantic_extra__ == other.__pydantic_extra__
            and self.__pydantic_private__ == other.__pydantic_private__)


class PydanticAdapter:
    """Fields, validation and freezing for pydantic models."""

    def fields(self, model: type) -> list[Field]:
        assert issubclass(model, pydantic.BaseModel)
        fields = []
        for name, key in _keys(model).items():
            info = model.model_fields[name]
            setting, secret, nested = annotation_setting(info.annotation, _is_model, _is_secret)
            if setting.type == "int":
                setting = _bounded(setting, info.metadata)
            default = MISSING if info.is_required() else plain(info.get_default(call_default_factory=True),
                                                               _reveal)
            fields.append(Field(key, setting, secret, nested, default, info.is_required()))
        return fields

    def build(self, model: type, values: Mapping[str, Any]) -> object:
        assert issubclass(model, pydantic.BaseModel)
        try:
            return model.model_validate(dict(values))
        except pydantic.ValidationError as error:
            raise Invalid(_issue(detail) for detail in error.errors(include_url=False)) from None

    def freeze(self, instance: object) -> object:
        if isinstance(instance, pydantic.BaseModel):
            cls = type(instance)
            if not cls.model_config.get("frozen"):
                frozen = frozen_class(cls, {"model_config": {**cls.model_config, "frozen": True},
                                            "__eq__": _equal}, _frozen)
                object.__setattr__(instance, "__class__", frozen)
            for name in type(instance).model_fields:
                self.freeze(getattr(instance, name))
        elif dataclasses.is_dataclass(instance) and not isinstance(instance, type):
            from configsvc.typed.dataclass_models import DataclassAdapter

            DataclassAdapter().freeze(instance)
        return instance


def _bounded(setting: Setting, metadata: list[Any]) -> Setting:
    """An int field's bounds (``Field(ge=1, le=65535)``) as configsvc's own range, so that every layer and
    ``configsvc set`` refuse an out-of-range value the way they refuse one for ``schema=``."""
    low = high = None
    for item in metadata:
        if isinstance(getattr(item, "ge", None), int):
            low = item.ge
        elif isinstance(getattr(item, "gt", None), int):
            low = item.gt + 1
        if isinstance(getattr(item, "le", None), int):
            high = item.le
        elif isinstance(getattr(item, "lt", None), int):
            high = item.lt - 1
    return Setting("int", low, high) if low is not None or high is not None else setting


def _issue(detail: Mapping[str, Any]) -> Issue:
    loc = tuple(part if isinstance(part, int) else str(part) for part in detail.get("loc", ()))
    kind = str(detail.get("type", ""))
    if kind == "missing":
        return Issue(loc, "missing", missing=True)
    message = str(detail.get("msg", "does not fit the model"))
    validator = kind in ("value_error", "assertion_error")
    if validator:  # the validator's own words, without pydantic's "Value error, " before them
        message = message.split(", ", 1)[-1]
    return Issue(loc, without_values(message, [detail.get("input")]), from_validator=validator)
