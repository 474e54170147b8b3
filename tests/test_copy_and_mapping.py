"""Results copy, pickle and read like pydo's dicts.

- Every public model (each class ``agentchat`` exports that derives from ``Model``, plus
  ``ResponseInfo``, ``RateLimit`` and ``Timeout``) round-trips through ``copy.copy``,
  ``copy.deepcopy`` and every pickle protocol, ``extra`` and ``completion.response`` included.
  The classes are found in ``agentchat.__all__``, so a new model is covered without a new test.
- Models are read-only mappings over their wire form, so pydo's published sample and its
  dict-style reading of results run unchanged once the import says ``agentchat``.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs
import pytest

import agentchat
from agentchat import (
    AgentClient,
    ChatCompletion,
    ChatCompletionChunk,
    ChatMessage,
    ChoiceDelta,
    ConfigurationError,
    FunctionDefinition,
    KBFilter,
    Model,
    NamedToolChoice,
    RateLimit,
    RateLimitBucket,
    ResponseInfo,
    StreamOptions,
    Timeout,
    Tool,
    Usage,
)
from agentchat._models._base import EMPTY_EXTRA
from agentchat.testing import FakeAgentServer

# -- the classes, found from the public names ------------------------------------------------------

MODEL_CLASSES: list[type[Model]] = sorted(
    (
        value
        for value in (getattr(agentchat, name) for name in agentchat.__all__)
        if isinstance(value, type) and issubclass(value, Model)
    ),
    key=lambda cls: cls.__name__,
)
OTHER_CLASSES: list[type] = [ResponseInfo, RateLimit, RateLimitBucket, Timeout]
PUBLIC_CLASSES: list[type] = [*MODEL_CLASSES, *OTHER_CLASSES]


def _pickler(protocol: int) -> Callable[[Any], Any]:
    def round_trip(obj: Any) -> Any:
        return pickle.loads(pickle.dumps(obj, protocol))

    return round_trip


ROUND_TRIPS: dict[str, Callable[[Any], Any]] = {
    "copy": copy.copy,
    "deepcopy": copy.deepcopy,
    **{f"pickle{p}": _pickler(p) for p in range(pickle.HIGHEST_PROTOCOL + 1)},
}

# A server's answer with what the fake agent does not send: unknown fields at several levels,
# nulls, logprobs, usage details.
SCRIPTED: dict[str, Any] = {
    "id": "chatcmpl-do-1",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "llama3.3-70b-instruct",
    "service_tier": "default",
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "stop_reason": 128009,
            "message": {
                "role": "assistant",
                "content": "Lisbon.",
                "refusal": None,
                "annotations": [{"type": "url_citation"}],
            },
            "logprobs": {
                "content": [
                    {
                        "token": "Lisbon",
                        "logprob": -0.01,
                        "bytes": [76, 105],
                        "top_logprobs": [{"token": "Lisbon", "logprob": -0.01, "bytes": None}],
                    }
                ],
                "refusal": None,
            },
        }
    ],
    "usage": {
        "prompt_tokens": 9,
        "completion_tokens": 2,
        "total_tokens": 11,
        "cache_creation": {"ephemeral_5m_input_tokens": 1},
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": None},
        "completion_tokens_details": {"reasoning_tokens": 0},
        "new_counter": 3,
    },
    "retrieval": {"retrieved_data": [{"id": "d1", "index": "kb-1", "score": 0.87}]},
    "functions": {"called_functions": ["lookup"]},
    "guardrails": {"triggered_guardrails": [{"message": "blocked", "rule_name": "pii"}]},
}


# -- samples: real answers from the fake agent, and one made instance per class -------------------


def _walk(value: Any) -> Iterator[Any]:
    """Every model (and ResponseInfo) reachable from ``value``, ``value`` included."""
    if isinstance(value, tuple):
        for item in value:
            yield from _walk(item)
    elif isinstance(value, Model):
        yield value
        for field in attrs.fields(type(value)):
            yield from _walk(getattr(value, field.name))
    elif isinstance(value, ResponseInfo):
        yield value
        yield value.rate_limit


def _made(cls: Any, name: str = "x") -> Any:
    """An instance of ``cls`` with every field set (unknown fields too), from its type hints:
    a model added later gets one without anyone writing it."""
    if cls is str:
        return f"{name}-value"
    if cls is bool:
        return True
    if cls is int:
        return 7
    if cls is float:
        return 0.5
    origin = typing.get_origin(cls)
    if origin in (typing.Union, types.UnionType):
        return _made(next(a for a in typing.get_args(cls) if a is not type(None)), name)
    if origin is tuple:
        item = typing.get_args(cls)[0]
        return (_made(item, name), _made(item, name))
    if origin in (Mapping, dict) or cls in (Mapping, dict):
        return {"type": "object", "properties": {}}
    if isinstance(cls, type) and issubclass(cls, Model):
        hints = typing.get_type_hints(cls)
        values = {
            field.name: _made(hints[field.name], field.name)
            for field in attrs.fields(cls)
            if field.name not in ("extra", "response")
        }
        return cls(**values, extra={"x_new": [1, {"nested": None}]})
    if cls is ResponseInfo:
        return ResponseInfo(status=200, headers={"x-request-id": "r1"}, url="https://a.b/")
    if cls is RateLimitBucket:
        return RateLimitBucket("tokens-per-minute", limit=1000, remaining=0, reset_at=1.7e9)
    if cls is RateLimit:
        requests = RateLimitBucket("requests", limit=10, remaining=9, reset_at=None)
        return RateLimit(
            limit=10,
            remaining=9,
            reset_at=1_700_000_000.0,
            retry_after=1.5,
            buckets={"requests": requests, "tokens-per-minute": _made(RateLimitBucket)},
        )
    if cls is Timeout:
        return Timeout(connect=1.0, read=2.0, stream_idle=3.0, total=4.0, pool=5.0)
    raise TypeError(f"no sample rule for {cls!r}")


@pytest.fixture(scope="module")
def answers() -> dict[str, Any]:
    """Real results: completions (plain, with tool calls and the agent objects, scripted with
    unknown fields), a stream's chunks and its final completion."""
    ask: list[Any] = [{"role": "user", "content": "What is the capital of Portugal?"}]
    tools = [Tool(function=FunctionDefinition(name="lookup", parameters={"type": "object"}))]
    lookup = NamedToolChoice.for_function("lookup")
    with (
        FakeAgentServer().in_thread() as server,
        AgentClient(server.token, server.url, max_retries=0) as client,
    ):
        create = client.agent.chat.completions.create
        plain = create(model="m", messages=ask)
        tooled = create(
            model="m",
            messages=ask,
            tools=tools,
            tool_choice=lookup,
            n=2,
            include_retrieval_info=True,
            include_functions_info=True,
            include_guardrails_info=True,
        )
        server.respond(json=SCRIPTED)
        scripted = create(model="m", messages=ask)
        with create(
            model="m",
            messages=ask,
            stream=True,
            stream_options={"include_usage": True},
            tools=tools,
            tool_choice=lookup,
            include_retrieval_info=True,
            include_functions_info=True,
            include_guardrails_info=True,
        ) as stream:
            chunks = tuple(stream)
            final = stream.get_final_completion()
        server.stream(events=[{**SCRIPTED, "object": "chat.completion.chunk"}])
        with create(model="m", messages=ask, stream=True) as stream:
            odd_chunks = tuple(stream)
            odd_final = stream.get_final_completion()
    return {
        "plain": plain,
        "tooled": tooled,
        "scripted": scripted,
        "chunks": chunks + odd_chunks,
        "final": final,
        "odd_final": odd_final,
    }


