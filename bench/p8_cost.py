"""P8: what the AWS bill counts per player: @connections calls per player per second, and
32 KB metering units per message, measured from the local gateway's metering during a
swarm run against ``tickwire up``.

Baseline: the send rate (20 Hz state), the figure it must equal: one ``@connections``
call per player per send tick, never more; and exactly 1 metered unit per message (no
message over 32 KB). Measured in the same run, repeated ``--reps`` times (median, spread):

- calls per player-second = gateway ``messages_out`` / connection-seconds (the gateway's
  own sum of connection ages), so ramp-up and shutdown do not skew it;
- the same seen by the bots (state messages received per bot per measured second);
- units per message = (units_in + units_out) / (messages_in + messages_out).

    python bench/p8_cost.py [--quick] [--bots 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from typing import Any

from swarm.config import SwarmConfig
from swarm.report import build_report
from swarm.runner import run_swarm

SEND_HZ = 20.0
MATCH_SIZE = 16
# Ratio band that counts as "exactly the send rate": connection-seconds include the
# handshake and the close, a few ms per connection in which no state is sent.
TOLERANCE = 0.03


def find_metering(game: Any) -> Any:
    """The local gateway's :class:`infra.local.gateway.metering.Metering` of the game."""
    from infra.local.gateway.metering import Metering

    for path in ("metering", "metrics", "gateway.metrics", "gateway.metering"):
        obj = game
        for part in path.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, Metering):
            return obj
    raise SystemExit("cannot find the gateway's Metering on the EmbeddedGame")


async def one_run(args: argparse.Namespace) -> dict[str, Any]:
    from tickwire.embedded import EmbeddedGame

    async with EmbeddedGame(port=0) as game:
        metering = find_metering(game)
        config = SwarmConfig(
            url=game.ws_url,
            bots=args.bots,
            matches=-(-args.bots // MATCH_SIZE),
            duration_s=args.measure,
            secret=game.jwt_secret,
            spawn=True,
            interval_s=2.0,
        )
        result = await run_swarm(config)
        report = build_report(result)
        await asyncio.sleep(1.0)  # let the gateway account for the closes
        seconds = metering.closed_connection_seconds
        messages = metering.messages_in + metering.messages_out
        return {
            "calls_per_player_s": metering.messages_out / seconds if seconds else 0.0,
            "bot_view_per_player_s": report["summary"]["msgs_in_per_s"] / args.bots,
            "units_per_message": (metering.units_in + metering.units_out) / messages,
            "errors": float(report["summary"]["error_count"]),
            "error_kinds": report["summary"]["errors"],  # type: ignore[dict-item]
        }


async def main(args: argparse.Namespace) -> int:
    if args.quick:
        args.measure, args.reps = 6.0, 2
    runs = [await one_run(args) for _ in range(args.reps)]
    calls = [r["calls_per_player_s"] for r in runs]
    seen = [r["bot_view_per_player_s"] for r in runs]
    units = [r["units_per_message"] for r in runs]
    med = statistics.median(calls)
    print(
        f"P8 ({args.bots} bots, {args.measure:g} s, {args.reps} reps; baseline = send rate {SEND_HZ:g} Hz)"
    )
    print(
        f"  @connections calls per player per s: {med:.2f} (spread {min(calls):.2f}..{max(calls):.2f}) "
        f"= {med / SEND_HZ:.3f} x the send rate; bots saw {statistics.median(seen):.2f}/s"
    )
    print(
        f"  metered 32 KB units per message: {statistics.median(units):.4f} (max {max(units):.4f})"
    )
    ok = abs(med / SEND_HZ - 1.0) <= TOLERANCE and max(units) == 1.0
    errors = sum(r["errors"] for r in runs)
    kinds = [r["error_kinds"] for r in runs if r["error_kinds"]]
    print(f"P8: {'PASS' if ok else 'FAIL'} (errors during the runs: {errors:.0f} {kinds})")
    return 0 if ok else 1


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true")
    p.add_argument(
        "--bots",
        type=int,
        default=48,
        help="keep under P7's capacity: an overloaded server merges sends",
    )
    p.add_argument("--measure", type=float, default=20.0)
    p.add_argument("--reps", type=int, default=3)
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
