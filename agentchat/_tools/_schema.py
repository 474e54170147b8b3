"""Python type hints -> the JSON Schema a model is shown, and docstrings -> descriptions.

The schema is what the model reads to decide what to send, so it says exactly what
:meth:`FunctionTool.parse_arguments` accepts, no more:

- ``str``, ``int``, ``float``, ``bool``, ``None``: ``string``, ``integer``, ``number``,
  ``boolean``, ``null``;
- ``Literal[...]`` and ``Enum`` subclasses: ``enum`` of the values, with their JSON type;
- ``list[T]``, ``Sequence[T]``, ``tuple[T, ...]``: ``array`` of ``T``;
- ``dict[str, T]``, ``Mapping[str, T]``: ``object`` whose ``additionalProperties`` are ``T``;
- unions, ``T | None`` and ``Optional[T]`` included: ``anyOf`` of the members. One form for
  every union (rather than ``"type": [..., "null"]`` for scalars only): it works whatever
  ``T`` is (an enum, an object, an array), and OpenAI's strict mode accepts it;
- ``TypedDict`` and attrs classes: ``object`` with ``properties``, ``required`` (per totality
  and ``Required``/``NotRequired``; per default for attrs fields) and
  ``"additionalProperties": false`` (strict mode needs it, and unknown keys are refused);
- ``Annotated[T, "text"]``: ``T``'s schema with ``"text"`` as its ``description``.

Anything else raises :class:`HintError`, which the caller turns into a
:class:`~agentchat._tools.ToolDefinitionError` naming the function and the parameter.
"""

from __future__ import annotations

import collections.abc
import enum
import inspect
import math
import re
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any, Literal, Union, get_args, get_origin

import attrs

try:  # its TypedDict is another class on some Python versions; cattrs depends on it
    from typing_extensions import is_typeddict as _is_extensions_typeddict
except ImportError:  # pragma: no cover - depends on the environment
    _is_extensions_typeddict = typing.is_typeddict

__all__ = [
    "NO_DEFAULT",
    "SUPPORTED",
    "HintError",
    "SchemaBuilder",
    "array_item",
    "describe",
    "hint_name",
    "is_attrs_class",
    "is_enum",
    "is_literal",
    "is_typeddict",
    "is_union",
    "json_default",
    "json_kinds",
    "mapping_value",
    "object_fields",
    "parse_docstring",
    "strict_problems",
    "unannotate",
]

NoneType = type(None)

#: What the error for an unsupported hint lists as supported.
SUPPORTED = (
    "str, int, float, bool, None, Literal[...], Enum subclasses, list[T], Sequence[T], "
    "tuple[T, ...], dict[str, T], Mapping[str, T], unions (T | None, Optional[T]), "
    "TypedDict, attrs classes, and Annotated[T, 'description'] of these"
)

_SCALARS: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    NoneType: "null",
}
_SCALAR_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
}
#: ``Required[...]``, ``NotRequired[...]`` and ``ReadOnly[...]`` of TypedDict fields, by name:
#: ``typing`` and ``typing_extensions`` each have their own objects for them.
_QUALIFIERS = frozenset({"Required", "NotRequired", "ReadOnly"})


class HintError(Exception):
    """A type hint that has no JSON Schema here: ``where`` is the path of the value inside the
    parameter (``stops[].when``), ``hint`` the offending hint and ``reason`` why."""

    def __init__(self, where: str, hint: Any, reason: str) -> None:
        super().__init__(f"{where}: {hint_name(hint)}: {reason}")
        self.where = where
        self.hint = hint
        self.reason = reason


# -- looking at hints -------------------------------------------------------------------------


def hint_name(hint: Any) -> str:
    """A readable name for a hint: ``list[Stop]``, ``datetime``, ``int | None``."""
    if hint is NoneType or hint is None:
        return "None"
    if hint is Ellipsis:
        return "..."
    if isinstance(hint, list):  # the parameters of Callable[[A, B], R]
        return "[" + ", ".join(hint_name(item) for item in hint) + "]"
    if _is_class(hint):
        return str(hint.__qualname__)
    origin, args = get_origin(hint), get_args(hint)
    if is_literal(hint):
        return "Literal[" + ", ".join(repr(arg) for arg in args) + "]"
    if is_union(hint):
        return " | ".join(hint_name(arg) for arg in args)
    if origin is typing.Annotated:
        metadata = ", ".join(repr(item) for item in hint.__metadata__)
        return f"Annotated[{hint_name(hint.__origin__)}, {metadata}]"
    if origin is not None and args:
        name = getattr(origin, "__qualname__", None) or hint_name(origin)
        return f"{name}[{', '.join(hint_name(arg) for arg in args)}]"
    return re.sub(r"\b(typing|typing_extensions|collections\.abc)\.", "", repr(hint))


