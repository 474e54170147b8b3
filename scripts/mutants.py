"""Mutation testing of the modules where a silent bug costs most, one module at a time.

    python scripts/mutants.py                 # every module below, then the report
    python scripts/mutants.py _sse _backoff   # only these
    python scripts/mutants.py --report        # the report of the last runs, nothing run
    python scripts/mutants.py --equivalents   # EQUIVALENT as the table in docs/development.md

mutmut (3.x) plants one small bug at a time in a module (``<`` for ``<=``, ``and`` for
``or``, a changed constant, a dropped argument, ...) and runs the tests that cover the
mutated function; a mutant that no test notices *survives*. Each module is mutated in a
copy of the repository, ``.mutants/work/``, against the test files that are about them
(:data:`TESTS`); for each mutant, mutmut runs only those tests that run the mutated function,
fastest first, and stops at the first failure. mutmut remembers its results there: a second
run only retests what changed.

The report (``.mutants/report.md``, also printed) lists every surviving mutant with its
diff. Survivors that are equivalent (no test could tell them apart from the original) are
listed with the reason in :data:`EQUIVALENT` and in docs/development.md; the run fails if
any other survives. ``nox -s mutants`` runs this script.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutants"

#: The modules mutated: where a silent bug costs most.
MODULES = [
    "_sse",
    "_accumulate",
    "_streaming",
    "_transport",
    "_backoff",
    "_pacing",
    "_fanout",
    "_batch",
    "_validate",
]
#: The tests that may kill them: the suite less what is about other things (the command
#: line, the docs, telemetry, tools, the sync facade's threads) and the slow contract tests.
#: mutmut runs, for each mutant, only those of them that run the mutated function.
TESTS = [
    "tests/test_sse.py",
    "tests/test_real_servers.py",
    "tests/test_streaming.py",
    "tests/test_varied_answers.py",
    "tests/test_faults.py",
    "tests/test_nothing_lost.py",
    "tests/test_wire.py",
    "tests/test_keepalive.py",
    "tests/test_pool.py",
    "tests/test_lifecycle.py",
    "tests/test_errors_and_metadata.py",
    "tests/test_rate_limits.py",
    "tests/test_client_config.py",
    "tests/test_fanout.py",
    "tests/test_batch.py",
    "tests/test_validation.py",
    "tests/test_models.py",
    "tests/test_unit_mocked.py",
    # tests written against the survivors of earlier runs
    "tests/test_accumulate_mutants.py",
    "tests/test_streaming_mutants.py",
    "tests/test_transport_mutants.py",
    "tests/test_batch_mutants.py",
    "tests/test_fanout_mutants.py",
    "tests/test_pacing_mutants.py",
    "tests/test_stream_hooks_mutants.py",
    "tests/test_transport_mutants2.py",
    # what streams report to hooks and telemetry (AsyncStream._observe, _settle)
    "tests/test_hooks.py",
]

#: Modules that nearly every test runs, mutated in a run of their own against the tests about
#: them only: with the whole of TESTS, each surviving (or hanging) mutant of the transport's
#: request path would cost the suite's covering tests, minutes a mutant, and the run would not
#: finish in an afternoon. Their other behaviour is held by the tests listed, which are the
#: ones about the transport (the wire, faults and retries, errors, rate limits, the pool).
MODULE_TESTS: dict[str, list[str]] = {
    "_transport": [
        "tests/test_transport_mutants.py",
        "tests/test_transport_mutants2.py",
        "tests/test_faults.py",
        "tests/test_wire.py",
        "tests/test_errors_and_metadata.py",
        "tests/test_rate_limits.py",
        "tests/test_keepalive.py",
        "tests/test_pool.py",
        "tests/test_lifecycle.py",
        "tests/test_nothing_lost.py",
        "tests/test_client_config.py",
    ],
}

#: Tests that run agentchat in a child process, deselected. A child started in the copy's root
#: does import the instrumented package, with the mutant under test active; but mutmut picks a
#: mutant's tests by the functions each test runs in its own process, so a test that reaches
#: them only in a child is never picked for them. And under the instrumented package every
#: ``asyncio.run`` child writes a spurious "error ... during closing of asynchronous
#: generator" (mutmut's wrapper of an async generator of _transport) to stderr, which fails
#: the test that asserts a clean stderr even with no mutant. Their guarantees are held by
#: in-process tests too (a killed batch's durability: tests/test_batch.py); a child-process
#: test that also runs the code in-process is picked, and kills (tests/
#: test_stream_hooks_mutants.py: a stream left open at interpreter exit).
SUBPROCESS_TESTS = [
    "tests/test_lifecycle.py::test_no_unclosed_warning_in_a_script_that_runs_the_client_twice",
    "tests/test_batch.py::test_help_and_python_dash_m",
    "tests/test_batch.py::test_killed_mid_run_then_resumed_loses_and_repeats_nothing",
    "tests/test_batch.py::test_a_retry_killed_mid_run_then_resumed_loses_and_repeats_nothing",
]

#: Load tests: seconds each, and every mutant of the functions they run would run them again
#: (a survivor runs every test that covers it). They hold scale, not exact behaviour; the
#: precise tests beside them are what kill mutants.
STRESS_TESTS = [
    "tests/test_fanout.py::test_10000_requests_with_503s_and_429s_each_succeed_exactly_once",
    "tests/test_fanout.py::test_memory_stays_flat_for_100000_lazy_inputs",
    "tests/test_pool.py::test_one_sync_client_shared_by_1000_threads_carries_1000_streams_at_once",
    "tests/test_pool.py::test_one_async_client_with_default_settings_carries_1000_streams_at_once",
    "tests/test_sse.py::test_2_mb_of_small_events",
]

#: Survivors that no test can kill, by mutmut's name for them, with the reason. Keep
#: docs/development.md's list in step.
EQUIVALENT: dict[str, str] = {
    "agentchat._accumulate.xǁCompletionAccumulatorǁsnapshot__mutmut_29": (
        "snapshot() builds a fresh empty dict instead of the shared EMPTY_EXTRA when no chunk"
        " had unknown fields: equal ({}), left out of to_dict() and the Mapping view, pickled"
        " and copied alike; only identity/allocation differs (an empty extra then accepts "
        "item assignment, but a non-empty extra is a plain dict already, so writability is no"
        " guarantee)"
    ),
    "agentchat._backoff.x_delay_after_429__mutmut_59": (
        "exponent cap 17 vs 16: 0.5*2**16 s is already far above the MAX_RETRY_AFTER (60 s) "
        "cap, and 2.0**17 does not overflow either, so the result is 60 s both ways"
    ),
    "agentchat._backoff.x_delay_after_429__mutmut_9": (
        'initial bucket "" vs None is never returned: bucket is assigned together with '
        "soonest, and only a non-None soonest is returned"
    ),
    "agentchat._batch.x__lines__mutmut_3": (
        'encoding "UTF-8" for "utf-8": codec names are case-insensitive, the same codec'
    ),
    "agentchat._batch.x__parse__mutmut_24": (
        'method default "post" for "POST": the method is compared upper-cased, so the default'
        " is accepted either way"
    ),
    "agentchat._batch.x__records__mutmut_6": (
        'record="" for None on a JSON error: the next line maps every non-dict (so "") to None'
    ),
    "agentchat._batch.x__result_line__mutmut_45": (
        "ensure_ascii=None for False: json.dumps tests it for truth only"
    ),
    "agentchat._batch.x__run__mutmut_100": (
        "whole_run=None for False: BatchStoppedError only tests `not whole_run`"
    ),
    "agentchat._batch.x__run__mutmut_105": ("watching=None for False: only ever tested for truth"),
    "agentchat._batch.x__run__mutmut_108": (
        "held=None for []: once watching is False, held is only read by `if held:` (None and "
        "[] both false); _fails_like is not called again"
    ),
    "agentchat._batch.x__run__mutmut_59": (
        'encoding "UTF-8" for "utf-8": codec names are case-insensitive, the same codec'
    ),
    "agentchat._batch.x__run__mutmut_82": (
        "ordered=None for False: create_many only tests ordered for truth (AsyncFanOut: "
        "`self._ordered and`, `not self._ordered`)"
    ),
    "agentchat._batch.x__scan__mutmut_8": (
        'encoding "UTF-8" for "utf-8": codec names are case-insensitive, the same codec'
    ),
    "agentchat._batch.x__truncate_partial_line__mutmut_13": (
        'seek(size + 1) makes the fast "ends with a newline" check miss; the walk back then '
        "truncates at the last newline = the end (same bytes)"
    ),
    "agentchat._batch.x__truncate_partial_line__mutmut_15": (
        "read(None) from size - 1 reads the same single last byte"
    ),
    "agentchat._batch.x__truncate_partial_line__mutmut_16": (
        "read(2) from size - 1 reads the same single last byte"
    ),
    "agentchat._batch.x__truncate_partial_line__mutmut_18": (
        "the fast check never matches; the walk back then truncates at the last newline = the"
        " end (same bytes, only slower)"
    ),
    "agentchat._batch.x__truncate_partial_line__mutmut_27": (
        "read-back chunk size 65537 for 65536: any chunk size finds the same last newline "
        "(only speed)"
    ),
    "agentchat._batch.x__truncate_partial_line__mutmut_31": (
        "read(None) for read(step): the extra bytes beyond `position` hold no newline "
        "(already searched), so rfind finds the same one (only memory)"
    ),
    "agentchat._batch.x__truncate_partial_line__mutmut_9": (
        'seek(1, SEEK_END) makes the fast "ends with a newline" check miss; the walk back '
        "then finds the same last newline, and truncating there is a no-op (same bytes)"
    ),
    "agentchat._fanout.xǁAsyncFanOutǁ__init____mutmut_70": (
        "_exhausted=None for False: its only reader is `if self._exhausted:`"
    ),
    "agentchat._fanout.xǁAsyncFanOutǁ__init____mutmut_77": (
        "_started=None for 0.0: only read by progress as `... if self._started else 0.0`, and"
        " __aenter__ overwrites it"
    ),
    "agentchat._fanout.xǁAsyncFanOutǁ_take__mutmut_22": (
        "`type(None) is dict` for `type(item) is dict`: that test is only the fast path for "
        "plain dicts; the isinstance(item, Mapping) test after it gives dicts the same answer"
    ),
    "agentchat._pacing.xǁPacerǁ__init____mutmut_16": (
        "_paused_until=1.0 for 0.0: time.monotonic() counts from boot, far past 1.0, so the "
        "pause is over either way"
    ),
    "agentchat._pacing.xǁPacerǁ__init____mutmut_18": (
        "_last_decrease=1.0 for 0.0: the first 429 halves when now - 1.0 >= 1.0, true on any "
        "monotonic clock more than 2 s after boot"
    ),
    "agentchat._pacing.xǁPacerǁ__init____mutmut_19": (
        '_budget="" for None: the first before_send goes into _budget_wait, which clears it '
        "(now >= _reset_at == 0.0) before it is ever decremented"
    ),
    "agentchat._pacing.xǁPacerǁ__init____mutmut_20": (
        "_reset_at=None for 0.0: read only while _budget is not None, and only on_response "
        "makes it so, setting _reset_at in the same step"
    ),
    "agentchat._pacing.xǁPacerǁ__init____mutmut_21": (
        "_reset_at=1.0 for 0.0: read only while _budget is not None, and only on_response "
        "makes it so, setting _reset_at in the same step"
    ),
    "agentchat._pacing.xǁPacerǁ_budget_wait__mutmut_3": (
        "`now > reset_at` for `>=`: at now == reset_at both return a wait of 0, and a "
        "monotonic clock never comes back before reset_at, where the leftover budget would "
        "matter"
    ),
    "agentchat._pacing.xǁPacerǁon_response__mutmut_30": (
        "`allowed <= max` for `<`: at allowed == max, _set_allowed(max + 1/max) clamps back "
        "to max, and setting the limiter's total to the value it has changes nothing"
    ),
    "agentchat._pacing.xǁPacerǁon_response__mutmut_42": (
        "`reset_after >= 0` for `> 0`: only a reset at this very instant differs; it sets "
        "_reset_at to now, and the next before_send (a monotonic clock, never earlier) finds "
        "that window over and clears the budget, as if it had not been set"
    ),
    "agentchat._pacing.xǁPacerǁrecord_tokens__mutmut_3": (
        "`tokens >= 0`: a 0-token entry adds nothing to the window's sum (at most _tpm_wait "
        "wakes early and before_send waits again to the same end); the fan-out never passes 0"
    ),
    "agentchat._sse.xǁSSEDecoderǁ__init____mutmut_2": (
        "_skip_lf starts as None instead of False: it is only ever read as a truth value (if "
        "self._skip_lf), where None and False agree"
    ),
    "agentchat._sse.xǁSSEDecoderǁ__init____mutmut_4": (
        "_started starts as None instead of False: only read as a truth value (if not "
        "self._started), where None and False agree"
    ),
    "agentchat._sse.xǁSSEDecoderǁ__init____mutmut_7": (
        '_event starts as "" instead of None: only read as self._event or "message", where ""'
        ' and None both give "message" (as WHATWG says of an empty type)'
    ),
    "agentchat._sse.xǁSSEDecoderǁ_dispatch__mutmut_20": (
        '"UTF-8" for "utf-8": Python\'s codec names are case-insensitive'
    ),
    "agentchat._sse.xǁSSEDecoderǁ_dispatch__mutmut_26": (
        '_event reset to "" instead of None: only read as self._event or "message"'
    ),
    "agentchat._sse.xǁSSEDecoderǁ_dispatch__mutmut_3": (
        'b"\\n".join(data) of a one-item list is that item: the len(data) == 1 shortcut only '
        "saves a join"
    ),
    "agentchat._sse.xǁSSEDecoderǁ_field__mutmut_10": (
        'value[:2] == b" " is always false, as value[:1] == b" " is in _field (see '
        "_field__mutmut_7)"
    ),
    "agentchat._sse.xǁSSEDecoderǁ_field__mutmut_12": (
        'value[:1] == b"XX XX" is always false, as value[:1] == b" " is in _field (see '
        "_field__mutmut_7)"
    ),
    "agentchat._sse.xǁSSEDecoderǁ_field__mutmut_2": (
        'the "data:" fast path in _field disabled: such lines (always without a space after '
        'the colon: _lines takes "data: " inline) go through partition(b":"), name "data", '
        "which appends the same value"
    ),
    "agentchat._sse.xǁSSEDecoderǁ_field__mutmut_38": (
        '"UTF-8" for "utf-8": Python\'s codec names are case-insensitive'
    ),
    "agentchat._sse.xǁSSEDecoderǁ_field__mutmut_57": (
        '"UTF-8" for "utf-8": Python\'s codec names are case-insensitive'
    ),
    "agentchat._sse.xǁSSEDecoderǁ_field__mutmut_7": (
        'the space test of _field\'s "data:" path: lines with "data: " never reach _field '
        '(_lines takes them inline), so value[:1] == b" " is always false there'
    ),
    "agentchat._sse.xǁSSEDecoderǁ_field__mutmut_9": (
        'value[2:] in the branch that needs a space after "data:", never taken in _field (see'
        " _field__mutmut_7)"
    ),
    "agentchat._sse.xǁSSEDecoderǁ_lines__mutmut_5": (
        '_event reset to "" instead of None: only read as self._event or "message", where '
        'both give "message"'
    ),
    "agentchat._sse.xǁSSEDecoderǁ_lines__mutmut_6": (
        'line[:7] == b"data: " is never true, so every data line takes the general path of '
        "_field, which gives the same value (the inline test is a fast path only)"
    ),
    "agentchat._sse.xǁSSEDecoderǁ_lines__mutmut_8": (
        'the inline "data: " test never matches, so data lines take _field\'s general path, '
        "same value (fast path only)"
    ),
    "agentchat._sse.xǁSSEDecoderǁend__mutmut_1": (
        "_skip_lf reset to None instead of False: only read as a truth value"
    ),
    "agentchat._sse.xǁSSEDecoderǁend__mutmut_2": (
        "_skip_lf set to True by end(): nothing is fed after end() (AsyncStream calls it "
        "once, at the end of the body, and stops reading), so it is never read again"
    ),
    "agentchat._sse.xǁSSEDecoderǁend__mutmut_3": (
        '_event reset to "" instead of None: only read as self._event or "message"'
    ),
    "agentchat._sse.xǁSSEDecoderǁfeed__mutmut_13": (
        'b"XXXX".join(self._partial) in the byte-order-mark path: before the first line '
        "_partial holds at most one piece (it is cleared before each append), and joining one"
        " piece ignores the separator"
    ),
    "agentchat._sse.xǁSSEDecoderǁfeed__mutmut_15": (
        "len(chunk) <= 3 instead of < 3: a 3-byte read that is a BOM prefix is the whole BOM,"
        " which is then held back and stripped with the next read (or dropped by end()) "
        "instead of stripped at once: same events, same comments"
    ),
    "agentchat._sse.xǁSSEDecoderǁfeed__mutmut_16": (
        "len(chunk) < 4 instead of < 3: the same as feed__mutmut_15 (the only 3-byte BOM "
        "prefix is the BOM)"
    ),
    "agentchat._sse.xǁSSEDecoderǁfeed__mutmut_2": (
        "_skip_lf reset to None instead of False: only read as a truth value"
    ),
    "agentchat._streaming.x__unread__mutmut_6": (
        'getattr(content, "_buffer") without a default: content is always an aiohttp 3.x '
        "StreamReader, which always has _buffer (tests/test_streaming.py fails if aiohttp "
        "drops it), so the default is never used"
    ),
    "agentchat._streaming.x_chunks_from_events__mutmut_13": (
        "done=True returned with a failure: the only caller (_read_batch) checks the failure "
        "before done"
    ),
    "agentchat._streaming.x_chunks_from_events__mutmut_21": (
        "done=True returned with a failure: the only caller (_read_batch) checks the failure "
        "before done"
    ),
    "agentchat._streaming.x_chunks_from_events__mutmut_40": (
        "done=True returned with a failure: the only caller (_read_batch) checks the failure "
        "before done"
    ),
    "agentchat._streaming.x_chunks_from_events__mutmut_61": (
        "done=True returned with a failure: the only caller (_read_batch) checks the failure "
        "before done"
    ),
    "agentchat._streaming.x_chunks_from_events__mutmut_64": (
        "`decoded` not passed to _server_error: it parses the same data again and gets the "
        "same value"
    ),
    "agentchat._streaming.x_chunks_from_events__mutmut_67": (
        "`decoded` not passed to _server_error: it parses the same data again and gets the "
        "same value"
    ),
    "agentchat._streaming.x_chunks_from_events__mutmut_70": (
        "the structure hook's type argument None: the compiled hook is `(o, _=None)` and "
        "never reads it"
    ),
    "agentchat._streaming.x_chunks_from_events__mutmut_72": (
        "the structure hook's type argument left out: the compiled hook is `(o, _=None)` and "
        "never reads it"
    ),
    "agentchat._streaming.x_chunks_from_events__mutmut_84": (
        "done=True returned with a failure: the only caller (_read_batch) checks the failure "
        "before done"
    ),
    "agentchat._streaming.xǁAsyncStreamǁ__init____mutmut_12": (
        "initial _bound: always set by _read before a timeout can be raised (a timeout needs "
        "a limit)"
    ),
    "agentchat._streaming.xǁAsyncStreamǁ__init____mutmut_13": (
        "initial _bound: always set by _read before a timeout can be raised (a timeout needs "
        "a limit)"
    ),
    "agentchat._streaming.xǁAsyncStreamǁ__init____mutmut_14": (
        "initial _bound: always set by _read before a timeout can be raised (a timeout needs "
        "a limit)"
    ),
    "agentchat._streaming.xǁAsyncStreamǁ__init____mutmut_17": (
        "_closed=None for False: only read as a truth value"
    ),
    "agentchat._streaming.xǁAsyncStreamǁ__init____mutmut_27": (
        "_keep_events=None for False: only read as a truth value"
    ),
    "agentchat._streaming.xǁAsyncStreamǁ__init____mutmut_28": (
        "_keep_events=True initially: next_batch_raw sets it before its own read, so the "
        "events it reads are current either way; only memory differs"
    ),
    "agentchat._streaming.xǁAsyncStreamǁ__repr____mutmut_13": (
        'self._outcome or "XXXX": with no outcome, neither "" nor "XXXX" is a key of the '
        'state map, so both give the default "open"'
    ),
    "agentchat._streaming.xǁAsyncStreamǁ_finish__mutmut_2": (
        "raw is not None or not raw.content.is_eof(): _finish runs only from _read_batch, "
        "which needs a response (raw is never None there), and with the body already ended "
        "wait_eof() returns at once: same behaviour"
    ),
    "agentchat._streaming.xǁAsyncStreamǁ_finish__mutmut_8": (
        "suppress() without asyncio.TimeoutError: on Python 3.11+ (the test env) it is the "
        "same class as TimeoutError, still listed (on 3.10 test_after_done[nothing] kills it)"
    ),
    "agentchat._streaming.xǁAsyncStreamǁ_finish__mutmut_9": (
        "suppress() without TimeoutError: on Python 3.11+ asyncio.TimeoutError, still listed,"
        " is the same class"
    ),
    "agentchat._streaming.xǁAsyncStreamǁ_observe__mutmut_18": (
        "dropped.atexit = None: weakref.finalize's atexit setter stores bool(value), so None "
        "is False"
    ),
    "agentchat._streaming.xǁAsyncStreamǁ_read__mutmut_10": (
        'the "idle" label renamed: labels are only compared with "total"/"read", and '
        '"XXidleXX" still sorts before both on a time tie'
    ),
    "agentchat._streaming.xǁAsyncStreamǁ_read__mutmut_11": (
        'the "idle" label upper-cased: labels are only compared with "total"/"read", and '
        '"IDLE" still sorts before both on a time tie'
    ),
    "agentchat._streaming.xǁAsyncStreamǁ_read__mutmut_25": (
        "`limit <= now` as `<`: differs only when a limit equals the loop clock exactly, "
        "which a positive timeout (Timeout requires > 0) cannot produce before the read"
    ),
    "agentchat._streaming.xǁAsyncStreamǁ_read__mutmut_34": (
        "[] -> None as the batch given to _fail_after: it only tests the batch for emptiness"
    ),
    "agentchat._streaming.xǁAsyncStreamǁ_settle__mutmut_38": (
        "`if self._chunks` made always true: _observe is only called on streams create() "
        "primed (a chunk waiting) or built from a completion (one chunk), so nothing reaches "
        "_settle with 0 chunks; the `else None` branch is dead"
    ),
    "agentchat._streaming.xǁAsyncStreamǁ_settle__mutmut_4": (
        "`or` -> `and` in the early return: every caller checks `_observe is not None` first "
        "and by then the outcome or the error is always set, so neither half is ever true"
    ),
    "agentchat._streaming.xǁAsyncStreamǁ_settle__mutmut_57": (
        "as _settle__mutmut_38, for the failure's partial: no stream reaches _settle with 0 chunks"
    ),
    "agentchat._streaming.xǁAsyncStreamǁnext_batch_raw__mutmut_14": (
        "zip(strict=None) behaves as strict=False"
    ),
    "agentchat._streaming.xǁAsyncStreamǁnext_batch_raw__mutmut_17": (
        "zip() without strict is strict=False"
    ),
    "agentchat._transport.x__full_pool_size__mutmut_5": (
        "default limit None vs 0 for a connector without .limit: both fail the same check "
        "(not an int / <= 0) and return None"
    ),
    "agentchat._transport.x__status_error__mutmut_2": (
        'raw=None for b"" when the body cannot be read: status_error only uses raw behind `if'
        ' raw`, where None and b"" agree'
    ),
    "agentchat._transport.x_status_error__mutmut_12": (
        '"UTF-8" for "utf-8": codec names are case-insensitive, the same codec'
    ),
    "agentchat._transport.xǁTransportǁ_attempt__mutmut_7": (
        "allow_redirects=None for False: aiohttp only reads it as `status in (301, ...) and "
        "allow_redirects`, where None acts as False"
    ),
    "agentchat._transport.xǁTransportǁ_attempts__mutmut_11": (
        "resent=None for False: only read as `not resent`, where None and False agree"
    ),
    "agentchat._transport.xǁTransportǁ__init____mutmut_6": (
        '_loop "" for None: it is read only while a session exists, and is set with the session'
    ),
    "agentchat._transport.xǁTransportǁ_open_session__mutmut_11": (
        '_session/_closer "" for None: both are set again a few lines below before any await '
        "or read"
    ),
    "agentchat._transport.xǁTransportǁ_open_session__mutmut_21": (
        "ttl_dns_cache 300 changed (None, aiohttp's default 10, 301): the DNS cache's "
        "lifetime shows only when a hostname's answers change over minutes, which no test on "
        "loopback addresses can see"
    ),
    "agentchat._transport.xǁTransportǁ_open_session__mutmut_23": (
        "limit_per_host left out: aiohttp's default is 0, the value passed"
    ),
    "agentchat._transport.xǁTransportǁ_open_session__mutmut_24": (
        "ttl_dns_cache 300 changed (None, aiohttp's default 10, 301): the DNS cache's "
        "lifetime shows only when a hostname's answers change over minutes, which no test on "
        "loopback addresses can see"
    ),
    "agentchat._transport.xǁTransportǁ_open_session__mutmut_26": (
        "ttl_dns_cache 300 changed (None, aiohttp's default 10, 301): the DNS cache's "
        "lifetime shows only when a hostname's answers change over minutes, which no test on "
        "loopback addresses can see"
    ),
    "agentchat._transport.xǁTransportǁ_open_session__mutmut_30": (
        "the session's timeout None: every post passes its own ClientTimeout, and aiohttp "
        "uses the session's only when none is given"
    ),
    "agentchat._transport.xǁTransportǁ_open_session__mutmut_31": (
        "raise_for_status=None for False: aiohttp treats None as do not raise, as False"
    ),
    "agentchat._transport.xǁTransportǁ_open_session__mutmut_35": (
        "the session's timeout left out: every post passes its own ClientTimeout, and aiohttp"
        " uses the session's only when none is given"
    ),
    "agentchat._transport.xǁTransportǁ_open_session__mutmut_36": (
        "raise_for_status left out: aiohttp's default is False, the value passed"
    ),
    "agentchat._transport.xǁTransportǁ_sleep_before_retry__mutmut_20": (
        'basis "XXbackoffXX" for "backoff": the name is only looked up in _REASONS_OF_BASIS, '
        'which has neither, so the lookup\'s default "backoff" comes back either way'
    ),
    "agentchat._transport.xǁTransportǁ_sleep_before_retry__mutmut_21": (
        'basis "BACKOFF" for "backoff": the name is only looked up in _REASONS_OF_BASIS, '
        'which has neither, so the lookup\'s default "backoff" comes back either way'
    ),
    "agentchat._validate.x__check_message__mutmut_3": (
        "a dict then goes through _object(), which returns a dict unchanged (the same "
        "object): same message, same later checks (plain is still True for the key check)"
    ),
    "agentchat._validate.x__check_messages__mutmut_26": (
        "sends every plain {role, content} message down the general path (_check_message), "
        "which accepts exactly the same messages and returns the same dict object: only the "
        "fast path's speed is lost"
    ),
    "agentchat._validate.x__check_messages__mutmut_28": (
        "sends every plain {role, content} message down the general path (_check_message), "
        "which accepts exactly the same messages and returns the same dict object: only the "
        "fast path's speed is lost"
    ),
    "agentchat._validate.x__check_messages__mutmut_29": (
        "sends every plain {role, content} message down the general path (_check_message), "
        "which accepts exactly the same messages and returns the same dict object: only the "
        "fast path's speed is lost"
    ),
    "agentchat._validate.x__check_messages__mutmut_30": (
        "sends every plain {role, content} message down the general path (_check_message), "
        "which accepts exactly the same messages and returns the same dict object: only the "
        "fast path's speed is lost"
    ),
    "agentchat._validate.x__check_messages__mutmut_31": (
        "sends every plain {role, content} message down the general path (_check_message), "
        "which accepts exactly the same messages and returns the same dict object: only the "
        "fast path's speed is lost"
    ),
    "agentchat._validate.x__check_messages__mutmut_32": (
        "sends every plain {role, content} message down the general path (_check_message), "
        "which accepts exactly the same messages and returns the same dict object: only the "
        "fast path's speed is lost"
    ),
    "agentchat._validate.x__check_messages__mutmut_34": (
        "sends every plain {role, content} message down the general path (_check_message), "
        "which accepts exactly the same messages and returns the same dict object: only the "
        "fast path's speed is lost"
    ),
    "agentchat._validate.x__check_messages__mutmut_35": (
        "sends every plain {role, content} message down the general path (_check_message), "
        "which accepts exactly the same messages and returns the same dict object: only the "
        "fast path's speed is lost"
    ),
    "agentchat._validate.x__check_messages__mutmut_36": (
        "sends every plain {role, content} message down the general path (_check_message), "
        "which accepts exactly the same messages and returns the same dict object: only the "
        "fast path's speed is lost"
    ),
    "agentchat._validate.x__check_tool__mutmut_74": (
        "tool.get(None) is None, so the tool dict is always copied with its function dict: "
        "same content sent, only an extra shallow copy (speed)"
    ),
    "agentchat._validate.x__check_tool__mutmut_75": (
        'tool.get() of a key other than "function" is never the converted function dict, so '
        "the tool dict is always copied: same content sent, only an extra shallow copy "
        "(speed)"
    ),
    "agentchat._validate.x__check_tool__mutmut_76": (
        'tool.get() of a key other than "function" is never the converted function dict, so '
        "the tool dict is always copied: same content sent, only an extra shallow copy "
        "(speed)"
    ),
    "agentchat._validate.x__check_tool_call__mutmut_63": (
        "call.get(None) is None, so the call dict is always copied with its function dict: "
        "same content sent, only an extra shallow copy (speed)"
    ),
    "agentchat._validate.x__check_tool_call__mutmut_64": (
        'call.get() of a key other than "function" is never the converted function dict, so '
        "the call dict is always copied: same content sent, only an extra shallow copy "
        "(speed)"
    ),
    "agentchat._validate.x__check_tool_call__mutmut_65": (
        'call.get() of a key other than "function" is never the converted function dict, so '
        "the call dict is always copied: same content sent, only an extra shallow copy "
        "(speed)"
    ),
    "agentchat._validate.x__check_tool_choice__mutmut_61": (
        "choice.get(None) is None, so the choice dict is always copied with its function "
        "dict: same content sent, only an extra shallow copy (speed)"
    ),
    "agentchat._validate.x__check_tool_choice__mutmut_62": (
        'choice.get() of a key other than "function" is never the converted function dict, so'
        " the choice dict is always copied: same content sent, only an extra shallow copy "
        "(speed)"
    ),
    "agentchat._validate.x__check_tool_choice__mutmut_63": (
        'choice.get() of a key other than "function" is never the converted function dict, so'
        " the choice dict is always copied: same content sent, only an extra shallow copy "
        "(speed)"
    ),
    "agentchat._validate.x__unknown_message_key__mutmut_30": (
        "n=3 (the default) instead of n=1: get_close_matches lists the best match first and "
        "only close[0] is used"
    ),
    "agentchat._validate.x__unknown_message_key__mutmut_31": (
        "dropping cutoff=0.6 leaves the default cutoff, which is 0.6"
    ),
    "agentchat._validate.x__unknown_message_key__mutmut_32": (
        "n=2 instead of n=1: get_close_matches lists the best match first and only close[0] is used"
    ),
}

#: Survivors that a child-process test kills, by mutmut's name, with that test. mutmut never
#: picks a test for a function it reaches only in a child (see :data:`SUBPROCESS_TESTS`), so it
#: reports them as surviving; the report runs each such test against its mutant itself
#: (:func:`killed_in_a_child`) and counts the mutant as found only if the test fails.
KILLED_IN_A_CHILD: dict[str, str] = {
    # The streams' set is reset when a loop was closed without shutting down: only in a fresh
    # interpreter, where the session left behind is collected without failing other tests.
    "agentchat._transport.xǁTransportǁ_open_session__mutmut_12": (
        "tests/test_transport_mutants2.py::"
        "test_a_loop_closed_without_shutting_down_leaves_the_client_usable"
    ),
}

#: Lines never mutated: logging (what is logged is not behaviour the tests pin down, and
#: its text is free to change) and ``__repr__`` strings.
DO_NOT_MUTATE = [r"\blog(ger)?\.(debug|info|warning|error|exception)\(", r"# pragma: no mutate"]


def _copy_tree(target: Path) -> None:
    """The repository's files (tracked or not ignored) into ``target``, fresh."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in listed:
        source = ROOT / name
        if not source.is_file() or name.startswith((".mutants/", "site/")):
            continue
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        if not destination.exists() or destination.read_bytes() != source.read_bytes():
            shutil.copyfile(source, destination)


