"""AWS service (VTL request template -> backend), MOCK and HTTP proxy integrations."""

from __future__ import annotations

import asyncio
import base64
import json

import aiohttp
import pytest
from aiohttp import web

from infra.local.gateway import RecordingService
from infra.local.gateway.model import Authorizer, Integration, Route

PUT_RECORD = (
    '#set($record = "{""v"":1,""conn"":""$context.connectionId"",""route"":""$context.routeKey""}")\n'
    '{"StreamName": "actions", "Data": "$util.base64Encode($input.body)", '
    '"PartitionKey": "$context.authorizer.playerId"}'
)


def _kinesis(template: str = PUT_RECORD) -> Integration:
    return Integration(
        "AWS",
        uri="arn:aws:apigateway:us-east-1:kinesis:action/PutRecord",
        request_templates={"$default": template},
        template_selection_expression="\\$default",
    )


class FailingKinesis:
    def __init__(self, status: int) -> None:
        self.status = status

    async def call(self, action: str, body: bytes) -> tuple[int, bytes]:
        if self.status == 0:
            raise ConnectionError("stream unreachable")
        return self.status, b'{"__type": "ProvisionedThroughputExceededException"}'


def _authorized_api(kit, *routes: Route):
    auth = Authorizer(
        "auth", kit.function("auth", "authorizer"), ("route.request.querystring.token",)
    )
    connect = Route("$connect", None, authorization_type="CUSTOM", authorizer=auth)
    return kit.api_with(connect, *routes)


async def test_kinesis_put_record_template_reaches_the_backend(kit, event_log):
    recorder = RecordingService()
    api = _authorized_api(kit, Route("input", _kinesis()))
    async with (
        kit.running(api, aws_services={"kinesis": recorder}) as gw,
        aiohttp.ClientSession() as s,
    ):
        async with s.ws_connect(gw.ws_url + "?token=allow-m1") as ws:
            cid = await kit.connection_id_of(ws)
            await ws.send_str('{"action":"input","seq":1}')
            await ws.send_str('{"action":"input","seq":2}')
            await ws.send_str('{"action":"input","seq":3}')
            await kit.connection_id_of(ws)  # a round trip: the puts above are done
    assert [c.action for c in recorder.calls] == ["PutRecord"] * 3
    request = recorder.calls[0].json()
    assert request["StreamName"] == "actions"
    assert request["PartitionKey"] == "m1"  # authorizer context, as a string
    assert base64.b64decode(request["Data"]) == b'{"action":"input","seq":1}'
    assert cid


async def test_failing_service_gives_error_frame_and_failed_connect(kit, event_log):
    for backend in (FailingKinesis(400), FailingKinesis(0)):
        api = kit.api_with(Route("input", _kinesis()))
        async with (
            kit.running(api, aws_services={"kinesis": backend}) as gw,
            aiohttp.ClientSession() as s,
        ):
            async with s.ws_connect(gw.ws_url) as ws:
                await ws.send_str('{"action":"input"}')
                msg = json.loads((await ws.receive(timeout=10)).data)
                assert msg["message"] == "Internal server error"
        api = kit.api_with(Route("$connect", _kinesis()))
        async with (
            kit.running(api, aws_services={"kinesis": backend}) as gw,
            aiohttp.ClientSession() as s,
        ):
            try:
                await s.ws_connect(gw.ws_url)
            except aiohttp.WSServerHandshakeError as exc:
                assert exc.status == 500
            else:
                raise AssertionError("connected through a failing $connect")


async def test_default_recorder_and_stage_variables(kit):
    template = '{"stage": "$stageVariables.env", "body": $input.json(\'$\')}'
    api = kit.api_with(Route("input", _kinesis(template)))
    api = type(api)(
        name=api.name,
        routes=api.routes,
        stage=type(api.stage)(name="local", stage_variables={"env": "dev"}),
    )
    async with kit.running(api) as gw, aiohttp.ClientSession() as s:
        async with s.ws_connect(gw.ws_url) as ws:
            await ws.send_str('{"action":"input","n":5}')
            await kit.connection_id_of(ws)
        call = gw.integrations.recorder.calls[0]
        assert call.json() == {"stage": "dev", "body": {"action": "input", "n": 5}}


