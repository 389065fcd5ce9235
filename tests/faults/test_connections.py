"""The issue's @connections and second-connection rows, against the same real
deployment: forged signatures are refused; a player connecting again closes its older
connection with the REPLACED message and close 1000, and the newer one plays on."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from deployment import SECRET, Deployment

from broadcaster.codec import peek_header
from ingest.tokens import mint

FORGED = (
    "AWS4-HMAC-SHA256 Credential=AKIDFORGED/20260101/us-east-1/execute-api/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
)


async def first_state(ws: aiohttp.ClientWebSocketResponse, within: float = 30) -> bytes:
    async with asyncio.timeout(within):
        while True:
            msg = await ws.receive()
            if msg.type is aiohttp.WSMsgType.BINARY:
                return bytes(msg.data)
            assert msg.type is aiohttp.WSMsgType.TEXT, msg


async def test_forged_calls_403_and_a_second_connection_replaces_the_first(
    deployment: Deployment,
) -> None:
    token = mint(SECRET, match="sec-1", player="mallory-target")
    async with aiohttp.ClientSession() as http:
        first = await http.ws_connect(f"{deployment.ws_url}?token={token}")
        await first.send_str(json.dumps({"action": "input", "seq": 1, "move": [1, 0]}))
        await first_state(first)
        # The connection id is what a stream reader learns: any signature-shaped header
        # used to be enough to post to, read or close that connection.
        cid = await asyncio.to_thread(_connection_id_from_stream, deployment)
        url = f"http://127.0.0.1:{deployment.gateway_port}/local/@connections/{cid}"
        statuses = []
        for method in ("POST", "GET", "DELETE"):
            headers = {"Authorization": FORGED, "X-Amz-Date": "20260101T000000Z"}
            async with http.request(method, url, data=b"x", headers=headers) as r:
                statuses.append((r.status, r.headers.get("x-amzn-ErrorType")))
        print(f"\nforged @connections POST/GET/DELETE: {statuses}")
        assert all(status == 403 for status, _ in statuses)

        second = await http.ws_connect(f"{deployment.ws_url}?token={token}")
        await second.send_str(json.dumps({"action": "input", "seq": 2, "move": [0, 1]}))
        seen = []
        async with asyncio.timeout(30):
            async for msg in first:
                if msg.type is aiohttp.WSMsgType.BINARY:
                    seen.append(peek_header(msg.data).replaced)
        print(f"older connection: {seen.count(True)} REPLACED message(s), then close "
              f"{first.close_code}")  # fmt: skip
        assert seen and seen[-1] is True and first.close_code == 1000
        async with asyncio.timeout(30):
            while peek_header(await first_state(second)).ack_seq < 2:
                pass
        await second.close()


def _connection_id_from_stream(dep: Deployment) -> str:
    """The join record's connection id, read from the gateway's Kinesis endpoint."""
    import boto3
    from deployment import REGION, STREAM

    kinesis = boto3.client("kinesis", endpoint_url=dep.kinesis_url, region_name=REGION)
    (shard,) = kinesis.list_shards(StreamName=STREAM)["Shards"]
    iterator = kinesis.get_shard_iterator(
        StreamName=STREAM, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    for record in kinesis.get_records(ShardIterator=iterator)["Records"]:
        body = json.loads(record["Data"])
        if body["type"] == "join":
            return str(body["conn"])
    raise AssertionError("no join record in the stream")


async def test_a_burst_over_the_flood_bound_is_said_dropped_not_acknowledged(
    deployment: Deployment,
) -> None:
    """300 inputs written at once: the engine takes at most 32 of a player's inputs per
    tick, so most are refused unapplied; the state messages say how many and the latest.
    Every input is settled once the last one is either acknowledged or the latest
    dropped (the last of a burst may well be refused: ack_seq then stays below it)."""
    token = mint(SECRET, match="flood-1", player="burst")
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{deployment.ws_url}?token={token}")
        await ws.send_str(json.dumps({"action": "input", "seq": 1, "move": [1, 0]}))
        while peek_header(await first_state(ws)).ack_seq < 1:
            pass
        for seq in range(2, 302):
            await ws.send_str(json.dumps({"action": "input", "seq": seq, "move": [1, 0]}))
        async with asyncio.timeout(30):
            while True:
                header = peek_header(await first_state(ws))
                if max(header.ack_seq, header.dropped_seq) == 301:
                    break
        await ws.close()
    print(f"\nburst of 300 inputs: ack_seq {header.ack_seq}, dropped {header.dropped}, "
          f"latest dropped seq {header.dropped_seq}")  # fmt: skip
    assert header.dropped > 0 and 2 <= header.dropped_seq <= 301
    assert header.dropped <= 300
