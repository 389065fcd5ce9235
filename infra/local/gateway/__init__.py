"""The local API Gateway WebSocket stand-in: data plane and ``@connections`` on one port.

Public surface: :class:`Gateway`, :class:`GatewaySettings`, the model (:mod:`.model`),
the errors (:mod:`.errors`) and the AWS service backends (:mod:`.services`). Imports are
lazy so the Lambda worker (:mod:`.lambda_runtime`) starts without loading aiohttp.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import (
        ApiError,
        ForbiddenException,
        GatewayError,
        GoneException,
        LimitExceededException,
        PayloadTooLargeException,
    )
    from .server import Gateway
    from .services import AwsServiceBackend, RecordingService
    from .settings import GatewaySettings

_EXPORTS = {
    "ApiError": "errors",
    "ForbiddenException": "errors",
    "GatewayError": "errors",
    "GoneException": "errors",
    "LimitExceededException": "errors",
    "PayloadTooLargeException": "errors",
    "Gateway": "server",
    "AwsServiceBackend": "services",
    "RecordingService": "services",
    "GatewaySettings": "settings",
}

__all__ = [
    "ApiError",
    "AwsServiceBackend",
    "ForbiddenException",
    "Gateway",
    "GatewayError",
    "GatewaySettings",
    "GoneException",
    "LimitExceededException",
    "PayloadTooLargeException",
    "RecordingService",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(name)
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
