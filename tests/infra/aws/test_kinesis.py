"""KinesisStream specifics (the shared behaviour is in tests/infra/test_stream_contract.py)."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from infra.aws.kinesis import KinesisSettings, KinesisStream, translate
from ingest.errors import (
    ExpiredIterator,
    InvalidArgument,
    StreamNotFound,
    StreamUnavailable,
    ThroughputExceeded,
)


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "PutRecord")


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("ResourceNotFoundException", StreamNotFound),
        ("InvalidArgumentException", InvalidArgument),
        ("ProvisionedThroughputExceededException", ThroughputExceeded),
        ("ExpiredIteratorException", ExpiredIterator),
        ("InternalFailure", StreamUnavailable),
    ],
)
def test_translate(code: str, cls: type[Exception]) -> None:
    assert type(translate(client_error(code))) is cls
    assert isinstance(translate(EndpointConnectionError(endpoint_url="x")), StreamUnavailable)


async def test_get_records_keeps_to_five_calls_per_second(moto_reset: str) -> None:
    stream = await KinesisStream.open(
        "spaced",
        endpoint_url=moto_reset,
        region="us-east-1",
        settings=KinesisSettings(),
        create_shards=1,
    )
    try:
        (shard,) = await stream.list_shards()
        it: str | None = await stream.get_shard_iterator(shard.shard_id, "LATEST")
        started = time.monotonic()
        for _ in range(4):
            assert it is not None
            it = (await stream.get_records(it)).next_iterator
        assert time.monotonic() - started >= 0.6  # 3 gaps of at least 0.2 s
    finally:
        await stream.close()


async def test_missing_stream_is_stream_not_found(moto_reset: str) -> None:
    stream = await KinesisStream.open("absent", endpoint_url=moto_reset, region="us-east-1")
    try:
        with pytest.raises(StreamNotFound) as info:
            await stream.put_record("k", b"x")
        assert isinstance(info.value.__cause__, ClientError)
        with pytest.raises(StreamNotFound):
            await stream.list_shards()
    finally:
        await stream.close()


async def test_unreachable_endpoint_is_unavailable(unused_port: int) -> None:
    stream = await KinesisStream.open(
        "s",
        endpoint_url=f"http://127.0.0.1:{unused_port}",
        region="us-east-1",
        settings=KinesisSettings(sdk_max_attempts=1, connect_timeout=1),
    )
    try:
        with pytest.raises(StreamUnavailable):
            await stream.put_record("k", b"x")
    finally:
        await stream.close()
