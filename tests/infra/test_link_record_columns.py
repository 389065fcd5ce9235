"""The shard reader's columnar read over the link (``LinkStream.get_record_columns``):
the same records as ``get_records``, and a reader through the link buffers the same
events as one reading the embedded stream itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from game_engine.consumer import ReaderSettings, ShardReader
from infra.local.link import LinkClient, LinkServer, LinkStream
from infra.local.stream import EmbeddedKinesis, EmbeddedStream
from infra.local.tables import EmbeddedTables
from ingest.records import SetAside, encode_raw


@pytest.fixture
async def linked(tmp_path: Path) -> AsyncIterator[tuple[EmbeddedStream, LinkStream]]:
    inner = EmbeddedKinesis().create_stream("s", 1)
    tables = EmbeddedTables()
    server = LinkServer(
        tmp_path / "link.sock",
        gateway=None,  # type: ignore[arg-type]  # streams only: no posts here
        stream=inner,
        leases=tables.leases,
        snapshots=tables.snapshots,
    )
    await server.start()
    client = await LinkClient.connect(server.path)
    try:
        yield inner, LinkStream(client, inner.name)
    finally:
        await client.close()
        await server.stop()


def _records() -> list[bytes]:
    out = [encode_raw("join", "m1", "p1", "c1", 5, "")]
    out += [
        encode_raw("input", "m1", "p1", "c1", 6 + i, f'{{"action":"input","seq":{i + 1}}}')
        for i in range(5)
    ]
    out.append(b"not a record")  # set aside, and still passed by the checkpoints
    out.append(encode_raw("leave", "m1", "p1", "c1", 20, ""))
    return out


async def test_columns_are_the_records(linked: tuple[EmbeddedStream, LinkStream]) -> None:
    inner, link = linked
    for data in _records():
        await inner.put_record("m1", data)
    shard = (await inner.list_shards())[0].shard_id
    first = await link.get_shard_iterator(shard, "TRIM_HORIZON")
    again = await link.get_shard_iterator(shard, "TRIM_HORIZON")
    result = await link.get_records(first, limit=4)
    columns = await link.get_record_columns(again, limit=4)
    assert columns.sequence_numbers == [r.sequence_number for r in result.records]
    assert columns.datas == [r.data for r in result.records]
    assert columns.millis_behind_latest == result.millis_behind_latest
    assert (columns.next_iterator is None) == (result.next_iterator is None)


async def test_a_reader_through_the_link_buffers_what_a_direct_one_does(
    linked: tuple[EmbeddedStream, LinkStream],
) -> None:
    inner, link = linked
    for data in _records():
        await inner.put_record("m1", data)
    shard = (await inner.list_shards())[0].shard_id
    settings = ReaderSettings(min_get_interval=0.0, get_wait=0.01)
    readers = [ShardReader(s, shard, None, SetAside(), settings) for s in (inner, link)]
    for reader in readers:
        reader.start()
    try:
        for reader in readers:
            await asyncio.wait_for(reader.caught_up.wait(), 5)
    finally:
        for reader in readers:
            await reader.stop()
    direct, through_link = readers
    assert len(direct.buffer) == len(_records())
    assert list(through_link.buffer) == list(direct.buffer)
    assert through_link.set_aside.counts == direct.set_aside.counts == {"not_json": 1}
