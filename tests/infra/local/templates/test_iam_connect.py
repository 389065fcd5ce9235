"""``AuthorizationType: AWS_IAM`` on ``$connect``: a SigV4 ``Authorization`` header and a
presigned URL (botocore's signers) connect, with the caller's identity on later events;
unsigned, wrongly signed and expired requests get 403."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

import aiohttp
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .conftest import run_template

# the test process's credentials (tests/conftest.py): keys the gateway knows
KNOWN = Credentials("testing", "testing")
STRANGER = Credentials("AKIASTRANGER", "not-the-secret")


def _http(url: str) -> str:
    return url.replace("ws://", "http://", 1)


def signed_headers(url: str, credentials: Credentials) -> dict[str, str]:
    request = AWSRequest(method="GET", url=_http(url), headers={"Host": urlsplit(url).netloc})
    SigV4Auth(credentials, "execute-api", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def presigned(url: str, credentials: Credentials, expires: int = 60) -> str:
    request = AWSRequest(method="GET", url=_http(url), headers={"Host": urlsplit(url).netloc})
    SigV4QueryAuth(credentials, "execute-api", "us-east-1", expires=expires).add_auth(request)
    return str(request.url).replace("http://", "ws://", 1)


async def _refused(session: aiohttp.ClientSession, url: str, **kwargs: object) -> int:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await session.ws_connect(url, **kwargs)  # type: ignore[arg-type]
    return refused.value.status


async def test_iam_connect_header_and_presigned_url() -> None:
    async with run_template("iam", account_id="111122223333") as run:
        url = run.gateway.ws_url
        async with aiohttp.ClientSession() as session:
            assert await _refused(session, url) == 403
            assert await _refused(session, url, headers=signed_headers(url, STRANGER)) == 403
            assert await _refused(session, presigned(url, STRANGER)) == 403

            ws = await session.ws_connect(url, headers=signed_headers(url, KNOWN))
            await ws.send_str('{"action": "whoami"}')
            identity = json.loads((await ws.receive(timeout=30)).data)
            assert identity == {
                "accessKey": "testing",
                "accountId": "111122223333",
                "caller": "testing",
                "user": "testing",
                "userArn": "arn:aws:iam::111122223333:user/testing",
                "sourceIp": "127.0.0.1",
            }
            await ws.close()

            browser = await session.ws_connect(presigned(url, KNOWN))
            await browser.send_str('{"action": "whoami"}')
            assert json.loads((await browser.receive(timeout=30)).data)["accessKey"] == "testing"
            await browser.close()

            stale = presigned(url, KNOWN, expires=1)
            await asyncio.sleep(2.1)  # past X-Amz-Expires
            assert await _refused(session, stale) == 403
