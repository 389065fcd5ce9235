"""The tick-based authoritative engine.

Modules (pure ones first; only :mod:`~game_engine.consumer` and :mod:`~game_engine.worker`
do I/O, through the interfaces below):

- :mod:`~game_engine.rules`: the rules interface (hooks over a structure of arrays with a
  match index) and :class:`~game_engine.rules.World`;
- :mod:`~game_engine.arena`: the reference game;
- :mod:`~game_engine.events`, :mod:`~game_engine.engine`: the engine core (ordering,
  idempotency, lifecycle, frames, snapshots);
- :mod:`~game_engine.replay`: a takeover's fast-forward from snapshots and records to now;
- :mod:`~game_engine.scheduler`, :mod:`~game_engine.lease_balancing`: tick clock, lease balancing;
- :mod:`~game_engine.frame`: what the broadcaster gets (shared contract);
- :mod:`~game_engine.leases`, :mod:`~game_engine.snapshots`: the table interfaces
  (embedded: :mod:`infra.local.tables`; DynamoDB: :mod:`infra.aws.dynamodb`);
- :mod:`~game_engine.consumer`, :mod:`~game_engine.worker`: reading shards, the worker;
- :mod:`~game_engine.errors`: the exception tree (root :class:`~game_engine.errors.EngineError`).

This package imports nothing on import, so ``game_engine.frame`` stays cheap to load.
"""
