"""The server-sent-events decoder (``agentchat._sse``) against the WHATWG event-stream rules.

https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation

Three parts: property-based tests (any valid stream, any line endings, any way of cutting it
into reads), one example per rule, and a check that decoding runs in linear time.
"""

from __future__ import annotations

import gc
import itertools
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentchat._sse import ServerSentEvent, SSEDecoder

BOM = b"\xef\xbb\xbf"
EMOJI = "\N{GRINNING FACE}"  # four bytes in UTF-8


def decode(reads: Iterable[bytes]) -> tuple[list[ServerSentEvent], int]:
    """Feed every read to a fresh decoder, then end it; return the events and the comments."""
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for read in reads:
        events += decoder.feed(read)
    events += decoder.end()
    return events, decoder.comments


def events_of(*reads: bytes) -> list[ServerSentEvent]:
    return decode(reads)[0]


def cut(stream: bytes, points: Iterable[int]) -> list[bytes]:
    """``stream`` split at the given offsets (0 < offset < len(stream), no duplicates)."""
    if not stream:
        return []
    bounds = [0, *sorted(points), len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(bounds)]


def every_byte(stream: bytes) -> list[bytes]:
    return [stream[i : i + 1] for i in range(len(stream))]


# -- property-based tests ---------------------------------------------------------------------
#
# A stream is generated as structured blocks (one block = the lines of one event, closed by a
# blank line); the expected events are computed from that structure, never by parsing bytes.


@dataclass
class Block:
    # (kind, value): kind is "data", "event", "id", "retry" (value is an int) or "comment";
    # lines that the decoder must ignore are kept as ("ignored", None).
    lines: list[tuple[str, object]] = field(default_factory=list)
    serialised: list[str] = field(default_factory=list)  # one text line each, unterminated


@dataclass
class Stream:
    raw: bytes
    events: list[ServerSentEvent]
    comments: int
    description: str  # a readable form, for failure reports


def no_line_break(**kwargs: int) -> st.SearchStrategy[str]:
    """Text that may hold any Unicode character except CR, LF and NUL."""
    chars = st.characters(codec="utf-8", exclude_characters="\r\n\x00")
    return st.text(chars, **kwargs)


def field_value(max_size: int) -> st.SearchStrategy[str]:
    """A field value; often one with leading spaces, of which exactly one must be stripped."""
    spaces = st.text(st.just(" "), min_size=1, max_size=3)
    text = no_line_break(max_size=max_size)
    return st.one_of(text, st.tuples(spaces, text).map("".join))


# The strategies are built once: building them per draw costs more than drawing from them.
DATA_VALUE = field_value(10)
ID_VALUE = field_value(8)
COMMENT_TEXT = no_line_break(max_size=10)
SHORT_TEXT = no_line_break(max_size=4)
CUT_LINE = no_line_break(min_size=1, max_size=10)
SAFE_EVENT_TYPE = st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-."),
    max_size=12,
)
# Unknown field names: no colon (it would end the name) and no U+FEFF (on the first line of a
# stream without a BOM it would be taken for one). Known names are excluded.
UNKNOWN_NAME = st.text(
    st.characters(codec="utf-8", exclude_characters="\r\n\x00:\ufeff"), min_size=1, max_size=8
).filter(lambda name: name not in {"data", "event", "id", "retry"})
RETRY_NUMBER = st.integers(0, 10**12)
ZERO_PADDING = st.integers(0, 15)
# Values a "retry" line must ignore: not made of ASCII digits only (after the one leading
# space that the decoder strips), including the empty value and non-ASCII digits.
BAD_RETRY = st.one_of(
    st.sampled_from(["", "12a", "-1", "+1", " 5", "1.5", "1e3", "\u0661\u0662", "\uff11", "0x10"]),
    no_line_break(max_size=6),
).filter(lambda value: not (value and all("0" <= c <= "9" for c in value)))
KINDS = ("data", "data", "data", "event", "id", "comment", "unknown", "bad id", "bad retry")
KIND = st.sampled_from(KINDS)
KIND_OR_RETRY = st.sampled_from((*KINDS, "retry"))
FORM = {count: st.integers(0, count - 1) for count in (1, 2, 3)}


