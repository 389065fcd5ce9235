"""Hostile clients for the fault suite, written as raw sockets that misbehave.

- :class:`Flooder`: one authenticated connection writing input frames at a fixed rate
  (precomputed frames, one ``write`` per 10 ms batch), reading and discarding what it
  gets, and noting the server's close code.
- :class:`NeverReaders`: authenticated connections with a small ``SO_RCVBUF`` that
  complete the handshake and then never read again, so the gateway's writes to them
  back up. Whether the server closed one is read from the kernel (``TCP_INFO``), not
  from the socket, so checking does not read either.
- :func:`bad_token_storm`: handshakes with a token that fails verification, at a fixed
  rate with bounded concurrency, counting the answers by HTTP status.

Each is bounded in count and time, connects to 127.0.0.1 only, and closes everything it
opened. The honest load is the swarm (:mod:`swarm`), in its own process.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections import Counter
from dataclasses import dataclass, field

from ingest.tokens import mint

__all__ = ["Flooder", "NeverReaders", "bad_token_storm", "input_frame"]

# linux/tcp.h: tcp_info starts with the state byte; 1 is TCP_ESTABLISHED.
_TCP_ESTABLISHED = 1


def input_frame(seq: int) -> bytes:
    """A masked client text frame holding one input (the mask key is zero, which RFC 6455
    allows: the payload then goes as it is)."""
    payload = f'{{"action":"input","seq":{seq},"move":[1,0],"aim":[0,1],"fire":false}}'.encode()
    assert len(payload) < 126
    return bytes((0x81, 0x80 | len(payload))) + b"\0\0\0\0" + payload


def _upgrade(path: str, port: int) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def _status(head: bytes) -> int:
    try:
        return int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


@dataclass
class Flooder:
    """One connection of a player sending ``rate`` inputs per second."""

    port: int
    secret: str
    rate: float = 5_000.0
    match: str = "hostile-flood"
    player: str = "flooder"
    sent: int = 0
    closed_after_s: float | None = None  # seconds from the first frame to the server's close
    close_code: int | None = None
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])

    async def _run(self) -> None:
        token = mint(self.secret, match=self.match, player=self.player)
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(_upgrade(f"/local?token={token}", self.port))
            head = await reader.readuntil(b"\r\n\r\n")
            assert _status(head) == 101, head[:200]
            started = time.monotonic()
            closed = asyncio.create_task(self._read_until_close(reader, writer))
            batch, period, k = max(1, round(self.rate / 100)), 0.01, 0
            while not closed.done():
                k += 1
                frames = [input_frame(self.sent + i + 1) for i in range(batch)]
                self.sent += batch
                writer.write(b"".join(frames))
                await asyncio.sleep(max(0.0, started + k * period - time.monotonic()))
            self.closed_after_s = time.monotonic() - started
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _read_until_close(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Server frames (unmasked) until a close frame or the end of the stream; pings
        are answered, as every WebSocket library does."""
        with contextlib.suppress(asyncio.IncompleteReadError, OSError):
            while True:
                first, second = await reader.readexactly(2)
                size = second & 0x7F
                if size == 126:
                    (size,) = struct.unpack("!H", await reader.readexactly(2))
                elif size == 127:
                    (size,) = struct.unpack("!Q", await reader.readexactly(8))
                payload = await reader.readexactly(size)
                if first & 0x0F == 0x9:
                    writer.write(bytes((0x8A, 0x80 | len(payload))) + b"\0\0\0\0" + payload)
                elif first & 0x0F == 0x8:
                    self.close_code = struct.unpack("!H", payload[:2])[0] if size >= 2 else 1005
                    return


@dataclass
class NeverReaders:
    """``count`` authenticated connections that never read after the handshake."""

    port: int
    secret: str
    count: int = 2_000
    receive_buffer: int = 4096
    connect_rate: float = 400.0  # under the gateway's 500/s new-connection quota
    concurrency: int = 64
    statuses: Counter[int] = field(default_factory=Counter)
    sockets: list[socket.socket] = field(default_factory=list)
    _tokens: list[str] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        # Minted beforehand, as an attacker would hold them: the attack's own CPU on this
        # machine is sockets only.
        self._tokens = [
            mint(self.secret, match=f"hostile-sleep-{i // 16}", player=f"sleeper-{i}")
            for i in range(self.count)
        ]

    def start(self) -> None:
        self._task = asyncio.create_task(self._open_all())

    async def _open_all(self) -> None:
        gate = asyncio.Semaphore(self.concurrency)
        started = time.monotonic()
        tasks = []
        for i in range(self.count):
            await asyncio.sleep(max(0.0, started + i / self.connect_rate - time.monotonic()))
            await gate.acquire()
            task = asyncio.create_task(self._open(i))
            task.add_done_callback(lambda _t: gate.release())
            tasks.append(task)
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _open(self, i: int) -> None:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)
        sock.setblocking(False)
        token = self._tokens[i]
        try:
            async with asyncio.timeout(15):
                await loop.sock_connect(sock, ("127.0.0.1", self.port))
                await loop.sock_sendall(sock, _upgrade(f"/local?token={token}", self.port))
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = await loop.sock_recv(sock, 1024)
                    if not chunk:
                        break
                    head += chunk
        except (OSError, TimeoutError):
            self.statuses[0] += 1
            sock.close()
            return
        status = _status(head)
        self.statuses[status] += 1
        if status == 101:
            self.sockets.append(sock)  # and never read again
        else:
            sock.close()

    async def wait_opened(self) -> None:
        if self._task is not None:
            await self._task

    def closed_by_server(self) -> int:
        """Connections the server has closed (FIN or reset), read from TCP_INFO."""
        return sum(
            sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] != _TCP_ESTABLISHED
            for sock in self.sockets
        )

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
        for sock in self.sockets:
            sock.close()


async def bad_token_storm(
    port: int, rate: float, seconds: float, statuses: Counter[int], concurrency: int = 64
) -> None:
    """Upgrade requests whose token fails verification, ``rate`` per second for
    ``seconds``; counts the answers in ``statuses`` by HTTP status (0: no answer within
    5 s, or a reset)."""
    gate = asyncio.Semaphore(concurrency)
    bad = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLW9mLW5vYm9keQ"

    async def one(i: int) -> None:
        try:
            async with asyncio.timeout(5):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                try:
                    writer.write(_upgrade(f"/local?token={bad}{i}", port))
                    statuses[_status(await reader.readuntil(b"\r\n"))] += 1
                finally:
                    writer.close()
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            statuses[0] += 1
        finally:
            gate.release()

    started = time.monotonic()
    tasks = []
    for i in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
        await gate.acquire()
        tasks.append(asyncio.create_task(one(i)))
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
