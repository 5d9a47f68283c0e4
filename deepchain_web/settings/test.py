"""Tests: same services as configured (embedded by default), fast password hashing."""

import os

from .base import *  # noqa: F403
from .base import DATABASES, VAR_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so Celery worker processes see the test database too.
    # One file per test run, so concurrent runs on one machine don't share a database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
DEEPCHAIN_KEY_BITS = 512
# tests about something else than the key keep the fast dealer key (key_origin "dealer")
DEEPCHAIN_ALLOW_DEALER_KEY = True
# Throttles: x100 unless a test sets DEEPCHAIN_THROTTLE_SCALE = 1 (tests/web/test_throttles.py),
# so suites that log in or write often never meet them; per-process counters.
DEEPCHAIN_THROTTLE_SCALE = int(os.environ.get("DEEPCHAIN_THROTTLE_SCALE", "100"))
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# the end-to-end tests compare the decrypted aggregate with the simulated parties' own updates
DEEPCHAIN_AGENT_RECORD_UPDATES = True
