"""A salted SHA-256 Merkle tree over the columns of a matrix, with multi-openings: the
commitment of ``zk.ligero`` (Ames et al., "Ligero", CCS 2017, section 4: column-wise Merkle
commitment of the encoded rows).

Leaf i = SHA-256(0x00 || salt_i || column i) with a 16-byte random salt per column (so an
unopened column's leaf hides it), node = SHA-256(0x01 || left || right); the number of
leaves is a power of two. A multi-opening of a set of columns sends each opened column with
its salt and, level by level, only the sibling hashes that the verifier cannot recompute from
the opened leaves (sorted by index), which is the usual pruned multi-proof.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

SALT_BYTES = 16
HASH_BYTES = 32


def _leaf(salt: bytes, column: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + salt + column).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class MerkleTree:
    """The tree over the columns of ``cols`` (shape (n_leaves, bytes per column), uint8 or any
    dtype viewed as bytes) with the given salts (n_leaves x SALT_BYTES)."""

    def __init__(self, cols: np.ndarray, salts: bytes) -> None:
        n = cols.shape[0]
        if n < 1 or n & (n - 1) or len(salts) != n * SALT_BYTES:
            raise ValueError("a power-of-two number of columns, one salt each")
        raw = np.ascontiguousarray(cols).view(np.uint8).reshape(n, -1)
        self.salts = salts
        level = [_leaf(salts[i * SALT_BYTES : (i + 1) * SALT_BYTES], raw[i].tobytes())
                 for i in range(n)]  # fmt: skip
        self.levels = [level]
        while len(level) > 1:
            level = [_node(level[i], level[i + 1]) for i in range(0, len(level), 2)]
            self.levels.append(level)

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    def salt(self, i: int) -> bytes:
        return self.salts[i * SALT_BYTES : (i + 1) * SALT_BYTES]

    def siblings(self, indices: Sequence[int]) -> list[bytes]:
        """The pruned multi-proof for the (distinct) leaf indices."""
        known = sorted(set(indices))
        out: list[bytes] = []
        for level in self.levels[:-1]:
            ks = set(known)
            out += [level[i] for i in sorted({i ^ 1 for i in known} - ks)]
            known = sorted({i >> 1 for i in known})
        return out


def sibling_count(n_leaves: int, indices: Sequence[int]) -> int:
    """How many sibling hashes the multi-proof of these leaves holds."""
    known, count, size = sorted(set(indices)), 0, n_leaves
    while size > 1:
        ks = set(known)
        count += len({i ^ 1 for i in known} - ks)
        known = sorted({i >> 1 for i in known})
        size //= 2
    return count


def root_from_opening(
    n_leaves: int,
    indices: Sequence[int],
    salts: Sequence[bytes],
    columns: Sequence[bytes],
    siblings: Sequence[bytes],
) -> bytes | None:
    """The root that these opened columns (for the distinct sorted ``indices``) and the
    multi-proof determine, or None if the proof has the wrong number of hashes."""
    if n_leaves < 1 or n_leaves & (n_leaves - 1) or list(indices) != sorted(set(indices)):
        return None
    if not (len(indices) == len(salts) == len(columns)) or not indices:
        return None
    if indices[-1] >= n_leaves or indices[0] < 0:
        return None
    nodes = {i: _leaf(s, c) for i, s, c in zip(indices, salts, columns, strict=True)}
    sib = iter(siblings)
    size = n_leaves
    try:
        while size > 1:
            for i in sorted({i ^ 1 for i in nodes} - set(nodes)):
                nodes[i] = next(sib)
            nodes = {i >> 1: _node(nodes[i & ~1], nodes[i | 1]) for i in nodes if not i & 1}
            size //= 2
    except StopIteration:
        return None
    if next(sib, None) is not None:
        return None
    return nodes[0]
