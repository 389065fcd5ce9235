"""The Velocity request templates of tickwire's routes: client message -> Kinesis PutRecord.

Each route's template builds the stream record of the shared contract::

    {"v":1,"type":"join"|"input"|"leave","match":"<authorizer.matchId>",
     "player":"<authorizer.playerId>","conn":"<connectionId>","t":<requestTimeEpoch>,
     "body":"<the client's raw text as a JSON string>"}

and sends it base64-encoded as ``Data`` with ``PartitionKey`` = the match id. The same text
goes to AWS (``Integration.RequestTemplates``) and runs in the local gateway
(:mod:`infra.local.vtl`), so both produce the same bytes.

Why it is written this way:

- API Gateway runs Velocity 1.7, whose string literals have no escape for ``"``; the
  record is built inside an interpolated string, so ``$q`` holds the quote character.
- ``$util.escapeJavaScript`` escapes ``'`` as ``\\'``, which JSON does not allow; the API
  Gateway guide's remedy, ``.replaceAll("\\\\'","'")``, turns it back. Everything else it
  emits (``\\"``, ``\\\\``, ``\\/``, ``\\n``, ``\\uXXXX`` for control and non-ASCII UTF-16
  units) is valid JSON, so the record is valid JSON for any client text.
- The match and player ids come from the authorizer (signed token claims) but are escaped
  the same way, so no claim value can break the record.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["RECORD_TYPES", "RecordType", "kinesis_request_template"]

RecordType = Literal["join", "input", "leave"]
RECORD_TYPES: tuple[RecordType, ...] = ("join", "input", "leave")

_ESCAPE = '.replaceAll("\\\\\'", "\'")'  # .replaceAll("\\'", "'")


def kinesis_request_template(record_type: RecordType, stream_name: str) -> str:
    """The request template for a route whose records have ``record_type``; ``body`` is the
    client's text for ``input`` and "" for ``join`` and ``leave``."""
    if record_type not in RECORD_TYPES:
        raise ValueError(f"unknown record type {record_type!r}")
    body = (
        f"#set($body = $util.escapeJavaScript($input.body){_ESCAPE})\n"
        if record_type == "input"
        else "#set($body = '')\n"
    )
    return (
        "## tickwire stream record (see infra/aws/stack/templates.py)\n"
        "#set($q = '\"')\n"
        f"{body}"
        f"#set($match = $util.escapeJavaScript($context.authorizer.matchId){_ESCAPE})\n"
        f"#set($player = $util.escapeJavaScript($context.authorizer.playerId){_ESCAPE})\n"
        '#set($record = "{${q}v${q}:1,'
        f"${{q}}type${{q}}:${{q}}{record_type}${{q}},"
        "${q}match${q}:${q}$match${q},"
        "${q}player${q}:${q}$player${q},"
        "${q}conn${q}:${q}$context.connectionId${q},"
        "${q}t${q}:$context.requestTimeEpoch,"
        '${q}body${q}:${q}$body${q}}")\n'
        f'{{"StreamName":"{stream_name}",'
        '"Data":"$util.base64Encode($record)",'
        '"PartitionKey":"$match"}'
    )
