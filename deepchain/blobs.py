"""Content-addressed blob store (SHA-256): large payloads (ciphertext vectors, decryption
shares, proofs) live here and only their hashes go into transactions and Merkle trees.

File system by default: ``<root>/<h[:2]>/<h>``, written atomically. ``get`` re-hashes what
it reads, so a corrupted or substituted blob is detected (BlobError), never returned.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


class BlobError(Exception):
    """A blob that is missing or whose content does not match its hash."""


def blob_hash(data: bytes) -> str:
    """The address of ``data``: lowercase hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def _check_hash(h: str) -> str:
    if not isinstance(h, str) or len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
        raise BlobError(f"not a blob hash: {h!r:.70}")
    return h


class BlobStore:
    """SHA-256 content-addressed store on the file system."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, h: str) -> Path:
        _check_hash(h)
        return self.root / h[:2] / h

    def put(self, data: bytes) -> str:
        """Store ``data`` (idempotent) and return its hash."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError("blobs are bytes")
        data = bytes(data)
        h = blob_hash(data)
        p = self.path(h)
        if p.exists():
            return h
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{h}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, p)
        return h

    def get(self, h: str) -> bytes:
        """The blob with hash ``h``; raises BlobError if missing or corrupted."""
        p = self.path(h)
        try:
            data = p.read_bytes()
        except FileNotFoundError as exc:
            raise BlobError(f"blob {h[:16]} missing") from exc
        if blob_hash(data) != h:
            raise BlobError(f"blob {h[:16]} content does not match its hash")
        return data

    def has(self, h: str) -> bool:
        try:
            return self.path(h).is_file()
        except BlobError:
            return False
