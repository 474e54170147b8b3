"""agentchat's pytest plugin, as a user's project gets it: small test files that use its
fixtures, run by pytester under ``filterwarnings = error`` (an unclosed session or connection
fails them), with pytest-asyncio, with anyio's plugin alone, and with no async plugin.

The runs are in-process (fast) and load the plugin by its module name, so that they test this
working tree whether or not the installed entry point is fresh (``-p no:agentchat`` keeps an
installed entry point from registering it twice); one run checks the entry point itself.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from agentchat.testing import FakeAgentServer, ScriptedReply, ScriptedToolCall

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ("-p", "no:agentchat", "-p", "agentchat.testing._pytest_plugin")
#: Hypothesis's plugin imports hypothesis anew in each in-process run (pytester restores
#: ``sys.modules``): a second and a half a run, for nothing these tests use.
QUIET = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")
#: What a strict user's project configures: every warning fails the test.
INI = """\
[pytest]
filterwarnings = error
asyncio_default_fixture_loop_scope = function
"""
#: The same without pytest-asyncio's option, for runs with ``-p no:asyncio``.
INI_WITHOUT_ASYNCIO = "[pytest]\nfilterwarnings = error\n"

HEADER = """\
from __future__ import annotations

import asyncio
import os

import pytest

from agentchat import (
    AgentClient,
    APIConnectionError,
    APITimeoutError,
    AsyncAgentClient,
    IncompleteStreamError,
    InternalServerError,
    RateLimitError,
)
from agentchat.testing import FakeAgentClients, FakeAgentServer

USER = [{"role": "user", "content": "What is the weather?"}]
"""


def run(
    pytester: pytest.Pytester, source: str, *options: str, ini: str = INI, plugin: bool = True
) -> pytest.RunResult:
    """Run ``source`` (after the common imports) as a user's test module."""
    pytester.makeini(ini)
    pytester.makepyfile(test_user=HEADER + textwrap.dedent(source))
    args = (*(PLUGIN if plugin else ()), *QUIET, *options)
    return pytester.runpytest_inprocess(*args)


# -- loading -------------------------------------------------------------------------------


def test_the_entry_point_registers_the_plugin(pytester: pytest.Pytester) -> None:
    found = [entry.value for entry in entry_points(group="pytest11", name="agentchat")]
    stale = "the installed metadata predates the entry point: pip install -e ."
    assert found == ["agentchat.testing._pytest_plugin"], stale
    # As a user's project gets it: no -p option, only the installed entry point.
    result = run(
        pytester,
        """
        def test_it(fake_agent: FakeAgentServer) -> None:
            assert fake_agent.url.startswith("http://127.0.0.1:")
        """,
        plugin=False,
    )
    result.assert_outcomes(passed=1)


