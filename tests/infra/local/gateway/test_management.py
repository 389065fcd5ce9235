"""@connections through real boto3/aioboto3 clients and raw HTTP (design note: management API)."""

from __future__ import annotations

import asyncio

import aioboto3
import aiohttp
import pytest
from yarl import URL

from infra.local.gateway import GatewaySettings, GoneException, PayloadTooLargeException
from infra.local.gateway.credentials import local_credentials
from infra.local.gateway.model import Route


def signed(method: str, url: str, body: bytes = b"", keys: tuple[str, str] | None = None) -> dict:
    """Headers of a request signed as botocore signs @connections calls (SigV4,
    execute-api), with the test environment's keys unless ``keys`` are given."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=url, data=body)
    SigV4Auth(Credentials(*(keys or ("testing", "testing"))), "execute-api", "us-east-1").add_auth(
        request
    )
    return dict(request.headers.items())


async def test_post_get_delete_with_boto3(kit, event_log):
    api = kit.api_with(Route("$disconnect", kit.proxy(kit.function("disc", "ok"))))
    async with kit.running(api) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url, headers={"User-Agent": "agent/1"}) as ws:
            cid = await kit.connection_id_of(ws)
            client = kit.management_client(gw)
            await asyncio.to_thread(client.post_to_connection, ConnectionId=cid, Data=b"hello")
            msg = await ws.receive(timeout=10)
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.TEXT, "hello")
            info = await asyncio.to_thread(client.get_connection, ConnectionId=cid)
            assert info["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "agent/1"}
            assert info["ConnectedAt"] <= info["LastActiveAt"]
            answer = await asyncio.to_thread(client.delete_connection, ConnectionId=cid)
            assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
            msg = await ws.receive(timeout=10)
            assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1000
        entry = await event_log.wait_for(
            lambda e: e["event"]["requestContext"]["eventType"] == "DISCONNECT"
        )
        ctx = entry["event"]["requestContext"]
        assert (ctx["disconnectStatusCode"], ctx["disconnectReason"]) == (
            1000,
            "Connection Closed Normally",
        )
        with pytest.raises(client.exceptions.GoneException):
            await asyncio.to_thread(client.post_to_connection, ConnectionId=cid, Data=b"late")


async def test_unknown_and_closed_ids_are_gone(kit):
    async with kit.running(kit.api_with()) as gw, aiohttp.ClientSession() as session:
        client = kit.management_client(gw)
        for op, kwargs in (
            (client.post_to_connection, {"Data": b"x"}),
            (client.get_connection, {}),
            (client.delete_connection, {}),
        ):
            with pytest.raises(client.exceptions.GoneException) as info:
                await asyncio.to_thread(op, ConnectionId="R0oXAdfD0kwCH6w=", **kwargs)
            assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410
        ws = await session.ws_connect(gw.ws_url)
        cid = await kit.connection_id_of(ws)
        await ws.close()
        with pytest.raises(client.exceptions.GoneException):
            for _ in range(100):  # the close is processed asynchronously
                await asyncio.to_thread(client.post_to_connection, ConnectionId=cid, Data=b"x")
                await asyncio.sleep(0.05)


async def test_payload_limit_is_131072_bytes(kit):
    async with kit.running(kit.api_with()) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url, max_msg_size=0) as ws:
            cid = await kit.connection_id_of(ws)
            client = kit.management_client(gw)
            await asyncio.to_thread(
                client.post_to_connection, ConnectionId=cid, Data=b"a" * 131_072
            )
            assert len((await ws.receive(timeout=10)).data) == 131_072
            with pytest.raises(client.exceptions.PayloadTooLargeException) as info:
                await asyncio.to_thread(
                    client.post_to_connection, ConnectionId=cid, Data=b"a" * 131_073
                )
            assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
            with pytest.raises(PayloadTooLargeException) as direct:
                await gw.post_to_connection(cid, b"a" * 131_073)
            assert (direct.value.status, direct.value.error_type) == (
                413,
                "PayloadTooLargeException",
            )


async def test_url_encoded_path_and_aioboto3(kit):
    async with kit.running(kit.api_with()) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url) as ws:
            cid = await kit.connection_id_of(ws)
            encoded = cid.replace("=", "%3D")
            url = f"{gw.url}/local/%40connections/{encoded}"
            # encoded=True: sent exactly as signed (yarl would turn %40 back into @).
            async with session.get(URL(url, encoded=True), headers=signed("GET", url)) as r:
                assert r.status == 200
                assert set(await r.json()) == {"connectedAt", "identity", "lastActiveAt"}
            async with aioboto3.Session().client(
                "apigatewaymanagementapi", endpoint_url=gw.management_url, region_name="us-east-1"
            ) as client:
                await client.post_to_connection(ConnectionId=cid, Data=b"\x82\xa1a\x01")
                msg = await ws.receive(timeout=10)
                # Not valid UTF-8: delivered as a binary frame (post_frame_type "auto").
                assert (msg.type, msg.data) == (aiohttp.WSMsgType.BINARY, b"\x82\xa1a\x01")
                with pytest.raises(client.exceptions.GoneException):
                    await client.post_to_connection(ConnectionId="nope", Data=b"x")


_FAKE_SIGV4 = (
    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/execute-api/aws4_request, "
    "SignedHeaders=host, Signature=0"
)


async def test_unsigned_calls_and_wrong_stage_are_forbidden(kit):
    async with kit.running(kit.api_with()) as gw, aiohttp.ClientSession() as session:
        async with session.post(f"{gw.url}/local/@connections/abc", data=b"x") as r:
            assert r.status == 403
            assert r.headers["x-amzn-ErrorType"] == "ForbiddenException"
        other = f"{gw.url}/other/@connections/abc"
        async with session.post(other, data=b"x", headers=signed("POST", other, b"x")) as r:
            assert r.status == 403
        url = f"{gw.url}/local/@connections/abc"
        async with session.post(url, data=b"x", headers=signed("POST", url, b"x")) as r:
            assert r.status == 410
            assert r.headers["x-amzn-ErrorType"] == "GoneException"


async def test_signatures_are_verified_by_default(kit, tmp_path):
    """Any AWS4-HMAC-SHA256-shaped header used to pass; now the signature must verify
    against a key the gateway knows: its process's, or the local pair it prints."""
    async with kit.running(kit.api_with()) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url) as ws:
            cid = await kit.connection_id_of(ws)
            url = f"{gw.url}/local/@connections/{cid}"
            for method in ("POST", "GET", "DELETE"):
                async with session.request(
                    method, url, data=b"x", headers={"Authorization": _FAKE_SIGV4}
                ) as r:
                    assert r.status == 403, method
                    assert r.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
                    assert "message" in await r.json()
                stranger = signed(method, url, b"x", keys=("AKIDSTRANGER", "secret"))
                async with session.request(method, url, data=b"x", headers=stranger) as r:
                    assert r.status == 403, method
            local = local_credentials(gw.state_dir)
            keys = (local.access_key_id, local.secret_access_key)
            async with session.post(url, data=b"hi", headers=signed("POST", url, b"hi", keys)) as r:
                assert r.status == 200
            assert (await ws.receive(timeout=10)).data == "hi"


