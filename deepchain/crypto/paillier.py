"""Threshold Paillier (Damgard-Jurik s = 1, trusted dealer) with DJN short-exponent randomness.

PK_model = (n, h_s, v, {v_i}, N, t) -- the paper's (n, g, theta, V) with g = n + 1 and
theta = 1 (the secret exponent d satisfies d = 0 mod m, d = 1 mod n). See
docs/PROTOCOL.md, sections 1-3 (keys, encryption and homomorphism, threshold decryption).
Big-integer arithmetic uses gmpy2, except batches of exponentiations sharing one
exponent (a party's partial decryptions), which go through ``modexp.powmod_same_exp``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gmpy2
from gmpy2 import mpz

from deepchain.canonical import canonical_json, int_to_hex, sha256_hex
from deepchain.crypto.comb import CombTable
from deepchain.crypto.modexp import powmod_same_exp
from deepchain.crypto.randomness import RNG, randbelow, rng_or_system
from deepchain.crypto.security_params import ALPHA_BITS, K_BITS, KAPPA
from deepchain.crypto.serialize import (
    CryptoFormatError,
    check_header,
    check_unit,
    get_hex,
    get_hex_list,
    get_int,
    get_secret_hex,
    hexs,
)
from deepchain.crypto.zk.ring_pedersen import (
    RingPedersenError,
    RingPedersenParams,
    generate_ring_pedersen,
)
from deepchain.crypto.zk.transcript import ProofContext

MIN_N_BITS = 128  # tests go down to small keys; production uses 2048
MAX_PARTIES = 1024


class KeyGenerationError(ValueError):
    """Key generation produced (or was asked for) parameters that fail a security check."""


def _random_unit(rng: RNG, n: int) -> mpz:
    """Uniform element of Z*_n."""
    while True:
        x = mpz(randbelow(rng, n))
        if x > 1 and gmpy2.gcd(x, n) == 1:
            return x


# -- safe primes ---------------------------------------------------------------------------
_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % d for d in range(2, int(p**0.5) + 1))]


def safe_prime(bits: int, rng: RNG | None = None) -> mpz:
    """A safe prime p = 2p' + 1 of exactly ``bits`` bits (top two bits set).

    Candidates for p' are sieved so that neither p' nor 2p'+1 has a factor below 2000, then
    both pass Miller-Rabin (gmpy2.is_prime, 25 rounds).
    """
    r = rng_or_system(rng)
    if bits < 16:
        raise KeyGenerationError("safe primes need at least 16 bits")
    while True:
        # p' has bits-1 bits with top two bits set -> p = 2p'+1 has top two bits set.
        start = mpz(r.getrandbits(bits - 1)) | (mpz(3) << (bits - 3)) | 1
        residues = [int(start % q) for q in _SMALL_PRIMES]
        for off in range(0, 2 * 4096, 2):  # scan odd p' in a window
            ok = True
            for q, res in zip(_SMALL_PRIMES, residues, strict=True):
                x = (res + off) % q
                if x == 0 or (2 * x + 1) % q == 0:
                    ok = False
                    break
            if not ok:
                continue
            pp = start + off
            if pp.bit_length() != bits - 1:
                break
            p = 2 * pp + 1
            # cheap Fermat test on p first, then full tests on both
            if gmpy2.powmod(2, p - 1, p) != 1:
                continue
            if gmpy2.is_prime(pp, 25) and gmpy2.is_prime(p, 25):
                return p


# -- comb table for h_s (fixed-base exponentiation, ``deepchain.crypto.comb``) ------------
_COMB_CACHE: dict[tuple[int, int], CombTable] = {}


def comb_table(n: int, h_s: int) -> CombTable:
    """The cached comb table on h_s, wide enough for alpha, Proof_PK's z2 (617 bits) and the
    batched Proof_PK's y and z2 (<= 448 + L + K + 7 + KAPPA + 1 bits for L <= 40)."""
    key = (int(n), int(h_s))
    tab = _COMB_CACHE.get(key)
    if tab is None:
        if len(_COMB_CACHE) >= 4:  # bounded cache: ~11 MB per 2048-bit key
            _COMB_CACHE.pop(next(iter(_COMB_CACHE)))
        tab = CombTable(h_s, mpz(n) * n, ALPHA_BITS + K_BITS + KAPPA + 48)
        _COMB_CACHE[key] = tab
    return tab


