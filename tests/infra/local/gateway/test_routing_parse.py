"""Route selection's JSON parse (infra.json_read: msgspec, then json) agrees with json.loads."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from infra.local.gateway.routing import _MISSING, parse_json

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


def _reference(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return _MISSING


def _same(a: Any, b: Any) -> bool:
    return (
        json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
        if (a is not _MISSING and b is not _MISSING)
        else a is b
    )


@given(
    st.one_of(
        _json.map(json.dumps),
        st.builds(
            lambda d, pad: pad + json.dumps(d) + pad[::-1],
            _json,
            st.sampled_from(["", " ", "\n\t", "\x0b", "\u00a0"]),
        ),
        st.text(max_size=20),
        st.builds(lambda d, tail: json.dumps(d) + tail, _json, st.text(max_size=3)),
    )
)
@example('{"action":"input","action":"other"}')
@example('\ufeff{"action":"input"}')
@example("[" * 100_000)
@example('{"a": NaN}')
def test_parse_json_is_json_loads(text: str) -> None:
    assert _same(parse_json(text), _reference(text))
