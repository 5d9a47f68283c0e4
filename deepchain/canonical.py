"""Canonical encodings shared by the crypto and ledger layers.

Every signed or hashed structure is serialized as canonical JSON: sorted keys, no
whitespace, UTF-8, integers that may exceed 53 bits written as lowercase hex strings by the
caller. Hashes are SHA-256 with a domain-separation tag.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

FORMAT_VERSION = 1


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON bytes of ``obj`` (sorted keys, compact separators)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_hex(data: bytes) -> str:
    """Lowercase hex SHA-256 digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def tagged_hash(tag: str, data: bytes) -> str:
    """SHA-256 of ``tag`` (length-prefixed) followed by ``data``: domain-separated hashing."""
    t = tag.encode()
    return hashlib.sha256(len(t).to_bytes(2, "big") + t + data).hexdigest()


def int_to_hex(x: int) -> str:
    """Canonical hex of a non-negative integer (no prefix, no leading zeros, '0' for zero)."""
    if x < 0:
        raise ValueError("canonical hex encodes non-negative integers only")
    return format(x, "x")


def hex_to_int(s: str, *, name: str = "value") -> int:
    """Parse canonical hex; rejects prefixes, signs, upper case and leading zeros."""
    if not isinstance(s, str) or not s or any(ch not in "0123456789abcdef" for ch in s):
        # never quote the value: it may be a secret (a key share) and errors reach logs
        kind = f"{len(s)} characters" if isinstance(s, str) else type(s).__name__
        raise ValueError(f"{name}: expected lowercase hex digits (got {kind})")
    if len(s) > 1 and s[0] == "0":
        raise ValueError(f"{name}: hex has a leading zero")
    return int(s, 16)
