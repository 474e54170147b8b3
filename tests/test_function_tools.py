"""function_tool: plain Python functions become tools.

Every supported hint has its JSON Schema (checked against the Draft 2020-12 metaschema), and
sample arguments that jsonschema accepts are accepted by ``parse_arguments`` with the right
Python types, while those jsonschema refuses are refused, with a message the model can act
on. Unsupported hints and signatures fail when the tool is defined.
"""

from __future__ import annotations

import enum
import functools
import inspect
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal, Optional, TypedDict, Union

import attrs
import jsonschema  # type: ignore[import-untyped, unused-ignore]
import pytest

from agentchat import AgentChatError
from agentchat._tools import (
    FunctionTool,
    ToolArgumentsError,
    ToolDefinitionError,
    function_tool,
)

# -- types used in hints ----------------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Unit(str, enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Mixed(enum.Enum):
    A = "a"
    ONE = 1


class Point(TypedDict):
    x: float
    y: float


class _PlaceRequired(TypedDict):
    name: Annotated[str, "The place's name"]


class Place(_PlaceRequired, total=False):
    """A place to visit.

    Attributes:
        note: Anything worth knowing.
    """

    note: str


class Route(TypedDict):
    points: list[Point]
    place: Place | None


@attrs.frozen
class Car:
    """A rental car.

    Attributes:
        model: The model name.
    """

    model: str
    seats: int = 4


@attrs.frozen
class Trip:
    car: Car
    unit: Unit | None = None
    extras: list[str] = attrs.field(factory=list)


@attrs.frozen
class Node:
    name: str
    children: list[Node]


@attrs.define
class Untyped:
    value = attrs.field()  # type: ignore[var-annotated]


class Service:
    def search(self, query: str) -> str:
        """Search."""
        return query

    async def fetch(self, url: str) -> str:
        return url


class Square(TypedDict):
    kind: Literal["square"]
    side: float


class Circle(TypedDict):
    kind: Literal["circle"]
    radius: float


@attrs.frozen
class Weight:
    kilos: float = attrs.field(validator=attrs.validators.gt(0))


class Stop(TypedDict):
    name: str
    nights: int


# -- helpers ----------------------------------------------------------------------------------


def tool_of(hint: Any, default: Any = inspect.Parameter.empty) -> FunctionTool:
    """The tool of a function with one parameter, ``x``, of type ``hint``."""

    def take(x: Any) -> Any:
        """Take x."""
        return x

    function: Any = take
    function.__annotations__ = {"x": hint}
    function.__signature__ = inspect.Signature(
        [inspect.Parameter("x", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default)]
    )
    tool: FunctionTool = function_tool(function)
    return tool


