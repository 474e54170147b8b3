"""Plain Python functions as tools: :func:`function_tool` and :class:`FunctionTool`.

A function's signature and type hints become the JSON Schema of its arguments (``_schema.py``)
when the tool is defined, so a hint the model cannot be told about fails at once, with
:class:`ToolDefinitionError`, rather than when the model first calls the tool.

When the model calls it, :meth:`FunctionTool.parse_arguments` turns the JSON arguments string
into keyword arguments of the annotated types with a cattrs converter of its own, set up like
the one in ``agentchat/_convert.py`` (strict scalars: no ``"3"`` for an ``int``, no ``true``
for an ``int``; an ``int`` for a ``float`` is fine), plus detailed validation and unknown keys
refused. Every problem is reported at once, with its path (``stops[2].name``), in one
:class:`ToolArgumentsError` written for the model to read and correct itself.
"""

from __future__ import annotations

import difflib
import enum
import functools
import inspect
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, get_args, get_origin, overload

import attrs
import cattrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn
from cattrs.gen.typeddicts import make_dict_structure_fn as make_typeddict_structure_fn

from .._errors import AgentChatError
from .._json import dumps, loads
from .._validate import _TOOL_NAME
from . import _schema
from ._schema import NO_DEFAULT, NoneType, SchemaBuilder, describe

__all__ = ["FunctionTool", "ToolArgumentsError", "ToolDefinitionError", "function_tool"]

Hook = Callable[[Any, Any], Any]


class ToolDefinitionError(AgentChatError, TypeError):
    """A function cannot be made a tool: a parameter without a type hint or with one that has
    no JSON Schema, ``*args``/``**kwargs``, a positional-only parameter, an invalid name, ...

    Raised when the tool is defined (by :func:`function_tool`), never when the model calls it.
    """


class ToolArgumentsError(AgentChatError, ValueError):
    """The arguments a model sent for a tool are not what its function takes: not JSON, not a
    JSON object, a required argument missing, an unknown one, a value of the wrong type or not
    one of the choices.

    ``tool`` is the tool's name; ``message`` (also ``str(error)``) is written for the model,
    so that it can call the tool again correctly: each problem with its path and what is
    allowed, e.g. ``Invalid arguments for get_weather: unit: expected one of "c", "f", got
    "k" (a string)``.
    """

    def __init__(self, tool: str, message: str) -> None:
        super().__init__(message)
        self.tool = tool
        self.message = message


# -- the converter ----------------------------------------------------------------------------
# Its own converter, not agentchat._convert's: that one keeps unknown keys and stops at the
# first error, which is right for server responses; here an unknown key is a model's mistake
# to report, and the model should hear of every mistake at once.

_converter = cattrs.Converter(detailed_validation=True, forbid_extra_keys=True)

_NUMBERS = frozenset({"integer", "number"})


def _hook_of(hint: Any) -> Hook:
    """The converter's structure hook for ``hint`` (``Converter.get_structure_hook`` appeared in
    cattrs 24.1; before it, ``structure`` itself takes the same two arguments)."""
    get_hook = getattr(_converter, "get_structure_hook", None)
    return get_hook(hint) if get_hook is not None else _converter.structure


