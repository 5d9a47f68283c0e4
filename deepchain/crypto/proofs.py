"""Non-interactive sigma proofs (Fiat-Shamir, SHA-256 with domain separation).

Every public value of the statement goes into the challenge hash. See PROTOCOL.md:
- Proof_PK: a gradient ciphertext c = (1+n)^M h_s^alpha encrypts a known M with
  |M| < 2^(B+K+KAPPA) (the paper's fsver1; a proof with slack: honest provers use M < 2^B).
  DEVIATION from PROTOCOL.md: the protocol's sigma proof checks z1 only through (1 + z1 n), i.e.
  mod n, and Z_n has public order n, so it does not bound M (a prover with M = n - 5 or
  M = 1/2 mod n is accepted after a few Fiat-Shamir retries). As in CGGMP'20's Pi^enc we add a
  ring-Pedersen commitment S = s^M t^mu mod n in QR_n, whose order p'q' nobody but the (trusted,
  forgetful) dealer knows; s, t are hashed from n, so nobody knows log_t s. The extra equation
  s^z1 t^z3 = C S^e mod n makes the integer bound on z1 sound (strong RSA): the proof shows
  M = M* mod n for an integer |M*| < 2^(B+K+KAPPA) (possibly negative; see encoding.py).
  The commitment randomness mu is a 448-bit short exponent (hiding under the same
  short-exponent assumption DJN encryption already relies on), which keeps the cost down.
- Proof_CD: a vector of decryption shares c_ij = c_j^(2 Delta s_i) is correct, i.e.
  log_{C^4}(C_i^2) = log_v(v_i) for random-weighted products C, C_i (Shoup's proof, batched;
  the paper's fsver2).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import gmpy2
from gmpy2 import mpz

from deepchain.canonical import int_to_hex
from deepchain.crypto.paillier import (
    ALPHA_BITS,
    K_BITS,
    KAPPA,
    RNG,
    CombTable,
    KeyShare,
    ThresholdPublicKey,
    _rng,
    comb_table,
)
from deepchain.crypto.serialize import (
    CryptoFormatError,
    Reader,
    Writer,
    check_header,
    get_hex,
)

_PK_TAG = "deepchain/proof-pk/v1"
_CD_TAG = "deepchain/proof-cd/v1"
_CD_SEED_TAG = "deepchain/proof-cd-weights/v1"
_CD_W_TAG = "deepchain/proof-cd-w/v1"


# -- hashing ---------------------------------------------------------------------------------
class _Hasher:
    """SHA-256 over a length-prefixed tag then length-prefixed big-endian integers."""

    def __init__(self, tag: str) -> None:
        t = tag.encode()
        self.h = hashlib.sha256(len(t).to_bytes(2, "big") + t)

    def ints(self, *xs: int) -> _Hasher:
        upd = self.h.update
        for x in xs:
            x = int(x)
            assert x >= 0
            b = x.to_bytes((x.bit_length() + 7) // 8, "big")
            upd(len(b).to_bytes(4, "big"))
            upd(b)
        return self

    def digest(self) -> bytes:
        return self.h.digest()

    def challenge(self, bits: int = K_BITS) -> int:
        return int.from_bytes(self.h.digest(), "big") >> (256 - bits)


def _is_unit(x: int, n: int, n2: int) -> bool:
    return isinstance(x, int) and 1 <= x < n2 and gmpy2.gcd(x, n) == 1


# -- Proof_PK --------------------------------------------------------------------------------
_RP_TAG = "deepchain/ring-pedersen-bases/v1"
_RP_CACHE: dict[int, tuple[CombTable, CombTable]] = {}


def _mu_bits(n: int) -> int:
    """Short-exponent commitment randomness (DJN's assumption, as for h_s^alpha)."""
    return ALPHA_BITS


def _gamma_bits(n: int) -> int:
    """gamma statistically hides e * mu."""
    return ALPHA_BITS + K_BITS + KAPPA


def ring_pedersen_bases(n: int) -> tuple[int, int]:
    """(s, t): squares of hash-derived elements of Z*_n (nothing-up-my-sleeve bases)."""
    out = []
    for label in (b"s", b"t"):
        ctr = 0
        while True:
            stream = b"".join(
                hashlib.sha256(
                    _RP_TAG.encode() + label + n.to_bytes(1024, "big") + bytes([ctr, k])
                ).digest()
                for k in range(-(-(n.bit_length() + 128) // 256))
            )
            x = int.from_bytes(stream, "big") % n
            ctr += 1
            if x > 1 and gmpy2.gcd(x, n) == 1:
                out.append(int(x * x % n))
                break
    return out[0], out[1]


def _rp_tables(n: int) -> tuple[CombTable, CombTable]:
    tabs = _RP_CACHE.get(n)
    if tabs is None:
        if len(_RP_CACHE) >= 4:
            _RP_CACHE.pop(next(iter(_RP_CACHE)))
        s_, t_ = ring_pedersen_bases(n)
        bits_s = n.bit_length() + 2  # covers M, x and z1 (< 2^(|n|-1))
        tabs = (CombTable(s_, n, bits_s), CombTable(t_, n, _gamma_bits(n) + 1))
        _RP_CACHE[n] = tabs
    return tabs


@dataclass(frozen=True)
class ProofPK:
    """Proof_PK = (a, e, z1, z2, S, C, z3).

    a = (1 + x n) h_s^y mod n^2, S = s^M t^mu, C = s^x t^gamma mod n,
    e = H(PK, n, h_s, B, c, a, S, C), z1 = x + e M, z2 = y + e alpha, z3 = gamma + e mu.
    """

    a: int
    e: int
    z1: int
    z2: int
    S: int
    C: int
    z3: int

    _FIELDS = ("a", "e", "z1", "z2", "S", "C", "z3")

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "proof_pk", "version": 1}
        for k in self._FIELDS:
            d[k] = int_to_hex(getattr(self, k))
        return d

    @classmethod
    def from_json(cls, d: Any) -> ProofPK:
        check_header(d, "proof_pk")
        if set(d) != {"type", "version", *cls._FIELDS}:
            raise CryptoFormatError("ProofPK: unexpected fields")
        p = cls(*(get_hex(d, k, "ProofPK") for k in cls._FIELDS))
        p._check_sizes()
        return p

    def _check_sizes(self) -> None:
        if self.e.bit_length() > K_BITS:
            raise CryptoFormatError("ProofPK: challenge too long")
        if self.z2.bit_length() > ALPHA_BITS + K_BITS + KAPPA + 1:
            raise CryptoFormatError("ProofPK: z2 too long")
        if self.z3.bit_length() > 1 << 16 or self.z1.bit_length() > 1 << 16:
            raise CryptoFormatError("ProofPK: response too long")

    def write(self, w: Writer) -> None:
        for k in self._FIELDS:
            w.var(getattr(self, k))

    @classmethod
    def read(cls, r: Reader) -> ProofPK:
        p = cls(*(r.var() for _ in cls._FIELDS))
        p._check_sizes()
        return p

    def to_bytes(self) -> bytes:
        w = Writer(b"DCPK")
        self.write(w)
        return w.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ProofPK:
        r = Reader(data, b"DCPK")
        p = cls.read(r)
        r.end()
        return p


def _pk_challenge(n: int, h_s: int, B: int, c: int, a: int, S: int, C: int) -> int:
    return _Hasher(_PK_TAG).ints(n, h_s, B, c, a, S, C).challenge()


def _pk_check_bound(pk: Any, B: int) -> int:
    total = B + K_BITS + KAPPA
    if B < 1 or total >= pk.n.bit_length() - 1:
        raise ValueError(f"Proof_PK needs B + K + KAPPA < |n| - 1 (B={B})")
    return total


def prove_pk(
    pk: ThresholdPublicKey, c: int, m: int, alpha: int, B: int, rng: RNG | None = None
) -> ProofPK:
    """Prove knowledge of (M, alpha) with c = (1 + M n) h_s^alpha and 0 <= M < 2^B."""
    total = _pk_check_bound(pk, B)
    if not 0 <= m < (1 << B):
        raise ValueError("Proof_PK: plaintext out of the stated bound")
    r = _rng(rng)
    n, n2 = mpz(pk.n), mpz(pk.n) * pk.n
    tab = comb_table(pk.n, pk.h_s)
    ts, tt = _rp_tables(pk.n)
    mu = r.getrandbits(_mu_bits(pk.n))
    S = int(ts.pow(m) * tt.pow(mu) % n)
    bound = 1 << total
    while True:  # abort-and-retry keeps z1 < 2^(B+K+KAPPA) (fails w.p. < 2^-KAPPA)
        x = r.getrandbits(total)
        y = r.getrandbits(ALPHA_BITS + K_BITS + KAPPA)
        gamma = r.getrandbits(_gamma_bits(pk.n))
        a = int((1 + x * n) * tab.pow(y) % n2)
        C = int(ts.pow(x) * tt.pow(gamma) % n)
        e = _pk_challenge(pk.n, pk.h_s, B, c, a, S, C)
        z1 = x + e * m
        if z1 < bound:
            return ProofPK(a=a, e=e, z1=z1, z2=y + e * alpha, S=S, C=C, z3=gamma + e * mu)


def verify_pk(pk: ThresholdPublicKey, c: int, proof: ProofPK, B: int) -> bool:
    """Check 0 <= z1 < 2^(B+K+KAPPA), e = H(...), (1 + z1 n) h_s^z2 = a c^e mod n^2 and
    s^z1 t^z3 = C S^e mod n."""
    try:
        total = _pk_check_bound(pk, B)
    except ValueError:
        return False
    n, n2 = pk.n, pk.n * pk.n
    a, e, z1, z2, S, C, z3 = (getattr(proof, k) for k in ProofPK._FIELDS)
    if not (_is_unit(c, n, n2) and _is_unit(a, n, n2)):
        return False
    if not (_is_unit(S, n, n) and _is_unit(C, n, n)):
        return False
    if not (0 <= e < (1 << K_BITS) and 0 <= z1 < (1 << total)):
        return False
    if not 0 <= z2 < (1 << (ALPHA_BITS + K_BITS + KAPPA + 1)):
        return False
    if not 0 <= z3 < (1 << (_gamma_bits(n) + 1)):
        return False
    if _pk_challenge(n, pk.h_s, B, c, a, S, C) != e:
        return False
    ts, tt = _rp_tables(n)
    if ts.pow(z1) * tt.pow(z3) % n != mpz(C) * gmpy2.powmod(S, e, n) % n:
        return False
    lhs = (1 + mpz(z1) * n) * comb_table(n, pk.h_s).pow(z2) % n2
    rhs = mpz(a) * gmpy2.powmod(c, e, n2) % n2
    return lhs == rhs


# -- Proof_CD --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProofCD:
    """(a, b, e, z): a = C^(4r), b = v^r, e = H(CD, ...), z = r + e Delta s_i."""

    a: int
    b: int
    e: int
    z: int

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "proof_cd",
            "version": 1,
            "a": int_to_hex(self.a),
            "b": int_to_hex(self.b),
            "e": int_to_hex(self.e),
            "z": int_to_hex(self.z),
        }

    @classmethod
    def from_json(cls, d: Any) -> ProofCD:
        check_header(d, "proof_cd")
        if set(d) != {"type", "version", "a", "b", "e", "z"}:
            raise CryptoFormatError("ProofCD: unexpected fields")
        p = cls(*(get_hex(d, k, "ProofCD") for k in ("a", "b", "e", "z")))
        if p.e.bit_length() > K_BITS:
            raise CryptoFormatError("ProofCD: challenge too long")
        return p

    def write(self, w: Writer) -> None:
        for x in (self.a, self.b, self.e, self.z):
            w.var(x)

    @classmethod
    def read(cls, r: Reader) -> ProofCD:
        p = cls(r.var(), r.var(), r.var(), r.var())
        if p.e.bit_length() > K_BITS:
            raise CryptoFormatError("ProofCD: challenge too long")
        return p

    def to_bytes(self) -> bytes:
        w = Writer(b"DCCD")
        self.write(w)
        return w.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ProofCD:
        r = Reader(data, b"DCCD")
        p = cls.read(r)
        r.end()
        return p


def _cd_r_bits(pk: ThresholdPublicKey) -> int:
    """|r| = |n^2| + |Delta| + 2K + KAPPA: hides e Delta s_i statistically (2^-KAPPA)."""
    return pk.n2.bit_length() + pk.delta.bit_length() + 2 * K_BITS + KAPPA


def cd_weights(pk: ThresholdPublicKey, i: int, cs: list[int], c_is: list[int]) -> list[int]:
    """rho_j = H(W, seed, j), seed = H(n, i, all c_j, all c_ij): K-bit batching weights."""
    seed = _Hasher(_CD_SEED_TAG).ints(pk.n, i, len(cs), *cs, *c_is).digest()
    base = hashlib.sha256(len(_CD_W_TAG).to_bytes(2, "big") + _CD_W_TAG.encode() + seed)
    out = []
    for j in range(len(cs)):
        h = base.copy()
        h.update(j.to_bytes(8, "big"))
        out.append(int.from_bytes(h.digest(), "big") >> (256 - K_BITS))
    return out


def _multi_pow(bases: list[int], exps: list[int], n2: int) -> mpz:
    """prod b_j^e_j mod n2."""
    acc = mpz(1)
    m = mpz(n2)
    for b, e in zip(bases, exps, strict=True):
        acc = acc * gmpy2.powmod(b, e, m) % m
    return acc


def _cd_challenge(pk: ThresholdPublicKey, i: int, C: int, C_i: int, a: int, b: int) -> int:
    return _Hasher(_CD_TAG).ints(pk.n, pk.N, pk.t, i, pk.v, pk.v_i[i - 1], C, C_i, a, b).challenge()


def prove_cd(
    pk: ThresholdPublicKey,
    share: KeyShare,
    cs: list[int],
    c_is: list[int],
    rng: RNG | None = None,
) -> ProofCD:
    """Batched Proof_CD that c_is[j] = cs[j]^(2 Delta s_i) for every j."""
    if len(cs) != len(c_is) or not cs:
        raise ValueError("Proof_CD needs equal-length non-empty vectors")
    if not 1 <= share.i <= pk.N:
        raise ValueError("share index out of range")
    n2 = pk.n2
    rho = cd_weights(pk, share.i, cs, c_is)
    C = _multi_pow(cs, rho, n2)
    C_i = _multi_pow(c_is, rho, n2)
    r = _rng(rng).getrandbits(_cd_r_bits(pk))
    a = int(gmpy2.powmod(C, 4 * r, n2))
    b = int(gmpy2.powmod(pk.v, r, n2))
    e = _cd_challenge(pk, share.i, int(C), int(C_i), a, b)
    return ProofCD(a=a, b=b, e=e, z=r + e * pk.delta * share.s_i)


def verify_cd(
    pk: ThresholdPublicKey, i: int, cs: list[int], c_is: list[int], proof: ProofCD
) -> bool:
    """Check C^(4z) = a C_i^(2e) and v^z = b v_i^e (mod n^2) with e recomputed."""
    if not 1 <= i <= pk.N or len(cs) != len(c_is) or not cs:
        return False
    n, n2 = pk.n, pk.n2
    if not all(_is_unit(x, n, n2) for x in cs) or not all(_is_unit(x, n, n2) for x in c_is):
        return False
    a, b, e, z = proof.a, proof.b, proof.e, proof.z
    if not (_is_unit(a, n, n2) and _is_unit(b, n, n2)):
        return False
    if not (0 <= e < (1 << K_BITS) and 0 <= z < (1 << (_cd_r_bits(pk) + 1))):
        return False
    rho = cd_weights(pk, i, cs, c_is)
    C = _multi_pow(cs, rho, n2)
    C_i = _multi_pow(c_is, rho, n2)
    if _cd_challenge(pk, i, int(C), int(C_i), a, b) != e:
        return False
    if gmpy2.powmod(C, 4 * z, n2) != mpz(a) * gmpy2.powmod(C_i, 2 * e, n2) % n2:
        return False
    return gmpy2.powmod(pk.v, z, n2) == mpz(b) * gmpy2.powmod(pk.v_i[i - 1], e, n2) % n2