def _workdir(module: str) -> Path:
    """Where ``module`` is mutated: its own copy if it has its own tests, else the shared one."""
    return WORK / (f"work-{module}" if module in MODULE_TESTS else "work")


def _configure(target: Path, modules: list[str], tests: list[str]) -> None:
    quoted = ", ".join(f'"{test}"' for test in tests if (ROOT / test).exists())
    mutated = ", ".join(f'"agentchat/{module}.py"' for module in modules)
    patterns = ", ".join(f"'{pattern}'" for pattern in DO_NOT_MUTATE)
    deselected = SUBPROCESS_TESTS + STRESS_TESTS
    deselect = "".join(f', "--deselect", "{test}"' for test in deselected)
    config = f"""

[tool.mutmut]
source_paths = ["agentchat"]
only_mutate = [{mutated}]
pytest_add_cli_args_test_selection = [{quoted}]
pytest_add_cli_args = ["-p", "no:randomly", "-q", "-p", "no:cacheprovider"{deselect}]
do_not_mutate_patterns = [{patterns}]
# What the tests read besides the package and themselves.
also_copy = ["docs/", "examples/", "scripts/", "spec/", "README.md"]
"""
    pyproject = target / "pyproject.toml"
    pyproject.write_text(
        (ROOT / "pyproject.toml").read_text(encoding="utf-8") + config, encoding="utf-8"
    )


