"""The exceptions of :mod:`ingest` and of the stream implementations behind
:class:`ingest.stream.Stream`.

Tree::

    IngestError
    ├── RecordError            a stream record that does not decode (has ``.reason``)
    └── StreamError            a stream operation failed
        ├── StreamNotFound     no stream / shard of that name (Kinesis ResourceNotFoundException)
        ├── InvalidArgument    a malformed request (Kinesis InvalidArgumentException)
        │   └── RecordTooLarge the record is over the 1 MiB Kinesis data limit
        ├── ThroughputExceeded over a shard's write or read limit
        │                      (Kinesis ProvisionedThroughputExceededException)
        ├── ExpiredIterator    the shard iterator is older than its lifetime
        │                      (Kinesis ExpiredIteratorException)
        └── StreamUnavailable  any other service or transport failure

Adapters translate SDK errors into these and chain them with ``raise ... from``.
"""

from __future__ import annotations

__all__ = [
    "ExpiredIterator",
    "IngestError",
    "InvalidArgument",
    "RecordError",
    "RecordTooLarge",
    "StreamError",
    "StreamNotFound",
    "StreamUnavailable",
    "ThroughputExceeded",
]


class IngestError(Exception):
    """Root of every exception raised by :mod:`ingest` and the stream adapters."""


class RecordError(IngestError):
    """A stream record is invalid. ``reason`` is one of :data:`ingest.records.REASONS`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class StreamError(IngestError):
    """A stream operation failed. ``error_type`` is the Kinesis error code it stands for."""

    error_type = "InternalFailure"


class StreamNotFound(StreamError):
    error_type = "ResourceNotFoundException"


class InvalidArgument(StreamError):
    error_type = "InvalidArgumentException"


class RecordTooLarge(InvalidArgument):
    pass


class ThroughputExceeded(StreamError):
    error_type = "ProvisionedThroughputExceededException"


class ExpiredIterator(StreamError):
    error_type = "ExpiredIteratorException"


class StreamUnavailable(StreamError):
    error_type = "InternalFailure"
