"""Tests: same services as configured (embedded by default), fast password hashing."""

from .base import *  # noqa: F403
from .base import DATABASES, VAR_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so Celery worker processes see the test database too.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-deepchain.sqlite3")}
DEEPCHAIN_KEY_BITS = 512