def _kind(value: Any) -> str:
    """The JSON type of a decoded JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


_ARTICLES = {"integer": "an integer", "array": "an array", "object": "an object"}


def _got(value: Any) -> str:
    """A decoded JSON value, shown to the model as JSON: ``"3" (a string)``."""
    kind = _kind(value)
    if kind == "null":
        return "null"
    try:
        text = dumps(value).decode()
    except ValueError:  # NaN or Infinity, which the json module decodes
        text = repr(value)
    if len(text) > 60:
        text = text[:60] + "..."
    return f"{text} ({_ARTICLES.get(kind, 'a ' + kind)})"


def _wrong(expected: str, value: Any) -> TypeError:
    return TypeError(f"expected {expected}, got {_got(value)}")


def _same(choice: Any, value: Any) -> bool:
    """A JSON value equals a Literal value or an Enum value: as in JSON Schema's ``enum``,
    ``1`` equals ``1.0`` but ``true`` does not equal ``1``."""
    return (
        choice == value
        and isinstance(choice, bool) == isinstance(value, bool)
        and isinstance(choice, str) == isinstance(value, str)
    )


def _structure_enum(value: Any, cls: type[enum.Enum]) -> enum.Enum:
    for member in cls:
        if _same(member.value, value):
            return member
    raise _wrong(describe(cls), value)


# The scalar hooks are found by class (functools.singledispatch, before any predicate), so an
# Enum with a str or int mixin reaches the hook of its base class: hand it to the Enum hook.


def _structure_str(value: Any, cls: type) -> Any:
    if cls is not str:
        return _structure_enum(value, cls)
    if type(value) is str:
        return value
    raise _wrong("a string", value)


def _structure_int(value: Any, cls: type) -> Any:
    if cls is not int:
        return _structure_enum(value, cls)
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():  # JSON Schema's integer: 3.0 is one
        return int(value)
    raise _wrong("an integer", value)


def _structure_float(value: Any, cls: type) -> Any:
    if cls is not float:
        return _structure_enum(value, cls)
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    raise _wrong("a number", value)


def _structure_bool(value: Any, _: type) -> bool:
    if type(value) is bool:
        return value
    raise _wrong("a boolean (true or false)", value)


def _structure_none(value: Any, _: type) -> None:
    if value is not None:
        raise _wrong("null", value)


def _make_literal_hook(hint: Any) -> Hook:
    choices = get_args(hint)
    expected = describe(hint)

    def structure_literal(value: Any, _: Any) -> Any:
        for choice in choices:
            if _same(choice, value):
                return choice
        raise _wrong(expected, value)

    return structure_literal


def _make_union_hook(hint: Any) -> Hook:
    members = [(member, _schema.json_kinds(member), _hook_of(member)) for member in get_args(hint)]
    expected = describe(hint)

    def structure_union(value: Any, _: Any) -> Any:
        # The members that take this JSON type, then those that take it as another number
        # (3.0 for an int, 3 for a float); the first that accepts the value wins.
        kind = _kind(value)
        exact = [(m, hook) for m, kinds, hook in members if kind in kinds]
        loose = [
            (m, hook)
            for m, kinds, hook in members
            if kind in _NUMBERS and kind not in kinds and kinds & _NUMBERS
        ]
        errors = []
        for member, hook in exact + loose:
            try:
                return hook(value, member)
            except Exception as exc:
                errors.append(exc)
        # The member the value comes closest to (fewest problems, if one alone) says what
        # is wrong in its own words; otherwise, what the union takes.
        counts = [len(_problems(error, "")) for error in errors]
        if counts and counts.count(min(counts)) == 1:
            raise errors[counts.index(min(counts))]
        raise _wrong(expected, value)

    return structure_union


def _noted(exc: Exception, index: int | str, hint: Any) -> Exception:
    """Mark ``exc`` as the error of item ``index``, the way cattrs does, for its path."""
    note = IterableValidationNote(f"Structuring item {index!r}", index, hint)
    exc.__notes__ = [*getattr(exc, "__notes__", []), note]  # type: ignore[attr-defined, unused-ignore]
    return exc


def _make_array_hook(hint: Any) -> Hook:
    item = _schema.array_item(hint)
    item_hook = _hook_of(item)
    build: Callable[[list[Any]], Any] = tuple if get_origin(hint) is tuple else list

    def structure_array(value: Any, _: Any) -> Any:
        # A JSON array and nothing else: cattrs would iterate a string or an object's keys.
        if type(value) is not list:
            raise _wrong("an array", value)
        items, errors = [], []
        for index, element in enumerate(value):
            try:
                items.append(item_hook(element, item))
            except Exception as exc:
                errors.append(_noted(exc, index, item))
        if errors:
            raise IterableValidationError(f"While structuring {hint!r}", errors, hint)
        return build(items)

    return structure_array


def _make_mapping_hook(hint: Any) -> Hook:
    item = _schema.mapping_value(hint)
    item_hook = _hook_of(item)

    def structure_mapping(value: Any, _: Any) -> dict[str, Any]:
        if type(value) is not dict:
            raise _wrong("an object", value)
        result, errors = {}, []
        for key, element in value.items():
            try:
                result[key] = item_hook(element, item)
            except Exception as exc:
                errors.append(_noted(exc, key, item))
        if errors:
            raise IterableValidationError(f"While structuring {hint!r}", errors, hint)
        return result

    return structure_mapping


def _object_only(build: Hook) -> Hook:
    """cattrs' hook of a class, refusing anything but a JSON object (cattrs would index it)."""

    def structure_object(value: Any, cls: Any) -> Any:
        if type(value) is not dict:
            raise _wrong("an object", value)
        return build(value, cls)

    return structure_object