def field_line(draw: st.DrawFn, name: str, value: str) -> str:
    """``name`` and ``value`` written in any of the forms that mean exactly that value."""
    forms = [f"{name}: {value}"]
    if not value.startswith(" "):
        forms.append(f"{name}:{value}")
    if not value:
        forms.append(name)  # a line without a colon: the whole line is the name
    return forms[draw(FORM[len(forms)])]


def block_line(draw: st.DrawFn, with_retry: bool) -> tuple[str, object, str]:
    """One non-blank line of an event: (kind, meaning, text)."""
    kind = draw(KIND_OR_RETRY if with_retry else KIND)
    if kind == "data":
        value = draw(DATA_VALUE)
        return "data", value, field_line(draw, "data", value)
    if kind == "event":
        value = draw(SAFE_EVENT_TYPE)
        return "event", value, field_line(draw, "event", value)
    if kind == "id":
        value = draw(ID_VALUE)
        return "id", value, field_line(draw, "id", value)
    if kind == "retry":
        number = draw(RETRY_NUMBER)
        digits = str(number).zfill(draw(ZERO_PADDING))  # leading zeros are fine
        return "retry", number, field_line(draw, "retry", digits)
    if kind == "comment":
        return "comment", None, ":" + draw(COMMENT_TEXT)
    if kind == "unknown":
        name = draw(UNKNOWN_NAME)
        return "ignored", None, field_line(draw, name, draw(ID_VALUE))
    if kind == "bad id":  # an id containing NUL is ignored
        return "ignored", None, f"id: {draw(SHORT_TEXT)}\x00{draw(SHORT_TEXT)}"
    return "ignored", None, f"retry: {draw(BAD_RETRY)}"


COUNT = st.integers(0, 6)


@st.composite
def blocks(draw: st.DrawFn) -> list[Block]:
    result = []
    for _ in range(draw(COUNT)):
        with_data = draw(st.booleans()) or draw(st.booleans())
        block = Block()
        for _ in range(draw(COUNT)):
            kind, meaning, text = block_line(draw, with_retry=True)
            block.lines.append((kind, meaning))
            block.serialised.append(text)
        if with_data and not any(kind == "data" for kind, _ in block.lines):
            value = draw(DATA_VALUE)
            at = draw(st.integers(0, len(block.lines)))
            block.lines.insert(at, ("data", value))
            block.serialised.insert(at, field_line(draw, "data", value))
        if not with_data:
            keep = [i for i, (kind, _) in enumerate(block.lines) if kind != "data"]
            block.lines = [block.lines[i] for i in keep]
            block.serialised = [block.serialised[i] for i in keep]
        result.append(block)
    return result


def expected_events(
    all_blocks: Sequence[Block], last_open: bool, cut_line: bool
) -> tuple[list[ServerSentEvent], int]:
    """The events and comment count of the blocks. ``last_open``: the last block's closing
    blank line is missing; ``cut_line``: an unterminated line follows the last block."""
    events: list[ServerSentEvent] = []
    comments = 0
    last_id: str | None = None
    retry: int | None = None  # like the id, a setting of the stream, even without data
    for number, block in enumerate(all_blocks):
        data: list[str] = []
        event_type = ""
        for kind, value in block.lines:
            if kind == "data":
                assert isinstance(value, str)
                data.append(value)
            elif kind == "event":
                assert isinstance(value, str)
                event_type = value
            elif kind == "id":
                assert isinstance(value, str)
                last_id = value
            elif kind == "retry":
                assert isinstance(value, int)
                retry = value
            elif kind == "comment":
                comments += 1
        is_last = number == len(all_blocks) - 1
        if is_last and last_open and cut_line:
            break  # the stream was cut inside this event: it is dropped
        if data:
            events.append(ServerSentEvent("\n".join(data), event_type or "message", last_id, retry))
    return events, comments


ENDINGS = {"LF": "\n", "CR": "\r", "CRLF": "\r\n"}
STYLE = st.sampled_from(["LF", "CR", "CRLF", "mixed"])
ENDING = st.sampled_from(sorted(ENDINGS))
ENDING_AFTER_CR = st.sampled_from(["\r", "\r\n"])