@pytest.fixture(scope="module")
def samples(answers: dict[str, Any]) -> dict[type, list[Any]]:
    found: dict[type, list[Any]] = {cls: [_made(cls)] for cls in PUBLIC_CLASSES}
    for value in _walk(tuple(answers.values())):
        found.setdefault(type(value), []).append(value)
    found[ChatMessage].append(ChatMessage(role="user", content="x"))
    found[Model].append(Model())
    found[Timeout].append(Timeout())
    return found


def _same(a: Any, b: Any) -> None:
    """``b`` is an equal copy of ``a``: attrs equality, and what equality leaves out (``extra``
    at every level, ``response``)."""
    assert type(b) is type(a)
    assert b == a
    if isinstance(a, Model):
        assert dict(b.extra) == dict(a.extra)
        assert b.to_dict() == a.to_dict()  # every nested extra
        if not a.extra:
            assert b.extra is EMPTY_EXTRA  # the shared empty one, not a new one per copy
    if isinstance(a, ChatCompletion) and a.response is not None:
        _same(a.response, b.response)
    if isinstance(a, ResponseInfo):
        assert list(b.headers.items()) == list(a.headers.items())
        assert type(b.headers) is type(a.headers)
        assert (b.request_id, b.content_type, b.elapsed, b.attempts) == (
            a.request_id,
            a.content_type,
            a.elapsed,
            a.attempts,
        )