def typed(value: Any) -> Any:
    """``value`` with the type of every part, so ``1 == 1.0`` or ``[1] == (1,)`` don't pass."""
    if isinstance(value, dict):
        return (dict, {key: typed(item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return (type(value), [typed(item) for item in value])
    if attrs.has(type(value)):
        return (
            type(value),
            {f.name: typed(getattr(value, f.name)) for f in attrs.fields(type(value))},
        )
    return (type(value), value)


def validator(schema: Mapping[str, Any]) -> Any:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


# -- hints -> schema, and arguments both sides agree on ---------------------------------------

# (hint, schema of x, [(JSON value, the Python value parse_arguments gives)], [refused values])
HINTS: list[tuple[Any, dict[str, Any], list[tuple[Any, Any]], list[Any]]] = [
    (str, {"type": "string"}, [("hi", "hi"), ("", "")], [3, None, ["a"], True]),
    (int, {"type": "integer"}, [(3, 3), (-1, -1), (3.0, 3)], ["3", True, 3.5, None]),
    (float, {"type": "number"}, [(1.5, 1.5), (2, 2.0)], ["1.5", True, None, [1]]),
    (bool, {"type": "boolean"}, [(True, True), (False, False)], [1, 0, "true", None]),
    (None, {"type": "null"}, [(None, None)], [0, "", False, {}]),
    (
        Literal["a", "b"],
        {"type": "string", "enum": ["a", "b"]},
        [("a", "a"), ("b", "b")],
        ["c", "A", 1, None],
    ),
    (Literal[1, 2], {"type": "integer", "enum": [1, 2]}, [(2, 2), (1.0, 1)], [3, "1", True]),
    (
        Literal["a", None],
        {"type": ["string", "null"], "enum": ["a", None]},
        [("a", "a"), (None, None)],
        ["b", 0],
    ),
    (Literal[1, 2.5], {"type": "number", "enum": [1, 2.5]}, [(2.5, 2.5), (1, 1)], [2, "1"]),
    (Literal[True], {"type": "boolean", "enum": [True]}, [(True, True)], [1, False]),
    (
        Color,
        {"type": "string", "enum": ["red", "green"]},
        [("red", Color.RED), ("green", Color.GREEN)],
        ["RED", "blue", 1, None],
    ),
    (Level, {"type": "integer", "enum": [1, 2]}, [(2, Level.HIGH)], [True, "2", 3]),
    (
        Unit,
        {"type": "string", "enum": ["celsius", "fahrenheit"]},
        [("fahrenheit", Unit.FAHRENHEIT)],
        ["kelvin", 1],
    ),
    (
        Mixed,
        {"type": ["string", "integer"], "enum": ["a", 1]},
        [("a", Mixed.A), (1, Mixed.ONE)],
        ["1", True],
    ),
    (
        list[int],
        {"type": "array", "items": {"type": "integer"}},
        [([1, 2], [1, 2]), ([], [])],
        [[1, "2"], "12", {"a": 1}, None],
    ),
    (
        Sequence[str],
        {"type": "array", "items": {"type": "string"}},
        [(["a", "b"], ["a", "b"])],
        ["ab", [1]],
    ),
    (
        tuple[int, ...],
        {"type": "array", "items": {"type": "integer"}},
        [([1, 2.0], (1, 2)), ([], ())],
        [[1.5], {"0": 1}],
    ),
    (
        list[list[Color]],
        {
            "type": "array",
            "items": {"type": "array", "items": {"type": "string", "enum": ["red", "green"]}},
        },
        [([["red"], []], [[Color.RED], []])],
        [["red"], [["blue"]]],
    ),
    (
        dict[str, int],
        {"type": "object", "additionalProperties": {"type": "integer"}},
        [({"a": 1}, {"a": 1}), ({}, {})],
        [{"a": "1"}, [1], "a"],
    ),
    (
        Mapping[str, list[str]],
        {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        [({"a": ["b"]}, {"a": ["b"]})],
        [{"a": "b"}, {"a": [None]}],
    ),
    (
        str | None,
        {"anyOf": [{"type": "string"}, {"type": "null"}]},
        [("a", "a"), (None, None)],
        [1, ["a"]],
    ),
    (
        Optional[int],  # noqa: UP045 - the spelling under test
        {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        [(3, 3), (3.0, 3), (None, None)],
        ["3", 3.5, False],
    ),
    (
        Union[int, str],  # noqa: UP007 - the spelling under test
        {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        [(1, 1), ("1", "1")],
        [1.5, None, True],
    ),
    (
        float | int,
        {"anyOf": [{"type": "number"}, {"type": "integer"}]},
        [(3, 3), (2.5, 2.5)],
        ["3", None],
    ),
    (
        Color | Level | None,
        {
            "anyOf": [
                {"type": "string", "enum": ["red", "green"]},
                {"type": "integer", "enum": [1, 2]},
                {"type": "null"},
            ]
        },
        [("red", Color.RED), (1, Level.LOW), (None, None)],
        ["blue", 3, True],
    ),
    (
        Point,
        {
            "type": "object",
            "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
            "required": ["x", "y"],
            "additionalProperties": False,
        },
        [({"x": 1, "y": 2.5}, {"x": 1.0, "y": 2.5})],
        [{"x": 1}, {"x": 1, "y": 2, "z": 3}, {"x": "1", "y": 2}, [1, 2], None],
    ),
    (
        Place,
        {
            "type": "object",
            "description": "A place to visit.",
            "properties": {
                "name": {"type": "string", "description": "The place's name"},
                "note": {"type": "string", "description": "Anything worth knowing."},
            },
            "required": ["name"],
            "additionalProperties": False,
        },
        [
            ({"name": "Lyon"}, {"name": "Lyon"}),
            ({"name": "a", "note": "b"}, {"name": "a", "note": "b"}),
        ],
        [{"note": "b"}, {"name": "a", "nam": "b"}],
    ),
    (
        Route,
        {
            "type": "object",
            "properties": {
                "points": {"type": "array", "items": Any},
                "place": {"anyOf": [Any, {"type": "null"}]},
            },
            "required": ["points", "place"],
            "additionalProperties": False,
        },
        [
            (
                {"points": [{"x": 0, "y": 1}], "place": None},
                {"points": [{"x": 0.0, "y": 1.0}], "place": None},
            ),
            (
                {"points": [], "place": {"name": "a"}},
                {"points": [], "place": {"name": "a"}},
            ),
        ],
        [{"points": [{"x": 0}], "place": None}, {"points": [], "place": {"name": 1}}],
    ),
    (
        Car,
        {
            "type": "object",
            "description": "A rental car.",
            "properties": {
                "model": {"type": "string", "description": "The model name."},
                "seats": {"type": "integer", "default": 4},
            },
            "required": ["model"],
            "additionalProperties": False,
        },
        [({"model": "Zoe"}, Car("Zoe")), ({"model": "Zoe", "seats": 2}, Car("Zoe", 2))],
        [{"seats": 2}, {"model": "Zoe", "wheels": 4}, {"model": "Zoe", "seats": "2"}, "Zoe"],
    ),
    (
        Trip,
        {
            "type": "object",
            "properties": {
                "car": Any,
                "unit": {
                    "anyOf": [
                        {"type": "string", "enum": ["celsius", "fahrenheit"]},
                        {"type": "null"},
                    ],
                    "default": None,
                },
                "extras": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["car"],
            "additionalProperties": False,
        },
        [
            ({"car": {"model": "Zoe"}}, Trip(Car("Zoe"))),
            (
                {"car": {"model": "Zoe"}, "unit": "celsius", "extras": ["gps"]},
                Trip(Car("Zoe"), Unit.CELSIUS, ["gps"]),
            ),
        ],
        [{"car": {}}, {"car": {"model": "Zoe"}, "unit": "kelvin"}, {"car": None}],
    ),
    (
        Annotated[str, "The city"],
        {"type": "string", "description": "The city"},
        [("Paris", "Paris")],
        [1],
    ),
    (
        Annotated[Literal["c", "f"], 42, "The unit", "ignored: only the first text is used"],
        {"type": "string", "enum": ["c", "f"], "description": "The unit"},
        [("c", "c")],
        ["k"],
    ),
    (
        list[Annotated[int, "An id"]],
        {"type": "array", "items": {"type": "integer", "description": "An id"}},
        [([1], [1])],
        [["1"]],
    ),
    (
        Annotated[Car | None, "The car, if any"],
        {"anyOf": [Any, {"type": "null"}], "description": "The car, if any"},
        [(None, None), ({"model": "Zoe"}, Car("Zoe"))],
        [{"model": None}],
    ),
]


def matches(actual: Any, expected: Any) -> bool:
    """``actual == expected``, where ``Any`` in ``expected`` stands for any value."""
    if expected is Any:
        return True
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(matches(actual[key], value) for key, value in expected.items())
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(matches(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return type(actual) is type(expected) and bool(actual == expected)


@pytest.mark.parametrize(("hint", "schema", "valid", "invalid"), HINTS, ids=repr)
def test_hint_schema_and_arguments(
    hint: Any, schema: dict[str, Any], valid: list[tuple[Any, Any]], invalid: list[Any]
) -> None:
    tool = tool_of(hint)
    assert tool.parameters == {
        "type": "object",
        "properties": {"x": tool.parameters["properties"]["x"]},
        "required": ["x"],
        "additionalProperties": False,
    }
    assert matches(tool.parameters["properties"]["x"], schema), tool.parameters
    check = validator(tool.parameters)
    for value, expected in valid:
        arguments = {"x": value}
        assert check.is_valid(arguments), value
        assert typed(tool.parse_arguments(json.dumps(arguments))) == typed({"x": expected})
    for value in invalid:
        arguments = {"x": value}
        assert not check.is_valid(arguments), value
        with pytest.raises(ToolArgumentsError, match=r"^Invalid arguments for take: x"):
            tool.parse_arguments(json.dumps(arguments))


@pytest.mark.parametrize(
    ("hint", "default", "schema"),
    [
        (int, 3, {"type": "integer", "default": 3}),
        (str, "x", {"type": "string", "default": "x"}),
        (int | None, None, {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None}),
        (Unit, Unit.CELSIUS, {"type": "string", "enum": Any, "default": "celsius"}),
        (Level, Level.HIGH, {"type": "integer", "enum": Any, "default": 2}),
        (tuple[int, ...], (1, 2), {"type": "array", "items": Any, "default": [1, 2]}),
        (
            dict[str, float],
            {"a": 1.5},
            {"type": "object", "additionalProperties": Any, "default": {"a": 1.5}},
        ),
        # Not JSON: the default is the function's business, not shown.
        (float, math.inf, {"type": "number"}),
        (Car | None, Car("Zoe"), {"anyOf": [Any, {"type": "null"}]}),
        (dict[str, int], {1: 2}, {"type": "object", "additionalProperties": Any}),
    ],
    ids=repr,
)
def test_defaults(hint: Any, default: Any, schema: dict[str, Any]) -> None:
    tool = tool_of(hint, default)
    assert "required" not in tool.parameters  # a parameter with a default is optional
    assert matches(tool.parameters["properties"]["x"], schema), tool.parameters
    validator(tool.parameters)
    assert tool.parse_arguments("{}") == {}  # left out, so the function's default applies


# -- a whole function -------------------------------------------------------------------------


def plan_trip(
    city: Annotated[str, "Where the trip starts"],
    stops: list[Stop],
    unit: Unit = Unit.CELSIUS,
    days: int = 1,
    car: Car | None = None,
) -> str:
    """Plan a trip through some cities.

    The plan is a text. This paragraph is not the tool's description.

    Args:
        city: Not used: the Annotated text wins.
        stops (list[Stop]): The stops, in
            the order of the visits.
        unit: The temperature unit of the forecasts.

    Returns:
        The plan.
    """
    return f"{city}: {len(stops)} stops, {days} days in {unit.value}, by {car}"


PLAN_TRIP_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "Where the trip starts"},
        "stops": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "nights": {"type": "integer"}},
                "required": ["name", "nights"],
                "additionalProperties": False,
            },
            "description": "The stops, in the order of the visits.",
        },
        "unit": {
            "type": "string",
            "enum": ["celsius", "fahrenheit"],
            "description": "The temperature unit of the forecasts.",
            "default": "celsius",
        },
        "days": {"type": "integer", "default": 1},
        "car": {
            "anyOf": [
                {
                    "type": "object",
                    "description": "A rental car.",
                    "properties": {
                        "model": {"type": "string", "description": "The model name."},
                        "seats": {"type": "integer", "default": 4},
                    },
                    "required": ["model"],
                    "additionalProperties": False,
                },
                {"type": "null"},
            ],
            "default": None,
        },
    },
    "required": ["city", "stops"],
    "additionalProperties": False,
}


def test_function_schema() -> None:
    tool = function_tool(plan_trip)
    assert tool.name == "plan_trip"
    assert tool.description == "Plan a trip through some cities."
    assert tool.parameters == PLAN_TRIP_SCHEMA
    assert json.dumps(tool.parameters, sort_keys=False) == json.dumps(PLAN_TRIP_SCHEMA)
    validator(tool.parameters)


def test_parse_arguments_converts() -> None:
    tool = function_tool(plan_trip)
    raw = json.dumps(
        {
            "city": "Paris",
            "stops": [{"name": "Lyon", "nights": 2}],
            "unit": "fahrenheit",
            "car": {"model": "Zoe"},
        }
    )
    kwargs = tool.parse_arguments(raw)
    assert typed(kwargs) == typed(
        {
            "city": "Paris",
            "stops": [{"name": "Lyon", "nights": 2}],
            "unit": Unit.FAHRENHEIT,
            "car": Car("Zoe"),
        }
    )
    assert tool(**kwargs) == "Paris: 1 stops, 1 days in fahrenheit, by Car(model='Zoe', seats=4)"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            '{"city": "Paris", "stops": [',
            "Invalid arguments for plan_trip: the arguments are not valid JSON (",
        ),
        (
            '["Paris", []]',
            "Invalid arguments for plan_trip: expected a JSON object of the arguments by name "
            '(city, stops, unit, days, car), got ["Paris",[]] (an array)',
        ),
        (
            '"Paris"',
            "Invalid arguments for plan_trip: expected a JSON object of the arguments by name "
            '(city, stops, unit, days, car), got "Paris" (a string)',
        ),
        (
            '{"city": "Paris"}',
            "Invalid arguments for plan_trip: stops: required argument missing (an array)",
        ),
        (
            "",
            "Invalid arguments for plan_trip: city: required argument missing (a string); "
            "stops: required argument missing (an array)",
        ),
        (
            '{"city": "Paris", "stops": [], "cty": "Lyon", "speed": 3}',
            'Invalid arguments for plan_trip: cty: unknown argument, did you mean "city"? '
            "(the arguments are city, stops, unit, days, car); speed: unknown argument "
            "(the arguments are city, stops, unit, days, car)",
        ),
        (
            '{"city": 75, "stops": []}',
            "Invalid arguments for plan_trip: city: expected a string, got 75 (an integer)",
        ),
        (
            '{"city": "Paris", "stops": [], "days": "3"}',
            'Invalid arguments for plan_trip: days: expected an integer, got "3" (a string)',
        ),
        (
            '{"city": "Paris", "stops": [], "days": true}',
            "Invalid arguments for plan_trip: days: expected an integer, got true (a boolean)",
        ),
        (
            '{"city": "Paris", "stops": [], "unit": "kelvin"}',
            'Invalid arguments for plan_trip: unit: expected one of "celsius", "fahrenheit", '
            'got "kelvin" (a string)',
        ),
        (
            '{"city": "Paris", "stops": [{"name": "Lyon", "nights": 1}, {"name": "Nice"},'
            ' {"name": "Metz", "nights": 2, "nigths": 3}, {"name": 4, "nights": 1}, "Dijon"]}',
            "Invalid arguments for plan_trip: "
            "stops[1].nights: required field missing (an integer); "
            'stops[2].nigths: unknown field, did you mean "nights"? (the fields are name, nights); '
            "stops[3].name: expected a string, got 4 (an integer); "
            'stops[4]: expected an object, got "Dijon" (a string)',
        ),
        (
            '{"city": "Paris", "stops": [], "car": {"model": "Zoe", "seats": 2.5}}',
            "Invalid arguments for plan_trip: car.seats: expected an integer, got 2.5 (a number)",
        ),
        (
            '{"city": "Paris", "stops": [], "car": "Zoe"}',
            "Invalid arguments for plan_trip: car: expected an object with the fields model, "
            'seats or null, got "Zoe" (a string)',
        ),
    ],
)
def test_parse_arguments_errors(raw: str, message: str) -> None:
    tool = function_tool(plan_trip)
    with pytest.raises(ToolArgumentsError) as caught:
        tool.parse_arguments(raw)
    assert str(caught.value).startswith(message), str(caught.value)
    if not message.endswith("("):
        assert str(caught.value) == message
    assert caught.value.tool == "plan_trip"
    assert caught.value.message == str(caught.value)
    assert isinstance(caught.value, AgentChatError)
    assert isinstance(caught.value, ValueError)


