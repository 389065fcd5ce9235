"""moto's server in this process, on 127.0.0.1 and a free port.

moto's ``ThreadedMotoServer`` serves every service moto models on one port and tells them
apart by the SigV4 credential scope of each request, so one URL stands for all of them
(``AWS_ENDPOINT_URL``). It runs in a daemon thread: its werkzeug server handles each
request on its own thread, so a slow call never blocks the gateway's event loop (callers
reach it over HTTP from the loop, from other threads, and from Lambda worker processes).
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["EMBEDDED_CREDENTIALS", "EmbeddedAws"]

# moto accepts any credentials; these are what the workers and the gateway sign with,
# so nothing ever signs with a developer's real keys against the embedded server.
EMBEDDED_CREDENTIALS = ("AKIAIOSFODNN7EXAMPLE", "tickwire-embedded-aws-secret")


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
                "the embedded AWS needs moto's server: pip install 'moto[server]'"
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
