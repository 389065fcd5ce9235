"""Exceptions of the local gateway.

Tree::

    GatewayError                      root of everything raised here
    ├── ApiError                      an AWS-modelled @connections error (.status, .error_type)
    │   ├── GoneException             410: unknown, closed or still-connecting connection
    │   ├── PayloadTooLargeException  413: a post over 131,072 bytes
    │   ├── LimitExceededException    429: throttled, or the client's buffer is full
    │   ├── ForbiddenException        403: unsigned call, wrong stage
    │   └── InvalidSignatureException 403: a signature that does not verify
    ├── ConfigurationError            the API model cannot be served as given
    ├── IntegrationError              an integration failed (.status for a $connect)
    └── LambdaError                   a local Lambda invocation failed
        ├── FunctionError             the handler raised (.error_type, .error_message)
        └── FunctionTimeout           the handler outlived the function's timeout

``ApiError`` subclasses carry exactly what AWS puts on the wire: the HTTP status and the
``x-amzn-ErrorType`` value, so the HTTP layer and the in-process send path
(:meth:`Gateway.post_to_connection`) report the same thing.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ApiError",
    "ConfigurationError",
    "ForbiddenException",
    "FunctionError",
    "FunctionTimeout",
    "GatewayError",
    "GoneException",
    "IntegrationError",
    "InvalidSignatureException",
    "LambdaError",
    "LimitExceededException",
    "PayloadTooLargeException",
]


class GatewayError(Exception):
    """Root of the local gateway's exceptions."""


class ApiError(GatewayError):
    """An error of the ``@connections`` API, as AWS models it."""

    status: ClassVar[int] = 500
    error_type: ClassVar[str] = "InternalFailure"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.error_type)
        self.message = message or self.error_type


class GoneException(ApiError):
    status = 410
    error_type = "GoneException"


class PayloadTooLargeException(ApiError):
    status = 413
    error_type = "PayloadTooLargeException"


class LimitExceededException(ApiError):
    status = 429
    error_type = "LimitExceededException"


class ForbiddenException(ApiError):
    status = 403
    error_type = "ForbiddenException"


class InvalidSignatureException(ApiError):
    status = 403
    error_type = "InvalidSignatureException"


class ConfigurationError(GatewayError):
    """The API model (or a setting) cannot be served as given."""


class LambdaError(GatewayError):
    """A local Lambda invocation failed."""


class FunctionError(LambdaError):
    """The handler raised; ``error_type``/``error_message`` are what Lambda would report."""

    def __init__(self, error_type: str, error_message: str) -> None:
        super().__init__(f"{error_type}: {error_message}")
        self.error_type = error_type
        self.error_message = error_message


class FunctionTimeout(LambdaError):
    """The handler did not answer within the function's timeout ("Task timed out")."""


class IntegrationError(GatewayError):
    """An integration failed. ``status`` is the HTTP status a $connect handshake fails
    with (500 service error, 502 Lambda error, 504 timeout); a message route answers the
    "Internal server error" frame instead."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
