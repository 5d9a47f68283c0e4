"""Private files of a party agent: 0600 files in 0700 folders, whatever the process umask.

An agent's keystore holds its identity (private keys), its local state and, only when asked,
its plaintext updates. Every folder on the way is created (or tightened) to 0700 and every file
is created with mode 0600 before a byte is written, then moved into place atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DIR_MODE", "FILE_MODE", "private_dir", "write_private"]

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and its missing parents) as 0700 folders; tighten it if it exists."""
    p = Path(path)
    missing = []
    q = p
    while not q.exists():
        missing.append(q)
        q = q.parent
    for d in reversed(missing):
        d.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(d, DIR_MODE)  # mkdir's mode is masked by the umask
    os.chmod(p, DIR_MODE)
    return p


def write_private(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` as a 0600 file in a 0700 folder (atomic replace)."""
    p = Path(path)
    private_dir(p.parent)
    tmp = p.with_name(p.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # an existing tmp keeps its old mode otherwise
        with os.fdopen(fd, "wb") as fh:
            fd = -1
            fh.write(data)
    finally:
        if fd >= 0:
            os.close(fd)
    os.replace(tmp, p)
    return p
