"""``agentchat._json.dumps``: the request bodies' encoder, the standard library's byte for byte.

It reuses one C encoder across calls instead of building one per call; these tests hold it to
``json.dumps(..., ensure_ascii=False, allow_nan=False, separators=(",", ":"))``: the same
bytes for every JSON value, and the same error, word for word, for what is not JSON.
"""

from __future__ import annotations

import json
import math
import re
import threading
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentchat import _json

_STRICT = {"ensure_ascii": False, "allow_nan": False, "separators": (",", ":")}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def _standard(value: Any) -> bytes:
    return json.dumps(value, **_STRICT).encode()  # type: ignore[arg-type]


@given(json_values)
def test_the_same_bytes_as_the_standard_library(value: Any) -> None:
    assert _json.dumps(value) == _standard(value)


def test_text_is_utf8_not_escaped() -> None:
    value = {"content": 'é \u2028 😀 "quoted" \\ \n\t\x00'}
    assert _json.dumps(value) == _standard(value)
    assert "é".encode() in _json.dumps(value) and "😀".encode() in _json.dumps(value)


def test_keys_that_are_not_strings_are_written_as_the_standard_library_does() -> None:
    value = {1: "a", 2.5: "b", False: "c", None: "d"}
    assert _json.dumps(value) == _standard(value) == b'{"1":"a","2.5":"b","false":"c","null":"d"}'


def _circular() -> dict[str, Any]:
    value: dict[str, Any] = {"a": []}
    value["a"].append(value)
    return value


@pytest.mark.parametrize(
    "value",
    [
        {"temperature": math.nan},
        {"nested": [1, {"x": -math.inf}]},
        {"a": object()},
        {"a": {1, 2}},
        {("tuple", "key"): 1},
        _circular(),
    ],
    ids=["nan", "nested-inf", "object", "set", "tuple-key", "circular"],
)
def test_what_is_not_json_fails_with_the_standard_librarys_error(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)) as expected:
        _standard(value)
    with pytest.raises(type(expected.value), match="^" + re.escape(str(expected.value)) + "$"):
        _json.dumps(value)


def test_without_the_c_encoder_the_standard_library_encodes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Where the C accelerator is missing (PyPy), every body goes the standard library's way.
    monkeypatch.setattr(_json, "_c_encode", None)
    value = {"model": "m", "messages": [{"role": "user", "content": "é"}], "n": 1.5}
    assert _json.dumps(value) == _standard(value)
    with pytest.raises(ValueError, match="Out of range float"):
        _json.dumps({"x": math.nan})


def test_the_encoder_keeps_nothing_between_calls_or_threads() -> None:
    # A failure in the middle of a value leaves nothing behind that fails the next one, and
    # threads encoding at once get each their own bytes (no shared circular-check state).
    with pytest.raises(ValueError, match="Circular reference"):
        _json.dumps(_circular())
    assert _json.dumps({"a": [1]}) == b'{"a":[1]}'
    shared = [{"i": i, "deep": [[{"k": "v"}] * 3] * 3} for i in range(200)]
    wrong: list[int] = []

    def encode(offset: int) -> None:
        for round_ in range(50):
            for i, value in enumerate(shared):
                if _json.dumps(value) != _standard(value):
                    wrong.append(offset * 10_000 + round_ * 200 + i)

    threads = [threading.Thread(target=encode, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert wrong == []
