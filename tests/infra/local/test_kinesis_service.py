"""The Kinesis JSON API over the embedded stream (in-process, and served over HTTP to the
real boto3 client), and the forwarding backend against moto_server."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator

import boto3
import pytest
from botocore.exceptions import ClientError

from infra.local.kinesis_service import (
    EmbeddedKinesisService,
    KinesisHttpServer,
    RemoteKinesisService,
)
from infra.local.stream import EmbeddedKinesis, EmbeddedStreamSettings
from ingest.records import JoinRecord, decode, encode


def body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def put(stream: str, key: str, data: bytes) -> bytes:
    return body(StreamName=stream, PartitionKey=key, Data=base64.b64encode(data).decode())


async def test_put_record_like_kinesis() -> None:
    kinesis = EmbeddedKinesis()
    stream = kinesis.create_stream("actions", shard_count=2)
    service = EmbeddedKinesisService(kinesis)
    record = encode(JoinRecord("m1", "p1", "c1", 5))
    status, out = await service.call("PutRecord", put("actions", "m1", record))
    assert status == 200
    answer = json.loads(out)
    assert answer["ShardId"] == stream.shard_for("m1")
    it = await stream.get_shard_iterator(
        answer["ShardId"], "AT_SEQUENCE_NUMBER", sequence_number=answer["SequenceNumber"]
    )
    (got,) = (await stream.get_records(it)).records
    assert decode(got.data) == JoinRecord("m1", "p1", "c1", 5)


@pytest.mark.parametrize(
    ("action", "request_body", "error_type"),
    [
        ("PutRecord", put("missing", "k", b"x"), "ResourceNotFoundException"),
        (
            "PutRecord",
            body(StreamName="actions", PartitionKey="k", Data="%%%"),
            "SerializationException",
        ),
        ("PutRecord", body(StreamName="actions", Data="eA=="), "ValidationException"),
        ("PutRecord", body(PartitionKey="k", Data="eA=="), "ValidationException"),
        ("PutRecord", put("actions", "k", b"x" * (1024 * 1024)), "InvalidArgumentException"),
        ("PutRecord", b"{not json", "SerializationException"),
        ("PutRecord", b"[" * 100_000, "SerializationException"),
        ("PutRecord", b"[]", "SerializationException"),
        ("PutRecords", body(StreamName="actions", Records=[]), "ValidationException"),
        ("GetRecords", body(ShardIterator="bogus"), "InvalidArgumentException"),
        ("DeleteEverything", b"{}", "UnknownOperationException"),
    ],
)
async def test_errors_like_kinesis(action: str, request_body: bytes, error_type: str) -> None:
    kinesis = EmbeddedKinesis()
    kinesis.create_stream("actions")
    status, out = await EmbeddedKinesisService(kinesis).call(action, request_body)
    assert status == 400
    answer = json.loads(out)
    # (Kinesis names the text "Message" in a SerializationException, "message" elsewhere)
    assert answer["__type"] == error_type and (answer.get("message") or answer.get("Message"))


async def test_put_records_reports_per_entry_failures() -> None:
    flips = iter([False, True, False, True])
    kinesis = EmbeddedKinesis(EmbeddedStreamSettings(inject_throttle=lambda _: next(flips)))
    kinesis.create_stream("actions")
    records = [
        {"PartitionKey": f"k{i}", "Data": base64.b64encode(b"%d" % i).decode()} for i in range(4)
    ]
    status, out = await EmbeddedKinesisService(kinesis).call(
        "PutRecords", body(StreamName="actions", Records=records)
    )
    answer = json.loads(out)
    assert status == 200 and answer["FailedRecordCount"] == 2
    assert [("ErrorCode" in r) for r in answer["Records"]] == [False, True, False, True]
    assert answer["Records"][1]["ErrorCode"] == "ProvisionedThroughputExceededException"


@pytest.fixture
async def http_endpoint() -> AsyncIterator[str]:
    server = KinesisHttpServer(EmbeddedKinesisService(EmbeddedKinesis()), port=0)
    await server.start()
    try:
        yield server.url
    finally:
        await server.stop()
        await server.stop()  # a second stop is harmless


async def test_boto3_client_against_the_http_endpoint(http_endpoint: str) -> None:
    def session() -> list[bytes]:
        client = boto3.client("kinesis", endpoint_url=http_endpoint, region_name="us-east-1")
        client.create_stream(StreamName="actions", ShardCount=3)
        assert (
            client.describe_stream_summary(StreamName="actions")["StreamDescriptionSummary"][
                "OpenShardCount"
            ]
            == 3
        )
        shard = client.put_record(StreamName="actions", Data=b"hello", PartitionKey="m1")["ShardId"]
        client.put_records(StreamName="actions", Records=[{"Data": b"again", "PartitionKey": "m1"}])
        page = client.list_shards(StreamName="actions", MaxResults=2)
        rest = client.list_shards(NextToken=page["NextToken"])
        assert len(page["Shards"]) + len(rest["Shards"]) == 3 and "NextToken" not in rest
        it = client.get_shard_iterator(
            StreamName="actions", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        out = client.get_records(ShardIterator=it)
        with pytest.raises(ClientError) as info:
            client.put_record(StreamName="nope", Data=b"x", PartitionKey="k")
        assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
        with pytest.raises(ClientError) as info:
            client.create_stream(StreamName="actions", ShardCount=1)
        assert info.value.response["Error"]["Code"] == "ResourceInUseException"
        return [r["Data"] for r in out["Records"]]

    assert await asyncio.to_thread(session) == [b"hello", b"again"]


async def test_remote_service_forwards_to_moto(moto_reset: str) -> None:
    client = boto3.client("kinesis", endpoint_url=moto_reset, region_name="us-east-1")
    client.create_stream(StreamName="actions", ShardCount=1)
    service = RemoteKinesisService(moto_reset, "us-east-1")
    try:
        status, out = await service.call("PutRecord", put("actions", "m1", b"payload"))
        assert status == 200, out
        assert json.loads(out)["ShardId"] == "shardId-000000000000"
        status, out = await service.call(
            "PutRecords",
            body(
                StreamName="actions",
                Records=[{"PartitionKey": "m1", "Data": base64.b64encode(b"two").decode()}],
            ),
        )
        assert status == 200 and json.loads(out)["FailedRecordCount"] == 0
        status, out = await service.call("PutRecord", put("missing", "m1", b"x"))
        assert status == 400 and json.loads(out)["__type"] == "ResourceNotFoundException"
        status, out = await service.call("PutRecord", b"nope")
        assert status == 400 and json.loads(out)["__type"] == "SerializationException"
    finally:
        await service.close()
    it = client.get_shard_iterator(
        StreamName="actions", ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    assert [r["Data"] for r in client.get_records(ShardIterator=it)["Records"]] == [
        b"payload",
        b"two",
    ]
