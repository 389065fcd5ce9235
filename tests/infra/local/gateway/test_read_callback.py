"""Messages handled in the socket's read callback (``small_text_frames`` and the gateway's
``_take``): the same outcome as the read loop, in the same order, with every protocol
error still answered by aiohttp's parser.

The gateway here routes to the embedded Kinesis only (every route answers at once), so
short text frames take the callback; the tests send hand-made frames to choose how they
arrive (one write of many frames, a frame split over writes, a ping between texts)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.local.gateway import GatewaySettings
from infra.local.gateway.frames import small_text_frames
from infra.local.gateway.model import Integration, Route
from infra.local.kinesis_service import EmbeddedKinesisService
from infra.local.stream import EmbeddedKinesis

TEMPLATE = '{"StreamName":"actions","Data":"$util.base64Encode($input.body)","PartitionKey":"k"}'


def masked(text: bytes, key: bytes, opcode: int = 0x1) -> bytes:
    assert len(text) < 126
    return (
        bytes([0x80 | opcode, 0x80 | len(text)])
        + key
        + bytes(b ^ key[i % 4] for i, b in enumerate(text))
    )


# -- the frame reader (pure) ------------------------------------------------------------------

texts = st.lists(st.text(max_size=40).filter(lambda t: len(t.encode()) <= 125), max_size=6)
keys = st.binary(min_size=4, max_size=4)


@given(texts, keys)
def test_whole_short_text_frames_read_back(messages, key):
    data = b"".join(masked(m.encode(), key) for m in messages)
    assert small_text_frames(data) == messages


@given(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=4), keys, st.data())
def test_a_partial_frame_is_left_to_the_parser(messages, key, data):
    frames = [masked(m.encode(), key) for m in messages]
    stream = b"".join(frames)
    boundaries = {sum(len(f) for f in frames[:k]): k for k in range(len(frames) + 1)}
    cut = data.draw(st.integers(1, len(stream) - 1))
    head = small_text_frames(stream[:cut])
    if cut in boundaries:
        assert head == messages[: boundaries[cut]]
        assert small_text_frames(stream[cut:]) == messages[boundaries[cut] :]
    else:
        assert head is None  # a piece of a frame: no frame reader may take it


def test_anything_else_is_left_to_the_parser():
    key = os.urandom(4)
    text = masked(b'{"a":1}', key)
    assert small_text_frames(text + masked(b"", key, opcode=0x9)) is None  # a ping
    assert small_text_frames(masked(b"\x01\x02", key, opcode=0x2)) is None  # binary
    assert small_text_frames(bytes([0x01, 0x80 | 1]) + key + b"x") is None  # a fragment
    assert small_text_frames(bytes([0x81, 2]) + b"hi") is None  # not masked
    assert small_text_frames(masked(b"\xff\xfe", key)) is None  # not UTF-8
    assert small_text_frames(masked(b"x" * 100, key), max_payload=99) is None  # too long
    assert small_text_frames(text[:-1]) is None
    assert small_text_frames(b"") == []


# -- the gateway ----------------------------------------------------------------------------


@pytest.fixture
def stream_api(kit: Any) -> Any:
    registry = EmbeddedKinesis()
    stream = registry.create_stream("actions")
    integration = Integration(
        "AWS",
        uri="arn:aws:apigateway:us-east-1:kinesis:action/PutRecord",
        request_templates={"$default": TEMPLATE},
        template_selection_expression="\\$default",
    )
    api = kit.api_with(Route("$default", integration), expression="$request.body.action")
    return api, registry, stream


async def records(stream: Any) -> list[bytes]:
    (shard,) = await stream.list_shards()
    it = await stream.get_shard_iterator(shard.shard_id, "TRIM_HORIZON")
    return [r.data for r in (await stream.get_records(it, limit=10_000)).records]


async def wait_for_records(stream: Any, n: int) -> list[bytes]:
    for _ in range(500):
        got = await records(stream)
        if len(got) >= n:
            return got
        await asyncio.sleep(0.01)
    return await records(stream)


async def test_messages_keep_their_order_whichever_way_they_arrive(kit, stream_api):
    api, registry, stream = stream_api
    sent = [f'{{"n":{i}}}'.encode() for i in range(60)]
    async with (
        kit.running(api, aws_services={"kinesis": EmbeddedKinesisService(registry)}) as gw,
        aiohttp.ClientSession() as s,
        s.ws_connect(gw.ws_url, autoping=False) as ws,
    ):
        kit.send_raw(ws, b"".join(kit.raw_frame(m) for m in sent[:20]))  # one write of 20
        await asyncio.sleep(0.05)
        ping = kit.raw_frame(b"hi", opcode=0x9)
        kit.send_raw(
            ws, kit.raw_frame(sent[20]) + ping + kit.raw_frame(sent[21])
        )  # via the read loop
        for m in sent[22:40]:  # frames split across writes
            frame = kit.raw_frame(m)
            kit.send_raw(ws, frame[:3])
            await asyncio.sleep(0)
            kit.send_raw(ws, frame[3:])
        long = b'{"n":"' + b"x" * 200 + b'"}'  # over 125 bytes: the parser's
        kit.send_raw(ws, kit.raw_frame(long) + b"".join(kit.raw_frame(m) for m in sent[40:]))
        pong = await ws.receive(timeout=10)
        assert (pong.type, pong.data) == (aiohttp.WSMsgType.PONG, b"hi")
        got = await wait_for_records(stream, 61)
        assert got == [*sent[:40], long, *sent[40:]]
        inline = gw.metrics.messages_in_callback
        print(f"\n{inline} of {gw.metrics.messages_in} messages handled in the read callback")
        assert 20 <= inline < 61  # the first write, at least, took the callback
        assert gw.metrics.messages_in == 61


async def test_protocol_errors_are_still_answered(kit, stream_api):
    api, registry, stream = stream_api
    services = {"kinesis": EmbeddedKinesisService(registry)}
    async with kit.running(api, aws_services=services) as gw, aiohttp.ClientSession() as s:
        for frame, code in [
            (kit.raw_frame(b"\xff\xfe"), 1007),  # invalid UTF-8
            (kit.raw_frame(b"\x01", opcode=0x2), 1003),  # binary
        ]:
            async with s.ws_connect(gw.ws_url) as ws:
                kit.send_raw(ws, kit.raw_frame(b'{"ok":1}') + frame)
                msg = await ws.receive(timeout=10)
                assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == code
    assert await records(stream) == [b'{"ok":1}', b'{"ok":1}']


async def test_the_connection_throttle_applies_in_the_callback(kit, stream_api):
    api, registry, stream = stream_api
    settings = GatewaySettings(connection_message_rate_per_s=1, connection_message_burst=5)
    async with (
        kit.running(
            api, settings, aws_services={"kinesis": EmbeddedKinesisService(registry)}
        ) as gw,
        aiohttp.ClientSession() as s,
        s.ws_connect(gw.ws_url) as ws,
    ):
        kit.send_raw(ws, b"".join(kit.raw_frame(b'{"n":%d}' % i) for i in range(12)))
        first = await ws.receive(timeout=10)  # the throttle frame, once
        assert "Too Many Requests" in first.data
        assert len(await wait_for_records(stream, 5)) == 5
        assert gw.metrics.messages_in_callback == 12


async def test_a_route_that_waits_turns_the_callback_off(kit, stream_api):
    api, registry, stream = stream_api
    lambda_route = Route("slow", kit.proxy(kit.function("ok", "ok")))
    api = kit.api_with(api.routes["$default"], lambda_route, expression="$request.body.action")
    async with (
        kit.running(api, aws_services={"kinesis": EmbeddedKinesisService(registry)}) as gw,
        aiohttp.ClientSession() as s,
        s.ws_connect(gw.ws_url) as ws,
    ):
        kit.send_raw(ws, b"".join(kit.raw_frame(b'{"n":%d}' % i) for i in range(5)))
        assert len(await wait_for_records(stream, 5)) == 5
        assert gw.metrics.messages_in_callback == 0


async def test_a_read_waits_its_turn_behind_queued_messages(kit):
    """While aiohttp's queue holds messages the read loop has not taken yet, later frames
    go to the parser too (after them), never to the callback (ahead of them)."""
    from aiohttp._websocket.reader import WebSocketDataQueue, WebSocketReader
    from aiohttp.base_protocol import BaseProtocol

    from infra.local.gateway.frames import FrameScanner
    from infra.local.gateway.sessions import _LimitedParser

    loop = asyncio.get_running_loop()
    queue = WebSocketDataQueue(BaseProtocol(loop), 2**16, loop=loop)
    taken: list[str] = []
    parser = _LimitedParser(
        WebSocketReader(queue, 2**20, False, True),
        queue,
        FrameScanner(32 * 1024, 128 * 1024),
        lambda texts: bool(taken.extend(texts)) or True,
    )
    parser.feed_data(kit.raw_frame(b"a") + kit.raw_frame(b"", opcode=0x9))  # text + ping
    parser.feed_data(kit.raw_frame(b"b"))  # queued behind them
    assert taken == []
    assert [(await queue.read()).data for _ in range(3)] == ["a", b"", "b"]
    parser.feed_data(kit.raw_frame(b"c"))  # the queue is empty again
    assert taken == ["c"]
    d = kit.raw_frame(b"d")
    parser.feed_data(d[:4])  # half a frame: the parser's
    parser.feed_data(d[4:] + kit.raw_frame(b"e"))
    assert taken == ["c"]
    assert [(await queue.read()).data for _ in range(2)] == ["d", "e"]