@st.composite
def streams(draw: st.DrawFn) -> Stream:
    all_blocks = draw(blocks())
    last_open = bool(all_blocks) and draw(st.booleans())
    cut_line = draw(st.booleans())
    style = draw(STYLE)

    # The text lines, "" for the blank lines that close the blocks.
    lines: list[str] = []
    for number, block in enumerate(all_blocks):
        lines += block.serialised
        if not (last_open and number == len(all_blocks) - 1):
            lines.append("")

    text: list[str] = []
    previous = ""
    for line in lines:
        ending = ENDINGS[style if style != "mixed" else draw(ENDING)]
        if previous == "\r" and not line and ending == "\n":
            # CR, then a blank line ended by LF, would be read as one CRLF: the blank line
            # would vanish. Any other ending keeps the meaning unambiguous.
            ending = draw(ENDING_AFTER_CR)
        text += (line, ending)
        previous = ending
    if cut_line:
        text.append(draw(CUT_LINE))  # never terminated

    bom = draw(st.booleans())
    raw = (BOM if bom else b"") + "".join(text).encode("utf-8")
    events, comments = expected_events(all_blocks, last_open, cut_line)
    description = f"style={style} bom={bom} last_open={last_open} cut_line={cut_line}"
    return Stream(raw, events, comments, description)


HOW_TO_CUT = st.sampled_from(["random", "random", "every byte", "nasty"])


@st.composite
def cut_points(draw: st.DrawFn, stream: bytes) -> list[int]:
    """Where to cut ``stream`` into reads: anywhere, after every byte, or at the nasty spots
    (between CR and LF, inside every multi-byte character, inside the BOM)."""
    if len(stream) < 2:
        return []
    how = draw(HOW_TO_CUT)
    if how == "every byte":
        return list(range(1, len(stream)))
    if how == "nasty":
        return [i for i in range(1, len(stream)) if stream[i - 1] == 13 or stream[i - 1] >= 0x80]
    # Up to 32 random cuts; the other two ways cut densely.
    return draw(st.lists(st.integers(1, len(stream) - 1), unique=True, max_size=32))


@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_any_stream_cut_anywhere_decodes_to_its_events(data: st.DataObject) -> None:
    stream = data.draw(streams(), label="stream")
    points = data.draw(cut_points(stream.raw), label="cut points")
    reads = cut(stream.raw, points)
    assert all(reads)

    got, comments = decode(reads)
    assert got == stream.events, stream.description
    assert comments == stream.comments, stream.description

    whole, whole_comments = decode([stream.raw])
    assert whole == got
    assert whole_comments == comments


@settings(max_examples=150, deadline=None)
@given(field_value(20), st.sampled_from(["\n", "\r", "\r\n"]), st.data())
def test_any_data_line_round_trips_through_any_reads(
    value: str, ending: str, data: st.DataObject
) -> None:
    """A single data line of any text, with "data: " in front, keeps every character,
    including the leading spaces after the one that is stripped."""
    raw = f"data: {value}{ending}{ending}".encode()
    points = data.draw(cut_points(raw), label="cut points")
    assert decode(cut(raw, points)) == ([ServerSentEvent(value)], 0)


# -- examples: line endings -------------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"], ids=["LF", "CR", "CRLF"])
def test_each_line_ending(eol: bytes) -> None:
    raw = b"event: e" + eol + b"data: a" + eol + b"data: b" + eol + eol + b"data: c" + eol + eol
    assert events_of(raw) == [ServerSentEvent("a\nb", "e"), ServerSentEvent("c")]


def test_mixed_line_endings() -> None:
    raw = b"data: a\rdata: b\ndata: c\r\n\rdata: d\r\r\n"
    assert events_of(raw) == [ServerSentEvent("a\nb\nc"), ServerSentEvent("d")]


def test_crlf_split_across_reads_is_one_line_ending() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\ndata: b\r") == []
    assert decoder.feed(b"\n\r") == [ServerSentEvent("a\nb")]
    assert decoder.feed(b"\n") == []  # the LF of the blank line's CRLF, not another line
    assert decoder.feed(b"data: c\n\n") == [ServerSentEvent("c")]
    assert decoder.end() == []


def test_cr_then_lf_in_the_next_read_is_not_a_blank_line() -> None:
    # Had the LF counted as a blank line of its own, "a" would be dispatched alone.
    assert events_of(b"data: a\r", b"\n", b"data: b\n", b"\n") == [ServerSentEvent("a\nb")]