def test_error_paths_in_mappings_and_nested_lists() -> None:
    tool = tool_of(dict[str, list[Point]])
    with pytest.raises(ToolArgumentsError) as caught:
        tool.parse_arguments('{"x": {"a b": [{"x": 1, "y": 2}, {"x": "1", "y": 2}]}}')
    assert str(caught.value) == (
        'Invalid arguments for take: x["a b"][1].x: expected a number, got "1" (a string)'
    )


def test_union_of_objects_reports_the_closest_member() -> None:
    tool = tool_of(Square | Circle)
    validator(tool.parameters)
    assert tool.parse_arguments('{"x": {"kind": "circle", "radius": 2}}') == {
        "x": {"kind": "circle", "radius": 2.0}
    }
    with pytest.raises(ToolArgumentsError) as caught:
        tool.parse_arguments('{"x": {"kind": "circle", "radius": "2"}}')
    assert str(caught.value) == (
        'Invalid arguments for take: x.radius: expected a number, got "2" (a string)'
    )
    with pytest.raises(ToolArgumentsError) as caught:  # as close to one as to the other
        tool.parse_arguments('{"x": {"kind": "oval"}}')
    assert str(caught.value) == (
        "Invalid arguments for take: x: expected an object with the fields kind, side or an "
        'object with the fields kind, radius, got {"kind":"oval"} (an object)'
    )


