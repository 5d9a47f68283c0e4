"""Proof_PK (the paper's fsver1): a gradient ciphertext encrypts a bounded plaintext.

Statement: c = (1+n)^M h_s^alpha encrypts M = M* mod n for an integer |M*| < 2^(B+K+KAPPA)
(a proof with slack: honest provers use 0 <= M < 2^B; M* may be negative, see encoding.py).
The challenge hashes a domain tag, the proof context (``ProofContext``: PK_model fingerprint,
group, round, phase, the prover's party index and address, rebuilt by each verifier from what
it expects), the statement and the ciphertext's position (j, k) in its update.

DEVIATION from the protocol's sigma proof: it checks z1 only through (1 + z1 n), i.e. mod n,
and Z_n has public order n, so it does not bound M (a prover with M = n - 5 or M = 1/2 mod n
is accepted after a few Fiat-Shamir retries). As in CGGMP'20's Pi^enc we add a ring-Pedersen
commitment S = s^M t^mu mod N^ with the key's ring-Pedersen parameters (N^, s, t): t = tau^2,
s = t^lambda made by the key holder, who forgets tau, lambda and the factors of N^, and proved
well formed by Pi^prm (zk.ring_pedersen; every verifier checks it). The extra equation
s^z1 t^z3 = C S^e mod N^ makes the integer bound on z1 sound under the strong RSA assumption
for N^ (Damgard-Fujisaki 2002), given that nobody knows log_t s, a square root of s or t, or
phi(N^). (Hash-derived s = u_s^2 would not do: with u_s public a prover commits
S = u_s^A t^mu = "s^(A/2)" and opens M = A/2 mod n; that attack is a test.) The commitment
randomness mu is a 448-bit short exponent (hiding under the same short-exponent assumption DJN
encryption already relies on), which keeps the cost down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gmpy2
from gmpy2 import mpz

from deepchain.crypto.encoding import proof_pk_range_bits
from deepchain.crypto.paillier import ThresholdPublicKey, comb_table
from deepchain.crypto.randomness import RNG, rng_or_system
from deepchain.crypto.security_params import ALPHA_BITS, K_BITS, KAPPA
from deepchain.crypto.serialize import CryptoFormatError
from deepchain.crypto.zk.sigma import (
    GAMMA_BITS,
    MU_BITS,
    SigmaProof,
    bases_for,
    is_unit,
    prover_bases,
)
from deepchain.crypto.zk.transcript import ProofContext, Transcript

__all__ = ["PK_TAG", "ProofPK", "pk_challenge", "prove_pk", "verify_pk"]

PK_TAG = "deepchain/proof-pk/v2"


@dataclass(frozen=True)
class ProofPK(SigmaProof):
    """Proof_PK = (a, e, z1, z2, S, C, z3).

    a = (1 + x n) h_s^y mod n^2, S = s^M t^mu, C = s^x t^gamma mod N^,
    e = H(PK, ctx, statement, a, S, C) (pk_challenge), z1 = x + e M, z2 = y + e alpha,
    z3 = gamma + e mu.
    """

    MAGIC = b"DCPK"
    TYPE = "proof_pk"
    SCALARS = ("a", "e", "z1", "z2", "S", "C", "z3")

    a: int
    e: int
    z1: int
    z2: int
    S: int
    C: int
    z3: int

    def check_sizes(self) -> None:
        if self.e.bit_length() > K_BITS:
            raise CryptoFormatError("ProofPK: challenge too long")
        if self.z2.bit_length() > ALPHA_BITS + K_BITS + KAPPA + 1:
            raise CryptoFormatError("ProofPK: z2 too long")
        if self.z3.bit_length() > 1 << 16 or self.z1.bit_length() > 1 << 16:
            raise CryptoFormatError("ProofPK: response too long")


def pk_challenge(
    pk: ThresholdPublicKey,
    ctx: ProofContext,
    B: int,
    position: tuple[int, int],
    c: int,
    a: int,
    S: int,
    C: int,
) -> int:
    """e = H(PK, ctx, n, h_s, N^, s, t, B, j, k, c, a, S, C): the K-bit Proof_PK challenge.

    ``position`` = (j, k): the ciphertext is number j of an update of k, so a proof cannot be
    moved to another position or spliced into another update of the same context."""
    rp = pk.ring_pedersen
    if rp is None:
        raise ValueError("PK_model has no ring-Pedersen parameters")
    j, k = position
    tr = Transcript(PK_TAG, ctx).int("n", pk.n).int("h_s", pk.h_s)
    tr.int("N_hat", rp.N_hat).int("s", rp.s).int("t", rp.t).int("B", B).int("j", j).int("k", k)
    tr.int("c", c).int("a", a).int("S", S).int("C", C)
    return tr.challenge(K_BITS)


def _check_bound(pk: Any, B: int) -> int:
    total = proof_pk_range_bits(B, K_BITS, KAPPA)
    if B < 1 or total >= pk.n.bit_length() - 1:
        raise ValueError(f"Proof_PK needs B + K + KAPPA < |n| - 1 (B={B})")
    return total


def _check_position(position: tuple[int, int]) -> tuple[int, int]:
    j, k = position
    if not (isinstance(j, int) and isinstance(k, int) and 0 <= j < k):
        raise ValueError("Proof_PK position must be (j, k) with 0 <= j < k")
    return j, k


def prove_pk(
    pk: ThresholdPublicKey,
    c: int,
    m: int,
    alpha: int,
    B: int,
    rng: RNG | None = None,
    *,
    ctx: ProofContext,
    position: tuple[int, int] = (0, 1),
) -> ProofPK:
    """Prove knowledge of (M, alpha) with c = (1 + M n) h_s^alpha and 0 <= M < 2^B, bound to
    the proof context ``ctx`` and to c's position (j, k) in its update."""
    total = _check_bound(pk, B)
    position = _check_position(position)
    if not 0 <= m < (1 << B):
        raise ValueError("Proof_PK: plaintext out of the stated bound")
    rp = prover_bases(pk, ctx)
    r = rng_or_system(rng)
    n, n2, Nh = mpz(pk.n), mpz(pk.n) * pk.n, mpz(rp.N_hat)
    tab = comb_table(pk.n, pk.h_s)
    ts, tt = rp.s, rp.t
    mu = r.getrandbits(MU_BITS)
    S = int(ts.pow(m) * tt.pow(mu) % Nh)
    bound = 1 << total
    while True:  # abort-and-retry keeps z1 < 2^(B+K+KAPPA) (fails w.p. < 2^-KAPPA)
        x = r.getrandbits(total)
        y = r.getrandbits(ALPHA_BITS + K_BITS + KAPPA)
        gamma = r.getrandbits(GAMMA_BITS)
        a = int((1 + x * n) * tab.pow(y) % n2)
        C = int(ts.pow(x) * tt.pow(gamma) % Nh)
        e = pk_challenge(pk, ctx, B, position, c, a, S, C)
        z1 = x + e * m
        if z1 < bound:
            return ProofPK(a=a, e=e, z1=z1, z2=y + e * alpha, S=S, C=C, z3=gamma + e * mu)


