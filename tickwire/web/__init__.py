"""The browser page, served by the gateway on the same port as the WebSocket API.

:func:`routes` returns aiohttp routes that the composition root mounts through the
gateway's ``extra_routes``:

- ``GET /``: the page (``static/index.html``);
- ``GET /static/{name}``: the page's files, from a fixed list (nothing else in the
  package is reachable); ``protocol.js`` is the broadcaster's decoder module;
- ``GET /favicon.ico``: the page's icon (``static/favicon.svg``), which browsers ask
  for on every load;
- ``GET /config.json``: what the page needs to connect (the WebSocket URL, whether it
  may ask for tokens);
- ``GET /matches.json``: the running matches and their player counts, when a
  ``matches_provider`` is given (the page offers them to join or spectate);
- ``GET /token?match=M&player=P``: local mode only (``token_provider`` given), and only
  on a loopback listener (anyone who can reach it can be any player, so it must never
  face a network even when the server is bound wider): a signed token for that player
  in that match, so a new user can play without minting one.
  On AWS there is no token route: a game's own backend issues tokens.

``/metrics`` is the gateway's own path; :mod:`tickwire.metrics`'s Prometheus text is
appended there by the composition root, not served here.

Match and player ids are checked against :data:`ID_PATTERN` before a token is minted:
they end up in log lines, stream partition keys and JWT claims.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from aiohttp import web

__all__ = [
    "ID_PATTERN",
    "MAX_LISTED_MATCHES",
    "STATIC_FILES",
    "MatchesProvider",
    "TokenProvider",
    "WsUrlFor",
    "listener_is_loopback",
    "on_loopback",
    "routes",
]

# Ids a player may choose: what Kinesis allows in a partition key is far wider, but a
# short, URL- and log-safe alphabet keeps ids readable everywhere they appear.
ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
# name -> (path, content type). protocol.js lives next to this module (its owner's file).
STATIC_FILES: dict[str, tuple[Path, str]] = {
    "app.js": (STATIC_DIR / "app.js", "text/javascript"),
    "render.js": (STATIC_DIR / "render.js", "text/javascript"),
    "style.css": (STATIC_DIR / "style.css", "text/css"),
    "favicon.svg": (STATIC_DIR / "favicon.svg", "image/svg+xml"),
    "protocol.js": (HERE / "protocol.js", "text/javascript"),
}

TokenProvider = Callable[[str, str], str]
WsUrlFor = Callable[[web.Request], str]
# () -> {match id: players in it}; called per request, so it must be cheap and non-blocking.
MatchesProvider = Callable[[], Mapping[str, int]]
# Matches listed at most: the page shows a pick list, not a directory.
MAX_LISTED_MATCHES = 200


def _no_store(resp: web.StreamResponse) -> web.StreamResponse:
    # The page is tiny and changes with the package: never serve a stale copy.
    resp.headers["Cache-Control"] = "no-store"
    return resp


def listener_is_loopback(sockname: object) -> bool:
    """Whether a socket's local address (``getsockname()``) is a loopback one."""
    if not isinstance(sockname, tuple) or not sockname:
        return False  # a Unix socket, or unknown
    try:
        return ipaddress.ip_address(str(sockname[0]).partition("%")[0]).is_loopback
    except ValueError:
        return False


def on_loopback(request: web.Request) -> bool:
    """Whether ``request`` arrived at a loopback address: the local address its connection
    was accepted on (a listener on 0.0.0.0 accepts on each interface's own address), not
    the client's, which a proxy on the same machine would make loopback."""
    transport = request.transport
    return transport is not None and listener_is_loopback(transport.get_extra_info("sockname"))


def routes(
    token_provider: TokenProvider | None,
    ws_url_for: WsUrlFor,
    matches_provider: MatchesProvider | None = None,
) -> list[web.RouteDef]:
    """The page's routes. ``token_provider(match, player) -> JWT`` enables ``/token``;
    ``ws_url_for(request)`` gives the WebSocket URL the page connects to (no token);
    ``matches_provider()`` enables ``/matches.json``."""

    async def index(request: web.Request) -> web.StreamResponse:
        return _no_store(web.FileResponse(STATIC_DIR / "index.html"))

    async def static(request: web.Request) -> web.StreamResponse:
        entry = STATIC_FILES.get(request.match_info["name"])
        if entry is None or not entry[0].is_file():
            raise web.HTTPNotFound(text="no such file")
        path, content_type = entry
        return _no_store(
            web.Response(body=path.read_bytes(), content_type=content_type, charset="utf-8")
        )

    async def favicon(request: web.Request) -> web.StreamResponse:
        # Browsers ask for /favicon.ico whatever the page links; answer with the page's
        # icon rather than an error in the console on every load.
        path, content_type = STATIC_FILES["favicon.svg"]
        return web.Response(body=path.read_bytes(), content_type=content_type)

    async def config(request: web.Request) -> web.StreamResponse:
        return _no_store(
            web.json_response(
                {
                    "ws_url": ws_url_for(request),
                    "tokens": token_provider is not None and on_loopback(request),
                    "matches": matches_provider is not None,
                }
            )
        )

    async def token(request: web.Request) -> web.StreamResponse:
        if token_provider is None or not on_loopback(request):
            raise web.HTTPNotFound(text="tokens are issued by the game's backend, not here")
        match = request.query.get("match", "")
        player = request.query.get("player", "")
        for name, value in (("match", match), ("player", player)):
            if not ID_PATTERN.fullmatch(value):
                raise web.HTTPBadRequest(
                    text=f"{name} must be 1-64 characters of A-Z a-z 0-9 _ . -"
                )
        return _no_store(
            web.json_response(
                {"token": token_provider(match, player), "match": match, "player": player}
            )
        )

    async def matches(request: web.Request) -> web.StreamResponse:
        if matches_provider is None:
            raise web.HTTPNotFound(text="this server does not list its matches")
        listed = sorted(matches_provider().items(), key=lambda kv: (-kv[1], kv[0]))
        return _no_store(
            web.json_response([{"match": m, "players": n} for m, n in listed[:MAX_LISTED_MATCHES]])
        )

    return [
        web.get("/", index),
        web.get("/favicon.ico", favicon),
        web.get("/matches.json", matches),
        web.get("/static/{name}", static),
        web.get("/config.json", config),
        web.get("/token", token),
    ]