def test_attrs_validators_speak_to_the_model() -> None:
    tool = tool_of(Weight)
    assert tool.parse_arguments('{"x": {"kilos": 2}}') == {"x": Weight(2.0)}
    with pytest.raises(ToolArgumentsError) as caught:
        tool.parse_arguments('{"x": {"kilos": -1}}')
    assert str(caught.value) == "Invalid arguments for take: x: 'kilos' must be > 0: -1.0"


def test_no_arguments() -> None:
    def now() -> str:
        """The time."""
        return "noon"

    tool = function_tool(now)
    assert tool.parameters == {"type": "object", "properties": {}, "additionalProperties": False}
    validator(tool.parameters)
    assert tool.parse_arguments(None) == {}
    assert tool.parse_arguments("") == {}
    assert tool.parse_arguments("{}") == {}
    with pytest.raises(ToolArgumentsError, match=r"unknown argument \(there are no arguments\)"):
        tool.parse_arguments('{"tz": "UTC"}')
    with pytest.raises(ToolArgumentsError, match=r"expected an empty JSON object, \{\}, got 1"):
        tool.parse_arguments("1")


# -- docstrings -------------------------------------------------------------------------------


def google(city: str, unit: str = "c") -> None:
    """Get the weather
    for a city.

    Args:
        city (str): The city,
            e.g. Paris.
        unit: The unit.

    Returns:
        Nothing.
    """