def run(modules: list[str]) -> float:
    """Mutate ``modules``, each in its copy of the repository (:func:`_workdir`); the seconds
    it took.

    Raises :class:`RuntimeError` when mutmut could not run (its clean run failed, say)."""
    started = time.monotonic()
    shared = [module for module in modules if module not in MODULE_TESTS]
    if shared:
        _run_mutmut(WORK / "work", shared, TESTS)
    for module in modules:
        if module in MODULE_TESTS:
            _run_mutmut(_workdir(module), [module], MODULE_TESTS[module])
    return time.monotonic() - started


def _run_mutmut(target: Path, modules: list[str], tests: list[str]) -> None:
    print(
        f"mutating {', '.join(modules)} (log: {target.relative_to(ROOT)}/mutmut.log) ...",
        flush=True,
    )
    target.mkdir(parents=True, exist_ok=True)
    _copy_tree(target)
    _configure(target, modules, tests)
    forget_untested(target / "mutants")
    with (target / "mutmut.log").open("w", encoding="utf-8") as log:
        done = subprocess.run(
            [sys.executable, "-m", "mutmut", "run"],
            cwd=target,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    text = (target / "mutmut.log").read_text(encoding="utf-8", errors="replace")
    if done.returncode != 0 or "Failed to run" in text:
        tail = "\n".join(text.splitlines()[-25:])
        raise RuntimeError(f"mutmut failed (exit {done.returncode}):\n{tail}")


#: mutmut's exit code for a mutant no test ran ("no tests").
NO_TESTS = 33


def forget_untested(mutants: Path) -> int:
    """Clear every "no tests" result in ``mutants`` (a copy's ``mutants/`` directory), so that
    the next run tries those mutants again; how many were cleared.

    mutmut keeps each mutant's result and, on a second run, retries only those without one.
    When a changed function's mutants are run before its test stats are collected again, they
    all end as "no tests", and stay so: in a rerun after a change to ``Pacer.on_response``
    all 68 of its mutants did, even after ``mutmut-stats.json`` was deleted and rebuilt. A
    mutant no test really runs ends as "no tests" again, at the cost of a lookup.
    """
    cleared = 0
    for meta in mutants.glob("**/*.py.meta"):
        data = json.loads(meta.read_text(encoding="utf-8"))
        codes = data["exit_code_by_key"]
        untested = [name for name, code in codes.items() if code == NO_TESTS]
        for name in untested:
            codes[name] = None
        if untested:
            meta.write_text(json.dumps(data), encoding="utf-8")
            cleared += len(untested)
    return cleared


def _statuses(module: str) -> dict[str, str]:
    """Every mutant of ``module`` and how it ended, from the results mutmut keeps beside the
    mutated file (read directly: ``mutmut results`` lists only the files of its last run)."""
    from mutmut.stats import status_by_exit_code

    meta = _workdir(module) / "mutants" / "agentchat" / f"{module}.py.meta"
    if not meta.exists():
        return {}
    codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    return {name: status_by_exit_code[code] for name, code in codes.items()}


def survivors(module: str) -> list[tuple[str, str]]:
    """``(name, status)`` of every mutant of ``module`` that was not found. A mutant that made
    a test hang ("timeout") was found, as mutmut's own score counts it; "not checked" ones
    (a run that has not reached them) are counted in the report's per-module line."""
    found = ("killed", "timeout", "skipped", "not checked")
    return [(name, status) for name, status in _statuses(module).items() if status not in found]


def killed_in_a_child(module: str, name: str) -> bool:
    """Whether :data:`KILLED_IN_A_CHILD`'s test for ``name`` fails with that mutant active (run
    in the module's copy, where the child imports the instrumented package)."""
    test = KILLED_IN_A_CHILD.get(name)
    if test is None:
        return False
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", test],
        cwd=_workdir(module) / "mutants",
        env={**os.environ, "MUTANT_UNDER_TEST": name},
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode == 1  # failed; not 0 (passed) nor 4 or 5 (no such test)


def _diff(module: str, name: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "mutmut", "show", name],
        cwd=_workdir(module),
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()


def _counts(module: str) -> str:
    """How many mutants of ``module`` ended how: ``killed 170, survived 3, ...``."""
    counts: dict[str, int] = {}
    for status in _statuses(module).values():
        counts[status] = counts.get(status, 0) + 1
    return ", ".join(f"{status} {n}" for status, n in sorted(counts.items())) or "not run"


def report(modules: list[str], took: float | None) -> tuple[str, int]:
    """The Markdown report, and how many survivors are not known to be equivalent."""
    lines = ["# Mutation testing report", ""]
    if took is not None:
        lines += [f"This run took {took / 60:.1f} minutes.", ""]
    unexplained = 0
    for module in modules:
        left = survivors(module)
        lines += [f"## agentchat/{module}.py", "", _counts(module), ""]
        if not left:
            lines += ["No survivors.", ""]
            continue
        for name, status in left:
            if name in KILLED_IN_A_CHILD:
                if killed_in_a_child(module, name):
                    lines += [f"### {name}: killed by {KILLED_IN_A_CHILD[name]}", ""]
                    continue
                status += f", and not killed by {KILLED_IN_A_CHILD[name]} either"
            reason = EQUIVALENT.get(name)
            unexplained += reason is None
            heading = f"### {name}: {status}"
            lines += [heading + (f" (equivalent: {reason})" if reason else ""), ""]
            lines += ["```diff", _diff(module, name), "```", ""]
    return "\n".join(lines), unexplained


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"default: all of {', '.join(MODULES)}")
    parser.add_argument("--report", action="store_true", help="report the last runs only")
    parser.add_argument(
        "--equivalents", action="store_true", help="print EQUIVALENT as a Markdown table"
    )
    args = parser.parse_args()
    if args.equivalents:
        print("| mutant | why no test can tell it from the original |\n|---|---|")
        for name, reason in sorted(EQUIVALENT.items()):
            print(f"| `{name}` | {reason} |")
        return 0
    modules = args.modules or list(MODULES)
    unknown = sorted(set(modules) - set(MODULES))
    if unknown:
        parser.error(f"unknown modules {unknown}: choose from {', '.join(MODULES)}")
    took = None
    if not args.report:
        try:
            took = run(modules)
        except RuntimeError as error:
            print(error, file=sys.stderr)
            return 2
    text, unexplained = report(modules, took)
    WORK.mkdir(exist_ok=True)
    (WORK / "report.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"\n{unexplained} surviving mutants not known to be equivalent (.mutants/report.md)")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