def test_cr_cr_is_a_line_then_a_blank_line() -> None:
    assert events_of(b"data: a\r", b"\r", b"data: b\r\r") == [
        ServerSentEvent("a"),
        ServerSentEvent("b"),
    ]


def test_lf_cr_is_two_line_endings() -> None:
    # LF then CR is not a line ending pair: the CR ends a blank line.
    assert events_of(b"data: a\n\rdata: b\n\r") == [ServerSentEvent("a"), ServerSentEvent("b")]


def test_several_events_in_one_read_and_one_event_over_many() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: 1\n\ndata: 2\n\ndata: 3") == [
        ServerSentEvent("1"),
        ServerSentEvent("2"),
    ]
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\n") == [ServerSentEvent("3")]
    assert decoder.end() == []


def test_empty_reads_change_nothing() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"") == []
    assert decoder.feed(b"data: a") == []
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\n") == [ServerSentEvent("a")]
    assert decoder.end() == []


def test_empty_read_between_cr_and_lf_changes_nothing() -> None:
    reads = [b"data: a\r", b"", b"\ndata: b\r\n\r\n"]
    assert events_of(*reads) == [ServerSentEvent("a\nb")]


# -- examples: UTF-8 and the byte-order mark --------------------------------------------------


def test_bom_is_dropped() -> None:
    assert events_of(BOM + b"data: x\n\n") == [ServerSentEvent("x")]


def test_bom_split_into_single_bytes_is_dropped() -> None:
    reads = [*every_byte(BOM), b"data: x\n", b"\n"]
    assert events_of(*reads) == [ServerSentEvent("x")]
    assert events_of(*every_byte(BOM + b"data: x\n\n")) == [ServerSentEvent("x")]


def test_bom_then_a_blank_line() -> None:
    assert events_of(BOM, b"\n", b"data: x\n\n") == [ServerSentEvent("x")]
    assert events_of(BOM[:2], BOM[2:] + b"\r", b"\ndata: x\r\n\r\n") == [ServerSentEvent("x")]


def test_only_one_bom_is_dropped() -> None:
    # The second BOM is part of the first line, whose field name is then "\ufeffdata".
    assert decode([BOM + BOM + b"data: x\n\ndata: y\n\n"]) == ([ServerSentEvent("y")], 0)
    # A U+FEFF inside a value is kept.
    assert events_of(b"data: " + BOM + b"x\n\n") == [ServerSentEvent("\ufeffx")]


def test_a_stream_of_only_a_bom_or_part_of_one() -> None:
    assert events_of(BOM) == []
    assert events_of(BOM[:1]) == []
    assert events_of(BOM[:2]) == []
    assert events_of(b"") == []


def test_four_byte_character_split_at_every_point() -> None:
    raw = f"data: <{EMOJI}>\n\n".encode()
    assert len(EMOJI.encode()) == 4
    expected = [ServerSentEvent(f"<{EMOJI}>")]
    for i in range(1, len(raw)):
        assert events_of(raw[:i], raw[i:]) == expected, i
        for j in range(i + 1, len(raw)):
            assert events_of(raw[:i], raw[i:j], raw[j:]) == expected, (i, j)
    assert events_of(*every_byte(raw)) == expected


def test_multibyte_characters_split_in_every_field() -> None:
    raw = f"event: é{EMOJI}\nid: €{EMOJI}\n: ü{EMOJI}\ndata: 中{EMOJI}\n\n".encode()
    expected = ([ServerSentEvent(f"中{EMOJI}", f"é{EMOJI}", f"€{EMOJI}")], 1)
    assert decode(every_byte(raw)) == expected
    assert decode([raw]) == expected


def test_invalid_utf8_becomes_replacement_characters() -> None:
    assert events_of(b"data: a\xffb\n\n") == [ServerSentEvent("a\ufffdb")]
    assert events_of(b"data: \xc3(\n\n") == [ServerSentEvent("\ufffd(")]
    # A character cut off by the end of its line: one U+FFFD for the maximal prefix.
    assert events_of(b"data: \xe2\x82\ndata: x\n\n") == [ServerSentEvent("\ufffd\nx")]
    assert events_of(b"data: \xf0\x9f\x98\r\n\r\n") == [ServerSentEvent("\ufffd")]
    # In event types and ids too, and when split across reads.
    assert events_of(b"event: \xfe\nid: \xe2", b"\x82\ndata: \xf0", b"\x9f\n\n") == [
        ServerSentEvent("\ufffd", "\ufffd", "\ufffd")
    ]
    assert events_of(b"data: \xed\xa0\x80\n\n") == [ServerSentEvent("\ufffd" * 3)]  # surrogate