def numpy(city: str, unit: str = "c") -> None:
    """Get the weather.

    Parameters
    ----------
    city : str
        The city,
        e.g. Paris.
    unit : str, optional
        The unit.

    Returns
    -------
    None
    """


def rest(city: str, unit: str = "c") -> None:
    """Get the weather.

    :param city: The city,
        e.g. Paris.
    :param str unit: The unit.
    :type unit: str
    :returns: nothing
    """


def plain(city: str, unit: str = "c") -> None:
    """Get the weather. No parameter section: no parameter descriptions."""


def undocumented(city: str, unit: str = "c") -> None:
    pass


@pytest.mark.parametrize(
    ("function", "description", "city", "unit"),
    [
        (google, "Get the weather for a city.", "The city, e.g. Paris.", "The unit."),
        (numpy, "Get the weather.", "The city, e.g. Paris.", "The unit."),
        (rest, "Get the weather.", "The city, e.g. Paris.", "The unit."),
        (plain, "Get the weather. No parameter section: no parameter descriptions.", None, None),
        (undocumented, None, None, None),
    ],
    ids=lambda value: getattr(value, "__name__", "-"),
)
def test_docstrings(
    function: Callable[..., Any], description: str | None, city: str | None, unit: str | None
) -> None:
    tool = function_tool(function)
    assert tool.description == description
    properties = tool.parameters["properties"]
    assert properties["city"].get("description") == city
    assert properties["unit"].get("description") == unit
    validator(tool.parameters)