# -- keys ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ThresholdPublicKey:
    """PK_model = (n, h_s, v, {v_i}, N, t) plus the ring-Pedersen parameters (N^, s, t) with
    their proof Pi^prm that Proof_PK's integer commitments use; g = n + 1, theta = 1 implicit.
    A key without ring-Pedersen parameters cannot carry a Proof_PK (provers refuse, verifiers
    reject)."""

    n: int
    h_s: int
    v: int
    v_i: tuple[int, ...]
    N: int
    t: int
    ring_pedersen: RingPedersenParams | None = None

    @property
    def n2(self) -> int:
        return self.n * self.n

    @property
    def delta(self) -> int:
        """Delta = N!."""
        return math.factorial(self.N)

    @property
    def n_bits(self) -> int:
        return self.n.bit_length()

    def encrypt(self, m: int, alpha: int | None = None, rng: RNG | None = None) -> int:
        """Enc(M; alpha) = (1 + M n) h_s^alpha mod n^2, alpha a 448-bit short exponent (DJN)."""
        return djn_encrypt(self.n, self.h_s, m, alpha, rng)

    def to_json(self) -> dict[str, Any]:
        d = self._paillier_json()
        if self.ring_pedersen is not None:
            d["ring_pedersen"] = self.ring_pedersen.to_json()
        return d

    def _paillier_json(self) -> dict[str, Any]:
        return {
            "type": "threshold_paillier_pk",
            "version": 1,
            "n": int_to_hex(self.n),
            "h_s": int_to_hex(self.h_s),
            "v": int_to_hex(self.v),
            "v_i": hexs(self.v_i),
            "N": self.N,
            "t": self.t,
        }

    @classmethod
    def from_json(cls, d: Any) -> ThresholdPublicKey:
        ctx = "ThresholdPublicKey"
        check_header(d, "threshold_paillier_pk")
        n = get_hex(d, "n", ctx)
        if n.bit_length() < MIN_N_BITS or n % 2 == 0 or gmpy2.is_square(n):
            raise CryptoFormatError(f"{ctx}: n is not a plausible RSA modulus")
        N = get_int(d, "N", ctx, 1, MAX_PARTIES)
        t = get_int(d, "t", ctx, 1, N)
        h_s = check_unit(get_hex(d, "h_s", ctx), n, f"{ctx}.h_s")
        v = check_unit(get_hex(d, "v", ctx), n, f"{ctx}.v")
        v_i = get_hex_list(d, "v_i", ctx)
        if len(v_i) != N:
            raise CryptoFormatError(f"{ctx}: expected {N} verification keys, got {len(v_i)}")
        for k, x in enumerate(v_i):
            check_unit(x, n, f"{ctx}.v_i[{k}]")
        if set(d) - {"type", "version", "n", "h_s", "v", "v_i", "N", "t", "ring_pedersen"}:
            raise CryptoFormatError(f"{ctx}: unknown fields")
        rp = None
        if "ring_pedersen" in d:
            try:
                rp = RingPedersenParams.from_json(d["ring_pedersen"])
            except RingPedersenError as exc:
                raise CryptoFormatError(f"{ctx}: {exc}") from exc
        return cls(n=n, h_s=h_s, v=v, v_i=tuple(v_i), N=N, t=t, ring_pedersen=rp)

    def fingerprint(self) -> str:
        """SHA-256 hex of the canonical JSON form (PK_model's name on chain)."""
        return sha256_hex(canonical_json(self.to_json()))

    def paillier_fingerprint(self) -> str:
        """SHA-256 hex of the Paillier part alone (what Pi^prm is bound to: it is inside the
        full fingerprint, so it cannot hash the fingerprint itself)."""
        return sha256_hex(canonical_json(self._paillier_json()))

    def __hash__(self) -> int:
        return hash((self.n, self.h_s, self.v))


