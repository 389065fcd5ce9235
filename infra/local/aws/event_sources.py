"""Event sources that invoke a template's functions: SQS and Kinesis pollers, schedules.

What Lambda's event source mappings do, per source:

- **SQS**: long-poll the queue, hand up to ``BatchSize`` messages to the function in
  Lambda's SQS event shape, and delete them once the function returns. When it fails the
  messages stay: they come back after the queue's visibility timeout (Lambda's retry),
  then go to the queue's dead-letter queue by its redrive policy. With
  ``ReportBatchItemFailures`` only the messages the answer lists stay.
- **Kinesis**: one poller per shard, from ``StartingPosition``, in order; a batch that
  fails is retried (backing off up to 5 s) until it succeeds or ``MaximumRetryAttempts``
  is used up, holding the shard back meanwhile, as Lambda does.
- **DynamoDB streams**: the table's latest stream (the ARN in the template is the one
  CloudFormation would give; the stream is found from the table), per shard, in order,
  retried like Kinesis; records in Lambda's shape (``eventName`` INSERT/MODIFY/REMOVE,
  ``dynamodb.Keys/NewImage/OldImage``).
- **SNS** (SAM ``Events: SNS``, ``AWS::SNS::Subscription`` with ``Protocol: lambda``):
  the topic delivers to a private SQS queue (SNS -> SQS is the service's own delivery),
  and each notification invokes the function with one SNS record, as SNS invokes
  Lambda; a failed invocation is retried after the queue's visibility timeout.
- **EventBridge** (an ``AWS::Events::Rule`` targeting a function, SAM ``Events`` of type
  EventBridgeRule or CloudWatchEvent): the rule (made here for SAM events) gets a private
  SQS queue as a target with the function target's Input/InputPath/InputTransformer,
  and each event it delivers invokes the function with that event, as EventBridge does.
- **S3** (SAM ``Events`` of type S3): the bucket notifies a private queue of the
  ``Events`` its ``Filter`` lets through (the embedded AWS's own S3 -> SQS notification),
  and each notification invokes the function with its ``Records``.
- **Schedule** (SAM ``Events`` of type Schedule or ScheduleV2, a rule with a
  ``ScheduleExpression``): EventBridge's "Scheduled
  Event" (or the event's ``Input``) at each time of its ``rate(...)`` or ``cron(...)``
  expression (:mod:`.schedule`); an expression that cannot be followed exactly is
  reported as not run.

Backpressure: every poller awaits its function before it polls again, so a slow function
slows its source; the function's worker pool bounds concurrency across sources.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from infra.local.aws.endpoints import AwsEndpoints
from infra.local.aws.schedule import next_run
from infra.local.cfn.service_resources import EventSource
from infra.local.gateway.errors import LambdaError
from infra.local.gateway.lambdas import LambdaRuntime
from infra.local.gateway.model import LambdaFunction
from infra.local.gateway.services import AwsServiceBackend

__all__ = ["EventSources"]

log = logging.getLogger(__name__)

SQS_WAIT_S = 1  # long-poll wait per receive (short: stop() need not wait long)
KINESIS_IDLE_S = 0.2  # between GetRecords calls that found nothing
MAX_BACKOFF_S = 5.0
SETUP_TIMEOUT_S = 30.0  # for every source to subscribe or take its iterators


class EventSources:
    """Runs ``sources`` against ``functions`` (by logical id); ``start()``/``stop()``."""

    def __init__(
        self,
        sources: tuple[EventSource, ...],
        functions: Mapping[str, LambdaFunction],
        runtime: LambdaRuntime,
        endpoints: AwsEndpoints,
        *,
        kinesis: AwsServiceBackend | None = None,
        account_id: str = "000000000000",
        rate_scale: float = 1.0,
    ) -> None:
        self.sources = sources
        self.functions = functions
        self.runtime = runtime
        self.endpoints = endpoints
        self.kinesis = kinesis
        self.account_id = account_id
        # tests shorten schedules (rate(1 minute) every rate_scale * 60 s)
        self.rate_scale = rate_scale
        self._tasks: list[asyncio.Task[None]] = []
        self.skipped: list[str] = []

    async def start(self) -> list[str]:
        """Start a poller per source, and wait until each is in place (subscribed, its
        shard iterators taken): what is sent after this is seen, as on AWS, where the
        mapping exists before the stack's first request. Lines saying what runs and what
        does not."""
        lines: list[str] = []
        loop = asyncio.get_running_loop()
        readiness: list[asyncio.Event] = []
        for source in self.sources:
            function = self.functions.get(source.function)
            if function is None or not source.enabled:
                continue
            ready = asyncio.Event()
            run = {"sqs": self._sqs, "dynamodb": self._dynamodb, "sns": self._sns,
                   "eventbridge": self._eventbridge, "s3": self._s3}.get(source.kind)  # fmt: skip
            if source.kind == "kinesis" and self.kinesis is not None:
                run = self._kinesis
            elif source.kind == "schedule" and _schedulable(source.schedule):
                run = self._schedule
            if run is not None:
                task = loop.create_task(run(source, function, ready))
                task.add_done_callback(_setting(ready))  # a setup that failed is done too
                self._tasks.append(task)
                readiness.append(ready)
            else:
                self.skipped.append(f"{source.logical_id}: {source.kind} source "
                                    f"{_what(source)} is not run locally")  # fmt: skip
                continue
            lines.append(f"event source {source.logical_id}: {source.kind} "
                         f"{_what(source)} -> {function.name}")  # fmt: skip
        try:
            async with asyncio.timeout(SETUP_TIMEOUT_S):
                for ready in readiness:
                    await ready.wait()
        except TimeoutError:
            log.warning("event sources: not all in place after %g s", SETUP_TIMEOUT_S)
        return lines + self.skipped

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        # The tasks' own ends (cancelled, or failed) are theirs; a cancellation of this
        # stop itself (a caller's bound running out) still propagates.
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def _invoke(self, function: LambdaFunction, event: Any) -> Any:
        return await self.runtime.invoke(function, event)

    # --- SQS ---------------------------------------------------------------------------

    async def _sqs(
        self, source: EventSource, function: LambdaFunction, ready: asyncio.Event
    ) -> None:
        client = self.endpoints.client("sqs")
        _, _, _, region, _account, name = source.source_arn.split(":", 5)
        url = await asyncio.to_thread(lambda: client.get_queue_url(QueueName=name)["QueueUrl"])
        ready.set()
        while True:
            try:
                messages = await asyncio.to_thread(self._receive, client, url, source.batch_size)
            except Exception as exc:  # the queue went away, the endpoint is down: retry
                log.warning("%s: ReceiveMessage failed: %s", source.logical_id, exc)
                await asyncio.sleep(MAX_BACKOFF_S)
                continue
            if not messages:
                continue
            event = {"Records": [_sqs_record(m, source.source_arn, region) for m in messages]}
            try:
                answer = await self._invoke(function, event)
            except LambdaError as exc:  # the messages come back after the visibility timeout
                log.warning("%s: %s failed on %d message(s): %s", source.logical_id,
                            function.name, len(messages), exc)  # fmt: skip
                continue
            done = messages
            if source.report_batch_item_failures and isinstance(answer, dict):
                failed = {f.get("itemIdentifier") for f in answer.get("batchItemFailures") or []}
                done = [m for m in messages if m["MessageId"] not in failed]
            if done:
                entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                           for i, m in enumerate(done)]  # fmt: skip
                await asyncio.to_thread(client.delete_message_batch, QueueUrl=url, Entries=entries)

    @staticmethod
    def _receive(client: Any, url: str, batch_size: int) -> list[dict[str, Any]]:
        """Up to ``batch_size`` messages (SQS gives at most 10 per call)."""
        messages: list[dict[str, Any]] = []
        while len(messages) < batch_size:
            got = client.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(10, batch_size - len(messages)),
                WaitTimeSeconds=0 if messages else SQS_WAIT_S,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                break
            messages += got
        return messages

    # --- Kinesis -----------------------------------------------------------------------

    async def _kinesis_call(self, action: str, request: Mapping[str, Any]) -> dict[str, Any]:
        assert self.kinesis is not None
        status, body = await self.kinesis.call(action, json.dumps(request).encode())
        if not 200 <= status < 300:
            raise RuntimeError(f"{action} answered {status}: {body[:200]!r}")
        answer: dict[str, Any] = json.loads(body) if body.strip() else {}
        return answer

    async def _kinesis(
        self, source: EventSource, function: LambdaFunction, ready: asyncio.Event
    ) -> None:
        stream = source.source_arn.split(":stream/", 1)[-1].split("/")[0]
        shards = [s["ShardId"] for s in
                  (await self._kinesis_call("ListShards", {"StreamName": stream}))["Shards"]]  # fmt: skip
        position = _position(source)
        iterators = await asyncio.gather(*(self._kinesis_call("GetShardIterator", {
            "StreamName": stream, "ShardId": shard, "ShardIteratorType": position,
        }) for shard in shards))  # fmt: skip
        ready.set()
        await asyncio.gather(*(self._shard(source, function, shard, it["ShardIterator"])
                               for shard, it in zip(shards, iterators, strict=True)))  # fmt: skip

    async def _shard(
        self, source: EventSource, function: LambdaFunction, shard_id: str, iterator: str | None
    ) -> None:
        region = self.endpoints.region
        while iterator:
            page = await self._kinesis_call("GetRecords", {"ShardIterator": iterator,
                                                           "Limit": source.batch_size})  # fmt: skip
            records = page.get("Records") or []
            if records:
                event = {"Records": [
                    _kinesis_record(r, shard_id, source.source_arn, region, function, self.account_id)
                    for r in records
                ]}  # fmt: skip
                await self._until_done(source, function, event)
            iterator = page.get("NextShardIterator")
            if not records:
                await asyncio.sleep(KINESIS_IDLE_S)

    async def _until_done(self, source: EventSource, function: LambdaFunction, event: Any) -> None:
        delay = 0.5
        attempts = 0
        while True:
            try:
                await self._invoke(function, event)
                return
            except LambdaError as exc:
                attempts += 1
                log.warning("%s: %s failed on a batch (attempt %d): %s", source.logical_id,
                            function.name, attempts, exc)  # fmt: skip
                if 0 <= source.maximum_retry_attempts < attempts:
                    # AWS then sends the batch's description to the on-failure destination
                    log.warning("%s: batch dropped after %d retries", source.logical_id,
                                source.maximum_retry_attempts)  # fmt: skip
                    return
                await asyncio.sleep(delay)
                delay = min(MAX_BACKOFF_S, delay * 2)

    # --- DynamoDB streams --------------------------------------------------------------

    async def _dynamodb(
        self, source: EventSource, function: LambdaFunction, ready: asyncio.Event
    ) -> None:
        table = source.source_arn.split(":table/", 1)[-1].split("/")[0]
        tables = self.endpoints.client("dynamodb")
        streams = self.endpoints.client("dynamodbstreams")
        described = await asyncio.to_thread(tables.describe_table, TableName=table)
        arn = described["Table"].get("LatestStreamArn")
        if arn is None:
            log.warning(
                "%s: table %s has no stream (StreamSpecification)", source.logical_id, table
            )
            return
        shards = (await asyncio.to_thread(streams.describe_stream, StreamArn=arn))[
            "StreamDescription"
        ]["Shards"]
        iterators = await asyncio.gather(*(asyncio.to_thread(
            streams.get_shard_iterator, StreamArn=arn, ShardId=s["ShardId"],
            ShardIteratorType=_position(source),
        ) for s in shards))  # fmt: skip
        ready.set()
        await asyncio.gather(*(self._dynamodb_shard(source, function, streams, i["ShardIterator"])
                               for i in iterators))  # fmt: skip

    async def _dynamodb_shard(
        self, source: EventSource, function: LambdaFunction, streams: Any, iterator: str | None
    ) -> None:
        while iterator:
            page = await asyncio.to_thread(
                streams.get_records, ShardIterator=iterator, Limit=source.batch_size
            )
            records = [
                {**_json_ready(r), "eventSourceARN": source.source_arn}
                for r in page.get("Records") or []
            ]
            if records:
                await self._until_done(source, function, {"Records": records})
            iterator = page.get("NextShardIterator")
            if not records:
                await asyncio.sleep(KINESIS_IDLE_S)

    # --- SNS -----------------------------------------------------------------------------

    async def _sns(
        self, source: EventSource, function: LambdaFunction, ready: asyncio.Event
    ) -> None:
        sqs = self.endpoints.client("sqs")
        sns = self.endpoints.client("sns")
        digest = hashlib.sha256(f"{source.logical_id}/{source.source_arn}".encode()).hexdigest()
        queue = f"tickwire-sns-{digest[:16]}"

        def subscribe() -> tuple[str, str]:
            url, queue_arn = _private_queue(sqs, queue)
            subscription = sns.subscribe(TopicArn=source.source_arn, Protocol="sqs",
                                         Endpoint=queue_arn, ReturnSubscriptionArn=True)  # fmt: skip
            return url, str(subscription["SubscriptionArn"])

        url, subscription = await asyncio.to_thread(subscribe)
        ready.set()

        def event_of(body: str) -> Any:
            return {"Records": [_sns_record(json.loads(body), subscription)]}

        await self._one_by_one(source, function, sqs, url, event_of)

    async def _one_by_one(
        self,
        source: EventSource,
        function: LambdaFunction,
        sqs: Any,
        url: str,
        event_of: Callable[[str], Any],
    ) -> None:
        """Invoke ``function`` once per message of a private delivery queue (how SNS,
        EventBridge and S3 invoke Lambda: one event each), deleting each message it
        handled (or that ``event_of`` maps to None: nothing to deliver); a failed one comes
        back after the queue's visibility timeout (their retry)."""
        while True:
            try:
                messages = await asyncio.to_thread(self._receive, sqs, url, 10)
            except Exception as exc:
                log.warning("%s: ReceiveMessage failed: %s", source.logical_id, exc)
                await asyncio.sleep(MAX_BACKOFF_S)
                continue
            for message in messages:
                event = event_of(message["Body"])
                try:
                    if event is not None:
                        await self._invoke(function, event)
                except LambdaError as exc:
                    log.warning("%s: %s failed: %s", source.logical_id, function.name, exc)
                    continue
                await asyncio.to_thread(
                    sqs.delete_message, QueueUrl=url, ReceiptHandle=message["ReceiptHandle"]
                )

    # --- EventBridge ---------------------------------------------------------------------

    async def _eventbridge(
        self, source: EventSource, function: LambdaFunction, ready: asyncio.Event
    ) -> None:
        sqs = self.endpoints.client("sqs")
        events = self.endpoints.client("events")
        digest = hashlib.sha256(f"{source.logical_id}/{source.rule}".encode()).hexdigest()

        def target() -> str:
            url, queue_arn = _private_queue(sqs, f"tickwire-events-{digest[:16]}")
            if source.pattern is not None:  # (re)state the rule: SAM events have no resource
                pattern = source.pattern
                events.put_rule(Name=source.rule, EventBusName=source.bus,
                                EventPattern=pattern if isinstance(pattern, str)
                                else json.dumps(pattern))  # fmt: skip
            events.put_targets(Rule=source.rule, EventBusName=source.bus, Targets=[
                {"Id": f"tickwire-{digest[:12]}", "Arn": queue_arn, **source.target_input}
            ])  # fmt: skip
            return str(url)

        url = await asyncio.to_thread(target)
        ready.set()

        def event_of(body: str) -> Any:
            try:
                return json.loads(body)
            except ValueError:  # an Input that is not JSON reaches the function as text
                return body

        await self._one_by_one(source, function, sqs, url, event_of)

    # --- S3 --------------------------------------------------------------------------------

    async def _s3(
        self, source: EventSource, function: LambdaFunction, ready: asyncio.Event
    ) -> None:
        sqs = self.endpoints.client("sqs")
        s3 = self.endpoints.client("s3")
        digest = hashlib.sha256(f"{source.logical_id}/{source.bucket}".encode()).hexdigest()

        def notify() -> str:
            url, queue_arn = _private_queue(sqs, f"tickwire-s3-{digest[:16]}")
            current = s3.get_bucket_notification_configuration(Bucket=source.bucket)
            current.pop("ResponseMetadata", None)
            queues = [q for q in current.get("QueueConfigurations", [])
                      if q.get("QueueArn") != queue_arn]  # fmt: skip
            queues.append(
                {"Id": f"tickwire-{digest[:12]}", "QueueArn": queue_arn, **source.pattern}
            )
            s3.put_bucket_notification_configuration(
                Bucket=source.bucket,
                NotificationConfiguration={**current, "QueueConfigurations": queues},
            )
            return url

        url = await asyncio.to_thread(notify)
        ready.set()

        def event_of(body: str) -> Any:
            event = json.loads(body)
            return None if event.get("Event") == "s3:TestEvent" else event  # S3's own test

        await self._one_by_one(source, function, sqs, url, event_of)

    # --- schedules ---------------------------------------------------------------------

    async def _schedule(
        self, source: EventSource, function: LambdaFunction, ready: asyncio.Event
    ) -> None:
        ready.set()
        rule = f"arn:aws:events:{self.endpoints.region}:{self.account_id}:rule/{source.logical_id}"
        while True:
            now = datetime.now(UTC)
            due = next_run(source.schedule, now)
            if due is None:
                return  # a cron expression with no time left (an explicit past year)
            await asyncio.sleep((due - now).total_seconds() * self.rate_scale)
            event = source.payload
            if event is None:
                event = {
                    "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
                    "source": "aws.events", "account": self.account_id,
                    "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "region": self.endpoints.region, "resources": [rule], "detail": {},
                }  # fmt: skip
            elif isinstance(event, str):
                with contextlib.suppress(ValueError):
                    event = json.loads(event)
            try:
                await self._invoke(function, event)
            except LambdaError as exc:
                log.warning(
                    "%s: scheduled run of %s failed: %s", source.logical_id, function.name, exc
                )


