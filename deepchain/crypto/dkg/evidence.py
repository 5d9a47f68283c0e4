"""What a third party (the relay, an auditor) can check about one revealed ceremony message.

A recipient that finds a message inconsistent reveals its body and the sender's body
signature (``envelope.check_evidence`` shows the sender sent exactly that body in that
envelope). ``inconsistency`` then re-runs, on the body alone, the checks that need no other
party's secrets:
- the body does not parse (``wire.decode``) or is framed for another round;
- a share-phase body whose share f of d_j is off the dealer's own Feldman commitments:
  v^f != prod_k C_k^(i^k) mod N^2, with N the dealer's own (in the body) and v hashed from it.
Any other failure a recipient reports (e.g. a bad Proof_CD, which needs every party's
commitments) is not provable from one message: the relay records it, unattributed.
"""

from __future__ import annotations

import gmpy2

from deepchain.crypto.dkg.bases import verification_base
from deepchain.crypto.dkg.wire import decode
from deepchain.crypto.serialize import CryptoFormatError


def inconsistency(body: bytes, round_no: int, recipient: int, t: int) -> str | None:
    """Why ``body`` (sent to party ``recipient`` in ``round_no`` of a ceremony with
    threshold t) is provably inconsistent, or None if this check cannot show it."""
    try:
        msg = decode(body)
    except (CryptoFormatError, UnicodeDecodeError, ValueError):
        return "the message is malformed"
    if msg.round != round_no:
        return "the message is framed for another round"
    if msg.phase != "share":
        return None
    f, C, n = msg.fields.get("f"), msg.fields.get("C"), msg.fields.get("N")
    if not isinstance(f, int) or not isinstance(C, list) or not isinstance(n, int):
        return "the share message lacks its share, commitments or N"
    if len(C) != t:
        return f"the share message carries {len(C)} commitments, not t = {t}"
    if n < 3 or any(not 0 < c < n * n for c in C):
        return "the share message has an impossible N or commitment"
    n2 = n * n
    rhs = gmpy2.mpz(1)
    for k, c in enumerate(C):
        rhs = rhs * gmpy2.powmod(c, recipient**k, n2) % n2
    if gmpy2.powmod(verification_base(n), f, n2) != rhs:
        return "the share is not on the dealer's committed polynomial"
    return None
