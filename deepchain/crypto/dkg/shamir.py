"""Shamir sharing and BGW arithmetic used by the ceremony (Ben-Or, Goldwasser, Wigderson 1988).

Three flavours, all with evaluation points 1..N:
- slot-wise over small primes l (numpy, one column per sieve prime, many candidates per row);
- over a large prime field P (python/gmpy2 integers, numpy object arrays for batches);
- over the integers (the final t-out-of-N sharing of d, with Delta = N! as in Shoup 2000).
Lagrange coefficients at 0: lambda_j = prod_{m != j} m / (m - j).
"""

from __future__ import annotations

from collections.abc import Sequence

import gmpy2
import numpy as np

from deepchain.crypto.paillier import RNG


def random_bytes(rng: RNG, k: int) -> bytes:
    """k bytes from the injectable RNG (SystemRandom by default: the OS CSPRNG)."""
    return int(rng.getrandbits(8 * k)).to_bytes(k, "little") if k else b""


def uniform_mod(rng: RNG, shape: tuple[int, ...], moduli: np.ndarray, low: int = 0) -> np.ndarray:
    """Uniform integers in [low, l) per column l (64-bit draws reduced: bias <= l / 2^64)."""
    count = int(np.prod(shape))
    raw = np.frombuffer(random_bytes(rng, 8 * count), dtype=np.uint64).reshape(shape)
    span = (moduli - low).astype(np.uint64)
    return (raw % span).astype(np.int64) + low


def lagrange_at_zero(points: Sequence[int], mod: int) -> list[int]:
    """lambda_j for interpolating f(0) from f(points[j]) mod a prime ``mod``."""
    out = []
    for j in points:
        num, den = 1, 1
        for m in points:
            if m != j:
                num = num * m % mod
                den = den * (m - j) % mod
        out.append(num * pow(den, -1, mod) % mod)
    return out


def lagrange_slots(points: Sequence[int], moduli: Sequence[int]) -> np.ndarray:
    """Array (len(points), L): lambda_j mod each slot prime."""
    cols = [lagrange_at_zero(points, ell) for ell in moduli]
    return np.array(cols, dtype=np.int64).T


def share_slots(
    secret: np.ndarray, T: int, N: int, moduli: np.ndarray, rng: RNG
) -> list[np.ndarray]:
    """Degree-T Shamir shares f(1..N) of every entry of ``secret`` (C x L), column l mod l."""
    coeffs = [uniform_mod(rng, secret.shape, moduli) for _ in range(T)]
    out = []
    for x in range(1, N + 1):
        acc = np.zeros_like(secret)
        for c in reversed(coeffs):
            acc = (acc + c) * x % moduli
        out.append((acc + secret) % moduli)
    return out


def share_field(secrets: Sequence[int], T: int, N: int, P: int, rng: RNG) -> list[list[int]]:
    """Degree-T Shamir shares mod P of each secret: out[j - 1][k] = f_k(j)."""
    C = len(secrets)
    width = P.bit_length() + 64
    V = np.array([[x**k for x in range(1, N + 1)] for k in range(T + 1)], dtype=object)
    A = np.empty((C, T + 1), dtype=object)
    A[:, 0] = [int(s) % P for s in secrets]
    for k in range(1, T + 1):
        A[:, k] = [gmpy2.mpz(rng.getrandbits(width)) % P for _ in range(C)]
    S = A.dot(V) % P  # (C, N)
    return [[int(v) for v in S[:, j]] for j in range(N)]


def open_field(shares: dict[int, Sequence[int]], degree: int, P: int) -> list[int]:
    """f(0) mod P for each column, from the shares of points 1..degree+1.

    Raises ValueError if other points' shares are present and do not lie on the same
    degree-``degree`` polynomial (redundancy check; needs N > degree + 1 to catch anything).
    """
    pts = sorted(shares)[: degree + 1]
    if len(pts) < degree + 1:
        raise ValueError("not enough shares to open")
    lam = lagrange_at_zero(pts, P)
    acc = None
    for j, lj in zip(pts, lam, strict=True):
        col = np.array([gmpy2.mpz(x) for x in shares[j]], dtype=object) * lj
        acc = col if acc is None else acc + col
    return [int(v % P) for v in acc]


def interpolate_at(points: Sequence[int], values: Sequence[int], x: int, P: int) -> int:
    """f(x) mod P of the polynomial through (points, values)."""
    acc = 0
    for j, yj in zip(points, values, strict=True):
        num, den = 1, 1
        for m in points:
            if m != j:
                num = num * (x - m) % P
                den = den * (j - m) % P
        acc = (acc + yj * num * pow(den, -1, P)) % P
    return acc


def share_integer(
    secret: int, t: int, N: int, coeff_bits: int, rng: RNG
) -> tuple[list[int], list[int]]:
    """Integer Shamir: f(x) = secret + sum_{k=1}^{t-1} a_k x^k, a_k uniform in [0, 2^coeff_bits).

    Returns (coefficients [secret, a_1, ..., a_{t-1}], shares [f(1), ..., f(N)]).
    """
    coeffs = [int(secret)] + [int(rng.getrandbits(coeff_bits)) for _ in range(t - 1)]
    shares = []
    for x in range(1, N + 1):
        acc = 0
        for a in reversed(coeffs):
            acc = acc * x + a
        shares.append(acc)
    return coeffs, shares


def randbelow(rng: RNG, n: int) -> int:
    """Uniform integer in [0, n) by rejection sampling on getrandbits."""
    k = int(n).bit_length()
    while True:
        x = int(rng.getrandbits(k))
        if x < n:
            return x


def crt_slots(residues: np.ndarray, moduli: Sequence[int], r4: int) -> list[int]:
    """The integers c in [0, 4 prod(moduli)) with c = r4 mod 4 and c = residues[:, l] mod l.

    Garner's recombination in int64 inside groups of slots whose modulus stays below 2^40,
    then one CRT across groups with python integers (numpy object dot product).
    """
    C = residues.shape[0]
    groups: list[tuple[np.ndarray, int]] = []
    x, A = np.full(C, r4 % 4, dtype=np.int64), 4
    for col, ell in enumerate(moduli):
        if A * ell >= 1 << 40:
            groups.append((x, A))
            x, A = residues[:, col].astype(np.int64) % ell, ell
            continue
        inv = pow(A % ell, -1, ell)
        tcol = (residues[:, col] - x % ell) % ell * inv % ell
        x = x + A * tcol
        A *= ell
    groups.append((x, A))
    M = 1
    for _, A in groups:
        M *= A
    E = np.array([gmpy2.mpz(M // A) * gmpy2.invert(M // A, A) % M for _, A in groups], dtype=object)
    X = np.empty((C, len(groups)), dtype=object)
    for g, (xg, _) in enumerate(groups):
        X[:, g] = [gmpy2.mpz(int(v)) for v in xg]
    return [int(v) for v in X.dot(E) % M]
