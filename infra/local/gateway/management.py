"""The ``@connections`` management API over HTTP: ``/{stage}/@connections/{id}``.

A thin layer over :class:`~infra.local.gateway.server.Gateway`'s methods: it checks the
stage and verifies the SigV4 signature as AWS does (an unsigned call gets 403
``ForbiddenException`` "Missing Authentication Token", an ill-signed one 403
``InvalidSignatureException``) against the keys the gateway knows
(:mod:`~infra.local.gateway.credentials`, or ``GatewaySettings.sigv4_secrets``), maps the
HTTP verb to PostToConnection / GetConnection / DeleteConnection, and renders
:class:`~infra.local.gateway.errors.ApiError` with the ``x-amzn-ErrorType`` header that
makes botocore raise its modelled exceptions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from aiohttp import web

from .credentials import known_secrets
from .errors import (
    ApiError,
    ForbiddenException,
    InvalidSignatureException,
    PayloadTooLargeException,
)
from .sigv4 import verify_sigv4

if TYPE_CHECKING:
    from .server import Gateway

__all__ = ["ManagementApi", "error_response", "is_sigv4_authorization"]

_OPERATIONS = {"POST": "PostToConnection", "GET": "GetConnection", "DELETE": "DeleteConnection"}
_EMPTY = b""


def error_response(error: ApiError) -> web.Response:
    return web.Response(
        status=error.status,
        body=json.dumps({"message": error.message}).encode(),
        headers={"x-amzn-ErrorType": error.error_type, "Content-Type": "application/json"},
    )


class ManagementApi:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway
        self.stage = gateway.api.stage.name
        self.require_signature = gateway.settings.require_signature
        self.max_post = gateway.settings.max_post_bytes
        self._secrets = gateway.settings.sigv4_secrets

    @property
    def secrets(self) -> Mapping[str, str]:
        """The keys signatures are verified against (read once, at the first call: the
        Lambda runtime's environment is complete by then)."""
        if self._secrets is None:
            self._secrets = known_secrets(self.gw.state_dir, self.gw.runtime.extra_env)
        return self._secrets

    async def handle(self, request: web.Request) -> web.StreamResponse:
        method = request.method
        operation = _OPERATIONS.get(method)
        if operation is None:
            return web.Response(status=405, headers={"Allow": "GET, POST, DELETE"})
        calls = self.gw.metrics.management_calls
        try:
            if request.match_info["stage"] != self.stage:
                raise ForbiddenException("Forbidden")
            if self.require_signature and not is_sigv4_authorization(
                request.headers.get("Authorization")
            ):
                raise ForbiddenException("Missing Authentication Token")
            connection_id = request.match_info["id"]
            if method == "POST":
                self.gw.table.refuse_length(request.content_length)
                try:
                    body = await request.read()
                except web.HTTPRequestEntityTooLarge:  # chunked body past client_max_size
                    raise PayloadTooLargeException(f"Payload exceeds {self.max_post}") from None
                self._verify(request, body)
                await self.gw.post_to_connection(connection_id, body)
                response = web.Response(status=200, body=_EMPTY)
            elif method == "GET":
                self._verify(request, b"")
                info = self.gw.get_connection(connection_id)
                response = web.Response(
                    status=200, body=json.dumps(info).encode(), content_type="application/json"
                )
            else:
                self._verify(request, b"")
                await self.gw.delete_connection(connection_id)
                response = web.Response(status=204)
        except ApiError as error:
            calls[(operation, error.status)] += 1
            return error_response(error)
        calls[(operation, response.status)] += 1
        return response

    def _verify(self, request: web.Request, body: bytes) -> None:
        if not self.require_signature:
            return
        reason = verify_sigv4(
            method=request.method,
            raw_path=request.raw_path,
            headers=request.headers,
            body=body,
            secrets=self.secrets,
        )
        if reason is not None:
            raise InvalidSignatureException(reason)


def is_sigv4_authorization(header: str | None) -> bool:
    """Does the request carry a SigV4 Authorization for the execute-api service?"""
    return (
        header is not None
        and header.startswith("AWS4-HMAC-SHA256 ")
        and "/execute-api/aws4_request" in header
    )
