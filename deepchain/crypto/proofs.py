"""Non-interactive sigma proofs (Fiat-Shamir over ``zk.transcript``, SHA-256).

Every challenge hashes a domain tag, the proof context (PK_model fingerprint, group, round,
phase, the prover's party index and address: ``ProofContext``, rebuilt by each verifier from
what it expects) and every public value of the statement. See PROTOCOL.md:
- Proof_PK: a gradient ciphertext c = (1+n)^M h_s^alpha encrypts M = M* mod n for an integer
  |M*| < 2^(B+K+KAPPA) (the paper's fsver1; a proof with slack: honest provers use
  0 <= M < 2^B; M* may be negative, see encoding.py).
  DEVIATION from PROTOCOL.md: the protocol's sigma proof checks z1 only through (1 + z1 n), i.e.
  mod n, and Z_n has public order n, so it does not bound M (a prover with M = n - 5 or
  M = 1/2 mod n is accepted after a few Fiat-Shamir retries). As in CGGMP'20's Pi^enc we add a
  ring-Pedersen commitment S = s^M t^mu mod N^ with the key's ring-Pedersen parameters
  (N^, s, t): t = tau^2, s = t^lambda made by the key holder, who forgets tau, lambda and the
  factors of N^, and proved well formed by Pi^prm (zk.ring_pedersen; every verifier checks it).
  The extra equation s^z1 t^z3 = C S^e mod N^ makes the integer bound on z1 sound under the
  strong RSA assumption for N^ (Damgard-Fujisaki 2002), given that nobody knows log_t s, a
  square root of s or t, or phi(N^). (Hash-derived s = u_s^2 would not do: with u_s public a
  prover commits S = u_s^A t^mu = "s^(A/2)" and opens M = A/2 mod n; that attack is a test.)
  The commitment randomness mu is a 448-bit short exponent (hiding under the same
  short-exponent assumption DJN encryption already relies on), which keeps the cost down.
- Batched Proof_PK (prove_update / verify_update_proof, the default for an update): one proof
  for all k <= 2^L ciphertexts of an update, |M*_j| < 2^(B + K + KAPPA + L + log2 r + 1) for
  every j. r = 128 binary subset aggregates C_i = prod_j c_j^rho_ij (rho from the hash of the
  context and all c_j) carry ring-Pedersen commitments S_i, and one sigma protocol with a K-bit
  vector challenge opens them all; no per-ciphertext exponentiation. Soundness and slack are
  argued in prove_update's docstring (a random K-bit linear combination of the c_j alone
  would not be sound: m_j = 1/2 mod n passes whenever the weights make the coefficient even).
- Proof_CD: a vector of decryption shares c_ij = c_j^(2 Delta s_i) is correct, i.e.
  log_{C^4}(C_i^2) = log_v(v_i) for random-weighted products C, C_i (Shoup's proof, batched;
  the paper's fsver2), bound to the context (party_index = i).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

import gmpy2
from gmpy2 import mpz

from deepchain.canonical import int_to_hex
from deepchain.crypto.encoding import (
    batch_proof_range_bits,
    proof_pk_range_bits,
    proven_bound_bits,
)
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
    key_ceremony_context,
)
from deepchain.crypto.serialize import (
    CryptoFormatError,
    Reader,
    Writer,
    check_header,
    get_hex,
    get_hex_list,
)
from deepchain.crypto.zk.ring_pedersen import verify_prm
from deepchain.crypto.zk.transcript import ProofContext, Transcript

PK_TAG = "deepchain/proof-pk/v2"
CD_TAG = "deepchain/proof-cd/v2"
BP_TAG = "deepchain/batch-proof-pk/v2"


def _is_unit(x: int, n: int, n2: int) -> bool:
    return isinstance(x, int) and 1 <= x < n2 and gmpy2.gcd(x, n) == 1


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
            t=CombTable(rp.t, rp.N_hat, _gamma_bits() + 1),
            fingerprint=pk.fingerprint(),
        )
    if len(_RP_CACHE) >= 4:
        _RP_CACHE.pop(next(iter(_RP_CACHE)))
    _RP_CACHE[pk] = out
    return out


def _bases_for(pk: ThresholdPublicKey, ctx: ProofContext) -> RingPedersenBases | None:
    """Bases for a proof in ``ctx``: None if Pi^prm fails or ctx names another PK_model."""
    if not isinstance(ctx, ProofContext):
        raise TypeError("a proof needs a ProofContext")
    rp = ring_pedersen_bases(pk)
    if rp is None or ctx.pk_fingerprint != rp.fingerprint:
        return None
    return rp


def _prover_bases(pk: ThresholdPublicKey, ctx: ProofContext) -> RingPedersenBases:
    rp = _bases_for(pk, ctx)
    if rp is None:
        raise ValueError(
            "Proof_PK needs PK_model's ring-Pedersen parameters with a valid Pi^prm and a "
            "context naming this PK_model"
        )
    return rp


def _mu_bits() -> int:
    """Short-exponent commitment randomness (DJN's assumption, as for h_s^alpha)."""
    return ALPHA_BITS


def _gamma_bits() -> int:
    """gamma statistically hides e * mu."""
    return ALPHA_BITS + K_BITS + KAPPA


class _Framed:
    """to_bytes / from_bytes for a proof with ``write`` / ``read``: the magic, then the fields."""

    MAGIC: bytes

    def write(self, w: Writer) -> None:
        raise NotImplementedError

    @classmethod
    def read(cls, r: Reader) -> Self:
        raise NotImplementedError

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


@dataclass(frozen=True)
class ProofPK(_Framed):
    """Proof_PK = (a, e, z1, z2, S, C, z3).

    a = (1 + x n) h_s^y mod n^2, S = s^M t^mu, C = s^x t^gamma mod N^,
    e = H(PK, ctx, statement, a, S, C) (pk_challenge), z1 = x + e M, z2 = y + e alpha,
    z3 = gamma + e mu.
    """

    MAGIC = b"DCPK"

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


def _pk_check_bound(pk: Any, B: int) -> int:
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
    total = _pk_check_bound(pk, B)
    position = _check_position(position)
    if not 0 <= m < (1 << B):
        raise ValueError("Proof_PK: plaintext out of the stated bound")
    rp = _prover_bases(pk, ctx)
    r = _rng(rng)
    n, n2, Nh = mpz(pk.n), mpz(pk.n) * pk.n, mpz(rp.N_hat)
    tab = comb_table(pk.n, pk.h_s)
    ts, tt = rp.s, rp.t
    mu = r.getrandbits(_mu_bits())
    S = int(ts.pow(m) * tt.pow(mu) % Nh)
    bound = 1 << total
    while True:  # abort-and-retry keeps z1 < 2^(B+K+KAPPA) (fails w.p. < 2^-KAPPA)
        x = r.getrandbits(total)
        y = r.getrandbits(ALPHA_BITS + K_BITS + KAPPA)
        gamma = r.getrandbits(_gamma_bits())
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
        total = _pk_check_bound(pk, B)
        position = _check_position(position)
    except ValueError:
        return False
    if not isinstance(proof, ProofPK):
        return False
    rp = _bases_for(pk, ctx)
    if rp is None:
        return False
    n, n2, Nh = pk.n, pk.n * pk.n, rp.N_hat
    a, e, z1, z2, S, C, z3 = (getattr(proof, k) for k in ProofPK._FIELDS)
    if not (_is_unit(c, n, n2) and _is_unit(a, n, n2)):
        return False
    if not (_is_unit(S, Nh, Nh) and _is_unit(C, Nh, Nh)):
        return False
    if not (0 <= e < (1 << K_BITS) and 0 <= z1 < (1 << total)):
        return False
    if not 0 <= z2 < (1 << (ALPHA_BITS + K_BITS + KAPPA + 1)):
        return False
    if not 0 <= z3 < (1 << (_gamma_bits() + 1)):
        return False
    if pk_challenge(pk, ctx, B, position, c, a, S, C) != e:
        return False
    if rp.s.pow(z1) * rp.t.pow(z3) % Nh != mpz(C) * gmpy2.powmod(S, e, Nh) % Nh:
        return False
    lhs = (1 + mpz(z1) * n) * comb_table(n, pk.h_s).pow(z2) % n2
    rhs = mpz(a) * gmpy2.powmod(c, e, n2) % n2
    return lhs == rhs


# -- Proof_CD --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProofCD(_Framed):
    """(a, b, e, z): a = C^(4r), b = v^r, e = H(CD, ...), z = r + e Delta s_i."""

    MAGIC = b"DCCD"

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


def _cd_r_bits(pk: ThresholdPublicKey) -> int:
    """|r| = |n^2| + |Delta| + 2K + KAPPA: hides e Delta s_i statistically (2^-KAPPA)."""
    return pk.n2.bit_length() + pk.delta.bit_length() + 2 * K_BITS + KAPPA


def _cd_transcript(
    pk: ThresholdPublicKey, ctx: ProofContext, i: int, cs: list[int], c_is: list[int]
) -> Transcript:
    tr = Transcript(CD_TAG, ctx).int("n", pk.n).int("N", pk.N).int("t", pk.t).int("i", i)
    return tr.int("v", pk.v).int("v_i", pk.v_i[i - 1]).ints("c", cs).ints("c_i", c_is)


def cd_weights(
    pk: ThresholdPublicKey, ctx: ProofContext, i: int, cs: list[int], c_is: list[int]
) -> list[int]:
    """rho_j (K bits each) from H(CD, ctx, n, N, t, i, v, v_i, all c_j, all c_ij)."""
    return _cd_transcript(pk, ctx, i, cs, c_is).challenges(len(cs), K_BITS, "rho")


def _multi_pow(bases: list[int], exps: list[int], n2: int) -> mpz:
    """prod b_j^e_j mod n2 (bucket multi-exponentiation, see _multi_exp)."""
    return _multi_exp(bases, exps, n2)


def _cd_challenge(tr: Transcript, C: int, C_i: int, a: int, b: int) -> int:
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
    tr = _cd_transcript(pk, ctx, share.i, cs, c_is)
    rho = tr.challenges(len(cs), K_BITS, "rho")
    C = _multi_pow(cs, rho, n2)
    C_i = _multi_pow(c_is, rho, n2)
    r = _rng(rng).getrandbits(_cd_r_bits(pk))
    a = int(gmpy2.powmod(C, 4 * r, n2))
    b = int(gmpy2.powmod(pk.v, r, n2))
    e = _cd_challenge(tr, int(C), int(C_i), a, b)
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
    if not all(_is_unit(x, n, n2) for x in cs) or not all(_is_unit(x, n, n2) for x in c_is):
        return False
    a, b, e, z = proof.a, proof.b, proof.e, proof.z
    if not (_is_unit(a, n, n2) and _is_unit(b, n, n2)):
        return False
    if not (0 <= e < (1 << K_BITS) and 0 <= z < (1 << (_cd_r_bits(pk) + 1))):
        return False
    tr = _cd_transcript(pk, ctx, i, cs, c_is)
    rho = tr.challenges(len(cs), K_BITS, "rho")
    C = _multi_pow(cs, rho, n2)
    C_i = _multi_pow(c_is, rho, n2)
    if _cd_challenge(tr, int(C), int(C_i), a, b) != e:
        return False
    if gmpy2.powmod(C, 4 * z, n2) != mpz(a) * gmpy2.powmod(C_i, 2 * e, n2) % n2:
        return False
    return gmpy2.powmod(pk.v, z, n2) == mpz(b) * gmpy2.powmod(pk.v_i[i - 1], e, n2) % n2


# -- batched Proof_PK over a whole update -------------------------------------------------------
BATCH_R = K_BITS  # binary repetitions r: soundness 2^-r against a bad ciphertext
LOG_R = (BATCH_R - 1).bit_length()  # ceil(log2 r) = 7


def _batch_params(pk: ThresholdPublicKey, scheme: Any) -> tuple[int, int, int]:
    """(B, L, T): plaintext bound bits, log2 of the most ciphertexts, z1 range bits.

    Raises ValueError if N_max proven-but-cheating plaintexts (each |M*| < 2^(T+1)) could sum
    outside (-2^(|n|-2), 2^(|n|-2)), i.e. if the scheme leaves too few free bits.
    """
    if scheme.n_bits != pk.n.bit_length():
        raise ValueError("packing scheme was made for a different key size")
    B, L = scheme.plaintext_bits, scheme.batch_log
    T = batch_proof_range_bits(B, L, K_BITS, KAPPA)
    if B < 1 or proven_bound_bits(B, L, K_BITS, KAPPA) + scheme.log_n_max > pk.n.bit_length() - 2:
        raise ValueError("batched Proof_PK: the packing leaves too few free bits")
    return B, L, T


def _y_bits(L: int) -> int:
    """y hides sum_i w_i alpha_hat_i < 2^(ALPHA + L + K + log r)."""
    return ALPHA_BITS + L + K_BITS + LOG_R + KAPPA


def _gamma_batch_bits() -> int:
    """gamma hides sum_i w_i mu_i < 2^(MU + K + log r)."""
    return ALPHA_BITS + K_BITS + LOG_R + KAPPA


@dataclass(frozen=True)
class BatchProofPK(_Framed):
    """Batched Proof_PK for a whole update: S = (S_1..S_r), a, D, z1, z2, z3 (see prove_update).

    The challenges (binary weights rho and K-bit weights w) are recomputed by the verifier
    from the hash of the statement and (S, a, D), so they are not stored.
    """

    MAGIC = b"DCBP"

    S: tuple[int, ...]
    a: int
    D: int
    z1: int
    z2: int
    z3: int

    _SCALARS = ("a", "D", "z1", "z2", "z3")

    def __post_init__(self) -> None:
        object.__setattr__(self, "S", tuple(int(x) for x in self.S))

    def _check_sizes(self) -> None:
        if len(self.S) != BATCH_R:
            raise CryptoFormatError(f"BatchProofPK: expected {BATCH_R} commitments S")
        for k in self._SCALARS:
            if getattr(self, k).bit_length() > 1 << 16:
                raise CryptoFormatError(f"BatchProofPK: {k} too long")
        if any(x.bit_length() > 1 << 16 for x in self.S):
            raise CryptoFormatError("BatchProofPK: S too long")

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "batch_proof_pk", "version": 1}
        for k in self._SCALARS:
            d[k] = int_to_hex(getattr(self, k))
        d["S"] = [int_to_hex(x) for x in self.S]
        return d

    @classmethod
    def from_json(cls, d: Any) -> BatchProofPK:
        check_header(d, "batch_proof_pk")
        if set(d) != {"type", "version", "S", *cls._SCALARS}:
            raise CryptoFormatError("BatchProofPK: unexpected fields")
        S = get_hex_list(d, "S", "BatchProofPK")
        vals = {k: get_hex(d, k, "BatchProofPK") for k in cls._SCALARS}
        p = cls(S=tuple(S), **vals)
        p._check_sizes()
        return p

    def write(self, w: Writer) -> None:
        for k in self._SCALARS:
            w.var(getattr(self, k))
        w.u32(len(self.S))
        for x in self.S:
            w.var(x)

    @classmethod
    def read(cls, r: Reader) -> BatchProofPK:
        vals = {k: r.var() for k in cls._SCALARS}
        cnt = r.u32()
        if cnt != BATCH_R:
            raise CryptoFormatError(f"BatchProofPK: expected {BATCH_R} commitments S")
        p = cls(S=tuple(r.var() for _ in range(cnt)), **vals)
        p._check_sizes()
        return p


