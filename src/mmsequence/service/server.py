"""``serve --workers N``: N uvicorn processes, each with its own listening socket on the same port.

uvicorn's own ``--workers`` shares one listening socket, and asyncio accepts every pending
connection at once: 32 clients connecting together all went to whichever worker woke first, so a
second worker added nothing. Here each worker binds its own socket with SO_REUSEPORT, and the
kernel spreads connections over them. The sockets are made with ``proto`` IPPROTO_TCP, so that
asyncio turns Nagle off (on uvicorn's shared socket it did not, and each response body waited
~40 ms behind its headers for the client's delayed ACK).

The parent only watches: when a worker ends, or the parent is told to stop, every worker is
stopped and ``serve`` returns (a service manager restarts it).
"""

from __future__ import annotations

import ipaddress
import multiprocessing
import signal
import socket
import time
from typing import Any

import uvicorn

from ..errors import InputError


def _listening_socket(host: str, port: int) -> socket.socket:
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        family = socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _worker(app: str, host: str, port: int, options: dict[str, Any]) -> None:
    sock = _listening_socket(host, port)
    uvicorn.Server(uvicorn.Config(app, factory=True, **options)).run(sockets=[sock])


def run_workers(app: str, host: str, port: int, workers: int, options: dict[str, Any]) -> None:
    """Run ``workers`` processes of the application factory ``app`` (an import string) on host:port."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise InputError(["--workers: needs SO_REUSEPORT (Linux); run one process per port instead"])
    _listening_socket(host, port).close()  # the port can be bound: say so now, not in N workers
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_worker, args=(app, host, port, options), daemon=True) for _ in range(workers)]
    stopping: list[int] = []  # a plain flag: a signal handler must not take a lock its thread may hold

    def stop(signum: int, frame: Any) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for process in processes:
            process.start()
        while not stopping and all(p.is_alive() for p in processes):
            time.sleep(0.2)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=30)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
