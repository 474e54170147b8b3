"""Objects built the fast way (``agentchat._frozen``: stored as a builder subclass, then switched
to the frozen class) are ordinary frozen instances of their class, at every level."""

from __future__ import annotations

import copy
import inspect
import pickle
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from agentchat import ChatCompletion, ChatCompletionChunk, ResponseInfo
from agentchat._frozen import builder

from .test_models import FULL

CHUNK: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1_700_000_000,
    "model": "m",
    "choices": [
        {
            "index": 0,
            "delta": {
                "role": "assistant",
                "content": "Hi",
                "tool_calls": [
                    {"index": 0, "id": "c1", "type": "function", "function": {"name": "f"}}
                ],
            },
            "finish_reason": None,
        }
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    "x_new": {"kept": True},
}


def _method(kind: type, name: str) -> object:
    """What ``kind.<name>`` is, looked up without calling descriptors."""
    return inspect.getattr_static(kind, name)


def _attrs_objects(value: Any) -> Iterator[Any]:
    """``value`` and every attrs object inside it, depth first."""
    if attrs.has(type(value)):
        yield value
        for field in attrs.fields(type(value)):
            if field.name != "response":
                yield from _attrs_objects(getattr(value, field.name))
    elif isinstance(value, tuple):
        for item in value:
            yield from _attrs_objects(item)


@pytest.mark.parametrize(
    ("cls", "data"), [(ChatCompletion, FULL), (ChatCompletionChunk, CHUNK)], ids=["full", "chunk"]
)
def test_every_structured_object_is_a_frozen_instance_of_its_own_class(
    cls: type[Any], data: dict[str, Any]
) -> None:
    top = cls.from_dict(data)
    objects = list(_attrs_objects(top))
    assert len(objects) >= 5
    for obj in objects:
        kind = type(obj)
        assert not kind.__name__.endswith("Builder"), kind
        assert _method(kind, "__setattr__") is not object.__setattr__  # the frozen class's
        name = attrs.fields(kind)[0].name
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            setattr(obj, name, None)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            delattr(obj, name)
        assert not hasattr(obj, "__dict__")
        # Every slot was set (an unset slot raises AttributeError on reading it).
        for field in attrs.fields(kind):
            getattr(obj, field.name)
    assert top.extra == {k: v for k, v in data.items() if k == "x_new"}
    assert copy.deepcopy(top) == top
    assert pickle.loads(pickle.dumps(top)) == top
    assert type(pickle.loads(pickle.dumps(top))) is cls
    assert top.to_dict() == cls.from_dict(top.to_dict()).to_dict()


def test_a_builder_is_one_subclass_per_class_that_stores_plainly() -> None:
    made = builder(ChatCompletionChunk)
    assert builder(ChatCompletionChunk) is made
    assert made.__mro__[1] is ChatCompletionChunk
    assert made.__dict__["__slots__"] == ()  # the same layout, so __class__ can be switched
    # Both must be object's: with either one a Python function, the interpreter calls the
    # Python-level __setattr__ for every store, which is what the builder is there to avoid.
    assert _method(made, "__setattr__") is object.__setattr__
    assert _method(made, "__delattr__") is object.__delattr__


def _headers() -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict({"x-request-id": "req-1", "ratelimit-remaining": "4"}))


def test_response_info_of_is_the_same_as_the_constructor() -> None:
    headers = _headers()
    fast = ResponseInfo.of(200, headers, "http://127.0.0.1/x", 0.25, 2)
    slow = ResponseInfo(200, headers, "http://127.0.0.1/x", 0.25, 2)
    assert type(fast) is ResponseInfo
    assert attrs.astuple(fast, recurse=False) == attrs.astuple(slow, recurse=False)
    assert fast == slow
    assert fast.request_id == "req-1"
    assert fast.rate_limit.remaining == 4
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        fast.status = 500  # type: ignore[misc]
    again = pickle.loads(pickle.dumps(fast))
    assert again == fast and type(again) is ResponseInfo


def test_response_info_of_keeps_a_subclass() -> None:
    @attrs.frozen
    class Info(ResponseInfo):
        pass

    info = Info.of(503, _headers(), "http://127.0.0.1/x", 0.5, 1)
    assert type(info) is Info
    assert info.status == 503 and info.attempts == 1
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        info.url = "other"  # type: ignore[misc]
