"""What ``serve`` changes in uvicorn: every connection with TCP_NODELAY.

asyncio sets TCP_NODELAY only on sockets whose ``proto`` is IPPROTO_TCP, and the listening socket
uvicorn binds for its worker processes (``--workers N``) is made with ``proto`` 0. Without it, the
response body waits behind its headers for the client's delayed ACK: about 40 ms a request.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, sending each write at once."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
