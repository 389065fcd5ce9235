"""moto's server in this process, on 127.0.0.1 and a free port.

moto's ``ThreadedMotoServer`` serves every service moto models on one port and tells them
apart by the SigV4 credential scope of each request, so one URL stands for all of them
(``AWS_ENDPOINT_URL``). It runs in a daemon thread: its werkzeug server handles each
request on its own thread, so a slow call never waits on the gateway's event loop, nor
the loop on it (callers reach it over HTTP from the loop, from other threads, and from
Lambda worker processes); it shares the process's CPU, GIL included.

Accounts: moto files a request under the account that owns its access key in moto's IAM
(else its default, 123456789012). The local stack's ARNs name the template's account
(000000000000 unless told otherwise), so :meth:`EmbeddedAws.credentials_for` makes an
IAM user with an access key in that account (moto's ``x-moto-account-id`` header on the
IAM calls), and everything signs with that key: resources land where their ARNs say.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

__all__ = ["EmbeddedAws"]


class EmbeddedAws:
    """``start()`` then ``url``; ``stop()`` shuts the server down."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._server: Any = None

    def start(self) -> str:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as exc:  # werkzeug/flask come with moto[server]
            raise RuntimeError(
                "the embedded AWS needs moto's server: pip install 'tickwire[local]' (or 'moto[server]')"
            ) from exc
        # moto logs every request at INFO through werkzeug: keep the gateway's log readable.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        server.start()
        self._server = server
        self.port = server.get_host_and_port()[1]
        return self.url

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def credentials_for(self, account_id: str, region: str = "us-east-1") -> tuple[str, str]:
        """An access key that moto files under ``account_id`` (the keys the gateway and
        the Lambda workers sign with, so nothing signs with a developer's real keys)."""
        import boto3

        iam = boto3.client(
            "iam",
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id="tickwire-local",
            aws_secret_access_key="tickwire-local",
        )

        def in_account(request: Any, **_: Any) -> None:
            request.headers["x-moto-account-id"] = account_id

        iam.meta.events.register("before-sign.iam.*", in_account)
        # a user of its own: moto's state is per process (another embedded server, or a
        # test's moto_server, may have made users), and IAM allows two keys per user
        user = f"tickwire-local-{uuid.uuid4().hex[:12]}"
        iam.create_user(UserName=user)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        return str(key["AccessKeyId"]), str(key["SecretAccessKey"])
