"""The one configured cattrs converter: JSON values in, frozen attrs models out, and back.

Structuring models uses the functions ``_structure.py`` compiles per class (the hot path of
streams); the converter is the registry that hands each class, and each nested field type, its
hook. Unknown keys are kept in ``Model.extra``; missing keys take the field default (``None``);
primitive fields are checked, not coerced (the caller turns a ``TypeError`` into
:class:`~agentchat.APIResponseValidationError`).

Unstructuring (``Model.to_dict()``, request bodies) leaves out ``None`` fields and merges
``extra`` back in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, get_args, get_origin

import attrs
import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from ._models._base import EMPTY_EXTRA, Model
from ._structure import NOT_ON_WIRE, compile_structure, mismatch

__all__ = ["converter", "structure"]

converter = cattrs.Converter(detailed_validation=False, forbid_extra_keys=False)


def _structure_str(value: object, _: type) -> str:
    if type(value) is str:
        return value
    raise mismatch("a string", value)


def _structure_int(value: object, _: type) -> int:
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    raise mismatch("an integer", value)


def _structure_float(value: object, _: type) -> float:
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    raise mismatch("a number", value)


def _structure_bool(value: object, _: type) -> bool:
    if type(value) is bool:
        return value
    raise mismatch("a boolean", value)


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
            raise mismatch("an array", value)
        return tuple([item_hook(item, item_type) for item in value])

    return structure_tuple


def _is_model(type_: Any) -> bool:
    return isinstance(type_, type) and issubclass(type_, Model)


def _make_model_structure_hook(cls: type[Model]) -> Callable[[Any, Any], Model]:
    return compile_structure(cls, converter.get_structure_hook)


def _make_model_unstructure_hook(cls: type[Model]) -> Callable[[Any], dict[str, Any]]:
    overrides = {}
    for field in attrs.fields(cls):
        if field.name in NOT_ON_WIRE:
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
