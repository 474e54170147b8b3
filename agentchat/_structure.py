"""Compiled structure functions for the models: decoded JSON in, frozen attrs objects out.

Streams turn tens of thousands of JSON objects a second into models, so this is the hot path.
cattrs' generic generated hooks spend most of their time dispatching ``X | None`` and splatting
a dict of keyword arguments; for each model class this module writes one straight-line
function instead (``exec``, like attrs and cattrs themselves do), which the converter in
``_convert.py`` registers as that class's hook. Per field it:

- reads the key with ``dict.get`` (every absent optional field takes its default, ``None``);
- checks primitives inline (``type(v) is str``): a wrong type raises ``TypeError`` rather than
  being coerced, so a server's new shape is reported instead of turned into a Python repr;
  an integral float is accepted for an ``int`` and an ``int`` for a ``float``;
- calls the nested model's own compiled function, or builds a tuple from a JSON array;
- keeps unknown keys in ``extra``.
"""

from __future__ import annotations

import linecache
import types
from collections.abc import Callable, Mapping
from typing import Any, Union, get_args, get_origin

import attrs

from ._frozen import builder
from ._models._base import EMPTY_EXTRA, NOT_ON_WIRE, Model

__all__ = ["NOT_ON_WIRE", "compile_structure", "mismatch"]

_PRIMITIVE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}

Hook = Callable[[Any, Any], Any]


def mismatch(expected: str, value: object, where: str = "") -> TypeError:
    """The error for a JSON value of the wrong type."""
    text = repr(value)
    if len(text) > 80:
        text = text[:80] + "..."
    place = f" for {where}" if where else ""
    return TypeError(f"expected {expected}{place}, got {type(value).__name__} {text}")


def _as_int(value: Any, where: str) -> int:
    if type(value) is float and value.is_integer():
        return int(value)
    raise mismatch("an integer", value, where)


def _as_float(value: Any, where: str) -> float:
    if type(value) is int:
        return float(value)
    raise mismatch("a number", value, where)


