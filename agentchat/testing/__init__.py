"""Test helpers: a fake agent endpoint on 127.0.0.1 that users can test their own code against.

    from agentchat.testing import FakeAgentServer

``ScriptedResponse`` and ``ScriptedStream`` are the answers ``server.respond()`` and
``server.stream()`` queue (build them yourself for ``server.enqueue()``); ``RecordedRequest``
is what ``server.requests`` holds.
"""

from ._server import FakeAgentServer, RecordedRequest, ScriptedResponse, ScriptedStream

__all__ = ["FakeAgentServer", "RecordedRequest", "ScriptedResponse", "ScriptedStream"]
