"""LinkConnections (posts over the link of a split ``tickwire up``): what a post turns into
on the engine's side, refusals the gateway reported included, without a gateway."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from broadcaster.connections.link import LinkConnections
from broadcaster.errors import ConnectionGone, PostFailed, Throttled
from infra.local.link import wire
from infra.local.link.client import LinkClient


class _Transport:
    """What LinkClient uses of a transport; ``buffered`` is its write buffer's size."""

    def __init__(self) -> None:
        self.written: list[Any] = []
        self.buffered = 0

    def write(self, data: bytes) -> None:
        unpacker = wire.unpacker()
        unpacker.feed(data)
        self.written.extend(unpacker)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return self.buffered


async def _linked() -> tuple[LinkClient, _Transport, LinkConnections]:
    client = LinkClient(max_buffered=1000)
    client._loop = asyncio.get_running_loop()
    transport = _Transport()
    client.connection_made(transport)  # type: ignore[arg-type]
    return client, transport, LinkConnections(client)


async def test_posts_of_a_loop_iteration_go_as_one_message() -> None:
    _, transport, conns = await _linked()
    conns.post_now("a", b"1")
    conns.post_now("b", b"2")
    await asyncio.sleep(0)
    assert transport.written == [[wire.POSTS, ["a", "b"], [b"1", b"2"]]]


@pytest.mark.parametrize(
    ("status", "error"), [(410, ConnectionGone), (413, PostFailed), (429, PostFailed)]
)
async def test_a_refused_post_is_raised_on_the_next_post_once(
    status: int, error: type[Exception]
) -> None:
    client, transport, conns = await _linked()
    client.data_received(wire.pack([wire.REFUSED, ["a"], [status]]))
    conns.post_now("b", b"2")  # another connection's posts are not affected
    with pytest.raises(error) as info:
        conns.post_now("a", b"1")
    assert not isinstance(info.value, Throttled)
    if status != 410:
        assert getattr(info.value, "status", None) == status
    conns.post_now("a", b"3")  # reported once
    await asyncio.sleep(0)
    assert transport.written == [[wire.POSTS, ["b", "a"], [b"2", b"3"]]]


async def test_a_full_link_is_throttled_and_queues_nothing() -> None:
    client, transport, conns = await _linked()
    transport.buffered = 1001
    with pytest.raises(Throttled):
        conns.post_now("a", b"1")
    assert not client.post("a", b"1")
    transport.buffered = 0
    assert client.post("a", b"2")
    await asyncio.sleep(0)
    assert transport.written == [[wire.POSTS, ["a"], [b"2"]]]
