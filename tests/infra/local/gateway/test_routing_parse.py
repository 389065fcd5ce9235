"""Route selection's JSON parse: infra.json_read's value, or _MISSING where json.loads
raises (infra.json_read's own tests show it is json.loads for every text)."""

from __future__ import annotations

import pytest

from infra.json_read import loads
from infra.local.gateway.routing import _MISSING, parse_json


@pytest.mark.parametrize(
    "text",
    [
        '{"action":"input","action":"other"}',
        ' {"action": "input"}\n',
        '{"a": NaN}',
        "[18446744073709551616]",
        '"\\ud800"',
    ],
)
def test_a_json_text_parses_as_json_loads_reads_it(text: str) -> None:
    assert repr(parse_json(text)) == repr(loads(text))


@pytest.mark.parametrize(
    "text", ["", "{", '\ufeff{"action":"input"}', "[" * 100_000, '{"a":1} x', "nul"]
)
def test_a_text_json_refuses_is_missing(text: str) -> None:
    assert parse_json(text) is _MISSING
