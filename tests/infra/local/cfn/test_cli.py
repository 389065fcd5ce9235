"""Flags for running a template locally (used by ``tickwire gateway --template``)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from infra.local.cfn import TemplateError
from infra.local.cfn.cli import (
    add_template_arguments,
    describe,
    load_from_args,
    parse_pairs,
    pick_api,
)

CHAT = Path(__file__).resolve().parents[4] / "examples" / "chat" / "template.yaml"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_template_arguments(parser)
    return parser.parse_args(argv)


def test_no_template_means_no_load() -> None:
    assert load_from_args(parse()) is None


def test_chat_template_with_parameters() -> None:
    args = parse("--template", str(CHAT), "--parameter", "StageName=qa", "--stack-name", "demo")
    loaded = load_from_args(args)
    assert loaded is not None
    api = pick_api(loaded, None)
    assert api.stage.name == "qa" and api.name == "demo-chat"
    assert pick_api(loaded, "ChatApi") is api
    with pytest.raises(TemplateError, match="Nope"):
        pick_api(loaded, "Nope")
    lines = describe(loaded, api)
    assert lines[0] == "API demo-chat (stage qa): routes $connect, $disconnect, sendmessage"
    assert "table demo-ConnectionsTable: key connectionId" in lines
    assert any(line.startswith("not run locally: 4 resource(s)") for line in lines)


def test_code_paths_and_bad_pairs(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="Nope"):
        load_from_args(parse("--template", str(CHAT), "--code-path", f"Nope={tmp_path}"))
    with pytest.raises(ValueError, match="--code-path takes KEY=VALUE"):
        parse_pairs(["novalue"], "--code-path")
    assert parse_pairs(["A=1", "B=x=y", "C="], "-p") == {"A": "1", "B": "x=y", "C": ""}


async def test_aws_endpoint_url_takes_the_account_and_the_resources(moto_reset: str) -> None:
    """--aws-endpoint-url: the account is the one STS there names (moto's default), and
    the template's resources are created there, readable with the process's credentials."""
    import asyncio

    import boto3

    from infra.local.cfn.cli import services_from_args

    args = parse("--template", str(CHAT), "--aws-endpoint-url", moto_reset, "--stack-name", "ext")
    loaded = load_from_args(args)
    assert loaded is not None
    table = loaded.resources["ConnectionsTable"]
    assert table.arn == "arn:aws:dynamodb:us-east-1:123456789012:table/ext-ConnectionsTable"
    services = await asyncio.to_thread(services_from_args, args)
    try:
        assert args.template_aws.embedded_aws is None  # nothing embedded: the endpoint
        dynamodb = boto3.client("dynamodb", endpoint_url=moto_reset, region_name="us-east-1")
        assert dynamodb.describe_table(TableName=table.name)["Table"]["TableArn"] == table.arn
        assert services["dynamodb"].base_url == moto_reset
    finally:
        await args.template_aws.stop()
