"""The prime field F_p, p = 15 * 2^27 + 1 ("BabyBear", used by RISC Zero and Plonky3), on numpy
arrays: element-wise arithmetic, radix-2 number-theoretic transforms over its 2-power
subgroups and their cosets, Lagrange evaluation, Horner evaluation and exact matrix products.

Elements are uint64 arrays with every entry in [0, p); a product of two is below 2^62, so
``a * b % P`` is exact in uint64. p - 1 = 2^27 * 15, so subgroups of every size 2^j <= 2^27
exist; GEN = 31 generates F_p^* (it is a quadratic and a quintic and a cubic non-residue), so a
coset GEN * <w_N> never meets a subgroup.

The transforms are what ``zk.ligero`` encodes its rows with (Reed-Solomon codes over cosets,
Ames et al., "Ligero", CCS 2017); :func:`ntt` runs on the native kernel when it is built
(``crypto.native``), else on the numpy loop below, and both give the same numbers.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

P = 15 * (1 << 27) + 1
GEN = 31
TWO_ADICITY = 27
U64 = np.uint64


def root_of_unity(N: int) -> int:
    """A primitive N-th root of unity (N a power of two up to 2^27)."""
    if N < 1 or N & (N - 1) or N > 1 << TWO_ADICITY:
        raise ValueError("N must be a power of two up to 2^27")
    return pow(GEN, (P - 1) // N, P)


def inv(x: int) -> int:
    return pow(x, P - 2, P)


def arr(x: object) -> np.ndarray:
    """x reduced into [0, p) as a uint64 array (ints may be negative)."""
    a = np.asarray(x)
    if a.dtype == U64:
        return a % U64(P)
    return (a.astype(np.int64) % P).astype(U64)


def mul(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    return a * (U64(b) if isinstance(b, int) else b) % U64(P)


def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    s = a + b
    return np.where(s >= P, s - U64(P), s)


def sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where(a >= b, a - b, a + U64(P) - b)


def powers(x: int, N: int) -> np.ndarray:
    """(1, x, x^2, ..., x^(N-1)) mod p."""
    out = np.empty(N, dtype=U64)
    out[0] = 1
    filled = 1
    while filled < N:
        step = min(filled, N - filled)
        out[filled : filled + step] = out[:step] * U64(pow(x, filled, P)) % U64(P)
        filled += step
    return out


@lru_cache(maxsize=32)
def _bitrev(N: int) -> np.ndarray:
    bits = N.bit_length() - 1
    idx = np.arange(N, dtype=np.int64)
    rev = np.zeros(N, dtype=np.int64)
    for b in range(bits):
        rev |= ((idx >> b) & 1) << (bits - 1 - b)
    return rev


@lru_cache(maxsize=32)
def _twiddles(N: int, inverse: bool) -> np.ndarray:
    w = root_of_unity(N)
    return powers(inv(w) if inverse else w, N // 2)


def ntt_numpy(a: np.ndarray, inverse: bool = False) -> np.ndarray:
    """The transform along the last axis, natural order in and out: out_i = sum_j a_j w^(ij)
    (w = w_N, or w^-1 and a factor 1/N with ``inverse``). Decimation in frequency, then the
    bit-reversal permutation."""
    x = np.array(a, dtype=U64, copy=True)
    N = x.shape[-1]
    if N == 1:
        return x
    lead = x.shape[:-1]
    tw = _twiddles(N, inverse)
    half, blocks = N // 2, 1
    x = x.reshape(-1, N)
    while half >= 1:
        y = x.reshape(x.shape[0], blocks, 2, half)
        u, v = y[:, :, 0, :], y[:, :, 1, :]
        s = add(u, v)
        d = sub(u, v) * tw[:: N // (2 * half)][:half] % U64(P)
        y[:, :, 0, :], y[:, :, 1, :] = s, d
        half, blocks = half // 2, blocks * 2
    x = x[:, _bitrev(N)]
    if inverse:
        x = x * U64(inv(N)) % U64(P)
    return x.reshape(*lead, N)


def ntt(a: np.ndarray, inverse: bool = False) -> np.ndarray:
    """:func:`ntt_numpy`, on the native kernel when it is built."""
    from deepchain.crypto.native import babybear_ntt

    out = babybear_ntt(a, inverse)
    return ntt_numpy(a, inverse) if out is None else out


def coset_evals(coeffs: np.ndarray, N: int, shift: int = GEN) -> np.ndarray:
    """Evaluations of the polynomials (coefficients on the last axis, fewer than N) on the coset
    shift * <w_N>, in the order shift * w_N^i."""
    d = coeffs.shape[-1]
    if d > N:
        raise ValueError("more coefficients than points")
    x = np.zeros((*coeffs.shape[:-1], N), dtype=U64)
    x[..., :d] = coeffs * powers(shift, d) % U64(P)
    return ntt(x)


def coset_interpolate(evals: np.ndarray, shift: int = GEN) -> np.ndarray:
    """The coefficients (N of them) of the polynomials with these values on shift * <w_N>."""
    N = evals.shape[-1]
    c = ntt(evals, inverse=True)
    return c * powers(inv(shift), N) % U64(P)


def horner(coeffs: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Each polynomial (coefficients on the last axis) at each point: shape (..., len(xs))."""
    acc = np.zeros((*coeffs.shape[:-1], xs.shape[0]), dtype=U64)
    for i in range(coeffs.shape[-1] - 1, -1, -1):
        acc = (acc * xs + coeffs[..., i : i + 1]) % U64(P)
    return acc