def batch_transcript(
    pk: ThresholdPublicKey, ctx: ProofContext, B: int, L: int, cs: list[int]
) -> Transcript:
    """The batched proof's transcript after the statement: H(BP, ctx, n, h_s, N^, s, t, B, L,
    r, k, c_1..c_k); rho and w are derived from it (batch_rho, batch_w)."""
    rp = pk.ring_pedersen
    if rp is None:
        raise ValueError("PK_model has no ring-Pedersen parameters")
    tr = Transcript(BP_TAG, ctx).int("n", pk.n).int("h_s", pk.h_s)
    tr.int("N_hat", rp.N_hat).int("s", rp.s).int("t", rp.t)
    return tr.int("B", B).int("L", L).int("r", BATCH_R).ints("c", cs)


def batch_rho(tr: Transcript, k: int) -> list[int]:
    """rho_j (r bits each) from the statement transcript; bit i of rho_j is rho_ij in {0, 1}."""
    return tr.challenges(k, BATCH_R, "rho")


def batch_w(tr: Transcript, S: tuple[int, ...], a: int, D: int) -> list[int]:
    """w_i = H(statement transcript, S_1..S_r, a, D)_i: K-bit weights of the sigma protocol."""
    return tr.copy().ints("S", S).int("a", a).int("D", D).challenges(BATCH_R, K_BITS, "w")


