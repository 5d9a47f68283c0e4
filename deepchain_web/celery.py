"""The Celery app: queues party, crypto, consensus, training; JSON only; late acks."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deepchain_web.settings.dev")

app = Celery("deepchain")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in ("party", "crypto", "consensus", "training")]
app.conf.task_routes = {
    "ledger_app.tasks.*": {"queue": "consensus"},
    "training_app.tasks.party_*": {"queue": "party"},
    "training_app.tasks.crypto_*": {"queue": "crypto"},
    "training_app.tasks.process_*": {"queue": "consensus"},
    "training_app.tasks.*": {"queue": "training"},
}
app.autodiscover_tasks()
app.autodiscover_tasks(["training_app"], related_name="ceremony_tasks")


@app.task(name="deepchain_web.ping")
def ping(value: str = "pong") -> str:
    """Health check: proves a worker is consuming (used by tests and the demo)."""
    return value
