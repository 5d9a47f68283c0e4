"""The Fiat-Shamir sigma-proof base shared by Proof_PK, its batched form and Proof_CD.

- ``SigmaProof``: the one wire format of a proof: JSON ``{"type", "version": 1, scalars as
  canonical hex[, one vector of them]}`` and bytes ``MAGIC || scalars (var) [|| u32 count ||
  elements (var)]``; a proof class only names its fields and its size checks.
- ``ring_pedersen_bases``: PK_model's ring-Pedersen parameters (N^, s, t) as fixed-base tables,
  once their Pi^prm (``zk.ring_pedersen``) verified in the key ceremony context; the integer
  commitments of Proof_PK live there (see ``zk.proof_pk`` for why they are needed).
- ``is_unit``: the membership test every verifier applies to a public value before using it.

The challenges themselves are derived with ``zk.transcript``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

import gmpy2

from deepchain.canonical import int_to_hex
from deepchain.crypto.comb import CombTable
from deepchain.crypto.paillier import ThresholdPublicKey, key_ceremony_context
from deepchain.crypto.security_params import ALPHA_BITS, K_BITS, KAPPA
from deepchain.crypto.serialize import (
    CryptoFormatError,
    Reader,
    Writer,
    check_header,
    get_hex,
    get_hex_list,
)
from deepchain.crypto.zk.ring_pedersen import verify_prm
from deepchain.crypto.zk.transcript import ProofContext

__all__ = [
    "GAMMA_BITS",
    "MU_BITS",
    "RingPedersenBases",
    "SigmaProof",
    "bases_for",
    "is_unit",
    "prover_bases",
    "ring_pedersen_bases",
]

#: short-exponent commitment randomness mu (DJN's assumption, as for h_s^alpha)
MU_BITS = ALPHA_BITS
#: gamma statistically hides e * mu
GAMMA_BITS = ALPHA_BITS + K_BITS + KAPPA


def is_unit(x: int, n: int, n2: int) -> bool:
    """x is an int in [1, n2) coprime to n (a unit of Z_n2 for n2 a power of n)."""
    return isinstance(x, int) and 1 <= x < n2 and gmpy2.gcd(x, n) == 1


class SigmaProof:
    """JSON and byte encodings of a frozen proof dataclass, from its field names.

    A subclass sets ``MAGIC`` (4 bytes), ``TYPE`` (the JSON type tag), ``SCALARS`` (its integer
    fields, in wire order) and optionally ``VECTOR`` (one tuple-of-int field, written after
    the scalars), and overrides ``check_sizes`` / ``check_count`` to refuse oversized values
    when parsing (``CryptoFormatError``).
    """

    MAGIC: ClassVar[bytes]
    TYPE: ClassVar[str]
    SCALARS: ClassVar[tuple[str, ...]]
    VECTOR: ClassVar[str | None] = None

    def check_sizes(self) -> None:
        """Raise CryptoFormatError if a parsed field is longer than any honest proof's."""

    @classmethod
    def check_count(cls, count: int) -> None:
        """Raise CryptoFormatError if the vector field cannot have ``count`` elements."""

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.TYPE, "version": 1}
        for k in self.SCALARS:
            d[k] = int_to_hex(getattr(self, k))
        if self.VECTOR is not None:
            d[self.VECTOR] = [int_to_hex(x) for x in getattr(self, self.VECTOR)]
        return d

    @classmethod
    def from_json(cls, d: Any) -> Self:
        name = cls.__name__
        check_header(d, cls.TYPE)
        vector = () if cls.VECTOR is None else (cls.VECTOR,)
        if set(d) != {"type", "version", *cls.SCALARS, *vector}:
            raise CryptoFormatError(f"{name}: unexpected fields")
        vals: dict[str, Any] = {}
        if cls.VECTOR is not None:
            vals[cls.VECTOR] = tuple(get_hex_list(d, cls.VECTOR, name))
        for k in cls.SCALARS:
            vals[k] = get_hex(d, k, name)
        p = cls(**vals)
        p.check_sizes()
        return p

    def write(self, w: Writer) -> None:
        for k in self.SCALARS:
            w.var(getattr(self, k))
        if self.VECTOR is not None:
            xs = getattr(self, self.VECTOR)
            w.u32(len(xs))
            for x in xs:
                w.var(x)

    @classmethod
    def read(cls, r: Reader) -> Self:
        vals: dict[str, Any] = {k: r.var() for k in cls.SCALARS}
        if cls.VECTOR is not None:
            count = r.u32()
            cls.check_count(count)
            vals[cls.VECTOR] = tuple(r.var() for _ in range(count))
        p = cls(**vals)
        p.check_sizes()
        return p

    def to_bytes(self) -> bytes:
        w = Writer(self.MAGIC)
        self.write(w)
        return w.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        r = Reader(data, cls.MAGIC)
        p = cls.read(r)
        r.end()
        return p


# -- ring-Pedersen parameters ------------------------------------------------------------------
@dataclass(frozen=True)
class RingPedersenBases:
    """The key's ring-Pedersen modulus and fixed-base tables on s and t, once Pi^prm verified."""

    N_hat: int
    s: CombTable
    t: CombTable
    fingerprint: str  # PK_model's fingerprint (the context every proof must name)


_RP_CACHE: dict[ThresholdPublicKey, RingPedersenBases | None] = {}


def ring_pedersen_bases(pk: ThresholdPublicKey) -> RingPedersenBases | None:
    """The ring-Pedersen parameters of PK_model after checking their Pi^prm (key ceremony
    context), or None if the key has none or they are not well formed. Cached per key."""
    if pk in _RP_CACHE:
        return _RP_CACHE[pk]
    rp = pk.ring_pedersen
    out = None
    if rp is not None and verify_prm(rp, key_ceremony_context(pk)):
        bits_s = max(pk.n.bit_length(), rp.N_hat.bit_length()) + 2  # covers M, x and z1
        out = RingPedersenBases(
            N_hat=rp.N_hat,
            s=CombTable(rp.s, rp.N_hat, bits_s),
            t=CombTable(rp.t, rp.N_hat, GAMMA_BITS + 1),
            fingerprint=pk.fingerprint(),
        )
    if len(_RP_CACHE) >= 4:
        _RP_CACHE.pop(next(iter(_RP_CACHE)))
    _RP_CACHE[pk] = out
    return out


def bases_for(pk: ThresholdPublicKey, ctx: ProofContext) -> RingPedersenBases | None:
    """Bases for a proof in ``ctx``: None if Pi^prm fails or ctx names another PK_model."""
    if not isinstance(ctx, ProofContext):
        raise TypeError("a proof needs a ProofContext")
    rp = ring_pedersen_bases(pk)
    if rp is None or ctx.pk_fingerprint != rp.fingerprint:
        return None
    return rp


def prover_bases(pk: ThresholdPublicKey, ctx: ProofContext) -> RingPedersenBases:
    """Like ``bases_for``, for a prover: raises ValueError instead of returning None."""
    rp = bases_for(pk, ctx)
    if rp is None:
        raise ValueError(
            "Proof_PK needs PK_model's ring-Pedersen parameters with a valid Pi^prm and a "
            "context naming this PK_model"
        )
    return rp