def test_nul_inside_data_is_kept() -> None:
    assert events_of(b"data: a\x00b\n\n") == [ServerSentEvent("a\x00b")]


# -- examples: fields -------------------------------------------------------------------------


def test_data_lines_are_joined_with_newlines() -> None:
    assert events_of(b"data: a\ndata: b\ndata: c\n\n") == [ServerSentEvent("a\nb\nc")]
    assert events_of(b"data: a\ndata:\ndata: \n\n") == [ServerSentEvent("a\n\n")]


def test_data_without_colon_is_an_empty_data_line() -> None:
    assert events_of(b"data\n\n") == [ServerSentEvent("")]
    assert events_of(b"data\ndata\n\n") == [ServerSentEvent("\n")]
    assert events_of(b"data: a\ndata\n\n") == [ServerSentEvent("a\n")]
    # A trailing space makes the name "data " (an unknown field), not "data".
    assert events_of(b"data \n\n") == []


def test_data_colon_without_space() -> None:
    assert events_of(b"data:x\n\n") == [ServerSentEvent("x")]
    assert events_of(b"data:\n\n") == [ServerSentEvent("")]


def test_only_one_leading_space_is_stripped() -> None:
    assert events_of(b"data:  x\n\n") == [ServerSentEvent(" x")]
    assert events_of(b"data:   \n\n") == [ServerSentEvent("  ")]
    assert events_of(b"data: x \n\n") == [ServerSentEvent("x ")]  # trailing spaces stay
    assert events_of(b"data:\tx\n\n") == [ServerSentEvent("\tx")]  # a tab is not a space
    assert events_of(b"event:  e\ndata: x\n\n") == [ServerSentEvent("x", " e")]
    assert events_of(b"id:  7\ndata: x\n\n") == [ServerSentEvent("x", id=" 7")]


def test_value_keeps_later_colons() -> None:
    assert events_of(b'data: {"a": 1}\n\n') == [ServerSentEvent('{"a": 1}')]
    assert events_of(b"data::x\n\n") == [ServerSentEvent(":x")]


def test_done_marker_is_plain_data() -> None:
    assert events_of(b"data: [DONE]\n\n") == [ServerSentEvent("[DONE]")]
    assert events_of(b'data: {"x": 1}\n\ndata: [DONE]\n\n') == [
        ServerSentEvent('{"x": 1}'),
        ServerSentEvent("[DONE]"),
    ]


def test_event_type() -> None:
    raw = b"event: add\ndata: 1\n\ndata: 2\n\nevent:\ndata: 3\n\nevent\ndata: 4\n\n"
    assert events_of(raw) == [
        ServerSentEvent("1", "add"),
        ServerSentEvent("2"),  # reset after each event
        ServerSentEvent("3"),  # an empty type means "message"
        ServerSentEvent("4"),
    ]
    # The last event line of a block wins, wherever it is among the data lines.
    assert events_of(b"event: a\ndata: x\nevent: b\n\n") == [ServerSentEvent("x", "b")]


def test_event_without_data_is_not_dispatched_and_its_type_is_reset() -> None:
    assert events_of(b"event: ping\n\n") == []
    assert events_of(b"event: ping\n\ndata: x\n\n") == [ServerSentEvent("x")]
    assert events_of(b"event: ping\nid: 1\n: c\nfoo: bar\n\n") == []


def test_id_persists_across_events() -> None:
    raw = b"id: 1\ndata: a\n\ndata: b\n\nid: 2\n\ndata: c\n\nid\ndata: d\n\n"
    assert events_of(raw) == [
        ServerSentEvent("a", id="1"),
        ServerSentEvent("b", id="1"),  # the last event id persists
        ServerSentEvent("c", id="2"),  # set by a block without data, which is not dispatched
        ServerSentEvent("d", id=""),  # an empty id resets it to the empty string
    ]
    assert events_of(b"data: x\n\n") == [ServerSentEvent("x", id=None)]
    # An id line after the data of its event still applies to that event.
    assert events_of(b"data: x\nid: 9\n\n") == [ServerSentEvent("x", id="9")]


