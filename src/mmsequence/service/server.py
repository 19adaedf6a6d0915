"""``serve --workers N``: N uvicorn processes, each with its own listening socket on the same port.

uvicorn's own ``--workers`` shares one listening socket, and asyncio accepts every pending
connection at once: 32 clients connecting together all went to whichever worker woke first, so a
second worker added nothing. Here each worker binds its own socket with SO_REUSEPORT, and the
kernel spreads connections over them. The sockets are made with ``proto`` IPPROTO_TCP, so that
asyncio turns Nagle off (on uvicorn's shared socket it did not, and each response body waited
~40 ms behind its headers for the client's delayed ACK).

The parent only watches: when a worker ends, or the parent is told to stop, every worker is
stopped and ``serve`` returns (a service manager restarts it). A worker dies with its parent, even
one killed with SIGKILL: the kernel sends it SIGTERM when the parent ends (Linux's
PR_SET_PDEATHSIG), and a watchdog thread ends it when its parent is no longer the one that
started it. An orphaned worker would go on answering with the trust of the day it started.

A port already served is refused before anything starts: the probe binds it without
SO_REUSEPORT, which fails while any socket listens there (another ``serve``'s workers included).
"""

from __future__ import annotations

import ctypes
import errno
import ipaddress
import multiprocessing
import os
import signal
import socket
import sys
import threading
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


_PR_SET_PDEATHSIG = 1
#: Seconds between the watchdog's looks at the parent, and the grace a worker gets to stop.
_WATCH_SECONDS = 0.5
_GRACE_SECONDS = 5.0


def refuse_if_served(host: str, port: int) -> None:
    """InputError if host:port cannot be bound alone (something listens there, or it is not ours to bind)."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        family = socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free
        try:
            probe.bind((host, port))
        except OSError as error:
            reason = "already in use (is another serve still running?)" if error.errno == errno.EADDRINUSE \
                else f"cannot be bound ({error.strerror})"
            raise InputError([f"--port: {host}:{port} is {reason}"]) from None


def die_with(parent: int) -> None:
    """End this process when ``parent`` ends: the kernel's parent-death signal where there is one,
    and a watchdog thread everywhere (it also covers a parent that died before the signal was set)."""
    if sys.platform.startswith("linux"):
        with_errno = ctypes.CDLL(None, use_errno=True)
        with_errno.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_WATCH_SECONDS)
        os.kill(os.getpid(), signal.SIGTERM)  # uvicorn stops accepting and finishes what it holds
        time.sleep(_GRACE_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="mmsequence-parent-watch", daemon=True).start()


def _worker(app: str, host: str, port: int, options: dict[str, Any], parent: int) -> None:
    die_with(parent)
    sock = _listening_socket(host, port)
    uvicorn.Server(uvicorn.Config(app, factory=True, **options)).run(sockets=[sock])


def run_workers(app: str, host: str, port: int, workers: int, options: dict[str, Any]) -> None:
    """Run ``workers`` processes of the application factory ``app`` (an import string) on host:port."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise InputError(["--workers: needs SO_REUSEPORT (Linux); run one process per port instead"])
    refuse_if_served(host, port)  # say so now, not in N workers
    context = multiprocessing.get_context("spawn")
    # not daemonic: a worker starts its large-body lane's process; each dies with its parent anyway
    processes = [context.Process(target=_worker, args=(app, host, port, options, os.getpid()))
                 for _ in range(workers)]
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
