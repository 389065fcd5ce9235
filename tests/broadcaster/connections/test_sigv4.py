"""The hand-made SigV4 equals what botocore itself sends for PostToConnection."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from hypothesis import given, settings
from hypothesis import strategies as st

from broadcaster.connections.sigv4 import Credentials, SigV4Signer

ENDPOINTS = [
    "https://abc123.execute-api.us-east-1.amazonaws.com/prod",
    "http://127.0.0.1:8099/local",
    "https://Example.COM:443/stage-1",
    "http://localhost:80/a/b",
]


class _Captured(Exception):
    def __init__(self, request: Any) -> None:
        self.request = request


def _botocore_request(
    endpoint: str, region: str, creds: Credentials, conn: str, body: bytes
) -> Any:
    """The signed request botocore's own client would send (captured before sending)."""
    session = botocore.session.Session()
    session.set_credentials(creds.access_key, creds.secret_key, creds.token)
    client = session.create_client(
        "apigatewaymanagementapi", endpoint_url=endpoint, region_name=region
    )

    def stop(request: Any, **_: Any) -> None:
        raise _Captured(request)

    client.meta.events.register("before-send.*", stop)
    with pytest.raises(_Captured) as info:
        client.post_to_connection(ConnectionId=conn, Data=body)
    return info.value.request


def _h(headers: Any, name: str) -> str:
    v = headers[name]
    return v.decode() if isinstance(v, bytes) else str(v)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("token", ["tok/en+=", None])
def test_signature_and_url_equal_botocore_client(endpoint: str, token: str | None) -> None:
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    conn = "R0oXAdfD0kwCH6w="
    body = b"\x95\xc4\x18binary state"
    req = _botocore_request(endpoint, "eu-west-2", creds, conn, body)
    url, headers = SigV4Signer(endpoint, "eu-west-2").sign(
        conn, body, creds, _h(req.headers, "X-Amz-Date")
    )
    assert url == req.url
    assert headers["Authorization"] == _h(req.headers, "Authorization")
    if token:
        assert headers["X-Amz-Security-Token"] == token
    else:
        assert "X-Amz-Security-Token" not in headers


@settings(max_examples=150, deadline=None)
@given(
    conn=st.text(min_size=1, max_size=40).filter(lambda s: s.strip("./") != ""),
    body=st.binary(max_size=300),
    endpoint=st.sampled_from(ENDPOINTS),
    token=st.one_of(st.none(), st.text(alphabet="abcXYZ019+/=", min_size=1, max_size=30)),
    region=st.sampled_from(["us-east-1", "ap-southeast-2"]),
    stamp=st.sampled_from(["20261128T010203Z", "20250101T235959Z"]),
)
def test_signature_equals_sigv4auth_for_any_id_body_and_credentials(
    conn: str, body: bytes, endpoint: str, token: str | None, region: str, stamp: str
) -> None:
    creds = Credentials("AKID", "secret/key+x", token)
    url, headers = SigV4Signer(endpoint, region).sign(conn, body, creds, stamp)
    # botocore's SigV4Auth.add_auth, with its clock fixed to the same timestamp
    request = AWSRequest(method="POST", url=url, data=body)
    request.context["timestamp"] = stamp
    auth = SigV4Auth(BotoCredentials("AKID", "secret/key+x", token), "execute-api", region)
    auth._modify_request_before_signing(request)
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)
    auth._inject_signature_to_request(request, signature)
    assert headers["Authorization"] == request.headers["Authorization"]
    assert headers["Host"] == auth.headers_to_sign(request)["host"]


def test_bad_endpoint_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="endpoint"):
        SigV4Signer("ftp://x/y", "us-east-1")
