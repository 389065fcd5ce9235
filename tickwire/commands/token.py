"""``tickwire token``: mint a player token for local play and tests."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ingest.tokens import mint, resolve_secret


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "token",
        help="mint a player token (JWT) for a match",
        description="Print an HS256 token for --player in --match. The secret is --secret, "
        "else TICKWIRE_JWT_SECRET, else the local dev secret in ~/.tickwire/jwt-secret.",
    )
    parser.add_argument("--match", required=True, help="match id (the token's 'match' claim)")
    parser.add_argument("--player", required=True, help="player id (the token's 'sub' claim)")
    parser.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (3600)")
    parser.add_argument("--secret", default=None, help="HMAC secret (default: see above)")
    parser.add_argument("--audience", default="tickwire", help="'aud' claim (tickwire)")
    parser.add_argument("--issuer", default="tickwire", help="'iss' claim (tickwire)")
    parser.add_argument("--state-dir", type=Path, default=None, help="where the dev secret lives")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    secret = resolve_secret(args.secret, args.state_dir)
    try:
        token = mint(
            secret,
            match=args.match,
            player=args.player,
            ttl=args.ttl,
            audience=args.audience,
            issuer=args.issuer,
        )
    except ValueError as exc:
        print(f"tickwire token: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0