def _is_class(hint: Any) -> bool:
    # ``list[int]`` passes isinstance(..., type) on Python 3.10, so generic aliases are excluded.
    return isinstance(hint, type) and not isinstance(hint, types.GenericAlias)


def _scalar(hint: Any) -> str | None:
    """The JSON type of ``str``, ``int``, ``float``, ``bool`` or ``None``; ``None`` otherwise."""
    return _SCALARS.get(hint) if _is_class(hint) else None


def unannotate(hint: Any) -> tuple[Any, str | None]:
    """Strip ``Annotated`` and the TypedDict qualifiers: (the bare hint, the first string of the
    ``Annotated`` metadata, which is the value's description)."""
    description = None
    while True:
        origin = get_origin(hint)
        if origin is typing.Annotated:
            if description is None:
                description = next((m for m in hint.__metadata__ if isinstance(m, str)), None)
            hint = hint.__origin__
        elif getattr(origin, "_name", None) in _QUALIFIERS:
            hint = get_args(hint)[0]
        else:
            break
    return (NoneType if hint is None else hint), description


def is_literal(hint: Any) -> bool:
    return get_origin(hint) is Literal


def is_union(hint: Any) -> bool:
    """``A | B``, ``Union[A, B]`` or ``Optional[A]``."""
    return get_origin(hint) is Union or isinstance(hint, types.UnionType)


def is_enum(hint: Any) -> bool:
    return _is_class(hint) and issubclass(hint, enum.Enum)


def is_attrs_class(hint: Any) -> bool:
    return _is_class(hint) and attrs.has(hint)


def is_typeddict(hint: Any) -> bool:
    """A ``typing`` or ``typing_extensions`` TypedDict class."""
    return typing.is_typeddict(hint) or _is_extensions_typeddict(hint)


def array_item(hint: Any) -> Any | None:
    """The item hint of ``list[T]``, ``Sequence[T]`` or ``tuple[T, ...]``; ``None`` for any other
    hint."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (list, collections.abc.Sequence) and len(args) == 1:
        return args[0]
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    return None


def mapping_value(hint: Any) -> Any | None:
    """The value hint of ``dict[str, T]`` or ``Mapping[str, T]``; ``None`` for any other hint."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (dict, collections.abc.Mapping) and len(args) == 2:
        return args[1]
    return None


def _choices(hint: Any) -> tuple[Any, ...]:
    """The JSON values of a ``Literal`` or an ``Enum``."""
    if is_enum(hint):
        return tuple(member.value for member in hint)
    return get_args(hint)


