"""Test helpers: a fake agent endpoint on 127.0.0.1 that users can test their own code against.

from agentchat.testing import FakeAgentServer
"""

from ._server import FakeAgentServer, RecordedRequest, ScriptedResponse

__all__ = ["FakeAgentServer", "RecordedRequest", "ScriptedResponse"]
