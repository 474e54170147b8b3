"""The exception tree.

Everything agentchat raises derives from :class:`AgentChatError`::

    AgentChatError
    ├── ConfigurationError          bad client settings (no endpoint, no key, ...)   ValueError
    ├── InvalidRequestError         a parameter rejected before anything is sent     ValueError
    ├── StreamClosedError           a stream read after its user closed it (break, aclose(), ...)
    │   └── StreamConsumedError     a stream read again after it was read to its end
    ├── ToolDefinitionError         a function that cannot be a tool (its hints)     TypeError
    ├── ToolArgumentsError          a tool call's arguments do not fit the schema    ValueError
    ├── UnknownToolError            the model called a tool that was not given       LookupError
    ├── ToolError                   a tool failed, with run_tools(on_tool_error="raise")
    ├── ToolRoundLimitError         run_tools() reached max_rounds, still asked for tools
    └── APIError                    the call was made and failed
        ├── APIConnectionError      no usable response: refused, reset, DNS, TLS, ...
        │   ├── APITimeoutError     a timeout fired                                  TimeoutError
        │   │   └── PoolTimeoutError  no pooled connection came free in time (own load)
        │   └── IncompleteStreamError  a stream ended before ``data: [DONE]``
        ├── APIResponseValidationError  a 2xx whose body is not what was asked for
        ├── APIStreamError          the server reported an error inside a stream
        └── APIStatusError          the server answered with an error status
            ├── BadRequestError            400
            ├── AuthenticationError        401
            ├── PermissionDeniedError      403
            ├── NotFoundError              404
            ├── ConflictError              409
            ├── UnprocessableEntityError   422
            ├── RateLimitError             429
            └── InternalServerError        5xx

No exception text ever contains the access key: errors are built from the server's answer and
our own words, never from the request headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._models._completion import ChatCompletion
    from ._response import ResponseInfo

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APIStreamError",
    "APITimeoutError",
    "AgentChatError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "IncompleteStreamError",
    "InternalServerError",
    "InvalidRequestError",
    "NotFoundError",
    "PermissionDeniedError",
    "PoolTimeoutError",
    "RateLimitError",
    "StreamClosedError",
    "StreamConsumedError",
    "UnprocessableEntityError",
]

#: How much of an unexpected body an error message quotes.
SNIPPET_CHARS = 200


class AgentChatError(Exception):
    """Base class of every exception agentchat raises."""


class ConfigurationError(AgentChatError, ValueError):
    """The client was configured wrongly (missing endpoint or key, unusable URL, ...)."""


class InvalidRequestError(AgentChatError, ValueError):
    """A request parameter was rejected locally, before anything was sent.

    ``param`` names the parameter (with a path for nested values, e.g. ``messages[1].role``),
    ``value`` is what was given and ``allowed`` says what would have been accepted.
    """

    def __init__(self, param: str, value: Any, allowed: str) -> None:
        self.param = param
        """The parameter, with a path for nested values (``messages[1].role``)."""
        self.value = value
        """The value given."""
        self.allowed = allowed
        """What would have been accepted."""
        super().__init__(f"{param}={_short_repr(value)} is invalid: {allowed}")


class StreamClosedError(AgentChatError):
    """A stream cannot be read any further: its user closed it before its end (a ``break``
    out of a loop over it, an exception in that loop, ``aclose()``/``close()``, leaving its
    ``async with``/``with`` block, a cancelled read), or, for :class:`StreamConsumedError`,
    it was already read to its end.

    Not an :class:`APIError`, and not worth a retry: nothing failed, the caller's own code
    ended the stream. ``chunks`` is how many chunks had been received;
    ``stream.snapshot()`` is the completion they add up to.
    """

    def __init__(self, message: str, *, chunks: int) -> None:
        super().__init__(message)
        self.chunks = chunks
        """How many chunks had been received."""


class StreamConsumedError(StreamClosedError):
    """A stream already read to its end was read again: a second ``async for`` (or ``for``),
    ``text_stream()`` or relay, or ``next_batch()`` after it returned ``[]``. Its answer is
    still there: ``get_final_completion()`` and ``snapshot()`` return it."""


class APIError(AgentChatError):
    """A call was attempted and did not produce the result asked for.

    ``attempts`` is how many HTTP requests were made for the call (retries included).

    An error raised while a stream is read also carries what arrived before it: ``partial``
    is the completion the delivered chunks add up to (what ``stream.snapshot()`` returns),
    and ``chunks`` is how many chunks were delivered. Every chunk that arrived before the
    failure is delivered before the error is raised. Outside a stream, ``partial`` is
    ``None`` and ``chunks`` is 0.
    """

    attempts: int
    """How many HTTP requests were made for the call, retries included."""
    partial: ChatCompletion | None = None
    """In a stream, the completion the chunks delivered before the error add up to."""
    chunks: int = 0
    """In a stream, how many chunks were delivered before the error."""

    def __init__(self, message: str, *, attempts: int = 1) -> None:
        super().__init__(message)
        self.message = message
        """What went wrong (the server's own message, where it sent one)."""
        self.attempts = attempts

    def __str__(self) -> str:
        if self.attempts > 1:
            return f"{self.message} (after {self.attempts} attempts)"
        return self.message


class APIConnectionError(APIError):
    """No usable HTTP response: the connection failed, was refused, reset or closed early."""


class APITimeoutError(APIConnectionError, TimeoutError):
    """A timeout fired: connect, read, stream idle, or the call's overall deadline."""


class PoolTimeoutError(APITimeoutError):
    """No connection of the client's pool came free within ``Timeout.pool``: all
    ``max_connections`` were in use by the caller's own calls. The server was not reached, and
    the call is not retried (another try only adds to the load). A web service may answer
    503 with ``Retry-After`` rather than 504."""


class IncompleteStreamError(APIConnectionError):
    """A stream ended (the connection closed or broke) before ``data: [DONE]``.

    What arrived is not a complete answer: ``partial`` holds it and ``chunks`` counts its
    chunks; ``response`` is the stream's response metadata.
    """

    def __init__(self, message: str, *, chunks: int, response: ResponseInfo | None) -> None:
        super().__init__(message, attempts=response.attempts if response else 1)
        self.chunks = chunks
        self.response = response
        """The stream's response metadata."""


class APIStreamError(APIError):
    """The server reported an error inside a stream: an ``event: error``, or an error object
    (``{"error": ...}`` or DigitalOcean's ``{"id", "message"}``) in place of a chunk.

    ``message`` and ``code`` are the server's; ``body`` is the decoded event data.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None,
        body: object,
        response: ResponseInfo | None,
    ) -> None:
        super().__init__(message, attempts=response.attempts if response else 1)
        self.code = code
        """The server's error code, if it sent one."""
        self.body = body
        """The decoded event data."""
        self.response = response
        """The stream's response metadata."""

    def __str__(self) -> str:
        text = f"Error in stream: {self.message}"
        return f"{text} [{self.code}]" if self.code else text


class APIResponseValidationError(APIError):
    """The server answered 2xx, but the body is not what the call expects.

    ``body`` is the decoded body (JSON value or text), ``response`` the response metadata.
    """

    def __init__(
        self,
        message: str,
        *,
        body: object,
        response: ResponseInfo | None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message, attempts=attempts)
        self.body = body
        """The decoded body: a JSON value, or the text."""
        self.response = response
        """The response metadata."""


class APIStatusError(APIError):
    """The server answered with a 4xx or 5xx status.

    Carries the status, the server's message (from whichever error shape it used),
    its error code (``id`` for DigitalOcean, ``code``/``type`` for OpenAI-style servers),
    the request id, the parsed body and the response headers.
    """

    status_code: int
    """The HTTP status."""

    def __init__(
        self,
        message: str,
        *,
        response: ResponseInfo,
        body: object,
        code: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message, attempts=attempts)
        self.response = response
        """The response metadata: status, headers, request id, rate limits."""
        self.status_code = response.status
        self.body = body
        """The decoded body: a JSON value, or the text."""
        self.code = code
        """The server's error code (``id`` for DigitalOcean, ``code``/``type`` for
        OpenAI-style servers), if it sent one."""
        self.request_id = response.request_id
        """The request id the server sent, if any."""

    @property
    def headers(self) -> Mapping[str, str]:
        """The response headers."""
        return self.response.headers

    def __str__(self) -> str:
        text = f"HTTP {self.status_code}: {self.message}"
        if self.code:
            text += f" [{self.code}]"
        if self.request_id:
            text += f" (request_id={self.request_id})"
        if self.attempts > 1:
            text += f" (after {self.attempts} attempts)"
        return text


class BadRequestError(APIStatusError):
    """HTTP 400."""


class AuthenticationError(APIStatusError):
    """HTTP 401: the access key is missing, wrong or revoked."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403."""


class NotFoundError(APIStatusError):
    """HTTP 404: usually a wrong endpoint URL."""


class ConflictError(APIStatusError):
    """HTTP 409."""


class UnprocessableEntityError(APIStatusError):
    """HTTP 422: the server rejected the request body (FastAPI-style ``detail`` list)."""


class RateLimitError(APIStatusError):
    """HTTP 429: see ``response.rate_limit`` for the limits and when they reset."""


class InternalServerError(APIStatusError):
    """HTTP 5xx."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status: int) -> type[APIStatusError]:
    """The most specific :class:`APIStatusError` subclass for ``status``."""
    if status >= 500:
        return InternalServerError
    return _STATUS_CLASSES.get(status, APIStatusError)


def parse_error_body(body: object) -> tuple[str | None, str | None]:
    """Find the message and code in an error body of any of the shapes servers use.

    - DigitalOcean: ``{"id": "not_found", "message": "...", "request_id": "..."}``
    - OpenAI-style: ``{"error": {"message": "...", "type": "...", "code": "..."}}``
      (some servers send ``{"error": "text"}``); llama.cpp's ``llama-server`` sends the HTTP
      status as an integer ``code`` and no ``param``
      (``{"error": {"code": 400, "message": "...", "type": "invalid_request_error"}}``),
      and vLLM's older ``{"object": "error", "message": "...", "code": 400}`` is flat
    - the inner object alone, as llama.cpp puts it in a streamed error event:
      ``{"code": 500, "message": "...", "type": "server_error"}``
    - FastAPI 422: ``{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}``
      (or ``{"detail": "text"}``)

    The code is always text: an integer ``code`` becomes its digits (``"400"``); without a
    ``code``, the ``type`` stands in for it.
    """
    if not isinstance(body, Mapping):
        return None, None
    error = body.get("error")
    if isinstance(error, Mapping):
        code = error.get("code") or error.get("type")
        return _text(error.get("message")), _text(code)
    if isinstance(error, str):
        return error, _text(body.get("code"))
    detail = body.get("detail")
    if isinstance(detail, list):
        parts = [_fastapi_item(item) for item in detail]
        return "; ".join(p for p in parts if p) or None, _fastapi_code(detail)
    if isinstance(detail, str):
        return detail, None
    message = body.get("message")
    code = body.get("id") or body.get("code") or body.get("type")
    return _text(message), _text(code)


def _fastapi_item(item: object) -> str:
    if not isinstance(item, Mapping):
        return str(item)
    loc = item.get("loc")
    where = ".".join(str(p) for p in loc) if isinstance(loc, list) else None
    msg = _text(item.get("msg")) or "invalid"
    return f"{where}: {msg}" if where else msg


def _fastapi_code(detail: list[Any]) -> str | None:
    first = detail[0] if detail else None
    return _text(first.get("type")) if isinstance(first, Mapping) else None


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def snippet(data: bytes | str, limit: int = SNIPPET_CHARS) -> str:
    """A printable, truncated rendering of an unexpected body, for error messages."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    if len(text) > limit:
        return repr(text[:limit]) + f"... ({len(text)} chars)"
    return repr(text)


def _short_repr(value: Any, limit: int = 120) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[:limit] + "..."