def test_loading_the_plugin_imports_neither_aiohttp_nor_the_client() -> None:
    # Every pytest run of a project that installs agentchat loads the plugin.
    heavy = ["aiohttp", "attrs", "yarl", "agentchat._client", "agentchat.testing._server"]
    code = (
        "import sys, agentchat.testing._pytest_plugin\n"
        f"print([name for name in {heavy!r} if name in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert done.stdout.strip() == "[]"


def test_it_can_be_turned_off(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(test_user="def test_it(fake_agent):\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:agentchat", *QUIET)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'fake_agent' not found*"])


# -- the fixtures in each kind of test -----------------------------------------------------


def test_a_blocking_test_with_the_sync_client(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        def test_reply(fake_agent: FakeAgentServer, sync_agent_client: AgentClient) -> None:
            fake_agent.reply("Sunny.")
            completion = sync_agent_client.agent.chat.completions.create(
                model="m", messages=USER
            )
            assert completion.choices[0].message.content == "Sunny."
            assert fake_agent.last_request.last_user_content == "What is the weather?"


        def test_default_echo_and_stream(sync_agent_client: AgentClient) -> None:
            with sync_agent_client.agent.chat.completions.create(
                model="m", messages=USER, stream=True
            ) as stream:
                text = "".join(stream.text_stream())
            assert text == "Echo: What is the weather?"
        """,
        "-p",
        "no:asyncio",
        "-p",
        "no:anyio",
        ini=INI_WITHOUT_ASYNCIO,
    )
    result.assert_outcomes(passed=2)


# The session of the first test's client, checked by the second: its loop's shutdown closed it.
SESSION_CHECK = """
import gc

SESSIONS = []


{mark}
async def test_call(fake_agent: FakeAgentServer, agent_client: AsyncAgentClient) -> None:
    fake_agent.reply("Sunny.")
    completion = await agent_client.agent.chat.completions.create(model="m", messages=USER)
    assert completion.choices[0].message.content == "Sunny."
    stream = await agent_client.agent.chat.completions.create(
        model="m", messages=USER, stream=True
    )
    async for _ in stream:
        break  # the stream is left open on purpose: the loop's shutdown closes it
    SESSIONS.append(agent_client._transport.session)


{mark}
async def test_a_second_test_gets_a_fresh_client(agent_client: AsyncAgentClient) -> None:
    assert agent_client._transport.session is None
    completion = await agent_client.agent.chat.completions.create(model="m", messages=USER)
    assert completion.choices[0].message.content == "Echo: What is the weather?"


def test_the_first_session_was_closed() -> None:
    (session,) = SESSIONS
    assert session.closed
    SESSIONS.clear()
    gc.collect()  # anything left unclosed would warn now, and fail this test
"""


def test_a_pytest_asyncio_test_with_the_async_client(pytester: pytest.Pytester) -> None:
    result = run(pytester, SESSION_CHECK.format(mark="@pytest.mark.asyncio"))
    result.assert_outcomes(passed=3)


def test_pytest_asyncio_in_auto_mode(pytester: pytest.Pytester) -> None:
    result = run(pytester, SESSION_CHECK.format(mark=""), ini=INI + "asyncio_mode = auto\n")
    result.assert_outcomes(passed=3)


def test_a_module_scoped_loop_gets_its_clients_closed_after_each_test(
    pytester: pytest.Pytester,
) -> None:
    # The loop outlives the test: the fixture closes the client in it, idle between tests.
    result = run(pytester, SESSION_CHECK.format(mark='@pytest.mark.asyncio(loop_scope="module")'))
    result.assert_outcomes(passed=3)


def test_an_anyio_test_with_the_async_client(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        SESSION_CHECK.format(mark="@pytest.mark.anyio"),
        "-p",
        "no:asyncio",  # anyio's plugin alone
        ini=INI_WITHOUT_ASYNCIO,
    )
    result.assert_outcomes(passed=3)


def test_every_client_kind_from_the_factory(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        @pytest.mark.asyncio
        async def test_async(
            fake_agent: FakeAgentServer, fake_agent_clients: FakeAgentClients
        ) -> None:
            inference = fake_agent_clients.inference(max_retries=0)
            compatible = fake_agent_clients.compatible()
            for client in (inference, compatible):
                completion = await client.chat.completions.create(model="m", messages=USER)
                assert completion.choices[0].message.content == "Echo: What is the weather?"
            agent = fake_agent_clients.agent(max_retries=0)
            fake_agent.error(503, "busy")
            with pytest.raises(Exception, match="busy"):
                await agent.agent.chat.completions.create(model="m", messages=USER)
            assert [r.path for r in fake_agent.requests] == [
                "/v1/chat/completions",
                "/v1/chat/completions",
                "/api/v1/chat/completions",
            ]


        def test_sync(fake_agent: FakeAgentServer, fake_agent_clients: FakeAgentClients) -> None:
            clients = fake_agent_clients
            for client in (clients.sync_inference(), clients.sync_compatible()):
                completion = client.chat.completions.create(model="m", messages=USER)
                assert completion.choices[0].message.content == "Echo: What is the weather?"
                assert not client.closed
        """,
    )
    result.assert_outcomes(passed=2)


def test_the_env_fixture_serves_code_that_reads_the_environment(
    pytester: pytest.Pytester,
) -> None:
    result = run(
        pytester,
        """
        from agentchat import InferenceClient, OpenAICompatibleClient


        def forecast() -> str | None:
            # The code under test: it builds its client from the environment.
            with AgentClient() as client:
                completion = client.agent.chat.completions.create(model="m", messages=USER)
            return completion.choices[0].message.content


        @pytest.mark.fake_agent(token="k-123")
        def test_forecast(fake_agent_env: FakeAgentServer) -> None:
            fake_agent_env.reply("Rain.")
            assert forecast() == "Rain."
            assert fake_agent_env.last_request.token == "k-123"
            assert os.environ["MODEL_ACCESS_KEY"] == "k-123"
            with OpenAICompatibleClient() as compatible:
                completion = compatible.chat.completions.create(model="m", messages=USER)
            assert completion.choices[0].message.content == "Echo: What is the weather?"
            assert fake_agent_env.last_request.path == "/v1/chat/completions"
            with InferenceClient() as inference:
                inference.chat.completions.create(model="m", messages=USER)
            assert fake_agent_env.call_count == 3


        def test_afterwards_the_environment_is_restored() -> None:
            assert "AGENT_ENDPOINT" not in os.environ
            assert "INFERENCE_ENDPOINT" not in os.environ
            assert "OPENAI_BASE_URL" not in os.environ
        """,
    )
    result.assert_outcomes(passed=2)


# -- the marker ----------------------------------------------------------------------------


def test_the_marker_configures_the_server_closest_first(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        pytestmark = pytest.mark.fake_agent(token="module-key", rate_limit=1)


        @pytest.mark.fake_agent(enforce_rate_limit=True, stream_delay=0.001)
        def test_marked(fake_agent: FakeAgentServer, fake_agent_clients: FakeAgentClients) -> None:
            assert fake_agent.token == "module-key"
            assert fake_agent.stream_delay == 0.001
            client = fake_agent_clients.sync_agent(max_retries=0)
            client.agent.chat.completions.create(model="m", messages=USER)
            with pytest.raises(RateLimitError):
                client.agent.chat.completions.create(model="m", messages=USER)


        class TestClass:
            pytestmark = pytest.mark.fake_agent(token="class-key")

            @pytest.mark.fake_agent(model="mine")
            def test_nested(self, fake_agent: FakeAgentServer) -> None:
                assert (fake_agent.token, fake_agent.model, fake_agent.rate_limit) == (
                    "class-key",
                    "mine",
                    1,
                )


        @pytest.mark.fake_agent(no_such_option=1)
        def test_unknown_option(fake_agent: FakeAgentServer) -> None:
            pass


        @pytest.mark.fake_agent("positional")
        def test_positional(fake_agent: FakeAgentServer) -> None:
            pass
        """,
    )
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.fnmatch_lines(["*@pytest.mark.fake_agent: *no_such_option*"])
    result.stdout.fnmatch_lines(["*@pytest.mark.fake_agent takes keyword options only*"])


# -- the scripting helpers, through the plugin -----------------------------------------------


def test_the_scripting_helpers(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        pytestmark = pytest.mark.asyncio


        async def test_text_as_json_and_as_stream(
            fake_agent: FakeAgentServer, agent_client: AsyncAgentClient
        ) -> None:
            fake_agent.reply("It is sunny.", times=2)
            create = agent_client.agent.chat.completions.create
            completion = await create(model="m", messages=USER)
            assert completion.choices[0].message.content == "It is sunny."
            stream = await create(model="m", messages=USER, stream=True)
            pieces = [text async for text in stream.text_stream()]
            assert pieces == ["It ", "is ", "sunny."]
            assert [r.stream for r in fake_agent.requests] == [False, True]
            assert fake_agent.call_count == 2


        async def test_pieces_with_a_pause_between(
            fake_agent: FakeAgentServer, agent_client: AsyncAgentClient
        ) -> None:
            fake_agent.reply(["Hel", "lo", "!"], interval=0.02)
            loop = asyncio.get_running_loop()
            started = loop.time()
            stream = await agent_client.agent.chat.completions.create(
                model="m", messages=USER, stream=True
            )
            assert [text async for text in stream.text_stream()] == ["Hel", "lo", "!"]
            assert loop.time() - started >= 0.08  # 5 events: role, 3 pieces, finish
            fake_agent.reply(["Hel", "lo", "!"])
            completion = await agent_client.agent.chat.completions.create(
                model="m", messages=USER
            )
            assert completion.choices[0].message.content == "Hello!"


        async def test_parallel_tool_calls(
            fake_agent: FakeAgentServer, agent_client: AsyncAgentClient
        ) -> None:
            calls = [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})]
            fake_agent.reply_tool_calls(calls, times=2)
            create = agent_client.agent.chat.completions.create
            for stream in (False, True):
                if stream:
                    opened = await create(model="m", messages=USER, stream=True)
                    completion = await opened.get_final_completion()
                else:
                    completion = await create(model="m", messages=USER)
                choice = completion.choices[0]
                assert choice.finish_reason == "tool_calls"
                assert choice.message.content is None
                made = [
                    (c.function.name, c.function.arguments)
                    for c in choice.message.tool_calls or []
                ]
                assert made == [
                    ("get_weather", '{"city": "Paris"}'),
                    ("get_weather", '{"city": "Rome"}'),
                ]
            fake_agent.reply_tool_call("lookup", {"q": 1})
            completion = await create(model="m", messages=USER)
            (call,) = completion.choices[0].message.tool_calls or []
            assert call.function.name == "lookup"


        async def test_errors_and_rate_limits(
            fake_agent: FakeAgentServer, fake_agent_clients: FakeAgentClients
        ) -> None:
            client = fake_agent_clients.agent(max_retries=0)
            create = client.agent.chat.completions.create
            fake_agent.error(500, "boom", times=2)
            for _ in range(2):
                with pytest.raises(InternalServerError, match="boom"):
                    await create(model="m", messages=USER)
            fake_agent.rate_limited(retry_after=1.5)
            with pytest.raises(RateLimitError) as caught:
                await create(model="m", messages=USER)
            assert caught.value.response.headers["retry-after"] == "2"
            assert caught.value.response.headers["retry-after-ms"] == "1500"
            # With retries, the client waits as told and gets the answer.
            fake_agent.rate_limited(retry_after=0.01, times=2)
            retrying = fake_agent_clients.agent(max_retries=2)
            completion = await retrying.agent.chat.completions.create(model="m", messages=USER)
            assert completion.choices[0].message.content == "Echo: What is the weather?"
            assert fake_agent.call_count == 6


        async def test_faults(
            fake_agent: FakeAgentServer, fake_agent_clients: FakeAgentClients
        ) -> None:
            client = fake_agent_clients.agent(max_retries=0, timeout=0.5)
            create = client.agent.chat.completions.create
            fake_agent.fault("cut", after=2)
            stream = await create(model="m", messages=USER, stream=True)
            with pytest.raises(IncompleteStreamError):
                async for _ in stream:
                    pass
            assert stream.chunks_received == 2
            # A reset is re-sent once on a new connection (it looks like a stale pooled one).
            fake_agent.fault("reset", times=2)
            with pytest.raises(APIConnectionError):
                await create(model="m", messages=USER)
            fake_agent.fault("stall")
            with pytest.raises(APITimeoutError):
                await create(model="m", messages=USER, timeout=0.2)
            fake_agent.delay(0.3)
            with pytest.raises(APITimeoutError):
                await create(model="m", messages=USER, timeout=0.1)
        """,
    )
    result.assert_outcomes(passed=5)


def test_the_docs_examples_pass(pytester: pytest.Pytester) -> None:
    """The test functions docs/testing.md shows, run as written (with their imports)."""
    text = (ROOT / "docs" / "testing.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    tests = [block for block in blocks if re.search(r"^(async )?def test_", block, re.MULTILINE)]
    functions = sum(len(re.findall(r"^(?:async )?def test_", b, re.MULTILINE)) for b in tests)
    assert functions >= 8
    for number, block in enumerate(tests):
        pytester.makepyfile(**{f"test_doc_{number}": block})
    pytester.makeini(INI)
    result = pytester.runpytest_inprocess(*PLUGIN, *QUIET)
    result.assert_outcomes(passed=functions)


# -- the server's scripting API, directly ----------------------------------------------------


def test_a_reply_uses_the_default_answers_shape() -> None:
    server = FakeAgentServer()
    payload = {"messages": [{"role": "user", "content": "hi"}], "n": 2}
    reply = ScriptedReply(tool_calls=(ScriptedToolCall("f", '{"bad json'),))
    completion = server.completion(payload, 7, reply)
    assert [c["message"]["tool_calls"][0]["id"] for c in completion["choices"]] == [
        "call_7_0_0",
        "call_7_1_0",
    ]
    assert completion["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == (
        '{"bad json'
    )
    text = server.completion(payload, 1, ScriptedReply(content="Hi you", finish_reason="length"))
    assert text["choices"][0]["finish_reason"] == "length"
    assert text["usage"]["completion_tokens"] == 4  # two words, two choices
    # A reply that scripts only a delay or a fault keeps the default answer.
    assert server.completion(payload, 1, ScriptedReply(delay=1)) == server.completion(payload)


def test_the_scripting_helpers_check_their_arguments() -> None:
    server = FakeAgentServer()
    with pytest.raises(ValueError, match="times"):
        server.reply("x", times=0)
    with pytest.raises(ValueError, match="at least one"):
        server.reply_tool_calls([])
    assert server.pending == 0
    with pytest.raises(AssertionError, match="no request"):
        _ = server.last_request
