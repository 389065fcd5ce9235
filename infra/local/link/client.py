"""The engine process's end of the link: the stream, the tables and posts, remotely.

:class:`LinkStream`, :class:`LinkLeaseTable` and :class:`LinkSnapshotStore` implement
:class:`~ingest.stream.Stream`, :class:`~game_engine.leases.LeaseTable` and
:class:`~game_engine.snapshots.SnapshotStore` by calling the gateway process; their
errors are the interfaces' own (rebuilt from their names, :mod:`infra.local.link.wire`).

Posts (:meth:`LinkClient.post`) never wait: they are appended to the current batch, and
the batch goes as one message at the end of the event-loop iteration (the broadcaster
posts a whole send tick in one iteration, so a send tick is one message). A post the
gateway refused is reported back; :meth:`LinkClient.take_refusal` hands it to the next
post to that connection.

Backpressure: when the socket's write buffer holds more than ``max_buffered`` bytes (the
gateway process is not reading), :meth:`post` refuses, and the caller treats it as 429.
When the link is lost every pending call fails with ``StreamUnavailable`` and
:attr:`LinkClient.closed` is set: the engine process stops.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from game_engine.consumer import RecordColumns
from game_engine.leases import Lease
from infra.local.link import wire
from ingest.errors import StreamUnavailable
from ingest.stream import GetRecordsResult, IteratorType, PutResult, ShardInfo

__all__ = ["LinkClient", "LinkLeaseTable", "LinkSnapshotStore", "LinkStream"]

# Bytes waiting in the socket's write buffer before posts are refused: a few send ticks of
# a thousand players (~200 KB each).
DEFAULT_MAX_BUFFERED = 4 * 1024 * 1024
# The gateway process creates the socket before it starts an engine process: a connect
# that takes longer means it is gone, and the engine process gives up.
CONNECT_TIMEOUT_S = 10.0
CONNECT_RETRY_S = 0.1


class LinkClient(asyncio.Protocol):
    """One connection to a :class:`~infra.local.link.server.LinkServer`."""

    def __init__(self, max_buffered: int = DEFAULT_MAX_BUFFERED) -> None:
        self.max_buffered = max_buffered
        self.closed = asyncio.Event()
        self.transport: asyncio.Transport | None = None
        self._unpacker = wire.unpacker()
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._post_ids: list[str] = []
        self._post_data: list[bytes] = []
        self._refused: dict[str, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    async def connect(cls, path: Path, **kwargs: Any) -> LinkClient:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            while True:
                try:
                    _, client = await loop.create_unix_connection(lambda: cls(**kwargs), str(path))
                    break
                except (ConnectionRefusedError, FileNotFoundError):
                    # Seen once on a first run from a clean clone: refused right after
                    # the gateway process started listening. Try again until the bound.
                    await asyncio.sleep(CONNECT_RETRY_S)
        client._loop = loop
        return client

    # -- asyncio.Protocol -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports are not asyncio.Transport subclasses, but are transports)
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.closed.set()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(StreamUnavailable("the gateway process's link closed"))
        self._pending.clear()

    def data_received(self, data: bytes) -> None:
        unpacker = self._unpacker
        unpacker.feed(data)
        for message in unpacker:
            kind = message[0]
            if kind == wire.REPLY or kind == wire.FAIL:
                future = self._pending.pop(message[1], None)
                if future is None or future.done():
                    continue
                if kind == wire.REPLY:
                    future.set_result(message[2])
                else:
                    future.set_exception(wire.error_from_wire(message[2], message[3]))
            elif kind == wire.REFUSED:
                self._refused.update(zip(message[1], message[2], strict=True))

    # -- calls ----------------------------------------------------------------------------
    async def call(self, method: str, *args: Any) -> Any:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise StreamUnavailable("the gateway process's link is closed")
        # Posts queued before this call go first: a DeleteConnection must not overtake
        # the message posted to that connection just before it.
        self._flush_posts()
        call_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        transport.write(wire.pack([wire.CALL, call_id, method, list(args)]))
        try:
            return await future
        finally:
            self._pending.pop(call_id, None)

    # -- posts ----------------------------------------------------------------------------
    def post(self, connection_id: str, data: bytes) -> bool:
        """Queue one post for this loop iteration's batch; False when the link is full
        (or gone), which the caller reports as 429."""
        transport = self.transport
        if transport is None or transport.get_write_buffer_size() > self.max_buffered:
            return False
        ids = self._post_ids
        ids.append(connection_id)
        self._post_data.append(data)
        if len(ids) == 1:
            assert self._loop is not None
            self._loop.call_soon(self._flush_posts)
        return True

    def _flush_posts(self) -> None:
        ids, datas = self._post_ids, self._post_data
        if not ids:
            return
        self._post_ids, self._post_data = [], []
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(wire.pack([wire.POSTS, ids, datas]))

    def take_refusal(self, connection_id: str) -> int | None:
        """The status of a refused earlier post to this connection, once."""
        return self._refused.pop(connection_id, None) if self._refused else None

    def report(self, report: dict[str, Any]) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(wire.pack([wire.REPORT, report]))

    async def close(self) -> None:
        self._flush_posts()
        transport = self.transport
        if transport is not None:
            transport.close()
        await self.closed.wait()


class LinkStream:
    """The gateway process's stream, as an :class:`~ingest.stream.Stream`."""

    def __init__(self, client: LinkClient, name: str) -> None:
        self._client = client
        self.name = name

    async def put_record(self, partition_key: str, data: bytes) -> PutResult:
        shard_id, sequence_number = await self._client.call("put_record", partition_key, data)
        return PutResult(shard_id, sequence_number)

    async def put_records(self, entries: Sequence[tuple[str, bytes]]) -> list[PutResult]:
        # The gateway process's stream retries failed entries in each key's order.
        results = await self._client.call(
            "put_records", [k for k, _ in entries], [d for _, d in entries]
        )
        return [PutResult(shard_id, seq) for shard_id, seq in results]

    async def list_shards(self) -> list[ShardInfo]:
        return [wire.shard_from_wire(s) for s in await self._client.call("list_shards")]

    async def get_shard_iterator(
        self,
        shard_id: str,
        iterator_type: IteratorType,
        *,
        sequence_number: str | None = None,
        timestamp: float | None = None,
    ) -> str:
        result: str = await self._client.call(
            "get_shard_iterator", shard_id, iterator_type, sequence_number, timestamp
        )
        return result

    async def get_records(
        self, iterator: str, *, limit: int = 10_000, wait: float = 0.0
    ) -> GetRecordsResult:
        return wire.records_from_wire(await self._client.call("get_records", iterator, limit, wait))

    async def get_record_columns(
        self, iterator: str, *, limit: int = 10_000, wait: float = 0.0
    ) -> RecordColumns:
        """:meth:`get_records` as the shard reader takes it: the sequence numbers and data
        as they arrive (the wire carries columns), no StreamRecord per record."""
        return wire.record_columns_from_wire(
            await self._client.call("get_records", iterator, limit, wait)
        )

    async def split_shard(self, shard_id: str, new_starting_hash_key: int) -> tuple[str, str]:
        left, right = await self._client.call("split_shard", shard_id, str(new_starting_hash_key))
        return left, right

    async def merge_shards(self, shard_id: str, adjacent_shard_id: str) -> str:
        merged: str = await self._client.call("merge_shards", shard_id, adjacent_shard_id)
        return merged

    async def close(self) -> None:
        """The client belongs to the engine process, which closes it."""