def _make_attrs_hook(cls: type) -> Hook:
    return _object_only(make_dict_structure_fn(cls, _converter))


def _make_typeddict_hook(cls: type) -> Hook:
    build = _object_only(make_typeddict_structure_fn(cls, _converter))
    hints = typing.get_type_hints(cls, include_extras=True)
    required = [key for key in hints if key in getattr(cls, "__required_keys__", ())]

    def structure_typeddict(value: Any, _: Any) -> Any:
        # The required keys are the class's __required_keys__, as in the schema. cattrs agrees
        # on Python 3.11+; on 3.10 it works them out itself and misses those inherited by a
        # total=False subclass, so the missing ones are added to its errors here.
        missing = [key for key in required if type(value) is dict and key not in value]
        try:
            result = build(value, cls)
        except ClassValidationError as exc:
            reported = {note.name for _, note in exc.group_exceptions()[0]}
            errors = [_missing(key, hints[key]) for key in missing if key not in reported]
            if errors:
                raise ClassValidationError(exc.message, [*exc.exceptions, *errors], cls) from None
            raise
        if missing:
            errors = [_missing(key, hints[key]) for key in missing]
            raise ClassValidationError(f"While structuring {cls.__name__}", errors, cls)
        return result

    return structure_typeddict


def _missing(key: str, hint: Any) -> KeyError:
    """The error cattrs gives a missing required key: a KeyError noted with the field."""
    exc = KeyError(key)
    note = AttributeValidationNote(f"Structuring typeddict @ attribute {key}", key, hint)
    exc.__notes__ = [note]  # type: ignore[attr-defined, unused-ignore]
    return exc


_converter.register_structure_hook(str, _structure_str)
_converter.register_structure_hook(int, _structure_int)
_converter.register_structure_hook(float, _structure_float)
_converter.register_structure_hook(bool, _structure_bool)
_converter.register_structure_hook(NoneType, _structure_none)
_converter.register_structure_hook(enum.Enum, _structure_enum)
# Predicates: the last registered is asked first, before cattrs' own.
_converter.register_structure_hook_factory(_schema.is_literal, _make_literal_hook)
_converter.register_structure_hook_factory(_schema.is_union, _make_union_hook)
_converter.register_structure_hook_factory(
    lambda t: _schema.array_item(t) is not None, _make_array_hook
)
_converter.register_structure_hook_factory(
    lambda t: _schema.mapping_value(t) is not None, _make_mapping_hook
)
_converter.register_structure_hook_factory(_schema.is_attrs_class, _make_attrs_hook)
_converter.register_structure_hook_factory(_schema.is_typeddict, _make_typeddict_hook)


# -- errors for the model ---------------------------------------------------------------------


def _index(index: int | str) -> str:
    return f"[{index}]" if isinstance(index, int) else f"[{dumps(index).decode()}]"


def _problems(exc: BaseException, path: str) -> list[str]:
    """Flatten a cattrs error (exception groups whose members carry their field or index in
    notes) into ``path: what is wrong`` lines."""
    if isinstance(exc, IterableValidationError):
        items, others = exc.group_exceptions()
        found = [p for sub, note in items for p in _problems(sub, path + _index(note.index))]
        return found + [p for sub in others for p in _problems(sub, path)]
    if isinstance(exc, ClassValidationError):
        found = []
        fields, others = exc.group_exceptions()
        for sub, note in fields:
            where = f"{path}.{note.name}"
            if isinstance(sub, KeyError):
                found.append(f"{where}: required field missing ({describe(note.type)})")
            else:
                found.extend(_problems(sub, where))
        return found + [p for sub in others for p in _problems(sub, path)]
    if isinstance(exc, ForbiddenExtraKeysError):
        known = _schema.object_fields(exc.cl)
        return [_unknown(f"{path}.{key}", key, known, "field") for key in sorted(exc.extra_fields)]
    return [f"{path}: {exc}" if str(exc) else f"{path}: invalid value ({type(exc).__name__})"]


def _unknown(where: str, key: str, known: Sequence[str], what: str) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f', did you mean "{close[0]}"?' if close else ""
    listing = f"the {what}s are {', '.join(known)}" if known else f"there are no {what}s"
    return f"{where}: unknown {what}{hint} ({listing})"


def _fail(tool: str, problems: Sequence[str]) -> ToolArgumentsError:
    return ToolArgumentsError(tool, f"Invalid arguments for {tool}: " + "; ".join(problems))


