"""The tick-based authoritative engine: rules, reference game, scheduler, leases, snapshots."""