async def test_mock_connect_status_from_template(kit):
    for status, ok in ((200, True), (403, False)):
        mock = Integration("MOCK", request_templates={"$default": f'{{"statusCode": {status}}}'})
        async with (
            kit.running(kit.api_with(Route("$connect", mock))) as gw,
            aiohttp.ClientSession() as s,
        ):
            try:
                ws = await s.ws_connect(gw.ws_url)
                await ws.close()
                assert ok
            except aiohttp.WSServerHandshakeError as exc:
                assert not ok and exc.status == status


async def test_connect_templates_read_the_upgrade_request_params(kit):
    """$input.params() on $connect: the query string and headers of the upgrade (a MOCK
    admitting by query parameter, an AWS integration mapping a header and a parameter)."""
    mock = Integration("MOCK", request_templates={"$default": (
        '{"statusCode": #if($input.params(\'pass\') == "yes")200#{else}403#end}'
    )})  # fmt: skip
    async with (
        kit.running(kit.api_with(Route("$connect", mock))) as gw,
        aiohttp.ClientSession() as s,
    ):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await s.ws_connect(gw.ws_url + "?pass=no")
        assert refused.value.status == 403
        await (await s.ws_connect(gw.ws_url + "?pass=yes")).close()
    template = (
        '{"who": "$input.params(\'who\')", "agent": "$input.params().header.get(\'X-Agent\')"}'
    )
    aws = Integration(
        "AWS",
        uri="arn:aws:apigateway:us-east-1:sqs:path/000000000000/q",
        request_templates={"$default": template},
        request_parameters={"integration.request.querystring.From": "route.request.header.X-Agent"},
    )
    async with (
        kit.running(kit.api_with(Route("$connect", aws))) as gw,
        aiohttp.ClientSession() as s,
    ):
        await (await s.ws_connect(gw.ws_url + "?who=ada", headers={"X-Agent": "t/1"})).close()
        (call,) = gw.integrations.recorder.calls
        assert call.json() == {"who": "ada", "agent": "t/1"}
        assert call.request is not None and call.request.path == "000000000000/q"
        assert call.request.query == {"From": "t/1"}


async def test_http_proxy_posts_the_message(kit, unused_port):
    received: list[bytes] = []

    async def backend(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(text="backend says hi")

    app = web.Application()
    app.router.add_post("/hook", backend)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_port).start()
    try:
        hook = Integration("HTTP_PROXY", uri=f"http://127.0.0.1:{unused_port}/hook")
        api = kit.api_with(
            Route(
                "ask",
                hook,
                route_response_selection_expression="$default",
                route_response_keys=("$default",),
            )
        )
        async with kit.running(api) as gw, aiohttp.ClientSession() as s:
            async with s.ws_connect(gw.ws_url) as ws:
                await ws.send_str('{"action":"ask"}')
                assert (await ws.receive(timeout=10)).data == "backend says hi"
        assert received == [b'{"action":"ask"}']
    finally:
        await runner.cleanup()


class SlowKinesis:
    def __init__(self) -> None:
        self.calls = 0

    async def call(self, action: str, body: bytes) -> tuple[int, bytes]:
        self.calls += 1
        if self.calls == 1:
            await asyncio.sleep(30)  # past the integration timeout
        return 200, b"{}"


async def test_integration_timeout_gives_error_frame_and_the_connection_goes_on(kit):
    slow = SlowKinesis()
    integration = Integration(
        "AWS",
        uri="arn:aws:apigateway:us-east-1:kinesis:action/PutRecord",
        request_templates={"$default": "{}"},
        timeout_ms=300,
    )
    api = kit.api_with(Route("input", integration))
    async with kit.running(api, aws_services={"kinesis": slow}) as gw, aiohttp.ClientSession() as s:
        async with s.ws_connect(gw.ws_url) as ws:
            started = asyncio.get_running_loop().time()
            await ws.send_str('{"action":"input"}')
            msg = json.loads((await ws.receive(timeout=10)).data)
            assert msg["message"] == "Internal server error"
            assert asyncio.get_running_loop().time() - started < 5
            await ws.send_str('{"action":"input"}')  # served normally
            await kit.connection_id_of(ws)
    assert slow.calls == 2


