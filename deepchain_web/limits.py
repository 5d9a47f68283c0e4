"""Input ranges shared by the API, the pages and the request guard (one home for each bound).

The integer bounds are the database columns' ranges: a value outside them is refused with a
400 before any query runs (PostgreSQL would raise on it, SQLite would overflow).
"""

from __future__ import annotations

from django.conf import settings

INT32_MAX = 2**31 - 1  # IntegerField / PositiveIntegerField
INT64_MAX = 2**63 - 1  # BigIntegerField
MAX_JSON_DEPTH = 32  # nesting of any JSON request body (signed transactions need 4)
MAX_PHASE_MS = 7 * 24 * 3600 * 1000  # one protocol phase lasts at most a week


def max_blob() -> int:
    """Largest binary payload (one gradient or decryption-share blob), in bytes."""
    return int(settings.DEEPCHAIN_MAX_BLOB)


def base64_len(n: int) -> int:
    """Length of the base64 text of ``n`` bytes (with padding)."""
    return 4 * ((n + 2) // 3)


def upload_body_limit() -> int:
    """Body limit of the upload endpoints: one base64 blob plus its signed envelope."""
    return base64_len(max_blob()) + int(settings.DEEPCHAIN_ENVELOPE_BYTES)