@dataclass(frozen=True, repr=False)
class KeyShare:
    """Party i's secret share s_i = f(i) of d (Shamir over Z_{nm}). SECRET."""

    i: int
    s_i: int

    def __repr__(self) -> str:  # never print s_i
        return f"KeyShare(i={self.i}, s_i=<secret>)"

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "paillier_key_share",
            "version": 1,
            "i": self.i,
            "s_i": int_to_hex(self.s_i),
        }

    @classmethod
    def from_json(cls, d: Any, pk: ThresholdPublicKey | None = None) -> KeyShare:
        ctx = "KeyShare"
        check_header(d, "paillier_key_share")
        i = get_int(d, "i", ctx, 1, pk.N if pk is not None else MAX_PARTIES)
        s_i = get_secret_hex(d, "s_i", ctx)
        if pk is not None and s_i.bit_length() > share_bits_bound(pk):
            raise CryptoFormatError(f"{ctx}: s_i out of range")
        return cls(i=i, s_i=s_i)


def share_bits_bound(pk: ThresholdPublicKey) -> int:
    """Most bits a key share of pk's key can have.

    A dealer's s_i is reduced mod n m < n^2; a dealerless key's share (deepchain.crypto.dkg:
    integer Shamir of d = phi x < 2^(2|n| + 10) with KAPPA-bit masks and coefficients of
    |d_i| + KAPPA + |Delta| bits) is below 2^(2|n| + 2 KAPPA + |Delta| + t ceil(log2 N)
    + ceil(log2 t) + 16).
    """
    N, t = pk.N, pk.t
    dkg = 2 * pk.n_bits + 2 * KAPPA + pk.delta.bit_length() + t * (N - 1).bit_length()
    return max(pk.n2.bit_length(), dkg + (t - 1).bit_length() + 16)


def djn_encrypt(n: int, h_s: int, m: int, alpha: int | None = None, rng: RNG | None = None) -> int:
    """(1 + m n) h_s^alpha mod n^2 using the cached comb table on h_s."""
    if not 0 <= m < n:
        raise ValueError("plaintext must be in [0, n)")
    if alpha is None:
        alpha = rng_or_system(rng).getrandbits(ALPHA_BITS)
    return int(raw_times_1_plus_mn(comb_table(n, h_s).pow(alpha), m, n))


def raw_times_1_plus_mn(x: mpz, m: int, n: int) -> mpz:
    """(1 + m n) x mod n^2 = x + n ((m x) mod n) mod n^2 (cheaper than a 4096-bit product)."""
    n = mpz(n)
    r = x + n * gmpy2.f_mod(gmpy2.mul(m, x), n)
    n2 = n * n
    return r - n2 if r >= n2 else r


def djn_h_s(n: int, rng: RNG | None = None) -> int:
    """h_s = (x^2)^n mod n^2 for random x in Z*_n (DJN's public randomness base)."""
    x = _random_unit(rng_or_system(rng), n)
    n2 = mpz(n) * n
    return int(gmpy2.powmod(x * x, n, n2))


def generate_threshold_keypair(
    n_bits: int, N: int, t: int, rng: RNG | None = None
) -> tuple[ThresholdPublicKey, list[KeyShare]]:
    """Trusted-dealer key generation (Damgard-Jurik section 4, s = 1).

    Safe primes p = 2p'+1, q = 2q'+1; m = p'q'; d = 0 mod m, d = 1 mod n; Shamir shares
    s_i = f(i) mod nm with f(0) = d of degree t-1; v a random square, v_i = v^(Delta s_i).
    """
    pk, shares, _ = _generate_with_factors(n_bits, N, t, rng)
    return pk, shares


