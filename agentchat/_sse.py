"""A server-sent-events decoder: bytes in, events out, no I/O.

It follows the WHATWG event-stream rules
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):

- lines end with LF, CR or CRLF, and a CRLF may be split across two reads;
- UTF-8 is decoded per line, after lines are joined, so a character split across reads is
  whole again before decoding (invalid bytes become U+FFFD, as the spec says);
- a leading byte-order mark is dropped;
- ``data:`` lines are joined with newlines; ``event:`` types the next event; ``id:`` and
  ``retry:`` set the stream's last event id and reconnection time;
  comment lines (``: ping``) and unknown fields are ignored (comments are counted);
- a blank line dispatches the event; an event without data is not dispatched.

One departure from the spec, for a real server: llama.cpp's ``llama-server`` (builds before
its streamed errors became ``data: {"error": ...}``) writes an error in the middle of a
stream as an ``error:`` field, ``error: {"code":500,"message":"...","type":"server_error"}``,
and then ``data: [DONE]``. A spec-following decoder ignores that field, and the truncated
answer would look complete; here ``error: X`` counts as ``event: error`` plus ``data: X``.

A line that spans many reads is kept as a list of pieces and joined once when its end
arrives, so events of any size decode in linear time.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["SSEDecoder", "ServerSentEvent"]

_BOM = b"\xef\xbb\xbf"
_new_tuple = tuple.__new__


class ServerSentEvent(NamedTuple):
    """One dispatched event. ``event`` defaults to ``"message"``; ``id`` is the last event id
    seen on the stream and ``retry`` the last reconnection time (``None`` if never set): as
    WHATWG says, both are settings of the stream that persist across events, and a ``retry:``
    takes effect even in a block without data.

    A named tuple rather than an attrs class: a stream makes one per chunk, and a tuple is
    the cheapest immutable record Python has.
    """

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Incremental decoder. Call :meth:`feed` with each read, then :meth:`end` at EOF."""

    __slots__ = (
        "_data",
        "_event",
        "_last_id",
        "_partial",
        "_retry",
        "_skip_lf",
        "_started",
        "comments",
    )

    def __init__(self) -> None:
        self._partial: list[bytes] = []  # pieces of an unterminated line
        self._skip_lf = False  # the last read ended in CR: a leading LF is part of it
        self._started = False  # past the (optional) byte-order mark
        self._data: list[bytes] = []
        self._event: str | None = None
        self._last_id: str | None = None
        self._retry: int | None = None
        #: How many comment lines (heartbeats such as ``: ping``) have been seen.
        self.comments = 0

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode one read; return the events it completed (often none, often several)."""
        if not chunk:  # nothing read: in particular, a pending CR still awaits its LF
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if not self._started:
            # Before the first line, _partial holds what may be the start of a BOM.
            if self._partial:
                chunk = b"".join(self._partial) + chunk
                self._partial.clear()
            if len(chunk) < 3 and _BOM.startswith(chunk):
                if chunk:
                    self._partial.append(chunk)
                return []
            if chunk.startswith(_BOM):
                chunk = chunk[3:]
            self._started = True
        if not chunk:
            return []
        # splitlines() knows LF, CR and CRLF (bytes.splitlines splits on nothing else), and
        # gives blank lines as b"". Whether the last piece is a whole line depends on how the
        # read ends.
        lines = chunk.splitlines()
        last_byte = chunk[-1]
        if last_byte == 13:  # a bare CR ends the read: an LF starting the next one joins it
            self._skip_lf = True
        elif last_byte != 10:  # the read ends inside a line: keep that piece back
            tail = lines.pop()
            if self._partial and not lines:
                self._partial.append(tail)
                return []
            if self._partial:
                lines[0] = b"".join(self._partial) + lines[0]
                self._partial.clear()
            self._partial.append(tail)
            return self._lines(lines)
        if self._partial:  # (a read ending in a terminator always has a first line)
            lines[0] = b"".join(self._partial) + lines[0]
            self._partial.clear()
        return self._lines(lines)

    def _lines(self, lines: list[bytes]) -> list[ServerSentEvent]:
        """Interpret complete lines (terminators removed)."""
        events: list[ServerSentEvent] = []
        data = self._data
        for line in lines:
            if not line:  # a blank line dispatches
                if data:
                    events.append(self._dispatch())
                else:
                    self._event = None
            elif line[:6] == b"data: ":  # the common case, inline
                data.append(line[6:])
            else:
                self._field(line)
        return events

    def end(self) -> list[ServerSentEvent]:
        """The stream ended. An event whose lines all arrived whole but whose closing blank
        line did not is dispatched; an unterminated last line (a cut mid-line) is dropped."""
        self._skip_lf = False
        if self._partial:
            self._partial.clear()
            self._data.clear()
            self._event = None
            return []
        if self._data:
            return [self._dispatch()]
        return []

    def _field(self, line: bytes) -> None:
        if line.startswith(b"data:"):
            value = line[5:]
            self._data.append(value[1:] if value[:1] == b" " else value)
            return
        if line[0] == 58:  # ':' starts a comment
            self.comments += 1
            return
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"data":  # "data" with no colon: an empty data line
            self._data.append(value)
        elif name == b"id" and b"\x00" not in value:
            self._last_id = value.decode("utf-8", "replace")
        elif name == b"retry" and value.isdigit():
            self._retry = int(value)
        elif name == b"error":  # llama.cpp's "error: {...}" (see the module docstring)
            self._event = "error"
            self._data.append(value)
        # Any other field is ignored, as the spec says.

    def _dispatch(self) -> ServerSentEvent:
        data = self._data
        raw = data[0] if len(data) == 1 else b"\n".join(data)
        # tuple.__new__ directly: the generated NamedTuple constructor is a Python-level call.
        event = _new_tuple(
            ServerSentEvent,
            (raw.decode("utf-8", "replace"), self._event or "message", self._last_id, self._retry),
        )
        data.clear()
        self._event = None
        return event
