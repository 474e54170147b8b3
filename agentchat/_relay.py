"""Relaying a stream onward (from a web service to a browser): the bytes of server-sent-event
frames and of plain text. No web framework is imported: every framework streams an iterator of
bytes (``StreamingResponse`` in Starlette/FastAPI, ``StreamResponse.write`` in aiohttp.web,
a generator in Flask or Django).

The methods that use these are ``AsyncStream.sse_bytes()`` and ``AsyncStream.text_bytes()``.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import _json
from ._errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APIStreamError,
    APITimeoutError,
    IncompleteStreamError,
)
from ._models._chunk import ChatCompletionChunk

__all__ = ["SSE_DONE", "error_code", "sse_error", "sse_frames", "text_of"]

#: The frame that ends an OpenAI-style event stream.
SSE_DONE = b"data: [DONE]\n\n"


def sse_frames(batch: Iterable[tuple[ChatCompletionChunk, str]]) -> bytes:
    """One ``data:`` frame per chunk, with the event data exactly as the server sent it."""
    return b"".join([_frame(data) for _, data in batch])


def _frame(data: str) -> bytes:
    if "\n" in data:  # multi-line data: one data line each, which a reader joins back
        data = data.replace("\n", "\ndata: ")
    return b"data: " + data.encode() + b"\n\n"


def sse_error(error: APIError) -> bytes:
    """An ``event: error`` frame for a failure mid-stream, in the OpenAI error shape, so a
    reader (agentchat's own among them) raises it with the same message and code."""
    payload = {"error": {"message": error.message, "code": error_code(error)}}
    return b"event: error\ndata: " + _json.dumps(payload) + b"\n\n"


def error_code(error: APIError) -> str:
    """The server's error code, or a stable lowercase name for agentchat's own failures."""
    if isinstance(error, (APIStreamError, APIStatusError)) and error.code:
        return error.code
    if isinstance(error, APIStatusError):
        return f"http_{error.status_code}"
    for kind, code in _CODES:
        if isinstance(error, kind):
            return code
    return "api_error"


# Most specific first.
_CODES: tuple[tuple[type[APIError], str], ...] = (
    (APIStreamError, "stream_error"),
    (APITimeoutError, "timeout"),
    (IncompleteStreamError, "incomplete_stream"),
    (APIConnectionError, "connection_error"),
    (APIResponseValidationError, "invalid_response"),
)


def text_of(batch: Iterable[ChatCompletionChunk], choice: int) -> str:
    """The text that ``batch`` adds to one choice."""
    return "".join(
        [
            part.delta.content
            for chunk in batch
            for part in chunk.choices
            if (part.index or 0) == choice and part.delta.content
        ]
    )
