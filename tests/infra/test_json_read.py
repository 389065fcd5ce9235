"""infra.json_read gives json.loads's value or exception for every text."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from infra.json_read import loads, loads_standard

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63 - 2, max_value=2**70)
    | st.integers(min_value=-(2**70), max_value=-(2**63) + 2)
    | st.floats()
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)

_texts = st.one_of(
    _json.map(json.dumps),
    _json.map(lambda d: json.dumps(d, ensure_ascii=False)),
    st.builds(
        lambda d, pad: pad + json.dumps(d) + pad[::-1],
        _json,
        st.sampled_from(["", " ", "\n\t", "\x0b", "\u00a0"]),
    ),
    st.text(max_size=20),
    st.builds(lambda d, tail: json.dumps(d) + tail, _json, st.text(max_size=3)),
)

_EDGES = [
    '{"action":"input","action":"other"}',  # the last duplicate wins
    '\ufeff{"action":"input"}',  # json refuses a BOM in text
    "[" * 100_000,  # deeper than any stack
    "[" * 300 + "]" * 300,  # deep, within both parsers' reach
    '{"a": NaN}',
    "[Infinity, -Infinity]",
    "1e400",  # json: inf
    '"\\ud800"',  # a lone surrogate: json keeps it
    "123456789012345678901234567890",
    "-9223372036854775809",
    "18446744073709551616",
    "0.1",
    "-0",
    "-0.0",
    "5e-324",
]


def _outcome(parse: Any, text: str | bytes) -> tuple[str, Any]:
    try:
        value = parse(text)
    except (ValueError, RecursionError) as exc:
        return "raises", type(exc).__name__ if isinstance(exc, RecursionError) else "ValueError"
    return "value", _canonical(value)


def _canonical(value: Any) -> Any:
    # floats by their bits (nan != nan; -0.0 == 0.0), containers member by member
    if isinstance(value, float):
        return ("float", value.hex()) if not math.isnan(value) else ("float", "nan")
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    return (type(value).__name__, value)


@given(_texts)
def test_loads_is_json_loads(text: str) -> None:
    assert _outcome(loads, text) == _outcome(json.loads, text)


@pytest.mark.parametrize("text", _EDGES)
def test_loads_is_json_loads_at_the_edges(text: str) -> None:
    assert _outcome(loads, text) == _outcome(json.loads, text)
    assert _outcome(loads, text.encode("utf-8", "surrogatepass")) == _outcome(
        json.loads, text.encode("utf-8", "surrogatepass")
    )


def _reject(name: str) -> Any:
    raise ValueError(name)


@given(_texts)
@example("[NaN]")
@example("1e400")
def test_loads_standard_is_json_without_constants(text: str) -> None:
    expected = _outcome(lambda t: json.loads(t, parse_constant=_reject), text)
    assert _outcome(loads_standard, text) == expected


def test_big_integers_stay_exact() -> None:
    assert loads("[18446744073709551616]") == [2**64]
    assert type(loads("-9223372036854775809")) is int


def test_constants_refused_by_the_standard_form() -> None:
    assert math.isnan(loads("NaN"))
    with pytest.raises(ValueError, match="NaN"):
        loads_standard('{"x": NaN}')
