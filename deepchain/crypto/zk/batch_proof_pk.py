"""Batched Proof_PK: one proof for all k <= 2^L ciphertexts of an update (the default).

Statement: |M*_j| < 2^(B + K + KAPPA + L + log2 r + 1) for every j. r = 128 binary subset
aggregates C_i = prod_j c_j^rho_ij (rho from the hash of the context and all c_j) carry
ring-Pedersen commitments S_i, and one sigma protocol with a K-bit vector challenge opens them
all; no per-ciphertext exponentiation. Soundness and slack are argued in prove_update's
docstring (a random K-bit linear combination of the c_j alone would not be sound: m_j = 1/2
mod n passes whenever the weights make the coefficient even). The ring-Pedersen commitments
are why the bound is sound at all (see zk.proof_pk).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

from gmpy2 import mpz

from deepchain.crypto.encoding import batch_proof_range_bits, proven_bound_bits
from deepchain.crypto.paillier import ThresholdPublicKey, comb_table
from deepchain.crypto.randomness import RNG, rng_or_system
from deepchain.crypto.security_params import ALPHA_BITS, K_BITS, KAPPA
from deepchain.crypto.serialize import CryptoFormatError
from deepchain.crypto.zk.multiexp import multi_exp
from deepchain.crypto.zk.sigma import SigmaProof, bases_for, is_unit, prover_bases
from deepchain.crypto.zk.transcript import ProofContext, Transcript

__all__ = [
    "BATCH_R",
    "BP_TAG",
    "LOG_R",
    "BatchProofPK",
    "batch_params",
    "batch_rho",
    "batch_transcript",
    "batch_proof_max_bytes",
    "batch_w",
    "gamma_batch_bits",
    "prove_update",
    "row_combine",
    "verify_update_proof",
    "y_bits",
]

BP_TAG = "deepchain/batch-proof-pk/v2"
BATCH_R = K_BITS  # binary repetitions r: soundness 2^-r against a bad ciphertext
LOG_R = (BATCH_R - 1).bit_length()  # ceil(log2 r) = 7


def batch_params(pk: ThresholdPublicKey, scheme: Any) -> tuple[int, int, int]:
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


def y_bits(L: int) -> int:
    """y hides sum_i w_i alpha_hat_i < 2^(ALPHA + L + K + log r)."""
    return ALPHA_BITS + L + K_BITS + LOG_R + KAPPA


def gamma_batch_bits() -> int:
    """gamma hides sum_i w_i mu_i < 2^(MU + K + log r)."""
    return ALPHA_BITS + K_BITS + LOG_R + KAPPA


def batch_proof_max_bytes(n_bits: int, B: int, L: int) -> int:
    """Most bytes an honest BatchProofPK takes in the byte format (``write``) for an n_bits key
    and plaintext bound B, L: S_1..S_r and D below N^ (n bits), a below n^2, z1, z2, z3 below
    2^T, 2^(y_bits + 1), 2^(gamma_batch_bits + 1); each integer with 4 length bytes."""
    T = batch_proof_range_bits(B, L, K_BITS, KAPPA)
    bits = [n_bits] * (BATCH_R + 1) + [2 * n_bits, T, y_bits(L) + 1, gamma_batch_bits() + 1]
    return 4 + sum(4 + (x + 7) // 8 for x in bits)


@dataclass(frozen=True)
class BatchProofPK(SigmaProof):
    """Batched Proof_PK for a whole update: S = (S_1..S_r), a, D, z1, z2, z3 (see prove_update).

    The challenges (binary weights rho and K-bit weights w) are recomputed by the verifier
    from the hash of the statement and (S, a, D), so they are not stored.
    """

    MAGIC = b"DCBP"
    TYPE = "batch_proof_pk"
    SCALARS = ("a", "D", "z1", "z2", "z3")
    VECTOR = "S"

    S: tuple[int, ...]
    a: int
    D: int
    z1: int
    z2: int
    z3: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "S", tuple(int(x) for x in self.S))

    @classmethod
    def check_count(cls, count: int) -> None:
        if count != BATCH_R:
            raise CryptoFormatError(f"BatchProofPK: expected {BATCH_R} commitments S")

    def check_sizes(self) -> None:
        self.check_count(len(self.S))
        for k in self.SCALARS:
            if getattr(self, k).bit_length() > 1 << 16:
                raise CryptoFormatError(f"BatchProofPK: {k} too long")
        if any(x.bit_length() > 1 << 16 for x in self.S):
            raise CryptoFormatError("BatchProofPK: S too long")


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


def row_combine(items: list[Any], rhos: list[int], mul: Any, one: Any) -> list[Any]:
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
    B, L, T = batch_params(pk, scheme)
    k = len(cs)
    if not 1 <= k <= (1 << L) or len(ms) != k or len(alphas) != k:
        raise ValueError(f"prove_update needs 1 <= k <= 2^{L} and one (M, alpha) per c")
    for m, al in zip(ms, alphas, strict=True):
        if not 0 <= m < (1 << B):
            raise ValueError("prove_update: plaintext out of the stated bound")
        if not 0 <= al < (1 << ALPHA_BITS):
            raise ValueError("prove_update: alpha must be a 448-bit short exponent")
    rp = prover_bases(pk, ctx)
    r = rng_or_system(rng)
    n, n2, Nh = mpz(pk.n), mpz(pk.n) * pk.n, mpz(rp.N_hat)
    seed = batch_transcript(pk, ctx, B, L, cs)
    rhos = batch_rho(seed, k)
    M_hat = row_combine([int(m) for m in ms], rhos, operator.add, 0)
    A_hat = row_combine([int(al) for al in alphas], rhos, operator.add, 0)
    ts, tt = rp.s, rp.t
    mus = [r.getrandbits(ALPHA_BITS) for _ in range(BATCH_R)]
    S = tuple(int(ts.pow(mh) * tt.pow(mu) % Nh) for mh, mu in zip(M_hat, mus, strict=True))
    tab = comb_table(pk.n, pk.h_s)
    bound = 1 << T
    while True:
        x = r.getrandbits(T)
        y = r.getrandbits(y_bits(L))
        gamma = r.getrandbits(gamma_batch_bits())
        a = int((1 + x * n) * tab.pow(y) % n2)
        D = int(ts.pow(x) * tt.pow(gamma) % Nh)
        w = batch_w(seed, S, a, D)
        z1 = x + sum(wi * mh for wi, mh in zip(w, M_hat, strict=True))
        if z1 < bound:
            z2 = y + sum(wi * ah for wi, ah in zip(w, A_hat, strict=True))
            z3 = gamma + sum(wi * mu for wi, mu in zip(w, mus, strict=True))
            return BatchProofPK(S=S, a=a, D=D, z1=z1, z2=z2, z3=z3)


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
        B, L, T = batch_params(pk, scheme)
    except ValueError:
        return False
    if not isinstance(proof, BatchProofPK):
        return False
    rp = bases_for(pk, ctx)
    if rp is None:
        return False
    k = len(cs)
    n, n2, Nh = pk.n, pk.n2, rp.N_hat
    if not 1 <= k <= (1 << L) or len(proof.S) != BATCH_R:
        return False
    if not all(is_unit(c, n, n2) for c in cs):
        return False
    if not (is_unit(proof.a, n, n2) and is_unit(proof.D, Nh, Nh)):
        return False
    if not all(is_unit(x, Nh, Nh) for x in proof.S):
        return False
    z1, z2, z3 = proof.z1, proof.z2, proof.z3
    if not (0 <= z1 < (1 << T) and 0 <= z2 < (1 << (y_bits(L) + 1))):
        return False
    if not 0 <= z3 < (1 << (gamma_batch_bits() + 1)):
        return False
    seed = batch_transcript(pk, ctx, B, L, cs)
    w = batch_w(seed, proof.S, proof.a, proof.D)
    m_N = mpz(Nh)
    rhs = mpz(proof.D) * multi_exp(list(proof.S), w, Nh) % m_N
    if rp.s.pow(z1) * rp.t.pow(z3) % m_N != rhs:
        return False
    m_n2 = mpz(n2)
    rhos = batch_rho(seed, k)
    Cs = row_combine([mpz(c) for c in cs], rhos, lambda u, v: u * v % m_n2, mpz(1))
    lhs = (1 + mpz(z1) * n) * comb_table(n, pk.h_s).pow(z2) % m_n2
    return lhs == mpz(proof.a) * multi_exp(Cs, w, n2) % m_n2
