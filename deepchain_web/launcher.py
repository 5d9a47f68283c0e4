"""Start and stop the platform's processes: Daphne (HTTP + websockets) and Celery workers.

The launcher owns every process it starts: on Ctrl-C (SIGINT) or SIGTERM it stops the
workers and the web server, then the embedded Redis if it started one, so nothing is left
behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from deepchain_web import embedded

QUEUES = ("party", "crypto", "consensus", "training")


@dataclass
class Launcher:
    base_dir: Path
    port: int = 8000
    host: str = "127.0.0.1"
    workers: int = 2
    beat: bool = True
    var_dir: Path | None = None  # logs and the beat schedule (default: base_dir/var)
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def var(self) -> Path:
        return Path(self.var_dir) if self.var_dir is not None else self.base_dir / "var"

    @property
    def log_dir(self) -> Path:
        return self.var / "log"

    def _spawn(self, argv: Sequence[str], name: str) -> subprocess.Popen:
        log_dir = self.log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        log = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        proc = subprocess.Popen(
            list(argv),
            cwd=self.base_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
            start_new_session=True,  # its own process group: stop() reaps late-born descendants
        )
        self.procs.append(proc)
        return proc

    def start(self) -> None:
        python = sys.executable
        for i in range(self.workers):
            argv = [
                python,
                "-m",
                "celery",
                "-A",
                "deepchain_web",
                "worker",
                "-l",
                "INFO",
                "-Q",
                ",".join(QUEUES),
                "-c",
                "1",
                "-n",
                f"worker{i}@%h",
                "--without-gossip",
            ]
            if self.beat and i == 0:
                argv.append("--beat")
                argv += ["-s", str(self.var / "celerybeat-schedule")]
            self._spawn(argv, f"celery-{i}")
        self._spawn(
            [
                python,
                "-m",
                "daphne",
                "-b",
                self.host,
                "-p",
                str(self.port),
                "deepchain_web.asgi:application",
            ],
            "daphne",
        )

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM every child (Celery finishes its current task: warm shutdown), SIGKILL what
        is still alive after ``timeout`` — including the children's own children (Celery's
        pool processes), so nothing outlives the launcher; then the embedded Redis."""
        tree: list[psutil.Process] = []
        for proc in self.procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                tree += psutil.Process(proc.pid).children(recursive=True)
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _gone, alive = psutil.wait_procs(tree, timeout=max(0.1, deadline - time.monotonic()))
        for p in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        psutil.wait_procs(alive, timeout=5)
        for proc in self.procs:  # anything born after the snapshot (a beat, a new pool child)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs.clear()
        embedded.stop_embedded_redis()

    def wait(self) -> int:
        """Block until a child dies or we are told to stop; returns an exit code."""
        while True:
            for proc in self.procs:
                if proc.poll() is not None:
                    return proc.returncode or 1
            time.sleep(0.5)