def _decode(tool: str, raw: str | None, names: Sequence[str]) -> dict[str, Any]:
    """The arguments string as a dict; no arguments at all (``None``, ``""``) is ``{}``."""
    if raw is None or not raw.strip():
        return {}
    expected = (
        f"a JSON object of the arguments by name ({', '.join(names)})"
        if names
        else "an empty JSON object, {}"
    )
    try:
        value = loads(raw)
    except ValueError as exc:
        problem = f"the arguments are not valid JSON ({exc}); expected {expected}"
        raise _fail(tool, [problem]) from None
    if type(value) is not dict:
        raise _fail(tool, [f"expected {expected}, got {_got(value)}"])
    return value


# -- the tool ---------------------------------------------------------------------------------


@attrs.frozen
class _Parameter:
    """One parameter the model fills in: its hint and the converter's hook for it."""

    name: str
    hint: Any
    required: bool
    structure: Hook = attrs.field(repr=False)


@attrs.frozen
class _Arguments:
    """How a function's arguments are checked and converted: one entry per parameter."""

    parameters: Mapping[str, _Parameter]

    def convert(self, tool: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        problems: list[str] = []
        kwargs: dict[str, Any] = {}
        for name, value in arguments.items():
            parameter = self.parameters.get(name)
            if parameter is None:
                problems.append(_unknown(name, name, list(self.parameters), "argument"))
                continue
            try:
                kwargs[name] = parameter.structure(value, parameter.hint)
            except Exception as exc:
                problems.extend(_problems(exc, name))
        for parameter in self.parameters.values():
            if parameter.required and parameter.name not in arguments:
                problems.append(
                    f"{parameter.name}: required argument missing ({describe(parameter.hint)})"
                )
        if problems:
            raise _fail(tool, problems)
        return kwargs


def _check_keys(tool: str, schema: Mapping[str, Any], arguments: dict[str, Any]) -> None:
    """The light check of arguments against an explicit schema: its ``required`` keys are
    present and, when it says ``"additionalProperties": false``, no other key is."""
    properties = schema.get("properties")
    known = list(properties) if isinstance(properties, Mapping) else []
    problems = []
    if schema.get("additionalProperties") is False:
        problems = [_unknown(key, key, known, "argument") for key in arguments if key not in known]
    required = schema.get("required")
    for name in required if isinstance(required, list) else ():
        if name not in arguments:
            problems.append(f"{name}: required argument missing")
    if problems:
        raise _fail(tool, problems)


def _plain_json(value: Any) -> Any:
    """A copy of a JSON-like value with plain dicts and lists, as a request body needs."""
    if isinstance(value, Mapping):
        return {key: _plain_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_json(item) for item in value]
    return value


def _check_name(_: Any, __: Any, name: Any) -> None:
    if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
        raise ToolDefinitionError(
            f"the tool name {name!r} is invalid: 1 to 64 characters of A-Z, a-z, 0-9, '_' or "
            "'-' are required (function_tool(name=...) sets another)"
        )


def _check_parameters(_: Any, __: Any, schema: Any) -> None:
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        raise ToolDefinitionError(
            f"the parameters of a tool must be a JSON Schema of type 'object', got {schema!r}"
        )
    try:
        dumps(schema)
    except (TypeError, ValueError) as exc:
        raise ToolDefinitionError(f"the parameters schema is not JSON: {exc}") from None


@attrs.frozen(eq=False)  # a tool is itself (its schema dict makes value equality unhashable)
class FunctionTool:
    """A Python function the model may call.

    Made by :func:`function_tool`. ``parameters`` is the JSON Schema of the arguments (an
    ``object`` schema); :meth:`definition` is the request's tool entry; :meth:`parse_arguments`
    turns the arguments the model sent into keyword arguments for ``function``; calling the
    tool calls the function, so a decorated function still works as one.
    """

    name: str = attrs.field(validator=_check_name)
    description: str | None
    parameters: Mapping[str, Any] = attrs.field(converter=_plain_json, validator=_check_parameters)
    function: Callable[..., Any]
    #: Whether calling ``function`` returns an awaitable (``async def``, also behind
    #: ``functools.partial`` or an async ``__call__``).
    is_async: bool
    #: OpenAI's ``strict`` flag: the model's arguments follow the schema exactly. Sent only
    #: when True.
    strict: bool = False
    # How to convert the arguments; None for a schema given by hand (light checks only).
    _arguments: _Arguments | None = attrs.field(
        default=None, kw_only=True, repr=False, alias="_arguments"
    )

    def definition(self) -> dict[str, Any]:
        """The request's tool entry: ``{"type": "function", "function": {"name",
        "description", "parameters"[, "strict"]}}`` (a fresh copy each time)."""
        function: dict[str, Any] = {"name": self.name}
        if self.description is not None:
            function["description"] = self.description
        function["parameters"] = _plain_json(self.parameters)
        if self.strict:
            function["strict"] = True
        return {"type": "function", "function": function}

    def parse_arguments(self, raw: str | None) -> dict[str, Any]:
        """The model's JSON arguments string -> the keyword arguments to call ``function``
        with, converted to the annotated types (an Enum member, an attrs instance, a TypedDict
        dict, a tuple, ...). Arguments left out are left out, so the function's defaults
        apply. ``None`` or an empty string is no arguments.

        Raises :class:`ToolArgumentsError`, with a message for the model, for invalid JSON, a
        non-object, a missing required argument, an unknown argument, or a value of the wrong
        type or not one of the choices. With a ``parameters`` schema given by hand, only the
        object, its ``required`` keys and (under ``"additionalProperties": false``) unknown
        keys are checked, and the values are passed as they are.
        """
        arguments = _decode(self.name, raw, self._names())
        if self._arguments is None:
            _check_keys(self.name, self.parameters, arguments)
            return arguments
        return self._arguments.convert(self.name, arguments)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function."""
        return self.function(*args, **kwargs)

    def _names(self) -> list[str]:
        properties = self.parameters.get("properties")
        return list(properties) if isinstance(properties, Mapping) else []


# -- function_tool ----------------------------------------------------------------------------


@overload
def function_tool(
    function: Callable[..., Any],
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    strict: bool = False,
) -> FunctionTool: ...


@overload
def function_tool(
    function: None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    strict: bool = False,
) -> Callable[[Callable[..., Any]], FunctionTool]: ...


def function_tool(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    strict: bool = False,
) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
    """Make a tool of a Python function (sync or async): ``@function_tool``,
    ``@function_tool(name=...)`` or ``function_tool(fn)``.

    The name is the function's ``__name__``, the description the first paragraph of its
    docstring, and each argument's description its ``Annotated[T, "text"]`` text or else its
    entry in the docstring's ``Args:`` / ``Parameters`` / ``:param x:`` section. The arguments'
    JSON Schema comes from the signature and type hints; ``parameters=`` gives one by hand
    instead (then the arguments are only checked to be an object with the schema's required
    keys, and passed as they are). ``strict=True`` sets OpenAI's strict flag, which needs
    every parameter required (no defaults) and every object closed.

    Raises :class:`ToolDefinitionError` for what cannot be a tool: a parameter without a type
    hint or with an unsupported one, ``*args``/``**kwargs``, a positional-only parameter, an
    invalid name. The keyword arguments bound by a ``functools.partial`` are not shown to the
    model. For a method, pass the bound method: ``function_tool(client.search)``.
    """

    def make(target: Callable[..., Any]) -> FunctionTool:
        return _make_tool(
            target, name=name, description=description, parameters=parameters, strict=strict
        )

    return make if function is None else make(function)


def _make_tool(
    function: Callable[..., Any],
    *,
    name: str | None,
    description: str | None,
    parameters: Mapping[str, Any] | None,
    strict: bool,
) -> FunctionTool:
    if isinstance(function, FunctionTool):
        function = function.function
    if not callable(function):
        raise ToolDefinitionError(f"function_tool() needs a function, got {function!r}")
    source, own_name, doc = _source(function)
    summary, docs = _schema.parse_docstring(doc)
    arguments = None
    if parameters is None:
        label = str(getattr(source, "__qualname__", own_name))
        schema, arguments = _derive(function, source, label, docs)
        if strict:
            _check_strict(label, schema)
    else:
        schema = dict(parameters)
    return FunctionTool(
        name=name if name is not None else own_name,
        description=description if description is not None else summary,
        parameters=schema,
        function=function,
        is_async=_is_async(function),
        strict=strict,
        _arguments=arguments,
    )


def _source(function: Callable[..., Any]) -> tuple[Any, str, str | None]:
    """(the function whose type hints describe ``function``, the tool's default name, the
    docstring): the wrapped function of a ``functools.partial``, a method's function, a
    class's ``__init__``, a callable object's ``__call__`` (named and described by its
    class)."""
    while isinstance(function, functools.partial):
        function = function.func
    if inspect.ismethod(function):
        function = function.__func__
    if inspect.isclass(function):
        return function.__init__, function.__name__, function.__doc__
    if inspect.isfunction(function) or inspect.isbuiltin(function):
        return function, function.__name__, function.__doc__
    cls = type(function)
    call = cls.__call__
    return call, cls.__name__, cls.__doc__ or call.__doc__


def _is_async(function: Callable[..., Any]) -> bool:
    """Whether calling ``function`` returns a coroutine."""
    while isinstance(function, functools.partial):
        function = function.func
    if inspect.iscoroutinefunction(function):
        return True
    if inspect.isfunction(function) or inspect.ismethod(function) or inspect.isclass(function):
        return False
    return inspect.iscoroutinefunction(type(function).__call__)


def _derive(
    function: Callable[..., Any], source: Any, label: str, docs: Mapping[str, str]
) -> tuple[dict[str, Any], _Arguments]:
    """The JSON Schema of ``function``'s arguments and how to convert them."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError) as exc:
        raise ToolDefinitionError(f"cannot read the signature of {label}: {exc}") from None
    try:
        hints = typing.get_type_hints(source, include_extras=True)
    except Exception as exc:
        raise ToolDefinitionError(
            f"cannot resolve the type hints of {label}: {type(exc).__name__}: {exc}"
        ) from None
    bound = function.keywords if isinstance(function, functools.partial) else {}
    builder = SchemaBuilder()
    properties: dict[str, Any] = {}
    parameters: dict[str, _Parameter] = {}
    for parameter in signature.parameters.values():
        if parameter.name in bound:  # given by the partial: not the model's to choose
            continue
        hint = _parameter_hint(label, parameter, hints)
        required = parameter.default is inspect.Parameter.empty
        default = NO_DEFAULT if required else parameter.default
        try:
            properties[parameter.name] = builder.property_schema(
                hint, parameter.name, docs.get(parameter.name), default
            )
        except _schema.HintError as exc:
            raise _unsupported(label, parameter.name, hint, exc) from None
        structure = _hook_of(hint)
        parameters[parameter.name] = _Parameter(parameter.name, hint, required, structure)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    required_names = [name for name, p in parameters.items() if p.required]
    if required_names:
        schema["required"] = required_names
    schema["additionalProperties"] = False
    return schema, _Arguments(parameters)


def _parameter_hint(label: str, parameter: inspect.Parameter, hints: Mapping[str, Any]) -> Any:
    """The type hint of a parameter the model can fill in by name, or ToolDefinitionError."""
    where = f"cannot make a tool of {label}: parameter {parameter.name!r}"
    if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
        star = "*" if parameter.kind is parameter.VAR_POSITIONAL else "**"
        raise ToolDefinitionError(
            f"{where} is {star}{parameter.name}: the model sends named JSON arguments, so "
            "declare each one as a parameter with a type hint"
        )
    if parameter.kind is parameter.POSITIONAL_ONLY:
        raise ToolDefinitionError(
            f"{where} is positional-only: a tool is called with keyword arguments"
        )
    if parameter.name not in hints:
        advice = ""
        if parameter.name in ("self", "cls"):
            advice = "; for a method, make the tool of the bound method: function_tool(obj.method)"
        raise ToolDefinitionError(
            f"{where} has no type hint: the hint is what tells the model what to send{advice}"
        )
    return hints[parameter.name]


def _unsupported(label: str, name: str, hint: Any, exc: _schema.HintError) -> ToolDefinitionError:
    inner = ""
    if exc.hint is not hint or exc.where != name:  # a part: an item, a field, a member
        inner = f", where {exc.where} is {_schema.hint_name(exc.hint)}"
    return ToolDefinitionError(
        f"cannot make a tool of {label}: parameter {name!r} has the type hint "
        f"{_schema.hint_name(hint)}{inner}: {exc.reason}. Supported hints: {_schema.SUPPORTED}"
    )


def _check_strict(label: str, schema: Mapping[str, Any]) -> None:
    problems = _schema.strict_problems(schema)
    if problems:
        raise ToolDefinitionError(
            f"cannot make a strict tool of {label}: OpenAI's strict mode needs every "
            "parameter and field required and every object's keys fixed, but "
            + ", ".join(problems)
            + ". Remove the defaults (a parameter of type T | None may be sent as null) or "
            "pass strict=False"
        )
