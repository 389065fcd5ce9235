"""DynamoDB lease table and snapshot store through aioboto3 (the AWS side of the tables).

Leases: one item per shard, key ``shard_id`` (a constructor parameter), attributes
``owner`` (absent when free), ``counter`` (N), ``checkpoint`` (S, absent until the first),
``parents`` and ``matches`` (lists of S). Every write is an ``UpdateItem`` whose condition
is the writer's last view (counter, owner, checkpoint): ``ConditionalCheckFailed`` becomes
:class:`~game_engine.errors.LeaseLost`. Kinesis sequence numbers have up to 56 digits, past
DynamoDB's 38-digit numbers, so checkpoints are strings and "only forward" is checked
against the checkpoint the condition pins.

Snapshots: key ``match_id``, attributes ``data`` (B) and ``shard_id``; written in one
``TransactWriteItems`` with a ``ConditionCheck`` that the writer still owns the shard's
lease, so a worker that lost its lease cannot write one.

Tables are billed PAY_PER_REQUEST; :meth:`DynamoTables.ensure_tables` creates them where
no stack did (moto, DynamoDB Local); on AWS the stack (:mod:`infra.aws.stack`) owns them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import aioboto3
from botocore.exceptions import BotoCoreError, ClientError

from game_engine.errors import LeaseError, LeaseLost, SnapshotError
from game_engine.leases import Lease, check_checkpoint_forward
from game_engine.snapshots import MAX_SNAPSHOT_BYTES

__all__ = ["DynamoLeaseTable", "DynamoSnapshotStore", "DynamoTables"]

_NAMES = {"#o": "owner", "#c": "counter", "#cp": "checkpoint", "#m": "matches"}


def _condition(lease: Lease, *, owner: bool = True) -> tuple[str, dict[str, Any]]:
    """The expression pinning a write to the writer's last view of the lease."""
    parts = ["#c = :c"]
    values: dict[str, Any] = {":c": {"N": str(lease.counter)}}
    if owner:
        if lease.owner is None:
            parts.append("attribute_not_exists(#o)")
        else:
            parts.append("#o = :o")
            values[":o"] = {"S": lease.owner}
    if lease.checkpoint is None:
        parts.append("attribute_not_exists(#cp)")
    else:
        parts.append("#cp = :oldcp")
        values[":oldcp"] = {"S": lease.checkpoint}
    return " AND ".join(parts), values