def _unwrap_optional(type_: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); anything else -> (type_, False)."""
    origin = get_origin(type_)
    if origin is Union or origin is types.UnionType:
        args = [a for a in get_args(type_) if a is not type(None)]
        if len(args) == 1 and len(get_args(type_)) == 2:
            return args[0], True
    return type_, False


class _Writer:
    """Accumulates the source of one structure function and the names it closes over."""

    def __init__(self, cls: type[Model], nested: Callable[[Any], Hook]) -> None:
        self.cls = cls
        self.nested = nested
        self.lines: list[str] = []
        self.scope: dict[str, Any] = {
            "__cl": cls,
            "__mismatch": mismatch,
            "__as_int": _as_int,
            "__as_float": _as_float,
        }

    def bind(self, name: str, value: Any) -> str:
        self.scope[name] = value
        return name

    def convert(self, var: str, type_: Any, where: str, indent: str) -> None:
        """Lines that check or convert ``var`` (not None) to ``type_`` in place."""
        emit = self.lines.append
        origin = get_origin(type_)
        if type_ in _PRIMITIVE_NAMES:
            if type_ is int:
                emit(f"{indent}if type({var}) is not int: {var} = __as_int({var}, {where!r})")
            elif type_ is float:
                emit(f"{indent}if type({var}) is not float: {var} = __as_float({var}, {where!r})")
            else:
                emit(
                    f"{indent}if type({var}) is not {type_.__name__}: "
                    f"raise __mismatch({_PRIMITIVE_NAMES[type_]!r}, {var}, {where!r})"
                )
        elif isinstance(type_, type) and issubclass(type_, Model):
            hook = self.bind(f"__h_{type_.__name__}", self.nested(type_))
            emit(f"{indent}{var} = {hook}({var}, None)")
        elif origin is tuple and len(get_args(type_)) == 2 and get_args(type_)[1] is Ellipsis:
            item = get_args(type_)[0]
            emit(
                f"{indent}if type({var}) is not list: "
                f"raise __mismatch('an array', {var}, {where!r})"
            )
            if item in _PRIMITIVE_NAMES:
                check = self.bind(f"__items_{item.__name__}", _item_checker(item))
                emit(f"{indent}{var} = {check}({var}, {where!r})")
            else:
                hook = self.bind(f"__h_{getattr(item, '__name__', 'item')}", self.nested(item))
                # One element (a stream chunk's single choice) is by far the common case.
                emit(f"{indent}if len({var}) == 1: {var} = ({hook}({var}[0], None),)")
                emit(f"{indent}else: {var} = tuple([{hook}(__i, None) for __i in {var}])")
        elif type_ is Any:
            pass
        elif origin in (dict, Mapping) or type_ in (dict, Mapping):
            emit(
                f"{indent}if type({var}) is not dict: "
                f"raise __mismatch('a JSON object', {var}, {where!r})"
            )
        else:
            raise TypeError(f"{self.cls.__name__}: no structure rule for {type_!r}")


def _item_checker(item: type) -> Callable[[list[Any], str], tuple[Any, ...]]:
    expected = f"an array of {item.__name__} values"

    def check(values: list[Any], where: str) -> tuple[Any, ...]:
        for value in values:
            if type(value) is not item and not (item is float and type(value) is int):
                raise mismatch(expected, value, where)
        return tuple(values)

    return check


def compile_structure(cls: type[Model], nested: Callable[[Any], Hook]) -> Hook:
    """Write, compile and return the structure function of ``cls``.

    ``nested(type)`` returns the hook for a field's type (the converter's, so nested models
    use their own compiled functions).
    """
    attrs.resolve_types(cls)
    if hasattr(cls, "__attrs_post_init__") or any(
        f.validator is not None or f.converter is not None for f in attrs.fields(cls)
    ):
        raise TypeError(f"{cls.__name__}: models must not have validators or converters")
    fields = [f for f in attrs.fields(cls) if f.name not in NOT_ON_WIRE]
    writer = _Writer(cls, nested)
    emit = writer.lines.append
    name = cls.__name__
    emit(f"def structure_{name}(o, _=None):")
    emit("    if type(o) is not dict:")
    emit(f"        raise __mismatch('a JSON object', o, {name!r})")
    emit("    get = o.get")
    arguments: list[str] = []
    for field in fields:
        var = f"v_{field.name}"
        where = f"{name}.{field.name}"
        type_, optional = _unwrap_optional(field.type)
        default = field.default
        if optional and default is None:
            emit(f"    {var} = get({field.name!r})")
            emit(f"    if {var} is not None:")
            writer.convert(var, type_, where, "        ")
        else:
            emit(f"    if {field.name!r} in o:")
            emit(f"        {var} = o[{field.name!r}]")
            if optional:
                emit(f"        if {var} is not None:")
                writer.convert(var, type_, where, "            ")
            else:
                writer.convert(var, type_, where, "        ")
            emit("    else:")
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                factory = writer.bind(f"__factory_{field.name}", default.factory)
                emit(f"        {var} = {factory}()")
            elif default is attrs.NOTHING:
                emit(f"        raise __mismatch('a value', None, {where!r})")
            else:
                constant = writer.bind(f"__default_{field.name}", default)
                emit(f"        {var} = {constant}")
        arguments.append(var)
    # Build the object without __init__, as its builder subclass (``_frozen``): plain
    # attribute stores, then a switch to the frozen class. That is safe because models declare
    # no validators, converters or __attrs_post_init__ (checked above), and every slot is set
    # here, the off-wire ones to their defaults.
    emit("    obj = __new(__builder)")
    for field, var in zip(fields, arguments, strict=True):
        emit(f"    obj.{field.name} = {var}")
    known = writer.bind("__known", frozenset(f.name for f in fields))
    for field in attrs.fields(cls):
        if field.name in NOT_ON_WIRE:
            if field.name == "extra":
                emit(f"    if {known}.issuperset(o):")
                emit("        obj.extra = __empty")
                emit("    else:")
                emit(f"        obj.extra = {{k: v for k, v in o.items() if k not in {known}}}")
            else:
                default = writer.bind("__default_" + field.name, field.default)
                emit(f"    obj.{field.name} = {default}")
    emit("    obj.__class__ = __cl")
    emit("    return obj")
    writer.bind("__new", object.__new__)
    writer.bind("__builder", builder(cls))
    writer.bind("__empty", EMPTY_EXTRA)
    source = "\n".join(writer.lines) + "\n"
    filename = f"<agentchat generated structure {cls.__module__}.{name}>"
    # Registered with linecache so tracebacks through the generated code show its lines.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), writer.scope)
    function: Hook = writer.scope[f"structure_{name}"]
    return function
