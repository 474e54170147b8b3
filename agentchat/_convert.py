"""The one configured cattrs converter: JSON values in, frozen attrs models out, and back.

Structuring is tuned for the hot path and for servers that drift from the spec:

- generated (compiled) hooks per class, without cattrs' detailed validation;
- unknown keys are kept in ``Model.extra``; missing keys take the field default (``None``);
- primitive fields are checked, not coerced: ``str(...)`` on a list would silently turn a
  server's new content shape into a Python repr, so a mismatch raises ``TypeError`` instead
  (the caller turns that into :class:`~agentchat.APIResponseValidationError`).

Unstructuring (``Model.to_dict()``, request bodies) leaves out ``None`` fields and merges
``extra`` back in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, get_args, get_origin

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._models._base import EMPTY_EXTRA, Model

__all__ = ["converter", "structure"]

# Fields that live on models but are not part of the wire format.
_NOT_ON_WIRE = ("extra", "response")

converter = cattrs.Converter(detailed_validation=False, forbid_extra_keys=False)


def _mismatch(expected: str, value: object) -> TypeError:
    text = repr(value)
    if len(text) > 80:
        text = text[:80] + "..."
    return TypeError(f"expected {expected}, got {type(value).__name__} {text}")


def _structure_str(value: object, _: type) -> str:
    if type(value) is str:
        return value
    raise _mismatch("a string", value)


def _structure_int(value: object, _: type) -> int:
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    raise _mismatch("an integer", value)


def _structure_float(value: object, _: type) -> float:
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    raise _mismatch("a number", value)


def _structure_bool(value: object, _: type) -> bool:
    if type(value) is bool:
        return value
    raise _mismatch("a boolean", value)


converter.register_structure_hook(str, _structure_str)
converter.register_structure_hook(int, _structure_int)
converter.register_structure_hook(float, _structure_float)
converter.register_structure_hook(bool, _structure_bool)


def _is_homogeneous_tuple(type_: Any) -> bool:
    args = get_args(type_)
    return get_origin(type_) is tuple and len(args) == 2 and args[1] is Ellipsis


def _make_tuple_hook(type_: Any) -> Callable[[Any, Any], tuple[Any, ...]]:
    item_type = get_args(type_)[0]
    item_hook = converter.get_structure_hook(item_type)

    def structure_tuple(value: Any, _: Any) -> tuple[Any, ...]:
        # A JSON array and nothing else: iterating a string or a dict would invent data.
        if type(value) is not list:
            raise _mismatch("an array", value)
        return tuple([item_hook(item, item_type) for item in value])

    return structure_tuple


def _is_model(type_: Any) -> bool:
    return isinstance(type_, type) and issubclass(type_, Model)


def _make_model_structure_hook(cls: type[Model]) -> Callable[[Any, Any], Model]:
    fields = attrs.fields(cls)
    skip = {name: override(omit=True) for name in _NOT_ON_WIRE if hasattr(fields, name)}
    build = make_dict_structure_fn(cls, converter, **skip)  # type: ignore[arg-type]
    known = frozenset(a.name for a in fields if a.name not in _NOT_ON_WIRE)
    set_field = object.__setattr__

    def structure_model(data: Any, _: Any) -> Model:
        if type(data) is not dict:
            raise _mismatch(f"a JSON object for {cls.__name__}", data)
        obj = build(data, cls)
        if not known.issuperset(data):
            unknown = {key: value for key, value in data.items() if key not in known}
            set_field(obj, "extra", unknown)
        return obj

    return structure_model


def _make_model_unstructure_hook(cls: type[Model]) -> Callable[[Any], dict[str, Any]]:
    overrides = {}
    for field in attrs.fields(cls):
        if field.name in _NOT_ON_WIRE:
            overrides[field.name] = override(omit=True)
        elif field.default is None:
            overrides[field.name] = override(omit_if_default=True)
    build = make_dict_unstructure_fn(cls, converter, **overrides)  # type: ignore[arg-type]

    def unstructure_model(obj: Model) -> dict[str, Any]:
        result: dict[str, Any] = build(obj)
        if obj.extra is not EMPTY_EXTRA:
            result.update(obj.extra)
        return result

    return unstructure_model


def _is_json_object(type_: Any) -> bool:
    return get_origin(type_) in (Mapping, dict)


def _as_is(value: Any) -> Any:
    # Free-form JSON objects (a tool's ``parameters`` schema) are sent as given: no copy.
    return value


converter.register_structure_hook_factory(_is_homogeneous_tuple, _make_tuple_hook)
converter.register_structure_hook_factory(_is_model, _make_model_structure_hook)
converter.register_unstructure_hook_factory(_is_model, _make_model_unstructure_hook)
converter.register_unstructure_hook_func(_is_json_object, _as_is)


def structure(data: Any, cls: type[Any]) -> Any:
    """Structure ``data`` into ``cls`` with the one converter."""
    return converter.structure(data, cls)
