"""The three Connections implementations against the real local gateway (one contract),
and the AWS-wire signatures checked by a server that verifies them with botocore."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from botocore.credentials import RefreshableCredentials

from broadcaster.connections.aws_wire import AwsWireConnections
from broadcaster.connections.direct import DirectConnections
from broadcaster.connections.sdk import SdkConnections
from broadcaster.errors import ConnectionGone, Forbidden, PayloadTooLarge, Throttled
from infra.local.gateway import GatewaySettings

KINDS = ["direct", "aws_wire", "sdk"]


def _make(kind: str, gw: Any, endpoint: str | None = None) -> Any:
    url = endpoint or gw.management_url
    if kind == "direct":
        return DirectConnections(gw)
    if kind == "aws_wire":
        return AwsWireConnections(url, "us-east-1")
    return SdkConnections(url, "us-east-1")


@pytest.mark.parametrize("kind", KINDS)
async def test_post_delivers_and_errors_translate(kind: str, build: Any, live: Any) -> None:
    async with live.gateway() as gw, aiohttp.ClientSession() as session:
        client = await live.connect(session, gw)
        conns = _make(kind, gw)
        try:
            payload = b"\x92\xc4\x18" + bytes(range(256)) * 3
            await conns.post(client.connection_id, payload)
            for _ in range(3000):  # the client's reader records what arrives
                if client.raw:
                    break
                await asyncio.sleep(0.01)
            assert client.raw == [payload]
            with pytest.raises(ConnectionGone) as gone:
                await conns.post("AAAAAAAAAAAAAAA=", b"\x95x")
            assert gone.value.status == 410 and gone.value.connection_id == "AAAAAAAAAAAAAAA="
            with pytest.raises(PayloadTooLarge) as big:
                await conns.post(client.connection_id, b"\x95" * 131_073)
            assert big.value.status == 413
            if kind != "aws_wire":
                assert gone.value.__cause__ is not None and big.value.__cause__ is not None
        finally:
            await conns.close()
            await client.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_throttled_posts_raise_throttled(kind: str, live: Any) -> None:
    settings = GatewaySettings(account_rate_per_s=1.0, account_burst=3)
    async with live.gateway(settings) as gw:
        conns = _make(kind, gw)
        try:
            with pytest.raises(Throttled) as info:
                for _ in range(10):
                    try:
                        await conns.post("AAAAAAAAAAAAAAA=", b"\x95x")
                    except ConnectionGone:
                        pass
            assert info.value.status == 429 and info.value.error_type == "LimitExceededException"
        finally:
            await conns.close()


@pytest.mark.parametrize("kind", ["aws_wire", "sdk"])
async def test_wrong_stage_is_forbidden(kind: str, live: Any) -> None:
    async with live.gateway() as gw:
        conns = _make(kind, gw, endpoint=f"{gw.url}/not-the-stage")
        try:
            with pytest.raises(Forbidden) as info:
                await conns.post("AAAAAAAAAAAAAAA=", b"\x95x")
            assert info.value.status == 403
        finally:
            await conns.close()


async def test_direct_and_wire_deliver_the_same_bytes_in_order(live: Any) -> None:
    async with live.gateway() as gw, aiohttp.ClientSession() as session:
        client = await live.connect(session, gw)
        cid = client.connection_id
        sent = []
        for i, kind in enumerate(KINDS):
            conns = _make(kind, gw)
            for j in range(5):
                data = bytes([0x95, i, j]) + b"\xff" * (j * 1000)
                await conns.post(cid, data)
                sent.append(data)
            await conns.close()
        for _ in range(3000):
            if len(client.raw) >= len(sent):
                break
            await asyncio.sleep(0.01)
        assert client.raw == sent
        await client.close()


# -- a server that verifies every signature with botocore -----------------------------------
class Verifier:
    def __init__(self) -> None:
        self.valid = 0
        self.invalid: list[str] = []
        self.keys: set[str] = set()
        self.secrets = {"AKID1": "secret-one", "AKID2": "secret-two"}

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        auth = request.headers.get("Authorization", "")
        key = auth.split("Credential=", 1)[1].split("/", 1)[0] if "Credential=" in auth else ""
        token = request.headers.get("X-Amz-Security-Token")
        check = AWSRequest(method="POST", url=f"http://{request.host}{request.raw_path}", data=body)
        check.context["timestamp"] = request.headers.get("X-Amz-Date", "")
        signer = SigV4Auth(
            BotoCredentials(key, self.secrets.get(key, "?"), token), "execute-api", "eu-west-1"
        )
        signer._modify_request_before_signing(check)
        canonical = signer.canonical_request(check)
        signer._inject_signature_to_request(
            check, signer.signature(signer.string_to_sign(check, canonical), check)
        )
        if check.headers["Authorization"] != auth:
            self.invalid.append(request.raw_path)
            return web.Response(status=403, headers={"x-amzn-ErrorType": "ForbiddenException"})
        self.valid += 1
        self.keys.add(key)
        return web.Response(status=200)


@pytest.fixture
async def verifier(unused_port: int) -> AsyncIterator[tuple[Verifier, str]]:
    v = Verifier()
    app = web.Application()
    app.router.add_post("/{stage}/@connections/{id}", v.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_port).start()
    try:
        yield v, f"http://127.0.0.1:{unused_port}/prod"
    finally:
        await runner.cleanup()


async def test_every_wire_request_verifies_with_botocore_and_credentials_refresh(
    verifier: tuple[Verifier, str],
) -> None:
    v, endpoint = verifier
    calls = {"n": 0}

    def refresh() -> dict[str, str]:
        calls["n"] += 1
        key = "AKID1" if calls["n"] == 1 else "AKID2"
        # botocore refreshes 15 minutes before expiry (its advisory window): the first
        # credentials come due 1.5 s into the test
        expiry = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=901.5 if calls["n"] == 1 else 3600)
        return {
            "access_key": key,
            "secret_key": v.secrets[key],
            "token": f"tok{calls['n']}",
            "expiry_time": expiry.isoformat(),
        }

    creds = RefreshableCredentials.create_from_metadata(refresh(), refresh, "test")
    conns = AwsWireConnections(endpoint, "eu-west-1", credentials=creds)
    try:
        ids = ["R0oXAdfD0kwCH6w=", "a/b+c", "%40x", "üñí", "-_.~"]
        await asyncio.gather(*(conns.post(ids[i % 5], bytes([i % 256]) * i) for i in range(200)))
        for _ in range(40):
            await asyncio.sleep(0.1)
            await conns.post("later", b"x")
            if "AKID2" in v.keys:
                break
    finally:
        await conns.close()
    assert v.invalid == [] and v.valid >= 201
    assert v.keys == {"AKID1", "AKID2"}
