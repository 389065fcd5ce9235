"""TLS: a handler written for AWS builds https://{domainName}/{stage} and works unchanged."""

from __future__ import annotations

import asyncio
import ssl

import aiohttp

from infra.local.gateway.model import Route
from infra.local.gateway.tls import load_or_create_ca


async def test_handler_posts_back_through_https_domain_name(kit, event_log, state_dir):
    api = kit.api_with(Route("echo", kit.proxy(kit.function("echo", "post_back"))))
    async with kit.running(api, tls=True, state_dir=state_dir) as gw:
        assert gw.domain_name == f"127.0.0.1:{gw.tls_port}"
        context = ssl.create_default_context(cafile=str(gw.ca_bundle))
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(gw.wss_url, ssl=context) as ws,
        ):
            await ws.send_str('{"action": "echo", "n": 1}')
            msg = await ws.receive(timeout=60)
            assert msg.data == 'echo:{"action": "echo", "n": 1}'
        # The plain listener serves the same API.
        async with aiohttp.ClientSession() as session, session.ws_connect(gw.ws_url) as ws:
            await ws.send_str('{"action": "echo"}')
            assert (await ws.receive(timeout=60)).data == 'echo:{"action": "echo"}'
        # Management API over HTTPS with the bundle, from a boto3 client.
        client = kit.management_client(gw, tls=True)
        try:
            await asyncio.to_thread(client.get_connection, ConnectionId="missing")
        except client.exceptions.GoneException as exc:
            assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 410
        else:
            raise AssertionError("no 410")


def test_ca_is_created_once_and_reused(state_dir):
    first = load_or_create_ca(state_dir)
    second = load_or_create_ca(state_dir)
    assert first.bundle_path == second.bundle_path
    bundle = first.bundle_path.read_bytes()
    assert bundle.startswith(first.ca.cert_pem.bytes())  # the local CA ...
    assert bundle.count(b"BEGIN CERTIFICATE") > 10  # ... and the public roots
    assert (first.bundle_path.parent / "ca.pem").read_bytes() == first.ca.cert_pem.bytes()
    assert (first.bundle_path.parent / "ca-key.pem").stat().st_mode & 0o077 == 0
    assert first.export_line() == f"export AWS_CA_BUNDLE={first.bundle_path}"