def test_id_with_nul_is_ignored() -> None:
    raw = b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\nid: \x00\ndata: c\n\n"
    assert events_of(raw) == [
        ServerSentEvent("a", id="1"),
        ServerSentEvent("b", id="1"),
        ServerSentEvent("c", id="1"),
    ]


def test_retry_with_ascii_digits() -> None:
    raw = b"retry: 1500\ndata: a\n\ndata: b\n\nretry:0042\ndata: c\n\n"
    assert events_of(raw) == [
        ServerSentEvent("a", retry=1500),
        ServerSentEvent("b", retry=1500),  # the reconnection time persists, like the id
        ServerSentEvent("c", retry=42),
    ]
    big = b"retry: 123456789012345678901234567890\ndata: x\n\n"
    assert events_of(big) == [ServerSentEvent("x", retry=123456789012345678901234567890)]


@pytest.mark.parametrize(
    "value",
    [b"12a", b"", b" 5", b"-1", b"+1", b"1.5", b"1_000", b"\xd9\xa1", b"\xef\xbc\x91", b"5 "],
    ids=repr,
)
def test_retry_without_only_ascii_digits_is_ignored(value: bytes) -> None:
    assert events_of(b"retry: " + value + b"\ndata: x\n\n") == [ServerSentEvent("x")]
    # ... and does not override an earlier valid one.
    raw = b"retry: 7\nretry: " + value + b"\ndata: x\n\n"
    assert events_of(raw) == [ServerSentEvent("x", retry=7)]


def test_retry_without_colon_is_ignored() -> None:
    assert events_of(b"retry\ndata: x\n\n") == [ServerSentEvent("x")]


def test_comments_are_ignored_and_counted() -> None:
    raw = b": ping\n:\n:data: no\ndata: a\n: inside\ndata: b\n\n: after\n"
    assert decode([raw]) == ([ServerSentEvent("a\nb")], 5)
    assert decode(every_byte(raw)) == ([ServerSentEvent("a\nb")], 5)
    # A comment alone does not dispatch anything, nor does a block of comments.
    assert decode([b": keep-alive\n\n: keep-alive\n\n"]) == ([], 2)


def test_unknown_fields_are_ignored() -> None:
    raw = b"foo: bar\nDATA: no\nData: no\n data: no\ndatum: no\nx\ndata: yes\nevent2: z\n\n"
    assert events_of(raw) == [ServerSentEvent("yes")]
    assert events_of(b"foo: bar\n\n") == []


def test_line_without_colon_is_a_field_name_with_empty_value() -> None:
    assert events_of(b"event: e\nevent\ndata\n\n") == [ServerSentEvent("", "message")]
    assert events_of(b"id: 5\nid\ndata\n\n") == [ServerSentEvent("", id="")]


# -- examples: end of stream ------------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"], ids=["LF", "CR", "CRLF"])
def test_end_dispatches_terminated_event_without_blank_line(eol: bytes) -> None:
    decoder = SSEDecoder()
    raw = b"event: e" + eol + b"id: 3" + eol + b"retry: 9" + eol + b"data: a" + eol
    assert decoder.feed(raw + b"data: b" + eol) == []
    assert decoder.end() == [ServerSentEvent("a\nb", "e", "3", 9)]


def test_end_drops_an_event_cut_in_its_last_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\nevent: e\ndata: b\ndata: c") == [ServerSentEvent("a")]
    assert decoder.end() == []
    # Cut in the first line of an event.
    assert events_of(b"data: a\n\n", b"data: b") == [ServerSentEvent("a")]
    # Cut in a line that is not a data line: the whole pending event still goes.
    assert events_of(b"data: a\nid: 4") == []


def test_end_drops_an_unterminated_comment_uncounted() -> None:
    assert decode([b": one\n: two"]) == ([], 1)


def test_end_without_pending_event() -> None:
    assert events_of(b"data: a\n\n") == [ServerSentEvent("a")]
    assert events_of(b"event: e\nid: 1\n") == []  # lines without data
    assert events_of() == []
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\n") == [ServerSentEvent("a")]
    assert decoder.end() == []


