"""``manage.py rundemo``: migrate, seed demo users, start web + workers, print the URL."""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from deepchain_web.launcher import Launcher


def api_url_for(host: str, port: int) -> str:
    """The URL local agents use to reach a server bound to ``host:port`` (a wildcard bind is
    reached on the loopback address)."""
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


class Command(BaseCommand):
    help = "Run the platform with a demo (embedded services unless DATABASE_URL/REDIS_URL set)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--no-training", action="store_true", help="don't start a demo group")

    def handle(self, *args, **opts):
        # the simulated agents call this very server, whatever its port (children inherit it)
        api_url = api_url_for(opts["host"], opts["port"])
        os.environ["DEEPCHAIN_API_URL"] = api_url
        call_command("migrate", verbosity=0, interactive=False)
        logins = call_command(
            "seed_demo",
            start_training=not opts["no_training"],
            api_url=api_url,
            stdout=io.StringIO(),  # the logins are printed once, below the URL
        )
        launcher = Launcher(
            base_dir=settings.BASE_DIR,
            port=opts["port"],
            host=opts["host"],
            workers=opts["workers"],
            var_dir=settings.VAR_DIR,
        )

        stopping: list[int] = []

        def _stop(signum, frame):
            stopping.append(signum)
            raise KeyboardInterrupt

        # Ctrl-C reaches the children too (same process group): whoever notices first, the
        # launcher then stops every process it started (workers' pool processes included)
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        launcher.start()
        url = f"{api_url}/"
        self.stdout.write(self.style.SUCCESS(f"DeepChain is running at {url}"))
        self.stdout.write(
            f"Redis: {settings.REDIS_URL}  database: {settings.DATABASES['default']['NAME']}"
        )
        self.stdout.write(f"Logs: {launcher.log_dir}/")
        if logins:
            self.stdout.write(logins)
        self.stdout.write(f"Explorer: {api_url}/explorer/   Admin: {api_url}/admin/")
        self.stdout.write("Press Ctrl-C to stop every process started here.")
        sys.stdout.flush()
        self._narrate(api_url)
        code = 0
        try:
            code = launcher.wait()
            time.sleep(0.5)  # a Ctrl-C that also stopped the child is delivered here
            self.stderr.write(f"a child process exited ({code}); see {launcher.log_dir}/")
        except KeyboardInterrupt:
            self.stdout.write("stopping…")
            code = 0
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: still clean up
            launcher.stop()
            self.stdout.write("stopped: every process started here has exited")
        sys.exit(code)

    def _narrate(self, api_url: str) -> None:
        """Print the demo group's progress and its summary (a daemon thread)."""
        from frontend.management.commands.seed_demo import DEMO_GROUP
        from frontend.narrator import Narrator
        from training_app.models import CooperativeGroup

        g = CooperativeGroup.objects.filter(name=DEMO_GROUP).order_by("-id").first()
        if g is None:
            return

        def write(line: str) -> None:
            self.stdout.write(line)
            sys.stdout.flush()

        narrator = Narrator(g.id, api_url, write)
        write(f"Demo group: {narrator.urls()['dashboard']}")

        def run() -> None:
            while True:
                try:
                    if narrator.poll():
                        return
                except Exception as exc:  # noqa: BLE001 - the story must not stop the demo
                    write(f"[demo] (progress unavailable: {exc})")
                time.sleep(2.0)

        threading.Thread(target=run, daemon=True, name="demo-narrator").start()