def _sqs_record(message: Mapping[str, Any], arn: str, region: str) -> dict[str, Any]:
    """One message in Lambda's SQS event shape (camelCase, attribute values as strings)."""
    attributes = message.get("Attributes") or {}
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": base64.b64encode(value["BinaryValue"]).decode()
                if value.get("BinaryValue") is not None
                else None,
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value.get("DataType"),
            }
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": region,
    }


def _kinesis_record(
    record: Mapping[str, Any],
    shard_id: str,
    arn: str,
    region: str,
    function: LambdaFunction,
    account_id: str,
) -> dict[str, Any]:
    """One record in Lambda's Kinesis event shape (``data`` stays base64)."""
    arrival = record.get("ApproximateArrivalTimestamp", time.time())
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record["PartitionKey"],
            "sequenceNumber": record["SequenceNumber"],
            "data": record["Data"],
            "approximateArrivalTimestamp": float(arrival),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{record['SequenceNumber']}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": f"arn:aws:iam::{account_id}:role/{function.name}-role",
        "awsRegion": region,
        "eventSourceARN": arn,
    }


def _private_queue(sqs: Any, name: str) -> tuple[str, str]:
    """(URL, ARN) of a queue the gateway delivers SNS/EventBridge events through."""
    url = str(sqs.create_queue(QueueName=name)["QueueUrl"])
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return url, str(attributes["Attributes"]["QueueArn"])


