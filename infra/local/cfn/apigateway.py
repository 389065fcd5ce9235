"""``AWS::ApiGatewayV2`` resources of a template as :class:`WebSocketApi` models.

Children find their API through ``ApiId`` (the API's Ref), routes find their integration
through ``Target: integrations/<IntegrationId>`` and their authorizer through
``AuthorizerId``; Lambda integrations and authorizers find their function through the
function ARN inside ``IntegrationUri``/``AuthorizerUri``. Properties that change what a
client sees but are not emulated are refused; those that only matter to AWS operations
(access logs, Deployment) are noted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from infra.local.cfn.errors import TemplateError, UnsupportedResource
from infra.local.cfn.props import Props
from infra.local.gateway.model import (
    DEFAULT_INTEGRATION_TIMEOUT_MS,
    MAX_ROUTES,
    ApiKey,
    Authorizer,
    Integration,
    IntegrationType,
    LambdaFunction,
    Route,
    RouteThrottle,
    Stage,
    UsagePlan,
    WebSocketApi,
)
from infra.local.gateway.stage_variables import substitute_stage_variables

__all__ = ["ApiResources", "build_apis"]

_FUNCTION_IN_URI = re.compile(r":function:([^/:]+)")
_INTEGRATION_TARGET = re.compile(r"^integrations/(.+)$")


@dataclass
class ApiResources:
    """Resolved resources of one template, grouped by type: logical id -> properties."""

    refs: Mapping[str, Any]
    functions: Mapping[str, LambdaFunction]  # by physical function name
    region: str
    account_id: str
    by_type: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def of(self, resource_type: str, family: str = "AWS::ApiGatewayV2") -> dict[str, Props]:
        found = self.by_type.get(f"{family}::{resource_type}", {})
        return {logical_id: Props(logical_id, values) for logical_id, values in found.items()}


def build_apis(res: ApiResources) -> dict[str, WebSocketApi]:
    """Every WebSocket API of the template, by the logical id of its ``Api`` resource."""
    apis: dict[str, WebSocketApi] = {}
    api_by_id = {res.refs[lid]: lid for lid in res.of("Api")}
    for logical_id, props in res.of("Api").items():
        if props.raw("ProtocolType") != "WEBSOCKET":
            raise UnsupportedResource(
                logical_id,
                f"ProtocolType {props.raw('ProtocolType')!r}: only WEBSOCKET APIs run locally",
            )
        for unsupported in ("Body", "BodyS3Location", "Target"):
            if unsupported in props:
                raise UnsupportedResource(
                    logical_id, f"{unsupported} is not supported; declare routes as resources"
                )
    children = {kind: _by_api(res, kind, api_by_id) for kind in
                ("Route", "Integration", "Authorizer", "Stage", "RouteResponse", "IntegrationResponse",
                 "Model")}  # fmt: skip
    for logical_id, props in res.of("Api").items():
        stage = _stage(res, logical_id, children["Stage"].get(logical_id, {}))
        integrations = _integrations(res, children["Integration"].get(logical_id, {}),
                                     children["IntegrationResponse"].get(logical_id, {}),
                                     stage.stage_variables)  # fmt: skip
        authorizers = _authorizers(res, children["Authorizer"].get(logical_id, {}))
        route_keys = _route_response_keys(children["RouteResponse"].get(logical_id, {}))
        models = _models(res, children["Model"].get(logical_id, {}))
        routes: dict[str, Route] = {}
        for route_id, route in children["Route"].get(logical_id, {}).items():
            built = _route(res, route_id, route, integrations, authorizers, route_keys, models)
            if built.key in routes:
                raise TemplateError(route_id, f"route key {built.key!r} is declared twice")
            routes[built.key] = built
        if len(routes) > MAX_ROUTES:  # API Gateway quota: 300 routes per API
            raise TemplateError(
                logical_id, f"{len(routes)} routes; API Gateway allows {MAX_ROUTES} per API"
            )
        api_keys, usage_plans = _usage_plans(res, res.refs[logical_id], stage.name)
        apis[logical_id] = WebSocketApi(
            name=props.text("Name", logical_id),
            route_selection_expression=props.text(
                "RouteSelectionExpression", "$request.body.action"
            ),
            routes=routes,
            stage=stage,
            api_id=str(res.refs[logical_id]),
            region=res.region,
            account_id=res.account_id,
            api_key_selection_expression=props.string("ApiKeySelectionExpression"),
            api_keys=api_keys,
            usage_plans=usage_plans,
        )
    return apis


def _usage_plans(
    res: ApiResources, api_id: Any, stage_name: str
) -> tuple[tuple[ApiKey, ...], tuple[UsagePlan, ...]]:
    """The usage plans attached to this API's stage (``ApiStages``), with their keys
    (``UsagePlanKey``); an ``ApiStages`` entry's own ``Throttle`` wins over the plan's."""
    keys: dict[Any, ApiKey] = {}
    for lid, props in res.of("ApiKey", "AWS::ApiGateway").items():
        value = props.string("Value")
        if value is None:  # AWS makes one up; locally it is stable, and said
            value = f"{lid}-{res.refs[lid]}-local-api-key-value"
            res.notes.append(f"{lid}: no Value given; the local API key is {value!r}")
        keys[res.refs[lid]] = ApiKey(
            key_id=str(res.refs[lid]),
            value=value,
            name=props.text("Name", lid),
            # CloudFormation's default for Enabled is false: a key is off unless enabled
            enabled=props.raw("Enabled") in (True, "true"),
        )
    plan_keys: dict[Any, list[str]] = {}
    for props in res.of("UsagePlanKey", "AWS::ApiGateway").values():
        key_id = props.string("KeyId")
        if key_id in keys:
            plan_keys.setdefault(props.string("UsagePlanId"), []).append(str(key_id))
    plans: list[UsagePlan] = []
    for lid, props in res.of("UsagePlan", "AWS::ApiGateway").items():
        stages = [
            s
            for s in props.mappings("ApiStages")
            if s.raw("ApiId") == api_id and s.string("Stage") == stage_name
        ]
        if not stages:
            continue
        throttle = props.mapping("Throttle")
        if stages[0].raw("Throttle"):
            throttle = stages[0].mapping("Throttle")
        if props.raw("Quota"):
            res.notes.append(f"{lid}: usage plan Quota is not counted locally (Throttle is)")
        burst = throttle.integer("BurstLimit", -1)
        plans.append(
            UsagePlan(
                name=props.text("UsagePlanName", lid),
                key_ids=tuple(plan_keys.get(res.refs[lid], ())),
                throttling_rate_limit=throttle.number("RateLimit"),
                throttling_burst_limit=None if burst < 0 else burst,
            )
        )
    used = {k for plan in plans for k in plan.key_ids}
    return tuple(k for k in keys.values() if k.key_id in used), tuple(plans)


def _by_api(
    res: ApiResources, kind: str, api_by_id: Mapping[Any, str]
) -> dict[str, dict[str, Props]]:
    grouped: dict[str, dict[str, Props]] = {}
    for logical_id, props in res.of(kind).items():
        api = api_by_id.get(props.string("ApiId"))
        if api is None:
            raise TemplateError(
                logical_id, f"ApiId {props.raw('ApiId')!r} is not an Api of this template"
            )
        grouped.setdefault(api, {})[logical_id] = props
    return grouped


def _function_for(res: ApiResources, logical_id: str, uri: str | None, what: str) -> LambdaFunction:
    match = _FUNCTION_IN_URI.search(uri or "")
    if match is None or match.group(1) not in res.functions:
        raise UnsupportedResource(
            logical_id, f"{what} {uri!r} does not name a Lambda function of this template"
        )
    return res.functions[match.group(1)]


def _integrations(
    res: ApiResources,
    resources: Mapping[str, Props],
    responses: Mapping[str, Props],
    stage_variables: Mapping[str, str],
) -> dict[Any, Integration]:
    response_for: dict[Any, Props] = {}
    for response_id, props in responses.items():
        if props.string("IntegrationResponseKey") != "$default":
            res.notes.append(
                f"{response_id}: IntegrationResponseKey {props.raw('IntegrationResponseKey')!r} is not used locally (only $default)"
            )
            continue
        response_for[props.string("IntegrationId")] = props
    built: dict[Any, Integration] = {}
    for logical_id, props in resources.items():
        kind = props.string("IntegrationType")
        if kind not in ("AWS_PROXY", "AWS", "HTTP_PROXY", "HTTP", "MOCK"):
            raise UnsupportedResource(logical_id, f"IntegrationType {kind!r}")
        if props.text("ConnectionType", "INTERNET") != "INTERNET":
            raise UnsupportedResource(logical_id, "VPC_LINK integrations cannot run locally")
        uri = props.string("IntegrationUri")
        function = None
        if kind == "AWS_PROXY" or (kind == "AWS" and ":lambda:" in (uri or "")):
            # a function named by ${stageVariables.x} is the stage's (API Gateway
            # substitutes it when it calls the integration)
            named = substitute_stage_variables(uri or "", stage_variables)
            function = _function_for(res, logical_id, named, "IntegrationUri")
        response = response_for.get(res.refs[logical_id], Props(logical_id, {}))
        built[res.refs[logical_id]] = Integration(
            integration_type=cast(IntegrationType, kind),
            uri=uri,
            function=function,
            integration_method=props.text("IntegrationMethod", "POST"),
            request_templates=props.string_map("RequestTemplates"),
            template_selection_expression=props.string("TemplateSelectionExpression"),
            request_parameters=props.string_map("RequestParameters"),
            passthrough_behavior=props.text("PassthroughBehavior", "WHEN_NO_MATCH"),
            credentials_arn=props.string("CredentialsArn"),
            timeout_ms=props.integer("TimeoutInMillis", DEFAULT_INTEGRATION_TIMEOUT_MS),
            response_templates=response.string_map("ResponseTemplates"),
            response_selection_expression=response.string("TemplateSelectionExpression"),
        )
    return built


def _authorizers(res: ApiResources, resources: Mapping[str, Props]) -> dict[Any, Authorizer]:
    built: dict[Any, Authorizer] = {}
    for logical_id, props in resources.items():
        if props.string("AuthorizerType") != "REQUEST":
            raise UnsupportedResource(
                logical_id,
                f"AuthorizerType {props.raw('AuthorizerType')!r}: WebSocket APIs take REQUEST authorizers",
            )
        built[res.refs[logical_id]] = Authorizer(
            name=props.text("Name", logical_id),
            function=_function_for(res, logical_id, props.string("AuthorizerUri"), "AuthorizerUri"),
            identity_sources=props.strings("IdentitySource"),
        )
    return built


def _route_response_keys(resources: Mapping[str, Props]) -> dict[Any, tuple[str, ...]]:
    keys: dict[Any, list[str]] = {}
    for props in resources.values():
        keys.setdefault(props.string("RouteId"), []).append(props.require("RouteResponseKey"))
    return {route: tuple(values) for route, values in keys.items()}


def _route(
    res: ApiResources,
    logical_id: str,
    props: Props,
    integrations: Mapping[Any, Integration],
    authorizers: Mapping[Any, Authorizer],
    route_keys: Mapping[Any, tuple[str, ...]],
    models: Mapping[str, dict[str, Any]],
) -> Route:
    integration = None
    target = props.string("Target")
    if target is not None:
        match = _INTEGRATION_TARGET.match(target)
        if match is None or match.group(1) not in integrations:
            raise TemplateError(
                logical_id, f"Target {target!r} is not 'integrations/<an Integration of this API>'"
            )
        integration = integrations[match.group(1)]
    authorization = props.text("AuthorizationType", "NONE")
    authorizer = None
    if authorization == "CUSTOM":
        authorizer = authorizers.get(props.string("AuthorizerId"))
        if authorizer is None:
            raise TemplateError(
                logical_id,
                f"AuthorizerId {props.raw('AuthorizerId')!r} is not an Authorizer of this API",
            )
    elif authorization not in ("NONE", "AWS_IAM"):
        raise UnsupportedResource(logical_id, f"AuthorizationType {authorization!r}")
    request_models: dict[str, dict[str, Any]] = {}
    for key, model in props.string_map("RequestModels").items():
        if model not in models:
            raise TemplateError(
                logical_id, f"RequestModels {key}: {model!r} is not a Model of this API"
            )
        request_models[key] = models[model]
    return Route(
        key=props.require("RouteKey"),
        integration=integration,
        authorization_type=authorization,  # type: ignore[arg-type]
        authorizer=authorizer,
        route_response_selection_expression=props.string("RouteResponseSelectionExpression"),
        route_response_keys=route_keys.get(res.refs[logical_id], ()),
        request_models=request_models,
        model_selection_expression=props.string("ModelSelectionExpression"),
        api_key_required=props.raw("ApiKeyRequired") in (True, "true"),
    )


def _models(res: ApiResources, resources: Mapping[str, Props]) -> dict[str, dict[str, Any]]:
    """``AWS::ApiGatewayV2::Model`` schemas by model name and by Ref (routes name models by
    name; templates sometimes pass the Ref)."""
    models: dict[str, dict[str, Any]] = {}
    for logical_id, props in resources.items():
        schema = props.raw("Schema")
        if isinstance(schema, str):
            try:
                schema = json.loads(schema)
            except ValueError:
                raise TemplateError(logical_id, "Schema is not JSON") from None
        if not isinstance(schema, dict):
            raise TemplateError(logical_id, "Schema must be a JSON schema object")
        models[props.require("Name")] = schema
        models[str(res.refs[logical_id])] = schema
    return models


def _stage(res: ApiResources, api_logical_id: str, stages: Mapping[str, Props]) -> Stage:
    if not stages:
        res.notes.append(f"{api_logical_id}: no Stage; the local stage is 'local'")
        return Stage()
    logical_id, props = next(iter(stages.items()))
    if len(stages) > 1:
        res.notes.append(f"{api_logical_id}: several stages; the local gateway serves {logical_id}")
    if props.raw("AccessLogSettings"):
        res.notes.append(f"{logical_id}: AccessLogSettings are not written locally")
    throttle = props.mapping("DefaultRouteSettings")
    burst = throttle.integer("ThrottlingBurstLimit", -1)
    # RouteSettings: route key -> its own throttle (overrides DefaultRouteSettings)
    route_settings: dict[str, RouteThrottle] = {}
    settings = props.mapping("RouteSettings")
    for route_key in props.raw("RouteSettings") or {}:
        entry = settings.mapping(route_key)
        rate = entry.number("ThrottlingRateLimit")
        route_burst = entry.integer("ThrottlingBurstLimit", -1)
        if rate is not None and route_burst >= 0:
            route_settings[route_key] = RouteThrottle(rate, route_burst)
    return Stage(
        name=props.require("StageName"),
        stage_variables=props.string_map("StageVariables"),
        throttling_burst_limit=None if burst < 0 else burst,
        throttling_rate_limit=throttle.number("ThrottlingRateLimit"),
        route_settings=route_settings,
    )
