"""The embedded Kinesis served as an endpoint, through the real SDKs (boto3 and aioboto3)
against ``KinesisHttpServer`` on 127.0.0.1: what Kinesis answers, Kinesis's error types
and messages (issue 14's list, item by item)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aioboto3
import aiohttp
import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from infra.local.kinesis_service import EmbeddedKinesisService, KinesisHttpServer
from infra.local.stream import EmbeddedKinesis, EmbeddedStreamSettings

REGION = "us-east-1"


@dataclass
class Endpoint:
    url: str
    kinesis: EmbeddedKinesis
    service: EmbeddedKinesisService
    clock: list[float]

    def client(self, *, validate: bool = True) -> Any:
        # parameter_validation=False: the SDK sends what it is given, so the server's own
        # checks (SerializationException, ValidationException) are what answers.
        config = Config(parameter_validation=validate, retries={"max_attempts": 1})
        return boto3.client(
            "kinesis",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=config,
        )


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    clock = [time.time()]
    kinesis = EmbeddedKinesis(EmbeddedStreamSettings(clock=lambda: clock[0]))
    service = EmbeddedKinesisService(kinesis)
    server = KinesisHttpServer(service, port=0)
    await server.start()
    try:
        yield Endpoint(server.url, kinesis, service, clock)
    finally:
        await server.stop()


async def sdk(fn: Callable[[], Any]) -> Any:
    """Runs blocking boto3 calls off the loop that serves the endpoint."""
    return await asyncio.to_thread(fn)


def error_of(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call()
    error = info.value.response["Error"]
    return error["Code"], error["Message"]


# -- 1. short shard ids ---------------------------------------------------------------------


async def test_short_shard_ids_resolve_as_kinesis_resolves_them(endpoint: Endpoint) -> None:
    def session() -> None:
        c = endpoint.client()
        c.create_stream(StreamName="s", ShardCount=2)
        put = c.put_record(StreamName="s", Data=b"x", PartitionKey="k", ExplicitHashKey="0")
        assert put["ShardId"] == "shardId-000000000000"
        for short in ("shardId-0", "0", "shardId-000000000000", "x-0"):
            it = c.get_shard_iterator(
                StreamName="s", ShardId=short, ShardIteratorType="TRIM_HORIZON"
            )
            assert [
                r["Data"] for r in c.get_records(ShardIterator=it["ShardIterator"])["Records"]
            ] == [b"x"]
        assert error_of(
            lambda: c.get_shard_iterator(
                StreamName="s", ShardId="shardId-7", ShardIteratorType="LATEST"
            )
        ) == (
            "ResourceNotFoundException",
            "Shard shardId-000000000007 in stream s under account 000000000000 does not exist",
        )
        assert error_of(
            lambda: c.get_shard_iterator(StreamName="s", ShardId="abc", ShardIteratorType="LATEST")
        ) == (
            "ResourceNotFoundException",
            "Could not find shard abc in stream s under account 000000000000.",
        )
        c.split_shard(StreamName="s", ShardToSplit="1", NewStartingHashKey=str(3 * 2**126))
        shards = c.list_shards(StreamName="s")["Shards"]
        assert [s.get("ParentShardId") for s in shards[2:]] == ["shardId-000000000001"] * 2
        c.merge_shards(StreamName="s", ShardToMerge="2", AdjacentShardToMerge="shardId-3")

    await sdk(session)


# -- 2. DescribeStream, tags, retention -----------------------------------------------------


async def test_describe_stream_tags_and_retention(endpoint: Endpoint) -> None:
    def session() -> None:
        c = endpoint.client()
        c.create_stream(StreamName="s", ShardCount=3)
        c.get_waiter("stream_exists").wait(StreamName="s", WaiterConfig={"Delay": 0})
        d = c.describe_stream(StreamName="s", Limit=2)["StreamDescription"]
        assert [s["ShardId"] for s in d["Shards"]] == [
            "shardId-000000000000",
            "shardId-000000000001",
        ]
        assert d["HasMoreShards"] is True and d["StreamStatus"] == "ACTIVE"
        assert d["RetentionPeriodHours"] == 24
        assert d["StreamARN"] == "arn:aws:kinesis:us-east-1:000000000000:stream/s"
        rest = c.describe_stream(StreamName="s", ExclusiveStartShardId="shardId-1")[
            "StreamDescription"
        ]
        assert [s["ShardId"] for s in rest["Shards"]] == ["shardId-000000000002"]
        assert rest["HasMoreShards"] is False

        c.add_tags_to_stream(StreamName="s", Tags={"team": "games", "env": "dev"})
        tags = c.list_tags_for_stream(StreamName="s")
        assert tags["Tags"] == [{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "games"}]
        assert tags["HasMoreTags"] is False
        page = c.list_tags_for_stream(StreamName="s", Limit=1, ExclusiveStartTagKey="env")
        assert page["Tags"] == [{"Key": "team", "Value": "games"}]
        c.remove_tags_from_stream(StreamName="s", TagKeys=["env"])
        assert c.list_tags_for_stream(StreamName="s")["Tags"] == [{"Key": "team", "Value": "games"}]
        code, message = error_of(
            lambda: c.add_tags_to_stream(StreamName="s", Tags={f"k{i}": "v" for i in range(50)})
        )
        assert code == "InvalidArgumentException" and "more than 50 tags" in message
        assert error_of(lambda: c.add_tags_to_stream(StreamName="s", Tags={"a": "<b>"}))[0] == (
            "InvalidArgumentException"
        )

        c.increase_stream_retention_period(StreamName="s", RetentionPeriodHours=48)
        summary = c.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]
        assert summary["RetentionPeriodHours"] == 48
        assert error_of(
            lambda: c.increase_stream_retention_period(StreamName="s", RetentionPeriodHours=30)
        ) == (
            "InvalidArgumentException",
            "Requested retention period (30 hours) for stream s can not be shorter than existing "
            "retention period (48 hours). Use DecreaseRetentionPeriod API.",
        )
        assert error_of(
            lambda: c.decrease_stream_retention_period(StreamName="s", RetentionPeriodHours=12)
        ) == (
            "InvalidArgumentException",
            "Minimum allowed retention period is 24 hours. Requested retention period (12 hours) "
            "is too short.",
        )
        assert error_of(
            lambda: c.increase_stream_retention_period(StreamName="s", RetentionPeriodHours=9000)
        )[1] == (
            "Maximum allowed retention period is 8760 hours. Requested retention period "
            "(9000 hours) is too long."
        )
        c.decrease_stream_retention_period(StreamName="s", RetentionPeriodHours=24)
        assert c.describe_stream(StreamName="s")["StreamDescription"]["RetentionPeriodHours"] == 24

    await sdk(session)
    assert endpoint.kinesis.get("s").retention == 24 * 3600  # the stream trims by it


# -- 3. ExplicitHashKey ---------------------------------------------------------------------


async def test_explicit_hash_key_places_the_record_and_is_range_checked(endpoint: Endpoint) -> None:
    def session() -> None:
        c = endpoint.client()
        c.create_stream(StreamName="s", ShardCount=2)
        # the same partition key, sent to either half of the key space
        low = c.put_record(StreamName="s", Data=b"a", PartitionKey="k", ExplicitHashKey="5")
        high = c.put_record(
            StreamName="s", Data=b"b", PartitionKey="k", ExplicitHashKey=str(2**128 - 1)
        )
        assert (low["ShardId"], high["ShardId"]) == ("shardId-000000000000", "shardId-000000000001")
        batch = c.put_records(
            StreamName="s",
            Records=[
                {"Data": b"c", "PartitionKey": "k", "ExplicitHashKey": str(2**127)},
                {"Data": b"d", "PartitionKey": "k", "ExplicitHashKey": "0"},
            ],
        )
        assert [r["ShardId"] for r in batch["Records"]] == [
            "shardId-000000000001",
            "shardId-000000000000",
        ]
        assert error_of(
            lambda: c.put_record(
                StreamName="s", Data=b"x", PartitionKey="k", ExplicitHashKey=str(2**128)
            )
        ) == (
            "InvalidArgumentException",
            "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. "
            f"Specified value was {2**128}",
        )
        assert error_of(
            lambda: c.put_record(
                StreamName="s", Data=b"x", PartitionKey="k", ExplicitHashKey="0x10"
            )
        ) == (
            "ValidationException",
            "1 validation error detected: Value '0x10' at 'explicitHashKey' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})",
        )

    await sdk(session)


# -- 4. inputs Kinesis rejects --------------------------------------------------------------


async def test_inputs_kinesis_rejects_are_rejected(endpoint: Endpoint) -> None:
    def session() -> None:
        c = endpoint.client()
        c.create_stream(StreamName="s", ShardCount=1)
        first = c.put_record(StreamName="s", Data=b"a", PartitionKey="k")
        # a sequence number this stream gave orders the put; one it never gave is refused
        c.put_record(
            StreamName="s",
            Data=b"b",
            PartitionKey="k",
            SequenceNumberForOrdering=first["SequenceNumber"],
        )
        assert error_of(
            lambda: c.put_record(
                StreamName="s", Data=b"c", PartitionKey="k", SequenceNumberForOrdering="123"
            )
        ) == (
            "InvalidArgumentException",
            "ExclusiveMinimumSequenceNumber 123 used in PutRecord on stream s under account "
            "000000000000 is invalid.",
        )
        for kind in ("LATEST", "TRIM_HORIZON"):
            assert error_of(
                lambda kind=kind: c.get_shard_iterator(  # type: ignore[misc]
                    StreamName="s",
                    ShardId="0",
                    ShardIteratorType=kind,
                    StartingSequenceNumber=first["SequenceNumber"],
                )
            ) == (
                "InvalidArgumentException",
                "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and "
                "StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no "
                f"StartingSequenceNumber. Request specified {kind} and also a StartingSequenceNumber.",
            )
        code, message = error_of(
            lambda: c.get_shard_iterator(
                StreamName="s",
                ShardId="0",
                ShardIteratorType="AT_TIMESTAMP",
                Timestamp=time.time() + 3600,
            )
        )
        assert code == "InvalidArgumentException"
        assert message.startswith(
            "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis."
        )
        assert error_of(
            lambda: c.split_shard(StreamName="s", ShardToSplit="0", NewStartingHashKey="1")
        ) == (
            "InvalidArgumentException",
            "NewStartingHashKey 1 used in SplitShard() on shard shardId-000000000000 in stream s "
            "under account 000000000000 is not both greater than one plus the shard's "
            f"StartingHashKey 0 and less than the shard's EndingHashKey {2**128 - 1}.",
        )
        assert error_of(lambda: c.create_stream(StreamName="n" * 129, ShardCount=1)) == (
            "ValidationException",
            f"1 validation error detected: Value '{'n' * 129}' at 'streamName' failed to satisfy "
            "constraint: Member must have length less than or equal to 128",
        )
        assert error_of(lambda: c.create_stream(StreamName="bad name!", ShardCount=1)) == (
            "ValidationException",
            "1 validation error detected: Value 'bad name!' at 'streamName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        )
        code, message = error_of(lambda: c.create_stream(StreamName="big", ShardCount=500))
        assert code == "LimitExceededException"
        assert "Current shard count for the account: 1. Limit: 500." in message
        endpoint.service.shard_limit = 1  # a split adds an open shard too
        assert error_of(
            lambda: c.split_shard(StreamName="s", ShardToSplit="0", NewStartingHashKey="9")
        )[0] == ("LimitExceededException")
        endpoint.service.shard_limit = 500
        for name in ("a", "b", "c"):
            c.create_stream(StreamName=name, ShardCount=1)
        page = c.list_streams(Limit=2)
        assert page["StreamNames"] == ["a", "b"] and page["HasMoreStreams"] is True
        assert c.list_streams(ExclusiveStartStreamName="b")["StreamNames"] == ["c", "s"]
        assert c.list_streams(NextToken=page["NextToken"])["StreamNames"] == ["c", "s"]
        names = [
            n
            for p in c.get_paginator("list_streams").paginate(PaginationConfig={"PageSize": 1})
            for n in p["StreamNames"]
        ]
        assert names == ["a", "b", "c", "s"]

    await sdk(session)


async def test_shards_are_built_in_linear_time(endpoint: Endpoint) -> None:
    endpoint.service.shard_limit = 20_000

    def session() -> float:
        c = endpoint.client()
        started = time.perf_counter()
        c.create_stream(StreamName="wide", ShardCount=10_000)
        took = time.perf_counter() - started
        summary = c.describe_stream_summary(StreamName="wide")["StreamDescriptionSummary"]
        assert summary["OpenShardCount"] == 10_000
        c.put_record(
            StreamName="wide", Data=b"x", PartitionKey="k", ExplicitHashKey=str(2**128 - 1)
        )
        return took

    # quadratic building took seconds here; linear takes a few tens of milliseconds
    assert await sdk(session) < 1.0


# -- 5. error types -------------------------------------------------------------------------


async def test_wrong_json_types_are_serialization_exceptions(endpoint: Endpoint) -> None:
    def session() -> None:
        c = endpoint.client(validate=False)
        c.create_stream(StreamName="s", ShardCount=1)
        assert error_of(lambda: c.create_stream(StreamName="t", ShardCount="two")) == (
            "SerializationException",
            "class java.lang.String can not be converted to an Integer",
        )
        assert error_of(lambda: c.describe_stream(StreamName={"name": "s"})) == (
            "SerializationException",
            "Start of structure or map found where not expected.",
        )
        assert error_of(lambda: c.put_record(StreamName=5, Data=b"x", PartitionKey="k")) == (
            "SerializationException",
            "class java.math.BigDecimal can not be converted to an String",
        )
        assert error_of(lambda: c.describe_stream(StreamName=["s"]))[0] == "SerializationException"
        assert error_of(lambda: c.list_streams(Limit=True)) == (
            "SerializationException",
            "class java.lang.Boolean can not be converted to an Integer",
        )

    await sdk(session)


async def test_missing_and_invalid_fields_are_validation_exceptions(endpoint: Endpoint) -> None:
    def session() -> None:
        c = endpoint.client(validate=False)
        c.create_stream(StreamName="s", ShardCount=1)
        assert error_of(lambda: c.put_record(StreamName="s", Data=b"x")) == (
            "ValidationException",
            "1 validation error detected: Value null at 'partitionKey' failed to satisfy "
            "constraint: Member must not be null",
        )
        assert error_of(lambda: c.put_record(Data=b"x", PartitionKey="k")) == (
            "ValidationException",
            "1 validation error detected: Value null at 'streamName' failed to satisfy "
            "constraint: Member must not be null",
        )
        assert error_of(
            lambda: c.get_shard_iterator(StreamName="s", ShardId="0", ShardIteratorType="OLDEST")
        ) == (
            "ValidationException",
            "1 validation error detected: Value 'OLDEST' at 'shardIteratorType' failed to satisfy "
            "constraint: Member must satisfy enum value set: [AT_SEQUENCE_NUMBER, "
            "AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP]",
        )
        code, message = error_of(
            lambda: c.put_records(
                StreamName="", Records=[{"Data": b"x", "PartitionKey": "k" * 257}]
            )
        )
        assert code == "ValidationException"
        assert message.startswith("3 validation errors detected: ")
        assert "Value 'k" in message and "at 'records.1.member.partitionKey'" in message
        assert error_of(lambda: c.get_records(ShardIterator="x" * 513))[0] == "ValidationException"
        assert error_of(lambda: c.create_stream(StreamName="t", ShardCount=0))[1] == (
            "1 validation error detected: Value '0' at 'shardCount' failed to satisfy constraint: "
            "Member must have value greater than or equal to 1"
        )

    await sdk(session)


async def test_an_iterator_of_a_deleted_stream_is_resource_not_found(endpoint: Endpoint) -> None:
    def session() -> None:
        c = endpoint.client()
        c.create_stream(StreamName="s", ShardCount=1)
        it = c.get_shard_iterator(StreamName="s", ShardId="0", ShardIteratorType="LATEST")[
            "ShardIterator"
        ]
        c.delete_stream(StreamName="s")
        assert error_of(lambda: c.get_records(ShardIterator=it)) == (
            "ResourceNotFoundException",
            "Shard shardId-000000000000 in stream s under account 000000000000 does not exist",
        )
        assert error_of(lambda: c.get_records(ShardIterator="bm90IGFuIGl0ZXJhdG9y")) == (
            "InvalidArgumentException",
            "Invalid ShardIterator.",
        )
        assert error_of(lambda: c.describe_stream(StreamName="s")) == (
            "ResourceNotFoundException",
            "Stream s under account 000000000000 not found.",
        )

    await sdk(session)


# -- 6. ListShards, timestamps, bodies, request ids, methods --------------------------------


async def test_list_shards_exclusive_start_and_creation_timestamp(endpoint: Endpoint) -> None:
    def session() -> None:
        c = endpoint.client()
        before = endpoint.clock[0]
        c.create_stream(StreamName="s", ShardCount=4)
        after_one = c.list_shards(StreamName="s", ExclusiveStartShardId="shardId-000000000001")
        assert [s["ShardId"] for s in after_one["Shards"]] == [
            "shardId-000000000002",
            "shardId-000000000003",
        ]
        assert [
            s["ShardId"] for s in c.list_shards(StreamName="s", ExclusiveStartShardId="2")["Shards"]
        ] == ["shardId-000000000003"]
        page = c.list_shards(StreamName="s", MaxResults=3)
        assert error_of(lambda: c.list_shards(StreamName="s", NextToken=page["NextToken"])) == (
            "InvalidArgumentException",
            "NextToken and StreamName cannot be provided together.",
        )
        summary = c.describe_stream_summary(StreamName="s")["StreamDescriptionSummary"]
        assert summary["StreamCreationTimestamp"].timestamp() == pytest.approx(before, abs=0.01)

    await sdk(session)


async def test_wire_details_bodies_request_ids_and_methods(endpoint: Endpoint) -> None:
    headers = {
        "X-Amz-Target": "Kinesis_20131202.CreateStream",
        "Content-Type": "application/x-amz-json-1.1",
    }
    async with aiohttp.ClientSession() as http:
        async with http.post(
            endpoint.url + "/", data=b'{"StreamName":"s","ShardCount":2}', headers=headers
        ) as r:
            assert r.status == 200 and await r.read() == b""  # Kinesis sends no body
            first_id = r.headers["x-amzn-RequestId"]
        for action, request in (
            ("SplitShard", b'{"StreamName":"s","ShardToSplit":"0","NewStartingHashKey":"1000"}'),
            ("MergeShards", b'{"StreamName":"s","ShardToMerge":"2","AdjacentShardToMerge":"3"}'),
            ("AddTagsToStream", b'{"StreamName":"s","Tags":{"a":"b"}}'),
            ("DeleteStream", b'{"StreamName":"s"}'),
        ):
            target = {**headers, "X-Amz-Target": f"Kinesis_20131202.{action}"}
            async with http.post(endpoint.url + "/", data=request, headers=target) as r:
                assert (r.status, await r.read()) == (200, b""), action
                assert r.headers["x-amzn-RequestId"] != first_id
        async with http.get(endpoint.url + "/") as r:
            assert r.status == 403 and "x-amzn-RequestId" in r.headers
            assert (
                b"<Message>Unable to determine service/operation name to be authorized</Message>"
                in await r.read()
            )
        async with http.put(endpoint.url + "/", data=b"{}", headers=headers) as r:
            assert r.status == 403

    def session() -> str:
        response = endpoint.client().list_streams()
        return str(response["ResponseMetadata"]["RequestId"])

    assert len(await sdk(session)) == 36  # the SDK reads the id from x-amzn-RequestId


# -- 7. iterators expire --------------------------------------------------------------------


async def test_iterators_expire_after_five_minutes_with_the_default_settings(
    endpoint: Endpoint,
) -> None:
    def session() -> None:
        c = endpoint.client()
        c.create_stream(StreamName="s", ShardCount=1)
        it = c.get_shard_iterator(StreamName="s", ShardId="0", ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]
        endpoint.clock[0] += 299
        fresh = c.get_records(ShardIterator=it)["NextShardIterator"]
        endpoint.clock[0] += 2  # the first iterator is 301 s old, the fresh one 2 s
        code, message = error_of(lambda: c.get_records(ShardIterator=it))
        assert code == "ExpiredIteratorException"
        assert message.startswith("Iterator expired. The iterator was created at time ")
        assert message.endswith(
            "which is further in the future than the tolerated delay of 300000 milliseconds."
        )
        c.get_records(ShardIterator=fresh)  # issued 2 s ago: still good

    await sdk(session)


# -- the async SDK --------------------------------------------------------------------------


async def test_aioboto3_client_uses_the_endpoint(endpoint: Endpoint) -> None:
    async with aioboto3.Session().client(
        "kinesis",
        endpoint_url=endpoint.url,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ) as c:
        await c.create_stream(StreamName="s", ShardCount=2)
        put = await c.put_record(
            StreamName="s", Data=b"hi", PartitionKey="p", ExplicitHashKey=str(2**127)
        )
        assert put["ShardId"] == "shardId-000000000001"
        it = await c.get_shard_iterator(
            StreamName="s", ShardId="1", ShardIteratorType="TRIM_HORIZON"
        )
        records = (await c.get_records(ShardIterator=it["ShardIterator"]))["Records"]
        assert [r["Data"] for r in records] == [b"hi"]
        await c.add_tags_to_stream(StreamName="s", Tags={"k": "v"})
        assert (await c.list_tags_for_stream(StreamName="s"))["Tags"] == [
            {"Key": "k", "Value": "v"}
        ]
        described = (await c.describe_stream(StreamName="s"))["StreamDescription"]
        assert len(described["Shards"]) == 2
        with pytest.raises(c.exceptions.ResourceNotFoundException):
            await c.get_shard_iterator(
                StreamName="s", ShardId="shardId-9", ShardIteratorType="LATEST"
            )
        with pytest.raises(c.exceptions.InvalidArgumentException):
            await c.put_record(
                StreamName="s", Data=b"x", PartitionKey="p", ExplicitHashKey=str(2**128)
            )