def lagrange_at(N: int, xs: np.ndarray) -> np.ndarray:
    """L[q, s] = the Lagrange basis of the subgroup <w_N> at xs[q] (no xs in the subgroup):
    L_s(x) = (x^N - 1) w^s / (N (x - w^s))."""
    hs = powers(root_of_unity(N), N)
    xs = arr(xs)
    zn = np.array([(pow(int(x), N, P) - 1) * inv(N) % P for x in xs], dtype=U64)
    diff = sub(xs[:, None], hs[None, :])
    return mul(mul(hs[None, :], batch_inv(diff)), zn[:, None])


def batch_inv(a: np.ndarray) -> np.ndarray:
    """Element-wise inverses a^(p-2) (no zeros), by square-and-multiply on the whole array."""
    a = arr(a)
    if np.any(a == 0):
        raise ZeroDivisionError("batch_inv: a zero element")
    out = np.ones_like(a)
    base = a.copy()
    e = P - 2
    while e:
        if e & 1:
            out = out * base % U64(P)
        base = base * base % U64(P)
        e >>= 1
    return out


def matmul(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """A @ B mod p, exact: B split into 16-bit halves so that no partial sum overflows int64
    (inner dimension up to 2^15 - 1)."""
    if A.shape[-1] >= 1 << 15:
        raise ValueError("inner dimension too large for the exact product")
    a = A.astype(np.int64)
    lo = (B & U64(0xFFFF)).astype(np.int64)
    hi = (B >> U64(16)).astype(np.int64)
    r_lo = (a @ lo) % P
    r_hi = (a @ hi) % P
    return ((r_hi * 65536 + r_lo) % P).astype(U64)


def random_elements(seed: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """Uniform field elements drawn from SHAKE-256(seed) by rejection (31-bit words < p): the
    Fiat-Shamir challenges of ``zk.ligero``."""
    count = int(np.prod(shape)) if shape else 1
    stream = hashlib.shake_256(seed)
    words, out = count + count // 8 + 16, np.empty(0, dtype=U64)
    while out.size < count:
        raw = np.frombuffer(stream.digest(4 * words), dtype="<u4")
        cand = (raw & np.uint32(0x7FFFFFFF)).astype(U64)
        out = cand[cand < P]
        words *= 2
    return out[:count].reshape(shape)