def _sns_record(envelope: Mapping[str, Any], subscription: str) -> dict[str, Any]:
    """An SNS notification (as SNS delivers it to SQS) in Lambda's SNS event shape."""
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": subscription,
        "Sns": {
            "Type": envelope.get("Type", "Notification"),
            "MessageId": envelope.get("MessageId"),
            "TopicArn": envelope.get("TopicArn"),
            "Subject": envelope.get("Subject"),
            "Message": envelope.get("Message"),
            "Timestamp": envelope.get("Timestamp"),
            "SignatureVersion": envelope.get("SignatureVersion", "1"),
            "Signature": envelope.get("Signature", ""),
            "SigningCertUrl": envelope.get("SigningCertURL", ""),
            "UnsubscribeUrl": envelope.get("UnsubscribeURL", ""),
            "MessageAttributes": envelope.get("MessageAttributes") or {},
        },
    }


def _json_ready(value: Any) -> Any:
    """boto3's answer as Lambda's JSON: datetimes as epoch seconds, bytes as base64."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _schedulable(expression: str) -> bool:
    try:
        next_run(expression, datetime.now(UTC))
    except ValueError as exc:
        log.warning("schedule %s does not run locally: %s", expression, exc)
        return False
    return True


def _position(source: EventSource) -> str:
    """The shard iterator type for a stream source's ``StartingPosition``."""
    return "TRIM_HORIZON" if source.starting_position == "TRIM_HORIZON" else "LATEST"


def _setting(ready: asyncio.Event) -> Callable[[asyncio.Task[None]], None]:
    """A done callback: the source's setup is over (it failed, or the source stopped)."""

    def done(task: asyncio.Task[None]) -> None:
        ready.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("event source stopped: %r", task.exception())

    return done


def _what(source: EventSource) -> str:
    """What a source reads, for the startup lines."""
    return source.source_arn or source.schedule or source.bucket or f"rule {source.rule}"
