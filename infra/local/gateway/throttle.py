"""Token buckets, route throttles and API keys (pure; the clock is passed in).

API Gateway throttles with the token bucket algorithm: a bucket of ``burst`` tokens
refilled at ``rate`` per second, one token per request. The account bucket is shared by
client messages and ``@connections`` calls; a second bucket limits new connections.
After routing, a request passes its route's gate (:func:`route_gates`): the API key of
an ``ApiKeyRequired`` route with its usage plan's per-key throttle, then the route's own
throttle (the stage's ``RouteSettings`` for it, else ``DefaultRouteSettings``; "Protect
your WebSocket APIs", route-level throttling).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from .errors import ConfigurationError
from .model import ApiKey, WebSocketApi

__all__ = ["FORBIDDEN", "TOO_MANY_REQUESTS", "ApiKeys", "RouteGate", "TokenBucket", "route_gates"]


class TokenBucket:
    """``take()`` is True when a token was available (the request may pass)."""

    __slots__ = ("_clock", "_last", "_tokens", "burst", "rate")

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def take(self) -> bool:
        now = self._clock()
        tokens = self._tokens + (now - self._last) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        self._last = now
        if tokens < 1.0:
            self._tokens = tokens
            return False
        self._tokens = tokens - 1.0
        return True

    def give_back(self) -> None:
        """Return one token taken for a request that, after all, does not count."""
        self._tokens = min(self.burst, self._tokens + 1.0)

    @property
    def tokens(self) -> float:
        """Tokens available now (refills first)."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        return self._tokens


# API Gateway's default API key selection expression for WebSocket APIs.
HEADER_API_KEY = "$request.header.x-api-key"
AUTHORIZER_API_KEY = "$context.authorizer.usageIdentifierKey"
# A gate's refusals: the message of the error frame (or $connect's status text).
FORBIDDEN = "Forbidden"
TOO_MANY_REQUESTS = "Too Many Requests"


class ApiKeys:
    """API keys and usage plans of one stage (``ApiKeyRequired`` routes).

    A key admits a request when it is enabled and belongs to a usage plan of the stage;
    the plan's throttle is a token bucket per key (usage plans throttle each key on its
    own). ``select`` reads a connection's key once, on $connect, with the API's
    ``ApiKeySelectionExpression``."""

    def __init__(self, api: WebSocketApi, clock: Callable[[], float] = time.monotonic) -> None:
        self.expression = api.api_key_selection_expression or HEADER_API_KEY
        if self.expression not in (HEADER_API_KEY, AUTHORIZER_API_KEY):
            raise ConfigurationError(
                f"ApiKeySelectionExpression {self.expression!r}: API Gateway takes "
                f"{HEADER_API_KEY} or {AUTHORIZER_API_KEY}"
            )
        planned = {key_id: plan for plan in api.usage_plans for key_id in plan.key_ids}
        self._by_value = {
            key.value: key for key in api.api_keys if key.enabled and key.key_id in planned
        }
        self._buckets: dict[str, TokenBucket] = {}
        for key in self._by_value.values():
            plan = planned[key.key_id]
            if plan.throttling_rate_limit and plan.throttling_burst_limit:
                self._buckets[key.key_id] = TokenBucket(
                    plan.throttling_rate_limit, plan.throttling_burst_limit, clock
                )

    def select(
        self, headers: Mapping[str, list[str]], authorizer: Mapping[str, Any] | None
    ) -> ApiKey | None:
        """The valid key the $connect request presents, or None."""
        if self.expression == HEADER_API_KEY:
            values = next((v for k, v in headers.items() if k.lower() == "x-api-key"), None)
            value = values[-1] if values else None
        else:
            found = (authorizer or {}).get("usageIdentifierKey")
            value = None if found is None else str(found)
        return None if value is None else self._by_value.get(value)

    def admit(self, key: ApiKey | None) -> str | None:
        """None when ``key`` may make one request now; else the refusal: ``Forbidden``
        (no valid key) or ``Too Many Requests`` (its usage plan's throttle)."""
        if key is None:
            return FORBIDDEN
        bucket = self._buckets.get(key.key_id)
        if bucket is not None and not bucket.take():
            return TOO_MANY_REQUESTS
        return None


class RouteGate:
    """What a request on one route must pass after routing: its API key (when the route
    has ``ApiKeyRequired``), then its route throttle (the stage's ``RouteSettings`` entry
    for the route, else its ``DefaultRouteSettings``: each route has its own bucket)."""

    __slots__ = ("api_keys", "bucket")

    def __init__(self, api_keys: ApiKeys | None, bucket: TokenBucket | None) -> None:
        self.api_keys = api_keys
        self.bucket = bucket

    def check(self, key: ApiKey | None) -> str | None:
        """None: pass; else ``Forbidden`` or ``Too Many Requests``."""
        if self.api_keys is not None:
            refusal = self.api_keys.admit(key)
            if refusal is not None:
                return refusal
        if self.bucket is not None and not self.bucket.take():
            return TOO_MANY_REQUESTS
        return None


def route_gates(
    api: WebSocketApi, clock: Callable[[], float] = time.monotonic
) -> dict[str, RouteGate]:
    """The gate of every route that has one (routes without a key requirement or a
    throttle are absent: nothing is checked for them)."""
    stage = api.stage
    needs_keys = any(route.api_key_required for route in api.routes.values())
    api_keys = ApiKeys(api, clock) if needs_keys else None
    gates: dict[str, RouteGate] = {}
    for key, route in api.routes.items():
        throttle = stage.route_settings.get(key)
        bucket = None
        if throttle is not None:
            bucket = TokenBucket(throttle.rate_limit, throttle.burst_limit, clock)
        elif stage.throttling_rate_limit and stage.throttling_burst_limit:
            bucket = TokenBucket(stage.throttling_rate_limit, stage.throttling_burst_limit, clock)
        keys = api_keys if route.api_key_required else None
        if bucket is not None or keys is not None:
            gates[key] = RouteGate(keys, bucket)
    return gates