def test_explicit_description_keeps_parameter_texts() -> None:
    tool = function_tool(google, description="Weather, now.")
    assert tool.description == "Weather, now."
    assert tool.parameters["properties"]["unit"]["description"] == "The unit."


# -- unsupported hints and signatures ---------------------------------------------------------

SUPPORTED = "Supported hints: str, int, float, bool, None, Literal[...], Enum subclasses"


@pytest.mark.parametrize(
    ("hint", "message"),
    [
        (Any, "parameter 'x' has the type hint Any: it tells the model nothing about the value"),
        (object, "parameter 'x' has the type hint object: it tells the model nothing"),
        (bytes, "parameter 'x' has the type hint bytes: not supported"),
        (complex, "parameter 'x' has the type hint complex: not supported"),
        (set[int], "parameter 'x' has the type hint set[int]: JSON has no sets: use list[T]"),
        (frozenset[str], "type hint frozenset[str]: JSON has no sets"),
        (Callable[[int], int], "type hint Callable[[int], int]: not supported"),
        (Service, "type hint Service: not supported"),
        (list, "type hint list: say what it holds: list[str]"),
        (dict, "type hint dict: say what it holds"),
        (tuple[int, str], "type hint tuple[int, str]: only tuple[T, ...] (any length"),
        (dict[int, str], "type hint dict[int, str]: JSON object keys are strings"),
        (list[Any], "type hint list[Any], where x[] is Any: it tells the model nothing"),
        (dict[str, bytes], "type hint dict[str, bytes], where x{} is bytes: not supported"),
        (int | bytes, "type hint int | bytes, where x is bytes: not supported"),
        (Literal[b"x"], "its value b'x' is not JSON: the values must be strings, integers"),
        (Node, "type hint Node, where x.children[] is Node: it contains itself: recursive"),
        (Untyped, "where x.value is None: the attrs field has no type"),
        (Annotated[bytes, "Raw data"], "type hint Annotated[bytes, 'Raw data'], where x is bytes"),
    ],
    ids=repr,
)
def test_unsupported_hints(hint: Any, message: str) -> None:
    with pytest.raises(ToolDefinitionError) as caught:
        tool_of(hint)
    text = str(caught.value)
    assert text.startswith("cannot make a tool of tool_of.<locals>.take: ")
    assert message in text
    assert SUPPORTED in text
    assert isinstance(caught.value, AgentChatError)
    assert isinstance(caught.value, TypeError)


def with_args(*queries: str) -> None: ...
def with_kwargs(**options: str) -> None: ...
def positional_only(query: str, /) -> None: ...
def unannotated(query) -> None: ...  # type: ignore[no-untyped-def]
def unresolvable(query: NotDefinedAnywhere) -> None: ...  # type: ignore[name-defined]  # noqa: F821