def _generate_with_factors(
    n_bits: int, N: int, t: int, rng: RNG | None = None
) -> tuple[ThresholdPublicKey, list[KeyShare], tuple[int, int]]:
    if not 1 <= t <= N <= MAX_PARTIES:
        raise ValueError(f"need 1 <= t <= N <= {MAX_PARTIES}")
    if n_bits < MIN_N_BITS or n_bits % 2:
        raise ValueError(f"n_bits must be even and >= {MIN_N_BITS}")
    r = rng_or_system(rng)
    half = n_bits // 2
    while True:
        p = safe_prime(half, r)
        q = safe_prime(half, r)
        if p != q:
            break
    n = p * q
    if n.bit_length() != n_bits:
        raise KeyGenerationError("modulus has the wrong size")
    pp, qq = (p - 1) // 2, (q - 1) // 2
    m = pp * qq
    nm = n * m
    if min(pp, qq) <= N or gmpy2.gcd(m, n) != 1:
        raise KeyGenerationError("Delta = N! and m must be invertible mod n")
    d = m * gmpy2.invert(m, n) % nm
    if d % m != 0 or d % n != 1:
        raise KeyGenerationError("secret exponent d is not 0 mod m and 1 mod n")
    coeffs = [d] + [mpz(randbelow(r, nm)) for _ in range(t - 1)]
    shares = []
    for i in range(1, N + 1):
        s = mpz(0)
        for a in reversed(coeffs):
            s = (s * i + a) % nm
        shares.append(KeyShare(i=i, s_i=int(s)))
    n2 = n * n
    v = int(gmpy2.powmod(_random_unit(r, n2), 2, n2))
    delta = math.factorial(N)
    v_i = tuple(int(gmpy2.powmod(v, delta * sh.s_i, n2)) for sh in shares)
    core = ThresholdPublicKey(n=int(n), h_s=djn_h_s(n, r), v=v, v_i=v_i, N=N, t=t)
    # ring-Pedersen parameters over N^ = n: the dealer knows phi and forgets it with p, q
    rp = generate_ring_pedersen(int(n), int(m), key_ceremony_context(core), r)
    pk = dataclasses.replace(core, ring_pedersen=rp)
    return pk, shares, (int(p), int(q))


def key_ceremony_context(pk: ThresholdPublicKey) -> ProofContext:
    """The context of the key holder's Pi^prm: bound to the Paillier part of PK_model (a fresh
    n per ceremony), phase "key_ceremony", round 0, index 0 (the key holder, not a party)."""
    return ProofContext(
        pk_fingerprint=pk.paillier_fingerprint(),
        group="",
        round=0,
        phase="key_ceremony",
        party_index=0,
        party_address="",
    )


def verify_key_share(pk: ThresholdPublicKey, share: KeyShare) -> bool:
    """v^(Delta s_i) == v_i: the share matches its public verification key."""
    if not 1 <= share.i <= pk.N or share.s_i < 0:
        return False
    return gmpy2.powmod(pk.v, pk.delta * share.s_i, pk.n2) == pk.v_i[share.i - 1]


# -- homomorphism --------------------------------------------------------------------------
def add(pk: ThresholdPublicKey, c1: int, c2: int) -> int:
    """Enc(a) * Enc(b) = Enc(a + b mod n)."""
    return int(mpz(c1) * c2 % pk.n2)


def scalar_mul(pk: ThresholdPublicKey, c: int, k: int) -> int:
    """Enc(a)^k = Enc(k a mod n); negative k via the inverse."""
    return int(gmpy2.powmod(c, k, pk.n2))


def negate(pk: ThresholdPublicKey, c: int) -> int:
    """Enc(a)^-1 = Enc(-a mod n)."""
    return int(gmpy2.invert(c, pk.n2))


# -- threshold decryption ------------------------------------------------------------------
def partial_decrypt(pk: ThresholdPublicKey, share: KeyShare, c: int) -> int:
    """c_i = c^(2 Delta s_i) mod n^2."""
    return int(gmpy2.powmod(c, 2 * pk.delta * share.s_i, pk.n2))


def share_exponent_bits(pk: ThresholdPublicKey) -> int:
    """Public length of 2 Delta s_i's schedule: |2 Delta| + share_bits_bound(pk) bits cover a
    dealer's and a dealerless key's shares, so the time of a batch of partial decryptions does
    not depend on the secret share."""
    return (2 * pk.delta).bit_length() + share_bits_bound(pk)