async def test_post_frame_type_option(kit):
    settings = GatewaySettings(post_frame_type="binary")
    async with kit.running(kit.api_with(), settings) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url) as ws:
            cid = await kit.connection_id_of(ws)
            await gw.post_to_connection(cid, b"plain text")
            msg = await ws.receive(timeout=10)
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.BINARY, b"plain text")


async def test_in_process_send_path_raises_api_errors(kit):
    async with kit.running(kit.api_with()) as gw:
        with pytest.raises(GoneException) as info:
            await gw.post_to_connection("missing", b"x")
        assert (info.value.status, info.value.error_type) == (410, "GoneException")


async def test_slow_reader_fills_its_buffer_and_gets_429(kit):
    settings = GatewaySettings(client_buffer_bytes=256 * 1024)
    async with kit.running(kit.api_with(), settings) as gw, aiohttp.ClientSession() as session:
        async with (
            session.ws_connect(gw.ws_url, max_msg_size=0) as ws,
            session.ws_connect(gw.ws_url) as other,
        ):
            cid = await kit.connection_id_of(ws)
            other_id = await kit.connection_id_of(other)
            # ws stops reading; the kernel buffers fill, then the gateway's.
            client = kit.management_client(gw)
            payload = b"p" * 131_072
            refused = None
            for _ in range(2000):  # bounded: ~260 MB at most
                try:
                    await gw.post_to_connection(cid, payload)
                except Exception as exc:
                    refused = exc
                    break
            assert refused is not None and getattr(refused, "status", None) == 429

            def post_until_refused() -> str:
                for _ in range(2000):  # the same through HTTP: bounded
                    try:
                        client.post_to_connection(ConnectionId=cid, Data=payload)
                    except client.exceptions.LimitExceededException as exc:
                        return str(exc.response["ResponseMetadata"]["HTTPStatusCode"])
                return "never refused"

            assert await asyncio.to_thread(post_until_refused) == "429"
            # Others are not affected.
            await gw.post_to_connection(other_id, b"still fine")
            assert (await other.receive(timeout=10)).data == "still fine"


async def test_signatures_are_verified_when_secrets_are_given(kit):
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    settings = GatewaySettings(sigv4_secrets={"testing": "testing"})
    async with kit.running(kit.api_with(), settings) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url) as ws:
            cid = await kit.connection_id_of(ws)
            good = kit.management_client(gw)  # the test environment's keys: testing/testing
            await asyncio.to_thread(good.post_to_connection, ConnectionId=cid, Data=b"signed")
            assert (await ws.receive(timeout=10)).data == "signed"
            await asyncio.to_thread(good.get_connection, ConnectionId=cid)
            async with aioboto3.Session().client(
                "apigatewaymanagementapi", endpoint_url=gw.management_url, region_name="us-east-1"
            ) as client:
                await client.post_to_connection(ConnectionId=cid, Data=b"async signed")
            assert (await ws.receive(timeout=10)).data == "async signed"
            bad = boto3.client(
                "apigatewaymanagementapi",
                endpoint_url=gw.management_url,
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="wrong",
                config=Config(retries={"total_max_attempts": 1}),
            )
            with pytest.raises(ClientError) as info:
                await asyncio.to_thread(bad.post_to_connection, ConnectionId=cid, Data=b"forged")
            assert info.value.response["Error"]["Code"] == "InvalidSignatureException"
            assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
            async with session.post(
                f"{gw.url}/local/@connections/{cid}",
                data=b"x",
                headers={"Authorization": _FAKE_SIGV4},
            ) as r:
                assert r.status == 403


async def test_a_reading_client_takes_bursts_bigger_than_its_buffer(kit):
    settings = GatewaySettings(client_buffer_bytes=2048)
    async with kit.running(kit.api_with(), settings) as gw, aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.ws_url, max_msg_size=0) as ws:
            cid = await kit.connection_id_of(ws)
            for part in range(3):  # one loop iteration: queued together, then written
                await gw.post_to_connection(cid, bytes([0x80 + part]) * 20_000)
            got = [(await ws.receive(timeout=10)).data[:1] for _ in range(3)]
            assert got == [b"\x80", b"\x81", b"\x82"]
