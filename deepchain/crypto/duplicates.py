"""The duplicate-ciphertext rule (one rule for live submission and for the offline auditor).

A gradient is refused if one of its ciphertexts is already in the group: submitted before by
any party in any round of the group (or repeated inside the same update). An honest party's
ciphertexts are fresh DJN encryptions (448-bit random exponents), so they never repeat; a
repeated ciphertext is a copied contribution (free-riding, and a doubled weight for the party
copied). Context-bound proofs already reject a copied blob; the rule also refuses the copy at
submission with a reason on chain, and lets the auditor re-check the whole history.

Ciphertexts are named by a tagged SHA-256 of their minimal big-endian bytes (the encoding the
transcript uses), so the platform stores 64 hex characters per ciphertext, not the ciphertext.
Only gradients whose blob parses and that are not themselves duplicates register their
ciphertexts. The platform applies the rule at submission, in submission order, and records a
refusal as VERIFY(ok = false) naming the transaction first seen (``duplicate_of``). The chain
orders a block's transactions by their senders' timestamps, so the auditor cannot replay the
submission order; it checks the order-free consequence over the group's whole history
(``check_history``): the gradients not refused as copies have pairwise disjoint ciphertexts,
and every refusal names a registered gradient that does share a ciphertext with the refused
one. (Who was first among two parties with the same ciphertext is the platform's word; a
platform can censor a party anyway.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from deepchain.canonical import tagged_hash

__all__ = [
    "DIGEST_TAG",
    "Duplicate",
    "Gradient",
    "check_history",
    "ciphertext_digest",
    "find_duplicate",
]

DIGEST_TAG = "deepchain/ciphertext/v1"


def ciphertext_digest(c: int) -> str:
    """The ciphertext's name: tagged SHA-256 (hex) of its minimal big-endian bytes."""
    c = int(c)
    if c < 0:
        raise ValueError("a ciphertext is a non-negative integer")
    return tagged_hash(DIGEST_TAG, c.to_bytes((c.bit_length() + 7) // 8, "big"))


@dataclass(frozen=True)
class Duplicate:
    """Ciphertext ``position`` of an update was already seen at ``first`` (a tx hash, or
    "this update" for a repeat inside the update)."""

    position: int
    digest: str
    first: str

    def reason(self) -> str:
        """The refusal's reason, as recorded on chain."""
        return (
            f"copied ciphertext: ciphertext {self.position} of the update was already "
            f"submitted in the group ({self.first})"
        )


def find_duplicate(
    digests: Sequence[str], seen: Mapping[str, str], own: str = "this update"
) -> Duplicate | None:
    """The rule: the first ciphertext (by its digest) of an update that is in ``seen``
    (digest -> the gradient tx that first submitted it in the group) or repeats earlier in
    the update itself (then first = ``own``, the update's tx); None if the update is fresh."""
    mine: set[str] = set()
    for j, d in enumerate(digests):
        if d in seen:
            return Duplicate(j, d, seen[d])
        if d in mine:
            return Duplicate(j, d, own)
        mine.add(d)
    return None


@dataclass(frozen=True)
class Gradient:
    """A gradient of a group's history as the auditor sees it: its tx, the digests of its
    ciphertexts (None if the blob does not parse) and the tx its refusal names as the first
    submission of a shared ciphertext (None if it was not refused as a copy)."""

    tx: str
    digests: tuple[str, ...] | None
    duplicate_of: str | None


def check_history(gradients: Sequence[Gradient]) -> dict[str, str]:
    """The rule over a whole history, order-free: {tx: why} for every gradient that breaks it
    (a registered gradient sharing a ciphertext with another registered one or repeating one,
    or a refusal that names a gradient it shares no ciphertext with)."""
    bad: dict[str, str] = {}
    owner: dict[str, str] = {}
    registered = {g.tx: g for g in gradients if g.duplicate_of is None and g.digests is not None}
    for g in registered.values():
        dup = find_duplicate(g.digests or (), owner, own=g.tx)
        if dup is not None:
            bad[g.tx] = f"{dup.reason()}, and it was not refused"
            if dup.first != g.tx:
                bad.setdefault(dup.first, f"shares a ciphertext with {g.tx}, not refused")
        for d in g.digests or ():
            owner.setdefault(d, g.tx)
    for g in gradients:
        if g.duplicate_of is None:
            continue
        first = registered.get(g.duplicate_of)
        if g.duplicate_of == g.tx:
            repeats = g.digests is not None and len(set(g.digests)) < len(g.digests)
            if not repeats:
                bad[g.tx] = "refused as a copy of itself, but repeats no ciphertext"
        elif first is None or g.digests is None or not set(g.digests) & set(first.digests or ()):
            bad[g.tx] = f"refused as a copy of {g.duplicate_of}, but shares no ciphertext with it"
    return bad
