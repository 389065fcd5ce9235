"""Helpers for the loader's end-to-end tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import boto3
import pytest

StreamReader = Callable[..., Awaitable[tuple[int, list[dict[str, Any]]]]]


@pytest.fixture
def read_stream() -> StreamReader:
    """``await read_stream(endpoint, stream, at_least=N)``: (shard count, every record of
    every shard) once at least ``N`` records are there, or after ``limit_s``."""

    async def read(
        endpoint: str, stream: str, *, at_least: int = 0, limit_s: float = 60.0
    ) -> tuple[int, list[dict[str, Any]]]:
        kinesis = boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1")
        shards = kinesis.list_shards(StreamName=stream)["Shards"]
        deadline = asyncio.get_running_loop().time() + limit_s
        while True:
            records: list[dict[str, Any]] = []
            for shard in shards:
                iterator = kinesis.get_shard_iterator(
                    StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
                records += kinesis.get_records(ShardIterator=iterator)["Records"]
            if len(records) >= at_least or asyncio.get_running_loop().time() > deadline:
                return len(shards), records
            await asyncio.sleep(0.1)

    return read
