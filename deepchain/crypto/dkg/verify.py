"""Public checks of a dealerless key: what anyone (the offline auditor included) can verify
from PK_model and the ceremony's public transcript, without any secret.

``verify_public_key(pk, transcript, n_bits)`` checks that
- N has n_bits bits, N = 1 mod 4, is not a square and has no prime factor below 2^16;
- v and h_s are the values hashed from N (nobody chose them);
- the ring-Pedersen parameters are over N^ = N and their Pi^prm verifies (key-ceremony
  context, as for a dealer's key);
- every v_i equals (prod_k V_k^(i^k))^Delta with V_k = prod_j C_jk, the parties' Feldman
  commitments, so the v_i are those of one degree-(t-1) integer sharing;
- z1 mod N is a unit (gcd(N, p + q - 1) = 1);
- every party's decryption share of the test ciphertext (hashed from N) carries a valid
  Proof_CD and t of them combine to the test plaintext (hashed from N).
It returns a bool (False on any malformed input). It does not re-prove biprimality (that
needs the parties' secret shares); the test decryption with Proof_CD shows the v_i work.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import gmpy2

from deepchain.crypto.dkg.bases import (
    randomness_base,
    test_ciphertext,
    test_plaintext,
    verification_base,
)
from deepchain.crypto.dkg.params import TRIAL_DIVISION_BOUND
from deepchain.crypto.dkg.party import ceremony_share_context
from deepchain.crypto.paillier import ThresholdPublicKey, combine, key_ceremony_context
from deepchain.crypto.zk.proof_cd import ProofCD, verify_cd
from deepchain.crypto.zk.ring_pedersen import verify_prm

_PRIMORIAL: list[int] = []


def _primorial() -> int:
    if not _PRIMORIAL:
        acc, p = gmpy2.mpz(1), gmpy2.mpz(2)
        while p < TRIAL_DIVISION_BOUND:
            acc *= p
            p = gmpy2.next_prime(p)
        _PRIMORIAL.append(int(acc))
    return _PRIMORIAL[0]


def verify_public_key(pk: ThresholdPublicKey, transcript: dict[str, Any], n_bits: int) -> bool:
    """True iff pk and the ceremony's public transcript pass every check listed above."""
    try:
        return _verify(pk, transcript, n_bits)
    except (KeyError, TypeError, ValueError, IndexError):
        return False


def _verify(pk: ThresholdPublicKey, tr: dict[str, Any], n_bits: int) -> bool:
    n, N, t = pk.n, pk.N, pk.t
    if tr["N"] != n or n.bit_length() != n_bits or n % 4 != 1 or gmpy2.is_square(n):
        return False
    if gmpy2.gcd(n, _primorial()) != 1:
        return False
    if pk.v != verification_base(n) or pk.h_s != randomness_base(n):
        return False
    rp = pk.ring_pedersen
    if rp is None or rp.N_hat != n or not verify_prm(rp, key_ceremony_context(pk)):
        return False
    if gmpy2.gcd(int(tr["z1"]) % n, n) != 1:
        return False
    n2 = pk.n2
    C = tr["commitments"]
    if len(C) != N or any(len(row) != t for row in C):
        return False
    if not all(
        isinstance(x, int) and 0 < x < n2 and gmpy2.gcd(x, n) == 1 for row in C for x in row
    ):
        return False
    V = [math.prod(gmpy2.mpz(C[j][k]) for j in range(N)) % n2 for k in range(t)]
    for i in range(1, N + 1):
        acc = gmpy2.mpz(1)
        for k in range(t):
            acc = acc * gmpy2.powmod(V[k], i**k, n2) % n2
        if gmpy2.powmod(acc, pk.delta, n2) != pk.v_i[i - 1]:
            return False
    c = test_ciphertext(n, pk.h_s)
    shares, proofs = tr["test_shares"], tr["test_proofs"]
    if len(shares) != N or len(proofs) != N:
        return False
    for i in range(1, N + 1):
        proof = ProofCD(*(int(x) for x in proofs[i - 1]))
        if not verify_cd(
            pk, i, [c], [int(shares[i - 1])], proof, ctx=ceremony_share_context(pk, i)
        ):
            return False
    S = next(itertools.combinations(range(1, N + 1), t))
    return combine(pk, {i: int(shares[i - 1]) for i in S}) == test_plaintext(n)


def transcript_to_json(tr: Any) -> Any:
    """The public transcript with every integer as a decimal string (JSON-safe, any size)."""
    if isinstance(tr, dict):
        return {str(k): transcript_to_json(v) for k, v in tr.items()}
    if isinstance(tr, list | tuple):
        return [transcript_to_json(x) for x in tr]
    if isinstance(tr, bool):
        raise ValueError("a transcript holds no booleans")
    return str(int(tr))


def transcript_from_json(doc: Any) -> Any:
    """Inverse of ``transcript_to_json``; ValueError on anything but strings of digits."""
    if isinstance(doc, dict):
        return {str(k): transcript_from_json(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [transcript_from_json(x) for x in doc]
    if not isinstance(doc, str) or len(doc) > 20_000:
        raise ValueError("a transcript value must be a decimal string")
    return int(doc)
