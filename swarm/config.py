"""The settings of one swarm run (a frozen, picklable dataclass shared by every process)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from swarm.behaviour import BEHAVIOURS
from swarm.errors import ConfigError
from swarm.settings import (
    ACK_TIMEOUT_S,
    CONNECT_TIMEOUT_S,
    CONNECTION_DURATION_LIMIT_S,
    INTERVAL_S,
    MAX_NEW_CONNECTIONS_PER_S,
    PACER_HZ,
)

__all__ = ["SwarmConfig"]

# Where the header peek lives by default (the broadcaster's codec, docs/protocol.md).
DEFAULT_PEEK = "broadcaster.codec:peek_header"
# The reference game's simulation rate, used to turn tick numbers into time when a
# header carries no server timestamp (see swarm.bot).
DEFAULT_TICK_HZ = 30.0


@dataclass(frozen=True)
class SwarmConfig:
    url: str
    bots: int
    matches: int
    duration_s: float
    ramp_s: float = 0.0
    input_hz: float = 10.0
    procs: int = 1
    # Run the bots in child processes even when procs == 1 (keeps them off the caller's
    # event loop, e.g. when the caller serves the game in the same process).
    spawn: bool = False
    secret: str | None = None
    token_url: str | None = None
    audience: str = "tickwire"
    issuer: str = "tickwire"
    behaviour: str = "wander"
    max_connect_rate: float = MAX_NEW_CONNECTIONS_PER_S
    interval_s: float = INTERVAL_S
    connect_timeout_s: float = CONNECT_TIMEOUT_S
    ack_timeout_s: float = ACK_TIMEOUT_S
    tick_hz: float = DEFAULT_TICK_HZ
    peek: str = DEFAULT_PEEK
    run_id: str = field(default_factory=lambda: secrets.token_hex(3))
    match_prefix: str = "swarm"
    seed: int | None = None

    def __post_init__(self) -> None:
        # Messages name the `tickwire swarm` flag of each field.
        url = urlsplit(self.url)
        if url.scheme not in ("ws", "wss") or not url.netloc:
            raise ConfigError(f"--url must be a ws:// or wss:// URL, got {self.url!r}")
        if not url.path.strip("/"):
            # Without the stage every upgrade goes to the wrong resource (tickwire up
            # answers its page with 200): every bot would fail for the whole schedule.
            raise ConfigError(
                f"--url {self.url!r} lacks the API stage: add it as the path, as in "
                f"{url.scheme}://{url.netloc}/local (tickwire up) or .../prod (a stack)"
            )
        if self.bots < 1:
            raise ConfigError(f"--bots must be >= 1, got {self.bots}")
        if not 1 <= self.matches <= self.bots:
            raise ConfigError(
                f"--matches must be between 1 and --bots ({self.bots}), got {self.matches}"
            )
        if self.duration_s <= 0:
            raise ConfigError(f"--duration must be > 0 s, got {self.duration_s}")
        if self.duration_s + self.ramp_s > CONNECTION_DURATION_LIMIT_S:
            raise ConfigError(
                "--duration plus --ramp is longer than AWS's 2 h connection limit, which "
                "would cut the run"
            )
        if not 0 < self.input_hz <= PACER_HZ:
            raise ConfigError(f"--input-hz must be in (0, {PACER_HZ:g}], got {self.input_hz}")
        if self.procs < 1:
            raise ConfigError(f"--procs must be >= 1, got {self.procs}")
        if self.procs > self.bots:
            raise ConfigError(f"--procs ({self.procs}) must not exceed --bots ({self.bots})")
        if self.secret is None and self.token_url is None:
            raise ConfigError(
                "bots need tokens: give --secret (or TICKWIRE_JWT_SECRET) or --token-url"
            )
        if self.behaviour not in BEHAVIOURS:
            raise ConfigError(f"--behaviour must be one of {', '.join(BEHAVIOURS)}")
        for flag, value in (
            ("--max-connect-rate", self.max_connect_rate),
            ("--interval", self.interval_s),
            ("--tick-rate", self.tick_hz),
        ):
            if value <= 0:
                raise ConfigError(f"{flag} must be > 0, got {value:g}")

    def match_of(self, bot: int) -> str:
        """The match of global bot number ``bot``: bots fill matches round-robin."""
        return f"{self.match_prefix}-{self.run_id}-{bot % self.matches}"

    def player_of(self, bot: int) -> str:
        return f"bot-{self.run_id}-{bot}"

    def bots_of(self, proc: int) -> range:
        """The global bot numbers process ``proc`` runs."""
        return range(proc, self.bots, self.procs)
