"""The Fiat-Shamir transcript every proof of the protocol hashes (SHA-256).

A challenge is H(tag, context, statement, first messages) where

- tag: the proof's domain-separation string ("deepchain/proof-pk/v2", ...);
- context (``ProofContext``): the PK_model fingerprint, the group address, the round, the
  phase, the prover's party index and address. Verifiers build the context from what they
  expect (the submission's group, round and sender as the chain records them), never from a
  field the prover supplies, so a proof made for one party, round, group or key does not
  verify for another (replay, copying, splicing);
- statement and first messages: labelled items appended in a fixed order.

Encoding: every item is ``label || value`` with both length-prefixed (8-byte big-endian
length), integers as minimal big-endian bytes (non-negative only). The encoding of a
sequence of items is therefore injective: no two different transcripts hash the same input.
Long challenges (more than 256 bits, or vectors of challenges) are expanded from the digest
with a counter (SHA-256(digest || label || counter), a standard XOF-from-hash construction).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["ProofContext", "Transcript", "encode_item"]


def _lp(b: bytes) -> bytes:
    return len(b).to_bytes(8, "big") + b


def _int_bytes(x: int) -> bytes:
    x = int(x)
    if x < 0:
        raise ValueError("the transcript encodes non-negative integers only")
    return x.to_bytes((x.bit_length() + 7) // 8, "big")


def encode_item(label: str, value: bytes) -> bytes:
    """The transcript encoding of one item: length-prefixed label, length-prefixed value."""
    return _lp(label.encode()) + _lp(value)


@dataclass(frozen=True)
class ProofContext:
    """Who proves what, where and when: hashed into every Fiat-Shamir challenge.

    pk_fingerprint: PK_model's fingerprint (hex); group: the group address; round: the round
    number (0 outside rounds, e.g. the key ceremony); phase: the clock phase the proof is
    submitted in; party_index: the prover's index in PK_model (0 for the key holder);
    party_address: the prover's pseudonymous address (its signing key).
    """

    pk_fingerprint: str
    group: str
    round: int
    phase: str
    party_index: int
    party_address: str

    def __post_init__(self) -> None:
        for name in ("pk_fingerprint", "group", "phase", "party_address"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"ProofContext.{name} must be a string")
        for name in ("round", "party_index"):
            v = getattr(self, name)
            if type(v) is not int or v < 0:
                raise TypeError(f"ProofContext.{name} must be a non-negative integer")

    def items(self) -> list[tuple[str, bytes]]:
        """The context as labelled transcript items, in their fixed order."""
        return [
            ("pk", self.pk_fingerprint.encode()),
            ("group", self.group.encode()),
            ("round", _int_bytes(self.round)),
            ("phase", self.phase.encode()),
            ("party_index", _int_bytes(self.party_index)),
            ("party_address", self.party_address.encode()),
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "pk_fingerprint": self.pk_fingerprint,
            "group": self.group,
            "round": self.round,
            "phase": self.phase,
            "party_index": self.party_index,
            "party_address": self.party_address,
        }


class Transcript:
    """SHA-256 Fiat-Shamir transcript: tag, then the context, then labelled statement items."""

    def __init__(self, tag: str, ctx: ProofContext) -> None:
        if not isinstance(ctx, ProofContext):
            raise TypeError("a proof transcript needs a ProofContext")
        self._h = hashlib.sha256(_lp(tag.encode()))
        for label, value in ctx.items():
            self._h.update(encode_item(label, value))

    def bytes(self, label: str, value: bytes) -> Transcript:
        """Append one byte-string item."""
        self._h.update(encode_item(label, bytes(value)))
        return self

    def int(self, label: str, x: int) -> Transcript:
        """Append one non-negative integer item."""
        self._h.update(encode_item(label, _int_bytes(x)))
        return self

    def ints(self, label: str, xs: Iterable[int]) -> Transcript:
        """Append a counted sequence of integers (the count first, then each element)."""
        xs = list(xs)
        upd = self._h.update
        upd(encode_item(label, _int_bytes(len(xs))))
        for x in xs:
            upd(_lp(_int_bytes(x)))
        return self

    def copy(self) -> Transcript:
        """A transcript with the same state (to derive a challenge and keep appending)."""
        t = object.__new__(Transcript)
        t._h = self._h.copy()
        return t

    def digest(self) -> bytes:
        return self._h.digest()

    def challenge(self, bits: int, label: str = "challenge") -> int:
        """A ``bits``-bit challenge from the current state (the state is not changed)."""
        return self.challenges(1, bits, label)[0]

    def challenges(self, count: int, bits: int, label: str = "challenges") -> list[int]:
        """``count`` independent ``bits``-bit challenges from the current state."""
        if bits < 1 or count < 0:
            raise ValueError("challenges need bits >= 1 and count >= 0")
        base = hashlib.sha256(self.digest() + _lp(label.encode()))
        blocks = -(-bits // 256)
        out = []
        for j in range(count):
            raw = b""
            for b in range(blocks):
                h = base.copy()
                h.update(j.to_bytes(8, "big") + b.to_bytes(4, "big"))
                raw += h.digest()
            out.append(int.from_bytes(raw, "big") >> (256 * blocks - bits))
        return out