# -- 1. copy and pickle ---------------------------------------------------------------------------


def test_the_public_classes_are_found() -> None:
    names = {cls.__name__ for cls in MODEL_CLASSES}
    assert {"ChatCompletion", "ChatCompletionChunk", "ChatMessage", "Usage", "Model"} <= names


@pytest.mark.parametrize("how", list(ROUND_TRIPS))
@pytest.mark.parametrize("cls", PUBLIC_CLASSES, ids=lambda cls: cls.__name__)
def test_every_public_class_copies_and_pickles(
    cls: type, how: str, samples: dict[type, list[Any]]
) -> None:
    for sample in samples[cls]:
        _same(sample, ROUND_TRIPS[how](sample))


def test_the_real_results_cover_what_a_server_sends(answers: dict[str, Any]) -> None:
    # What the samples are meant to contain, so the test above exercises it.
    completion = answers["tooled"]
    assert completion.response is not None
    assert type(completion.response.headers).__name__ == "CIMultiDictProxy"
    assert completion.choices[1].message.tool_calls and completion.retrieval is not None
    assert answers["scripted"].extra == {"service_tier": "default"}
    assert answers["final"].choices[0].message.tool_calls
    assert answers["odd_final"].extra == {"service_tier": "default"}
    assert any(chunk.usage is not None and not chunk.choices for chunk in answers["chunks"])


@pytest.mark.parametrize("how", list(ROUND_TRIPS))
def test_a_completion_keeps_its_response_metadata(how: str, answers: dict[str, Any]) -> None:
    completion: ChatCompletion = answers["scripted"]
    again: ChatCompletion = ROUND_TRIPS[how](completion)
    assert again.response is not None and completion.response is not None
    assert again.response.request_id == completion.response.request_id
    assert again.response.headers["Content-Type"] == completion.response.headers["content-type"]
    assert again.response.rate_limit.limit == completion.response.rate_limit.limit
    with pytest.raises(TypeError):
        again.response.headers["x-new"] = "1"  # type: ignore[index]  # still read-only
    assert again.choices[0].extra == {"stop_reason": 128009}
    assert again.usage is not None and again.usage.extra == {"new_counter": 3}


def test_a_deep_copy_is_independent_and_a_shared_empty_extra_stays_shared() -> None:
    message = ChatMessage(role="user", content="x", extra={"meta": {"a": [1]}})
    deep = copy.deepcopy(message)
    assert deep.extra == message.extra and deep.extra is not message.extra
    assert deep.extra["meta"] is not message.extra["meta"]
    plain = copy.deepcopy(ChatMessage(role="user"))
    assert plain.extra is EMPTY_EXTRA
    with pytest.raises(TypeError):
        plain.extra["x"] = 1  # type: ignore[index]


def test_a_pickle_does_not_depend_on_field_order() -> None:
    # Fields travel by name: a pickle made before a field is added or moved still loads.
    reducer, (cls, state) = Usage(prompt_tokens=1).__reduce__()
    assert cls is Usage and state["prompt_tokens"] == 1 and "extra" not in state
    assert reducer(cls, {"prompt_tokens": 1}) == Usage(prompt_tokens=1)


# -- 2. pydo's code, with the import changed ------------------------------------------------------


def test_client_is_pydos_name_for_the_blocking_client() -> None:
    assert agentchat.Client is AgentClient
    assert "Client" in agentchat.__all__