def test_end_after_a_trailing_cr() -> None:
    # The stream ended right after a CR: the line is terminated (no LF can follow any more).
    assert events_of(b"data: a\r") == [ServerSentEvent("a")]
    assert events_of(b"data: a\r\n\r") == [ServerSentEvent("a")]


def test_retry_in_a_block_without_data_takes_effect() -> None:
    # WHATWG: "retry" sets the stream's reconnection time whether or not an event follows.
    got = events_of(b"retry: 5\n\ndata: x\n\ndata: y\n\n")
    assert got == [ServerSentEvent("x", retry=5), ServerSentEvent("y", retry=5)]


# -- linear time ------------------------------------------------------------------------------


def reads_of(stream: bytes, size: int) -> list[bytes]:
    return [stream[i : i + size] for i in range(0, len(stream), size)]


def test_a_4_mb_event_in_4_kb_reads() -> None:
    payload = ("a" * 61 + "é€" + EMOJI) * (4 * 1024 * 1024 // 70)  # multi-byte chars cut too
    raw = f"id: big\ndata: {payload}\ndata: {payload[:1000]}\n\n".encode()
    assert len(raw) > 4_000_000
    assert events_of(*reads_of(raw, 4096)) == [
        ServerSentEvent(f"{payload}\n{payload[:1000]}", id="big")
    ]


def test_2_mb_of_small_events() -> None:
    parts = []
    expected = []
    for i in range(40_000):
        if i % 3 == 0:
            parts.append(f"event: e{i}\r\ndata: {i}\r\ndata: é\r\n\r\n")
            expected.append(ServerSentEvent(f"{i}\né", f"e{i}"))
        else:
            parts.append(f': hb\ndata: {{"n": {i}, "pad": "{"x" * 20}"}}\n\n')
            expected.append(ServerSentEvent(f'{{"n": {i}, "pad": "{"x" * 20}"}}'))
    raw = "".join(parts).encode()
    assert len(raw) > 1_900_000
    for size in (4096, 997):
        assert decode(reads_of(raw, size)) == (expected, 40_000 - len(range(0, 40_000, 3)))


def test_decoding_time_grows_linearly() -> None:
    """Feeding the reads of one giant line (N bytes, then 4N) costs about 4 times as much, not
    16 times as re-joining or re-scanning the pending line at each read would.

    The reads are timed in groups of 256 and each group's best time over several runs is
    kept, so a preemption on a busy machine spoils one group of one run, not the result.

    The read that ends the line is left out of the timing: it joins the pieces and decodes
    them once, a few copies of the whole line whose cost here is dominated by the kernel
    handing out fresh pages (a 4 times larger copy measured 10 to 40 times slower), which
    says nothing about the decoder. Its result is still checked."""

    def giant_line(size: int) -> list[list[bytes]]:
        reads = reads_of(b"data: " + b"x" * size + b"\n\n", 4096)
        return [reads[i : i + 256] for i in range(0, len(reads), 256)]

    def group_times(groups: list[list[bytes]]) -> list[float]:
        decoder = SSEDecoder()
        feed = decoder.feed
        early: list[ServerSentEvent] = []
        times = []
        *whole_groups, (*last_group, last_read) = groups
        for group in [*whole_groups, last_group]:
            start = time.perf_counter()
            for read in group:
                early += feed(read)
            times.append(time.perf_counter() - start)
        assert early == []
        (event,) = feed(last_read)
        assert len(event.data) == sum(len(read) for group in groups for read in group) - 8
        return times

    def best_total(runs: list[list[float]]) -> float:
        return float(sum(min(times) for times in zip(*runs, strict=True)))

    small, large = giant_line(2 * 1024 * 1024), giant_line(8 * 1024 * 1024)
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        group_times(small), group_times(large)  # warm up
        small_runs, large_runs = [], []
        for _ in range(7):  # interleaved, so a slow spell of the machine hits both sizes
            small_runs.append(group_times(small))
            large_runs.append(group_times(large))
    finally:
        if was_enabled:
            gc.enable()
    small_time, large_time = best_total(small_runs), best_total(large_runs)
    # Linear: about 4. Quadratic would be about 16.
    assert large_time / small_time < 8, (small_time, large_time)