@pytest.mark.parametrize(
    ("function", "message"),
    [
        (with_args, "parameter 'queries' is *queries: the model sends named JSON arguments"),
        (with_kwargs, "parameter 'options' is **options: the model sends named JSON arguments"),
        (positional_only, "parameter 'query' is positional-only: a tool is called with keyword"),
        (unannotated, "parameter 'query' has no type hint: the hint is what tells the model"),
        (
            Service.search,
            "parameter 'self' has no type hint: the hint is what tells the model what to send; "
            "for a method, make the tool of the bound method: function_tool(obj.method)",
        ),
        (unresolvable, "cannot resolve the type hints of unresolvable: NameError"),
        (lambda: None, "the tool name '<lambda>' is invalid: 1 to 64 characters"),
        (42, "function_tool() needs a function, got 42"),
    ],
    ids=repr,
)
def test_unsupported_signatures(function: Any, message: str) -> None:
    with pytest.raises(ToolDefinitionError, match=r"^") as caught:
        function_tool(function)
    assert message in str(caught.value)


@pytest.mark.parametrize("name", ["", "a" * 65, "has space", "dots.not.allowed", "é"])
def test_invalid_names(name: str) -> None:
    with pytest.raises(ToolDefinitionError, match="is invalid: 1 to 64 characters"):
        function_tool(google, name=name)


def test_valid_names() -> None:
    assert function_tool(google, name="a" * 64).name == "a" * 64
    assert function_tool(google, name="get-weather_2").name == "get-weather_2"


def test_strict() -> None:
    def closed(city: str, unit: Unit | None, stops: list[Stop]) -> None:
        """Strict."""

    tool = function_tool(closed, strict=True)
    assert tool.strict is True
    assert tool.definition()["function"]["strict"] is True
    assert "strict" not in function_tool(closed).definition()["function"]

    with pytest.raises(ToolDefinitionError) as caught:
        function_tool(plan_trip, strict=True)
    assert str(caught.value) == (
        "cannot make a strict tool of plan_trip: OpenAI's strict mode needs every parameter "
        "and field required and every object's keys fixed, but unit is optional, days is "
        "optional, car is optional, car.seats is optional. Remove the defaults (a parameter "
        "of type T | None may be sent as null) or pass strict=False"
    )
    with pytest.raises(ToolDefinitionError, match="x is an object with free-form keys"):
        function_tool(tool_of(dict[str, int]).function, strict=True)


# -- sync and async ---------------------------------------------------------------------------


def sync_lookup(key: str) -> str:
    return key


async def async_lookup(key: str) -> str:
    return key


class SyncCallable:
    def __call__(self, key: str) -> str:
        return key


class AsyncCallable:
    """Looks keys up."""

    async def __call__(self, key: str) -> str:
        return key


@pytest.mark.parametrize(
    ("function", "is_async"),
    [
        (sync_lookup, False),
        (async_lookup, True),
        (functools.partial(sync_lookup), False),
        (functools.partial(async_lookup), True),
        (functools.partial(functools.partial(async_lookup)), True),
        (SyncCallable(), False),
        (AsyncCallable(), True),
        (functools.partial(AsyncCallable()), True),
        (Service().search, False),
        (Service().fetch, True),
    ],
    ids=repr,
)
def test_async_detection(function: Callable[..., Any], is_async: bool) -> None:
    tool = function_tool(function, name="lookup")
    assert tool.is_async is is_async
    assert list(tool.parameters["properties"].values()) == [{"type": "string"}]


async def test_async_tool_still_callable() -> None:
    tool = function_tool(async_lookup)
    assert await tool("k") == "k"
    assert await tool.function(**tool.parse_arguments('{"key": "v"}')) == "v"


def test_callable_object_named_and_described_by_its_class() -> None:
    tool = function_tool(AsyncCallable())
    assert tool.name == "AsyncCallable"
    assert tool.description == "Looks keys up."


def test_bound_method_skips_self() -> None:
    tool = function_tool(Service().search)
    assert tool.name == "search"
    assert tool.description == "Search."
    assert tool.parameters["required"] == ["query"]
    assert tool(query="q") == "q"


