"""Issue 14's gateway rows, each through a real WebSocket client (aiohttp): forwarded
headers and trace ids, stage variables in integration URIs, API keys and usage plans,
per-route throttling, one request id, Java list methods in templates, $disconnect
headers, arrays in route selection, the 300-route quota, whole requestContext objects,
and a $connect route response."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from infra.local.cfn import load_template
from infra.local.cfn.errors import TemplateError
from infra.local.gateway.errors import ConfigurationError
from infra.local.gateway.model import (
    MAX_ROUTES,
    ApiKey,
    Authorizer,
    Integration,
    Route,
    RouteThrottle,
    Stage,
    UsagePlan,
    WebSocketApi,
)
from infra.local.gateway.throttle import ApiKeys
from infra.local.kinesis_service import EmbeddedKinesisService
from infra.local.stream import EmbeddedKinesis

TRACE_ID = re.compile(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}")
IDENTITY_MEMBERS = {
    "cognitoIdentityPoolId", "cognitoIdentityId", "principalOrgId", "cognitoAuthenticationType",
    "userArn", "userAgent", "accountId", "caller", "sourceIp", "accessKey",
    "cognitoAuthenticationProvider", "user",
}  # fmt: skip


def mock(response: str | None = None, status: int = 200) -> Integration:
    """A MOCK integration; with ``response``, its $default integration response template."""
    return Integration(
        "MOCK",
        request_templates={"$default": f'{{"statusCode": {status}}}'},
        response_templates={"$default": response} if response is not None else {},
    )


def two_way(key: str, integration: Integration, **kw: Any) -> Route:
    return Route(key, integration, route_response_keys=("$default",), **kw)


def kinesis(
    template: str, uri: str = "arn:aws:apigateway:us-east-1:kinesis:action/PutRecord"
) -> Integration:
    return Integration(
        "AWS",
        uri=uri,
        request_templates={"$default": template},
        template_selection_expression="\\$default",
    )


async def frames(ws: aiohttp.ClientWebSocketResponse, n: int) -> list[str]:
    return [str((await ws.receive(timeout=10)).data) for _ in range(n)]


# -- forwarded headers and trace ids on $connect and the authorizer -------------------------


async def test_connect_and_authorizer_get_forwarded_headers_and_a_trace_id(kit, event_log):
    auth = Authorizer(
        "auth", kit.function("auth", "authorizer"), ("route.request.querystring.token",)
    )
    connect = Route(
        "$connect", kit.proxy(kit.function("c", "ok")), authorization_type="CUSTOM", authorizer=auth
    )
    async with kit.running(kit.api_with(connect)) as gw, aiohttp.ClientSession() as s:
        async with s.ws_connect(f"{gw.ws_url}?token=allow-p"):
            pass
        async with s.ws_connect(
            f"{gw.ws_url}?token=allow-q", headers={"X-Forwarded-For": "203.0.113.9"}
        ):
            pass
    authorizer_input, connect_event, _, forwarded_connect = event_log.events()
    for event in (authorizer_input, connect_event):
        headers = event["headers"]
        assert headers["X-Forwarded-For"] == "127.0.0.1"
        assert headers["X-Forwarded-Port"] == str(gw.port)  # 443 on AWS: the listener reached
        assert headers["X-Forwarded-Proto"] == "http"
        assert TRACE_ID.fullmatch(headers["X-Amzn-Trace-Id"])
        assert event["multiValueHeaders"]["X-Forwarded-For"] == ["127.0.0.1"]
    # one trace id per connection, the same for the authorizer and the integration
    assert (
        authorizer_input["headers"]["X-Amzn-Trace-Id"]
        == connect_event["headers"]["X-Amzn-Trace-Id"]
    )
    assert forwarded_connect["headers"]["X-Forwarded-For"] == "203.0.113.9, 127.0.0.1"


async def test_tls_listener_forwards_https_and_its_port(kit, event_log, state_dir):
    api = kit.api_with(Route("$connect", kit.proxy(kit.function("c", "ok"))))
    async with kit.running(api, tls=True, state_dir=state_dir) as gw, aiohttp.ClientSession() as s:
        import ssl

        context = ssl.create_default_context(cafile=str(gw.ca_bundle))
        async with s.ws_connect(gw.wss_url, ssl=context):
            pass
    (event,) = event_log.events()
    assert event["headers"]["X-Forwarded-Proto"] == "https"
    assert event["headers"]["X-Forwarded-Port"] == gw.wss_url.split(":")[2].split("/")[0]


# -- stage variables in integration URIs ----------------------------------------------------


async def test_stage_variables_in_integration_uris_are_substituted(kit):
    received: list[bytes] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(text="hooked")

    app = web.Application()
    app.router.add_post("/hook", hook)
    backend = TestServer(app, host="127.0.0.1")  # a real HTTP server on a free port
    await backend.start_server()
    unused_port = backend.port
    registry = EmbeddedKinesis()
    stream = registry.create_stream("actions")
    template = (
        '{"StreamName":"actions","Data":"$util.base64Encode($input.body)","PartitionKey":"k"}'
    )
    api = kit.api_with(
        Route(
            "put",
            kinesis(
                template, "arn:aws:apigateway:${stageVariables.region}:kinesis:action/PutRecord"
            ),
        ),
        two_way(
            "ask", Integration("HTTP_PROXY", uri="http://127.0.0.1:${stageVariables.port}/hook")
        ),
        Route(
            "broken", Integration("HTTP_PROXY", uri="http://127.0.0.1:${stageVariables.nope}/hook")
        ),
    )
    api = replace(
        api, stage=Stage("local", stage_variables={"region": "us-east-1", "port": str(unused_port)})
    )
    try:
        async with (
            kit.running(api, aws_services={"kinesis": EmbeddedKinesisService(registry)}) as gw,
            aiohttp.ClientSession() as s,
        ):
            async with s.ws_connect(gw.ws_url) as ws:
                await ws.send_str('{"action":"put"}')
                await ws.send_str('{"action":"ask"}')
                assert await frames(ws, 1) == ["hooked"]
                await ws.send_str('{"action":"broken"}')  # no such stage variable
                assert (
                    json.loads(await ws.receive_str(timeout=10))["message"]
                    == "Internal server error"
                )
                await ws.send_str('{"action":"ask"}')  # the connection goes on
                assert await frames(ws, 1) == ["hooked"]
    finally:
        await backend.close()
    (shard,) = await stream.list_shards()
    it = await stream.get_shard_iterator(shard.shard_id, "TRIM_HORIZON")
    assert [r.data for r in (await stream.get_records(it)).records] == [b'{"action":"put"}']
    assert received == [b'{"action":"ask"}'] * 2


# -- API keys and usage plans ---------------------------------------------------------------


def keyed_api(kit: Any) -> WebSocketApi:
    api = kit.api_with(
        Route("$connect", mock(), api_key_required=True),
        two_way(
            "who",
            mock("$context.identity.apiKey/$context.identity.apiKeyId"),
            api_key_required=True,
        ),
        two_way("free", mock("free")),
    )
    return replace(
        api,
        api_key_selection_expression="$request.header.x-api-key",
        api_keys=(
            ApiKey("id1", "key-one"),
            ApiKey("id2", "key-two"),
            ApiKey("id3", "no-plan"),
            ApiKey("id4", "disabled", enabled=False),
        ),
        usage_plans=(
            UsagePlan(
                "gold", ("id1", "id2", "id4"), throttling_rate_limit=0.01, throttling_burst_limit=3
            ),
        ),
    )


async def test_api_keys_are_required_and_usage_plans_throttle_each_key(kit):
    async with kit.running(keyed_api(kit)) as gw, aiohttp.ClientSession() as s:
        for headers in (
            {},
            {"x-api-key": "wrong"},
            {"x-api-key": "no-plan"},
            {"x-api-key": "disabled"},
        ):
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await s.ws_connect(gw.ws_url, headers=headers)
            assert info.value.status == 403, headers
        async with s.ws_connect(gw.ws_url, headers={"x-api-key": "key-one"}) as one:
            # burst 3 for key-one: the $connect took one, two messages pass, then 429s
            for _ in range(3):
                await one.send_str('{"action":"who"}')
            first, second, third = await frames(one, 3)
            assert first == second == "key-one/id1"
            assert json.loads(third)["message"] == "Too Many Requests"
            await one.send_str('{"action":"free"}')  # a route without ApiKeyRequired
            assert await frames(one, 1) == ["free"]
            # another key of the same plan has a bucket of its own
            async with s.ws_connect(gw.ws_url, headers={"X-API-Key": "key-two"}) as two:
                await two.send_str('{"action":"who"}')
                assert await frames(two, 1) == ["key-two/id2"]
            # and key-one's bucket is shared by its connections: the $connect is throttled
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await s.ws_connect(gw.ws_url, headers={"x-api-key": "key-one"})
            assert info.value.status == 429


async def test_a_message_route_needing_a_key_forbids_a_connection_without_one(kit):
    api = replace(
        keyed_api(kit), routes={k: r for k, r in keyed_api(kit).routes.items() if k != "$connect"}
    )
    async with kit.running(api) as gw, aiohttp.ClientSession() as s:
        async with s.ws_connect(gw.ws_url) as ws:
            await ws.send_str('{"action":"who"}')
            answer = json.loads(await ws.receive_str(timeout=10))
            assert answer["message"] == "Forbidden" and answer["connectionId"]
            await ws.send_str('{"action":"free"}')
            assert await frames(ws, 1) == ["free"]
        # the key is read from the upgrade request even without a $connect route
        async with s.ws_connect(gw.ws_url, headers={"x-api-key": "key-two"}) as ws:
            await ws.send_str('{"action":"who"}')
            assert await frames(ws, 1) == ["key-two/id2"]


def test_api_key_from_the_authorizers_usage_identifier_key():
    api = WebSocketApi(
        "t",
        api_key_selection_expression="$context.authorizer.usageIdentifierKey",
        api_keys=(ApiKey("id1", "k1"),),
        usage_plans=(UsagePlan("p", ("id1",)),),
    )
    keys = ApiKeys(api)
    assert keys.select({"x-api-key": ["k1"]}, None) is None
    assert keys.select({}, {"principalId": "p", "usageIdentifierKey": "k1"}) == ApiKey("id1", "k1")
    with pytest.raises(ConfigurationError):
        ApiKeys(replace(api, api_key_selection_expression="$request.body.key"))


# -- per-route throttling -------------------------------------------------------------------


async def test_route_settings_throttle_their_route_and_override_the_default(kit):
    api = kit.api_with(two_way("a", mock("a")), two_way("b", mock("b")), two_way("c", mock("c")))
    stage = Stage(
        "local",
        throttling_rate_limit=0.01,
        throttling_burst_limit=1,
        route_settings={"a": RouteThrottle(0.01, 2), "c": RouteThrottle(1000, 1000)},
    )
    async with kit.running(replace(api, stage=stage)) as gw, aiohttp.ClientSession() as s:
        async with s.ws_connect(gw.ws_url) as ws:
            for action in "aaabbcccc":
                await ws.send_str(json.dumps({"action": action}))
            got = await frames(ws, 9)
    throttled = '"message": "Too Many Requests"'
    assert got[:2] == ["a", "a"] and throttled in got[2]  # a: its own burst of 2
    assert got[3] == "b" and throttled in got[4]  # b: the stage default, burst 1
    assert got[5:] == ["c"] * 4  # c: its own, higher limit
    assert gw.metrics.throttled["message"] == 2


# -- one request id; Java list methods in templates -----------------------------------------


async def test_request_id_equals_extended_request_id_and_list_count(kit, event_log):
    template = (
        '{"id":"$context.requestId","ext":"$context.extendedRequestId",'
        "\"pets\":$input.path('$.pets').count(),\"size\":$input.path('$.pets').size(),"
        '"at":$input.path(\'$.pets\').indexOf("cat")}'
    )
    api = kit.api_with(
        Route("$connect", kit.proxy(kit.function("c", "ok"))), Route("pets", kinesis(template))
    )
    async with kit.running(api) as gw, aiohttp.ClientSession() as s:
        async with s.ws_connect(gw.ws_url) as ws:
            await ws.send_str('{"action":"pets","pets":["dog","cat","fish"]}')
            await kit.connection_id_of(ws)
    (connect,) = event_log.events()
    assert connect["requestContext"]["requestId"] == connect["requestContext"]["extendedRequestId"]
    rendered = gw.integrations.recorder.calls[0].json()
    assert rendered["id"] == rendered["ext"] and len(rendered["id"]) == 16
    assert (rendered["pets"], rendered["size"], rendered["at"]) == (3, 3, 1)


# -- $disconnect headers; whole requestContext objects --------------------------------------


async def test_events_carry_whole_request_contexts_and_disconnect_headers(kit, event_log):
    fn = kit.proxy(kit.function("all", "ok"))
    api = kit.api_with(Route("$connect", fn), Route("m", fn), Route("$disconnect", fn))
    async with kit.running(api) as gw, aiohttp.ClientSession() as s:
        async with s.ws_connect(gw.ws_url, headers={"User-Agent": "fidelity"}) as ws:
            await ws.send_str('{"action":"m"}')
            await event_log.wait_for(
                lambda e: e["event"]["requestContext"]["eventType"] == "MESSAGE"
            )
        await event_log.wait_for(
            lambda e: e["event"]["requestContext"]["eventType"] == "DISCONNECT"
        )
    connect, message, disconnect = event_log.events()
    for event in (connect, message, disconnect):
        ctx = event["requestContext"]
        assert set(ctx["identity"]) == IDENTITY_MEMBERS
        assert (
            ctx["identity"]["userAgent"] == "fidelity"
            and ctx["identity"]["sourceIp"] == "127.0.0.1"
        )
        assert ctx["identity"]["cognitoIdentityId"] is None and ctx["identity"]["user"] is None
        assert {"messageId", "disconnectStatusCode", "disconnectReason"} <= set(ctx)
        assert ctx["requestId"] == ctx["extendedRequestId"]
    assert connect["requestContext"]["messageId"] is None
    assert connect["requestContext"]["disconnectStatusCode"] is None
    assert isinstance(message["requestContext"]["messageId"], str)
    assert message["requestContext"]["disconnectStatusCode"] is None
    assert disconnect["requestContext"]["messageId"] is None
    assert disconnect["requestContext"]["disconnectStatusCode"] == 1000
    # $disconnect's headers: the API's Host and empty members, as AWS sends them
    assert disconnect["headers"] == {
        "Host": gw.domain_name,
        "x-api-key": "",
        "X-Forwarded-For": "",
        "x-restapi": "",
    }
    assert disconnect["multiValueHeaders"]["Host"] == [gw.domain_name]


# -- arrays in route selection --------------------------------------------------------------


async def test_arrays_select_routes_as_aws_stringifies_them(kit):
    api = kit.api_with(two_way("[1, 2]", mock("numbers")), two_way("[item1, item2]", mock("items")),
                       two_way("[1,2]", mock("json")))  # fmt: skip
    async with kit.running(api) as gw, aiohttp.ClientSession() as s:
        async with s.ws_connect(gw.ws_url) as ws:
            await ws.send_str('{"action":[1,2]}')
            await ws.send_str('{"action":["item1","item2"]}')
            assert await frames(ws, 2) == ["numbers", "items"]


# -- the 300-route quota --------------------------------------------------------------------


async def test_at_most_300_routes_per_api(kit):
    routes = {f"r{i}": two_way(f"r{i}", mock(f"r{i}")) for i in range(MAX_ROUTES)}
    api = WebSocketApi("wide", routes=routes)
    async with kit.running(api) as gw, aiohttp.ClientSession() as s:
        async with s.ws_connect(gw.ws_url) as ws:
            await ws.send_str('{"action":"r299"}')
            assert await frames(ws, 1) == ["r299"]
    with pytest.raises(ConfigurationError, match="300"):
        WebSocketApi("wider", routes={**routes, "one-more": Route("one-more")})


def test_a_template_with_301_routes_is_refused():
    routes = {
        f"R{i}": {
            "Type": "AWS::ApiGatewayV2::Route",
            "Properties": {"ApiId": {"Ref": "Api"}, "RouteKey": f"r{i}"},
        }
        for i in range(MAX_ROUTES + 1)
    }
    template = {
        "Resources": {
            "Api": {
                "Type": "AWS::ApiGatewayV2::Api",
                "Properties": {"Name": "a", "ProtocolType": "WEBSOCKET"},
            },
            **routes,
        }
    }
    with pytest.raises(TemplateError, match="301 routes"):
        load_template(template)


# -- a $connect route response --------------------------------------------------------------


async def test_a_two_way_connect_route_sends_its_response(kit):
    api = kit.api_with(two_way("$connect", mock('{"hello": "$context.connectionId"}')))
    async with kit.running(api) as gw, aiohttp.ClientSession() as s:
        async with s.ws_connect(gw.ws_url) as ws:
            greeting = json.loads(await ws.receive_str(timeout=10))
            assert greeting["hello"] == await kit.connection_id_of(ws)
    # one-way (no route response): nothing is sent
    async with (
        kit.running(kit.api_with(Route("$connect", mock("{}")))) as gw,
        aiohttp.ClientSession() as s,
    ):
        async with s.ws_connect(gw.ws_url) as ws:
            await ws.send_str('{"action":"__whoami__"}')
            assert json.loads(await ws.receive_str(timeout=10))["message"] == "Forbidden"


# -- the loader: API keys, usage plans, route settings, stage variables in Lambda ARNs ------


def test_the_loader_reads_api_keys_usage_plans_and_route_settings(tmp_path):
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "app.py").write_text("def handler(event, context):\n    return {}\n")
    arn = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
    template = {
        "Resources": {
            "Api": {
                "Type": "AWS::ApiGatewayV2::Api",
                "Properties": {
                    "Name": "a",
                    "ProtocolType": "WEBSOCKET",
                    "ApiKeySelectionExpression": "$request.header.x-api-key",
                },
            },
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "FunctionName": "blue",
                    "Handler": "app.handler",
                    "Runtime": "python3.11",
                    "CodeUri": "fn",
                },
            },
            "Integ": {
                "Type": "AWS::ApiGatewayV2::Integration",
                "Properties": {
                    "ApiId": {"Ref": "Api"},
                    "IntegrationType": "AWS_PROXY",
                    "IntegrationUri": arn
                    + "arn:aws:lambda:us-east-1:000000000000:function:${stageVariables.fn}/invocations",
                },
            },
            "Connect": {
                "Type": "AWS::ApiGatewayV2::Route",
                "Properties": {
                    "ApiId": {"Ref": "Api"},
                    "RouteKey": "$connect",
                    "ApiKeyRequired": True,
                    "Target": {"Fn::Sub": "integrations/${Integ}"},
                },
            },
            "Stage": {
                "Type": "AWS::ApiGatewayV2::Stage",
                "Properties": {
                    "ApiId": {"Ref": "Api"},
                    "StageName": "prod",
                    "StageVariables": {"fn": "blue"},
                    "RouteSettings": {
                        "$connect": {"ThrottlingBurstLimit": 4, "ThrottlingRateLimit": 2}
                    },
                },
            },
            "Key": {
                "Type": "AWS::ApiGateway::ApiKey",
                "Properties": {"Name": "k", "Value": "secret-value", "Enabled": True},
            },
            "Plan": {
                "Type": "AWS::ApiGateway::UsagePlan",
                "Properties": {
                    "ApiStages": [{"ApiId": {"Ref": "Api"}, "Stage": "prod"}],
                    "Throttle": {"BurstLimit": 5, "RateLimit": 1},
                },
            },
            "PlanKey": {
                "Type": "AWS::ApiGateway::UsagePlanKey",
                "Properties": {
                    "KeyId": {"Ref": "Key"},
                    "KeyType": "API_KEY",
                    "UsagePlanId": {"Ref": "Plan"},
                },
            },
        }
    }
    (tmp_path / "template.json").write_text(json.dumps(template))
    loaded = load_template(tmp_path / "template.json")
    api = next(iter(loaded.apis.values()))
    connect = api.routes["$connect"]
    assert connect.api_key_required is True
    assert connect.integration is not None and connect.integration.function is not None
    assert connect.integration.function.name == "blue"
    assert api.stage.route_settings == {"$connect": RouteThrottle(2.0, 4)}
    (key,) = api.api_keys
    assert key.value == "secret-value" and key.enabled
    (plan,) = api.usage_plans
    assert plan.key_ids == (key.key_id,)
    assert (plan.throttling_rate_limit, plan.throttling_burst_limit) == (1.0, 5)
