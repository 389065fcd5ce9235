"""The gateway process's end of the link: serves the stream, the tables and ``@connections``.

Backpressure policy:

- Calls: each runs in its own task (a ``get_records`` may wait up to its ``wait`` for
  records); an engine has at most a few in flight (one read per shard, lease and snapshot
  writes), so they are not bounded here.
- Posts: a POSTS message is handled when it arrives, :data:`POSTS_PER_ITERATION` posts
  per loop iteration: every post goes through :meth:`Gateway.post_now` (account
  throttle, 410, 413, a full client buffer is 429), which queues the frame without
  waiting; the slice's frames are written before the iteration ends. Nothing else is
  queued on the link itself.
- A message over :data:`~infra.local.link.wire.MAX_MESSAGE_BYTES`, or one that is not a
  link message, closes that engine's link (the engine process then exits and is
  restarted by ``tickwire up``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, cast

from game_engine.errors import EngineError
from game_engine.leases import LeaseTable
from game_engine.snapshots import SnapshotStore
from infra.local.gateway.errors import ApiError
from infra.local.link import wire
from infra.local.stream import EmbeddedStream
from ingest.errors import IngestError

__all__ = ["LinkServer"]

log = logging.getLogger("tickwire.link")

# Posts of one POSTS message handled per event-loop iteration (about 2.5 ms of work on a
# 2-core VM, their frames' writes included).
POSTS_PER_ITERATION = 200


class _Poster(Protocol):
    def post_now(self, connection_id: str, data: bytes) -> None: ...

    def flush_all(self) -> None: ...

    async def delete_connection(self, connection_id: str) -> None: ...


class LinkServer:
    """Serves one stream, one lease table and one snapshot store, and posts through
    ``gateway``, to every engine process that connects to ``path``."""

    def __init__(
        self,
        path: Path,
        *,
        gateway: _Poster,
        stream: EmbeddedStream,
        leases: LeaseTable,
        snapshots: SnapshotStore,
        on_report: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.path = path
        self.gateway = gateway
        self.on_report = on_report
        self.posts = 0
        self.refused = 0
        lt, ss, st = leases, snapshots, stream
        self._calls: dict[str, Callable[..., Awaitable[Any]]] = {
            "list_shards": lambda: _map(st.list_shards(), wire.shard_to_wire),
            "get_shard_iterator": lambda shard, kind, seq, at: st.get_shard_iterator(
                shard, kind, sequence_number=seq, timestamp=at
            ),
            "get_records": lambda it, limit, wait: _then(
                st.get_records(it, limit=limit, wait=wait), wire.records_to_wire
            ),
            "put_record": lambda key, data: _then(
                st.put_record(key, data), lambda r: [r.shard_id, r.sequence_number]
            ),
            # Resharding, for tools and tests (the engine never reshards): the embedded
            # stream's own split/merge, hash keys as strings (they exceed 64 bits).
            "split_shard": lambda shard, key: _now(st.split_shard(shard, int(key))),
            "merge_shards": lambda a, b: _now(st.merge_shards(a, b)),
            "put_records": lambda keys, datas: _map(
                st.put_records(list(zip(keys, datas, strict=True))),
                lambda r: [r.shard_id, r.sequence_number],
            ),
            # DeleteConnection (a player's replaced connection): the status, 204 or AWS's.
            "delete_connection": self._delete_connection,
            "lease.create": lt.create,
            "lease.get": lambda shard: _then(
                lt.get(shard), lambda x: None if x is None else wire.lease_to_wire(x)
            ),
            "lease.list": lambda: _map(lt.list_leases(), wire.lease_to_wire),
            "lease.take": lambda lease, owner: _then(
                lt.take(wire.lease_from_wire(lease), owner), wire.lease_to_wire
            ),
            "lease.renew": lambda lease: _then(
                lt.renew(wire.lease_from_wire(lease)), wire.lease_to_wire
            ),
            "lease.release": lambda lease: lt.release(wire.lease_from_wire(lease)),
            "lease.checkpoint": lambda lease, seq, matches: _then(
                lt.checkpoint(wire.lease_from_wire(lease), seq, matches), wire.lease_to_wire
            ),
            "snapshot.put": lambda mid, data, lease: ss.put(mid, data, wire.lease_from_wire(lease)),
            "snapshot.get": ss.get,
            "snapshot.delete": lambda mid, lease: ss.delete(mid, wire.lease_from_wire(lease)),
        }
        self._server: asyncio.AbstractServer | None = None
        self._links: set[_Link] = set()

    async def _delete_connection(self, connection_id: str) -> int:
        try:
            await self.gateway.delete_connection(connection_id)
        except ApiError as exc:
            return exc.status
        return 204

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._server = await asyncio.get_running_loop().create_unix_server(
            lambda: _Link(self), str(self.path)
        )
        os.chmod(self.path, 0o600)  # only this user's engine processes may attach

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for link in list(self._links):
            link.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


async def _now(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


async def _then(call: Awaitable[Any], convert: Callable[[Any], Any]) -> Any:
    return convert(await call)


async def _map(call: Awaitable[list[Any]], convert: Callable[[Any], Any]) -> list[Any]:
    return [convert(x) for x in await call]


class _Link(asyncio.Protocol):
    """One engine process's connection."""

    def __init__(self, server: LinkServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self._unpacker = wire.unpacker()
        self._tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports are not asyncio.Transport subclasses, but are transports)
        self.transport = cast(asyncio.Transport, transport)
        self.server._links.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._links.discard(self)
        for task in self._tasks:
            task.cancel()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        unpacker = self._unpacker
        try:
            unpacker.feed(data)
            for message in unpacker:
                kind = message[0]
                if kind == wire.POSTS:
                    self._posts(message[1], message[2])
                elif kind == wire.CALL:
                    task = asyncio.create_task(self._call(message[1], message[2], message[3]))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                elif kind == wire.REPORT:
                    if self.server.on_report is not None:
                        self.server.on_report(message[1])
                else:
                    raise ValueError(f"unknown link message kind {kind!r}")
        except Exception:
            log.exception("link: bad message from an engine process; closing its link")
            self.close()

    def _posts(self, connection_ids: list[str], datas: list[bytes]) -> None:
        if len(connection_ids) > POSTS_PER_ITERATION:
            # The rest in the next loop iteration: sockets ready meanwhile are read
            # between the slices, and each slice's frames are written on their own
            # (a thousand posts and their writes at once held the loop ~10 ms).
            asyncio.get_running_loop().call_soon(
                self._posts,
                connection_ids[POSTS_PER_ITERATION:],
                datas[POSTS_PER_ITERATION:],
            )
            connection_ids = connection_ids[:POSTS_PER_ITERATION]
            datas = datas[:POSTS_PER_ITERATION]
        post = self.server.gateway.post_now
        refused: list[str] = []
        statuses: list[int] = []
        for connection_id, data in zip(connection_ids, datas, strict=True):
            try:
                post(connection_id, data)
            except ApiError as exc:
                refused.append(connection_id)
                statuses.append(exc.status)
        self.server.gateway.flush_all()  # this slice's frames go out in this iteration
        self.server.posts += len(connection_ids)
        if refused:
            self.server.refused += len(refused)
            self._send([wire.REFUSED, refused, statuses])

    async def _call(self, call_id: int, method: str, args: list[Any]) -> None:
        call = self.server._calls.get(method)
        if call is None:
            self._send([wire.FAIL, call_id, "StreamError", [f"unknown link call {method!r}"]])
            return
        try:
            result = await call(*args)
        except (IngestError, EngineError) as exc:
            name, fargs = wire.error_to_wire(exc)
            self._send([wire.FAIL, call_id, name, fargs])
        except Exception as exc:  # a bug here must not leave the engine waiting forever
            log.exception("link: %s failed", method)
            self._send([wire.FAIL, call_id, "StreamError", [f"{method}: {exc!r}"]])
        else:
            self._send([wire.REPLY, call_id, result])

    def _send(self, message: list[Any]) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(wire.pack(message))
