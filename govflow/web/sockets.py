"""The listening socket of `govflow serve`, bound before anything says it is serving."""

from __future__ import annotations

import errno
import socket

from govflow.errors import InputError

PORT_BUSY = ("port {port} on {host} is already in use (another govflow serve, or another program): "
             "stop it, or choose another with --port")
CANNOT_LISTEN = "cannot listen on {host} port {port}: {reason}; choose another --host or --port"


def listen(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A socket listening on ``host:port``; `InputError` (exit 2) when the port is taken or the address unusable."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: restart past TIME_WAIT
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise InputError(PORT_BUSY.format(port=port, host=host)) from None
        raise InputError(CANNOT_LISTEN.format(host=host, port=port, reason=e.strerror or e)) from None
    return sock