def test_pydos_published_sample_runs_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeAgentServer().in_thread() as server:
        monkeypatch.setenv("AGENT_ACCESS_KEY", server.token)
        agent_url = server.url

        # -- pydo's sample (seeds/pydo-agent-chat-completions-create.txt); only the import
        # line and the endpoint differ. ----------------------------------------------------
        from agentchat import Client

        client = Client(
            token=os.environ.get("AGENT_ACCESS_KEY"),
            agent_endpoint=agent_url,
        )
        resp = client.agent.chat.completions.create(
            model="llama3.3-70b-instruct",
            messages=[
                {"role": "user", "content": "What is the capital of Portugal?"},
            ],
        )
        # -- end of the sample --------------------------------------------------------------

        try:
            # pydo's result is a dict; read it the ways pydo users do.
            assert resp["choices"][0]["message"]["content"] == (
                "Echo: What is the capital of Portugal?"
            )
            assert resp["choices"][0]["message"]["role"] == "assistant"
            assert resp["choices"][0]["finish_reason"] == "stop"
            assert resp["model"] == "llama3.3-70b-instruct"
            usage = resp.get("usage")
            assert usage is not None
            assert usage["total_tokens"] == usage.get("prompt_tokens") + usage["completion_tokens"]
            assert "choices" in resp and "usage" in resp
            assert "retrieval" not in resp and resp.get("retrieval") is None
            assert resp.get("nope", "default") == "default"
            assert set(resp) == {"id", "object", "created", "model", "choices", "usage"}
            assert len(resp) == 6 and set(resp.keys()) == set(resp)
            assert [key for key, _ in resp.items()] == list(resp)
            for choice in resp["choices"]:
                print(choice["message"]["content"])
            assert json.loads(json.dumps(resp.to_dict())) == resp.to_dict()
            assert json.loads(resp.to_json()) == resp.to_dict()
            # ... and the attributes still work, typed.
            assert resp.choices[0].message.content == resp["choices"][0]["message"]["content"]
        finally:
            client.close()


def test_client_still_requires_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    from agentchat import Client

    with pytest.raises(ConfigurationError, match="AGENT_ENDPOINT"):
        Client(token="key")
    monkeypatch.setenv("AGENT_ENDPOINT", "agent-1.agents.do-ai.run")
    with Client(token="key") as client:
        assert client.agent_endpoint == "https://agent-1.agents.do-ai.run"
    with pytest.raises(TypeError, match="retry_total"):
        Client(token="key", retry_total=3)  # type: ignore[call-arg]  # azure-core options


def _plain(value: Any) -> Any:
    """What pydo would have returned: mappings as dicts (read through the mapping view, not
    ``to_dict()``), tuples as lists."""
    if isinstance(value, Mapping):
        return {key: _plain(value[key]) for key in value}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def test_dict_style_reading_matches_the_json_a_server_sent(answers: dict[str, Any]) -> None:
    resp = answers["scripted"]
    assert _plain(resp) == _without_nulls(SCRIPTED)
    assert resp["service_tier"] == "default"  # unknown fields are keys too
    assert resp["choices"][0]["message"]["annotations"] == [{"type": "url_citation"}]
    assert resp["choices"][0]["stop_reason"] == 128009
    assert resp["usage"]["new_counter"] == 3
    assert resp["choices"][0]["logprobs"]["content"][0]["bytes"] == (76, 105)
    # A field the server sent as null reads as None, as in pydo's dict, but is not a key
    # (to_dict() leaves it out).
    message = resp["choices"][0]["message"]
    assert message["refusal"] is None and "refusal" not in message
    assert message.get("refusal", "absent") == "absent"
    with pytest.raises(KeyError):
        _ = message["no_such_field"]


