"""Request validation against a route's models (API Gateway ``RequestModels``).

A route with request models validates each message before its integration runs: the
``ModelSelectionExpression`` (else ``$default``) picks the model, the body must be JSON
that the model's schema (JSON Schema draft 4, as API Gateway models are) accepts; a
failure answers ``{"message" : "Bad request body", "connectionId": "…", "messageId":
"…"}`` (observed format) and the message goes no further. Schemas are compiled once per
route. Needs the ``jsonschema`` package (only when a route has models).
"""

from __future__ import annotations

import json
from typing import Any

from .errors import ConfigurationError
from .model import Route
from .routing import compile_selection_expression

__all__ = ["RequestValidator", "bad_request_frame"]


def bad_request_frame(connection_id: str, message_id: str) -> str:
    # Observed format, spacing included (note the space before the first colon).
    return (
        f'{{"message" : "Bad request body", "connectionId": "{connection_id}", '
        f'"messageId": "{message_id}"}}'
    )


class RequestValidator:
    """Validates message bodies for one route."""

    def __init__(self, route: Route) -> None:
        try:
            from jsonschema import Draft4Validator
        except ImportError as exc:  # pragma: no cover - installed with the test extra
            raise ConfigurationError("request models need the jsonschema package") from exc
        self._validators = {
            key: Draft4Validator(schema) for key, schema in route.request_models.items()
        }
        expr = route.model_selection_expression
        self._selector = compile_selection_expression(expr) if expr else None

    def valid(self, text: str) -> bool:
        try:
            body: Any = json.loads(text)
        except (ValueError, RecursionError):
            return False
        key = self._selector.evaluate(body) if self._selector is not None else "$default"
        validator = self._validators.get(key) or self._validators.get("$default")
        if validator is None:
            return True  # no model for this key: nothing to check
        return bool(validator.is_valid(body))
