"""Real service processes for tests: a Celery worker and a Daphne ASGI server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOG_DIR = ROOT / "var" / "log"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(db_name: str, **extra: str) -> dict[str, str]:
    """Environment for a child process that must share the test database and Redis."""
    env = os.environ.copy()
    env["DJANGO_SETTINGS_MODULE"] = "deepchain_web.settings.test"
    env["DEEPCHAIN_DB_NAME"] = str(db_name)
    env.update(extra)
    return env


def spawn(argv: Sequence[str], name: str, env: dict[str, str]) -> subprocess.Popen:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = open(LOG_DIR / f"test-{name}.log", "ab")  # noqa: SIM115 - owned by the child
    return subprocess.Popen(list(argv), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def start_celery_worker(
    env: dict[str, str], name: str, queues: str = "party,crypto,consensus,training", concurrency=2
) -> subprocess.Popen:
    argv = [sys.executable, "-m", "celery", "-A", "deepchain_web", "worker", "-l", "INFO",
            "-Q", queues, "-c", str(concurrency), "-n", f"{name}@%h",
            "--without-gossip", "--without-mingle"]  # fmt: skip
    return spawn(argv, name, env)


def start_daphne(env: dict[str, str], port: int) -> subprocess.Popen:
    argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
            "deepchain_web.asgi:application"]  # fmt: skip
    proc = spawn(argv, f"daphne-{port}", env)
    wait_for_port(port, proc)
    return proc


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing listening on port {port} after {timeout}s")


def stop(proc: subprocess.Popen, timeout: float = 20) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
