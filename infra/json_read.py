"""Reading JSON fast, with exactly the standard library's results.

Every client message is parsed once on the gateway (route selection) and its record once
more on the engine (the record, then the client's body inside it). ``json.loads`` costs
2.5-4.5 us for such a message; msgspec's decoder reads the same text in 0.3-1 us.

The two parsers disagree only on input ``json`` accepts and msgspec refuses: ``NaN`` and
``Infinity``, numbers out of float range (``1e400``), lone surrogates (``"\\ud800"``), a
byte-order mark, nesting deeper than msgspec's stack. Whatever msgspec refuses is read
again by ``json``, so callers get what ``json.loads`` returns, or the error it raises, for
every text (tests/infra/test_json_read.py checks this against ``json`` with generated
documents). Integers of any size come back exact from both.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

__all__ = ["loads", "loads_standard"]

_decode = msgspec.json.Decoder().decode
_REFUSED = (msgspec.MsgspecError, RecursionError)


def _reject_constant(name: str) -> Any:
    # NaN / Infinity are not JSON (RFC 8259); Python's json accepts them by default.
    raise ValueError(f"non-standard JSON constant {name}")


_standard = json.JSONDecoder(parse_constant=_reject_constant)


def loads(text: str | bytes) -> Any:
    """``json.loads(text)``: the same value, or the same exception."""
    try:
        return _decode(text)
    except _REFUSED:
        return json.loads(text)


def loads_standard(text: str) -> Any:
    """``loads``, but ``NaN``/``Infinity`` raise ValueError as RFC 8259 says they should."""
    try:
        return _decode(text)
    except _REFUSED:
        return _standard.decode(text)
