"""Per-player views and deltas, msgpack messages under 32 KB, and the @connections fan-out."""
