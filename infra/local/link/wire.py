"""What travels on the link: message kinds, and the domain objects as plain msgpack data.

Every message is one msgpack array whose first item is its kind:

======== ============================================= ===================================
kind     items                                         direction
======== ============================================= ===================================
CALL     ``[CALL, id, method, args]``                  engine -> gateway
REPLY    ``[REPLY, id, result]``                       gateway -> engine
FAIL     ``[FAIL, id, exception name, args]``          gateway -> engine
POSTS    ``[POSTS, [connection id...], [data...]]``    engine -> gateway (one per send tick)
REFUSED  ``[REFUSED, [connection id...], [status...]]`` gateway -> engine (posts that failed)
REPORT   ``[REPORT, report]``                          engine -> gateway (once a second)
======== ============================================= ===================================

Errors cross the link by name: only the exceptions of :mod:`ingest.errors` and
:mod:`game_engine.errors` (the ones the stream and table interfaces document) are
rebuilt on the engine side; anything else arrives as the package root.
"""

from __future__ import annotations

from typing import Any

import msgpack

from game_engine import errors as engine_errors
from game_engine.consumer import RecordColumns
from game_engine.leases import Lease
from ingest import errors as ingest_errors
from ingest.stream import GetRecordsResult, ShardInfo, StreamRecord

__all__ = [
    "CALL",
    "FAIL",
    "MAX_MESSAGE_BYTES",
    "POSTS",
    "REFUSED",
    "REPLY",
    "REPORT",
    "error_from_wire",
    "error_to_wire",
    "lease_from_wire",
    "lease_to_wire",
    "pack",
    "record_columns_from_wire",
    "records_from_wire",
    "records_to_wire",
    "shard_from_wire",
    "shard_to_wire",
    "unpacker",
]

CALL, REPLY, FAIL, POSTS, REFUSED, REPORT = range(6)

# One send tick of 10,000 players at ~200 B is 2 MB; a GetRecords reply is at most 10,000
# records of up to 1 MiB in Kinesis, but tickwire's records are < 1 KB. A message past
# this bound is a bug on the other side: the link closes rather than buffer it.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def pack(message: list[Any]) -> bytes:
    data: bytes = msgpack.packb(message, use_bin_type=True)
    return data


def unpacker() -> msgpack.Unpacker:
    """A streaming decoder: feed it what the socket gives, iterate whole messages."""
    return msgpack.Unpacker(raw=False, max_buffer_size=MAX_MESSAGE_BYTES, use_list=True)


# -- domain objects --------------------------------------------------------------------------


def lease_to_wire(lease: Lease) -> list[Any]:
    return [
        lease.shard_id,
        lease.owner,
        lease.counter,
        lease.checkpoint,
        list(lease.parents),
        list(lease.matches),
    ]


def lease_from_wire(item: list[Any]) -> Lease:
    shard_id, owner, counter, checkpoint, parents, matches = item
    return Lease(shard_id, owner, counter, checkpoint, tuple(parents), tuple(matches))


def shard_to_wire(shard: ShardInfo) -> list[Any]:
    # Hash keys are up to 2^128: strings, as Kinesis itself sends them.
    return [
        shard.shard_id,
        str(shard.starting_hash_key),
        str(shard.ending_hash_key),
        shard.starting_sequence_number,
        shard.ending_sequence_number,
        shard.parent_shard_id,
        shard.adjacent_parent_shard_id,
    ]


def shard_from_wire(item: list[Any]) -> ShardInfo:
    shard_id, start, end, first, last, parent, adjacent = item
    return ShardInfo(shard_id, int(start), int(end), first, last, parent, adjacent)


def records_to_wire(result: GetRecordsResult) -> list[Any]:
    """``[next iterator, millis behind, [seq...], [key...], [data...], [arrival...]]``:
    columns, so msgpack packs four flat lists instead of one small list per record."""
    records = result.records
    return [
        result.next_iterator,
        result.millis_behind_latest,
        [r.sequence_number for r in records],
        [r.partition_key for r in records],
        [r.data for r in records],
        [r.arrival for r in records],
    ]


def records_from_wire(item: list[Any]) -> GetRecordsResult:
    next_iterator, behind, seqs, keys, datas, arrivals = item
    return GetRecordsResult(
        list(map(StreamRecord, seqs, keys, datas, arrivals)), next_iterator, behind
    )


def record_columns_from_wire(item: list[Any]) -> RecordColumns:
    """What the shard reader takes of ``records_to_wire``'s columns, as they are."""
    next_iterator, behind, seqs, _, datas, _ = item
    return RecordColumns(seqs, datas, next_iterator, behind)


# -- errors ----------------------------------------------------------------------------------


def _known(module: Any, root: type[Exception]) -> dict[str, type[Exception]]:
    return {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, root)
    }


_ERRORS: dict[str, type[Exception]] = {
    **_known(ingest_errors, ingest_errors.IngestError),
    **_known(engine_errors, engine_errors.EngineError),
}


def error_to_wire(exc: BaseException) -> tuple[str, list[Any]]:
    name = type(exc).__name__
    if _ERRORS.get(name) is not type(exc):
        # Not one the interfaces document: the root of its family, with its text.
        root = "EngineError" if isinstance(exc, engine_errors.EngineError) else "StreamError"
        return root, [f"{name}: {exc}"]
    return name, [a if isinstance(a, str | int | float | bool | None) else str(a) for a in exc.args]


def error_from_wire(name: str, args: list[Any]) -> Exception:
    cls = _ERRORS.get(name, ingest_errors.StreamError)
    try:
        return cls(*args)
    except TypeError:
        return cls(" ".join(map(str, args)))
