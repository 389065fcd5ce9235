"""``tickwire gateway``'s flag handling (the serving itself is the Gateway's tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tickwire.cli import build_parser
from tickwire.commands.gateway import build_settings, load_api


def test_quota_flags_become_settings():
    args = build_parser().parse_args(
        [
            "gateway",
            "--api",
            "examples.chat.api:chat_api",
            "--idle-timeout-s",
            "30",
            "--account-burst",
            "100",
            "--no-require-signature",
            "--post-frame-type",
            "binary",
        ]
    )
    settings = build_settings(args)
    assert (settings.idle_timeout_s, settings.account_burst) == (30.0, 100)
    assert settings.require_signature is False and settings.post_frame_type == "binary"
    assert settings.max_frame_bytes == 32 * 1024  # untouched: AWS's default


REPO = Path(__file__).resolve().parents[4]


def test_load_api_from_module_attribute_and_stage_override():
    args = build_parser().parse_args(
        ["gateway", "--api", "examples.chat.api:chat_api", "--stage", "dev", "--app-dir", str(REPO)]
    )
    api = load_api(args)
    assert api.stage.name == "dev"
    assert set(api.routes) == {"$connect", "$disconnect", "sendmessage"}


def test_bad_api_is_a_clear_error():
    with pytest.raises(ValueError, match="module:attribute"):
        load_api(build_parser().parse_args(["gateway", "--api", "nothing"]))
    assert (
        build_parser()
        .parse_args(["gateway", "--api", "x:y"])
        .func(build_parser().parse_args(["gateway", "--api", "no_such_module:api"]))
        == 2
    )
