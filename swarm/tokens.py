"""Where bots get their tokens: minted from the shared secret, or fetched from a URL.

- :class:`SecretTokens` mints a JWT per bot with ``ingest.tokens.mint`` (the same claims
  the authorizer checks), for a local ``tickwire up`` or a stack whose secret you hold.
- :class:`UrlTokens` asks a token service: ``GET {url}?match=M&player=P``; the answer is
  either JSON ``{"token": "..."}`` or the token as plain text. Non-2xx answers raise
  :class:`~swarm.errors.TokenError`; the bot counts it as ``token:<status>``.
"""

from __future__ import annotations

from typing import Protocol

import aiohttp

from swarm.errors import TokenError

__all__ = ["SecretTokens", "TokenSource", "UrlTokens"]

# Token lifetime: a run plus its ramp must fit; AWS cuts connections at 2 h anyway.
TOKEN_TTL_S = 3 * 3600


class TokenSource(Protocol):
    async def token(self, *, match: str, player: str) -> str: ...


class SecretTokens:
    def __init__(
        self,
        secret: str,
        *,
        audience: str = "tickwire",
        issuer: str = "tickwire",
        ttl: int = TOKEN_TTL_S,
    ) -> None:
        from ingest.tokens import mint  # imported late: the ingest package is optional here

        self._mint = mint
        self.secret, self.audience, self.issuer, self.ttl = secret, audience, issuer, ttl

    async def token(self, *, match: str, player: str) -> str:
        try:
            return str(
                self._mint(
                    self.secret,
                    match=match,
                    player=player,
                    ttl=self.ttl,
                    audience=self.audience,
                    issuer=self.issuer,
                )
            )
        except ValueError as exc:  # an id the authorizer would refuse
            raise TokenError("token:invalid-id") from exc


class UrlTokens:
    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url, self.session = url, session

    async def token(self, *, match: str, player: str) -> str:
        try:
            async with self.session.get(
                self.url, params={"match": match, "player": player}
            ) as resp:
                text = await resp.text()
                if resp.status // 100 != 2:
                    raise TokenError(f"token:{resp.status}")
                if resp.content_type == "application/json":
                    value = (await resp.json()).get("token")
                    if not isinstance(value, str):
                        raise TokenError("token:malformed")
                    return value
                return text.strip()
        except aiohttp.ClientError as exc:
            raise TokenError(f"token:{type(exc).__name__}") from exc
