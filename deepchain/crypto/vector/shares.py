"""Collaborative decryption of an aggregate: a party's decryption shares with one batched
Proof_CD (fsver2), their check, and the combination into the plaintext sum."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gmpy2

from deepchain.crypto import serialize
from deepchain.crypto.paillier import (
    KeyShare,
    ThresholdPublicKey,
    combine_constants,
    partial_decrypt_all,
    raw_combine,
)
from deepchain.crypto.randomness import RNG
from deepchain.crypto.serialize import CryptoFormatError, Reader, Writer
from deepchain.crypto.vector.chunks import map_chunks
from deepchain.crypto.vector.update import ciphertext_width
from deepchain.crypto.zk.proof_cd import ProofCD, prove_cd, verify_cd
from deepchain.crypto.zk.transcript import ProofContext


@dataclass(frozen=True)
class DecryptionShare:
    """Party i's shares c_ij = c_j^(2 Delta s_i) of an aggregate, with one batched Proof_CD."""

    i: int
    c_is: list[int]
    proof: ProofCD

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "decryption_share",
            "version": 1,
            "i": self.i,
            "c_is": serialize.hexs(self.c_is),
            "proof": self.proof.to_json(),
        }

    @classmethod
    def from_json(cls, d: Any, pk: ThresholdPublicKey | None = None) -> DecryptionShare:
        ctx = "DecryptionShare"
        serialize.check_header(d, "decryption_share")
        i = serialize.get_int(d, "i", ctx, 1, pk.N if pk is not None else 1 << 10)
        c_is = serialize.get_hex_list(d, "c_is", ctx)
        proof = ProofCD.from_json(d.get("proof"))
        return cls._checked(i, c_is, proof, pk)

    @classmethod
    def _checked(
        cls, i: int, c_is: list[int], proof: ProofCD, pk: ThresholdPublicKey | None
    ) -> DecryptionShare:
        if not c_is:
            raise CryptoFormatError("DecryptionShare: empty")
        if pk is not None:
            if not 1 <= i <= pk.N:
                raise CryptoFormatError("DecryptionShare: index out of range")
            for k, c in enumerate(c_is):
                serialize.check_unit(c, pk.n, f"DecryptionShare.c_is[{k}]")
        return cls(i=i, c_is=c_is, proof=proof)

    def to_bytes(self, pk: ThresholdPublicKey | None = None) -> bytes:
        width = ciphertext_width(pk.n) if pk else max((c.bit_length() + 7) // 8 for c in self.c_is)
        w = Writer(b"DCDS")
        w.u32(self.i)
        w.u32(len(self.c_is))
        w.u32(width)
        for c in self.c_is:
            w.fixed(c, width)
        self.proof.write(w)
        return w.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, pk: ThresholdPublicKey | None = None) -> DecryptionShare:
        r = Reader(data, b"DCDS")
        i, k, width = r.u32(), r.u32(), r.u32()
        if width > 1 << 16 or (pk is not None and width != ciphertext_width(pk.n)):
            raise CryptoFormatError("DecryptionShare: bad ciphertext width")
        if k * width > len(data):
            raise CryptoFormatError("truncated data")
        c_is = [r.fixed(width) for _ in range(k)]
        proof = ProofCD.read(r)
        r.end()
        if i < 1:
            raise CryptoFormatError("DecryptionShare: index out of range")
        return cls._checked(i, c_is, proof, pk)


def _partial_chunk(
    pk: ThresholdPublicKey, share: KeyShare, cs: list[int], lo: int, hi: int, _rng: Any
) -> list[int]:
    return partial_decrypt_all(pk, share, cs[lo:hi])


def decryption_share(
    pk: ThresholdPublicKey,
    share: KeyShare,
    cs: list[int],
    rng: RNG | None = None,
    processes: int = 1,
    *,
    ctx: ProofContext,
) -> DecryptionShare:
    """Party i's partial decryptions of the aggregate cs plus a batched Proof_CD bound to
    ``ctx`` (its party_index is the share's)."""
    n, n2 = pk.n, pk.n2
    for k, c in enumerate(cs):
        if not (1 <= c < n2 and gmpy2.gcd(c, n) == 1):
            raise ValueError(f"ciphertext {k} is not in Z*_(n^2)")
    c_is = map_chunks(_partial_chunk, len(cs), processes, (pk, share, cs))
    proof = prove_cd(pk, share, cs, c_is, rng, ctx=ctx)
    return DecryptionShare(i=share.i, c_is=c_is, proof=proof)


def verify_decryption_share(
    pk: ThresholdPublicKey, cs: list[int], ds: DecryptionShare, *, ctx: ProofContext
) -> bool:
    """fsver2: the batched Proof_CD verifies for this aggregate and the context the verifier
    expects (whose party_index must be the share's index)."""
    return verify_cd(pk, ds.i, cs, ds.c_is, ds.proof, ctx=ctx)


def combine_vector(pk: ThresholdPublicKey, dshares: list[DecryptionShare]) -> list[int]:
    """Plaintexts of the aggregate from >= t shares with distinct indices (uses t of them).

    Does not re-verify Proof_CD: call verify_decryption_share on each share first.
    """
    by_i: dict[int, DecryptionShare] = {}
    for ds in dshares:
        if not 1 <= ds.i <= pk.N:
            raise ValueError(f"share index {ds.i} out of range")
        by_i.setdefault(ds.i, ds)
    if len(by_i) < pk.t:
        raise ValueError(f"need shares from at least t={pk.t} distinct parties, got {len(by_i)}")
    S = sorted(by_i)[: pk.t]
    k = len(by_i[S[0]].c_is)
    if any(len(by_i[i].c_is) != k for i in S):
        raise ValueError("decryption shares differ in length")
    consts = combine_constants(pk, S)
    return [raw_combine(pk, S, {i: by_i[i].c_is[j] for i in S}, consts) for j in range(k)]
