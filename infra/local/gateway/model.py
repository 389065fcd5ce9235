"""A Python model of an API Gateway WebSocket API.

The classes follow the properties of the ``AWS::ApiGatewayV2`` resources (``Api``,
``Route``, ``Integration``, ``Authorizer``, ``Stage``, ``RouteResponse``), so that a
CloudFormation template maps onto them one to one (:mod:`infra.local.cfn` does that) and a
hand-written model reads like the template it stands for. The gateway only reads the
model; it never changes it while serving.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigurationError

__all__ = [
    "CONNECT_ROUTE",
    "DEFAULT_ROUTE",
    "DISCONNECT_ROUTE",
    "MAX_ROUTES",
    "ApiKey",
    "Authorizer",
    "Integration",
    "IntegrationType",
    "LambdaFunction",
    "Route",
    "RouteThrottle",
    "Stage",
    "UsagePlan",
    "WebSocketApi",
]

CONNECT_ROUTE = "$connect"
DISCONNECT_ROUTE = "$disconnect"
DEFAULT_ROUTE = "$default"

IntegrationType = Literal["AWS_PROXY", "AWS", "HTTP_PROXY", "HTTP", "MOCK"]

# API Gateway's integration timeout for WebSocket APIs: 50 ms to 29 s (quotas table).
DEFAULT_INTEGRATION_TIMEOUT_MS = 29_000
# API Gateway quotas for WebSocket APIs: "Routes per API: 300" (not increasable).
MAX_ROUTES = 300


@dataclass(frozen=True)
class LambdaFunction:
    """A Lambda function run locally: ``handler`` is ``module.function`` as on AWS.

    ``code_path`` is put at the front of ``sys.path`` while the module is imported (the
    function's CodeUri); ``environment`` is what ``os.environ`` holds while it runs.
    ``runtime`` is Lambda's identifier (``python3.12``, ``nodejs20.x``; empty: Python);
    ``layers`` are local folders laid out as Lambda extracts layers to ``/opt``;
    ``unavailable`` says why the function cannot run here (every invocation fails with it).
    """

    name: str
    handler: str
    code_path: Path | None = None
    environment: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 3.0
    memory_mb: int = 128
    runtime: str = ""
    layers: tuple[Path, ...] = ()
    unavailable: str | None = None


@dataclass(frozen=True)
class Integration:
    """``AWS::ApiGatewayV2::Integration``.

    - ``AWS_PROXY``: ``function`` is called with the proxy event.
    - ``AWS``: an AWS service action; ``uri`` is e.g.
      ``arn:aws:apigateway:us-east-1:kinesis:action/PutRecord`` and ``request_templates``
      (keyed by template key, usually ``$default`` or ``application/json``) renders the
      request body with Velocity.
    - ``HTTP_PROXY``/``HTTP``: the message is sent to ``uri``.
    - ``MOCK``: nothing is called; an integration response template may answer.
    """

    integration_type: IntegrationType
    uri: str | None = None
    function: LambdaFunction | None = None
    integration_method: str = "POST"
    request_templates: dict[str, str] = field(default_factory=dict)
    template_selection_expression: str | None = None
    request_parameters: dict[str, str] = field(default_factory=dict)
    passthrough_behavior: str = "WHEN_NO_MATCH"
    credentials_arn: str | None = None
    timeout_ms: int = DEFAULT_INTEGRATION_TIMEOUT_MS
    # IntegrationResponse templates keyed by template key (two-way routes, MOCK answers).
    response_templates: dict[str, str] = field(default_factory=dict)
    response_selection_expression: str | None = None


@dataclass(frozen=True)
class Authorizer:
    """``AWS::ApiGatewayV2::Authorizer`` of type REQUEST (the only kind WebSocket APIs take).

    ``identity_sources`` are e.g. ``route.request.querystring.token`` or
    ``route.request.header.Auth``; a missing or empty one fails the connect with 401
    without calling the function.
    """

    name: str
    function: LambdaFunction
    identity_sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Route:
    """``AWS::ApiGatewayV2::Route`` (plus its optional ``RouteResponse``).

    A route is one-way unless a ``$default`` route response exists (``two_way``); only
    then is what the integration returns sent back to the client.
    """

    key: str
    integration: Integration | None = None
    authorization_type: Literal["NONE", "CUSTOM", "AWS_IAM"] = "NONE"
    authorizer: Authorizer | None = None
    route_response_selection_expression: str | None = None
    route_response_keys: tuple[str, ...] = ()
    # RequestModels: model selection key -> JSON schema (draft 4, the AWS::ApiGatewayV2::Model
    # Schema); ModelSelectionExpression picks the key (else "$default"). A message that
    # fails its model gets the "Bad request body" frame.
    request_models: dict[str, dict[str, Any]] = field(default_factory=dict)
    model_selection_expression: str | None = None
    # ApiKeyRequired: the connection must have presented a valid API key of a usage plan
    # of this stage (WebSocketApi.api_keys / usage_plans); else 403 / the Forbidden frame.
    api_key_required: bool = False

    @property
    def two_way(self) -> bool:
        # A $default route response is what makes a route two-way: API Gateway passes the
        # backend's answer to the client once one exists (its developer guide, "Set up route
        # responses"; AWS's own samples create one without a RouteResponseSelectionExpression).
        return DEFAULT_ROUTE in self.route_response_keys


@dataclass(frozen=True)
class RouteThrottle:
    """The throttling of one route's ``RouteSettings`` entry (token bucket)."""

    rate_limit: float
    burst_limit: int


@dataclass(frozen=True)
class Stage:
    """``AWS::ApiGatewayV2::Stage``: the first path segment of every URL."""

    name: str = "local"
    stage_variables: dict[str, str] = field(default_factory=dict)
    # DefaultRouteSettings throttling, applied to each route that has no RouteSettings
    # entry of its own; None means the account-level throttle only.
    throttling_burst_limit: int | None = None
    throttling_rate_limit: float | None = None
    # RouteSettings: route key -> that route's throttle (overrides the default).
    route_settings: dict[str, RouteThrottle] = field(default_factory=dict)


@dataclass(frozen=True)
class ApiKey:
    """``AWS::ApiGateway::ApiKey``: ``value`` is what clients send, ``key_id`` its id."""

    key_id: str
    value: str
    name: str = ""
    enabled: bool = True


@dataclass(frozen=True)
class UsagePlan:
    """``AWS::ApiGateway::UsagePlan`` attached to this API's stage, with its keys
    (``UsagePlanKey``). Its throttle applies to each key separately, as on AWS."""

    name: str
    key_ids: tuple[str, ...] = ()
    throttling_rate_limit: float | None = None
    throttling_burst_limit: int | None = None


@dataclass(frozen=True)
class WebSocketApi:
    """``AWS::ApiGatewayV2::Api`` with ``ProtocolType: WEBSOCKET`` and everything under it."""

    name: str
    route_selection_expression: str = "$request.body.action"
    routes: dict[str, Route] = field(default_factory=dict)
    stage: Stage = field(default_factory=Stage)
    api_id: str = "tickwire0"
    region: str = "us-east-1"
    account_id: str = "000000000000"
    # Where a connection's API key comes from: "$request.header.x-api-key" (the default)
    # or "$context.authorizer.usageIdentifierKey".
    api_key_selection_expression: str | None = None
    api_keys: tuple[ApiKey, ...] = ()
    usage_plans: tuple[UsagePlan, ...] = ()

    def __post_init__(self) -> None:
        if len(self.routes) > MAX_ROUTES:
            raise ConfigurationError(
                f"API {self.name!r} has {len(self.routes)} routes; API Gateway allows "
                f"{MAX_ROUTES} per API"
            )

    def route(self, key: str) -> Route | None:
        return self.routes.get(key)
