"""Proof_CD (the paper's fsver2): a vector of decryption shares is correct.

Statement: c_ij = c_j^(2 Delta s_i) for every j, i.e. log_{C^4}(C_i^2) = log_v(v_i) for the
random-weighted products C = prod_j c_j^rho_j and C_i = prod_j c_ij^rho_j (Shoup 2000,
section 2, batched over the vector), bound to the proof context (party_index = i).
"""

from __future__ import annotations

from dataclasses import dataclass

import gmpy2
from gmpy2 import mpz

from deepchain.crypto.paillier import KeyShare, ThresholdPublicKey
from deepchain.crypto.randomness import RNG, rng_or_system
from deepchain.crypto.security_params import K_BITS, KAPPA
from deepchain.crypto.serialize import CryptoFormatError
from deepchain.crypto.zk.multiexp import multi_exp
from deepchain.crypto.zk.sigma import SigmaProof, is_unit
from deepchain.crypto.zk.transcript import ProofContext, Transcript

__all__ = ["CD_TAG", "ProofCD", "cd_weights", "prove_cd", "verify_cd"]

CD_TAG = "deepchain/proof-cd/v2"


@dataclass(frozen=True)
class ProofCD(SigmaProof):
    """(a, b, e, z): a = C^(4r), b = v^r, e = H(CD, ...), z = r + e Delta s_i."""

    MAGIC = b"DCCD"
    TYPE = "proof_cd"
    SCALARS = ("a", "b", "e", "z")

    a: int
    b: int
    e: int
    z: int

    def check_sizes(self) -> None:
        if self.e.bit_length() > K_BITS:
            raise CryptoFormatError("ProofCD: challenge too long")


def _r_bits(pk: ThresholdPublicKey) -> int:
    """|r| = |n^2| + |Delta| + 2K + KAPPA: hides e Delta s_i statistically (2^-KAPPA)."""
    return pk.n2.bit_length() + pk.delta.bit_length() + 2 * K_BITS + KAPPA


def _transcript(
    pk: ThresholdPublicKey, ctx: ProofContext, i: int, cs: list[int], c_is: list[int]
) -> Transcript:
    tr = Transcript(CD_TAG, ctx).int("n", pk.n).int("N", pk.N).int("t", pk.t).int("i", i)
    return tr.int("v", pk.v).int("v_i", pk.v_i[i - 1]).ints("c", cs).ints("c_i", c_is)


def cd_weights(
    pk: ThresholdPublicKey, ctx: ProofContext, i: int, cs: list[int], c_is: list[int]
) -> list[int]:
    """rho_j (K bits each) from H(CD, ctx, n, N, t, i, v, v_i, all c_j, all c_ij)."""
    return _transcript(pk, ctx, i, cs, c_is).challenges(len(cs), K_BITS, "rho")


def _challenge(tr: Transcript, C: int, C_i: int, a: int, b: int) -> int:
    return tr.copy().int("C", C).int("C_i", C_i).int("a", a).int("b", b).challenge(K_BITS)


def prove_cd(
    pk: ThresholdPublicKey,
    share: KeyShare,
    cs: list[int],
    c_is: list[int],
    rng: RNG | None = None,
    *,
    ctx: ProofContext,
) -> ProofCD:
    """Batched Proof_CD that c_is[j] = cs[j]^(2 Delta s_i) for every j, bound to ``ctx``
    (whose party_index must be the share's index i)."""
    if len(cs) != len(c_is) or not cs:
        raise ValueError("Proof_CD needs equal-length non-empty vectors")
    if not 1 <= share.i <= pk.N:
        raise ValueError("share index out of range")
    if ctx.party_index != share.i:
        raise ValueError("Proof_CD: the context names another party index than the share's")
    n2 = pk.n2
    tr = _transcript(pk, ctx, share.i, cs, c_is)
    rho = tr.challenges(len(cs), K_BITS, "rho")
    C = multi_exp(cs, rho, n2)
    C_i = multi_exp(c_is, rho, n2)
    r = rng_or_system(rng).getrandbits(_r_bits(pk))
    a = int(gmpy2.powmod(C, 4 * r, n2))
    b = int(gmpy2.powmod(pk.v, r, n2))
    e = _challenge(tr, int(C), int(C_i), a, b)
    return ProofCD(a=a, b=b, e=e, z=r + e * pk.delta * share.s_i)


def verify_cd(
    pk: ThresholdPublicKey,
    i: int,
    cs: list[int],
    c_is: list[int],
    proof: ProofCD,
    *,
    ctx: ProofContext,
) -> bool:
    """Check C^(4z) = a C_i^(2e) and v^z = b v_i^e (mod n^2) with rho and e recomputed from
    ``ctx`` (party_index must be i) and the statement (Shoup 2000, section 2, batched)."""
    if not isinstance(ctx, ProofContext) or ctx.party_index != i:
        return False
    if not 1 <= i <= pk.N or len(cs) != len(c_is) or not cs:
        return False
    if not isinstance(proof, ProofCD):
        return False
    n, n2 = pk.n, pk.n2
    if not all(is_unit(x, n, n2) for x in cs) or not all(is_unit(x, n, n2) for x in c_is):
        return False
    a, b, e, z = proof.a, proof.b, proof.e, proof.z
    if not (is_unit(a, n, n2) and is_unit(b, n, n2)):
        return False
    if not (0 <= e < (1 << K_BITS) and 0 <= z < (1 << (_r_bits(pk) + 1))):
        return False
    tr = _transcript(pk, ctx, i, cs, c_is)
    rho = tr.challenges(len(cs), K_BITS, "rho")
    C = multi_exp(cs, rho, n2)
    C_i = multi_exp(c_is, rho, n2)
    if _challenge(tr, int(C), int(C_i), a, b) != e:
        return False
    if gmpy2.powmod(C, 4 * z, n2) != mpz(a) * gmpy2.powmod(C_i, 2 * e, n2) % n2:
        return False
    return gmpy2.powmod(pk.v, z, n2) == mpz(b) * gmpy2.powmod(pk.v_i[i - 1], e, n2) % n2