def _rows_cost(k: int, g: int) -> int:
    return -(-BATCH_R // g) * (k + (2 << g))


def _row_combine(items: list[Any], rhos: list[int], mul: Any, one: Any) -> list[Any]:
    """out_i = mul-combination of items[j] over the j with bit i of rhos[j] set (i < r).

    Bucket method: rows in groups of g bits; each item goes into the bucket of its g-bit
    pattern (one operation), then each row of the group is the combination of the buckets
    with its bit set, found by halving (2^(g+1) operations). About r/g (k + 2^(g+1)) in all
    instead of r k / 2.
    """
    k = len(items)
    g = min(range(1, 11), key=lambda gg: _rows_cost(k, gg))
    out = [one] * BATCH_R
    for g0 in range(0, BATCH_R, g):
        gw = min(g, BATCH_R - g0)
        mask = (1 << gw) - 1
        buckets: list[Any] = [None] * (1 << gw)
        for it, rho in zip(items, rhos, strict=True):
            p = (rho >> g0) & mask
            if p:
                b = buckets[p]
                buckets[p] = it if b is None else mul(b, it)
        A = buckets
        for bit in reversed(range(gw)):
            half = 1 << bit
            acc = None
            for p in range(half, 2 * half):
                x = A[p]
                if x is not None:
                    acc = x if acc is None else mul(acc, x)
            out[g0 + bit] = one if acc is None else acc
            low = A[:half]
            for p in range(half):
                x = A[p + half]
                if x is not None:
                    low[p] = x if low[p] is None else mul(low[p], x)
            A = low
    return out


def _multi_exp(bases: list[int], exps: list[int], mod: int) -> mpz:
    """prod b_j^e_j mod `mod` for e_j >= 0 (Pippenger's bucket method, c-bit windows)."""
    m = mpz(mod)
    if not bases:
        return mpz(1)
    nbits = max(int(e).bit_length() for e in exps)
    if nbits == 0:
        return mpz(1)
    c = max(1, min(10, len(bases).bit_length() - 2))
    mask = (1 << c) - 1
    bs = [mpz(b) % m for b in bases]
    es = [int(e) for e in exps]
    acc = mpz(1)
    for win in reversed(range(-(-nbits // c))):
        if acc != 1:
            acc = gmpy2.powmod(acc, 1 << c, m)
        buckets: list[Any] = [None] * (1 << c)
        shift = win * c
        for b, e in zip(bs, es, strict=True):
            d = (e >> shift) & mask
            if d:
                x = buckets[d]
                buckets[d] = b if x is None else x * b % m
        running, total = mpz(1), mpz(1)
        for d in range(mask, 0, -1):  # sum_d d * bucket_d by running products
            x = buckets[d]
            if x is not None:
                running = running * x % m
            if running != 1:
                total = total * running % m
        acc = acc * total % m
    return acc


def prove_update(
    pk: ThresholdPublicKey,
    scheme: Any,
    cs: list[int],
    ms: list[int],
    alphas: list[int],
    rng: RNG | None = None,
    *,
    ctx: ProofContext,
) -> BatchProofPK:
    """Batched Proof_PK: every c_j = (1+n)^(M_j) h_s^(alpha_j) has M_j = M*_j mod n for an
    integer |M*_j| < 2^(B + K + KAPPA + L + log2 r + 1), with ONE proof for the k <= 2^L
    ciphertexts of an update (B = scheme.plaintext_bits, L = scheme.batch_log, r = K = 128),
    bound to the proof context ``ctx`` (key, group, round, phase, party index and address).

    Protocol (public coin, Fiat-Shamir with the context and the whole statement in the hash):
    1. rho_ij in {0, 1} (i < r, j < k) from H(ctx, n, h_s, N^, s, t, B, L, r, k, c_1..c_k),
       see batch_transcript. The prover forms
       the r subset aggregates C_i = prod_j c_j^rho_ij, with witnesses M^_i = sum_j rho_ij M_j
       (< 2^(B+L)), alpha^_i = sum_j rho_ij alpha_j; it never computes C_i itself.
    2. Ring-Pedersen integer commitments S_i = s^(M^_i) t^(mu_i) mod N^ (mu_i 448-bit short
       exponents; (N^, s, t) the key's ring-Pedersen parameters, Pi^prm-checked), and, with
       T = B + L + K + log2 r + KAPPA, x < 2^T, y < 2^(448+L+K+log2 r+KAPPA),
       gamma < 2^(448+K+log2 r+KAPPA): a = (1 + x n) h_s^y mod n^2, D = s^x t^gamma mod N^.
    3. w_i (K bits) from H(seed, S, a, D).
    4. z1 = x + sum w_i M^_i, z2 = y + sum w_i alpha^_i, z3 = gamma + sum w_i mu_i (integers;
       retry if z1 >= 2^T, probability < 2^-KAPPA). The verifier checks 0 <= z1 < 2^T, the
       z2/z3 ranges, (1 + z1 n) h_s^z2 = a prod C_i^w_i mod n^2 and
       s^z1 t^z3 = D prod S_i^w_i mod N^.

    Soundness. (a) Final sigma protocol, vector challenge w (coordinate-wise special
    soundness, Attema-Cramer-Rambaud 2021): two accepting answers for w, w' = w + delta e_i
    (0 < |delta| < 2^K) give s^(dz1) t^(dz3) = S_i^delta, so by strong RSA (Damgard-Fujisaki
    2002) delta | dz1 and M^_i := dz1 / delta is an integer with |M^_i| < 2^T; and
    C_i^delta = (1+n)^(dz1) h_s^(dz2), so C_i (1+n)^(-M^_i) is an n-th residue (delta is a
    unit mod n): plaintext(C_i) = M^_i mod n. Knowledge error r / 2^K. The integer commitment
    is what stops the rational plaintexts (M = 1/2 mod n) that beat a mod-n-only check.
    (b) Binary batching: m_j = plaintext(c_j) is fixed mod n by c_j before rho is drawn.
    Let A = {rho in {0,1}^k : sum_j rho_j m_j = an integer in (-2^T, 2^T) mod n}. If rho and
    rho XOR e_j are both in A, then m_j = +-(difference) is an integer in (-2^(T+1), 2^(T+1))
    mod n. So if some m_j is not, A and A XOR e_j are disjoint and |A| <= 2^(k-1): each of
    the r independent rows passes with probability <= 1/2, all with <= 2^-r. (Weights of K
    bits would not do here: delta m_j small mod n does not make m_j small, e.g. m_j = 1/2.)
    Total: a cheating prover succeeds with probability <= 2^-r + r 2^-K per hash query
    (about 2^-121), or breaks strong RSA. Slack: |M*_j| < 2^(T+1), i.e. L + log2 r + 1 bits
    more than the per-ciphertext proof; PackingScheme reserves them (84 slots at 2048 bits
    with L = 18). Zero knowledge: z1, z2, z3 hide the weighted sums statistically (KAPPA
    extra bits); S_i, a, D hide computationally (short-exponent assumption, as DJN).
    Cost: r = 128 commitments S_i plus O(1) exponentiations per update, and O(k r) integer
    additions: no modular exponentiation per ciphertext.
    """
    B, L, T = _batch_params(pk, scheme)
    k = len(cs)
    if not 1 <= k <= (1 << L) or len(ms) != k or len(alphas) != k:
        raise ValueError(f"prove_update needs 1 <= k <= 2^{L} and one (M, alpha) per c")
    for m, al in zip(ms, alphas, strict=True):
        if not 0 <= m < (1 << B):
            raise ValueError("prove_update: plaintext out of the stated bound")
        if not 0 <= al < (1 << ALPHA_BITS):
            raise ValueError("prove_update: alpha must be a 448-bit short exponent")
    rp = _prover_bases(pk, ctx)
    r = _rng(rng)
    n, n2, Nh = mpz(pk.n), mpz(pk.n) * pk.n, mpz(rp.N_hat)
    seed = batch_transcript(pk, ctx, B, L, cs)
    rhos = batch_rho(seed, k)
    add = _add
    M_hat = _row_combine([int(m) for m in ms], rhos, add, 0)
    A_hat = _row_combine([int(al) for al in alphas], rhos, add, 0)
    ts, tt = rp.s, rp.t
    mus = [r.getrandbits(ALPHA_BITS) for _ in range(BATCH_R)]
    S = tuple(int(ts.pow(mh) * tt.pow(mu) % Nh) for mh, mu in zip(M_hat, mus, strict=True))
    tab = comb_table(pk.n, pk.h_s)
    bound = 1 << T
    while True:
        x = r.getrandbits(T)
        y = r.getrandbits(_y_bits(L))
        gamma = r.getrandbits(_gamma_batch_bits())
        a = int((1 + x * n) * tab.pow(y) % n2)
        D = int(ts.pow(x) * tt.pow(gamma) % Nh)
        w = batch_w(seed, S, a, D)
        z1 = x + sum(wi * mh for wi, mh in zip(w, M_hat, strict=True))
        if z1 < bound:
            z2 = y + sum(wi * ah for wi, ah in zip(w, A_hat, strict=True))
            z3 = gamma + sum(wi * mu for wi, mu in zip(w, mus, strict=True))
            return BatchProofPK(S=S, a=a, D=D, z1=z1, z2=z2, z3=z3)


def _add(x: int, y: int) -> int:
    return x + y


def verify_update_proof(
    pk: ThresholdPublicKey,
    scheme: Any,
    cs: list[int],
    proof: BatchProofPK,
    *,
    ctx: ProofContext,
) -> bool:
    """Check a BatchProofPK for the ciphertexts cs (in order): ranges, then
    (1 + z1 n) h_s^z2 = a prod C_i^w_i mod n^2 and s^z1 t^z3 = D prod S_i^w_i mod N^ with
    C_i = prod_j c_j^rho_ij and rho, w recomputed from ``ctx`` and cs (see prove_update);
    False also if PK_model's ring-Pedersen parameters fail Pi^prm or ctx names another key."""
    try:
        B, L, T = _batch_params(pk, scheme)
    except ValueError:
        return False
    if not isinstance(proof, BatchProofPK):
        return False
    rp = _bases_for(pk, ctx)
    if rp is None:
        return False
    k = len(cs)
    n, n2, Nh = pk.n, pk.n2, rp.N_hat
    if not 1 <= k <= (1 << L) or len(proof.S) != BATCH_R:
        return False
    if not all(_is_unit(c, n, n2) for c in cs):
        return False
    if not (_is_unit(proof.a, n, n2) and _is_unit(proof.D, Nh, Nh)):
        return False
    if not all(_is_unit(x, Nh, Nh) for x in proof.S):
        return False
    z1, z2, z3 = proof.z1, proof.z2, proof.z3
    if not (0 <= z1 < (1 << T) and 0 <= z2 < (1 << (_y_bits(L) + 1))):
        return False
    if not 0 <= z3 < (1 << (_gamma_batch_bits() + 1)):
        return False
    seed = batch_transcript(pk, ctx, B, L, cs)
    w = batch_w(seed, proof.S, proof.a, proof.D)
    m_N = mpz(Nh)
    rhs = mpz(proof.D) * _multi_exp(list(proof.S), w, Nh) % m_N
    if rp.s.pow(z1) * rp.t.pow(z3) % m_N != rhs:
        return False
    m_n2 = mpz(n2)
    rhos = batch_rho(seed, k)
    Cs = _row_combine([mpz(c) for c in cs], rhos, lambda u, v: u * v % m_n2, mpz(1))
    lhs = (1 + mpz(z1) * n) * comb_table(n, pk.h_s).pow(z2) % m_n2
    return lhs == mpz(proof.a) * _multi_exp(Cs, w, n2) % m_n2
