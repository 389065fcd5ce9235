"""Per-player views and deltas, msgpack framing under 32 KB, and the @connections fan-out."""