async def test_application_json_template_key_and_passthrough(kit):
    keyed = Integration(
        "AWS",
        uri="arn:aws:apigateway:us-east-1:kinesis:action/PutRecord",
        request_templates={"application/json": '{"route": "$context.routeKey"}'},
    )
    passthrough = Integration("AWS", uri="arn:aws:apigateway:us-east-1:kinesis:action/PutRecords")
    api = kit.api_with(Route("a", keyed), Route("b", passthrough))
    async with kit.running(api) as gw, aiohttp.ClientSession() as s:
        async with s.ws_connect(gw.ws_url) as ws:
            await ws.send_str('{"action":"a"}')
            await ws.send_str('{"action":"b","raw":true}')
            await kit.connection_id_of(ws)
    calls = list(gw.integrations.recorder.calls)
    assert [(c.action, c.body) for c in calls] == [
        ("PutRecord", b'{"route": "a"}'),
        ("PutRecords", b'{"action":"b","raw":true}'),  # no template: the body passes through
    ]


async def test_per_message_context_fields_are_fresh_for_each_message(kit):
    # The gateway builds a connection's $context once per route and makes only the
    # per-message fields a template reads; those must still be new for every message.
    template = (
        '{"id": "$context.requestId", "ext": "$context.extendedRequestId", '
        '"msg": "$context.messageId", "time": "$context.requestTime", '
        '"epoch": $context.requestTimeEpoch, "conn": "$context.connectionId"}'
    )
    epoch_only = '{"epoch": $context.requestTimeEpoch, "route": "$context.routeKey"}'
    api = kit.api_with(Route("a", _kinesis(template)), Route("b", _kinesis(epoch_only)))
    async with kit.running(api) as gw, aiohttp.ClientSession() as s:
        async with s.ws_connect(gw.ws_url) as ws:
            for action in ("a", "a", "b", "a"):
                await ws.send_str(json.dumps({"action": action}))
            conn = await kit.connection_id_of(ws)
    seen = [json.loads(c.body) for c in gw.integrations.recorder.calls]
    full = [r for r in seen if "id" in r]
    assert len(full) == 3 and next(r for r in seen if "id" not in r)["route"] == "b"
    # requestId == extendedRequestId (one id per request, as on AWS)
    assert all(r["id"] == r["ext"] for r in full)
    ids = [r[k] for r in full for k in ("id", "msg")]
    assert all(len(i) == 16 for i in ids) and len(set(ids)) == len(ids)
    assert all(r["conn"] == conn and r["epoch"] > 0 and r["time"].endswith("+0000") for r in full)


class GatedKinesis:
    """Holds every call whose request mentions "held" until ``release`` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.passed: list[bytes] = []

    async def call(self, action: str, body: bytes) -> tuple[int, bytes]:
        if b"held" in body:
            await self.release.wait()
        self.passed.append(body)
        return 200, b"{}"


async def test_a_slow_integration_holds_up_only_its_own_connection(kit):
    gated = GatedKinesis()
    api = kit.api_with(Route("input", _kinesis('{"who": "$input.body"}')))
    async with (
        kit.running(api, aws_services={"kinesis": gated}) as gw,
        aiohttp.ClientSession() as s,
    ):
        async with s.ws_connect(gw.ws_url) as slow, s.ws_connect(gw.ws_url) as fast:
            await slow.send_str('{"action":"input","n":"held"}')
            await slow.send_str('{"action":"input","n":"after"}')
            for i in range(5):
                await fast.send_str(f'{{"action":"input","n":{i}}}')
            await kit.connection_id_of(fast)  # a round trip: fast's messages were handled
            assert len(gated.passed) == 5 and not any(b"after" in b for b in gated.passed)
            gated.release.set()
            await kit.connection_id_of(slow)
    assert sum(b"after" in b for b in gated.passed) == 1 and len(gated.passed) == 7
