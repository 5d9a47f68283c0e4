"""Shamir sharing and BGW arithmetic used by the ceremony (Ben-Or, Goldwasser, Wigderson 1988).

Three flavours, all with evaluation points 1..N:
- slot-wise over small primes l (numpy, one column per sieve prime, many candidates per row);
- over a large prime field P (python/gmpy2 integers, numpy object arrays for batches);
- over the integers (the final t-out-of-N sharing of d, with Delta = N! as in Shoup 2000).
Lagrange coefficients at 0: lambda_j = prod_{m != j} m / (m - j).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import gmpy2
import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from deepchain.crypto.randomness import RNG


def random_bytes(rng: RNG, k: int) -> bytes:
    """k pseudorandom bytes: the ChaCha20 keystream under a 256-bit key from the injectable RNG
    (SystemRandom by default: the OS CSPRNG), so bulk draws cost no system calls."""
    if not k:
        return b""
    key = int(rng.getrandbits(256)).to_bytes(32, "little")
    enc = Cipher(algorithms.ChaCha20(key, bytes(16)), mode=None).encryptor()
    return enc.update(bytes(k))


def uniform_mod(rng: RNG, shape: tuple[int, ...], moduli: np.ndarray, low: int = 0) -> np.ndarray:
    """Integers in [low, l) per column l, as int32: floor(u (l - low) / 2^b) + low for a
    b-bit uniform u, b = 64 - bits(max l) (53 or more for l < 2^11), computed exactly in
    uint64; statistical distance from uniform <= l / 2^b per entry."""
    count = int(np.prod(shape))
    span = (np.asarray(moduli) - low).astype(np.uint64)
    b = 64 - int(np.max(span)).bit_length()
    raw = np.frombuffer(random_bytes(rng, 8 * count), dtype=np.uint64).reshape(shape)
    u = raw >> np.uint64(64 - b)
    u *= span
    u >>= np.uint64(b)
    out = u.astype(np.int32)
    if low:
        out += np.int32(low)
    return out


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
    secret: np.ndarray, T: int, N: int, moduli: np.ndarray, rng: RNG, packed: bool = False
) -> list[np.ndarray]:
    """Degree-T Shamir shares f(1..N) of every entry of ``secret`` (C x L), column l mod l.

    f(x) is evaluated by Horner in int32 and reduced once when (l - 1) sum_k N^k < 2^31 (no
    intermediate overflows), else reduced after every step in int64. Shares are uint16 arrays
    (every sieve prime is below 2^15), half the memory and the wire size of int32; with
    ``packed``, each share is packed (pack_slots) as soon as it is computed.
    """
    ells = [int(m) for m in moduli]
    coeffs = uniform_mod(rng, (T,) + secret.shape, moduli)
    lmax = int(np.max(moduli))
    wide = (lmax - 1) * sum(N**k for k in range(T + 1)) >= 1 << 31
    dt = np.int64 if wide else np.int32
    mod = np.asarray(moduli).astype(dt)
    base = secret.astype(dt)
    out = []
    for x in range(1, N + 1):
        acc = coeffs[T - 1].astype(dt) if T else np.zeros(secret.shape, dtype=dt)
        for k in range(T - 2, -1, -1):
            acc *= x
            acc += coeffs[k]
            if wide:
                acc %= mod
        acc *= x
        acc += base
        acc %= mod
        share = acc.astype(np.uint16)
        del acc
        out.append(pack_slots(share, ells) if packed else share)
    return out


def slot_groups(moduli: Sequence[int]) -> list[tuple[int, int, int]]:
    """Consecutive runs of slots (start, stop, product) whose moduli multiply below 2^64."""
    out, start, prod = [], 0, 1
    for k, ell in enumerate(moduli):
        if prod * ell >= 1 << 64:
            out.append((start, k, prod))
            start, prod = k, 1
        prod *= ell
    out.append((start, len(moduli), prod))
    return out


def pack_slots(a: np.ndarray, moduli: Sequence[int]) -> np.ndarray:
    """Residues (C x L, entry < its column's l) to mixed-radix uint64 words (C x G): each
    word is r_0 + l_0 (r_1 + l_1 (r_2 + ...)) over one run of slot_groups, so a candidate
    costs about log2(prod l) bits on the wire instead of 16 per slot."""
    groups = slot_groups(moduli)
    out = np.empty((a.shape[0], len(groups)), dtype=np.uint64)
    for g, (lo, hi, _) in enumerate(groups):
        w = a[:, hi - 1].astype(np.uint64)
        for k in range(hi - 2, lo - 1, -1):
            w *= np.uint64(moduli[k])
            w += a[:, k]
        out[:, g] = w
    return out


def unpack_slots(words: np.ndarray, moduli: Sequence[int]) -> np.ndarray:
    """The inverse of pack_slots, as uint16 residues; ValueError if a word is not below its
    run's product (then some residue would not be below its l) or the shape is wrong."""
    groups = slot_groups(moduli)
    if words.ndim != 2 or words.shape[1] != len(groups) or words.dtype != np.uint64:
        raise ValueError("packed residues of the wrong shape")
    out = np.empty((words.shape[0], len(moduli)), dtype=np.uint16)
    for g, (lo, hi, prod) in enumerate(groups):
        w = words[:, g].copy()
        if w.size and int(w.max()) >= prod:
            raise ValueError("a packed residue word is out of range")
        for k in range(lo, hi - 1):
            ell = np.uint64(moduli[k])
            q = w // ell  # division by a scalar: several times faster than np.divmod
            w -= q * ell
            out[:, k] = w
            w = q
        out[:, hi - 1] = w
    return out


def share_field(secrets: Sequence[int], T: int, N: int, P: int, rng: RNG) -> list[list[int]]:
    """Degree-T Shamir shares mod P of each secret: out[j - 1][k] = f_k(j).

    Coefficients are (|P| + 64)-bit draws (statistical distance <= 2^-64 each from uniform
    mod P); they are used unreduced, since f(j) is reduced mod P once at the end, which
    gives the same shares at a third less work (Python ints: small-by-big products only).
    """
    C = len(secrets)
    wb = (P.bit_length() + 64 + 7) // 8
    raw = random_bytes(rng, C * T * wb)
    V = np.array([[x**k for x in range(1, N + 1)] for k in range(T + 1)], dtype=object)
    A = np.empty((C, T + 1), dtype=object)
    A[:, 0] = [int(s) for s in secrets]
    fb = int.from_bytes
    for k in range(T):
        base = k * C * wb
        A[:, k + 1] = [fb(raw[base + c * wb : base + (c + 1) * wb], "little") for c in range(C)]
    S = A.dot(V)  # (C, N)
    return [[v % P for v in S[:, j]] for j in range(N)]


def sum_field(columns: Sequence[Sequence[int]], P: int) -> list[int]:
    """Entry-wise sum mod P of equally long lists (the shares several dealers sent)."""
    return [int(sum(col) % P) for col in zip(*columns, strict=True)]


def open_field(shares: dict[int, Sequence[int]], degree: int, P: int) -> list[int]:
    """f(0) mod P for each entry, from the shares of the first degree+1 points.

    Lagrange at 0 in integer form: lambda_j = c_j / D with small integers c_j and D (D the
    lcm of the denominators), so each entry costs degree+1 products by small integers and
    one product by D^-1 mod P. The caller checks any further shares against the same
    polynomial (interpolate_at).
    """
    pts = sorted(shares)[: degree + 1]
    if len(pts) < degree + 1:
        raise ValueError("not enough shares to open")
    nums, dens = [], []
    for j in pts:
        num, den = 1, 1
        for m in pts:
            if m != j:
                num *= m
                den *= m - j
        nums.append(num)
        dens.append(den)
    D = math.lcm(*(abs(d) for d in dens))
    c = np.array(
        [n * (D // abs(d)) * (1 if d > 0 else -1) for n, d in zip(nums, dens, strict=True)],
        dtype=object,
    )
    Y = np.array([[gmpy2.mpz(x) for x in shares[j]] for j in pts], dtype=object)
    if Y.ndim != 2:
        raise ValueError("shares of unequal length")
    Dinv = gmpy2.invert(gmpy2.mpz(D), gmpy2.mpz(P))
    Pm = gmpy2.mpz(P)
    return [int(v * Dinv % Pm) for v in c.dot(Y)]


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
    X = np.stack([xg for xg, _ in groups], axis=1).astype(object)
    return [int(v) for v in X.dot(E) % M]
