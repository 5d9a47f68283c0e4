"""Proof of bounded influence: every slot of every packed plaintext is exactly the digit of a
quantized coordinate q with |q| <= b (the group's public L-infinity bound, slack 1x).

Statement. PK_model's Paillier key (n, h_s), the group's packing (Q, slot width w, s slots per
ciphertext), the bound b (1 <= b <= 2^Q - 1), the update's length m, and its ciphertexts
c_1..c_k, k = ceil(m / s). Claim: for each j, c_j = (1 + n)^(M_j) h_s^(alpha_j) with
    M_j = off_j + sum_{k < cnt_j} d_jk 2^(w k),  d_jk in [0, R], R = 2b,
    off_j = sum_{k < cnt_j} (2^Q - b) 2^(w k)
(cnt_j slots in ciphertext j), i.e. slot k holds 2^Q + q_jk with |q_jk| <= b and every unused
slot is 0: no carry, borrow or headroom is left to a prover.

Digits in bits. d = sum_i g_i beta_i with beta_i in {0, 1} and the basis
g = (1, 2, ..., 2^(ell-2), R - 2^(ell-1) + 1), ell = |R| bits: its subset sums are exactly
[0, R] (the standard basis for a range that is not a power of two, e.g. Bulletproofs,
Bunz et al., IEEE S&P 2018, section 4.2; here without the inner-product compression).

Protocol (public coin, made non-interactive with Fiat-Shamir over ``zk.transcript`` bound to
the ProofContext; BLS12-381 G1 with generators G_0, G_1, ..., G_q, H from RFC 9380
hash-to-curve, so nobody knows a relation between them):
1. Per ciphertext j: V_j = sum_l beta_jl G_l + r_j H (l = k ell + i runs over its bits).
2. rho_j (RHO_BITS each) and y in Z_r from H(ctx, statement, V).
3. Masks x_jl uniform in [0, 2^ZB), ZB = K + KAPPA; A_j = sum_l x_jl G_l + sigma_j H;
   t0 = sum y^idx x^2, t1 = sum y^idx x (2 beta - 1) (mod r, idx the bit's global index),
   T0 = t0 G_q + tau0 H, T1 = t1 G_q + tau1 H; a Paillier mask a = (1 + X n) h_s^eta with
   X = sum_j rho_j sum_k 2^(w k) sum_i g_i x_jki.
4. e (K bits) from H(..., A, T0, T1, a).
5. z_jl = x_jl + e beta_jl as INTEGERS, restarting at 3 unless every z in [2^K, 2^ZB) (then z
   is uniform there whatever beta is); tau_j = sigma_j + e r_j, tau_T = tau0 + e tau1 (mod r);
   z2 = eta + e sum_j rho_j alpha_j.
Verifier (``verify_slot_bound``): the ranges; sum_l z_jl G_l + tau_j H = A_j + e V_j for every
j (checked at once with random 128-bit weights gamma_j from an injectable rng: a false
equation passes with probability <= 2^-128); sum y^idx z (z - e) G_q + tau_T H = T0 + e T1;
and, with Z = sum_j rho_j sum_k 2^(w k) sum_i g_i z_jki and O = sum_j rho_j off_j,
(1 + (Z + e O) n) h_s^z2 = a (prod_j c_j^rho_j)^e mod n^2.

Soundness (knowledge soundness by rewinding e; rho, y fixed before the masks).
(i) Pedersen binding (discrete log in G1) and two answers for e != e' open V_j to
    beta_jl = dz / de mod r and A_j to x_jl.
(ii) With three answers, z (z - e) = x^2 + e x (2 beta - 1) + e^2 beta (beta - 1) makes the
    quadratic check a polynomial identity in e of degree 2 whose e^2 coefficient
    sum_idx y^idx beta_idx (beta_idx - 1) must vanish; y is drawn after V, so (Schwartz-Zippel,
    degree < m ell) every beta_idx (beta_idx - 1) = 0 mod r except with probability m ell / r:
    every beta is 0 or 1, so every digit d = sum g_i beta_i is an integer in [0, R] (exact).
(iii) z - z' = (e - e') beta mod r with |z - z'| < 2^ZB and |e - e'| beta < 2^K, and
    2^ZB + 2^K < r, so the equality holds over the integers; hence Z - Z' = (e - e') sum_j
    rho_j D_j with D_j = sum_k d_jk 2^(w k), and the Paillier equation gives
    C^(e - e') = (1 + n)^((e - e') sum rho_j D_j) h_s^(dz2) for C = prod c_j^rho_j (1+n)^-O:
    as e - e' < 2^K is a unit mod n and h_s an n-th residue, C encrypts sum_j rho_j D_j, i.e.
    sum_j rho_j (M_j - off_j - D_j) = 0 mod n.
(iv) The c_j and V_j (so M_j and D_j) are fixed before rho; if some M_j - off_j - D_j != 0
    mod n (so mod p or mod q), that sum vanishes with probability <= 2^-RHO_BITS.
So every c_j encrypts exactly off_j + D_j with digits in [0, R]: |q| <= b for every coordinate,
slack 1x. Soundness error per hash query about 2^-127 (rho 2^-128, y m ell / r, e 2 / 2^K),
in the random-oracle model, assuming discrete log in BLS12-381 G1 (no strong RSA, no
ring-Pedersen parameters). Honest-verifier zero knowledge: V_j, A_j, T0, T1 are perfectly
hiding Pedersen commitments, z uniform on [2^K, 2^ZB) given acceptance (whether an attempt is
accepted depends on the bits only with probability about 2^-KAPPA per bit, so the whole
transcript is within m ell 2^-KAPPA of one that does not depend on them: 2^-18 at the CNN's
2^22 bits), tau uniform, z2 hides e sum rho alpha statistically (2^-KAPPA), a is a DJN
encryption (short-exponent assumption, as every ciphertext of the protocol).

L2 bound (``zk.norm_bound``, its own soundness argument): with the group's c2 the statement
also claims sum q^2 <= c2^2 (slack 1x). The slack s = c2^2 - sum q^2 gets bits beta' in
bit_basis(c2^2) committed in V' (step 1, transcript before rho and y), masked in A' with
responses z' (steps 3 and 5, same range), checked as bits in the quadratic check (indices after
the digit bits) and opened in the batched opening check (weight gamma'), not linked to Paillier;
before e the prover adds U0, U1 and after it tau_U; the verifier's "norm" check is
``norm_bound.norm_holds`` on z_q,c = sum_i g_i z_ci - e b and Z_s = sum_i g'_i z'_i.
Without c2 nothing of this is in the transcript or the bytes: those proofs are unchanged.

Cost: per bit, one mask, one response of ZB bits (21 bytes), its share of the masks' multi-scalar
multiplication A_j and, for a 1, one point addition in V_j; per ciphertext two G1 points and a
scalar. Size is linear in m ell (the inner-product argument of Bulletproofs would make it
logarithmic; not done). The per-bit sums of both sides (t0, t1, X, z and its range, the
quadratic check, the gamma-combination, Z) run on numpy limbs of the packed responses
(``zk.bit_vectors``, ``zk.packed``: exact, each equal to its loop), so the verifier's group
work (one MSM over the generators, A_j, V_j; one Paillier multi-exponentiation) dominates it.

One piece (over 500 lines) on purpose: one proof system per file; its prover, verifier and
byte format share the statement, the generators and the transcript order above.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress

import gmpy2
import numpy as np
from gmpy2 import mpz
from py_arkworks_bls12381 import G1Point, Scalar

from deepchain.crypto.assets import R
from deepchain.crypto.encoding import PackingScheme
from deepchain.crypto.paillier import ThresholdPublicKey, comb_table
from deepchain.crypto.randomness import RNG, rng_or_system
from deepchain.crypto.security_params import ALPHA_BITS, K_BITS, KAPPA
from deepchain.crypto.serialize import CryptoFormatError, Reader, Writer
from deepchain.crypto.zk.bit_vectors import (
    N_LIMBS,
    Z_BYTES,
    ZB,
    binary,
    mask_sums,
    response_limbs,
    responses,
)
from deepchain.crypto.zk.g1 import POINT_BYTES, point_bytes, point_from_bytes, scalar
from deepchain.crypto.zk.multiexp import multi_exp
from deepchain.crypto.zk.norm_bound import (
    NormBound,
    check_norm_statement,
    coordinate_responses,
    norm_masks,
    norm_proof,
    norm_verifies,
    slack,
    slack_bits,
)
from deepchain.crypto.zk.packed import (
    PackedInts,
    limbs_of_ints,
    linked_sum,
    power_sums,
    square,
    weighted_sum,
)
from deepchain.crypto.zk.transcript import ProofContext, Transcript

__all__ = [
    "RHO_BITS",
    "SB_TAG",
    "ZB",
    "SlotBoundProof",
    "bit_basis",
    "digit_bits",
    "prove_bits",
    "prove_slot_bound",
    "slot_bound_failure",
    "slot_bound_max_bytes",
    "verify_slot_bound",
]

SB_TAG = "deepchain/slot-bound/v1"
DST = b"DEEPCHAIN-SLOT-BOUND-V1_BLS12381G1_XMD:SHA-256_SSWU_RO_"
RHO_BITS = 128  # linking weights rho_j
GAMMA_BITS = 128  # the verifier's batching weights
MAX_LOG_K = 40  # ciphertexts per update: eta covers sum rho_j alpha_j for k <= 2^40
MAX_ATTEMPTS = 64  # honest bits need a second attempt with probability < 2^-17 at 2^22 bits


_GENS: list[G1Point] = []


def generators(count: int) -> list[G1Point]:
    """G_0..G_(count-1) = hash_to_curve("G" || l) (RFC 9380, SSWU); cached, grown on demand."""
    while len(_GENS) < count:
        _GENS.append(G1Point.hash_to_curve(b"G" + len(_GENS).to_bytes(8, "big"), DST))
    return _GENS[:count]


G_Q = G1Point.hash_to_curve(b"G_q", DST)  # the value base of T0, T1
H = G1Point.hash_to_curve(b"H", DST)  # the blinding base


def bit_basis(R_: int) -> list[int]:
    """g = (1, 2, ..., 2^(ell-2), R - 2^(ell-1) + 1) for ell = |R|: subset sums are [0, R]."""
    if R_ < 1:
        raise ValueError("the range [0, R] needs R >= 1")
    ell = R_.bit_length()
    return [1 << i for i in range(ell - 1)] + [R_ - (1 << (ell - 1)) + 1]


def digit_bits(d: np.ndarray, R_: int) -> np.ndarray:
    """Bits (m x ell, uint8) of digits d in [0, R] in the basis bit_basis(R): d = bits @ g."""
    d = np.asarray(d, dtype=np.int64)
    if d.size and (d.min() < 0 or d.max() > R_):
        raise ValueError("a digit lies outside [0, R]")
    g = bit_basis(R_)
    ell = len(g)
    top = (d >= (1 << (ell - 1))).astype(np.int64) if ell > 1 else (d >= 1).astype(np.int64)
    low = d - top * g[-1]
    out = np.empty((d.size, ell), dtype=np.uint8)
    for i in range(ell - 1):
        out[:, i] = (low >> i) & 1
    out[:, ell - 1] = top
    return out


@dataclass(frozen=True)
class SlotBoundProof:
    """(V_j, A_j, tau_j per ciphertext; T0, T1, tau_T, a, z2; z per bit; with an L2 bound
    its fields ``norm``, after z in the bytes), see the module."""

    V: tuple[G1Point, ...]
    A: tuple[G1Point, ...]
    tau: tuple[int, ...]
    T0: G1Point
    T1: G1Point
    tau_T: int
    a: int
    z2: int
    z: Sequence[int]  # PackedInts from the prover and from_bytes; any ints are accepted
    norm: NormBound | None = None

    MAGIC = b"DCSB"

    def to_bytes(self) -> bytes:
        w = Writer(self.MAGIC)
        w.u32(len(self.V))
        for p in (*self.V, *self.A, self.T0, self.T1):
            w.parts.append(point_bytes(p))
        for t in (*self.tau, self.tau_T):
            w.fixed(t, 32)
        w.var(self.a)
        w.var(self.z2)
        w.u64(len(self.z))
        w.parts.append(PackedInts.of(self.z, Z_BYTES).raw)
        if self.norm is not None:
            self.norm.write(w, Z_BYTES)
        return w.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> SlotBoundProof:
        r = Reader(data, cls.MAGIC)
        k = r.u32()
        if k < 1 or k > 1 << MAX_LOG_K or k * 2 * POINT_BYTES > len(data):
            raise CryptoFormatError("SlotBoundProof: bad ciphertext count")
        pts = [point_from_bytes(r.take(POINT_BYTES), "SlotBoundProof") for _ in range(2 * k + 2)]
        taus = [r.fixed(32) for _ in range(k + 1)]
        if any(t >= R for t in taus):
            raise CryptoFormatError("SlotBoundProof: tau not reduced mod r")
        a, z2 = r.var(), r.var()
        cnt = r.u64()
        if cnt * Z_BYTES > len(data):
            raise CryptoFormatError("truncated data")
        z = PackedInts(r.take(cnt * Z_BYTES), Z_BYTES)
        norm = NormBound.read(r, Z_BYTES) if r.pos < len(data) else None
        r.end()
        return cls(
            V=tuple(pts[:k]),
            A=tuple(pts[k : 2 * k]),
            tau=tuple(taus[:k]),
            T0=pts[2 * k],
            T1=pts[2 * k + 1],
            tau_T=taus[k],
            a=a,
            z2=z2,
            z=z,
            norm=norm,
        )


def slot_bound_max_bytes(n_bits: int, b: int, k: int, length: int, c2: int | None = None) -> int:
    """Most bytes an honest SlotBoundProof takes (``to_bytes``) for k ciphertexts of an update
    of ``length`` coordinates under bound b: 2k + 2 points, k + 1 scalars, a < n^2, z2 below its
    range, and ell = |2b| responses of Z_BYTES per coordinate (these dominate); with the L2
    bound c2 its fields (4 points, 2 scalars, |c2^2| responses)."""
    ell = len(bit_basis(2 * b))
    top = max(2 * n_bits, _eta_bits() + 1)
    fixed = 5 + 4 + (2 * k + 2) * POINT_BYTES + (k + 1) * 32 + 2 * (4 + (top + 7) // 8) + 8
    norm = 0 if c2 is None else NormBound.max_bytes(c2, Z_BYTES)
    return fixed + length * ell * Z_BYTES + norm


# -- shared by prover and verifier ---------------------------------------------------------
def _eta_bits() -> int:
    """eta hides e sum_j rho_j alpha_j < 2^(ALPHA + K + RHO + log2 k)."""
    return ALPHA_BITS + K_BITS + RHO_BITS + MAX_LOG_K + KAPPA


def _counts(scheme: PackingScheme, length: int) -> list[int]:
    s = scheme.slots_per_ciphertext
    return [min(s, length - lo) for lo in range(0, length, s)]


def _statement(
    pk: ThresholdPublicKey,
    scheme: PackingScheme,
    b: int,
    length: int,
    cs: list[int],
    V: tuple[G1Point, ...],
    ctx: ProofContext,
    c2: int | None = None,
    Vs: G1Point | None = None,
) -> Transcript:
    tr = Transcript(SB_TAG, ctx).int("n", pk.n).int("h_s", pk.h_s)
    tr.int("Q", scheme.Q).int("w", scheme.slot_bits).int("s", scheme.slots_per_ciphertext)
    tr.int("b", b).int("m", length).ints("c", cs)
    tr.bytes("V", b"".join(point_bytes(p) for p in V))
    if c2 is not None and Vs is not None:  # the L2 statement and the slack's commitment
        tr.int("c2", c2).bytes("V'", point_bytes(Vs))
    return tr


def _rho_y(tr: Transcript, k: int) -> tuple[list[int], int]:
    rho = tr.challenges(k, RHO_BITS, "rho")
    y = tr.challenge(256, "y") % R
    return rho, y


def _e(
    tr: Transcript,
    A: tuple[G1Point, ...],
    T0: G1Point,
    T1: G1Point,
    a: int,
    norm: tuple[G1Point, ...] = (),
) -> int:
    t = tr.copy().bytes("A", b"".join(point_bytes(p) for p in A))
    t = t.bytes("T", point_bytes(T0) + point_bytes(T1)).int("a", a)
    if norm:  # A', U0, U1 of the L2 bound
        t = t.bytes("N", b"".join(point_bytes(p) for p in norm))
    return t.challenge(K_BITS, "e")


def _offsets(scheme: PackingScheme, b: int, counts: list[int]) -> list[int]:
    w, base = scheme.slot_bits, (1 << scheme.Q) - b
    return [base * ((1 << (w * cnt)) - 1) // ((1 << w) - 1) for cnt in counts]  # sum_k base 2^wk


def _linked(
    scheme: PackingScheme, g: list[int], counts: list[int], rho: list[int], X: np.ndarray
) -> int:
    """sum_j rho_j sum_k 2^(w k) sum_i g_i v_jki for the limbs X of v, flat in (j, k, i) order."""
    s, w = scheme.slots_per_ciphertext, scheme.slot_bits
    return linked_sum(X, g, counts, s, w, rho)


def _check_statement(
    pk: ThresholdPublicKey, scheme: PackingScheme, b: int, length: int, c2: int | None = None
) -> None:
    if scheme.n_bits != pk.n.bit_length():
        raise ValueError("packing scheme was made for a different key size")
    if not (isinstance(b, int) and 1 <= b <= scheme.q_max):
        raise ValueError(f"the bound b must be an integer in [1, 2^Q - 1 = {scheme.q_max}]")
    if not isinstance(length, int) or length < 1 or scheme.n_ciphertexts(length) > 1 << MAX_LOG_K:
        raise ValueError("an update has between 1 and 2^40 ciphertexts")
    if c2 is not None:
        check_norm_statement(c2, b, length)


# -- prover -----------------------------------------------------------------------------------
def prove_slot_bound(
    pk: ThresholdPublicKey,
    scheme: PackingScheme,
    b: int,
    q: np.ndarray,
    cs: list[int],
    alphas: list[int],
    rng: RNG | None = None,
    *,
    ctx: ProofContext,
    c2: int | None = None,
) -> SlotBoundProof:
    """Prove that cs (the packing of q, encrypted with randomness alphas) has every slot equal
    to 2^Q + q_i with |q_i| <= b and, with the L2 bound c2, sum q^2 <= c2^2; refuses a q
    outside the bounds (clip first: ``PackingScheme.quantize``)."""
    q = np.asarray(q, dtype=np.int64)
    _check_statement(pk, scheme, b, int(q.size), c2)
    if q.ndim != 1 or (q.size and int(np.max(np.abs(q))) > b):
        raise ValueError("prove_slot_bound: the update is not within the bound (clip it)")
    s_bits = None
    if c2 is not None:
        s = slack(q.tolist(), c2)
        if s < 0:
            raise ValueError("prove_slot_bound: the update is over the L2 bound (clip it)")
        s_bits = slack_bits(s, bit_basis(c2 * c2))
    bits = digit_bits(q + b, 2 * b).reshape(-1).tolist()
    return prove_bits(
        pk, scheme, b, int(q.size), cs, bits, alphas, rng, ctx=ctx, c2=c2, s_bits=s_bits
    )


def prove_bits(
    pk: ThresholdPublicKey,
    scheme: PackingScheme,
    b: int,
    length: int,
    cs: list[int],
    bits: list[int],
    alphas: list[int],
    rng: RNG | None = None,
    *,
    ctx: ProofContext,
    c2: int | None = None,
    s_bits: list[int] | None = None,
) -> SlotBoundProof:
    """The prover's algorithm on given bit values (flat, (ciphertext, slot, bit) order) and,
    with the L2 bound c2, given bits of the slack s (basis bit_basis(c2^2)).

    ``prove_slot_bound`` derives them from a clipped update; this step checks nothing about
    them, exactly as a party running the prover with values of its choice would (the attack
    tests do that), so soundness rests on the verifier alone. Bits other than 0 and 1 can
    leave no response in range; after MAX_ATTEMPTS the last (rejected) answer is returned."""
    _check_statement(pk, scheme, b, length, c2)
    counts = _counts(scheme, length)
    g = bit_basis(2 * b)
    ell = len(g)
    if len(cs) != len(counts) or len(alphas) != len(counts) or len(bits) != length * ell:
        raise ValueError("prove_bits: one ciphertext and alpha per packed plaintext, ell bits")
    gs = bit_basis(c2 * c2) if c2 is not None else []
    sb = list(s_bits or [])
    if len(sb) != len(gs):
        raise ValueError("prove_bits: with an L2 bound, |c2^2| bits of the slack (else none)")
    r = rng_or_system(rng)
    gens = generators(max(scheme.slots_per_ciphertext * ell, len(gs)))
    rs = [r.getrandbits(256) % R for _ in counts]
    V, pos, beta = [], 0, binary(bits + sb)
    for cnt, rj in zip(counts, rs, strict=True):
        nb = cnt * ell
        if beta is not None:  # 0/1 bits: the sum of the chosen generators (cheaper than an MSM)
            V.append(sum(compress(gens[:nb], bits[pos : pos + nb]), H * scalar(rj)))
        else:
            sc = [scalar(v) for v in bits[pos : pos + nb]]
            V.append(G1Point.multiexp_unchecked([*gens[:nb], H], [*sc, scalar(rj)]))
        pos += nb
    V_t = tuple(V)
    r_s = r.getrandbits(256) % R
    Vs = None
    if c2 is not None:
        Vs = G1Point.multiexp_unchecked([*gens[: len(gs)], H], [*map(scalar, sb), scalar(r_s)])
    q_c = coordinate_responses(bits, g, b, 1) if c2 is not None else []  # the coordinates
    tr = _statement(pk, scheme, b, length, cs, V_t, ctx, c2, Vs)
    rho, y = _rho_y(tr, len(counts))
    n, n2 = mpz(pk.n), mpz(pk.n) * pk.n
    tab = comb_table(pk.n, pk.h_s)
    for _attempt in range(MAX_ATTEMPTS):
        xs = [r.getrandbits(ZB) for _ in bits]
        xss = [r.getrandbits(ZB) for _ in sb]
        sigmas = [r.getrandbits(256) % R for _ in counts]
        A, pos = [], 0
        for cnt, sj in zip(counts, sigmas, strict=True):
            nb = cnt * ell
            sc = [Scalar.from_le_bytes(x.to_bytes(32, "little")) for x in xs[pos : pos + nb]]
            A.append(G1Point.multiexp_unchecked([*gens[:nb], H], [*sc, scalar(sj)]))
            pos += nb
        A_t = tuple(A)
        XL = limbs_of_ints(xs + xss, N_LIMBS)
        t0, t1 = mask_sums(y, XL, beta, xs + xss, bits + sb)
        tau0, tau1 = r.getrandbits(256) % R, r.getrandbits(256) % R
        T0 = G1Point.multiexp_unchecked([G_Q, H], [scalar(t0), scalar(tau0)])
        T1 = G1Point.multiexp_unchecked([G_Q, H], [scalar(t1), scalar(tau1)])
        X = _linked(scheme, g, counts, rho, XL[:, : len(bits)])
        eta = r.getrandbits(_eta_bits())
        a = int((1 + (X % n) * n) * tab.pow(eta) % n2)
        norm_pts: tuple[G1Point, ...] = ()
        if c2 is not None:  # A', U0, U1 and their blinds
            norm_pts, norm_sec = norm_masks(G_Q, H, gens, g, xs, q_c, gs, xss, r)
        e = _e(tr, A_t, T0, T1, a, norm_pts)
        z, zs, ok = responses(XL, beta, e, xs + xss, bits + sb, len(bits))
        if ok:
            break
    tau = tuple((sj + e * rj) % R for sj, rj in zip(sigmas, rs, strict=True))
    z2 = eta + e * sum(rj * al for rj, al in zip(rho, alphas, strict=True))
    norm = None if Vs is None else norm_proof(Vs, r_s, norm_pts, norm_sec, e, zs)
    return SlotBoundProof(V=V_t, A=A_t, tau=tau, T0=T0, T1=T1, tau_T=(tau0 + e * tau1) % R,
                          a=a, z2=z2, z=z, norm=norm)  # fmt: skip


# -- verifier ---------------------------------------------------------------------------------
def _is_unit(x: int, n: int, n2: int) -> bool:
    return isinstance(x, int) and 1 <= x < n2 and gmpy2.gcd(x, n) == 1


def verify_slot_bound(
    pk: ThresholdPublicKey,
    scheme: PackingScheme,
    b: int,
    length: int,
    cs: list[int],
    proof: SlotBoundProof,
    rng: RNG | None = None,
    *,
    ctx: ProofContext,
    c2: int | None = None,
) -> bool:
    """True iff ``proof`` shows every slot of cs encrypts 2^Q + q with |q| <= b and, with the
    L2 bound c2, sum q^2 <= c2^2 (module docstrings: the equations, their soundness, slack
    1x), for the context ``ctx`` the verifier rebuilt itself. ``rng`` draws the batching
    weights gamma_j (system randomness by default)."""
    return slot_bound_failure(pk, scheme, b, length, cs, proof, rng, ctx=ctx, c2=c2) is None


def slot_bound_failure(
    pk: ThresholdPublicKey,
    scheme: PackingScheme,
    b: int,
    length: int,
    cs: list[int],
    proof: SlotBoundProof,
    rng: RNG | None = None,
    *,
    ctx: ProofContext,
    c2: int | None = None,
) -> str | None:
    """None if the proof verifies, else the first check that fails: "statement" (bound,
    key or sizes; an L2 part missing for c2 or present without it), "range" (a response or
    scalar out of range), "bits" (the quadratic check: some bit is not 0 or 1), "openings"
    (the commitments do not open to the responses), "norm" (sum q^2 > c2^2) or "link" (the
    ciphertexts do not encrypt these digits). The verifier is this function's None."""
    try:
        _check_statement(pk, scheme, b, length, c2)
    except ValueError:
        return "statement"
    if not isinstance(proof, SlotBoundProof) or not isinstance(ctx, ProofContext):
        return "statement"
    counts = _counts(scheme, length)
    k = len(counts)
    g = bit_basis(2 * b)
    ell = len(g)
    gs = bit_basis(c2 * c2) if c2 is not None else []
    nm = proof.norm
    n, n2 = pk.n, pk.n * pk.n
    if len(cs) != k or len(proof.V) != k or len(proof.A) != k or len(proof.tau) != k:
        return "statement"
    if len(proof.z) != length * ell or not all(_is_unit(c, n, n2) for c in cs):
        return "statement"
    if (nm is None) != (c2 is None) or (nm is not None and len(nm.zs) != len(gs)):
        return "statement"
    if not _is_unit(proof.a, n, n2) or not 0 <= proof.z2 < 1 << (_eta_bits() + 1):
        return "range"
    zs = nm.zs if nm is not None else ()
    ZL = response_limbs(proof.z, zs)
    if ZL is None:
        return "range"
    taus = (*proof.tau, proof.tau_T, *((nm.tau_s, nm.tau_U) if nm is not None else ()))
    if not all(isinstance(t, int) and 0 <= t < R for t in taus):
        return "range"
    tr = _statement(pk, scheme, b, length, list(cs), proof.V, ctx, c2, nm and nm.Vs)
    rho, y = _rho_y(tr, k)
    e = _e(tr, proof.A, proof.T0, proof.T1, proof.a, (nm.As, nm.U0, nm.U1) if nm else ())
    z, nd = proof.z, length * ell
    # the quadratic check: every bit (the digits' and the slack's) is 0 or 1
    s2, s1 = power_sums(y, nd, R, [lambda c: square(ZL[:, c]), lambda c: ZL[:, c]])
    acc, yi = s2 - e * s1, pow(y, nd, R)  # sum y^idx z (z - e), the slack's bits after nd
    for zi in zs:
        acc, yi = acc + yi * zi * (zi - e), yi * y % R
    lhs = G1Point.multiexp_unchecked([G_Q, H], [scalar(acc), scalar(proof.tau_T)])
    if lhs != proof.T0 + proof.T1 * scalar(e):
        return "bits"
    # the commitments open to z: one multi-scalar multiplication with random weights gamma_j
    r = rng_or_system(rng)
    gam = [r.getrandbits(GAMMA_BITS) | 1 for _ in range(k)]
    nb_max = max(scheme.slots_per_ciphertext * ell, len(gs))
    per = scheme.slots_per_ciphertext * ell  # coef_l = sum_j gamma_j z_jl
    full = ZL[:, : (k - 1) * per].reshape(ZL.shape[0], k - 1, per)  # all but the last one
    coef = weighted_sum(gam[:-1], full) + [0] * (nb_max - per)
    for li, zi in enumerate(proof.z[(k - 1) * per : nd]):
        coef[li] += gam[-1] * zi
    h_coef = sum(gj * t for gj, t in zip(gam, proof.tau, strict=True))
    pts = [*generators(nb_max), H, *proof.A, *proof.V]
    neg = [-gj for gj in gam] + [-gj * e for gj in gam]
    if nm is not None:  # V', A' with one more weight
        g_s = r.getrandbits(GAMMA_BITS) | 1
        for li, zi in enumerate(zs):
            coef[li] += g_s * zi
        h_coef += g_s * nm.tau_s
        pts += [nm.As, nm.Vs]
        neg += [-g_s, -g_s * e]
    scs = [scalar(c) for c in coef] + [scalar(h_coef)] + [scalar(c) for c in neg]
    if G1Point.multiexp_unchecked(pts, scs) != G1Point.identity():
        return "openings"
    # the L2 bound: sum q^2 + s = c2^2 (norm_bound)
    if nm is not None and c2 is not None and not norm_verifies(G_Q, H, z, g, b, e, gs, c2, nm):
        return "norm"
    # the Paillier link: the ciphertexts encrypt exactly these digits
    Z = _linked(scheme, g, counts, rho, ZL[:, :nd])
    O = sum(rj * off for rj, off in zip(rho, _offsets(scheme, b, counts), strict=True))
    m_n2 = mpz(n2)
    C = multi_exp(list(cs), rho, n2)
    lhs2 = (1 + ((Z + e * O) % n) * n) * gmpy2.powmod(pk.h_s, proof.z2, m_n2) % m_n2
    return None if lhs2 == mpz(proof.a) * gmpy2.powmod(C, e, m_n2) % m_n2 else "link"
