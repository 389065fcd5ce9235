"""The link between the gateway process and engine processes of a split ``tickwire up``.

Theory of operation. On AWS the engine reaches the gateway through two services: it reads
records from Kinesis and posts state to ``@connections``; its leases and snapshots live in
DynamoDB. When ``tickwire up`` runs the engine in processes of its own, the gateway
process keeps those services (the embedded stream, the embedded tables and the
connections) and serves them to each engine process over one Unix socket, the *link*:

- the engine calls the stream and the tables as remote procedures
  (:class:`~infra.local.link.client.LinkStream`, ``LinkLeaseTable``,
  ``LinkSnapshotStore`` implement the very interfaces the AWS adapters implement, so
  the worker runs the code path it runs on AWS);
- the broadcaster's posts of one send tick travel as *one* message
  (:class:`~infra.local.link.client.LinkClient.post`), and the gateway posts each with the
  same checks and metering as ``POST @connections`` (:meth:`Gateway.post_now`); posts
  that fail (410, 413, 429) come back as one report, and the broadcaster sees each
  failure on its next post to that connection;
- once a second the engine sends a report of its figures (:func:`tickwire.exporter.engine_report`),
  which the gateway serves at ``/metrics`` and on the page.

The bytes on the socket are a sequence of msgpack arrays, each ``[kind, ...]``
(:mod:`infra.local.link.wire`). Why a Unix socket: the traffic is one message per send
tick one way (~26 KB for 400 players: packing and writing it measured ~210 us) and a few
hundred small calls a second the other, so the transport is not where the time goes
(P10's profile); a socket also keeps the seam one that could cross machines (TCP) later.
Shared memory was not tried.
"""

from infra.local.link.client import (
    LinkClient,
    LinkLeaseTable,
    LinkSnapshotStore,
    LinkStream,
)
from infra.local.link.server import LinkServer

__all__ = ["LinkClient", "LinkLeaseTable", "LinkServer", "LinkSnapshotStore", "LinkStream"]