class LinkLeaseTable:
    """The gateway process's lease table, as a :class:`~game_engine.leases.LeaseTable`."""

    def __init__(self, client: LinkClient) -> None:
        self._client = client

    async def create(self, shard_id: str, parents: Sequence[str] = ()) -> bool:
        return bool(await self._client.call("lease.create", shard_id, list(parents)))

    async def get(self, shard_id: str) -> Lease | None:
        item = await self._client.call("lease.get", shard_id)
        return None if item is None else wire.lease_from_wire(item)

    async def list_leases(self) -> list[Lease]:
        return [wire.lease_from_wire(x) for x in await self._client.call("lease.list")]

    async def take(self, lease: Lease, owner: str) -> Lease:
        return wire.lease_from_wire(
            await self._client.call("lease.take", wire.lease_to_wire(lease), owner)
        )

    async def renew(self, lease: Lease) -> Lease:
        return wire.lease_from_wire(
            await self._client.call("lease.renew", wire.lease_to_wire(lease))
        )

    async def release(self, lease: Lease) -> None:
        await self._client.call("lease.release", wire.lease_to_wire(lease))

    async def checkpoint(self, lease: Lease, sequence: str, matches: Sequence[str]) -> Lease:
        return wire.lease_from_wire(
            await self._client.call(
                "lease.checkpoint", wire.lease_to_wire(lease), sequence, list(matches)
            )
        )

    async def close(self) -> None:
        """The client belongs to the engine process, which closes it."""


class LinkSnapshotStore:
    """The gateway process's snapshot store, as a :class:`~game_engine.snapshots.SnapshotStore`."""

    def __init__(self, client: LinkClient) -> None:
        self._client = client

    async def put(self, match_id: str, data: bytes, lease: Lease) -> None:
        await self._client.call("snapshot.put", match_id, data, wire.lease_to_wire(lease))

    async def get(self, match_id: str) -> bytes | None:
        result: bytes | None = await self._client.call("snapshot.get", match_id)
        return result

    async def delete(self, match_id: str, lease: Lease) -> None:
        await self._client.call("snapshot.delete", match_id, wire.lease_to_wire(lease))

    async def close(self) -> None:
        """The client belongs to the engine process, which closes it."""