def _value_kind(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is bool:
        return "boolean"
    if type(value) is int:
        return "integer"
    if type(value) is float:
        return "number"
    return "string"


def json_kinds(hint: Any) -> frozenset[str]:
    """The JSON types a value of ``hint`` can arrive as: ``string``, ``integer`` (a JSON number
    written without a fraction), ``number``, ``boolean``, ``null``, ``array``, ``object``."""
    hint, _ = unannotate(hint)
    scalar = _scalar(hint)
    if scalar is not None:
        return frozenset({scalar})
    if get_origin(hint) is Literal or is_enum(hint):
        return frozenset(_value_kind(value) for value in _choices(hint))
    if is_union(hint):
        return frozenset().union(*(json_kinds(member) for member in get_args(hint)))
    if array_item(hint) is not None:
        return frozenset({"array"})
    return frozenset({"object"})


def describe(hint: Any) -> str:
    """What a value of ``hint`` must be, in words for the model: ``a string``,
    ``one of "c", "f"``, ``an integer or null``."""
    hint, _ = unannotate(hint)
    scalar = _scalar(hint)
    if scalar is not None:
        return _SCALAR_WORDS[scalar]
    if get_origin(hint) is Literal or is_enum(hint):
        values = ", ".join(_json_text(value) for value in _choices(hint))
        return f"one of {values}" if len(_choices(hint)) > 1 else values
    if is_union(hint):
        return " or ".join(describe(member) for member in get_args(hint))
    if array_item(hint) is not None:
        return "an array"
    if mapping_value(hint) is not None:
        return "an object"
    if is_typeddict(hint) or is_attrs_class(hint):
        return "an object with the fields " + ", ".join(object_fields(hint))
    return hint_name(hint)


def object_fields(hint: Any) -> list[str]:
    """The keys of a TypedDict or an attrs class, in order."""
    if is_attrs_class(hint):
        return [field.name for field in attrs.fields(hint) if field.init]
    return list(typing.get_type_hints(hint))


def _json_text(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is bool:
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def json_default(value: Any) -> tuple[bool, Any]:
    """(True, the JSON form of a default value) when it has one, else (False, None): an Enum
    member is its value, a tuple a list; an object of any other class has none."""
    if value is None or type(value) in (str, bool, int):
        return True, value
    if type(value) is float:
        return math.isfinite(value), value
    if isinstance(value, enum.Enum):
        return json_default(value.value)
    if isinstance(value, (list, tuple)):
        items = [json_default(item) for item in value]
        return all(ok for ok, _ in items), [item for _, item in items]
    if isinstance(value, dict) and all(type(key) is str for key in value):
        entries = {key: json_default(item) for key, item in value.items()}
        return all(ok for ok, _ in entries.values()), {k: v for k, (_, v) in entries.items()}
    return False, None


# -- hints -> JSON Schema ---------------------------------------------------------------------


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


#: The default of a parameter or field that has none (required, or a TypedDict's optional key,
#: or an attrs factory, which is not called just to show its value).
NO_DEFAULT: Any = _NoDefault()


def _choices_schema(hint: Any, values: tuple[Any, ...], where: str) -> dict[str, Any]:
    """``enum`` of the values of a ``Literal`` or an ``Enum``, with their JSON type(s)."""
    if not values:
        raise HintError(where, hint, "it has no values to choose from")
    for value in values:
        if value is not None and type(value) not in (str, int, float, bool):
            raise HintError(
                where,
                hint,
                f"its value {value!r} is not JSON: the values must be strings, integers, "
                "floats, booleans or None",
            )
    kinds = list(dict.fromkeys(_value_kind(value) for value in values))
    if "integer" in kinds and "number" in kinds:
        kinds.remove("integer")
    return {"type": kinds[0] if len(kinds) == 1 else kinds, "enum": list(values)}


class SchemaBuilder:
    """Builds the JSON Schema of hints, refusing the unsupported ones with :class:`HintError`.

    One builder serves one function: it remembers which classes are being expanded, so a
    class that contains itself (a tree) is refused instead of recursing forever.
    """

    def __init__(self) -> None:
        self._expanding: list[type] = []

    def schema(self, hint: Any, where: str) -> dict[str, Any]:
        """The schema of ``hint``; ``where`` is the value's path, for errors."""
        bare, description = unannotate(hint)
        schema = self._bare_schema(bare, where)
        if description is not None:
            schema["description"] = description
        return schema

    def property_schema(
        self, hint: Any, where: str, doc: str | None, default: Any = NO_DEFAULT
    ) -> dict[str, Any]:
        """The schema of one parameter or field: its hint's schema, described by the hint's
        ``Annotated`` text or else by ``doc`` (its docstring entry), with its default when
        JSON can say it."""
        schema = self.schema(hint, where)
        if doc and unannotate(hint)[1] is None:
            schema["description"] = doc
        if default is not NO_DEFAULT:
            ok, value = json_default(default)
            if ok:
                schema["default"] = value
        return schema

    def _bare_schema(self, hint: Any, where: str) -> dict[str, Any]:
        scalar = _scalar(hint)
        if scalar is not None:
            return {"type": scalar}
        if get_origin(hint) is Literal:
            return _choices_schema(hint, get_args(hint), where)
        if is_enum(hint):
            return _choices_schema(hint, _choices(hint), where)
        if is_union(hint):
            return {"anyOf": [self.schema(member, where) for member in get_args(hint)]}
        item = array_item(hint)
        if item is not None:
            return {"type": "array", "items": self.schema(item, f"{where}[]")}
        value = mapping_value(hint)
        if value is not None:
            if unannotate(get_args(hint)[0])[0] is not str:
                raise HintError(where, hint, "JSON object keys are strings: use dict[str, T]")
            return {"type": "object", "additionalProperties": self.schema(value, f"{where}{{}}")}
        if is_typeddict(hint) or is_attrs_class(hint):
            return self._object_schema(hint, where)
        raise HintError(where, hint, _why_unsupported(hint))

    def _object_schema(self, cls: type, where: str) -> dict[str, Any]:
        if cls in self._expanding:
            raise HintError(where, cls, "it contains itself: recursive types are not supported")
        summary, docs = parse_docstring(cls.__doc__)
        properties: dict[str, Any] = {}
        required = []
        self._expanding.append(cls)
        try:
            for name, hint, is_required, default in _fields(cls, where):
                path = f"{where}.{name}"
                properties[name] = self.property_schema(hint, path, docs.get(name), default)
                if is_required:
                    required.append(name)
        finally:
            self._expanding.pop()
        schema: dict[str, Any] = {"type": "object"}
        if summary is not None:
            schema["description"] = summary
        schema["properties"] = properties
        if required:
            schema["required"] = required
        schema["additionalProperties"] = False
        return schema


def _fields(cls: type, where: str) -> Iterator[tuple[str, Any, bool, Any]]:
    """(name, hint, required, default) of each field of a TypedDict or an attrs class."""
    hints = typing.get_type_hints(cls, include_extras=True)
    if not attrs.has(cls):
        required_keys: frozenset[str] = getattr(cls, "__required_keys__", frozenset())
        for name, hint in hints.items():
            yield name, hint, name in required_keys, NO_DEFAULT
        return
    for field in attrs.fields(cls):
        if not field.init:
            continue
        hint = hints.get(field.name)
        if hint is None:
            raise HintError(f"{where}.{field.name}", field.type, "the attrs field has no type")
        if field.default is attrs.NOTHING:
            yield field.name, hint, True, NO_DEFAULT
        elif isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
            yield field.name, hint, False, NO_DEFAULT
        else:
            yield field.name, hint, False, field.default


def _why_unsupported(hint: Any) -> str:
    origin = get_origin(hint)
    containers: tuple[Any, ...] = (list, tuple, dict, set, frozenset)
    containers += (collections.abc.Sequence, collections.abc.Mapping)
    if hint is Any or hint is object:
        return "it tells the model nothing about the value: name a concrete type"
    if hint in (set, frozenset) or origin in (set, frozenset, collections.abc.Set):
        return "JSON has no sets: use list[T]"
    if hint in containers or (origin in containers and not get_args(hint)):
        return "say what it holds: list[str], tuple[int, ...], dict[str, float], ..."
    if origin is tuple:
        return (
            "only tuple[T, ...] (any length, one item type) is supported: for fixed fields use "
            "a TypedDict or an attrs class"
        )
    return "not supported"


# -- strict mode ------------------------------------------------------------------------------


def strict_problems(schema: Mapping[str, Any], where: str = "") -> list[str]:
    """Where a schema breaks OpenAI's strict mode rules: every property of an object must be
    required, and every object closed (``"additionalProperties": false``)."""
    problems = []
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        required = set(schema.get("required", ()))
        for name, sub in properties.items():
            path = f"{where}.{name}" if where else name
            if name not in required:
                problems.append(f"{path} is optional")
            problems.extend(strict_problems(sub, path))
    if schema.get("type") == "object" and schema.get("additionalProperties") is not False:
        problems.append(f"{where or 'the arguments'} is an object with free-form keys")
    if isinstance(schema.get("additionalProperties"), Mapping):
        problems.extend(strict_problems(schema["additionalProperties"], f"{where}{{}}"))
    if isinstance(schema.get("items"), Mapping):
        problems.extend(strict_problems(schema["items"], f"{where}[]"))
    for member in schema.get("anyOf", ()):
        problems.extend(strict_problems(member, where))
    return problems


# -- docstrings -------------------------------------------------------------------------------

_PARAM_SECTIONS = (
    "Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Other Parameters"
    "|Attributes|Fields"
)
_GOOGLE_HEADER = re.compile(rf"(?:{_PARAM_SECTIONS}):")
_ANY_GOOGLE_HEADER = re.compile(
    rf"(?:{_PARAM_SECTIONS}|Returns?|Yields?|Raises|Examples?|Notes?|See Also|Warnings?"
    r"|Todo|References):"
)
_GOOGLE_ENTRY = re.compile(r"\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:(.*)")
_NUMPY_HEADER = re.compile(r"Parameters|Other Parameters|Attributes")
_NUMPY_UNDERLINE = re.compile(r"-{3,}")
_NUMPY_ENTRY = re.compile(r"(\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)*)\s*(?::.*)?")
_REST_FIELD = re.compile(
    r":(?:param|parameter|arg|argument|key|keyword)\s+(?:[^:]*\s)?\*{0,2}(\w+)\s*:(.*)"
)


def parse_docstring(doc: str | None) -> tuple[str | None, dict[str, str]]:
    """(the first paragraph, each parameter's text) of a docstring.

    Parameter texts come from a Google-style section (``Args:``, ``Parameters:``,
    ``Attributes:``, ...: ``name (type): text``), a NumPy-style one (``Parameters`` underlined
    with dashes: ``name : type`` then the indented text) or reST fields
    (``:param name: text``). The lines of one text are joined with spaces. A docstring in none
    of these styles just gives no parameter texts.
    """
    if not doc:
        return None, {}
    lines = [line.rstrip() for line in inspect.cleandoc(doc).splitlines()]
    params = {**_numpy_params(lines), **_google_params(lines), **_rest_params(lines)}
    return _summary(lines), {name: text for name, text in params.items() if text}


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _is_underlined(lines: list[str], index: int) -> bool:
    following = lines[index + 1].strip() if index + 1 < len(lines) else ""
    return bool(lines[index].strip()) and bool(_NUMPY_UNDERLINE.fullmatch(following))


def _summary(lines: list[str]) -> str | None:
    """The first paragraph: the lines up to a blank line or the first section."""
    words = []
    for index, line in enumerate(lines):
        text = line.strip()
        if not text or _ANY_GOOGLE_HEADER.fullmatch(text) or text.startswith(":"):
            break
        if _is_underlined(lines, index):
            break
        words.append(text)
    return " ".join(words) or None


def _google_params(lines: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    index = 0
    while index < len(lines):
        if not _GOOGLE_HEADER.fullmatch(lines[index].strip()):
            index += 1
            continue
        header_indent = _indent(lines[index])
        entry_indent: int | None = None
        name = None
        index += 1
        # The section is the lines indented deeper than its header; entries are the
        # shallowest of them, an entry's text goes on in deeper ones.
        while index < len(lines) and (
            not lines[index].strip() or _indent(lines[index]) > header_indent
        ):
            line = lines[index]
            index += 1
            if not line.strip():
                continue
            if entry_indent is None:
                entry_indent = _indent(line)
            match = _GOOGLE_ENTRY.fullmatch(line.strip())
            if _indent(line) == entry_indent:
                name = match.group(1) if match else None
                if name is not None and match is not None:
                    params[name] = match.group(2).strip()
            elif name is not None:
                params[name] = f"{params[name]} {line.strip()}".strip()
    return params


def _numpy_params(lines: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    index = 0
    while index < len(lines):
        if not (_NUMPY_HEADER.fullmatch(lines[index].strip()) and _is_underlined(lines, index)):
            index += 1
            continue
        base = _indent(lines[index])
        names: list[str] = []
        index += 2
        # Entries (``name : type``) at the header's indent, their text indented below them,
        # up to the next underlined header.
        while index < len(lines) and not _is_underlined(lines, index):
            line = lines[index]
            index += 1
            if not line.strip():
                continue
            match = _NUMPY_ENTRY.fullmatch(line.strip())
            if _indent(line) > base:
                for name in names:
                    params[name] = f"{params[name]} {line.strip()}".strip()
            elif match:
                names = [name.strip().lstrip("*") for name in match.group(1).split(",")]
                params.update(dict.fromkeys(names, ""))
            else:
                break
    return params


def _rest_params(lines: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    name = None
    for line in lines:
        match = _REST_FIELD.fullmatch(line.strip())
        if match:
            name = match.group(1)
            params[name] = match.group(2).strip()
        elif name is not None and line.strip() and _indent(line) > 0:
            params[name] = f"{params[name]} {line.strip()}"
        else:
            name = None
    return params