def _lease(item: dict[str, Any], key: str) -> Lease:
    return Lease(
        shard_id=item[key]["S"],
        owner=item["owner"]["S"] if "owner" in item else None,
        counter=int(item["counter"]["N"]),
        checkpoint=item["checkpoint"]["S"] if "checkpoint" in item else None,
        parents=tuple(v["S"] for v in item.get("parents", {}).get("L", [])),
        matches=tuple(v["S"] for v in item.get("matches", {}).get("L", [])),
    )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class DynamoLeaseTable:
    def __init__(self, tables: DynamoTables, name: str, key: str = "shard_id") -> None:
        self._tables = tables
        self.name = name
        self.key = key

    def _key(self, shard_id: str) -> dict[str, Any]:
        return {self.key: {"S": shard_id}}

    async def _update(
        self, lease: Lease, expr: str, values: dict[str, Any], *, owner: bool = True
    ) -> Lease:
        cond, cvalues = _condition(lease, owner=owner)
        names = {k: v for k, v in _NAMES.items() if k in expr or k in cond}
        try:
            resp = await self._tables.client.update_item(
                TableName=self.name,
                Key=self._key(lease.shard_id),
                UpdateExpression=expr,
                ConditionExpression=f"attribute_exists({self.key}) AND {cond}",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={**values, **cvalues, ":one": {"N": "1"}},
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                raise LeaseLost(
                    f"lease {lease.shard_id}: expected counter {lease.counter}"
                ) from exc
            raise LeaseError(f"update {lease.shard_id}: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise LeaseError(f"update {lease.shard_id}: {exc}") from exc
        return _lease(resp["Attributes"], self.key)

    async def create(self, shard_id: str, parents: Sequence[str] = ()) -> bool:
        try:
            await self._tables.client.put_item(
                TableName=self.name,
                Item={
                    **self._key(shard_id),
                    "counter": {"N": "0"},
                    "parents": {"L": [{"S": p} for p in parents]},
                    "matches": {"L": []},
                },
                ConditionExpression=f"attribute_not_exists({self.key})",
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise LeaseError(f"create {shard_id}: {_code(exc)}") from exc
        return True

    async def get(self, shard_id: str) -> Lease | None:
        try:
            resp = await self._tables.client.get_item(
                TableName=self.name, Key=self._key(shard_id), ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise LeaseError(f"get {shard_id}") from exc
        item = resp.get("Item")
        return _lease(item, self.key) if item else None

    async def list_leases(self) -> list[Lease]:
        leases: list[Lease] = []
        kwargs: dict[str, Any] = {"TableName": self.name, "ConsistentRead": True}
        try:
            while True:
                resp = await self._tables.client.scan(**kwargs)
                leases.extend(_lease(item, self.key) for item in resp.get("Items", []))
                if "LastEvaluatedKey" not in resp:
                    break
                kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        except (ClientError, BotoCoreError) as exc:
            raise LeaseError("list leases") from exc
        return sorted(leases, key=lambda lease: lease.shard_id)

    async def take(self, lease: Lease, owner: str) -> Lease:
        return await self._update(
            lease, "SET #o = :me, #c = #c + :one", {":me": {"S": owner}}, owner=False
        )

    async def renew(self, lease: Lease) -> Lease:
        return await self._update(lease, "SET #c = #c + :one", {})

    async def release(self, lease: Lease) -> None:
        await self._update(lease, "REMOVE #o SET #c = #c + :one", {})

    async def checkpoint(self, lease: Lease, sequence: str, matches: Sequence[str]) -> Lease:
        # The condition pins the checkpoint to lease.checkpoint, so comparing with it here
        # is comparing with the stored one.
        check_checkpoint_forward(lease, sequence)
        return await self._update(
            lease,
            "SET #cp = :cp, #m = :m, #c = #c + :one",
            {":cp": {"S": sequence}, ":m": {"L": [{"S": m} for m in matches]}},
        )

    async def close(self) -> None:
        await self._tables.close()


class DynamoSnapshotStore:
    def __init__(self, tables: DynamoTables, name: str, key: str = "match_id") -> None:
        self._tables = tables
        self.name = name
        self.key = key

    async def _fenced(self, lease: Lease, op: dict[str, Any]) -> None:
        if lease.owner is None:
            raise LeaseLost(f"no owner for {lease.shard_id}")
        leases = self._tables.leases
        try:
            await self._tables.client.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": leases.name,
                            "Key": {leases.key: {"S": lease.shard_id}},
                            "ConditionExpression": "#o = :o",
                            "ExpressionAttributeNames": {"#o": "owner"},
                            "ExpressionAttributeValues": {":o": {"S": lease.owner}},
                        }
                    },
                    op,
                ]
            )
        except ClientError as exc:
            if _code(exc) in ("TransactionCanceledException", "ConditionalCheckFailedException"):
                raise LeaseLost(f"{lease.owner} does not own {lease.shard_id}") from exc
            raise LeaseError(f"snapshot write: {_code(exc)}") from exc
        except BotoCoreError as exc:
            raise LeaseError(f"snapshot write: {exc}") from exc

    async def put(self, match_id: str, data: bytes, lease: Lease) -> None:
        if len(data) > MAX_SNAPSHOT_BYTES:
            raise SnapshotError("too_large", f"{len(data)} bytes")
        item = {
            self.key: {"S": match_id},
            "data": {"B": bytes(data)},
            "shard_id": {"S": lease.shard_id},
        }
        await self._fenced(lease, {"Put": {"TableName": self.name, "Item": item}})

    async def get(self, match_id: str) -> bytes | None:
        try:
            resp = await self._tables.client.get_item(
                TableName=self.name, Key={self.key: {"S": match_id}}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise SnapshotError("read", f"{match_id}: {exc}") from exc
        item = resp.get("Item")
        return bytes(item["data"]["B"]) if item else None

    async def delete(self, match_id: str, lease: Lease) -> None:
        await self._fenced(
            lease, {"Delete": {"TableName": self.name, "Key": {self.key: {"S": match_id}}}}
        )

    async def close(self) -> None:
        await self._tables.close()


class DynamoTables:
    """One aioboto3 DynamoDB client serving the lease table and the snapshot store.

    ``async with DynamoTables(...) as tables:`` or ``await tables.start()`` /
    ``await tables.close()`` (a second close is harmless).
    """

    def __init__(
        self,
        *,
        lease_table: str = "tickwire-leases",
        snapshot_table: str = "tickwire-snapshots",
        lease_key: str = "shard_id",
        snapshot_key: str = "match_id",
        endpoint_url: str | None = None,
        region_name: str | None = None,
        session: aioboto3.Session | None = None,
    ) -> None:
        self._session = session or aioboto3.Session()
        self._endpoint_url = endpoint_url
        self._region_name = region_name
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None
        self.leases = DynamoLeaseTable(self, lease_table, lease_key)
        self.snapshots = DynamoSnapshotStore(self, snapshot_table, snapshot_key)

    @property
    def client(self) -> Any:
        if self._client is None:
            raise LeaseError("DynamoTables is not started")
        return self._client

    async def start(self) -> None:
        if self._client is not None:
            return
        stack = contextlib.AsyncExitStack()
        self._client = await stack.enter_async_context(
            self._session.client(
                "dynamodb", endpoint_url=self._endpoint_url, region_name=self._region_name
            )
        )
        self._stack = stack

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def __aenter__(self) -> DynamoTables:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def ensure_tables(self) -> None:
        """Create both tables (PAY_PER_REQUEST) if absent, and wait until they exist."""
        for table, key in (
            (self.leases.name, self.leases.key),
            (self.snapshots.name, self.snapshots.key),
        ):
            try:
                await self.client.create_table(
                    TableName=table,
                    KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                    BillingMode="PAY_PER_REQUEST",
                )
            except ClientError as exc:
                if _code(exc) != "ResourceInUseException":
                    raise LeaseError(f"create table {table}: {_code(exc)}") from exc
            waiter = self.client.get_waiter("table_exists")
            await waiter.wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