def test_a_tool_call_answer_reads_like_pydos(answers: dict[str, Any]) -> None:
    resp = answers["tooled"]
    message = resp["choices"][1]["message"]
    assert message["content"] is None  # pydo: the server's null
    call = message["tool_calls"][0]
    assert call["function"]["name"] == "lookup"
    assert json.loads(call["function"]["arguments"]) == {"echo": "What is the capital of Portugal?"}
    assert resp["retrieval"]["retrieved_data"][0]["score"] == 0.9
    assert resp["functions"]["called_functions"] == ()
    # A streamed answer's chunks read the same way.
    texts = [c["choices"][0]["delta"].get("content") for c in answers["chunks"] if c["choices"]]
    assert any(texts) or any(
        c["choices"][0]["delta"].get("tool_calls") for c in answers["chunks"] if c["choices"]
    )


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda cls: cls.__name__)
def test_every_model_is_a_read_only_mapping_of_its_wire_form(
    cls: type[Model], samples: dict[type, list[Any]]
) -> None:
    for model in samples[cls]:
        wire = model.to_dict()
        assert isinstance(model, Mapping)
        assert list(model) == list(wire)  # the keys of to_dict(), in its order
        assert len(model) == len(wire) and list(model.keys()) == list(wire)
        assert _plain(model) == wire
        for key in wire:
            assert key in model
        for forbidden in ("__setitem__", "__delitem__", "update", "pop", "setdefault", "clear"):
            assert not hasattr(model, forbidden), forbidden
        with pytest.raises(TypeError):
            model["id"] = "other"  # type: ignore[index]
        assert bool(model)  # an object first: an all-None model is still true


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda cls: cls.__name__)
def test_no_field_hides_a_mapping_method(cls: type[Model]) -> None:
    api = {name for name in dir(Mapping) if not name.startswith("_")}
    api |= {"to_dict", "to_json", "from_dict", "extra"}
    fields = {field.name for field in attrs.fields(cls)} - {"extra"}
    assert not fields & api


def test_equality_hash_and_repr_are_the_attrs_ones() -> None:
    message = ChatMessage(role="user", content="hi")
    assert message == ChatMessage(role="user", content="hi")
    assert message != ChatMessage(role="user", content="other")
    assert hash(message) == hash(ChatMessage(role="user", content="hi"))
    assert len({message, ChatMessage(role="user", content="hi")}) == 1
    assert message != {"role": "user", "content": "hi"}  # a model is not equal to a dict
    assert repr(message).startswith("ChatMessage(role='user', content='hi', refusal=None")
    assert bool(ChoiceDelta()) and bool(Usage())


def test_to_json_is_compact_json_of_to_dict(answers: dict[str, Any]) -> None:
    completion = answers["scripted"]
    text = completion.to_json()
    assert isinstance(text, str) and ": " not in text and ", " not in text
    assert json.loads(text) == completion.to_dict()
    message = ChatMessage(role="user", content="Olá")
    assert message.to_json() == '{"role":"user","content":"Olá"}'
    with pytest.raises(TypeError):
        json.dumps(completion)  # not a dict: the documented replacement is to_dict()/to_json()


async def test_request_bodies_are_unchanged_by_models_being_mappings(
    server: FakeAgentServer,
) -> None:
    # Messages, tools and options given as models serialise exactly as the same dicts do.
    as_models: dict[str, Any] = {
        "messages": [ChatMessage(role="user", content="hi", extra={"name": "ann"})],
        "tools": [Tool(function=FunctionDefinition(name="f", parameters={"type": "object"}))],
        "tool_choice": NamedToolChoice.for_function("f"),
        "stream_options": StreamOptions(include_usage=True),
        "kb_filters": [KBFilter(index="kb-1", path="docs/")],
    }
    as_dicts: dict[str, Any] = {
        "messages": [{"role": "user", "content": "hi", "name": "ann"}],
        "tools": [
            {"function": {"name": "f", "parameters": {"type": "object"}}, "type": "function"}
        ],
        "tool_choice": {"function": {"name": "f"}, "type": "function"},
        "stream_options": {"include_usage": True},
        "kb_filters": [{"index": "kb-1", "path": "docs/"}],
    }
    async with server.client(max_retries=0) as client:
        for params in (as_models, as_dicts):
            async with await client.agent.chat.completions.create(
                model="m", stream=True, **params
            ) as stream:
                await stream.get_final_completion()
    first, second = server.requests
    assert first.body == second.body
    assert json.loads(first.body)["messages"] == as_dicts["messages"]


def test_to_dict_is_unchanged_by_models_being_mappings(answers: dict[str, Any]) -> None:
    # cattrs may treat Mappings specially: to_dict() must still be the models' own hook.
    assert answers["scripted"].to_dict() == _without_nulls(SCRIPTED)
    assert list(answers["scripted"].to_dict()) == [
        "choices",
        "id",
        "object",
        "created",
        "model",
        "usage",
        "retrieval",
        "functions",
        "guardrails",
        "service_tier",
    ]
    assert ChatCompletion.from_dict(answers["scripted"].to_dict()) == answers["scripted"]
    chunk: ChatCompletionChunk = answers["chunks"][0]
    assert ChatCompletionChunk.from_dict(chunk.to_dict()) == chunk
