"""Pure checks: authorizer policy evaluation and SigV4 verification against botocore's signer."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from multidict import CIMultiDict

from infra.local.gateway.authorizer import evaluate_policy, missing_identity_source
from infra.local.gateway.sigv4 import verify_sigv4

ARN = "arn:aws:execute-api:us-east-1:000000000000:api/local/$connect"


def _policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_policy_allow_deny_and_wildcards():
    allow = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": ARN}
    deny_all = {"Action": "execute-api:*", "Effect": "Deny", "Resource": "arn:aws:execute-api:*"}
    assert evaluate_policy(_policy(allow), ARN)
    assert not evaluate_policy(_policy(allow, deny_all), ARN)  # an explicit Deny wins
    assert not evaluate_policy(_policy({**allow, "Resource": ARN.replace("local", "prod")}), ARN)
    assert evaluate_policy(_policy({**allow, "Resource": ["arn:aws:execute-api:us-east-1:*"]}), ARN)
    assert not evaluate_policy(_policy(), ARN)


def test_identity_sources():
    sources = ("route.request.querystring.token", "route.request.header.Auth")
    assert missing_identity_source(sources, {"auth": ["x"]}, {"token": ["t"]}) is None
    assert missing_identity_source(sources, {"auth": [""]}, {"token": ["t"]}) == sources[1]
    assert missing_identity_source(sources, {}, {}) == sources[0]


def _signed(body: bytes, when: dt.datetime, secret: str = "s3cret") -> tuple[str, CIMultiDict]:
    url = "https://127.0.0.1:8443/local/%40connections/abc%3D"
    request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "x"})
    auth = SigV4Auth(Credentials("AKIDLOCAL", secret), "execute-api", "us-east-1")
    request.context["timestamp"] = when.strftime("%Y%m%dT%H%M%SZ")
    request.headers["X-Amz-Date"] = request.context["timestamp"]
    request.headers["Host"] = "127.0.0.1:8443"
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)
    headers_to_sign = auth.headers_to_sign(request)
    request.headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential=AKIDLOCAL/{auth.credential_scope(request)}, "
        f"SignedHeaders={auth.signed_headers(headers_to_sign)}, Signature={signature}"
    )
    return "/local/%40connections/abc%3D", CIMultiDict(request.headers.items())


def test_sigv4_verification():
    when = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    path, headers = _signed(b"payload", when)
    secrets = {"AKIDLOCAL": "s3cret"}

    def check(body=b"payload", now=when, keys=secrets):
        return verify_sigv4(
            method="POST", raw_path=path, headers=headers, body=body, secrets=keys, now=now
        )

    assert check() is None
    assert check(body=b"tampered") is not None
    assert check(now=when + dt.timedelta(minutes=6)) == "Signature expired"
    assert check(keys={"AKIDLOCAL": "other"}) is not None
    assert check(keys={}) == "The security token included in the request is invalid"


@pytest.mark.parametrize(
    "amz_date",
    ["", "20260101T120000", "20260101 120000Z", "20261301T120000Z", "2026010aT120000Z",
     "20260101T126000Z", "\uff120260101T120000Z"],  # the last: a full-width digit
)  # fmt: skip
def test_sigv4_refuses_a_malformed_request_time(amz_date: str) -> None:
    when = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    path, headers = _signed(b"payload", when)
    headers["X-Amz-Date"] = amz_date
    reason = verify_sigv4(
        method="POST",
        raw_path=path,
        headers=headers,
        body=b"payload",
        secrets={"AKIDLOCAL": "s3cret"},
        now=when,
    )
    assert reason == "X-Amz-Date is missing or malformed"
