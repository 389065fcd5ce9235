"""``examples/chat`` as its README runs it: from its SAM template, nothing else started
(its DynamoDB table is created in the embedded AWS), handlers calling @connections over
TLS."""

from __future__ import annotations

import aiohttp

from .conftest import TEMPLATES, run_template, wait_for

CHAT = TEMPLATES.parents[3] / "examples" / "chat" / "template.yaml"


async def test_the_chat_example_runs_from_its_template_alone() -> None:
    async with run_template(CHAT, tls=True, parameters={"StageName": "dev"}) as run:
        dynamodb = run.client("dynamodb")
        table = run.loaded.resources["ConnectionsTable"].name

        def connected() -> int:
            return len(dynamodb.scan(TableName=table)["Items"])

        async with aiohttp.ClientSession() as session:
            alice = await session.ws_connect(run.gateway.ws_url)
            bob = await session.ws_connect(run.gateway.ws_url)
            assert connected() == 2
            await alice.send_str('{"action": "sendmessage", "data": "hello, embedded AWS"}')
            for ws in (alice, bob):
                assert (await ws.receive(timeout=60)).data == "hello, embedded AWS"
            await alice.close()
            await bob.close()
            await wait_for(lambda: connected() == 0)