def partial_decrypt_all(pk: ThresholdPublicKey, share: KeyShare, cs: Sequence[int]) -> list[int]:
    """[c^(2 Delta s_i) mod n^2 for c in cs]: one exponent for all, so the multi-buffer kernel
    (``modexp.powmod_same_exp``) computes 8 at a time where the CPU has AVX-512 IFMA."""
    e = 2 * pk.delta * share.s_i
    return powmod_same_exp(cs, e, pk.n2, max(e.bit_length(), share_exponent_bits(pk)))


def lagrange_lambda(delta: int, S: list[int], i: int) -> int:
    """lambda_{0,i}^S = Delta * prod_{j in S, j != i} (-j) / (i - j) -- an integer."""
    num, den = delta, 1
    for j in S:
        if j != i:
            num *= -j
            den *= i - j
    if num % den:
        raise ValueError("Lagrange coefficient is not an integer (indices must be distinct)")
    return num // den


def combine(pk: ThresholdPublicKey, shares: dict[int, int]) -> int:
    """Combine >= t partial decryptions {i: c_i} into M in [0, n).

    c' = prod c_i^(2 lambda_i) = (1+n)^(4 Delta^2 M); M = L(c') (4 Delta^2)^-1 mod n.
    Uses the t smallest indices. Raises ValueError on fewer than t shares or bad indices.
    """
    if len(shares) < pk.t:
        raise ValueError(f"need at least t={pk.t} decryption shares, got {len(shares)}")
    for i in shares:
        if not 1 <= i <= pk.N:
            raise ValueError(f"share index {i} out of range 1..{pk.N}")
    S = sorted(shares)[: pk.t]
    return raw_combine(pk, S, shares, combine_constants(pk, S))


def combine_constants(pk: ThresholdPublicKey, S: list[int]) -> tuple[list[int], mpz]:
    """(2 lambda_i for i in S, (4 Delta^2)^-1 mod n): the constants ``raw_combine`` needs for a
    fixed set S of t share indices, computed once for a whole vector of ciphertexts."""
    delta = pk.delta
    lambdas = [2 * lagrange_lambda(delta, S, i) for i in S]
    inv = gmpy2.invert(4 * delta * delta, pk.n)
    return lambdas, inv


def raw_combine(
    pk: ThresholdPublicKey, S: list[int], shares: dict[int, int], consts: tuple[list[int], mpz]
) -> int:
    """``combine`` for the share set S with ``combine_constants(pk, S)`` precomputed; no checks
    of the indices (the caller's)."""
    lambdas, inv = consts
    n, n2 = mpz(pk.n), mpz(pk.n2)
    acc = mpz(1)
    for i, lam in zip(S, lambdas, strict=True):
        acc = acc * gmpy2.powmod(shares[i], lam, n2) % n2
    if (acc - 1) % n != 0:
        raise ValueError("decryption shares are inconsistent (wrong share or wrong key)")
    return int((acc - 1) // n * inv % n)


# -- plain (non-threshold) Paillier: interop with phe --------------------------------------
@dataclass(frozen=True)
class PlainPublicKey:
    """A non-threshold Paillier public key n with DJN base h_s (g = n + 1, as phe uses)."""

    n: int
    h_s: int

    @property
    def n2(self) -> int:
        return self.n * self.n

    def encrypt(self, m: int, alpha: int | None = None, rng: RNG | None = None) -> int:
        return djn_encrypt(self.n, self.h_s, m, alpha, rng)


def plain_public_key(n: int, rng: RNG | None = None) -> PlainPublicKey:
    """DJN public key for an existing modulus n (e.g. phe's)."""
    return PlainPublicKey(n=int(n), h_s=djn_h_s(n, rng))


def decrypt_with_factors(p: int, q: int, c: int) -> int:
    """Standard Paillier decryption with g = n+1: M = L(c^lambda mod n^2) lambda^-1 mod n."""
    p, q = mpz(p), mpz(q)
    n = p * q
    n2 = n * n
    if not 1 <= c < n2 or gmpy2.gcd(c, n) != 1:
        raise ValueError("ciphertext not in Z*_{n^2}")
    lam = gmpy2.lcm(p - 1, q - 1)
    u = gmpy2.powmod(c, lam, n2)
    return int((u - 1) // n * gmpy2.invert(lam, n) % n)