def test_partial_hides_bound_keywords() -> None:
    def search(index: Service, query: str, limit: int = 10) -> str:
        return f"{query}:{limit}"

    tool = function_tool(functools.partial(search, index=Service()))
    assert tool.name == "search"
    assert list(tool.parameters["properties"]) == ["query", "limit"]
    assert tool(**tool.parse_arguments('{"query": "q"}')) == "q:10"
    with pytest.raises(ToolArgumentsError, match="index: unknown argument"):
        tool.parse_arguments('{"query": "q", "index": 1}')


# -- decorator forms, definition(), calling ---------------------------------------------------


@function_tool
def bare(city: str) -> str:
    """Bare decorator."""
    return city.upper()


@function_tool()
def called() -> str:
    return "called"


@function_tool(name="weather", description="The weather.")
def named(city: str) -> str:
    """Not this text."""
    return city


def test_decorator_forms() -> None:
    assert isinstance(bare, FunctionTool)
    assert (bare.name, bare.description) == ("bare", "Bare decorator.")
    assert isinstance(called, FunctionTool)
    assert (called.name, called.description) == ("called", None)
    assert (named.name, named.description) == ("weather", "The weather.")
    assert function_tool(bare).parameters == bare.parameters  # a tool of a tool: its function


def test_decorated_function_still_callable() -> None:
    assert bare("paris") == "PARIS"
    assert bare(city="lyon") == "LYON"
    assert called() == "called"
    assert named.function("x") == "x"


def test_definition() -> None:
    assert named.definition() == {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "The weather.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    }
    # No description: no key. A fresh copy each time: changing it changes nothing.
    definition = called.definition()
    assert definition == {
        "type": "function",
        "function": {
            "name": "called",
            "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
        },
    }
    definition["function"]["parameters"]["properties"]["x"] = {}
    assert called.definition()["function"]["parameters"]["properties"] == {}
    assert called.parameters["properties"] == {}


def test_definition_is_a_valid_request_tool() -> None:
    from agentchat._validate import check_body

    body = check_body({"tools": [bare.definition(), named.definition()]})
    assert body["tools"][1]["function"]["name"] == "weather"


# -- explicit parameters= ---------------------------------------------------------------------

EXPLICIT = {
    "type": "object",
    "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
    "required": ["query"],
    "additionalProperties": False,
}


def untyped_search(query, limit=10):  # type: ignore[no-untyped-def]
    """Search by hand."""
    return f"{query}:{limit}"


def test_explicit_parameters() -> None:
    tool = function_tool(untyped_search, parameters=EXPLICIT)
    assert tool.parameters == EXPLICIT
    assert tool.parameters is not EXPLICIT
    assert tool.description == "Search by hand."
    assert tool.definition()["function"]["parameters"] == EXPLICIT
    # Values are passed as they are: the schema says integer, nothing converts or checks it.
    assert tool.parse_arguments('{"query": "q", "limit": "3"}') == {"query": "q", "limit": "3"}
    with pytest.raises(ToolArgumentsError) as caught:
        tool.parse_arguments('{"limit": 3, "lmit": 4}')
    assert str(caught.value) == (
        'Invalid arguments for untyped_search: lmit: unknown argument, did you mean "limit"? '
        "(the arguments are query, limit); query: required argument missing"
    )
    with pytest.raises(ToolArgumentsError, match="got 3 \\(an integer\\)"):
        tool.parse_arguments("3")
    with pytest.raises(ToolArgumentsError, match="not valid JSON"):
        tool.parse_arguments("{query")


def test_explicit_parameters_open_object() -> None:
    schema = {"type": "object", "properties": {"query": {"type": "string"}}}
    tool = function_tool(untyped_search, parameters=schema)
    assert tool.parse_arguments('{"query": "q", "other": 1}') == {"query": "q", "other": 1}


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"type": "array"}, "must be a JSON Schema of type 'object'"),
        ({"type": "object", "default": math.nan}, "the parameters schema is not JSON"),
        ({"type": "object", "properties": {"x": {"default": object()}}}, "is not JSON"),
    ],
)
def test_explicit_parameters_refused(parameters: dict[str, Any], message: str) -> None:
    with pytest.raises(ToolDefinitionError, match=message):
        function_tool(untyped_search, parameters=parameters)


def test_direct_construction() -> None:
    tool = FunctionTool(
        name="search",
        description=None,
        parameters=EXPLICIT,
        function=untyped_search,
        is_async=False,
    )
    assert tool.strict is False
    assert tool.parse_arguments('{"query": "q"}') == {"query": "q"}
    with pytest.raises(ToolDefinitionError, match="is invalid"):
        FunctionTool(
            name="no spaces", description=None, parameters={}, function=print, is_async=False
        )