def verify_pk(
    pk: ThresholdPublicKey,
    c: int,
    proof: ProofPK,
    B: int,
    *,
    ctx: ProofContext,
    position: tuple[int, int] = (0, 1),
) -> bool:
    """Check Pi^prm of PK_model's ring-Pedersen parameters (cached), 0 <= z1 < 2^(B+K+KAPPA),
    e = H(ctx, statement, a, S, C), (1 + z1 n) h_s^z2 = a c^e mod n^2 and
    s^z1 t^z3 = C S^e mod N^ (CGGMP'20 Pi^enc's equations, Fig. 14)."""
    try:
        total = _check_bound(pk, B)
        position = _check_position(position)
    except ValueError:
        return False
    if not isinstance(proof, ProofPK):
        return False
    rp = bases_for(pk, ctx)
    if rp is None:
        return False
    n, n2, Nh = pk.n, pk.n * pk.n, rp.N_hat
    a, e, z1, z2, S, C, z3 = (getattr(proof, k) for k in ProofPK.SCALARS)
    if not (is_unit(c, n, n2) and is_unit(a, n, n2)):
        return False
    if not (is_unit(S, Nh, Nh) and is_unit(C, Nh, Nh)):
        return False
    if not (0 <= e < (1 << K_BITS) and 0 <= z1 < (1 << total)):
        return False
    if not 0 <= z2 < (1 << (ALPHA_BITS + K_BITS + KAPPA + 1)):
        return False
    if not 0 <= z3 < (1 << (GAMMA_BITS + 1)):
        return False
    if pk_challenge(pk, ctx, B, position, c, a, S, C) != e:
        return False
    if rp.s.pow(z1) * rp.t.pow(z3) % Nh != mpz(C) * gmpy2.powmod(S, e, Nh) % Nh:
        return False
    lhs = (1 + mpz(z1) * n) * comb_table(n, pk.h_s).pow(z2) % n2
    rhs = mpz(a) * gmpy2.powmod(c, e, n2) % n2
    return lhs == rhs
