"""One clear line when a command cannot listen on its port.

asyncio (and uvloop) report a taken port as ``OSError(EADDRINUSE, "error while attempting to
bind on address ('127.0.0.1', 8080): address already in use")``, which names neither the
flag that chose the port nor what to do. :func:`bind_error_line` turns that into one line
naming the port and its flag; other errors keep their own text.
"""

from __future__ import annotations

import errno
import re
import socket
from collections.abc import Mapping

__all__ = ["bind_error_line", "error_line"]

# The address in asyncio's and uvloop's bind error: "... on address ('HOST', PORT): ..."
_ADDRESS = re.compile(r"address \('([^']*)', (\d+)")


def bind_error_line(
    command: str, exc: OSError, ports: Mapping[str, int | None], bind_host: str = "127.0.0.1"
) -> str:
    """The line to print for ``exc``, raised while ``command`` started its listeners on
    ``bind_host`` (call it once they are closed again).

    ``ports`` maps each port flag to its value (``{"--port": 8080, "--tls-port": None}``).
    """
    if exc.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
        return f"{command}: {exc}"
    found = _ADDRESS.search(str(exc))
    host, port = (found.group(1), int(found.group(2))) if found else (bind_host, None)
    flags = [flag for flag, value in ports.items() if value is not None and value == port]
    if port is None:  # socket.bind's error names no address: find the port that is taken
        given = [(flag, value) for flag, value in ports.items() if value]
        taken = [(flag, value) for flag, value in given if not _free(bind_host, value)]
        pick = taken or (given if len(given) == 1 else [])
        if pick:
            flags, port = [pick[0][0]], pick[0][1]
    where = f"port {port}" if port is not None else "a port"
    if host:
        where += f" on {host}"
    flag = flags[0] if flags else "/".join(flag for flag in ports) or "--port"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"{command}: {where} is already in use (another tickwire, or another server?); "
            f"choose a free one with {flag} N"
        )
    if exc.errno == errno.EACCES:
        return (
            f"{command}: not allowed to listen on {where}; choose a port above 1023 with {flag} N"
        )
    return f"{command}: cannot listen on {where} (address not available here); see --host"


def error_line(
    command: str, exc: BaseException, ports: Mapping[str, int | None], bind_host: str = "127.0.0.1"
) -> str:
    """One line for a start-up error: :func:`bind_error_line` for an ``OSError``, else the
    error's own text after the command's name."""
    if isinstance(exc, OSError):
        return bind_error_line(command, exc, ports, bind_host)
    return f"{command}: {exc}"


def _free(host: str, port: int) -> bool:
    """Whether ``port`` can be bound on ``host`` now (as the servers bind: SO_REUSEADDR)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True
